"""The two gaps the stop-38 bad-input review left (docs/notes/issue-18.md, Round stop-38 issue-44a / issue-45a).

1. A run whose states held once exceed its chips' memory is refused before any search (perf/training
   ._refuse_unholdable); its "add chips" now names the smallest chip count the layout search then runs
   (perf/chip_count.smallest_running_count), or "at least N" where the bounded work stopped, every count below N
   refused. Before: "add chips (at least 43)", and 43 .. 47 were refused again by the search.
2. A training result's `precision` (text, --json, Python API) is the recipe's / GEMM dtype's own name, never the
   user's spelling (FP8, float16, bfloat16, fp8_current, fp4).
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapeout
import tapeout.perf.training
from _cli import assert_clean, refusal, run_cli
from tapeout.errors import TapeoutError
from tapeout.perf.train_layout import TrainLayout, candidate_layouts, search_size
from tapeout.workloads.llm_config import load_llm

try:
    from tapeout.perf import chip_count
    from tapeout.perf.chip_count import CHECK_COST, COUNT_BUDGET, Count, smallest_running_count
except ImportError:  # before issue-45a: each test below fails, not the collection
    chip_count = Count = smallest_running_count = None
    CHECK_COST = COUNT_BUDGET = 0

GPT3 = ["train", "--model", "gpt3-175b", "-c", "h100-sxm"]
SMALLEST = re.compile(r"add chips: ([\d,]+) is the smallest count with a layout that fits at ([\d,]+) sequences")


def _count(msg: str) -> int:
    m = SMALLEST.search(msg)
    assert m, msg
    return int(m.group(1).replace(",", ""))


# ---------------------------------------------------------------- 1. the chip count the refusal names
@pytest.mark.parametrize("n", [7, 38])
def test_gpt3_short_of_memory_names_a_count_the_search_runs(n):
    # the bound is 43 chips (2,926 GiB over 69.6 GiB usable); 43 .. 47 are refused by the search (issue-44a's note)
    msg = refusal(GPT3 + ["-n", str(n)])
    assert "needs 2,926 GiB" in msg and f"does not fit in {n} chips" in msg
    k = _count(msg)
    assert k == 48 and "at least" not in msg
    code, out, err = run_cli(GPT3 + ["-n", str(k), "--json"])
    assert code == 0, err
    assert json.loads(out)["num_chips"] == k
    below = refusal(GPT3 + ["-n", str(k - 1)])  # the one below: refused by the search itself
    assert "no layout of gpt3-175b runs on 47" in below


def test_benchmark_short_of_memory_is_one_refusal_at_its_own_batch():
    # was "no global batch ... within 1,536-8,192 ... the most model-parallel TP1 PP1 DP7 ...: <bound>. The same at
    # the benchmark's own batch."; the bound holds at every batch and split, so it is said once, at 1,536 sequences
    msg = refusal(["train", "--benchmark", "gpt3-175b", "-c", "h100-sxm", "-n", "7"])
    assert "no global batch" not in msg and msg.count("does not fit in 7 chips") == 1
    assert SMALLEST.search(msg).group(2) == "1,536"
    k = _count(msg)
    code, out, err = run_cli(["train", "--benchmark", "gpt3-175b", "-c", "h100-sxm", "-n", str(k), "--json"])
    assert code == 0, err


def test_the_benchmark_batch_search_runs_one_count_search(monkeypatch):
    # the batch chooser stops at the first split's refusal (its TP x PP x CP pins would ask another question) and
    # refuses at the benchmark's own batch: the count is searched once, when that message is read
    import tapeout.perf.training as training

    calls = []
    real = training.smallest_running_count
    monkeypatch.setattr(training, "smallest_running_count", lambda *a, **k: calls.append(a[5]) or real(*a, **k))
    msg = refusal(["train", "--benchmark", "gpt3-175b", "-c", "h100-sxm", "-n", "7"])
    assert _count(msg) == 48 and len(calls) == 1
    assert not {"tp", "pp", "cp"} & {k for k, v in calls[0].items() if v is not None}  # the user's pins: none


def test_the_refusal_pickles_with_its_whole_message():
    import pickle

    with pytest.raises(TapeoutError) as e:
        tapeout.perf.training.train("gpt3-175b", "h100-sxm", 7, 1024 * 2048)
    back = pickle.loads(pickle.dumps(e.value))  # a worker process's error
    assert type(back) is TapeoutError and str(back) == str(e.value) and _count(str(back)) == 48


def test_the_refusal_is_one_line_and_the_search_stays_within_its_budget(monkeypatch):
    spent = []
    real = chip_count.candidate_layouts

    def spy(cfg, n, *a, **k):
        lays, why = real(cfg, n, *a, **k)
        spent.append(search_size(cfg, n, a[2], a[3], k.get("recompute_options")) + CHECK_COST * len(lays))
        return lays, why

    monkeypatch.setattr(chip_count, "candidate_layouts", spy)
    # Llama 3.1 405B at 128k context on A100-40GB: the bound (195) is far below any count that runs
    code, out, err = run_cli(["train", "--model", "llama-3.1-405b", "-c", "a100-sxm-40gb", "-n", "8", "--seq-len",
                              "131072", "--global-batch-tokens", "16777216"])
    assert_clean(code, out, err)
    assert code == 2
    m = re.search(r"add chips \(at least ([\d,]+): no count from 195 to ([\d,]+) has a layout that fits; the search "
                  r"stops at ([\d,]+) chips, its work budget spent", err)
    assert m, err
    least, last, stop = (int(x.replace(",", "")) for x in m.groups())
    assert least == stop == last + 1
    assert sum(spent[:-1]) <= COUNT_BUDGET  # the last count was built and only partly checked


def test_a_cluster_smaller_than_the_bound_is_said():
    msg = refusal(GPT3 + ["-n", "7", "--cluster", "juniper-h100-n4"])
    assert "add chips (at least 43: more than the cluster's 32 chips)" in msg


def test_a_given_layout_keeps_its_split():
    # a whole layout pins every field but DP: the count is a multiple of its TP x PP x CP
    with pytest.raises(TapeoutError) as e:
        tapeout.perf.training.train("gpt3-175b", "h100-sxm", 7, 1024 * 2048, 2048,
                                    layout=TrainLayout(tp=8, pp=8, dp=1, recompute="full"))
    k = _count(str(e.value))
    assert k % 64 == 0 and "(e.g. TP8 PP8 " in str(e.value)


# closed form on a synthetic keep: the answer is the smallest count >= start whose grid has a layout keep accepts,
# whatever the budget leaves; where the budget ends first, every count below the one named was wholly checked
CFG = load_llm("llama-3.1-8b")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.integers(1, 60), threshold=st.integers(1, 80), tp_min=st.sampled_from([1, 2, 4, 8]),
       budget=st.integers(0, 4000))
def test_smallest_running_count_is_the_first_count_kept(start, threshold, tp_min, budget):
    def keep(lay, n):
        return n >= threshold and lay.tp >= tp_min

    def kept_at(n):
        return any(keep(x, n) for x in candidate_layouts(CFG, n, 8, 64, 2048, {"vp": 1})[0])

    got = smallest_running_count(CFG, start, 8, 64, 2048, {"vp": 1}, keep, budget=budget)
    full = smallest_running_count(CFG, start, 8, 64, 2048, {"vp": 1}, keep)
    if got.chips is not None:
        assert got.chips >= start and kept_at(got.chips) and keep(got.layout, got.chips)
        assert not any(kept_at(n) for n in range(start, got.chips))
        assert got.chips == full.chips  # the budget only ever stops the search, never changes its answer
    else:
        assert got.next_unchecked >= start and "COUNT_BUDGET" in got.why_stopped
        assert not any(kept_at(n) for n in range(start, got.next_unchecked))
    if threshold <= 64:  # 64 chips split TP8 x DP8 at 64 sequences: the default budget finds a count
        assert full.chips is not None and full.chips <= max(start, 64)


def test_a_count_past_the_cluster_is_never_named():
    got = smallest_running_count(CFG, 10, 8, 64, 2048, {"vp": 1}, lambda lay, n: n >= 40, most=32)
    assert got == Count(None, None, 33, "no count from 10 to 32 has a layout that fits; the cluster ends at 32 chips")


# ---------------------------------------------------------------- 2. the precision shown
@pytest.mark.parametrize("asked, name", [("FP8", "fp8"), ("float16", "fp16"), ("bfloat16", "bf16"),
                                         ("fp8_current", "fp8current"), ("fp8-delayed", "fp8"), ("INT8", "int8")])
def test_the_result_names_the_recipe_not_the_spelling(asked, name):
    r = tapeout.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, precision=asked)
    assert r.precision == name
    s = next(x for x in r.stack["settings"] if x["setting"] == "precision")
    assert s["value"] == name and s["from"] == f"--precision {asked!r}, read as {name}"
    assert tapeout.perf.training.train("llama-3.1-8b", "h100-sxm", 8, 1024 * 2048, precision=asked).precision == name


def test_fp4_is_shown_as_nvfp4_in_text_and_json():
    args = ["train", "--model", "llama-3.1-8b", "-c", "b200", "-n", "8", "--precision", "fp4"]
    code, out, err = run_cli(args + ["--json"])
    assert code == 0, err
    assert json.loads(out)["precision"] == "nvfp4"  # fp4 alone could be read as MXFP4
    code, out, err = run_cli(args)
    assert code == 0, err
    row = next(ln for ln in out.splitlines() if re.search(r"\bprecision\b", ln))
    assert "nvfp4" in row and not re.search(r"\bfp4\b", row)


def test_a_name_already_canonical_says_only_its_flag():
    r = tapeout.train(model="llama-3.1-8b", chip="h100-sxm", num_chips=8, precision="fp8")
    assert r.precision == "fp8"
    assert next(x for x in r.stack["settings"] if x["setting"] == "precision")["from"] == "--precision"


def test_an_unknown_precision_is_still_one_line():
    msg = refusal(["train", "--model", "llama-3.1-8b", "-c", "h100-sxm", "-n", "8", "--precision", "tf32"])
    assert "unknown training precision 'tf32'" in msg
