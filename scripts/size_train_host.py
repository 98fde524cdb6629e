"""GPU time per layer per micro-batch of training rows (the model as it stands) and the CPU issue time per
Transformer Engine module at which an eager stack would idle the GPU (perf/train_host.break_even_issue_s);
for a run priced eager, its CPU time per layer (perf/host_issue.py), the GPU idle per step, and the factor
by which the sourced per-call CPU times would have to grow before a layer pass became host-bound.

Usage: python scripts/size_train_host.py TRN-v3.1-0095,TRN-v4.0-0099 [modules_per_layer=4]
(docs/notes/issue-18.md, "Round stop-19 (branch issue-19sj)", "Round stop-25 (branch issue-25lo)")."""
import sys

import tapeout.perf.training as training
import tapeout.validation.train_rows as train_rows
from tapeout.perf.train_host import break_even_issue_s
from tapeout.validation.harness import default_data, read_rows


def main(ids: list[str], modules: int) -> None:
    seen = {}
    run = training.train

    def spy(*a, **k):  # keep the TrainResult map_row computes
        seen["r"] = run(*a, **k)
        return seen["r"]

    training.train = spy  # map_row imports train from perf.training when it runs
    rows = {r["id"]: r for r in read_rows(default_data())}
    for i in ids:
        train_rows.map_row(rows[i])
        r = seen["r"]
        b = r.breakdown
        layers = b["stage_layers"]
        layers = max(layers) if isinstance(layers, (list, tuple)) else layers
        f, bw = b["F"] / layers, b["B"] / layers
        print(f"{i} {r.parallelism} m={b['m']:g} layers/device={layers} step={r.step_time_s:.3f}s "
              f"F/layer={f * 1e3:.2f}ms B/layer={bw * 1e3:.2f}ms break-even per module "
              f"F={break_even_issue_s(f, modules) * 1e6:.0f}us B={break_even_issue_s(bw, modules) * 1e6:.0f}us")
        h = b.get("host_issue")
        if h:
            cf, cb = h["cpu_per_layer_fwd_ms"], h["cpu_per_layer_bwd_ms"]
            print(f"  eager: host {h['host_cpu']}; CPU/layer F={cf:.2f}ms B={cb:.2f}ms; GPU idle "
                  f"{h['gpu_idle_per_step_ms']:.2f} ms/step ({h['gpu_idle_per_step_ms'] * 1e-3 / r.step_time_s:.2%}); "
                  f"host-bound if per-call CPU x{min(f * 1e3 / cf, bw * 1e3 / cb):.2f}")


if __name__ == "__main__":
    main(sys.argv[1].split(","), int(sys.argv[2]) if len(sys.argv) > 2 else 4)
