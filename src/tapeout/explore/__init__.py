"""Design-space exploration: a parametric NPU template, design spaces with constraints and a
workload mix, vectorized sweeps and NSGA-II, a resumable DuckDB store, Ray scale-out."""

# bump when the NPU template or the evaluation model changes: stored metrics of another
# version are not reused (the version is part of every design key)
MODEL_VERSION = "npu-2"  # npu-2: floorplan limits (edge, package, thermal, power delivery, rack)

import sys  # noqa: E402
import types  # noqa: E402

from .npu import hardware, load_template, npu_params  # noqa: E402,F401
from .pareto import pareto_front, pareto_mask  # noqa: E402,F401
from .space import Space, load_space  # noqa: E402,F401


def explore(*args, **kwargs):
    """See tapeout.explore.search.explore."""
    from .search import explore as _explore

    return _explore(*args, **kwargs)


class _ExplorePackage(types.ModuleType):
    """This package is also `tapeout.explore`, the API function's name: importing it binds the package over the
    function on `tapeout`, so calling it calls the API (api/studies.explore, input checks included)."""

    def __call__(self, *args, **kwargs):
        from ..api.studies import explore as api_explore

        return api_explore(*args, **kwargs)

    @property
    def __doc__(self):  # what `help(tapeout.explore)` shows is the function it calls
        from ..api.studies import explore as api_explore

        return api_explore.__doc__


sys.modules[__name__].__class__ = _ExplorePackage
