"""Event simulation of Megatron-Core's interleaved 1F1B schedule: the reference the closed forms of
perf/pipeline_p2p.py are checked against, and the sizing tool for p2p behaviours they do not price.

Schedule order (megatron/core/pipeline_parallel/schedules.py: get_schedule_table,
get_pp_rank_microbatches): the micro-batches run in groups of N (microbatch_group_size_per_vp_stage),
chunk 0 of the group's N micro-batches, then chunk 1, ...; device `rank` warms up with
2 (pp - rank - 1) + (vp - 1) N forwards, then alternates one forward and one backward, then cools down
with the remaining backwards; a backward runs the table's chunk mirrored (vp - 1 - chunk).

An op starts when its device is free and its input has arrived (the producing virtual stage's end,
plus one hop `ts` when it ran on another device). Virtual stage s = chunk x pp + device. How the
sends behave is a property of the Megatron-Core release:
  async (default)      every send asynchronous, waited on only by the op that needs its data
                       (overlap_p2p_comm in the releases before `overlap_p2p_comm_warmup_flush`
                       existed: the warm-up called send_forward_recv_forward(..., overlap_p2p_comm=True)
                       and waited on the handles before the next forward; the stacks on file)
  blocking_warmup      the warm-up forwards and the cool-down backwards hold their device until their
                       send is done (current Megatron-Core with overlap_p2p_comm_warmup_flush False, its
                       default: the warm-up calls send_forward_recv_forward without overlap, which waits
                       on its requests; read at NVIDIA/Megatron-LM 00611e6)
  forward_send_wait    each steady-state forward holds its device until its send is done (Megatron-LM
                       260cba71, 2026-04-16, PR #4047 "wait for async P2P send before deallocating output
                       tensor": send_next_wait_handle.wait() when deallocate_pipeline_outputs, which
                       Megatron-LM's training always sets); with `rendezvous` that send also waits until
                       the receiver has posted its receive, at the end of the receiver's previous forward
                       (the first device posts its loop-back receives ahead: taken as ready)
A held send starts at its forward's (backward's) end and takes `ts`.
"""

from __future__ import annotations


def megatron_order(pp: int, vp: int, m: int, group: int, rank: int) -> list[tuple[str, int, int]]:
    """One device's (kind, micro-batch, chunk) order under Megatron-Core's interleaved 1F1B."""
    table, lo = [], 0
    while lo < m:
        hi = m if lo + group >= m else lo + group
        table += [(mb, c) for c in range(vp) for mb in range(lo, hi)]
        lo = hi
    total = m * vp
    w = min(total, 2 * (pp - rank - 1) + (vp - 1) * group)
    fwd = [("F", mb, c) for mb, c in table]
    bwd = [("B", mb, vp - 1 - c) for mb, c in table]
    order = fwd[:w]
    for k in range(total - w):
        order += [fwd[w + k], bwd[k]]
    return order + bwd[total - w:]


def warmup_forwards(pp: int, vp: int, m: int, group: int, rank: int) -> int:
    """Forwards device `rank` runs before its first backward (get_pp_rank_microbatches)."""
    return min(m * vp, 2 * (pp - rank - 1) + (vp - 1) * group)


def simulated_step(pp: int, vp: int, m: int, group: int, tf: float, tb: float, ts: float, forward_only: bool = False,
                   blocking_warmup: bool = False, forward_send_wait: bool = False, rendezvous: bool = False) -> float:
    """Time of one step (the last device's last op) of `m` micro-batches on `pp` devices with `vp`
    chunks each, groups of `group`; `tf` / `tb` one chunk's forward / backward, `ts` one hop.
    The send behaviours are the module doc's; all False is the asynchronous schedule."""
    S = pp * vp
    orders = [[op for op in megatron_order(pp, vp, m, group, d) if not (forward_only and op[0] == "B")]
              for d in range(pp)]
    warm = [warmup_forwards(pp, vp, m, group, d) for d in range(pp)]
    prev_fwd = {}  # forward (mb, s) -> the forward its device ran just before it (posts its receive)
    for d in range(pp):
        last = None
        for kind, mb, c in orders[d]:
            if kind == "F":
                prev_fwd[(mb, c * pp + d)] = last
                last = ("F", mb, c * pp + d)
    done, pos, free, n_fwd = {}, [0] * pp, [0.0] * pp, [0] * pp
    moved = True
    while moved:
        moved = False
        for d in range(pp):
            while pos[d] < len(orders[d]):
                kind, mb, c = orders[d][pos[d]]
                s = c * pp + d
                dep = (("F", mb, s - 1) if s > 0 else None) if kind == "F" else (("B", mb, s + 1) if s < S - 1 else ("F", mb, s))
                if dep is not None and dep not in done:
                    break
                steady = kind == "F" and n_fwd[d] >= warm[d] and not forward_only
                posted = None  # the receiver's post time of the matching receive (rendezvous)
                if forward_send_wait and steady and s < S - 1 and rendezvous and (s + 1) % pp != 0:
                    pf = prev_fwd[(mb, s + 1)]
                    if pf is not None and pf not in done:
                        break
                    posted = None if pf is None else done[pf]
                ready = 0.0 if dep is None else done[dep] + (0.0 if dep[2] % pp == d else ts)
                end = max(free[d], ready) + (tf if kind == "F" else tb)
                done[(kind, mb, s)] = free[d] = end
                sends = s < S - 1 if kind == "F" else s > 0
                if sends and kind == "F" and steady and forward_send_wait:
                    free[d] = max(end, posted or 0.0) + ts
                elif sends and blocking_warmup and ((kind == "F" and not steady) or
                                                    (kind == "B" and pos[d] >= len(orders[d]) - warm[d])):
                    free[d] = end + ts
                n_fwd[d] += kind == "F"
                pos[d] += 1
                moved = True
    if not all(pos[d] == len(orders[d]) for d in range(pp)):
        raise RuntimeError("schedule deadlocked")
    return max(free)
