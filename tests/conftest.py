import os

import pytest
from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Property tests: the default profile draws the same examples on every run (derandomize), so a CI result is
# reproducible and a red run names an example anyone can replay; HYPOTHESIS_PROFILE=explore draws fresh random
# examples, 5x as many, to hunt for new counterexamples (a random draw on main found the serving grid's
# non-monotone interpolation, round stop-34). Each test's own @settings still sets its example count.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", max_examples=500, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def session_chips():
    """Chips registered by a test leave the session catalog afterwards (other tests list it)."""
    from tapeout.hardware.catalog import chip_ids, unregister_chip
    from tapeout.perf.mlperf import clear_caches

    before = set(chip_ids())
    yield
    for cid in set(chip_ids()) - before:
        unregister_chip(cid)
    clear_caches()
