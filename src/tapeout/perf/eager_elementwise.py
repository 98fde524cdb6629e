"""Elementwise chains an eager training stack runs op by op (data/software/eager_elementwise.yaml).

The LLM graph (workloads/llm.py) prices the RMSNorm, RoPE and SwiGLU activation as one fused kernel each:
read 1 and write 1 element (the activation: read gate and up, write 1). A stack that runs the Hugging
Face modeling code eagerly (no torch.compile, no fused kernels) launches every PyTorch op of those
functions, each a full pass over the tensor, some in FP32: the RMSNorm upcasts, squares, averages,
scales, downcasts and multiplies by its weight, 36 B per element moved against the fused kernel's 4 B.
`chain_graph` gives each of those graph ops the chain's reads and writes (elements of its 16-bit
dtype), so opcost prices their bytes on the chip's memory system as it prices every elementwise op.
The backward is the engine's 2 x the forward elementwise time (perf/training.py), the recompute a
forward. Kernel count changes are left out: at the 8,192-token micro-batches these chains run on,
each op moves >= 100 MB, far above a launch's fixed time.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import yaml

from ..errors import TapeoutError
from ..formats import data_file
from ..ops import Elementwise, OpGraph

# the graph's op names (workloads/llm.py dense blocks and the final norm) -> the chain's op roles
ROLE_OF = {"attn_norm": "norm", "mlp_norm": "norm", "final_norm": "norm", "rope": "rope", "mlp_act": "act"}


@lru_cache(maxsize=None)
def chains() -> dict:
    return yaml.safe_load(data_file("software", "eager_elementwise.yaml").read_text())["chains"]


def chain_ops(name: str) -> dict:
    """{role: (reads, writes)} of the chain `name`; an unknown name is one TapeoutError listing them."""
    tab = chains()
    if name not in tab:
        raise TapeoutError(f"elementwise_chain '{name}' is not a chain of data/software/eager_elementwise.yaml; "
                           f"use one of {', '.join(sorted(tab))}, or leave it unset (fused kernels).")
    return {role: (float(o["reads"]), float(o["writes"])) for role, o in tab[name]["ops"].items()}


def chain_graph(g: OpGraph, name: str | None) -> OpGraph:
    """`g` with its norm / RoPE / activation ops moving the eager chain's traffic (None: `g` unchanged).
    A SwiGLU activation only (the chain's act role is act(gate) * up); a GELU MLP keeps its own op."""
    if name is None:
        return g
    roles = chain_ops(name)
    ops = []
    for op in g.ops:
        role = ROLE_OF.get(op.name) if isinstance(op, Elementwise) else None
        if role == "act" and op.reads != 2:  # not a gated (gate, up) activation
            role = None
        if role is not None and role in roles:
            reads, writes = roles[role]
            op = replace(op, reads=reads, writes=writes)
        ops.append(op)
    return OpGraph(name=g.name, meta=g.meta, ops=ops)
