"""Power transfer: a borrowed GEMM efficiency scales with the chip's power budget per peak FLOP,
eff x (pd_chip / pd_pool)^gamma, gamma fitted across chips (fit_power_exponent).

The law is measured only between the power densities of the chips it was fitted on: the same-silicon
pairs that give gamma (fitted.yaml power_transfer.pairs) and the pool members whose efficiencies give
its level (law_range). Outside them it says nothing (perf/calibration.py POWER_TRANSFER_HELD). On
physics: the law describes a matrix-unit-bound chip whose clock is held down by its power limit, so
more watts per peak FLOP buy clock back. A graphics card's board power also feeds display, raster
and large vector engines (RX 7900 XTX, 2.9 W/TFLOPS; RTX 4090), so its W/TFLOPS overstates the
budget left to the matrix units; an at-memory or dataflow part (speedAI240, 0.07 W/TFLOPS;
Cerebras WSE-3) has a data path whose efficiency is not set by W/TFLOPS at all. Neither is the
chip the law was fitted on.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ...hardware.catalog import get_chip


def power_density(chip) -> float | None:
    """TDP watts per dense BF16 (else FP16) peak TFLOP/s; None without both numbers."""
    try:
        tdp = chip.get("tdp_w")
        pk = chip.peak_tflops("bf16") or chip.peak_tflops("fp16")
    except AttributeError:
        return None
    if not isinstance(tdp, (int, float)) or not tdp or not pk:
        return None
    return float(tdp) / float(pk)


@lru_cache(maxsize=512)
def catalog_power_density(chip_id: str) -> float | None:
    """power_density of a catalog chip by id (None off catalog or without the numbers)."""
    from ...errors import TapeoutError

    try:
        return power_density(get_chip(chip_id))
    except TapeoutError:
        return None


def law_range(pool: dict, fitted: dict) -> tuple[float, float] | None:
    """(lowest, highest) power density, W per TFLOP/s, the transfer from `pool` was fitted on: the
    chips of gamma's same-silicon pairs (fitted['power_transfer']['pairs']) and the pool's members
    with a GEMM fit of their own (the efficiencies that set its level). None without any."""
    pds = [float(x) for p in (fitted.get("power_transfer") or {}).get("pairs", []) for x in p.get("power_density", [])]
    chips = fitted.get("chips", {})
    for m in pool.get("members", []):
        if not str(m).startswith("~") and (chips.get(m) or {}).get("eff_compute"):
            pd = catalog_power_density(m)
            if pd:
                pds.append(pd)
    pds = [x for x in pds if x > 0]
    return (min(pds), max(pds)) if pds else None


def held_density(pd: float, rng: tuple[float, float] | None) -> float:
    """`pd` held inside the fitted range `rng` (unchanged inside it or without a range)."""
    return pd if rng is None else min(max(pd, rng[0]), rng[1])


def pool_power(members: list[str], chips: dict) -> dict:
    """Geometric-mean power density of a pool's fitted catalog chips, and its best
    efficiency per dtype (the cap of any transfer)."""
    pds, best = [], {}
    for m in members:
        e = chips.get(m, {})
        if not e.get("eff_compute") or m.startswith("~"):
            continue
        pd = power_density(get_chip(m))
        if pd:
            pds.append(math.log(pd))
        for dt, v in e["eff_compute"].items():
            best[dt] = max(best.get(dt, 0.0), float(v))
    out: dict = {}
    if pds:
        out["power_density_w_per_tflops"] = round(math.exp(float(np.mean(pds))), 4)
    if best:
        out["eff_compute_max"] = {k: round(v, 4) for k, v in best.items()}
    return out


def fit_power_exponent(chips: dict) -> dict:
    """gamma from pairs of fitted chips on the same silicon (same family, same core count and
    dense BF16 peak per core) with different power density: gamma = ln(eff_a/eff_b) /
    ln(pd_a/pd_b) per shared dtype, averaged; clipped to [0, 1/3] (f ~ P^(1/3) bound)."""
    ids = [c for c in chips if chips[c].get("eff_compute")]
    pairs, gammas = [], []
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            ca, cb = get_chip(a), get_chip(b)
            if ca.family != cb.family or ca.get("num_cores") != cb.get("num_cores"):
                continue
            ka, kb = (c.peak_tflops("bf16") or c.peak_tflops("fp16") for c in (ca, cb))
            if not ka or not kb or abs(ka / kb - 1.0) > 0.02:  # same clocks on paper: same silicon config
                continue
            pa, pb = power_density(ca), power_density(cb)
            if not pa or not pb or abs(math.log(pa / pb)) < 0.05:
                continue
            for dt in sorted(set(chips[a]["eff_compute"]) & set(chips[b]["eff_compute"])):
                g = math.log(chips[a]["eff_compute"][dt] / chips[b]["eff_compute"][dt]) / math.log(pa / pb)
                gammas.append(g)
                pairs.append({"chips": [a, b], "dtype": dt, "power_density": [round(pa, 4), round(pb, 4)],
                              "gamma": round(g, 4)})
    gamma = float(np.clip(np.mean(gammas), 0.0, 1.0 / 3.0)) if gammas else 0.0
    se = float(np.std(gammas, ddof=1) / math.sqrt(len(gammas))) if len(gammas) > 1 else None
    return {"gamma": round(gamma, 4), "gamma_std_error": round(se, 4) if se is not None else None, "pairs": pairs,
            "method": "same-silicon pairs of fitted chips (perf/fit.py fit_power_exponent); gamma=0 when none"}
