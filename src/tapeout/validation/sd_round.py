"""Stable Diffusion's NVIDIA training stack by MLPerf round (issue 18, round stop-42 issue-63d).

The step model's Stable Diffusion facts (other_benchmarks.yaml sd_train: precomputed OpenCLIP embeddings, Apex
DistributedFusedAdam sharded over the node with its bucketed gradient sync, weight_update.stable-diffusion) are those
of NVIDIA's v4.0 NeMo recipe. NVIDIA's v3.1 implementation (training_results_v3.1 NVIDIA/benchmarks/stable_diffusion/
implementations/pytorch, which Dell's v3.1 submission copies) is configured otherwise: `cond_stage_key: captions`
with a FrozenOpenCLIPEmbedder (the ViT-H-14 text encoder runs forward in every step, to its penultimate block),
`optim.name: megatron_fused_adam` with master weights (no distributed optimizer: every rank updates every
parameter), and main.py turns DDP's own gradient hook off (`no_ddp_communication_hook=True`), so the gradients are
all-reduced by NeMo after the whole backward, exposed. `stack(round, vendor)` returns that round's entry of sd_train.round_stacks (with its sources), or None
where the v4.0 facts apply (a round not listed, a non-NVIDIA stack, a run with no round such as `tapeout train`).
"""

from __future__ import annotations

# On: every setting is read from the round's own configs (sources in sd_train.round_stacks), priced with the existing
# graph, collective and weight-update machinery, nothing fitted; it moves the rows it changes (the NVIDIA-stack v3.1
# rows) toward their measurements (docs/notes/issue-18.md, Round stop-42 issue-63d). Off: every round is priced as
# the v4.0 recipe.
SD_ROUND_STACK = True


def stack(mlperf_round: str | None, vendor: str | None) -> dict | None:
    """The round's Stable Diffusion stack settings where they differ from the v4.0 recipe: {text_encoder_layers,
    distributed_optimizer, allreduce_overlapped, weight_update}, or None (the sd_train facts apply)."""
    if not SD_ROUND_STACK or mlperf_round is None or vendor != "NVIDIA":
        return None
    from .other_rows import fact  # other_rows builds the graphs this module's callers price: imported late

    entry = fact("sd_train", "round_stacks").get(mlperf_round)
    return dict(entry) if entry else None


def text_encoder_layers(st: dict | None) -> int | None:
    """Transformer blocks of the frozen OpenCLIP text encoder run per step under `st` (0: embeddings precomputed),
    or None where the sd_train facts decide."""
    return None if st is None else int(st["text_encoder_layers"])
