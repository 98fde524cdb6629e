"""Sweeps, NSGA-II, the Pareto front and the resumable DuckDB store."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from test_explore_fixtures import SMALL
from tapeout.explore.pareto import pareto_mask
from tapeout.explore.search import explore
from tapeout.explore.store import Store


def _brute_front(F):
    n = len(F)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and np.all(F[j] <= F[i]) and np.any(F[j] < F[i]):
                keep[i] = False
                break
    return keep


@pytest.mark.parametrize("k", [2, 3])
def test_pareto_mask_matches_brute_force(k):
    rng = np.random.default_rng(k)
    F = np.round(rng.random((400, k)), 1)  # ties and duplicates
    np.testing.assert_array_equal(pareto_mask(F, block=64), _brute_front(F))


def test_grid_stores_every_design_once_and_rerun_reuses(tmp_path):
    db = str(tmp_path / "g.duckdb")
    r1 = explore(SMALL, db=db)
    assert r1.method == "grid" and r1.evaluated == 144 and r1.reused == 0
    r2 = explore(SMALL, db=db)
    assert r2.evaluated == 0 and r2.reused == 144
    st = Store(db)
    keys = st.fetch(["key"])["key"]
    assert len(keys) == 144 == len(np.unique(keys))
    # the front is non-dominated among the feasible stored designs
    d = st.fetch(["perf_per_watt", "perf_per_tco", "slo_ratio", "feasible"])
    f = d["feasible"] > 0
    F = np.stack([-d["perf_per_watt"][f], -d["perf_per_tco"][f], d["slo_ratio"][f]], axis=1)
    assert r1.front_size == int(_brute_front(F).sum())
    st.close()
    # a different maturity is a different question: new keys, nothing reused
    r3 = explore(SMALL, db=db, maturity=0.6)
    assert r3.evaluated == 144 and r3.reused == 0
    best_ppw = r1.best["perf_per_watt"]["perf_per_watt"]
    assert r3.best["perf_per_watt"]["perf_per_watt"] < best_ppw


def test_nsga2_is_deterministic_for_a_seed(tmp_path):
    a = explore(SMALL, db=str(tmp_path / "a.duckdb"), search="nsga2", budget=64, seed=5)
    b = explore(SMALL, db=str(tmp_path / "b.duckdb"), search="nsga2", budget=64, seed=5)
    assert a.method == "nsga2"
    assert 0 < a.evaluated <= 64
    ka = sorted(Store(str(tmp_path / "a.duckdb")).fetch(["key"])["key"].tolist())
    kb = sorted(Store(str(tmp_path / "b.duckdb")).fetch(["key"])["key"].tolist())
    assert ka == kb
    assert [r["key"] for r in a.front] == [r["key"] for r in b.front]
    # rerun on the same store replays from it without evaluating anything
    c = explore(SMALL, db=str(tmp_path / "a.duckdb"), search="nsga2", budget=64, seed=5)
    assert c.evaluated == 0 and [r["key"] for r in c.front] == [r["key"] for r in a.front]


def test_grid_equals_vectorized_metrics_of_nsga2_rows(tmp_path):
    g = explore(SMALL, db=str(tmp_path / "g.duckdb"))
    n = explore(SMALL, db=str(tmp_path / "n.duckdb"), search="nsga2", budget=48, seed=1)
    sg, sn = Store(str(tmp_path / "g.duckdb")), Store(str(tmp_path / "n.duckdb"))
    keys = sn.fetch(["key"])["key"]
    a = sg.fetch_keys(keys, ["perf_per_watt", "tdp_w"])
    b = sn.fetch_keys(keys, ["perf_per_watt", "tdp_w"])
    np.testing.assert_array_equal(a["perf_per_watt"], b["perf_per_watt"])
    assert g.total == 144 and n.total == len(keys)


def test_designs_cli_query(tmp_path):
    db = tmp_path / "q.duckdb"
    explore(SMALL, db=str(db))
    out = subprocess.run([sys.executable, "-m", "tapeout", "designs", str(db), "--where", "feasible = 1",
                          "--top", "3", "--by", "perf_per_watt", "--json"], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    vals = [r["perf_per_watt"] for r in res["rows"]]
    assert len(vals) == 3 and vals == sorted(vals, reverse=True)
    assert all(r["feasible"] == 1 for r in res["rows"])
    pq = tmp_path / "all.parquet"
    subprocess.run([sys.executable, "-m", "tapeout", "designs", str(db), "--parquet", str(pq), "--top", "1"],
                   capture_output=True, text=True, check=True)
    assert pq.stat().st_size > 0
    bad = subprocess.run([sys.executable, "-m", "tapeout", "designs", str(db), "--by", "perf_per_wat"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "perf_per_watt" in bad.stderr


KILL_SCRIPT = textwrap.dedent("""
    import sys, time, json
    sys.path.insert(0, {tests!r})
    from test_explore_fixtures import SMALL
    from tapeout.explore import store as st
    orig = st.Store.insert
    def slow_insert(self, *a, **k):
        n = orig(self, *a, **k)
        print("CHUNK", n, flush=True)
        time.sleep(0.3)
        return n
    st.Store.insert = slow_insert
    from tapeout.explore.search import explore
    sp = dict(SMALL, search=dict(SMALL["search"], chunk=8))
    explore(sp, db={db!r})
    print("DONE", flush=True)
""")


def test_sigkill_mid_run_then_resume(tmp_path):
    db = str(tmp_path / "k.duckdb")
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(Path(__file__).parent), db=db))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    chunks = 0
    t0 = time.time()
    while chunks < 4 and time.time() - t0 < 60:
        line = proc.stdout.readline()
        if line.startswith("CHUNK"):
            chunks += 1
        assert not line.startswith("DONE")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert chunks == 4
    sp = dict(SMALL, search=dict(SMALL["search"], chunk=8))
    r = explore(sp, db=db)
    assert r.reused >= 4 * 8  # the committed chunks were not evaluated again
    assert r.evaluated + r.reused == 144 and r.evaluated < 144
    st = Store(db)
    keys = st.fetch(["key"])["key"]
    assert len(keys) == 144 == len(np.unique(keys))
    st.close()
    # identical to an uninterrupted run
    clean = explore(sp, db=str(tmp_path / "clean.duckdb"))
    assert [x["key"] for x in clean.front] == [x["key"] for x in r.front]
    a = Store(db).fetch(["key", "perf_per_tco"], order_by="key")
    b = Store(str(tmp_path / "clean.duckdb")).fetch(["key", "perf_per_tco"], order_by="key")
    np.testing.assert_array_equal(a["key"], b["key"])
    np.testing.assert_array_equal(a["perf_per_tco"], b["perf_per_tco"])


def test_explore_cli_json_and_bad_input(tmp_path):
    import yaml

    space = tmp_path / "s.yaml"
    space.write_text(yaml.safe_dump(SMALL))
    out = subprocess.run([sys.executable, "-m", "tapeout", "explore", str(space), "--db", str(tmp_path / "e.duckdb"),
                          "--json", "--sensitivity", "1,0.5"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["total"] == 144 and res["front_size"] >= 1
    assert set(res["best"]) == {"perf_per_watt", "perf_per_tco", "slo_ratio"}
    assert res["maturity_sensitivity"]["levels"] == [1.0, 0.5]
    bad = dict(SMALL, parameters=dict(SMALL["parameters"], clock_ghz={"min": 2, "max": 1}))
    space.write_text(yaml.safe_dump(bad))
    err = subprocess.run([sys.executable, "-m", "tapeout", "explore", str(space), "--db", str(tmp_path / "f.duckdb")],
                         capture_output=True, text=True)
    assert err.returncode == 2 and "min (2.0) > max (1.0)" in err.stderr and "Traceback" not in err.stderr
