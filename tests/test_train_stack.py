"""Training software stacks (data/software/training_stacks.yaml, perf/train_stack.py): selection by
a row's software field and MLPerf round, and the direction of each wired feature's effect."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.train_layout import even_stages, stage_layers
from tapeout.perf.train_stack import WIRED, find_stack, stack_settings, stack_table
from tapeout.perf.training import train
from tapeout.validation.train_rows import map_row


def test_every_stack_feature_is_sourced_and_wired_only_where_the_model_acts():
    t = stack_table()
    assert {"nemo-megatron-23.04", "nemo-23.09", "nemo-24.04"} <= set(t)
    for name, e in t.items():
        # a benchmark-scoped stack (picked by --benchmark, never by a row's software string) may name no software
        assert (e["software"] or e.get("benchmarks")) and e["source"]
        for f, spec in e["features"].items():
            assert spec["source"] and "value" in spec
            assert not spec.get("wired") or f in WIRED, (name, f)


@pytest.mark.parametrize("software, rnd, name", [
    ("NVIDIA NeMo Megatron Release 23.04", "v3.0", "nemo-megatron-23.04"),
    ("NVIDIA NeMo Framework", "v3.0", "nemo-megatron-23.04"),  # unversioned name: the round decides
    ("NVIDIA NeMo Framework Release 23.09", "v3.1", "nemo-23.09"),
    ("PyTorch NVIDIA Release 23.09", "v3.1", "nemo-23.09"),
    ("NVIDIA NeMo Framework Release 24.04", "v4.0", "nemo-24.04"),
    ("NeMo Framework NVIDIA Release 24.04; PyTorch NVIDIA Release 23.09", "v4.0", "nemo-24.04"),
])
def test_rows_select_their_stack_by_software_and_round(software, rnd, name):
    assert find_stack(software, rnd).name == name


@pytest.mark.parametrize("software, rnd", [("NVIDIA NeMo Framework", "v5.0"), ("PyTorch 2.0.1a0", "v3.0"),
                                           ("NGC PyTorch Release 24.01 Deepspeed N8", "v3.1"), ("", None)])
def test_unknown_stack_is_none(software, rnd):
    assert find_stack(software, rnd) is None


def test_bad_stack_entries_are_named_errors():
    table = {"x": {"software": ["X"], "features": {"layer_cuda_graph": {"value": True, "wired": True, "source": "s"}}}}
    with pytest.raises(TapeoutError, match="layer_cuda_graph.*wired: false"):
        find_stack("X 1.0", None, table)
    table = {"x": {"software": ["X"], "features": {"tp_comm_overlap": {"value": True}}}}
    with pytest.raises(TapeoutError, match="tp_comm_overlap.*source"):
        find_stack("X 1.0", None, table)


def _stack(**features):
    table = {"s": {"software": ["S"], "features": {f: {"value": v, "wired": True, "source": "test"}
                                                   for f, v in features.items()}}}
    return find_stack("S", None, table)


def test_stack_settings_apply_each_wired_feature():
    pins, run, fp8 = stack_settings(_stack(tp_comm_overlap=False, fp8_dot_product_attention=False,
                                           distributed_optimizer=True, even_pipeline_stages=True),
                                    {"tp": 4}, {"tp_overlap": "nemo-gpt3-fp8-h100-tp4"}, True)
    assert pins == {"tp": 4, "zero": 1} and fp8 is False
    assert run == {"even_pipeline": True}  # the overlap config dropped: userbuffers off in this stack
    # the submission's own optimizer sharding wins over the stack default (LoRA: fused_adam, zero 0)
    assert stack_settings(_stack(distributed_optimizer=True), {"zero": 0}, {}, False)[0] == {"zero": 0}
    # no stack on file: nothing changes
    assert stack_settings(None, {"tp": 2}, {"tp_overlap": "a"}, True) == ({"tp": 2}, {"tp_overlap": "a"}, True)
    # features on (overlap, FP8 attention) keep what the benchmark's config asked
    _, run, fp8 = stack_settings(_stack(tp_comm_overlap=True, fp8_dot_product_attention=True), {}, {"tp_overlap": "a"}, True)
    assert run == {"tp_overlap": "a"} and fp8 is True


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 128), st.integers(1, 16), st.integers(1, 8))
def test_even_stages_is_exact_division(L, pp, vp):
    ok = even_stages(L, pp, vp)
    if pp > 1:
        assert ok == (L % (pp * vp) == 0)  # L % pp == 0 and (L / pp) % vp == 0  <=>  pp vp divides L
        if ok:
            assert stage_layers(L, pp, vp) == [L // pp] * pp
    else:
        assert ok


def test_even_pipeline_search_never_beats_the_unrestricted_one():
    """Removing layouts from the search can only keep or lengthen the best step; the layout it keeps
    splits GPT-3's 96 layers evenly (PP divides 96, VP divides the layers per stage)."""
    free = train("gpt3-175b", "h100-sxm", 3584, 2688 * 2048, 2048, "fp8")
    even = train("gpt3-175b", "h100-sxm", 3584, 2688 * 2048, 2048, "fp8", even_pipeline=True)
    assert even.step_time_s >= free.step_time_s
    lay = even.layout
    assert 96 % lay["pp"] == 0 and (96 // lay["pp"]) % lay["vp"] == 0


def test_even_pipeline_rejects_a_pinned_uneven_split():
    with pytest.raises(TapeoutError, match="unevenly"):
        train("gpt3-175b", "h100-sxm", 3584, 2688 * 2048, 2048, "fp8", tp=4, pp=14, even_pipeline=True)


def _gpt3_row(rnd, software, n, gbs, acc="NVIDIA H100-SXM"):
    return {"id": "t", "category": "mlperf-train", "workload": f"MLPerf Training {rnd} gpt3", "accelerator": acc,
            "n_accelerators": str(n), "precision": "fp8", "unit": "minutes", "software": software,
            "notes": f"global_batch_size={gbs} epoch_num=1.2e9", "model_config": "", "scenario": "training"}


def test_row_detail_names_its_stack_or_says_defaults():
    p = map_row(_gpt3_row("v3.1", "NVIDIA NeMo Framework Release 23.09", 10752, 2688))
    assert p.detail["stack"] == "nemo-23.09"
    assert p.detail["tp_overlap"] == "nemo-gpt3-fp8-h100-tp4pp8mbs1-v3.1"
    assert "layer_cuda_graph" in p.detail["stack_features_not_modelled"]
    q = map_row(_gpt3_row("v3.1", "PyTorch 2.0.1a0", 256, 256, acc="Intel Gaudi2"))
    assert q.detail["stack"] == "megatron-deepspeed-habana-v3.1"  # Habana's Megatron-DeepSpeed of the round
    u = map_row(_gpt3_row("v3.1", "PyTorch 9.9", 256, 256, acc="Intel Gaudi2"))
    assert u.detail["stack"].startswith("not on file")


def test_userbuffers_overlap_of_the_v31_stack_shortens_its_published_layout():
    """Effect direction: the v3.1 rows' TP overlap hides TP communication behind GEMMs."""
    kw = dict(tp=4, pp=8, mbs=1, vp=6, even_pipeline=True)
    off = train("gpt3-175b", "h100-sxm", 10752, 2688 * 2048, 2048, "fp8", **kw)
    on = train("gpt3-175b", "h100-sxm", 10752, 2688 * 2048, 2048, "fp8", tp_overlap="nemo-gpt3-fp8-h100-tp4pp8mbs1-v3.1",
               **kw)
    assert on.step_time_s < off.step_time_s
    assert on.breakdown["exposed_comm_s"]["tp_allreduce"] < off.breakdown["exposed_comm_s"]["tp_allreduce"]


@pytest.mark.parametrize("feature", ["overlap_p2p_comm", "sequence_parallel", "quantized_gathers"])
def test_yes_no_stack_features_reject_strings(feature):
    # bool("false") is True: a quoted value must be an error naming the feature, not silently "on"
    with pytest.raises(TapeoutError, match=f"'{feature}' must be true or false"):
        stack_settings(_stack(**{feature: "false"}), {}, {}, False)
    assert stack_settings(_stack(**{feature: False}), {}, {}, False)[1] == \
        {{"overlap_p2p_comm": "overlap_p2p", "sequence_parallel": "sequence_parallel",
          "quantized_gathers": "quantized_gathers"}[feature]: False}


def test_dp_cta_cap_sets_the_overlapped_collectives_cores():
    """A stack's MEGATRON_CORE_DP_MAX_CTAS (nccl_max_ctas.dp, wired) is the cores an overlapped DP collective
    occupies, and its MEGATRON_CORE_TP_MAX_CTAS (nccl_max_ctas.tp) those of the async backward TP collectives;
    the NeMo 23.09 stack on file (v3.1 config_common.sh) caps both at 8. A stack without a TP cap leaves
    tp_comm_ctas None (the TP collectives take comm_ctas). A malformed cap names the field."""
    caps = {"p2p": 2, "dp": 8, "tp": 6, "amax": 1, "embedding": 2, "mp": 2, "min_channels": 4}
    assert stack_settings(_stack(nccl_max_ctas=caps), {}, {}, False)[1] == {"comm_ctas": 8, "tp_comm_ctas": 6}
    assert stack_settings(_stack(nccl_max_ctas={"dp": 4}), {}, {}, False)[1] == {"comm_ctas": 4, "tp_comm_ctas": None}
    v31 = find_stack("NeMo Framework Release 23.09", "v3.1")
    assert stack_settings(v31, {}, {}, False)[1]["comm_ctas"] == 8
    assert stack_settings(v31, {}, {}, False)[1]["tp_comm_ctas"] == 8
    for bad in ({"tp": 8}, 8, {"dp": "8"}, {"dp": -1}, {"dp": True}, {"dp": None},
                {"dp": 8, "tp": -2}, {"dp": 8, "tp": "8"}):  # YAML `dp: true` is not a count
        with pytest.raises(TapeoutError, match="nccl_max_ctas"):
            stack_settings(_stack(nccl_max_ctas=bad), {}, {}, False)
