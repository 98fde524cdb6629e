"""Training precision recipes (BF16, FP8 delayed / current scaling, MXFP8, NVFP4) as data.

Data: data/precision/training_recipes.yaml (one entry per recipe, with sources). The formats,
their block-scale bytes and the fallback of a format a chip lacks come from the serving
precision policy (tapeout.formats: formats.yaml, `plan`), so training and serving agree on
which op class runs which format and how many bytes a block-scaled tensor takes.

Per quantized GEMM (the linear layers; attention and the LM head stay BF16) a memory-bound
quantize kernel is charged forward for the input X and backward for the output gradient dY:
  bytes per element = 2 (1 + extra_reads)   read the BF16 tensor (+ an amax pass)
                    + copies x format_bits/8 write rowwise/columnwise copies incl. block scales
Block scales per copy (OCP MX v1.0; NVFP4): elems x scale_bits / 8 / block bytes
(MXFP8: n/32, NVFP4: n/16, plus 4 bytes of FP32 tensor scale per NVFP4 tensor).

Norm-fed GEMMs (recipe `norm_fused_cast`): Transformer Engine's LayerNormLinear (the QKV GEMM) and
LayerNormMLP (FC1) write the norm's output directly in FP8 (TE 1.x `_apply_normalization(..., fp8)`
into a uint8 `ln_out`, then the sequence-parallel all-gather of the FP8 tensor), so the forward
cast is no kernel of its own: the norm writes 1 B instead of 2 B per element, on the tokens the
norm runs on (T/TP under sequence parallelism). The wgrad operand is made in the backward by
`tex.fp8_transpose(ln_out_total)` of the gathered tensor (T tokens: read 1 B, write 1 B), only
`if weight.requires_grad`. Not when the module also returns its norm output (LoRA's adapter on the
QKV GEMM: `return_layernorm_output` -> BF16 norm, then `cast_to_fp8`, the standalone kernel).
Sources: NVIDIA/TransformerEngine transformer_engine/pytorch/module/layernorm_linear.py and
layernorm_mlp.py (1.x, Float8Tensor era, commit 0004dbd: forward `ln_out_dtype = torch.uint8 if
(fp8 and not return_layernorm_output)`, backward `ln_out_total_t = tex.fp8_transpose(...)` under
`if weight.requires_grad`).

Frozen weights (LoRA) and the output gradient (`frozen_dy_transpose`): TE 1.x
`TransformerEngineBaseModule.grad_output_preprocess` casts dY with `fp8_cast_transpose_fused`
(or, for a sequence-parallel row-parallel GEMM, casts, gathers and `fp8_transpose`s it) whatever
the weight's requires_grad: the frozen GEMM's dY still gets both copies. Read at two 1.x commits
bracketing the LoRA stack's v1.6rc2 (0004dbd, and the later get_fp8_workspace-era base.py).
Except under the userbuffers dY all-gather (`ub_dy_gathered`: the proj/fc2_dgrad slot overlapped):
there `grad_output_preprocess` casts into the userbuffer and returns `grad_output_t = None`, and
`_Linear.backward` makes `tex.fp8_transpose(grad_output_c)` only under `if weight.requires_grad`
(TE 1.x linear.py, in its ub_split_ag and ub_overlap_ag forms): a frozen row-parallel `Linear`
writes no dY transpose. Megatron-Core's TE layer spec builds both row-parallel GEMMs as that
module (linear_proj and linear_fc2 = TERowParallelLinear; TE's LayerNormMLP, whose FC2 transposes
unconditionally, is not used), and the LoRA config runs mcore_gpt: True.

The output gradient of a row-parallel GEMM under sequence parallelism (`dy_shard` = TP: o_proj,
mlp_down): the same TE 1.x `grad_output_preprocess` branch ("FP8 case with gather: unfused bgrad, cast,
transpose for efficient gather") runs `cast_to_fp8` on the rank's T/TP-token shard, all-gathers the
FP8 tensor, then `tex.fp8_transpose` of the gathered T tokens (read 1 B, write 1 B); with userbuffers
the cast writes into the gather buffer, same bytes. So the rowwise cast reads and writes T/TP tokens,
and only the transpose is on T. Delayed scaling only: its scale comes from the amax history, so each
shard casts before the gather; a current-scaling recipe needs the whole tensor's amax first (TE 2.x,
not read: the full-T cast stays).

Google's AQT int8 (`aqtint8`, what --precision int8 runs while AQT_INT8_RECIPE is on): every quantized dot
quantizes both of its operands itself in each of the three passes (forward X and W, dlhs dY and W, drhs dY
and X; AQT config_v3 / fully_quantized with use_fwd_quant False), so X and dY each get two copies (one per
contraction axis) with an abs-max pass first, and the weight is quantized per dot, per micro-batch
(`weight_casts_per_microbatch`), never cached across micro-batches. The attention core and the logits dot
are not quantized (BF16), as in every other recipe. Sources in training_recipes.yaml aqtint8.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import yaml

from ..errors import TapeoutError, unknown_name_error
from ..formats import data_file, format_bits, format_table, plan
from ..ops import Attention, Elementwise, MatMul, OpGraph
from ..precision import Precision, get_precision
from .train_lora import COLUMN_PARALLEL
from .fp8_dpa_casts import dpa_boundary_casts

# --precision int8 runs Google's AQT int8 recipe (training_recipes.yaml aqtint8, via gemm_dtype_recipes): its
# quantize passes priced and the attention core and logits dot in BF16, as MaxText quantization=int8 and Pax's
# quant_aqt_v2 run them (sourced there). Off: int8 is a plain GEMM dtype (every matmul, attention and the LM
# head included, at the int8 rate, no quantize kernel). On: sourced; see docs/notes/issue-18.md (stop-42,
# issue-64a) for the rows it moves.
AQT_INT8_RECIPE = True


@dataclass(frozen=True)
class Recipe:
    name: str
    gemm: str  # format of the linear-layer GEMMs (dense_gemm, expert_gemm)
    scaling: str  # none | delayed | current | block
    copies: int = 0  # quantized copies written per GEMM operand (rowwise fprop/dgrad + columnwise wgrad)
    extra_reads: int = 0  # amax passes over the BF16 tensor before the cast
    quant_flops: float = 0.0  # vector FLOPs per element of the cast (all copies)
    wgrad_flops: float = 0.0  # on the wgrad copies (NVFP4 16x16 random Hadamard transform)
    grad_flops: float = 0.0  # on gradient casts (stochastic rounding)
    bf16_fraction: float = 0.0  # share of the transformer layers kept in BF16
    on_fallback: str | None = None  # recipe that runs when the chip lacks `gemm` and formats.plan falls back
    norm_fused_cast: bool = False  # the norm writes the quantized input of the GEMM it feeds (module docstring)
    gather_quantized: bool = False  # sequence-parallel all-gathers move the quantized GEMM operands (gather_bytes)
    weight_casts_per_microbatch: int = 0  # 0: the weight is quantized once per step and cached (TE); n: n times per micro-batch (AQT)
    source: str = ""

    @property
    def quantized(self) -> bool:
        return self.copies > 0


@lru_cache(maxsize=1)
def recipe_table() -> dict:
    return yaml.safe_load(data_file("precision", "training_recipes.yaml").read_text())


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def get_recipe(name: str) -> Recipe | None:
    """The training recipe called `name` (fp8 = delayed scaling), None when `name` is no recipe."""
    t = recipe_table()
    key = _key(name)
    key = t.get("aliases", {}).get(key, key)
    shown = key  # a recipe reached through its GEMM dtype (gemm_dtype_recipes) is shown under the dtype's name
    if AQT_INT8_RECIPE:
        key = t.get("gemm_dtype_recipes", {}).get(key, key)
    elif key in t.get("gemm_dtype_recipes", {}).values():
        return None
    r = t["recipes"].get(key)
    if r is None:
        return None
    b = r.get("bf16_blocks")
    frac = (b["first"] + b["last"]) / b["of"] if b else 0.0
    return Recipe(name=shown, gemm=r["gemm"], scaling=r["scaling"], copies=int(r.get("copies", 0)),
                  extra_reads=int(r.get("extra_reads", 0)), quant_flops=float(r.get("quant_flops", 0)),
                  wgrad_flops=float(r.get("wgrad_flops", 0)), grad_flops=float(r.get("grad_flops", 0)),
                  bf16_fraction=frac, on_fallback=r.get("on_fallback"), norm_fused_cast=bool(r.get("norm_fused_cast", False)),
                  gather_quantized=bool(r.get("gather_quantized", False)),
                  weight_casts_per_microbatch=int(r.get("weight_casts_per_microbatch", 0)),
                  source=" ".join(str(r.get("source", "")).split()))


def recipe_names() -> list[str]:
    """The recipes asked for by their own name (not those run through a GEMM dtype: gemm_dtype_recipes)."""
    t = recipe_table()
    return [n for n in t["recipes"] if n not in t.get("gemm_dtype_recipes", {}).values()]


def gemm_dtype_precision(asked: str) -> Precision:
    """The GEMM Precision of a --precision that names no recipe (the caller has tried get_recipe): a GEMM dtype
    of training_recipes.yaml `gemm_dtypes` (the linear layers' GEMMs in it, BF16 activations). Anything else is
    refused in one line listing the training precisions on file, with the recipe or dtype of the same GEMM
    format where there is one (a serving spelling: float8 / fp8e4m3 -> fp8 or fp8current, w8a8 -> int8)."""
    t = recipe_table()
    listing = f"a recipe ({', '.join(recipe_names())}) or a GEMM dtype ({', '.join(t['gemm_dtypes'])})"
    try:
        pr = get_precision(asked)
    except TapeoutError:
        raise unknown_name_error("training precision", asked, [*recipe_names(), *t["gemm_dtypes"]]) from None
    if pr.weights != pr.activations:  # w4a16, w8a16, w4a8...: serving's weight-only quantization
        raise TapeoutError(f"--precision {asked}: weights {pr.weights} with {pr.activations} activations is a "
                           f"serving weight-quantization format, not a training precision (training updates the "
                           f"weights it multiplies); give a training precision: {listing}.")
    if pr.name in t["gemm_dtypes"]:
        return Precision(pr.name, pr.compute, "bf16", "bf16", pr.compute)
    meant = [f"{n} ({r['scaling']} scaling)" if r["scaling"] != "none" else n
             for n, r in t["recipes"].items() if r["gemm"] == pr.compute and n in recipe_names()]
    meant += [d for d in t["gemm_dtypes"] if d == pr.compute]
    hint = f" Did you mean {' or '.join(meant)}? (the same GEMM format, {pr.compute})" if meant else ""
    raise TapeoutError(f"--precision {asked}: no training recipe on file for it (data/precision/training_recipes.yaml); "
                       f"train in {listing}.{hint}")


def training_precision_name(asked: str) -> str:
    """The name a training --precision is shown under: its recipe's (training_recipes.yaml aliases and
    spellings: FP8 -> fp8, fp4 -> nvfp4, bfloat16 -> bf16, fp8_current -> fp8current) or its GEMM dtype's
    (float16 -> fp16); what is neither is refused as gemm_dtype_precision refuses it."""
    r = get_recipe(asked)
    return r.name if r is not None else gemm_dtype_precision(asked).name


def scale_bytes_per_elem(fmt: str) -> float:
    """Block-scale bytes per element of one quantized copy (0 for per-tensor formats)."""
    f = format_table()["formats"].get(fmt, {})
    return float(f.get("scale_bits", 0)) / 8.0 / float(f["block"]) if f.get("block") else 0.0


def copy_bytes(fmt: str, elems: float) -> tuple[float, float]:
    """(payload bytes, block-scale bytes) of one quantized copy of `elems` elements."""
    f = format_table()["formats"][fmt]
    return elems * float(f["bits"]) / 8.0, elems * scale_bytes_per_elem(fmt)


def weight_cast_bytes_per_param(r: Recipe, microbatches: float = 1.0) -> float:
    """Bytes per parameter of the step's weight quantize kernels. Transformer Engine (weight_casts_per_microbatch
    0): once per step, cached across micro-batches: read BF16, write the copies. AQT: each dot that reads the
    weight quantizes it (amax pass, cast pass, one copy), weight_casts_per_microbatch times per micro-batch."""
    if not r.quantized:
        return 0.0
    if r.weight_casts_per_microbatch:
        return microbatches * r.weight_casts_per_microbatch * (2.0 * (1 + r.extra_reads) + format_bits(r.gemm) / 8.0)
    return 2.0 + r.copies * format_bits(r.gemm) / 8.0


def _kernel(name: str, count: float, elems: float, r: Recipe, copies: int, flops: float) -> Elementwise:
    # bf16-sized units: reads of the 16-bit tensor, writes of copies x format_bits bits
    return Elementwise(name=name, count=count, elems=elems, flops_per_elem=flops, reads=1 + r.extra_reads,
                       writes=copies * format_bits(r.gemm) / 16.0, dtype="bf16")


# row-parallel GEMMs: under sequence parallelism their dY arrives on the T/TP shard and is gathered
ROW_PARALLEL = frozenset(n for n, column in COLUMN_PARALLEL.items() if not column)

# GEMMs fed by a norm inside one Transformer Engine module (LayerNormLinear: QKV; LayerNormMLP: FC1)
# -> that norm (workloads/llm.py names)
NORM_FED = {"qkv_proj": "attn_norm", "mlp_gate_up": "mlp_norm", "mlp_up": "mlp_norm"}


def _transpose(name: str, count: float, elems: float, fmt: str) -> Elementwise:
    # read the quantized tensor, write its transpose (TE fp8_transpose); bf16-sized units
    b = format_bits(fmt) / 16.0
    return Elementwise(name=name, count=count, elems=elems, flops_per_elem=0.0, reads=b, writes=b, dtype="bf16")


def quantized_norm_fed(g: OpGraph, r: Recipe, lora=False) -> dict:
    """The norm-fed GEMMs of `g` whose input runs quantized in `r` -> their norm; not a GEMM whose
    module also returns its norm output (an adapter on it reads that output in BF16: TE 1.x
    `return_layernorm_output` keeps `ln_out` BF16)."""
    returns_norm = set(getattr(lora, "targets", ()))
    return {n: norm for n, norm in NORM_FED.items() if r.quantized and n not in returns_norm
            and any(isinstance(op, MatMul) and op.name == n and op.math_dtype == r.gemm for op in g.ops)}


def gather_bytes(g: OpGraph, r: Recipe | None, lora=False) -> dict:
    """Bytes per element, relative to BF16, of what each GEMM's sequence-parallel all-gather moves:
    {(GEMM name, "input" | "grad"): ratio} for the gathers the recipe runs quantized, every other
    gather BF16 (1). Under `r.gather_quantized` (Transformer Engine FP8): the input of a norm-fed
    GEMM, which the norm wrote quantized on the T/TP shard (layernorm_linear.py `_LayerNormLinear`
    forward `gather_along_first_dim(ln_out)` of the uint8 `ln_out`; backward re-gather of the same
    saved tensor), and the output gradient of every quantized GEMM, which
    `grad_output_preprocess` casts before it gathers it (`cast_to_fp8` then
    `gather_along_first_dim(grad_output_c)`; with userbuffers into the FP8 proj/fc2_dgrad buffer).
    A per-tensor scale does not travel with the gather (TE reuses the local scale_inv); block scales
    are part of format_bits. Also (GEMM, "output") for a quantized row-parallel GEMM: what its
    output occupies in an FP8 reduce-scatter userbuffer, where the stack's slot has one
    (perf/tp_overlap.py `fp8_rs`; linear.py `is_fp8_ubuf()`: the FP8 GEMM writes uint8 there)."""
    if r is None or not (r.quantized and r.gather_quantized):
        return {}
    ratio = format_bits(r.gemm) / 16.0
    out = {(n, "input"): ratio for n in quantized_norm_fed(g, r, lora)}
    out.update({(op.name, "grad"): ratio for op in g.ops if isinstance(op, MatMul) and op.math_dtype == r.gemm
                and op.name != "lm_head"})
    out.update({(op.name, "output"): ratio for op in g.ops if isinstance(op, MatMul) and op.math_dtype == r.gemm
                and op.name in ROW_PARALLEL})
    return out


def training_graph(g: OpGraph, r: Recipe, fp8_attention: bool = False, lora=False,
                   frozen_dy_transpose: bool = False, dy_shard: int = 1,
                   ub_dy_gathered: frozenset = frozenset(), dpa_casts: bool = False) -> tuple[OpGraph, OpGraph, OpGraph]:
    """Apply recipe `r` to a forward graph whose GEMMs were built in `r.gemm`: the attention core
    (unless `fp8_attention`, TE fp8_dpa) and the LM head back in BF16, plus the forward (X) and
    backward (dY) quantize kernels of every quantized GEMM. LoRA (`lora` true or a
    train_lora.LoraAdapters): no wgrad, one copy of X; one copy of dY unless `frozen_dy_transpose`
    (TE 1.x writes its transpose anyway). Norm-fed GEMMs under `r.norm_fused_cast`: the norm writes
    the quantized copy, the wgrad transpose runs in the backward (module docstring). `dy_shard`: the TP
    size when sequence parallelism shards a row-parallel GEMM's dY (1: none); under delayed scaling its
    rowwise cast runs on the 1/dy_shard shard and its transpose on the gathered tensor (module docstring).
    `ub_dy_gathered`: the row-parallel GEMMs whose dY is gathered in a userbuffer; a frozen one (LoRA)
    writes no transpose there, whatever `frozen_dy_transpose` says (module docstring). `dpa_casts`: the attention
    runs as Transformer Engine's FP8 dot-product attention without FP8 MHA (however its rate is priced), so its
    boundary quantize / dequantize kernels join the forward and backward casts (perf/fp8_dpa_casts)."""
    ops, fwd, bwd = [], [], []
    copies = 1 if lora else r.copies
    dy_copies = r.copies if frozen_dy_transpose else copies
    wg = 0.0 if lora else r.wgrad_flops
    fused = quantized_norm_fed(g, r, lora) if r.norm_fused_cast else {}
    fused_norms = set(fused.values())
    for op in g.ops:
        if isinstance(op, Attention) and dpa_casts and r.gemm == "fp8":
            # TE FP8 DPA without FP8 MHA quantizes Q, K, V and dequantizes O at its own boundaries (perf/fp8_dpa_casts)
            f, b = dpa_boundary_casts(op, r.quant_flops or 1.0, format_bits(r.gemm), r.extra_reads)
            fwd += f
            bwd += b
        if isinstance(op, Attention) and op.math_dtype == r.gemm and not (fp8_attention and r.gemm == "fp8"):
            op = replace(op, math_dtype="fp8" if fp8_attention else "bf16")
        elif isinstance(op, Elementwise) and op.name in fused_norms:
            op = replace(op, writes=format_bits(r.gemm) / 16.0)  # the norm's output is the FP8 GEMM input
        elif isinstance(op, MatMul) and op.name == "lm_head":
            op = replace(op, math_dtype="bf16", w_dtype="bf16", a_dtype="bf16", eff_scale=1.0)
        elif isinstance(op, MatMul) and op.math_dtype == r.gemm and r.quantized:
            n_in = op.groups * op.batch * op.m * op.k
            n_out = op.groups * op.batch * op.m * op.n
            if op.name not in fused:
                fwd.append(_kernel(f"{op.name}_{r.gemm}_quantize", op.count, n_in, r, copies, r.quant_flops + wg))
            elif not lora:  # wgrad operand: transpose of the gathered quantized norm output (T tokens)
                bwd.append(_transpose(f"{op.name}_input_{r.gemm}_transpose", op.count, n_in, r.gemm))
            if dy_shard > 1 and r.scaling == "delayed" and op.name in ROW_PARALLEL:
                bwd.append(_kernel(f"{op.name}_dgrad_{r.gemm}_quantize", op.count, n_out / dy_shard, r, 1,
                                   r.quant_flops + r.grad_flops))
                if dy_copies > 1 and not (lora and op.name in ub_dy_gathered):  # wgrad operand: transpose of the gathered dY
                    bwd.append(_transpose(f"{op.name}_dgrad_{r.gemm}_transpose", op.count, n_out, r.gemm))
            else:
                bwd.append(_kernel(f"{op.name}_dgrad_{r.gemm}_quantize", op.count, n_out, r, dy_copies,
                                   r.quant_flops + wg + r.grad_flops))
        ops.append(op)
    empty = ops[:0]
    return (OpGraph(name=g.name, ops=ops, meta=g.meta), OpGraph(name=g.name + ":quant_fwd", ops=fwd or empty, meta=g.meta),
            OpGraph(name=g.name + ":quant_bwd", ops=bwd or empty, meta=g.meta))


def resolve(r: Recipe, chip, fp8_attention: bool = False):
    """The recipe that runs on `chip`, the GEMM Precision to build graphs with, the per-op-class
    format choices (formats.plan) and the fallback notes. A width the chip lacks is an error."""
    asked = Precision(r.name, r.gemm, "bf16", "bf16", r.gemm, attention="fp8" if fp8_attention else "bf16", lm_head="bf16")
    ran, choices = plan(asked, chip)  # a width the chip lacks entirely is bad input there (one line)
    notes = []
    run = r
    if ran.compute != r.gemm:
        nxt = get_recipe(r.on_fallback) if r.on_fallback else None
        run = nxt if nxt is not None and nxt.gemm == ran.compute else replace(r, gemm=ran.compute)
        notes.append(f"{r.name} not native on {chip.id}: GEMMs fell back to {ran.compute} "
                     f"(recipe {run.name}, {run.scaling} scaling)")
    choices = list(choices)
    if run.bf16_fraction:
        choices = [replace(c, note=(c.note + "; " if c.note else "") + f"{run.bf16_fraction:.0%} of the layers in bf16")
                   if c.op_class in ("dense_gemm", "expert_gemm") else c for c in choices]
    gemm_pr = Precision(run.name, run.gemm, "bf16", "bf16", run.gemm, gemm_eff=ran.gemm_eff)
    return run, gemm_pr, choices, notes
