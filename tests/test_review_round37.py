"""Hostile review of round stop-37's merged changes (branch issue-40a; docs/notes/issue-18.md): each test
failed on main at 298c5b5 and pins the fix."""

import pytest

from tapeout import api, register_chip
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf.stacks import default_max_seqs
from tapeout.validation.llm_harness import harness_max_batch
from tapeout.validation.other_training import training_time

NEURALMAGIC = "submitter=NeuralMagic; platform=vLLM_8xL40S-reference-cpu-pytorch-v2.3.1-default_config; nodes=1"


@pytest.mark.parametrize("limits", [True, False])
def test_a_zero_die_area_is_refused_naming_the_field(limits, session_chips):
    # was a ZeroDivisionError out of the floorplan's heat flux (package power / 0 mm^2), with the limits on or off
    with pytest.raises(TapeoutError, match=r"chip\.specs\.logic_die_area_mm2_total must be a finite number > 0"):
        register_chip({"id": "t-zero-die", "base": "h100-sxm", "specs": {"logic_die_area_mm2_total": 0},
                       "physical_limits": limits})


def test_a_chip_dated_before_its_packaging_is_refused_naming_year_and_packaging(session_chips):
    # CoWoS-S is on file from 2016 (floorplan.yaml): a 1990 chip on it cannot be checked, and the error names the
    # chip-file fields, not only the floorplan's own words
    with pytest.raises(TapeoutError, match=r"t-1990.*not available in 1990.*chip\.specs\.year or chip\.packaging.*"
                                           r"physical_limits: false"):
        register_chip({"id": "t-1990", "base": "h100-sxm", "specs": {"year": 1990}})


def test_compliance_of_an_opted_out_chip_dated_before_its_packaging_answers(session_chips):
    # registered with physical_limits: false, its export check still answers (was: the buildable part raised and
    # took compliance and `show`'s economics down with it); the floorplan limits are reported as not checked
    register_chip({"id": "t-1990-off", "base": "h100-sxm", "specs": {"year": 1990}, "physical_limits": False})
    r = api.compliance(chip="t-1990-off").to_dict()
    assert r["tpp"] > 0
    b = r["buildable"]
    assert b["checked"] == ["reticle"] and b["buildable"]
    assert any("not available in 1990" in n for n in b["notes"])
    assert "error" not in api.get_chip("t-1990-off").to_dict()["economics"]


def test_a_harness_row_that_states_its_server_cap_runs_at_it():
    # the stack default (vLLM V0 max_num_seqs 256) stands in only where the server was launched with nothing set
    assert harness_max_batch({"notes": NEURALMAGIC, "software": "vLLM 0.5.2"}, "vllm") == default_max_seqs("vllm") == 256
    stated = {"notes": NEURALMAGIC + "; max_num_seqs=512", "software": "vLLM 0.5.2"}
    assert harness_max_batch(stated, "vllm") == 512
    assert harness_max_batch(stated, "vllm", on=False) is None


def test_bert_run_shows_which_graph_its_stack_was_priced_on():
    # the unfused attention (vendor rule) and the every-slot MLM head (vendor + software rule) change the answer:
    # shown with it (the step breakdown / the validation row's detail), not silent
    gaudi, h100 = get_chip("gaudi2"), get_chip("h100-sxm")
    pt = training_time("bert", gaudi, 8, 48, None, software="Intel-HabanaLabs PyTorch 1.13")["bert_graph"]
    tf = training_time("bert", gaudi, 8, 48, None, software="TensorFlow 2.8")["bert_graph"]
    nv = training_time("bert", h100, 8, 48, None, software="PyTorch NVIDIA Release 23.04")["bert_graph"]
    assert pt["attention"].startswith("unfused over") and pt["mlm_head"].startswith("every slot")
    assert tf["attention"].startswith("unfused over") and tf["mlm_head"].startswith("masked tokens")
    assert nv["attention"].startswith("fused") and nv["mlm_head"].startswith("masked tokens")
    assert "bert_graph" not in training_time("resnet", h100, 8, 256, None)


def test_clock_stretch_with_no_memory_time_stretches_the_math():
    # a GEMM with no memory time on file (nan) hides nothing: t / keep at the sustained clock, as the measured rule
    # priced it before the merge (Python's max(t, nan) = t), not nan for the whole step
    from tapeout.perf.train_clock import clock_stretch, measured_at_sustained

    assert measured_at_sustained(1e-3, float("nan"), 0.8) == pytest.approx(1e-3 / 0.8)
    assert clock_stretch(1e-3, float("nan"), 1.25) == pytest.approx(0.25e-3)


def test_holdout_shapes_save_without_a_file_is_a_usage_line():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "kernel_holdout_shapes.py"
    spec = importlib.util.spec_from_file_location("kernel_holdout_shapes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for argv in (["b200", "gemm", "bf16", "--save"], ["b200", "gemm", "bf16", "in-sample", "--save"]):
        with pytest.raises(SystemExit) as e:  # argparse: "--save: expected one argument", before any fit
            mod.main(argv)
        assert e.value.code == 2


def test_a_registered_chips_assumed_package_facts_are_shown_with_its_verdict(session_chips):
    # no base, no hbm_stacks, no year: CoWoS-S, capacity / 16 GB per HBM3 stack = 8 stacks and the floorplan's
    # default year decide the edge and package limits, so the verdict says what it was checked against
    register_chip({"id": "t-npu-facts", "specs": {"bf16_tflops_dense": 600, "memory_bandwidth_tbps": 3.2,
                                                  "memory_capacity_gb": 128, "tdp_w": 500,
                                                  "logic_die_area_mm2_total": 700}})
    b = api.compliance(chip="t-npu-facts").to_dict()["buildable"]
    shown = [n for n in b["notes"] if n.startswith("package facts of the registered chip")]
    assert len(shown) == 1 and "package cowos-s" in shown[0] and "hbm_stacks 8" in shown[0] and "year " in shown[0]
    assert not any(n.startswith("package facts of the registered chip")
                   for n in api.compliance(chip="h100-sxm").to_dict()["buildable"]["notes"])


def test_the_edge_refusal_names_every_field_in_the_chip_file_path(session_chips):
    # each field of the fix is written as the chip file spells it (chip.specs.<field>), the link rate too
    with pytest.raises(TapeoutError) as e:
        register_chip({"id": "t-edge-40", "base": "h100-sxm", "specs": {"hbm_stacks": 40}})
    msg = str(e.value)
    for field in ("hbm_stacks", "scaleup_bw_gbps_bidir", "num_compute_dies", "logic_die_area_mm2_total"):
        assert f"chip.specs.{field}" in msg, field


def test_show_gives_the_attention_cta_grid_family_datum():
    # attention_cta_grid (family_defaults.yaml) gates the per-wave attention latency (hardware/params.py
    # ATTENTION_CTA_GRID_GATE): a datum that changes serving answers is shown with the chip, with its source
    d = api.get_chip("gaudi2").to_dict()["architecture_defaults"]["attention_cta_grid"]
    assert d["value"] is False and "docs.habana.ai" in d["source"]
    assert api.get_chip("h100-sxm").to_dict()["architecture_defaults"]["attention_cta_grid"]["value"] is True
