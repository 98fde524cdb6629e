"""Exposed pipeline send/recv time of one step of a (interleaved) 1F1B pipeline.

Each device sends one activation per model chunk forward and one gradient per chunk backward
(Megatron-Core p2p_communication send_forward / send_backward): 2 v sends per micro-batch, for the m
micro-batches plus the (p-1)/v slots of fill and drain.

Blocking sends (Megatron-Core `overlap_p2p_comm` False, and every non-interleaved schedule:
forward_backward_pipelining_without_interleaving raises "Non-interleaved pipeline parallelism does
not support overlapping p2p communication") sit on the critical path one after another:
    2 v (m + (p-1)/v) t_send = 2 (v m + p - 1) t_send.
Overlapped sends (interleaved schedule with `overlap_p2p_comm` True: forward_backward_pipelining_with_
interleaving posts isend/irecv for the next chunk and waits on them only before that chunk runs)
hide behind the next chunk's compute in the steady state. What stays serial:
  - the fill, where the first micro-batch's forward hops p-1 devices before the last one starts, and
    the drain, where the last backward hops back: 2 (p-1) t_send;
  - the loop back to the first device. Megatron-Core runs the micro-batches in groups of N
    (`microbatch_group_size_per_vp_stage`, default = pp, ModelParallelConfig.__post_init__; the
    order is `get_schedule_table`: chunk 0 of the group's N micro-batches, then chunk 1, ...).
    Chunk c+1 of a group's first micro-batch on device 0 needs its chunk c from device p-1: p chunk
    passes and p hops after device 0 ran chunk c, while device 0 has only the group's N chunk-c
    passes to run meanwhile. Each of the v-1 chunk-to-chunk loop-backs of the warm-up (first group,
    forward chunks t_f) and of the cool-down (last group, backward chunks t_b) waits
        max(0, p t_send - (N - p) t_chunk),
    i.e. every hop of the loop when N = p (the default): the fill and drain cross all p v - 1
    virtual-stage boundaries, 2 (p v - 1) t_send. In the 1F1B steady state each loop has a backward
    (forward) chunk between, so only the warm-up and the cool-down pay it. The Llama 3 paper
    (Dubey et al. 2024, arXiv:2407.21783 Sec. 3.3.2) gives the same reason for its tunable N: "more
    micro-batches to hide point-to-point communication".
  - a steady-state send longer than the chunk it hides behind: the excess max(0, t_send - t_chunk)
    of each of the 2 v m sends.
Checked against an event simulation of Megatron-Core's schedule order with asynchronous sends
(tests/test_pipeline_p2p.py): exact while a send is shorter than a chunk (every real layout on
file); an upper bound beyond (the two last terms overlap there), capped at the blocking schedule's
time (an asynchronous send never starts later than the blocking one it replaces).
A forward-only pass (evaluation) sends forward only: (p-1) t_send, and every group's v-1 forward
loop-backs (no backward chunk fills the loop between groups).
This is the asynchronous schedule of the Megatron-Core releases the stacks on file ran (the warm-up
posts its sends with overlap_p2p_comm=True too). Later releases hold the device on their sends
(docs/notes/issue-18.md, Round stop-25 issue-25vs; perf/pipeline_sim.py simulates both), priced when
the stack says so:
  blocking_warmup     overlap_p2p_comm_warmup_flush False (its default; NVIDIA/Megatron-LM 00611e6
                      `forward_backward_pipelining_with_interleaving` calls send_forward_recv_forward
                      without overlap in the warm-up, which waits on its requests): each warm-up forward
                      and cool-down backward holds its device for its send, so every loop-back of the
                      first and the last group crosses all of its micro-batches' hops:
                          2 (p - 1) t + (v - 1) (max(p, N_first) + max(p, N_last)) t
                      (the simulation: exact for p >= 3, at most one hop over at p = 2); forward-only, every
                      forward is a warm-up forward: (v m + p - 2) t (exact).
  forward_send_wait   Megatron-LM 260cba71 (2026-04-16, PR #4047): `send_next_wait_handle.wait()` after
                      each steady-state forward send when deallocate_pipeline_outputs (Megatron-LM's
                      training always sets it): at least (v - 1)(m - N_first) more hops, the chunk
                      1..v-1 forwards of every group after the first (the simulation: at most m more).
"""

from __future__ import annotations

import math


def default_group(m: int, pp: int) -> int:
    """Megatron-Core's micro-batches per group N of the interleaved schedule for m micro-batches on
    pp stages: its default pp (ModelParallelConfig.__post_init__) where that is a valid schedule,
    else the smallest N in [pp, m] it accepts (forward_backward_pipelining_with_interleaving raises
    unless pp <= N <= m and m mod N is 0 or at least pp: a shorter last group "introduces dependency
    bubbles"); m when m < pp (no valid N: rule 'interleave' refuses the layout)."""
    m, pp = int(round(m)), int(pp)
    for n in range(pp, m + 1):
        if m % n == 0 or m % n >= pp:
            return n
    return max(1, m)


def fixed_group_rule(m: int, pp: int, vp: int) -> str | None:
    """The refusal of Megatron-Core's interleaved schedule before `microbatch_group_size_per_vp_stage`
    (the group fixed at N = pp, stack setting fixed_microbatch_group), or None where it runs: its
    forward_backward_pipelining_with_interleaving raised RuntimeError("number of microbatches (m) is not
    divisible by pipeline-model-parallel-size (pp) when using interleaved schedule") unless m % pp == 0
    (its get_model_chunk_id: microbatch_id % (pp vp) // pp, groups of exactly pp). Acts only when vp > 1
    and pp > 1; the non-interleaved 1F1B takes any m."""
    m = int(round(m))
    if vp <= 1 or pp <= 1 or m % pp == 0:
        return None
    return (f"interleave: the stack's interleaved schedule runs micro-batches in groups of PP = {pp} "
            f"(fixed_microbatch_group: Megatron-Core before microbatch_group_size_per_vp_stage) and refuses "
            f"{m} micro-batches, not a multiple of PP")


def group_note(m: int, pp: int, vp: int) -> str:
    """'' where Megatron-Core's default group N = pp runs m micro-batches interleaved, else a line naming
    the group default_group prices and the setting the run needs: with N = pp, a remainder m mod pp in
    (0, pp) is refused (forward_backward_pipelining_with_interleaving raises RuntimeError, "it introduces
    dependency bubbles"), so such a run sets microbatch_group_size_per_vp_stage itself."""
    m = int(round(m))
    n = default_group(m, pp)
    if vp <= 1 or pp <= 1 or n == pp or m < pp:
        return ""
    return (f"interleaved schedule priced at micro-batch group N = {n}: Megatron-Core's default N = PP = {pp} refuses "
            f"{m} micro-batches (remainder {m % pp} below PP); the run must set microbatch_group_size_per_vp_stage = {n} "
            "(perf/pipeline_p2p.py)")


def group_sizes(m: int, group: int) -> tuple[int, int, int]:
    """Megatron-Core's interleaved schedule table (`get_schedule_table`) in closed form: k groups,
    the first k - 1 of `group` (N) micro-batches, the last taking what is left once N more would
    reach m. Returns (k, N, last size); O(1) however many micro-batches a step holds."""
    m = max(1, int(round(m)))
    n = max(1, min(int(group), m))
    k = -(-m // n)
    return k, n, m - n * (k - 1)


def schedule_groups(m: int, group: int) -> list[int]:
    """Micro-batches per group of Megatron-Core's interleaved schedule table (group_sizes as a list)."""
    k, n, last = group_sizes(m, group)
    return [n] * (k - 1) + [last]


def loop_stall(t_send: float, pp: int, size: int, t_chunk: float) -> float:
    """Wait of one chunk-to-chunk loop-back of a group of `size` micro-batches on `pp` devices:
    max(0, pp t_send - (size - pp) t_chunk) (see the module doc)."""
    slack = (size - pp) * t_chunk if size != pp else 0.0
    return max(0.0, pp * t_send - slack)


def pipeline_send_time(t_send: float, pp: int, vp: int, m: int, overlap: bool, forward_only: bool = False,
                       t_fwd_chunk: float = math.inf, t_bwd_chunk: float = math.inf, group: int | None = None,
                       blocking_warmup: bool = False, forward_send_wait: bool = False) -> float:
    """Exposed send/recv time of one step: `t_send` one hop's activation send, `pp` devices,
    `vp` chunks per device, `m` micro-batches; `overlap` the stack's overlap_p2p_comm (acts only
    when vp > 1, as Megatron-Core runs it). `t_fwd_chunk` / `t_bwd_chunk`: one chunk's forward /
    backward on the device, the compute a steady-state send hides behind (a send longer than it
    shows the excess). `group`: micro-batches per group of the interleaved schedule (Megatron-Core
    microbatch_group_size_per_vp_stage; None: default_group(m, pp), its default pp when m is a
    multiple of pp). `blocking_warmup` / `forward_send_wait`: the later releases' held sends (module
    doc); both False is the asynchronous schedule of the stacks on file."""
    if pp <= 1:
        return 0.0
    blocking = 2.0 * (vp * m + pp - 1) * t_send / (2.0 if forward_only else 1.0)
    if not (overlap and vp > 1):
        return blocking
    k, n, last = group_sizes(m, default_group(m, pp) if group is None else group)
    first = n if k > 1 else last
    excess = max(0.0, t_send - t_fwd_chunk) + (0.0 if forward_only else max(0.0, t_send - t_bwd_chunk))
    if forward_only:
        if blocking_warmup:
            return min(blocking, (vp * m + pp - 2) * t_send + vp * m * excess)
        loops = (k - 1) * loop_stall(t_send, pp, n, t_fwd_chunk) + loop_stall(t_send, pp, last, t_fwd_chunk)
        return min(blocking, (pp - 1) * t_send + (vp - 1) * loops + vp * m * excess)
    if blocking_warmup:
        loops = (max(pp, first) + max(pp, last)) * t_send
    else:
        loops = loop_stall(t_send, pp, first, t_fwd_chunk) + loop_stall(t_send, pp, last, t_bwd_chunk)
    held = (vp - 1) * max(0, int(round(m)) - first) * t_send if forward_send_wait else 0.0
    # an asynchronous send never starts later than the blocking one it replaces: never above blocking
    return min(blocking, 2.0 * (pp - 1) * t_send + (vp - 1) * loops + held + vp * m * excess)
