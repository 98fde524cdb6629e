"""Compare tapeout with GenZ (PyPI `genz-llm`) on the LLM inference rows both can express.

Not part of the test suite. GenZ pins its own dependencies; install it in a separate venv
that can also import tapeout, e.g.

    python -m venv /tmp/genz && /tmp/genz/bin/pip install genz-llm && /tmp/genz/bin/pip install -e .
    /tmp/genz/bin/python benchmarks/genz_compare.py [--write]   # --write: its section of docs/validation.md

Rows used: MLPerf Offline llama2-70b / mixtral and vendor offline tables of models GenZ has a
config for (no GPT-J), on every catalog chip: GenZ's preset where it has one (H100_GPU,
A100_80GB_GPU, MI300X, MI325X, Gaudi3, GH200_GPU, GB200), else GenZ's explicit spec dict from
the catalog's datasheet numbers. GenZ is called as its authors intend: greedy decoding (Bb=1;
the default Bb=4 is beam search, costing 4xB tokens per step), decode at the mean context
I + O/2 (input_tokens=I, output_tokens=O/2 generated so far), offline tokens/s =
B*O / (prefill(B) + O * decode step(B)) x replicas. Two GenZ columns: at tapeout's own layout
(TP, PP, batch per replica) and with GenZ's own search (TP over the node, largest
power-of-two batch that fits). Prints per-row errors and seconds per prediction.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

# GenZ's own presets (GenZ/Systems/system_configs.py, genz-llm 0.0.16); a chip without one is
# passed to GenZ as an explicit spec dict built from tapeout's catalog (same datasheet numbers)
GENZ_PRESETS = {"h100-sxm": "H100_GPU", "a100-sxm": "A100_80GB_GPU", "mi300x": "MI300X", "mi325x": "MI325X",
                "gaudi3": "Gaudi3", "gh200": "GH200_GPU", "gb200": "GB200"}
GENZ_MODELS = {"llama-2-70b": "meta-llama/Llama-2-70B", "mixtral-8x7b": "mistralai/Mixtral-8x7B",
               "llama-3.1-8b": "meta-llama/Llama-3.1-8B", "llama-3.1-70b": "meta-llama/Llama-3.1-70B",
               "llama-2-7b": "meta-llama/Llama-2-7B"}  # GenZ has no GPT-J config


def genz_system(cid: str) -> str | dict | None:
    """GenZ preset name, or GenZ's documented dict form {Flops (dense BF16 TFLOPS), Memory_size
    (GB), Memory_BW (GB/s), ICN (GB/s per direction), real_values} from the catalog."""
    if cid in GENZ_PRESETS:
        return GENZ_PRESETS[cid]
    from tapeout.hardware.catalog import get_chip

    c = get_chip(cid)
    if not all(isinstance(c.get(k), float) for k in ("bf16_tflops_dense", "memory_capacity_gb", "memory_bandwidth_tbps",
                                                        "scaleup_bw_gbps_bidir")):
        return None  # GenZ needs all four numbers; the catalog lacks one for this chip
    return {"Flops": c.get("bf16_tflops_dense"), "Memory_size": c.get("memory_capacity_gb"),
            "Memory_BW": c.get("memory_bandwidth_tbps") * 1000, "ICN": c.get("scaleup_bw_gbps_bidir") / 2,
            "real_values": True}


def genz_offline(model: str, system, I: int, O: int, bits: str, tp: int, batch: int, replicas: int, pp: int = 1) -> float:
    """Offline tokens/s as GenZ's authors model serving: prefill of the batch, then O greedy
    decode steps (Bb=1) at the mean context I + O/2 (GenZ attends to input_tokens +
    output_tokens, the tokens generated so far)."""
    from GenZ import decode_moddeling, prefill_moddeling  # type: ignore

    pre = prefill_moddeling(model=model, batch_size=batch, input_tokens=I, system_name=system, bits=bits,
                            tensor_parallel=tp, pipeline_parallel=pp)
    dec = decode_moddeling(model=model, batch_size=batch, input_tokens=I, output_tokens=O // 2, Bb=1,
                           system_name=system, bits=bits, tensor_parallel=tp, pipeline_parallel=pp)
    return batch * O / ((pre["Latency"] + O * dec["Latency"]) / 1e3) * replicas


def genz_search(model: str, system, I: int, O: int, bits: str, n: int) -> float | None:
    """GenZ's own search: every TP dividing the node, the largest power-of-two batch that fits."""
    best = None
    for tp in (t for t in (1, 2, 4, 8) if t <= n and n % t == 0):
        b = 2048
        while b >= 1:
            try:
                tput = genz_offline(model, system, I, O, bits, tp, b, n // tp)
                best = tput if best is None or tput > best else best
                break
            except ValueError:  # GenZ: "All params would not fit on chip" -> halve the batch
                b //= 2
    return best


BEGIN, END = "<!-- genz-compare:begin (benchmarks/genz_compare.py --write) -->", "<!-- genz-compare:end -->"


def markdown(out: list[tuple], t_tap: list[float], t_genz: list[float]) -> str:
    """The generated section of docs/validation.md: the rows all three columns predict, per chip,
    and tapeout over every row it expresses. `out`: (id, benchmark, chip, measured, tapeout err %,
    GenZ at tapeout's layout err %, GenZ own search err %)."""
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    both = [o for o in out if o[5] is not None and o[6] is not None]
    lines = [f"Same {len(both)} rows (median |error|, median signed error):", "",
             "| tool | median abs err % | median signed err % |", "|---|---|---|"]
    for name, k in (("tapeout (its automatic or submitted layout, as `tapeout validate`)", 4),
                    ("GenZ at tapeout's layout", 5), ("GenZ, its own search", 6)):
        lines.append(f"| {name} | {med([abs(o[k]) for o in both]):.1f} | {med([o[k] for o in both]):+.1f} |")
    lines += ["", "Median signed error per chip (rows where all three exist):", "",
              "| chip | rows | tapeout % | GenZ at tapeout's layout % | GenZ own search % |", "|---|---|---|---|---|"]
    for c in sorted({o[2] for o in both}):
        s = [o for o in both if o[2] == c]
        lines.append(f"| {c} | {len(s)} | {med([o[4] for o in s]):+.0f} | {med([o[5] for o in s]):+.0f} | "
                     f"{med([o[6] for o in s]):+.0f} |")
    lines += ["", f"tapeout over all {len(out)} expressible rows: {med([abs(o[4]) for o in out]):.1f}% median |error|, "
              f"{statistics.mean(t_tap):.2f} s per prediction; GenZ {statistics.mean(t_genz):.2f} s per search "
              "(2 shared cores)."]
    return "\n".join(lines)


def main() -> int:
    from tapeout.hardware.catalog import resolve_chip_id
    from tapeout.validation import harness, registry

    try:
        import GenZ  # type: ignore  # noqa: F401
        genz_ok = True
    except Exception as e:  # noqa: BLE001
        genz_ok = False
        print(f"GenZ is not installed/importable here ({type(e).__name__}: {e}).")
        print("Install it in its own venv (see this file's docstring); tapeout-only numbers follow.")
    registry.load_mappers()
    rows = [r for r in harness.read_rows(harness.default_data())
            if harness.scenario_class(r) == "offline" and ("llama" in r["workload"].lower() or "gptj" in r["workload"].lower()
                                                          or "mixtral" in r["workload"].lower())]
    out = []
    t_tap, t_genz = [], []
    for r in rows:
        cid = resolve_chip_id(r["accelerator"])
        if cid is None:
            continue
        t0 = time.perf_counter()
        res = harness.predict_row(r)
        t_tap.append(time.perf_counter() - t0)
        if res.error_pct is None:
            continue
        d = res.detail or {}
        gz_err = gz_lay = None
        model = {"llama2-70b": "llama-2-70b", "mixtral-8x7b": "mixtral-8x7b"}.get(res.benchmark, res.benchmark.replace("paper:", ""))
        system = genz_system(cid) if genz_ok else None
        if system and model in GENZ_MODELS and d.get("input_len") and d.get("output_len"):
            n = int(float(r["n_accelerators"]))
            I, O = int(d["input_len"]), int(d["output_len"])
            bits = "fp8" if d.get("precision") == "fp8" else "bf16"
            t0 = time.perf_counter()
            best = genz_search(GENZ_MODELS[model], system, I, O, bits, n)
            t_genz.append(time.perf_counter() - t0)
            if best:
                gz_err = (best - res.measured) / res.measured * 100
            m = re.match(r"TP(\d+)(?: PP(\d+))?", d.get("parallelism", ""))
            if m and d.get("batch"):  # tapeout's layout: its TP, PP and batch per replica
                tp, pp = int(m.group(1)), int(m.group(2) or 1)
                try:
                    lay = genz_offline(GENZ_MODELS[model], system, I, O, bits, tp, int(d["batch"]), n // (tp * pp), pp)
                    gz_lay = (lay - res.measured) / res.measured * 100
                except ValueError:
                    gz_lay = None
        out.append((r["id"], res.benchmark, cid, res.measured, res.error_pct, gz_lay, gz_err))
    print(f"{'id':16} {'benchmark':22} {'chip':9} {'measured':>10} {'tapeout err%':>13} {'GenZ@tapeout%':>14} {'GenZ own%':>10}")
    fmt = lambda x, w: (f"%+{w}.1f" % x) if x is not None else " " * (w - 1) + "-"  # noqa: E731
    for i, b, c, m, e, gl, g in out:
        print(f"{i:16} {b:22} {c:9} {m:10.4g} {e:+13.1f} {fmt(gl, 14)} {fmt(g, 10)}")
    if not genz_ok:
        print("GenZ: no rows predicted (not installed); docs/validation.md left as it is")
        return 1 if "--write" in sys.argv else 0
    md = markdown(out, t_tap, t_genz)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    from doc_section import print_or_write

    print_or_write(BEGIN, END, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
