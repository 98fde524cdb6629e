"""The element-wise kernels a BERT training config leaves unfused: NVIDIA's modeling.py flags, per config.

NVIDIA's MLPerf BERT (training_results_v2.0 @a6ae3e1 NVIDIA/benchmarks/bert/implementations/pytorch/modeling.py,
the file every NVIDIA-GPU submitter copies) fuses the encoder's element-wise work into the GEMMs only under
command-line flags the config's EXTRA_PARAMS passes:
  --fused_gemm_gelu    BertIntermediate is apex fused_dense.FusedDenseGeluDense (cuBLASLt GELU_AUX_BIAS forward,
                       DGELU_BGRAD in FC2's data-gradient epilogue). Absent: FC1 writes its pre-activation and
                       ACT2FN['gelu'] runs as a kernel of its own (forward read 1, write 1 of T x ffn), its backward
                       another (read the gradient and the input, write 1).
  --fused_bias_fc      FC1 / FC2 are apex FusedDense (bias gradient in the cuBLASLt BGRADB epilogue). Absent:
                       nn.Linear, whose bias gradient autograd reduces over the tokens in a kernel of its own
                       (read 1 of T x out). --fused_bias_mha: the same for the attention output projection.
  --fused_dropout_add  BertSelfOutput / BertOutput run dropout + residual add as one TorchScript kernel
                       (`jit_dropout_add`, what validation/bert_dropout.py prices). Absent: nn.Dropout writes its
                       output and LayerNorm(hidden_states + input_tensor) reads it back for a separate add
                       (forward read 1, write 1 more per residual, 2 residuals per layer; the backward is the same
                       kernels either way).
The engine's BERT graph prices every config as fused (GELU in FC1's epilogue, bias gradients in the GEMMs',
dropout + add one kernel), which is what most configs ran; the configs listed in other_benchmarks.yaml
bert_train.config_settings (`flags`, each with its file) pass fewer flags, and their extra kernels are priced here.
The attention's QKV bias (inside the FMHA module's own linear) is not counted (not read): a lower bound.

BERT_CONFIG_FUSIONS: see docs/notes/issue-18.md, round stop-42 (issue-63e), for the rows as they came out and why it
is on. Off: every config is priced as fused.
"""

from __future__ import annotations

from ..errors import TapeoutError
from ..ops import Elementwise, OpGraph

BERT_CONFIG_FUSIONS = True
FLAGS = ("fused_gemm_gelu", "fused_bias_fc", "fused_bias_mha", "fused_dropout_add")
# attention paths a config rule may name (`attention`); absent: the fused kernel the engine prices by default
# (--unpad_fmha / --pad_fmha). fast_unpad: modeling.py FastUnpadBertAttention (--unpad without --unpad_fmha, or with
# --fused_mha, which run_pretraining.py turns off under --unpad), priced by validation/bert_attention.py
ATTENTION_PATHS = ("fast_unpad",)
RESIDUALS_PER_LAYER = 2  # after the attention projection and after FC2 (as bert_dropout.PER_LAYER)


def config_rule(rules: list, mlperf_round: str | None, submitter: str | None, chip_name: str, nodes: int | None,
                n_chips: int) -> dict | None:
    """The first rule of `rules` (other_benchmarks.yaml bert_train.config_settings) naming the row's config by its
    round, submitter (None: NVIDIA), catalog chip, node count and chip count; None where no rule names it."""
    for r in rules:
        if (r["round"] == mlperf_round and r["submitter"] == (submitter or "NVIDIA") and r["chip"] == chip_name
                and r["nodes"] == (nodes or 1) and r.get("chips", n_chips) == n_chips):
            return r
    return None


def config_flags(rule: dict | None) -> frozenset | None:
    """The fusion flags a config rule says its config passes; None where no rule or the rule states no `flags` (the
    config passes all four: priced as fused)."""
    if rule is None or "flags" not in rule:
        return None
    bad = sorted(set(rule["flags"]) - set(FLAGS))
    if bad:
        raise TapeoutError(f"bert_train.config_settings: unknown flag(s) {bad} in the {rule['round']} "
                           f"{rule['submitter']} rule; use flags from {list(FLAGS)}")
    return frozenset(rule["flags"])


def config_attention(rule: dict | None) -> str | None:
    """The attention path a config rule (bert_train.config_settings) names; None where no rule or none named (the
    fused kernel). An unknown path is one TapeoutError naming the field."""
    if rule is None or "attention" not in rule:
        return None
    path = rule["attention"]
    if path not in ATTENTION_PATHS:
        raise TapeoutError(f"bert_train.config_settings: attention {path!r} in the {rule['round']} {rule['submitter']} "
                           f"rule; use one of {list(ATTENTION_PATHS)} or leave it out (the fused kernel)")
    return path


def unfused_ops(flags: frozenset, tokens: float, hidden: int, ffn: int, layers: int) -> tuple[list, list]:
    """(forward ops, backward ops) of the kernels a config passing only `flags` runs beyond the fused price, over
    `tokens` tokens of `layers` layers (16-bit activations); empty lists where every flag is passed."""
    fwd: list = []
    bwd: list = []
    if "fused_gemm_gelu" not in flags:
        fwd.append(Elementwise(name="gelu", count=layers, elems=tokens * ffn, flops_per_elem=8.0, reads=1.0,
                               writes=1.0))
        bwd.append(Elementwise(name="gelu_bwd", count=layers, elems=tokens * ffn, flops_per_elem=10.0, reads=2.0,
                               writes=1.0))
    # bias-gradient reductions of the nn.Linear layers: FC1 (ffn wide) and FC2 (hidden) without --fused_bias_fc,
    # the attention output projection (hidden) without --fused_bias_mha; the h-element result is negligible
    widths = ([ffn, hidden] if "fused_bias_fc" not in flags else []) + \
        ([hidden] if "fused_bias_mha" not in flags else [])
    for w in widths:
        bwd.append(Elementwise(name=f"bias_grad_{w}", count=layers, elems=tokens * w, flops_per_elem=1.0, reads=1.0,
                               writes=0.0))
    if "fused_dropout_add" not in flags:  # the dropout output written and read back by a separate add
        fwd.append(Elementwise(name="dropout_add_split", count=RESIDUALS_PER_LAYER * layers, elems=tokens * hidden,
                               flops_per_elem=0.0, reads=1.0, writes=1.0))
    return fwd, bwd


def unfused_graphs(g: OpGraph, flags: frozenset, hidden: int, ffn: int, layers: int) -> tuple[OpGraph, OpGraph] | None:
    """(forward, backward) graphs of `unfused_ops` on BERT graph `g` (T = batch x seq_len of its meta); None where
    the config passes every flag."""
    tokens = float(g.meta["batch"]) * float(g.meta["seq_len"])
    fwd, bwd = unfused_ops(flags, tokens, hidden, ffn, layers)
    if not fwd and not bwd:
        return None
    return OpGraph(f"{g.name}:config_unfused", fwd, g.meta), OpGraph(f"{g.name}:config_unfused_bwd", bwd, g.meta)


__all__ = ["ATTENTION_PATHS", "BERT_CONFIG_FUSIONS", "FLAGS", "config_attention", "config_flags", "config_rule", "unfused_graphs", "unfused_ops"]
