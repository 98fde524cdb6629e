"""Two flows on one NIC: pipeline sends that coincide with the data-parallel collectives.

On a rail-optimised fabric each accelerator has one NIC (hardware/topology.py), and both its
pipeline send/recv to the next stage and its share of the DP reduce-scatter / all-gather leave
through it. Two flows that start together on one link of bandwidth B and share it fairly
(processor sharing: each gets B/2 while both are active) finish at

    smaller x:  2 x / B            (half the bandwidth for its whole life)
    larger  y:  (x + y) / B        (the link moves every byte of both)

Which pipeline sends coincide with DP traffic (Megatron-Core schedules): the gradient
reduce-scatter of a model chunk starts after that chunk's last backward, i.e. in the drain, whose
p - 1 backward hops are on the critical path; the parameter all-gather of the next step
(overlap_param_gather) runs during the fill, whose p - 1 forward hops are. Steady-state sends
(hidden behind compute) meet no DP traffic: the collectives have not started yet. So the 2 (p - 1)
fill/drain hops each move their bytes at half the NIC while the DP collective crosses the NIC, and
each adds its bytes to the DP collective's time.
"""

from __future__ import annotations


def shared_finish_times(x_bytes: float, y_bytes: float, bw: float) -> tuple[float, float]:
    """(finish of flow x, finish of flow y) in seconds for two flows started together on a link of
    `bw` B/s shared fairly; the smaller finishes at 2 min / bw, the larger at (x + y) / bw."""
    if bw <= 0:
        raise ValueError("link bandwidth must be > 0")
    small, big = sorted((max(0.0, x_bytes), max(0.0, y_bytes)))
    t_small, t_big = (2.0 * small / bw if big > 0 else small / bw), (small + big) / bw
    return (t_small, t_big) if x_bytes <= y_bytes else (t_big, t_small)


def fill_drain_share(send_bytes: float, bw: float, pp: int, dp_active: bool) -> tuple[float, float]:
    """(extra exposed pipeline time, extra DP collective time) per step when the 2 (pp - 1)
    fill/drain hops of `send_bytes` share their NIC (`bw`, achieved B/s) with a DP collective that
    crosses it (`dp_active`): each hop's bandwidth term doubles, and the DP flow carries its bytes
    too. Zero without pipeline or without DP traffic on the NIC."""
    if pp <= 1 or not dp_active or send_bytes <= 0:
        return 0.0, 0.0
    hops = 2.0 * (pp - 1)
    alone = send_bytes / bw
    return hops * alone, hops * alone  # per hop: 2 S/B - S/B on the sends; +S/B on the collective
