"""Same-silicon rule: chips built from the same compute die, run at the same board power,
share their GEMM efficiency evidence.

A GEMM's achieved fraction of peak is set by the compute die (SM count, tensor-core tile
shapes, L2, clock under the power limit) and the library's kernels, not by the memory
stack beside it: H100-SXM and H200 are the same GH100 die (132 SMs, 814 mm2, 80 B
transistors) at the same 700 W and list the same dense peaks, and differ only in HBM
(3.35 vs 4.8 TB/s, NVIDIA datasheets in data/chips/specs.csv). A compute-bound GEMM sweep
measured on one therefore informs the other as much as the other's own rows do; a single
best-of-search row (MAMF) is one shape and inflates the efficiency of typical serving
shapes (docs/notes/issue-15.md "Deployment modelling").

The rule is read from catalog data only (die area, compute dies, dense peaks, TDP), so it
applies to chips never measured: an H800-SXM (same die, 700 W, same peaks) takes the pooled
Hopper-700 W evidence instead of the family mean; a GH200 (same die, 900 W module) or an
H100-PCIe (114 SMs, 350 W) does not match and keeps its own fit / family mean.
"""

from __future__ import annotations

SILICON_FIELDS = ("logic_die_area_mm2_total", "num_compute_dies", "bf16_tflops_dense", "fp8_tflops_dense",
                  "int8_tops_dense", "tdp_w")
REQUIRED = ("logic_die_area_mm2_total", "bf16_tflops_dense", "tdp_w")
REL_TOL = 0.01  # datasheets round the same peak differently (H100 989.4, H200 989.5 TFLOPS)


def silicon_key(chip) -> tuple | None:
    """(vendor, die area, dies, dense peaks, TDP) from the chip's own specs (no family defaults);
    None when die area, bf16 peak or TDP is not listed (no claim of identity without them)."""
    specs = getattr(chip, "specs", None)
    if not isinstance(specs, dict):  # a design point of the explorer, not a catalog chip
        return None
    vals = []
    for f in SILICON_FIELDS:
        s = specs.get(f)
        v = s.value if s is not None else None
        if not isinstance(v, (int, float)):
            if f in REQUIRED:
                return None
            v = None
        vals.append(None if v is None else float(v))
    return (str(getattr(chip, "family", "")).split("-")[0],) + tuple(vals)


def same_silicon(a: tuple | None, b: tuple | None) -> bool:
    """Both keys known, same vendor, every field listed on both within REL_TOL (a field one
    datasheet omits, e.g. the die count of an H800, does not separate them)."""
    if a is None or b is None or a[0] != b[0]:
        return False
    return all(x is None or y is None or abs(x - y) <= REL_TOL * max(abs(x), abs(y)) for x, y in zip(a[1:], b[1:]))


def pool_gemm_efficiency(entries: dict[str, dict], points: dict[str, dict[str, int]], key_of) -> dict[str, list[str]]:
    """In place: every fitted chip on the same silicon as another fitted chip gets, per dtype,
    the mean of the group's fitted eff_compute weighted by GEMM points of that dtype (one
    least-squares residual per measured GEMM, as a joint fit would weigh them).
    `points[chip][dtype]` = GEMM rows fitted; `key_of(chip_id)` = silicon_key or None. Returns
    {chip: group members} for the chips pooled (provenance, `same_silicon` in fitted.yaml)."""
    keys = {cid: key_of(cid) for cid, e in entries.items() if e.get("eff_compute")}
    groups = {cid: sorted(o for o in keys if same_silicon(keys[cid], keys[o])) for cid in keys}
    means = {}
    for cid, members in groups.items():
        if len(members) < 2:
            continue
        mean = {}
        for dt in {dt for m in members for dt in entries[m]["eff_compute"]}:
            w = [(points.get(m, {}).get(dt, 1), entries[m]["eff_compute"][dt]) for m in members
                 if dt in entries[m]["eff_compute"]]
            mean[dt] = round(sum(n * v for n, v in w) / sum(n for n, _ in w), 4)
        means[cid] = mean
    for cid, mean in means.items():  # after all means: pooling never feeds on a pooled value
        entries[cid]["eff_compute"] = {**entries[cid]["eff_compute"], **mean}
    return {cid: groups[cid] for cid in means}
