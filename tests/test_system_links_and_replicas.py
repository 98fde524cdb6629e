"""What a published system runs that the chip catalog cannot say: cards installed without their
NVLink bridge, SXM modules on a switchless board (4-GPU HGX H100: every pair of GPUs wired directly,
6 of each H100's 18 NVLink 4 links to each of its 3 peers; the system description's
accelerator_interconnect, data/mlperf/system_interconnect.yaml) and a harness that drives one engine
replica (data/mlperf/llm_harness.yaml)."""

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


@pytest.mark.parametrize("chip_id, rewire", [("h100-nvl", lambda c: c.without_scaleup_link(4, "test")),
                                               ("h100-sxm", lambda c: c.with_direct_links(4, "test"))])
def test_tp2_over_a_slower_link_is_slower_and_tp1_is_not(chip_id, rewire):
    # the same chips, layout and batch: only the TP all-reduce path differs, so the step can only get longer
    chip = get_chip(chip_id)
    other = rewire(chip)
    kw = dict(num_chips=4, precision="fp8", input_len=I, output_len=O, scenario="offline", tp=2, pp=1, batch=128)
    a = serve_at_scale("llama2-70b", chip.id, **kw)
    b = serve_at_scale("llama2-70b", other.id, **kw)
    assert b.tpot_s > a.tpot_s and b.output_tokens_per_s < a.output_tokens_per_s
    # TP1 (a model that fits one chip) has no all-reduce: the link is irrelevant
    kw.update(tp=1, batch=64)
    assert serve_at_scale("llama-3.1-8b", other.id, **kw).output_tokens_per_s == pytest.approx(
        serve_at_scale("llama-3.1-8b", chip.id, **kw).output_tokens_per_s)


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


# ---- switchless 4-GPU boards (hardware/catalog.Chip.with_direct_links; system_interconnect.yaml wiring: mesh) ----

def test_mesh_board_wiring():
    sxm = get_chip("h100-sxm")
    mesh = sxm.with_direct_links(4, "test")
    t, sw = _topo(mesh), _topo(sxm)
    assert mesh.id == "h100-sxm@mesh4" and mesh.calibration_id == "h100-sxm"  # same silicon, same kernels
    assert t.wiring == "mesh" and t.domain == 4 and not t.in_switch_reduction  # no NVSwitch: no NVLink SHARP
    assert t.scaleup_bw == pytest.approx(sw.scaleup_bw)  # the chip's own 18 links, all of them
    # a pair reaches each other over its 6 direct links of 18; all four ranks over all of them
    assert t.link_bw_for_group(2) == pytest.approx(sw.scaleup_bw / 3)
    assert t.link_bw_for_group(4) == pytest.approx(sw.scaleup_bw)
    assert sw.link_bw_for_group(2) == pytest.approx(sw.scaleup_bw)


@given(S=st.floats(1e3, 2e8))
@settings(max_examples=40, deadline=None)
def test_tp2_allreduce_pays_the_pair_link(S):
    # at 2 ranks every all-reduce algorithm (ring, tree, one-/two-shot) moves S bytes per rank over
    # one link and pays the same latency and library excess on both boards, so the mesh pair (B / 3)
    # costs exactly S (1 / (B/3) - 1 / B) / eff = 2 S / (B eff) more, custom kernel or library alike
    sxm = get_chip("h100-sxm")
    sw, mesh = _topo(sxm), _topo(sxm.with_direct_links(4, "test"))
    t_sw, a_sw = serving_collective_time("all_reduce", S, 2, sw)
    t_mesh, a_mesh = serving_collective_time("all_reduce", S, 2, mesh)
    assert a_sw.split()[0] == a_mesh.split()[0]  # same dispatch (custom kernel vs library)
    assert float(t_mesh) - float(t_sw) == pytest.approx(2.0 * S / (sw.scaleup_bw * sw.eff_link), rel=1e-6)


def test_one_card_is_not_a_mesh():
    with pytest.raises(TapeoutError, match="cards"):
        get_chip("h100-sxm").with_direct_links(1, "test")


@pytest.mark.parametrize("system", ["Dell PowerEdge XE8640 (4x H100-SXM-80GB, TensorRT)",
                                    "Dell PowerEdge XE9640 (4x H100-SXM-80GB, TensorRT)",
                                    "GX2560M7_H100_SXM_80GBx4 (4x H100-SXM-80GB, TensorRT)"])
def test_four_gpu_hgx_systems_get_the_mesh(system):
    sxm = get_chip("h100-sxm")
    assert system_chip(_row(system, "NVIDIA H100-SXM"), sxm).id == "h100-sxm@mesh4"


def test_switched_board_keeps_the_catalog_chip():
    sxm = get_chip("h100-sxm")
    assert system_chip(_row("Dell PowerEdge XE9680 (8x H100-SXM-80GB, TensorRT)", "NVIDIA H100-SXM", 8), sxm) is sxm
