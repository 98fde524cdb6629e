"""One transformer layer's forward / backward time against published per-layer measurements.

data/measured/layer_times.csv holds layer-level timings (not end-to-end results): Korthikanti et al.
2022 (arXiv:2205.05198) Table 4, one layer of a 22B GPT at TP 8 on A100 80GB under Megatron-LM 2022.
Each row is reproduced through the training engine (perf/training.evaluate_layout's per-layer
forward `F_layer` and backward `B_layer`, recompute included) at the row's layout and stack settings:
one pipeline stage, no data parallelism, the row's tensor parallelism, micro-batch, sequence
parallelism, recompute, attention kernel and hidden dropout (the residual bias-dropout-add's mask,
perf/residual_ops.py). The memory check is lifted (the row timed a layer; the
run fitted on its GPUs), nothing else changes.

The row's NCCL channel count (`tp_comm_ctas`, NCCL's default on the row's node, sourced in the file) is the
cores the backward's async TP collectives take from the GEMM they hide behind (perf/tp_backward.py:
exposed max(c - g, f c), f = CTAs / SMs), behind the switch TP_COMM_CTAS.
"""

from __future__ import annotations

import csv
import dataclasses
from functools import lru_cache

import numpy as np

from ..formats import data_file
from ..hardware.catalog import get_chip
from ..workloads.llm_config import LLMConfig, from_dims
from .calibration import calibrated_params
from .training import train

BOOL = {"true": True, "false": False}
# the row's TP communicator channels occupy their SMs beside the backward GEMMs (layer_times.csv tp_comm_ctas);
# False: the TP collectives take no cores (the pricing before round stop-34)
TP_COMM_CTAS = True


@lru_cache(maxsize=1)
def published_layers() -> tuple[dict, ...]:
    """The rows of data/measured/layer_times.csv."""
    with data_file("measured", "layer_times.csv").open() as fh:
        return tuple(csv.DictReader(fh))


def layer_model(row: dict) -> LLMConfig:
    """The GPT-style decoder of a row (MHA, GELU MLP, learned positions, tied embeddings)."""
    return from_dims({"name": row["model"], "hidden_size": int(row["hidden"]), "num_attention_heads": int(row["heads"]),
                      "num_key_value_heads": int(row["heads"]), "num_hidden_layers": int(row["layers"]),
                      "intermediate_size": int(row["ffn"]), "vocab_size": int(row["vocab"]), "mlp_type": "gelu",
                      "position_embedding_type": "learned", "tie_word_embeddings": True,
                      "max_position_embeddings": int(row["seq"])}, f"layer_times.csv {row['id']}")


def layer_times(row: dict, fitted: dict | None = None) -> tuple[float, float]:
    """(forward, backward) seconds of one layer per micro-batch, as the model prices the row's setup."""
    chip = get_chip(row["chip"])
    p = calibrated_params(chip, fitted)
    p = dataclasses.replace(p, mem_capacity=np.asarray(p.mem_capacity, dtype=float) * 1e3)  # timing only
    tp, mbs, seq = int(row["tp"]), int(row["mbs"]), int(row["seq"])
    r = train(layer_model(row), chip, tp, mbs * seq, seq, "bf16", params=p, tp=tp, pp=1, cp=1, mbs=mbs, zero=1,
              recompute=row["recompute"], sequence_parallel=BOOL[row["sequence_parallel"]],
              attention_kernel=row["attention_kernel"], hidden_dropout=BOOL[row["hidden_dropout"]],
              tp_comm_ctas=int(row["tp_comm_ctas"]) if TP_COMM_CTAS else 0)
    return r.breakdown["F_layer"], r.breakdown["B_layer"]
