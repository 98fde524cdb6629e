"""One unit for memory figures after capacity became binary GB (hardware/memory_capacity.py): what a
workload needs and what a chip holds are printed and returned in the same (binary) GB, and 2**30 is
written in one place."""

import pathlib
import re

import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.hardware.memory_capacity import GIB, USABLE_MEMORY_FRACTION, capacity_bytes
from tapeout.workloads.catalog import build_workload, memory_needed

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "tapeout"


def test_usable_memory_in_the_error_is_the_capacity_in_binary_gb():
    from tapeout.perf.workload_throughput import workload_throughput

    usable_gb = capacity_bytes(get_chip("l4")) * USABLE_MEMORY_FRACTION / GIB  # 22.49 GiB x 0.9
    with pytest.raises(TapeoutError, match=rf"has {usable_gb:.1f} GB usable"):
        workload_throughput("sdxl", "l4", batch=4096)


def test_workload_memory_gb_is_binary():
    from tapeout.perf.workload_throughput import workload_throughput

    run = workload_throughput("resnet50", "h100-sxm")
    need = memory_needed(build_workload("resnet50"))
    assert run["memory_gb"] * GIB == pytest.approx(need)


def test_binary_gigabyte_written_once():
    # perf/fit parses "KiB/MiB/GiB" unit strings of measured tables; every capacity uses memory_capacity.GIB
    pat = re.compile(r"2\s*\*\*\s*30|1024\s*\*\*\s*3")
    hits = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py")
            if "fit" not in p.parts and p.name != "memory_capacity.py" and pat.search(p.read_text())]
    assert hits == []
