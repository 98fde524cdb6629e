"""The closed op set: exact FLOPs and bytes of each op, per dtype.

Every workload front end lowers to these seven op types. Counts are closed-form:
  matmul      C[b,m,n] = A[b,m,k] @ W[(b),k,n]          FLOPs = 2*b*m*n*k
  attention   softmax(Q K^T) V per head, fused (FlashAttention-style, so the score matrix
              never leaves the chip: Dao et al. 2022, arXiv:2205.14135)
              FLOPs = 2*b*h*q*kv_eff*(d_qk + d_v) + softmax (5 FLOPs per score)
  elementwise norm / activation / softmax / residual: FLOPs = elems * flops_per_elem
  embedding   gather of `lookups` rows of `row_bytes` each (random access)
  collective  all-reduce / all-gather / reduce-scatter / all-to-all / send-recv
  fixed       fixed-function work (video decode/encode) in engine-seconds
An op carries `count`, the number of identical instances in the graph (e.g. layers), so a
graph stays small (tens of rows) whatever the model depth. FLOPs count multiply and add
separately (1 MAC = 2 FLOPs), the convention of vendor datasheets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import require_positive
from .precision import COMPUTE_PEAK_FIELD, dtype_bytes

# Elementwise.gemm_path (perf/grouped_gemm_path.py): every chip, TMA warp-specialised grouped GEMM only, SM80 path only
GEMM_PATHS = ("", "tma_ws", "sm80")
BLOCK_SCALED_FP4 = ("nvfp4",)  # expert GEMM formats TensorRT-LLM runs warp-specialised on sm_120 too
OP_KINDS = ("matmul", "attention", "elementwise", "embedding", "collective", "fixed")
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv")


@dataclass(frozen=True)
class Op:
    """One op type instance. Sub-classes fill the closed-form counts."""

    name: str
    count: float = 1.0
    fused: bool = False  # fused into a neighbouring kernel: no launch/ramp overhead of its own

    kind: str = field(init=False, default="")

    # --- closed-form counts, per instance ---
    @property
    def flops(self) -> float:
        return 0.0

    @property
    def weight_bytes(self) -> float:
        """Bytes of the operand re-used across the token dimension (weights, KV cache)."""
        return 0.0

    @property
    def input_bytes(self) -> float:
        """Bytes of the streamed inputs (activations)."""
        return 0.0

    @property
    def output_bytes(self) -> float:
        return 0.0

    @property
    def bytes(self) -> float:
        """Compulsory off-chip bytes: every operand read once, every result written once."""
        return self.weight_bytes + self.input_bytes + self.output_bytes

    @property
    def compute_dtype(self) -> str:
        return "bf16"

    def scaled(self, count: float) -> "Op":
        return replace(self, count=self.count * count)


@dataclass(frozen=True)
class MatMul(Op):
    """C[b, m, n] = A[b, m, k] @ W[k, n] (W shared over b unless `shared_weight` is False).

    m is the token (row) dimension, n the output features, k the reduction.
    `groups` > 1 is a grouped GEMM: `groups` independent GEMMs of this shape, each with its
    own weight (MoE experts, grouped convolutions). `experts` marks the routed MoE expert
    GEMMs, which run at the calibrated eff_moe (perf/opcost.py).
    """

    m: int = 1
    n: int = 1
    k: int = 1
    batch: int = 1
    groups: int = 1
    a_dtype: str = "bf16"
    w_dtype: str = "bf16"
    out_dtype: str = "bf16"
    math_dtype: str = "bf16"
    shared_weight: bool = True
    experts: bool = False
    sparsity: float = 1.0  # fraction of weights kept (2:4 -> 0.5)
    eff_scale: float = 1.0  # kernel efficiency of this GEMM's format vs the calibrated one (tapeout.formats)

    def __post_init__(self):
        object.__setattr__(self, "kind", "matmul")
        for f in ("m", "n", "k", "batch", "groups"):
            require_positive(f"{self.name}.{f}", getattr(self, f))

    @property
    def flops(self) -> float:
        return 2.0 * self.groups * self.batch * self.m * self.n * self.k

    @property
    def weight_bytes(self) -> float:
        copies = self.groups * (1 if self.shared_weight else self.batch)
        return copies * self.k * self.n * dtype_bytes(self.w_dtype) * self.sparsity

    @property
    def input_bytes(self) -> float:
        return self.groups * self.batch * self.m * self.k * dtype_bytes(self.a_dtype)

    @property
    def output_bytes(self) -> float:
        return self.groups * self.batch * self.m * self.n * dtype_bytes(self.out_dtype)

    @property
    def compute_dtype(self) -> str:
        return self.math_dtype


@dataclass(frozen=True)
class Attention(Op):
    """Fused multi-head attention for `batch` sequences.

    q_len query tokens attend to kv_len cached+new tokens. Prefill with causal masking
    sees on average (kv_len - q_len) + (q_len + 1)/2 keys per query; decode has q_len = 1.
    KV heads may be fewer than query heads (GQA/MQA): the KV cache read is per KV head.
    d_qk and d_v may differ (MLA).
    """

    batch: int = 1
    q_len: int = 1
    kv_len: int = 1
    heads: int = 1
    kv_heads: int = 1
    d_qk: int = 128
    d_v: int = 128
    causal: bool = True
    act_dtype: str = "bf16"
    kv_dtype: str = "bf16"
    math_dtype: str = "bf16"
    kv_bytes_per_token: float | None = None  # overrides heads*d for compressed caches (MLA)
    window: int = 0  # sliding-window attention: each query sees at most `window` keys (0 = full)
    # LLM serving's attention op over a paged KV cache (TensorRT-LLM / vLLM): it also launches
    # the QKV preprocessing and split-KV reduction kernels, priced as its phase's fixed time
    # (perf/opcost.py); an encoder's or a training step's fused attention is one kernel
    kv_cache: bool = False

    def __post_init__(self):
        object.__setattr__(self, "kind", "attention")
        for f in ("batch", "q_len", "kv_len", "heads", "kv_heads", "d_qk", "d_v"):
            require_positive(f"{self.name}.{f}", getattr(self, f))

    @property
    def keys_per_query(self) -> float:
        """Mean keys one query attends to. Causal: the query at position p (1-based, of kv_len) sees p keys, the
        q_len queries sit at kv_len - q_len + 1 .. kv_len. A sliding window W (Beltagy et al. 2020, Longformer;
        GPT-OSS / Gemma 3 local layers) caps each query at min(p, W) keys: the mean of the capped counts, not the
        cap of the mean (that overstated a causal prefill of 2W tokens by 4/3)."""
        if not self.causal:
            return min(float(self.kv_len), float(self.window)) if self.window else float(self.kv_len)
        a, q = self.kv_len - self.q_len, self.q_len
        if not self.window:
            return a + (q + 1) / 2.0
        w = float(self.window)
        n = min(max(w - a, 0.0), float(q))  # queries whose whole causal prefix is inside the window
        return (n * a + n * (n + 1) / 2.0 + (q - n) * w) / q

    @property
    def cached_tokens(self) -> float:
        """KV-cache tokens read per sequence (the window's tokens only under sliding attention)."""
        return float(min(self.kv_len, self.window)) if self.window else float(self.kv_len)

    @property
    def scores(self) -> float:
        """Attention scores computed (one softmax exponential each)."""
        return self.batch * self.heads * self.q_len * self.keys_per_query

    @property
    def flops(self) -> float:
        return 2.0 * self.scores * (self.d_qk + self.d_v) + 5.0 * self.scores

    @property
    def weight_bytes(self) -> float:  # the KV cache plays the role of the re-used operand
        if self.kv_bytes_per_token is not None:
            per_tok = self.kv_bytes_per_token
        else:
            per_tok = self.kv_heads * (self.d_qk + self.d_v) * dtype_bytes(self.kv_dtype)
        return self.batch * self.cached_tokens * per_tok

    @property
    def input_bytes(self) -> float:
        return self.batch * self.q_len * self.heads * self.d_qk * dtype_bytes(self.act_dtype)

    @property
    def output_bytes(self) -> float:
        return self.batch * self.q_len * self.heads * self.d_v * dtype_bytes(self.act_dtype)

    @property
    def compute_dtype(self) -> str:
        return self.math_dtype


@dataclass(frozen=True)
class Elementwise(Op):
    """Norms, activations, residual adds, softmax outside attention, rotary embedding.

    Runs on the vector units: `elems` elements, `flops_per_elem` FLOPs each, reading
    `reads` and writing `writes` tensors of `elems` elements.
    """

    elems: float = 1.0
    flops_per_elem: float = 1.0
    reads: float = 1.0
    writes: float = 1.0
    dtype: str = "bf16"
    # thread steps of the op's kernel where each step's traffic through the L2 is priced apart from its
    # DRAM bytes (ChipParams.elt_step_time; perf/opcost.py): TensorRT-LLM's QKV preprocessing
    # (workloads/llm.qkv_preprocess). 0 = none
    steps: float = 0.0
    # the grouped-GEMM path this kernel belongs to (GEMM_PATHS; perf/grouped_gemm_path.py): "" runs on every chip,
    # "tma_ws" only where the chip runs the expert GEMMs of `gemm_format` TMA warp-specialised, "sm80" only where not
    gemm_path: str = ""
    gemm_format: str = ""
    # the fraction of the chip's streaming DRAM rate (mem_bw x eff_mem) this kernel kind reaches: 1 for a
    # pure stream; below 1 where the kernel does work its stream does not hide (torch dropout's Philox
    # mask generation: data/calibration/memory_kernels.yaml, perf/memory_kernels.py)
    stream_share: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "kind", "elementwise")
        require_positive(f"{self.name}.elems", self.elems)
        if not 0.0 < self.stream_share <= 1.0:
            raise ValueError(f"{self.name}.stream_share {self.stream_share!r}: a fraction in (0, 1] of the streaming rate")
        if self.gemm_path not in GEMM_PATHS:
            raise ValueError(f"{self.name}.gemm_path {self.gemm_path!r}: one of {GEMM_PATHS}")

    @property
    def flops(self) -> float:
        return self.elems * self.flops_per_elem

    @property
    def input_bytes(self) -> float:
        return self.elems * self.reads * dtype_bytes(self.dtype)

    @property
    def output_bytes(self) -> float:
        return self.elems * self.writes * dtype_bytes(self.dtype)

    @property
    def compute_dtype(self) -> str:
        return "fp32"  # vector units


@dataclass(frozen=True)
class EmbeddingGather(Op):
    """`lookups` random row reads from a table of `rows` rows of `row_bytes` bytes.

    Each random access moves whole memory transactions: bytes = lookups *
    ceil(row_bytes / granularity) * granularity, with granularity from the chip (64 B for
    HBM on GPUs). `hot_fraction` of lookups hit rows cached on chip. `pooling` lookups are
    summed into one output row (multi-hot bags).
    """

    lookups: float = 1.0
    rows: float = 1.0
    row_bytes: float = 128.0
    pooling: float = 1.0
    hot_fraction: float = 0.0
    out_dtype: str = "fp32"
    dim: int = 0

    def __post_init__(self):
        object.__setattr__(self, "kind", "embedding")
        require_positive(f"{self.name}.rows", self.rows)
        require_positive(f"{self.name}.row_bytes", self.row_bytes)
        require_positive(f"{self.name}.lookups", self.lookups)

    @property
    def flops(self) -> float:  # pooling adds
        return self.lookups * max(self.dim, 1)

    @property
    def weight_bytes(self) -> float:
        return self.lookups * self.row_bytes * (1.0 - self.hot_fraction)

    @property
    def output_bytes(self) -> float:
        return (self.lookups / self.pooling) * max(self.dim, 1) * dtype_bytes(self.out_dtype)

    def transaction_bytes(self, granularity: float) -> float:
        """Bytes moved when every row read is rounded up to whole transactions."""
        per_row = math.ceil(self.row_bytes / granularity) * granularity
        return self.lookups * per_row * (1.0 - self.hot_fraction)

    @property
    def table_bytes(self) -> float:
        return self.rows * self.row_bytes

    @property
    def compute_dtype(self) -> str:
        return "fp32"


@dataclass(frozen=True)
class Collective(Op):
    """A collective over `group` ranks; `payload_bytes` is each rank's buffer size.

    Bytes each rank sends on the wire (ring algorithms, Patarasuk & Yuan 2009;
    NCCL's bus-bandwidth convention, nccl-tests doc/PERFORMANCE.md):
      all_reduce     2 (g-1)/g * S       all_gather / reduce_scatter  (g-1)/g * S
      all_to_all     (g-1)/g * S          send_recv                    S
    where S is the full (gathered) buffer for all_gather/reduce_scatter.
    `tier` is "scaleup" (NVLink/ICI/xGMI domain) or "scaleout" (NIC network).
    """

    collective: str = "all_reduce"
    payload_bytes: float = 0.0
    group: int = 1
    tier: str = "scaleup"

    def __post_init__(self):
        object.__setattr__(self, "kind", "collective")
        if self.collective not in COLLECTIVES:
            from .errors import TapeoutError

            raise TapeoutError(f"{self.name}.collective must be one of {COLLECTIVES}, got '{self.collective}'.")
        require_positive(f"{self.name}.group", self.group)
        require_positive(f"{self.name}.payload_bytes", self.payload_bytes, allow_zero=True)

    @property
    def bus_factor(self) -> float:
        g = self.group
        if g <= 1:
            return 0.0
        return {
            "all_reduce": 2.0 * (g - 1) / g,
            "all_gather": (g - 1) / g,
            "reduce_scatter": (g - 1) / g,
            "all_to_all": (g - 1) / g,
            "send_recv": 1.0,
        }[self.collective]

    @property
    def wire_bytes(self) -> float:
        return self.bus_factor * self.payload_bytes

    @property
    def flops(self) -> float:  # reductions
        if self.collective in ("all_reduce", "reduce_scatter") and self.group > 1:
            return self.payload_bytes / 2.0 * (self.group - 1) / self.group
        return 0.0

    @property
    def compute_dtype(self) -> str:
        return "fp32"


@dataclass(frozen=True)
class FixedFunction(Op):
    """Work for a fixed-function engine (e.g. video decode): `units` of work (frames,
    macroblocks, ...) at the chip's `engine` rate (units/s per engine, from datasheets)."""

    engine: str = "video_decode"
    units: float = 1.0
    codec: str = "h264"

    def __post_init__(self):
        object.__setattr__(self, "kind", "fixed")
        require_positive(f"{self.name}.units", self.units)


# ----------------------------------------------------------------------------------------
# Op graphs compiled to struct-of-arrays so the perf model evaluates all ops against all
# chip designs with one numpy broadcast (ops along axis 0, designs along axis 1).

PEAK_KEYS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp6", "int4", "fp4")


@dataclass
class OpGraph:
    """An ordered list of ops for one scenario (one forward step, one query, ...)."""

    name: str
    ops: list[Op]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self._table: OpTable | None = None

    @property
    def table(self) -> "OpTable":
        if self._table is None:
            self._table = OpTable.from_ops(self.ops)
        return self._table

    @property
    def flops(self) -> float:
        return float(sum(op.flops * op.count for op in self.ops))

    @property
    def bytes(self) -> float:
        return float(sum(op.bytes * op.count for op in self.ops))

    def __add__(self, other: "OpGraph") -> "OpGraph":
        return OpGraph(f"{self.name}+{other.name}", self.ops + other.ops, {**self.meta, **other.meta})


@dataclass
class OpTable:
    """Struct-of-arrays view of an op list (one row per op)."""

    names: list[str]
    kind: np.ndarray  # index into OP_KINDS
    count: np.ndarray
    flops: np.ndarray
    weight_bytes: np.ndarray
    input_bytes: np.ndarray
    output_bytes: np.ndarray
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    parallel: np.ndarray  # independent GEMMs (batch*groups) or attention batch*heads
    peak_key: np.ndarray  # index into PEAK_KEYS
    wire_bytes: np.ndarray
    group: np.ndarray
    scaleout: np.ndarray  # bool: collective over the scale-out network
    is_all_to_all: np.ndarray
    row_bytes: np.ndarray  # embedding rows (for access granularity)
    lookups: np.ndarray
    fixed_units: np.ndarray
    fused: np.ndarray
    ops: list[Op]
    experts: np.ndarray | None = None  # bool: routed MoE expert GEMM (MatMul.experts)
    exps: np.ndarray | None = None  # softmax exponentials (Attention.scores), 0 for other ops
    eff_scale: np.ndarray | None = None  # per-op format kernel efficiency (MatMul.eff_scale), 1 for other ops
    q_per_kv: np.ndarray | None = None  # attention: query heads per KV head (GQA group), 1 for other ops
    kv_cache: np.ndarray | None = None  # bool: serving attention over a paged KV cache (Attention.kv_cache)
    causal: np.ndarray | None = None  # attention with a causal mask (bool), False for other ops
    elt_steps: np.ndarray | None = None  # elementwise ops' kernel thread steps (Elementwise.steps), 0 for other ops
    gemm_path: np.ndarray | None = None  # GEMM_PATHS index of an elementwise kernel (Elementwise.gemm_path), 0 for other ops
    gemm_fp4: np.ndarray | None = None  # bool: that kernel's expert GEMM format is block-scaled FP4
    elt_stream: np.ndarray | None = None  # elementwise ops' share of the streaming rate (Elementwise.stream_share), 1 for other ops

    @classmethod
    def from_ops(cls, ops: list[Op]) -> "OpTable":
        n = len(ops)
        z = lambda: np.zeros(n)  # noqa: E731
        t = cls(
            names=[o.name for o in ops],
            kind=np.array([OP_KINDS.index(o.kind) for o in ops], dtype=np.int64),
            count=np.array([o.count for o in ops], dtype=float),
            flops=np.array([o.flops for o in ops], dtype=float),
            weight_bytes=np.array([o.weight_bytes for o in ops], dtype=float),
            input_bytes=np.array([o.input_bytes for o in ops], dtype=float),
            output_bytes=np.array([o.output_bytes for o in ops], dtype=float),
            m=np.ones(n), n=np.ones(n), k=np.ones(n), parallel=np.ones(n),
            peak_key=np.array([PEAK_KEYS.index(COMPUTE_PEAK_FIELD.get(o.compute_dtype, "bf16")) for o in ops]),
            wire_bytes=z(), group=np.ones(n), scaleout=np.zeros(n, dtype=bool),
            is_all_to_all=np.zeros(n, dtype=bool), row_bytes=z(), lookups=z(), fixed_units=z(),
            fused=np.array([o.fused for o in ops], dtype=bool), ops=list(ops),
            experts=np.array([isinstance(o, MatMul) and o.experts for o in ops], dtype=bool),
            exps=np.array([o.scores if isinstance(o, Attention) else 0.0 for o in ops], dtype=float),
            eff_scale=np.array([o.eff_scale if isinstance(o, MatMul) else 1.0 for o in ops], dtype=float),
            q_per_kv=np.array([max(1, o.heads // o.kv_heads) if isinstance(o, Attention) else 1.0 for o in ops], dtype=float),
            kv_cache=np.array([isinstance(o, Attention) and o.kv_cache for o in ops], dtype=bool),
            causal=np.array([isinstance(o, Attention) and o.causal for o in ops], dtype=bool),
            elt_steps=np.array([o.steps if isinstance(o, Elementwise) else 0.0 for o in ops], dtype=float),
            gemm_path=np.array([GEMM_PATHS.index(o.gemm_path) if isinstance(o, Elementwise) else 0 for o in ops], dtype=np.int64),
            gemm_fp4=np.array([isinstance(o, Elementwise) and o.gemm_format in BLOCK_SCALED_FP4 for o in ops], dtype=bool),
            elt_stream=np.array([o.stream_share if isinstance(o, Elementwise) else 1.0 for o in ops], dtype=float),
        )
        for i, o in enumerate(ops):
            if isinstance(o, MatMul):
                t.m[i], t.n[i], t.k[i], t.parallel[i] = o.m, o.n, o.k, o.batch * o.groups
            elif isinstance(o, Attention):
                # per (sequence, KV head): the query heads sharing a KV head are packed into
                # the row dimension (FlashDecoding / FlashMLA style), [q*g x keys] x [keys x d]
                group = max(1, o.heads // o.kv_heads)
                t.m[i], t.n[i], t.k[i] = o.q_len * group, o.d_v, max(o.keys_per_query, 1.0)
                t.parallel[i] = o.batch * o.kv_heads
            elif isinstance(o, Collective):
                t.wire_bytes[i], t.group[i] = o.wire_bytes, o.group
                t.scaleout[i] = o.tier == "scaleout"
                t.is_all_to_all[i] = o.collective == "all_to_all"
            elif isinstance(o, EmbeddingGather):
                t.row_bytes[i], t.lookups[i] = o.row_bytes, o.lookups * (1.0 - o.hot_fraction)
            elif isinstance(o, FixedFunction):
                t.fixed_units[i] = o.units
        return t

    def __len__(self) -> int:
        return len(self.names)
