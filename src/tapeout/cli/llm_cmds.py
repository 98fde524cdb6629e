"""`tapeout serve` and `tapeout explain`: LLM inference on one node (or replicas)."""

from __future__ import annotations

import typer

from .. import api
from .app import app, console, print_json, table


def _model_arg(model, model_config):
    """--model-config names a config.json file: it must exist and end in .json."""
    if model_config is None:
        return model
    from pathlib import Path

    from ..errors import TapeoutError

    if model:
        raise TapeoutError("give --model or --model-config, not both.")
    if not Path(model_config).is_file():
        raise TapeoutError(f"--model-config: file '{model_config}' not found; pass a Hugging Face config.json path.")
    return model_config


@app.command("serve")
def serve_cmd(
    model: str = typer.Option(None, "--model", "-m", help="preset name or path to a config.json"),
    model_config: str = typer.Option(None, "--model-config", help="path to a Hugging Face config.json (any supported architecture)"),
    chip: str = typer.Option(None, "--chip", "-c"),
    num_chips: int = typer.Option(1, "--num-chips", "-n"),
    precision: str = typer.Option("bf16", "--precision", "-p"),
    input_len: int = typer.Option(None, "--input-len", help="prompt tokens (default 1024; --benchmark: its dataset's)"),
    output_len: int = typer.Option(None, "--output-len", help="output tokens (default 256; --benchmark: its dataset's)"),
    batch: int = typer.Option(None, "--batch", help="sequences per replica (default: best that fits)"),
    tp: int = typer.Option(None, "--tp", help="tensor parallel degree (default: best)"),
    max_batch: int = typer.Option(None, "--max-batch", help="with --benchmark: sequences per engine, as the runtime setting (TensorRT-LLM max_batch_size, vLLM max_num_seqs): Offline fills it where the KV cache allows"),
    kv_precision: str = typer.Option(None, "--kv-precision"),
    sparsity: str = typer.Option(None, "--sparsity", help="2:4 or unstructured:0.5"),
    benchmark: str = typer.Option(None, "--benchmark", help="MLPerf preset (llama2-70b, mixtral-8x7b, ...)"),
    scenario: str = typer.Option("offline", "--scenario", help="offline | server | interactive"),
    power_limit: float = typer.Option(None, "--power-limit", help="board power cap in W (e.g. an MLPerf MaxQ setting)"),
    images_per_request: int = typer.Option(0, "--images-per-request", help="vision-language models (qwen2.5-vl-7b): images per request"),
    image_size: int = typer.Option(448, "--image-size", help="side of each square image in px (rounded to the encoder's 28 px)"),
    stack: str = typer.Option(None, "--stack", help="serving stack (data/software/serving_stacks.yaml: tensorrt-llm-0.x, trtllm-bench, vllm, vllm-0.4, synapseai-pytorch; default tensorrt-llm-0.x): the parallelism it supports, its all-reduce and KV cache; trtllm-bench also caps the batch at the max_batch_size trtllm-bench picks itself (perf/bench_engine.py)"),
    kernels: str = typer.Option(None, "--kernels", help="calibrate the chip on its own measured kernels: aiconfigurator "
                                "(needs pip install 'tapeout\\[kernels]'; chips of the database only); default: the shipped fit"),
    json_out: bool = typer.Option(False, "--json"),
):
    """Predict LLM serving throughput and latency (offline, max throughput) on a chip."""
    model = _model_arg(model, model_config)
    d = api.serve(model=model, chip=chip, num_chips=num_chips, precision=precision, input_len=input_len,
                  output_len=output_len, batch=batch, tp=tp, max_batch=max_batch, kv_precision=kv_precision,
                  sparsity=sparsity, benchmark=benchmark, scenario=scenario, power_limit=power_limit,
                  images_per_request=images_per_request, image_size=image_size, stack=stack, kernels=kernels).to_dict()
    if json_out:
        print_json(d)
        return
    keys = ["model", "chip", "num_chips", "precision", "parallelism", "batch_size", "output_tokens_per_s",
            "output_tokens_per_s_per_chip", "ttft_s", "tpot_s", "bound", "memory_gib_per_chip", "capacity_gib_per_chip",
            "power_w_per_chip", "joules_per_token"]
    if images_per_request:
        keys += ["image_tokens_per_request", "encoder_s_per_request"]
    console.print(table("serving prediction", ["metric", "value"], [[k, d.get(k)] for k in keys if k in d]))
    for n in d.get("notes", []) or []:
        console.print(f"note: {n}")


@app.command("explain")
def explain_cmd(
    model: str = typer.Option(None, "--model", "-m"),
    model_config: str = typer.Option(None, "--model-config", help="path to a Hugging Face config.json"),
    chip: str = typer.Option(..., "--chip", "-c"),
    num_chips: int = typer.Option(1, "--num-chips", "-n"),
    precision: str = typer.Option("bf16", "--precision", "-p"),
    input_len: int = typer.Option(1024, "--input-len"),
    output_len: int = typer.Option(256, "--output-len"),
    batch: int = typer.Option(None, "--batch"),
    tp: int = typer.Option(None, "--tp"),
    kv_precision: str = typer.Option(None, "--kv-precision"),
    phase: str = typer.Option("decode", "--phase", help="decode | prefill"),
    images_per_request: int = typer.Option(0, "--images-per-request", help="vision-language models: images per request (adds the encoder's table)"),
    image_size: int = typer.Option(448, "--image-size", help="side of each square image in px"),
    param: list[str] = typer.Option(None, "--set", help="workload presets (`tapeout workloads`): override a parameter, KEY=VALUE"),
    json_out: bool = typer.Option(False, "--json"),
):
    """Per-op table of one step (format, FLOPs, bytes, bound, time, energy, share) and the assumptions.
    --model may also name a workload preset (hstu, sdxl, whisper, ...): its per-op table, as `tapeout workload-explain`."""
    from ..errors import TapeoutError
    from ..errors import unknown_name_error
    from ..workloads.catalog import WORKLOADS, is_workload_preset
    from ..workloads.llm_config import is_preset, preset_names

    model = _model_arg(model, model_config)
    if not model:
        raise TapeoutError("--model (a preset) or --model-config (a config.json path) is required.")
    if model_config is None and is_workload_preset(model):
        from .workload_cmds import workload_explain_cmd

        if images_per_request:
            raise TapeoutError(f"--images-per-request applies to vision-language LLMs (qwen2.5-vl-7b), not to the "
                               f"workload preset '{model}'; use --set for its parameters.")
        return workload_explain_cmd(name=model, chip=chip, param=param, json_out=json_out)
    if model_config is None and not model.endswith(".json") and not is_preset(model):
        # explain takes both kinds of name, so the error names both lists
        raise unknown_name_error("model or workload preset", model, preset_names() + list(WORKLOADS))
    if param:
        raise TapeoutError(f"--set applies to workload presets (`tapeout workloads`), not to the LLM '{model}'; "
                           "use --input-len, --output-len, --batch, --tp.")
    res = api.explain(model=model, chip=chip, num_chips=num_chips, precision=precision, input_len=input_len,
                      output_len=output_len, batch=batch, tp=tp, kv_precision=kv_precision, phase=phase,
                      images_per_request=images_per_request, image_size=image_size)
    d = res.to_dict()
    rows, total, assumptions, r = d["ops"], d["step_time_s"], d["assumptions"], d["serving"]
    if json_out:
        print_json(d)
        return
    console.print(table(f"{phase} step of {r['model']} on {r['chip']} ({r['parallelism']}, batch {assumptions['batch']}): {total * 1e3:.2f} ms per step",
                        ["op", "kind", "x", "format", "fell back", "GFLOP", "DRAM MB", "bound", "time ms", "energy J", "share"],
                        [[x["op"], x["kind"], round(x["count"], 2), x["format"], "yes" if x["fell_back"] else "", x["gflops"],
                          x["dram_mb"], x["bound"], x["time_ms"], x["energy_j"], f"{x['share'] * 100:.1f}%"] for x in rows]))
    console.print(table("number formats per op class", ["op class", "asked", "ran", "bytes/elem", "fell back", "note"],
                        [[f["op_class"], f["asked"], f["ran"], round(f["bytes_per_elem"], 4), "yes" if f["fell_back"] else "",
                          f["note"]] for f in d.get("formats", [])]))
    enc = d.get("vision_encoder")
    if enc:
        console.print(table(f"vision encoder: {enc['images_per_request']} image(s) of {enc['image_size']} px = "
                            f"{enc['image_tokens_per_request']} tokens per request, {enc['time_s_per_request'] * 1e3:.2f} ms "
                            f"on TP{enc['tp']} (one chip's ops below, split over TP), before the request's prefill",
                            ["op", "kind", "x", "format", "GFLOP", "DRAM MB", "bound", "time ms", "energy J", "share"],
                            [[x["op"], x["kind"], round(x["count"], 2), x["format"], x["gflops"], x["dram_mb"], x["bound"],
                              x["time_ms"], x["energy_j"], f"{x['share'] * 100:.1f}%"] for x in enc["ops"]]))
    console.print(table("assumptions", ["item", "value"], [[k, v] for k, v in assumptions.items()]))
