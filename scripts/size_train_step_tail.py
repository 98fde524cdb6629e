"""Once-per-step and once-per-micro-batch work outside the layers, as the model prices it per training row:
pipeline slots, the step, the DP gradient sync (t_dp, exposed), the optimizer pass, the FP8 amax
all-reduce (perf/fp8_amax.py) as wired and as it would cost with reduce_amax on, and the grad-norm
scalar all-reduce over the model-parallel group (Megatron/NeMo clip_grad_norm_fp32, then .item()).

Usage: python scripts/size_train_step_tail.py TRN-v4.0-0076,TRN-v3.1-0095
(docs/notes/issue-18.md, "Round stop-22 (branch issue-22sh)")."""
import sys

import tapeout.perf.training as training
import tapeout.validation.train_rows as train_rows
from tapeout.hardware.catalog import get_chip
from tapeout.perf.collectives import collective_time, topology_for_chip
from tapeout.perf.fp8_amax import amax_allreduce_per_step
from tapeout.validation.harness import default_data, read_rows


def main(ids: list[str]) -> None:
    seen = {}
    run = training.train

    def spy(*a, **k):  # keep the TrainResult and the arguments map_row passes
        seen["r"], seen["args"] = run(*a, **k), (a, k)
        return seen["r"]

    training.train = spy  # map_row imports train from perf.training when it runs
    rows = {r["id"]: r for r in read_rows(default_data())}
    for i in ids:
        train_rows.map_row(rows[i])
        r, (a, _) = seen["r"], seen["args"]
        b, lay = r.breakdown, r.layout
        topo = topology_for_chip(get_chip(a[1]))
        layers = max(b["stage_layers"]) if isinstance(b["stage_layers"], (list, tuple)) else b["stage_layers"]
        tp, pp, dp, cp, vp = (int(lay.get(k, 1)) for k in ("tp", "pp", "dp", "cp", "vp"))
        slots = b["m"] + (pp - 1) / vp
        amax_on = amax_allreduce_per_step(slots, vp, layers / vp, tp * dp * cp, topo)
        norm = float(collective_time("all_reduce", 4.0, tp * pp, topo)[0])
        print(f"{i} {r.parallelism} m={b['m']:g} slots={slots:.2f} step={r.step_time_s * 1e3:.1f}ms "
              f"t_dp={b['t_dp'] * 1e3:.2f}ms exposed_dp={b['exposed_dp'] * 1e3:.2f}ms optimizer={b['optimizer'] * 1e3:.3f}ms "
              f"amax(wired)={b['exposed_comm_s']['fp8_amax_all_reduce'] * 1e3:.2f}ms amax(if on)={amax_on * 1e3:.2f}ms "
              f"({amax_on / r.step_time_s * 100:.2f}% of step) grad-norm all-reduce={norm * 1e6:.1f}us")


if __name__ == "__main__":
    main(sys.argv[1].split(","))
