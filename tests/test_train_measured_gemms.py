"""perf/gemm_table.MeasuredGemms and `tapeout train --kernels aiconfigurator` (issue 18, round 23):
the training GEMMs priced from aiconfigurator's measured kernel table instead of the fitted model.

Reads the installed aiconfigurator-core (kernels extra); skips cleanly without it."""

import importlib.metadata as md
import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tapeout.cli import main
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.ops import MatMul, OpTable
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.gemm_table import MeasuredGemms, measured_gemms
from tapeout.perf.opcost import evaluate
from tapeout.perf.training import train
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

try:
    DB_VERSION = md.version("aiconfigurator-core")
except md.PackageNotFoundError:
    DB_VERSION = None
pytestmark = pytest.mark.skipif(DB_VERSION is None, reason="aiconfigurator-core (tapeout[kernels]) not installed")


@pytest.fixture(scope="module")
def h100():
    return measured_gemms("aiconfigurator", "h100-sxm")


def _rows(fmt: str, m: int, n: int, k: int) -> list[float]:
    """The database's own latencies (s) at one grid point, read straight from the parquet file."""
    import duckdb

    from tapeout.perf.kernels_db import installed_root

    root, _ = installed_root()
    files = str(root / "h100_sxm" / "gemm" / "trtllm" / "*" / "gemm_perf.parquet")
    db = {"bf16": "bfloat16", "fp8": "fp8"}[fmt]
    q = (f"SELECT latency FROM read_parquet('{files}') WHERE gemm_dtype = '{db}' AND m = {m} AND n = {n} AND k = {k} "
         "AND latency > 0")
    return [r[0] * 1e-3 for r in duckdb.connect().execute(q).fetchall()]


def _op(m, n, k, fmt, **kw):
    return MatMul(name="g", m=m, n=n, k=k, a_dtype=fmt, w_dtype=fmt, out_dtype="bf16", math_dtype=fmt, **kw)


def test_a_grid_point_is_the_median_of_its_measured_rows(h100):
    for fmt in ("bf16", "fp8"):
        rows = _rows(fmt, 2048, 12288, 12288)
        assert rows
        assert h100.latency(2048, 12288, 12288, fmt) == pytest.approx(float(np.median(rows)), rel=1e-12)


def test_between_two_grid_points_the_time_is_their_log_log_midpoint(h100):
    # m = sqrt(8192 x 16384) sits halfway in log m between two neighbouring measured m at a measured (n, k)
    lo, hi = h100.latency(8192, 8192, 8192, "bf16"), h100.latency(16384, 8192, 8192, "bf16")
    mid = h100.latency(math.sqrt(8192 * 16384), 8192, 8192, "bf16")
    assert mid == pytest.approx(math.sqrt(lo * hi), rel=1e-9)
    assert lo < mid < hi


def test_past_the_grid_the_time_grows_linearly_in_that_dimension(h100):
    axes, _ = h100.tables["bf16"]
    top_m, top_n = axes[0][-1], axes[1][-1]
    assert h100.latency(2 * top_m, 4096, 4096, "bf16") == pytest.approx(2 * h100.latency(top_m, 4096, 4096, "bf16"))
    assert h100.latency(8192, top_n * 3, 4096, "bf16") == pytest.approx(3 * h100.latency(8192, top_n, 4096, "bf16"))


def test_a_shape_next_to_an_unmeasured_grid_point_keeps_the_model(h100):
    # the database has no n = k = 65,536 GEMM (nor m = 32,768 with a 65,536 side): no made-up corner
    _, med = h100.tables["bf16"]
    assert (2048, 65536, 65536) not in med
    assert h100.latency(2048, 60000, 60000, "bf16") is None
    assert h100.latency(2048, 60000, 50000, "bf16") is not None


def test_grouped_and_unmeasured_gemms_keep_the_model(h100):
    p = calibrated_params(get_chip("h100-sxm"))
    assert h100.time(_op(2048, 4096, 4096, "bf16", groups=8), p) is None
    assert h100.time(_op(64, 128, 128, "bf16", batch=4, shared_weight=False), p) is None
    assert h100.latency(2048, 4096, 4096, "int4") is None


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 40000), n=st.integers(32, 70000), k=st.integers(32, 70000))
def test_the_fp8_gemm_alone_is_below_the_measured_latency_and_above_the_peak_rate(h100, m, n, k):
    # the database's FP8 latency includes the activation-quantize pass: the GEMM alone is shorter,
    # and no GEMM beats the chip's dense FP8 peak
    p = calibrated_params(get_chip("h100-sxm"))
    op = _op(m, n, k, "fp8")
    t, lat = h100.time(op, p), h100.latency(m, n, k, "fp8")
    assume(lat is not None)  # next to the unmeasured corner (test above): the model's time
    assert t <= lat * (1 + 1e-12)
    assert t >= op.flops / float(np.max(p.peak("fp8"))) * (1 - 1e-12)
    assert h100.time(op, p, cast_priced=False) == lat
    # BF16 has no quantize pass: the measured latency as it is
    assert h100.time(_op(m, n, k, "bf16"), p) == h100.latency(m, n, k, "bf16")


def test_train_prices_every_dense_gemm_from_the_table_and_nothing_else(h100):
    # one chip per rank at TP1 PP1: the forward of a micro-batch is the layers' and the head's ops in
    # sequence, so the two runs differ by exactly the GEMMs' measured - modelled time; the backward
    # runs dgrad + wgrad at 2 x the forward GEMM (the engine's rule), so twice that
    kw = dict(tp=1, pp=1, cp=1, mbs=1, zero=3, recompute="none")
    seq = 2048
    base = train("llama-3.1-8b", "h100-sxm", 8, 8 * seq, seq, "bf16", **kw)
    meas = train("llama-3.1-8b", "h100-sxm", 8, 8 * seq, seq, "bf16", kernels="aiconfigurator", **kw)
    assert base.parallelism == meas.parallelism
    g = build_llm_graph(load_llm("llama-3.1-8b"), LLMStep("prefill", 1, seq, 0, get_precision("bf16"), 1, 1,
                                                          lm_head_all_tokens=True))
    mms = [op for op in g.ops if isinstance(op, MatMul)]
    p = calibrated_params(get_chip("h100-sxm"))
    # the fitted GEMMs the measured ones replace run at the board's sustained training clock (perf/train_clock)
    from tapeout.perf.train_clock import board_power, op_times
    ct = evaluate(OpTable.from_ops(mms), p)
    model = op_times(ct, p, board_power(get_chip("h100-sxm")))
    # the measured ones are burst-clock times, run at the same sustained clock: x pair MAMF / MSMF (H200's BF16
    # pair, power_cap_msmf.yaml: 850 / 755) beyond the GEMM's memory time (round stop-36, issue-37a)
    mem = np.asarray(ct.memory_time, dtype=float).reshape(len(mms), -1).max(axis=1)
    sus = [t + max(0.0, t * 850.0 / 755.0 - max(t, tm)) for t, tm in ((h100.time(op, p), tm) for op, tm in zip(mms, mem))]
    delta = sum(op.count * (ts - t) for op, ts, t in zip(mms, sus, model))
    assert meas.breakdown["F"] - base.breakdown["F"] == pytest.approx(delta, rel=1e-6)
    assert meas.breakdown["B"] - base.breakdown["B"] == pytest.approx(2 * delta, rel=1e-6)
    src = meas.breakdown["gemm_source"]
    assert src["package_version"] == DB_VERSION and src["system"] == "h100_sxm" and src["stack_version"]
    assert any(DB_VERSION in n for n in meas.notes)
    assert "gemm_source" not in base.breakdown


def test_a_chip_outside_the_database_or_an_unknown_database_is_one_clear_error():
    with pytest.raises(TapeoutError, match="--kernels aiconfigurator: chip 'mi300x'.*h100-sxm"):
        measured_gemms("aiconfigurator", "mi300x")
    with pytest.raises(TapeoutError, match="--kernels 'cublas'"):
        train("llama-3.1-8b", "h100-sxm", 8, 8 * 4096, 4096, kernels="cublas")
    assert measured_gemms(None, "mi300x") is None
    assert isinstance(measured_gemms("aiconfigurator", "h100-sxm"), MeasuredGemms)


def test_cli_train_kernels(capsys):
    main(["train", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "-n", "8", "--seq-len", "2048",
          "--global-batch-tokens", str(8 * 2048), "--zero", "3", "--kernels", "aiconfigurator", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert d["breakdown"]["gemm_source"]["package"] == "aiconfigurator-core"
    # the database's stack is a serving stack: the run says it is not the training stack's (stop-30 review)
    src = d["breakdown"]["gemm_source"]
    assert any(f"measured under {src['stack']} {src['stack_version']}" in n and "training stack (none given)" in n
               for n in d["notes"]), d["notes"]
    with pytest.raises(SystemExit) as e:
        main(["train", "--model", "llama-3.1-8b", "--chip", "mi300x", "--kernels", "aiconfigurator"])
    assert e.value.code == 2
    assert "--kernels aiconfigurator: chip 'mi300x'" in capsys.readouterr().err


def test_unknown_database_error_names_the_fix():
    with pytest.raises(TapeoutError, match="give --kernels aiconfigurator, or drop --kernels"):
        measured_gemms("AIConfigurator", "h100-sxm")


def test_power_capped_chip_refuses_full_power_kernel_times(capsys):
    # the database timed the shipped part at full board power; a capped part clocks lower
    with pytest.raises(SystemExit) as e:
        main(["train", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--power-limit", "400",
              "--kernels", "aiconfigurator", "--json"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "drop --power-limit or drop --kernels" in err and "Traceback" not in err
