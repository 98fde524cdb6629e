"""LLM training rows' signed error against scale: chips, nodes, DP, PP x VP, micro-batches per replica m, and the
step's schedule terms (perf/step_terms.py) from a `tapeout validate --json` file.

    tapeout validate --no-rows --data llm_rows.csv --json v.json   # the LLM training rows (~15 s)
    python scripts/train_error_vs_scale.py v.json

Table 1: every predicted row, grouped by (benchmark, accelerator, stack, TP / PP / VP / CP), chips ascending.
Table 2 (a diagnosis of the residual, nothing here feeds the model): within a group whose rows share one layout
and differ in m, each row's step as measured is implied by scaling the predicted step by measured / predicted
time to train (the evaluation share is the model's); a step is a (F + B) + b, with a the per-micro-batch work and b
what is paid once per step (bubble, exposed PP / DP, optimizer). From the group's smallest and largest m: a and b
as measured (implied) and as priced. b_meas / b_model above a_meas / a_model says the part that grows with scale
(the once-per-step part) is missing more than the per-micro-batch work is.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

E2E = Path(__file__).resolve().parents[1] / "src/tapeout/data/measured/end_to_end.csv"


def layout(par: str) -> dict:
    g = {k: int(v) for k, v in re.findall(r"\b(TP|PP|DP|CP|EP)(\d+)", par)}
    v = re.search(r"PP\d+\(v(\d+)\)", par)
    return {"TP": g.get("TP", 1), "PP": g.get("PP", 1), "VP": int(v.group(1)) if v else 1, "CP": g.get("CP", 1),
            "DP": g.get("DP", 1)}


def nodes(notes: str, chips: int) -> int | None:
    n = re.search(r"\bnodes=(\d+)", notes)
    return int(n.group(1)) if n else None


def rows(path: str) -> list[dict]:
    notes = {r["id"]: r["notes"] for r in csv.DictReader(E2E.open())}
    out = []
    for r in json.load(open(path))["rows"]:
        d = r.get("detail") or {}
        if r.get("mapper") != "llm_training" or r.get("error_pct") is None or "step_terms" not in d:
            continue
        n = int(float(r["n_accelerators"]))
        t, step = d["step_terms"], float(d["step_s"])
        once = step - t["compute"]
        out.append({"id": r["id"], "bench": r["benchmark"], "acc": r["accelerator"], "stack": d.get("stack", ""), "n": n,
                    "nodes": nodes(notes.get(r["id"], ""), n), "lay": layout(d.get("parallelism", "")), "m": t["m"],
                    "err": r["error_pct"], "ratio": r["measured"] / r["predicted"], "step": step, "t": t,
                    "once": once, "eval_share": d.get("eval_min", 0.0) / r["predicted"] if r["predicted"] else 0.0})
    return out


def split(lo: dict, hi: dict) -> tuple[float, float, float, float]:
    """(a priced, a implied, b priced, b implied) from two rows of one layout at m_lo < m_hi: step = a m + b, the
    implied measured step being the predicted step x measured / predicted time to train (eval share as priced)."""
    meas_lo, meas_hi = lo["step"] * lo["ratio"], hi["step"] * hi["ratio"]
    a_mod = (hi["step"] - lo["step"]) / (hi["m"] - lo["m"])
    a_meas = (meas_hi - meas_lo) / (hi["m"] - lo["m"])
    return a_mod, a_meas, lo["step"] - a_mod * lo["m"], meas_lo - a_meas * lo["m"]


def group_key(r: dict) -> tuple:
    g = r["lay"]
    return (r["bench"], r["acc"], r["stack"], f"TP{g['TP']} PP{g['PP']} v{g['VP']} CP{g['CP']}")


def main(path: str) -> None:
    rs = rows(path)
    if not rs:
        sys.exit(f"{path}: no LLM training row with detail.step_terms (a validate json written before perf/step_terms; "
                 f"rerun tapeout validate on this tree)")
    groups = defaultdict(list)
    for r in rs:
        groups[group_key(r)].append(r)
    print("| group | row | chips | nodes | DP | m | signed err % | step s | bubble % | PP sends % | DP % | once/step % | eval % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in sorted(groups):
        for r in sorted(groups[k], key=lambda r: (r["n"], r["id"])):
            t, s = r["t"], r["step"]
            print(f"| {' / '.join(k)} | {r['id']} | {r['n']} | {r['nodes'] or '-'} | {r['lay']['DP']} | {r['m']:.0f} | "
                  f"{r['err']:+.1f} | {s:.3f} | {100 * t['bubble'] / s:.1f} | {100 * t['pp_sends'] / s:.1f} | "
                  f"{100 * t['dp'] / s:.1f} | {100 * r['once'] / s:.1f} | {100 * r['eval_share']:.1f} |")
    print()
    print("| group | m (rows) | signed err % at m max -> m min | a model / a meas (s) | b model / b meas (s) | "
          "a meas / model | b meas / model |")
    print("|---|---|---|---|---|---|---|")
    for k in sorted(groups):
        g = groups[k]
        # the smallest- and the largest-m row, ties to the fewest chips (then the row id)
        lo = min(g, key=lambda r: (r["m"], r["n"], r["id"]))
        hi = min(g, key=lambda r: (-r["m"], r["n"], r["id"]))
        if hi["m"] == lo["m"]:
            continue
        a_mod, a_meas, b_mod, b_meas = split(lo, hi)
        ms = ", ".join(f"{r['m']:.0f}" for r in sorted(g, key=lambda r: -r["m"]))
        print(f"| {' / '.join(k)} | {ms} | {hi['err']:+.1f} -> {lo['err']:+.1f} | {a_mod:.4f} / {a_meas:.4f} | "
              f"{b_mod:.3f} / {b_meas:.3f} | {a_meas / a_mod:.2f} | {b_meas / b_mod:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/validation.json")
