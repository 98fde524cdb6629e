"""Copy the chip rows of ../shared/data/facts/accelerators.csv into the project catalog.

Run from the repo root: python scripts/build_catalog.py [path/to/accelerators.csv]
Every row keeps its value, unit, status, source and notes; only `chip_id` is added.
"""

import csv
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "facts" / "accelerators.csv"
INDEX = ROOT / "src" / "tapeout" / "data" / "chips" / "index.yaml"
OUT = ROOT / "src" / "tapeout" / "data" / "chips" / "specs.csv"

index = yaml.safe_load(INDEX.read_text())
by_source_name = {c["source_name"]: cid for cid, c in index.items() if c.get("source_name")}
rows = list(csv.DictReader(SRC.open(newline="")))
kept = []
for r in rows:
    cid = by_source_name.get(r["accelerator"])
    if cid:
        kept.append({"chip_id": cid, "field": r["field"], "value": r["value"], "unit": r["unit"],
                     "status": r["status"], "source": r["source"], "notes": r["notes"]})
with OUT.open("w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["chip_id", "field", "value", "unit", "status", "source", "notes"])
    w.writeheader()
    w.writerows(kept)
missing = set(index) - {r["chip_id"] for r in kept} - {c for c, v in index.items() if not v.get("source_name")}
print(f"wrote {len(kept)} rows for {len({r['chip_id'] for r in kept})} chips to {OUT}; missing: {sorted(missing)}")
