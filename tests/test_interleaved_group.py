"""The interleaved schedule of Megatron-Core before `microbatch_group_size_per_vp_stage` (groups of exactly
PP micro-batches): perf/pipeline_p2p.fixed_group_rule, the stack setting fixed_microbatch_group that carries
it (data/software/training_stacks.yaml) and the layout search that obeys it (perf/training._train)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.errors import TapeoutError
from tapeout.perf.pipeline_p2p import default_group, fixed_group_rule
from tapeout.perf.train_layout import microbatches
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.training import train


def old_chunk_runs(m: int, pp: int, vp: int) -> list[int]:
    """Forward passes each model chunk gets from the pre-group schedule's table: iteration k of the
    m x vp runs chunk (k mod (pp vp)) // pp (its get_model_chunk_id, forward)."""
    runs = [0] * vp
    for k in range(m * vp):
        runs[(k % (pp * vp)) // pp] += 1
    return runs


@settings(max_examples=200, deadline=None)
@given(m=st.integers(1, 96), pp=st.integers(2, 16), vp=st.integers(2, 8))
def test_the_rule_is_where_the_fixed_table_gives_every_chunk_m_passes(m, pp, vp):
    # the check Megatron-Core raised on (m % pp) is exactly where its fixed chunk table would run some
    # chunk more or fewer than m micro-batches: the rule refuses what that schedule cannot run
    refused = fixed_group_rule(m, pp, vp) is not None
    assert refused == (old_chunk_runs(m, pp, vp) != [m] * vp)
    assert refused == (m % pp != 0)
    # where the old schedule runs, the tunable group's default is that same group N = pp
    if not refused:
        assert default_group(m, pp) == pp


def test_the_rule_acts_only_on_interleaved_pipelines():
    assert fixed_group_rule(13, 4, 1) is None  # 1F1B takes any m
    assert fixed_group_rule(13, 1, 4) is None  # no pipeline
    assert fixed_group_rule(12, 4, 24) is None
    why = fixed_group_rule(13, 4, 24)
    assert why.startswith("interleave:") and "13 micro-batches" in why and "PP = 4" in why


def test_nemo_stacks_on_file_carry_it():
    for sw, rnd in (("NeMo Megatron Release 23.04", "v3.0"), ("NeMo Framework Release 23.09", "v3.1"),
                    ("NeMo Framework Release 24.04", "v4.0")):
        stack = find_stack(sw, rnd)
        assert stack.value("fixed_microbatch_group") is True
        assert stack_settings(stack, {}, {}, False)[1]["fixed_microbatch_group"] is True


# the NeMo stacks' BF16 gradient buffer (training_stacks.yaml grad_sync_dtype), as the submissions ran
GPT3 = dict(model="gpt3-175b", chip="h100-sxm", num_chips=3584, seq_len=2048, precision="fp8", grad_sync="bf16")


def test_a_pinned_layout_the_schedule_refuses_is_an_error():
    # 2,912 sequences over DP 224: m = 13 micro-batches on PP 4, not a multiple of PP
    kw = dict(GPT3, global_batch_tokens=2912 * 2048, tp=4, pp=4, vp=24, mbs=1, zero=1, recompute="none")
    assert train(**kw).breakdown["m"] == 13  # the tunable group (default) runs it, at N = 7
    with pytest.raises(TapeoutError, match="fixed_microbatch_group"):
        train(**kw, fixed_microbatch_group=True)


def test_the_search_keeps_to_what_the_schedule_runs():
    g = 2912
    r = train(**GPT3, global_batch_tokens=g * 2048, fixed_microbatch_group=True)
    lay = r.layout
    m = microbatches(g, lay["dp"], lay["mbs"])
    assert lay["vp"] == 1 or m % lay["pp"] == 0
    # the tunable group is never slower: the search has every layout the fixed one has, and more
    free = train(**GPT3, global_batch_tokens=g * 2048)
    assert free.step_time_s <= r.step_time_s
