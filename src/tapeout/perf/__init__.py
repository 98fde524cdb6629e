"""Performance model: cost of each op on a chip, then system-level metrics."""

from .opcost import CostTable, evaluate  # noqa: F401
