"""Hostile pass over the Python API (`import tapeout`, round stop-35): every public function given negative / NaN /
inf sizes, near-miss names, empty strings, None, wrong types, a design or study with a misspelt key raises one
TapeoutError of one line naming the field and the fix, as the CLI prints it. Before this round, these raised
AttributeError / TypeError or were accepted: get_chip(None) / get_chip(5) / explain(chip=None) /
serve(precision=None) / workload_run(None, ...) / workload_run(param=5) / compliance(design=[...]); a second
`tapeout.explore(...)` called the `tapeout.explore` package (TypeError: module not callable); a misspelt study key
was reported as the missing field it left ('workloads': Field required); explore(backend='rai') and a study without a
design space accepted an unknown backend; a study's negative input_len was priced per chip; a compliance design's
misspelt process_node was carried silently; workload_explain(param='batch=8') split the string into characters."""

from __future__ import annotations

import math
import re

import pytest

import tapeout as t
from _cli import run_cli
from tapeout import TapeoutError

NAN, INF = math.nan, math.inf
LLM = "llama3.1-8b"
CHIP_SPECS = {"bf16_tflops_dense": 600, "memory_bandwidth_tbps": 2.0, "memory_capacity_gb": 96, "tdp_w": 500}
SPACE = """name: tiny
parameters: {cores: [16], array_rows: [128], clock_ghz: [1.0], sram_per_core_mb: [4], mem_type: [HBM3], mem_stacks: [4], node: N5}
workloads:
  - {name: chat, kind: llm_decode, model: llama-3.1-8b, batch: 8, context: 1024, precision: fp8, weight: 1, slo_ms: 60}
objectives:
  - {metric: perf_per_watt, goal: max}
"""
STUDY = """name: {name}
chips: [h100-sxm]
{key}:
  - name: chat
    kind: llm-serving
    model: llama-3.1-8b
    precision: bf16
    params: {{input_len: {input_len}, output_len: 128}}
    traffic: {{tokens_per_day: 1.0e9}}
    weight: 1
"""


def _reg(**specs):
    return t.register_chip({"id": "hostile35-npu", "family": "generic", "specs": {**CHIP_SPECS, **specs}})


def _file(tmp, name, text):
    p = tmp / name
    p.write_text(text)
    return str(p)


# (case id, call(tmp_path), regex the one-line message must match: the field and the fix)
CASES = [
    ("serve num_chips -1", lambda d: t.serve(LLM, "h100-sxm", num_chips=-1), r"--num-chips must be a finite whole number > 0, got -1"),
    ("serve num_chips nan", lambda d: t.serve(LLM, "h100-sxm", num_chips=NAN), r"--num-chips .* got nan"),
    ("serve num_chips inf", lambda d: t.serve(LLM, "h100-sxm", num_chips=INF), r"--num-chips .* got inf"),
    ("serve num_chips text", lambda d: t.serve(LLM, "h100-sxm", num_chips="2"), r"--num-chips must be a whole number, got '2' \(str\)"),
    ("serve num_chips bool", lambda d: t.serve(LLM, "h100-sxm", num_chips=True), r"--num-chips .*not text or a bool"),
    ("serve chip near miss", lambda d: t.serve(LLM, "h100-sxn"), r"unknown chip 'h100-sxn'\. Closest: h100-sxm"),
    ("serve chip empty", lambda d: t.serve(LLM, ""), r"--model and --chip are required"),
    ("serve chip int", lambda d: t.serve(LLM, 100), r"--chip must be a name \(text\), got 100 \(int\)"),
    ("serve model near miss", lambda d: t.serve("llama3.1-8c", "h100-sxm"), r"unknown model 'llama3.1-8c'\. Closest: llama-3.1-8b"),
    ("serve model list", lambda d: t.serve([LLM], "h100-sxm"), r"--model must be a name \(text\)"),
    ("serve input_len 0", lambda d: t.serve(LLM, "h100-sxm", input_len=0), r"--input-len must be a finite whole number > 0, got 0"),
    ("serve output_len inf", lambda d: t.serve(LLM, "h100-sxm", output_len=INF), r"--output-len .* got inf"),
    ("serve precision typo", lambda d: t.serve(LLM, "h100-sxm", precision="bf61"), r"unknown precision 'bf61'\. Known: .*bf16"),
    ("serve precision None", lambda d: t.serve(LLM, "h100-sxm", precision=None), r"--precision must be a precision name \(text\), got None"),
    ("serve kv_precision typo", lambda d: t.serve(LLM, "h100-sxm", kv_precision="fp9"), r"--kv-precision: unknown dtype 'fp9'"),
    ("serve power_limit nan", lambda d: t.serve(LLM, "h100-sxm", power_limit=NAN), r"--power-limit must be a finite number > 0 W"),
    ("serve stack near miss", lambda d: t.serve(LLM, "h100-sxm", stack="trtllm-typo"), r"unknown serving stack 'trtllm-typo'"),
    ("serve benchmark near miss", lambda d: t.serve(chip="h100-sxm", benchmark="llama2-70x"), r"Closest: llama2-70b"),
    ("explain chip None", lambda d: t.explain(LLM, None), r"a chip name \(text\) is required, got nothing\. Run `tapeout chips`"),
    ("explain phase typo", lambda d: t.explain(LLM, "h100-sxm", phase="decod"), r"--phase must be decode or prefill, got 'decod'"),
    ("train num_chips nan", lambda d: t.train(LLM, "h100-sxm", num_chips=NAN), r"--num-chips .* got nan"),
    ("train global_batch_tokens -1", lambda d: t.train(LLM, "h100-sxm", global_batch_tokens=-1), r"--global-batch-tokens must be a finite number > 0"),
    ("train recompute typo", lambda d: t.train(LLM, "h100-sxm", recompute="ful"), r"--recompute must be one of none, selective, full"),
    ("train chip near miss", lambda d: t.train(LLM, "b2000"), r"unknown chip 'b2000'\. Closest: b200"),
    ("train benchmark near miss", lambda d: t.train(benchmark="gpt3-175", chip="h100-sxm"),
     r"unknown training benchmark 'gpt3-175'\. Closest: gpt3-175b"),
    ("train lora text", lambda d: t.train(LLM, "h100-sxm", lora="yes"), r"--lora is a switch: give True or False"),
    ("train zero 5", lambda d: t.train(LLM, "h100-sxm", zero=5), r"--zero must be a ZeRO stage 0, 1, 2 or 3"),
    ("train_benchmark near miss", lambda d: t.train_benchmark("resnett", "h100-sxm"), r"unknown training benchmark 'resnett'\. Closest: resnet"),
    ("train_benchmark None", lambda d: t.train_benchmark(None, "h100-sxm"), r"a training benchmark name \(text\) is required"),
    ("train_benchmark global_batch nan", lambda d: t.train_benchmark("resnet", "h100-sxm", global_batch=NAN), r"--global-batch .* got nan"),
    ("train_benchmark no bf16 peak", lambda d: t.train_benchmark("resnet", "h200-nvl", 2), r"bf16_tflops_dense .*add a sourced"),
    ("workload_run name None", lambda d: t.workload_run(None, "h100-sxm"), r"a workload name \(text\) is required.*tapeout workloads"),
    ("workload_run name near miss", lambda d: t.workload_run("resnet5", "h100-sxm"), r"unknown workload 'resnet5'\. Closest: resnet50"),
    ("workload_run param typo", lambda d: t.workload_run("resnet50", "h100-sxm", param=["batchh=8"]), r"unknown parameter 'batchh'\. Parameters: batch"),
    ("workload_run param int", lambda d: t.workload_run("resnet50", "h100-sxm", param=5), r"param must be KEY=VALUE strings .* got 5 \(int\)"),
    ("workload_run param nan", lambda d: t.workload_run("resnet50", "h100-sxm", param={"batch": NAN}), r"batch must be a finite whole number > 0, got nan"),
    ("workload_run scenario typo", lambda d: t.workload_run("resnet50", "h100-sxm", scenario="serverr"), r"--scenario 'serverr' .*offline, server"),
    ("cost volume -1", lambda d: t.cost("h100-sxm", volume=-1), r"--volume must be a finite number >= 1"),
    ("cost chip None", lambda d: t.cost(None), r"a chip name \(text\) is required"),
    ("compliance neither", lambda d: t.compliance(), r"give exactly one of --chip NAME or --design FILE"),
    ("compliance design list", lambda d: t.compliance(design=[1]), r"design must be a design YAML path or a mapping"),
    ("compliance design misspelt key", lambda d: t.compliance(design={"bf16_tflop_dense": 100}),
     r"field 'bf16_tflop_dense': unknown field: remove it \(required here: die_area_mm2, tops\)"),
    ("compliance design negative area", lambda d: t.compliance(design={"die_area_mm2": -5, "tops": {"bf16": 100}}), r"field 'die_area_mm2': .*greater than 0"),
    ("compliance design nan tops", lambda d: t.compliance(design={"die_area_mm2": 500, "tops": {"bf16": NAN}}), r"field 'tops.bf16': .*finite"),
    ("compliance design node typo", lambda d: t.compliance(design={"die_area_mm2": 500, "tops": {"bf16": 100}, "process_node": "N55"}),
     r"field 'process_node': unknown process node 'N55'\. Closest: N5"),
    ("get_chip near miss", lambda d: t.get_chip("mi300"), r"unknown chip 'mi300'\. Closest: mi300x"),
    ("get_chip empty", lambda d: t.get_chip(""), r"a chip name \(text\) is required, got ''"),
    ("get_chip None", lambda d: t.get_chip(None), r"a chip name \(text\) is required, got nothing"),
    ("get_chip int", lambda d: t.get_chip(5), r"a chip name \(text\) is required, got 5 \(int\)"),
    ("load_model None", lambda d: t.load_model(None), r"a model name \(text\) is required.*tapeout models"),
    ("load_model near miss", lambda d: t.load_model("llama3.1-8"), r"Closest: llama-3.1-8b"),
    ("register_chip no id", lambda d: t.register_chip({"base": "h100-sxm"}), r"chip\.id must be a non-empty string"),
    ("register_chip spec at top level", lambda d: t.register_chip({"id": "x", "base": "h100-sxm", "tdp_w": 500}), r"unknown key\(s\) tdp_w; put chip fields under 'specs'"),
    ("register_chip negative bandwidth", lambda d: _reg(memory_bandwidth_tbps=-2), r"chip\.specs\.memory_bandwidth_tbps must be a finite number >= 0"),
    ("register_chip nan peak", lambda d: _reg(bf16_tflops_dense=NAN), r"chip\.specs\.bf16_tflops_dense .* got nan"),
    ("register_chip text value", lambda d: _reg(tdp_w="lots"), r"chip\.specs\.tdp_w .* got 'lots'"),
    ("register_chip field near miss", lambda d: _reg(bf16_tflop_dense=600), r"unknown chip\.specs field 'bf16_tflop_dense'\. Closest: bf16_tflops_dense"),
    ("register_chip family near miss", lambda d: t.register_chip({"id": "x", "family": "nvidia-hoper", "specs": CHIP_SPECS}), r"Closest: nvidia-hopper"),
    ("served chip cannot hold the model", lambda d: (_reg(memory_capacity_gb=1), t.serve("llama3.1-70b", "hostile35-npu"))[1],
     r"does not fit on 1 x hostile35-npu.*Use more chips"),
    ("explore backend typo", lambda d: t.explore(_file(d, "s.yaml", SPACE), db=str(d / "s.duckdb"), backend="rai"), r"backend 'rai' is not known: use local or ray"),
    ("explore search typo", lambda d: t.explore(_file(d, "s.yaml", SPACE), db=str(d / "s.duckdb"), search="nsga3"), r"search 'nsga3' is not known"),
    ("explore maturity 5", lambda d: t.explore(_file(d, "s.yaml", SPACE), db=str(d / "s.duckdb"), maturity=5), r"--maturity must be in \(0, 1\]"),
    ("explore parameter near miss", lambda d: t.explore(_file(d, "p.yaml", SPACE.replace("{cores: [16]", "{coress: [16]")),
                                                        db=str(d / "p.duckdb")),
     r"unknown NPU parameter 'coress'\. Closest: cores"),
    ("explore cores outside the template", lambda d: t.explore(_file(d, "n.yaml", SPACE.replace("{cores: [16]", "{cores: [-16]")),
                                                               db=str(d / "n.duckdb")),
     r"parameters\.cores: -16 is outside the template range"),
    ("run_study misspelt key", lambda d: t.run_study(_file(d, "st.yaml", STUDY.format(name="x", key="workloadz", input_len=512)), out=str(d / "o")),
     r"st.yaml line 3: field 'workloadz': unknown field: rename it 'workloads'"),
    ("run_study negative input_len", lambda d: t.run_study(_file(d, "st.yaml", STUDY.format(name="x", key="workloads", input_len=-512)), out=str(d / "o")),
     r"workloads\[0\] 'chat': --input-len must be a finite whole number > 0, got -512"),
    ("run_study backend typo", lambda d: t.run_study(_file(d, "st.yaml", STUDY.format(name="x", key="workloads", input_len=512)), out=str(d / "o"),
                                                     backend="rey"), r"backend 'rey' is not known"),
    ("validate holdout int", lambda d: t.validate(holdout=5), r"a chip name \(text\) is required, got 5 \(int\)"),
    ("validate data missing", lambda d: t.validate(data=str(d / "none.csv")), r"--data .* not found; give a CSV"),
]


@pytest.mark.parametrize("call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_gets_one_line_naming_the_field(call, pattern, tmp_path, session_chips):
    with pytest.raises(TapeoutError) as e:
        call(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg.strip(), msg
    assert re.search(pattern, msg), msg


def test_explore_stays_callable_after_its_package_is_imported(tmp_path):
    """`tapeout.explore` is both the API function and a subpackage; importing the package (which the first call does)
    rebinds the name: the package itself calls the API."""
    import tapeout.explore.search  # noqa: F401  (binds the package on `tapeout`)

    for _ in range(2):
        with pytest.raises(TapeoutError, match="backend 'x' is not known"):
            t.explore(_file(tmp_path, "s.yaml", SPACE), db=str(tmp_path / "s.duckdb"), backend="x")
    r = t.explore(_file(tmp_path, "s.yaml", SPACE), db=str(tmp_path / "s.duckdb"))
    assert r.to_dict()["total"] == 1


def test_workload_param_string_is_one_setting():
    """workload_explain(param='batch=8') means one KEY=VALUE, as ['batch=8'] (not its characters)."""
    a = t.workload_run("resnet50", "h100-sxm", param="batch=8").to_dict()
    b = t.workload_run("resnet50", "h100-sxm", param=["batch=8"]).to_dict()
    assert a["time_s"] == b["time_s"]


@pytest.mark.parametrize("args, call", [
    (["serve", "-m", LLM, "--chip", "h100-sxm", "-n", "-1"], lambda: t.serve(LLM, "h100-sxm", num_chips=-1)),
    (["train", "-m", LLM, "--chip", "h100-sxm", "--recompute", "ful"], lambda: t.train(LLM, "h100-sxm", recompute="ful")),
    (["cost", "h100-sxm", "--volume", "-1"], lambda: t.cost("h100-sxm", volume=-1)),
    (["show", "mi300"], lambda: t.get_chip("mi300")),
    (["train", "--benchmark", "resnett", "--chip", "h100-sxm"], lambda: t.train_benchmark("resnett", "h100-sxm")),
])
def test_the_api_says_what_the_cli_says(args, call):
    code, _, err = run_cli(args)
    with pytest.raises(TapeoutError) as e:
        call()
    assert code == 2 and str(e.value) in err
