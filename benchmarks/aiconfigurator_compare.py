"""Compare tapeout with NVIDIA AIConfigurator (PyPI `aiconfigurator`, Apache-2.0) on the LLM
serving rows of end_to_end.csv, both at the same layout and batch.

Not part of the test suite. AIConfigurator pins its own dependencies (pandas, matplotlib...);
install it in a separate venv that can also import tapeout:

    python3 -m venv /tmp/aic && /tmp/aic/bin/pip install aiconfigurator==0.12.0 && /tmp/aic/bin/pip install -e .
    /tmp/aic/bin/python benchmarks/aiconfigurator_compare.py [--markdown] [--write]

How each tool is called (nothing is fitted to the rows):
- tapeout: `harness.predict_row` (what `tapeout validate` does). Its layout is the submitted
  TP/PP/max batch where data/mlperf/submission_configs.yaml has the row's system, else the
  layout/batch tapeout's own search picks; the row detail records it.
- AIConfigurator: `aiconfigurator.cli.api.cli_estimate` (its documented programmatic
  single-point estimate, the same as `aiconfigurator cli estimate`), backend trtllm, its latest
  database version, at tapeout's TP/PP/EP and batch per replica (batch = max concurrency of one
  aggregated in-flight-batching worker; mode 'agg', context-token budget = isl, its default)
  and the benchmark's mean input/output lengths; paper rows with a fixed static batch use its
  mode 'static' at that batch. GEMM format = tapeout's compute precision (fp8 -> 'fp8', fp4 ->
  'nvfp4', int8 -> 'sq', else bf16); KV cache fp8 with fp8/fp4 compute, as tapeout's Precision;
  the attention (FMHA) format is AIConfigurator's default.
  Throughput of the row = its output tokens/s per worker x (chips / chips per worker).
- Models: AIConfigurator's cached HF configs where it ships the model (Llama-3.1 8B/70B/405B,
  Mixtral-8x7B, DeepSeek-R1, Qwen3); Llama-2 / Mistral (LlamaForCausalLM) from tapeout's preset
  written as an HF config.json in a temporary folder; GPT-J has no AIConfigurator architecture.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

# AIConfigurator ships these HF configs (aiconfigurator_core/model_configs); tapeout preset -> HF id
AIC_MODELS = {"llama-3.1-8b": "meta-llama/Meta-Llama-3.1-8B", "llama-3.1-70b": "meta-llama/Meta-Llama-3.1-70B",
              "llama-3.1-405b": "meta-llama/Meta-Llama-3.1-405B", "mixtral-8x7b": "mistralai/Mixtral-8x7B-v0.1",
              "deepseek-v3": "deepseek-ai/DeepSeek-R1", "qwen3-235b-a22b": "Qwen/Qwen3-235B-A22B",
              "qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B"}  # deepseek-v3: the MLPerf deepseek-r1 preset (same architecture)
LLAMA_LOCAL = ("llama-2-70b", "llama-2-13b", "llama-2-7b", "mistral-7b")  # dense Llama-architecture presets
GEMM_MODE = {"fp8": "fp8", "fp4": "nvfp4", "int8": "sq"}  # tapeout compute precision -> AIC GEMM quant mode


def aic_systems() -> dict:
    """tapeout chip id -> AIConfigurator system, from the importer's map (kernels_db.yaml)."""
    from tapeout.perf.kernels_db import db_config

    return {v["chip"]: s for s, v in db_config()["systems"].items() if isinstance(v, dict) and v.get("chip")}


def model_path(preset: str, tmp: Path) -> str | None:
    if preset in AIC_MODELS:
        from importlib import resources

        from aiconfigurator_core.sdk.common import DefaultHFModels  # type: ignore

        hf = AIC_MODELS[preset]
        if hf in DefaultHFModels:
            return hf
        # shipped under model_configs/ but not on its offline list (Mixtral): pass it as a local folder
        d = tmp / preset
        d.mkdir(exist_ok=True)
        src = resources.files("aiconfigurator_core").joinpath("model_configs", hf.replace("/", "--") + "_config.json")
        (d / "config.json").write_text(src.read_text())
        return str(d)
    if preset not in LLAMA_LOCAL:
        return None
    from tapeout.workloads.llm_config import load_llm

    c = load_llm(preset)
    d = tmp / preset
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.kv_heads, "intermediate_size": c.intermediate_size, "vocab_size": c.vocab_size,
        "max_position_embeddings": c.max_position_embeddings, "tie_word_embeddings": c.tie_word_embeddings,
        "head_dim": c.hidden_size // c.num_attention_heads, "torch_dtype": "bfloat16", "hidden_act": "silu",
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0}))
    return str(d)


def preset_of(res) -> str:
    from tapeout.perf.mlperf import inference_benchmark
    from tapeout.workloads.llm_config import load_llm

    b = res.benchmark
    return b.split(":", 1)[1] if b.startswith("paper:") else load_llm(inference_benchmark(b)["model"]).name


def layout(d: dict) -> dict:
    """tp/pp/ep/batch tapeout used for the row (its detail)."""
    par = d.get("parallelism") or ""
    g = {k: int(m.group(1)) if (m := re.search(k.upper() + r"(\d+)", par)) else 1 for k in ("tp", "pp", "ep")}
    if not par:
        g["tp"] = int(d.get("tp") or 1)
    g["batch"] = int(d.get("static_batch") or d.get("batch") or 0)
    g["static"] = "static_batch" in d
    return g


def to_unit(tok_s: float, unit: str, n: int, I: float, O: float, paper: bool) -> float | None:
    """Output tokens/s of the whole system -> the row's unit, as the tapeout mapper converts."""
    u = unit.lower()
    if re.match(r"(samples|queries)/s", u):
        return tok_s / O
    if "tokens/s" not in u and "tok/s" not in u:
        return None
    v = tok_s / n if ("per gpu" in u or "/gpu" in u) else tok_s
    return v * (I + O) / O if paper and "total" in u and "output" not in u else v


def aic_predict(est, row, res, system: str, tmp: Path):
    d = res.detail or {}
    g = layout(d)
    preset = preset_of(res)
    mp = model_path(preset, tmp)
    if mp is None:
        return None, f"{preset}: no AIConfigurator architecture/config"
    if not g["batch"]:
        return None, "no batch in tapeout's detail"
    n = int(float(row["n_accelerators"]))
    I, O = int(round(d["input_len"])), int(round(d["output_len"]))
    kw = dict(tp_size=g["tp"], pp_size=g["pp"], batch_size=g["batch"], isl=I, osl=O, backend_name="trtllm",
              mode="static" if g["static"] else "agg")
    q = GEMM_MODE.get(d.get("precision"), "bfloat16")
    kw["gemm_quant_mode"] = q
    if d.get("precision") in ("fp8", "fp4"):  # tapeout's KV cache is fp8 there (precision.get_precision(..).kv_cache)
        kw["kvcache_quant_mode"] = "fp8"
    from tapeout.workloads.llm_config import load_llm

    if load_llm(preset).num_experts:  # MoE: experts split as tapeout's EP, the rest of TP inside each expert
        kw.update(moe_ep_size=g["ep"], moe_tp_size=max(1, g["tp"] // g["ep"]), moe_quant_mode=q)
    r = est(mp, system, **kw)
    per_worker = float(r.raw["tokens/s"])
    workers = n / int(r.raw.get("num_total_gpus") or g["tp"] * g["pp"])
    v = to_unit(per_worker * workers, row["unit"], n, I, O, res.benchmark.startswith("paper:"))
    return (v, None) if v else (None, f"unit '{row['unit']}' not handled")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def db_calibration():
    """tapeout calibrated with the kernel database (perf/kernel_calibration.py, per-chip refits on
    each chip's own kernels; what `tapeout validate --kernels aiconfigurator` uses); None without it."""
    from tapeout.errors import TapeoutError

    try:
        from tapeout.perf.kernel_calibration import build

        return build()
    except (TapeoutError, ImportError) as e:
        print(f"no 'tapeout with the database' column: {e}")
        return None


BEGIN = "<!-- aiconfigurator-compare:begin (benchmarks/aiconfigurator_compare.py --write) -->"
END = "<!-- aiconfigurator-compare:end -->"


def markdown(out: list[dict], t_tap: list[float], t_aic: list[float], skipped: dict) -> str:
    """The generated section of docs/validation.md: per chip, tapeout without and with the kernel
    database and AIConfigurator on the same rows (median |error| and median signed error, %),
    seconds per prediction and the rows AIConfigurator declines."""
    lines = ["| chip | rows | tapeout abs % | signed % | tapeout with the database abs % | signed % "
             "| AIConfigurator abs % | signed % |", "|---|---|---|---|---|---|---|---|"]
    for c in sorted({o["chip"] for o in out}) + ["all"]:
        s = [o for o in out if c in ("all", o["chip"])]
        d = [o["tapeout_db"] for o in s if o["tapeout_db"] is not None]
        lines.append(f"| {c} | {len(s)} | {med([abs(o['tapeout']) for o in s]):.1f} | {med([o['tapeout'] for o in s]):+.1f} | "
                     + (f"{med([abs(x) for x in d]):.1f} | {med(d):+.1f} | " if d else "- | - | ")
                     + f"{med([abs(o['aic']) for o in s]):.1f} | {med([o['aic'] for o in s]):+.1f} |")
    if not t_tap:  # e.g. --limit smaller than the rows before the first serving row
        return "No LLM serving row on AIConfigurator's chips was predicted: nothing to compare."
    lines += ["", f"Seconds per prediction (2 shared cores): tapeout {statistics.mean(t_tap):.3f} (its layout/batch search "
              f"and the simulated Offline run included), AIConfigurator {statistics.mean(t_aic):.3f} (one estimate at the "
              "given layout; the first call per system loads its database).",
              "", f"LLM serving rows on AIConfigurator's chips predicted by tapeout: {len(t_tap)}; by both: {len(out)}. "
              "AIConfigurator left out: " + "; ".join(f"{k} ({v})" for k, v in sorted(skipped.items(), key=lambda x: -x[1])) + "."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown", action="store_true", help="print only the summary (markdown), not the per-row table")
    ap.add_argument("--limit", type=int, default=0, help="first N LLM serving rows only (a quick check)")
    ap.add_argument("--write", action="store_true", help="replace its generated section of docs/validation.md")
    a = ap.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)
    from tapeout.hardware.catalog import resolve_chip_id
    from tapeout.validation import harness, registry

    try:
        from aiconfigurator.cli.api import cli_estimate as est  # type: ignore
    except Exception as e:  # noqa: BLE001
        print(f"AIConfigurator is not installed/importable here ({type(e).__name__}: {e}); see this file's docstring.")
        return 1
    registry.load_mappers()
    systems = aic_systems()
    db = db_calibration()
    rows = [r for r in harness.read_rows(harness.default_data()) if resolve_chip_id(r["accelerator"]) in systems]
    out, skipped, t_tap, t_aic = [], {}, [], []
    with tempfile.TemporaryDirectory() as td:
        for r in rows:
            if a.limit and len(t_tap) >= a.limit:  # counted in serving rows: the other rows come first in the file
                break
            t0 = time.perf_counter()
            res = harness.predict_row(r)
            dt = time.perf_counter() - t0
            if res.mapper != "llm_inference" or res.error_pct is None:
                continue
            t_tap.append(dt)
            res_db = harness.predict_row(r, db) if db is not None else None
            cid = resolve_chip_id(r["accelerator"])
            t0 = time.perf_counter()
            try:
                v, why = aic_predict(est, r, res, systems[cid], Path(td))
            except Exception as e:  # noqa: BLE001  (AIConfigurator refuses the point: report, go on)
                msg = str(e).replace(f"{td}/", "").splitlines()[0]  # the temporary config folder: not part of the reason
                msg = re.sub(r"(does not fit in GPU memory on system '[^']+').*", r"\1", msg)  # one reason per system
                v, why = None, f"{type(e).__name__}: {msg[:110]}"
            t_aic.append(time.perf_counter() - t0)
            if v is None:
                skipped[why] = skipped.get(why, 0) + 1
                continue
            g = layout(res.detail)
            out.append(dict(id=r["id"], bench=res.benchmark, scenario=res.scenario, chip=cid, n=r["n_accelerators"],
                            tp=g["tp"], ep=g["ep"], pp=g["pp"], batch=g["batch"], measured=res.measured,
                            tapeout=res.error_pct, tapeout_db=res_db.error_pct if res_db else None, aic=(v - res.measured) / res.measured * 100))
    if not a.markdown:
        print(f"{'id':16} {'benchmark':16} {'scen':8} {'chip':9} {'n':>3} {'TP/EP/PP':>9} {'batch':>6} "
              f"{'measured':>10} {'tapeout%':>9} {'AIC%':>8}")
        for o in out:
            print(f"{o['id']:16} {o['bench']:16} {o['scenario']:8} {o['chip']:9} {o['n']:>3} "
                  f"{o['tp']}/{o['ep']}/{o['pp']:<5} {o['batch']:6d} {o['measured']:10.4g} {o['tapeout']:+9.1f} {o['aic']:+8.1f}")
    md = markdown(out, t_tap, t_aic, skipped)
    if a.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
        from doc_section import replace_section

        replace_section(BEGIN, END, md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
