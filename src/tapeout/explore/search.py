"""Search a design space: vectorized exhaustive sweep (small spaces) or NSGA-II (pymoo, large
ones), chunked, stored and resumable, on a local or a Ray backend.

A grid design is its mixed-radix index into the parameter value lists, so chunk c is
designs [c*chunk, (c+1)*chunk) whatever the backend; a worker rebuilds the chunk's designs
from (space, start, stop). NSGA-II (Deb et al. 2002) works on the integer indices of the
same value lists and replays from the store after an interruption: a stored design is read
back, not re-evaluated, and a fixed seed gives identical generations.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import TapeoutError
from .npu import complete, load_template
from .objectives import Evaluator, metric_names, no_feasible_error
from .pareto import pareto_mask
from .space import Space, apply_derived, load_space, maturity_dict
from .store import Store, design_keys, space_json

# ------------------------------------------------------------------------ evaluation blocks
_CACHE: dict[str, tuple[Space, Evaluator]] = {}


def _evaluator(space_dict: dict, maturity: dict | None) -> tuple[Space, Evaluator]:
    k = json.dumps([space_dict, maturity], sort_keys=True, default=str)
    if k not in _CACHE:
        sp = load_space(space_dict)
        _CACHE.clear()
        _CACHE[k] = (sp, Evaluator(sp, maturity=maturity))
    return _CACHE[k]


def grid_design(space: Space, start: int, stop: int) -> dict[str, np.ndarray]:
    """Designs [start, stop) of the space's grid (mixed radix, last parameter fastest)."""
    ranges = space.coded_ranges()
    names = list(ranges)
    if not names:
        return apply_derived(space, {n: v for n, v in complete({}).items()})
    shape = tuple(len(ranges[n]) for n in names)
    idx = np.arange(start, stop)
    digits = np.unravel_index(idx, shape)
    d = {n: ranges[n][digits[i]] for i, n in enumerate(names)}
    return apply_derived(space, d)


def evaluate_block(space_dict: dict, maturity: dict | None, context: str, start: int | None = None,
                   stop: int | None = None, design: dict | None = None, skip_keys: np.ndarray | None = None) -> dict:
    """Evaluate a grid chunk (start, stop) or explicit design arrays -> column dict for the store."""
    space, ev = _evaluator(space_dict, maturity)
    t = load_template()
    d = grid_design(space, start, stop) if design is None else apply_derived(space, design)
    full = complete(d)
    keys = design_keys(full, t.names, context)
    if skip_keys is not None and len(skip_keys):
        keep = ~np.isin(keys, skip_keys)
        full = {k: v[keep] for k, v in full.items()}
        keys = keys[keep]
    if len(keys) == 0:
        return {"key": keys}
    m = ev.metrics(full)
    failed = np.zeros(len(keys), dtype=np.int64)
    masks = ev.constraint_masks(m, full)
    for i, (_, ok, _) in enumerate(masks):
        failed |= (~ok).astype(np.int64) << i
    cols: dict[str, np.ndarray] = {"key": keys, "context": np.full(len(keys), context)}
    for n in t.names:
        spec = t.params[n]
        cols[n] = np.asarray(spec.choices, dtype=str)[full[n].astype(int)] if spec.kind == "choice" else full[n]
    cols.update(m)
    cols["failed"] = failed
    cols["reasons"] = failed_reasons(failed, [lab for lab, _, _ in masks])
    return cols


def failed_reasons(failed: np.ndarray, labels: list[str]) -> np.ndarray:
    """Bitmask of failed constraints -> '; '-joined labels ('' when feasible), one per design."""
    uniq, inv = np.unique(np.asarray(failed, dtype=np.int64), return_inverse=True)
    names = ["; ".join(lab for i, lab in enumerate(labels) if (int(u) >> i) & 1) for u in uniq]
    return np.asarray(names, dtype=str)[inv.ravel()]


# ------------------------------------------------------------------------ backends
class LocalBackend:
    name = "local"

    def map(self, tasks: list[dict]):
        for i, kw in enumerate(tasks):
            yield i, evaluate_block(**kw)

    def close(self):
        pass


class RayBackend:
    """Chunks as Ray tasks on a local cluster (started here) or an existing one (address)."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        try:
            import ray
        except ImportError:
            raise TapeoutError("--backend ray needs Ray: pip install 'tapeout[ray]' (or ray[default]).") from None
        self.ray = ray
        self.started = False
        if not ray.is_initialized():
            kw = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=num_cpus, **kw)
            self.started = True
        self.remote = ray.remote(num_cpus=1)(evaluate_block)

    def map(self, tasks: list[dict]):
        ray = self.ray
        if not tasks:
            return
        shared = {}
        for k in ("space_dict", "maturity", "context"):
            shared[k] = ray.put(tasks[0][k])
        pending = {}
        for i, kw in enumerate(tasks):
            args = {k: (shared[k] if k in shared else v) for k, v in kw.items()}
            pending[self.remote.remote(**args)] = i
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                yield i, ray.get(ref)

    def close(self):
        if self.started:
            self.ray.shutdown()


BACKENDS = ("local", "ray")


def check_backend(name) -> None:
    """Refuse an unknown backend before any work (a resumed search that reuses every stored design builds none)."""
    if name not in BACKENDS:
        raise TapeoutError(f"backend '{name}' is not known: use {' or '.join(BACKENDS)}.")


def make_backend(name: str = "local", address: str | None = None, num_cpus: int | None = None):
    check_backend(name)
    return LocalBackend() if name == "local" else RayBackend(address, num_cpus)


# ------------------------------------------------------------------------ results
@dataclass
class ExploreResult:
    space: str
    method: str
    backend: str
    db: str
    context: str
    evaluated: int  # evaluated in this run
    reused: int  # found in the store
    total: int  # designs of this context in the store
    feasible: int
    front_size: int
    front: list[dict]
    best: dict
    seconds: float
    removed: dict = field(default_factory=dict)
    objectives: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), transient=False)


# ------------------------------------------------------------------------ main entry
def explore(space, db=None, backend: str = "local", address: str | None = None, search: str | None = None,
            budget: int | None = None, seed: int | None = None, maturity=None, chunk: int | None = None,
            progress: bool = False, num_cpus: int | None = None, keep_db_open: bool = False) -> ExploreResult:
    """Run (or resume) a search; every evaluated design goes to the store `db` (a DuckDB path;
    None = in memory). Returns the Pareto front over all feasible stored designs of this
    context and the best design per objective."""
    check_backend(backend)
    sp = load_space(space)
    if maturity is not None:
        sp = sp.model_copy(update={"maturity": maturity})
        maturity_dict(sp.maturity)
    s = sp.search
    method = search or s.method
    if method not in ("auto", "grid", "nsga2"):
        raise TapeoutError(f"search '{method}' is not known: use auto, grid or nsga2.")
    size = sp.size
    if method == "auto":
        method = "grid" if size <= s.grid_limit else "nsga2"
    budget = int(s.budget if budget is None else budget)
    seed = int(s.seed if seed is None else seed)
    chunk = int(s.chunk if chunk is None else chunk)
    context = sp.context_hash()
    t0 = time.perf_counter()
    store = Store(db)
    # a completed search of the same question (context) and settings is answered from the store
    tag = f"grid:{chunk}" if method == "grid" else f"nsga2:{seed}:{budget}:{chunk}"
    done = store.finished(context, tag)
    if done is not None:
        if not keep_db_open:
            store.close()
        done.update(evaluated=0, reused=done["total"], seconds=time.perf_counter() - t0)
        return ExploreResult(**done)
    be = make_backend(backend, address, num_cpus)
    sd = sp.model_dump()
    mat = sp.maturity_dict()
    store.record_run(context, space_json(sp), method, seed)
    evaluated = reused = 0
    try:
        if method == "grid":
            evaluated, reused = _run_grid(sp, sd, mat, context, store, be, chunk, size, progress)
        else:
            evaluated, reused = _run_nsga2(sp, sd, mat, context, store, be, chunk, budget, seed, progress)
    finally:
        be.close()
    res = summarize(sp, store, context, method, be.name, evaluated, reused, time.perf_counter() - t0)
    store.mark_finished(context, tag, res.as_dict())
    if not keep_db_open:
        store.close()
    return res


def _run_grid(sp, sd, mat, context, store: Store, be, chunk, size, progress) -> tuple[int, int]:
    tag = f"grid:{chunk}"
    n_chunks = -(-size // chunk)
    done = store.done_chunks(context, tag)
    todo = [c for c in range(n_chunks) if c not in done]
    reused = sum(min(chunk, size - c * chunk) for c in done if c < n_chunks)
    tasks = []
    for c in todo:
        start, stop = c * chunk, min(size, (c + 1) * chunk)
        # keys already stored (e.g. by an NSGA-II run of the same space) are not re-evaluated
        keys = design_keys(complete(grid_design(sp, start, stop)), load_template().names, context)
        have = store.existing(keys)
        reused += int(have.sum())
        tasks.append(dict(space_dict=sd, maturity=mat, context=context, start=start, stop=stop, skip_keys=keys[have]))
    evaluated = 0
    bar = _progress(progress)
    if bar:
        bar.start()
        tid = bar.add_task(f"grid {size:,} designs", total=n_chunks, completed=n_chunks - len(todo))
    try:
        for i, cols in be.map(tasks):
            evaluated += store.insert(cols, context, tag, todo[i])
            if bar:
                bar.advance(tid)
    finally:
        if bar:
            bar.stop()
    return evaluated, reused


def _run_nsga2(sp, sd, mat, context, store: Store, be, chunk, budget, seed, progress) -> tuple[int, int]:
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    ranges = sp.coded_ranges()
    names = [n for n, v in ranges.items() if len(v) > 1]
    fixed = {n: v[0] for n, v in ranges.items() if len(v) == 1}
    if not names:
        raise TapeoutError("nsga2 needs at least one parameter with more than one value.")
    t = load_template()
    ev_space, ev = _evaluator(sd, mat)
    obj_cols = [o.metric for o in sp.objectives]
    counts = {"evaluated": 0, "reused": 0}
    bar = _progress(progress)
    if bar:
        bar.start()
        tid = bar.add_task(f"nsga2 budget {budget:,}", total=budget)
    gen = {"i": 0}

    def decode(X):
        X = np.rint(np.asarray(X, dtype=float)).astype(int)
        n = X.shape[0]
        d = {k: np.full(n, v) for k, v in fixed.items()}
        for j, nm in enumerate(names):
            d[nm] = ranges[nm][np.clip(X[:, j], 0, len(ranges[nm]) - 1)]
        return d

    class _P(Problem):
        def __init__(self):
            n_constr = 1
            super().__init__(n_var=len(names), n_obj=len(obj_cols), n_ieq_constr=n_constr,
                             xl=np.zeros(len(names)), xu=np.array([len(ranges[n]) - 1 for n in names], dtype=float),
                             vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            d = apply_derived(sp, decode(X))
            full = complete(d)
            keys = design_keys(full, t.names, context)
            uniq, first = np.unique(keys, return_index=True)
            have = store.existing(uniq)
            counts["reused"] += int(have.sum())
            missing = np.sort(first[~have])
            tasks = []
            for s in range(0, len(missing), chunk):
                sel = missing[s:s + chunk]
                tasks.append(dict(space_dict=sd, maturity=mat, context=context,
                                  design={k: v[sel] for k, v in d.items()}))
            for i, cols in be.map(tasks):
                counts["evaluated"] += store.insert(cols, context, f"nsga2:{seed}", None)
            got = store.fetch_keys(keys, obj_cols + ["violation"])
            F = np.stack([(-1.0 if o.goal == "max" else 1.0) * got[o.metric] for o in sp.objectives], axis=1)
            F = np.where(np.isfinite(F), F, 1e30)
            out["F"] = F
            out["G"] = got["violation"][:, None]
            gen["i"] += 1
            if bar:
                bar.update(tid, advance=len(X), description=f"nsga2 gen {gen['i']}")

    pop = min(sp.search.population, budget)
    algo = NSGA2(pop_size=pop, sampling=IntegerRandomSampling(),
                 crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
                 mutation=PM(eta=20, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    try:
        minimize(_P(), algo, ("n_evals", budget), seed=seed, verbose=False)
    finally:
        if bar:
            bar.stop()
    return counts["evaluated"], counts["reused"]


# ------------------------------------------------------------------------ summary
def summarize(sp: Space, store: Store, context: str, method: str, backend: str, evaluated: int, reused: int,
              seconds: float, front_limit: int = 200) -> ExploreResult:
    t = load_template()
    obj = [o.metric for o in sp.objectives]
    total = store.count(context)
    data = store.fetch(["key", "feasible", "failed"] + obj, where="context = ?", params=[context])
    if not data or total == 0:
        raise TapeoutError(f"no designs were evaluated for '{sp.name}'.")
    feas = data["feasible"] > 0
    labels = ["workloads fit in memory"] + [c.label() for c in sp.effective_constraints()]
    failed = np.asarray(data["failed"], dtype=np.int64)
    removed = {lab: int(((failed >> i) & 1).sum()) for i, lab in enumerate(labels)}
    if not feas.any():
        raise no_feasible_error(sp, removed, total)
    F = np.stack([(-1.0 if o.goal == "max" else 1.0) * data[o.metric][feas] for o in sp.objectives], axis=1)
    keys = data["key"][feas]
    fm = pareto_mask(np.where(np.isfinite(F), F, np.inf))
    fkeys = keys[fm]
    front_size = int(fm.sum())
    order = np.lexsort(F[fm].T[::-1])
    fkeys = fkeys[order][:front_limit]
    show = ["key"] + list(t.names) + sorted(metric_names(sp))
    show = [c for c in show if c in store.columns()]
    cols = store.fetch_keys(fkeys, show)
    front = [{c: _pyv(cols[c][i]) for c in show} for i in range(len(fkeys))]
    best = {}
    for j, o in enumerate(sp.objectives):
        i = int(np.argmin(F[:, j]))
        row = store.fetch_keys(keys[i:i + 1], show)
        best[o.metric] = {c: _pyv(row[c][0]) for c in show}
    return ExploreResult(space=sp.name, method=method, backend=backend, db=store.path, context=context,
                         evaluated=evaluated, reused=reused, total=total, feasible=int(feas.sum()), front_size=front_size, front=front,
                         best=best, seconds=seconds, removed=removed, objectives=[o.model_dump() for o in sp.objectives])


def _pyv(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v
