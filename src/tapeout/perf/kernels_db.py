"""Read NVIDIA's measured kernel database (AIConfigurator) into tidy per-kernel records.

The database ships in the optional extra `tapeout[kernels]` (PyPI aiconfigurator-core,
Apache-2.0) as parquet files laid out <db>/<system>/<op>/<stack>/<version>/<table>.parquet;
it is read in place with DuckDB and never copied into this repository. Which system is which
tapeout chip is data (data/calibration/kernels_db.yaml).

One record per measured kernel (columns of a `Kernels` struct of arrays):
  chip, system, op ("gemm", "attention_prefill", "attention_decode"), fmt (bf16, fp8,
  fp8_block, nvfp4 for GEMMs; the attention math dtype), kv_fmt, GEMM shape m (tokens) n k,
  attention batch, q_len, kv_len, heads, kv_heads, head_dim, latency_s, stack, stack_version;
plus the package version and, per system, the stack version read and the one asked for.

`read_collectives`: the measured collectives (NCCL's all-reduce / all-gather / reduce-scatter /
all-to-all and the serving stack's custom all-reduce), one record per (kind, dtype, GPUs, bytes).
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import yaml

from ..errors import TapeoutError

OPS = ("gemm", "attention_prefill", "attention_decode")
_FMT = {"bfloat16": "bf16", "float16": "fp16", "fp8": "fp8", "fp8_block": "fp8_block", "nvfp4": "nvfp4"}
COLUMNS = ("chip", "system", "op", "fmt", "kv_fmt", "m", "n", "k", "batch", "q_len", "kv_len", "heads", "kv_heads",
           "head_dim", "latency_s", "stack", "stack_version")

# per table: file name, op label, SQL select list (latency is stored in milliseconds)
_TABLES = {
    "gemm": ("gemm", "gemm_perf.parquet",
             "gemm_dtype AS fmt, '' AS kv_fmt, m, n, k, 0 AS batch, 0 AS q_len, 0 AS kv_len, 0 AS heads, "
             "0 AS kv_heads, 0 AS head_dim", "hash(m, n, k)", "true"),
    "attention_prefill": ("attention", "context_attention_perf.parquet",
                          "attn_dtype AS fmt, kv_cache_dtype AS kv_fmt, 0 AS m, 0 AS n, 0 AS k, batch_size AS batch, "
                          "isl AS q_len, isl AS kv_len, num_heads AS heads, num_key_value_heads AS kv_heads, head_dim",
                          "hash(batch_size, isl, num_heads, num_key_value_heads, head_dim)",
                          "window_size = 0 AND beam_width = 1"),
    # generation: one new token per sequence attending to isl + step cached tokens
    "attention_decode": ("attention", "generation_attention_perf.parquet",
                         "attn_dtype AS fmt, kv_cache_dtype AS kv_fmt, 0 AS m, 0 AS n, 0 AS k, batch_size AS batch, "
                         "1 AS q_len, isl + step AS kv_len, num_heads AS heads, num_key_value_heads AS kv_heads, head_dim",
                         "hash(batch_size, step, num_heads, num_key_value_heads, head_dim)",
                         "window_size = 0 AND beam_width = 1"),
}


@dataclasses.dataclass
class Kernels:
    """Struct of arrays, one entry per measured kernel (see module docstring)."""

    cols: dict[str, np.ndarray]
    package_version: str
    sources: list[dict]  # per (system, op): stack, version read, version asked for, note

    def __len__(self) -> int:
        return len(self.cols["latency_s"])

    def where(self, mask) -> "Kernels":
        return Kernels({k: v[mask] for k, v in self.cols.items()}, self.package_version, self.sources)

    def records(self) -> list[dict]:
        """The tidy per-kernel records (dicts), each with the package version."""
        out = []
        for i in range(len(self)):
            r = {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in self.cols.items()}
            r["package_version"] = self.package_version
            out.append(r)
        return out


@lru_cache(maxsize=1)
def db_config() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "calibration", "kernels_db.yaml").read_text())


def installed_root() -> tuple[Path, str]:
    """(database root, package version) of the installed aiconfigurator-core."""
    cfg = db_config()
    try:
        version = metadata.version(cfg["package"])
        files = metadata.files(cfg["package"]) or []
    except metadata.PackageNotFoundError:
        raise TapeoutError(f"--kernels aiconfigurator needs the {cfg['package']} package: "
                           f"pip install 'tapeout[kernels]'.") from None
    init = next((f for f in files if str(f).endswith("aiconfigurator_core/__init__.py")), None)
    if init is None:
        raise TapeoutError(f"{cfg['package']} {version} is installed without its data files: reinstall it "
                           "(pip install --force-reinstall 'tapeout[kernels]').")
    base = Path(str(init.locate())).parent.parent
    return base / cfg["db_path"], version


def _version_key(v: str):
    return tuple((0, int(t)) if t.isdigit() else (1, t) for t in re.split(r"[.+]|(?<=\d)(?=[a-z])", v) if t)


def pick_version(available: list[str], asked: str | None) -> tuple[str, str]:
    """(version to read, note). The asked version when present, else the newest, with a note."""
    if not available:
        raise ValueError("no versions")
    if asked and asked in available:
        return asked, ""
    newest = max(available, key=_version_key)
    note = f"asked for {asked}, database has {', '.join(sorted(available, key=_version_key))}: read {newest}" if asked else ""
    return newest, note


def _chip_of(system: str) -> str | None:
    s = db_config()["systems"].get(system)
    return s["chip"] if s else None


def read_kernels(root: Path | None = None, package_version: str | None = None, stack: str | None = None,
                 stack_version: str | None = None, systems: list[str] | None = None, ops=OPS,
                 per_group: int | None = 2000) -> Kernels:
    """Measured kernels of every mapped system (or `systems`), one stack (default: the config's).

    `per_group` caps the rows per (system, op, format) with a deterministic hash sample of the
    shapes (None: every row). A system without the stack is skipped and listed in `sources`."""
    import duckdb

    if root is None:
        root, package_version = installed_root()
    cfg = db_config()
    stack = stack or cfg["default_stack"]
    con = duckdb.connect()
    parts, sources, seen = [], [], set()
    names = systems or sorted(cfg["systems"])
    for system in names:
        chip = _chip_of(system)
        if chip is None:
            raise TapeoutError(f"kernel database system '{system}' is not mapped to a chip: add it to "
                               "data/calibration/kernels_db.yaml.")
        for op in ops:
            sub, fname, select, order, cond = _TABLES[op]
            d = Path(root) / system / sub / stack
            versions = sorted(p.name for p in d.iterdir() if (p / fname).is_file()) if d.is_dir() else []
            if not versions:
                sources.append({"system": system, "chip": chip, "op": op, "stack": stack, "note": "not in database"})
                continue
            seen.update(versions)
            ver, note = pick_version(versions, stack_version)
            f = str(d / ver / fname).replace("'", "''")
            lim = f"QUALIFY row_number() OVER (PARTITION BY fmt ORDER BY {order}) <= {int(per_group)}" if per_group else ""
            parts.append(f"SELECT '{chip}' AS chip, '{system}' AS system, '{op}' AS op, {select}, latency * 1e-3 AS latency_s, "
                         f"'{stack}' AS stack, '{ver}' AS stack_version FROM read_parquet('{f}') "
                         f"WHERE {cond} AND latency > 0 {lim}")
            sources.append({"system": system, "chip": chip, "op": op, "stack": stack, "stack_version": ver,
                            "asked_version": stack_version, "note": note})
    if not parts:
        raise TapeoutError(f"--stack {stack}: no system of the kernel database has it; use trtllm, sglang or vllm.")
    if stack_version and stack_version not in seen:  # a version of some system falls back per system (pick_version)
        raise TapeoutError(f"--stack-version {stack_version}: no system of the kernel database has {stack} at it; use one "
                           f"of {', '.join(sorted(seen, key=_version_key))}, or drop --stack-version (the newest per chip).")
    cols = con.sql(" UNION ALL ".join(f"({p})" for p in parts)).fetchnumpy()
    out = {k: np.asarray(cols[k]) for k in COLUMNS}
    out["fmt"] = np.array([_FMT.get(str(v), str(v)) for v in out["fmt"]], dtype=object)
    out["kv_fmt"] = np.array([_FMT.get(str(v), str(v)) for v in out["kv_fmt"]], dtype=object)
    for k in ("chip", "system", "op", "stack", "stack_version"):
        out[k] = out[k].astype(object)
    keep = np.array([f in ("bf16", "fp16", "fp8", "fp8_block", "nvfp4") for f in out["fmt"]], dtype=bool)
    return Kernels({k: v[keep] for k, v in out.items()}, package_version or "unknown", sources)


def _located(root, package_version, stack):
    """(database root, package version, stack): the installed database and the config's stack by default."""
    if root is None:
        root, package_version = installed_root()
    return root, package_version, stack or db_config()["default_stack"]


def _union(parts: list[str], text_cols) -> dict:
    """The UNION ALL of the SELECTs `parts` as numpy columns, `text_cols` as object arrays."""
    import duckdb

    cols = {k: np.asarray(v) for k, v in duckdb.connect().sql(" UNION ALL ".join(f"({p})" for p in parts)).fetchnumpy().items()}
    return {k: v.astype(object) if k in text_cols else v for k, v in cols.items()}


# measured collectives: table dir, file, SQL select list, condition. message_size counts elements
# (aiconfigurator sdk/perf_database.py _factor_message_size: "an element count"); bytes = elements x
# the dtype's size. CUDA-graph rows of the sglang/vllm tables (serving replays graphs); trtllm has one.
_DTYPE_BYTES = {"half": 2, "bfloat16": 2, "float16": 2, "int8": 1, "fp8": 1}
_COMM_TABLES = {
    "nccl": ("nccl", "nccl_perf.parquet", "'nccl_' || replace(op_name, 'alltoall', 'all_to_all') AS op, "
             "nccl_dtype AS dtype", "true"),
    "custom_all_reduce": (None, "custom_allreduce_perf.parquet", "'custom_all_reduce' AS op, allreduce_dtype AS dtype",
                          "kernel_source NOT LIKE '%eager'"),
}
COMM_COLUMNS = ("chip", "system", "op", "dtype", "num_gpus", "bytes", "latency_s", "stack", "stack_version")


def read_collectives(root: Path | None = None, package_version: str | None = None, stack: str | None = None,
                     systems: list[str] | None = None) -> Kernels:
    """Measured collectives of every mapped system: NCCL (the newest version per system: the
    database's NCCL sweep is not tied to a serving-stack version) and `stack`'s custom all-reduce
    (newest version). A system without a table is listed in `sources` as not in the database."""
    root, package_version, stack = _located(root, package_version, stack)
    parts, sources = [], []
    for system in systems or sorted(db_config()["systems"]):
        chip = _chip_of(system)
        for table, (sub, fname, select, cond) in _COMM_TABLES.items():
            d = Path(root) / system / "comm" / (sub or stack)
            versions = sorted(p.name for p in d.iterdir() if (p / fname).is_file()) if d.is_dir() else []
            if not versions:
                sources.append({"system": system, "chip": chip, "op": table, "stack": sub or stack, "note": "not in database"})
                continue
            ver, _ = pick_version(versions, None)
            f = str(d / ver / fname).replace("'", "''")
            parts.append(f"SELECT '{chip}' AS chip, '{system}' AS system, {select}, num_gpus, message_size, "
                         f"latency * 1e-3 AS latency_s, '{sub or stack}' AS stack, '{ver}' AS stack_version "
                         f"FROM read_parquet('{f}') WHERE {cond} AND latency > 0")
            sources.append({"system": system, "chip": chip, "op": table, "stack": sub or stack, "stack_version": ver})
    if not parts:
        raise TapeoutError("no system of the kernel database has measured collectives.")
    cols = _union(parts, ("chip", "system", "op", "dtype", "stack", "stack_version"))
    out = {k: cols[k] for k in COMM_COLUMNS if k != "bytes"}
    keep = np.array([d in _DTYPE_BYTES for d in out["dtype"]], dtype=bool)
    out["bytes"] = np.asarray(cols["message_size"], dtype=float) * np.array([_DTYPE_BYTES.get(d, 0) for d in out["dtype"]])
    return Kernels({k: v[keep] for k, v in out.items()}, package_version or "unknown", sources)


MOE_COLUMNS = ("chip", "system", "op", "dtype", "kernel", "distribution", "tokens", "hidden", "inter", "topk", "experts",
               "moe_tp", "moe_ep", "latency_s", "stack", "stack_version")


def read_moe(root: Path | None = None, package_version: str | None = None, stack: str | None = None,
             systems: list[str] | None = None, per_group: int | None = 200) -> Kernels:
    """Measured fused-MoE layers (moe/<stack>/<newest>/moe_perf.parquet: tokens into the layer, hidden, expert
    FFN width, top-k, experts, MoE TP x EP, routing distribution, dtype, kernel), up to `per_group` per
    (system, dtype, kernel, distribution) by a deterministic hash sample. The wide-EP table (wideep_moe_perf) is not read."""
    root, package_version, stack = _located(root, package_version, stack)
    parts, sources = [], []
    for system in systems or sorted(db_config()["systems"]):
        chip = _chip_of(system)
        d = Path(root) / system / "moe" / stack
        versions = sorted(p.name for p in d.iterdir() if (p / "moe_perf.parquet").is_file()) if d.is_dir() else []
        if not versions:
            sources.append({"system": system, "chip": chip, "op": "moe", "stack": stack, "note": "not in database"})
            continue
        # the stack version the GEMM fit reads where the MoE table has it (the newest MoE-only versions are partial sweeps)
        gemms = [v for v in versions if (Path(root) / system / "gemm" / stack / v / "gemm_perf.parquet").is_file()]
        ver, _ = pick_version(gemms or versions, None)
        f = str(d / ver / "moe_perf.parquet").replace("'", "''")
        order = "hash(num_tokens, hidden_size, inter_size, topk, num_experts, moe_tp_size, moe_ep_size, distribution)"
        lim = f"QUALIFY row_number() OVER (PARTITION BY moe_dtype, kernel_source, distribution ORDER BY {order}) <= {int(per_group)}" if per_group else ""
        parts.append(f"SELECT '{chip}' AS chip, '{system}' AS system, 'moe' AS op, moe_dtype AS dtype, kernel_source AS kernel, "
                     "distribution, num_tokens AS tokens, hidden_size AS hidden, inter_size AS inter, topk, num_experts AS experts, "
                     f"moe_tp_size AS moe_tp, moe_ep_size AS moe_ep, latency * 1e-3 AS latency_s, '{stack}' AS stack, "
                     f"'{ver}' AS stack_version FROM read_parquet('{f}') WHERE latency > 0 {lim}")
        sources.append({"system": system, "chip": chip, "op": "moe", "stack": stack, "stack_version": ver})
    if not parts:
        raise TapeoutError(f"--stack {stack}: no system of the kernel database has MoE layers.")
    cols = _union(parts, ("chip", "system", "op", "dtype", "kernel", "distribution", "stack", "stack_version"))
    return Kernels({k: cols[k] for k in MOE_COLUMNS}, package_version or "unknown", sources)


def held_out_chips(chip_id: str) -> frozenset:
    """The chips a hold-out of `chip_id` leaves out of a fit: the chip and its twins (same GPU die and memory
    stack on another board or host, kernels_db.yaml same_silicon), whose kernels would hand the fit the held-out
    chip's own numbers."""
    for group in db_config().get("same_silicon", []):
        if chip_id in group:
            return frozenset(group)
    return frozenset({chip_id})


def held_out_of(fitted: dict | None) -> frozenset:
    """The chips a calibration holds out: its `held_out` chip (written by kernel_calibration.build(holdout=...),
    harness.run(holdout=...) and the coverage chip split) and that chip's twins (held_out_chips); empty for any
    other calibration (None: the shipped one). The one mechanism by which every reader of data written from the
    database's kernels (format_efficiency.csv ratios, format_rate_law.yaml pairs, fp8_attention_speedup.yaml,
    kernel_structure.yaml values with `fitted_on`) leaves those chips' numbers out, so a held-out chip is priced
    as a chip with no kernels is, never from its own measured kernels (docs/notes/issue-24.md, Round stop-38
    issue-43c)."""
    hid = (fitted or {}).get("held_out")
    return held_out_chips(hid) if hid else frozenset()


def holding_out(fitted: dict, chip_id: str) -> dict:
    """`fitted` (a calibration fitted without `chip_id`) marked as holding it out (held_out_of)."""
    return {**fitted, "held_out": chip_id}


def without_chips(k: "Kernels", chips) -> "Kernels":
    """`k` without the kernels (and sources) of `chips`."""
    drop = set(chips)
    return dataclasses.replace(k.where(~np.isin(k.cols["chip"], sorted(drop))),
                               sources=[s for s in k.sources if s["chip"] not in drop])


def chip_for(chip_id: str):
    """The catalog chip, or an off-catalog DB chip built from its base chip and the sourced
    overrides in kernels_db.yaml."""
    from ..hardware.catalog import Chip, Spec, get_chip, resolve_chip_id
    from ..hardware.memory_capacity import rebased_specs

    for s in db_config()["systems"].values():
        if s["chip"] == chip_id and "base" in s:
            base = get_chip(s["base"])
            specs = rebased_specs(dict(base.specs), {k: Spec(float(v["value"]), v.get("unit", ""), v.get("status", ""),
                                                             v.get("source", "")) for k, v in s.get("specs", {}).items()})
            return Chip(id=chip_id, name=s.get("name", chip_id), vendor="NVIDIA", family=s.get("family", base.family),
                        specs=specs)
    cid = resolve_chip_id(chip_id)
    if cid is None:
        known = sorted(s["chip"] for s in db_config()["systems"].values())
        raise TapeoutError(f"--holdout '{chip_id}' is not a chip of the kernel database; use one of {', '.join(known)}.")
    return get_chip(cid)
