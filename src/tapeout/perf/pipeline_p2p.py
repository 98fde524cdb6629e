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
hide behind the next chunk's compute in the steady state; what stays serial is the fill, where
the first micro-batch's forward hops p-1 devices before the last one starts, and the drain, where
the last backward hops back: 2 (p-1) t_send. A steady-state send hides only behind the chunk it
overlaps: the excess max(0, t_send - t_chunk) of each of the 2 v m sends stays exposed.
A forward-only pass (evaluation) sends forward only: half of either.
"""

from __future__ import annotations


def pipeline_send_time(t_send: float, pp: int, vp: int, m: int, overlap: bool, forward_only: bool = False,
                       t_fwd_chunk: float = float("inf"), t_bwd_chunk: float = float("inf")) -> float:
    """Exposed send/recv time of one step: `t_send` one hop's activation send, `pp` devices,
    `vp` chunks per device, `m` micro-batches; `overlap` the stack's overlap_p2p_comm (acts only
    when vp > 1, as Megatron-Core runs it). `t_fwd_chunk` / `t_bwd_chunk`: one chunk's forward /
    backward on the device, the compute a steady-state send hides behind (a send longer than it
    shows the excess)."""
    if pp <= 1:
        return 0.0
    if not (overlap and vp > 1):
        hops = 2.0 * (vp * m + pp - 1)
        return hops * t_send / (2.0 if forward_only else 1.0)
    excess = max(0.0, t_send - t_fwd_chunk) + (0.0 if forward_only else max(0.0, t_send - t_bwd_chunk))
    return (1.0 if forward_only else 2.0) * (pp - 1) * t_send + vp * m * excess
