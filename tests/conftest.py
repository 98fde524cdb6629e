import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


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
