"""Shared writer of the catalog ledger scripts (scripts/add_*_chips.py): append sourced rows to
data/chips/supplement_specs.csv, or extra_specs.csv for architecture fields, keeping each file's
line endings and leaving rows already present as they are (rerunning is a no-op)."""
import csv, io, pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "src/tapeout/data/chips"


def append_rows(rows, extra_fields):
    """rows: (chip, field, value, unit, status, source, notes); a field in extra_fields goes to extra_specs.csv."""
    for name in ("supplement_specs.csv", "extra_specs.csv"):
        p = ROOT / name
        raw = p.read_bytes().decode()
        eol = "\r\n" if 2 * raw.count("\r\n") > raw.count("\n") else "\n"
        have_rows = list(csv.DictReader(io.StringIO(raw.replace("\r\n", "\n"))))
        have = {(r["chip_id"], r["field"]) for r in have_rows}
        fields = list(have_rows[0].keys())
        new = [dict(zip(fields, r)) for r in rows if (r[1] in extra_fields) == (name == "extra_specs.csv")
               and (r[0], r[1]) not in have]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator=eol)
        w.writeheader(); w.writerows(have_rows + new)
        p.write_bytes(buf.getvalue().encode())
        print(name, "added", len(new))
