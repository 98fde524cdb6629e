"""Issue 18: training rows are published twice, as throughput (the row's own convergence point) and as
time-to-train (the benchmark's Reference Convergence Point at the row's global batch, data/mlperf/rcps.yaml),
the latter compared with the reported score as is (validation/rcp.py)."""

from __future__ import annotations

import pytest

from tapeout.perf.convergence import samples_to_converge
from tapeout.perf.mlperf import benchmarks, value_of
from tapeout.validation import registry
from tapeout.validation.harness import RowResult, by_training_measure, default_data, predict_row, read_rows
from tapeout.validation.rcp import rcp_factor


@pytest.fixture(scope="module")
def rows():
    registry.load_mappers()
    return {r["id"]: r for r in read_rows(default_data())}


# --- RCPs of the Llama 3.1 benchmarks, by hand from mlcommons/logging training_6.0.0 rcps_llama31_*.json -------------

def test_llama31_405b_rcps_by_hand():
    # BS 1152: [313344 x4, 331776, 294912] less the fastest and slowest -> 313344
    assert samples_to_converge("llama3.1-405b", 1152, 8192).samples == 313344
    # BS 4608: [497664 x4, 460800, 479232] less 460800 and one 497664 -> (479232 + 3 x 497664) / 4
    m4608 = (479232 + 3 * 497664) / 4
    assert samples_to_converge("llama3.1-405b", 4608, 8192).samples == pytest.approx(m4608)
    # BS 3456 interpolates between BS 2304 (368640) and 4608
    assert samples_to_converge("llama3.1-405b", 3456, 8192).samples == pytest.approx(368640 + 0.5 * (m4608 - 368640))
    assert samples_to_converge("llama3.1-405b", 4609, 8192) is None  # rcp_checker: "Missing RCP"


def test_llama31_8b_rcps_by_hand():
    # BS 16: seventeen 159744 and three 172032 -> less one of each: (16 x 159744 + 2 x 172032) / 18
    assert samples_to_converge("llama3.1-8b", 16, 8192).samples == pytest.approx((16 * 159744 + 2 * 172032) / 18)
    # BS 32: nine 172032, ten 184320, one 196608 -> (8 x 172032 + 10 x 184320) / 18
    assert samples_to_converge("llama3.1-8b", 32, 8192).samples == pytest.approx((8 * 172032 + 10 * 184320) / 18)
    assert samples_to_converge("llama3.1-8b", 8, 8192).samples == samples_to_converge("llama3.1-8b", 16, 8192).samples


@pytest.mark.parametrize("key", ["llama3.1-405b", "llama3.1-8b"])
def test_llama31_tokens_to_train_is_the_rcp_at_the_default_batch(key):
    b = benchmarks()["training"][key]
    seq, gbs = int(value_of(b["seq_len"])), int(value_of(b["global_batch_sequences"]))
    assert float(value_of(b["tokens_to_train"])) == pytest.approx(samples_to_converge(key, gbs, seq).samples * seq, rel=1e-9)


# --- the time-to-train prediction of a throughput row ---------------------------------------------------------------

@pytest.mark.parametrize("rid,bs", [("TRN-v3.0-0163", 2048), ("TRN-v4.0-0157", 8)])
def test_time_to_train_is_the_same_run_at_the_rcp_samples(rows, rid, bs):
    """Same step time: the training minutes scale by RCP samples / row samples; the evaluations differ only in
    their count (each pass costs the same); the RCP is the checker's at the row's batch."""
    r = predict_row(rows[rid])
    d, t = r.detail, r.detail["time_to_train"]
    key = "gpt3-175b" if "gpt3" in rows[rid]["workload"] else "llama2-70b-lora"
    seq = int(value_of(benchmarks()["training"][key]["seq_len"]))
    assert t["global_batch"] == bs and t["samples_to_converge"] == samples_to_converge(key, bs, seq).samples
    assert t["train_min"] == pytest.approx(d["train_min"] * t["samples_to_converge"] / d["samples_to_converge"], rel=1e-9)
    assert t["predicted"] == pytest.approx(t["train_min"] + t["eval_min"], rel=1e-12)
    if t["n_evals"] and d["n_evals"]:
        assert t["eval_min"] / t["n_evals"] == pytest.approx(d["eval_min"] / d["n_evals"], rel=1e-9)


def test_gpt3_rcp_by_hand_at_bs_2048(rows):
    """BS 2048: [1157627904 x4, 1207959552 x3] less one of each -> (3 x 1157627904 + 2 x 1207959552) / 5 tokens."""
    t = predict_row(rows["TRN-v3.0-0163"]).detail["time_to_train"]
    assert t["samples_to_converge"] == pytest.approx((3 * 1157627904 + 2 * 1207959552) / 5 / 2048, rel=1e-12)


def test_time_to_train_is_scored_against_the_reported_score_without_the_factor(rows):
    """TRN-v4.0-0157 carries F = 1.0188: the throughput prediction is the run's minutes x F, the time-to-train one
    is the RCP run's minutes as is; both against the reported value; the interval keeps its relative width."""
    row = rows["TRN-v4.0-0157"]
    f = rcp_factor(row)
    assert f > 1.0
    r = predict_row(row)
    d, t = r.detail, r.detail["time_to_train"]
    assert r.predicted == pytest.approx((d["train_min"] + d["eval_min"]) * f, rel=1e-9)
    assert t["error_pct"] == pytest.approx((t["predicted"] - r.measured) / r.measured * 100, rel=1e-12)
    assert t["low"] / t["predicted"] == pytest.approx(r.low / r.predicted) and t["high"] / t["predicted"] == pytest.approx(
        r.high / r.predicted)
    assert t["inside"] == (t["low"] <= r.measured <= t["high"])


def _row(i: int, measures: str, ttt_err: float | None) -> RowResult:
    ttt = None if ttt_err is None else {"predicted": 1.0, "low": 0.5, "high": 2.0, "error_pct": ttt_err, "inside": True}
    return RowResult(id=str(i), category="mlperf-train", mapper="llm_training", benchmark="b", scenario="training",
                     accelerator="a", n_accelerators="8", unit="minutes", measured=1.0, predicted=1.0, error_pct=-10.0,
                     low=0.5, high=2.0, inside=False, detail={"measures": measures, "time_to_train": ttt})


def test_summary_lists_each_row_once_per_measure():
    """Throughput rows stay as they are; every one with an RCP is added once to time-to-train; a row that is
    time-to-train already is counted once."""
    rs = [_row(0, "throughput", 20.0), _row(1, "throughput", None), _row(2, "throughput", -30.0), _row(3, "time-to-train", None)]
    g = by_training_measure(rs)
    assert g["throughput"]["n"] == 3 and g["throughput"]["median_abs_err_pct"] == 10.0
    assert g["time-to-train"]["n"] == 3 and g["time-to-train (RCP rows)"]["n"] == 2 and g["throughput (RCP rows)"]["n"] == 2
    assert g["time-to-train (RCP rows)"]["median_abs_err_pct"] == 25.0 and g["time-to-train (RCP rows)"]["interval_coverage"] == 1.0
    assert set(by_training_measure([_row(0, "throughput", None)])) == {"throughput"}


# --- non-LLM RCPs (v4.0 ruleset), by hand from mlcommons/logging training_4.0.0 rcps_gnn.json / rcps_stable_diffusion.json

def test_rgat_rcps_are_epochs_of_the_training_seeds_from_v4_0():
    seeds = 94_605_600  # other_benchmarks.yaml train-rgat epoch_samples
    # BS 262144: 20 runs, less 2.30 and 2.75 -> mean of the other 18
    runs = [2.40, 2.55, 2.35, 2.45, 2.50, 2.35, 2.45, 2.60, 2.35, 2.55, 2.60, 2.40, 2.40, 2.30, 2.30, 2.45, 2.60, 2.50, 2.75,
            2.45]
    m = (sum(runs) - 2.30 - 2.75) / 18
    c = samples_to_converge("train-rgat", 262144, mlperf_round="v4.0", epoch_samples=seeds)
    assert c.samples == pytest.approx(m * seeds, rel=1e-12)
    # BS 16384 (mean 0.8611) is slower than the line from BS 4096 (0.7889) to 32768 (0.9389): pruned, so 16384
    # interpolates
    m4096, m32768 = (7 * 0.75 + 10 * 0.80 + 3 * 0.85 - 0.75 - 0.85) / 18, (7 * 0.90 + 10 * 0.95 + 3 * 1.00 - 0.90 - 1.00) / 18
    want = m4096 + (16384 - 4096) / (32768 - 4096) * (m32768 - m4096)
    assert samples_to_converge("train-rgat", 16384, mlperf_round="v4.0", epoch_samples=seeds).samples == pytest.approx(
        want * seeds, rel=1e-12)
    assert samples_to_converge("train-rgat", 16384, mlperf_round="v3.1", epoch_samples=seeds) is None  # before R-GAT
    with pytest.raises(ValueError, match="epoch_samples"):
        samples_to_converge("train-rgat", 16384, mlperf_round="v4.0")


def test_stable_diffusion_rcps_in_samples():
    # BS 384 (mean 2,561,280) converges slower than BS 512 (2,560,000): pruned; BS 256 takes BS 512's mean
    assert samples_to_converge("train-stable-diffusion", 256, mlperf_round="v4.0").samples == 2560000
    assert samples_to_converge("train-stable-diffusion", 1024, mlperf_round="v4.0").samples == pytest.approx(
        (5 * 2560000 + 6 * 3072000) / 11)
    assert samples_to_converge("train-stable-diffusion", 2048, mlperf_round="v4.0").samples == pytest.approx(
        (3 * 3584000 + 7 * 4096000 + 4608000) / 11)


def test_other_training_row_at_the_rcp_is_the_same_step_time(rows):
    """R-GAT v4.0 at BS 8192 (logged: 1 epoch): the steps scale by RCP samples / row samples, the evaluation passes
    by their count."""
    r = predict_row(rows["TRN-v4.0-0016"])
    d, t = r.detail, r.detail["time_to_train"]
    steps = (t["predicted"] - t["eval_min"]) / ((r.predicted / rcp_factor(rows["TRN-v4.0-0016"])) - d["eval_min"])
    assert steps == pytest.approx(t["samples_to_converge"] / d["samples_to_converge"], rel=1e-9)
    assert t["eval_min"] / t["n_evals"] == pytest.approx(d["eval_min"] / d["n_evals"], rel=1e-9)
