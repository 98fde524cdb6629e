"""Round stop-41 acceptance audit of issues 18 and 24 (branch issue-60a), run as a new user would on this round's new
chips; one regression per fix (docs/notes/issue-18.md, issue-24.md, "Round stop-41 (branch issue-60a)")."""

from __future__ import annotations

import json
import re

import pytest

import tapeout
from _cli import assert_clean, refusal, run_cli
from tapeout.errors import TapeoutError


@pytest.mark.parametrize("args", [
    ["workload-run", "resnet50", "--set", "batch=8"],
    ["cost"],
    ["compliance"],
])
def test_every_chip_option_takes_the_short_c(args):
    # was: `tapeout workload-run resnet50 -c speedai240` -> "No such option: -c", while serve / train /
    # explain / workload-explain take -c; the short and long form must give the same answer
    long = run_cli([*args, "--chip", "h100-sxm", "--json"])
    short = run_cli([*args, "-c", "h100-sxm", "--json"])
    for code, out, err in (long, short):
        assert_clean(code, out, err)
        assert code == 0, err[-500:]
    assert json.loads(short[1]) == json.loads(long[1])


def test_sram_chip_capacity_refusal_prints_the_usable_memory_it_has():
    # was: "weights 15 GiB/chip of 0 usable" on speedai240 (0.2 GiB of SRAM rounded to 0), which read as a chip
    # with no capacity on file
    with pytest.raises(TapeoutError) as e:
        tapeout.serve(model="qwen3-8b", chip="speedai240")
    m = re.search(r"weights ([\d.]+) GiB/chip of ([\d.]+) usable", str(e.value))
    assert m, str(e.value)
    weights, usable = float(m.group(1)), float(m.group(2))
    assert 0 < usable < 1 < weights  # a sub-GiB SRAM chip; an 8B model's BF16 weights (~15 GiB) do not fit


def test_workload_batch_refusal_names_the_flag_that_lowers_it():
    # was: "resnet50: batch=256 needs 1.2 GB but bow-ipu has 0.8 GB usable; lower batch or use ..." with no way named
    err = refusal(["workload-run", "resnet50", "-c", "bow-ipu"])
    assert "batch=256 needs" in err and "--set batch=N" in err
