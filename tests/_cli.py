"""Run the tapeout CLI in-process (no subprocess) and capture exit code, stdout and stderr."""

from __future__ import annotations

import contextlib
import io
import re

from tapeout.cli import main

# a NaN or infinity printed as a number (not an echoed input in quotes)
NONFINITE = re.compile(r"(?<![\w'.-])-?(nan|inf|infinity)(?![\w'])", re.IGNORECASE)


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, out: str, err: str) -> None:
    """The property every input must meet: exit 0 or 2, an error is one line, no NaN/inf printed."""
    assert code in (0, 2), (code, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out, err[-2000:]
    if code == 2:
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("error: "), err[-500:]
    assert not NONFINITE.search(out), out[-2000:]


def refusal(args: list[str]) -> str:
    """The one-line error a refused input prints (exit 2, clean)."""
    code, out, err = run_cli(args)
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]
