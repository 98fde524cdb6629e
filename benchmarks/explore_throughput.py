"""Design-workload evaluations per second of the explorer on one core, and ZigZag's time for one
design on one layer of the same mix.

    python benchmarks/explore_throughput.py [--designs 65536] [--chunk 8192] [--no-zigzag]

One design-workload evaluation = one NPU design x one workload graph of the 6-workload mix of
studies/spaces/npu_5nm.yaml (area, power, cost, export class, every op's time and energy,
the mix metrics and constraints included). Target: >= 1e5 per second on one core.
ZigZag (PyPI zigzag-dse) maps one GEMM of that mix (the first prefill projection) onto its
shipped 32x32 `tpu_like` accelerator with the LOMA search (lpf_limit 6, its default-like
setting); the ratio is ZigZag seconds per design-layer / ours. Absent ZigZag is reported, not
an error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "studies" / "spaces" / "npu_5nm.yaml"


def ours(n_designs: int, chunk: int) -> dict:
    from tapeout.explore.objectives import Evaluator
    from tapeout.explore.search import grid_design
    from tapeout.explore.npu import complete
    from tapeout.explore.space import load_space

    sp = load_space(SPACE)
    ev = Evaluator(sp)
    chunks, got, a = [], 0, 0
    while got < n_designs:  # walk the grid (wrapping) in chunks of `chunk` designs
        b = min(a + chunk, sp.size, a + n_designs - got)
        chunks.append(complete(grid_design(sp, a, b)))
        got += b - a
        a = 0 if b == sp.size else b
    ev.metrics(chunks[0])  # warm-up
    t0 = time.perf_counter()
    n = 0
    for d in chunks:
        ev.metrics(d)
        n += len(d["cores"])
    dt = time.perf_counter() - t0
    W = len(ev.mix)
    ops = sum(len(w.table) for w in ev.mix)
    return {"designs": n, "workloads": W, "ops_in_mix": ops, "seconds": dt,
            "design_workload_evals_per_s": n * W / dt, "designs_per_s": n / dt,
            "seconds_per_design_workload": dt / (n * W), "layer": _first_gemm(ev)}


def _first_gemm(ev) -> dict:
    from tapeout.ops import MatMul

    for w in ev.mix:
        for o in w.table.ops:
            if isinstance(o, MatMul) and w.kind == "llm_prefill":
                return {"workload": w.name, "op": o.name, "m": o.m * o.batch, "n": o.n, "k": o.k}
    raise RuntimeError("no prefill GEMM in the mix")


def zigzag_one_layer(layer: dict) -> dict:
    try:
        import zigzag
        from zigzag.api import get_hardware_performance_zigzag
    except Exception as e:  # absent, or its undeclared `six` dependency
        return {"available": False, "reason": f"{type(e).__name__}: {e}"}
    import logging

    import yaml

    logging.getLogger("zigzag").setLevel(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    zdir = Path(zigzag.__file__).parent / "inputs"
    wl = [{"id": 0, "name": "gemm", "operator_type": "Gemm", "equation": "O[b][k]+=W[k][c]*I[b][c]",
           "loop_dims": ["B", "K", "C"], "loop_sizes": [int(layer["m"]), int(layer["n"]), int(layer["k"])],
           "operand_precision": {"W": 8, "I": 8, "O": 16, "O_final": 8}, "operand_source": {"I": 0}}]
    with tempfile.TemporaryDirectory() as tmp:
        wpath = Path(tmp) / "gemm.yaml"
        wpath.write_text(yaml.safe_dump(wl))
        t0 = time.perf_counter()
        energy, latency, _ = get_hardware_performance_zigzag(
            str(wpath), str(zdir / "hardware" / "tpu_like.yaml"), str(zdir / "mapping" / "tpu_like.yaml"),
            opt="latency", dump_folder=str(Path(tmp) / "out"), lpf_limit=6, loma_show_progress_bar=False)
        dt = time.perf_counter() - t0
    return {"available": True, "seconds": dt, "latency_cycles": float(latency), "energy_pj": float(energy),
            "accelerator": "zigzag inputs/hardware/tpu_like.yaml (32x32)", "lpf_limit": 6}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", type=int, default=65536)
    ap.add_argument("--chunk", type=int, default=8192)
    ap.add_argument("--no-zigzag", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    r = {"ours": ours(a.designs, a.chunk)}
    if not a.no_zigzag:
        z = zigzag_one_layer(r["ours"]["layer"])
        r["zigzag"] = z
        if z.get("available"):
            r["zigzag_seconds_over_ours"] = z["seconds"] / r["ours"]["seconds_per_design_workload"]
    o = r["ours"]
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"explorer: {o['designs']:,} designs x {o['workloads']} workloads ({o['ops_in_mix']} ops) in "
              f"{o['seconds']:.2f} s = {o['design_workload_evals_per_s']:,.0f} design-workload evaluations/s "
              f"on one core (target >= 100,000: {'met' if o['design_workload_evals_per_s'] >= 1e5 else 'NOT met'})")
        z = r.get("zigzag")
        if z is None:
            pass
        elif z.get("available"):
            L = o["layer"]
            print(f"ZigZag: one design x one layer ({L['workload']} {L['op']}: {L['m']}x{L['n']}x{L['k']}) took "
                  f"{z['seconds']:.2f} s; ours takes {o['seconds_per_design_workload'] * 1e6:.2f} us per design-workload "
                  f"-> ratio {r['zigzag_seconds_over_ours']:,.0f}x")
        else:
            print(f"ZigZag not available ({z['reason']}); pip install zigzag-dse six")
    return r


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
