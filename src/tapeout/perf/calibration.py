"""Calibration: achieved fraction of peak, per chip, family or generic default.

Values come from data/calibration/fitted.yaml, written by `tapeout calibrate` (perf/fit.py)
from microbenchmarks only (data/measured/microbenchmarks.csv). Model code never holds a
fitted number. Look-up order for each field: the chip's own fit, its family's mean, the
generic mean of all fitted chips, then the documented defaults below. The per-kernel fixed time
(kernel_overhead_us, a CUDA-graph / stream replay gap) is a property of the vendor's driver and
command front end rather than of one architecture, so between family and generic it takes the
mean of the same vendor's fitted chips (families are named `vendor-arch`): an L40S inherits the
measured Hopper gap, not a cross-vendor mean that includes AMD's. The per-work-unit GEMM fixed
time (tile_overhead_us, perf/opcost.py) is looked up the same way but never from the
cross-vendor generic mean (a vendor's kernel libraries; without evidence it stays 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from ..errors import TapeoutError
from ..ops import PEAK_KEYS

# Used only when no microbenchmark of any chip informs a field (documented assumptions).
DEFAULTS = {
    "eff_compute": 0.75,  # typical best-shape GEMM fraction of dense peak (MAMF table median)
    "eff_mem": 0.80,  # STREAM-like fraction of HBM peak
    "eff_vector": 0.5,  # elementwise kernels rarely exceed half the FP32 vector peak
    "eff_link": 0.80,  # ring bus bandwidth / per-direction link bandwidth
    "kernel_overhead_us": 4.0,
    "scaleup_latency_us": 5.0,
    "sigma_log": 0.25,
    "eff_attention": 1.0,  # no attention-kernel data: attention runs at the GEMM efficiency
    "attn_bwd_factor": 1.0,
    "eff_moe": 1.0,  # no MoE-kernel data: grouped expert GEMMs run at the dense GEMM efficiency
    "tile_overhead_us": 0.0,  # no GEMM sweep with varied K: no per-work-unit fixed time
}
# A GEMM format without microbenchmarks of its own borrows the fit of the format with the same
# operand width when the chip lists the same matrix peak for both: the same bytes per FLOP through
# the same tensor-core data path (on Hopper cuBLAS runs INT8 on IGMMA and FP8 on QGMMA warpgroup
# MMA kernels, sm90_xmma_gemm_i8i32_* / *_e4m3*), so the same pipeline balance, unlike BF16's
# (half the math per byte). Otherwise the BF16 fit.
SAME_WIDTH = {"int8": "fp8", "fp8": "int8", "int4": "fp4", "fp4": "int4"}
FIELDS = ("eff_compute", "eff_mem", "eff_vector", "eff_link", "kernel_overhead_us", "scaleup_latency_us", "sigma_log",
          "eff_attention", "attn_bwd_factor", "eff_moe", "tile_overhead_us")


@dataclass
class Calibration:
    """Calibrated efficiencies for one chip, with where each came from."""

    chip_id: str
    eff_compute: dict[str, float] = field(default_factory=dict)  # per peak key
    eff_mem: float = DEFAULTS["eff_mem"]
    eff_vector: float = DEFAULTS["eff_vector"]
    eff_link: float = DEFAULTS["eff_link"]
    kernel_overhead_us: float | None = None
    scaleup_latency_us: float | None = None
    sigma_log: float = DEFAULTS["sigma_log"]
    eff_attention: float = DEFAULTS["eff_attention"]
    attn_bwd_factor: float = DEFAULTS["attn_bwd_factor"]
    eff_moe: float = DEFAULTS["eff_moe"]
    tile_overhead_us: float = DEFAULTS["tile_overhead_us"]
    origin: dict[str, str] = field(default_factory=dict)
    maturity: float = 1.0  # fraction of calibrated efficiency reached by the software stack
    # |ln(power density / the density the transfer law was held at)|: how far outside the law's fitted
    # range a borrowed GEMM efficiency was held (0 inside it, or with a fit of its own; _power_transfer)
    power_distance: float = 0.0
    # kernel-library ChipParams fields fitted on a measured kernel database (perf/kernel_calibration.py:
    # max_split_k, tile_k_overhead, attn_tile_k_overhead, attn_head_pack); only a chip's own entry
    # carries them, the shipped microbenchmark fit has none (ChipParams defaults: not modelled)
    kernel_library: dict[str, float] = field(default_factory=dict)

    def eff_compute_array(self, peaks=None) -> np.ndarray:
        """Per PEAK_KEYS entry; a format without a fit of its own takes its same-width twin's fit
        when the chip's peaks of the two are equal (`peaks`, FLOP/s per PEAK_KEYS), else BF16's."""
        base = self.eff_compute.get("bf16") or np.mean(list(self.eff_compute.values()) or [DEFAULTS["eff_compute"]])
        out = [self.eff_compute.get(self.fit_key(k, peaks), base) for k in PEAK_KEYS]
        return np.array(out) * self.maturity

    def fit_key(self, k: str, peaks=None) -> str:
        """The format whose fit the peak key `k` uses: its own, its same-width twin's (equal peaks),
        else bf16 (tapeout.format_prior scales a borrowed fit to the format's rate)."""
        if k in self.eff_compute:
            return k
        twin = SAME_WIDTH.get(k)
        if twin in self.eff_compute and peaks is not None:
            pk = np.asarray(peaks, dtype=float)
            mine, theirs = pk[PEAK_KEYS.index(k)], pk[PEAK_KEYS.index(twin)]
            if np.all(mine > 0) and np.allclose(mine, theirs, rtol=0.01):
                return twin
        return "bf16"

    def apply(self, p):
        changes = dict(
            eff_compute=self.eff_compute_array(p.peak_flops),
            eff_mem=self.eff_mem * min(1.0, 0.5 + 0.5 * self.maturity),
            eff_vector=self.eff_vector * self.maturity,
            eff_link=self.eff_link,
            eff_attention=self.eff_attention,
            attn_bwd_factor=self.attn_bwd_factor,
            eff_moe=self.eff_moe,
            tile_overhead=self.tile_overhead_us * 1e-6,
            calibration_source="; ".join(f"{k}: {v}" for k, v in sorted(self.origin.items())),
        )
        if self.kernel_overhead_us is not None:
            changes["kernel_overhead"] = self.kernel_overhead_us * 1e-6
        if self.scaleup_latency_us is not None:
            changes["scaleup_latency"] = self.scaleup_latency_us * 1e-6
        changes.update(self.kernel_library)
        return p.replace(**changes)

    def as_dict(self) -> dict:
        return {
            "chip_id": self.chip_id,
            "eff_compute": self.eff_compute,
            "eff_mem": self.eff_mem,
            "eff_vector": self.eff_vector,
            "eff_link": self.eff_link,
            "kernel_overhead_us": self.kernel_overhead_us,
            "scaleup_latency_us": self.scaleup_latency_us,
            "sigma_log": self.sigma_log,
            "eff_attention": self.eff_attention,
            "attn_bwd_factor": self.attn_bwd_factor,
            "eff_moe": self.eff_moe,
            "tile_overhead_us": self.tile_overhead_us,
            "origin": self.origin,
        } | ({"kernel_library": dict(self.kernel_library)} if self.kernel_library else {}) \
          | ({"power_distance": round(self.power_distance, 4)} if self.power_distance else {})


@lru_cache(maxsize=1)
def load_fitted() -> dict:
    path = resources.files("tapeout").joinpath("data", "calibration", "fitted.yaml")
    if not path.is_file():
        return {"chips": {}, "families": {}, "generic": {}}
    return yaml.safe_load(path.read_text())


def active_fitted(fitted: dict | None = None) -> dict:
    """The fit to use: `fitted` if given (e.g. a leave-one-chip-out refit), else the shipped file.
    A fit is passed explicitly down every call path; there is no module-global override."""
    return fitted if fitted is not None else load_fitted()


_KEYS: dict[int, tuple[dict, str]] = {}  # id -> (fit held alive, fingerprint): hashing is done once per fit


def calibration_key(fitted: dict | None = None) -> str:
    """A cache key for the fit in force: "shipped" for the file, else a content fingerprint
    (a fit is treated as immutable once passed in). Serving and training caches key on it."""
    if fitted is None:
        return "shipped"
    hit = _KEYS.get(id(fitted))
    if hit is None or hit[0] is not fitted:
        import hashlib
        import json

        if len(_KEYS) >= 16:
            _KEYS.pop(next(iter(_KEYS)))
        hit = _KEYS[id(fitted)] = (fitted, hashlib.sha1(json.dumps(fitted, sort_keys=True, default=str).encode()).hexdigest())
    return hit[1]


def calibrated_params(chip, fitted: dict | None = None, maturity: float = 1.0):
    """The chip's ChipParams with the calibration of `fitted` (None: the shipped fit) applied."""
    return chip.params(calibration_for(chip, fitted, maturity))


def engine_params(chip, fitted: dict | None = None):
    """calibrated_params of a chip a performance engine (serving, training, a workload) is about to price: refused in
    one line where a spec every op time or fit reads is not on file (hardware/params.require_perf_specs)."""
    from ..hardware.params import require_perf_specs

    p = calibrated_params(chip, fitted)
    require_perf_specs(chip, p)
    return p


VENDOR_FIELDS = ("kernel_overhead_us", "tile_overhead_us")
# fields never taken from the cross-vendor generic mean: the per-work-unit GEMM fixed time is a
# property of one vendor's kernel libraries and SM pipeline (no evidence -> the default, 0)
NO_GENERIC = ("tile_overhead_us",)
# Power-transfer law held at the edge of the densities it was fitted on (fit/power_transfer.py law_range)
# instead of extrapolated: a law fitted on data-centre GPU/accelerator pairs between ~0.44 and ~1.7
# W/TFLOPS says nothing about a graphics card's board power or an at-memory part's. On by construction
# (no extrapolation); its interval term is perf/novelty.py power_density. Measured: docs/notes/issue-24.md.
POWER_TRANSFER_HELD = True
BORROWED = ("family", "same silicon")  # origins of a fit taken from other chips (uncertainty: family level)


def vendor_means(fitted: dict, family: str) -> dict:
    """Mean of each VENDOR_FIELDS value over the fitted chips whose family shares the vendor prefix
    (or the fit's pinned `vendor_means`, which perf/kernel_calibration.py carries over from the
    microbenchmark fit so that a kernel-database chip does not move chips without kernels)."""
    pre = (family or "").split("-")[0]
    if pre in fitted.get("vendor_means", {}):
        return dict(fitted["vendor_means"][pre])
    out = {}
    for f in VENDOR_FIELDS:
        vals = [float(c[f]) for c in fitted.get("chips", {}).values()
                if pre and c.get(f) is not None and str(c.get("family", "")).split("-")[0] == pre]
        if vals:
            out[f] = float(np.mean(vals))
    return out


def calibration_for(chip, fitted: dict | None = None, maturity: float = 1.0) -> Calibration:
    fitted = active_fitted(fitted)
    own = fitted.get("chips", {}).get(getattr(chip, "calibration_id", chip.id), {})
    fam = fitted.get("families", {}).get(chip.family, {})
    gen = fitted.get("generic", {})
    vendor = vendor_means(fitted, chip.family)
    cal = Calibration(chip_id=chip.id, maturity=maturity)
    sibling = _same_silicon_fit(chip, fitted) if not own.get("eff_compute") else None
    for f in FIELDS:
        levels = [("chip fit", own), (f"family {chip.family} mean", fam)]
        if sibling and f == "eff_compute":  # same die at the same power (fit/same_silicon.py)
            levels.insert(1, (f"same silicon as {sibling[0]}", sibling[1]))
        if f in VENDOR_FIELDS:
            levels.append((f"vendor {chip.family.split('-')[0]} mean", vendor))
        for level, src in levels + ([] if f in NO_GENERIC else [("generic mean", gen)]):
            v = src.get(f)
            if v is None or v == {}:
                continue
            setattr(cal, f, dict(v) if isinstance(v, dict) else float(v))
            cal.origin[f] = level
            break
        else:
            if f == "eff_compute":
                cal.eff_compute = {"bf16": DEFAULTS["eff_compute"]}
            elif f in ("kernel_overhead_us", "scaleup_latency_us"):
                pass  # keep the chip-data default (family_defaults.yaml)
            else:
                setattr(cal, f, DEFAULTS[f])
            cal.origin[f] = "default"
    # a format the chip's own (or same-silicon) fit lacks: the family's measured ratio of that format
    # to BF16, on the chip's own BF16 level (_family_format_fill)
    own_eff = own.get("eff_compute") or (sibling[1]["eff_compute"] if sibling else None)
    if own_eff:
        cal.eff_compute = {**_family_format_fill(own_eff, fam), **own_eff}
    cal.kernel_library = {k: float(v) for k, v in (own.get("kernel_library") or {}).items()}
    origin = cal.origin.get("eff_compute", "")
    if origin.startswith(("family", "generic")):
        _power_transfer(cal, chip, fam if origin.startswith("family") else gen, fitted)
    elif origin == "chip fit" and getattr(chip, "nominal_tdp_w", None):
        _power_cap(cal, chip, fitted)
    return cal


def fallback_calibration_notes(chip, fitted: dict | None = None) -> list[str]:
    """The notes an answer carries where `chip`'s GEMM efficiency is no fit of its own, of its silicon or of its family
    (no chip of its family has microbenchmarks): the generic mean over the fitted families (or the default), which
    says nothing measured about this chip; and where its power-transfer factor was held at the edge of the law's
    fitted range (_power_transfer). Else none. `tapeout show` lists the same origin per field."""
    cal = calibration_for(chip, fitted)
    origin = cal.origin.get("eff_compute", "")
    notes = []
    if origin.startswith(("generic", "default")):
        notes.append(f"calibration: no {chip.family} chip has microbenchmarks, so {chip.id}'s efficiencies are the "
                     f"{origin} of other families' chips (perf/calibration.py; `tapeout show {chip.id}` lists each "
                     f"field's origin), not a measurement of this chip")
    if cal.power_distance > 0:
        notes.append(f"calibration: {chip.id}'s power per peak FLOP lies outside the densities the power-transfer law "
                     f"was fitted on, so its borrowed GEMM efficiency is held at the range's edge, not extrapolated "
                     f"(perf/calibration.py POWER_TRANSFER_HELD; eff_compute origin: {origin})")
    return notes


def _family_format_fill(own_eff: dict, fam: dict) -> dict:
    """Efficiencies of the formats a chip's own fit lacks: own BF16 x the family's mean ratio of that
    format to BF16 over the members that measured both (`format_ratio_to_bf16`, perf/fit/calibrate.py).
    Not the family's absolute fit: that was measured at the members' power budget per FLOP, and a
    power-limited board (H100-PCIe, 350 W) runs every format at the clock its own BF16 fit shows,
    not at the 700 W parts' level. An own fit without BF16 has no level to scale: it takes the
    family's absolute fit of the formats it lacks."""
    if "bf16" not in own_eff:
        return {dt: float(v) for dt, v in (fam.get("eff_compute") or {}).items() if dt not in own_eff}
    return {dt: float(own_eff["bf16"]) * float(r) for dt, r in (fam.get("format_ratio_to_bf16") or {}).items()
            if dt not in own_eff}


@lru_cache(maxsize=256)
def catalog_silicon_key(chip_id: str):
    from ..hardware.catalog import get_chip
    from .fit.same_silicon import silicon_key

    try:
        return silicon_key(get_chip(chip_id))
    except TapeoutError:
        return None


def _same_silicon_fit(chip, fitted: dict) -> tuple[str, dict] | None:
    """(chip id, fit) of a fitted chip with the same die, peaks and TDP, if any (the one with
    most GEMM sources): a never-measured H800-SXM or a held-out H100-SXM takes the H200 sweep."""
    from .fit.same_silicon import same_silicon, silicon_key

    key = silicon_key(chip)
    if key is None:
        return None
    hits = [(cid, e) for cid, e in fitted.get("chips", {}).items()
            if cid != chip.calibration_id and e.get("eff_compute") and same_silicon(catalog_silicon_key(cid), key)]
    if not hits:
        return None
    cid, e = max(hits, key=lambda h: len(h[1].get("sources", [])))
    return cid, {"eff_compute": e["eff_compute"]}


def _power_cap(cal: Calibration, chip, fitted: dict) -> None:
    """A chip's own fit measured at its nominal TDP, run at a lower power limit:
    eff x (limit / nominal)^gamma (the same transfer law, perf/fit.py fit_power_exponent)."""
    gamma = float((fitted.get("power_transfer") or {}).get("gamma") or 0.0)
    tdp = chip.get("tdp_w")
    if not gamma or not isinstance(tdp, (int, float)) or tdp >= chip.nominal_tdp_w:
        return
    factor = (float(tdp) / float(chip.nominal_tdp_w)) ** gamma
    cal.eff_compute = {dt: v * factor for dt, v in cal.eff_compute.items()}
    cal.origin["eff_compute"] += f" x power transfer {factor:.3f}"


def _power_transfer(cal: Calibration, chip, pool: dict, fitted: dict) -> None:
    """Scale a borrowed GEMM efficiency by the chip's power budget per peak FLOP relative to
    the pool it came from (perf/fit.py fit_power_exponent: eff x (pd_chip/pd_pool)^gamma,
    capped at the pool's best own-fit efficiency). Chips without TDP/peak data are unchanged.
    With POWER_TRANSFER_HELD a density outside the law's fitted range (fit/power_transfer.py
    law_range) is held at the range's edge, the origin says so, and cal.power_distance keeps
    |ln(pd / held pd)| for the interval (perf/novelty.py power_density term)."""
    from .fit.power_transfer import held_density, law_range, power_density

    gamma = float((fitted.get("power_transfer") or {}).get("gamma") or 0.0)
    ref = pool.get("power_density_w_per_tflops")
    pd = power_density(chip)
    if not gamma or not ref or not pd:
        return
    rng = law_range(pool, fitted) if POWER_TRANSFER_HELD else None
    used = held_density(pd, rng)
    factor = (used / float(ref)) ** gamma
    cap = pool.get("eff_compute_max", {})
    cal.eff_compute = {dt: min(v * factor, float(cap.get(dt, max(cap.values(), default=v * factor))))
                       for dt, v in cal.eff_compute.items()}
    cal.origin["eff_compute"] += f" x power transfer {factor:.3f}"
    if used != pd:
        cal.power_distance = abs(math.log(pd / used))
        cal.origin["eff_compute"] += (f" (held at {used:.3g} W/TFLOPS: {chip.id}'s {pd:.3g} lies outside the "
                                      f"{rng[0]:.3g}..{rng[1]:.3g} the law was fitted on)")
