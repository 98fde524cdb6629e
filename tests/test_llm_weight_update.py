"""The LLM training engine's optimizer step through the shared weight-update term (perf/weight_update.py at
data/software/llm_weight_update.yaml; issue 18, round stop-32): bytes per parameter in closed form, the
distributed optimizer's shard over DP, LoRA updating only the adapters, XLA sharding on TPU."""

from __future__ import annotations

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.perf.train_lora import LoraAdapters
from tapeout.perf.training import train
from tapeout.perf.weight_update import _llm_specs, bytes_per_param, llm_update_spec
from tapeout.workloads.llm_config import load_llm


@pytest.mark.parametrize("name, expected", [
    # Megatron-Core distributed optimizer, FP32 grad buffer: grad-norm (r g32) + FusedAdam over the FP32
    # main params (r g, p, m, v; w p, m, v) + the FP32 -> BF16 param copy (r 4, w 2)
    ("megatron-distributed-adam", 4 + 7 * 4 + (4 + 2)),
    # BF16 grad buffer: the FP32 copy of the gradient shard first (r 2, w 4)
    ("megatron-distributed-adam-bf16-grads", (2 + 4) + 4 + 7 * 4 + (4 + 2)),
    # Apex DistributedFusedAdam (NeMo MLPerf GPT-3), BF16 gradient shard: grad-norm (r g16) + multi_tensor_fused_adam
    # (r p32, m, v, g16; w p32, m, v, p16)
    ("apex-distributed-fused-adam", 2 + (12 + 2) + (12 + 2)),
    # MaxText AdamW on FP32 params under XLA: global norm (r g) + one fused update (r g, p, mu, nu; w p, mu, nu)
    ("maxtext-adamw", 4 + 7 * 4),
])
def test_bytes_per_parameter_closed_form(name, expected):
    assert bytes_per_param(_llm_specs()[name]["value"]) == expected


def test_every_llm_spec_is_sourced_and_consistent():
    for name, e in _llm_specs().items():
        assert e.get("source") and e.get("status"), name
        size = e["value"]["bytes"]
        for k in e["value"]["kernels"]:
            assert set(k.get("reads", ())) | set(k.get("writes", ())) <= set(size), (name, k)


def test_spec_follows_the_stack_and_layout():
    assert llm_update_spec("NVIDIA", 4, 1) == ("megatron-distributed-adam",
                                                _llm_specs()["megatron-distributed-adam"]["value"])
    assert llm_update_spec("NVIDIA", 2, 1)[0] == "megatron-distributed-adam-bf16-grads"
    assert llm_update_spec("NVIDIA", 4, 0)[1]["shard"] == "none"  # no distributed optimizer: replicated
    # Apex's kernel reads the gradient shard in the stack's grad_sync_dtype: FP32 gradients add 2 x 2 B
    assert bytes_per_param(llm_update_spec("NVIDIA", 2, 1, apex=True)[1]) == 30
    assert bytes_per_param(llm_update_spec("NVIDIA", 4, 1, apex=True)[1]) == 34
    # XLA shards the update over the replicas whatever the layout's ZeRO stage
    assert llm_update_spec("Google", 4, 0) == ("maxtext-adamw", _llm_specs()["maxtext-adamw"]["value"])
    assert llm_update_spec("Google", 4, 0)[1]["shard"] == "all"


KW = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=64, global_batch_tokens=64 * 8192, seq_len=8192,
          tp=4, pp=1, cp=1, mbs=1, recompute="full")


def test_distributed_optimizer_divides_the_update_by_dp():
    """ZeRO-1 updates 1/DP of the parameters: the step's optimizer time is the replicated one over DP:
    DP = 16 at TP 4, within the fixed per-launch time of the 3 multi-tensor kernels (ceil(P/DP / 20,971,520) launches each)."""
    full = train(zero=0, **KW).breakdown["optimizer"]
    shard = train(zero=1, **KW).breakdown["optimizer"]
    assert shard * 16 == pytest.approx(full, rel=0.05)


def test_replicated_update_moves_38_bytes_per_parameter():
    """Megatron-Core's distributed Adam at ZeRO-0 over the whole 8B model's TP-4 shard: 38 B per parameter at the
    chip's DRAM bandwidth, between peak bandwidth (lower bound) and half of it."""
    t = train(zero=0, **KW).breakdown["optimizer"]
    floor = 38 * load_llm("llama-3.1-8b").param_count() / 4 / (get_chip("h100-sxm").get("memory_bandwidth_tbps") * 1e12)
    assert floor < t < 2 * floor


def test_lora_updates_only_the_adapters():
    """LoRA (perf/train_lora): the optimizer step runs over the adapters only: 38 B per adapter parameter of
    the TP rank at DRAM bandwidth (between peak bandwidth and half of it), not over the frozen base weights."""
    kw = dict(model="llama-2-70b", chip="h100-sxm", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192,
              precision="bf16", tp=4, pp=1, cp=1, zero=0)
    t = train(lora=LoraAdapters(16, ("qkv_proj", "o_proj"), 0.0), **kw).breakdown["optimizer"]
    bw = get_chip("h100-sxm").get("memory_bandwidth_tbps") * 1e12
    # 80 layers x r (k + n) for qkv (8192 + 10240) and o (8192 + 8192), split over TP 4
    floor = 38 * 80 * 16 * ((8192 + 10240) + (8192 + 8192)) / 4 / bw
    assert floor < t < 2 * floor
    assert t < 1e-3 * 38 * load_llm("llama-2-70b").param_count() / 4 / bw


def test_tpu_shards_the_update_at_any_zero_stage():
    """XLA's cross-replica weight-update sharding (Xu et al. 2020): on a TPU the update runs on 1/DP of the
    parameters whether or not the layout shards the optimizer states; a GPU at ZeRO-0 replicates it."""
    kw = {**KW, "chip": "tpu-v5p"}
    assert train(zero=0, **kw).breakdown["optimizer"] == pytest.approx(train(zero=1, **kw).breakdown["optimizer"])
