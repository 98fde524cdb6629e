"""Step of Llama-3.1-405B on 16,384 H100 (seq 8192, GBS 2048) term by term: the search's layout, the CLI's
`--tp 8 --pp 16 --cp 1` (Meta's layout, Llama 3 paper Table 4, with the recompute the model needs to fit it: the
smallest Megatron-Core block recompute that fits, issue-28rb; and V8 with full recompute, the pick before it) and
layout variants with the memory check off (docs/notes/issue-18.md, rounds stop-24 issue-24tm and stop-28
issue-28la). Columns in seconds per step: m(F+B) forward/backward of the slowest device, bubble (p-1)/(v m) of
it, exposed pipeline sends (perf/pipeline_p2p.py), exposed TP, TE's CP merges, exposed DP RS / AG; memory of
the worst device and whether it fits the runtime's usable memory. The last table splits the step difference
between the search's layout and Meta's into the recompute and the layout.
Run: PYTHONPATH=src python scripts/llama405b_pipeline_audit.py"""
import tapeout.perf.training as T
from tapeout.hardware.memory_capacity import GIB
from tapeout.perf.step_terms import step_terms
from tapeout.perf.train_layout import TrainLayout
from tapeout.perf.train_reserve import Reserve, training_reserve
from tapeout.hardware.catalog import get_chip

ARGS = ('llama-3.1-405b', 'h100-sxm', 16384, 16777216, 8192, 'bf16')
CASES = [("search", dict()), ("--tp 8 --pp 16 --cp 1", dict(tp=8, pp=16, cp=1)),
         ("--tp 8 --pp 16 --cp 1 --vp 8 --recompute full", dict(tp=8, pp=16, cp=1, vp=8, recompute="full"))]
OFF = [TrainLayout(8, 16, 128, 1, 1, v, 1, 1, "none") for v in (8, 1)] + \
      [TrainLayout(8, 16, 64, 2, 1, v, 1, 1, "none") for v in (8, 4, 1)] + \
      [TrainLayout(8, 8, 128, 2, 1, 16, 1, 1, "none"), TrainLayout(8, 8, 256, 1, 1, 16, 1, 1, "none")]
CHIP = get_chip(ARGS[1])
USABLE = {}


def terms(r):
    t = step_terms(r.breakdown, r.step_time_s)
    return {k: v for k, v in t.items() if k != "m"}


def row(name, r, lay=None):
    b = r.breakdown
    e = b["exposed_comm_s"]
    fb = b["m"] * (b["F"] + b["B"])
    lay = lay or TrainLayout(**r.layout)
    usable = training_reserve(lay, CHIP).usable(r.capacity_gib_per_chip * GIB) / GIB
    print(f"| {name} | {r.parallelism} | {r.step_time_s:.3f} | {r.mfu:.1%} | {b['m']:.0f} | {(b['F'] + b['B']) * 1e3:.1f} | "
          f"{fb:.3f} | {b['bubble_over_ideal'] * fb:.3f} | {e['pp_send_recv']:.3f} | {e['tp_allreduce']:.3f} | "
          f"{b['cp_merge']:.3f} | {e['dp_reduce_scatter']:.3f} / {e['dp_all_gather']:.3f} | {b['mem'] / GIB:.1f} | "
          f"{'yes' if b['mem'] / GIB <= usable else 'no'} ({usable:.1f}) |")
    return r


print("| case | layout | step | MFU | m | F+B ms | m(F+B) | bubble | PP sends | TP | CP merge | DP RS / AG | GiB | fits (usable) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
got = {name: row(name, T.train(*ARGS, **kw)) for name, kw in CASES}
real = T.training_reserve
T.training_reserve = lambda lay, chip: Reserve(0.0, 0.0, 0.0, -1e9)  # no limit: every layout reports
off = {}
for lay in OFF:
    T.training_reserve = lambda lay_, chip: Reserve(0.0, 0.0, 0.0, -1e9)
    r = T.train(*ARGS, layout=lay)
    off[str(lay)] = row("memory check off", r, lay)
T.training_reserve = real

a, c = got["search"], got["--tp 8 --pp 16 --cp 1"]
b = off[str(OFF[0])]
ta, tb, tc = terms(a), terms(b), terms(c)
print()
print(f"| term | search | Meta's, no recompute | Meta's, searched ({TrainLayout(**c.layout).recompute}, "
      f"v{c.layout['vp']}) | layout (B - A) | recompute (C - B) |")
print("|---|---|---|---|---|---|")
for k in ta:
    print(f"| {k} | {ta[k]:.3f} | {tb[k]:.3f} | {tc[k]:.3f} | {tb[k] - ta[k]:+.3f} | {tc[k] - tb[k]:+.3f} |")
print(f"| step | {a.step_time_s:.3f} | {b.step_time_s:.3f} | {c.step_time_s:.3f} | {b.step_time_s - a.step_time_s:+.3f} | "
      f"{c.step_time_s - b.step_time_s:+.3f} |")
print(f"| MFU | {a.mfu:.1%} | {b.mfu:.1%} | {c.mfu:.1%} | {100 * (b.mfu - a.mfu):+.1f} pt | {100 * (c.mfu - b.mfu):+.1f} pt |")
