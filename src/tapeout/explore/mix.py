"""A workload mix compiled once (op graphs -> op tables) and evaluated against design arrays.

Each workload contributes one op graph (one decode step, one prefill batch, one ranking
batch, ...) that `chips` chips execute together, producing `units` units of work (tokens,
queries, images). Per design d the graph time t_w[d] and energy E_w[d] come from
perf.opcost.evaluate (memory, vector, collective and overhead terms) with the matrix-op
compute time replaced by the systolic-array cycle model (perf/systolic.py):

    t_compute = FLOPs / (peak_dtype x eff_dtype x maturity_class x u_sys)
    u_sys     = MACs / (cores x R x C x cycles(m, n, k, batch; R, C, dataflow))
    t_op      = max(t_compute, t_memory) + (kernel overhead + collective time, from opcost)

so the array shape, dataflow, fill/drain and fold quantization set the compute time and
nothing loops over designs in Python. Graphs that do not come from the LLM builder go through
workloads/catalog.build_workload (recommendation, vision, diffusion, speech presets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..errors import TapeoutError
from ..hardware.params import ChipParams
from ..ops import OP_KINDS, Attention, MatMul, OpGraph, OpTable
from ..perf import systolic
from ..perf.opcost import evaluate

K_MATMUL, K_ATTN = OP_KINDS.index("matmul"), OP_KINDS.index("attention")
K_ELT, K_EMB, K_COLL = OP_KINDS.index("elementwise"), OP_KINDS.index("embedding"), OP_KINDS.index("collective")
LLM_KINDS = ("llm_decode", "llm_prefill")


@dataclass
class CompiledWorkload:
    name: str
    kind: str
    table: OpTable
    units: float  # units of work per graph execution
    chips: int  # chips that execute one graph together (TP x EP group)
    weight: float  # traffic weight (share of demand, in this workload's units)
    slo_s: float | None  # latency bound of one graph execution
    memory_bytes: float  # resident bytes per chip
    unit: str = "unit"


LLM_STEP_KEYS = ("expert_imbalance",)  # LLMStep fields a space may set (workloads/llm.py)


def _count(p: dict, key: str, default: int) -> int:
    """Pop a count parameter (batch, tp, ep, context / input_len): a whole number >= 1, else one line naming it
    (int() took 2.5 as 2 and raised a bare ValueError on text)."""
    v = p.pop(key, default)
    try:
        f = float(v) if not isinstance(v, bool) else math.nan
    except (TypeError, ValueError):
        f = math.nan
    if not (math.isfinite(f) and f == int(f) and f >= 1):
        raise TapeoutError(f"parameter '{key}': a whole number >= 1, got {v!r}.")
    return int(f)


def _llm_graph(params: dict, kind: str) -> tuple[OpGraph, float, int]:
    from ..perf.llm import vision_load
    from ..workloads.llm import decode_graph, prefill_graph
    from ..workloads.llm_config import check_context, load_llm

    p = dict(params)
    model = p.pop("model", None)
    if model is None:
        raise TapeoutError(f"workload kind {kind} needs `model:` (an LLM preset or config path).")
    cfg = load_llm(model)
    batch = _count(p, "batch", 1)
    prec = p.pop("precision", "bf16")
    tp, ep = _count(p, "tp", 1), _count(p, "ep", 1)
    # a vision-language model's images, as `serve --images-per-request/--image-size` (perf/llm.vision_load
    # refuses a text-only model and an image the encoder does not accept)
    vision = vision_load(model, cfg, p.pop("images_per_request", 0), p.pop("image_size", 448))
    image_tokens = vision.tokens_per_request if vision else 0
    length = "context" if kind == "llm_decode" else "input_len"
    n = _count(p, length, 2048)
    unknown = sorted(set(p) - set(LLM_STEP_KEYS))
    if unknown:
        raise TapeoutError(f"unknown parameter '{unknown[0]}'. Parameters: model, batch, precision, "
                           f"tp, ep, {length}, images_per_request, image_size, {', '.join(LLM_STEP_KEYS)}.")
    check_context(model, n + image_tokens, f"workload kind {kind} {length}" + (" + image tokens" if vision else ""))
    if kind == "llm_decode":
        g = decode_graph(cfg, batch, n + image_tokens, prec, tp=tp, ep=ep, **p)  # image tokens sit in the KV cache
        units = float(batch)  # tokens per step
    else:
        g = prefill_graph(cfg, batch, n + image_tokens, prec, tp=tp, ep=ep, **p)
        units = float(batch * (n + image_tokens))  # prompt tokens (text + image) per batch
        if vision:  # each request's images encoded once in its prefill, split evenly over TP (perf/vlm.py)
            from ..workloads.vlm import vision_graph

            enc = vision_graph(vision.spec, batch * vision.images_per_request, vision.image_size, prec)
            g = OpGraph(g.name, g.ops + [replace(o, count=o.count / tp) for o in enc.ops], g.meta)
    return g, units, tp


def resident_bytes(graph: OpGraph) -> float:
    """Weights + KV cache of the (sharded) graph + the largest op's activations, double-buffered."""
    w, act = 0.0, 0.0
    for o in graph.ops:
        if isinstance(o, (MatMul, Attention)):
            w += o.weight_bytes * o.count
        act = max(act, o.input_bytes + o.output_bytes)
    return w + 2.0 * act


def compile_workload(spec) -> CompiledWorkload:
    """WorkloadSpec (space.py) -> CompiledWorkload; builds the graph once. A bad parameter is
    one error naming the workload."""
    try:
        return _compile(spec)
    except TapeoutError as e:
        raise TapeoutError(f"workloads '{spec.name}' (kind {spec.kind}): {e}") from None


def _compile(spec) -> CompiledWorkload:
    params = spec.builder_params()
    unit = "token"
    if spec.kind in LLM_KINDS:
        g, units, chips = _llm_graph(params, spec.kind)
        mem = resident_bytes(g)
    else:
        try:
            from ..workloads import catalog
        except ImportError:
            raise TapeoutError(f"workload kind '{spec.kind}' needs the workload catalog (workloads/catalog.py), "
                               f"which is not available; use llm_decode or llm_prefill.") from None
        g = catalog.build_workload(spec.kind, **params)
        units = float(g.meta.get("units", g.meta.get("batch", 1)))
        unit = str(g.meta.get("unit", "unit"))
        chips = 1
        # tables placed over HBM/host/SSD tiers by the throughput engine need not fit (as workload-run)
        mem = catalog.memory_needed(g, include_embeddings=not catalog.tables_may_leave_device(spec.kind))
    if spec.units_per_eval is not None:
        units = float(spec.units_per_eval)
    return CompiledWorkload(
        name=spec.name, kind=spec.kind, table=g.table, units=units, chips=int(spec.chips or chips),
        weight=float(spec.weight), slo_s=None if spec.slo_ms is None else spec.slo_ms / 1e3, memory_bytes=float(mem),
        unit=unit,
    )


def compile_graph(name: str, graph: OpGraph, units: float, weight: float = 1.0, slo_s: float | None = None,
                  chips: int = 1) -> CompiledWorkload:
    """An already-built OpGraph as a mix member (units = units of work per graph execution)."""
    return CompiledWorkload(name, "graph", graph.table, float(units), int(chips), float(weight), slo_s,
                            resident_bytes(graph))


def graph_cost(w: CompiledWorkload, p: ChipParams, design: dict, clock_ghz, maturity: dict) -> tuple:
    """(time s, energy J) of one graph execution on each design, shape (D,)."""
    c = evaluate(w.table, p, check_support=False)
    t = w.table
    nd = len(p.design_shape)
    col = lambda x: np.asarray(x, dtype=float).reshape((-1,) + (1,) * nd)  # noqa: E731
    is_mm = (t.kind == K_MATMUL) | (t.kind == K_ATTN)
    time = np.array(c.time, dtype=float)
    energy = np.array(c.energy, dtype=float)
    comp = np.array(c.compute_time, dtype=float)
    mem_t = c.memory_time
    if is_mm.any():
        idx = np.nonzero(is_mm)[0]
        m, n, k, par = (col(getattr(t, a)[idx]) for a in ("m", "n", "k", "parallel"))
        u = systolic.utilization(m, n, k, design["array_rows"], design["array_cols"],
                                 design["dataflow"].astype(int), par, design["cores"], design["array_style"])
        peaks = np.asarray(p.peak_flops, dtype=float)[t.peak_key[idx]]
        eff = np.asarray(p.eff_compute, dtype=float)
        eff = eff[t.peak_key[idx]].reshape((-1,) + (1,) * nd) if eff.ndim else eff
        mat = np.where(t.kind[idx] == K_ATTN, maturity["attention"], maturity["gemm"])
        with np.errstate(divide="ignore", invalid="ignore"):
            tc = col(t.flops[idx]) / (peaks * eff * col(mat) * u)
        tc = np.where(peaks > 0, tc, np.inf)
        old_busy = np.maximum(comp[idx], mem_t[idx])
        rest = time[idx] - old_busy  # kernel overhead + collective + fixed
        new_time = np.maximum(tc, mem_t[idx]) + rest
        energy[idx] = energy[idx] + np.asarray(p.static_w) * (new_time - time[idx])
        time[idx] = new_time
    cnt = col(t.count)
    return (time * cnt).sum(axis=0), (energy * cnt).sum(axis=0)


def apply_maturity(p: ChipParams, maturity: dict) -> ChipParams:
    """Scale the calibrated memory/vector/link efficiencies by the stack's maturity (the GEMM and
    attention classes are applied per op in graph_cost). Memory: as perf/calibration.py does,
    only half of the gap (DMA engines reach bandwidth with simple code)."""
    return p.replace(
        eff_mem=np.asarray(p.eff_mem) * min(1.0, 0.5 + 0.5 * maturity["memory"]),
        eff_vector=np.asarray(p.eff_vector) * maturity["vector"],
        eff_link=np.asarray(p.eff_link) * maturity["collective"],
    )
