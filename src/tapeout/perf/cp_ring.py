"""Exposed time of Transformer Engine's context-parallel P2P ring (AttnFuncWithCP, cp_comm_type "p2p",
Megatron-Core's default), step by step.

TE's loop (`AttnFuncWithCP.forward`, `for i in range(cp_size + 1)`): step i first waits on the receive of the
K/V block posted in step i - 1 (`for req in send_recv_reqs[(i + 1) % 2]: req.wait()`), then posts the send /
receive of the block for step i + 1 and runs step i's attention. So each of the cp - 1 transfers hides only
behind one step's attention, not behind the whole layer's: a step waits max(0, t_transfer - t_step_attention).
Under the load-balanced split (each rank holds chunks i and 2 cp - 1 - i) every step does the same work, 1/cp
of the rank's attention. The backward sends K/V and the dK/dV partial sums each step (`sends=2`)."""

from __future__ import annotations


def ring_exposed(t_send: float, attn: float, cp: int, sends: int = 1) -> float:
    """Seconds the ring adds to one attention pass: (cp - 1) max(0, sends x t_send - attn / cp).
    `t_send`: one step's K/V transfer; `attn`: the rank's whole attention pass (all cp steps)."""
    if cp <= 1:
        return 0.0
    return (cp - 1) * max(0.0, sends * t_send - attn / cp)
