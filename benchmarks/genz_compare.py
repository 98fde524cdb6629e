"""Compare tapeout with GenZ (PyPI `genz-llm`) on the LLM inference rows both can express.

Not part of the test suite. GenZ pins its own dependencies; install it in a separate venv
that can also import tapeout, e.g.

    python -m venv /tmp/genz && /tmp/genz/bin/pip install genz-llm && /tmp/genz/bin/pip install -e .
    /tmp/genz/bin/python benchmarks/genz_compare.py

Rows used: MLPerf Offline llama2-70b / gptj / mixtral and vendor offline tables on chips
GenZ has presets for (H100, A100, MI300X, Gaudi2...). GenZ models one decode step of a fixed
batch; its throughput = batch / decode latency at the same TP and batch tapeout chose, with
the same dataset lengths. Prints per-row errors and the seconds per prediction of each tool.
"""

from __future__ import annotations

import statistics
import sys
import time

GENZ_SYSTEMS = {"h100-sxm": "H100_GPU", "a100-sxm": "A100_80GB_GPU", "mi300x": "MI300X", "gaudi2": "Gaudi2",
                "h200": "H200_GPU", "b200": "B200_GPU"}
GENZ_MODELS = {"llama-2-70b": "meta-llama/Llama-2-70B", "gpt-j-6b": "EleutherAI/gpt-j-6B",
               "mixtral-8x7b": "mistralai/Mixtral-8x7B", "llama-3.1-8b": "meta-llama/Llama-3.1-8B",
               "llama-3.1-70b": "meta-llama/Llama-3.1-70B", "llama-2-7b": "meta-llama/Llama-2-7B"}


def main() -> int:
    from tapeout.hardware.catalog import resolve_chip_id
    from tapeout.validation import harness, registry

    try:
        from GenZ import decode_moddeling, prefill_moddeling  # type: ignore
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
        if cid not in GENZ_SYSTEMS:
            continue
        t0 = time.perf_counter()
        res = harness.predict_row(r)
        t_tap.append(time.perf_counter() - t0)
        if res.error_pct is None:
            continue
        d = res.detail or {}
        gz_err = None
        if genz_ok:
            model = {"llama2-70b": "llama-2-70b", "gptj": "gpt-j-6b", "mixtral-8x7b": "mixtral-8x7b"}.get(
                res.benchmark, res.benchmark.replace("paper:", ""))
            if model in GENZ_MODELS and d.get("input_len") and d.get("output_len"):
                n = int(float(r["n_accelerators"]))
                I, O = int(d["input_len"]), int(d["output_len"])
                bits = "fp8" if d.get("precision") == "fp8" else "bf16"
                t0 = time.perf_counter()
                best = None
                # GenZ's own search: TP over the whole node (or the row's TP), the largest
                # power-of-two batch whose weights + full KV fit; offline throughput =
                # B*O / (prefill(B) + O * decode step(B)) times the replicas
                for tp in sorted({t for t in (1, 2, 4, 8) if t <= n and n % t == 0}):
                    b = 2048
                    while b >= 1:
                        try:
                            pre = prefill_moddeling(model=GENZ_MODELS[model], batch_size=b, input_tokens=I,
                                                    system_name=GENZ_SYSTEMS[cid], bits=bits, tensor_parallel=tp)
                            dec = decode_moddeling(model=GENZ_MODELS[model], batch_size=b, input_tokens=I + O // 2,
                                                   output_tokens=O, system_name=GENZ_SYSTEMS[cid], bits=bits,
                                                   tensor_parallel=tp)
                            tp_lat = (pre["Latency"] + O * dec["Latency"]) / 1e3
                            tput = b * O / tp_lat * (n // tp)
                            if best is None or tput > best:
                                best = tput
                            break
                        except Exception:  # noqa: BLE001  (does not fit: halve the batch)
                            b //= 2
                t_genz.append(time.perf_counter() - t0)
                if best:
                    gz_err = (best - res.measured) / res.measured * 100
        out.append((r["id"], res.benchmark, cid, res.measured, res.error_pct, gz_err))
    print(f"{'id':16} {'benchmark':22} {'chip':9} {'measured':>10} {'tapeout err%':>13} {'GenZ err%':>10}")
    for i, b, c, m, e, g in out:
        print(f"{i:16} {b:22} {c:9} {m:10.4g} {e:+13.1f} {('%+10.1f' % g) if g is not None else '         -'}")
    te = [abs(e) for *_, e, _ in out]
    ge = [abs(g) for *_, g in out if g is not None]
    print(f"\ntapeout: {len(te)} rows, median |err| {statistics.median(te):.1f}%, "
          f"{statistics.mean(t_tap) * 1e3:.1f} ms per prediction (incl. parallelism/batch search)")
    both = [(abs(e), abs(g)) for *_, e, g in out if g is not None]
    if both:
        print(f"same {len(both)} rows: tapeout median |err| {statistics.median(x for x, _ in both):.1f}%, "
              f"GenZ {statistics.median(y for _, y in both):.1f}%")
    if ge:
        print(f"GenZ:    {len(ge)} rows, median |err| {statistics.median(ge):.1f}%, {statistics.mean(t_genz) * 1e3:.1f} ms per prediction")
    else:
        print("GenZ:    no rows predicted" + ("" if genz_ok else " (not installed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
