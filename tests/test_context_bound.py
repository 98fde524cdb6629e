"""A sequence longer than the model's maximum position is bad input on every surface, not only
the CLI (issue 15 "Done when": an error naming both numbers). llama-2-70b's config has
max_position_embeddings = 4096 (Hugging Face meta-llama/Llama-2-70b-hf config.json)."""

import pytest

from tapeout.errors import TapeoutError
from tapeout.explore.mix import compile_workload
from tapeout.explore.space import WorkloadSpec as ExploreWorkload
from tapeout.hardware.catalog import get_chip
from tapeout.study.evaluate import evaluate, safe_evaluate
from tapeout.study.schema import WorkloadSpec
from tapeout.workloads.llm_config import check_context, load_llm


def test_the_bound_is_the_config_max_position():
    assert load_llm("llama-2-70b").max_position_embeddings == 4096
    check_context("llama-2-70b", 4096, "x")  # exactly the maximum is allowed
    with pytest.raises(TapeoutError, match=r"x = 4,097 tokens exceeds llama-2-70b's maximum context of 4,096"):
        check_context("llama-2-70b", 4097, "x")


def test_study_serving_cell_names_both_numbers():
    w = WorkloadSpec(name="chat", kind="llm-serving", model="llama-2-70b", traffic={"tokens_per_s": 1e6},
                     precision="fp8", params={"num_chips": 8, "input_len": 5000, "output_len": 300})
    with pytest.raises(TapeoutError, match=r"workload 'chat' params input_len \+ output_len = 5,300 .* 4,096"):
        evaluate(w, get_chip("h100-sxm"), chips_per_node=8)
    assert "5,300" in safe_evaluate(w, get_chip("h100-sxm"), 8)["error"]  # the study's row says why


def test_study_training_cell_names_both_numbers():
    w = WorkloadSpec(name="pre", kind="llm-training", model="llama-2-70b", traffic={"tokens_per_day": 1e9},
                     precision="bf16", params={"num_chips": 8, "seq_len": 8192})
    with pytest.raises(TapeoutError, match=r"seq_len = 8,192 .* 4,096"):
        evaluate(w, get_chip("h100-sxm"), chips_per_node=8)


@pytest.mark.parametrize("kind,key", [("llm_decode", "context"), ("llm_prefill", "input_len")])
def test_explorer_workload_names_both_numbers(kind, key):
    w = ExploreWorkload(name="w", kind=kind, params={"model": "llama-2-70b", key: 8192})
    with pytest.raises(TapeoutError, match=rf"{key} = 8,192 .* 4,096"):
        compile_workload(w)
