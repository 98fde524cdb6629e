"""Replace a generated section of docs/validation.md between two marker comments."""

from __future__ import annotations

from pathlib import Path

VALIDATION_MD = Path(__file__).resolve().parent.parent / "docs" / "validation.md"


def replace_section(begin: str, end: str, md: str, path: Path = VALIDATION_MD) -> None:
    doc = path.read_text()
    if begin not in doc:
        raise SystemExit(f"{path}: marker {begin!r} missing")
    head, rest = doc.split(begin, 1)
    path.write_text(head + begin + "\n" + md + "\n" + end + rest.split(end, 1)[1])


def print_or_write(begin: str, end: str, md: str) -> None:
    """A generator script's output: print `md`, or with --write replace its section."""
    import sys

    if "--write" in sys.argv:
        replace_section(begin, end, md)
    else:
        print(md)
