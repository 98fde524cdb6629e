"""Cost of a VLM request's vision encoder on one model replica, for the serving engine.

The images of a request are encoded once, before its prefill (vLLM / SGLang run the ViT in the
prefill step of the request that carries the images); their merged tokens then enter the LLM
prompt like text tokens. The encoder is sharded over the replica's TP group like the LLM
(vLLM shards the Qwen2.5-VL vision tower with the same tensor-parallel size), modelled as an
even split of its time (its all-reduces are not modelled: small next to the LLM's).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..workloads.blocks import distinct_weight_bytes
from ..workloads.vlm import VisionLoad, vision_graph
from .opcost import evaluate


def encoder_cost(load: VisionLoad, params, precision, tp: int = 1, evaluator=None) -> tuple[float, float]:
    """(seconds, joules) of encoding one request's images on a replica of `tp` chips."""
    if load is None or load.images_per_request <= 0:
        return 0.0, 0.0
    ct = (evaluator or evaluate)(vision_graph(load.spec, load.images_per_request, load.image_size, precision), params)
    return float(np.max(ct.total_time)) / tp, float(np.max(ct.total_energy))


def encoder_weight_bytes(load: VisionLoad, precision, tp: int = 1) -> float:
    """Bytes of the vision tower's weights per chip (sharded over TP)."""
    if load is None:
        return 0.0
    return _weight_bytes(load.spec, precision) / tp


@lru_cache(maxsize=64)
def _weight_bytes(spec, precision) -> float:
    return distinct_weight_bytes(vision_graph(spec, 1, spec.min_side, precision).ops)
