"""A harness that launches its serving stack at the stack's defaults (data/mlperf/llm_harness.yaml
`stack_defaults`) serves with the stack's default running-sequence cap (vLLM V0 max_num_seqs 256,
data/software/serving_stacks.yaml default_max_seqs), and vLLM's TP all-reduce on PCIe cards without
peer access goes to the collective library (docs/notes/issue-24.md, round stop-37, branch issue-39b)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import serving_collective_time, topology_for
from tapeout.perf.mlperf import serve_at_scale
from tapeout.perf.stacks import default_max_seqs, stack_for_software
from tapeout.validation.llm_harness import harness_max_batch

I, O = 222.33, 294.45  # llama2-70b dataset means (data/mlperf/benchmarks.yaml)


def _row(software, platform, system="Crusoe Cloud L40S (8x L40S PCIe, vLLM, FP8)", n=8):
    return {"notes": f"submitter=X; system={system}; platform={platform}; nodes=1; acc_per_node={n}",
            "n_accelerators": str(n), "software": software, "accelerator": "NVIDIA L40S"}


NM = _row("vLLM 0.5.2", "vLLM_8xL40S-reference-cpu-pytorch-v2.3.1-default_config")


def test_vllm_v0_default_max_num_seqs_is_256():
    # vllm/engine/arg_utils.py EngineArgs.max_num_seqs: 256 on the V0 engine (every release the two stacks cover)
    assert default_max_seqs("vllm") == 256
    assert default_max_seqs("vllm-0.4") == 256
    assert default_max_seqs("tensorrt-llm-0.x") is None  # no default cap on file: tapeout picks the batch


def test_reference_api_harness_serves_at_the_stack_default():
    stack = stack_for_software(NM["software"])
    assert stack == "vllm"
    assert harness_max_batch(NM, stack) == 256
    assert harness_max_batch(NM, stack, on=False) is None  # the switch off: the layout search's batch
    # NVIDIA's TensorRT harness and AMD's own vLLM harness set their engines themselves: no default imposed
    assert harness_max_batch(_row("TensorRT 10.2.0, CUDA 12.4", "CDI_L40SX8_TRT"), "tensorrt-llm-0.x") is None
    amd = _row("vLLM 0.4.3+rocm614, PyTorch 2.3.0", "8xMI300X_2xEPYC-9374F", "Supermicro AS-8125GS-TNMR2")
    assert harness_max_batch(amd, stack_for_software(amd["software"])) is None


def test_a_running_sequence_cap_bounds_the_batch_and_never_raises_throughput():
    kw = dict(num_chips=8, precision="fp8", input_len=I, output_len=O, scenario="offline", stack="vllm", replicas=1)
    free = serve_at_scale("llama2-70b", "l40s", **kw)
    capped = serve_at_scale("llama2-70b", "l40s", max_batch=256, **kw)
    assert free.batch_size > 256 >= capped.batch_size
    assert capped.output_tokens_per_s <= free.output_tokens_per_s


@given(S=st.floats(1e3, 8e6))
@settings(max_examples=25, deadline=None)
def test_vllm_allreduce_on_pcie_cards_is_the_library_and_slower_than_nvlink(S):
    # vLLM's custom all-reduce needs peer access (custom_all_reduce.py: off for > 2 PCIe-only GPUs, off
    # without P2P); on PCIe cards the 8-rank TP all-reduce is NCCL's, and the same bytes cost more than on
    # an NVLink-switched board where the custom kernel takes them (S <= 8 MiB, max_size 8192 * 1024)
    pcie = topology_for(calibrated_params(get_chip("l40s")), "nvidia-ada")
    nvl = topology_for(calibrated_params(get_chip("h100-sxm")), "nvidia-hopper")
    t_pcie, how_pcie = serving_collective_time("all_reduce", S, 8, pcie, stack="vllm")
    t_nvl, how_nvl = serving_collective_time("all_reduce", S, 8, nvl, stack="vllm")
    assert how_pcie in ("ring", "tree")  # the library's algorithms, no peer-access kernel
    assert how_nvl in ("one_shot", "two_shot")
    assert float(t_pcie) > float(t_nvl)
