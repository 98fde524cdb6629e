"""Cost of every op of a graph on a chip (or on D chip variants at once).

For op i on design d (all arrays broadcast to shape (n_ops, *design_shape)):

  compute   t_c = FLOPs / (peak[dtype] * eff_compute * u_wave * u_pad * u_k) + waves * t_tile
            (t_tile: per work-unit fixed time of a GEMM, pipeline fill + epilogue, in seconds per
            wave: the microbenchmark calibration, fitted on GEMM sweeps with varied K; u_k: the
            same fill + epilogue in K-depth units, fitted by the kernel-database calibration,
            which sets t_tile = 0. Both 0 unless calibrated.)
            u_pad  = m n / (ceil(m/Tm) Tm ceil(n/Tn) Tn)     (array/tile padding)
            u_wave = units / (ceil(units/cores) cores)       (wave quantization, with
                     split-K when output tiles < cores, as cuBLAS/stream-K do, up to
                     the library's max_split_k; 1 past one wave where the last wave is
                     filled less than p.stream_k_tail: stream-K, stream_k_tail)
            u_k    = k_unit / (k_unit + tile_k_overhead)  (per-tile pipeline fill and
                     epilogue, k_unit = k / splits)
            + (splits - 1) x split_k_serial_time after the roofline (a split-K GEMM's partial
              sums added up in K order, split_k_reduction_time; 0 unless calibrated)
            + t_epi (exposed output-tile store per wave, epilogue_time; 0 unless calibrated)
            fused attention (ChipParams.attn_tiling, attn_unit_* / attn_decode_unit_*; defaults
            from data/calibration/kernel_structure.yaml):
            context tiles per query head with full causal diagonal tiles (_attention_tiling),
            + waves * (attn_unit_time + attn_unit_flops * cores / (peak * eff)) per-CTA cost
  memory    t_m = DRAM bytes / (mem_bw * eff_mem)   (generation attention: attn_gen_eff_mem where set)
            DRAM bytes: the compulsory bytes, plus operand re-reads when the re-used
            operand does not fit on chip (blocked GEMM, Hong & Kung 1981 style bound:
            A is re-read once per output-column block, W once per output-row block,
            with a square block whose panels fill half the SRAM)
  op time   t = max(t_c, t_m) + t_kernel                     (roofline with full overlap
            inside a kernel, Williams et al. 2009, plus a fixed per-kernel overhead; a serving
            attention op over a KV cache adds its phase's, attn_prefill_fixed / attn_decode_fixed)
  collective t = steps * latency + wire_bytes / (link_bw * eff_link)   (alpha-beta model)
  energy    E = FLOPs * e_flop[dtype] + DRAM bytes * e_dram + SRAM bytes * e_sram
                + P_static * t

Returns a CostTable: per-op arrays plus totals; nothing loops over designs in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TapeoutError
from ..hardware.params import ChipParams
from ..ops import OP_KINDS, PEAK_KEYS, OpGraph, OpTable
from .context_tiles import key_tiles
from .grouped_gemm_path import runs_on_path
from .mmha_launch import mmha_launch

K_MATMUL, K_ATTN, K_ELT, K_EMB, K_COLL, K_FIXED = (OP_KINDS.index(k) for k in OP_KINDS)
BOUNDS = ("compute", "memory", "comm", "overhead", "fixed")
# fused attention keeps a head's whole value dim in one CTA and pads it to a multiple of 32, not
# to the GEMM N tile (FlashAttention-2 flash_api.cpp: head_size_rounded = round_multiple(d, 32))
ATTN_HEAD_DIM_STEP = 32.0
# a split-K work unit stores its partial sums in FP32 to a workspace that a reduction (a second
# kernel, or CUTLASS's serial/stream-K fixup) reads back (CUTLASS media/docs/efficient_gemm.md)
SPLIT_K_PARTIAL_BYTES = 4.0
ACC_BYTES = 4.0  # a GEMM accumulates in FP32 (CUTLASS ElementAccumulator float for 16- and 8-bit inputs)
# A grouped (MoE expert) GEMM runs one CTA per output tile over its whole K, no split-K or stream-K:
# CUTLASS's group tile scheduler hands out (M, N, group) tiles only, `is_final_split()` always true
# (NVIDIA/cutlass include/cutlass/gemm/kernel/sm90_tile_scheduler_group.hpp, rev 0046e366), the
# scheduler of TensorRT-LLM's TMA warp-specialised MoE GEMMs; its SM80 grouped kernel (CUTLASS
# GemmGrouped problem visitor) and vLLM's Triton fused_moe_kernel likewise loop over the whole K.
# Its SM100 wrapper (sm100_tile_scheduler_group.hpp, rev f2fee243): "All work units returned by this
# scheduler cover the entire K iteration space of the output tile".
GROUPED_WHOLE_K = True


@dataclass
class CostTable:
    """Per-op costs, shape (n_ops, *design_shape); `count` multiplies each row."""

    table: OpTable
    time: np.ndarray
    compute_time: np.ndarray
    memory_time: np.ndarray
    comm_time: np.ndarray
    dram_bytes: np.ndarray
    energy: np.ndarray
    bound: np.ndarray  # index into BOUNDS
    tile_time: np.ndarray | float = 0.0  # the per-work-unit fixed time inside compute_time (GEMMs)
    units: np.ndarray | float = 0.0  # work units (CTAs) of each matrix / attention kernel (tiles x K splits)
    stream_k: np.ndarray | bool = False  # GEMMs run stream-K over a persistent grid of every core (stream_k_tail)

    def _sum(self, a: np.ndarray) -> np.ndarray:
        c = self.table.count.reshape((-1,) + (1,) * (a.ndim - 1))
        return (a * c).sum(axis=0)

    @property
    def total_time(self):
        return self._sum(self.time)

    @property
    def total_energy(self):
        return self._sum(self.energy)

    @property
    def total_dram_bytes(self):
        return self._sum(self.dram_bytes)

    @property
    def total_comm_time(self):
        return self._sum(self.comm_time)

    @property
    def total_flops(self):
        return float((self.table.flops * self.table.count).sum())

    def time_by_bound(self) -> dict[str, np.ndarray]:
        out = {}
        c = self.table.count.reshape((-1,) + (1,) * (self.time.ndim - 1))
        for i, b in enumerate(BOUNDS):
            out[b] = (self.time * c * (self.bound == i)).sum(axis=0)
        return out

    def dominant_bound(self):
        tb = self.time_by_bound()
        stacked = np.stack([np.asarray(tb[b]) for b in BOUNDS])
        return np.asarray(BOUNDS)[np.argmax(stacked, axis=0)]


def _col(x: np.ndarray, ndim: int) -> np.ndarray:
    """Per-op vector -> shape (n_ops, 1, ..., 1) for broadcasting against designs."""
    return x.reshape((-1,) + (1,) * ndim)


def collective_time(wire_bytes, group, link_bw, latency, eff_link, is_all_to_all=False, steps=None):
    """Alpha-beta time of a ring-style collective: (g-1)-step phases, each paying `latency`.

    Ring all-reduce runs 2(g-1) steps (reduce-scatter + all-gather); the others g-1.
    wire_bytes already includes the bus factor (ops.Collective.wire_bytes).
    """
    g = np.asarray(group, dtype=float)
    if steps is None:
        steps = np.where(g > 1, g - 1, 0.0)
    bw = np.maximum(link_bw * eff_link, 1.0)
    return steps * latency + wire_bytes / bw


def accumulator_stages(p: ChipParams, tm, tn):
    """Output tiles' FP32 accumulators a core holds at once: the kernel's own count where known
    (p.accum_stages), else as many tm x tn tiles as the core's accumulator memory holds
    (p.accum_mem_bytes; CUTLASS sm100_umma_builder.inl AccumulatorPipelineStageCount = tensor
    memory / (CTA tile M x N)); 1 where the accumulators live in registers (accum_mem_bytes 0)."""
    own = np.asarray(p.accum_stages, dtype=float)
    held = np.floor(np.asarray(p.accum_mem_bytes, dtype=float) / (np.asarray(tm, dtype=float) * tn * ACC_BYTES))
    return np.where(own > 0, own, np.maximum(held, 1.0))


def epilogue_time(t: OpTable, p: ChipParams, col, tm, tn, tiles, units, waves, cores):
    """Exposed output-tile stores of a GEMM: each wave, every active core writes its tm x tn tile
    of C (output bytes per element; the rows / columns inside the output where the GEMM is smaller
    than one tile) to DRAM; with the next tile's main loop waiting on it (a
    non-persistent kernel, or a persistent one whose epilogue outruns its accumulator double
    buffer: CUTLASS sm90/sm100 warp-specialized epilogue, media/docs/efficient_gemm.md) the
    store is serialised with the math. Time per wave = active x tile bytes / (mem_bw x eff_mem
    x fill), fill = the few-core DRAM limit (core_bw_share) as in the memory term, over the
    fraction of each store transaction the epilogue fills (p.epilogue_store_fill: a direct
    register store of one row per thread moves whole sectors; kernel_tile.store_fill); times the
    exposed fraction p.epilogue_exposed. In seconds: it does not shrink with the MMA rate, so a
    chip (or format) with a faster matrix engine and the same DRAM loses more to it.
    Where the core holds two or more accumulator tiles (accumulator_stages: Blackwell's tensor
    memory), the epilogue drains one while the MMA fills the next (CUTLASS sm100 kernels'
    accumulator pipeline), so none of it is exposed: its bytes stay in the memory term."""
    out_elem = col(t.output_bytes) / np.maximum(col(t.m) * col(t.n) * col(t.parallel), 1.0)
    out_elem = np.where(units > tiles, SPLIT_K_PARTIAL_BYTES, out_elem)  # split-K units store FP32 partials
    # a tile stores only the rows and columns inside the output (predicated register stores, TMA
    # clipping): a GEMM of fewer rows than its row tile (a fixed 128-row kernel for a few tokens)
    # stores m rows, not the padded tile
    rows, cols = np.minimum(col(t.m), tm), np.minimum(col(t.n), tn)
    # a store that fills only part of each transaction moves whole transactions (epilogue_store_fill)
    stores = wave_transfer_time(units, cores, waves, rows * cols * out_elem, p, np.asarray(p.epilogue_store_fill, dtype=float))
    # where the core keeps >= 2 accumulator tiles (Blackwell tensor memory) the store overlaps the next tile's MMA
    exposed = np.where(accumulator_stages(p, tm, tn) >= 2, 0.0, np.asarray(p.epilogue_exposed, dtype=float))
    return np.where((col(t.kind) == K_MATMUL) & (exposed > 0), stores * exposed, 0.0)


def wave_transfer_time(units, cores, waves, unit_bytes, p: ChipParams, transaction_fill=1.0):
    """Seconds of a per-work-unit DRAM transfer serialised with the math, wave by wave: each wave the
    active cores (min(units, cores)) each move unit_bytes at mem_bw x eff_mem x the few-core DRAM
    limit (core_bw_share, as in the memory term) x the share of each transaction the bytes fill."""
    active = np.minimum(units, cores)
    fill = np.minimum(1.0, active / cores * np.asarray(p.core_bw_share, dtype=float))
    return waves * active * unit_bytes / (np.asarray(p.mem_bw, dtype=float) * p.eff_mem * fill * transaction_fill)


def stream_k_tail(units, cores, k_cap, p: ChipParams):
    """Where a GEMM's work units run stream-K balanced instead of in whole waves: more units than
    cores (no split-K), a last wave filled less than p.stream_k_tail (CUTLASS's heuristic
    decomposition keeps data-parallel waves when the tail is at least half full:
    tile_scheduler_params.h get_num_sk_tiles), and a kernel that may split K at all, into at least
    two K slices (k_cap >= 2: the library's max_split_k and opcost's 256-deep slices; CUTLASS
    likewise gives a stream-K unit at least min_iters_per_sk_unit_ K tiles). The balanced waves
    cost units / cores of one unit's time, i.e. u_wave = 1; the partial-sum fixup of the shared
    tiles (one FP32 tile written and read per core) is not priced."""
    thr = np.asarray(p.stream_k_tail, dtype=float)
    tail = units / cores - np.floor(units / cores)
    return (thr > 0) & (units > cores) & (tail > 0) & (tail < thr) & (k_cap >= 2)


def split_k_reduction_time(ksplit, is_gemm, p: ChipParams):
    """Seconds a split-K GEMM's in-order reduction adds after its parallel main loops: each of its
    K slices past the first hands its partial sums on in turn (cuBLASLt's in-place reduction scheme,
    CUBLASLT_REDUCTION_SCHEME_INPLACE: "parts are added up in the output data type. Workspace is only
    used for counters that guarantee sequentiality"; CUTLASS's serial split-K semaphore), so the chain
    is (splits - 1) x p.split_k_serial_time long, whatever the tile's size (the hand-off is a flag and a
    tile through the L2, latency-bound). 0 for an unsplit GEMM and for attention (its KV splits reduce
    in a separate pass, priced in its fixed time)."""
    links = np.maximum(np.asarray(ksplit, dtype=float) - 1.0, 0.0)
    return np.where(is_gemm, links * np.asarray(p.split_k_serial_time, dtype=float), 0.0)


def row_tile(m, p: ChipParams, token_n=False):
    """Row tile a kernel picks for m rows: libraries shrink it for few tokens (CUTLASS/cuBLAS
    pick 16..128-row tiles; MMA instructions are 16 rows), so m pads to a multiple of
    p.min_tile_m (ChipParams: 16 unless a kernel's tile is fixed), at most p.tile_m.
    `token_n` (per row, e.g. the GEMM ops of a table): where p.balanced_row_tiles > 0 these rows are
    the tokens of a GEMM whose kernel puts them on the MMA's N side, so m splits into ceil(m / tile_m)
    tiles of equal rows, each padded to balanced_row_tiles (the N step); attention keeps min_tile_m."""
    step = np.asarray(p.min_tile_m, dtype=float)
    one = np.minimum(p.tile_m, np.maximum(step, np.ceil(m / step) * step))
    n_step = np.asarray(p.balanced_row_tiles, dtype=float)
    if not np.any(n_step > 0) or not np.any(token_n):
        return one
    # ceil(m / tile_m) tiles of equal rows, each padded to the MMA's N step
    count = np.maximum(np.ceil(m / np.asarray(p.tile_m, dtype=float)), 1.0)
    safe = np.where(n_step > 0, n_step, 1.0)
    even = np.maximum(safe, np.ceil(m / count / safe) * safe)
    return np.where((n_step > 0) & np.asarray(token_n, dtype=bool), np.minimum(p.tile_m, even), one)


def gen_q_rows(m, step, pow2):
    """Rows of a generation kernel's query tile for m query rows (the GQA group x query tokens):
    m padded to a multiple of `step` (XQA: 16 for mma.sync, 8 for the SWAP_AB WGMMA kernel,
    mha.cu warpTile / mha_sm90.cu ctaNbQHeads), or where `pow2` > 0 to the next power of two
    >= step, at most 128 (trtllm-gen tileSizeQ 8..128, fmhaKernels.h selectGqGenerationKernel);
    a larger group takes several tiles."""
    m = np.maximum(np.asarray(m, dtype=float), 1.0)
    step = np.maximum(np.asarray(step, dtype=float), 1.0)
    p2 = np.minimum(np.maximum(step, 2.0 ** np.ceil(np.log2(m))), np.maximum(128.0, step))
    return np.where(np.asarray(pow2, dtype=float) > 0, p2, np.ceil(m / step) * step)


def gen_kv_splits(keys, seq_heads, cores, tokens, sqrt_factor, waves):
    """CTAs per (sequence, KV head) a generation kernel splits the KV length over, by the rule of
    TensorRT-LLM's XQA (computeMultiBlockCount, decoderXQAImplCommon.h): keys / tokens sub-sequences,
    at most round(sqrt(sqrt_factor x that)) so the final reduction does not dominate, then cut by the
    factor the (sequence, KV head) units x splits exceed `waves` waves of the cores; at least 1."""
    keys, tokens = np.asarray(keys, dtype=float), np.maximum(np.asarray(tokens, dtype=float), 1.0)
    s = np.floor(keys / tokens)
    s = np.maximum(np.minimum(s, np.floor(np.sqrt(s * np.asarray(sqrt_factor, dtype=float)) + 0.5)), 1.0)
    over = np.asarray(seq_heads, dtype=float) * s / cores / np.maximum(np.asarray(waves, dtype=float), 1e-9)
    return np.maximum(np.where(over > 1.0, np.floor(s / np.maximum(over, 1.0)), s), 1.0)


def gen_tile_rounding(keys, splits, tile):
    """How much longer a generation CTA's sequence loop runs than its share of the keys: a loop that takes
    `tile` KV tokens per iteration over a (sequence, KV head)'s keys split round-robin over `splits` CTAs
    (XQA mha.cu: CTA j runs tiles j, j + splits, ...) lasts ceil(ceil(keys / tile) / splits) whole tiles,
    against keys / splits tokens. 1 where `tile` is 0 (off); >= 1 elsewhere."""
    keys = np.maximum(np.asarray(keys, dtype=float), 1.0)
    splits = np.maximum(np.asarray(splits, dtype=float), 1.0)
    tile = np.asarray(tile, dtype=float)
    t = np.where(tile > 0, tile, 1.0)
    whole = np.maximum(np.ceil(np.ceil(keys / t) / splits), 1.0) * t
    return np.where(tile > 0, np.maximum(whole / (keys / splits), 1.0), 1.0)


def gen_padded_head(head, pad):
    """The head size a generation kernel loads and multiplies: `head` padded to the next power of two
    >= `pad` (XQA mha.h headElems: 64, 128 or 256), or `head` where `pad` is 0 (off)."""
    head = np.maximum(np.asarray(head, dtype=float), 1.0)
    pad = np.asarray(pad, dtype=float)
    p2 = np.maximum(2.0 ** np.ceil(np.log2(head)), np.where(pad > 0, pad, 1.0))
    return np.where(pad > 0, p2, head)


def cta_stream_on(p: ChipParams):
    """Whether a generation kernel's KV stream is its CTAs' Little's-law stream (a token or byte rate set)."""
    return (np.asarray(p.attn_cta_tokens_per_s, dtype=float) > 0) | (np.asarray(p.attn_cta_bytes_per_s, dtype=float) > 0)


def cta_seconds_per_token(p: ChipParams, token_bytes):
    """Seconds one generation CTA's load pipeline spends per KV token of `token_bytes` (K + V): the
    token's share of a buffer that holds a fixed number of tokens (1 / attn_cta_tokens_per_s) plus its
    bytes' share of one that holds a fixed number of bytes (token_bytes / attn_cta_bytes_per_s; XQA
    mha.cu's head parts: a wider head takes proportionally longer); an unset rate (0) adds nothing."""
    tok = np.asarray(p.attn_cta_tokens_per_s, dtype=float)
    bw = np.asarray(p.attn_cta_bytes_per_s, dtype=float)
    return (np.where(tok > 0, 1.0 / np.where(tok > 0, tok, 1.0), 0.0)
            + np.where(bw > 0, np.asarray(token_bytes, dtype=float) / np.where(bw > 0, bw, 1.0), 0.0))


def loaded_stream(cta_stream, dram_stream, knee):
    """Bytes/s a kernel streams when its resident CTAs keep `cta_stream` in flight per unloaded
    round trip (Little's law) against a memory that delivers at most `dram_stream`. knee 0 (or
    less): the lesser of the two, the optimistic bound of a closed system of CTAs and one memory
    (latency does not grow until the memory saturates). knee n > 0: (C^-n + D^-n)^(-1/n), a round
    trip that grows with the memory's load before it saturates; n = 1 adds the whole drain time of
    the bytes in flight, C D / (C + D) (the pessimistic asymptotic bound; Lazowska, Zahorjan, Graham,
    Sevcik, "Quantitative System Performance", 1984, ch. 5), and n -> inf tends to the lesser.
    Elementwise; 0 streams give 0."""
    c, d = np.asarray(cta_stream, dtype=float), np.asarray(dram_stream, dtype=float)
    n = np.asarray(knee, dtype=float)
    lo = np.minimum(c, d)
    hi = np.maximum(np.maximum(c, d), 1e-300)
    nn = np.where(n > 0, n, 1.0)
    # the p-norm on the ratio lesser / greater (in (0, 1]) so no power overflows
    smooth = lo * (1.0 + (lo / hi) ** nn) ** (-1.0 / nn)
    return np.where(n > 0, smooth, lo)


def tail_wave_fill(full_fill, cap, units, per_wave, cta_blocks, stream_of, dram_stream, knee):
    """The DRAM fill of a generation kernel whose CTAs run in waves of `per_wave` (cores x CTAs resident per
    core) with equal work each: the whole waves stream at `full_fill`, the last partial wave's CTAs (units mod
    per_wave, each `cta_blocks` base blocks) at their own Little's-law stream (stream_of(resident base blocks),
    bytes/s) against the DRAM, each at most `cap`; the fills combine by the bytes each part moves (its time
    adds). A grid of one wave or of whole waves keeps `full_fill`."""
    units = np.asarray(units, dtype=float)
    per_wave = np.maximum(np.asarray(per_wave, dtype=float), 1.0)
    tail = units - np.floor(units / per_wave) * per_wave
    split = (units > per_wave) & (tail > 0)
    tail_fill = np.minimum(cap, loaded_stream(stream_of(tail * cta_blocks), dram_stream, knee) / dram_stream)
    share = np.where(split, tail / np.maximum(units, 1.0), 0.0)
    return np.where(split, 1.0 / ((1.0 - share) / full_fill + share / np.maximum(tail_fill, 1e-30)), full_fill)


def _attention_tiling(m, par, k, g_q, causal, is_attn, p: ChipParams):
    """(rows, independent units, keys per query) of fused attention under ChipParams.attn_tiling.

    OpTable packs a GQA group's query heads into the rows of one (sequence, KV head) unit, as a
    decode kernel does (XQA, FlashDecoding). A context kernel (q_len > 1) with attn_tiling = 1
    runs one CTA per (sequence, query head, query tile) (FlashAttention-2 grid (m_blocks, b, h),
    Dao 2023 sec. 3.2): rows q_len, units batch x heads. Causal, it computes the diagonal key
    tiles in full and masks them (Dao 2023 sec. 3.1.1: only the tiles above the diagonal are
    skipped): query tile i of T computes (i + 1) key tiles, so a query sees on average
    (T + 1) / 2 tiles of tm keys instead of (q_len + 1) / 2 keys, about (tm - 1) / 2 more.
    The last query tile computes all T key tiles, T tm keys for its queries' average k_t: the
    longest CTA's keys / the average CTA's (1 where not causal or not tiled), for the makespan.
    Where the context kernel's fixed work tile is set (ChipParams.attn_ctx_q_tile / _kv_tile,
    perf/context_tiles.py) a context unit is attn_ctx_q_tile rows (padded rows computed) by whole
    attn_ctx_kv_tile-key tiles up to its last row, and a query that sees no earlier key (q = kv = 1:
    a one-token prompt; a generation query always sees its prompt) is a context kernel too.
    Returns (m, parallel, keys per query, computed / exact work, context mask, longest / average CTA,
    the fixed context row tile (0 where none)).
    """
    on = is_attn & (np.asarray(p.attn_tiling, dtype=float) > 0)
    q = m / g_q
    tq, tk = np.asarray(p.attn_ctx_q_tile, dtype=float), np.asarray(p.attn_ctx_kv_tile, dtype=float)
    fixed = on & (tq > 0) & (tk > 0) & ((q > 1.0) | (k <= 1.0))  # the library's fixed context tile
    ctx = (on & (q > 1.0)) | fixed
    tm = row_tile(q, p)
    prefix = k - (q + 1.0) / 2.0  # cached keys before the first new query (k: the exact causal average)
    tile = tm * np.minimum(1.0, q / tm)
    k_t = np.where(causal & ctx, prefix + (np.ceil(q / tm) + 1.0) / 2.0 * tile, k)
    k_t = np.where(ctx, k_t, k)
    longest = np.where(causal & ctx, (prefix + np.ceil(q / tm) * tile) / np.maximum(k_t, 1e-30), 1.0)
    if np.any(fixed):
        mean_tiles, last_tiles = key_tiles(q, np.where(causal, prefix, 0.0), tq, tk, causal)
        # not causal, k is every key: key_tiles' prefix + q is then k
        mean_tiles = np.where(causal, mean_tiles, np.ceil(k / np.where(tk > 0, tk, 1.0)))
        last_tiles = np.where(causal, last_tiles, mean_tiles)
        k_fixed = tk * mean_tiles
        longest = np.where(fixed, last_tiles / np.maximum(mean_tiles, 1e-30), longest)
        k_t = np.where(fixed, k_fixed, k_t)
    return (np.where(ctx, q, m), np.where(ctx, par * g_q, par), k_t, k_t / k, ctx, longest,
            np.where(fixed, tq, 0.0))


def evaluate(graph: OpGraph | OpTable, p: ChipParams, check_support: bool = True) -> CostTable:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # unsupported dtype -> inf time
        return _evaluate(graph, p, check_support)


def _evaluate(graph: OpGraph | OpTable, p: ChipParams, check_support: bool) -> CostTable:
    t = graph.table if isinstance(graph, OpGraph) else graph
    dshape = p.design_shape
    nd = len(dshape)
    col = lambda x: _col(np.asarray(x, dtype=float), nd)  # noqa: E731
    colb = lambda x: _col(np.asarray(x, dtype=bool), nd)  # noqa: E731

    kind = t.kind
    is_mm = (kind == K_MATMUL) | (kind == K_ATTN)
    is_elt = (kind == K_ELT) | (kind == K_EMB)

    # ---- compute ----
    peaks = np.asarray(p.peak_flops, dtype=float)
    peak = peaks[t.peak_key]  # (n_ops, *dshape) or (n_ops,)
    peak = np.broadcast_to(peak.reshape(peak.shape + (1,) * (1 + nd - peak.ndim)), (len(t),) + dshape)
    if check_support and nd == 0:
        missing = is_mm & (peak <= 0)
        if missing.any():
            i = int(np.argmax(missing))
            key = PEAK_KEYS[t.peak_key[i]]
            runs = ", ".join(k for j, k in enumerate(PEAK_KEYS) if np.all(peaks[j] > 0)) or "none"
            raise TapeoutError(
                f"chip '{p.chip_id}' has no {key} matrix support (op '{t.names[i]}'); it runs {runs}. "
                f"Choose one of those precisions (--precision, or --set precision=... for a workload preset)."
            )
    m, n, k, par = col(t.m), col(t.n), col(t.k), col(t.parallel)
    g_q = 1.0 if t.q_per_kv is None else col(t.q_per_kv)
    # attention phase, before any tiling changes the rows: generation has one query per sequence
    # (m = q_len x group = group), context more
    gen = m <= g_q
    is_attn = colb(kind == K_ATTN)
    k_scale = 1.0  # attention work actually computed / the exact causal work (diagonal tiles)
    ctx, longest = False, 1.0  # tiled context attention; its longest CTA's work / the average's
    ctx_tm = 0.0  # a context kernel's fixed row tile (ChipParams.attn_ctx_q_tile), 0 where none
    if t.q_per_kv is not None and (kind == K_ATTN).any():
        causal = colb(t.causal) if t.causal is not None else is_attn
        m, par, k, k_scale, ctx, longest, ctx_tm = _attention_tiling(m, par, k, col(t.q_per_kv), is_attn & causal, is_attn, p)
        gen = gen & ~ctx  # a one-token prompt on a fixed context tile is a context kernel
    tn = np.where(is_attn, np.ceil(n / ATTN_HEAD_DIM_STEP) * ATTN_HEAD_DIM_STEP, p.tile_n)
    cores = p.num_cores
    # decode GEMMs pad m to a multiple of 16; a token-N GEMM to equal tiles at the N step (balanced_row_tiles)
    tm = row_tile(m, p, colb(kind == K_MATMUL))
    tm = np.where(ctx_tm > 0, ctx_tm, tm)  # a fixed context tile computes all its rows
    gen_attn = is_attn & gen
    q_tile = np.asarray(p.attn_gen_q_tile, dtype=float)
    if np.any(q_tile > 0):  # the generation kernel's own query tile (ChipParams.attn_gen_q_tile)
        tm = np.where(gen_attn & (q_tile > 0), gen_q_rows(m, q_tile, np.asarray(p.attn_gen_q_tile_pow2, dtype=float)), tm)
    mt = np.ceil(m / tm)
    nt = np.ceil(n / tn)
    u_pad = (m * n) / (mt * tm * nt * tn)
    tiles = mt * nt * par
    # split-K: at most floor(cores / tiles) splits of >= 256-deep K slices, and at most the
    # library's max_split_k for GEMMs (attention splits its KV length, FlashDecoding)
    k_cap = np.minimum(np.floor(k / 256.0), np.where(colb(kind == K_MATMUL), np.asarray(p.max_split_k, dtype=float), np.inf))
    if t.experts is not None and t.experts.any() and GROUPED_WHOLE_K:
        # a grouped expert GEMM runs one CTA per output tile over its whole K (GROUPED_WHOLE_K)
        k_cap = np.where(colb(t.experts), 1.0, k_cap)
    ksplit = np.clip(np.floor(cores / tiles), 1.0, np.maximum(1.0, k_cap))
    split_tokens = np.asarray(p.attn_gen_split_tokens, dtype=float)
    if np.any(split_tokens > 0):  # the generation kernel's own multi-block rule (ChipParams.attn_gen_split_*)
        ksplit = np.where(gen_attn & (split_tokens > 0),
                          gen_kv_splits(k, par, cores, split_tokens, p.attn_gen_split_sqrt, p.attn_gen_split_waves), ksplit)
    # a generation kernel launched by its library's own rule (ChipParams.attn_gen_launch_warps: masked MHA's
    # block size and multi-block split, perf/mmha_launch.py); its CTAs count as their threads in base blocks
    # (and its waves are of the CTAs of that size resident on the cores)
    cta_blocks = 1.0
    wave_ctas = np.asarray(p.attn_gen_wave_ctas, dtype=float)  # CTAs per core per wave where known (attn_gen_wave_ctas)
    per_core = np.where(gen_attn & (wave_ctas > 0), wave_ctas, 1.0) if np.any(wave_ctas > 0) else 1.0
    launch_warps = np.asarray(p.attn_gen_launch_warps, dtype=float)
    if np.any(launch_warps > 0):
        launched = gen_attn & (launch_warps > 0)
        tiles_l, blocks_l, resident_l = mmha_launch(par, k, n, cores, np.where(launch_warps > 0, launch_warps, 32.0))
        ksplit = np.where(launched, tiles_l, ksplit)
        cta_blocks = np.where(launched, blocks_l, 1.0)
        per_core = np.where(launched, resident_l, per_core)
    units = tiles * ksplit
    waves = np.ceil(units / (cores * per_core))
    u_wave = units / (waves * cores * per_core)
    # more tiles than cores with a last wave below p.stream_k_tail full: the library's stream-K
    # scheduler spreads the last waves' K iterations over every core (ChipParams.stream_k_tail)
    streamk = stream_k_tail(units, cores, k_cap, p) & colb(kind == K_MATMUL)
    u_wave = np.where(streamk, 1.0, u_wave)
    # pipeline fill + epilogue of each GEMM work unit, in K-depth equivalents (ChipParams.tile_k_overhead)
    k_unit = k / ksplit
    k_over = np.where(is_attn, np.asarray(p.attn_tile_k_overhead, dtype=float), np.asarray(p.tile_k_overhead, dtype=float))
    ctx_over = np.asarray(p.attn_ctx_tile_k_overhead, dtype=float)
    if np.any(ctx_over >= 0):  # the context phase's own work-unit overhead where set (ChipParams.attn_ctx_tile_k_overhead)
        k_over = np.where(is_attn & ~gen & (ctx_over >= 0), ctx_over, k_over)
    u_k = np.where(colb(is_mm), k_unit / (k_unit + k_over), 1.0)
    flops = col(t.flops) * k_scale
    eff_c = np.asarray(p.eff_compute, dtype=float)
    if eff_c.ndim:  # per compute dtype (axis 0 = PEAK_KEYS)
        eff_c = eff_c[t.peak_key]
        eff_c = eff_c.reshape(eff_c.shape + (1,) * (1 + nd - eff_c.ndim))
    attn8 = np.asarray(p.attn_eff_fp8, dtype=float)
    if np.any(attn8 > 0):  # an FP8 attention op at its own kernel's MMA efficiency, not the FP8 GEMM's (ChipParams.attn_eff_fp8)
        fp8_attn = colb((kind == K_ATTN) & (t.peak_key == PEAK_KEYS.index("fp8")))
        eff_c = np.where(fp8_attn & (attn8 > 0), attn8, eff_c)
    # fused attention runs below the GEMM efficiency (softmax exponentials, masking; calibrated
    # on published FlashAttention/cuDNN kernel rates, perf/fit.py fit_attention)
    eff_attn = np.asarray(p.eff_attention, dtype=float)
    ctx_eff = np.asarray(p.attn_ctx_eff_attention, dtype=float)
    if np.any(ctx_eff > 0):  # the context phase's own where set (ChipParams.attn_ctx_eff_attention)
        eff_attn = np.where(~gen & (ctx_eff > 0), ctx_eff, eff_attn)
    eff_c = eff_c * np.where(is_attn, eff_attn, 1.0)
    # grouped expert GEMMs (MoE) below the dense GEMM efficiency: routing, per-expert padding
    # and short per-expert panels (calibrated on published fused-MoE kernel timings, fit_moe)
    if t.experts is not None and t.experts.any():
        eff_c = eff_c * np.where(colb(t.experts), np.asarray(p.eff_moe, dtype=float), 1.0)
    if t.eff_scale is not None:  # block-scaled GEMM formats: kernel-database efficiency ratio (tapeout.formats)
        eff_c = eff_c * col(t.eff_scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_mm = flops / (peak * eff_c * u_wave * u_pad * u_k)
        t_mm = np.where(peak > 0, t_mm, np.inf)
        vec_rate = np.asarray(p.vector_flops) * p.eff_vector
        t_vec = flops / vec_rate
        makespan = ctx & (np.asarray(p.attn_ctx_makespan, dtype=float) > 0)
        if t.exps is not None and t.exps.any():
            # softmax on the vector/SFU units, per score, issued between the two attention
            # GEMMs of a tile (FlashAttention-2 runs them in sequence, Dao 2023 sec. 3.1); a
            # context kernel's on the SFUs of the cores its CTAs occupy (attn_ctx_makespan)
            # (a fixed context tile exponentiates its padded rows too: / the row fill m / (mt tm))
            row_fill = np.where(ctx_tm > 0, m / (mt * tm), 1.0)
            t_exp = col(t.exps) * k_scale * np.asarray(p.softmax_vflops, dtype=float) / vec_rate \
                / np.where(makespan, u_wave, 1.0) / row_fill
            # a context kernel whose warpgroups ping-pong (attn_ctx_softmax_overlap) runs one's softmax
            # under the other's MMAs: the SM's tensor cores and SFUs work at once, max not sum
            overlap = ctx & (np.asarray(p.attn_ctx_softmax_overlap, dtype=float) > 0)
            t_mm = np.where(overlap, np.maximum(t_mm, t_exp), t_mm + t_exp)
        # a causal context kernel lasts at least its longest CTA (the last query tile): waves x the
        # average CTA is below that when the CTAs fill less than about one wave (attn_ctx_makespan)
        t_mm = t_mm * np.where(makespan, np.maximum(1.0, longest / waves), 1.0)
        io = ctx & (np.asarray(p.attn_ctx_io_exposed, dtype=float) > 0)
        if np.any(io):  # a context CTA's Q-tile load and O-tile store, serialised per wave (attn_ctx_io_exposed)
            unit_bytes = (col(t.input_bytes) + col(t.output_bytes)) / np.maximum(par * m, 1.0) * tm
            t_io = wave_transfer_time(units, cores, waves, unit_bytes, p)
            core_bw = np.asarray(p.attn_ctx_io_core_bw, dtype=float)
            if np.any(core_bw > 0):  # and no faster than one core's own stream (attn_ctx_io_core_bw)
                t_io = np.maximum(t_io, np.where(core_bw > 0, waves * unit_bytes / np.where(core_bw > 0, core_bw, 1.0), 0.0))
            t_mm = t_mm + np.where(io, t_io, 0.0)
        # GEMMs: each wave of work units pays the per-unit fixed time (pipeline fill, epilogue)
        # that does not shrink with K, so short-K GEMMs (convolutions, K = k^2 C_in) run further
        # below peak on a faster matrix engine (CUTLASS efficient_gemm.md: the mainloop
        # hides latency only over K iterations; calibrated on GEMM sweeps with varied K). Groups
        # narrower than a tile share one (CUTLASS conv GroupMode::kMultipleGroup), so the units
        # are the packed ones: ceil(m/tm) x ceil(groups x n / tn) x K splits
        waves_fixed = np.ceil(mt * np.ceil(par * n / tn) * ksplit / cores)
        t_tile = np.where(colb(kind == K_MATMUL), waves_fixed * np.asarray(p.tile_overhead, dtype=float), 0.0)
        # fused attention: each wave of work units (CTAs) pays its fixed prologue/epilogue work
        # (ChipParams.attn_unit_flops at one core's achieved matrix rate, plus attn_unit_time latency)
        rate = peak * eff_c
        # per phase: generation (one query per sequence, m = group rows) or context
        unit_flops = np.where(gen, np.asarray(p.attn_decode_unit_flops, dtype=float), np.asarray(p.attn_unit_flops, dtype=float))
        unit_time = np.where(gen, np.asarray(p.attn_decode_unit_time, dtype=float), np.asarray(p.attn_unit_time, dtype=float))
        t_unit = unit_flops * cores / np.where(rate > 0, rate, np.inf) + unit_time
        tile_flops = np.asarray(p.attn_gen_tile_flops, dtype=float)
        if np.any(tile_flops > 0):  # a generation CTA's work per element of its query tile (ChipParams.attn_gen_tile_flops)
            t_unit = t_unit + np.where(gen_attn, tm * tn * tile_flops * cores / vec_rate, 0.0)
        t_tile = np.where(is_attn, waves * t_unit, t_tile)
        # a generation kernel whose KV stream is its CTAs' (cta_stream_on) has few CTAs
        # resident per core, so a wave's prologue and epilogue latency (Q and page-table loads, the
        # first KV tile's round trip; partial-result store) leaves the core's stream idle: it adds to
        # the stream instead of overlapping it (time = waves x unit latency + max(math, stream))
        serial_unit = gen_attn & cta_stream_on(p)
        t_unit_serial = np.where(serial_unit, t_tile, 0.0)
        if np.any(launch_warps > 0):  # a launched kernel's multi-block merge, once (ChipParams.attn_gen_merge_time)
            t_unit_serial = t_unit_serial + np.where(launched & (ksplit > 1), np.asarray(p.attn_gen_merge_time, dtype=float), 0.0)
        t_tile = np.where(serial_unit, 0.0, t_tile)
        t_mm = t_mm + t_tile + epilogue_time(t, p, col, tm, tn, tiles, units, waves, cores)
    t_compute = np.where(colb(is_mm), t_mm, np.where(colb(is_elt), t_vec, 0.0))

    # ---- memory ----
    wb, ib, ob = col(t.weight_bytes), col(t.input_bytes), col(t.output_bytes)
    sram = np.asarray(p.sram_bytes, dtype=float)
    half = np.maximum(sram / 2.0, 1.0)
    elem = np.where(m * k > 0, ib / np.maximum(par * m * k, 1.0), 2.0)
    block = np.sqrt(half / np.maximum(2.0 * elem, 0.5))  # square block edge (elements)
    a_reads = np.where(ib <= half, 1.0, np.maximum(1.0, np.ceil(n / np.maximum(block, tn))))
    w_reads = np.where(wb <= half, 1.0, np.maximum(1.0, np.ceil(m / np.maximum(block, tm))))
    mm_bytes = wb * w_reads + ib * a_reads + ob
    gran = np.asarray(p.access_granularity, dtype=float)
    emb_bytes = col(t.lookups) * np.ceil(col(t.row_bytes) / gran) * gran + ob
    is_mm_only = colb(kind == K_MATMUL)
    # a GQA group larger than the kernel's attn_head_pack is served one query head per pass: the
    # KV cache (weight_bytes) is read once per query head instead of once per group
    kv_passes = np.where(g_q > np.asarray(p.attn_head_pack, dtype=float), g_q, 1.0)
    dram = np.where(is_mm_only, mm_bytes, np.where(colb(kind == K_EMB), emb_bytes, wb * np.where(is_attn, kv_passes, 1.0) + ib + ob))
    dram = np.where(colb((kind == K_COLL) | (kind == K_FIXED)), 0.0, dram)
    # a matrix/attention kernel streams through its work units (output tiles x K splits; for
    # decode attention the (sequence, KV head) pairs times FlashDecoding's KV splits, Dao et al.
    # 2023): with fewer units than cores only `units` cores stream, each at most core_bw_share
    # times its even share of the bandwidth -> t_mem / min(1, units / cores * core_bw_share)
    fill = np.where(colb(is_mm), np.minimum(1.0, units / cores * np.asarray(p.core_bw_share, dtype=float)), 1.0)
    # generation attention's KV stream at its own fraction of the DRAM where set (ChipParams.attn_gen_eff_mem)
    gen_eff_mem = np.asarray(p.attn_gen_eff_mem, dtype=float)
    eff_mem = np.where(gen_attn & (gen_eff_mem > 0), gen_eff_mem, np.asarray(p.eff_mem, dtype=float))
    moe_eff_mem = np.asarray(p.moe_eff_mem, dtype=float)
    if t.experts is not None and t.experts.any() and np.any(moe_eff_mem > 0):  # ChipParams.moe_eff_mem
        eff_mem = np.where(colb(t.experts) & (moe_eff_mem > 0), moe_eff_mem, eff_mem)
    # generation attention with a Little's-law CTA stream (ChipParams.attn_cta_tokens_per_s,
    # attn_cta_bytes_per_s): the resident CTAs x what each keeps in flight / latency, against the DRAM
    if np.any(cta_stream_on(p)):
        resident = np.minimum(units * cta_blocks, cores * np.asarray(p.attn_ctas_per_core, dtype=float))
        token_bytes = wb / np.maximum(par * k, 1.0)  # wb / (units x keys): K + V bytes of one token of one unit
        # one CTA's seconds per KV token: its loads in flight (a token's share of a fixed token tile, its
        # bytes' share of a fixed byte buffer), plus the per-(query row, token) work it serialises with
        # them on the padded rows of its query tile (ChipParams.attn_gen_score_flops)
        score = tm * np.asarray(p.attn_gen_score_flops, dtype=float) * cores / vec_rate
        # a kernel that runs its head padded waits on the padded head's loads (ChipParams.attn_gen_head_pad), and
        # one whose loop takes whole KV tiles spends whole tiles' time (attn_gen_kv_tile); the DRAM reads the
        # real bytes either way
        padded = token_bytes * gen_padded_head(n, p.attn_gen_head_pad) / np.maximum(n, 1.0)
        per_token = ((cta_seconds_per_token(p, padded) + score)
                     * np.where(gen_attn, gen_tile_rounding(k, ksplit, p.attn_gen_kv_tile), 1.0))
        cta_stream = resident / per_token * token_bytes
        gen_fill = np.where(gen_attn & cta_stream_on(p),
                            np.minimum(fill, loaded_stream(cta_stream, np.asarray(p.mem_bw) * eff_mem, p.attn_cta_stream_knee)
                                       / (np.asarray(p.mem_bw) * eff_mem)), fill)
        if np.any(launch_warps > 0):  # a launched kernel's last, partial wave streams with its own CTAs (tail_wave_fill)
            gen_fill = np.where(launched & cta_stream_on(p),
                                tail_wave_fill(gen_fill, fill, units, cores * per_core, cta_blocks,
                                               lambda res: res / per_token * token_bytes, np.asarray(p.mem_bw) * eff_mem,
                                               p.attn_cta_stream_knee), gen_fill)
        fill = gen_fill
    # a streaming elementwise pass at what its cores keep in flight against the DRAM (ChipParams.elt_core_bw)
    elt_core = np.asarray(p.elt_core_bw, dtype=float)
    if np.any(elt_core > 0):
        d_stream = np.asarray(p.mem_bw) * eff_mem
        fill = np.where(colb(kind == K_ELT) & (elt_core > 0),
                        loaded_stream(np.asarray(cores, dtype=float) * elt_core, d_stream, p.elt_stream_knee) / d_stream, fill)
    if t.elt_stream is not None and np.any(t.elt_stream < 1.0):
        # a memory-bound kernel kind below the streaming rate (Elementwise.stream_share; perf/memory_kernels.py)
        fill = fill * np.where(colb(kind == K_ELT), col(t.elt_stream), 1.0)
    t_mem = dram / (np.asarray(p.mem_bw) * eff_mem * fill) + p.mem_overhead * (dram > 0)
    step_time = np.asarray(p.elt_step_time, dtype=float)
    if t.elt_steps is not None and t.elt_steps.any() and np.any(step_time > 0):
        # an elementwise kernel that counts its thread steps moves each step's loads and stores through the
        # L2, K and V re-read by every query head included (ChipParams.elt_step_time): at least that long
        t_mem = np.maximum(t_mem, col(t.elt_steps) * step_time)
    # a CUDA-core generation kernel over an FP8 KV cache converts, scales and multiplies every KV
    # byte it reads and runs the softmax of every score on the vector units, overlapped with its
    # KV stream: it caps the stream where the DRAM outruns the cores (ChipParams.attn_gen_vflops_*,
    # set only where that kernel runs; kernel_calibration.serving_decode_params)
    per_byte = np.asarray(p.attn_gen_vflops_per_kv_byte, dtype=float)
    per_score = np.asarray(p.attn_gen_vflops_per_score, dtype=float)
    if np.any(per_byte > 0) or np.any(per_score > 0):
        scores = col(t.exps) if t.exps is not None else 0.0
        t_gen_vec = (wb * kv_passes * per_byte + scores * per_score) / vec_rate
        t_compute = np.where(gen_attn, np.maximum(t_compute, t_gen_vec), t_compute)

    # ---- communication ----
    so = col(t.scaleout.astype(float))
    link_bw = so * p.scaleout_bw + (1 - so) * p.scaleup_bw
    lat = so * p.scaleout_latency + (1 - so) * p.scaleup_latency
    g = col(t.group)
    is_coll = colb(kind == K_COLL)
    t_comm = np.where(is_coll, collective_time(col(t.wire_bytes), g, link_bw, lat, p.eff_link), 0.0)
    t_comm = np.where(is_coll & (g <= 1), 0.0, t_comm)

    # ---- fixed-function ----
    t_fixed = np.zeros_like(t_comm)  # filled by workloads that model video engines (perf/video.py)

    # ---- total ----
    t_kernel = np.where(colb((kind != K_COLL) & (kind != K_FIXED) & ~t.fused), p.kernel_overhead, 0.0)
    # serving's attention op over a paged KV cache pays more fixed time than one GEMM kernel: its
    # preprocessing kernel (RoPE, KV-cache write), split-KV reduction and per-CTA prologue;
    # generation (one query per sequence: m = q_len x group = group) and context differ (ChipParams)
    paged = np.zeros(len(t), dtype=bool) if t.kv_cache is None else t.kv_cache
    t_kernel = t_kernel + np.where(colb((kind == K_ATTN) & paged & ~t.fused),
                                   np.where(gen, np.asarray(p.attn_decode_fixed, dtype=float),
                                            np.asarray(p.attn_prefill_fixed, dtype=float)), 0.0)
    # a split-K GEMM's partial sums, added up slice by slice after the main loops (split_k_reduction_time)
    busy = np.maximum(t_compute, t_mem) + t_unit_serial + split_k_reduction_time(ksplit, colb(kind == K_MATMUL), p)
    time = busy + t_kernel + t_comm + t_fixed
    bound = np.select(
        [is_coll, colb(kind == K_FIXED), t_kernel > busy, t_compute >= t_mem],
        [2, 4, 3, 0],
        default=1,
    )
    pj = np.asarray(p.pj_per_flop, dtype=float)
    pj_op = pj[t.peak_key]
    pj_op = pj_op.reshape(pj_op.shape + (1,) * (1 + nd - pj_op.ndim))
    e = (
        flops * pj_op * 1e-12
        + dram * p.dram_pj_per_byte * 1e-12
        + 2.0 * dram * p.sram_pj_per_byte * 1e-12
        + p.static_w * time
    )
    if t.gemm_path is not None and t.gemm_path.any():
        # a fused-MoE kernel of one grouped-GEMM path only (perf/grouped_gemm_path.py): none where the chip runs the other
        ran = runs_on_path(col(t.gemm_path), p.tma, p.async_mma, colb(t.gemm_fp4))
        time, e, dram = np.where(ran, time, 0.0), np.where(ran, e, 0.0), np.where(ran, dram, 0.0)
        t_compute, t_mem = np.where(ran, t_compute, 0.0), np.where(ran, t_mem, 0.0)
    time = np.broadcast_to(time, (len(t),) + dshape)
    return CostTable(
        table=t,
        time=time,
        compute_time=np.broadcast_to(t_compute, time.shape),
        memory_time=np.broadcast_to(t_mem, time.shape),
        comm_time=np.broadcast_to(t_comm, time.shape),
        dram_bytes=np.broadcast_to(dram, time.shape),
        energy=np.broadcast_to(e, time.shape),
        bound=np.broadcast_to(bound, time.shape),
        tile_time=np.broadcast_to(np.where(colb(is_mm), t_tile + t_unit_serial, 0.0), time.shape),
        units=np.broadcast_to(np.where(colb(is_mm), units, 0.0), time.shape),
        stream_k=np.broadcast_to(streamk, time.shape),
    )
