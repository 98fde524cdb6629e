"""LoadGen scenario models (perf/scenarios.py), embedding tier placement (perf/placement.py),
the HSTU workload and the vendor-level per-kernel overhead fallback (issue 17)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from _cli import run_cli
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibration_for
from tapeout.perf.placement import SSD_PAGE, TableDemand, place_tables, tier_time
from tapeout.perf.scenarios import dynamic_batching_latencies, server_rate, service_curve

# ----------------------------------------------------------------------------- Server batcher


def test_light_load_latency_is_one_batch_of_one():
    s = np.array([1e-3, 1.5e-3, 2e-3])
    lat = dynamic_batching_latencies(s, rate=0.01, n=500)  # mean gap 100 s >> service
    assert np.allclose(lat, 1e-3)


def test_rate_never_exceeds_saturated_capacity_and_is_zero_when_one_sample_misses_the_bound():
    times = {1: 1e-3, 8: 4e-3}
    s = service_curve(times, 8)
    q = server_rate(s, 0.05)
    assert 0 < q <= 8 / 4e-3
    assert server_rate(service_curve(times, 8), 0.5e-3) == 0.0


@settings(max_examples=15, deadline=None)
@given(st.floats(1e-4, 1e-2), st.floats(2.0, 50.0))
def test_looser_bound_never_lowers_the_rate(s1, factor):
    s = np.array([s1, 1.6 * s1, 2.2 * s1, 2.8 * s1])
    assert server_rate(s, factor * s1 * 3) <= server_rate(s, 2 * factor * s1 * 3) * 1.02 + 1e-9


def test_service_curve_interpolates_linearly():
    s = service_curve({1: 1.0, 4: 4.0}, 4)
    assert np.allclose(s, [1, 2, 3, 4])


# ----------------------------------------------------------------------------- placement


TABLES = [TableDemand("a", rows=1e6, row_bytes=256, lookups=100), TableDemand("b", rows=4e6, row_bytes=128, lookups=50)]


def test_all_tables_in_hbm_closed_form():
    plan = place_tables(TABLES, hbm_bytes=1e12, host_bytes=0)
    assert all(r["tier"] == "hbm" for r in plan["tables"])
    assert plan["bytes_per_query"] == {"hbm": 100 * 256 + 50 * 128, "host": 0.0, "ssd": 0.0}


def test_all_tables_on_host_closed_form():
    plan = place_tables(TABLES, hbm_bytes=0, host_bytes=1e12)
    assert all(r["tier"] == "host" for r in plan["tables"])
    # no HBM left to cache rows: every lookup crosses PCIe as whole 64-B completions
    assert plan["bytes_per_query"]["hbm"] == 0.0
    assert plan["bytes_per_query"]["host"] == pytest.approx(100 * 256 + 50 * 128)
    t = tier_time(plan["bytes_per_query"], hbm_bw=3e12, host_bw=50e9, ssd_bw=7e9)
    assert float(t) == pytest.approx((100 * 256 + 50 * 128) / 50e9)


def test_ssd_reads_whole_pages_and_sharding_divides_lookups():
    plan = place_tables([TableDemand("big", 1e9, 100, 10)], hbm_bytes=0, host_bytes=0)
    assert plan["tables"][0]["tier"] == "ssd"
    assert plan["bytes_per_query"]["ssd"] == pytest.approx(10 * SSD_PAGE)
    two = place_tables([TableDemand("big", 1e9, 100, 10)], hbm_bytes=0, host_bytes=0, shards=2)
    assert two["bytes_per_query"]["ssd"] == pytest.approx(5 * SSD_PAGE)


def test_placement_rejects_zero_tables():
    with pytest.raises(TapeoutError, match="table"):
        place_tables([], 1e9, 1e9)


# ----------------------------------------------------------------------------- HSTU


def test_hstu_reports_tier_of_every_table_and_bytes_per_tier():
    from tapeout.perf.workload_throughput import workload_throughput

    r = workload_throughput("hstu", "h100-sxm")
    assert len(r["placement"]) == 3 and r["units_per_s"] > 0
    # item table 1e9 x 512 x 2 B = 1.024 TB cannot sit in 80 GB of HBM
    assert "emb.item_id: host" in r["placement"][0] or "emb.item_id: ssd" in r["placement"][0]
    assert r["bytes_per_query_host"] + r["bytes_per_query_ssd"] > 0
    small = workload_throughput("hstu", "h100-sxm", item_rows=1e5)
    assert small["bytes_per_query_host"] == 0 and small["bytes_per_query_ssd"] == 0
    tokens = (2048 + 256) * 3  # every token reads one row of each of 3 tables
    assert small["bytes_per_query_hbm"] == pytest.approx(tokens * 512 * 2)


def test_hstu_attention_counts_jagged_sum_of_squares():
    from tapeout.workloads.hstu import hstu_graph

    g = hstu_graph(seq_len=300, seq_std=400, stage="retrieval")  # retrieval: the history alone, no candidates
    assert g.meta["seq_len_eff"] == math.ceil(math.sqrt(300 ** 2 + 400 ** 2))  # 500


@pytest.mark.parametrize("args, field", [(["--set", "seq_len=-5"], "seq_len"), (["--set", "num_tables=0"], "num_tables"),
                                         (["--set", "item_rows=0"], "item_rows")])
def test_hstu_bad_parameters_one_line_exit_2(args, field):
    code, out, err = run_cli(["workload-run", "hstu", "--chip", "h100-sxm", *args])
    assert code == 2, out + err
    msg = (err or out).strip()
    assert field in msg and "Traceback" not in msg and len(msg.splitlines()) == 1


def test_workloads_lists_hstu():
    code, out, _ = run_cli(["workloads", "--json"])
    assert code == 0 and '"hstu"' in out


# ----------------------------------------------------------------------------- calibration


def test_kernel_overhead_falls_back_to_the_vendor_mean():
    fam_only = calibration_for(get_chip("l40s"))  # Ada: no fitted NVIDIA Ada chip
    assert fam_only.origin["kernel_overhead_us"].startswith("vendor nvidia")
    assert fam_only.kernel_overhead_us == pytest.approx(calibration_for(get_chip("h200")).kernel_overhead_us)
    assert calibration_for(get_chip("mi355x")).kernel_overhead_us == pytest.approx(
        calibration_for(get_chip("mi300x")).kernel_overhead_us)
