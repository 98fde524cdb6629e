"""`tapeout train`: LLM training step at cluster scale (and MLPerf Training presets)."""

from __future__ import annotations

import typer

from .app import app, console, print_json, table
from .checks import check_context


@app.command("train")
def train_cmd(
    model: str = typer.Option(None, "--model", "-m", help="preset name or config.json"),
    chip: str = typer.Option(..., "--chip", "-c"),
    num_chips: int = typer.Option(8, "--num-chips", "-n"),
    global_batch_tokens: float = typer.Option(None, "--global-batch-tokens"),
    seq_len: int = typer.Option(None, "--seq-len"),
    precision: str = typer.Option("bf16", "--precision", "-p", help="GEMM precision (bf16, fp8, int8)"),
    benchmark: str = typer.Option(None, "--benchmark", help="gpt3-175b | llama2-70b-lora | llama3.1-405b | llama3.1-8b"),
    tp: int = typer.Option(None, "--tp"),
    pp: int = typer.Option(None, "--pp"),
    cp: int = typer.Option(None, "--cp", help="context-parallel size"),
    ep: int = typer.Option(None, "--ep", help="expert-parallel size (MoE; may exceed TP and span nodes)"),
    vp: int = typer.Option(None, "--vp", help="virtual pipeline stages per device (interleaved 1F1B)"),
    mbs: int = typer.Option(None, "--mbs", help="micro-batch size (sequences)"),
    zero: int = typer.Option(None, "--zero", help="ZeRO stage 0-3 (3 = FSDP)"),
    recompute: str = typer.Option(None, "--recompute", help="none | selective | full"),
    lora: bool = typer.Option(False, "--lora", help="LoRA fine-tuning (frozen base weights)"),
    power_limit: float = typer.Option(None, "--power-limit", help="board power cap in W"),
    json_out: bool = typer.Option(False, "--json"),
):
    """Predict step time, tokens/s, MFU and memory per chip; picks the fastest layout that fits."""
    from ..errors import TapeoutError
    from ..perf.mlperf import value_of, benchmarks
    from ..hardware.catalog import get_chip
    from ..perf.training import time_to_train_min, train

    if power_limit is not None:
        chip = get_chip(chip).power_capped(power_limit).id

    ttt_tokens = None
    bench_cfg = None
    if benchmark:
        tb = benchmarks()["training"]
        key = benchmark.lower().replace("_", "-")
        if key not in tb:
            raise TapeoutError(f"unknown training benchmark '{benchmark}'. Known: {', '.join(tb)}.")
        b = bench_cfg = tb[key]
        model = model or b["model"]
        seq_len = int(value_of(b["seq_len"])) if seq_len is None else seq_len
        if global_batch_tokens is None:
            global_batch_tokens = float(value_of(b["global_batch_sequences"])) * seq_len
        lora = lora or not b.get("full_finetune", True)
        ttt_tokens = float(value_of(b["tokens_to_train"])) if "tokens_to_train" in b else float(value_of(b["samples_to_train"])) * seq_len
    if not model:
        raise TapeoutError("--model (or --benchmark) is required.")
    seq_len = 2048 if seq_len is None else seq_len
    for name, v in (("--tp", tp), ("--pp", pp), ("--cp", cp), ("--ep", ep), ("--vp", vp), ("--mbs", mbs)):
        if v is not None and v < 1:
            raise TapeoutError(f"{name} must be >= 1, got {v}.")
    if global_batch_tokens is None:
        global_batch_tokens = 1024 * seq_len
    check_context(model, seq_len, "--seq-len")
    r = train(model, chip, num_chips, global_batch_tokens, seq_len, precision, lora=lora, tp=tp, pp=pp, cp=cp, ep=ep,
              vp=vp, mbs=mbs, zero=zero, recompute=recompute)
    if ttt_tokens:
        ev = {k: float(value_of(bench_cfg[k])) for k in ("eval_every_samples", "eval_samples", "skip_evals") if k in bench_cfg}
        tt = time_to_train_min(r, ttt_tokens / seq_len, ev.get("eval_every_samples"), ev.get("eval_samples", 0.0),
                               int(ev.get("skip_evals", 0)))
        r.time_to_train_min = tt["minutes"]
        r.breakdown.update(train_min=tt["train_min"], eval_min=tt["eval_min"], n_evals=tt["n_evals"])
        r.notes.append(f"time to train = {tt['train_min']:.1f} min training + {tt['eval_min']:.1f} min in "
                       f"{tt['n_evals']} evaluation passes (benchmarks.yaml); checkpoint loading and warm-up excluded")
    d = r.as_dict()
    if json_out:
        print_json(d)
        return
    keys = ["model", "chip", "num_chips", "precision", "parallelism", "step_time_s", "tokens_per_s", "mfu",
            "memory_gib_per_chip", "capacity_gib_per_chip", "time_to_train_min"]
    console.print(table("training prediction", ["metric", "value"], [[k, d.get(k)] for k in keys if d.get(k) is not None]))
    bd = r.breakdown
    console.print(table("exposed communication per step (s)", ["collective", "seconds"],
                        [[k, v] for k, v in bd["exposed_comm_s"].items()]))
    console.print(table("step breakdown", ["item", "value"], [[k, bd[k]] for k in ("m", "F", "B", "bubble", "stage_layers", "t_dp", "exposed_dp",
                                                                                   "optimizer", "act", "train_min", "eval_min", "n_evals")
                                                                                   if k in bd]))
