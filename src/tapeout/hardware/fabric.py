"""Scale-out fabric beyond one zone: zone size and oversubscription of the layer that joins zones.

A large cluster is a multi-tier Clos: inside a zone ("pod") every chip reaches every other at its
NIC rate (full bisection bandwidth); the tier above joins the zones with 1/oversubscription of the
bandwidth the zone's chips can inject (Llama 3 paper, arXiv 2407.21783 Sec. 3.3.1: pods of 3,072
H100 at full bisection, 1:7 at the aggregation layer). A zone's uplinks then carry at most
zone_chips x NIC / oversubscription; flows that leave the zone share it (perf/zone_share.py).

The default `Fabric()` has no zones: one non-blocking fabric, the rail-optimised network
hardware/topology.py describes, so nothing changes unless a cluster is named. Named clusters
live in data/clusters/clusters.yaml, every number with its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from ..errors import TapeoutError, unknown_name_error
from ..formats import data_file

# the parallel dimensions a rank order places (innermost first)
RANK_DIMS = ("tp", "cp", "dp", "pp")
# Megatron-Core parallel_state.initialize_model_parallel(order="tp-cp-ep-dp-pp"): TP innermost, PP outermost
MEGATRON_ORDER = ("tp", "cp", "dp", "pp")


@dataclass(frozen=True)
class Fabric:
    name: str = "non-blocking"
    zone_chips: int | None = None  # chips per zone with full bisection bandwidth; None: one zone (non-blocking)
    oversubscription: float = 1.0  # zone injection bandwidth / bandwidth of the zone's uplinks (>= 1)
    rank_order: tuple = MEGATRON_ORDER  # the order the cluster's stack groups ranks in (innermost first)
    total_chips: int | None = None  # chips the cluster has; None: unbounded

    def __post_init__(self):
        if self.zone_chips is not None and (not isinstance(self.zone_chips, int) or isinstance(self.zone_chips, bool)
                                            or self.zone_chips < 1):
            raise TapeoutError(f"fabric zone_chips must be a whole number of chips >= 1 (or none for a non-blocking "
                               f"fabric), got {self.zone_chips!r}.")
        try:
            o = float(self.oversubscription)
        except (TypeError, ValueError):
            o = float("nan")
        if not o >= 1.0 or o == float("inf"):
            raise TapeoutError(f"fabric oversubscription must be a finite number >= 1 (1 = non-blocking; 7 for 1:7), "
                               f"got {self.oversubscription!r}.")
        if self.total_chips is not None and (not isinstance(self.total_chips, int) or self.total_chips < 1):
            raise TapeoutError(f"fabric total_chips must be a whole number >= 1 (or none), got {self.total_chips!r}.")
        object.__setattr__(self, "rank_order", rank_order(self.rank_order))

    def check_job(self, num_chips: int) -> None:
        """A job must fit the cluster it is placed on."""
        if self.total_chips is not None and num_chips > self.total_chips:
            raise TapeoutError(f"num_chips {num_chips} exceeds cluster {self.name}'s {self.total_chips} chips; use at most "
                               f"{self.total_chips} chips or no --cluster.")

    @property
    def blocking(self) -> bool:
        """True when some traffic between zones can be slowed by the uplinks."""
        return self.zone_chips is not None and self.oversubscription > 1.0


def rank_order(order) -> tuple:
    """A rank order as a tuple of tp, cp, dp, pp (innermost first); a string 'tp,cp,pp,dp' or 'tp-cp-pp-dp' too."""
    if isinstance(order, str):
        order = [s.strip().lower() for s in order.replace("-", ",").split(",") if s.strip()]
    order = tuple(order)
    if sorted(order) != sorted(RANK_DIMS):
        raise TapeoutError(f"rank order must name each of {', '.join(RANK_DIMS)} once, innermost first "
                           f"(Megatron: tp,cp,dp,pp; Llama 3: tp,cp,pp,dp), got {','.join(map(str, order)) or 'nothing'}.")
    return order


@lru_cache(maxsize=1)
def _clusters() -> dict:
    return yaml.safe_load(data_file("clusters", "clusters.yaml").read_text())["clusters"]


def cluster_names() -> list[str]:
    return sorted(_clusters())


def get_fabric(name: str | Fabric | None) -> Fabric:
    """A named cluster's fabric (data/clusters/clusters.yaml); None: the non-blocking default."""
    if name is None or isinstance(name, Fabric):
        return name or Fabric()
    known = _clusters()
    if name not in known:
        raise unknown_name_error("cluster", name, cluster_names())
    c = known[name]
    return Fabric(name=name, zone_chips=int(c["zone_chips"]), oversubscription=float(c["oversubscription"]),
                  rank_order=tuple(c.get("rank_order", MEGATRON_ORDER)),
                  total_chips=int(c["total_chips"]) if c.get("total_chips") else None)


def cluster_fabric(cluster: str | Fabric | None = None, order=None) -> Fabric:
    """The fabric of `cluster` (get_fabric), with its rank order replaced by `order` when given."""
    from dataclasses import replace

    f = get_fabric(cluster)
    return f if order is None else replace(f, rank_order=rank_order(order))
