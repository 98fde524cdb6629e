"""A submission's own evaluation cadence (benchmarks.yaml submission_layouts `eval_every_samples` / `skip_evals`):
JuniperNetworks' HF Trainer + DeepSpeed Llama-2-70B LoRA runs (MLPerf Training v4.0).

Their scripts/train.py sets TrainingArguments(evaluation_strategy="steps", eval_steps=12 from the launch scripts,
eval_delay=int(0.125 * gbs + 2) * eval_steps); HF Trainer's DefaultFlowCallback.on_step_end evaluates at a step s
when s % eval_steps == 0 and eval_delay <= s. The tests simulate that rule step by step and check the entries and
the rows' evaluation count against it (not against the model's own output)."""

import csv

import pytest

from tapeout.formats import data_file
from tapeout.perf.training import num_evaluations
from tapeout.validation.train_rows import map_row, submission_layout

EVAL_STEPS = 12  # run/run_single_node.sh, run/run.sub: --eval_steps 12
SYSTEMS = {8: ("h100-sxm", "h100_n1_ngc24.1_pytorch_deepspeed"), 32: ("h100-sxm", "h100_n4_ngc24.1_pytorch_deepspeed"),
           64: ("a100-sxm", "a100_n8_ngc24.1_pytorch_deepspeed")}


def hf_evaluations(steps: int, gbs: int) -> int:
    """Evaluations HF Trainer runs in `steps` optimizer steps under Juniper's arguments (per-device batch 1, GA 1)."""
    delay = int(0.125 * gbs + 2) * EVAL_STEPS
    return sum(1 for s in range(1, steps + 1) if s % EVAL_STEPS == 0 and delay <= s)


def _pins(gbs: int) -> dict:
    chip, system = SYSTEMS[gbs]
    acc = "NVIDIA H100-SXM" if chip == "h100-sxm" else "NVIDIA A100-SXM-80"
    row = {"accelerator": acc, "software": "NGC PyTorch Release 24.01 Deepspeed", "workload": "MLPerf Training v4.0 llama2_70b_lora",
           "notes": f"system={system};"}
    return submission_layout("llama2-70b-lora", row, chip, gbs)


@pytest.mark.parametrize("gbs", sorted(SYSTEMS))
def test_entries_are_hf_trainers_cadence(gbs):
    """eval_every_samples = eval_steps x GBS; the evaluations the model counts equal HF's at every step count."""
    p = _pins(gbs)
    assert p["eval_every_samples"] == EVAL_STEPS * gbs
    for steps in range(1, 400):
        assert num_evaluations(steps * gbs, p["eval_every_samples"], p["skip_evals"]) == hf_evaluations(steps, gbs), steps


def test_juniper_rows_count_their_own_evaluations():
    """The three Juniper rows at their logged convergence points (end_to_end.csv samples_count): 3,840 samples at
    GBS 8 = 480 steps, evaluations at steps 36, 48, ..., 480 (38); 7,680 at GBS 32 = 240 steps, 72..240 (15);
    13,056 at GBS 64 = 204 steps, 120..204 (8)."""
    rows = {r["id"]: r for r in csv.DictReader(data_file("measured", "end_to_end.csv").open())}
    for rid, gbs, samples, want in (("TRN-v4.0-0067", 8, 3840, 38), ("TRN-v4.0-0068", 32, 7680, 15),
                                    ("TRN-v4.0-0066", 64, 13056, 8)):
        assert f"samples_count={samples}" in rows[rid]["notes"] and f"global_batch_size={gbs}" in rows[rid]["notes"]
        assert hf_evaluations(samples // gbs, gbs) == want
        d = map_row(rows[rid]).detail
        assert d["n_evals"] == want and d["eval_min"] > 0


def test_nemo_rows_keep_the_benchmark_cadence():
    """A submission without its own cadence keeps benchmarks.yaml eval_every_samples (NVIDIA: 384, SKIP_EVALS 3)."""
    row = {"accelerator": "NVIDIA H100-SXM", "software": "NVIDIA NeMo Framework Release 24.04",
           "workload": "MLPerf Training v4.0 llama2_70b_lora", "notes": ""}
    pins = submission_layout("llama2-70b-lora", row, "h100-sxm", 64)
    assert "eval_every_samples" not in pins and pins["skip_evals"] == 3
