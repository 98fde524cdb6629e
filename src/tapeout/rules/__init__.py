"""Rules: US export-control checks (ECCN 3A090 TPP / performance density / HBM) and reticle limits."""

from .export import (  # noqa: F401
    assess,
    assess_chip,
    assess_design,
    classify_3a090,
    performance_density,
    tpp,
)
