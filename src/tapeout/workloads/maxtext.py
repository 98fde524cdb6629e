"""MaxText dense decoder training configs by their dimensions (data/models/maxtext/dense_configs.yaml):
the model of a MaxText config script and the run settings its flags fix (per-device batch, TP,
remat policy), for the validation rows that quote MaxText's published throughput tables."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import yaml

from ..errors import unknown_name_error
from .llm_config import LLMConfig, from_dims

# MaxText remat_policy -> the training model's recompute choice (see the data file's header)
REMAT = {"full": "full", "minimal": "dots", "save_dot_except_mlpwi": "dots-except-ffn1"}


@lru_cache(maxsize=1)
def _configs() -> dict:
    text = resources.files("tapeout").joinpath("data", "models", "maxtext", "dense_configs.yaml").read_text()
    return yaml.safe_load(text)["configs"]


def config_names() -> list[str]:
    return sorted(_configs())


def maxtext_run(script: str) -> tuple[LLMConfig, dict]:
    """(model, run settings) of one MaxText config script, e.g. 'MaxText/configs/v5e/16b.sh'.
    Run settings: per_device_batch_size, tp (ici_tensor_parallelism), recompute, seq_len, source."""
    cfgs = _configs()
    if script not in cfgs:
        raise unknown_name_error("MaxText config", script, sorted(cfgs))
    c = cfgs[script]
    name = "maxtext-" + script.rsplit("/", 2)[-2] + "-" + script.rsplit("/", 1)[-1].removesuffix(".sh")
    model = from_dims({**c["dims"], "name": name, "source": c["source"]}, f"dense_configs.yaml: {script}")
    return model, {"per_device_batch_size": int(c["per_device_batch_size"]), "tp": int(c["ici_tensor_parallelism"]),
                   "recompute": REMAT[c["remat_policy"]], "seq_len": int(c["seq_len"]), "source": c["source"]}
