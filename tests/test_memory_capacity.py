"""Device memory capacity (hardware/memory_capacity.py) and the training reserve (perf/train_reserve.py):
closed forms from the DRAM organisation and the NCCL / TE source constants, and monotonicity."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import Chip, Spec, all_chips, get_chip
from tapeout.hardware.memory_capacity import GIB, capacity_bytes, dram_bytes, quoted_gb
from tapeout.perf.train_layout import TrainLayout
from tapeout.perf.train_reserve import Reserve, communicators, nccl_communicator_bytes, reserve_data, training_reserve

H100 = get_chip("h100-sxm")


@pytest.mark.parametrize("chip, stacks, stack_gib", [
    ("h100-sxm", 5, 16),   # 5 x 8-high HBM3 of 16 Gbit dies = 5 x 16 GiB
    ("a100-sxm", 5, 16),   # 5 x HBM2e 16 GiB
    ("mi300x", 8, 24),     # 8 x 12-high HBM3 of 16 Gbit dies = 8 x 24 GiB
    ("gaudi2", 6, 16),     # 6 x HBM2e 16 GiB
])
def test_quoted_capacity_is_whole_stacks_of_binary_gib(chip, stacks, stack_gib):
    c = get_chip(chip)
    assert int(c.get("hbm_stacks")) == stacks
    assert dram_bytes(float(c.get("memory_capacity_gb"))) == stacks * stack_gib * 2 ** 30


def test_h100_is_80_gib_and_the_runtime_sees_less():
    c = get_chip("h100-sxm")
    assert dram_bytes(80.0) == 80 * 2 ** 30 > 80e9  # 85.9e9 B, not 80e9
    # nvidia-smi shows 81,559 MiB; cudaMemGetInfo's total (79.15 GiB) is below the 80 GiB of DRAM
    assert 79 * GIB < capacity_bytes(c) < 80 * GIB


def test_runtime_total_never_above_the_quoted_dram_and_close_to_it():
    from tapeout.hardware.sram_tier import sram_working_memory

    for c in all_chips():
        cid = c.id
        rt = c.get("memory_runtime_gib")
        if sram_working_memory(c) is not None:  # computes out of on-chip SRAM: that is its capacity (tests/test_sram_chips.py)
            assert capacity_bytes(c) == float(c.get("onchip_sram_mb")) * 1e6, cid
            continue
        if rt is None:
            assert capacity_bytes(c) == dram_bytes(float(c.get("memory_capacity_gb", 0.0) or 0.0))
            continue
        q = float(c.get("memory_capacity_gb"))
        assert rt <= q, cid
        if str(c.get("memory_type", "")).upper().startswith("HBM"):
            assert 0.97 * q <= rt, cid  # HBM: a driver reservation of about 1%
        else:
            assert 0.93 * q <= rt, cid  # GDDR with inline ECC keeps about 1/16 back


@pytest.mark.parametrize("chip", ["l40s", "l4"])
def test_gddr_with_ecc_reports_fifteen_sixteenths(chip):
    # observed, not a documented rule: nvidia-smi totals of these ECC-on GDDR6 cards (46,068 / 23,034 MiB)
    c = get_chip(chip)
    assert capacity_bytes(c) == pytest.approx(dram_bytes(float(c.get("memory_capacity_gb"))) * 15 / 16, rel=1e-3)


def test_runtime_total_above_the_dram_is_refused():
    c = Chip(id="x", name="x", vendor="v", family="generic",
             specs={"memory_capacity_gb": Spec(80.0, "GB", "official", "s"),
                    "memory_runtime_gib": Spec(81.0, "GiB", "secondary", "s")})
    with pytest.raises(TapeoutError, match="memory_runtime_gib"):
        capacity_bytes(c)


@given(st.floats(1.0, 1000.0), st.floats(1.0, 1000.0))
def test_capacity_monotone_and_round_trips(a, b):
    assert (dram_bytes(a) <= dram_bytes(b)) == (a <= b)
    assert quoted_gb(dram_bytes(a)) == pytest.approx(a)


def test_nccl_buffers_from_the_source_constants():
    # Simple 4 MiB + LL128 120*640*8*8 + LL 8*512*8*16 per channel and peer, 32 channels, 2 ring peers
    per = 4 * 2 ** 20 + 4_915_200 + 524_288
    assert nccl_communicator_bytes() == reserve_data()["runtimes"]["cuda"]["nccl_ring"]["channels"] * 2 * per == 616_562_688
    assert communicators(TrainLayout(tp=8, pp=16, dp=128)) == 3
    assert communicators(TrainLayout()) == 0
    assert training_reserve(TrainLayout(), H100).collective == 0.0


@settings(max_examples=50)
@given(st.floats(8.0, 300.0), st.floats(0.0, 50.0), st.integers(0, 5), st.integers(0, 5))
def test_usable_monotone(cap_gib, more, n1, n2):
    base = training_reserve(TrainLayout(), H100)
    r1 = Reserve(base.context, base.workspace, n1 * nccl_communicator_bytes(), base.fragmentation)
    r2 = Reserve(base.context, base.workspace, n2 * nccl_communicator_bytes(), base.fragmentation)
    cap = cap_gib * GIB
    assert r1.usable(cap) <= r1.usable(cap + more * GIB)       # more memory never leaves less
    assert (r1.usable(cap) >= r2.usable(cap)) or n1 > n2        # more communicators never leave more
    assert r1.usable(cap) < cap


def test_405b_meta_layout_usable_by_hand():
    # TP8 PP16 DP128 on H100: (79.15 - 0.5 - 32 MiB - 3 x 588 MiB) x (1 - 9.2/80)
    lay = TrainLayout(tp=8, pp=16, dp=128)
    want = (79.15 * GIB - 0.5 * GIB - 32 * 2 ** 20 - 3 * 588 * 2 ** 20) * (1 - 9.2 / 80)
    assert training_reserve(lay, H100).usable(capacity_bytes(H100)) == pytest.approx(want)


def test_training_shows_the_assumed_reserve_terms():
    from tapeout.perf.training import train

    r = train("llama-3.1-8b", "h100-sxm", 8, 8 * 8192, 8192, "bf16")
    assert any("memory reserve for runtime cuda" in n and "assumptions: context 0.50 GiB" in n for n in r.notes)
    res = r.breakdown["memory_reserve"]
    assert res["usable_gib"] < r.capacity_gib_per_chip == pytest.approx(79.15)
    assert r.memory_gib_per_chip <= res["usable_gib"]


# ------------------------------------------------------------------ review stop 24: derived chips (issue-24rv)
@pytest.mark.parametrize("gb", [40.0, 120.0, 144.0])
def test_a_chip_derived_with_other_memory_does_not_inherit_the_base_runtime_total(tmp_path, gb):
    """A user chip `base: h100-sxm` with its own memory_capacity_gb had H100's 79.15 GiB runtime total
    (more memory: silently 79.15; less: an error blaming extra_specs.csv). Its capacity is its own
    binary GB; a chip that keeps the base's memory keeps the runtime total."""
    import tapeout
    from tapeout.perf.calibration import calibrated_params

    from tapeout.hardware.catalog import unregister_chip

    f = tmp_path / "chip.yaml"
    f.write_text(f"id: rv24-npu\nbase: h100-sxm\nspecs:\n  memory_capacity_gb: {gb}\n")
    try:
        tapeout.register_chip(str(f))
        assert float(calibrated_params(get_chip("rv24-npu")).mem_capacity) == gb * GIB
        tapeout.register_chip({"id": "rv24-npu", "base": "h100-sxm", "specs": {"memory_bandwidth_tbps": 4.0}})
        assert capacity_bytes(get_chip("rv24-npu")) == 79.15 * GIB  # same DRAM: the base's runtime total
        tapeout.register_chip({"id": "rv24-npu", "base": "h100-sxm",
                               "specs": {"memory_capacity_gb": gb, "memory_runtime_gib": gb - 1}})
        assert capacity_bytes(get_chip("rv24-npu")) == (gb - 1) * GIB
    finally:
        unregister_chip("rv24-npu")
    assert capacity_bytes(get_chip("h100-sxm").power_capped(400)) == 79.15 * GIB  # a power cap keeps the DRAM


@pytest.mark.parametrize("chip, base", [("b300", "b200"), ("rtx-pro-6000", "l40s")])
def test_kernel_database_systems_built_on_a_base_keep_their_own_memory(chip, base):
    """B300 (288 GB) was given B200's 178.35 GiB runtime total and the RTX PRO 6000 (96 GB) the L40S's
    44.99 GiB (kernels_db.yaml base:)."""
    from tapeout.perf.kernels_db import chip_for

    c = chip_for(chip)
    assert get_chip(base).get("memory_runtime_gib") is not None
    assert capacity_bytes(c) == float(c.get("memory_capacity_gb")) * GIB


def test_restating_the_base_capacity_keeps_its_runtime_total(session_chips):
    """Round stop-25: `base: h100-sxm` with `memory_capacity_gb: 80` (the base's own value, e.g. copied from
    `tapeout show`) is the same DRAM, yet dropped the 79.15 GiB runtime total: 80 GiB, a different answer
    from the same chip. Only a capacity that differs from the base's drops it."""
    from tapeout import register_chip
    from tapeout.hardware.memory_capacity import rebased_specs

    register_chip({"id": "rv25-same", "base": "h100-sxm", "specs": {"memory_capacity_gb": 80}})
    assert capacity_bytes(get_chip("rv25-same")) == capacity_bytes(get_chip("h100-sxm")) == 79.15 * GIB
    register_chip({"id": "rv25-more", "base": "h100-sxm", "specs": {"memory_capacity_gb": 96}})
    assert capacity_bytes(get_chip("rv25-more")) == 96 * GIB
    assert rebased_specs({"memory_capacity_gb": 80, "memory_runtime_gib": 79.15}, {"memory_capacity_gb": 80.0}) == \
        {"memory_capacity_gb": 80.0, "memory_runtime_gib": 79.15}
