"""BERT's memory-bound share, measured by the A100 SXM 40 GB / 80 GB pair (issue 18, round stop-41). A diagnostic:
nothing here feeds the model.

    python scripts/bert_memory_share.py VALIDATION.json [--csv end_to_end.csv]

The two A100 SXM4 modules differ only in HBM (1,555 vs 2,039 GB/s, NVIDIA A100 datasheet; same 400 W, SMs, NVSwitch
and, since issue-56c, the same 25 GB/s NIC). Write one step as t = C + M / BW (C: time that does not scale with HBM
bandwidth, M: the bytes the step moves at HBM speed). A pair of rows of one (round, submitter, chip count) then gives

    M = (t40 - t80) / (1 / BW40 - 1 / BW80),   memory share of the 80 GB step  f = (M / BW80) / t80

for the measured steps (the row's minutes less the model's evaluation minutes, over samples / global batch steps) and
for the model's own steps (validation detail step_s). BW is the effective rate (nominal x the chip's eff_mem, the
same on both modules). M_measured - M_model is the bytes per step the model's step does not price (per chip; per
sample: over the per-chip batch). Pairs whose rows differ in per-chip batch are skipped (the step is not the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from board_pairs import pair_key, parser, read_inputs  # noqa: E402

A40, A80 = "NVIDIA A100-SXM-40GB", "NVIDIA A100-SXM-80GB"


def a100_rates() -> tuple[float, float, float]:
    """(HBM B/s of the 40 GB module, of the 80 GB module, eff_mem) from the catalog and its calibration (1,555 and
    2,039 GB/s: NVIDIA A100 datasheet, as the catalog carries them)."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params

    p40, p80 = (calibrated_params(get_chip(c), None) for c in ("a100-sxm-40gb", "a100-sxm"))
    return float(p40.mem_bw), float(p80.mem_bw), float(p80.eff_mem)


def implied_bytes(t40: float, t80: float, bw40: float, bw80: float) -> float:
    """Bytes per step M of t = C + M / BW from one step time on each bandwidth."""
    return (t40 - t80) / (1.0 / bw40 - 1.0 / bw80)


def step_times(row: dict) -> tuple[float, float, int] | None:
    """(measured step s, predicted step s, per-chip batch) of a validation row with its detail, or None."""
    d = row.get("detail") or {}
    if row.get("measured") is None or not d.get("step_s") or not d.get("samples_to_converge"):
        return None
    n = int(float(row["n_accelerators"]))
    steps = float(d["samples_to_converge"]) / (d["per_chip_batch"] * n)
    t_meas = (row["measured"] - (d.get("eval_min") or 0.0)) * 60.0 / steps
    return t_meas, float(d["step_s"]), int(d["per_chip_batch"])


def memory_pairs(rows: list[dict], csv_rows: list[dict], eff_mem: float) -> list[dict]:
    by_id = {r["id"]: r for r in csv_rows}
    cellsd: dict = {}
    for r in rows:
        c = by_id.get(r["id"])
        if c is None or r.get("benchmark") != "train-bert" or r["accelerator"] not in (A40, A80):
            continue
        st = step_times(r)
        if st is None:
            continue
        cellsd.setdefault(pair_key(c, r), {}).setdefault(r["accelerator"], []).append((st, r))
    out = []
    hbm40, hbm80, _ = a100_rates()
    bw40, bw80 = hbm40 * eff_mem, hbm80 * eff_mem
    for key, boards in sorted(cellsd.items()):
        if A40 not in boards or A80 not in boards:
            continue
        (m40, p40, b40), r40 = boards[A40][0]
        vals80 = boards[A80]
        if any(b != b40 for (_, _, b), _ in vals80):
            continue
        m80 = sum(s[0] for s, _ in vals80) / len(vals80)
        p80 = sum(s[1] for s, _ in vals80) / len(vals80)
        d80 = vals80[0][1]["detail"]
        mm, mp = implied_bytes(m40, m80, bw40, bw80), implied_bytes(p40, p80, bw40, bw80)
        out.append({"key": key, "per_chip_batch": b40, "t80_measured": m80, "t80_model": p80,
                    "share_measured": mm / bw80 / m80, "share_model": mp / bw80 / p80,
                    "bytes_measured": mm, "bytes_model": mp, "unpriced": mm - mp,
                    "split80": {k: d80.get(k, 0.0) for k in ("fwd_s", "bwd_s", "optimizer_s", "allreduce_s")},
                    "rows": [r40["id"]] + [r["id"] for _, r in vals80]})
    return out


def render(prs: list[dict]) -> str:
    out = ["| round | submitter | chips | per-chip batch | t80 meas ms | t80 model ms | share meas | share model | "
           "M meas GB | M model GB | unpriced GB/step | unpriced MB/sample | model 80 GB step fwd/bwd/opt/ar ms | rows |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in prs:
        _, rnd, _, _, sub, n = p["key"]
        s = p["split80"]
        out.append(f"| {rnd} | {sub} | {n} | {p['per_chip_batch']} | {1e3 * p['t80_measured']:.0f} | "
                   f"{1e3 * p['t80_model']:.0f} | {p['share_measured']:.2f} | {p['share_model']:.2f} | "
                   f"{p['bytes_measured'] / 1e9:.1f} | {p['bytes_model'] / 1e9:.1f} | {p['unpriced'] / 1e9:.1f} | "
                   f"{p['unpriced'] / 1e6 / p['per_chip_batch']:.0f} | "
                   f"{'/'.join(f'{1e3 * s[k]:.0f}' for k in ('fwd_s', 'bwd_s', 'optimizer_s', 'allreduce_s'))} | "
                   f"{' '.join(p['rows'])} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--eff-mem", type=float, default=None,
                    help="HBM efficiency of the effective rate (default: the A100 SXM calibration's eff_mem)")
    args = ap.parse_args(argv)
    inputs = read_inputs(args.validation_json, args.csv)
    if inputs is None:
        return 2
    eff = args.eff_mem if args.eff_mem is not None else a100_rates()[2]
    sys.stdout.write(render(memory_pairs(*inputs, eff)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
