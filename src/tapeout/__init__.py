"""tapeout: AI-chip hardware/software co-design toolkit.

Pipeline (see DESIGN.md): workloads -> ops -> perf -> econ / rules -> explore -> report / cli,
with hardware (chips and systems) as data.
"""

__version__ = "0.1.0"
