"""What a published system runs that the chip catalog cannot say: cards installed without their
NVLink bridge (the system description's accelerator_interconnect, data/mlperf/system_interconnect.yaml)
and a harness that drives one engine replica (data/mlperf/llm_harness.yaml)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import serving_collective_time, topology_for
from tapeout.perf.mlperf import serve_at_scale
from tapeout.validation.llm_harness import harness_replicas
from tapeout.validation.system_interconnect import system_chip

I, O = 222.33, 294.45  # llama2-70b dataset means (data/mlperf/benchmarks.yaml)


def _topo(chip):
    return topology_for(calibrated_params(chip), chip.family)


def test_card_without_bridge_talks_over_its_host_link():
    nvl = get_chip("h100-nvl")
    bare = nvl.without_scaleup_link(4, "test")
    t = _topo(bare)
    # the fallback every chip without a published fabric gets: the PCIe host link, per direction
    assert t.scaleup_bw == pytest.approx(float(nvl.get("host_link_bw_gbps")) * 1e9)
    assert t.wiring == "pcie" and t.domain == 4 and not t.in_switch_reduction
    assert bare.calibration_id == "h100-nvl"  # same silicon: the same kernel calibration
    assert _topo(nvl).scaleup_bw == pytest.approx(300e9)  # the catalog card keeps its 600 GB/s bridge


@given(S=st.floats(1e4, 1e9), g=st.sampled_from([2, 4]))
@settings(max_examples=30, deadline=None)
def test_allreduce_over_pcie_never_beats_the_bridge(S, g):
    # a TP group's all-reduce over PCIe (64 GB/s, library only) is never faster than over the 300 GB/s bridge
    nvl = get_chip("h100-nvl")
    bare = _topo(nvl.without_scaleup_link(4, "test"))
    bridged = _topo(nvl)
    t_bare, _ = serving_collective_time("all_reduce", S, 2, bare)
    t_bridge, _ = serving_collective_time("all_reduce", S, 2, bridged)
    assert float(t_bare) >= float(t_bridge)


def test_no_cards_is_refused():
    with pytest.raises(TapeoutError, match="cards"):
        get_chip("h100-pcie").without_scaleup_link(0, "test")


def _row(system, acc="NVIDIA H100-NVL", n=4, software="TensorRT 10.2.0, CUDA 12.4", platform="x"):
    return {"notes": f"submitter=X; system={system}; platform={platform}; nodes=1; acc_per_node={n}",
            "n_accelerators": str(n), "software": software, "accelerator": acc}


def test_system_declaring_no_interconnect_gets_the_bare_card():
    nvl = get_chip("h100-nvl")
    assert system_chip(_row("ASUSTeK ESC4000A-E12 (4xH100-NVL-94GB)"), nvl).id == "h100-nvl@pcie4"
    assert system_chip(_row("HPE ProLiant DL380a Gen11 (4x H100-NVL-94GB, TensorRT)"), nvl) is nvl  # NVLink declared
    assert system_chip(_row("some system not on file"), nvl) is nvl


def test_tp2_on_bare_cards_is_slower_than_bridged():
    # the same chips, layout and batch: only the TP all-reduce path differs, so the step can only get longer
    nvl = get_chip("h100-nvl")
    bare = nvl.without_scaleup_link(4, "test")
    kw = dict(num_chips=4, precision="fp8", input_len=I, output_len=O, scenario="offline", tp=2, pp=1, batch=128)
    a = serve_at_scale("llama2-70b", nvl.id, **kw)
    b = serve_at_scale("llama2-70b", bare.id, **kw)
    assert b.tpot_s > a.tpot_s and b.output_tokens_per_s < a.output_tokens_per_s
    # TP1 has no all-reduce: the link is irrelevant
    kw.update(tp=1)
    assert serve_at_scale("llama2-70b", bare.id, **kw).output_tokens_per_s == pytest.approx(
        serve_at_scale("llama2-70b", nvl.id, **kw).output_tokens_per_s)


def test_reference_api_harness_runs_one_replica_per_node():
    nm = _row("Crusoe Cloud L40S (8x L40S PCIe, vLLM, FP8)", "NVIDIA L40S", 8, "vLLM 0.5.2",
              "vLLM_8xL40S-reference-cpu-pytorch-v2.3.1-default_config")
    assert harness_replicas(nm) == 1
    assert harness_replicas({**nm, "notes": nm["notes"].replace("nodes=1", "nodes=2")}) == 2
    assert harness_replicas(_row("Fujitsu", "NVIDIA L40S", 8)) is None  # NVIDIA's harness: tapeout picks DP


@pytest.mark.parametrize("replicas", [1, 2])
def test_replicas_fix_the_layout(replicas):
    r = serve_at_scale("llama2-70b", "l40s", 8, "fp8", I, O, "offline", stack="vllm", replicas=replicas)
    assert r.parallelism.endswith(f"x DP{replicas}")


def test_bad_replicas_name_the_field():
    with pytest.raises(TapeoutError, match="replicas"):
        serve_at_scale("llama2-70b", "l40s", 8, "fp8", I, O, "offline", stack="vllm", replicas=3)
