"""FlashAttention 1.x (the v3.0 NeMo Megatron 23.04 stack's attention library) at its H100 rate:
measured only against FlashAttention-2, forward + backward in one timing (Dao, FlashAttention-2,
arXiv:2307.08691, Fig. 7d: H100 80GB SXM5, causal, head dim 128, 16k tokens per batch), bridged to
the calibrated cuDNN kernels through FA2's own measured ratio (perf/train_attention.library_ratio)."""

import numpy as np
import pytest

from tapeout.perf.fit.rows import read_attention_kernels
from tapeout.perf.train_attention import COMBINED, library_ratio
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.training import train

# Fig. 7d bars (TFLOPs/s) at seq 512..16k, FlashAttention and FlashAttention-2
FA1_FWDBWD = [98, 126, 106, 104, 135, 137]
FA2_FWDBWD = [163, 221, 265, 294, 308, 328]


def test_fa1_is_fa2s_ratio_times_the_figures_fa1_over_fa2():
    r = float(np.median(np.divide(FA1_FWDBWD, FA2_FWDBWD)))
    assert r == pytest.approx((137 / 328 + 135 / 308) / 2)  # the middle two of the six ratios (16k and 8k)
    fa2 = library_ratio("h100-sxm", "fa2")
    fa1 = library_ratio("h100-sxm", "fa1")
    assert fa1 == pytest.approx((r * fa2[0], r * fa2[1]))
    # one factor on both passes: the combined timing cannot split it
    assert fa1[0] / fa2[0] == pytest.approx(fa1[1] / fa2[1])
    # FA1 below FA2 below cuDNN on Hopper (neither uses wgmma / TMA; FA1 has no sequence parallelism)
    assert 0.0 < fa1[0] < fa2[0] < 1.0 and 0.0 < fa1[1] < fa2[1] < 1.0


def test_combined_rows_are_fa1_and_fa2_on_the_same_setups():
    rows = [r for r in read_attention_kernels() if r["direction"] == COMBINED]
    key = lambda r: (r["chip"], r["causal"], r["head_dim"], r["heads"], r["seq_len"], r["batch"], r["dtype"])
    by_impl = {i: {key(r) for r in rows if r["impl"] == i} for i in {r["impl"] for r in rows}}
    assert set(by_impl) == {"fa1", "fa2"} and by_impl["fa1"] == by_impl["fa2"]
    # 16k tokens per batch, as the paper's setup
    assert all(int(r["seq_len"]) * int(r["batch"]) == 16384 for r in rows)


def test_chip_without_an_fa1_measurement_keeps_the_calibrated_rate():
    # H200 has FA2 against cuDNN but no FA1 timing: nothing to bridge
    assert library_ratio("h200", "fa2") is not None
    assert library_ratio("h200", "fa1") is None


def test_v30_stack_runs_fa1_and_its_step_grows_by_exactly_the_slower_attention():
    _, settings, _ = stack_settings(find_stack("NVIDIA NeMo Framework", "v3.0"), {}, {}, False)
    assert settings.get("attention_kernel") == "fa1"
    kw = dict(tp=4, pp=8, vp=1, mbs=1, cp=1, zero=1, recompute="none")
    args = ("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "bf16")
    cudnn, fa2, fa1 = (train(*args, attention_kernel=k, **kw) for k in ("cudnn", "fa2", "fa1"))
    # attention time scales as 1 / rate: the FA1 excess over cuDNN is the FA2 excess x (1/r1 - 1) / (1/r2 - 1)
    (r1, _), (r2, _) = library_ratio("h100-sxm", "fa1"), library_ratio("h100-sxm", "fa2")
    d1, d2 = fa1.breakdown["F"] - cudnn.breakdown["F"], fa2.breakdown["F"] - cudnn.breakdown["F"]
    assert d1 == pytest.approx(d2 * (1 / r1 - 1) / (1 / r2 - 1), rel=1e-6)
    assert fa1.step_time_s > fa2.step_time_s > cudnn.step_time_s
