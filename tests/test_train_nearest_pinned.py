"""Nearest-layout suggestions (perf/train_layout.nearest_layouts) vary what the user did not pin first
(recompute and ZeRO included), keep every pinned value some valid layout keeps, and name the pinned
value that had to change (issue 18, round stop-23)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.cli import main
from tapeout.perf.train_layout import (PINNABLE, TrainLayout, broken_rule, candidate_layouts,
                                       nearest_layouts)
from tapeout.workloads.llm_config import load_llm

ARGS_405B = ["train", "--model", "llama-3.1-405b", "--chip", "h100-sxm", "--num-chips", "16384", "--seq-len", "8192",
             "--global-batch-tokens", "16777216", "--tp", "8", "--pp", "16", "--cp", "1"]


def _err(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 1
    return err


def test_405b_vp9_suggests_cp1_with_the_recompute_it_needs(capsys):
    # PP16 x VP9 = 144 > 126 + 2 virtual stages: only VP (pinned) must change; TP8 PP16 CP1 fit with
    # recompute=full (recompute was not pinned, so it may change; selective left CP2 as the nearest)
    err = _err(ARGS_405B + ["--vp", "9"], capsys)
    assert "no valid layout found keeps your pinned VP 9" in err
    first = err.split("fit memory: ")[1].split(";")[0]
    assert first.startswith("TP8 PP16(v8) DP128 mbs1") and "CP" not in first  # CP1 kept: no CP field printed
    assert "recompute=" in first
    for lay in err.split("fit memory: ")[1].rstrip(".\n").split("; "):
        assert "CP" not in lay and lay.startswith("TP8 PP16(")


def test_pinned_value_that_must_change_is_named_and_others_kept(capsys):
    # 512 chips are not a multiple of PP 5: no valid layout keeps PP 5, the pinned TP 8 stays
    err = _err(["train", "--model", "llama-3.1-405b", "--chip", "h100-sxm", "--num-chips", "512", "--tp", "8",
                "--pp", "5"], capsys)
    assert "no valid layout found keeps your pinned PP 5;" in err and "TP 8" not in err.split("fit memory")[0]
    for lay in err.split("fit memory: ")[1].rstrip(".\n").split("; "):
        assert lay.startswith("TP8 ") and "PP5" not in lay


def test_pinned_recompute_is_kept_when_some_layout_keeps_it():
    cfg = load_llm("llama-3.1-8b")
    want = TrainLayout(tp=3, recompute="none", dp=64)  # TP 3 breaks rule heads
    near = nearest_layouts(cfg, want, 64, 8, 512, 4096, pinned=("tp", "recompute"))
    assert near.changed == ("tp",) and near.layouts
    assert all(lay.recompute == "none" and lay.tp != 3 for lay in near.layouts)


CFG = load_llm("llama-3.1-8b")
FIELDS = {"tp": [1, 2, 3, 4, 8, 16], "pp": [1, 2, 3, 4, 8, 64], "cp": [1, 2, 3, 4], "vp": [1, 2, 5, 40],
          "mbs": [1, 2, 3], "zero": [0, 1, 3], "recompute": ["none", "selective", "full"]}


@settings(max_examples=150, deadline=None)
@given(pins=st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in FIELDS.items()}),
       chips=st.sampled_from([16, 24, 64]), seqs=st.sampled_from([96, 256, 500]))
def test_every_suggestion_is_valid_and_keeps_what_the_message_says(pins, chips, seqs):
    seq, domain = 4096, 8
    want = TrainLayout(**pins)
    want.dp = max(1, chips // (want.tp * want.pp * want.cp))
    near = nearest_layouts(CFG, want, chips, domain, seqs, seq, pinned=tuple(pins))
    kept = [k for k in pins if k not in near.changed]
    for lay in near.layouts:
        assert broken_rule(CFG, lay, chips, seqs, seq, domain) is None  # the check a user-given layout passes
        assert all(getattr(lay, k) == pins[k] for k in kept)
        assert all(getattr(lay, k) != pins[k] for k in near.changed)
    assert set(near.changed) <= set(pins) and (near.pinned_note(want) == "") == (not near.changed)
    # no valid layout changes fewer pinned values than the ones suggested
    if near.layouts:
        # the search's grid and every layout keeping one or all pinned values (off-grid ones too, e.g. CP 4 at 4k)
        every = [lay for fx in [{}, pins] + [{k: v} for k, v in pins.items()]
                 for lay in candidate_layouts(CFG, chips, domain, seqs, seq, fx)[0]]
        fewest = min(sum(getattr(lay, k) != pins[k] for k in pins) for lay in every)
        assert len(near.changed) == fewest
    if near.changed:
        assert not candidate_layouts(CFG, chips, domain, seqs, seq, pins)[0]


def test_pinnable_fields_are_layout_fields():
    assert set(PINNABLE) <= set(TrainLayout.__dataclass_fields__)
