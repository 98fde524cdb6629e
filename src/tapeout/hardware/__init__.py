"""Chips and systems as data: the catalog of real accelerators and the parameter bundle
the performance model evaluates (scalars for one chip, numpy arrays for a sweep)."""

from .catalog import Chip, all_chips, get_chip, chip_ids  # noqa: F401
from .params import ChipParams  # noqa: F401
