"""scripts/kernel_loco_table.py on a slice of the installed kernel database (kernels extra): a held-out chip's
rows carry its fused-MoE layers per format from the same held-out fit as its GEMMs (perf/kernel_holdout.py)."""

import importlib.util
import sys
from pathlib import Path

from _db import needs_db

ROOT = Path(__file__).resolve().parents[1]


def _script():
    sys.path.insert(0, str(ROOT / "scripts"))  # it imports doc_section by name
    spec = importlib.util.spec_from_file_location("kernel_loco_table", ROOT / "scripts" / "kernel_loco_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(md: str) -> dict:
    """{(chip, op/format): cells after it} of the markdown table."""
    out = {}
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 7 and cells[0] not in ("held-out chip", "---"):
            out[(cells[0], cells[1])] = cells[2:]
    return out


@needs_db
def test_moe_rows_per_format_from_the_held_out_fit():
    rows = _rows(_script().table(train_per_group=20, test_per_group=40, chips=("gb300",)))
    assert {c for c, _ in rows} == {"gb300"}
    # GB300's measured MoE dtypes (bf16, fp8, fp8 block, nvfp4; MX-format experts are not expressible)
    moe = {k: v for (_, k), v in rows.items() if k.startswith("moe/")}
    assert {"moe/bf16", "moe/fp8", "moe/fp8_block", "moe/nvfp4"} <= set(moe)
    for key in ("moe/bf16", "moe/fp8", "moe/nvfp4"):
        n, ins, med, p90, signed = moe[key]
        # balanced-routing layers priced, the power-law ones counted as skipped; no in-sample serving fit (-)
        assert int(n.split()[0]) > 0 and "skipped" in n and ins == "-"
        assert 0 <= float(med) <= float(p90) and abs(float(signed)) <= float(p90)
    for key in ("moe/w4a16_mxfp4", "moe/w4a8_mxfp4_mxfp8"):  # none priced: every statistic is -
        assert moe[key][0].startswith("0 (+") and moe[key][1:] == ["-"] * 4
    # the GEMM and attention rows keep both columns
    assert all(v[1] != "-" and v[2] != "-" for k, v in rows.items() if k[1].startswith(("gemm/", "attention_")))
