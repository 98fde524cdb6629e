"""Closed-form counts, monotonicity and bad-input errors of the non-LLM workloads."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.workload_throughput import workload_throughput
from tapeout.perf.recsys import harmonic, qps_at_p99, zipf_hit_rate
from tapeout.workloads import catalog, diffusion, recsys, speech, vision
from tapeout.workloads.blocks import macs, weight_params


def test_resnet50_macs_and_params():
    g = vision.resnet50_graph(1, 224)
    assert macs(g) == pytest.approx(4.09e9, rel=0.01)  # torchvision: 4.09 GMACs ("GFLOPS")
    assert g.flops == pytest.approx(2 * macs(g), rel=0.01)  # 1 MAC = 2 FLOPs (+ few vector FLOPs)
    assert weight_params(g.ops) == pytest.approx(25.5e6, rel=0.01)  # 25,557,032 minus BN/bias


def test_vit_l16_macs():
    assert macs(vision.vit_graph("vit-l16", 1, 224)) == pytest.approx(61.55e9, rel=0.01)


def test_dlrmv2_embedding_params_and_lookups():
    m = recsys.dlrmv2_model()
    assert m.embedding_params == pytest.approx(26.1e9, rel=0.01)
    assert m.embedding_params == 26135627264
    assert m.lookups_per_item == 214
    dense = weight_params(recsys.dlrmv2_graph(1, pairs_per_sample=1).ops)
    assert dense == pytest.approx(16.04e6, rel=0.01)


def test_sizes_of_other_models():
    g = diffusion.sdxl_graph(1, steps=1, cfg=False)
    unet = [o for o in g.ops if o.name.startswith("unet")]
    assert weight_params(unet) == pytest.approx(2.6e9, rel=0.05)  # SDXL paper: 2.6B UNet
    wan = diffusion.wan_graph(steps=1, cfg_guidance=False, include_vae=False, include_text=False)
    assert wan.meta["tokens"] == 75600  # model_configs.csv derived value
    assert weight_params(wan.ops) == pytest.approx(14e9, rel=0.05)


def test_bad_inputs_raise_named_errors():
    with pytest.raises(TapeoutError, match="rows"):
        recsys.recsys_graph(recsys.RecModel("x", (recsys.Table("t0", 0, 16, 1),), 0, (), (1,), "concat"), 8)
    with pytest.raises(TapeoutError, match="resolution"):
        vision.vit_graph("vit-l16", 1, 230)
    with pytest.raises(TapeoutError, match="height"):
        diffusion.wan_graph(height=721)
    with pytest.raises(TapeoutError, match="batch"):
        workload_throughput("sdxl", "h100-sxm", batch=4096)
    with pytest.raises(TapeoutError, match="workload"):
        catalog.build_workload("no-such-model")


def test_zipf_closed_form_matches_exact_sum():
    for s in (0.8, 1.0, 1.2):
        for n in (1000, 50000):
            exact = np.sum(np.arange(1, n + 1, dtype=float) ** -s)
            assert harmonic(n, s) == pytest.approx(exact, rel=2e-3)
    assert zipf_hit_rate(100, 100) == pytest.approx(1.0)
    with pytest.raises(TapeoutError):
        zipf_hit_rate(10, 0)


@settings(max_examples=30, deadline=None)
@given(c1=st.floats(1, 1e6), c2=st.floats(1, 1e6), s=st.floats(0.5, 1.5))
def test_zipf_hit_rate_monotone(c1, c2, s):
    lo, hi = sorted((c1, c2))
    assert zipf_hit_rate(lo, 1e6, s) <= zipf_hit_rate(hi, 1e6, s) + 1e-12


@settings(max_examples=20, deadline=None)
@given(b1=st.integers(1, 64), b2=st.integers(1, 64))
def test_flops_monotone_in_batch(b1, b2):
    lo, hi = sorted((b1, b2))
    assert vision.resnet50_graph(lo).flops <= vision.resnet50_graph(hi).flops
    assert speech.bert_graph(lo, 128).flops <= speech.bert_graph(hi, 128).flops


def test_queueing_bound_properties():
    assert qps_at_p99(1.0, 1, 1.0) == 0.0  # service slower than T/ln100: nothing meets the bound
    q1, q2 = qps_at_p99(0.01, 8, 0.5), qps_at_p99(0.01, 8, 1.0)
    assert 0 < q1 < q2 < 800


def test_throughput_vectorized_over_designs():
    from tapeout.hardware import get_chip

    p = calibrated_params(get_chip("h100-sxm"))
    bw = np.array([1e12, 2e12, 4e12])
    pv = p.replace(mem_bw=bw)
    r = workload_throughput("resnet50", pv)
    assert np.shape(r["units_per_s"]) == (3,)
    assert np.all(np.diff(r["units_per_s"]) >= 0)  # more bandwidth never slower
    rs = workload_throughput("resnet50", p)
    assert rs["units_per_s"] > 0 and rs["energy_per_unit_j"] > 0
    rec = workload_throughput("dlrmv2", pv)
    assert np.all(np.diff(rec["units_per_s"]) >= 0)


def test_recsys_host_spill_slower_than_hbm():
    from tapeout.hardware import get_chip
    from tapeout.perf.recsys import recsys_cost

    p = calibrated_params(get_chip("h100-sxm"))
    g = recsys.dlrmv2_graph(64, precision="bf16", emb_dtype="fp32")  # 104.5 GB of tables > 80 GB
    r = recsys_cost(g, p)
    assert not bool(r["fits"]) and r["host_time"] > 0
    with pytest.raises(TapeoutError, match="shard|host"):
        recsys_cost(g, p, placement="hbm")
    sharded = recsys.dlrmv2_graph(64, precision="bf16", emb_dtype="fp32", shards=2)
    assert any(o.kind == "collective" for o in sharded.ops)


def test_every_preset_builds():
    for name in catalog.WORKLOADS:
        g = catalog.build_workload(name)
        assert g.flops > 0, name
