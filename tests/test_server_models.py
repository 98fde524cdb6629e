"""Both non-LLM Server models of `workload-run --scenario server` (validation/server_models.py):
the M/M/1 p99 bound validation scores and the reference-harness batcher, side by side with the
Offline rate (issue 17, Round stop-21 issue-21sh)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from _cli import assert_clean, run_cli
from tapeout import api
from tapeout.hardware.catalog import get_chip
from tapeout.perf.scenarios import best_server_rate, harness_batcher
from tapeout.validation.other_rows import scenario_result
from tapeout.validation.server_models import server_models

HARNESS_YAML = yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "server_harness.yaml").read_text())


def _server(name, chip="h100-sxm", **kw):
    model = kw.pop("server_model", None)
    return api.workload_run(name, chip, kw, scenario="server", server_model=model).to_dict()


@pytest.mark.parametrize("bench,chip,prec", [("resnet50", "h100-sxm", "int8"), ("resnet50", "l4", "int8"),
                                             ("bert", "a100-sxm", "int8"), ("retinanet", "mi300x", "fp8"),
                                             ("dlrmv2", "h100-sxm", "fp8"), ("sdxl", "l40s", "fp8"),
                                             ("whisper", "h200", "bf16")])
def test_both_server_rates_at_most_the_offline_rate(bench, chip, prec):
    # physics: a Server query stream can never finish more work per second than the device run
    # flat out at the largest batch that fits (Offline), whatever the batcher does
    d = server_models(bench, get_chip(chip), prec, iters=10)
    off = d["offline_samples_per_s"]
    assert off > 0
    for m in ("mm1", "harness"):
        assert 0 <= d[m]["queries_per_s"] <= off * (1 + 1e-12)
        assert d[m]["server_over_offline"] == pytest.approx(d[m]["queries_per_s"] / off)


def test_mm1_is_exactly_what_validation_scores():
    c = get_chip("h100-sxm")
    for bench, prec in (("resnet50", "int8"), ("sdxl", "fp8")):
        assert server_models(bench, c, prec, iters=4)["mm1"]["queries_per_s"] == scenario_result(
            bench, c, "Server", prec)[0]


@settings(max_examples=12, deadline=None)
@given(bench=st.sampled_from(sorted(HARNESS_YAML)), fixed_ms=st.floats(0.05, 5.0),
       per_query_ms=st.floats(0.01, 2.0), bound_ms=st.floats(2.0, 200.0), factor=st.floats(1.0, 4.0))
def test_harness_rate_rises_with_the_p99_bound(bench, fixed_ms, per_query_ms, bound_ms, factor):
    # a looser p99 bound admits every rate a tighter one admits (same seeded arrivals), so the
    # highest admissible rate cannot fall; holds for each benchmark's published harness settings
    times = {b: (fixed_ms + per_query_ms * b) * 1e-3 for b in (1, 4, 16)}
    kw = harness_batcher(bench)
    kw["max_delay_s"] = min(kw["max_delay_s"], bound_ms * 1e-3 / 2)  # SDXL's 5 s timeout would swamp ms bounds
    lo, _ = best_server_rate(times, bound_ms * 1e-3, iters=8, **kw)
    hi, _ = best_server_rate(times, bound_ms * factor * 1e-3, iters=8, **kw)
    assert hi >= lo >= 0


def test_json_carries_both_models_with_their_labels():
    code, out, err = run_cli(["workload-run", "resnet50", "--chip", "h100-sxm", "--scenario", "server",
                              "--set", "precision=int8", "--set", "num_chips=8", "--json"])
    assert code == 0, err
    d = json.loads(out)
    assert d["validated_model"] == d["server_model"] == "mm1"
    assert "scored by `tapeout validate`" in d["mm1"]["label"] and "not scored" in d["harness"]["label"]
    assert d["value"] == d["mm1"]["queries_per_s"]
    one = _server("resnet50", precision="int8")  # n replicas: every rate scales by n, ratios do not
    for m in ("mm1", "harness"):
        assert d[m]["queries_per_s"] == pytest.approx(8 * one[m]["queries_per_s"])
        assert d[m]["server_over_offline"] == pytest.approx(one[m]["server_over_offline"])
    assert d["offline_samples_per_s"] == pytest.approx(8 * one["offline_samples_per_s"])
    code, out, err = run_cli(["workload-run", "resnet50", "--chip", "h100-sxm", "--scenario", "server",
                              "--set", "precision=int8", "--server-model", "harness", "--json"])
    h = json.loads(out)
    assert h["server_model"] == "harness" and h["value"] == h["harness"]["queries_per_s"]


def test_comparison_points_at_a_docs_section_that_exists():
    d = _server("bert-large")
    section = d["comparison"].split("'")[1]
    assert f"### {section}" in (Path(__file__).parents[1] / "docs" / "validation.md").read_text()


@pytest.mark.parametrize("preset,bench", [("resnet50", "resnet50"), ("retinanet", "retinanet"),
                                          ("bert-large", "bert"), ("dlrmv2", "dlrmv2"), ("sdxl", "sdxl")])
def test_harness_settings_come_through_with_their_status(preset, bench):
    got = _server(preset)["harness"]["settings"]
    want = HARNESS_YAML[bench]
    assert set(got) == {"streams", "max_delay_us", "pad_to_cap"} == set(want)
    for k in got:
        assert (got[k]["value"], got[k]["status"], got[k]["source"]) == (
            want[k]["value"], want[k]["status"], want[k]["source"])
        assert got[k]["status"] in ("published", "assumption")


def test_benchmark_without_a_recorded_harness_says_the_greedy_batcher_is_an_assumption():
    s = _server("whisper-large-v3")["harness"]["settings"]
    assert {k: v["value"] for k, v in s.items()} == {"streams": 1, "max_delay_us": 0, "pad_to_cap": False}
    assert all(v["status"] == "assumption" and "no reference harness recorded" in v["source"] for v in s.values())


def test_text_output_shows_both_models_and_where_the_comparison_is():
    code, out, err = run_cli(["workload-run", "dlrmv2", "--chip", "h100-sxm", "--scenario", "server"])
    assert code == 0, err
    flat = " ".join(out.split())
    for needle in ("Server models", "mm1", "harness", "offline", "Server/Offline", "harness batcher settings",
                   "assumption", "Non-LLM Server: M/M/1 bound vs"):
        assert needle in flat, needle


@pytest.mark.parametrize("args,field", [
    (["resnet50", "--scenario", "offline", "--server-model", "harness"], "--server-model applies to --scenario server"),
    (["resnet50", "--server-model", "mm1"], "--server-model applies to --scenario server"),
    (["resnet50", "--scenario", "server", "--server-model", "mg1"], "--server-model 'mg1' is not a Server model"),
])
def test_server_model_bad_input_one_line_exit_2(args, field):
    code, out, err = run_cli(["workload-run", *args, "--chip", "h100-sxm"])
    assert_clean(code, out, err)
    assert code == 2 and field in err.strip().splitlines()[-1]
