"""Serving with compression, and the speed / memory / quality frontier of schemes.

``serve_with_compression`` = ``perf.llm.serve`` (the one serving engine) with (1) the precision
resolved for the chip (``formats.resolve_precision_for_chip``: math fallback, dequantization),
(2) the sparsity transform (``transform.apply_compression``) and (3) ``transform.evaluate_compressed``
for every step, passed as the engine's ``evaluator`` hook, plus the compressed weight footprint
(``weight_bytes_factor``) for the memory fit.
"""

from __future__ import annotations

import math
import re

from ..errors import TapeoutError
from ..precision import DTYPE_BITS, PRECISIONS, Precision, dtype_bytes, get_precision
from .formats import chip_sparsity_factor, resolve_precision_for_chip
from .quality import quality_loss
from .transform import CompressionScheme, apply_compression, evaluate_compressed, sparsity_part

# the one structured-sparse pattern matrix engines run: 2 of every 4 weights (NVIDIA A100 Tensor Core GPU
# Architecture whitepaper, 2020, "Fine-Grained Structured Sparsity"; AMD CDNA 3 ISA, SMFMAC sparse instructions)
HARDWARE_NM = (2, 4)


DEFAULT_SCHEMES = ("bf16", "fp8", "w8a8", "w8a16", "w4a16", "w4a8", "fp8+kv-fp8", "bf16+2:4", "w4a16+2:4")


def _register(pr: Precision) -> str:
    """Make `pr` reachable by name through get_precision (which strips '-' and '_')."""
    key = pr.name.lower().replace("-", "").replace("_", "")
    if key not in PRECISIONS:
        PRECISIONS[key] = pr
    return key


def sparsity_scheme(sparsity: str | None) -> CompressionScheme:
    if sparsity in (None, "", "dense", "none"):
        return CompressionScheme("dense")
    sc = sparsity_part(sparsity.strip().lower())
    if sc is not None:
        return sc
    raise TapeoutError(f"sparsity '{sparsity}': use dense, N:M (e.g. 2:4), unstructured:F (F = fraction of the weights "
                       f"kept, e.g. unstructured:0.5) or unstructuredPCT (percent kept, e.g. unstructured50).")


def weight_bytes_factor(pr: Precision, scheme: CompressionScheme) -> float:
    """Compressed / uncompressed bytes of a sparsified weight matrix (values + metadata)."""
    kept = scheme.kept
    if kept >= 1.0:
        return 1.0
    bits = DTYPE_BITS[pr.weights]
    if scheme.nm:
        meta = math.ceil(math.log2(scheme.nm[1])) * kept
    else:
        from .transform import CSR_INDEX_BITS

        meta = {"bitmask": 1.0, "csr": CSR_INDEX_BITS * kept}.get(scheme.sparse_index, min(1.0, CSR_INDEX_BITS * kept))
    return (bits * kept + meta) / bits


def serve_with_compression(model, chip, num_chips: int = 1, precision: str = "bf16", kv_precision: str | None = None,
                           sparsity: str | None = None, **kw):
    """perf.llm.serve for a quantized and/or sparsified model; returns its ServingResult
    with `notes` explaining fallbacks, dequantization and sparsity assumptions.

    Extra keyword arguments (input_len, output_len, batch, tp, ep, params, ...) go to serve.
    """
    from ..hardware.catalog import get_chip
    from ..perf.llm import serve

    c = get_chip(chip) if isinstance(chip, str) else chip
    pr, notes = resolve_precision_for_chip(precision, c)
    if kv_precision:
        pr = pr.with_kv(kv_precision.replace("-", "_") if kv_precision.replace("-", "_") in DTYPE_BITS else kv_precision)
    scheme = sparsity_scheme(sparsity)
    sf = chip_sparsity_factor(c)
    if scheme.nm and scheme.nm != HARDWARE_NM:
        n_, m_ = scheme.nm
        raise TapeoutError(f"--sparsity {n_}:{m_}: {c.id} runs structured sparsity {HARDWARE_NM[0]}:{HARDWARE_NM[1]} only "
                           f"(keeps {HARDWARE_NM[0]} of every {HARDWARE_NM[1]} weights), not {n_}:{m_}; use --sparsity 2:4, "
                           f"or unstructured:{n_ / m_:.2g} for the same density.")
    if scheme.nm:
        if sf > 1.0:
            notes.append(f"{scheme.sparsity} sparse math: min(sparsity_factor {sf:g}, {scheme.nm[1]}/{scheme.nm[0]}) x 0.85 "
                         "GEMM efficiency (cuSPARSELt ~1.7x; published end-to-end 1.1-1.3x); metadata 2 bits per kept weight")
        else:
            notes.append(f"chip lists no structured-sparse math: {scheme.sparsity} saves bytes only and is expanded on the vector units")
    elif scheme.sparsity == "unstructured":
        notes.append(f"unstructured sparsity ({scheme.density:.0%} kept): bytes only, index overhead, vector-unit decompression")
    name = _register(pr)
    r = serve(model, c, num_chips=num_chips, precision=name,
              evaluator=lambda g, p: evaluate_compressed(apply_compression(g, scheme, chip=c), p, sparsity_factor=sf),
              weight_bytes_factor=weight_bytes_factor(pr, scheme), **kw)
    r.notes = list(r.notes) + notes
    if scheme.name != "dense":
        r.precision = f"{r.precision}+{scheme.name}"
    return r


def split_scheme(spec: str) -> tuple[str, str | None, str | None]:
    """'w4a16+2:4+kv-fp8' -> (precision 'w4a16', kv 'fp8', sparsity '2:4')."""
    prec, kv, sp = "bf16", None, None
    for part in [p.strip().lower() for p in re.split(r"[+,]", spec) if p.strip()]:
        if part.startswith("kv-"):
            kv = part[3:]
        elif re.fullmatch(r"\d+:\d+", part) or part.startswith("unstructured"):
            sp = part
        else:
            prec = part
    return prec, kv, sp


def check_scheme(spec: str) -> None:
    """One error naming `--schemes` when a scheme names no known format, KV dtype or sparsity (a typo); what
    a chip cannot run stays that scheme's row error in speed_quality_frontier."""
    prec, kv, sp = split_scheme(spec)
    try:
        get_precision(prec)
        if kv:
            dtype_bytes(kv.replace("-", "_") if kv.replace("-", "_") in DTYPE_BITS else kv, "kv")
        sparsity_scheme(sp)
    except TapeoutError as e:
        raise TapeoutError(f"--schemes '{spec}': {e}") from None


def speed_quality_frontier(model, chip, schemes=DEFAULT_SCHEMES, num_chips: int = 1, input_len: int = 1024,
                           output_len: int = 256, params_b: float | None = None, budget: float = 0.01, **kw) -> list[dict]:
    """Per scheme: output tokens/s (perf.llm.serve), memory per chip, predicted quality loss,
    and whether the scheme is on the Pareto front (higher tokens/s, lower loss)."""
    from ..workloads.llm_config import LLMConfig, load_llm

    from ..hardware.catalog import get_chip

    cfg = model if isinstance(model, LLMConfig) else load_llm(model)
    chip = get_chip(chip) if isinstance(chip, str) else chip  # bad names fail here, not per scheme
    for spec in schemes:
        check_scheme(spec)
    pb = params_b if params_b is not None else cfg.param_count() / 1e9
    rows = []
    for spec in schemes:
        prec, kv, sp = split_scheme(spec)
        loss, src = quality_loss(spec, pb)
        row = {"scheme": spec, "precision": prec, "kv_precision": kv or "", "sparsity": sp or "dense",
               "params_b": pb, "quality_loss": loss, "quality_source": src,
               "quality_ok": bool(math.isfinite(loss) and loss <= budget)}
        try:
            r = serve_with_compression(cfg, chip, num_chips=num_chips, precision=prec, kv_precision=kv, sparsity=sp,
                                       input_len=input_len, output_len=output_len, **kw)
            row.update(tokens_per_s=r.output_tokens_per_s, tokens_per_s_per_chip=r.output_tokens_per_s_per_chip,
                       tpot_ms=r.tpot_s * 1e3, ttft_ms=r.ttft_s * 1e3, batch=r.batch_size, parallelism=r.parallelism,
                       weights_gib_per_chip=r.weights_gib_per_chip, memory_gib_per_chip=r.memory_gib_per_chip,
                       bound=r.bound, notes=r.notes, error="")
        except TapeoutError as e:
            row.update(tokens_per_s=float("nan"), tokens_per_s_per_chip=float("nan"), tpot_ms=float("nan"),
                       ttft_ms=float("nan"), batch=0, parallelism="", weights_gib_per_chip=float("nan"),
                       memory_gib_per_chip=float("nan"), bound="", notes=[], error=str(e))
        rows.append(row)
    base = next((r["tokens_per_s"] for r in rows if r["scheme"] == "bf16"), None)
    for r in rows:
        r["speedup_vs_bf16"] = (r["tokens_per_s"] / base) if base and math.isfinite(r["tokens_per_s"]) else float("nan")
        ok = math.isfinite(r["tokens_per_s"]) and math.isfinite(r["quality_loss"])
        r["pareto"] = ok and not any(
            o is not r and math.isfinite(o["tokens_per_s"]) and math.isfinite(o["quality_loss"])
            and o["tokens_per_s"] >= r["tokens_per_s"] and o["quality_loss"] <= r["quality_loss"]
            and (o["tokens_per_s"] > r["tokens_per_s"] or o["quality_loss"] < r["quality_loss"])
            for o in rows
        )
    return rows
