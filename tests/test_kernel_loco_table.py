"""scripts/kernel_loco_table.py on a slice of the installed kernel database (kernels extra): a held-out chip's
rows carry its fused-MoE layers per format from the same held-out fit as its GEMMs (perf/kernel_holdout.py)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

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


def test_shape_breakdown_medians_per_bin():
    """scripts/kernel_holdout_shapes.py's bins: each kernel lands in the bin of its shape, and a bin's statistics
    are the medians of its own errors only (no database needed)."""
    spec = importlib.util.spec_from_file_location("kernel_holdout_shapes", ROOT / "scripts" / "kernel_holdout_shapes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cols = {"m": np.array([1.0, 8.0, 1024.0, 8192.0]), "n": np.full(4, 2048.0), "k": np.array([512.0, 512.0, 8192.0, 32768.0]),
            "latency_s": np.array([5e-6, 20e-6, 100e-6, 1e-3])}
    e = np.array([0.10, 0.02, -0.20, -0.30])
    lines = mod.breakdown(cols, e, np.array([True, True, False, False]), "gemm")
    row = {ln[:26].strip(): ln[26:] for ln in lines}  # label padded to 24 after 2 spaces
    assert "n     2  signed   +6.0  |e|   6.0" in row["m [1, 32)"]  # median of +10 and +2
    assert "n     1  signed  -30.0" in row["m [4096, inf)"] and "n     1  signed  -20.0" in row["k [4096, 16384)"]
    assert "n     4" in row["n [1024, 4096)"] and "signed   -9.0  |e|  15.0" in row["all"]
    assert "signed  -25.0" in row["compute-bound"] and "signed   +6.0" in row["memory-bound"]
    assert "latency_us [300, inf)" in row and "m [32, 512)" not in row  # empty bins are left out


def test_shape_breakdown_gemm_flops_and_collector_clock():
    """The GEMM-only bins (issue-36c): compute-bound kernels by 2mnk, memory-bound ones left out of them, and the
    collector's clock from the capped fraction: 0 a burst, 1 capped, between partly capped."""
    spec = importlib.util.spec_from_file_location("kernel_holdout_shapes", ROOT / "scripts" / "kernel_holdout_shapes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cols = {"m": np.array([1.0, 1024.0, 4096.0, 8192.0]), "n": np.full(4, 4096.0), "k": np.array([4096.0, 1024.0, 8192.0, 32768.0]),
            "latency_s": np.array([5e-6, 20e-6, 300e-6, 3e-3])}
    e = np.array([0.05, -0.10, -0.20, -0.40])
    lines = mod.breakdown(cols, e, np.array([True, False, False, False]), "gemm", np.array([0.0, 0.0, 0.5, 1.0]))
    row = {ln[:26].strip(): ln[26:] for ln in lines}
    # 2mnk: 8.6e9 (compute-bound), 2.7e11, 2.2e12; the memory-bound 3.4e7 is in no FLOPs bin
    assert "n     1  signed  -10.0" in row["compute 1e+09-1e+10 FLOP"]
    assert "n     1  signed  -20.0" in row["compute 1e+11-1e+12 FLOP"] and "n     1  signed  -40.0" in row["compute 1e+12-1e+13 FLOP"]
    assert not any(k.startswith("compute 0e+00") for k in row)
    assert "n     2  signed   -2.5" in row["clock: burst"]  # median of +5 and -10
    assert "signed  -20.0" in row["clock: partly capped"] and "signed  -40.0" in row["clock: capped"]
    # not a GEMM, or no capped fractions: neither block
    assert not any(k.startswith(("compute 1e", "clock:")) for k in
                   (ln[:26].strip() for ln in mod.breakdown(cols, e, np.zeros(4, dtype=bool), "attention_decode")))


def test_shape_breakdown_attention_heads_group_and_cells():
    """The context-attention bins (issue-39e): heads, KV heads, the GQA group (heads / KV heads) and every
    (query length, head size) cell hold exactly their kernels; empty cells are left out."""
    spec = importlib.util.spec_from_file_location("kernel_holdout_shapes", ROOT / "scripts" / "kernel_holdout_shapes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cols = {"q_len": np.array([1.0, 16.0, 8192.0, 8192.0]), "head_dim": np.array([64.0, 128.0, 128.0, 256.0]),
            "batch": np.array([1.0, 8.0, 1.0, 1.0]), "heads": np.array([4.0, 32.0, 32.0, 64.0]),
            "kv_heads": np.array([4.0, 8.0, 1.0, 8.0]), "latency_s": np.array([12e-6, 20e-6, 2e-3, 5e-3])}
    e = np.array([0.10, 0.04, 0.30, -0.20])
    row = {ln[:26].strip(): ln[26:] for ln in mod.breakdown(cols, e, np.zeros(4, dtype=bool), "attention_prefill")}
    assert "n     1  signed  +10.0" in row["group [1, 2)"]  # 4 / 4
    assert "n     1  signed   +4.0" in row["group [2, 8)"]  # 32 / 8
    assert "n     2  signed   +5.0" in row["group [8, inf)"]  # 32 / 1 and 64 / 8: median of +30 and -20
    assert "n     2  signed   -8.0" in row["kv_heads [8, inf)"] and "n     1  signed  +10.0" in row["heads [1, 8)"]
    assert "n     1  signed  +10.0" in row["q 1-64 d 0-65"] and "n     1  signed   +4.0" in row["q 1-64 d 65-129"]
    assert "n     1  signed  +30.0" in row["q 4096-inf d 65-129"] and "n     1  signed  -20.0" in row["q 4096-inf d 129-257"]
    assert "q 64-1024 d 0-65" not in row  # empty cells are left out


def test_shape_breakdown_attention_by_kv_cache_format():
    """The context-attention KV-cache split (issue-61d): a format line holds exactly the kernels over that cache, and
    each (query length, cache format) cell its own; a column set without kv_fmt prints no such line."""
    spec = importlib.util.spec_from_file_location("kernel_holdout_shapes", ROOT / "scripts" / "kernel_holdout_shapes.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cols = {"q_len": np.array([16.0, 8192.0, 8192.0, 8192.0]), "head_dim": np.full(4, 128.0), "batch": np.ones(4),
            "heads": np.full(4, 32.0), "kv_heads": np.full(4, 8.0), "latency_s": np.array([12e-6, 2e-3, 2e-3, 2e-3]),
            "kv_fmt": np.array(["bf16", "bf16", "fp8", "fp8"], dtype=object)}
    e = np.array([0.02, 0.40, 0.10, 0.06])
    row = {ln[:26].strip(): ln[26:] for ln in mod.breakdown(cols, e, np.zeros(4, dtype=bool), "attention_prefill")}
    assert "n     2  signed  +21.0" in row["kv bf16"]  # median of +2 and +40
    assert "n     2  signed   +8.0" in row["kv fp8"]  # median of +10 and +6
    assert "n     1  signed  +40.0" in row["q 4096-inf kv bf16"] and "n     1  signed   +2.0" in row["q 1-64 kv bf16"]
    assert "n     2  signed   +8.0" in row["q 4096-inf kv fp8"] and "q 1-64 kv fp8" not in row
    del cols["kv_fmt"]
    assert not any(k.startswith(("kv ", "q 1-64 kv")) for k in
                   (ln[:26].strip() for ln in mod.breakdown(cols, e, np.zeros(4, dtype=bool), "attention_prefill")))
