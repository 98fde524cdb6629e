"""FP8 fused-attention speedup over BF16 per chip, from NVIDIA's measured kernel database only.

    pip install -e '.[kernels]' && python scripts/fit_fp8_attention.py

The training step prices FP8 dot-product attention (Transformer Engine fp8_dpa) from the chip's
calibrated BF16 attention (cuDNN rows, perf/fit fit_attention) divided by this speedup
(perf/train_attention.fp8_attention_speedup). FP8 doubles the tensor-core rate of the two
attention GEMMs but not the softmax: its exponentials run on the multi-function units at the same
rate in both formats (FlashAttention-3, Shah et al. 2024, arXiv:2407.08608, sec. 3: the H100 SXM5
has 989 TFLOPS of BF16 matmul but 3.9 TFLOPS of exponential), so the speedup is a measured
property of the chip's kernels, below the 2x of the matmul peaks.

For each chip of the database: every context (prefill) attention shape measured in both BF16
(attn_dtype bf16, kv bf16) and FP8 (attn_dtype fp8, kv fp8) with head dim 128 and q_len >= 4096
(training sequences: 4k-16k per rank), paired on (batch, q_len, heads, kv_heads); the speedup is the
median over those pairs of t(bf16) / t(fp8), with its 10th/90th percentiles and the pair count.
Both formats come from one kernel library (TensorRT-LLM's context FMHA), so the ratio is the
format's gain on the chip, not a library difference. Writes
src/tapeout/data/calibration/fp8_attention_speedup.yaml. No end-to-end row is read.
"""

from pathlib import Path

import numpy as np
import yaml

from tapeout.perf.kernels_db import read_kernels

OUT = Path(__file__).resolve().parents[1] / "src" / "tapeout" / "data" / "calibration" / "fp8_attention_speedup.yaml"
HEAD_DIM, MIN_Q = 128, 4096


def speedups(k) -> dict:
    c = k.cols
    out = {}
    for chip in sorted(set(c["chip"])):
        sel = (c["chip"] == chip) & (c["op"] == "attention_prefill") & (c["head_dim"] == HEAD_DIM) & (c["q_len"] >= MIN_Q)

        def times(fmt: str) -> dict:
            idx = np.where(sel & (c["fmt"] == fmt) & (c["kv_fmt"] == fmt))[0]
            return {(int(c["batch"][i]), int(c["q_len"][i]), int(c["heads"][i]), int(c["kv_heads"][i])):
                    float(c["latency_s"][i]) for i in idx}

        bf, f8 = times("bf16"), times("fp8")
        both = sorted(set(bf) & set(f8))
        if not both:
            continue
        r = np.array([bf[s] / f8[s] for s in both])
        ver = sorted({str(v) for v in c["stack_version"][c["chip"] == chip]})
        out[chip] = {"speedup": round(float(np.median(r)), 3), "p10": round(float(np.percentile(r, 10)), 3),
                     "p90": round(float(np.percentile(r, 90)), 3), "n_shapes": len(both),
                     "system": str(c["system"][c["chip"] == chip][0]), "stack_version": ",".join(ver)}
    return out


def main():
    k = read_kernels(ops=("attention_prefill",), per_group=None)
    doc = {
        "about": "FP8 / BF16 fused-attention speedup per chip (perf/train_attention.fp8_attention_speedup). Written by "
                 "scripts/fit_fp8_attention.py from kernel microbenchmarks only; do not edit by hand.",
        "source": f"aiconfigurator-core {k.package_version} context_attention_perf.parquet, stack {k.sources[0]['stack']} "
                  "(NVIDIA measured kernels: TensorRT-LLM context FMHA, https://pypi.org/project/aiconfigurator-core/)",
        "selection": f"head_dim {HEAD_DIM}, q_len >= {MIN_Q}; pairs (batch, q_len, heads, kv_heads) measured with attn and KV "
                     "both bf16 and both fp8; speedup = median t(bf16)/t(fp8), p10/p90 its spread over the pairs",
        "chips": speedups(k),
    }
    OUT.write_text(yaml.safe_dump(doc, sort_keys=False, width=120))
    for chip, v in doc["chips"].items():
        print(chip, v)


if __name__ == "__main__":
    main()
