"""DLRM-DCNv2 training with NVIDIA's HugeCTR embedding sharding (validation/dlrm_train.py; issue 18): the
all-to-all payload in closed form, the tables' memory per chip, and invariants of both."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.ops import Collective
from tapeout.validation import dlrm_train
from tapeout.workloads import recsys

# mlcommons/training recommendation_v2/torchrec_dlrm README: 26 tables of dim 128, these row counts
ROWS = [40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209, 11938, 155, 4,
        976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36]


def test_single_node_plan_replicates_the_tables_below_8_mb():
    """DP_SHARDING_THRESHOLD=0.008 (GB) at 8 B per element and dim 128: rows below 0.008 / (128 x 8 x 1e-9) =
    7,812.5 are replicated (NVIDIA planner.py): 13 tables, the other 13 model parallel."""
    dp = dlrm_train.plan(8)
    want = {f"t{i}" for i, r in enumerate(ROWS) if r < 0.008 / (128 * 8e-9)}
    assert dp == want and len(want) == 13
    # multi node: 0.0125 GB adds table 14 (11,938 rows < 12,207)
    assert dlrm_train.plan(64) == want | {"t14"}


def test_all_to_all_payload_per_rank_in_closed_form():
    """S per rank = per-chip batch x 13 model-parallel tables x 128 x 2 B (FP16), over all n chips."""
    b, n = 6912, 8
    g = dlrm_train.training_graph(b, n)
    a2a = [o for o in g.ops if isinstance(o, Collective)]
    assert len(a2a) == 1 and a2a[0].group == n and a2a[0].collective == "all_to_all"
    assert a2a[0].payload_bytes == pytest.approx(b * 13 * 128 * 2)
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


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=255))
def test_more_chips_never_hold_more_table_memory_each(n):
    m = recsys.dlrmv2_model()
    dp = dlrm_train.plan(n)  # at a fixed plan: the sharded share only shrinks
    assert recsys.table_bytes_per_chip(m, n + 1, 8, dp) <= recsys.table_bytes_per_chip(m, n, 8, dp)
    assert dlrm_train.table_bytes_per_chip(n + 1) < dlrm_train.table_bytes_per_chip(n)


def test_too_few_chips_for_the_tables_is_one_clear_error(session_chips):
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params

    chip = get_chip("h100-sxm")
    p = calibrated_params(chip)
    with pytest.raises(TapeoutError, match="n_chips=1.*at least"):
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
