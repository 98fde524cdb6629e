"""The LLM training step gap split into a per-micro-batch factor and a per-step fixed extra, per software stack, read
from `tapeout validate --json` (issue 18, round stop-42). A diagnostic: nothing here feeds the model.

    tapeout validate --no-rows --json v.json
    python scripts/llm_step_gap.py v.json [more.json ...] [--rows]

Per LLM training row with a step breakdown (detail.step_terms, perf/step_terms.py) the step its measurement implies,
model-free but for the modelled evaluation time (train_step_gap.implied_step_s):

    steps    = train_min x 60 / step_s                 (= samples_to_converge / global batch, the model's own count)
    implied  = (measured minutes / rcp_scaling_factor - eval_min) x 60 / steps

and the modelled step split into the part that scales with the per-micro-batch work and the rest:

    W = compute + bubble          m (F + B) + (p - 1) / v (F + B): both are multiples of one micro-batch's F + B
    R = step_s - W                exposed PP sends + DP + optimizer + other: paid once per step

Over the rows of one (stack, benchmark, chip) group the least-squares line

    implied - R = k x W + F

gives k (how much longer each micro-batch's work runs than modelled) and F (what each step adds beyond the model's
own fixed terms). Its spread: the leave-one-out range of k and F (each row dropped in turn, where two distinct W
remain) and the rows' residuals. The one-parameter reading F = 0 (implied - R = k0 x W: a pure per-micro-batch gap)
is shown beside it with its residuals, so the two readings can be told apart. A group needs two distinct W
(micro-batch counts or layouts) to split; the rest are listed unsplit.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step_gap import implied_step_s, pooled_rows  # noqa: E402


def row_split(row: dict) -> dict | None:
    """One LLM training row's implied step and its modelled per-micro-batch / fixed parts (s), or None where the row
    has no step breakdown."""
    det = row.get("detail") or {}
    st = det.get("step_terms")
    if row.get("skipped") or row.get("predicted") is None or not st or not det.get("train_min") or not det.get("step_s"):
        return None
    step = float(det["step_s"])
    steps = float(det["train_min"]) * 60.0 / step
    per_mb = float(st["compute"]) + float(st["bubble"])
    return {"id": row["id"], "bench": row.get("benchmark"), "chip": row.get("accelerator"), "n": int(row["n_accelerators"]),
            "stack": det.get("stack"), "layout": det.get("parallelism"), "m": float(st["m"]), "step": step,
            "implied": implied_step_s(row, steps), "W": per_mb, "R": step - per_mb, "error_pct": row.get("error_pct")}


def line_fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares (k, F) of y = k x + F; None with fewer than two distinct x."""
    n = len(xs)
    if n < 2 or max(xs) - min(xs) <= 1e-12 * max(1.0, max(abs(x) for x in xs)):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    k = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return k, my - k * mx


def origin_fit(xs: list[float], ys: list[float]) -> float:
    """Least-squares k0 of y = k0 x (no intercept)."""
    return sum(x * y for x, y in zip(xs, ys)) / sum(x * x for x in xs)


def split_group(rows: list[dict]) -> dict | None:
    """The group's split: k, F, their leave-one-out ranges, per-row residuals of both readings; None if unsplittable."""
    xs, ys = [r["W"] for r in rows], [r["implied"] - r["R"] for r in rows]
    fit = line_fit(xs, ys)
    if fit is None:
        return None
    k, F = fit
    loo = [f for i in range(len(rows)) if (f := line_fit(xs[:i] + xs[i + 1:], ys[:i] + ys[i + 1:])) is not None]
    k0 = origin_fit(xs, ys)
    res = [y - (k * x + F) for x, y in zip(xs, ys)]
    res0 = [y - k0 * x for x, y in zip(xs, ys)]
    return {"k": k, "F": F, "k_range": (min(f[0] for f in loo), max(f[0] for f in loo)) if loo else (k, k),
            "F_range": (min(f[1] for f in loo), max(f[1] for f in loo)) if loo else (F, F),
            "rms": math.sqrt(sum(e * e for e in res) / len(res)), "k0": k0,
            "rms0": math.sqrt(sum(e * e for e in res0) / len(res0)), "residuals": res, "residuals0": res0}


def groups_of(rows: list[dict]) -> dict:
    g = defaultdict(list)
    for r in rows:
        g[(r["stack"], r["bench"], r["chip"])].append(r)
    return {k: sorted(v, key=lambda r: (r["W"], r["n"])) for k, v in sorted(g.items(), key=lambda kv: str(kv[0]))}


def report(doc: dict, show_rows: bool = False) -> str:
    rows = [s for r in doc["rows"] if (s := row_split(r))]
    if not rows:
        return "no LLM training rows with a step breakdown\n"
    out = [f"## LLM training step gap: per-micro-batch factor k and per-step fixed extra F ({len(rows)} rows)", "",
           "implied - R = k x W + F over each (stack, benchmark, chip) group; W = modelled m (F + B) + bubble, R = the "
           "modelled step's other terms (s). LOO: leave-one-out range. k0: the fit with F = 0.", "",
           "| stack | benchmark | chip | rows | distinct m | k | k LOO | F s | F LOO s | rms s | k0 (F=0) | rms s (F=0) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    unsplit = []
    fits = {}
    for key, g in groups_of(rows).items():
        s = split_group(g)
        if s is None:
            unsplit.append((key, g))
            continue
        fits[key] = s
        ms = sorted({int(r["m"]) for r in g})
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {len(g)} | {', '.join(map(str, ms))} | {s['k']:.3f} | "
                   f"{s['k_range'][0]:.3f}..{s['k_range'][1]:.3f} | {s['F']:.3f} | {s['F_range'][0]:.3f}..{s['F_range'][1]:.3f} "
                   f"| {s['rms']:.3f} | {s['k0']:.3f} | {s['rms0']:.3f} |")
    out += ["", "Groups that cannot be split (one modelled per-micro-batch work W): implied / modelled step", "",
            "| stack | benchmark | chip | rows | m | implied / step |", "|---|---|---|---|---|---|"]
    for key, g in unsplit:
        ratio = ", ".join(f"{r['implied'] / r['step']:.3f}" for r in g)
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {len(g)} | {', '.join(sorted({str(int(r['m'])) for r in g}))} | "
                   f"{ratio} |")
    out.append("")
    if show_rows:
        out += ["### Rows of the split groups", "",
                "| id | stack | chips | layout | m | step s | implied s | W s | R s | (k-1) W s | F s | residual s | "
                "residual s (F=0) | error % |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, s in fits.items():
            for r, e, e0 in zip(groups_of(rows)[key], s["residuals"], s["residuals0"]):
                out.append(f"| {r['id']} | {r['stack']} | {r['n']} | {r['layout']} | {int(r['m'])} | {r['step']:.3f} | "
                           f"{r['implied']:.3f} | {r['W']:.3f} | {r['R']:.3f} | {(s['k'] - 1.0) * r['W']:.3f} | {s['F']:.3f} | "
                           f"{e:+.3f} | {e0:+.3f} | {r['error_pct']:+.1f} |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json", nargs="+", help="the file(s) `tapeout validate --json` wrote (subset runs: their rows are pooled)")
    ap.add_argument("--rows", action="store_true", help="also list every row of the split groups")
    a = ap.parse_args(argv)
    print(report({"rows": pooled_rows(a.json)}, a.rows))


if __name__ == "__main__":
    main()
