"""Ray backend on a real local cluster (2 CPUs) gives the local backend's results."""

import numpy as np
import pytest

from test_explore_fixtures import SMALL

ray = pytest.importorskip("ray")

from tapeout.explore.search import explore  # noqa: E402
from tapeout.explore.store import Store  # noqa: E402


@pytest.mark.ray
def test_ray_backend_equals_local(tmp_path):
    sp = dict(SMALL, search=dict(SMALL["search"], chunk=24))
    loc = explore(sp, db=str(tmp_path / "l.duckdb"))
    if ray.is_initialized():
        ray.shutdown()
    rr = explore(sp, db=str(tmp_path / "r.duckdb"), backend="ray", num_cpus=2)
    assert rr.backend == "ray" and rr.evaluated == loc.evaluated == 144
    a = Store(str(tmp_path / "l.duckdb")).fetch(order_by="key")
    b = Store(str(tmp_path / "r.duckdb")).fetch(order_by="key")
    assert set(a) == set(b)
    for k in a:
        if a[k].dtype.kind == "f":
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert list(a[k]) == list(b[k])
    assert [r["key"] for r in loc.front] == [r["key"] for r in rr.front]
