"""The kernel fit's structured finite differences (perf/parted_residuals.py, kernel_fit.group_reads): a step
re-predicts only the groups that read the stepped parameter, and must give the dense Jacobian bit for bit.

The synthetic tests need nothing installed; the `needs_db` ones run on a small slice of the installed
aiconfigurator-core database (two chip families, so the tied family offsets are in it) and skip without it."""


import numpy as np
import pytest
from scipy.optimize import least_squares
from scipy.optimize._numdiff import approx_derivative

from tapeout.perf import kernel_fit as kf
from tapeout.perf.parted_residuals import HAS_WORKERS, PartedResiduals

from _db import needs_db
needs_workers = pytest.mark.skipif(not HAS_WORKERS, reason="scipy < 1.16: least_squares has no `workers` hook")


def _toy():
    """Three parts: part 0 reads x0 and x1, part 1 x1 only, part 2 x2 only (exp keeps the residuals nonlinear)."""
    reads = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    coef = [np.array([1.0, 2.0]), np.array([3.0]), np.array([0.5, 1.5, 2.5])]

    def part(i, x):
        return coef[i] * np.exp(np.where(reads[i], x, 0.0).sum()) - (i + 1.0)

    return part, reads


def test_step_reevaluates_only_the_parts_the_coordinate_reaches():
    part, reads = _toy()
    calls = []
    pr = PartedResiduals(lambda i, x: (calls.append(i), part(i, x))[1], reads)
    x = np.array([0.1, -0.2, 0.3])
    pr(x)
    calls.clear()
    x1 = x.copy()
    x1[2] += 1e-3
    full = np.concatenate([part(i, x1) for i in range(3)])
    assert np.array_equal(pr.step(x1), full) and calls == [2]
    calls.clear()
    x2 = x + 1e-3  # more than one coordinate moved: every part, and the base stays x
    assert np.array_equal(pr.step(x2), np.concatenate([part(i, x2) for i in range(3)])) and calls == [0, 1, 2]
    assert np.array_equal(pr.x, x)


def test_a_missed_read_shows_in_the_jacobian():
    # a reach that omits part 0's read of x0: the structured Jacobian loses that column's entries, so the
    # dense comparison below (and the test on the database slice) can fail
    part, reads = _toy()
    wrong = reads.copy()
    wrong[0, 0] = False
    x = np.array([0.1, -0.2, 0.3])
    dense = approx_derivative(lambda v: np.concatenate([part(i, v) for i in range(3)]), x, method="2-point")
    pr = PartedResiduals(part, wrong)
    bad = approx_derivative(pr, x, method="2-point", f0=pr(x), workers=pr.map)
    assert not np.array_equal(dense, bad) and np.all(bad[:2, 0] == 0.0) and np.all(dense[:2, 0] != 0.0)


@needs_workers
def test_least_squares_takes_the_same_path():
    part, reads = _toy()
    pr = PartedResiduals(part, reads)
    dense = least_squares(lambda v: np.concatenate([part(i, v) for i in range(3)]), np.zeros(3), bounds=(-2.0, 2.0),
                          loss="soft_l1", f_scale=0.05, x_scale="jac")
    fast = least_squares(pr, np.zeros(3), bounds=(-2.0, 2.0), loss="soft_l1", f_scale=0.05, x_scale="jac", **pr.solver_options())
    assert np.array_equal(dense.x, fast.x) and dense.nfev == fast.nfev and dense.njev == fast.njev
    assert pr.part_evals < 3 * (fast.nfev + 3 * fast.njev)  # fewer part evaluations than the dense count


@needs_db
@pytest.mark.parametrize("source, fitted, burst, ctx, stream, score",
                         [(False, False, False, False, False, False), (False, True, False, False, False, False),
                          (True, True, False, False, False, False), (True, True, True, False, False, False),
                          (False, True, False, True, False, False), (False, True, False, False, True, False),
                          (False, True, False, False, False, True)])
def test_structured_jacobian_equals_the_dense_one_on_the_database_slice(source, fitted, burst, ctx, stream, score,
                                                                          monkeypatch):
    from tapeout.perf.kernels_db import read_kernels

    # under each generation-kernel residency scheme (source / fitted per kernel / shared ctas_per_core), and with the
    # bursts' power budget read (BURST_POWER_LIMIT, issue-36c)
    monkeypatch.setattr(kf, "SOURCE_RESIDENCY", source)
    monkeypatch.setattr(kf, "FITTED_RESIDENCY", fitted)
    monkeypatch.setattr(kf, "BURST_POWER_LIMIT", burst)
    # and the context kernels on their own work-unit overhead and efficiency (CONTEXT_K_OVERHEAD, CONTEXT_KERNEL_EFF,
    # issue-51d)
    monkeypatch.setattr(kf, "CONTEXT_K_OVERHEAD", ctx)
    monkeypatch.setattr(kf, "CONTEXT_KERNEL_EFF", ctx)
    # and the context CTAs' Q / O tiles at one core's stream (CONTEXT_IO_CORE_STREAM, issue-61d)
    monkeypatch.setattr(kf, "CONTEXT_IO_CORE_STREAM", stream)
    # and the serial context kernels' per-score work fitted (SERIAL_SCORE_FIT, issue-62c)
    monkeypatch.setattr(kf, "SERIAL_SCORE_FIT", score)
    groups = kf.Groups(read_kernels(systems=["h200_sxm", "b200_sxm"], per_group=8))
    ties = kf.family_ties(groups)
    assert ties, "the slice must hold two chip families (tied fixed-time offsets)"
    reach = kf.group_reach(groups, ties)
    assert not reach.all(), "every group reads every parameter: nothing to skip"
    lo, hi = (np.array([p[i] for p in kf.PARAMS]) for i in (2, 3))

    def part(i, x):
        g = groups.items[i]
        return np.log(kf.predict_group(g, kf.tie(x, ties))) - np.log(g["meas"])

    def dense_fun(x):
        return np.concatenate([part(i, x) for i in range(len(groups.items))])

    rng = np.random.default_rng(7)
    # the start, and a point drawn inside the bounds (log-uniform where the range is positive)
    pos = lo > 0
    low = np.where(pos, lo, 1.0)
    u = rng.uniform(size=len(lo))
    inner = np.where(pos, low * np.exp(u * np.log(np.where(pos, hi, 1.0) / low)), lo + u * (hi - lo))
    for x in (np.array([p[1] for p in kf.PARAMS]), inner):
        dense = approx_derivative(dense_fun, x, method="2-point", bounds=(lo, hi))
        pr = PartedResiduals(part, reach)
        fast = approx_derivative(pr, x, method="2-point", f0=pr(x), bounds=(lo, hi), workers=pr.map)
        assert np.array_equal(dense, fast)
        assert pr.part_evals < reach.size  # and it skipped groups


@needs_db
def test_group_reads_names_the_family_offsets_of_its_own_family():
    from tapeout.perf.kernels_db import read_kernels

    groups = kf.Groups(read_kernels(systems=["h200_sxm", "b200_sxm"], per_group=8, ops=("gemm",)))
    for g in groups.items:
        fams = {n for n in kf.NAMES if n.startswith("ovhfam_") and kf.group_reads(g, n)}
        assert fams == ({kf.fixed_time_param(g["family"], g["cls"])} if g["cls"] in kf.GEMM_FMTS else set())
