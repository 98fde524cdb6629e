"""DualPipe: DeepSeek's bidirectional pipeline schedule with computation-communication overlap.

Sources: DeepSeek-V3 technical report (arXiv:2412.19437) Sec. 3.2.1 "DualPipe and Computation-
Communication Overlap", Fig. 4-5, Table 2; code github.com/deepseek-ai/DualPipe (dualpipe/dualpipe.py
at bb214e82, README.md at 89f5de17).

Layout. PP ranks; the model is cut into PP stages and rank r holds stage r and stage PP-1-r
(examples/example_dualpipe.py: local_modules = full_modules[r], full_modules[PP-1-r]); micro-batches
enter from both ends, half each (dualpipe.py step(): scatter(inputs, half_num_chunks)). A chunk is one
stage's pass of one micro-batch, so every rank runs m forward and m backward chunks of L/PP layers.

Rules (dualpipe.py step(): `assert num_ranks % 2 == 0`, `assert num_chunks > 0 and num_chunks % 2 == 0
and num_chunks >= num_ranks * 2`; Sec. 3.2.1 "DualPipe only requires that the pipeline stages and
micro-batches be divisible by 2"): PP even, m even and m >= 2 PP; no interleaving (one stage per
direction).

Overlap of a chunk pair (Sec. 3.2.1, Fig. 4): a forward chunk and a backward chunk run together, the
all-to-all dispatch / combine and PP send of each hidden behind the other's attention and MLP compute.
With g the two chunks' compute and c their communication (EP all-to-all + PP sends), the
communication kernels occupying the share f of the cores while they run (Sec. 3.2.2 / 3.5.1: 20 of
the H800's 132 SMs; data/software/dualpipe.yaml), perf/comm_contention.py's rule gives the pair
    F&B = g + max(c - g, f c)      (= max(c, g + f c))
i.e. exposed communication is only what exceeds the paired compute, plus the compute the
communication's SMs take. This packs the pair's comm against its compute as a whole (the ideal
Fig. 4 draws: "both all-to-all and PP communication can be fully hidden"); the per-component order
inside a pair could expose more. The reference code commits a pair's PP sends with the next pair's
receives (_commit_and_wait_comm before compute), not overlapped; the report's production schedule
is followed here.

Step (Table 2; README "Pipeline Bubbles and Memory Usage Comparison"): bubble = (PP/2 - 1)(F&B + B - 3W)
beside 1F1B's (PP-1)(F+B), F / B a forward / full-backward chunk, W its weight-gradient part (zero-bubble
split of B into input- and weight-gradient, Qi et al. 2023), so
    step = m F&B + (PP/2 - 1)(F&B + B - 3W).
Memory (Table 2): parameters 2x (two stages per rank), activations of PP + 1 chunks in flight (1F1B: PP).
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from ..formats import data_file
from .comm_contention import contended_exposure, core_share

SCHEDULES = ("1f1b", "dualpipe")  # "1f1b": Megatron-Core's 1F1B / interleaved 1F1B (perf/pipeline_sim.py)
PARAM_COPIES = 2  # Table 2 "Parameter 2x": rank r holds stages r and PP-1-r


@lru_cache(maxsize=1)
def _data() -> dict:
    return yaml.safe_load(data_file("software", "dualpipe.yaml").read_text())


def comm_share(cores: float, collectives_on_cores: bool = True) -> float:
    """Share of the chip's cores DeepSeek's communication kernels occupy (20 SMs, data/software/
    dualpipe.yaml); 0 on a chip whose collectives do not run on its compute cores."""
    if not collectives_on_cores:
        return 0.0
    return core_share(_data()["comm_sms"], cores, "dualpipe comm_sms (data/software/dualpipe.yaml)")


def dualpipe_rule(pp: int, m: int, vp: int = 1) -> str | None:
    """The DualPipe rule a layout breaks, as one phrase naming it, or None (module docstring)."""
    if pp < 2 or pp % 2:
        return f"dualpipe: DualPipe needs an even PP >= 2 (the stages pair up from both ends), got PP {pp}"
    if vp != 1:
        return f"dualpipe: DualPipe holds one stage per direction on each rank; VP must be 1, got {vp}"
    if m % 2 or m < 2 * pp:
        return (f"dualpipe: DualPipe needs an even number of micro-batches >= 2 x PP = {2 * pp} (half enter from "
                f"each end; DualPipe dualpipe.py step()), got {m}")
    return None


def in_flight_chunks(pp: int) -> int:
    """Chunks of activations a rank holds at its peak (Table 2: PP + 1; 1F1B: PP)."""
    return pp + 1


def overlapped_pair(g_fwd, g_bwd, c_fwd, c_bwd, share: float):
    """F&B: time of a forward chunk (compute g_fwd, communication c_fwd) overlapped with a backward
    chunk (g_bwd, c_bwd), the communication on `share` of the cores (module docstring)."""
    g, c = g_fwd + g_bwd, c_fwd + c_bwd
    return g + contended_exposure(max(0.0, c - g), c, share)


def dualpipe_bubble(pp: int, fb: float, b: float, w: float) -> float:
    """Table 2: (PP/2 - 1)(F&B + B - 3W)."""
    return (pp / 2 - 1) * (fb + b - 3.0 * w)


def dualpipe_time(pp: int, m: int, fb: float, b: float, w: float) -> float:
    """Pipeline time of one step: m overlapped pairs plus the Table 2 bubble."""
    return m * fb + dualpipe_bubble(pp, fb, b, w)
