"""Per-chip memory of Llama-3.1-405B on 16,384 H100 (seq 8192, GBS 2048) term by term at Meta's layout and
the search's, memory check off so every layout reports (docs/notes/issue-18.md, Round stop-23 issue-23tb).
Run: PYTHONPATH=src python scripts/llama405b_memory_audit.py"""
import tapeout.perf.training as T
from tapeout.hardware.catalog import get_chip
from tapeout.hardware.memory_capacity import GIB
from tapeout.perf.train_layout import TrainLayout
from tapeout.perf.train_reserve import Reserve, training_reserve

ARGS = ('llama-3.1-405b', 'h100-sxm', 16384, 16777216, 8192, 'bf16')
H100 = get_chip('h100-sxm')
LAYOUTS = [TrainLayout(8, 16, 128, 1, 1, 1, 1, 1, r) for r in ("none", "full")] + \
          [TrainLayout(8, 16, 128, 1, 1, v, 1, 1, r) for v in (6, 8) for r in ("none", "full")] + \
          [TrainLayout(8, 16, 64, 2, 1, 8, 1, 1, "none"), TrainLayout(8, 8, 128, 2, 1, 8, 1, 1, "none")]
T.training_reserve = lambda lay, chip: Reserve(0.0, 0.0, 0.0, -1e9)  # no limit: every layout reports; the fit is judged below
print(f"{'layout':52s} device layers  act  weights grads optim  total  fits  MFU   step s")
for lay in LAYOUTS:
    r = T.train(*ARGS, layout=lay)
    b = r.breakdown
    d = b["device"]
    print(f"{str(lay):52s} {d:6.0f} {b['stage_layers'][int(d)]:6d} {b['act'] / GIB:5.1f} {b['mem_weights'] / GIB:6.1f} "
          f"{b['mem_grads'] / GIB:5.1f} {b['mem_optimizer'] / GIB:5.2f} {b['mem'] / GIB:6.1f} "
          f"{'yes' if b['mem'] <= training_reserve(lay, H100).usable(r.capacity_gib_per_chip * GIB) else 'no':>4s} {r.mfu:.3f} {r.step_time_s:.3f}")
print(f"capacity {r.capacity_gib_per_chip:.2f} GiB; usable per layout: perf/train_reserve.py "
      f"(TP8 PP16 DP128: {training_reserve(LAYOUTS[0], H100).usable(r.capacity_gib_per_chip * GIB) / GIB:.1f} GiB)")
