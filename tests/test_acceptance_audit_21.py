"""Round stop-21 acceptance audit of issue 17 from a fresh clone (docs/notes/issue-17.md, branch
issue-21sd): one regression per fix, each failing before it."""

from __future__ import annotations

import pytest

from _cli import assert_clean, run_cli
from tapeout.errors import TapeoutError
from tapeout.explore.mix import compile_workload
from tapeout.explore.space import WorkloadSpec
from tapeout.workloads.llm import decode_graph, prefill_graph
from tapeout.workloads.llm_config import load_llm
from tapeout.workloads.vlm import vision_graph, vision_spec

VLM = "qwen2.5-vl-7b"


def _err(args) -> str:
    code, out, err = run_cli(args)
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    return err.strip().splitlines()[-1]


# --- What to build 4: the explorer evaluates a vision-language workload ---------------------------

def test_explorer_vlm_prefill_adds_image_tokens_and_the_encoder_split_over_tp():
    # was: TypeError traceback (LLMStep got an unexpected keyword 'images_per_request')
    w = compile_workload(WorkloadSpec(name="vlm", kind="llm_prefill", model=VLM, batch=2, input_len=1024, tp=2,
                                      images_per_request=2, image_size=448))
    # 448 px = 16 x 16 merged patches of 28 px: 256 LLM tokens per image (Qwen2.5-VL smart_resize)
    assert w.units == 2 * (1024 + 2 * 256)
    cfg = load_llm(VLM)
    text = prefill_graph(cfg, 2, 1024 + 512, "bf16", tp=2)
    enc = vision_graph(vision_spec(VLM), 4, 448, "bf16")
    assert len(w.table.ops) == len(text.ops) + len(enc.ops)
    # the encoder's FLOPs enter once per request, halved by the TP split (perf/vlm.encoder_cost)
    assert float((w.table.flops * w.table.count).sum()) == pytest.approx(text.flops + enc.flops / 2, rel=1e-9)


def test_explorer_vlm_decode_keeps_the_image_tokens_in_the_kv_cache():
    w = compile_workload(WorkloadSpec(name="vlm", kind="llm_decode", model=VLM, batch=8, context=1000,
                                      images_per_request=1, image_size=448))
    g = decode_graph(load_llm(VLM), 8, 1256, "bf16")
    assert len(w.table.ops) == len(g.ops) and w.units == 8
    assert float((w.table.flops * w.table.count).sum()) == pytest.approx(g.flops, rel=1e-9)
    assert w.memory_bytes > compile_workload(WorkloadSpec(name="t", kind="llm_decode", model=VLM, batch=8,
                                                          context=1000)).memory_bytes


@pytest.mark.parametrize("extra,field", [({"image_count": 2}, "unknown parameter 'image_count'"),
                                         ({"images_per_request": 2, "image_size": 100000}, "larger than the vision encoder"),
                                         ({"images_per_request": 1}, None)])
def test_explorer_llm_workload_bad_parameter_is_one_error_naming_the_workload(extra, field):
    model = VLM if field else "llama-3.1-8b"  # last case: images on a text-only model
    with pytest.raises(TapeoutError) as e:
        compile_workload(WorkloadSpec(name="chat", kind="llm_prefill", model=model, **extra))
    assert str(e.value).startswith("workloads 'chat' (kind llm_prefill): ")
    assert (field or "has no vision encoder") in str(e.value)


def test_explorer_catalog_workload_error_names_the_workload():
    with pytest.raises(TapeoutError, match=r"^workloads 'genrec' \(kind hstu\): seq_len must be > 0"):
        compile_workload(WorkloadSpec(name="genrec", kind="hstu", seq_len=-5))


# --- What to build 2: the four LoadGen scenarios, run as a user (was: only inside `tapeout validate`) ---

def _scenario(name, scen, **settings):
    from tapeout import api

    return api.workload_run(name, "h100-sxm", settings, scenario=scen).to_dict()


@pytest.mark.parametrize("preset,bench,scen,prec", [("resnet50", "resnet", "SingleStream", "int8"),
                                                    ("resnet50", "resnet", "MultiStream", "int8"),
                                                    ("bert-large", "bert-99", "Server", "fp8"),
                                                    ("3d-unet", "3d-unet-99", "SingleStream", "int8"),
                                                    ("dlrmv2", "dlrm-v2-99", "Offline", "fp8"),
                                                    ("whisper-large-v3", "whisper", "Offline", "fp16")])
def test_scenario_run_is_what_validation_scores(preset, bench, scen, prec):
    # one engine: the CLI's scenario answer is the validation mapper's prediction for the same row
    from tapeout.validation.other_rows import map_inference

    sw = "TensorRT 10.2.0, CUDA 12.4"
    row = {"category": "mlperf-inf", "workload": f"MLPerf Inference v4.1 {bench}", "scenario": scen,
           "accelerator": "NVIDIA H100-SXM", "n_accelerators": "8", "precision": prec, "software": sw}
    want = map_inference(row)
    got = _scenario(preset, scen.lower(), precision=want.detail["compute_precision"], software=sw, num_chips=8)
    assert got["value"] == pytest.approx(want.predicted, rel=1e-12) and got["unit"] == want.unit


def test_scenario_invariants():
    ss, ms = _scenario("resnet50", "singlestream")["value"], _scenario("resnet50", "multistream")
    assert ms["samples_per_query"] == 8 and ms["value"] >= ss > 0  # 8 samples never return sooner than 1
    off1, off8 = _scenario("resnet50", "offline"), _scenario("resnet50", "offline", num_chips=8)
    assert off8["value"] == pytest.approx(8 * off1["value"])  # Offline: n data-parallel replicas
    srv = _scenario("resnet50", "server")
    assert 0 < srv["value"] < off1["value"] and srv["latency_bound_s"] == 0.015  # mlperf.conf resnet50 15 ms
    w = _scenario("whisper-large-v3", "offline")
    assert w["unit"] == "Tokens/s"  # MLPerf counts output tokens (reference_SUT.py n_tokens)
    assert w["value"] == pytest.approx(w["samples_per_s_per_chip"] * 100)  # 100 tokens per 30-s window (preset)


@pytest.mark.parametrize("args,field", [
    (["resnet50", "--scenario", "batch"], "--scenario 'batch' is not a LoadGen scenario"),
    (["yolov8m", "--scenario", "offline"], "not an MLPerf inference benchmark preset"),
    (["resnet50", "--scenario", "offline", "--set", "batch=8"], "--set batch does not apply"),
    (["resnet50", "--scenario", "offline", "--set", "num_chips=0"], "num_chips must be a whole number >= 1"),
    (["resnet50", "--scenario", "offline", "--set", "precision=fp4"], "precision=fp4"),
])
def test_scenario_bad_input_one_line_exit_2(args, field):
    assert field in _err(["workload-run", *args, "--chip", "h100-sxm"])


# --- Done when: `tapeout workloads` lists the new workloads with sources (the VLM was missing) -----

def test_workloads_lists_the_vision_language_model_with_its_source_and_command():
    import json

    code, out, err = run_cli(["workloads", "--json"])
    assert code == 0, err
    vlm = [r for r in json.loads(out) if r["kind"] == "vlm"]
    assert [r["name"] for r in vlm] == ["qwen2.5-vl-7b"]  # the one preset with a vision_config
    assert "arXiv:2502.13923" in vlm[0]["source"] and "preprocessor_config.json" in vlm[0]["source"]
    assert "--images-per-request" in vlm[0]["description"]


def test_an_llm_name_given_to_workload_run_points_to_serve():
    # was: "unknown workload 'qwen2.5-vl-7b'. Closest: wan2.1-14b, wan2.2-a14b"
    assert "tapeout serve --model qwen2.5-vl-7b" in _err(["workload-run", "qwen2.5-vl-7b", "--chip", "h100-sxm"])


def test_explain_unknown_name_suggests_from_both_lists():
    # was: "unknown model 'hstu2'. Run `tapeout models`" although explain takes workload presets too
    e = _err(["explain", "--model", "hstu2", "--chip", "h100-sxm"])
    assert "Closest: hstu." in e and "tapeout workloads" in e


# --- Bad input: the recommendation tier settings (was: exit 0, a NaN printed as '-' or a silent default) ---

@pytest.mark.parametrize("preset,kv,field", [("hstu", "zipf_s=-1", "zipf_s must be >= 0"),
                                             ("hstu", "zipf_s=nan", "zipf_s must be >= 0"),
                                             ("hstu", "host_dram_gb=nan", "host_dram_gb must be >= 0"),
                                             ("dlrmv2", "zipf_s=-1", "zipf_s must be >= 0"),
                                             ("dlrmv2", "latency_bound_s=0", "latency_bound_s must be > 0"),
                                             ("rgat", "shard_chips=0", "shard_chips must be > 0")])
def test_recsys_tier_settings_out_of_range_one_line_exit_2(preset, kv, field):
    assert field in _err(["workload-run", preset, "--chip", "h100-sxm", "--set", kv])


# --- Done when: the per-scenario table is published by the generating script -----------------------

def test_validation_tables_publish_the_non_llm_scenario_targets():
    # was: the pooled Offline + Server figure and its coverage were written by hand in docs/validation.md
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "validation_tables", Path(__file__).resolve().parents[1] / "scripts" / "validation_tables.py")
    vt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(vt)

    def row(scen, err, bench="resnet50"):
        return {"mapper": "mlperf-other-inference", "scenario": scen, "benchmark": bench, "error_pct": err,
                "inside": err is not None and abs(err) < 15}

    rows = [row("offline", 10.0), row("offline", -20.0), row("server", 14.0), row("server", None, "resnet"),
            row("singlestream", 30.0), {"mapper": "llm_inference", "scenario": "offline", "error_pct": 90.0}]
    lines = vt.non_llm_scenario_table(rows)
    pooled = next(x for x in lines if x.startswith("| Offline + Server |"))
    # 4 rows, 3 predicted; |err| 10, 20, 14 -> median 14; signed 10, -20, 14 -> 10; 2 of 3 inside
    assert pooled.split(" | ")[1:8] == ["4", "3", "75.0%", "14.0", "10.0", "67%", "<= 15% and coverage >= 95%"]
    assert pooled.endswith("| missed |")  # coverage 75% < 95%
    assert next(x for x in lines if x.startswith("| SingleStream |")).endswith("| <= 25% | missed |")
    assert any(x.startswith("| resnet50 | server | 1 | 14.0 |") for x in lines)


def test_an_image_too_large_for_one_unit_says_smaller_inputs_not_lower_batch():
    # was: "batch=128 needs 102400.6 GB ...; lower batch" although batch 1 needs 800 GB
    e = _err(["workload-run", "vit-l16", "--chip", "h100-sxm", "--set", "resolution=100000"])
    assert "even batch=1 needs" in e and "use smaller inputs" in e
    assert "lower batch" in _err(["workload-run", "resnet50", "--chip", "h100-sxm", "--set", "batch=100000"])


@pytest.mark.parametrize("preset,kv,field", [("wan2.2-a14b", "steps=0", "steps must be > 0"),  # was: 0 -> 40 steps
                                             ("sdxl", "height=0", "height"),  # was: 0 -> square
                                             ("monolith", "candidates=0", "candidates must be")])  # was: "items"
def test_zero_is_refused_not_read_as_the_default(preset, kv, field):
    assert field in _err(["workload-run", preset, "--chip", "h200", "--set", kv])


# --- What to build 4: a study whose design space names a workload the reference chip cannot hold ---

SPACE = """name: npu-a
parameters: {cores: [16, 32], array_rows: 128, dataflow: ws, clock_ghz: 1.1, sram_per_core_mb: 4, mem_type: HBM3,
             mem_stacks: 8, chiplets: 1, node: N7, fp8: true}
derived: {array_cols: array_rows}
workloads:
  - {name: wan22, kind: wan2.2-a14b, weight: 0.001}
  - {name: r50, kind: resnet50, weight: 1, slo_ms: 15}
"""


def test_study_explores_a_space_whose_workload_the_reference_chip_cannot_hold(tmp_path):
    # was: exit 2 "baseline h100-sxm: workload 'wan22' needs 78.7 GB ...; pick another baseline" with no
    # study field to pick one: the whole study stopped because the design cloud could not be normalised
    import json

    (tmp_path / "sp.yaml").write_text(SPACE)
    (tmp_path / "s.yaml").write_text("name: a\nchips: [h100-sxm, h200]\nworkloads:\n"
                                     "  - {name: r50, kind: vision, model: resnet50, traffic: {images_per_s: 100}}\n"
                                     "design_spaces: [sp.yaml]\nconstraints: {buildable: false}\n"
                                     "search: {method: grid, budget: 10, seed: 1, top_k: 1}\n")
    code, out, err = run_cli(["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out"), "-q"])
    assert_clean(code, out, err)
    assert code == 0, err[-500:]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "wan22" in res["explore"]["npu-a"]["cloud_not_drawn"]
    assert any(r["chip"].startswith("npu-") and r.get("units_per_s_per_chip") for r in res["matrix"])
