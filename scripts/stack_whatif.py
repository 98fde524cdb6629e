"""What a training stack's unsettled features would move: each MLPerf GPT-3 row of one stack is re-predicted
with one override on top of the stack's wired settings, the signed error printed per scenario. Analysis only
(docs/notes/issue-18.md "Round stop-21 (branch issue-21sf)"); nothing here changes a prediction.

Scenarios (bounds, not findings):
  base        the model as it stands
  selective   recompute pinned to selective (v3.0 run_and_time.sh / megatron_gpt_config.yaml default; the unstored
              config_common.sh may override it)
  fa2         attention at flash-attn 2's measured H100 rate (the v3.0 stack itself runs flash-attn 1.x, 'fa1', since stop 23)
  no_overlap  no userbuffers TP overlap: the upper bound of a stack whose overlap hid less than the file assumed
  dp_C_G      the Apex DP buckets' coalesced chunk groups on C NCCL channels laid out G (per_op: NCCL <= 2.18;
              balanced: 2.19-2.21); dp_1_per_op = the buckets one after another (perf/dp_buckets.py; docs/notes/
              issue-18.md "Round stop-29 (branch issue-29dp)")

Usage: python scripts/stack_whatif.py nemo-megatron-23.04 [scenario ...]
"""
import sys

import tapeout.validation.train_rows as train_rows
from tapeout.validation.harness import default_data, predict_row, read_rows
import tapeout.validation.unmapped_benchmark  # noqa: F401  (registers the row mappers)

SCENARIOS = {"base": ({}, {}), "selective": ({"recompute": "selective"}, {}),
             "fa2": ({}, {"attention_kernel": "fa2"}), "no_overlap": ({}, {"tp_overlap": None}),
             **{f"dp_{c}_{g}": ({}, {"dp_bucket": {"kind": "apex", "cap_mb": 100, "channels": c, "nccl_group": g}})
                for c in (1, 4, 8) for g in ("per_op", "balanced") if c > 1 or g == "per_op"}}


def main(stack_name: str, names: list[str]) -> None:
    applied = train_rows.stack_settings

    def run_with(pins_add, settings_add):
        def settings(stack, pins, sets, fp8, *records):  # records: the run's recorded fields (train_rows)
            p, s, a = applied(stack, pins, sets, fp8, *records)
            if stack is not None and stack.name == stack_name:
                p, s = {**p, **pins_add}, {**s, **settings_add}
                s = {k: v for k, v in s.items() if v is not None}
            return p, s, a
        return settings

    rows = [r for r in read_rows(default_data()) if r["category"] == "mlperf-train" and " gpt3" in r["workload"]]
    for name in names or list(SCENARIOS):
        train_rows.stack_settings = run_with(*SCENARIOS[name])  # map_row looks the name up when it runs
        out = []
        for r in sorted(rows, key=lambda r: float(r["n_accelerators"])):
            p = predict_row(r)
            if p.detail and p.detail.get("stack") == stack_name:
                out.append(f"{r['id']} ({r['n_accelerators']}): {p.error_pct:+.1f}% step {p.detail['step_s']:.3f} s")
        print(f"{name}: " + "; ".join(out))
    train_rows.stack_settings = applied


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
