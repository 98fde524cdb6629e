"""The residual bias-dropout-add kernels of one training step's layers (Megatron-LM / Megatron-Core).

TransformerLayer adds each block's output back onto the residual stream once after the attention and
once after the MLP (Megatron-Core self_attn_bda / mlp_bda; Megatron-LM 2022 bias_dropout_add_fused_train,
a TorchScript function). Per residual, on the tokens a TP rank holds: all T of them without sequence
parallelism (the token-wise ops between the TP blocks are replicated on every rank, Korthikanti et al.
2022, arXiv:2205.05198, Sec. 4.2.2), T / TP with it.
  forward   read the block output and the residual, write the sum                      read 2, write 1
            with hidden dropout also the 1-byte mask: TorchScript's CUDA dropout is
            `mask = rand_like(x) < 1 - p; x * mask / (1 - p)` (torch/csrc/jit/runtime/symbolic_script.cpp),
            the Philox draw in the fused kernel                                        read 2, write 1 + 1/2
  backward  the add where the branch gradient joins the residual one                   read 2, write 1
            with hidden dropout the masked gradient `grad * mask / (1 - p)`            read 1 + 1/2, write 1
16-bit activations; the mask is torch.bool (1/2 of a 16-bit element). The bias (h elements) is negligible.
"""

from __future__ import annotations

from ..ops import Elementwise
from . import unfused_attention
from .memory_kernels import philox_share
from .unfused_attention import MASK


def residual_ops(layers: int, tokens: float, hidden: int, tp: int, sequence_parallel: bool,
                 hidden_dropout: bool) -> tuple[list, list]:
    """(forward ops, backward ops) of the 2 residuals per layer of `layers` layers on one TP rank."""
    elems = tokens * hidden / (tp if sequence_parallel and tp > 1 else 1)
    n = 2 * layers
    if not hidden_dropout:
        add = Elementwise(name="residual_add", count=n, elems=elems, flops_per_elem=1.0, reads=2.0, writes=1.0)
        return [add], [add]
    fwd = Elementwise(name="residual_dropout_add", count=n, elems=elems, flops_per_elem=3.0, reads=2.0,
                      writes=1.0 + MASK,
                      # the Philox draw at its measured share, under the one dropout switch (unfused_attention.DROPOUT_RNG)
                      stream_share=philox_share(2.0 * (2.0 + 1.0 + MASK)) if unfused_attention.DROPOUT_RNG else 1.0)
    join = Elementwise(name="residual_add_bwd", count=n, elems=elems, flops_per_elem=1.0, reads=2.0, writes=1.0)
    drop = Elementwise(name="residual_dropout_bwd", count=n, elems=elems, flops_per_elem=2.0, reads=1.0 + MASK,
                       writes=1.0)
    return [fwd], [join, drop]
