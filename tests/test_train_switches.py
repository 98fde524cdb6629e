"""Training switches refused where they cannot act (api/train_switches.py; issues 18 / 24, round stop-34):
held pipeline sends at PP 1 / VP 1, FP8 attention in the CP ring at CP 1 or without FP8 attention, EP switches
at EP 1, node forwarding without an NVLink domain, FP8 attention checked against the recipe that runs on the
chip after its fallback. The CLI exits 2 with the same line the Python API raises."""

from __future__ import annotations

import pytest

from _cli import refusal
from tapeout import api
from tapeout.api.train_switches import idle_notes, nvlink_domain, refuse
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip

DENSE = ["-m", "llama-3.1-8b", "-c", "h100-sxm", "-n", "8"]


def _api_message(call) -> str:
    with pytest.raises(TapeoutError) as e:
        call()
    return "error: " + " ".join(str(e.value).split())


@pytest.mark.parametrize("flag, pin", [("--p2p-blocking-warmup", "--pp"), ("--p2p-forward-send-wait", "--pp"),
                                       ("--p2p-blocking-warmup", "--vp"), ("--fp8-attention-cp", "--cp"),
                                       ("--no-fp8-attention-cp", "--cp")])
def test_a_switch_with_its_dimension_pinned_to_one_is_refused(flag, pin):
    # were accepted and shown as set while the layout had no interleaved sends / no CP ring
    err = refusal(["train", *DENSE, "-p", "fp8", "--fp8-attention", pin, "1", flag])
    name = flag.replace("--no-", "--")
    assert err.startswith(f"error: {name} changes") and f"{pin} above 1" in err
    kw = {name.removeprefix("--").replace("-", "_"): not flag.startswith("--no-"), pin.removeprefix("--"): 1}
    assert _api_message(lambda: api.train("llama-3.1-8b", "h100-sxm", 8, precision="fp8", fp8_attention=True, **kw)) == err


def test_fp8_attention_cp_without_fp8_attention_is_refused():
    err = refusal(["train", *DENSE, "--fp8-attention-cp"])  # BF16 run: no FP8 attention for the ring to keep
    assert err.startswith("error: --fp8-attention-cp") and "--fp8-attention" in err


def test_ep_switches_at_ep_one_are_refused():
    err = refusal(["train", "-m", "qwen3-30b-a3b", "-c", "h100-sxm", "-n", "8", "--ep", "1", "--ep-node-forwarding"])
    assert err.startswith("error: --ep-node-forwarding changes the MoE expert all-to-all") and "--ep above 1" in err


@pytest.mark.parametrize("chip", ["tpu-v5p", "l40s", "gaudi3", "mi300x", "trainium2"])
def test_node_forwarding_needs_an_nvlink_domain(chip):
    c = get_chip(chip)
    assert not nvlink_domain(c)
    with pytest.raises(TapeoutError, match="--ep-node-forwarding forwards each token over NVLink"):
        refuse({"ep_node_forwarding": True}, {}, {}, c, False)


@pytest.mark.parametrize("chip", ["h100-sxm", "h800-sxm", "b200", "gb200"])
def test_node_forwarding_runs_on_nvlink_chips(chip):
    c = get_chip(chip)
    assert nvlink_domain(c)
    refuse({"ep_node_forwarding": True}, {}, {}, c, False)  # no error


def test_a_switch_turned_off_asks_nothing():
    refuse({"p2p_blocking_warmup": False, "ep_node_forwarding": False}, {"pp": 1, "ep": 1}, {}, get_chip("tpu-v5p"), False)


def test_a_benchmark_pin_is_named_as_the_reason():
    with pytest.raises(TapeoutError, match=r"pp 1 from benchmark submissions' config"):
        refuse({"p2p_forward_send_wait": True}, {"pp": 1}, {"pp": "benchmark submissions' config"}, get_chip("h100-sxm"), False)


@pytest.mark.parametrize("layout, said", [({"pp": 1, "vp": 1}, True), ({"pp": 4, "vp": 1}, True), ({"pp": 4, "vp": 2}, False)])
def test_a_searched_layout_without_the_mechanism_says_the_switch_did_nothing(layout, said):
    notes = idle_notes({"p2p_forward_send_wait": True}, layout)
    assert bool(notes) == said
    if said:
        assert "--p2p-forward-send-wait changed nothing" in notes[0]


def test_idle_switch_note_reaches_the_answer():
    r = api.train("llama-3.1-8b", "h100-sxm", 8, tp=1, pp=None, p2p_forward_send_wait=True)
    lay = r.to_dict()["layout"]
    if lay["pp"] <= 1 or lay["vp"] <= 1:
        assert any("--p2p-forward-send-wait changed nothing" in n for n in r.to_dict()["notes"])


def test_fp8_attention_follows_the_recipe_that_runs_after_its_fallback():
    # MXFP8 on Hopper runs per-tensor FP8 (training_recipes.yaml fallback_source): FP8 attention runs
    d = api.train("llama-3.1-8b", "h100-sxm", 8, precision="mxfp8", fp8_attention=True, tp=1, pp=1).to_dict()
    assert next(s for s in d["stack"]["settings"] if s["setting"] == "fp8_attention")["value"] is True
    # MXFP8 on Blackwell runs MXFP8 GEMMs: FP8 attention (TE fp8_dpa under the FP8 recipe) never runs there
    err = _api_message(lambda: api.train("llama-3.1-8b", "b200", 8, precision="mxfp8", fp8_attention=True))
    assert "runs its GEMMs in mxfp8 on b200" in err
