"""A hostile new user on chips, models and formats nobody validated (round stop-39, issue-47d;
docs/notes/physical-limits.md). A catalog chip missing a spec every op time or fit reads (memory bandwidth,
memory capacity, a vector rate) printed NaN throughput as "-" at exit 0, or a "0 GiB usable" refusal blaming the
model; a chip without tdp_w had its power priced on a silent 700 W. The invariants pin what any answer must obey:
no more tokens/s than the chip's declared peaks allow, no decode step faster than reading the active weights once,
power within the TDP, an interval around the point."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapeout
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import all_chips, get_chip
from tapeout.hardware.params import DEFAULT_TDP_W
from tapeout.perf.calibration import engine_params

# catalog chips with a spec not on file (data/chips/*.csv at this round) and the format each runs (a800-sxm lacked
# memory_capacity_gb until issue-48a filled it: test_a_chip_without_capacity_is_refused_naming_it below)
MISSING = [("ascend-910", "fp16", "memory_bandwidth_tbps is not on file"),
           ("groq-lpu", "int8", "on-chip SRAM alone is not modelled"),
           ("rubin", "nvfp4", "no vector rate")]


@pytest.mark.parametrize("chip,precision,needle", MISSING)
def test_serve_refuses_a_chip_missing_a_spec_naming_it(chip, precision, needle):
    # main: ascend-910 / rubin returned output_tokens_per_s None (NaN) and exit 0; a800 "weights 15 GiB/chip of 0 usable"
    with pytest.raises(TapeoutError, match=needle) as e:
        tapeout.serve(model="llama-3.1-8b", chip=chip, precision=precision)
    assert f"base '{chip}'" in str(e.value) and "data/chips" in str(e.value)


@pytest.mark.parametrize("call", [
    lambda: tapeout.train(model="llama-3.1-8b", chip="ascend-910", num_chips=8, precision="fp16"),
    lambda: tapeout.workload_run("resnet50", chip="groq-lpu"),
])
def test_train_and_workloads_refuse_it_too(call):
    # main: train on ascend-910 "window_share: compute inf s ... nan s"; resnet50 "has 0.0 GB usable"
    with pytest.raises(TapeoutError, match="is not on file"):
        call()


def test_a_chip_without_capacity_is_refused_naming_it():
    """No catalog chip with off-chip bandwidth lacks its capacity any more (a800-sxm: 80 GB, issue-48a): the A800
    with that one row dropped is still refused by field (main before issue-47d: "weights 15 GiB/chip of 0 usable")."""
    a800 = get_chip("a800-sxm")
    engine_params(a800)  # on file: answers
    without = dataclasses.replace(a800, specs={k: v for k, v in a800.specs.items() if k != "memory_capacity_gb"})
    with pytest.raises(TapeoutError, match="memory_capacity_gb is not on file") as e:
        engine_params(without)
    assert "base 'a800-sxm'" in str(e.value) and "data/chips" in str(e.value)


def test_cli_exits_2_with_one_line():
    r = subprocess.run([sys.executable, "-m", "tapeout", "serve", "-m", "llama-3.1-8b", "-c", "ascend-910", "-p", "fp16"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "memory_bandwidth_tbps" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("chip", [c.id for c in all_chips()])
def test_every_catalog_chip_either_has_what_the_engines_read_or_is_refused(chip):
    c = get_chip(chip)
    try:
        p = engine_params(c)
    except TapeoutError as e:
        assert any(f in str(e) for f in ("memory_bandwidth_tbps", "memory_capacity_gb", "fp32_tflops")), str(e)
        return
    assert float(p.mem_bw) > 0 and float(p.mem_capacity) > 0 and float(p.vector_flops) > 0


def test_a_chip_without_tdp_says_its_power_is_assumed():
    # main: tpu-v6e served at 350 W per chip from a 700 W default with no word of it
    notes = tapeout.serve(model="llama-3.1-8b", chip="tpu-v6e").notes
    assert any("tdp_w is not on file for tpu-v6e" in n and f"{DEFAULT_TDP_W:g} W" in n for n in notes), notes
    assert not any("tdp_w" in n for n in tapeout.serve(model="llama-3.1-8b", chip="h100-sxm").notes)


# ------------------------------------------------------------------ physical bounds of any answer
PEAKS = ("bf16_tflops_dense", "fp16_tflops_dense", "fp8_tflops_dense", "int8_tops_dense", "fp4_tflops_dense")
SERVABLE = sorted(c.id for c in all_chips() if c.get("bf16_tflops_dense") and c.get("memory_bandwidth_tbps")
                  and c.get("memory_capacity_gb"))
MODELS = ["llama-3.1-8b", "qwen3-30b-a3b", "gpt-oss-20b", "llama-3.1-70b", "mixtral-8x7b"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chip=st.sampled_from(SERVABLE), model=st.sampled_from(MODELS), n=st.sampled_from([1, 8]),
       batch=st.sampled_from([None, 1]))
def test_serve_never_beats_the_roofline_of_the_declared_peaks(chip, model, n, batch):
    try:
        r = tapeout.serve(model=model, chip=chip, num_chips=n, batch=batch)
    except TapeoutError:
        return  # does not fit: a refusal is an answer
    specs = get_chip(chip)
    peak = max(float(specs.get(f) or 0.0) for f in PEAKS if isinstance(specs.get(f), float)) * 1e12
    active = tapeout.load_model(model).active_params_b * 1e9
    # each request does >= 2 x active FLOPs per prompt and per generated token (attention only adds)
    flops_per_output_token = 2 * active * (r.input_len + r.output_len) / r.output_len
    assert r.output_tokens_per_s <= peak * n / flops_per_output_token * (1 + 1e-9)
    # a decode step reads at least the active weights of one chip's share once (16-bit: 2 bytes each)
    weight_read_s = active * 2 / (r.tp * r.pp * max(r.ep, 1)) / (float(specs.get("memory_bandwidth_tbps")) * 1e12)
    assert r.decode_step_s >= weight_read_s * (1 - 1e-9) and r.tpot_s >= weight_read_s * (1 - 1e-9)
    assert r.memory_gib_per_chip <= r.capacity_gib_per_chip * (1 + 1e-9)
    assert 0 < r.power_w_per_chip <= float(specs.get("tdp_w", DEFAULT_TDP_W)) * (1 + 1e-9)
    assert r.joules_per_token > 0
    lo, hi = r.interval_80
    assert 0 < lo <= r.output_tokens_per_s <= hi
