"""The output folder of `tapeout run`: a marker file (.tapeout-run, holding the study hash) says
that tapeout made the folder and for which study. --force removes only the files a run
writes, and only where the marker is; resuming needs the same study hash. A folder without
the marker, the current folder or one above it, or one holding the study's own files, is
refused with one line: nothing that tapeout did not write is ever deleted."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path

from ..errors import TapeoutError

MARKER = ".tapeout-run"
RUNNING = "RUNNING"
# every file a run writes in its folder (DuckDB keeps a .wal next to a store until checkpoint)
OUTPUTS = ("report.html", "results.json", "study.duckdb", "study.duckdb.wal", "designs.duckdb", "designs.duckdb.wal",
           RUNNING, MARKER)


def study_hash(study, spaces: list[dict]) -> str:
    """What a run's results depend on from its inputs: the validated study and its design spaces."""
    blob = json.dumps({"study": study.model_dump(mode="json"), "spaces": spaces}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _read_marker(out: Path) -> dict | None:
    try:
        d = json.loads((out / MARKER).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return d if isinstance(d, dict) and "study_hash" in d else None


def _write_marker(out: Path, h: str, study_file: Path) -> None:
    (out / MARKER).write_text(json.dumps({"tool": "tapeout", "study_hash": h, "study": str(study_file)}))
    (out / RUNNING).write_text(_dt.datetime.now().isoformat())


def prepare_out(out: Path, h: str, force: bool, study_file: Path, inputs: list[Path]) -> bool:
    """Make `out` ready for a run of the study with hash `h`; True when resuming an interrupted run."""
    if out.exists() and not out.is_dir():
        raise TapeoutError(f"--out '{out}' is a file; give a folder (new or made by an earlier `tapeout run`).")
    res = out.resolve()
    cwd = Path.cwd().resolve()
    if res == cwd or res in cwd.parents or res == Path.home().resolve():
        raise TapeoutError(f"--out '{out}' is the current folder, one above it or the home folder; "
                           f"give a new subfolder, e.g. --out out/{study_file.stem}.")
    for f in inputs:
        if res == f.resolve() or res in f.resolve().parents:
            raise TapeoutError(f"--out '{out}' holds the input file '{f}'; give a separate output folder.")
    if not out.exists() or not any(out.iterdir()):
        out.mkdir(parents=True, exist_ok=True)
        _write_marker(out, h, study_file)
        return False
    m = _read_marker(out)
    if m is None:
        raise TapeoutError(f"--out '{out}' is not empty and was not written by `tapeout run` (no {MARKER} marker); "
                           "tapeout never deletes other files: give a new or empty folder.")
    same = m["study_hash"] == h
    if (out / RUNNING).exists() and same:
        return True
    if not force:
        what = "an interrupted run" if (out / RUNNING).exists() else "a finished run"
        whose = "of this study" if same else f"of a different study ({m.get('study', '?')})"
        raise TapeoutError(f"--out '{out}' holds {what} {whose}; pass --force to replace it or give another --out.")
    for name in OUTPUTS:  # only what a run writes; anything else in the folder stays
        (out / name).unlink(missing_ok=True)
    _write_marker(out, h, study_file)
    return False
