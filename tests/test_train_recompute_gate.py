"""Which recompute methods each training stack runs (data/software/training_stacks.yaml recompute_methods,
perf/recompute_gate.py): the layout search tries only those, a pin outside them is one error naming the stack;
and Google's TPU GPT-3 runs (Pax v3.1 on v5e, MaxText v4.0 on v5p) on file with the meshes of their launch configs."""

import csv
import json
import re

import pytest
from hypothesis import given, strategies as st

from tapeout.errors import TapeoutError
from tapeout.formats import data_file
from tapeout.perf.recompute_gate import METHODS, RecomputeGate, gate_of, method_of
from tapeout.perf.train_layout import BLOCK, SEARCHED_RECOMPUTE, TrainLayout
from tapeout.perf.train_stack import find_stack, named_stack, stack_settings, stack_table
from tapeout.perf.training import train
from tapeout.validation.train_rows import _chip, submission_layout, training_precision

TPU_ROWS = ("TRN-v3.1-0067", "TRN-v4.0-0050", "TRN-v4.0-0051", "TRN-v4.0-0052", "TRN-v4.0-0053")


def _rows(ids):
    rows = {r["id"]: r for r in csv.DictReader(data_file("measured", "end_to_end.csv").open())}
    return [rows[i] for i in ids]


def test_every_stack_on_file_lists_sourced_methods_and_scanned_jax_stacks_have_no_block():
    # a scanned JAX layer stack applies one jax.checkpoint policy to every layer: no first-k-layers method,
    # and no Megatron selective; the NeMo / Megatron-Core stacks run block and selective
    for name, e in stack_table().items():
        spec = e["features"]["recompute_methods"]
        assert spec["source"] and spec["wired"] is True
        gate = gate_of(name, spec["value"])
        assert set(gate.methods) <= set(METHODS)
        if e["vendor"] == "Google":
            assert not gate.block and not gate.allows("selective") and gate.allows("full")
        elif name.startswith("nemo"):
            assert gate.block and gate.allows("selective") and not gate.allows("dots")
        else:  # DeepSpeed stacks (HF gradient checkpointing, Megatron-DeepSpeed): no first-k-layers method
            assert not gate.block and gate.allows("full") and not gate.allows("dots")


@given(st.sets(st.sampled_from(METHODS), min_size=1), st.integers(1, 200))
def test_gate_allows_exactly_its_methods_and_searches_a_nonempty_subset(methods, k):
    if BLOCK in methods and "full" not in methods:  # refused: block is a method of full granularity
        with pytest.raises(TapeoutError, match="block needs full too"):
            RecomputeGate("s", tuple(sorted(methods)))
        return
    gate = RecomputeGate("s", tuple(sorted(methods)))
    assert gate.allows(f"block:{k}") == (BLOCK in methods) == gate.block
    for m in METHODS:
        if m != BLOCK:
            assert gate.allows(m) == (m in methods)
    searched = gate.searched()
    assert searched and set(searched) <= set(methods) and BLOCK not in searched
    # the search's own kinds come first: a stack running any of them is searched over just those
    if set(methods) & set(SEARCHED_RECOMPUTE):
        assert set(searched) == set(methods) & set(SEARCHED_RECOMPUTE)
    assert method_of(f"block:{k}") == BLOCK


@pytest.mark.parametrize("bad", [[], ["partial"], "full", ["full", "block:2"]])
def test_a_malformed_methods_list_is_one_error_naming_the_stack(bad):
    with pytest.raises(TapeoutError, match="training stack 'x' recompute_methods"):
        gate_of("x", bad)


def test_stack_settings_carry_the_gate_and_a_stack_not_on_file_has_none():
    _, settings, _ = stack_settings(named_stack("maxtext-2024-04"), {}, {}, False)
    assert settings["recompute_gate"] == RecomputeGate("maxtext-2024-04", ("none", "full", "dots", "dots-except-ffn1"))
    assert stack_settings(None, {}, {}, False)[1] == {}


def test_a_pin_the_stack_cannot_run_is_refused_naming_the_stack_and_its_methods():
    gate = RecomputeGate("maxtext-2024-04", ("none", "full", "dots"))
    for pin in ("selective", "block:2"):
        with pytest.raises(TapeoutError, match=r"'maxtext-2024-04' runs: it runs none, full, dots"):
            train("gpt3-175b", "tpu-v5p", 512, 2048 * 2048, 2048, "int8", tp=8, zero=3, recompute=pin,
                  recompute_gate=gate)


def test_cli_refuses_a_pin_outside_the_stack_with_exit_2(capsys):
    from tapeout.cli import main

    argv = ["train", "--model", "gpt3-175b", "--chip", "tpu-v5p", "--num-chips", "512", "--seq-len", "2048",
            "--global-batch-tokens", str(2048 * 2048), "--stack", "maxtext-2024-04", "--recompute", "block:2"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "runs none, full, dots" in capsys.readouterr().err


def test_search_without_block_under_a_scanned_stack_is_never_faster_than_the_open_search():
    # GPT-3 on 4,096 v5e in int8 (TRN-v3.1-0067's size, no layout pinned): with every method the search
    # recomputes the first k layers (block:k); under a stack without block it keeps a method of the stack,
    # and removing options never makes the best step faster
    args = ("gpt3-175b", "tpu-v5e", 4096, 2048 * 2048, 2048, "int8")
    open_ = train(*args)
    gated = train(*args, recompute_gate=RecomputeGate("pax-2023-09", ("none", "full", "dots")))
    assert open_.layout["recompute"].startswith(f"{BLOCK}:")
    assert gated.layout["recompute"] in ("none", "full")
    assert gated.step_time_s >= open_.step_time_s


def test_tpu_rows_run_their_stack_and_the_mesh_of_their_launch_config():
    # each config's global batch: per-device batch x chips (MaxText per_device_batch_size, Pax PERCORE_BATCH_SIZE)
    # = DP x micro-batch with DP = chips / TP and one micro-batch (no gradient accumulation)
    per_device = {"TRN-v3.1-0067": 0.5, "TRN-v4.0-0050": 4, "TRN-v4.0-0051": 1, "TRN-v4.0-0052": 2, "TRN-v4.0-0053": 2}
    fsdp = {"TRN-v3.1-0067": 16, "TRN-v4.0-0050": 0, "TRN-v4.0-0051": 48, "TRN-v4.0-0052": 16, "TRN-v4.0-0053": 16}
    for row in _rows(TPU_ROWS):
        n = int(row["n_accelerators"])
        gbs = int(re.search(r"global_batch_size=(\d+)", row["notes"]).group(1))
        rnd = re.match(r"MLPerf Training (v[\d.]+)", row["workload"]).group(1)
        stack = find_stack(row["software"], rnd)
        assert stack is not None and stack.vendor == "Google" and stack.layouts in ("pax", "maxtext")
        pins = submission_layout("gpt3-175b", row, _chip(row).id, n)
        dp = n // pins["tp"]
        assert per_device[row["id"]] * n == gbs == dp * pins["mbs"]
        assert pins["zero"] == 3 and pins["pp"] == 1 and pins.get("shard", 0) == fsdp[row["id"]]
        assert dp % (pins.get("shard") or dp) == 0
        if "recompute" in pins:
            RecomputeGate(stack.name, tuple(stack.value("recompute_methods"))).check(pins["recompute"])
        # the configs quantize with AQT int8 (Pax Int8 experiment, MaxText quantization=int8)
        assert training_precision(row, _chip(row)) == "int8"


def test_a_v5p_row_of_an_earlier_round_keeps_bf16():
    row = {**_rows(["TRN-v4.0-0050"])[0], "workload": "MLPerf Training v3.1 gpt3"}
    assert training_precision(row, _chip(row)) == "bf16"


def test_nvidia_rows_still_read_the_nemo_entries():
    row = {"accelerator": "NVIDIA H100-SXM", "software": "NeMo Framework NVIDIA Release 24.04",
           "workload": "MLPerf Training v4.0 gpt3"}
    assert submission_layout("gpt3-175b", row, "h100-sxm", 10752)["tp"] == 4


def test_cli_json_shows_the_stacks_methods(capsys):
    from tapeout.cli import main

    argv = ["train", "--model", "gpt3-175b", "--chip", "tpu-v5p", "--num-chips", "512", "--seq-len", "2048",
            "--global-batch-tokens", str(2048 * 2048), "--stack", "maxtext-2024-04", "--tp", "8", "--zero", "3", "--json"]
    try:
        main(argv)
    except SystemExit as e:
        assert e.code in (0, None)
    d = json.loads(capsys.readouterr().out)
    shown = {x["setting"]: x for x in d["stack"]["settings"]}
    assert shown["recompute_gate"]["value"] == ["none", "full", "dots", "dots-except-ffn1"]
    assert shown["recompute_gate"]["from"] == "stack maxtext-2024-04"
    assert d["layout"]["recompute"] in ("none", "full")


def test_a_refusals_suggestions_recompute_only_as_the_stack_can():
    # TP5 breaks the heads rule; at 16 sequences per micro-batch only full recompute fits on 512 v5p, so the open
    # refusal suggests full; a stack without full gets no full suggestion (here: none that fits)
    args = ("gpt3-175b", "tpu-v5p", 512, 2048 * 2048, 2048, "int8")
    want = TrainLayout(tp=5, pp=1, dp=102, mbs=16, zero=3, recompute="none")
    with pytest.raises(TapeoutError) as open_:
        train(*args, layout=want)
    assert "recompute=full" in str(open_.value)
    with pytest.raises(TapeoutError) as gated:
        train(*args, layout=want, recompute_gate=RecomputeGate("s", ("none", "selective")))
    named = set(re.findall(r"recompute=(\S+?)[;.]", str(gated.value).split("breaks rule", 1)[1]))
    assert named <= {"none", "selective"}
