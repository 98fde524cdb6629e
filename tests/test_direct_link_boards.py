"""SXM modules on a switchless board (4-GPU HGX H100: every pair of GPUs wired directly, 6 of each
H100's 18 NVLink 4 links to each of its 3 peers) against the catalog's switched 8-GPU board
(hardware/catalog.Chip.with_direct_links; data/mlperf/system_interconnect.yaml `wiring: mesh`)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import serving_collective_time, topology_for
from tapeout.perf.mlperf import serve_at_scale
from tapeout.validation.system_interconnect import system_chip

I, O = 222.33, 294.45  # llama2-70b dataset means (data/mlperf/benchmarks.yaml)


def _topo(chip):
    return topology_for(calibrated_params(chip), chip.family)


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


def _row(system, n=4):
    return {"notes": f"submitter=X; system={system}; platform=x; nodes=1; acc_per_node={n}",
            "n_accelerators": str(n), "software": "TensorRT 10.2.0, CUDA 12.4", "accelerator": "NVIDIA H100-SXM"}


@pytest.mark.parametrize("system", ["Dell PowerEdge XE8640 (4x H100-SXM-80GB, TensorRT)",
                                    "Dell PowerEdge XE9640 (4x H100-SXM-80GB, TensorRT)",
                                    "GX2560M7_H100_SXM_80GBx4 (4x H100-SXM-80GB, TensorRT)"])
def test_four_gpu_hgx_systems_get_the_mesh(system):
    sxm = get_chip("h100-sxm")
    assert system_chip(_row(system), sxm).id == "h100-sxm@mesh4"


def test_switched_board_keeps_the_catalog_chip():
    sxm = get_chip("h100-sxm")
    assert system_chip(_row("Dell PowerEdge XE9680 (8x H100-SXM-80GB, TensorRT)", 8), sxm) is sxm


def test_tp2_on_the_mesh_is_slower_and_tp1_is_not():
    sxm = get_chip("h100-sxm")
    mesh = sxm.with_direct_links(4, "test")
    kw = dict(num_chips=4, precision="fp8", input_len=I, output_len=O, scenario="offline", tp=2, pp=1, batch=256)
    a = serve_at_scale("llama2-70b", sxm.id, **kw)
    b = serve_at_scale("llama2-70b", mesh.id, **kw)
    assert b.tpot_s > a.tpot_s and b.output_tokens_per_s < a.output_tokens_per_s
    kw.update(tp=1, pp=1, batch=64)  # a model that fits one chip: no all-reduce at TP1, the board is irrelevant
    assert serve_at_scale("llama-3.1-8b", mesh.id, **kw).output_tokens_per_s == pytest.approx(
        serve_at_scale("llama-3.1-8b", sxm.id, **kw).output_tokens_per_s)
