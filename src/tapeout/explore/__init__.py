"""Design-space exploration: a parametric NPU template, design spaces with constraints and a
workload mix, vectorized sweeps and NSGA-II, a resumable DuckDB store, Ray scale-out."""

# bump when the NPU template or the evaluation model changes: stored metrics of another
# version are not reused (the version is part of every design key)
MODEL_VERSION = "npu-2"  # npu-2: floorplan limits (edge, package, thermal, power delivery, rack)

from .npu import hardware, load_template, npu_params  # noqa: E402,F401
from .pareto import pareto_front, pareto_mask  # noqa: E402,F401
from .space import Space, load_space  # noqa: E402,F401


def explore(*args, **kwargs):
    """See tapeout.explore.search.explore."""
    from .search import explore as _explore

    return _explore(*args, **kwargs)
