"""Measured collectives of the kernel database (issue 24): importer, closed-form pricing, report classes."""

import math

import numpy as np
import pytest

from tapeout.perf.collectives import bus_factor, topology_for_chip
from tapeout.perf.kernel_collectives import collective_errors, predict, with_collectives
from tapeout.perf.kernels_db import chip_for, read_collectives

from _db import needs_db


@pytest.fixture
def fake_comm(tmp_path):
    """h200_sxm with two NCCL versions and a trtllm custom all-reduce (an eager sglang-style row dropped)."""
    import duckdb

    con = duckdb.connect()
    root = tmp_path / "data"
    rows = "('all_gather', 'half', 8, 1048576, 0.02), ('alltoall', 'int8', 4, 4096, 0.01), ('all_reduce', 'float32', 8, 1024, 0.01)"
    for v in ("2.23", "2.29.2"):
        d = root / "h200_sxm" / "comm" / "nccl" / v
        d.mkdir(parents=True)
        con.sql(f"COPY (SELECT 'TRTLLM' AS framework, '{v}' AS version, 'NCCL' AS kernel_source, * FROM (VALUES {rows}) "
                f"t(op_name, nccl_dtype, num_gpus, message_size, latency)) TO '{d}/nccl_perf.parquet' (FORMAT parquet)")
    d = root / "h200_sxm" / "comm" / "trtllm" / "1.3.0rc20"
    d.mkdir(parents=True)
    con.sql(f"COPY (SELECT * FROM (VALUES ('all_reduce', 'TRTLLM', 'bfloat16', 8, 256, 0.003), "
            f"('all_reduce', 'vLLM_custom_eager', 'bfloat16', 8, 256, 0.02)) t(op_name, kernel_source, allreduce_dtype, "
            f"num_gpus, message_size, latency)) TO '{d}/custom_allreduce_perf.parquet' (FORMAT parquet)")
    return root


def test_importer_tidy_records(fake_comm):
    k = read_collectives(root=fake_comm, package_version="test", systems=["h200_sxm"])
    recs = {r["op"]: r for r in k.records()}
    # float32 is not a dtype the importer sizes: dropped, never guessed; the eager custom row dropped
    assert sorted(recs) == ["custom_all_reduce", "nccl_all_gather", "nccl_all_to_all"]
    ag = recs["nccl_all_gather"]
    assert ag["bytes"] == 2 * 1048576  # message_size counts FP16 elements
    assert recs["nccl_all_to_all"]["bytes"] == 4096  # int8: one byte per element
    assert ag["latency_s"] == pytest.approx(2e-5)  # stored in milliseconds
    assert ag["stack_version"] == "2.29.2" and ag["package_version"] == "test" and ag["chip"] == "h200"
    assert recs["custom_all_reduce"]["stack"] == "trtllm"


def test_all_gather_is_the_ring_closed_form(fake_comm):
    """One NVLink domain: NCCL's all-gather is its ring at NCCL's own cost model (src/graph/tuning.cc, one node):
    min over protocols of baseLat + (g-1) hwLat[NVLink] + t_bw / share, t_bw = (g-1)/g S / (B eff) with the chip's
    described link (no library excess: that is all-reduce only)."""
    k = read_collectives(root=fake_comm, package_version="test", systems=["h200_sxm"])
    i = int(np.flatnonzero(k.cols["op"] == "nccl_all_gather")[0])
    g, S = int(k.cols["num_gpus"][i]), float(k.cols["bytes"][i])
    topo = topology_for_chip(chip_for("h200"))
    t_bw = bus_factor("all_gather", g) * S / (topo.link_bw_for_group(g) * topo.eff_link)
    # tuning.cc ring rows (us): LL 6.6 + 0.6 per hop at 1/4 bandwidth, LL128 14.0 + 1.9 at 0.92, Simple 8.4 + 3.4
    ring = min(1e-6 * (6.6 + 0.6 * (g - 1)) + t_bw / 0.25, 1e-6 * (14.0 + 1.9 * (g - 1)) + t_bw / 0.92,
               1e-6 * (8.4 + 3.4 * (g - 1)) + t_bw)
    assert predict(k)[i] == pytest.approx(ring, rel=1e-9)


def test_in_domain_all_gather_latency_is_nccls_not_the_all_reduce_hop():
    """A tiny all-gather inside 8 NVLink GPUs costs NCCL's LL ring latency (6.6 + 7 x 0.6 us), whatever per-hop
    latency the all-reduce calibration gives; a stack's peer-access kernels keep that calibrated hop."""
    from tapeout.perf.collectives import LIBRARY_ALGORITHMS, collective_time

    topo = topology_for_chip(chip_for("h100-sxm"))
    t, name = collective_time("all_gather", 8.0, 8, topo, algorithm=LIBRARY_ALGORITHMS)
    assert float(t) == pytest.approx(10.8e-6, rel=1e-3) and "nccl ring ll" in name
    t_direct, name_d = collective_time("all_gather", 8.0, 8, topo, algorithm="direct")
    assert float(t_direct) == pytest.approx(topo.scaleup_latency, rel=1e-2) and name_d == "direct"


def test_ring_all_reduce_closed_form():
    from tapeout.perf.collectives import collective_time

    topo, g, S = topology_for_chip(chip_for("h200")), 8, 2.0 * 16777216  # a DB row's inputs (16 Mi FP16 elements)
    t, _ = collective_time("all_reduce", S, g, topo, algorithm="ring")
    want = 2 * (g - 1) * topo.scaleup_latency + 2 * (g - 1) / g * S / (topo.link_bw_for_group(g) * topo.eff_link)
    assert float(t) == pytest.approx(want, rel=1e-9)
    assert math.isclose(bus_factor("all_reduce", g), 2 * (g - 1) / g)


def test_custom_all_reduce_small_buffer_is_one_shot(fake_comm):
    """256 BF16 elements is far under TensorRT-LLM's workspace: one-shot, a + (g-1) S / (B eff), priced per buffer."""
    k = read_collectives(root=fake_comm, package_version="test", systems=["h200_sxm"])
    i = int(np.flatnonzero(k.cols["op"] == "custom_all_reduce")[0])
    topo, g, S = topology_for_chip(chip_for("h200")), 8, 512.0
    beta = 1 / (topo.link_bw_for_group(g) * topo.eff_link)
    assert predict(k, "trtllm")[i] <= topo.scaleup_latency + (g - 1) * S * beta + 1e-15


def test_report_has_the_collective_classes(fake_comm):
    k = read_collectives(root=fake_comm, package_version="test", systems=["h200_sxm"])
    e = collective_errors(k)["h200"]
    assert set(e) == {"nccl_all_gather/fp16", "nccl_all_to_all/int8", "custom_all_reduce/bf16"}
    for s in e.values():
        assert {"n", "median_abs_err_pct", "p90_abs_err_pct", "median_signed_err_pct", "skipped"} <= set(s)
        assert s["n"] == 1 and s["skipped"] == 0


@needs_db
def test_installed_db_collectives_in_report():
    errs = with_collectives({"h200": {"gemm/bf16": {"n": 1}}}, systems=["h200_sxm"])
    assert "gemm/bf16" in errs["h200"]  # the fit's classes kept
    for key in ("nccl_all_reduce/fp16", "nccl_all_gather/fp16", "nccl_reduce_scatter/fp16", "nccl_all_to_all/fp16",
                "custom_all_reduce/bf16"):
        assert errs["h200"][key]["n"] > 0 and errs["h200"][key]["skipped"] == 0


def test_unpriced_stack_is_skipped_and_counted(fake_comm):
    """A database stack without a serving-stack description (kernels_db.yaml custom_allreduce_stacks): its custom
    all-reduce rows are not priced, and the report says how many."""
    k = read_collectives(root=fake_comm, package_version="test", systems=["h200_sxm"])
    e = collective_errors(k, stack="sglang")["h200"]["custom_all_reduce/bf16"]
    assert e["n"] == 0 and e["skipped"] == 1 and math.isnan(e["median_abs_err_pct"])


# --- fused-MoE layers (perf/kernel_moe.py) ---

def _moe_row(**kw):
    row = {"chip": "h200", "dtype": "bfloat16", "kernel": "moe_torch_flow_cutlass", "distribution": "balanced",
           "tokens": 256, "hidden": 4096, "inter": 1536, "topk": 8, "experts": 128, "moe_tp": 1, "moe_ep": 8}
    return {**row, **kw}


def test_moe_layer_skips_what_the_model_cannot_express():
    from tapeout.perf.kernel_moe import layer_time

    chip = chip_for("h200")
    assert np.isfinite(layer_time(chip, _moe_row()))
    assert math.isnan(layer_time(chip, _moe_row(distribution="power_law_1.2")))  # skewed routing
    assert math.isnan(layer_time(chip, _moe_row(dtype="w4a16_mxfp4")))  # no W4A16 MXFP4 policy
    assert math.isnan(layer_time(chip, _moe_row(experts=12, moe_ep=8)))  # EP must divide the experts


def test_moe_layer_grows_with_tokens_and_shrinks_with_ep():
    """More tokens never take less time; more EP ranks (fewer experts and tokens per rank) never more."""
    from tapeout.perf.kernel_moe import layer_time

    chip = chip_for("h200")
    t = [layer_time(chip, _moe_row(tokens=n)) for n in (1, 16, 256, 4096)]
    assert all(a <= b * (1 + 1e-9) for a, b in zip(t, t[1:])) and t[-1] > 2 * t[0]
    assert layer_time(chip, _moe_row(moe_ep=16, tokens=4096)) <= layer_time(chip, _moe_row(moe_ep=2, tokens=4096))


@needs_db
def test_installed_moe_slice():
    from tapeout.perf.kernel_moe import moe_errors
    from tapeout.perf.kernels_db import read_moe

    k = read_moe(systems=["h200_sxm"], per_group=3)
    assert {s["stack_version"] for s in k.sources} == {"1.3.0rc20"}  # the version the GEMM fit reads
    assert np.all(k.cols["latency_s"] < 1.0) and set(k.cols["distribution"]) >= {"balanced", "power_law_1.2"}
    e = moe_errors(k)["h200"]
    assert e["moe/bf16"]["n"] > 0 and e["moe/bf16"]["skipped"] > 0  # the power-law rows are counted, not priced
