"""Exposed time of Transformer Engine's context-parallel P2P ring (AttnFuncWithCP, cp_comm_type "p2p",
Megatron-Core's default), step by step.

Forward (`AttnFuncWithCP.forward`, `for i in range(cp_size + 1)`): step i first waits on the receive of the
K/V block posted in step i - 1 (`for req in send_recv_reqs[(i + 1) % 2]: req.wait()`), then posts the send /
receive of the block for step i + 1 and runs step i's attention. So each of the cp - 1 transfers hides only
behind one step's attention, not behind the whole layer's: a step waits max(0, t_transfer - t_step_attention).
Under the load-balanced split (each rank holds chunks i and 2 cp - 1 - i) every step does the same work, 1/cp
of the rank's attention.

Backward (`AttnFuncWithCP.backward`, `for i in range(cp_size)`): every step posts one transfer of
`p2p_comm_buffers[i % 2]` (the K/V block and the dK/dV partial sums travelling with it) and waits on it after
its own attention backward ("wait until dKV is received", before the dK/dV add), so each transfer also hides
behind one step. The first step sends the K/V block only (`if i == 0: send_tensor = send_tensor[0]`), the last
the dK/dV only (`if i == (cp_size - 1): send_tensor = send_tensor[1]`), the steps between both: cp transfers
of 1, 2, ..., 2, 1 blocks, 2 (cp - 1) blocks in all. Read in TransformerEngine 1.x
transformer_engine/pytorch/attention.py (the copy with cu_seqlens_q_padded and flash-attn 2.5.8) and in the
later context_parallel.py copies (MLA, FP8 all-to-all variants): the same first / last rule."""

from __future__ import annotations


def _exposed(t_send: float, attn: float, cp: int, blocks: list[int]) -> float:
    """sum over the steps' transfers of max(0, blocks x t_send - attn / cp): each behind one step's attention."""
    step = attn / cp
    return sum(max(0.0, k * t_send - step) for k in blocks)


def backward_blocks(cp: int) -> list[int]:
    """Blocks (one K/V block = 1) each backward step of TE's ring sends: K/V first, dK/dV last, both between."""
    if cp <= 1:
        return []
    return [1] + [2] * (cp - 2) + [1]


def ring_exposed(t_send: float, attn: float, cp: int) -> float:
    """Seconds the forward ring adds to one attention pass: (cp - 1) max(0, t_send - attn / cp).
    `t_send`: one step's K/V transfer; `attn`: the rank's whole attention pass (all cp steps)."""
    return _exposed(t_send, attn, cp, [1] * (cp - 1)) if cp > 1 else 0.0


def ring_exposed_backward(t_send: float, attn_bwd: float, cp: int) -> float:
    """Seconds the backward ring adds to one attention backward: the steps' transfers of `backward_blocks`
    K/V-block sizes, each behind one step's attention backward (1/cp of `attn_bwd`)."""
    return _exposed(t_send, attn_bwd, cp, backward_blocks(cp))
