"""perf/zero3_fetch.py: DeepSpeed ZeRO-3 gather volume per step and the overlapped pass's exposure rule."""

import pytest
from hypothesis import given, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf import zero3_fetch as z
from tapeout.workloads.llm_config import load_llm

finite = st.floats(min_value=0.0, max_value=1e3, allow_nan=False, allow_infinity=False)


def test_llama2_70b_gather_volume_closed_form():
    # Llama-2-70B: 68,976,648,192 parameters (embedding + 80 layers + final norm + untied LM head);
    # BF16 gathers, DP 32: forward + backward = 2 x 2 B x P x 31/32 = 267.3 GB received per rank per step
    cfg = load_llm("llama2-70b")
    P = cfg.param_count()
    assert P == 68_976_648_192
    assert z.gather_bytes_per_step(P, 32) == pytest.approx(2 * 2 * P * 31 / 32)
    assert z.gather_bytes_per_step(P, 32) / 1e9 == pytest.approx(267.28, abs=0.01)
    assert z.gather_bytes_per_step(P, 1) == 0.0  # no shard group: nothing to gather


@given(finite, finite, st.floats(min_value=0.0, max_value=1.0))
def test_pass_exposed_bounds(t, c, share):
    f = share * t
    e = z.pass_exposed(t, c, f)
    assert 0.0 <= e <= t + 1e-12
    assert e >= f - 1e-12  # the first module's gather is never hidden
    assert e >= max(0.0, t - c) - 1e-12  # never below the steady-state overlap


@given(finite, finite, st.floats(min_value=0.0, max_value=1.0), st.floats(min_value=1.0, max_value=100.0))
def test_pass_exposed_monotone_in_link_bandwidth(t, c, share, k):
    # a k-times faster link divides every gather time by k: the exposed time never grows
    assert z.pass_exposed(t / k, c, share * t / k) <= z.pass_exposed(t, c, share * t) + 1e-12


def test_pass_exposed_closed_forms():
    assert z.pass_exposed(1.0, 2.0) == 0.0  # hidden behind a longer compute
    assert z.pass_exposed(3.0, 2.0) == pytest.approx(1.0)
    assert z.pass_exposed(1.0, 2.0, 0.25) == pytest.approx(0.25)  # only the first module's gather shows
    assert z.first_fetch_exposed(2.0, 100.0, 25.0) == pytest.approx(0.5)


@pytest.mark.parametrize("call, field", [
    (lambda: z.pass_exposed(-1.0, 1.0), "t_gather"),
    (lambda: z.pass_exposed(1.0, float("nan")), "t_compute"),
    (lambda: z.pass_exposed(1.0, 1.0, 2.0), "t_first"),
    (lambda: z.first_fetch_exposed(1.0, 0.0, 0.0), "total_params"),
    (lambda: z.first_fetch_exposed(1.0, 10.0, 11.0), "first_params"),
    (lambda: z.gather_bytes_per_step(1e9, 0), "group"),
    (lambda: z.gather_bytes_per_step(1e9, 8, bytes_per_param=0.0), "bytes_per_param"),
])
def test_bad_input_names_the_field(call, field):
    with pytest.raises(TapeoutError, match=field):
        call()


def test_switch_is_a_boolean():
    assert isinstance(z.FIRST_FETCH_EXPOSED, bool)


def _zero3_lora(chip: str, n: int, overlap: bool):
    from tapeout.perf.mlperf import benchmarks
    from tapeout.perf.train_lora import adapters_of_benchmark
    from tapeout.perf.training import train
    lora = adapters_of_benchmark(benchmarks()["training"]["llama2-70b-lora"])
    return train("llama-2-70b", chip, n, n * 8192, 8192, "bf16", lora=lora, tp=1, pp=1, cp=1, zero=3,
                 recompute="full", mbs=1, zero_overlap_comm=overlap)


def _eval_step_without_gathers(monkeypatch, chip, n, overlap):
    from tapeout.perf import training
    monkeypatch.setattr(z, "EVAL_GATHERS", False)
    training.clear_cache()
    r = _zero3_lora(chip, n, overlap)
    monkeypatch.setattr(z, "EVAL_GATHERS", True)
    training.clear_cache()
    return r


def test_in_line_evaluation_pass_pays_the_whole_gather(monkeypatch):
    """DeepSpeed overlap_comm false (Intel's Gaudi2 LoRA config): an evaluation forward's gathers are in line like
    the training forward's, so each evaluation micro-batch adds exactly the forward's exposed all-gather."""
    bare = _eval_step_without_gathers(monkeypatch, "gaudi2", 8, overlap=False)
    r = _zero3_lora("gaudi2", 8, overlap=False)
    m = r.breakdown["m"]
    t_ag = r.breakdown["t_dp_all_gather"]
    assert r.breakdown["exposed_comm_s"]["dp_all_gather"] == pytest.approx(m * t_ag, rel=1e-9)
    assert r.breakdown["eval_step"] - bare.breakdown["eval_step"] == pytest.approx(m * t_ag, rel=1e-9)
    # the breakdown names the term (what `tapeout train` shows): m x t_ag on, 0 with the switch off
    assert r.breakdown["eval_gather_s"] == pytest.approx(m * t_ag, rel=1e-9) and bare.breakdown["eval_gather_s"] == 0.0
    assert r.step_time_s == pytest.approx(bare.step_time_s, rel=1e-12)  # training steps do not move


def test_overlapped_evaluation_pass_hides_what_its_forward_covers(monkeypatch):
    """overlap_comm true (Juniper's H100 config, 8 GPUs on NVLink): the gather (~0.3 s) is shorter than the forward
    (~2 s), so the evaluation pass adds max(0, t_ag - F) = 0."""
    bare = _eval_step_without_gathers(monkeypatch, "h100-sxm", 8, overlap=True)
    r = _zero3_lora("h100-sxm", 8, overlap=True)
    assert 0.0 < r.breakdown["t_dp_all_gather"] < r.breakdown["F"]
    assert r.breakdown["eval_step"] == pytest.approx(bare.breakdown["eval_step"], rel=1e-12)


def test_train_cli_rows_show_the_added_terms_only_where_nonzero():
    from tapeout.cli.train_cmds import _added_terms
    assert _added_terms({}) == [] and _added_terms({"step_fixed_work": {"total_s": 0.0}, "eval_gather_s": 0.0}) == []
    rows = _added_terms({"step_fixed_work": {"total_s": 0.0106}, "eval_gather_s": 0.25})
    assert [r[1] for r in rows] == [0.0106, 0.25]
    assert "per-step work" in rows[0][0] and "evaluation" in rows[1][0]
