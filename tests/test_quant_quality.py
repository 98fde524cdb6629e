"""Published quality table, the size-dependent quality model, frontier and serving hook."""

import math

import pytest

from tapeout.perf import llm as L
from tapeout.quant.frontier import serve_with_compression, speed_quality_frontier, split_scheme
from tapeout.quant.quality import published_table, quality_loss, quality_ok


def test_published_table_rows_are_sourced_and_consistent():
    rows = published_table()
    assert len(rows) >= 40
    schemes = {r.scheme for r in rows}
    assert {"w8a8", "fp8", "w4a16", "2:4", "unstructured50"} <= schemes
    for r in rows:
        assert r.source.strip()
        assert r.delta == pytest.approx(r.quantized - r.baseline, abs=0.011)


@pytest.mark.parametrize("scheme", ["w8a8", "w8a16", "w4a16", "w4a8", "2:4", "4:8", "unstructured50"])
def test_quality_loss_does_not_grow_with_size(scheme):
    losses = [quality_loss(scheme, p)[0] for p in (0.5, 1, 7, 13, 70, 405)]
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:]))
    assert all(math.isfinite(x) and x >= 0 for x in losses)


def test_quality_ordering_and_budget():
    for pb in (7, 70):
        fp8, w8, w4, s24 = (quality_loss(s, pb)[0] for s in ("fp8", "w8a16", "w4a16", "2:4"))
        assert fp8 <= w8 < w4 < s24
    assert quality_ok("fp8", 8)
    assert quality_ok("bf16", 8)
    assert not quality_ok("2:4", 70)
    assert quality_ok("w4a16", 70, budget=0.05)
    assert not quality_ok("w4a16", 0.5, budget=0.05)  # small models lose more (Qwen2 0.5B table)
    combo, src = quality_loss("w4a16+2:4", 70)
    assert combo == pytest.approx(quality_loss("w4a16", 70)[0] + quality_loss("2:4", 70)[0])
    assert "|" in src


def test_unknown_quality_is_not_ok():
    v, src = quality_loss("mxfp4", 70)
    assert math.isnan(v) and "no published rows" in src
    assert not quality_ok("mxfp4", 70, budget=1.0)


def test_size_clamped_outside_data():
    _, src = quality_loss("w4a16", 1000)
    assert "clamped" in src


def test_split_scheme():
    assert split_scheme("w4a16+2:4+kv-fp8") == ("w4a16", "fp8", "2:4")
    assert split_scheme("fp8") == ("fp8", None, None)


def test_serve_with_compression_leaves_serve_alone_and_shrinks_weights():
    before = L.serve("llama-3.1-8b", "h100-sxm", precision="bf16", batch=16).output_tokens_per_s
    dense = serve_with_compression("llama-3.1-8b", "h100-sxm", precision="bf16", batch=16)
    sparse = serve_with_compression("llama-3.1-8b", "h100-sxm", precision="bf16", sparsity="2:4", batch=16)
    assert L.serve("llama-3.1-8b", "h100-sxm", precision="bf16", batch=16).output_tokens_per_s == before
    assert sparse.weights_gib_per_chip < dense.weights_gib_per_chip * 0.65
    assert 1.0 < sparse.output_tokens_per_s / dense.output_tokens_per_s <= 2.0
    assert any("2:4" in n for n in sparse.notes)
    assert sparse.precision.endswith("+2:4")


def test_serve_with_compression_falls_back_on_chip_without_format():
    r = serve_with_compression("llama-3.1-8b", "a100-sxm", precision="w4a8", kv_precision="fp8", batch=8)
    assert any("falls back" in n for n in r.notes)
    assert r.output_tokens_per_s > 0


def test_frontier_rows():
    rows = speed_quality_frontier("llama-3.1-8b", "h100-sxm", ["bf16", "fp8", "w4a16", "bf16+2:4", "mxfp4"])
    by = {r["scheme"]: r for r in rows}
    assert set(by) == {"bf16", "fp8", "w4a16", "bf16+2:4", "mxfp4"}
    for r in rows:
        for k in ("tokens_per_s", "memory_gib_per_chip", "quality_loss", "quality_ok", "pareto"):
            assert k in r
    assert by["bf16"]["pareto"]
    assert by["fp8"]["tokens_per_s"] > by["bf16"]["tokens_per_s"]
    assert by["w4a16"]["weights_gib_per_chip"] < by["fp8"]["weights_gib_per_chip"]
    assert not by["mxfp4"]["pareto"]  # unknown quality never makes the front
