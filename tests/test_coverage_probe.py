"""Rows spelled as the newer MLPerf rounds publish them map to the right benchmark, scenario and
unit, and rows tapeout cannot predict are refused with a reason naming what is missing.

The fixture tests/data_coverage_probe.csv holds PROBE rows (value = 1, not measurements). The
expected mappings come from the benchmark definitions, not from the code's output:
- "<bench>-interactive[-99]" is the Interactive variant of <bench>: same model and dataset,
  run in LoadGen's Server scenario under the bounds of mlperf.conf's "<bench>-interactive"
  entry (benchmarks.yaml `latency.interactive`, each with its source);
- MLPerf Training v4.1+ results folders name RetinaNet and R-GAT "retinanet" and "rgat"
  (training_results_v5.0 <submitter>/results/<system>/retinanet|rgat/), v2.0-v4.0 "ssd" and "gnn";
- Llama 3.1 405B / 8B pretraining are "llama31_405b" / "llama31_8b" (training_results_v5.x).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tapeout.hardware.catalog import resolve_chip_id
from tapeout.perf.mlperf import inference_benchmark
from tapeout.validation import harness, llm_rows, other_rows, registry, train_rows

PROBE = Path(__file__).with_name("data_coverage_probe.csv")


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    registry.load_mappers()
    rs = harness.read_rows(PROBE)
    assert all(r["value"] == "1" and "PROBE" in r["notes"] for r in rs)  # never a measured result
    return {r["id"]: r for r in rs}


# id -> (LLM benchmark, LoadGen scenario and bounds it is held to)
LLM_INFERENCE = {
    "P-INT-L2": ("llama2-70b", "interactive"),
    "P-INT-8B": ("llama3.1-8b", "interactive"),
    "P-INT-405": ("llama3.1-405b", "interactive"),
    "P-SRV-R1": ("deepseek-r1", "server"),
    "P-OFF-OSS": ("gpt-oss-120b", "offline"),
}


@pytest.mark.parametrize("rid", sorted(LLM_INFERENCE))
def test_llm_rows_map_to_benchmark_and_scenario(rows, rid):
    bench, scenario = LLM_INFERENCE[rid]
    row = rows[rid]
    assert llm_rows.mlperf_name(row) == bench
    assert llm_rows.mlperf_scenario(row) == scenario
    b = inference_benchmark(bench)
    assert llm_rows.describe(row)["model"] == b["model"]
    ttft, tpot, _ = llm_rows.latency_bounds(scenario, b)
    if scenario == "offline":
        assert ttft is None
    else:  # the bounds of that scenario, never the Server ones for an Interactive row
        assert (ttft, tpot) == (b["latency"][scenario]["ttft_p99_s"], b["latency"][scenario]["tpot_p99_s"])
    assert harness.scenario_class(row) == scenario


def test_interactive_bounds_are_tighter_than_server():
    """The Interactive variant exists because its bounds are tighter (mlperf.conf); a row mapped
    to it must not be scored at the Server bounds."""
    for bench in ("llama2-70b", "llama3.1-8b", "llama3.1-405b", "deepseek-r1", "gpt-oss-120b"):
        b = inference_benchmark(bench)
        s, i = llm_rows.latency_bounds("server", b), llm_rows.latency_bounds("interactive", b)
        assert i[0] <= s[0] and i[1] < s[1], bench


@pytest.mark.parametrize("rid,kind,name", [("P-OFF-WSP", "inf", "whisper"), ("P-SRV-DLRM", "inf", "dlrmv2"),
                                          ("P-TRN-RET", "train", "retinanet"), ("P-TRN-RGAT", "train", "rgat")])
def test_other_rows_map_to_benchmark(rows, rid, kind, name):
    assert other_rows.benchmark_of(rows[rid]) == (kind, name)


def test_old_and_new_training_folder_names_are_one_benchmark():
    for old, new in (("ssd", "retinanet"), ("gnn", "rgat")):
        assert other_rows.TRAIN_BENCH[old] == other_rows.TRAIN_BENCH[new]


@pytest.mark.parametrize("rid,model", [("P-TRN-405", "llama-3.1-405b"), ("P-TRN-8B", "llama-3.1-8b")])
def test_llm_training_rows_map_to_model(rows, rid, model):
    assert train_rows.describe(rows[rid])["model"] == model


@pytest.mark.parametrize("name,chip", [
    ("NVIDIA B200-SXM5-180GB", "b200"),  # "SXM5" then "180GB": the size is 180, not 5180
    ("NVIDIA B200-SXM-180GB", "b200"),
    ("Google TPU Trillium", "tpu-v6e"),  # Trillium = TPU v6e (index.yaml source_name)
    ("Google TPU Ironwood", "tpu-v7"),  # Ironwood = TPU7x (index.yaml source_name)
    ("NVIDIA H200-SXM-141GB-CTS", "h200"),
    ("NVIDIA A100-SXM-40GB", "a100-sxm-40gb"),  # a stated size still picks the part
])
def test_mlperf_accelerator_spellings_resolve(name, chip):
    assert resolve_chip_id(name) == chip


def test_stated_size_that_disagrees_is_not_matched():
    assert resolve_chip_id("NVIDIA B200-SXM-80GB") is None  # no 80 GB B200: never silently another part


def _skip(rows, rid) -> str:
    r = harness.predict_row(rows[rid])
    assert r.predicted is None and r.skipped, r
    return r.skipped


def test_unmapped_inference_benchmark_names_what_is_missing(rows):
    why = _skip(rows, "R-VLM")
    assert "'qwen3-vl-235b-a22b'" in why and "no definition on file" in why
    assert "data/mlperf/benchmarks.yaml" in why and "MLPERF_BENCH" in why


def test_flux1_training_row_is_priced_by_the_other_training_mapper(rows):
    """flux1 has a training graph and RCPs (issue 18, stop-31): a v5.1 row is priced, and also at its ruleset's RCP."""
    r = harness.predict_row(rows["R-FLUX"])
    assert r.skipped is None and r.predicted > 0 and r.benchmark == "train-flux1", r
    assert r.detail["time_to_train"] is not None


def test_unknown_chip_is_a_clear_skip(rows):
    assert _skip(rows, "R-CHIP") == "accelerator 'Acme Photon X1' is not in the chip catalog"


def test_offline_row_of_interactive_benchmark_is_refused(rows):
    assert "Interactive benchmark" in _skip(rows, "R-INT-OFF")


def test_mlperf_workload_with_wrong_category_names_the_fix(rows):
    assert "set category to mlperf-train" in _skip(rows, "R-CAT")


def test_unmapped_rows_keep_the_unmapped_class(rows):
    r = harness.predict_row(rows["R-VLM"])
    assert r.mapper == "mlperf-unmapped" and harness.target_class(r) == "unmapped"


def test_whisper_offline_counts_output_tokens_whatever_the_label(rows):
    """MLPerf's Whisper Offline result counts output tokens (the reference SUT returns n_tokens in
    every QuerySampleResponse) while its results tables label it samples/s (issue 17): a Samples/s
    row and a Tokens/s row of the same system get the same prediction, the per-utterance rate x the
    output tokens per utterance the graph costs."""
    from tapeout.workloads.speech import whisper_graph

    labelled_samples = harness.predict_row(rows["P-OFF-WSP"])
    labelled_tokens = harness.predict_row({**rows["P-OFF-WSP"], "unit": "Tokens/s"})
    assert labelled_samples.predicted and labelled_tokens.predicted
    assert labelled_samples.predicted == pytest.approx(labelled_tokens.predicted, rel=1e-12)
    per_utterance = labelled_tokens.detail["per_chip"] * labelled_tokens.detail["n_accelerators"]
    tok = float(whisper_graph(1).meta["output_tokens"])
    assert labelled_tokens.predicted == pytest.approx(per_utterance * tok, rel=1e-9)


def test_non_llm_row_in_a_unit_its_scenario_never_reports_is_refused(rows):
    why = harness.predict_row({**rows["P-SRV-DLRM"], "unit": "Tokens/s"}).skipped
    assert why.startswith("unit 'Tokens/s' is not one the Server scenario reports for dlrmv2") and "Queries/s" in why


@pytest.mark.parametrize("scenario", ["Server", "Interactive", "Offline"])
@pytest.mark.parametrize("workload", ["MLPerf Inference v5.1 llama3.1-8b-interactive", "MLPerf Inference v5.1 llama3.1-8b"])
def test_row_scenario_and_harness_class_are_one_rule(scenario, workload):
    # one rule (registry.interactive_variant) decides both the bounds a row is scored at and the
    # class it is reported in: an interactive benchmark's Server row is interactive in both
    row = {"scenario": scenario, "workload": workload}
    sc = llm_rows.mlperf_scenario(row)
    assert sc == harness.scenario_class(row)
    assert (sc == "interactive") == (scenario != "Offline" and ("interactive" in workload or scenario == "Interactive"))
