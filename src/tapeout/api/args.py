"""Bounds of the numbers a user passes to a command, shared by the CLI (checked when options
are parsed, cli/checks.py) and the Python API (checked on entry), so both refuse the same
input with the same one-line message naming the option (`--num-chips must be ...`)."""

from __future__ import annotations

from os import PathLike

import numpy as np

from ..errors import TapeoutError
from ..inputs import finite
from ..workloads.llm_config import check_context  # noqa: F401  (re-exported for api/llm.py)

# option (python name, or "command:name" where a name means different things) -> bounds for
# inputs.finite; every other float option: finite only
BOUNDS: dict[str, dict] = {
    **{k: dict(gt=0, integer=True) for k in (
        "num_chips", "input_len", "output_len", "batch", "tp", "pp", "ep", "max_batch", "seq_len", "explore:budget",
        "width", "height", "chips_per_node", "threads")},
    "quant-frontier:budget": dict(ge=0),  # a relative quality loss
    "global_batch_tokens": dict(gt=0),
    "global_batch": dict(gt=0, integer=True),  # samples per step (train --benchmark retinanet ...)
    "samples_to_converge": dict(gt=0),
    "power_limit": dict(gt=0, unit="W"),
    "volume": dict(ge=1, unit="units"),
    "maturity": dict(gt=0),
    "top": dict(ge=0, integer=True),  # 0 = all rows, as documented on the option
    "seed": dict(ge=0, integer=True),
    "images_per_request": dict(ge=0, integer=True),
    "image_size": dict(gt=0, integer=True, unit="px"),
    # train's layout sizes beside tp / pp / ep (the CLI's --cp 0 and the API's cp=0 get the same line)
    **{f"train:{k}": dict(gt=0, integer=True) for k in ("cp", "vp", "mbs", "shard")},
    "train:zero": dict(ge=0, integer=True),  # a ZeRO stage; 0-3 checked by api/llm.train
    "train:comm_ctas": dict(ge=0, integer=True),  # CTAs (one core each) of an overlapped collective
}


def bounds_of(command: str, name: str) -> dict | None:
    """The bounds of option `name` of `command` (None: finite only)."""
    return BOUNDS.get(f"{command}:{name}", BOUNDS.get(name))


def option_name(name: str) -> str:
    """The CLI spelling of a python argument name: num_chips -> --num-chips."""
    return "--" + name.replace("_", "-")


def check_numbers(command: str, **values) -> dict:
    """Refuse a non-finite or out-of-bounds number among `values` (None = not given) with the
    message the CLI prints for the same option; a Python caller's text ('4') or bool (True) is
    refused too (the CLI parses text before this point). Returns the values, whole numbers of an
    `integer` bound as int (tp=2.0 -> 2), None kept."""
    out = {}
    for name, v in values.items():
        out[name] = v
        if v is None:
            continue
        b = bounds_of(command, name)
        if isinstance(v, (str, bytes, bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
            need = "a whole number" if (b or {}).get("integer") else "a number"
            raise TapeoutError(f"{option_name(name)} must be {need}, got {v!r} ({type(v).__name__}); pass {need}, "
                               f"not text or a bool.")
        if b is None and isinstance(v, (int, np.integer)):
            continue
        out[name] = finite(option_name(name), v, **(b or {}))
    return out


def check_texts(**values) -> None:
    """Refuse a non-text value among `values` (names: model, chip, stack, ...; None = not given)
    with one line naming the option (`model` may also be a path)."""
    for name, v in values.items():
        if v is None or isinstance(v, str) or (name == "model" and isinstance(v, PathLike)):
            continue
        raise TapeoutError(f"{option_name(name)} must be a name (text), got {v!r} ({type(v).__name__}).")


def check_flags(**values) -> None:
    """Refuse a switch that is not True / False (None = not given): 'no' or 0 would read by truth value."""
    for name, v in values.items():
        if v is None or isinstance(v, (bool, np.bool_)):
            continue
        raise TapeoutError(f"{option_name(name)} is a switch: give True or False, got {v!r} ({type(v).__name__}).")
