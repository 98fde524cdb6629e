"""What one more virtual pipeline stage (model chunk) costs, term by term, at the layouts the search picks.

For each case the layout the search picks is held (TP, PP, CP, DP, MBS, recompute) and only VP varies over
every value the `layers` rule admits. Printed per VP, from the model (perf/training.py breakdown):
  step, MFU, m (F + B), bubble (p - 1)/v (F + B), exposed pipeline sends (perf/pipeline_p2p.py: fill / drain
  and the 2 (p v - 1) loop-back hops at N = p), exposed DP reduce-scatter + all-gather (chunk by chunk), memory;
and one term the model does not price, sized here (docs/notes/issue-18.md, Round stop-25 issue-25vs):
  p2p SMs: the send / recv kernels of the steady-state chunk boundaries run beside the compute on
  P2P_CTAS SMs (NVIDIA's MLPerf v3.1 GPT-3 config_common.sh: MEGATRON_CORE_P2P_MAX_CTAS=2); each device sends
  and receives 2 v m activations / gradients per step, so with each kernel resident only for its transfer
  the compute loses (P2P_CTAS / cores) x 4 v m t_send (perf/comm_contention.py's share rule, lower bound);
  held resident the whole steady state instead (posted early, waiting for the peer) it is at most
  2 kernels x P2P_CTAS / cores of m (F + B), the same for every v >= 2 (a cost of overlapping at all).
and what later Megatron-Core releases add, from the event simulation of the schedule (perf/pipeline_sim.py, chunks
of F / v and B / v, hop t_send, Megatron-Core's default group N): the blocking warm-up / cool-down sends
(overlap_p2p_comm_warmup_flush False) and the steady-state forward-send wait of Megatron-LM 260cba71 (2026-04-16),
as the step's growth over the asynchronous schedule the stacks on file ran.

Usage: PYTHONPATH=src python scripts/vp_chunk_cost_audit.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json

from tapeout.hardware.memory_capacity import GIB
import numpy as np

from tapeout.perf import training as T
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.pipeline_p2p import default_group
from tapeout.perf.pipeline_sim import simulated_step
from tapeout.perf.train_layout import virtual_stage_options
from tapeout.workloads.llm_config import load_llm

P2P_CTAS = 2  # MEGATRON_CORE_P2P_MAX_CTAS=2: mlcommons/training_results_v3.1 Azure+NVIDIA/benchmarks/gpt3/implementations/pytorch/config_common.sh

CASES = {
    "llama-3.1-405b, 16,384 H100, 8k, 16M tokens": ("llama-3.1-405b", "h100-sxm", 16384, 16777216, 8192),
    "gpt3-175b, 3,584 H100, GBS 1,536": ("gpt3-175b", "h100-sxm", 3584, 1536 * 2048, 2048),
    "gpt3-175b, 10,752 H100, GBS 3,072": ("gpt3-175b", "h100-sxm", 10752, 3072 * 2048, 2048),
}


def sweep(model, chip, n, gbt, seq):
    """Rows of the VP sweep at the search's layout for one case."""
    pick = T.train(model, chip, n, gbt, seq)
    lay = T.TrainLayout(**pick.layout)
    cores = float(np.max(calibrated_params(get_chip(chip)).num_cores))
    L = load_llm(model).num_hidden_layers
    rows = []
    for v in virtual_stage_options(L, lay.pp):
        try:
            r = T.train(model, chip, n, gbt, seq, tp=lay.tp, pp=lay.pp, cp=lay.cp, mbs=lay.mbs, vp=v,
                        recompute=lay.recompute, zero=lay.zero)
        except Exception as e:  # a VP that breaks a rule or does not fit: say why, keep going
            rows.append({"vp": v, "error": str(e).splitlines()[0][:90]})
            continue
        b = r.breakdown
        m, F, B = b["m"], b["F"], b["B"]
        t_send = b["p2p"] / (2 * v) if v else 0.0
        fb = m * (F + B)
        sim = {}
        if v > 1:
            args = (lay.pp, v, int(m), default_group(int(m), lay.pp), F / v, B / v, t_send)
            base = simulated_step(*args)
            sim = {"mcore_warmup": simulated_step(*args, blocking_warmup=True) - base,
                   "mcore_send_wait": simulated_step(*args, forward_send_wait=True, rendezvous=True) - base,
                   "mcore_both": simulated_step(*args, blocking_warmup=True, forward_send_wait=True, rendezvous=True) - base}
        rows.append({"vp": v, "layout": r.parallelism, "step": r.step_time_s, "mfu": r.mfu, "m": m, "mFB": fb,
                     "bubble": (lay.pp - 1) / v * (F + B), "pp_send": b["exposed_comm_s"]["pp_send_recv"],
                     "dp": b["exposed_dp"], "mem_gib": b["mem"] / GIB, "t_send": t_send,
                     "p2p_sm_low": P2P_CTAS / cores * 4 * v * m * t_send,
                     "p2p_sm_high": (2 * P2P_CTAS / cores * fb) if v > 1 else 0.0, **sim})
    return pick, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    out = {}
    for name, case in CASES.items():
        pick, rows = sweep(*case)
        out[name] = {"pick": pick.parallelism, "rows": rows}
        print(f"\n### {name}: search picks {pick.parallelism}, {pick.mfu:.1%} MFU")
        print("| VP | step s | MFU | m(F+B) | bubble | PP sends | DP exp. | GiB | p2p SMs (low / high) | "
              "Mcore warm-up / send wait / both (s, % of step) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            if "error" in r:
                print(f"| {r['vp']} | {r['error']} |")
                continue
            print(f"| {r['vp']} | {r['step']:.3f} | {r['mfu']:.1%} | {r['mFB']:.3f} | {r['bubble']:.3f} | "
                  f"{r['pp_send']:.4f} | {r['dp']:.4f} | {r['mem_gib']:.1f} | {r['p2p_sm_low']:.4f} / "
                  f"{r['p2p_sm_high']:.3f} | " + (f"{r['mcore_warmup']:.4f} / {r['mcore_send_wait']:.4f} / "
                                                   f"{r['mcore_both']:.4f} ({r['mcore_both'] / r['step']:.1%})" if "mcore_both" in r
                                                   else "-") + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
