"""Process-node and coefficient data for the silicon-economics model.

Every number comes from src/tapeout/data/econ/*.csv, where each row names its source and
status (official / secondary / estimate). Node parameters are exposed both by name (one node)
and as numpy vectors over NODES, so a sweep can pass an integer node-index array and get
per-design parameters by fancy indexing (broadcasting, no Python loop over designs).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import TapeoutError, unknown_name_error

# order defines the node index used by vectorized sweeps
NODES: tuple[str, ...] = ("N7", "N5", "N4", "N3", "N2", "SF4", "SMIC_N7")
NODE_LABELS = {
    "N7": "TSMC N7",
    "N5": "TSMC N5",
    "N4": "TSMC N4",
    "N3": "TSMC N3",
    "N2": "TSMC N2",
    "SF4": "Samsung SF4",
    "SMIC_N7": "SMIC N+2 (7nm-class)",
}


def _path(name: str):
    return resources.files("tapeout").joinpath("data", "econ", name)


@dataclass(frozen=True)
class Coef:
    value: float | str
    unit: str
    status: str
    source: str
    notes: str = ""


def _num(v: str) -> float | str:
    try:
        return float(v)
    except ValueError:
        return v.strip()


@lru_cache(maxsize=1)
def node_rows() -> dict[str, dict[str, Coef]]:
    out: dict[str, dict[str, Coef]] = {}
    with _path("nodes.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            out.setdefault(r["node"], {})[r["parameter"]] = Coef(
                _num(r["value"]), r["unit"], r["status"], r["source"], r.get("notes", "")
            )
    return out


@lru_cache(maxsize=1)
def coef_rows() -> dict[tuple[str, str], Coef]:
    out = {}
    with _path("coefficients.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            out[(r["parameter"], r["key"])] = Coef(_num(r["value"]), r["unit"], r["status"], r["source"], r.get("notes", ""))
    return out


def coef(parameter: str, key: str = "") -> float:
    """A model coefficient from coefficients.csv (value only)."""
    c = coef_rows().get((parameter, key))
    if c is None:
        keys = [k for (p, k) in coef_rows() if p == parameter]
        if keys:
            raise unknown_name_error(f"{parameter} key", key, keys)
        raise TapeoutError(f"coefficient '{parameter}' is not in data/econ/coefficients.csv: add it with a source.")
    return c.value  # type: ignore[return-value]


def coef_keys(parameter: str) -> list[str]:
    return [k for (p, k) in coef_rows() if p == parameter]


def coef_source(parameter: str, key: str = "") -> str:
    c = coef_rows()[(parameter, key)]
    return f"{c.source} [{c.status}]"


@lru_cache(maxsize=None)
def node_vector(parameter: str) -> np.ndarray:
    """Parameter values over NODES, as a float array (index with a node-index array)."""
    rows = node_rows()
    try:
        return np.array([float(rows[n][parameter].value) for n in NODES])
    except KeyError as e:
        raise TapeoutError(f"node parameter '{parameter}' missing for {e} in data/econ/nodes.csv") from None


def node_index(node) -> np.ndarray | int:
    """Node name (or alias / process string) -> index into NODES; int arrays pass through."""
    if isinstance(node, (str, np.str_)):
        return NODES.index(parse_node(str(node)))
    arr = np.asarray(node)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() >= len(NODES)):
            raise TapeoutError(f"node index must be in 0..{len(NODES) - 1} ({', '.join(NODES)}), got {arr.min()}..{arr.max()}")
        return arr
    if arr.dtype.kind in "UO":
        return np.vectorize(lambda s: NODES.index(parse_node(str(s))), otypes=[int])(arr)
    raise TapeoutError(f"node must be a node name ({', '.join(NODES)}) or an integer index array, got {node!r}")


def node_param(parameter: str, node):
    """Per-design value of a node parameter: scalar for a node name, array for an index array."""
    idx = node_index(node)
    v = node_vector(parameter)[idx]
    return float(v) if np.ndim(v) == 0 else v


def node_source(parameter: str, node: str) -> str:
    c = node_rows()[parse_node(node)][parameter]
    return f"{c.source} [{c.status}]"


_ALIASES = [
    (r"smic", "SMIC_N7"),
    (r"samsung|sf4|4lpp|4lpe", "SF4"),
    (r"\bn2\b|2\s*nm", "N2"),
    (r"\bn3[a-z]*\b|3\s*nm", "N3"),
    (r"\b4n[a-z]*\b|\bn4[a-z]*\b|4\s*nm", "N4"),
    (r"\bn5[a-z]*\b|5\s*nm", "N5"),
    (r"\bn6\b|6\s*nm|\bn7[a-z]*\b|7\s*nm|7n\b", "N7"),
]


def parse_node(text: str) -> str:
    """Map a process-node string ("TSMC 4N (N5-family)", "7nm (TSMC)", "N3P") to a NODES key.
    N6 is modelled as N7 (same design rules family); 4N/4NP as N4."""
    if text in NODES:
        return text
    t = text.strip().lower()
    if t.upper() in NODES:
        return t.upper()
    # the first (leftmost) node named in the string wins, e.g. "TSMC N5 (XCD) + N6 (IOD)" -> N5
    best = None
    for pat, key in _ALIASES:
        m = re.search(pat, t)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), key)
    if best is None:
        raise unknown_name_error("process node", text, list(NODES))
    return best[1]
