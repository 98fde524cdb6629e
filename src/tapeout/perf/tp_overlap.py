"""Tensor-parallel communication overlapped with the adjacent GEMMs, as Megatron-Core / NeMo run
it with Transformer Engine userbuffers (data/software/tp_comm_overlap.yaml).

With sequence parallelism each TP all-reduce of a layer is an all-gather before a column-parallel
GEMM and a reduce-scatter after a row-parallel one (Korthikanti et al. 2022), each half of the
all-reduce time in BF16. Under the FP8 recipe the all-gather userbuffers are FP8 (TE 1.x
module/base.py initialize_ub, "AllGather buffers use fp8 when using fp8 recipe": qkv_fprop,
qkv_dgrad, proj_dgrad, fc1_fprop, fc1_dgrad, fc2_dgrad allocated uint8; the norm writes its FP8
output into the qkv/fc1_fprop buffer and grad_output_preprocess casts dY into the proj/fc2_dgrad
one), so each slot takes its own part of the block's collectives (sequence_parallel.TPComm).
Userbuffers split a collective into chunks and run them while the GEMM works on
the chunks it already has (Wang et al., ASPLOS'23, arXiv:2305.06942; TE `ub_tp_comm_overlap_cfg`):
  t(g, c) = max(g', c) + min(g', c) / n,   g' = g / (1 - f)
the slower of the two streams, plus one chunk that cannot overlap (the first all-gather chunk or
the last reduce-scatter chunk), where n = num_splits (pipeline) or TP (ring exchange: one chunk
per peer), and f = num_sm / SMs is the share of the cores the communication kernels take from the
GEMM for its whole duration (`set_sm_margin`; ring exchange moves data with the copy engines, 1
SM). Bounds: max(g, c) <= t <= g' + c. A collective that is not overlapped adds c after g.

Slots of one layer pass (workloads/llm.py op names):
  forward   qkv_proj  <- all-gather  (qkv_fprop)    o_proj     -> reduce-scatter (proj_fprop)
            mlp_gate_up <- all-gather (fc1_fprop)   mlp_down   -> reduce-scatter (fc2_fprop)
  backward  mlp_down dgrad <- all-gather of dY (fc2_dgrad)   mlp_gate_up dgrad -> reduce-scatter (fc1_dgrad)
            o_proj dgrad   <- all-gather of dY (proj_dgrad)  qkv_proj dgrad    -> reduce-scatter (qkv_dgrad)
Chunked GEMMs: TE runs an overlapped slot's GEMM chunk by chunk (transformer_engine/pytorch/csrc/
comm_gemm_overlap.h, read at 0067163: UbufCommOverlap::split_overlap_rs calls te_gemm once per chunk of
m_chunk = M / num_splits rows; UbufP2PCommOverlap::split_overlap_ag once per ring step, _tp_size chunks of
M / TP rows (tp_size / 2 of 2 chunks with aggregate2); TE 1.x CommOverlap / CommOverlapP2P keep the loops),
so an overlapped GEMM is n cuBLASLt kernels, each with its own fixed time (kernel_overhead, perf/opcost).
Only that is charged: the chunks cycle over a pool of compute streams (_stream_compute[i % size]), so a
chunk's last wave can share the cores with the next chunk's first and the whole GEMM's waves stand; the
wave quantization at M / n rows (GPT-3 TP4 mbs1: up to 1.37x per GEMM in the tile model, 1.29x in the kernel
database; scripts/size_train_ub_chunks.py, docs/notes/issue-18.md "Round stop-28 (branch issue-28ig)") is the
upper bound, not charged.
The all-gathers overlap when `ag` is on, the forward reduce-scatters with `rs`, the backward ones
with `rs_dgrad`; the qkv slots only when `qkv` is on. Weight-gradient GEMMs (full training) run
after the overlapped dgrad GEMM; a 'bulk' backward slot (`bulk` on, full training only) instead runs
the dgrad reduce-scatter whole beside the weight-gradient GEMM (n -> infinity).
Bulk slot roles (BULK_SLOT_ROLES): Transformer Engine names a column-parallel GEMM's two bulk userbuffers by
the GEMM they hide behind, not by the collective: `{qkv,fc1}_dgrad` is the all-gather of the saved (FP8) norm
output that the weight gradient needs, run beside the dgrad GEMM (`ub_algo=BULK_OVERLAP_AG if
ctx.ub_bulk_dgrad`, `ub_obj_lnout = get_ub(ctx.ub_name+"_dgrad")`), and `{qkv,fc1}_wgrad` is the dgrad's
reduce-scatter, run beside the wgrad GEMM (`BULK_OVERLAP_RS if ctx.ub_bulk_wgrad`, `get_ub(ctx.ub_name+
"_wgrad")`): transformer_engine/pytorch/module/layernorm_linear.py _LayerNormLinear.backward of the TE 1.x
line (stored copy, code-index id 1352436852) and layernorm_mlp.py _LayerNormMLP.backward of an earlier 1.x
(the ub_split_ag era, code-index id 4565701932: `get_ub("fc1_wgrad")` for the FC1 dgrad output, reduce-scattered
with BULK_OVERLAP_RS beside the FC1 wgrad GEMM; ub_obj_lnout beside the FC1 dgrad GEMM); initialize_ub lists qkv_dgrad / fc1_dgrad among the FP8
all-gather buffers. Where a config lists the `_wgrad` slot (the NVIDIA GPT-3 files of v3.0, v3.1, v4.0) the
backward of that GEMM is priced as TE runs it: max(g / (1 - f_dgrad), all-gather) + max(g / (1 - f_wgrad),
reduce-scatter), each bulk collective on its own slot's SMs; without one (or with the switch off) the
`_dgrad` slot's SMs carry the reduce-scatter beside the wgrad GEMM and the all-gather is not priced.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import yaml

from ..errors import TapeoutError
from ..formats import data_file
from .sequence_parallel import TPComm

# On: a config's `{qkv,fc1}_wgrad` bulk slot carries the dgrad reduce-scatter beside the wgrad GEMM and the
# `_dgrad` slot the saved input's all-gather beside the dgrad GEMM, as Transformer Engine names them (module
# docstring, "Bulk slot roles"; sourced from TE's backward, and it moves the NeMo GPT-3 rows toward their
# measurements: docs/notes/issue-18.md "Round stop-42 (branch issue-61f)"). Off: the `_dgrad` slot's SMs
# carry the reduce-scatter and the backward all-gather is not priced (the reading before stop 42).
BULK_SLOT_ROLES = True
# a bulk dgrad slot -> the slot TE runs the same GEMM's dgrad reduce-scatter in, beside its wgrad GEMM
WGRAD_SLOT = {"qkv_dgrad": "qkv_wgrad", "fc1_dgrad": "fc1_wgrad"}

TP_GEMMS = ("qkv_proj", "o_proj", "mlp_gate_up", "mlp_down")
# a graph GEMM that fills another name's slots: the non-gated MLP's FC1 (workloads/llm.py dense_mlp
# `mlp_up`, GPT-3) is the column-parallel GEMM of the MLP block like the gated `mlp_gate_up`
SLOT_OF = {"mlp_up": "mlp_gate_up"}
# (GEMM, collective feeding it ('ag') or fed by it ('rs'), slot, the collective's op in the graph)
FWD_SLOTS = (("qkv_proj", "ag", "qkv_fprop", "attn_allreduce"), ("o_proj", "rs", "proj_fprop", "attn_allreduce"),
             ("mlp_gate_up", "ag", "fc1_fprop", "mlp_allreduce"), ("mlp_down", "rs", "fc2_fprop", "mlp_allreduce"))
BWD_SLOTS = (("mlp_down", "ag", "fc2_dgrad", "mlp_allreduce"), ("mlp_gate_up", "rs", "fc1_dgrad", "mlp_allreduce"),
             ("o_proj", "ag", "proj_dgrad", "attn_allreduce"), ("qkv_proj", "rs", "qkv_dgrad", "attn_allreduce"))
TP_COLLECTIVES = ("attn_allreduce", "mlp_allreduce")
# each block's collective -> (the column-parallel GEMM whose input it gathers, the row-parallel GEMM
# whose output it reduce-scatters and whose dY it gathers in the backward)
TP_BLOCK_GEMMS = {op: (next(g for g, k, _, o in FWD_SLOTS if o == op and k == "ag"),
                       next(g for g, k, _, o in FWD_SLOTS if o == op and k == "rs")) for op in TP_COLLECTIVES}


@dataclass(frozen=True)
class TPOverlap:
    """One stack's TP overlap: which collectives overlap, and each slot's (method, num_sm, splits)."""

    name: str
    ag: bool
    rs: bool
    rs_dgrad: bool
    qkv: bool
    slots: tuple  # ((slot, method, num_sm, num_splits), ...)
    bulk: bool = False  # backward reduce-scatters of 'bulk' slots run beside the weight-gradient GEMM
    fp8_rs: frozenset = frozenset()  # reduce-scatter slots whose userbuffer is FP8 (`fp8_buf`)
    tp: int = 0  # the TP size the config was written for (0: any)
    vendor: str | None = None  # the vendor whose chips have the userbuffers (None: any)

    def slot(self, name: str) -> tuple[str, int, int] | None:
        for s, method, sm, n in self.slots:
            if s == name:
                return method, sm, n
        return None

    def dy_gathered(self) -> frozenset:
        """The row-parallel GEMMs whose backward dY all-gather runs in a userbuffer (proj/fc2_dgrad)."""
        return frozenset(name for name, kind, slot, _ in BWD_SLOTS
                         if kind == "ag" and self.slot(slot) is not None and self.on(slot, kind, True))

    def on(self, slot: str, coll: str, backward: bool, method: str = "") -> bool:
        if slot.startswith("qkv") and not self.qkv:
            return False
        if coll == "ag":
            return self.ag
        if backward and method == "bulk":
            return self.bulk
        return self.rs_dgrad if backward else self.rs


@lru_cache(maxsize=1)
def _table() -> dict:
    return yaml.safe_load(data_file("software", "tp_comm_overlap.yaml").read_text())["configs"]


def overlap_names() -> list[str]:
    return sorted(_table())


def get_overlap(name: str | None) -> TPOverlap | None:
    """The named overlap config (None: no overlap); an unknown name is bad input."""
    if name is None:
        return None
    t = _table()
    if name not in t:
        raise TapeoutError(f"unknown tp_overlap (--tp-overlap) '{name}'; choose one of: {', '.join(sorted(t))} "
                           f"(data/software/tp_comm_overlap.yaml).")
    e = t[name]
    fl = e["flags"]
    slots = tuple((s, v["method"], int(v.get("num_sm", 1)), int(v.get("num_splits", 0)))
                  for s, v in sorted(e["slots"].items()))
    fp8_rs = frozenset(s for s, v in e["slots"].items() if v.get("fp8_buf", False))
    bad = sorted(s for s in fp8_rs if e["slots"][s]["method"] != "pipeline")
    if bad:  # TE 1.x initialize_ub honours fp8_buf only `and name in methods["pipeline"]`
        raise TapeoutError(f"tp_overlap '{name}' slot {bad[0]}: fp8_buf applies only to a 'pipeline' reduce-scatter "
                           f"slot (data/software/tp_comm_overlap.yaml); drop fp8_buf or set method: pipeline.")
    return TPOverlap(name, bool(fl["ag"]), bool(fl["rs"]), bool(fl["rs_dgrad"]), bool(fl["qkv"]), slots,
                     bool(fl.get("bulk", False)), fp8_rs, int(e.get("tp", 0)), e.get("vendor"))


def check_overlap(ov: TPOverlap, chip, tp: int | None) -> None:
    """One clear error where a userbuffers config cannot run: on a chip of another vendor (no userbuffers),
    or at a TP other than the one it was written for (`tp`: the layout's, None where the search picks it)."""
    from ..hardware.catalog import get_chip, vendor_of

    have = vendor_of(chip)
    if ov.vendor and have.lower() != ov.vendor.lower():
        raise TapeoutError(f"tp_overlap (--tp-overlap) '{ov.name}' is a Transformer Engine userbuffers config for "
                           f"{ov.vendor}'s GPUs (data/software/tp_comm_overlap.yaml vendor); chip {get_chip(chip).id} "
                           f"(vendor {have}) has no userbuffers: drop --tp-overlap.")
    if ov.tp and tp is not None and tp != ov.tp:
        same = [n for n in overlap_names() if get_overlap(n).tp == tp]
        raise TapeoutError(f"tp_overlap (--tp-overlap) '{ov.name}' is a userbuffers config for TP {ov.tp} "
                           f"(data/software/tp_comm_overlap.yaml tp), but the layout's TP is {tp}: pin --tp {ov.tp}, "
                           + (f"use a config for TP {tp} ({', '.join(same)}), " if same else "")
                           + "or drop --tp-overlap.")


def chunk_count(spec: tuple | None, tp: int) -> int:
    """GEMM kernels a userbuffers slot (method, num_sm, num_splits) runs its GEMM as: TP for ring exchange
    (one per peer's chunk), num_splits for pipeline, 1 for bulk or no slot."""
    if spec is None or tp <= 1:
        return 1
    method, _, n = spec
    return tp if method == "ring_exchange" else max(int(n), 1) if method == "pipeline" else 1


def overlapped(g, c, sm_share, splits):
    """Time of a GEMM g overlapped with a collective c cut into `splits` chunks, the collective
    taking `sm_share` of the cores from the GEMM (module docstring). Broadcasts."""
    g, c = np.asarray(g, dtype=float), np.asarray(c, dtype=float)
    n = np.maximum(np.asarray(splits, dtype=float), 1.0)
    gp = g / (1.0 - np.asarray(sm_share, dtype=float))
    return np.maximum(gp, c) + np.minimum(gp, c) / n


def _sm_share(ov: TPOverlap, slot: str, sm: int, cores: float) -> float:
    """The share of the chip's cores a slot's communication kernels take; one clear error past half of them."""
    share = sm / max(cores, 1.0)
    if share >= 0.5:
        raise TapeoutError(f"tp_overlap (--tp-overlap) '{ov.name}' gives {sm} SMs to slot {slot}, but the chip has "
                           f"{cores:g} cores; use a config written for this chip, or none.")
    return share


def bulk_wgrad_slot(ov: TPOverlap, dgrad_slot: str) -> tuple[str, int, int] | None:
    """The bulk `_wgrad` slot that runs this bulk `_dgrad` slot's GEMM's reduce-scatter beside its wgrad GEMM
    (BULK_SLOT_ROLES on and the config lists it as bulk), else None."""
    name = WGRAD_SLOT.get(dgrad_slot)
    spec = ov.slot(name) if (BULK_SLOT_ROLES and name is not None) else None
    return spec if spec is not None and spec[0] == "bulk" else None


def region_time(gemm: dict, coll: dict, ov: TPOverlap | None, tp: int, cores: float, backward: bool,
                lora: bool = False, kernel_fixed: float = 0.0) -> float:
    """Time of one layer pass's TP GEMMs and TP collectives (per-op times of one layer:
    gemm[name] = forward GEMM time, coll[op] = the block's collectives, sequence_parallel.TPComm:
    its reduce-scatter, the forward input all-gather and the backward dY all-gather, each at the
    bytes the stack moves). Backward: dgrad (+ wgrad unless LoRA) GEMMs. Without overlap (ov None or
    TP 1): sum of the GEMMs + the collectives. `kernel_fixed`: the fixed time of one GEMM kernel (the
    chip's calibrated kernel_overhead); an overlapped slot run as n chunk GEMMs pays it n - 1 more times
    (chunk_count; module docstring, "Chunked GEMMs")."""
    slots = BWD_SLOTS if backward else FWD_SLOTS
    wgrad = 0.0 if (lora or not backward) else 1.0
    t = 0.0
    for name, kind, slot, op in slots:
        parts = coll.get(op, TPComm())
        g = gemm.get(name, 0.0)
        c = parts.reduce_scatter if kind == "rs" else parts.gather_grad if backward else parts.gather_input
        spec = ov.slot(slot) if ov is not None and tp > 1 else None
        method, sm, n = spec if spec is not None else ("", 1, 1)
        if method == "bulk" and not wgrad:  # bulk hides the collective behind a wgrad GEMM (none in LoRA)
            spec = None
        if spec is None or not ov.on(slot, kind, backward, method) or g <= 0.0:
            t += g + c + wgrad * g  # not in userbuffers: NCCL, BF16 reduce-scatter
            continue
        if slot in ov.fp8_rs:  # the GEMM writes FP8 into the userbuffer the reduce-scatter reads
            c = parts.reduce_scatter_quantized
        share = _sm_share(ov, slot, sm, cores)
        w = bulk_wgrad_slot(ov, slot) if method == "bulk" else None
        if w is not None:  # TE's roles: the all-gather beside the dgrad GEMM, the reduce-scatter beside the wgrad GEMM
            t += float(overlapped(g, parts.gather_input, share, np.inf))
            t += float(overlapped(g, c, _sm_share(ov, WGRAD_SLOT[slot], w[1], cores), np.inf))
        elif method == "bulk":  # the whole reduce-scatter beside the weight-gradient GEMM, unchunked
            t += g + float(overlapped(g, c, share, np.inf))
        else:
            gc = g + (chunk_count(spec, tp) - 1) * kernel_fixed  # the chunk GEMMs' launches (wgrad runs whole)
            t += float(overlapped(gc, c, share, tp if method == "ring_exchange" else n)) + wgrad * g
    return t
