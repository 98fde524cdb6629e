"""Rules of the non-LLM MLPerf row mapper that come from sourced facts
(data/mlperf/other_benchmarks.yaml): TensorRT BERT runs unpadded; TensorRT runs a declared
16-bit float in FP8 on chips with FP8, like the LLM rows."""

import pytest

from tapeout.hardware import get_chip
from tapeout.validation.other_rows import bert_seq_len, compute_precision, map_inference, workload_facts

BERT_ROW = {"category": "mlperf-inf", "workload": "MLPerf Inference v4.1 bert-99", "scenario": "Offline",
            "accelerator": "NVIDIA H100-SXM", "n_accelerators": "8", "precision": "int8",
            "software": "TensorRT 10.2.0, CUDA 12.4"}


def test_bert_mean_tokens_is_the_unpadded_share_of_384():
    f = workload_facts()["bert"]
    assert f["mean_tokens"]["value"] == pytest.approx(f["max_seq_len"]["value"] * (1 - f["padding_fraction"]["value"]), abs=0.05)
    for entry in f.values():
        assert entry["source"] and entry["status"] in ("official", "published", "derived", "assumption")


def test_tensorrt_bert_is_unpadded_other_stacks_padded():
    assert bert_seq_len("TensorRT 10.2.0, CUDA 12.4") == 177
    assert bert_seq_len("PyTorch 2.1.1, SynapseAI 1.14") == 384
    assert bert_seq_len("") == 384


def test_unpadded_bert_is_faster_but_by_less_than_the_token_ratio_bound():
    """Linear layers scale with tokens, attention with tokens x length, so dropping padding
    speeds a compute-bound batch up by at least 384/177 minus fixed per-op costs, and never
    by more than (384/177)^2."""
    padded = map_inference({**BERT_ROW, "software": "other runtime"}).predicted
    unpadded = map_inference(BERT_ROW).predicted
    ratio = unpadded / padded
    assert 1.8 < ratio < (384 / 177) ** 2


def test_precision_rule_tensorrt_16bit_to_fp8_only_where_fp8_exists():
    h100, a100 = get_chip("h100-sxm"), get_chip("a100-sxm")
    trt = "TensorRT 10.2.0, CUDA 12.4"
    assert compute_precision("fp16", h100, trt) == "fp8"
    assert compute_precision("fp16", h100, "PyTorch") == "fp16"
    assert compute_precision("fp16", a100, trt) == "fp16"  # Ampere has no FP8
    assert compute_precision("int8", h100, trt) == "int8"  # declared int8 stays int8
    row99_9 = {**BERT_ROW, "workload": "MLPerf Inference v4.1 bert-99.9", "precision": "fp16"}
    # same system, same software: the fp16-declared 99.9 row runs as fast as an fp8 run
    fp8_run = map_inference({**row99_9, "precision": "fp8"}).predicted
    assert map_inference(row99_9).predicted == pytest.approx(fp8_run)
