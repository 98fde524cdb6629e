"""Whether the measured kernel database (the tapeout[kernels] extra, aiconfigurator-core) is installed."""

from __future__ import annotations

import importlib.metadata as md

import pytest

try:
    md.version("aiconfigurator-core")
    HAVE_DB = True
except md.PackageNotFoundError:
    HAVE_DB = False
needs_db = pytest.mark.skipif(not HAVE_DB, reason="aiconfigurator-core (tapeout[kernels]) not installed")
