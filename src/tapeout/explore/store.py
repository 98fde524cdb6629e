"""Persistent store of evaluated designs: an embedded DuckDB file (Parquet export).

Table `designs`: one row per (design, evaluation context). `key` (BIGINT, primary key) is a
64-bit hash of every template parameter of the design and of the context (workload mix,
maturity, model version), so a design is never evaluated or stored twice for the same
question. Rows are written in chunks, each chunk in one transaction together with its entry
in `chunks`; a run killed mid-way (even by SIGKILL) loses at most the chunk in flight, and a
rerun skips the committed chunks and any stored key. Columns: key, context, the parameters
(choices as text), the metrics, `feasible`, `violation`, `failed` (bit i set = constraint i of
the run failed; bit 0 = memory fit), `reasons` (their labels), and the floorplan margins
(`edge_margin_mm`, `package_margin_mm2`, ...: negative = the limit is broken by that much).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..errors import TapeoutError

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer (Steele et al. 2014), vectorized on uint64."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def design_keys(design: dict[str, np.ndarray], names: tuple[str, ...], context: str) -> np.ndarray:
    """int64 hash of the parameter values (in template order) and the context string."""
    n = np.size(design[names[0]])
    seed = np.uint64(int(context[:16], 16) if all(c in "0123456789abcdef" for c in context[:16]) else hash(context) & 0xFFFFFFFF)
    h = np.full(n, seed, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, name in enumerate(names):
            bits = np.ascontiguousarray(np.asarray(design[name], dtype=np.float64) + 0.0).view(np.uint64)
            h = _mix64(h ^ (bits + np.uint64(0x9E3779B97F4A7C15) * np.uint64(i + 1)))
    return h.view(np.int64)


def _sniff(p: Path) -> None:
    """One line for a path that is not a DuckDB file (missing, empty, another kind of file)."""
    hint = f"run `tapeout explore SPACE --db {p}` first"
    if not p.is_file():
        raise TapeoutError(f"design database '{p}' not found; {hint}.")
    with open(p, "rb") as f:
        head = f.read(16)
    if not head:
        raise TapeoutError(f"design database '{p}' is an empty file, not a DuckDB store; {hint}.")
    if head[8:12] != b"DUCK":  # DuckDB's file header carries the magic bytes at offset 8
        raise TapeoutError(f"'{p}' is not a DuckDB design database; give the --db file written by `tapeout explore`.")


class Store:
    def __init__(self, path: str | Path | None = None, read_only: bool = False):
        import duckdb

        self.path = ":memory:" if path in (None, ":memory:") else str(path)
        if read_only and self.path != ":memory:":
            _sniff(Path(self.path))
        self._snapshot = None
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except Exception as e:  # duckdb.IOException etc.
            if not (read_only and "lock" in str(e).lower()):
                raise TapeoutError(f"cannot open design database '{self.path}': {' '.join(str(e).split())}") from None
            self.con = self._open_snapshot()
        if not read_only:
            self.con.execute("CREATE TABLE IF NOT EXISTS runs (context VARCHAR, started DOUBLE, space VARCHAR, "
                             "method VARCHAR, seed BIGINT)")
            self.con.execute("CREATE TABLE IF NOT EXISTS chunks (context VARCHAR, tag VARCHAR, chunk BIGINT, rows BIGINT)")
            self.con.execute("CREATE TABLE IF NOT EXISTS finished (context VARCHAR, tag VARCHAR, result VARCHAR)")
        self._columns: dict[str, str] | None = None

    def _open_snapshot(self):
        """A running `tapeout explore` holds the file's write lock: read a copy of the committed
        chunks instead (the file and its write-ahead log, copied together; a copy taken
        while a chunk commits is retried)."""
        import shutil
        import tempfile

        import duckdb

        self._snapshot = tempfile.mkdtemp(prefix="tapeout-snapshot-")
        src, dst = Path(self.path), Path(self._snapshot) / Path(self.path).name
        last = None
        for _ in range(5):
            try:
                shutil.copyfile(src, dst)
                wal = src.with_name(src.name + ".wal")
                if wal.exists():
                    shutil.copyfile(wal, dst.with_name(dst.name + ".wal"))
                else:
                    dst.with_name(dst.name + ".wal").unlink(missing_ok=True)
                con = duckdb.connect(str(dst))  # replays the copied log into the copy, never the original
                con.execute("SELECT 1").fetchall()
                return con
            except Exception as e:  # noqa: BLE001 (torn copy: try again)
                last = e
                time.sleep(0.2)
        raise TapeoutError(f"cannot read design database '{self.path}' while it is being written ({last}); "
                           "try again when the exploration has finished.")

    # ------------------------------------------------------------------ schema
    def columns(self) -> dict[str, str]:
        if self._columns is None:
            import duckdb

            try:
                rows = self.con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                        "WHERE table_name = 'designs' ORDER BY ordinal_position").fetchall()
            except duckdb.CatalogException:  # no schema yet: an empty store
                rows = []
            self._columns = {r[0]: r[1] for r in rows}
        return self._columns

    def _ensure(self, cols: dict[str, np.ndarray]) -> None:
        have = self.columns()
        types = {k: ("BIGINT" if k in ("key", "failed") else "VARCHAR" if v.dtype.kind in "UO" else "DOUBLE")
                 for k, v in cols.items()}
        if not have:
            spec = ", ".join(f'"{k}" {t}{" PRIMARY KEY" if k == "key" else ""}' for k, t in types.items())
            self.con.execute(f"CREATE TABLE IF NOT EXISTS designs ({spec})")
        else:
            for k, t in types.items():
                if k not in have:
                    self.con.execute(f'ALTER TABLE designs ADD COLUMN "{k}" {t}')
        self._columns = None

    # ------------------------------------------------------------------ writes
    def record_run(self, context: str, space_json: str, method: str, seed: int) -> None:
        self.con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?)", [context, time.time(), space_json, method, seed])

    def done_chunks(self, context: str, tag: str) -> set[int]:
        rows = self.con.execute("SELECT chunk FROM chunks WHERE context = ? AND tag = ?", [context, tag]).fetchall()
        return {int(r[0]) for r in rows}

    def existing(self, keys: np.ndarray) -> np.ndarray:
        """Mask of `keys` already stored."""
        if not self.columns() or len(keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        self.con.register("_probe", {"key": np.asarray(keys, dtype=np.int64)})
        try:
            found = self.con.execute("SELECT d.key FROM designs d SEMI JOIN _probe p ON d.key = p.key").fetchnumpy()["key"]
        finally:
            self.con.unregister("_probe")
        return np.isin(keys, np.asarray(found, dtype=np.int64))

    def insert(self, cols: dict[str, np.ndarray], context: str | None = None, tag: str | None = None,
               chunk: int | None = None) -> int:
        """Insert rows whose key is new, and mark the chunk done, in one transaction."""
        n = len(cols["key"])
        if n:
            self._ensure(cols)
        self.con.execute("BEGIN TRANSACTION")
        try:
            written = 0
            if n:
                self.con.register("_chunk", cols)
                names = ", ".join(f'"{k}"' for k in cols)
                written = self.con.execute(
                    f"INSERT INTO designs ({names}) SELECT {names} FROM _chunk c "
                    f"WHERE NOT EXISTS (SELECT 1 FROM designs d WHERE d.key = c.key)").fetchone()[0]
                self.con.unregister("_chunk")
            if chunk is not None:
                self.con.execute("INSERT INTO chunks VALUES (?, ?, ?, ?)", [context, tag, int(chunk), int(n)])
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        return int(written or 0)

    # ------------------------------------------------------------------ reads
    def count(self, context: str | None = None) -> int:
        if not self.columns():
            return 0
        if context is None:
            return int(self.con.execute("SELECT count(*) FROM designs").fetchone()[0])
        return int(self.con.execute("SELECT count(*) FROM designs WHERE context = ?", [context]).fetchone()[0])

    def fetch(self, columns: list[str] | None = None, where: str | None = None, params: list | None = None,
              order_by: str | None = None, limit: int | None = None) -> dict[str, np.ndarray]:
        if not self.columns():
            return {}
        cols = "*" if not columns else ", ".join(f'"{c}"' for c in columns)
        q = f"SELECT {cols} FROM designs"
        if where:
            q += f" WHERE {where}"
        if order_by:
            q += f" ORDER BY {order_by}"
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        try:
            res = self.con.execute(q, params or []).fetchnumpy()
        except Exception as e:
            raise TapeoutError(f"query failed: {str(e).splitlines()[0]} (columns: {', '.join(self.columns())}).") from None
        return {k: (np.ma.filled(v, np.nan) if np.ma.isMaskedArray(v) and v.dtype.kind == "f" else
                    (np.ma.filled(v, None) if np.ma.isMaskedArray(v) else v)) for k, v in res.items()}

    def rows(self, **kw) -> list[dict]:
        data = self.fetch(**kw)
        if not data:
            return []
        n = len(next(iter(data.values())))
        return [{k: _py(v[i]) for k, v in data.items()} for i in range(n)]

    def fetch_keys(self, keys: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
        """Columns of the rows with these keys, in the order of `keys` (all must be stored)."""
        self.con.register("_want", {"key": np.asarray(keys, dtype=np.int64), "_i": np.arange(len(keys))})
        try:
            cols = ", ".join(f'd."{c}"' for c in columns)
            res = self.con.execute(f"SELECT w._i, {cols} FROM _want w JOIN designs d ON d.key = w.key ORDER BY w._i").fetchnumpy()
        finally:
            self.con.unregister("_want")
        if len(res["_i"]) != len(keys):
            raise TapeoutError("store is missing rows for some keys (was the database modified during the run?).")
        return {c: np.asarray(res[c]) for c in columns}

    def export_parquet(self, path: str | Path, where: str | None = None) -> None:
        q = "SELECT * FROM designs" + (f" WHERE {where}" if where else "")
        target = Path(path).as_posix().replace("'", "''")  # inside a SQL string literal a quote is doubled
        try:
            self.con.execute(f"COPY ({q}) TO '{target}' (FORMAT PARQUET)")
        except Exception as e:  # a bad --where, an unwritable file: one line, as rows() does
            raise TapeoutError(f"Parquet export to '{path}' failed: {str(e).splitlines()[0]} "
                               f"(columns: {', '.join(self.columns())}).") from None

    def finished(self, context: str, tag: str) -> dict | None:
        """The stored summary of a completed search of this context and settings (None: not completed)."""
        row = self.con.execute("SELECT result FROM finished WHERE context = ? AND tag = ? LIMIT 1", [context, tag]).fetchone()
        return json.loads(row[0]) if row else None

    def mark_finished(self, context: str, tag: str, result: dict) -> None:
        self.con.execute("DELETE FROM finished WHERE context = ? AND tag = ?", [context, tag])
        self.con.execute("INSERT INTO finished VALUES (?, ?, ?)", [context, tag, json.dumps(result, default=str)])

    def close(self) -> None:
        self.con.close()
        if self._snapshot:
            import shutil

            shutil.rmtree(self._snapshot, ignore_errors=True)
            self._snapshot = None


def _py(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def space_json(space) -> str:
    return json.dumps(space.model_dump(), sort_keys=True, default=str)
