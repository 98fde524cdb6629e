"""Whether a run captured per-layer CUDA graphs is recorded per submission config (benchmarks.yaml
submission_layouts `layer_cuda_graph`): the v4.0 NeMo LoRA runs are eager while their stack's GPT-3
`_cg` configs graph. The record decides whether the run's host issue time is priced (perf/host_issue.py,
perf/train_host.py; the stack's eager_layer)."""

import pytest

from tapeout.perf.train_stack import TrainingStack, find_stack
from tapeout.validation import train_rows
from tapeout.validation.harness import default_data, read_rows
from tapeout.validation.train_rows import RECORD_FIELDS, STACK_FIELDS, map_row, submission_layout

LORA_V40 = {"accelerator": "NVIDIA H100-SXM", "software": "NVIDIA NeMo Framework Release 24.04",
            "workload": "MLPerf Training v4.0 llama2_70b_lora", "notes": ""}


def test_run_config_replaces_only_unwired_features_on_file():
    st = TrainingStack("s", (("graphs", True, False), ("overlap", True, True)))
    assert st.unwired() == {"graphs": True}
    # an unwired feature on file takes the run's value; a wired one or one not on file is not reported
    assert st.unwired({"graphs": False, "overlap": False, "other": 1}) == {"graphs": False}
    assert st.unwired({}) == st.unwired(None) == {"graphs": True}


def test_record_fields_are_submission_fields():
    assert set(RECORD_FIELDS) <= set(STACK_FIELDS)


@pytest.mark.parametrize("chip,n", [("h100-sxm", 8), ("h100-sxm", 16), ("h100-sxm", 1024), ("l40s", 64)])
def test_every_v40_nemo_lora_config_is_recorded_eager(chip, n):
    row = dict(LORA_V40, accelerator="NVIDIA L40S" if chip == "l40s" else LORA_V40["accelerator"])
    assert submission_layout("llama2-70b-lora", row, chip, n)["layer_cuda_graph"] is False


def test_the_record_is_scoped_to_its_round():
    no_round = {k: v for k, v in LORA_V40.items() if k != "workload"}
    assert "layer_cuda_graph" not in submission_layout("llama2-70b-lora", no_round, "h100-sxm", 8)
    v41 = dict(LORA_V40, workload="MLPerf Training v4.1 llama2_70b_lora")  # v4.1 configs set LAYER_CUDA_GRAPH=1
    assert "layer_cuda_graph" not in submission_layout("llama2-70b-lora", v41, "h100-sxm", 1024)


def _row(rid):
    return next(r for r in read_rows(default_data()) if r["id"] == rid)


def test_lora_row_is_priced_eager_by_its_record(monkeypatch):
    """TRN-v4.0-0076 (1,024 H100, TP4 CP2, PP 1): the run's record (eager) over the stack's GPT-3 value
    (graphs) prices the host issue time; dropping the record leaves the stack's value and no host term,
    and the step differs by exactly the host idle the breakdown shows."""
    assert find_stack(LORA_V40["software"], "v4.0").unwired()["layer_cuda_graph"] is True
    row = _row("TRN-v4.0-0076")
    with_record = map_row(row)
    assert "layer_cuda_graph" not in with_record.detail["stack_features_not_modelled"]  # now priced
    host = with_record.detail["host_issue"]
    assert host is not None and host["gpu_idle_per_step_ms"] > 0

    real = train_rows.submission_layout

    def without_record(*a, **k):
        return {f: v for f, v in real(*a, **k).items() if f != "layer_cuda_graph"}

    monkeypatch.setattr(train_rows, "submission_layout", without_record)
    bare = map_row(row)
    assert bare.detail["stack_features_not_modelled"]["layer_cuda_graph"] is True
    assert bare.detail["host_issue"] is None
    assert with_record.detail["step_s"] - bare.detail["step_s"] == pytest.approx(host["gpu_idle_per_step_ms"] * 1e-3,
                                                                                   rel=1e-9)


def test_an_eager_run_the_model_does_not_price_keeps_layer_cuda_graph_listed():
    # the host issue time is priced at PP 1 only (perf/training.py); an eager run at PP > 1 still has its
    # layer_cuda_graph record among the features the model does not act on
    from tapeout.validation.train_rows import _not_modelled

    st = TrainingStack("s", (("layer_cuda_graph", True, False), ("eager_layer", "mcore-te-gpt", True)))
    rec = {"layer_cuda_graph": False}
    assert _not_modelled(st, rec, host_priced=False) == {"layer_cuda_graph": False}
    assert _not_modelled(st, rec, host_priced=True) == {}
