"""One serving engine (issue 15): every surface that predicts LLM serving throughput gives the
same number for the same inputs, because they all call perf/mlperf.serve_at_scale.

Two chains, because `--benchmark` carries more input than `--model` (the benchmark's
per-sample lengths, which turn Offline into a simulated LoadGen run):
  A. model + mean lengths: serve --model, explain, a study cell, a paper validation row, the engine;
  B. benchmark preset: serve --benchmark, an MLPerf validation row, the engine with the dataset.
The rows below are synthetic (no measured value is read), built only to route through the mappers."""

import json

from tapeout.errors import TapeoutError
from tapeout.perf import mlperf

import pytest

from tapeout.cli import main
from tapeout.hardware.catalog import get_chip
from tapeout.perf.mlperf import serve_at_scale
from tapeout.study.evaluate import evaluate
from tapeout.study.schema import WorkloadSpec
from tapeout.validation.llm_rows import map_row

MODEL, CHIP, N, PREC, I, O = "llama-2-70b", "h100-sxm", 8, "fp8", 222, 294


def _cli_json(args, capsys) -> dict:
    main(args + ["--json"])
    return json.loads(capsys.readouterr().out)


def test_model_surfaces_agree(capsys):
    engine = serve_at_scale(MODEL, CHIP, N, PREC, I, O, "offline").output_tokens_per_s
    common = ["--model", MODEL, "--chip", CHIP, "--num-chips", str(N), "--precision", PREC,
              "--input-len", str(I), "--output-len", str(O)]
    cli = _cli_json(["serve", *common], capsys)["output_tokens_per_s"]
    explain = _cli_json(["explain", *common], capsys)["serving"]["output_tokens_per_s"]
    w = WorkloadSpec(name="chat", kind="llm-serving", model=MODEL, traffic={"tokens_per_s": 1e6}, precision=PREC,
                     params={"num_chips": N, "input_len": I, "output_len": O})
    study = evaluate(w, get_chip(CHIP), chips_per_node=N)["units_per_s_per_chip"] * N
    row = {"category": "paper", "workload": "Llama-2-70B LLM serving (paper table)", "scenario": "Offline",
           "model_config": f"Llama-2-70B; input={I}, output={O}", "accelerator": "NVIDIA H100-SXM-80GB",
           "n_accelerators": str(N), "precision": PREC, "unit": "output tokens/s", "software": "vLLM", "value": "1"}
    validation = map_row(row).predicted
    for name, v in (("serve --model", cli), ("explain", explain), ("study cell", study), ("validation row", validation)):
        assert v == pytest.approx(engine, rel=1e-9), name


def test_benchmark_surfaces_agree(capsys):
    engine = serve_at_scale(MODEL, CHIP, N, PREC, 222.33, 294.45, "offline", dataset="llama2-70b").output_tokens_per_s
    cli = _cli_json(["serve", "--benchmark", "llama2-70b", "--chip", CHIP, "--num-chips", str(N), "--precision", PREC],
                    capsys)["output_tokens_per_s"]
    row = {"category": "mlperf-inf", "workload": "MLPerf Inference v4.1 llama2-70b-99", "scenario": "Offline",
           "model_config": "Llama-2-70B-Chat; OpenOrca", "accelerator": "NVIDIA H100-SXM-80GB", "n_accelerators": str(N),
           "precision": PREC, "unit": "Tokens/s", "software": "vLLM", "notes": "", "value": "1"}
    validation = map_row(row).predicted
    assert cli == pytest.approx(engine, rel=1e-9)
    assert validation == pytest.approx(engine, rel=1e-9)


def test_latency_bound_never_beats_offline():
    """A study SLO maps to the engine's latency-bounded load, which cannot exceed the unconstrained rate."""
    from tapeout.perf.llm import serve

    free = serve(MODEL, CHIP, N, PREC, I, O)
    bounded = serve(MODEL, CHIP, N, PREC, I, O, max_tpot_s=0.05, max_ttft_s=2.0)
    assert bounded.output_tokens_per_s <= free.output_tokens_per_s
    assert bounded.tpot_s <= 0.05


def test_explorer_front_agreement_closed_forms():
    from types import SimpleNamespace

    from tapeout.study.explore_bridge import front_agreement, rank_correlation

    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2], [1, 2]) is None  # too few pairs to rank
    cands = [SimpleNamespace(id=f"npu-{i}", _explorer={"space": "s", "perf_per_tco": float(i), "perf_per_watt": float(i)})
             for i in range(4)]
    summary = [{"chip": f"npu-{i}", "perf_per_tco": 10.0 - i, "perf_per_watt": float(i)} for i in range(4)]
    a = front_agreement(cands, summary)
    assert a["designs"] == 4 and a["spearman_perf_per_tco"] == pytest.approx(-1.0)
    assert a["spearman_perf_per_watt"] == pytest.approx(1.0)


@pytest.mark.parametrize("benchmark,chip,n", [("mixtral-8x7b", "h100-sxm", 8), ("llama2-70b", "l40s", 8),
                                               ("llama2-70b", "h100-pcie", 8), ("llama2-70b", "h200", 8),
                                               ("llama2-70b", "h100-sxm", 16)])
def test_server_never_beats_offline_on_the_same_system(benchmark, chip, n):
    """A latency bound never raises throughput: the same engine with every request queued at
    once (Offline) bounds Server and Interactive (issue 15). These systems broke it before the
    cap (Server closed form vs the simulated Offline run); 16 x H100 broke the per-layout cap: its
    Server layout (PP2) has a simulated Offline run above the one of the layout the Offline search
    chose (PP4), which ranked PP2 by its closed form without simulating it."""
    off = mlperf.serve_benchmark(benchmark, chip, n, "offline").output_tokens_per_s
    for scenario in ("server", "interactive"):
        try:
            r = mlperf.serve_benchmark(benchmark, chip, n, scenario)
        except TapeoutError:
            continue  # no interactive scenario for this benchmark, or no layout meets its bounds
        assert r.output_tokens_per_s <= off * (1 + 1e-9)
