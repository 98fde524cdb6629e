"""DLRM-DCNv2 training with NVIDIA's HugeCTR embedding sharding (validation/dlrm_train.py; issue 18): the
all-to-all payload in closed form, the tables' memory per chip, and invariants of both."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.ops import Collective
from tapeout.validation import dlrm_plan, dlrm_train
from tapeout.workloads import recsys

# mlcommons/training recommendation_v2/torchrec_dlrm README: 26 tables of dim 128, these row counts
ROWS = [40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209, 11938, 155, 4,
        976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36]


def test_single_node_plan_replicates_the_tables_below_8_mb():
    """DP_SHARDING_THRESHOLD=0.008 (GB) at 8 B per element and dim 128: rows below 0.008 / (128 x 8 x 1e-9) =
    7,812.5 are replicated (NVIDIA planner.py): 13 tables, the other 13 model parallel."""
    want = {i for i, r in enumerate(ROWS) if r < 0.008 / (128 * 8e-9)}
    pl = dlrm_train.plan(8)
    assert pl.replicated == want and len(want) == 13
    assert set(pl.splits) == set(range(26)) - want
    # multi node (hier_auto over 8 nodes): 0.0125 GB adds table 14 (11,938 rows < 12,207)
    assert dlrm_train.plan(64).replicated == want | {14}


def test_all_to_all_payload_per_rank_in_closed_form():
    """S per rank = per-chip batch x (one pooled vector per shard of every model-parallel table) x 128 x 2 B
    (FP16), over all n chips."""
    b, n = 6912, 8
    g = dlrm_train.training_graph(b, n)
    a2a = [o for o in g.ops if isinstance(o, Collective)]
    vectors = sum(dlrm_train.plan(n).splits.values())
    assert vectors >= 13  # at least one per model-parallel table
    assert len(a2a) == 1 and a2a[0].group == n and a2a[0].collective == "all_to_all"
    assert a2a[0].payload_bytes == pytest.approx(b * vectors * 128 * 2)
    # the gathers: every table's lookups of this chip's share of the global batch (214 per pair in all)
    gathered = sum(o.lookups for o in g.ops if hasattr(o, "lookups"))
    assert gathered == pytest.approx(b * 214)


def test_one_chip_holds_every_table_and_exchanges_nothing():
    g = dlrm_train.training_graph(512, 1)
    assert not [o for o in g.ops if isinstance(o, Collective)]
    # FP32 table + FP32 Adagrad accumulator: 8 B x 128 x the rows
    assert dlrm_train.table_bytes_per_chip(1) == pytest.approx(sum(ROWS) * 128 * 8)


def test_sharded_tables_per_chip_in_closed_form():
    dp = {i for i, r in enumerate(ROWS) if r < 7812.5}
    mp = sum(r for i, r in enumerate(ROWS) if i not in dp)
    rep = sum(ROWS[i] for i in dp)
    assert dlrm_train.table_bytes_per_chip(4) == pytest.approx((mp / 4 + rep) * 128 * 8)


def test_planner_on_one_bucket_keeps_every_table_whole():
    """One GPU: no split is possible; the bucket's cost is every model-parallel table's hotness plus one table
    cost each, below the default plan's (all 26 tables)."""
    hot, rows = [3, 2, 100, 1], [1000, 10, 4000, 5]
    pl = dlrm_plan.plan(hot, rows, 1, dp_threshold_gb=20 * 1e-6, table_cost=1.5, unit_mem_gb=1e-6, mem_cap_gb=1.0)
    assert pl.replicated == {1, 3} and pl.splits == {0: 1, 2: 1}
    assert pl.max_cost == pytest.approx(3 + 100 + 2 * 1.5)


def test_planner_splits_the_hot_table_when_communication_is_free():
    """Two GPUs, table cost 0: every table split over both GPUs (the default plan) balances the lookups
    exactly, (100 + 1) / 2 per GPU, below the greedy plans' 50 + 1."""
    pl = dlrm_plan.plan([100, 1], [10, 10], 2, 0.0, 0.0, 1e-6, 1.0)
    assert pl.splits == {0: 2, 1: 2} and pl.max_cost == pytest.approx(50.5)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 100), min_size=2, max_size=12), st.sampled_from([1, 2, 4, 8]),
       st.floats(0.0, 20.0))
def test_planner_invariants(hot, n, table_cost):
    rows = [10 * h for h in hot]
    pl = dlrm_plan.plan(hot, rows, n, 0.0, table_cost, 1e-6, 1.0)
    assert set(pl.splits) | set(pl.replicated) == set(range(len(hot)))
    assert all(1 <= k <= n and k & (k - 1) == 0 for k in pl.splits.values())  # powers of two up to n
    assert pl.max_cost >= sum(hot) / n  # no plan beats perfect balance of the lookups


def test_planner_refuses_tables_that_fit_nowhere():
    with pytest.raises(TapeoutError, match="n_chips=2"):
        dlrm_plan.plan([1, 1], [1000, 1000], 2, 0.0, 1.0, 1e-3, 0.5)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=255))
def test_more_chips_never_hold_more_table_memory_each(n):
    m = recsys.dlrmv2_model()
    dp = frozenset(t.name for t in m.tables[:n % 26])  # any replicated set: the sharded share only shrinks
    assert recsys.table_bytes_per_chip(m, n + 1, 8, dp) <= recsys.table_bytes_per_chip(m, n, 8, dp)
    assert dlrm_train.table_bytes_per_chip(n + 1) < dlrm_train.table_bytes_per_chip(n)


def test_too_few_chips_for_the_tables_is_one_clear_error(session_chips):
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params

    chip = get_chip("h100-sxm")
    p = calibrated_params(chip)
    with pytest.raises(TapeoutError, match="--num-chips 1:.*use --num-chips 4 or more"):
        dlrm_train.check_memory(chip, p, 1)
    assert dlrm_train.check_memory(chip, p, 4) < float(p.mem_capacity)


@settings(max_examples=10, deadline=None)
@given(st.floats(min_value=0.05, max_value=1.0))
def test_a_slower_link_never_makes_the_step_faster(scale):
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params

    chip = get_chip("h100-pcie")
    p = calibrated_params(chip)
    g = dlrm_train.training_graph(6912, 8)
    fast = dlrm_train.exchange(g, p, chip.family)[1]
    slow = dlrm_train.exchange(g, p.replace(scaleup_bw=p.scaleup_bw * scale, scaleout_bw=p.scaleout_bw * scale),
                               chip.family)[1]
    assert slow["emb_all_to_all_exposed_s"] >= fast["emb_all_to_all_exposed_s"] - 1e-12
    assert slow["emb_all_to_all_s"] >= fast["emb_all_to_all_s"] - 1e-12
    assert 0.0 <= fast["emb_all_to_all_exposed_s"] <= fast["emb_all_to_all_s"]


def test_replicated_names_must_be_tables():
    with pytest.raises(TapeoutError, match="replicated"):
        recsys.recsys_graph(recsys.dlrmv2_model(), 64, shards=2, replicated=frozenset({"nope"}))


def test_switch_off_prices_every_table_on_every_chip(monkeypatch):
    """EMBEDDING_SHARDED off: the graph before issue-51f (every table whole on each chip, nothing exchanged)."""
    from tapeout.validation.other_rows import training_graphs

    monkeypatch.setattr(dlrm_train, "EMBEDDING_SHARDED", False)
    g = training_graphs("dlrm-dcnv2", 6912, None, 8)[0]
    assert not [o for o in g.ops if isinstance(o, Collective)]
    assert sum(o.rows for o in g.ops if hasattr(o, "lookups")) == pytest.approx(sum(ROWS))


@pytest.mark.parametrize("chip_id", ["h100-sxm", "b200", "mi300x", "mi325x", "mi355x"])
def test_refusal_names_the_smallest_chip_count_that_runs(chip_id, session_chips):
    """Every refused count names one smallest count, and that count runs (issue-52a review: 2-3 x B200 / MI300X
    were refused by the planner's message without a count, and 256-288 GB chips ran on 1 chip but not on 2).
    209 GB of tables + Adagrad state at HugeCTR's 60 GB memory_cap_for_embedding: 4 chips for any chip of >= 60 GB."""
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params
    from tapeout.validation.other_training import training_time

    chip = get_chip(chip_id)
    p = calibrated_params(chip)
    least = dlrm_train.min_chips(float(p.mem_capacity))
    assert least == 4  # ceil(209 / 60)
    for n in range(1, least):
        with pytest.raises(TapeoutError, match=f"--num-chips {n}:.*use --num-chips {least} or more"):
            training_time("dlrm-dcnv2", chip, n, 4096 * n, None)
    assert training_time("dlrm-dcnv2", chip, least, 4096 * least, None)["step_s"] > 0


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=8e9, max_value=400e9))
def test_fits_is_monotonic_in_chips_up_to_the_smallest(cap):
    """Below min_chips nothing fits, at it the tables fit; a memory cap the planner shares with one chip."""
    least = dlrm_train.min_chips(cap)
    assert least is not None and dlrm_train.fits(least, cap)
    assert not any(dlrm_train.fits(n, cap) for n in range(1, least))
    assert least >= dlrm_train.table_bytes_per_chip(1) / min(cap, 60e9)
