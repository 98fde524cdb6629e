"""Ray scale-out: the same >= 1e6-design sweep with 1 and with 2 Ray workers (local cluster).

    python benchmarks/ray_scaling.py [--workers 1 2] [--chunk 16384] [--store]

The space is studies/spaces/npu_5nm.yaml with wider value lists (1,105,920 designs, the
6-workload mix). Every chunk is a Ray task (tapeout.explore.search.evaluate_block) that rebuilds
its designs from (space, start, stop) and returns all metric columns to the driver, exactly as
`tapeout explore --backend ray` does; by default the driver only counts rows (no DuckDB
writes, which are serial and equal for both runs); --store writes them to an in-memory store.
Times exclude cluster start-up and include task scheduling and result transfer.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]


def big_space() -> dict:
    sp = yaml.safe_load((ROOT / "studies" / "spaces" / "npu_5nm.yaml").read_text())
    sp["parameters"].update({
        "cores": [8, 16, 24, 32, 48, 64, 96, 128],
        "array_rows": [32, 64, 128, 256],
        "dataflow": ["ws", "os", "is"],
        "clock_ghz": {"min": 0.8, "max": 1.5, "step": 0.1},
        "vector_width": [128, 256, 512],
        "riscv_cores": [0, 16],
        "mem_stacks": [2, 4, 6, 8],
    })
    sp["parameters"]["sram_per_core_mb"] = {"min": 1, "max": 16, "num": 5, "log": True}
    sp["name"] = "npu-5nm-1M"
    return sp


def run(workers: int, chunk: int, store: bool) -> dict:
    import ray

    from tapeout.explore.search import RayBackend
    from tapeout.explore.space import load_space
    from tapeout.explore.store import Store

    sp = load_space(big_space())
    size = sp.size
    if ray.is_initialized():
        ray.shutdown()
    t_init = time.perf_counter()
    be = RayBackend(num_cpus=workers)
    t_init = time.perf_counter() - t_init
    sd, mat, ctx = sp.model_dump(), sp.maturity_dict(), sp.context_hash()
    tasks = [dict(space_dict=sd, maturity=mat, context=ctx, start=s, stop=min(size, s + chunk))
             for s in range(0, size, chunk)]
    st = Store(None) if store else None
    t0 = time.perf_counter()
    rows = feasible = 0
    for _, cols in be.map(tasks):
        rows += len(cols["key"])
        feasible += int(cols["feasible"].sum())
        if st is not None:
            st.insert(cols)
    dt = time.perf_counter() - t0
    be.close()
    return {"workers": workers, "designs": size, "loadavg_1min_after": os.getloadavg()[0], "cpus": os.cpu_count(), "rows": rows, "feasible": feasible, "seconds": dt,
            "designs_per_s": size / dt, "cluster_start_s": t_init, "chunks": len(tasks), "store": store}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chunk", type=int, default=16384)
    ap.add_argument("--store", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    try:
        import ray  # noqa: F401
    except ImportError:
        print("Ray is not installed: pip install 'ray[default]'")
        return None
    res = [run(w, a.chunk, a.store) for w in a.workers]
    base = res[0]["seconds"]
    for r in res:
        r["speedup_vs_first"] = base / r["seconds"]
    if a.json:
        print(json.dumps(res, indent=2))
    else:
        for r in res:
            print(f"{r['workers']} Ray worker(s): {r['designs']:,} designs in {r['seconds']:.1f} s "
                  f"({r['designs_per_s']:,.0f} designs/s, speed-up {r['speedup_vs_first']:.2f}x; "
                  f"cluster start {r['cluster_start_s']:.1f} s, {r['chunks']} tasks, {r['feasible']:,} feasible; "
                  f"{r['cpus']} CPUs, load average {r['loadavg_1min_after']:.1f} after the run)")
    return res


if __name__ == "__main__":
    main()
