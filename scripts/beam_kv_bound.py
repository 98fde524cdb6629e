"""Model-free roofline bound of the MLPerf GPT-J (beam 4) Offline rows: can a chip's measured
tokens/s be reached if every beam reads its whole KV cache from DRAM?

    python scripts/beam_kv_bound.py

Per output token of the returned beam (beams b, mean prompt I, mean answer O, benchmarks.yaml):
- KV bytes, no reuse: b x (I + O/2) x kv_bytes_per_token (FP8 cache, 1 byte): each of the b
  sequences of a request reads its whole context once per step (what the serving model prices);
- KV bytes, prompt read once: (I + b x O/2) x kv_bytes_per_token: the prompt's blocks are shared by
  the beams (TensorRT-LLM KVCacheManager::addSequence shares the context blocks among beams,
  cpp/tensorrt_llm/batch_manager/kvCacheManager.h) and the other beams' reads hit in L2;
- GEMM FLOPs: 2 x params x (b + I/O) (decode rows plus the prompt's prefill), embedding and LM head
  left out, as are the attention FLOPs (a lower bound on the work).
bound = 1 / (KV bytes / datasheet DRAM bandwidth + FLOPs / datasheet dense FP8 peak): kernels in
series at 100% of both datasheet peaks, the weight stream left out, so no real run can exceed it.
A measured/bound ratio above 1 under "no reuse" means the chip's run did not read every beam's
context from DRAM. Nothing here is fitted; the measured rows are only compared.
"""

from __future__ import annotations

import statistics

from tapeout.hardware.catalog import get_chip, resolve_chip_id
from tapeout.perf.mlperf import inference_benchmark
from tapeout.validation import harness
from tapeout.workloads.llm_config import load_llm

BENCH = "gptj"


def bench_lengths() -> tuple[float, float, int]:
    b = inference_benchmark(BENCH)
    val = lambda x: float(x["value"] if isinstance(x, dict) else x)  # noqa: E731
    return val(b["mean_input_tokens"]), val(b["mean_output_tokens"]), int(b["beams"])


def bounds(chip_id: str, I: float, O: float, beams: int) -> tuple[float, float]:
    """(tokens/s bound with no KV reuse, with the prompt read once per request) of one chip."""
    cfg = load_llm("gpt-j-6b")
    chip = get_chip(chip_id)
    kv = cfg.kv_bytes_per_token(1.0)
    bw = float(chip.get("memory_bandwidth_tbps")) * 1e12
    body = cfg.param_count() - cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2)
    fl = 2.0 * body * (beams + I / O) / (chip.peak_tflops("fp8") * 1e12)
    no_reuse = 1.0 / (beams * (I + O / 2) * kv / bw + fl)
    shared = 1.0 / ((I + beams * O / 2) * kv / bw + fl)
    return no_reuse, shared


def measured_per_chip() -> dict[str, list[float]]:
    """catalog chip -> measured GPT-J Offline tokens/s per chip of each row (chips with an FP8 peak)."""
    per_chip: dict[str, list[float]] = {}
    for r in harness.read_rows(harness.default_data()):
        if "gptj" not in r.get("workload", "") or r.get("scenario", "").lower() != "offline":
            continue
        try:
            cid = resolve_chip_id(r["accelerator"])
            if get_chip(cid).peak_tflops("fp8") <= 0 or "token" not in r.get("unit", "").lower():
                continue
        except Exception:  # noqa: BLE001 - chips outside the catalog
            continue
        per_chip.setdefault(cid, []).append(float(r["value"]) / float(r["n_accelerators"]))
    return per_chip


def main() -> None:
    I, O, beams = bench_lengths()
    per_chip = measured_per_chip()
    print(f"GPT-J Offline, I={I:g} O={O:g} beams={beams}; tokens/s per chip (median of rows)\n")
    print("| chip | rows | measured | bound, no reuse | measured / bound | bound, prompt once | measured / bound |")
    print("|---|---|---|---|---|---|---|")
    for cid, vals in sorted(per_chip.items()):
        m = statistics.median(vals)
        a, b = bounds(cid, I, O, beams)
        print(f"| {cid} | {len(vals)} | {m:.0f} | {a:.0f} | {m / a:.2f} | {b:.0f} | {m / b:.2f} |")


if __name__ == "__main__":
    main()
