"""tapeout: AI-chip hardware/software co-design toolkit.

Pipeline (see DESIGN.md): workloads -> ops -> perf -> econ / rules -> explore -> report / cli,
with hardware (chips and systems) as data.

The Python API mirrors the CLI, one function per command (same arguments, snake_case), each
returning a typed, immutable result with `.to_dict()` (the command's `--json`) and
`.to_frame()`; bad input raises `TapeoutError` with the CLI's message:

    >>> import tapeout
    >>> r = tapeout.serve(model="llama-2-70b", chip="h100-sxm", num_chips=8, precision="fp8")
    >>> r.output_tokens_per_s  # output tokens/s of the 8-chip deployment

Names are imported on first use, so `import tapeout` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .errors import TapeoutError

__version__ = "0.1.0"

_API = ("serve", "train", "train_benchmark", "explain", "workload_run", "workload_explain", "cost", "compliance", "explore", "run_study",
        "validate", "chips", "get_chip", "register_chip", "load_model", "ServeResult", "ExplainResult", "TrainResult", "BenchmarkTrainResult",
        "WorkloadResult", "WorkloadExplainResult",
        "CostResult", "ComplianceResult", "ChipsResult", "ChipInfo", "ModelInfo", "ExploreResult", "StudyResult",
        "ValidationResult", "Record")
__all__ = ["TapeoutError", "__version__", *_API]

if TYPE_CHECKING:  # static checkers and IDEs see the real names
    from .api import *  # noqa: F401,F403


def __getattr__(name: str):
    if name in _API:
        value = getattr(import_module(".api", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tapeout' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(_API))
