"""Numbers entering through the command line: every float option must be finite, and options
named below carry their bound (0 is an error where it has no meaning, never a default).
Applied once to the whole click command tree, so a new command gets the same guard."""

from __future__ import annotations

from ..inputs import finite

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
}


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
        _guard(p, field, BOUNDS.get(f"{cmd.name}:{p.name}", BOUNDS.get(p.name or "")))


def check_context(model: str, tokens: int, field: str) -> None:
    """A sequence longer than the model's maximum position (config max_position_embeddings)."""
    from ..errors import TapeoutError
    from ..workloads.llm_config import load_llm

    cfg = load_llm(model)
    if tokens > cfg.max_position_embeddings:
        raise TapeoutError(f"{field} = {tokens:,} tokens exceeds {cfg.name}'s maximum context of "
                           f"{cfg.max_position_embeddings:,} (max_position_embeddings); shorten it or pick a longer-context model.")
