"""Structure rules of DESIGN.md, checked on the source tree (issue 15 item 6)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tapeout"


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node, node.module or "", [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node, a.name, []


def test_no_private_name_imported_across_modules():
    bad = []
    for f in SRC.rglob("*.py"):
        for node, mod, names in _imports(f):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{f.relative_to(SRC)}:{node.lineno} imports {n} from {mod or '.'}")
    assert not bad, "\n".join(bad)


def test_private_attributes_of_other_modules_unused():
    """`module._name` on an imported module is the same leak as importing `_name`."""
    bad = []
    for f in SRC.rglob("*.py"):
        tree = ast.parse(f.read_text())
        modules = set()
        for node, mod, names in _imports(f):
            if isinstance(node, ast.ImportFrom):
                modules |= {a.asname or a.name for a in node.names if not a.name[:1].isupper()}
            else:
                modules |= {a.asname or a.name.split(".")[0] for a in node.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{f.relative_to(SRC)}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("pkg", ["hardware", "workloads"])
def test_early_stages_never_import_perf(pkg):
    """Data flows one way (DESIGN.md): hardware/ and workloads/ come before perf/ and never
    import it (calibration is applied by perf.calibration.calibrated_params, the collective
    calibration by perf.collectives.topology_for, presets are costed in perf/workload_throughput.py)."""
    found = sorted(f"{f.relative_to(SRC)}:{node.lineno} imports {'.' * getattr(node, 'level', 0) + mod}"
                   for f in (SRC / pkg).rglob("*.py") for node, mod, names in _imports(f)
                   if mod.split(".")[0] == "perf" or mod.startswith("tapeout.perf") or (not mod and "perf" in names))
    assert not found, "\n".join(found)


def test_unexpected_mapper_exception_propagates(monkeypatch):
    """A bug in a row mapper must fail loudly, not become a skipped validation row."""
    from tapeout.validation import harness, registry

    def broken(row, fitted=None):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(registry, "MAPPERS", [("broken", broken)])
    row = {"id": "x", "category": "mlperf-inf", "workload": "MLPerf Inference v4.1 llama2-70b-99", "scenario": "Offline",
           "model_config": "", "accelerator": "NVIDIA H100-SXM-80GB", "n_accelerators": "8", "precision": "fp8",
           "metric": "", "value": "1", "unit": "Tokens/s", "software": "", "source": "", "notes": ""}
    with pytest.raises(ZeroDivisionError):
        harness.predict_row(row)


def test_missing_street_price_is_one_line_naming_the_fix():
    """Prices are sourced street prices or study overrides, never a silent model fallback:
    a chip without one gets the one-line error naming where to add it."""
    from tapeout.econ.prices import street_price
    from tapeout.errors import TapeoutError

    with pytest.raises(TapeoutError, match="economics.prices"):
        street_price("no-such-chip-without-a-price")
    assert street_price("h100-sxm", {"h100-sxm": 25000.0}).price_usd == 25000.0


def test_binary_memory_sizes_are_defined_once():
    """KiB / MiB / GiB come from hardware/memory_capacity.py (KIB, MIB, GIB, BINARY_UNITS), never spelled
    again as a power of two (round stop-25: KIB in params.py, 2 ** 20 in train_reserve.py, the same
    {"KiB": 2**10, ...} table three times in the fits, 1024.0 * 1024.0 in dp_buckets.py)."""
    import re

    spelled = re.compile(r"\b2\s*\*\*\s*(10|20|30|40)\b|\b1\s*<<\s*(10|20|30|40)\b|\b1024(\.0)?\s*\*\s*1024\b|^\s*[KMG]IB\s*=")
    home = SRC / "hardware" / "memory_capacity.py"
    found = [f"{f.relative_to(SRC)}:{i}: {line.strip()}" for f in SRC.rglob("*.py") if f != home
             for i, line in enumerate(f.read_text().splitlines(), 1)
             if spelled.search(line.split("#")[0]) and "global_batch_tokens" not in line]
    assert not found, "\n".join(found)
