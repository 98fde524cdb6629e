"""Bugs found by the stop-37 acceptance audit of issues 18 and 24 (docs/notes/issue-18.md, Round stop-37 issue-39d):
each test failed before its fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tapeout
from tapeout.econ.buildable import check_catalog_chip
from tapeout.errors import TapeoutError, script_main
from tapeout.hardware.catalog import get_chip

from _db import needs_db
from _load import ROOT, load_script


def _script(name: str):
    return load_script("scripts", name)


@pytest.mark.parametrize("precision", ["w4a16", "w8a16", "w4a8", "w8a16fp8"])
def test_train_refuses_a_weight_only_serving_format(precision):
    """`train --precision w4a16` ran the GEMMs in BF16 and labelled the result w4a16: weight-only quantization is a
    serving format (weights differ from the activations), not something a training step multiplies."""
    with pytest.raises(TapeoutError, match=f"--precision {precision}: .*not a training precision.*fp8"):
        tapeout.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, precision=precision)


def test_train_of_a_non_llm_benchmark_names_train_benchmark():
    """tapeout.train(benchmark='bert') said "unknown training benchmark 'bert'. Closest: bert"."""
    with pytest.raises(TapeoutError) as e:
        tapeout.train(benchmark="BERT", chip="h100-sxm", num_chips=8)
    assert "unknown" not in str(e.value) and "train_benchmark(benchmark='bert'" in str(e.value)
    with pytest.raises(TapeoutError, match="unknown training benchmark 'bertx'"):
        tapeout.train(benchmark="bertx", chip="h100-sxm", num_chips=8)


def test_script_main_turns_bad_input_into_one_line_and_exit_2(capsys):
    def bad():
        raise TapeoutError("--stack 'x':\n  unknown")

    with pytest.raises(SystemExit) as e:
        script_main(bad)
    assert e.value.code == 2
    assert capsys.readouterr().err == "error: --stack 'x': unknown\n"


def test_train_layer_breakdown_bad_stack_is_one_line_exit_2():
    """It printed a traceback (exit 1) for every bad input the API refuses."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_layer_breakdown.py"), "--model", "llama-3.1-8b",
                          "--chip", "h100-sxm", "-n", "8", "--stack", "bogus", "--no-db"], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: unknown training stack (--stack) 'bogus'") and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@needs_db
@pytest.mark.parametrize("argv, says", [(["b999", "gemm", "bf16"], "chip 'b999' has no gemm kernels"),
                                        (["l40s", "attention_prefill", "nvfp4"], "format 'nvfp4': l40s has no")])
def test_kernel_holdout_shapes_refuses_a_chip_or_format_before_the_fit(argv, says, capsys, monkeypatch):
    """A chip or format the database lacks crashed in np.concatenate after a two-minute fit; `insample` (a typo of
    in-sample) was taken as held out without a word. Now refused before the fit (kernel_fit.fit never runs)."""
    mod = _script("kernel_holdout_shapes")
    monkeypatch.setattr(mod.kf, "fit", lambda *a, **k: pytest.fail("fitted before checking the input"))
    with pytest.raises(SystemExit) as e:
        script_main(lambda: mod.main(argv))
    assert e.value.code == 2 and says in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        mod.main(["b200", "gemm", "bf16", "insample"])
    assert e.value.code == 2 and "invalid choice: 'insample'" in capsys.readouterr().err


def test_a_chip_without_die_area_is_not_reported_as_fitting_the_reticle():
    """show / compliance said buildable True, fits_reticle True for a chip whose die area is not on file and whose
    limits were never checked; now unknown (None), with the note saying why."""
    chip = get_chip("tpu-v6e")
    assert chip.get("logic_die_area_mm2_total") is None
    r = check_catalog_chip(chip)
    assert r["checked"] == [] and r["buildable"] is None and r["fits_reticle"] is None
    assert "die area" in r["notes"][0]
    checked = check_catalog_chip(get_chip("b200"))  # a chip with its dies on file still gets True
    assert checked["buildable"] is True and checked["fits_reticle"] is True


@pytest.mark.parametrize("field, value", [("moe_intermediate_size", -768), ("num_experts", -4), ("n_shared_experts", -1),
                                          ("first_k_dense_replace", -2)])
def test_a_negative_moe_size_in_a_config_names_its_field(tmp_path, field, value):
    """A negative moe_intermediate_size got to the graph builder ("experts_gate_up.n must be > 0, got -1536", naming
    no field of the config.json); the other MoE counts were taken as given."""
    import json

    cfg = {"model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "moe_intermediate_size": 768,
           "num_hidden_layers": 4, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
           "num_experts": 8, "num_experts_per_tok": 2, "vocab_size": 1000, field: value}
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg))
    with pytest.raises(TapeoutError, match=f"field '{field}'.*config.json"):
        tapeout.train(model=str(f), chip="h100-sxm", num_chips=8, seq_len=1024)


def test_a_registered_chip_without_die_area_is_registered_and_reported_unchecked(session_chips):
    """With an unchecked chip's `buildable` None, register_chip's refusal must still pass it (its docstring: nothing
    when the die area is not given): a TPU v6e at another TDP registers, and compliance says not checked."""
    tapeout.register_chip({"id": "v6e-300w-audit", "base": "tpu-v6e", "specs": {"tdp_w": {"value": 300}}})
    b = tapeout.compliance(chip="v6e-300w-audit").to_dict()["buildable"]
    assert b["buildable"] is None and b["fits_reticle"] is None and not b["violations"]
