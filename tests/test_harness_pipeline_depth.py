"""A harness whose base configuration fixes the engine's pipeline depth (data/mlperf/llm_harness.yaml
`pipeline_parallelism`: NVIDIA's v4.1 llama2-70b TensorRT-LLM configs, OfflineGPUBaseConfig /
ServerGPUBaseConfig pipeline_parallelism = 1) has its rows searched at that depth only
(docs/notes/issue-24.md, round stop-38, branch issue-42e)."""

from tapeout.perf.mlperf import serve_at_scale
from tapeout.validation.llm_harness import harness_pp, harness_replicas, harnesses

I, O = 222.33, 294.45  # llama2-70b dataset means (data/mlperf/benchmarks.yaml)


def _row(workload, software, platform, notes_extra=""):
    return {"workload": workload, "software": software, "accelerator": "NVIDIA L40S", "n_accelerators": "8",
            "notes": f"submitter=Fujitsu; system=PRIMERGY CDI (8x L40S, TensorRT); platform={platform}; nodes=1; "
                     f"acc_per_node=8{notes_extra}"}


LLAMA_41 = "MLPerf Inference v4.1 llama2-70b-99/99.9 (identical)"
TRT = "TensorRT 10.2, CUDA 12.4"


def test_nvidia_v41_llama2_harness_runs_pp1():
    row = _row(LLAMA_41, TRT, "CDI_L40Sx8_TRT")
    assert harness_pp(row) == 1
    assert harness_pp(row, on=False) is None  # switch off: the search over every PP the stack supports
    assert harness_replicas(row) is None  # the entry fixes no replica count: tapeout picks the data parallelism
    assert harness_pp(_row(LLAMA_41, TRT, "CDI_L40Sx8_TRT", "; pp=2")) == 2  # a row's stated depth wins


def test_pipeline_depth_is_scoped_to_what_was_read():
    # gptj's base configs name no pipeline_parallelism (its inherited default not read); other rounds not read
    assert harness_pp(_row("MLPerf Inference v4.1 gptj-99", TRT, "CDI_L40Sx8_TRT")) is None
    assert harness_pp(_row("MLPerf Inference v5.0 llama2-70b-99", TRT, "X_TRT")) is None


def test_reference_api_harness_serves_one_node_at_tensor_parallelism():
    # vLLM 0.5.x docs: one node -> tensor parallelism over its GPUs; the harness drives one server (replicas 1)
    nm = _row("MLPerf Inference v4.1 llama2-70b-99", "vLLM 0.5.2",
              "vLLM_8xL40S-reference-cpu-pytorch-v2.3.1-default_config")
    assert harness_pp(nm) == 1 and harness_replicas(nm) == 1
    assert "distributed_serving" in harnesses()["mlcommons-reference-api"]["pipeline_parallelism_source"]


def test_the_entry_carries_its_source():
    e = harnesses()["nvidia-mlperf-trt"]
    assert e["pipeline_parallelism"] == 1
    assert "closed/NVIDIA/configs/llama2-70b/Offline/__init__.py" in e["source"]
    assert "pipeline_parallelism = 1" in e["source"]


def test_a_fixed_depth_is_one_of_the_searched_layouts_and_never_beats_the_search():
    kw = dict(num_chips=4, precision="fp8", input_len=I, output_len=O, scenario="offline")
    free = serve_at_scale("llama2-70b", "h100-nvl", **kw)
    fixed = serve_at_scale("llama2-70b", "h100-nvl", pp=1, **kw)
    assert fixed.pp == 1
    assert fixed.output_tokens_per_s <= free.output_tokens_per_s * (1 + 1e-9)


def test_a_stated_depth_of_zero_is_refused_naming_the_notes():
    """pp=0 in a row's notes is no pipeline depth: before, it reached serve_at_scale as 0, read there as 'any
    depth' (falsy) and the error said 'pp=any'; now the row is skipped naming notes pp= and the fix."""
    import pytest

    from tapeout.validation.registry import SkipRow

    with pytest.raises(SkipRow, match=r"notes pp=0: .* whole number >= 1"):
        harness_pp(_row(LLAMA_41, TRT, "CDI_L40Sx8_TRT", "; pp=0"))
    assert harness_pp(_row(LLAMA_41, TRT, "CDI_L40Sx8_TRT", "; PP=4")) == 4


def test_the_reference_harness_depth_holds_for_the_vllm_releases_its_source_documents():
    """Review round stop-38 (issue-44c): PP 1 rests on vLLM 0.5.x's docs; later docs advise pipeline instead of tensor
    parallelism on GPUs without NVLink (e.g. L40S), so a later vLLM row is searched over every PP. Before: PP 1 for
    every vLLM row of the reference harness. The one-server replica count is the harness's and still holds."""
    plat = "vLLM_8xL40S-reference-cpu-pytorch-v2.3.1-default_config"
    assert harness_pp(_row("MLPerf Inference v4.1 llama2-70b-99", "vLLM 0.5.2", plat)) == 1
    later = _row("MLPerf Inference v5.0 llama2-70b-99", "vLLM 0.8.4", plat)
    assert harness_pp(later) is None and harness_replicas(later) == 1
    assert harness_pp(_row("MLPerf Inference v4.1 llama2-70b-99", "vLLM 0.10.1", plat)) is None


def test_serve_at_scale_refuses_a_non_positive_degree_naming_the_argument():
    """Called directly (no perf/llm.serve check before it), pp=0 or a negative depth was read as 'any' (a falsy test)
    and a failure said 'pp=any'; now 0 and negatives are refused naming the argument, as tp and ep are. None is the
    search over every depth. Refused before any model or chip is read (the model name here does not exist)."""
    import pytest

    from tapeout.errors import TapeoutError

    for name in ("pp", "tp", "ep"):
        for bad in (0, -1):
            with pytest.raises(TapeoutError, match=rf"^{name} must be > 0, got {bad}\."):
                serve_at_scale("no-such-model", "h100-sxm", 8, **{name: bad})
