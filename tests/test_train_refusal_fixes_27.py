"""Refusals of `tapeout train` that name the rule and fixes that really run (issue 18, stop 27).

1. The generic no-layout refusal (no stack) names the nearest global batches with a valid layout that fits
   memory (each run here through the CLI), not "a multiple of the data-parallel size".
2. The chip counts a refusal offers fit memory (the layout search's own check), not only the rules.
"""

from __future__ import annotations

import re

from _cli import assert_clean, run_cli

SEQ = 2048
GPT3 = ["train", "--model", "gpt3-175b", "--chip", "h100-sxm", "--seq-len", str(SEQ)]


def _refused(args: list[str]) -> str:
    code, out, err = run_cli(args)
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_no_layout_names_nearest_batches_that_run():
    # one sequence on 3,584 chips: DP must be 1, TP x PP x CP = 3,584 exceeds TP 8 x PP 96 x CP 1 -> no layout
    msg = _refused(GPT3 + ["--num-chips", "3584", "--global-batch-tokens", str(SEQ)])
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


def _counts(msg: str) -> list[int]:
    m = re.search(r"chip counts with an? (?:even|valid) layout that fits memory at [\d,]+ sequences: ([\d, ]+)", msg)
    assert m, msg
    return [int(c) for c in m.group(1).split(", ")]


def test_suggested_chip_counts_fit_memory():
    # 175B on 7 chips: 1,536 sequences leave DP no factor 7 and no even PP carries it (the stack's rule); 8 chips
    # split evenly (TP8) but 175B's weights, gradients and optimizer state do not fit 8 x 80 GB: not offered
    msg = _refused(["train", "--benchmark", "gpt3-175b", "--chip", "h100-sxm", "-n", "7"])
    counts = _counts(msg)
    assert 6 not in counts and 8 not in counts
    eight = _refused(["train", "--benchmark", "gpt3-175b", "--chip", "h100-sxm", "-n", "8"])
    assert "exceeds memory" in eight
    for n in counts:
        code, out, err = run_cli(["train", "--benchmark", "gpt3-175b", "--chip", "h100-sxm", "-n", str(n), "--json"])
        assert code == 0, err
