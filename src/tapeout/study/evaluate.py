"""Evaluate one study workload on one catalog chip: throughput per chip, power, latency,
what bounds it, in the workload's own units. Prices, fleet size and TCO are attached
afterwards (study/pricing.py), once the program volume of a custom design is known."""

from __future__ import annotations

import math

import numpy as np

from ..errors import TapeoutError
from ..hardware.catalog import Chip
from ..workloads.llm_config import check_context
from .schema import WorkloadSpec

# what a traffic unit costs are quoted per (label, units)
COST_PER = {"tokens": ("per 1M tokens", 1e6), "queries": ("per 1k queries", 1e3), "clips": ("per clip", 1.0),
            "images": ("per 1k images", 1e3), "audio_s": ("per audio hour", 3600.0), "samples": ("per 1k samples", 1e3)}


def _unit_scale(traffic_unit: str, preset_unit: str, params: dict | None = None) -> float:
    """Traffic units per workload unit: 30 audio seconds per Whisper chunk, or, where the
    workload counts output tokens as MLPerf's Whisper does, 30 s / the tokens one 30-s window
    decodes (the preset's `output_tokens`, a stated assumption)."""
    u = preset_unit.lower()
    if traffic_unit == "audio_s":
        if "30-s" in u or "30 s" in u:
            return 30.0
        tokens = (params or {}).get("output_tokens")
        if "token" in u and tokens:
            return 30.0 / float(tokens)
        raise TapeoutError(f"traffic in audio hours needs a workload whose unit is audio time, got '{preset_unit}'.")
    return 1.0


def _precision_for(chip: Chip, wanted: str) -> tuple[str, str | None]:
    """The requested precision if the chip supports it, else the closest it has."""
    from ..precision import COMPUTE_PEAK_FIELD, get_precision

    key = COMPUTE_PEAK_FIELD.get(get_precision(wanted).compute, "bf16")
    if chip.supports(key):
        return wanted, None
    order = {"bf16": ("fp16",), "fp16": ("bf16",), "fp8": ("int8", "bf16", "fp16"), "int8": ("fp8", "bf16", "fp16")}
    for alt in order.get(key, ("fp8", "int8", "bf16", "fp16")):
        if chip.supports(COMPUTE_PEAK_FIELD[get_precision(alt).compute]):
            return alt, f"{chip.id} lacks {key} matrix support: ran {alt}"
    return "bf16", None


def evaluate(w: WorkloadSpec, chip: Chip, chips_per_node: int = 8, params=None) -> dict:
    kind = w.kind
    unit, demand = w.traffic.demand()
    out: dict = {"workload": w.name, "chip": chip.id, "unit": unit}
    prec, note = _precision_for(chip, w.precision)
    notes = [note] if note else []
    if kind == "llm-serving":
        from ..perf.llm import serve

        pp = dict(w.params)
        fixed_n = pp.pop("num_chips", None)
        I, O, kvp = int(pp.pop("input_len", 1024)), int(pp.pop("output_len", 256)), pp.pop("kv_precision", None)
        check_context(w.model, I + O, f"workload '{w.name}' params input_len + output_len")  # as `tapeout serve`
        domain = int(chip.get("scaleup_domain_size", chips_per_node))
        # serve on one node; if the model does not fit, grow the replica inside the scale-up domain
        sizes = [int(fixed_n)] if fixed_n else [n for n in (chips_per_node, 16, 32, 64, 128, 256) if n == chips_per_node or n <= domain]
        for i, n in enumerate(sizes):
            try:
                r = serve(w.model, chip, n, prec, I, O, kv_precision=kvp, max_tpot_s=w.slo.tpot_s, max_ttft_s=w.slo.ttft_s,
                          params=params, **pp)
                break
            except TapeoutError as e:
                if "does not fit" not in str(e) or i == len(sizes) - 1:
                    raise
        out.update(units_per_s_per_chip=r.output_tokens_per_s_per_chip, power_w=r.power_w_per_chip, latency_s=r.tpot_s,
                   ttft_s=r.ttft_s, bound=r.bound, config=f"{r.parallelism}, batch {r.batch_size}, {r.precision}")
        out["_graph"] = ("llm", w.model, prec, r)
        out["memory_gb"] = r.memory_gib_per_chip  # binary GB, as capacities are quoted (hardware/memory_capacity.py)
    elif kind == "llm-training":
        from ..perf.training import train  # cluster-scale training model

        pp = dict(w.params)
        n, seq = int(pp.pop("num_chips", 1024)), int(pp.pop("seq_len", 4096))
        check_context(w.model, seq, f"workload '{w.name}' params seq_len")  # as `tapeout train`
        r = train(w.model, chip if params is None else chip.id, num_chips=n,
                  global_batch_tokens=float(pp.pop("global_batch_tokens", 4 * 2**20)),
                  seq_len=seq, precision=prec, params=params, **pp)
        # training keeps the chips near their power limit: charge TDP (assumption, stated in the report)
        out.update(units_per_s_per_chip=r.tokens_per_s / n, power_w=float(chip.get("tdp_w", 700.0)), latency_s=r.step_time_s,
                   bound="compute", config=f"{r.parallelism}, MFU {r.mfu:.2f}, {n} chips")
    else:
        from ..perf.workload_throughput import workload_throughput
        from ..workloads.catalog import get_preset

        preset = get_preset(w.model)
        bound = w.slo.p99_s or w.slo.latency_s  # the study's latency SLO replaces the preset's
        extra = {"latency_bound_s": bound} if bound else {}
        d = workload_throughput(w.model, params if params is not None else chip, precision=prec, **w.params, **extra)
        ups = float(d.get("qps_p99") or d["units_per_s"]) if (w.slo.p99_s or w.slo.latency_s) else float(d["units_per_s"])
        if bound and "qps_p99" not in d and float(d["time_s"]) > bound:
            raise TapeoutError(f"{w.name} on {chip.id}: one {preset.unit} takes {float(d['time_s']):.3g} s, above the SLO {bound:g} s")
        per_unit = _unit_scale(unit, preset.unit, {**preset.defaults, **w.params})
        out.update(units_per_s_per_chip=ups * per_unit, power_w=float(d["energy_per_unit_j"]) * float(d["units_per_s"]),
                   latency_s=d.get("time_s"), bound=str(d.get("bound")),
                   config=f"{preset.metric}, " + ", ".join(f"{k}={v}" for k, v in {**preset.defaults, **w.params}.items()))
        out["memory_gb"] = float(d["memory_gb"]) if d.get("memory_gb") is not None else None
        # the per-op diagnostics (study/diagnostics.py) re-cost this graph op by op
        out["_graph"] = ("preset", w.model, prec, dict(w.params), float(d["time_s"]))
    ups = float(out["units_per_s_per_chip"])
    if not (ups > 0 and math.isfinite(ups)):
        raise TapeoutError(f"{w.name} on {chip.id}: no throughput")
    power = float(out.get("power_w") or chip.get("tdp_w", 700.0))
    power = min(power, float(chip.get("tdp_w", power)))
    out["power_w"] = power
    out["demand_per_s"] = demand
    out["tdp_w"] = float(chip.get("tdp_w", power))
    out["units_per_joule"] = ups / power
    out["error"] = "; ".join(notes) if notes else ""
    return out


def check_workload(w: WorkloadSpec, where: str) -> None:
    """Chip-independent checks of one study workload, before any chip runs: its model exists and
    its parameters build (the builders evaluate() costs). One TapeoutError naming the workload."""
    try:
        if w.kind in ("llm-serving", "llm-training"):
            from ..perf.llm import vision_load
            from ..workloads.llm_config import load_llm

            from ..api.args import bounds_of, check_numbers

            cfg = load_llm(w.model)
            # its sizes, bounded as the command's own options (a negative input_len is refused here, not per chip)
            cmd = "serve" if w.kind == "llm-serving" else "train"
            check_numbers(cmd, **{k: v for k, v in w.params.items() if bounds_of(cmd, k) is not None})
            if w.kind == "llm-serving" and w.params.get("images_per_request"):  # refuses an image the encoder does not take
                vision_load(w.model, cfg, w.params["images_per_request"], w.params.get("image_size", 448))
        else:
            from ..perf.workload_throughput import workload_graph

            workload_graph(w.model, precision=w.precision, **w.params)
    except TapeoutError as e:
        raise TapeoutError(f"{where}: {str(e).splitlines()[0]}") from None


def safe_evaluate(w: WorkloadSpec, chip: Chip, chips_per_node: int = 8) -> dict:
    """evaluate(), with an unservable combination recorded as a row with the reason."""
    try:
        return evaluate(w, chip, chips_per_node)
    except (TapeoutError, ImportError, KeyError, ValueError, ArithmeticError) as e:
        return {"workload": w.name, "chip": chip.id, "unit": w.traffic.demand()[0], "units_per_s_per_chip": None,
                "error": str(e).splitlines()[0][:300]}


def geo_mean(xs: list[float], ws: list[float]) -> float:
    xs_a, ws_a = np.asarray(xs, float), np.asarray(ws, float)
    return float(np.exp(np.sum(ws_a * np.log(xs_a)) / np.sum(ws_a)))
