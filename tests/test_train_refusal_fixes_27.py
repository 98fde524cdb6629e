"""Refusals of `tapeout train` that name the rule and fixes that really run (issue 18, stop 27).

1. The generic no-layout refusal (no stack) names the nearest global batches with a valid layout that fits
   memory (each run here through the CLI), not "a multiple of the data-parallel size".
2. The chip counts a refusal offers fit memory (the layout search's own check), not only the rules.
3. A userbuffers TP-overlap config runs at the TP it was written for and on its vendor's GPUs only: another
   pinned TP, or a chip without userbuffers, is one line naming the config's TP and the layout's (or the chip);
   unpinned, the search keeps the config's TP and says so.
"""

from __future__ import annotations

import json
import re

import pytest

from _cli import assert_clean, refusal, run_cli
from tapeout import api
from tapeout.errors import TapeoutError

SEQ = 2048
GPT3 = ["train", "--model", "gpt3-175b", "--chip", "h100-sxm", "--seq-len", str(SEQ)]




def test_no_layout_names_nearest_batches_that_run():
    # one sequence on 3,584 chips: DP must be 1, TP x PP x CP = 3,584 exceeds TP 8 x PP 96 x CP 1 -> no layout
    msg = refusal(GPT3 + ["--num-chips", "3584", "--global-batch-tokens", str(SEQ)])
    assert "breaks rule batch" in msg
    assert "multiple of the data-parallel size" not in msg
    tokens = [int(t) for t in re.findall(r"--global-batch-tokens (\d+)", msg)]
    assert tokens, msg
    # every suggested batch obeys the batch rule for its own example layout
    for g, dp in re.findall(r"([\d,]+) sequences \(e\.g\. TP\d+ PP\d+(?: CP\d+)? DP(\d+)", msg):
        assert int(g.replace(",", "")) % int(dp) == 0
    # the nearest one really runs
    code, out, err = run_cli(GPT3 + ["--num-chips", "3584", "--global-batch-tokens", str(tokens[0]), "--json"])
    assert code == 0, err
    assert "gpt3-175b" in out


def test_suggested_chip_counts_fit_memory():
    # 175B on 7 chips: 1,536 sequences leave DP no factor 7 and no even PP carries it (the stack's rule); 8 chips
    # split evenly (TP8) but 175B's weights, gradients and optimizer state do not fit 8 x 80 GB. Since stop 38 both
    # are refused before any search by the states held once (perf/training._refuse_unholdable), which names the
    # smallest chip count the search then runs (perf/chip_count; docs/notes/issue-18.md, Round stop-38 issue-45a)
    msg = refusal(["train", "--benchmark", "gpt3-175b", "--chip", "h100-sxm", "-n", "7"])
    n = int(re.search(r"add chips: ([\d,]+) is the smallest count", msg).group(1).replace(",", ""))
    assert n > 8
    eight = refusal(["train", "--benchmark", "gpt3-175b", "--chip", "h100-sxm", "-n", "8"])
    assert "does not fit in 8 chips" in eight
    code, out, err = run_cli(["train", "--benchmark", "gpt3-175b", "--chip", "h100-sxm", "-n", str(n), "--json"])
    assert code == 0, err


LORA = ["train", "--benchmark", "llama2-70b-lora", "--chip", "h100-sxm", "-n", "8", "-p", "fp8"]


@pytest.mark.parametrize("tp", [1, 2, 8])
def test_tp_overlap_at_another_tp_is_refused_with_a_fix_that_runs(tp):
    msg = refusal(LORA + ["--tp-overlap", "nemo-lora-fp8-h100-tp4", "--tp", str(tp)])
    assert "for TP 4" in msg and f"layout's TP is {tp}" in msg and "--tp 4" in msg
    if tp == 2:  # a config written for TP 2 is on file: named, and it runs
        assert "nemo-lora-fp8-h100-tp2" in msg
        code, out, err = run_cli(LORA + ["--tp-overlap", "nemo-lora-fp8-h100-tp2", "--tp", "2", "--json"])
        assert code == 0, err
    code, out, err = run_cli(LORA + ["--tp-overlap", "nemo-lora-fp8-h100-tp4", "--tp", "4", "--json"])
    assert code == 0, err


def test_tp_overlap_unpinned_runs_at_the_configs_tp_and_says_so():
    code, out, err = run_cli(LORA + ["--tp-overlap", "nemo-lora-fp8-h100-tp2", "--json"])
    assert code == 0, err
    d = json.loads(out)
    assert d["layout"]["tp"] == 2
    assert any("tp_overlap 'nemo-lora-fp8-h100-tp2'" in n and "TP 2" in n for n in d["notes"])


@pytest.mark.parametrize("chip", ["tpu-v5p", "mi300x"])
def test_tp_overlap_on_a_chip_without_userbuffers_is_refused(chip):
    msg = refusal(["train", "--benchmark", "llama2-70b-lora", "--chip", chip, "-n", "8",
                    "--tp-overlap", "nemo-lora-fp8-h100-tp4"])
    assert "userbuffers" in msg and chip in msg and "drop --tp-overlap" in msg
    code, out, err = run_cli(["train", "--benchmark", "llama2-70b-lora", "--chip", chip, "-n", "8", "--json"])
    assert code == 0, err


def test_api_refuses_like_the_cli():
    with pytest.raises(TapeoutError, match="for TP 4.*layout's TP is 2"):
        api.train(benchmark="llama2-70b-lora", chip="h100-sxm", num_chips=8, precision="fp8", tp=2,
                  tp_overlap="nemo-lora-fp8-h100-tp4")


def test_every_overlap_config_states_the_tp_its_name_and_source_give():
    from tapeout.perf.tp_overlap import get_overlap, overlap_names

    for name in overlap_names():
        ov = get_overlap(name)
        assert ov.tp == int(re.search(r"tp(\d+)", name).group(1)) and ov.vendor == "NVIDIA"


def test_refusals_say_one_sequence_in_the_singular():
    from tapeout.perf.train_layout import sequences

    assert sequences(1) == "1 sequence"
    assert sequences(2048) == "2,048 sequences"
    msg = refusal(["train", "--model", "gpt3-175b", "--chip", "h100-sxm", "--num-chips", "3584",
                   "--global-batch-tokens", "2048", "--seq-len", "2048"])
    assert "1 sequences" not in msg and "global batch 1 x 2048" in msg
