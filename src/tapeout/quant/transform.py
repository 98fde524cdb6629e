"""Compression as a graph transform: quantization, sparsity, embedding compression.

``apply_compression(graph, scheme, chip=None) -> graph`` rewrites the ops of any op graph
(LLM, recommendation, vision, ...):

* **Number formats.** Matmul weights / activations / math and the attention KV cache are
  re-typed to the scheme's dtypes (``None`` keeps the graph's). With ``chip`` given, a math
  dtype the chip lacks falls back as in ``formats.resolve_precision_for_chip``.
* **Dequantization.** Weights narrower than the math format carry a vector-unit cost per
  weight element (``formats.DEQUANT_OPS_PER_WEIGHT``), charged by ``evaluate_compressed``.
* **2:4 (N:M) structured sparsity.** Keeps N of every M weights along k. Bytes: kept values
  plus metadata of 2 bits per kept element for 2:4 (index of the kept element in its group
  of 4; NVIDIA A100 whitepaper, "Fine-grained structured sparsity", and cuSPARSELt docs),
  generally ceil(log2 M) bits per kept element. Compute: on a chip with sparse matrix
  engines the math runs ``min(sparsity_factor, M/N) * SPARSE_GEMM_EFFICIENCY`` times faster
  than dense, never more than the chip's sparsity_factor (2x on every shipping design).
  ``SPARSE_GEMM_EFFICIENCY = 0.85`` turns the 2x peak into the ~1.7x GEMM speedup that
  cuSPARSELt kernels reach (pytorch/ao torchao/sparsity/README.md: "up to 1.7x" matmul on
  A100); end-to-end speedups are lower because attention, norms and memory-bound steps do
  not shrink: 1.10x SAM ViT-h (same README), 1.27x Llama-3-8B in vLLM (HPC-AI/Neural Magic
  blog), 1.3-1.7x is the published range. A chip without sparse engines runs 2:4 at the
  dense rate after a decompression pass on the vector units (bytes still shrink).
* **Unstructured sparsity.** Bytes only: the dense matrix engines see decompressed
  tiles, so FLOPs do not shrink (kernels like Flash-LLM, arXiv:2309.10285, use sparsity
  only to cut memory traffic of memory-bound GEMMs). Index overhead: a bitmask (1 bit per
  dense element) or CSR (16-bit column index per kept element; row pointers negligible),
  ``"auto"`` picks the smaller. Decompression costs vector work per dense element.
* **Embedding compression** (recommendation): row-wise INT8 (per-row FP32 scale and
  bias, 8 B/row) or INT4/INT2 (FP16 scale and bias, 4 B/row), as FBGEMM's fused row-wise
  formats store them (FloatToFused8BitRowwiseQuantized, FusedNBitRowwiseQuantizedSBHalf);
  the hashing trick keeps a fraction of the rows (Weinberger et al. 2009; the quality cost
  of collisions is what Monolith, arXiv:2209.07663, avoids with collisionless tables).

``evaluate_compressed(graph, params)`` = ``perf.opcost.evaluate`` plus the two effects
opcost does not know yet (sparse math rate and dequantization time); see
``OPCOST_PATCH`` for the change that would move them into ``evaluate``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace

import numpy as np

from ..errors import TapeoutError
from ..ops import PEAK_KEYS, Attention, EmbeddingGather, MatMul, Op, OpGraph
from ..precision import DTYPE_BITS, dtype_bytes
from .formats import DEQUANT_M_BLOCK, DEQUANT_OPS_PER_WEIGHT, FALLBACK_CHAIN, chip_sparsity_factor, peak_key

SPARSE_GEMM_EFFICIENCY = 0.85  # 1.7x / 2x: cuSPARSELt GEMM speedup ceiling (pytorch/ao sparsity README)
UNSTRUCTURED_DECOMPRESS_OPS = 2.0  # vector ops per dense element (mask test + gather/scatter)
STRUCTURED_DECOMPRESS_OPS = 1.0  # 2:4 expanded in software on chips without sparse engines
CSR_INDEX_BITS = 16.0  # column index per kept element (k <= 65536)
EMB_ROW_OVERHEAD_BYTES = {"int8": 8.0, "int4": 4.0, "int2": 4.0, "fp16": 0.0, "bf16": 0.0, "fp8": 4.0}
EMB_BITS = {"int8": 8, "int4": 4, "int2": 2, "fp16": 16, "bf16": 16, "fp8": 8}
DEFAULT_SKIP = ("router", "lm_head")  # layers kept as they are (routers and LM heads are usually left dense/16-bit)


# ----------------------------------------------------------------------------------------
# ops


@dataclass(frozen=True)
class CompressedMatMul(MatMul):
    """A MatMul with a sparsity pattern, index metadata and a dequantization cost.

    `sparsity` (inherited) is the fraction of weights kept. `meta_bits` is index metadata
    per *dense* weight element. `dequant_ops` are vector ops per dense weight element per
    pass over the weights. `sparse_nm` = (N, M) for structured N:M sparsity, else None.
    """

    pattern: str = "dense"  # "dense" | "nm" | "unstructured"
    sparse_nm: tuple[int, int] | None = None
    meta_bits: float = 0.0
    dequant_ops: float = 0.0

    @property
    def weight_bytes(self) -> float:
        copies = self.groups * (1 if self.shared_weight else self.batch)
        per_elem = dtype_bytes(self.w_dtype) * self.sparsity + self.meta_bits / 8.0
        return copies * self.k * self.n * per_elem

    @property
    def weight_elems(self) -> float:
        copies = self.groups * (1 if self.shared_weight else self.batch)
        return copies * self.k * self.n

    @property
    def dequant_passes(self) -> float:
        return float(math.ceil(self.m / DEQUANT_M_BLOCK)) if self.dequant_ops else 0.0

    @property
    def dequant_flops(self) -> float:
        """Vector-unit work (ops) to expand/rescale the weights, per instance."""
        return self.weight_elems * self.dequant_ops * self.dequant_passes

    @classmethod
    def from_matmul(cls, op: MatMul, **kw) -> "CompressedMatMul":
        base = {f.name: getattr(op, f.name) for f in fields(MatMul) if f.init}
        if isinstance(op, CompressedMatMul):
            base.update({f: getattr(op, f) for f in ("pattern", "sparse_nm", "meta_bits", "dequant_ops")})
        base.update(kw)
        return cls(**base)


@dataclass(frozen=True)
class CompressedEmbedding(EmbeddingGather):
    """An embedding gather from a compressed table; `dequant_flops_per_elem` per looked-up
    element (1 FMA = 2 FLOPs for scale and bias) is added to the pooling FLOPs."""

    dequant_flops_per_elem: float = 0.0
    storage: str = "fp32"

    @property
    def flops(self) -> float:
        return self.lookups * max(self.dim, 1) * (1.0 + self.dequant_flops_per_elem)


# ----------------------------------------------------------------------------------------
# schemes


@dataclass(frozen=True)
class CompressionScheme:
    """What to do to a graph. `None` fields leave the graph's choice in place."""

    name: str = "dense"
    weights: str | None = None
    activations: str | None = None
    compute: str | None = None
    kv_cache: str | None = None
    sparsity: str = "dense"  # "dense" | "N:M" (e.g. "2:4") | "unstructured"
    density: float = 1.0  # fraction kept, for unstructured
    sparse_index: str = "auto"  # "bitmask" | "csr" | "auto" (unstructured)
    embedding: str | None = None  # "int8" | "int4" | "int2" | "fp16" row-wise
    embedding_rows_kept: float = 1.0  # hashing trick: fraction of rows kept
    skip: tuple[str, ...] = DEFAULT_SKIP
    quality_keys: tuple[str, ...] = field(default=())  # published_accuracy.csv scheme families

    @property
    def nm(self) -> tuple[int, int] | None:
        m = re.fullmatch(r"(\d+):(\d+)", self.sparsity)
        if not m:
            return None
        n_, m_ = int(m.group(1)), int(m.group(2))
        if not 0 < n_ <= m_:
            raise TapeoutError(f"sparsity '{self.sparsity}': need 0 < N <= M in N:M.")
        return n_, m_

    @property
    def kept(self) -> float:
        nm = self.nm
        if nm:
            return nm[0] / nm[1]
        if self.sparsity == "unstructured":
            return self.density
        return 1.0


# Named schemes. Dtype fields use tapeout.precision dtypes; quality_keys name the rows of
# data/quant/published_accuracy.csv that give their accuracy cost (tapeout.quant.quality).
SCHEMES: dict[str, CompressionScheme] = {
    "bf16": CompressionScheme("bf16", "bf16", "bf16", "bf16", "bf16", quality_keys=()),
    "fp16": CompressionScheme("fp16", "fp16", "fp16", "fp16", "fp16", quality_keys=()),
    "fp8": CompressionScheme("fp8", "fp8", "fp8", "fp8", None, quality_keys=("fp8",)),
    "w8a8": CompressionScheme("w8a8", "int8", "int8", "int8", None, quality_keys=("w8a8",)),
    "w8a16": CompressionScheme("w8a16", "int8", "bf16", "bf16", None, quality_keys=("w8a16",)),
    "w4a16": CompressionScheme("w4a16", "int4_g128", "bf16", "bf16", None, quality_keys=("w4a16",)),
    "w4a8": CompressionScheme("w4a8", "int4_g128", "fp8", "fp8", None, quality_keys=("w4a8",)),
    "mxfp8": CompressionScheme("mxfp8", "mxfp8", "mxfp8", "mxfp8", None, quality_keys=("fp8",)),
    "mxfp4": CompressionScheme("mxfp4", "mxfp4", "mxfp4", "mxfp4", None, quality_keys=("mxfp4",)),
    "nvfp4": CompressionScheme("nvfp4", "nvfp4", "nvfp4", "nvfp4", None, quality_keys=("nvfp4",)),
    "2:4": CompressionScheme("2:4", sparsity="2:4", quality_keys=("2:4",)),
    "4:8": CompressionScheme("4:8", sparsity="4:8", quality_keys=("4:8",)),
    "unstructured50": CompressionScheme("unstructured50", sparsity="unstructured", density=0.5,
                                        quality_keys=("unstructured50",)),
    "kv-fp8": CompressionScheme("kv-fp8", kv_cache="fp8", quality_keys=("kv-fp8",)),
    "kv-int4": CompressionScheme("kv-int4", kv_cache="int4_g64", quality_keys=("kv-int4",)),
    "emb-int8": CompressionScheme("emb-int8", embedding="int8", quality_keys=("emb-int8",)),
    "emb-int4": CompressionScheme("emb-int4", embedding="int4", quality_keys=("emb-int4",)),
    "emb-hash10": CompressionScheme("emb-hash10", embedding_rows_kept=0.1, quality_keys=("emb-hash",)),
}


def combine(*schemes: CompressionScheme) -> CompressionScheme:
    """Later schemes override earlier fields they set; quality keys accumulate."""
    out = CompressionScheme(name="+".join(s.name for s in schemes))
    defaults = CompressionScheme()
    kw = {}
    keys: list[str] = []
    for s in schemes:
        for f in fields(CompressionScheme):
            if f.name in ("name", "quality_keys"):
                continue
            v = getattr(s, f.name)
            if v != getattr(defaults, f.name):
                kw[f.name] = v
        keys += [k for k in s.quality_keys if k not in keys]
    return replace(out, quality_keys=tuple(keys), **kw)


def sparsity_part(s: str) -> CompressionScheme | None:
    """A sparsity part of a scheme: 'N:M', or the kept density as 'unstructuredPCT' (percent kept) or
    'unstructured:F' (fraction kept; 'unstructured' alone keeps half); None if `s` is neither."""
    if re.fullmatch(r"\d+:\d+", s):
        return CompressionScheme(s, sparsity=s, quality_keys=(s,))
    m = re.fullmatch(r"unstructured(?::(\d*\.?\d+)|(\d+))?", s)
    if m is None:
        return None
    d = float(m.group(1)) if m.group(1) else int(m.group(2) or 50) / 100.0  # (0, 1] is checked where it is applied
    return CompressionScheme(s, sparsity="unstructured", density=d, quality_keys=(f"unstructured{int(round(d * 100))}",))


def parse_scheme(spec: str | CompressionScheme) -> CompressionScheme:
    """'w4a16+2:4+kv-fp8' -> one CompressionScheme. Parts: SCHEMES names, 'N:M', 'kv-DTYPE',
    'emb-int8|int4|int2', 'emb-hashPCT', 'unstructuredPCT' (PCT = percent kept) or 'unstructured:F' (sparsity_part)."""
    if isinstance(spec, CompressionScheme):
        return spec
    parts = [p.strip().lower() for p in re.split(r"[+,]", spec) if p.strip()]
    if not parts:
        raise TapeoutError("empty compression scheme.")
    out = []
    for p in parts:
        if p in SCHEMES:
            out.append(SCHEMES[p])
        elif (sp := sparsity_part(p)) is not None:
            out.append(sp)
        elif m := re.fullmatch(r"emb-hash(\d+)", p):
            out.append(CompressionScheme(p, embedding_rows_kept=int(m.group(1)) / 100.0, quality_keys=("emb-hash",)))
        elif p.startswith("kv-"):
            dt = p[3:].replace("-", "_")
            dtype_bytes(dt)
            out.append(CompressionScheme(p, kv_cache=dt, quality_keys=(f"kv-{dt.split('_')[0]}",)))
        elif p in ("dense", "none"):
            out.append(CompressionScheme("dense"))
        else:
            from ..precision import PRECISIONS, get_precision

            try:
                pr = get_precision(p)
            except TapeoutError:
                raise TapeoutError(
                    f"unknown compression part '{p}'. Known: {', '.join(SCHEMES)}, N:M, kv-DTYPE, "
                    f"emb-hashPCT, unstructuredPCT, or a precision ({', '.join(PRECISIONS)})."
                ) from None
            out.append(CompressionScheme(p, pr.weights, pr.activations, pr.compute, None, quality_keys=(p,)))
    return out[0] if len(out) == 1 else combine(*out)


# ----------------------------------------------------------------------------------------
# the transform


def _math_for_chip(dtype: str, chip) -> str:
    if chip is None:
        return dtype
    from .formats import chip_peak

    key = peak_key(dtype)
    if chip_peak(chip, key) > 0:
        return dtype
    for k in FALLBACK_CHAIN.get(key, ("bf16",)):
        if chip_peak(chip, k) > 0:
            return k
    raise TapeoutError(f"the chip cannot run {dtype} math or any fallback of it.")


def _dequant_ops(w_dtype: str, math_dtype: str) -> float:
    if peak_key(w_dtype) != peak_key(math_dtype):
        return DEQUANT_OPS_PER_WEIGHT.get(w_dtype, 3.0)
    if "_g" in w_dtype and peak_key(math_dtype) in ("int8", "int4"):
        return 1.0  # per-group scales applied inside the integer main loop (QServe-style)
    return 0.0


def _matmul(op: MatMul, s: CompressionScheme, chip, sf: float | None) -> CompressedMatMul:
    skip = any(k in op.name for k in s.skip)
    w = op.w_dtype if (skip or s.weights is None) else s.weights
    a = op.a_dtype if (skip or s.activations is None) else s.activations
    o = op.out_dtype if (skip or s.activations is None or op.out_dtype == "fp32") else s.activations
    mth = op.math_dtype if (skip or s.compute is None) else s.compute
    mth = _math_for_chip(mth, chip)
    if DTYPE_BITS[a] < DTYPE_BITS[mth] and peak_key(a) != peak_key(mth):
        a = mth  # activations upcast to feed the fallback math
    kw = dict(w_dtype=w, a_dtype=a, out_dtype=o, math_dtype=mth)
    deq = _dequant_ops(w, mth)
    nm = None if skip else s.nm
    if nm:
        n_, m_ = nm
        kept = n_ / m_
        meta = math.ceil(math.log2(m_)) * kept  # bits per dense element (2:4 -> 2 bits per kept)
        if sf is not None and sf <= 1.0:
            deq += STRUCTURED_DECOMPRESS_OPS  # no sparse engines: expand in software
        return CompressedMatMul.from_matmul(op, **kw, sparsity=op.sparsity * kept, pattern="nm", sparse_nm=nm,
                                            meta_bits=meta, dequant_ops=deq)
    if not skip and s.sparsity == "unstructured":
        d = s.density
        if not 0 < d <= 1:
            raise TapeoutError(f"unstructured density must be in (0, 1], got {d}.")
        bitmask, csr = 1.0, CSR_INDEX_BITS * d
        meta = {"bitmask": bitmask, "csr": csr}.get(s.sparse_index, min(bitmask, csr))
        return CompressedMatMul.from_matmul(op, **kw, sparsity=op.sparsity * d, pattern="unstructured",
                                            meta_bits=meta, dequant_ops=deq + UNSTRUCTURED_DECOMPRESS_OPS)
    return CompressedMatMul.from_matmul(op, **kw, dequant_ops=deq)


def _attention(op: Attention, s: CompressionScheme, chip) -> Attention:
    kw = {}
    if s.kv_cache is not None and s.kv_cache != op.kv_dtype:
        kw["kv_dtype"] = s.kv_cache
        if op.kv_bytes_per_token is not None:
            kw["kv_bytes_per_token"] = op.kv_bytes_per_token * dtype_bytes(s.kv_cache) / dtype_bytes(op.kv_dtype)
    if s.activations is not None:
        kw["act_dtype"] = s.activations
    if s.compute is not None:
        kw["math_dtype"] = s.compute
    mth = _math_for_chip(kw.get("math_dtype", op.math_dtype), chip)
    kw["math_dtype"] = mth
    if "act_dtype" in kw and DTYPE_BITS[kw["act_dtype"]] < DTYPE_BITS[mth]:
        kw["act_dtype"] = mth
    return replace(op, **kw)


def _embedding(op: EmbeddingGather, s: CompressionScheme) -> EmbeddingGather:
    if s.embedding is None and s.embedding_rows_kept >= 1.0:
        return op
    dim = op.dim or int(round(op.row_bytes / 4.0))  # dim unknown: assume an FP32 row
    row_bytes, deq, storage = op.row_bytes, 0.0, getattr(op, "storage", "fp32")
    if s.embedding is not None:
        if s.embedding not in EMB_BITS:
            raise TapeoutError(f"embedding format '{s.embedding}': choose one of {', '.join(EMB_BITS)}.")
        row_bytes = math.ceil(dim * EMB_BITS[s.embedding] / 8.0) + EMB_ROW_OVERHEAD_BYTES[s.embedding]
        deq = 2.0 if s.embedding.startswith("int") or s.embedding == "fp8" else 0.0
        storage = s.embedding
    rows = max(1.0, op.rows * min(1.0, s.embedding_rows_kept))
    base = {f.name: getattr(op, f.name) for f in fields(EmbeddingGather) if f.init}
    base.update(rows=rows, row_bytes=float(row_bytes), dim=dim)
    return CompressedEmbedding(**base, dequant_flops_per_elem=deq, storage=storage)


def apply_compression(graph: OpGraph, scheme: str | CompressionScheme, chip=None) -> OpGraph:
    """A new graph with `scheme` applied to every op it concerns (see module docstring).

    `chip` (id, Chip or ChipParams) enables the math-format fallback and tells whether 2:4
    runs on sparse engines (else it is expanded in software at the dense rate).
    """
    s = parse_scheme(scheme)
    sf = chip_sparsity_factor(chip) if chip is not None else None
    sf_scalar = None if sf is None else float(np.max(sf))
    ops: list[Op] = []
    for op in graph.ops:
        if isinstance(op, MatMul):
            ops.append(_matmul(op, s, chip, sf_scalar))
        elif isinstance(op, Attention):
            ops.append(_attention(op, s, chip))
        elif isinstance(op, EmbeddingGather):
            ops.append(_embedding(op, s))
        else:
            ops.append(op)
    meta = dict(graph.meta)
    meta["compression"] = s.name
    if sf is not None:
        meta["sparsity_factor"] = sf
    return OpGraph(f"{graph.name}|{s.name}", ops, meta)


# ----------------------------------------------------------------------------------------
# evaluation


def sparse_speedup(op: Op, sparsity_factor) -> np.ndarray | float:
    """Math-rate multiplier of one op (1 for everything but N:M sparse matmuls).

    min(sparsity_factor, M/N) * SPARSE_GEMM_EFFICIENCY, floored at 1 and never above the
    chip's sparsity_factor; chips with sparsity_factor <= 1 get 1 (no sparse engines).
    """
    if not isinstance(op, CompressedMatMul) or op.sparse_nm is None:
        return 1.0
    n_, m_ = op.sparse_nm
    sf = np.asarray(sparsity_factor, dtype=float)
    s = np.minimum(sf, m_ / n_) * SPARSE_GEMM_EFFICIENCY
    s = np.where(sf > 1.0, np.maximum(s, 1.0), 1.0)
    return s if s.ndim else float(s)


def evaluate_compressed(graph: OpGraph, p, sparsity_factor=None):
    """perf.opcost.evaluate plus sparse math speedup and dequantization time.

    For each CompressedMatMul row: t_compute' = (t_compute - t_tile) / s + t_tile + dequant_flops / vector_flops
    (t_tile: the GEMM's per-work-unit fixed time, perf/opcost.py); time' = max(t_compute', t_memory) + kernel_overhead;
    bound and energy updated (energy: matrix FLOP energy / s, plus static power over the
    time change). `sparsity_factor` defaults to p.sparsity_factor.
    """
    from ..perf.opcost import BOUNDS, CostTable, evaluate

    ct = evaluate(graph, p)
    t = ct.table
    rows = [i for i, o in enumerate(t.ops) if isinstance(o, CompressedMatMul)
            and (o.sparse_nm is not None or o.dequant_ops > 0)]
    if not rows:
        return ct
    if sparsity_factor is not None:
        sf = sparsity_factor
    else:  # the chip's documented factor recorded by apply_compression, else the params field
        sf = graph.meta.get("sparsity_factor", p.sparsity_factor) if isinstance(graph, OpGraph) else p.sparsity_factor
    comp = np.array(ct.compute_time, dtype=float, copy=True)
    time = np.array(ct.time, dtype=float, copy=True)
    energy = np.array(ct.energy, dtype=float, copy=True)
    bound = np.array(ct.bound, copy=True)
    # Dequant ops are FLOP-equivalents at the FP32 vector rate, issued at full rate (integer
    # LOP3 / packed half2 ALU work, no memory stalls: the weights are already in registers).
    # Chips without a listed FP32 vector rate: 1/16 of the bf16 matrix peak (the
    # vector/matrix ratio of A100 and H100: 19.5/312, 67/989).
    bf16 = np.asarray(p.peak_flops, dtype=float)[PEAK_KEYS.index("bf16")]
    vf = np.asarray(p.vector_flops, dtype=float)
    vec = np.maximum(np.where(vf > 0, vf, bf16 / 16.0), 1.0)
    pj = np.asarray(p.pj_per_flop, dtype=float)
    for i in rows:
        o = t.ops[i]
        s = sparse_speedup(o, sf)
        t_deq = o.dequant_flops / vec
        tile = np.asarray(ct.tile_time[i], dtype=float)  # per-work-unit fixed time: not sped up by sparse math
        new_c = (comp[i] - tile) / s + tile + t_deq
        busy = np.maximum(new_c, ct.memory_time[i])
        new_t = busy + p.kernel_overhead
        pj_i = pj[t.peak_key[i]]
        energy[i] = energy[i] + o.flops * pj_i * 1e-12 * (1.0 / s - 1.0) + np.asarray(p.static_w) * (new_t - time[i])
        comp[i], time[i] = new_c, new_t
        bound[i] = np.where(p.kernel_overhead > busy, BOUNDS.index("overhead"),
                            np.where(new_c >= ct.memory_time[i], BOUNDS.index("compute"), BOUNDS.index("memory")))
    return CostTable(table=t, time=time, compute_time=comp, memory_time=ct.memory_time, comm_time=ct.comm_time,
                     dram_bytes=ct.dram_bytes, energy=energy, bound=bound, tile_time=ct.tile_time)


# The change that would make opcost.evaluate handle compressed ops natively (for the lead):
OPCOST_PATCH = """
ops.py / OpTable.from_ops: add two per-op columns
    sparse_ratio = M/N for N:M-sparse matmuls else 1   (getattr(o, 'sparse_nm'))
    dequant_flops = getattr(o, 'dequant_flops', 0.0)
perf/opcost.py / evaluate, after t_mm is computed:
    s = np.where(col(t.sparse_ratio) > 1,
                 np.maximum(np.minimum(p.sparsity_factor, col(t.sparse_ratio)) * SPARSE_GEMM_EFFICIENCY, 1.0), 1.0)
    s = np.where(p.sparsity_factor > 1, s, 1.0)
    t_mm = t_mm / s + col(t.dequant_flops) / (p.vector_flops * p.eff_vector)
(SPARSE_GEMM_EFFICIENCY from tapeout.quant.transform; energy: flops * pj / s.)
"""
