"""MLPerf Training flux1 (Flux.1-schnell MMDiT, issue 18): the training graph against closed forms from the
block dimensions (mlcommons/training text_to_image README '4. Model'; black-forest-labs/flux model.py), the
step's backward and full activation recompute (torchtitan flux_schnell_mlperf.toml), HSDP collectives,
evaluation passes (README 'Evaluation frequency' / 'thoroughness'), and `tapeout train --benchmark flux1`."""

from __future__ import annotations

import json
import math

import pytest

from _cli import refusal, run_cli
from tapeout import api
from tapeout.hardware.catalog import get_chip
from tapeout.ops import Attention, MatMul, OpGraph
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.collectives import collective_time, topology_for
from tapeout.perf.fsdp import exposed_hsdp_s, hsdp_step_collectives
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_backward import backward_time
from tapeout.perf.train_clock import board_power, graph_time
from tapeout.validation.other_rows import fact, training_graphs
from tapeout.validation.other_training import training_time

D, MLP, HEADS, DOUBLE, SINGLE = 3072, 4 * 3072, 24, 19, 38
IMG, TXT, IN_CH, CTX, VEC, TIME = 256, 256, 64, 4096, 768, 256  # 256x256 -> 32x32x16 latents -> 2x2 packed


def mmdit_params() -> float:
    """Weights (no biases) of the Flux.1 MMDiT from its block dimensions.
    double block: img + txt modulation 2 x 6d^2; per stream qkv 3d^2, proj d^2, MLP 2 x 4d^2;
    single block: modulation 3d^2, linear1 d x (3d + 4d), linear2 (d + 4d) x d;
    embedders img_in 64d, txt_in 4096d, time_in 256d + d^2, vector_in 768d + d^2; final adaLN 2d^2 + proj 64d."""
    d = D
    double = 2 * 6 * d * d + 2 * (3 * d * d + d * d + 2 * d * MLP)
    single = 3 * d * d + d * (3 * d + MLP) + (d + MLP) * d
    embed = IN_CH * d + CTX * d + (TIME * d + d * d) + (VEC * d + d * d)
    final = 2 * d * d + d * IN_CH
    return DOUBLE * double + SINGLE * single + embed + final


def test_mmdit_parameter_count_is_the_readme_11_9b():
    g, _, dense = training_graphs("flux1", 1)
    assert dense / 2.0 == pytest.approx(mmdit_params(), rel=1e-12)  # bf16 weight bytes / 2
    assert mmdit_params() == pytest.approx(11.9e9, rel=0.02)


def test_forward_flops_per_sample_closed_form():
    """2 x weights x the tokens each weight sees (double-stream weights: their stream's 256 tokens; single-stream:
    all 512; modulation / embedders of the timestep and pooled vector: one row) + attention 4 L^2 d per block
    (QK^T and PV) and 5 per score of softmax, L = 512 joint tokens."""
    n = 4
    g, _, _ = training_graphs("flux1", n)
    gemm = sum(o.flops * o.count for o in g.ops if isinstance(o, MatMul))
    attn = sum(o.flops * o.count for o in g.ops if isinstance(o, Attention))
    d, L = D, IMG + TXT
    stream = 3 * d * d + d * d + 2 * d * MLP
    per_token = (IMG * IN_CH * d + TXT * CTX * d + DOUBLE * (IMG + TXT) * stream
                 + SINGLE * L * (d * (3 * d + MLP) + (d + MLP) * d) + IMG * d * IN_CH)
    per_row = TIME * d + d * d + VEC * d + d * d + DOUBLE * 12 * d * d + SINGLE * 3 * d * d + 2 * d * d
    assert gemm == pytest.approx(n * 2 * (per_token + per_row), rel=1e-12)
    blocks = DOUBLE + SINGLE
    assert attn == pytest.approx(n * blocks * (4 * L * L * d + 5 * L * L * HEADS), rel=1e-12)
    # the 2 x params x tokens rule: every block weight sees 256 (double-stream) or 512 (single-stream) tokens
    assert 2 * mmdit_params() * IMG < gemm / n < 2 * mmdit_params() * L


@pytest.fixture(scope="module")
def h100():
    chip = get_chip("h100-sxm")
    return chip, calibrated_params(chip)


def test_backward_is_twice_the_forward_gemms_less_the_input_layers(h100):
    """Linear layers: dgrad + wgrad = 2x the forward GEMM; the four layers reading data / frozen-encoder outputs
    (img_in, txt_in, time_in.in, vector_in.in) run their weight gradient only."""
    _, p = h100
    g, _, _ = training_graphs("flux1", 8)
    mm = OpGraph("mm", [o for o in g.ops if isinstance(o, MatMul)], g.meta)
    each = {o.name: float(evaluate(OpGraph("one", [o], g.meta), p).total_time) for o in mm.ops}
    pats = tuple(fact("train_no_input_grad", "flux1"))
    assert set(pats) <= set(each)
    want = sum(t * (1.0 if name in pats else 2.0) for name, t in each.items())
    assert backward_time(mm, p, pats) == pytest.approx(want, rel=1e-9)


def test_full_recompute_reruns_every_block_forward(h100):
    chip, p = h100
    r = training_time("flux1", chip, 8, 512, None)
    g, _, _ = training_graphs("flux1", 64)
    blocks = [o for o in g.ops if o.name.startswith(("flux.double.", "flux.single."))]
    # the blocks' forward again, at the training GEMMs' clock (perf/train_clock: H100 takes H200's MSMF ceiling)
    assert r["recompute_s"] == pytest.approx(graph_time(OpGraph("b", blocks, g.meta), p, board_power(chip)), rel=1e-12)
    assert r["recompute_s"] >= float(evaluate(OpGraph("b", blocks, g.meta), p).total_time)
    assert 0.9 * r["fwd_s"] < r["recompute_s"] <= r["fwd_s"]  # the blocks are nearly all of the forward
    assert r["step_s"] >= r["fwd_s"] + r["bwd_s"] + r["recompute_s"]


def test_hsdp_collectives_inside_one_domain_and_across_replicas(h100):
    chip, p = h100
    topo = topology_for(p, chip.family)
    elems = 1e9
    f, b = hsdp_step_collectives(elems, 8, topo.domain, topo, 2, 4)
    ag = float(collective_time("all_gather", 2e9, 8, topo)[0])
    rs = float(collective_time("reduce_scatter", 4e9, 8, topo)[0])
    assert f == pytest.approx(ag) and b == pytest.approx(ag + rs)
    f64, b64 = hsdp_step_collectives(elems, 64, topo.domain, topo, 2, 4)
    assert f64 == pytest.approx(ag)  # the shard group stays the node
    x = float(collective_time("all_reduce", 4e9 / 8, 8, topo, stride=8)[0])
    assert b64 == pytest.approx(ag + rs + x)
    assert exposed_hsdp_s(1.0, 2.0, 0.5, 1.5) == 0.0
    assert exposed_hsdp_s(1.0, 2.0, 1.5, 2.25) == pytest.approx(0.75)


def test_evaluation_passes_follow_the_definition(h100):
    chip, _ = h100
    samples, gb = 7_340_032.0, 512
    r = training_time("flux1", chip, 8, gb, samples)
    assert r["n_evals"] == round(samples / 262_144)
    assert r["eval_min"] == pytest.approx(r["n_evals"] * math.ceil(29_696 / gb) * r["fwd_s"] / 60.0, rel=1e-12)
    assert r["minutes"] == pytest.approx((samples / gb * r["step_s"]) / 60.0 + r["eval_min"], rel=1e-12)


def test_cli_runs_from_the_rcp_definition_and_json_is_the_api():
    code, out, _ = run_cli(["train", "--benchmark", "flux1", "--chip", "h100-sxm", "-n", "8", "--json"])
    assert code == 0
    d = json.loads(out)
    assert d == api.train_benchmark("flux1", "h100-sxm", 8).to_dict()
    assert d["global_batch"] == 512 and d["time_to_train_min"] > 0
    assert "training_6.0.0/rcps_flux1.json" in d["samples_to_converge_from"]


def test_given_batch_above_the_largest_rcp_gives_throughput_only():
    # 8,192 on 8 H100s (1,024 per chip) does not fit memory (validation/train_fit.py): 64 chips hold it
    r = api.train_benchmark("flux1", "h100-sxm", 64, global_batch=8192)
    assert r.time_to_train_min is None and r.samples_per_s > 0


@pytest.mark.parametrize("args", [["--global-batch", "0"], ["-n", "0"], ["--tp", "2"]])
def test_bad_input_exits_2_with_one_line(args):
    refusal(["train", "--benchmark", "flux1", "--chip", "h100-sxm", *args])


def test_default_batch_is_the_rcp_batch_with_the_smallest_time_to_train():
    """Several RCP batches on file (v6.0: 512-4096): without --global-batch the run takes the fastest of them."""
    from tapeout.perf.convergence import LATEST, rcp_batches

    r = api.train_benchmark("flux1", "h100-sxm", 64)
    others = [api.train_benchmark("flux1", "h100-sxm", 64, global_batch=b).time_to_train_min
              for b in rcp_batches("train-flux1", LATEST)]
    assert r.global_batch in rcp_batches("train-flux1", LATEST)
    assert r.time_to_train_min == pytest.approx(min(others), rel=1e-12)
    assert "smallest time to train" in r.global_batch_from
