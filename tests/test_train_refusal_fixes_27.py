"""Refusals of `tapeout train` that name the rule and fixes that really run (issue 18, stop 27).

1. The generic no-layout refusal (no stack) names the nearest global batches with a valid layout that fits
   memory (each run here through the CLI), not "a multiple of the data-parallel size".
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
