"""The same die on two boards: measured against predicted speed ratios of paired rows (issue 18, round stop-41).

    python scripts/board_pairs.py /work/prompts/s41/v_main.json [--csv end_to_end.csv] [--pool]

Two rows pair when they share (MLPerf round, benchmark, scenario, submitter, chip count) and sit on two boards
of the same die (BOARD_FAMILIES). Software stack, data pipeline and convergence are shared by such rows, so
their ratio cancels everything but the boards (power limit, HBM, scale-up link, host): the quotient
measured ratio / predicted ratio tests the model's board physics alone. `--pool` drops the submitter from the
key (every submitter's rows of that round, benchmark and chip count on the board pooled).

Speeds are compared, not the reported values: a time (minutes, latency) is inverted. Rows of one key on one
board (several systems of a submitter) are pooled by the geometric mean of their speeds, measured and predicted
alike. Ratios are board A / board B with B the earlier board of its family list (the reference); a quotient
below 1 means the model rates board A too fast against board B.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
END_TO_END = ROOT / "src" / "tapeout" / "data" / "measured" / "end_to_end.csv"

# boards carrying one die; the first board of a family is the reference (denominator) of its pairs.
# GA100: A100 SXM4 / PCIe in 80 and 40 GB, and the A30 (a GA100 with 56 SMs enabled, 24 GB HBM2, 165 W:
# NVIDIA A30 datasheet https://www.nvidia.com/content/dam/en-zz/Solutions/data-center/products/a30-gpu/pdf/
# a30-datasheet.pdf). GH100: H100 SXM5 / PCIe / NVL. L40 and L40S are AD102 boards of other dies' rows.
BOARD_FAMILIES = {
    "GA100": ["NVIDIA A100-SXM-80GB", "NVIDIA A100-SXM-40GB", "NVIDIA A100-PCIe-80GB", "NVIDIA A100-PCIe-40GB",
              "NVIDIA A30"],
    "GH100": ["NVIDIA H100-SXM", "NVIDIA H100-NVL", "NVIDIA H100-PCIe"],
    "AD102": ["NVIDIA L40", "NVIDIA L40S"],
}
_FAMILY_OF = {b: (fam, i) for fam, boards in BOARD_FAMILIES.items() for i, b in enumerate(boards)}


def _is_time(unit: str) -> bool:
    u = unit.strip().lower()
    return u in ("minutes", "ms", "s") or u.startswith("latency")


def speed(value: float, unit: str) -> float:
    """A reported value as a speed (higher is faster): times are inverted."""
    return 1.0 / value if _is_time(unit) else value


def notes_fields(notes: str) -> dict[str, str]:
    """`key=value; key=value` of an end_to_end.csv notes cell."""
    return {k.strip(): v.strip() for k, v in (kv.split("=", 1) for kv in notes.split("; ") if "=" in kv)}


def round_of(workload: str) -> str:
    m = re.search(r"\bv\d+\.\d+\b", workload)
    return m.group(0) if m else ""


def pair_key(csv_row: dict, json_row: dict, pool: bool = False) -> tuple:
    sub = "*" if pool else notes_fields(csv_row.get("notes", "")).get("submitter", "?")
    return (csv_row["category"], round_of(csv_row["workload"]), json_row["benchmark"], json_row["scenario"], sub,
            int(float(csv_row["n_accelerators"])))


def _gmean(xs: list[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def cells(validation_rows: list[dict], csv_rows: list[dict], pool: bool = False) -> dict:
    """{key: {board: (measured speed, predicted speed, [row ids])}} of the priced rows on a family board."""
    by_id = {r["id"]: r for r in csv_rows}
    acc: dict = defaultdict(lambda: defaultdict(list))
    for r in validation_rows:
        c = by_id.get(r["id"])
        if c is None or r.get("predicted") is None or r.get("measured") is None or r["accelerator"] not in _FAMILY_OF:
            continue
        if r["predicted"] <= 0 or r["measured"] <= 0:
            continue
        acc[pair_key(c, r, pool)][r["accelerator"]].append(
            (speed(r["measured"], r["unit"]), speed(r["predicted"], r["unit"]), r["id"]))
    return {k: {b: (_gmean([m for m, _, _ in v]), _gmean([p for _, p, _ in v]), [i for _, _, i in v])
                for b, v in boards.items()} for k, boards in acc.items()}


def pairs(validation_rows: list[dict], csv_rows: list[dict], pool: bool = False) -> list[dict]:
    """Every same-key pair of two boards of one die: measured and predicted speed ratios A / B, their quotient."""
    out = []
    for key, boards in sorted(cells(validation_rows, csv_rows, pool).items()):
        names = sorted(boards, key=lambda b: _FAMILY_OF[b][1])
        for j, a in enumerate(names):
            for b in names[:j]:
                if _FAMILY_OF[a][0] != _FAMILY_OF[b][0]:
                    continue
                (ma, pa, ia), (mb, pb, ib) = boards[a], boards[b]
                m, p = ma / mb, pa / pb
                out.append({"key": key, "board_a": a, "board_b": b, "measured_ratio": m, "predicted_ratio": p,
                            "quotient": m / p, "rows_a": ia, "rows_b": ib})
    return out


def summary(prs: list[dict]) -> list[dict]:
    """Median quotient per (board pair, benchmark)."""
    g: dict = defaultdict(list)
    for p in prs:
        g[(p["board_b"], p["board_a"], p["key"][2])].append(p)
    return [{"board_b": b, "board_a": a, "benchmark": bench, "n": len(v),
             "median_measured_ratio": _median([p["measured_ratio"] for p in v]),
             "median_predicted_ratio": _median([p["predicted_ratio"] for p in v]),
             "median_quotient": _median([p["quotient"] for p in v])}
            for (b, a, bench), v in sorted(g.items())]


def _short(board: str) -> str:
    return board.replace("NVIDIA ", "")


def render(prs: list[dict], summ: list[dict]) -> str:
    out = ["### Pairs (speed ratio board A / board B; quotient = measured / predicted, < 1: A rated too fast)", "",
           "| round | benchmark | scenario | submitter | chips | A | B | measured | predicted | quotient | rows A | rows B |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in prs:
        cat, rnd, bench, scen, sub, n = p["key"]
        out.append(f"| {rnd} | {bench} | {scen} | {sub} | {n} | {_short(p['board_a'])} | {_short(p['board_b'])} | "
                   f"{p['measured_ratio']:.3f} | {p['predicted_ratio']:.3f} | {p['quotient']:.3f} | "
                   f"{' '.join(p['rows_a'])} | {' '.join(p['rows_b'])} |")
    out += ["", "### Median quotient per (board pair, benchmark)", "",
            "| B (reference) | A | benchmark | pairs | median measured A/B | median predicted A/B | median quotient |",
            "|---|---|---|---|---|---|---|"]
    for s in summ:
        out.append(f"| {_short(s['board_b'])} | {_short(s['board_a'])} | {s['benchmark']} | {s['n']} | "
                   f"{s['median_measured_ratio']:.3f} | {s['median_predicted_ratio']:.3f} | {s['median_quotient']:.3f} |")
    return "\n".join(out) + "\n"


def read_inputs(validation_json: str, csv_path: str) -> tuple[list[dict], list[dict]] | None:
    """(validation rows, end_to_end.csv rows), or None after printing the one error that names the bad argument."""
    try:
        rows = json.loads(Path(validation_json).read_text())["rows"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"error: validation_json: cannot read rows from {validation_json} ({e}); pass the file "
              "`tapeout validate --json FILE` wrote (without --no-rows dropping the rows)", file=sys.stderr)
        return None
    try:
        with open(csv_path, newline="") as f:
            return rows, list(csv.DictReader(f))
    except OSError as e:
        print(f"error: --csv: cannot read {csv_path} ({e}); pass end_to_end.csv", file=sys.stderr)
        return None


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every pair script takes: the validation JSON and the measured rows."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("validation_json", help="a `tapeout validate --json` file (with rows)")
    ap.add_argument("--csv", default=str(END_TO_END), help="the measured rows (end_to_end.csv)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--pool", action="store_true", help="pair across submitters (submitter dropped from the key)")
    args = ap.parse_args(argv)
    inputs = read_inputs(args.validation_json, args.csv)
    if inputs is None:
        return 2
    prs = pairs(*inputs, args.pool)
    sys.stdout.write(render(prs, summary(prs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
