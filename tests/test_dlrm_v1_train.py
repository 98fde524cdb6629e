"""MLPerf Training's DLRM (v1, "dlrm", v0.7-v2.1) priced through dlrm_train's machinery (issue 18, round stop-41
issue-55c): the graph's tables, lookups and MLP FLOPs in closed form from the submitted HugeCTR config, the rows'
epoch unit (loggers counting from 1), the RCP conversion, the memory refusal and invariants of the step."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import Collective, EmbeddingGather, MatMul
from tapeout.perf.convergence import samples_to_converge as rcp_samples
from tapeout.validation import dlrm_train, other_rows
from tapeout.validation.other_training import training_time
from tapeout.workloads import recsys

# NVIDIA's HugeCTR v2.0 config (training_results_v2.0 NVIDIA/benchmarks/dlrm/implementations/hugectr/dgx_a100.py):
# slot_size_array (Criteo 1TB categories, --max-ind-range=40000000), embedding_vec_size 128, one key per slot
SLOTS = [39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10, 2208, 11938, 155, 4,
         976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36]
BOTTOM = [13, 512, 256, 128]
TOP = [128 + 27 * 26 // 2, 1024, 1024, 512, 256, 1]  # the dot interaction: 351 pairwise dots + the bottom output
CRITEO = 4_195_197_692  # DataReaderParams num_samples


def _macs(widths):
    return sum(a * b for a, b in zip(widths, widths[1:]))


def test_model_is_the_submitted_config():
    m = recsys.dlrm_model()
    assert [t.rows for t in m.tables] == SLOTS
    assert {t.dim for t in m.tables} == {128} and m.lookups_per_item == 26  # one-hot
    assert m.bottom_mlp == tuple(BOTTOM[1:]) and m.top_mlp == tuple(TOP[1:]) and m.interaction == "dot"


def test_tables_bytes_in_closed_form():
    """SGD keeps no per-element state: 4 B (FP32 row) x 128 x 187,767,399 rows = 96.1 GB, 1/n per chip."""
    total = sum(SLOTS) * 128 * 4
    assert total == 96_136_908_288
    assert dlrm_train.table_bytes_per_chip(1, "dlrm") == pytest.approx(total)
    assert dlrm_train.table_bytes_per_chip(8, "dlrm") == pytest.approx(total / 8)


def test_forward_flops_and_lookups_per_sample_in_closed_form():
    """Per sample: 2 x the MLPs' MACs (bottom 13-512-256-128, top 479-1024-1024-512-256-1) + the 27 x 27 x 128 dot
    batch GEMM; 26 lookups of 128 FP32 values; the sharded graph gathers this chip's share of the global batch."""
    b, n = 1000, 8
    g = dlrm_train.training_graph(b, n, bench="dlrm")
    flops = sum(o.flops for o in g.ops if isinstance(o, MatMul))
    assert flops / b == pytest.approx(2 * (_macs(BOTTOM) + _macs(TOP)) + 2 * 27 * 27 * 128)
    gathers = [o for o in g.ops if isinstance(o, EmbeddingGather)]
    assert len(gathers) == 26 and sum(o.lookups for o in gathers) == pytest.approx(b * 26)
    assert {o.row_bytes for o in gathers} == {128 * 4}


def _acts(vendor):
    return [o.name for o in dlrm_train.training_graph(64, 4, bench="dlrm", vendor=vendor).ops if ".act" in o.name]


def test_fused_mlp_keeps_only_the_loss_sigmoid(monkeypatch):
    """HugeCTR's FusedInnerProduct: bias + ReLU in the GEMM epilogue; the sigmoid is the loss layer's."""
    monkeypatch.setattr(dlrm_train, "DLRM_V1_FUSED_MLP", True)
    assert _acts("NVIDIA") == ["top.act4"]
    monkeypatch.setattr(dlrm_train, "DLRM_V1_FUSED_MLP", False)
    assert len(_acts("NVIDIA")) == 3 + 5


@pytest.mark.parametrize("vendor, fused, why", [
    ("NVIDIA", True, "HugeCTR"),  # FusedInnerProduct in the submitted config
    ("Google", False, "XLA"),  # TPU: XLA's fusion into the dot not sourced
    ("AMD", False, "facebookresearch/dlrm"),  # the PyTorch reference: nn.ReLU modules of their own
    (None, False, "facebookresearch/dlrm"),  # no chip: the reference
])
def test_fused_mlp_follows_the_stack(monkeypatch, vendor, fused, why):
    """The rule's table: only the stack sourced as fusing (HugeCTR) drops the ReLU kernels; 3 bottom + 4 top ReLUs and
    the loss sigmoid stay as kernels everywhere else, and the answer says why."""
    monkeypatch.setattr(dlrm_train, "DLRM_V1_FUSED_MLP", True)
    on, reason = dlrm_train.fused_mlp(vendor)
    assert on is fused and why in reason
    assert len(_acts(vendor)) == (1 if fused else 3 + 5)


def test_the_stack_gate_reaches_the_row_and_the_answer():
    """An A100 (NVIDIA) and a TPU v4 row of the same shape differ by the ReLU kernels; the answer names the rule."""
    a = training_time("dlrm", get_chip("a100-sxm"), 8, 55296, None)
    t = training_time("dlrm", get_chip("tpu-v4"), 8, 55296, None)
    assert "HugeCTR" in a["mlp_relu"] and "fused into the GEMM epilogues" in a["mlp_relu"]
    assert "kernels of their own" in t["mlp_relu"] and "XLA" in t["mlp_relu"]


def test_exchange_payload_per_rank_in_closed_form(monkeypatch):
    """Every table model parallel: S per rank = per-chip batch x 26 vectors x 128 x 2 B (FP16); off: none."""
    monkeypatch.setattr(dlrm_train, "DLRM_V1_EXCHANGE", True)
    b, n = 6912, 8
    a2a = [o for o in dlrm_train.training_graph(b, n, bench="dlrm").ops if isinstance(o, Collective)]
    assert len(a2a) == 1 and a2a[0].group == n and a2a[0].payload_bytes == pytest.approx(b * 26 * 128 * 2)
    monkeypatch.setattr(dlrm_train, "DLRM_V1_EXCHANGE", False)
    assert not [o for o in dlrm_train.training_graph(b, n, bench="dlrm").ops if isinstance(o, Collective)]


def test_row_epochs_count_from_one():
    """HugeCTR's log converter and the reference log epoch_num = 1 + the epochs trained: the rows' 1.8999 is 0.8999 of
    Criteo's 4,195,197,692 pairs (68,274 of 75,868 iterations at 55,296)."""
    assert other_rows.samples_to_converge("dlrm", "global_batch_size=55296; median last-eval epoch_num=1.8999") == \
        pytest.approx(0.8999 * CRITEO)
    assert 68274 * 55296 == pytest.approx(0.8999 * CRITEO, rel=1e-4)


def _olympic(runs):
    return (sum(runs) - max(runs) - min(runs)) / (len(runs) - 2)


def test_rcp_at_55296_is_rcp_checkers_interpolation_less_one():
    """rcps_dlrm.json: olympic means (rcp_checker drops the fastest and the slowest run) 1.75625 at 32,768, 1.90185
    at 55,296, 2.0 at 71,680; 55,296 converges slower than the line between its neighbours, so rcp_checker's pruning
    drops it and BS 55,296 reads the interpolation; less the logger's 1, in Criteo epochs."""
    lo = _olympic([1.8, 1.75, 1.75, 1.75, 1.75, 1.8, 1.7, 1.75, 1.75, 1.75])
    mid = _olympic([1.9] * 9 + [1.95] + [1.9] * 12 + [1.85] + [1.9] * 4 + [1.95, 1.9])
    hi = _olympic([2.0, 1.95] + [2.0] * 22)
    line = lo + (55296 - 32768) / (71680 - 32768) * (hi - lo)
    assert mid > line  # pruned
    conv = rcp_samples("train-dlrm", 55296, mlperf_round="v2.0", epoch_samples=CRITEO)
    assert conv.samples == pytest.approx((line - 1) * CRITEO)
    assert rcp_samples("train-dlrm", 71680, mlperf_round="v2.0", epoch_samples=CRITEO).samples == \
        pytest.approx((hi - 1) * CRITEO)
    assert rcp_samples("train-dlrm", 55296, mlperf_round="v3.0", epoch_samples=CRITEO) is None  # not a v3.0 benchmark


def test_v2_row_maps_to_the_dlrm_benchmark():
    row = {"workload": "MLPerf Training v2.0 dlrm", "category": "mlperf-train"}
    assert other_rows.benchmark_of(row) == ("train", "dlrm")


def test_one_a100_cannot_hold_the_tables():
    with pytest.raises(TapeoutError, match=r"--num-chips 1: DLRM's embedding tables .* use --num-chips 2 or more"):
        training_time("dlrm", get_chip("a100-sxm-80gb"), 1, 4096, None)


@settings(max_examples=12, deadline=None)
@given(b=st.integers(64, 20000), n=st.sampled_from([2, 4, 8, 16, 64]))
def test_a_chip_does_the_same_work_at_any_chip_count(b, n):
    """Data-parallel MLPs and balanced gathers: at a fixed per-chip batch every chip's forward has the FLOPs and
    lookups of one chip's batch, whatever the chip count."""
    one = dlrm_train.training_graph(b, 2, bench="dlrm")
    many = dlrm_train.training_graph(b, n, bench="dlrm")
    for kind, attr in ((MatMul, "flops"), (EmbeddingGather, "lookups")):
        assert sum(getattr(o, attr) for o in many.ops if isinstance(o, kind)) == \
            pytest.approx(sum(getattr(o, attr) for o in one.ops if isinstance(o, kind)))


@settings(max_examples=8, deadline=None)
@given(per_chip=st.integers(512, 16384), n=st.sampled_from([4, 8, 16, 32]))
def test_the_exchange_never_makes_a_step_faster(per_chip, n):
    """The exchange only adds time: on, the step is never shorter than off, and its exposed part never exceeds it."""
    chip = get_chip("a100-sxm-80gb")
    saved = dlrm_train.DLRM_V1_EXCHANGE
    try:
        dlrm_train.DLRM_V1_EXCHANGE = False
        off = training_time("dlrm", chip, n, per_chip * n, None)
        dlrm_train.DLRM_V1_EXCHANGE = True
        on = training_time("dlrm", chip, n, per_chip * n, None)
    finally:
        dlrm_train.DLRM_V1_EXCHANGE = saved
    assert on["step_s"] >= off["step_s"] * (1 - 1e-9)
    assert 0 <= on["emb_all_to_all_exposed_s"] <= on["emb_all_to_all_s"] + 1e-15
