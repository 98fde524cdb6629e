"""The public Python API (re-exported by `import tapeout`): one function per CLI command,
taking the command's arguments and returning the typed result its `--json` prints."""

from __future__ import annotations

from .catalog import chips, get_chip, load_model, register_chip
from .evaluate import compliance, cost, workload_explain, workload_run
from .llm import explain, serve, train
from .other_train import train_benchmark
from .results import (BenchmarkTrainResult, ChipInfo, ChipsResult, ComplianceResult, CostResult, ExplainResult,
                      ExploreResult, ModelInfo, Record, ServeResult, StudyResult, TrainResult, ValidationResult, WorkloadExplainResult,
                      WorkloadResult)
from .studies import explore, run_study, validate

__all__ = [
    "chips", "get_chip", "register_chip", "load_model", "serve", "explain", "train", "train_benchmark", "workload_run",
    "workload_explain", "cost", "compliance", "explore", "run_study", "validate", "Record", "ServeResult", "ExplainResult",
    "TrainResult", "BenchmarkTrainResult",
    "WorkloadResult", "CostResult", "ComplianceResult", "ChipsResult", "ChipInfo", "ModelInfo", "ExploreResult",
    "StudyResult", "ValidationResult", "WorkloadExplainResult",
]
