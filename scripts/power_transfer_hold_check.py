"""Check of perf/calibration.py POWER_TRANSFER_HELD on microbenchmarks only (docs/notes/issue-24.md, round stop-41,
issue-58a): leave-one-chip-out on microbenchmarks: a fitted chip held out borrows its family's (or the generic) fit via the
power-transfer law; compare its held-out eff with its own fit, law extrapolated (off) vs held (on).

    PYTHONPATH=src python scripts/power_transfer_hold_check.py
"""
import math
from tapeout.hardware.catalog import get_chip
from tapeout.perf import calibration
from tapeout.perf.calibration import calibration_for, load_fitted
from tapeout.perf.fit import fit_all
from tapeout.perf.fit.power_transfer import power_density
full = load_fitted()
print(f"{'chip':11} {'pd':>6} {'dt':5} {'own':>6} {'off':>6} {'on':>6} {'lnerr_off':>9} {'lnerr_on':>9} origin_on")
eo, en = [], []
for cid, e in full["chips"].items():
    if not e.get("eff_compute"): continue
    chip = get_chip(cid)
    f = fit_all(exclude=cid, uncertainty=False)
    calibration.POWER_TRANSFER_HELD = False; off = calibration_for(chip, f)
    calibration.POWER_TRANSFER_HELD = True; on = calibration_for(chip, f)
    if off.eff_compute == on.eff_compute and "held" not in on.origin["eff_compute"]:
        continue
    for dt, v in e["eff_compute"].items():
        if dt in on.eff_compute:
            a, b = math.log(off.eff_compute[dt] / v), math.log(on.eff_compute[dt] / v)
            eo.append(a); en.append(b)
            print(f"{cid:11} {power_density(chip):6.3f} {dt:5} {v:6.3f} {off.eff_compute[dt]:6.3f} {on.eff_compute[dt]:6.3f} {a:9.3f} {b:9.3f} {on.origin['eff_compute']}")
rms = lambda x: math.sqrt(sum(t * t for t in x) / len(x)) if x else float('nan')
print(f"n={len(eo)} rms ln err: extrapolated {rms(eo):.4f}  held {rms(en):.4f}")
# 80% coverage of the held-out errors by the family-level compute sigma, with and without the power_density term
from tapeout.perf.novelty import load_novelty
from tapeout.perf.uncertainty import Z80
k = load_novelty()["power_density"]["sigma_per_log_distance"]; s0 = full["uncertainty"]["compute"]["family"]["sigma"]
rows = []
for cid, e in full["chips"].items():
    if not e.get("eff_compute"): continue
    chip = get_chip(cid); f = fit_all(exclude=cid, uncertainty=False); on = calibration_for(chip, f)
    if on.power_distance <= 0: continue
    for dt, v in e["eff_compute"].items():
        if dt in on.eff_compute:
            err = abs(math.log(on.eff_compute[dt] / v)); d = on.power_distance
            rows.append((cid, dt, round(err, 3), round(d, 3), err <= Z80 * s0, err <= Z80 * math.hypot(s0, k * d)))
for r in rows: print(r)
print("inside without term", sum(r[4] for r in rows), "with term", sum(r[5] for r in rows), "of", len(rows))
