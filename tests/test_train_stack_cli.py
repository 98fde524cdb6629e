"""`tapeout train` / api.train: the software stack a new user meets (round stop-26, issue 18).

--stack and the stack settings reach the CLI with the API's validation; --benchmark applies the stack
its validation rows run; eager layers are refused where no host-issue data exists and follow a derived
chip's base for its host; malformed input is one line naming the option."""

from __future__ import annotations

import csv
import math
import re

import pytest

from _cli import assert_clean, refusal, run_cli
from tapeout import api, register_chip
from tapeout.api.train_settings import USER_SETTINGS
from tapeout.errors import TapeoutError
from tapeout.formats import data_file
from tapeout.perf.host_issue import host_issue_table, layer_issue

SMALL = ["train", "--model", "llama-2-7b", "--chip", "h100", "-n", "8"]




# --- CLI refusals: exit 2, one line naming the option and the fix ------------------------------------------

@pytest.mark.parametrize("extra, names", [
    (["--stack", "nosuch"], ["--stack", "nemo-24.04", "none"]),
    (["--chip", "tpu-v5p", "--stack", "nemo-24.04"], ["--stack", "NVIDIA", "tpu-v5p"]),
    (["--chip", "tpu-v5p", "--eager-layer", "mcore-te-gpt"], ["eager_layer", "tpu-v5p", "--eager-layer none"]),
    (["--chip", "mi300x", "--eager-layer", "mcore-te-gpt"], ["eager_layer", "AMD"]),
    (["--eager-layer", "nosuch"], ["eager_layer", "mcore-te-gpt"]),
    (["--host-cpu", "NVIDIA Grace (GH200)"], ["host_cpu", "eager_layer"]),
    (["--eager-layer", "mcore-te-gpt", "--host-cpu", "nosuch"], ["host_cpu", "Intel Xeon Platinum 8480C"]),
    (["--comm-ctas", "-1"], ["--comm-ctas", ">= 0"]),
    (["--comm-ctas", "2.5"], ["--comm-ctas"]),
    (["--comm-ctas", "66"], ["comm_ctas", "132 cores", "up to 65"]),  # 66 of H100's 132 SMs is half: refused
    (["--fp8-attention"], ["--fp8-attention", "--precision fp8"]),
    (["--fp8-attention", "--precision", "fp8", "--stack", "nemo-23.09"], ["--fp8-attention", "nemo-23.09"]),
    (["--cp", "0"], ["--cp", "> 0"]),
    (["--zero", "-1"], ["--zero"]),
    (["--vp", "nan"], ["--vp"]),
])
def test_cli_refuses_bad_stack_input(extra, names):
    args = list(SMALL)
    if "--chip" in extra:  # the case's chip replaces the default one
        i = args.index("--chip")
        del args[i:i + 2]
    msg = refusal(args + extra)
    for n in names:
        assert n in msg, msg


# --- API refusals: the same checks for a Python caller's types ---------------------------------------------

BASE = dict(model="llama-2-7b", chip="h100", num_chips=8)


@pytest.mark.parametrize("kw, pattern", [
    (dict(tp="4"), r"--tp must be a whole number, got '4' \(str\)"),
    (dict(tp=True), r"--tp must be a whole number, got True \(bool\)"),
    (dict(cp="2"), r"--cp must be a whole number"),
    (dict(cp=float("nan")), r"--cp must be a finite whole number > 0, got nan"),
    (dict(vp=float("inf")), r"--vp must be a finite whole number > 0"),
    (dict(mbs=1.5), r"--mbs must be a finite whole number > 0, got 1.5"),
    (dict(shard=2.5), r"--shard must be a finite whole number > 0"),
    (dict(zero="1"), r"--zero must be a whole number"),
    (dict(seq_len="2048"), r"--seq-len must be a whole number"),
    (dict(power_limit="700"), r"--power-limit must be a number"),
    (dict(comm_ctas="8"), r"--comm-ctas must be a whole number"),
    (dict(model=7), r"--model must be a name \(text\), got 7"),
    (dict(chip=123), r"--chip must be a name \(text\), got 123"),
    (dict(cluster=5), r"--cluster must be a name"),
    (dict(benchmark=5), r"--benchmark must be a name"),
    (dict(stack=5), r"--stack must be a name"),
    (dict(precision=8), r"--precision must be a name"),
    (dict(lora="yes"), r"--lora is a switch: give True or False, got 'yes'"),
    (dict(fp8_attention="yes"), r"--fp8-attention is a switch"),
    (dict(p2p_blocking_warmup=1), r"--p2p-blocking-warmup is a switch"),
    (dict(fp8_attention_cp="no"), r"--fp8-attention-cp is a switch"),
    (dict(stack="nemo-99"), r"unknown training stack \(--stack\) 'nemo-99'"),
])
def test_api_refuses_malformed_arguments(kw, pattern):
    with pytest.raises(TapeoutError, match=pattern):
        api.train(**{**BASE, **kw})


def test_whole_float_layout_sizes_run_as_ints():
    # tp=2.0 failed inside the search (range() of a float); a whole float is the same layout as the int
    a = api.train(**BASE, tp=2.0, zero=1.0)
    b = api.train(**BASE, tp=2, zero=1)
    assert a.step_time_s == b.step_time_s and a.parallelism == b.parallelism


def test_stack_name_is_case_insensitive():
    assert api.train(**BASE, stack="NEMO-24.04").to_dict()["stack"]["name"] == "nemo-24.04"


# --- --benchmark applies its validation rows' stack ---------------------------------------------------------

def _row(row_id: str) -> dict:
    with open(data_file("measured", "end_to_end.csv"), newline="") as f:
        return next(r for r in csv.DictReader(f) if r["id"] == row_id)


def test_benchmark_run_prices_like_its_validation_row():
    # TRN-v4.0-0099 (8 H100, NeMo 24.04, eager LoRA): at the row's own layout, batch and TP-overlap config the
    # CLI's --benchmark run is priced with the same stack as the validation row (same step, same host term)
    from tapeout.validation.train_rows import map_row

    row = _row("TRN-v4.0-0099")
    pred = map_row(row)
    gbs = int(re.search(r"global_batch_size=(\d+)", row["notes"]).group(1))
    r = api.train(benchmark="llama2-70b-lora", chip="h100-sxm", num_chips=8, precision="fp8", tp=4, pp=1, cp=1,
                  mbs=1, tp_overlap="nemo-lora-fp8-h100-tp4", global_batch_tokens=gbs * 8192)
    d = r.to_dict()
    assert d["stack"]["name"] == pred.detail["stack"] == "nemo-24.04"
    assert r.parallelism == pred.detail["parallelism"]
    assert math.isclose(r.step_time_s, pred.detail["step_s"], rel_tol=1e-12)
    assert d["breakdown"]["host_issue"] == pred.detail["host_issue"]


def test_benchmark_stack_is_shown_and_overridable():
    kw = dict(benchmark="llama2-70b-lora", chip="h100", num_chips=8, precision="fp8", tp=4, pp=1, cp=1, mbs=1)
    on = api.train(**kw).to_dict()
    shown = {x["setting"]: x for x in on["stack"]["settings"]}
    assert on["stack"]["name"] == "nemo-24.04" and "MLPerf v4.0" in on["stack"]["origin"]
    assert set(USER_SETTINGS) | {"fp8_attention"} <= set(shown)  # every user-settable default is shown
    assert shown["eager_layer"]["value"] == "mcore-te-gpt" and shown["zero"]["value"] == 0
    assert "host_issue" in on["breakdown"]
    off = api.train(**kw, eager_layer="none").to_dict()  # the user's value wins over the stack's
    assert "host_issue" not in off["breakdown"]
    assert off["step_time_s"] < on["step_time_s"]  # no host idle added at the same layout
    assert {x["setting"]: x["from"] for x in off["stack"]["settings"]}["eager_layer"] == "--eager-layer none"
    z = api.train(**kw, zero=1).to_dict()
    assert {x["setting"]: x for x in z["stack"]["settings"]}["zero"] == {"setting": "zero", "value": 1, "from": "--zero"}
    assert "ZeRO-1" in z["parallelism"]
    none = api.train(**kw, stack="none").to_dict()
    assert none["stack"]["name"] is None and "host_issue" not in none["breakdown"]


def test_benchmark_stack_only_on_its_vendor():
    d = api.train(benchmark="llama2-70b-lora", chip="mi300x", num_chips=8).to_dict()
    assert d["stack"]["name"] is None and "NVIDIA" in d["stack"]["origin"] and "AMD" in d["stack"]["origin"]


def test_cli_prints_the_stack_table():
    code, out, err = run_cli(["train", "--benchmark", "llama2-70b-lora", "--chip", "h100", "-n", "8", "--precision",
                              "fp8", "--tp", "4", "--pp", "1", "--cp", "1"])
    assert_clean(code, out, err)
    assert code == 0 and "software stack: nemo-24.04" in out and "eager host issue" in out
    code, out, err = run_cli(["train", "--benchmark", "llama2-70b-lora", "--chip", "h100", "-n", "8", "--precision",
                              "fp8", "--tp", "4", "--pp", "1", "--cp", "1", "--json", "--comm-ctas", "8",
                              "--no-p2p-blocking-warmup"])
    assert code == 0, err
    import json

    shown = {x["setting"]: x for x in json.loads(out)["stack"]["settings"]}
    assert shown["comm_ctas"] == {"setting": "comm_ctas", "value": 8, "from": "--comm-ctas"}
    assert shown["p2p_blocking_warmup"] == {"setting": "p2p_blocking_warmup", "value": False, "from": "--p2p-blocking-warmup"}
    # turned on at PP 1 it would hold sends the layout does not have: refused (api/train_switches.py), was shown True
    code, out, err = run_cli(["train", "--benchmark", "llama2-70b-lora", "--chip", "h100", "-n", "8", "--precision",
                              "fp8", "--tp", "4", "--pp", "1", "--cp", "1", "--p2p-blocking-warmup"])
    assert code == 2 and "--p2p-blocking-warmup changes the interleaved pipeline's held sends" in err


# --- eager layers: vendor and the derived chip's host --------------------------------------------------------

def test_derived_chip_host_follows_its_base(session_chips):
    grace = host_issue_table()["call_cpu_us"]["torch_linear"]["NVIDIA Grace (GH200)"]["value"]
    from tapeout.hardware.catalog import get_chip

    capped = get_chip("gh200").power_capped(600)
    register_chip({"id": "test-gh200-plus", "base": "gh200", "specs": {"memory_bandwidth_tbps": 6.0}})
    for cid in ("gh200", capped.id, "test-gh200-plus", "gh200-96gb"):
        li = layer_issue("mcore-te-gpt", None, cid)
        assert li.host == "NVIDIA Grace (GH200)" and not li.host_assumed, cid
        assert math.isclose(li.forward_s, li.calls["forward"] * grace * 1e-6, rel_tol=1e-2)  # calls are rounded


def test_eager_layer_vendor_through_lineage(session_chips):
    # a user chip derived from an NVIDIA chip (vendor left unset: 'custom') runs the NVIDIA layer; one with no base
    # and no NVIDIA vendor is refused, naming the setting
    register_chip({"id": "test-h100-like", "base": "h100-sxm", "specs": {"memory_bandwidth_tbps": 4.0}})
    r = api.train(model="llama-2-7b", chip="test-h100-like", num_chips=8, eager_layer="mcore-te-gpt", pp=1)
    assert "host_issue" in r.to_dict()["breakdown"]
    register_chip({"id": "test-npu-x", "specs": {"bf16_tflops_dense": 500, "memory_bandwidth_tbps": 3.0,
                                                  "memory_capacity_gb": 96, "tdp_w": 600}})
    with pytest.raises(TapeoutError, match=r"eager_layer 'mcore-te-gpt'.*test-npu-x"):
        api.train(model="llama-2-7b", chip="test-npu-x", num_chips=8, eager_layer="mcore-te-gpt")
