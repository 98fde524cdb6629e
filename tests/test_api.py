"""The Python API (`import tapeout`): same numbers and same error messages as the CLI's
--json, immutable JSON-ready results, custom chips from a dict."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

import tapeout
from tapeout import TapeoutError

from _cli import run_cli

SERVE = dict(model="llama-2-70b", chip="h100-sxm", num_chips=8, precision="fp8", input_len=1024, output_len=256)


def cli_json(args: list) -> dict | list:
    code, out, err = run_cli([*args, "--json"])
    assert code == 0, err
    return json.loads(out)


def cli_error(args: list) -> str:
    code, out, err = run_cli(args)
    assert code == 2, (code, out, err)
    return err.strip().removeprefix("error: ")


def flags(**kw) -> list[str]:
    out = []
    for k, v in kw.items():
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def test_serve_equals_cli_json_and_engine():
    from tapeout.perf.llm import serve as engine

    r = tapeout.serve(**SERVE)
    assert r.to_dict() == cli_json(["serve", *flags(**SERVE)])
    eng = json.loads(json.dumps(engine(**SERVE).as_dict()))
    assert r.to_dict() == eng
    assert r.output_tokens_per_s == eng["output_tokens_per_s"] > 0


def test_done_when_command_prints_the_cli_number():
    code = ("import tapeout; print(tapeout.serve(model='llama-2-70b', chip='h100-sxm', num_chips=8, precision='fp8', "
            "input_len=1024, output_len=256).output_tokens_per_s)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert float(out) == cli_json(["serve", *flags(**SERVE)])["output_tokens_per_s"]


def test_train_cost_compliance_workload_equal_cli_json():
    from tapeout.econ.summary import chip_cost_stack
    from tapeout.hardware import get_chip

    tr = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, seq_len=2048, global_batch_tokens=1048576)
    assert tapeout.train(**tr).to_dict() == cli_json(["train", *flags(**tr)])
    c = tapeout.cost(chip="h100-sxm", volume=100000)
    assert c.to_dict() == cli_json(["cost", "--chip", "h100-sxm", "--volume", "100000"])
    d = c.to_dict()
    assert "tco" in d  # owned TCO per GPU-hour (econ/tco_anchor.py), beside the cost stack
    d.pop("tco")
    assert d == json.loads(json.dumps(chip_cost_stack(get_chip("h100-sxm"), 100000)))
    assert tapeout.compliance(chip="h20").to_dict() == cli_json(["compliance", "--chip", "h20"])
    w = tapeout.workload_run("resnet50", "h100-sxm", ["batch=8"])
    assert w.to_dict() == cli_json(["workload-run", "resnet50", "--chip", "h100-sxm", "--set", "batch=8"])
    assert tapeout.workload_run("resnet50", "h100-sxm", batch=8).to_dict() == w.to_dict()


def test_explain_equals_cli_and_ops_sum_to_step():
    kw = dict(model="llama-3.1-8b", chip="h100-sxm", num_chips=1, input_len=512, output_len=128)
    e = tapeout.explain(**kw)
    assert e.to_dict() == cli_json(["explain", *flags(**kw)])
    assert sum(op["time_ms"] for op in e.rows()) == pytest.approx(e.step_time_s * 1e3, rel=1e-9)
    assert sum(op["share"] for op in e.rows()) == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize("call, args", [
    (lambda: tapeout.serve(**{**SERVE, "chip": "h100-sxmm"}), ["serve", *flags(**{**SERVE, "chip": "h100-sxmm"})]),
    (lambda: tapeout.serve(**{**SERVE, "num_chips": 0}), ["serve", *flags(**{**SERVE, "num_chips": 0})]),
    (lambda: tapeout.serve(**{**SERVE, "input_len": 5000}), ["serve", *flags(**{**SERVE, "input_len": 5000})]),
    (lambda: tapeout.serve(chip="h100-sxm"), ["serve", "--chip", "h100-sxm"]),
    (lambda: tapeout.train(model="llama-3.1-8b", chip="h100-sxm", seq_len=-1), ["train", "-m", "llama-3.1-8b", "-c", "h100-sxm", "--seq-len", "-1"]),
    (lambda: tapeout.cost(chip="h100-sxm", volume=0.5), ["cost", "--chip", "h100-sxm", "--volume", "0.5"]),
    (lambda: tapeout.compliance(), ["compliance"]),
    (lambda: tapeout.explain(model="llama-3.1-8b", chip="h100-sxm", phase="train"), ["explain", "-m", "llama-3.1-8b", "-c", "h100-sxm", "--phase", "train"]),
    (lambda: tapeout.workload_run("resnet50", "h100-sxm", ["batch"]), ["workload-run", "resnet50", "--chip", "h100-sxm", "--set", "batch"]),
])
def test_error_message_is_the_clis(call, args):
    with pytest.raises(TapeoutError) as e:
        call()
    assert str(e.value) == cli_error(args)


def test_results_are_immutable_and_json_ready():
    r = tapeout.serve(**SERVE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.output_tokens_per_s = 1.0
    with pytest.raises(TypeError):
        r.data["ttft_s"] = 0.0
    d = r.to_dict()
    d["ttft_s"] = -1.0  # a copy: the result is unchanged
    assert r.ttft_s > 0
    for res in (r, tapeout.chips(), tapeout.load_model("mixtral-8x7b"), tapeout.compliance(chip="b200")):
        json.dumps(res.to_dict(), allow_nan=False)
    with pytest.raises(AttributeError, match="no field"):
        r.throughput


def test_chips_and_models_match_cli_and_published_sizes():
    assert tapeout.chips().rows() == cli_json(["chips"])
    assert tapeout.get_chip("h100").to_dict() == cli_json(["show", "h100"])
    m = tapeout.load_model("llama-2-70b")
    assert m.params_b == pytest.approx(69.0, rel=0.02)  # Llama 2 paper: 70B (68.98B counted)
    mx = tapeout.load_model("mixtral-8x7b")
    assert mx.params_b == pytest.approx(46.7, rel=0.02) and mx.active_params_b == pytest.approx(12.9, rel=0.03)  # Mistral AI


NPU = {"id": "test-npu", "family": "generic", "specs": {
    "bf16_tflops_dense": 600, "fp8_tflops_dense": 1200, "memory_bandwidth_tbps": 2.0, "memory_capacity_gb": 96,
    "tdp_w": {"value": 500, "source": "test design"}, "scaleup_bw_gbps_bidir": 400}}


def test_register_chip_from_dict_then_serve(session_chips):
    info = tapeout.register_chip(NPU)
    assert info.id == "test-npu" and info.specs["tdp_w"]["source"] == "test design"
    assert info.specs["memory_bandwidth_tbps"]["unit"] == "TB/s"  # the catalog's unit for the field
    kw = dict(model="llama-3.1-8b", chip="test-npu", num_chips=1, precision="fp8", input_len=512, output_len=256, batch=16)
    slow = tapeout.serve(**kw)
    assert slow.chip == "test-npu" and slow.output_tokens_per_s > 0
    # the same id registered again with twice the bandwidth replaces the chip (no stale cache);
    # decode at batch 16 streams the weights: more bandwidth, shorter TPOT
    tapeout.register_chip({**NPU, "specs": {**NPU["specs"], "memory_bandwidth_tbps": 4.0}})
    fast = tapeout.serve(**kw)
    assert fast.tpot_s < slow.tpot_s and fast.output_tokens_per_s > slow.output_tokens_per_s
    assert tapeout.get_chip("test-npu").specs["memory_bandwidth_tbps"]["value"] == 4.0


def test_register_chip_from_yaml_with_base(tmp_path, session_chips):
    f = tmp_path / "npu.yaml"
    f.write_text("id: h100-more-hbm\nbase: h100-sxm\nspecs:\n  memory_capacity_gb: 141\n")
    info = tapeout.register_chip(f)
    assert info.family == tapeout.get_chip("h100-sxm").family
    assert info.specs["memory_capacity_gb"]["value"] == 141.0
    assert info.specs["bf16_tflops_dense"] == tapeout.get_chip("h100-sxm").specs["bf16_tflops_dense"]


@pytest.mark.parametrize("spec, match", [
    ({**NPU, "specs": {**NPU["specs"], "memory_bandwith_tbps": 3}}, "unknown chip.specs field 'memory_bandwith_tbps'.*memory_bandwidth_tbps"),
    ({**NPU, "specs": {k: v for k, v in NPU["specs"].items() if k != "tdp_w"}}, "chip.specs.tdp_w is missing"),
    ({**NPU, "specs": {**NPU["specs"], "tdp_w": float("nan")}}, "chip.specs.tdp_w must be a finite number"),
    ({**NPU, "id": "h100-sxm"}, "is the catalog chip 'h100-sxm'"),
    ({**NPU, "family": "nvidiaa"}, "unknown chip.family 'nvidiaa'"),
    ({**NPU, "memory_bandwidth_tbps": 3}, "unknown key"),
    ({"specs": NPU["specs"]}, "chip.id must be"),
])
def test_register_chip_refuses_bad_input(spec, match, session_chips):
    with pytest.raises(TapeoutError, match=match):
        tapeout.register_chip(spec)


def test_public_functions_are_documented():
    for name in tapeout.__all__:
        obj = getattr(tapeout, name)
        if callable(obj) and not isinstance(obj, type):
            doc = obj.__doc__ or ""
            assert len(doc) > 80, name
            assert any(u in doc for u in (" s)", "(s", "USD", "TFLOPS", "tokens", "GB", "W", "%", "mm2", "TOPS", "billions")), name


def test_import_is_light():
    code = "import sys, tapeout; print(sorted(m for m in ('numpy', 'pydantic', 'typer', 'duckdb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_to_frame_rows():
    pd = pytest.importorskip("pandas")
    f = tapeout.explain(model="llama-3.1-8b", chip="h100-sxm").to_frame()
    assert isinstance(f, pd.DataFrame) and {"op", "time_ms", "bound"} <= set(f.columns)
    one = tapeout.cost(chip="h100-sxm").to_frame()
    assert len(one) == 1 and one["total"].iloc[0] > one["manufacturing"].iloc[0]
