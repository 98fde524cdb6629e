"""Evaluate one study workload on one catalog chip: throughput per chip, power, latency,
what bounds it, and the cost per unit of work (TCO), in the workload's own units."""

from __future__ import annotations

import math

import numpy as np

from ..errors import TapeoutError
from ..hardware.catalog import Chip
from .schema import WorkloadSpec

# what a traffic unit costs are quoted per (label, units)
COST_PER = {"tokens": ("per 1M tokens", 1e6), "queries": ("per 1k queries", 1e3), "clips": ("per clip", 1.0),
            "images": ("per 1k images", 1e3), "audio_s": ("per audio hour", 3600.0), "samples": ("per 1k samples", 1e3)}


def chip_price_usd(chip: Chip) -> tuple[float, str]:
    """Purchase price (published estimate) or, failing that, modelled unit cost x 2 (a
    merchant-silicon gross margin of ~50%, assumption)."""
    p = chip.get("price_usd")
    if isinstance(p, float) and p > 0:
        return p, chip.source_of("price_usd")
    try:
        from ..econ.summary import chip_cost_stack

        stack = chip_cost_stack(chip)
        return 2.0 * float(stack["total"]), "modelled unit cost x 2 (assumed 50% gross margin)"
    except Exception as e:  # noqa: BLE001
        raise TapeoutError(f"no price for {chip.id}: {e}") from None


def _precision_for(chip: Chip, wanted: str) -> tuple[str, str | None]:
    """The requested precision if the chip supports it, else the closest it has."""
    from ..precision import COMPUTE_PEAK_FIELD, get_precision

    key = COMPUTE_PEAK_FIELD.get(get_precision(wanted).compute, "bf16")
    if chip.supports(key):
        return wanted, None
    for alt in ("fp8", "int8", "bf16", "fp16"):
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
        n = int(pp.pop("num_chips", chips_per_node))
        r = serve(w.model, chip, n, prec, int(pp.pop("input_len", 1024)), int(pp.pop("output_len", 256)),
                  kv_precision=pp.pop("kv_precision", None), max_tpot_s=w.slo.tpot_s, max_ttft_s=w.slo.ttft_s, params=params, **pp)
        out.update(units_per_s_per_chip=r.output_tokens_per_s_per_chip, power_w=r.power_w_per_chip, latency_s=r.tpot_s,
                   ttft_s=r.ttft_s, bound=r.bound, config=f"{r.parallelism}, batch {r.batch_size}, {r.precision}")
        out["_graph"] = ("llm", w.model, prec, r)
    elif kind == "llm-training":
        from ..perf.training import train  # cluster-scale training model

        pp = dict(w.params)
        r = train(w.model, chip, num_chips=int(pp.pop("num_chips", 1024)), global_batch_tokens=int(pp.pop("global_batch_tokens", 4 * 2**20)),
                  seq_len=int(pp.pop("seq_len", 4096)), precision=prec, **pp)
        d = r if isinstance(r, dict) else r.as_dict()
        out.update(units_per_s_per_chip=d["tokens_per_s"] / d.get("num_chips", 1), power_w=d.get("power_w_per_chip"),
                   latency_s=d["step_time_s"], bound=d.get("bound", "compute"), config=f"{d['parallelism']}, MFU {d['mfu']:.2f}")
    else:
        from ..workloads.catalog import workload_throughput

        d = workload_throughput(w.model, params if params is not None else chip, precision=prec, slo=w.slo.model_dump(exclude_none=True), **w.params)
        out.update(units_per_s_per_chip=d["units_per_s"], power_w=d.get("power_w"), latency_s=d.get("latency_s"),
                   bound=d.get("bound"), config=d.get("config", ""))
        if d.get("unit") and d["unit"] != unit:
            notes.append(f"model reports {d['unit']}; traffic in {unit}")
    ups = float(out["units_per_s_per_chip"])
    if not (ups > 0 and math.isfinite(ups)):
        raise TapeoutError(f"{w.name} on {chip.id}: no throughput")
    power = float(out.get("power_w") or chip.get("tdp_w", 700.0))
    power = min(power, float(chip.get("tdp_w", power)))
    out["power_w"] = power
    price, price_src = chip_price_usd(chip)
    from ..econ.tco import tco_per_chip_year

    tco = tco_per_chip_year(price, power)
    label, per = COST_PER[unit]
    out["cost_per_unit_usd"] = float(tco["total_per_year"]) / (ups * 3.15576e7) * per
    out["cost_unit"] = label
    out["chips_needed"] = int(math.ceil(demand / ups))
    out["fleet_tco_usd_per_year"] = out["chips_needed"] * float(tco["total_per_year"])
    out["units_per_joule"] = ups / power
    out["price_usd"] = price
    out["price_source"] = price_src
    out["error"] = "; ".join(notes) if notes else ""
    return out


def safe_evaluate(w: WorkloadSpec, chip: Chip, chips_per_node: int = 8) -> dict:
    """evaluate(), with an unservable combination recorded as a row with the reason."""
    try:
        return evaluate(w, chip, chips_per_node)
    except (TapeoutError, ImportError, KeyError, ValueError) as e:
        return {"workload": w.name, "chip": chip.id, "unit": w.traffic.demand()[0], "units_per_s_per_chip": None,
                "error": str(e).splitlines()[0][:300]}


def geo_mean(xs: list[float], ws: list[float]) -> float:
    xs_a, ws_a = np.asarray(xs, float), np.asarray(ws, float)
    return float(np.exp(np.sum(ws_a * np.log(xs_a)) / np.sum(ws_a)))
