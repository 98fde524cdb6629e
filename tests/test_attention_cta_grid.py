"""Chip data attention_cta_grid (family_defaults.yaml; hardware/params.py ATTENTION_CTA_GRID_GATE): the per-wave
fused-attention CTA latency of the context kernels (kernel_structure.yaml attn_unit_time_us) applies to chips that
run attention as a CTA grid over their cores, not to Gaudi, whose graph compiler lowers it to batched GEMMs on its
MMEs and a TPC softmax (docs.habana.ai, Gaudi Architecture). Issue 18, round stop-37."""

from __future__ import annotations

import math

import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware import params as params_mod
from tapeout.hardware.catalog import get_chip
from tapeout.hardware.params import KERNEL_STRUCTURE
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.workloads import speech

UNIT_S = KERNEL_STRUCTURE["attn_unit_time_us"] * 1e-6
BATCH, SEQ, HEADS, Q_TILE = 56, 254, 16, 128  # BERT-Large, one Gaudi2 BERT row's per-chip batch at the mean length


def _attn_compute(p) -> float:
    g = speech.bert_graph(BATCH, SEQ, "bf16", head="pretrain", mlm_per_seq=38)
    i = next(k for k, o in enumerate(g.ops) if o.name == "layer.attn")
    return float(evaluate(g, p).compute_time[i])


def test_gaudi_chip_data_states_no_cta_grid_with_its_source():
    """The sourced fact: Gaudi2 and Gaudi3 (family intel-gaudi) lower attention to MME batched GEMMs; the GPU
    catalog keeps the generic default, the kernels the latency was fitted on."""
    for cid in ("gaudi2", "gaudi3"):
        chip = get_chip(cid)
        assert chip.get("attention_cta_grid") is False
        src = chip.source_of("attention_cta_grid")
        assert "docs.habana.ai" in src and "batched-GEMM" in src
    for cid in ("h100-sxm", "a100-sxm", "mi300x"):
        assert get_chip(cid).get("attention_cta_grid") is True


def test_cta_grid_latency_is_one_unit_time_per_wave_and_absent_on_gaudi():
    """On a CTA-grid chip the context attention op carries ceil(sequences x heads x query tiles / cores) waves of
    attn_unit_time (closed form); on Gaudi2 (2 MMEs) the same op carries none: zeroing the latency changes nothing,
    while it would have charged 896 waves (2.8 ms) per layer. The generation-kernel latency stays (not gated)."""
    a100 = calibrated_params(get_chip("a100-sxm"))
    waves = math.ceil(BATCH * HEADS * math.ceil(SEQ / Q_TILE) / a100.num_cores)
    assert _attn_compute(a100) - _attn_compute(a100.replace(attn_unit_time=0.0)) == pytest.approx(waves * UNIT_S, rel=1e-9)
    g2 = calibrated_params(get_chip("gaudi2"))
    assert g2.attn_unit_time == 0.0 and g2.attn_unit_flops == 0.0
    assert _attn_compute(g2) == _attn_compute(g2.replace(attn_unit_time=0.0))
    assert g2.attn_decode_unit_time == pytest.approx(KERNEL_STRUCTURE["attn_decode_unit_time_us"] * 1e-6)
    assert math.ceil(BATCH * HEADS * math.ceil(SEQ / Q_TILE) / g2.num_cores) == 896


def test_switch_off_restores_the_latency_on_gaudi(monkeypatch):
    monkeypatch.setattr(params_mod, "ATTENTION_CTA_GRID_GATE", False)
    assert calibrated_params(get_chip("gaudi2")).attn_unit_time == pytest.approx(UNIT_S)


def test_decode_gate_off_keeps_and_on_drops_only_the_generation_terms(monkeypatch):
    """ATTENTION_CTA_GRID_DECODE_GATE (off, see hardware/params.py): on, a chip stating attention_cta_grid false loses
    the generation kernels' per-wave terms too; a CTA-grid chip keeps them either way."""
    dec = KERNEL_STRUCTURE["attn_decode_unit_time_us"] * 1e-6
    assert params_mod.ATTENTION_CTA_GRID_DECODE_GATE is False
    monkeypatch.setattr(params_mod, "ATTENTION_CTA_GRID_DECODE_GATE", True)
    g2 = calibrated_params(get_chip("gaudi2"))
    assert g2.attn_decode_unit_time == 0.0 and g2.attn_decode_unit_flops == 0.0 and g2.attn_unit_time == 0.0
    assert calibrated_params(get_chip("a100-sxm")).attn_decode_unit_time == pytest.approx(dec)


def test_a_user_chip_can_state_it(session_chips):
    """A user's NPU derived from a GPU states attention_cta_grid false and loses exactly the per-wave term."""
    from tapeout import register_chip

    register_chip({"id": "test-npu-nogrid", "base": "a100-sxm", "specs": {"attention_cta_grid": False}})
    p = calibrated_params(get_chip("test-npu-nogrid"))
    assert p.attn_unit_time == 0.0
    base = calibrated_params(get_chip("a100-sxm"))
    assert _attn_compute(p) == pytest.approx(_attn_compute(base.replace(attn_unit_time=0.0)), rel=1e-12)


@pytest.mark.parametrize("bad", ["no", 0, 1.0])
def test_a_user_chips_attention_cta_grid_is_a_switch(bad, session_chips):
    from tapeout import register_chip

    with pytest.raises(TapeoutError, match=r"chip\.specs\.attention_cta_grid is a switch: give true or false"):
        register_chip({"id": "test-npu-badgrid", "base": "a100-sxm", "specs": {"attention_cta_grid": bad}})


# Each family's attention_cta_grid with the primary source it rests on (family_defaults.yaml; round stop-37, issue-41a):
# (a catalog chip of the family, the value, strings its source must carry)
FAMILY_VALUES = [
    ("tpu-v5e", False, ("docs.jax.dev/en/latest/pallas/tpu/details.html", "sequentially, in lexicographic order",
                        "flash_attention.py", "counts MXUs")),
    ("tpu-v4", False, ("Multicore TPU configurations",)),
    ("inferentia2", False, ("nki/deep-dives/programming_model.html", "a single NeuronCore-v2",
                            "nki_samples/reference/attention.py flash_fwd", "flash_fwd[b, kv_h]")),
    ("trainium2", False, ("nki.language.nc",)),
    ("ascend-910b", True, ("hiascend.com", "cceprogram_0009", "block_idx", "executed in batches on these cores", "AI cores")),
    ("mi250x", True, ("fmha_fwd_tile_partitioner.hpp", "GridSize", "counts CUs")),
    ("mi300x", True, ("composable_kernel",)),
    ("mi355x", True, ("composable_kernel",)),
    ("gaudi3", False, ("docs.habana.ai",)),
]


@pytest.mark.parametrize("cid,value,needles", FAMILY_VALUES)
def test_each_familys_value_is_pinned_to_its_source(cid, value, needles):
    chip = get_chip(cid)
    assert chip.get("attention_cta_grid") is value
    src = chip.source_of("attention_cta_grid")
    assert "not stated for this family" not in src  # a stated family value, not the generic fallback
    for needle in needles:
        assert needle in src


@pytest.mark.parametrize("cid,value", [(c, v) for c, v, _ in FAMILY_VALUES])
def test_the_per_wave_latency_follows_the_family_value(cid, value):
    """A chip whose attention is no CTA grid over num_cores pays no per-wave context latency; a grid chip keeps the
    NVIDIA-fitted one (no chip of these families has a kernel fit of its own that would override it)."""
    p = calibrated_params(get_chip(cid))
    assert (p.attn_unit_time == pytest.approx(UNIT_S)) is value
    assert (p.attn_unit_time == 0.0 and p.attn_unit_flops == 0.0) is (not value)
