"""FP32 main gradients of BF16 training (Megatron-LM --bf16 forces accumulate_allreduce_grads_in_fp32;
NeMo 2 bf16_mixed() sets grad_reduce_in_fp32=True): memory and the data-parallel reduce-scatter."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, topology_for
from tapeout.perf.dp_buckets import BucketRule, collective_count
from tapeout.perf.serving_sim import ensure_vector
from tapeout.perf.train_layout import TrainLayout
from tapeout.perf.train_memory import GRAD_BYTES, device_memory, device_params
from tapeout.perf.training import train
from tapeout.workloads.llm_config import load_llm


@settings(max_examples=20, deadline=None)
@given(st.sampled_from([1, 2, 4, 8]), st.sampled_from([1, 2, 4]), st.sampled_from([1, 8, 64]))
def test_distributed_optimizer_bytes_per_parameter(tp, pp, dp):
    """Megatron distributed-optimizer table (dist_optimizer.md): bf16 param, fp32 grads = 6 + 12/d bytes
    per parameter under ZeRO-1 (d = DP x CP), whatever the model-parallel split."""
    cfg = load_llm("llama-3.1-8b")
    lay = TrainLayout(tp=tp, pp=pp, dp=dp, zero=1, recompute="full")
    L = cfg.num_hidden_layers
    layers = [L // pp] * pp
    mem = device_memory(cfg, lay, layers, m=1, s_local=2048)
    d = mem["device"]
    dense, _ = device_params(cfg, lay, layers[d], d == 0, d == pp - 1)
    states = mem["mem_weights"] + mem["mem_grads"] + mem["mem_optimizer"]
    assert GRAD_BYTES == 4.0
    assert states == pytest.approx(dense * (6.0 + 12.0 / dp))


def test_dp_reduce_scatter_carries_fp32_gradients():
    """ZeRO-1 data-parallel traffic of one pipeline-free replica: reduce-scatter of 4-byte gradients,
    all-gather of 2-byte BF16 parameters (t_dp = t_rs + t_ag)."""
    cfg = load_llm("llama-3.1-8b")
    r = train("llama-3.1-8b", "h100-sxm", 64, 64 * 8192, 8192, tp=8, pp=1, cp=1, zero=1, mbs=1)
    c = get_chip("h100-sxm")
    topo = topology_for(ensure_vector(calibrated_params(c)), c.family)
    dense, _ = device_params(cfg, TrainLayout(tp=8, pp=1, dp=8), cfg.num_hidden_layers, True, True)
    # one reduce-scatter and one all-gather per Megatron-Core bucket (max(40M, 1M x DP) parameters)
    n = collective_count(dense, 1, BucketRule(), 8, 4.0)
    assert n == -(-int(dense) // 40_000_000)
    t_rs = n * float(collective_time("reduce_scatter", 4.0 * dense / n, 8, topo, stride=8)[0])
    t_ag = n * float(collective_time("all_gather", 2.0 * dense / n, 8, topo, stride=8)[0])
    assert r.breakdown["t_dp"] == pytest.approx(t_rs + t_ag, rel=1e-9)  # PP 1: no sends share the NIC
    assert t_rs > t_ag  # twice the bytes over the same ring


def test_bf16_grad_sync_halves_the_gradient_buffer_and_reduce_scatter():
    """NeMo 1.x distributed_fused_adam with grad_sync_dtype: bf16 (NVIDIA's MLPerf GPT-3 configs):
    the gradient memory and the reduce-scatter carry 2 bytes; the parameter all-gather is unchanged."""
    kw = dict(tp=8, pp=1, cp=1, zero=1, mbs=1)
    f32 = train("llama-3.1-8b", "h100-sxm", 64, 64 * 8192, 8192, **kw).breakdown
    b16 = train("llama-3.1-8b", "h100-sxm", 64, 64 * 8192, 8192, grad_sync="bf16", **kw).breakdown
    assert b16["mem_grads"] == pytest.approx(f32["mem_grads"] / 2)
    assert b16["mem_weights"] == pytest.approx(f32["mem_weights"])
    assert b16["t_dp"] < f32["t_dp"]


def test_stack_sets_grad_sync_and_bad_dtype_is_refused():
    from tapeout.errors import TapeoutError
    from tapeout.perf.train_stack import find_stack, stack_settings

    _, settings, _ = stack_settings(find_stack("NeMo Framework Release 24.04", "v4.0"), {}, {}, False)
    assert settings["grad_sync"] == "bf16"
    with pytest.raises(TapeoutError, match="grad_sync"):
        train("llama-3.1-8b", "h100-sxm", 64, 64 * 8192, 8192, grad_sync="fp8")
