"""Numbers entering through the command line: every float option must be finite, and options
named in api/args.py BOUNDS carry their bound (0 is an error where it has no meaning, never a
default). Applied once to the whole click command tree, so a new command gets the same guard;
the Python API checks its arguments against the same table."""

from __future__ import annotations

from ..api.args import bounds_of
from ..inputs import finite


def _guard(p, field: str, bounds: dict | None):
    orig = p.process_value

    def process_value(ctx, value):
        v = orig(ctx, value)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return v
        if bounds is None and isinstance(v, int):
            return v  # an int cannot be NaN or inf; unbounded ints stay as they are
        finite(field, v, **(bounds or {}))
        return v

    process_value.tapeout_guard = True
    p.process_value = process_value


def harden(cmd) -> None:
    """Attach the guards to every option of `cmd` and its subcommands (idempotent): a float
    value must be finite, a value of an option in BOUNDS also within its bound."""
    for sub in getattr(cmd, "commands", {}).values():
        harden(sub)
    for p in getattr(cmd, "params", []):
        if getattr(p.process_value, "tapeout_guard", False):
            continue
        field = max(getattr(p, "opts", []) or [p.name], key=len)
        _guard(p, field, bounds_of(cmd.name, p.name or ""))
