"""nearest_global_batches tries only the batches the batch rule can pass (multiples of some DP x micro-batch of
the layout grid): it must return what a layout search at every batch of the range returns, and answer a chip
count far beyond the batch (10^8 chips) from a handful of candidates."""

from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.perf.train_layout import candidate_layouts, nearest_global_batches
from tapeout.workloads.llm_config import load_llm

CFG = load_llm("llama-3.1-8b")


def brute_force(num_chips, global_seqs, seq, k=3):
    """The definition: every batch of 1 .. 4 x global_seqs by distance (the lower first), a layout search at each."""
    out = []
    for d in range(1, 3 * global_seqs + 1):
        for g in (global_seqs - d, global_seqs + d):
            if 1 <= g <= 4 * global_seqs:
                lays = candidate_layouts(CFG, num_chips, 8, g, seq)[0]
                if lays:
                    out.append((g, lays[0]))
                    if len(out) == k:
                        return out
    return out


@settings(max_examples=8, deadline=None)
@given(num_chips=st.sampled_from([6, 12, 24, 40, 96, 160, 384]), global_seqs=st.integers(1, 24))
def test_same_batches_as_a_search_at_every_batch(num_chips, global_seqs):
    got = nearest_global_batches(CFG, num_chips, 8, global_seqs, 4096)
    assert [g for g, _ in got] == [g for g, _ in brute_force(num_chips, global_seqs, 4096)]
    assert all(candidate_layouts(CFG, num_chips, 8, g, 4096, {"tp": lay.tp, "pp": lay.pp, "cp": lay.cp})[0] for g, lay in got)


def test_far_too_many_chips_answers_with_batches_that_fill_them():
    got = nearest_global_batches(CFG, 10**8, 8, 2048, 8192, bounds=(1, 10**6))
    assert len(got) == 3
    for g, lay in got:  # each batch is a multiple of its layout's DP x micro-batch, and the layout fills 10^8 chips
        assert g % (lay.dp * lay.mbs) == 0 and lay.tp * lay.pp * lay.cp * lay.dp == 10**8
