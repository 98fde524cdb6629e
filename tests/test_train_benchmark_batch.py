"""`tapeout train --benchmark gpt3-175b -n 3584 --global-batch-tokens 3145728`: an answer or a refusal a user
can act on (issue 18, stop 26). (Without a batch, --benchmark chooses one: tests/test_train_rcp_batch.py.)

The NeMo stack of the benchmark's round runs even pipeline stages only; the reference batch of
1,536 sequences (2^9 x 3) leaves DP no factor 7 on 3,584 = 2^9 x 7 chips, so TP x PP x CP must carry the 7
and no PP dividing 96 layers does. The refusal at that pinned batch names that rule and the nearest batches the benchmark lets a
submitter choose that do split (each checked here against the rules, independently of the message's
arithmetic), nearby chip counts and --stack none. --benchmark also runs the precision the benchmark's NVIDIA
submissions ran (FP8 where the chip has it), shown with its source and overridable."""

from __future__ import annotations

import math
import re

import pytest

from _cli import assert_clean, run_cli
from tapeout import api
from tapeout.errors import TapeoutError
from tapeout.perf.mlperf import benchmarks
from tapeout.perf.train_layout import candidate_layouts, even_stages, nearest_global_batches
from tapeout.workloads.llm_config import load_llm

GPT3 = load_llm("gpt3-175b")
SEQ = 2048
DOMAIN = 8  # H100 SXM: one 8-GPU NVLink domain
REF = ["--global-batch-tokens", str(1536 * 2048)]  # the reference batch, pinned (the user's batch wins)


def _even_layout_exists(n: int, g: int) -> bool:
    """Whether some layout obeys every rule and splits the 96 layers evenly: by brute force over the rules."""
    lays = candidate_layouts(GPT3, n, DOMAIN, g, SEQ, {"vp": 1, "mbs": 1, "zero": 1, "recompute": "full"})[0]
    return any(even_stages(GPT3.num_hidden_layers, lay.pp, lay.vp) for lay in lays)


def _refusal(n: int) -> str:
    code, out, err = run_cli(["train", "--benchmark", "gpt3-175b", "--chip", "h100-sxm", "-n", str(n), *REF])
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("n", [3584, 10752])
def test_refusal_names_the_batch_rule_and_the_factor_it_leaves(n):
    msg = _refusal(n)
    # 1536 = 2^9 x 3; n = 2^9 x 7 (x 3 for 10,752): the batch lacks n's factor 7
    assert "breaks rule batch" in msg and "must be a multiple of 7" in msg, msg
    assert "even_pipeline" in msg and "--stack none" in msg
    assert "TP1 PP7" not in msg  # no layout the user never chose is blamed


@pytest.mark.parametrize("n", [3584, 10752])
def test_suggested_batches_are_the_nearest_allowed_ones_that_split(n):
    msg = _refusal(n)
    lo, hi = (int(benchmarks()["training"]["gpt3-175b"]["global_batch_range"][k]) for k in ("min", "max"))
    found = [int(g.replace(",", "")) for g in re.findall(r"([\d,]+) sequences \(e\.g\.", msg)]
    assert found, msg
    for g in found:
        assert lo <= g <= hi
        assert f"--global-batch-tokens {g * SEQ}" in msg
        assert _even_layout_exists(n, g)
    # nothing nearer to 1,536 inside the range splits: the suggestions are the nearest
    far = max(abs(g - 1536) for g in found)
    nearer = [g for g in range(max(lo, 1536 - far + 1), min(hi, 1536 + far)) if g != 1536 and g not in found]
    assert not any(_even_layout_exists(n, g) for g in nearer)


def test_suggested_chip_counts_split_the_default_batch_evenly():
    msg = _refusal(3584)
    counts = [int(c) for c in re.search(r"even layout that fits memory at 1,536 sequences: ([\d, ]+);", msg).group(1).split(", ")]
    assert len(counts) == 2 and counts[0] < 3584 < counts[1]
    assert all(_even_layout_exists(c, 1536) for c in counts)
    assert not any(_even_layout_exists(c, 1536) for c in range(counts[0] + 1, counts[1]))


def test_the_suggested_batch_runs_and_trains_to_its_own_convergence_point():
    g = int(re.search(r"([\d,]+) sequences \(e\.g\.", _refusal(3584)).group(1).replace(",", ""))
    r = api.train(benchmark="gpt3-175b", chip="h100-sxm", num_chips=3584, global_batch_tokens=g * SEQ)
    lay = r.layout
    assert lay["tp"] * lay["pp"] * lay["cp"] * lay["dp"] == 3584
    assert GPT3.num_hidden_layers % lay["pp"] == 0 and (GPT3.num_hidden_layers // lay["pp"]) % lay["vp"] == 0
    assert g % (lay["dp"] * lay["mbs"]) == 0
    assert r.time_to_train_min > 0
    gb = r.to_dict()["global_batch"]  # the pinned batch, trained to the RCPs' convergence point at that batch
    assert gb["sequences"] == g and gb["from"] == "--global-batch-tokens"
    assert "RCP" in gb["convergence"]["rule"] and any("data/mlperf/rcps.yaml" in n for n in r.notes)


def test_without_the_stack_the_default_batch_still_runs():
    r = api.train(benchmark="gpt3-175b", chip="h100-sxm", num_chips=3584, stack="none", global_batch_tokens=1536 * SEQ)
    assert r.layout["pp"] % 7 == 0  # uneven first / last stages carry the 7


def test_a_pinned_uneven_pipeline_still_names_the_layers_rule():
    for batch in ({}, {"global_batch_tokens": 1536 * SEQ}):  # chosen (no split is even at PP 7) or pinned
        with pytest.raises(TapeoutError, match=r"splits the 96 layers of gpt3-175b unevenly over PP 7"):
            api.train(benchmark="gpt3-175b", chip="h100-sxm", num_chips=3584, pp=7, **batch)


def _cli_refusal(args: list[str]) -> str:
    code, out, err = run_cli(["train", "--chip", "h100-sxm", *args])
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    return " ".join(err.split())


def test_a_pinned_uneven_vp_gets_the_nearest_even_layouts_that_run():
    """PP 8 x VP 5 over 96 layers is uneven (12 layers per stage, VP 5 does not divide them): the refusal
    names the layers rule and offers layouts that split evenly and do run (stop-30 review: it named the
    rule only)."""
    msg = _cli_refusal(["--benchmark", "gpt3-175b", "-n", "3072", "--pp", "8", "--vp", "5"])
    assert "unevenly over PP 8 x VP 5" in msg and "nearest even layouts that fit memory" in msg, msg
    offered = re.findall(r"TP(\d+) PP(\d+)(?:\(v(\d+)\))? DP(\d+)", msg.split("nearest even layouts")[1])
    assert offered, msg
    for tp, pp, vp, dp in offered:
        assert even_stages(96, int(pp), int(vp or 1)) and int(tp) * int(pp) * int(dp) == 3072
        api.train(benchmark="gpt3-175b", chip="h100-sxm", num_chips=3072, tp=int(tp), pp=int(pp), vp=int(vp or 1))


def test_a_pinned_uneven_pp_with_no_even_split_left_gets_the_batch_fixes():
    """PP 7 on 3,584 chips: no even PP x VP runs at the default batch either (the 7 must go to TP x PP x CP),
    so the refusal goes on to the batches and chip counts that do split (stop-30 review: it named the
    rule only)."""
    msg = _cli_refusal(["--benchmark", "gpt3-175b", "-n", "3584", "--pp", "7"])
    assert "unevenly over PP 7" in msg and "breaks rule batch" in msg and "--stack none" in msg, msg
    found = [int(g.replace(",", "")) for g in re.findall(r"([\d,]+) sequences \(e\.g\.", msg)]
    assert found, msg
    assert all(_even_layout_exists(3584, g) for g in found)


def test_nearest_global_batches_stay_in_bounds_nearest_first():
    out = nearest_global_batches(GPT3, 3584, DOMAIN, 1536, SEQ, bounds=(1536, 8192),
                                 keep=lambda lay, g: even_stages(96, lay.pp, lay.vp))
    gs = [g for g, _ in out]
    assert len(gs) == 3 and all(1536 <= g <= 8192 for g in gs)
    assert [abs(g - 1536) for g in gs] == sorted(abs(g - 1536) for g in gs)
    for g, lay in out:
        assert g % (lay.dp * lay.mbs) == 0 and 96 % lay.pp == 0
    assert nearest_global_batches(GPT3, 3584, DOMAIN, 1536, SEQ, bounds=(1536, 1539)) == []


# --- precision: the benchmark's NVIDIA submissions ran FP8 ------------------------------------------------------

def _shown(r, key="precision"):
    return {x["setting"]: x for x in r.to_dict()["stack"]["settings"]}[key]


def test_benchmark_runs_its_submissions_precision_shown_and_overridable():
    kw = dict(benchmark="gpt3-175b", chip="h100-sxm", num_chips=512, global_batch_tokens=1536 * SEQ)
    d = api.train(**kw)
    assert d.precision == "fp8"
    assert "precision_rules" in _shown(d)["from"] and "--precision" in _shown(d)["from"]
    same = api.train(**kw, precision="fp8")
    assert math.isclose(d.step_time_s, same.step_time_s, rel_tol=1e-12) and _shown(same)["from"] == "--precision"
    bf = api.train(**kw, precision="bf16")
    assert bf.precision == "bf16" and _shown(bf)["from"] == "--precision"
    assert bf.step_time_s > d.step_time_s  # FP8 GEMMs at twice the dense BF16 rate on H100


def test_precision_default_is_bf16_off_the_nvidia_stack():
    ref = 1536 * SEQ
    assert api.train(benchmark="gpt3-175b", chip="tpu-v5p", num_chips=1024, global_batch_tokens=ref).precision == "bf16"  # stack not applied
    assert api.train(benchmark="gpt3-175b", chip="h100-sxm", num_chips=3584, stack="none", global_batch_tokens=ref).precision == "bf16"
    assert api.train(benchmark="llama2-70b-lora", chip="a100", num_chips=8).precision == "bf16"  # no FP8 on A100
    plain = api.train(model="llama-2-7b", chip="h100", num_chips=8)
    assert plain.precision == "bf16" and _shown(plain)["from"].startswith("default")


def test_cli_shows_the_precision_row():
    code, out, err = run_cli(["train", "--benchmark", "llama2-70b-lora", "--chip", "h100", "-n", "8", "--tp", "4",
                              "--pp", "1", "--cp", "1"])
    assert_clean(code, out, err)
    assert code == 0 and re.search(r"precision\s+│\s+fp8", out), out[:3000]


def test_a_benchmark_batch_outside_its_range_on_file_is_named():
    """Review 26rv: the benchmark's batch range (benchmarks.yaml global_batch_range) is on file; a run outside
    it says so beside the convergence note, one inside it does not."""
    lo, hi = (benchmarks()["training"]["gpt3-175b"]["global_batch_range"][k] for k in ("min", "max"))
    out = api.train(benchmark="gpt3-175b", chip="h100-sxm", num_chips=512, global_batch_tokens=512 * SEQ)
    assert any(f"outside the {lo:,}-{hi:,} sequences" in n for n in out.notes)
    inside = api.train(benchmark="gpt3-175b", chip="h100-sxm", num_chips=512, global_batch_tokens=2048 * SEQ)
    assert any("RCP at BS 2048" in n for n in inside.notes) and not any("outside the" in n for n in inside.notes)
