"""The automatic and the submitted layouts of the PCIe / HGX llama-2-70b rows, one Offline step each against
NVIDIA's measured kernel database (AIConfigurator, TensorRT-LLM 1.3.0rc20) on the database's own system:
GEMM (step table: model GEMM alone vs database GEMM with its quantize pass; grid: like with like at measured
points), generation / context attention, all-reduce (the database's node, not the row's wiring).
Kernel timings only; no end-to-end result is read. Needs the kernels extra.

    python scripts/layout_kernel_db_check.py

docs/notes/issue-24.md, Round stop-38 (branch issue-43b)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from llm_step_kernel_check import I, O, grid_check, step_rows  # noqa: E402

GEMMS = ("qkv_proj", "o_proj", "mlp_gate_up", "mlp_down", "lm_head")
CASES = [("h100_sxm", "h100-sxm", 1, 233), ("h100_sxm", "h100-sxm", 2, 1300), ("h100_sxm", "h100-sxm", 2, 896),
         ("h100_sxm", "h100-sxm", 4, 2923), ("l40s", "l40s", 2, 155), ("l40s", "l40s", 4, 1024)]


def main() -> None:
    for system, chip, tp, b in CASES:
        rows = step_rows(system, chip, tp, 1, b)
        gm, gd = (sum(rows[k][i] for k in GEMMS) for i in (0, 1))
        ar = [v for k, v in rows.items() if "allreduce" in k]
        ag, ac = rows["attention (generation)"], rows["attention (context)"]
        print(f"{system} TP{tp} b={b} ({b + b * I / O:.0f} tokens/step): GEMM model {gm * 1e3:.1f} db {gd * 1e3:.1f} ms "
              f"({gm / gd:.2f}); all-reduce model {sum(a for a, _ in ar) * 1e3:.1f} db {sum(d for _, d in ar) * 1e3:.1f}; "
              f"generation attention model {ag[0] * 1e3:.1f} db {ag[1] * 1e3:.1f}; context {ac[0] * 1e3:.1f} db {ac[1] * 1e3:.1f}")
        print("   grid model/db:", ", ".join(f"{r[0]} {r[4]:.2f}" for r in grid_check(system, chip, tp, b + b * I / O)))


if __name__ == "__main__":
    main()
