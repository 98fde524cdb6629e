"""NVIDIA's Mask R-CNN eager (uncaptured) part: calls tallied from its source (other_benchmarks.yaml
maskrcnn_train.eager_calls) priced by perf/train_host.py's rule (validation/maskrcnn_host.py)."""

import pytest
from _cli import assert_clean, run_cli
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf.host_issue import call_cpu_s, host_issue_table
from tapeout.validation import maskrcnn_host as mh
from tapeout.validation.other_training import training_time

C = 13.48e-6  # host_issue.yaml call_cpu_us torch_linear of the reference host (TE #2053, H100 DGX row)


def test_per_call_time_is_host_issue_reference():
    """The per-call CPU time is host_issue.yaml's (the LLM eager path's source), not a new constant."""
    ref = host_issue_table()["reference_host"]
    assert call_cpu_s(ref) == pytest.approx(C)
    assert mh.step_host_idle(get_chip("h100-sxm"), *_step("h100-sxm", 2))["call_cpu_us"] == pytest.approx(13.48)


FWD_N = 1 + 28 + 53 + 35 + 26 + 47 + 37 + 16 + 28 + 29 + 5  # per-step forward calls at n > 1 (per image: 5 + 6)


@pytest.mark.parametrize("n", [2, 3, 8, 16])
def test_eager_calls_closed_form(n):
    """More than one image per GPU: forward = graph replay 1 + RPN selection (18 + 2 x 5 levels) + RPN targets 53 +
    RPN sampler 35 + RPN loss 26 + RoI matching 47 + RoI sampler 37 + per-image selection 5n + box head 16 + box loss
    28 + mask head (29 + 6n) + loss sum 5; backward = box 33 + mask 37 + graph replay 1 + optimizer 6; 14 host syncs
    (matcher 1, RPN sampler 6, RoI sampler 6 + the counts' list 1)."""
    assert mh.eager_calls(n) == {"forward": FWD_N + 11 * n, "backward": 33 + 37 + 1 + 6}
    assert mh.syncs_per_step(n) == 14


def test_one_image_per_gpu_runs_only_the_mask_head_eagerly():
    """GraphableTrainBS1 captures the RPN selection and loss, the sampling and the box head: eager are the graph
    replays, the mask head (29 + 6), the loss sum, its backward and the optimizer; no sync."""
    assert mh.eager_calls(1) == {"forward": 1 + 29 + 6 + 5, "backward": 37 + 1 + 6}
    assert mh.syncs_per_step(1) == 0
    assert {p["name"] for p in mh.eager_pieces(1)} == {"graph_forward", "mask_head", "loss_sum", "mask_backward",
                                                        "graph_backward", "optimizer"}


@pytest.mark.parametrize("n,k", [(35, 6), (37, 7), (53, 1), (5, 0), (3, 4)])
def test_split_calls(n, k):
    runs = mh.split_calls(n, k)
    assert len(runs) == k + 1 and sum(runs) == n and min(runs) >= 0


def _uniform(images, g_call=0.0):
    """piece GPU seconds with every eager call doing g_call of GPU work; a 1 s captured forward and backward."""
    ps = {p["name"]: mh.calls(p, images) * g_call for p in mh.eager_pieces(images)
          if p["name"] not in ("graph_forward", "graph_backward", "optimizer")}
    passes = {p["name"]: p["pass"] for p in mh.pieces()}
    ef = sum(v for k, v in ps.items() if passes[k] == "forward")
    eb = sum(v for k, v in ps.items() if passes[k] == "backward")
    return ps, 1.0 + ef, 1.0 + eb


@pytest.mark.parametrize("n", [2, 5, 12])
def test_idle_closed_form_after_the_first_sync(n):
    """No GPU work in the eager calls: the calls before the first sync (the RPN selection and the first half of the
    RPN targets, 28 + 26) hide behind the 1 s captured forward (idle: the replay's own call); after it the GPU
    waits at every sync, so every call up to the backward replay is exposed; the 6 optimizer calls hide behind the
    1 s captured backward: c x (1 + all calls - the forward replay - 28 - 26 - 6)."""
    ps, tf, tb = _uniform(n)
    total = sum(mh.eager_calls(n).values())
    assert mh.host_idle_s(n, C, tf, tb, ps) == pytest.approx(C * (1 + total - 1 - 28 - 26 - 6), rel=1e-9)


def test_captured_part_pays_no_per_kernel_cost():
    """The captured graph is one call per replay whatever its GPU time (its kernels are not counted): growing
    the captured forward / backward does not change the idle, and one image per GPU (all behind the replay,
    no sync) leaves only the replay's own call."""
    ps, tf, tb = _uniform(4)
    a = mh.host_idle_s(4, C, tf, tb, ps)
    assert mh.host_idle_s(4, C, tf * 10, tb * 10, ps) == pytest.approx(a, rel=1e-12)
    ps1, tf1, tb1 = _uniform(1)
    assert mh.host_idle_s(1, C, tf1, tb1, ps1) == pytest.approx(C, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 32), st.floats(1e-6, 50e-6))
def test_flat_per_launch_and_linear_in_calls(n, c):
    """Idle is c x calls when the eager calls carry no GPU work: exactly proportional to the per-call time (flat in
    batch per launch) and, from one batch to the next, it grows by c x the per-image calls (11)."""
    ps, tf, tb = _uniform(n)
    ps2, tf2, tb2 = _uniform(n + 1)
    i1, i2 = mh.host_idle_s(n, c, tf, tb, ps), mh.host_idle_s(n + 1, c, tf2, tb2, ps2)
    assert i1 / c == pytest.approx(mh.host_idle_s(n, c / 2, tf, tb, ps) / (c / 2), rel=1e-9)
    assert i2 - i1 == pytest.approx(11 * c, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 24), st.floats(0.0, 40e-6))
def test_idle_bounded_by_issue_time(n, g):
    """GPU work behind the calls only hides issue time: 0 <= idle <= c x every call of the step, and once every call
    carries more GPU work than its issue time, only each sync segment's first call is exposed (<= c x (syncs + 1))."""
    ps, tf, tb = _uniform(n, g)
    idle = mh.host_idle_s(n, C, tf, tb, ps)
    total = sum(mh.eager_calls(n).values())
    assert 0.0 <= idle <= C * total + 1e-12
    if g > C:
        assert idle <= C * (mh.syncs_per_step(n) + 1) * (1 + 1e-9)


def _step(chip, n):
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.train_backward import backward_time
    from tapeout.perf.train_clock import board_power, graph_time
    from tapeout.validation.other_rows import training_graphs
    c = get_chip(chip)
    g, _, _ = training_graphs("maskrcnn", n, c)
    p = calibrated_params(c, None)
    return g, p, n, graph_time(g, p, board_power(c)), backward_time(g, p), 0.0


def test_grows_with_roi_heads_per_step():
    """More images per GPU -> more RoI heads per step: more eager calls, and the step's host term is not smaller
    at 12 images than at 2 on the same chip (the per-image selection calls lead the post-sync segment)."""
    a, b = mh.eager_calls(2), mh.eager_calls(12)
    assert b["forward"] - a["forward"] == 10 * 11 and b["backward"] == a["backward"]
    h2 = mh.step_host_idle(get_chip("h100-sxm"), *_step("h100-sxm", 2))["host_idle_s"]
    h12 = mh.step_host_idle(get_chip("h100-sxm"), *_step("h100-sxm", 12))["host_idle_s"]
    assert 0.0 < h2 <= h12


def test_switch_and_vendor_scope(monkeypatch):
    """On: NVIDIA rows carry the term in the step; a TPU row (XLA, no eager host calls) does not; off: no term."""
    r = training_time("maskrcnn", get_chip("h100-sxm"), 8, 16, None)
    assert r["host_issue"]["host_idle_s"] > 0
    assert r["step_s"] == pytest.approx(r["fwd_s"] + r["bwd_s"] + r["once_s"] + r["allreduce_s"] + r["optimizer_s"]
                                        + r["host_issue"]["host_idle_s"], rel=1e-9)
    assert "host_issue" not in training_time("maskrcnn", get_chip("tpu-v4"), 8, 16, None)
    monkeypatch.setattr(mh, "MASKRCNN_EAGER_HOST", False)
    off = training_time("maskrcnn", get_chip("h100-sxm"), 8, 16, None)
    assert "host_issue" not in off and off["step_s"] < r["step_s"]


def test_bad_images_refused():
    with pytest.raises(TapeoutError, match="images per GPU"):
        mh.calls(mh.pieces()[0], 0)
    with pytest.raises(TapeoutError, match="call_s"):
        mh.host_idle_s(2, -1.0, 1.0, 1.0, {})


def test_cli_shows_the_host_term():
    """`tapeout train --benchmark maskrcnn` prints the eager host term (calls, syncs, per-call time, host) next to
    the step breakdown, and its step time includes it."""
    code, out, err = run_cli(["train", "--benchmark", "maskrcnn", "-c", "h100-sxm", "-n", "8"])
    assert_clean(code, out, err)
    assert code == 0
    assert "eager host issue outside the CUDA graph" in out and "host syncs per step" in out
    from tapeout.api.other_train import train_benchmark  # the CLI's run: the RCP batch with the shortest time to train

    gb = train_benchmark("maskrcnn", "h100-sxm", 8).global_batch
    r = training_time("maskrcnn", get_chip("h100-sxm"), 8, gb, None)
    assert f"{r['host_issue']['host_idle_s']:.3g}" in out
