"""GPT-J (MLPerf gptj, beam 4, FP8 weights and KV cache, TP1) one steady Offline step, term by term, per chip.

    python scripts/gptj_beam_terms.py

For each chip at the model's automatic batch and the submitted gpu_batch_size (data/mlperf/
submission_configs.yaml): the step's GEMMs and other linear work, the decode attention split into
its vector work and its DRAM term (perf/opcost.py: time = max(compute, memory) + fixed), and the
same step with the beams reading one prompt's KV (perf/beam_prompt.py, the switch forced on). Then
the default model's four layer GEMMs at m = 2048 against the kernel database's measured FP8 GEMMs
at the same shapes (skipped without aiconfigurator-core). Model only: no measured end-to-end value
is read.
"""

from __future__ import annotations

import numpy as np

from tapeout.hardware.catalog import get_chip
from tapeout.perf.beam_prompt import prompt_sharing
from tapeout.perf.mlperf import step_model
from tapeout.perf.opcost import K_ATTN, K_MATMUL
from tapeout.perf.stacks import kv_beams_share_prompt
from tapeout.precision import get_precision
from tapeout.workloads.llm_config import load_llm

STACK = "tensorrt-llm-0.x"
I, O, BEAMS = 800.0, 70.0, 4  # data/mlperf/benchmarks.yaml gptj
CHIPS = (("l40s", 144, 100), ("h100-sxm", 273, 192), ("h100-pcie", 276, 192), ("h200", 502, 396))
LAYER_GEMMS = ((12288, 4096), (4096, 4096), (16384, 4096), (4096, 16384))  # QKV, O, FC1, FC2 as (n, k)


def _rows(ct, kind):
    t = ct.table
    per = [np.asarray(a, dtype=float).reshape(len(t), -1).max(axis=1) for a in (ct.compute_time, ct.memory_time, ct.time)]
    idx = [i for i in range(len(t)) if t.kind[i] == kind]
    return [sum(p[i] * t.count[i] for i in idx) for p in per], idx


def step_terms(cid: str, batch: int) -> str:
    cfg, pr = load_llm("gpt-j-6b"), get_precision("fp8")
    plain = step_model(cfg, get_chip(cid), pr, 1, 1, 1, stack=STACK)
    shared = step_model(cfg, get_chip(cid), pr, 1, 1, 1, stack=STACK,
                        beam_prompt=prompt_sharing(BEAMS, I, kv_beams_share_prompt(STACK), on=True))
    seqs, ctx, c = batch * BEAMS, I + O / 2, batch * I / O
    (vec, mem, tot), _ = _rows(plain._cost_table("decode", seqs, 1, int(round(ctx / 64) * 64)), K_ATTN)
    s0, s1 = plain.step(seqs, ctx, c, I), shared.step(seqs, ctx, c, I)
    return (f"| {cid} | {batch} | {plain.linear(seqs + c) * 1e3:.1f} | {plain.attn_prefill(c / I, I) * 1e3:.1f} | "
            f"{vec * 1e3:.1f} | {mem * 1e3:.1f} | {tot * 1e3:.1f} | {shared.attn_decode(seqs, ctx) * 1e3:.1f} | "
            f"{s0 * 1e3:.1f} -> {s1 * 1e3:.1f} | {batch / s0:.0f} -> {batch / s1:.0f} |")


def _db_table(system: str, folder: str, name: str):
    """The newest trtllm table `name` of `system` in the installed kernel database, or None."""
    from tapeout.errors import TapeoutError
    from tapeout.perf.kernels_db import installed_root

    try:
        import duckdb  # noqa: F401  (the caller queries the file with it)

        root = installed_root()[0]
    except (ImportError, TapeoutError):
        return None
    files = sorted((root / system / folder / "trtllm").glob(f"*/{name}.parquet"))
    return files[-1] if files else None


def gemm_check(cid: str, system: str) -> str | None:
    f = _db_table(system, "gemm", "gemm_perf")
    if f is None:
        return None
    import duckdb

    cfg = load_llm("gpt-j-6b")
    sm = step_model(cfg, get_chip(cid), get_precision("fp8"), 1, 1, 1, stack=STACK)
    ct = sm._cost_table("decode", 2048, 1, 1)
    t = ct.table
    tm = np.asarray(ct.time, dtype=float).reshape(len(t), -1).max(axis=1)
    model = sum(tm[i] * t.count[i] for i in range(len(t)) if t.kind[i] == K_MATMUL and "lm_head" not in t.names[i])
    con = duckdb.connect()
    meas = 1e-3 * cfg.num_hidden_layers * sum(
        con.execute(f"select latency from '{f}' where gemm_dtype = 'fp8' and m = 2048 and n = {n} and k = {k}").fetchone()[0]
        for n, k in LAYER_GEMMS)
    return f"| {cid} | {model * 1e3:.1f} | {meas * 1e3:.1f} ({f.parent.name}) | {model / meas:.2f} |"


def mmha_stream(system: str) -> str | None:
    """The database's beam-1 masked-MHA generation kernel at GPT-J's heads (16 x 256, FP8 cache), largest
    batch at a ~1k-token cache: the KV bytes it streams per second."""
    f = _db_table(system, "attention", "generation_attention_perf")
    if f is None:
        return None
    import duckdb

    b, isl, step, ms = duckdb.connect().execute(
        f"select batch_size, isl, step, latency from '{f}' where num_heads = 16 and num_key_value_heads = 16 "
        "and head_dim = 256 and kv_cache_dtype = 'fp8' and beam_width = 1 and step = 1023 order by batch_size desc limit 1").fetchone()
    kv = b * (isl + step) * 2 * 16 * 256  # K + V bytes, FP8
    return f"| {system} | {b} x {isl + step} tokens | {ms:.3f} | {kv / (ms * 1e-3) / 1e12:.2f} |"


def main() -> None:
    print("| chip | batch (requests) | linear ms | context attn ms | decode attn vector ms | decode attn DRAM ms | "
          "decode attn ms | ... prompt read once | step ms (off -> on) | tok/s per chip (off -> on) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cid, auto, submitted in CHIPS:
        for b in (auto, submitted):
            print(step_terms(cid, b))
    rows = [r for r in (gemm_check("l40s", "l40s"), gemm_check("h100-sxm", "h100_sxm")) if r]
    if rows:
        print("\n| chip | model: 28 x (QKV, O, FC1, FC2) FP8 at m = 2048, ms | kernel database, ms | model / database |")
        print("|---|---|---|---|")
        print("\n".join(rows))
    rows = [r for r in map(mmha_stream, ("l40s", "h100_sxm", "h200_sxm")) if r]
    if rows:
        print("\n| system | masked MHA, beam 1, 16 x 256 FP8 cache | ms per layer | TB/s of KV |")
        print("|---|---|---|---|")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
