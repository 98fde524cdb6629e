"""Step of Llama-3.1-405B on 16,384 H100 (seq 8192, GBS 2048) term by term: the search's layout, the CLI's
`--tp 8 --pp 16 --cp 1`, and Meta's layout variants with the memory check off (docs/notes/issue-18.md,
Round stop-24 issue-24tm). Columns in seconds per step: m(F+B) forward/backward of the slowest device,
bubble (p-1)/v (F+B), exposed pipeline sends (perf/pipeline_p2p.py), exposed TP, exposed DP RS / AG.
Run: PYTHONPATH=src python scripts/llama405b_pipeline_audit.py"""
import tapeout.perf.training as T
from tapeout.hardware.memory_capacity import GIB
from tapeout.perf.train_layout import TrainLayout
from tapeout.perf.train_reserve import Reserve

ARGS = ('llama-3.1-405b', 'h100-sxm', 16384, 16777216, 8192, 'bf16')
CASES = [("search", dict()), ("--tp 8 --pp 16 --cp 1", dict(tp=8, pp=16, cp=1))]
OFF = [TrainLayout(8, 16, 128, 1, 1, v, 1, 1, "none") for v in (8, 1)] + \
      [TrainLayout(8, 16, 64, 2, 1, v, 1, 1, "none") for v in (8, 4, 1)]


def row(name, r):
    b = r.breakdown
    e = b["exposed_comm_s"]
    fb = b["m"] * (b["F"] + b["B"])
    print(f"| {name} | {r.parallelism} | {r.step_time_s:.3f} | {r.mfu:.1%} | {fb:.3f} | {b['bubble_over_ideal'] * fb:.3f} | "
          f"{e['pp_send_recv']:.3f} | {e['tp_allreduce']:.3f} | {e['dp_reduce_scatter']:.3f} / {e['dp_all_gather']:.3f} | "
          f"{b['mem'] / GIB:.1f} |")


print("| case | layout | step | MFU | m(F+B) | bubble | PP sends | TP | DP RS / AG | GiB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name, kw in CASES:
    row(name, T.train(*ARGS, **kw))
T.training_reserve = lambda lay: Reserve(0.0, 0.0, 0.0, -1e9)  # no limit: every layout reports
for lay in OFF:
    row("memory check off", T.train(*ARGS, layout=lay))
