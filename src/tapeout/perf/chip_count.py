"""The smallest chip count a training run runs on: the "add chips" of the memory refusal
(perf/training._refuse_unholdable), so the count it names is one the layout search then takes.

The weights, gradients and optimizer states held once (perf/train_memory.states_held_once) give a
lower bound, `need` chips; the layout search may still refuse `need` (activations, the stack's even
pipeline stages, the batch rule leaving no split of that count). So the counts from `need` upward are
tried as the search tries them: every candidate layout at that count (candidate_layouts, the user's
pins held, the stack's recompute options) through the same keep rule the search applies (memory under
the runtime reserve, the stack's rules: perf/training `runs`). The first count with a layout kept is
the answer. A count whose grid is empty (no split of it obeys the rules) costs only its grid.

The work is bounded by COUNT_BUDGET (a tool budget, not a model bound); where it runs out, or the
cluster ends, the answer is "at least" the first count not wholly checked, every count below it having
been refused. Nothing is fitted: the counts are the search's own answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import TapeoutError
from .train_layout import SEARCHED_RECOMPUTE, TrainLayout, candidate_layouts, search_size, sequences

# The work one refusal may do, in layouts built: candidate_layouts builds each layout of a count's grid
# (search_size of them, ~3-4 us each measured here on one core) and the count's valid ones then each get
# a memory check (perf/training.evaluate_layout with mem_limit, no step priced: ~60-80 us, so CHECK_COST
# = 20 built layouts). A tool budget, not a model bound: 600,000 is ~2-3 s here; DeepSeek-V3 on H800 at
# 1,024 x 4,096 (bound 160 chips, answer 192) spends ~400,000, GPT-3 175B on H100 (43 -> 48) ~17,000.
COUNT_BUDGET = 600_000
CHECK_COST = 20

# the order a count's layouts are checked in, leanest first (the search keeps any that fits): a found
# count is usually answered by its first few layouts
_RECOMPUTE_ORDER = {"full": 0, "dots-except-ffn1": 1, "dots": 1, "selective": 2, "none": 3}


class Unholdable(TapeoutError):
    """The refusal of a run whose states held once exceed the usable memory of all its chips: no batch,
    split or layout of that chip count changes it (api/train_batch.choose stops at the first one).

    The chips to add (`add`, the count search) are worked out when the message is first read (str), once:
    a caller that only learns from it that no batch or split helps pays no search. Pickled (an error from a
    worker process) it travels as a plain TapeoutError with its whole message."""

    def __init__(self, head: str, add: Callable[[], str], tail: str):
        super().__init__(head + "add chips" + tail)  # args: the words without the count
        self._parts, self._text = (head, add, tail), None

    def __str__(self) -> str:
        if self._text is None:
            head, add, tail = self._parts
            self._text = head + add() + tail
        return self._text

    def __reduce__(self):
        return TapeoutError, (str(self),)


@dataclass(frozen=True)
class Count:
    """The answer: `chips`, the smallest count with a layout kept (`layout`, one of them), or None where
    the budget or the cluster ended first; every count from the start below `next_unchecked` is refused."""
    chips: int | None
    layout: TrainLayout | None
    next_unchecked: int
    why_stopped: str = ""

    def words(self, global_seqs: int) -> str:
        """'add chips: <the count>' as the refusal says it."""
        if self.chips is not None:
            return (f"add chips: {self.chips:,} is the smallest count with a layout that fits at "
                    f"{sequences(global_seqs)} (e.g. {self.layout})")
        return f"add chips (at least {self.next_unchecked:,}: {self.why_stopped})"


def _lean(lay: TrainLayout) -> tuple:
    return (_RECOMPUTE_ORDER.get(lay.recompute, 1), lay.mbs, -lay.zero, lay.vp)


def smallest_running_count(cfg, start: int, domain: int, global_seqs: int, seq: int, fixed: dict, keep,
                           recompute_options=SEARCHED_RECOMPUTE, most: int | None = None,
                           budget: int = COUNT_BUDGET) -> Count:
    """The smallest chip count >= `start` at which a candidate layout (pins `fixed`) passes `keep(layout,
    chips)`, within `budget` (layouts built, a memory check at CHECK_COST) and no count above `most` (a
    cluster's size)."""
    n, spent = start, 0

    def refused_below(stop: str) -> Count:
        return Count(None, None, n, (f"no count from {start:,} to {n - 1:,} has a layout that fits; " if n > start
                                     else "") + stop)

    spent_words = f"the search stops at {{:,}} chips, its work budget spent (perf/chip_count.COUNT_BUDGET, {budget:,})"
    while most is None or n <= most:
        try:  # the search's own refusal of a grid too large (SEARCH_LIMIT) refuses the count too
            size = search_size(cfg, n, seq, fixed, recompute_options)
            if spent + size > budget:
                return refused_below(spent_words.format(n))
            lays, _ = candidate_layouts(cfg, n, domain, global_seqs, seq, fixed, recompute_options=recompute_options)
        except TapeoutError as e:
            return refused_below(f"at {n:,}: {str(e).rstrip('.')}")
        spent += size
        for lay in sorted(lays, key=_lean):
            if spent + CHECK_COST > budget:
                return refused_below(spent_words.format(n))
            spent += CHECK_COST
            if keep(lay, n):
                return Count(n, lay, n + 1)
        n += 1
    return refused_below(f"more than the cluster's {most:,} chips" if n == start else f"the cluster ends at {most:,} chips")
