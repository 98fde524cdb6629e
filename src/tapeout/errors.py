"""One error type for bad user input: the CLI turns it into one line and exit code 2."""

from __future__ import annotations

import difflib
import sys
from typing import Callable, NoReturn


class TapeoutError(ValueError):
    """Bad input. The message names the field and the fix."""


def exit_with(e: TapeoutError) -> NoReturn:
    """The CLI's answer to bad input: one `error:` line on stderr, exit 2."""
    print("error: " + " ".join(str(e).split()), file=sys.stderr)  # always one line
    sys.exit(2)


def script_main(main: Callable[[], object]) -> None:
    """Run a script's main() as the CLI runs a command: a TapeoutError is one line and exit 2, not a traceback."""
    try:
        main()
    except TapeoutError as e:
        exit_with(e)


def unknown_name_error(kind: str, name: str, known: list[str]) -> TapeoutError:
    """An error for an unknown name that lists the closest known names (a missing or non-text name: says so)."""
    listing = f"Run `{LISTING_COMMANDS[kind]}` to list them." if kind in LISTING_COMMANDS else f"Known: {', '.join(known)}."
    if not isinstance(name, str) or not name.strip():
        got = "nothing" if name is None else repr(name) if isinstance(name, str) else f"{name!r} ({type(name).__name__})"
        return TapeoutError(f"a {kind} name (text) is required, got {got}. {listing}")
    close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=5, cutoff=0.4)
    lower_to_known = {k.lower(): k for k in known}
    suggestions = [lower_to_known[c] for c in close]
    hint = f" Closest: {', '.join(suggestions)}." if suggestions else ""
    return TapeoutError(f"unknown {kind} '{name}'.{hint} {listing}")


# kinds of name that a command lists; any other kind gets its known names in the message
LISTING_COMMANDS = {"chip": "tapeout chips", "model": "tapeout models", "workload": "tapeout workloads",
                    "model or workload preset": "tapeout models` or `tapeout workloads"}


def require_positive(field: str, value: float, allow_zero: bool = False) -> None:
    """Raise a TapeoutError naming the field when a size is not positive (or not a number)."""
    need = ">= 0" if allow_zero else "> 0"
    if isinstance(value, (str, bytes, bool)):  # e.g. --set seq_len=abc
        raise TapeoutError(f"{field} must be a number {need}, got {value!r}.")
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        raise TapeoutError(f"{field} must be {need}, got {value}.")
    if value == float("inf"):  # a size is finite: inf would print as nan further on
        raise TapeoutError(f"{field} must be a finite number {need}, got {value}.")


def require_positive_given(**sizes) -> None:
    """require_positive on each size given (None: not given, e.g. a layout degree the search picks)."""
    for field, value in sizes.items():
        if value is not None:
            require_positive(field, value)


# pydantic's union-member tags in an error's loc (not field names): whole words, or a prefix with its bracket
_TYPE_TAGS = ("str", "int", "float", "bool")
_TYPE_TAG_PREFIXES = ("ParamRange", "list[", "function-")


def _is_type_tag(x: str) -> bool:
    return x in _TYPE_TAGS or x.startswith(_TYPE_TAG_PREFIXES)


def pick_error(e) -> dict:
    """The error of a pydantic ValidationError to report: a misspelt key (a forbidden extra field) before the
    'Field required' it causes, its message naming the fix (the closest missing field at the same level, else the
    required ones)."""
    errs = e.errors()
    extra = [x for x in errs if x["type"] == "extra_forbidden"]
    if not extra:
        return errs[0]
    err = dict(extra[0])
    parent = tuple(err["loc"][:-1])
    missing = [str(x["loc"][-1]) for x in errs if x["type"] == "missing" and tuple(x["loc"][:-1]) == parent]
    close = difflib.get_close_matches(str(err["loc"][-1]), missing, n=1, cutoff=0.6)
    err["msg"] = (f"unknown field: rename it '{close[0]}'" if close else
                  "unknown field: remove it" + (f" (required here: {', '.join(missing)})" if missing else ""))
    return err


def validation_error(e, where: str, default_field: str = "input", fix: str = "") -> TapeoutError:
    """One-line TapeoutError from a pydantic ValidationError: file, field path, message, fix."""
    err = pick_error(e)
    loc = ".".join(str(x) for x in err["loc"] if not _is_type_tag(str(x))) or default_field
    msg = err["msg"].removeprefix("Value error, ").rstrip(".")
    return TapeoutError(f"{where}: field '{loc}': {msg}.{(' ' + fix) if fix else ''}")
