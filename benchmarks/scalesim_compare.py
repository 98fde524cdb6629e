"""Cross-check perf/systolic.py against SCALE-Sim (PyPI `scalesim`) compute cycles for GEMMs on
weight-, output- and input-stationary arrays of a few shapes.

    python benchmarks/scalesim_compare.py [--python /path/to/venv/bin/python]

SCALE-Sim 3.0.0 pins numpy < 2.4, so it usually lives in its own venv:
    python -m venv /tmp/venv-scalesim && /tmp/venv-scalesim/bin/pip install scalesim "numpy<2.4"
The SCALE-Sim side runs in that interpreter (found from --python, $SCALESIM_PYTHON,
/tmp/venv-scalesim/bin/python, or this interpreter if it imports scalesim). It drives SCALE-Sim's
own dataflow engines (scalesim.compute.systolic_compute_{ws,os,is}) on the GEMM operand
matrices and reads the compute cycles as the rows of the demand matrix, the quantity SCALE-Sim
reports as compute cycles (its memory model adds stalls on top, none with enough bandwidth).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

CASES = [  # (M, N, K, rows, cols)
    (64, 64, 64, 16, 16),
    (100, 70, 50, 16, 16),
    (196, 384, 192, 32, 32),  # ViT-S layer 0 (peer note: SCALE-Sim 20,879 cycles WS 32x32)
    (128, 256, 96, 32, 16),
    (33, 129, 257, 64, 64),
    (512, 64, 128, 8, 32),
]
DATAFLOWS = ("ws", "os", "is")

SCALESIM_SIDE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from scalesim.scale_config import scale_config
    from scalesim.compute.systolic_compute_ws import systolic_compute_ws
    from scalesim.compute.systolic_compute_os import systolic_compute_os
    from scalesim.compute.systolic_compute_is import systolic_compute_is
    cases = json.loads(sys.argv[1])
    out = []
    for M, N, K, R, C, df in cases:
        cfg = scale_config()
        cfg.array_rows, cfg.array_cols, cfg.df = R, C, df
        cfg.sparsity_support = False
        cfg.sparsity_optimized_mapping = False
        cfg.valid_conf_flag = True
        ifm = np.arange(M * K).reshape(M, K)
        fil = np.arange(K * N).reshape(K, N) + 10_000_000
        ofm = np.arange(M * N).reshape(M, N) + 20_000_000
        eng = {"ws": systolic_compute_ws, "os": systolic_compute_os, "is": systolic_compute_is}[df]()
        eng.set_params(config_obj=cfg, ifmap_op_mat=ifm, filter_op_mat=fil, ofmap_op_mat=ofm)
        eng.create_demand_matrices()
        out.append(int(eng.get_ifmap_demand_mat().shape[0]))
    print(json.dumps(out))
""")


def find_python(arg: str | None) -> str | None:
    for cand in (arg, os.environ.get("SCALESIM_PYTHON"), "/tmp/venv-scalesim/bin/python", sys.executable):
        if not cand or not (Path(cand).exists() or shutil.which(cand)):
            continue
        ok = subprocess.run([cand, "-c", "import scalesim"], capture_output=True).returncode == 0
        if ok:
            return cand
    return None


def main(argv=None):
    from tapeout.perf.systolic import gemm_cycles

    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=None, help="interpreter with scalesim installed")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    cases = [(M, N, K, R, C, df) for (M, N, K, R, C) in CASES for df in DATAFLOWS]
    ours = [float(gemm_cycles(M, N, K, R, C, df)) for (M, N, K, R, C, df) in cases]
    py = find_python(a.python)
    if py is None:
        print("SCALE-Sim not found: python -m venv /tmp/venv-scalesim && /tmp/venv-scalesim/bin/pip install scalesim 'numpy<2.4'")
        theirs = [None] * len(cases)
    else:
        r = subprocess.run([py, "-c", SCALESIM_SIDE, json.dumps(cases)], capture_output=True, text=True)
        if r.returncode:
            print(r.stderr[-2000:])
            raise SystemExit("SCALE-Sim side failed")
        theirs = json.loads(r.stdout.strip().splitlines()[-1])
    rows = []
    for (M, N, K, R, C, df), o, t in zip(cases, ours, theirs):
        err = None if t is None else (o - t) / t
        rows.append({"M": M, "N": N, "K": K, "rows": R, "cols": C, "dataflow": df, "ours": o, "scalesim": t,
                     "rel_error": err})
    errs = [abs(r["rel_error"]) for r in rows if r["rel_error"] is not None]
    summary = {"cases": len(rows), "max_abs_rel_error": max(errs) if errs else None,
               "mean_abs_rel_error": sum(errs) / len(errs) if errs else None, "scalesim_python": py}
    if a.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
        return
    print(f"{'M':>5} {'N':>5} {'K':>5} {'array':>7} {'df':>3} {'ours':>9} {'SCALE-Sim':>10} {'error':>8}")
    for r in rows:
        e = "-" if r["rel_error"] is None else f"{100 * r['rel_error']:+.2f}%"
        t = "-" if r["scalesim"] is None else f"{r['scalesim']:.0f}"
        print(f"{r['M']:>5} {r['N']:>5} {r['K']:>5} {r['rows']:>3}x{r['cols']:<3} {r['dataflow']:>3} {r['ours']:>9.0f} {t:>10} {e:>8}")
    if errs:
        print(f"max |error| {100 * summary['max_abs_rel_error']:.2f}%, mean {100 * summary['mean_abs_rel_error']:.2f}% "
              f"over {len(errs)} GEMMs")


if __name__ == "__main__":
    main()
