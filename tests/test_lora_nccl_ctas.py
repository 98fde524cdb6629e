"""The v4.0 NeMo Llama-2-70B LoRA configs' NCCL CTA floor (comm_ctas) and amax all-reduce, read per config from
benchmarks.yaml submission_layouts (docs/notes/issue-18.md, Round stop-42 branch issue-62f).

NVIDIA's configs/config_common.sh (sourced by every config_DGXH100_* / config_DGXH200_* / config_L40S_* file)
exports NCCL_MIN_CTAS=32, NCCL_MIN_P2P_NCHANNELS=32: every collective and the context-parallel ring's P2P hold
32 CTAs; Dell's XE9680 file exports NCCL_MIN_CTAS=8 instead and sources no common file; HPE's XD670 common file
points NCCL at a communicator yaml that is not stored (nothing on file: 0)."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.perf.bench_stack import RUN_SETTINGS, STACK_FIELDS, run_settings
from tapeout.perf.training import train
from tapeout.validation.train_rows import submission_layout

KEY = "llama2-70b-lora"


def _nemo(acc="NVIDIA H100-SXM", system=None):
    row = {"accelerator": acc, "software": "NVIDIA NeMo Framework Release 24.04",
           "workload": "MLPerf Training v4.0 llama2_70b_lora"}
    if system:
        row["notes"] = f"submitter=X; system={system}; nodes=1"
    return row


@pytest.mark.parametrize("acc,chip,n", [("NVIDIA H100-SXM", "h100-sxm", 8), ("NVIDIA H100-SXM", "h100-sxm", 64),
                                        ("NVIDIA H100-SXM", "h100-sxm", 1024), ("NVIDIA H200-SXM", "h200", 8),
                                        ("NVIDIA L40S", "l40s", 64), ("NVIDIA L40S", "l40s", 384)])
def test_configs_sourcing_nvidias_common_file_hold_32_ctas(acc, chip, n):
    assert submission_layout(KEY, _nemo(acc), chip, n)["comm_ctas"] == 32


def test_partner_files_keep_their_own_nccl_environment():
    # Dell XE9680: NCCL_MIN_CTAS=8, config_common.sh not sourced
    assert submission_layout(KEY, _nemo(system="XE9680x8H100-SXM-80GB"), "h100-sxm", 8)["comm_ctas"] == 8
    # HPE XD670 2 x 8: NCCL_CFG_PATH to a yaml not stored: no CTA count on file
    assert "comm_ctas" not in submission_layout(KEY, _nemo(), "h100-sxm", 16)


def test_l40s_amax_reduction_per_config():
    # config_L40S_16x4x2xtp4pp1cp2.sh FP8_REDUCE_AMAX=True; config_L40S_96x4x1xtp4pp1cp2.sh False (the default)
    assert submission_layout(KEY, _nemo("NVIDIA L40S"), "l40s", 64)["fp8_reduce_amax"] is True
    assert "fp8_reduce_amax" not in submission_layout(KEY, _nemo("NVIDIA L40S"), "l40s", 384)


def test_comm_ctas_is_a_run_setting_not_a_layout_pin():
    assert "comm_ctas" in STACK_FIELDS and "comm_ctas" in RUN_SETTINGS
    pins = submission_layout(KEY, _nemo("NVIDIA L40S"), "l40s", 64)
    settings_ = run_settings(pins)
    assert settings_["comm_ctas"] == 32 and "comm_ctas" not in pins


_LAYOUT = dict(tp=4, pp=1, cp=2, mbs=1, zero=0, recompute="none", lora=True)


def _step(ctas):
    return train("llama-2-70b", "h100-sxm", 64, 8 * 8192, 8192, "fp8", comm_ctas=ctas, **_LAYOUT).step_time_s


def test_free_collectives_are_the_old_price():
    assert _step(0) == train("llama-2-70b", "h100-sxm", 64, 8 * 8192, 8192, "fp8", **_LAYOUT).step_time_s


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60))
def test_more_ctas_never_faster(a, b):
    """A CP2 LoRA step (the ring's P2P beside the attention) takes at least as long when its collectives hold more
    of the 132 SMs."""
    lo, hi = sorted((a, b))
    assert _step(hi) >= _step(lo) * (1 - 1e-12)
