"""Quantization and sparsity co-design (issue 5): number formats on a chip, compression as a
graph transform, measured and published accuracy, and the speed/quality frontier.

Heavy dependencies (torch, onnxruntime, scikit-learn) are imported only by
`tapeout.quant.measured` (the `quant` extra)."""

from .formats import chip_sparsity_factor, resolve_precision_for_chip
from .transform import (
    SCHEMES,
    CompressedEmbedding,
    CompressedMatMul,
    CompressionScheme,
    apply_compression,
    evaluate_compressed,
    parse_scheme,
)

__all__ = [
    "SCHEMES",
    "CompressedEmbedding",
    "CompressedMatMul",
    "CompressionScheme",
    "apply_compression",
    "chip_sparsity_factor",
    "evaluate_compressed",
    "parse_scheme",
    "resolve_precision_for_chip",
]


def __getattr__(name):  # lazy: quality / frontier pull in perf.llm
    if name in ("quality_loss", "quality_ok", "published_table"):
        from . import quality

        return getattr(quality, name)
    if name in ("serve_with_compression", "speed_quality_frontier"):
        from . import frontier

        return getattr(frontier, name)
    raise AttributeError(name)
