"""Calibration fallbacks are shown where the answer is shown (review round stop-41, issue-57a): a chip whose family
has no microbenchmarks (amd-rdna3: rx-7900-xtx) takes the generic mean of other families' fits, and its serving and
training answers say so; a chip with its own fit or its family's says nothing."""

from __future__ import annotations

import pytest

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibration_for, fallback_calibration_notes


def test_generic_fallback_is_named():
    c = get_chip("rx-7900-xtx")
    assert calibration_for(c).origin["eff_compute"].startswith("generic")  # no amd-rdna3 fit on file
    notes = fallback_calibration_notes(c)
    assert "amd-rdna3" in notes[0] and "rx-7900-xtx" in notes[0] and "generic" in notes[0]
    # and its 2.9 W/TFLOPS lies above every chip the power-transfer law was fitted on (POWER_TRANSFER_HELD)
    assert len(notes) == 2 and "held at the range's edge" in notes[1]


# own fit; family nvidia-ampere mean at 1.0 W/TFLOPS, inside the power-transfer law's fitted range
@pytest.mark.parametrize("cid", ["h100-sxm", "a30"])
def test_own_or_family_fit_says_nothing(cid):
    c = get_chip(cid)
    assert not calibration_for(c).origin["eff_compute"].startswith(("generic", "default"))
    assert fallback_calibration_notes(c) == []


def test_family_fit_held_at_the_power_edge_says_only_that():
    from tapeout.perf import calibration

    c = get_chip("a10g")  # family nvidia-ampere mean; 300 W / 70 TFLOPS (catalog) = 4.3 W/TFLOPS, beyond the fitted 1.28
    notes = fallback_calibration_notes(c)
    assert len(notes) == 1 and "held at the range's edge" in notes[0] and "a10g" in notes[0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(calibration, "POWER_TRANSFER_HELD", False)
        assert fallback_calibration_notes(c) == []


def test_serving_and_training_answers_carry_it():
    from tapeout import api

    note = fallback_calibration_notes(get_chip("rx-7900-xtx"))[0]
    s = api.serve(model="codellama-13b", chip="rx-7900-xtx", num_chips=2).to_dict()
    assert note in s["notes"]
    t = api.train_benchmark(benchmark="resnet", chip="rx-7900-xtx", num_chips=6).to_dict()
    assert note in t["notes"]
    h = api.serve(model="codellama-13b", chip="h100-sxm", num_chips=1).to_dict()
    assert not any(n.startswith("calibration: no ") for n in h.get("notes") or [])


def test_llm_training_answer_carries_it():
    from tapeout import api

    note = fallback_calibration_notes(get_chip("rx-7900-xtx"))[0]
    assert note in api.train(model="llama-3.1-8b", chip="rx-7900-xtx", num_chips=8).to_dict()["notes"]
