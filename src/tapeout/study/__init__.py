"""Studies: one file that names workloads (traffic, SLOs), candidate chips, design spaces,
constraints and objectives; `tapeout run` evaluates, explores, stores and reports."""

from .schema import Study, load_study  # noqa: F401
