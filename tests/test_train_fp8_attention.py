"""FP8 dot-product attention in training (perf/train_attention.fp8_attention_speedup): the chip's
calibrated BF16 attention times its FP8/BF16 fused-attention speedup measured in NVIDIA's kernel
database (data/calibration/fp8_attention_speedup.yaml, scripts/fit_fp8_attention.py)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml

from tapeout.formats import data_file
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_attention import fp8_attention_speedup
from tapeout.perf.train_backward import attention_backward_time
from tapeout.perf.train_recipe import get_recipe, resolve, training_graph
from tapeout.perf.training import train
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

from _db import needs_db

KW = dict(model="llama3.1-8b", num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192, precision="fp8",
          tp=2, pp=1, cp=1, mbs=1, zero=1, recompute="none")


@pytest.fixture
def no_dpa_casts(monkeypatch):
    """The step without TE's FP8 attention boundary casts (results memoised either side are forgotten)."""
    from tapeout.perf import fp8_dpa_casts
    from tapeout.perf.mlperf import clear_caches

    monkeypatch.setattr(fp8_dpa_casts, "FP8_DPA_BOUNDARY_CASTS", False)
    clear_caches()
    yield
    clear_caches()


def _table() -> dict:
    return yaml.safe_load(data_file("calibration", "fp8_attention_speedup.yaml").read_text())


def test_speedups_are_physical_and_sourced():
    # FP8 doubles only the attention GEMMs' tensor-core rate; the softmax exponentials run at the
    # same rate in both formats, so the gain lies strictly between 1 and 2 (FlashAttention-3 sec. 3)
    t = _table()
    assert "aiconfigurator-core" in t["source"] and t["chips"]
    for chip, v in t["chips"].items():
        assert 1.0 < v["speedup"] < 2.0, chip
        assert v["p10"] <= v["speedup"] <= v["p90"] and v["n_shapes"] > 0
        assert fp8_attention_speedup(chip) == v["speedup"]
    assert fp8_attention_speedup("mi300x") is None  # not in the database


@needs_db
def test_file_is_the_scripts_output_on_the_installed_database():
    spec = importlib.util.spec_from_file_location(
        "fit_fp8_attention", Path(__file__).resolve().parents[1] / "scripts" / "fit_fp8_attention.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    from tapeout.perf.kernels_db import read_kernels

    assert mod.speedups(read_kernels(ops=("attention_prefill",), per_group=None)) == _table()["chips"]


def _attention_op_time(chip: str, fp8: bool) -> tuple[float, object]:
    """One layer's attention core (llama3.1-8b, TP2, 8192 tokens) priced on its own by perf/opcost."""
    c = get_chip(chip)
    p = calibrated_params(c)
    recipe, pr, _, _ = resolve(get_recipe("fp8"), c, fp8)
    g = build_llm_graph(load_llm("llama3.1-8b"), LLMStep("prefill", 1, 8192, 0, pr, 2, 1, lm_head_all_tokens=True))
    g, _, _ = training_graph(g, recipe, fp8, False)
    ct = evaluate(g, p)
    i = [k for k, op in enumerate(ct.table.ops) if op.name == "attention"][0]
    return float(np.max(np.asarray(ct.time, dtype=float).reshape(len(ct.table), -1)[i])), p


@pytest.mark.parametrize("chip", ["h100-sxm", "h200", "b200"])
def test_fp8_attention_is_the_bf16_attention_over_the_measured_speedup(chip, no_dpa_casts):
    """F and B differ from the BF16-attention step by exactly L x t (1/s - 1) and its backward (the
    boundary cast kernels, perf/fp8_dpa_casts, pinned off: tests/test_fp8_dpa_casts.py prices them)."""
    bf, f8 = train(chip=chip, fp8_attention=False, **KW), train(chip=chip, fp8_attention=True, **KW)
    s = fp8_attention_speedup(chip)
    t, p = _attention_op_time(chip, False)
    L = 32
    assert f8.breakdown["F"] - bf.breakdown["F"] == pytest.approx(L * t * (1 / s - 1), rel=1e-6)
    t_b = float(np.max(attention_backward_time(t, p)))
    assert f8.breakdown["B"] - bf.breakdown["B"] == pytest.approx(L * t_b * (1 / s - 1), rel=1e-6)
    # no fallback note (the measured speedup applied); the memory-reserve note is on every result (perf/train_reserve.py)
    assert f8.step_time_s < bf.step_time_s and not [n for n in f8.notes if "FP8 attention" in n]


def test_chip_without_the_measurement_keeps_the_fp8_matrix_rate_and_says_so(no_dpa_casts):
    bf, f8 = train(chip="mi300x", fp8_attention=False, **KW), train(chip="mi300x", fp8_attention=True, **KW)
    t_bf, _ = _attention_op_time("mi300x", False)
    t_f8, _ = _attention_op_time("mi300x", True)
    assert f8.breakdown["F"] - bf.breakdown["F"] == pytest.approx(32 * (t_f8 - t_bf), rel=1e-6)
    assert any("FP8 attention speedup is not measured on mi300x" in n for n in f8.notes)


def test_bf16_runs_and_bf16_attention_are_untouched():
    # the speedup applies to FP8 attention only: a BF16-attention FP8 run and a BF16 run carry no note
    for prec, fa in (("fp8", False), ("bf16", False), ("bf16", True)):
        r = train(chip="h100-sxm", **{**KW, "precision": prec}, fp8_attention=fa)
        assert not any("FP8 attention" in n for n in r.notes)
