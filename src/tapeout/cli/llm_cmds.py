"""`tapeout serve` and `tapeout explain`: LLM inference on one node (or replicas)."""

from __future__ import annotations

import numpy as np
import typer

from ..formats import op_class, op_format
from ..hardware.catalog import get_chip
from ..ops import OP_KINDS
from ..perf.llm import PREFILL_CHUNK_TOKENS, serve, step_costs
from ..perf.opcost import BOUNDS
from .app import app, console, print_json, table
from .checks import check_context


def _serve(model, chip, num_chips, precision, input_len, output_len, batch, tp, kv_precision, sparsity):
    if sparsity and sparsity not in ("none", "dense"):
        try:
            from ..quant import serve_with_compression
        except ImportError:
            from ..errors import TapeoutError

            raise TapeoutError("--sparsity needs the compression stage (tapeout.quant), which is not installed.") from None
        return serve_with_compression(model, chip, num_chips, precision, kv_precision, sparsity,
                                      input_len=input_len, output_len=output_len, batch=batch, tp=tp)
    return serve(model, chip, num_chips, precision, input_len, output_len, batch=batch, tp=tp, kv_precision=kv_precision)


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
    input_len: int = typer.Option(1024, "--input-len"),
    output_len: int = typer.Option(256, "--output-len"),
    batch: int = typer.Option(None, "--batch", help="sequences per replica (default: best that fits)"),
    tp: int = typer.Option(None, "--tp", help="tensor parallel degree (default: best)"),
    max_batch: int = typer.Option(None, "--max-batch", help="with --benchmark: cap on sequences per engine (TensorRT-LLM max_batch_size, vLLM max_num_seqs)"),
    kv_precision: str = typer.Option(None, "--kv-precision"),
    sparsity: str = typer.Option(None, "--sparsity", help="2:4 or unstructured:0.5"),
    benchmark: str = typer.Option(None, "--benchmark", help="MLPerf preset (llama2-70b, mixtral-8x7b, ...)"),
    scenario: str = typer.Option("offline", "--scenario", help="offline | server | interactive"),
    power_limit: float = typer.Option(None, "--power-limit", help="board power cap in W (e.g. an MLPerf MaxQ setting)"),
    json_out: bool = typer.Option(False, "--json"),
):
    """Predict LLM serving throughput and latency (offline, max throughput) on a chip."""
    model = _model_arg(model, model_config)
    if power_limit is not None and chip:
        chip = get_chip(chip).power_capped(power_limit).id
    if benchmark:
        from ..perf.mlperf import serve_benchmark  # MLPerf presets (LLM at scale)

        r = serve_benchmark(benchmark, chip, num_chips, scenario=scenario, precision=precision if precision != "bf16" else None,
                            tp=tp, max_batch=max_batch)
        d = r if isinstance(r, dict) else r.as_dict()
    else:
        from ..errors import TapeoutError

        if not model or not chip:
            raise TapeoutError("--model and --chip are required (or --benchmark with --chip).")
        check_context(model, input_len + output_len, "--input-len + --output-len")
        r = _serve(model, chip, num_chips, precision, input_len, output_len, batch, tp, kv_precision, sparsity)
        d = r.as_dict()
    if json_out:
        print_json(d)
        return
    keys = ["model", "chip", "num_chips", "precision", "parallelism", "batch_size", "output_tokens_per_s",
            "output_tokens_per_s_per_chip", "ttft_s", "tpot_s", "bound", "memory_gib_per_chip", "capacity_gib_per_chip",
            "power_w_per_chip", "joules_per_token"]
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
    json_out: bool = typer.Option(False, "--json"),
):
    """Per-op table of one step (format, FLOPs, bytes, bound, time, energy, share) and the assumptions."""
    from ..errors import TapeoutError

    model = _model_arg(model, model_config)
    if not model:
        raise TapeoutError("--model (a preset) or --model-config (a config.json path) is required.")

    if phase not in ("decode", "prefill"):
        raise TapeoutError(f"--phase must be decode or prefill, got '{phase}'.")
    check_context(model, input_len + output_len, "--input-len + --output-len")
    r = serve(model, chip, num_chips, precision, input_len, output_len, batch=batch, tp=tp, kv_precision=kv_precision)
    mb = max(1, round(r.batch_size / r.pp))  # sequences per pipeline micro-batch
    b = mb if phase == "decode" else max(1, min(mb, PREFILL_CHUNK_TOKENS // input_len))
    ct = step_costs(model, chip, precision, phase, b, input_len, output_len, r.tp, r.ep, kv_precision)
    t = ct.table
    total = float(ct.total_time)
    fell = {f["op_class"]: f["fell_back"] for f in r.formats}
    rows = []
    for i, name in enumerate(t.names):
        cnt = t.count[i]
        tm = float(ct.time[i]) * cnt
        cls = op_class(t.ops[i])
        rows.append({
            "op": name, "kind": OP_KINDS[t.kind[i]], "count": cnt, "op_class": cls, "format": op_format(t.ops[i]),
            "fell_back": bool(fell.get(cls, False)),
            "gflops": float(t.flops[i]) * cnt / 1e9, "dram_mb": float(ct.dram_bytes[i]) * cnt / 1e6,
            "bound": BOUNDS[int(ct.bound[i])], "time_ms": tm * 1e3, "energy_j": float(ct.energy[i]) * cnt,
            "share": tm / total if total else 0.0,
        })
    c = get_chip(chip)
    p = c.params()
    assumptions = {
        "parallelism": r.parallelism, "batch": b, "phase": phase, "context_tokens": input_len + output_len // 2 if phase == "decode" else 0,
        "calibration": p.calibration_source, "peak_source": c.source_of(f"{'fp8' if 'fp8' in precision else 'bf16'}_tflops_dense"),
        "memory_bandwidth_source": c.source_of("memory_bandwidth_tbps"),
        "kernel_overhead_us": float(np.max(p.kernel_overhead)) * 1e6,
    }
    if json_out:
        print_json({"ops": rows, "formats": r.formats, "step_time_s": total, "energy_j": float(ct.total_energy), "assumptions": assumptions,
                    "serving": r.as_dict()})
        return
    console.print(table(f"{phase} step of {r.model} on {r.chip} ({r.parallelism}, batch {b}): {total * 1e3:.2f} ms per step",
                        ["op", "kind", "x", "format", "fell back", "GFLOP", "DRAM MB", "bound", "time ms", "energy J", "share"],
                        [[x["op"], x["kind"], round(x["count"], 2), x["format"], "yes" if x["fell_back"] else "", x["gflops"],
                          x["dram_mb"], x["bound"], x["time_ms"], x["energy_j"], f"{x['share'] * 100:.1f}%"] for x in rows]))
    console.print(table("number formats per op class", ["op class", "asked", "ran", "bytes/elem", "fell back", "note"],
                        [[f["op_class"], f["asked"], f["ran"], round(f["bytes_per_elem"], 4), "yes" if f["fell_back"] else "",
                          f["note"]] for f in r.formats]))
    console.print(table("assumptions", ["item", "value"], [[k, v] for k, v in assumptions.items()]))
