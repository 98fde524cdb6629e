"""DLRMv2 99.9%: DCN-v2 interaction (and on L40S the top MLP) in FP16, the rest INT8
(NVIDIA MLPerf v4.1 configs; workloads/recsys.py module doc)."""

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.recsys import recsys_cost
from tapeout.workloads import recsys


def _mm(g, prefix):
    return [o for o in g.ops if isinstance(o, MatMul) and o.name.startswith(prefix)]


def test_interaction_precision_retypes_only_the_dcn():
    base = recsys.dlrmv2_graph(4, precision="int8")
    ha = recsys.dlrmv2_graph(4, precision="int8", interaction_precision="fp16")
    assert all(o.math_dtype == "fp16" for o in _mm(ha, "dcn"))
    assert all(o.math_dtype == "int8" for o in _mm(ha, "top") + _mm(ha, "bottom"))
    assert all(o.math_dtype == "int8" for o in _mm(base, "dcn"))
    assert ha.flops == pytest.approx(base.flops)
    assert "dcn-fp16" in ha.name
    both = recsys.dlrmv2_graph(4, precision="int8", interaction_precision="fp16", top_mlp_precision="fp16")
    assert all(o.math_dtype == "fp16" for o in _mm(both, "top"))
    assert all(o.math_dtype == "int8" for o in _mm(both, "bottom"))


def test_dcn_share_of_macs_closed_form():
    # per pair: DCN 3 x (3456x512 + 512x3456) = 10.62 M MACs; top MLP 3456x1024 + 1024x1024
    # + 1024x512 + 512x256 + 256x1 = 5.21 M; bottom 13x512 + 512x256 + 256x128 = 0.17 M
    g = recsys.dlrmv2_graph(1, pairs_per_sample=1, precision="int8")
    dcn = sum(o.flops * o.count for o in _mm(g, "dcn")) / 2
    top = sum(o.flops * o.count for o in _mm(g, "top")) / 2
    assert dcn == 3 * 2 * 3456 * 512
    assert top == 3456 * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 256 + 256


def test_fp16_interaction_slows_a_compute_bound_chip_by_at_most_the_mac_share():
    p = calibrated_params(get_chip("h100-sxm"))
    t8 = float(recsys_cost(recsys.dlrmv2_graph(256, precision="int8"), p)["time"])
    t16 = float(recsys_cost(recsys.dlrmv2_graph(256, precision="int8", interaction_precision="fp16"), p)["time"])
    # upper bound if everything were compute-bound at peak ratio 2: (10.62*2 + 5.38)/16.0 = 1.66
    assert 1.2 < t16 / t8 < 1.67
