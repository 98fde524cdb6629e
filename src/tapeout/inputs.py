"""Input boundary: read a user's file or number once, and turn everything unusable into one
TapeoutError line naming the field and the fix (binary, empty, wrong kind, NaN, inf, <= 0).
Loaders (study, design space, design, workload, validation CSV) go through here."""

from __future__ import annotations

import math
from pathlib import Path

from .errors import TapeoutError

# what each kind of tapeout input file holds, and the command that takes it
KINDS = {
    "study": ("a study file (workloads with traffic, chips or design_spaces)", "tapeout run FILE --out DIR"),
    "space": ("a design-space file (parameters, workloads, objectives)", "tapeout explore FILE"),
    "design": ("a chip design file (die_area_mm2, tops)", "tapeout compliance --design FILE"),
    "workload": ("a workload file from `tapeout import`", "tapeout run-workload FILE --chip C"),
    "model": ("a Hugging Face config.json", "tapeout serve --model FILE"),
    "chip": ("a chip file (id, family, specs)", "tapeout.register_chip(FILE)"),
    "csv": ("a CSV in end_to_end.csv's schema", "tapeout validate --data FILE"),
    # no command reads a fit back: every prediction reads the packaged one (perf/calibration.load_fitted)
    "calibration": ("a calibration fit written by `tapeout calibrate`", None),
}
CALIBRATION_USE = ("no command takes a fit as input: predictions read the packaged data/calibration/fitted.yaml, "
                   "which `tapeout calibrate` without --out rewrites")


def read_text(path: str | Path, field: str, want: str) -> str:
    """The UTF-8 text of a user file; missing, directory, empty and binary files are refused
    with one line (`field` names the option or argument, `want` the kind expected)."""
    p = Path(path)
    what, cmd = KINDS[want]
    if not p.exists():
        raise TapeoutError(f"{field} '{p}' not found; give {what}.")
    if p.is_dir():
        raise TapeoutError(f"{field} '{p}' is a directory; give {what}.")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise TapeoutError(f"{field} '{p}' cannot be read ({e.strerror}).") from None
    if not data.strip():
        raise TapeoutError(f"{field} '{p}' is empty; give {what}.")
    if b"\x00" in data[:65536]:
        raise TapeoutError(f"{field} '{p}' is a binary file, not text; give {what}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TapeoutError(f"{field} '{p}' is a binary file, not UTF-8 text (byte {e.start}); give {what}.") from None
    return text


def kind_of(data) -> str | None:
    """Which kind of tapeout file a parsed mapping looks like (None: none of them)."""
    if not isinstance(data, dict):
        return None
    if data.get("format") == "tapeout-workload/1" or ("ops" in data and "format" in data):
        return "workload"
    if "parameters" in data or "derived" in data or "template" in data:
        return "space"
    wl = data.get("workloads")
    if isinstance(wl, list) and ("chips" in data or "design_spaces" in data or
                                 any(isinstance(w, dict) and "traffic" in w for w in wl)):
        return "study"
    if "tops" in data or "die_area_mm2" in data:
        return "design"
    if ("about" in data and "chips" in data and "families" in data) or {"source", "fit", "fixed_time_offsets_us"} <= set(data):
        return "calibration"  # perf/fit.fit_all's file, or `tapeout calibrate --kernels --out`'s
    return None


def output_file(path: str | Path, field: str) -> Path:
    """A file a command will write, checked before the command's work (a fit or a validation runs for
    minutes): a directory, or a folder that cannot be made (a file in its way, no permission), is one
    line naming the option; missing folders are created, as `tapeout run --out` creates its own."""
    p = Path(path)
    if p.is_dir():
        raise TapeoutError(f"{field} '{p}' is a directory; give a file name to write, e.g. {p / 'out'}.")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TapeoutError(f"{field} '{p}': cannot create its folder '{p.parent}' ({e.strerror or e}); "
                           "give a path in a writable folder.") from None
    existed = p.exists()
    try:  # the folder may exist and still refuse the file (read-only, /proc, no permission): open it now
        with open(p, "a"):  # append: an existing file keeps its content until the command writes it
            pass
    except OSError as e:
        raise TapeoutError(f"{field} '{p}': cannot write it ({e.strerror or e}); give a path in a writable folder.") from None
    if not existed:
        p.unlink()  # leave nothing behind when the command fails before it writes
    return p


def refuse_wrong_kind(data, field: str, path, want: str) -> None:
    """One line when a parsed file is another kind of tapeout input than `want`."""
    got = kind_of(data)
    if got is not None and got != want:
        what, cmd = KINDS[got]
        use = CALIBRATION_USE if cmd is None else f"run it with `{cmd.replace('FILE', str(path))}`"
        raise TapeoutError(f"{field} '{path}' is {what}, not {KINDS[want][0]}; {use}.")


def read_yaml_mapping(path: str | Path, field: str, want: str, where: str, need: str) -> dict:
    """A user YAML file that must hold a mapping of kind `want`; every failure is one line
    starting with `where` (unreadable, not YAML, not a mapping: `need` says what it must be,
    another kind of tapeout file)."""
    import yaml

    try:
        data = yaml.safe_load(read_text(path, field, want))
    except yaml.YAMLError as e:
        raise TapeoutError(f"{where}: not valid YAML ({' '.join(str(e).split())}).") from None
    if not isinstance(data, dict):
        raise TapeoutError(f"{where}: {need}.")
    refuse_wrong_kind(data, field, path, want)
    return data


def finite(field: str, value, gt: float | None = None, ge: float | None = None, integer: bool = False,
           unit: str = "") -> float:
    """`value` as a finite number (an int when `integer`), bounded below; else one line."""
    u = f" {unit}" if unit else ""
    need = "a finite " + ("whole number" if integer else "number") + \
        (f" > {gt:g}{u}" if gt is not None else f" >= {ge:g}{u}" if ge is not None else "")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TapeoutError(f"{field} must be {need}, got '{value}'.") from None
    if not math.isfinite(v) or (gt is not None and not v > gt) or (ge is not None and not v >= ge) \
            or (integer and v != int(v)):
        raise TapeoutError(f"{field} must be {need}, got {value}.")
    return int(v) if integer else v
