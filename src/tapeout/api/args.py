"""Bounds of the numbers a user passes to a command, shared by the CLI (checked when options
are parsed, cli/checks.py) and the Python API (checked on entry), so both refuse the same
input with the same one-line message naming the option (`--num-chips must be ...`)."""

from __future__ import annotations

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
    "power_limit": dict(gt=0, unit="W"),
    "volume": dict(ge=1, unit="units"),
    "maturity": dict(gt=0),
    "top": dict(ge=0, integer=True),  # 0 = all rows, as documented on the option
    "seed": dict(ge=0, integer=True),
    "images_per_request": dict(ge=0, integer=True),
    "image_size": dict(gt=0, integer=True, unit="px"),
}


def bounds_of(command: str, name: str) -> dict | None:
    """The bounds of option `name` of `command` (None: finite only)."""
    return BOUNDS.get(f"{command}:{name}", BOUNDS.get(name))


def option_name(name: str) -> str:
    """The CLI spelling of a python argument name: num_chips -> --num-chips."""
    return "--" + name.replace("_", "-")


def check_numbers(command: str, **values) -> None:
    """Refuse a non-finite or out-of-bounds number among `values` (None = not given) with the
    message the CLI prints for the same option."""
    for name, v in values.items():
        if v is None or isinstance(v, bool):
            continue
        b = bounds_of(command, name)
        if b is None and isinstance(v, int):
            continue
        finite(option_name(name), v, **(b or {}))
