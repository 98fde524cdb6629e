"""The decomposition of a row's 80% interval closes (perf/interval_terms.py), and each board's terms are
the closed forms of the fitted.yaml sections their rule names (docs/notes/issue-24.md, "Round stop-41
(branch issue-60b)": why the A100-SXM-80GB's interval is the narrowest NVIDIA one)."""

import math
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.perf import uncertainty
from tapeout.perf.calibration import load_fitted
from tapeout.perf.interval_terms import HARNESS_DEFAULT, decompose
from tapeout.perf.novelty import Z80, widen
from tapeout.perf.uncertainty import interval_for, term_sigmas
from tapeout.validation.development import apply_chip

BOARDS = {"NVIDIA A100-SXM-80GB": "a100-sxm", "NVIDIA A100-PCIe-80GB": "a100-pcie", "NVIDIA A100-SXM-40GB": "a100-sxm-40gb",
          "NVIDIA A30": "a30", "NVIDIA H100-SXM": "h100-sxm", "NVIDIA H200-SXM": "h200"}


def _u(term: str, level: str) -> float:
    return float(load_fitted()["uncertainty"][term][level]["sigma"])


def _half_width(cid: str) -> float:
    lo, hi = interval_for(1.0, get_chip(cid))
    assert math.isclose(math.log(hi), -math.log(lo), rel_tol=1e-12)
    return math.log(hi)


def test_a100_sxm_80gb_is_bound_by_the_link_term_its_own_sweep_leaves():
    # own 22-row GEMM sweep (compute: its own fit residual), eff_mem fitted there (memory: the pooled sweep
    # residual), no link rows on file (link: generic level held out + fit residual); unknown shares: the largest
    f = load_fitted()
    compute = float(f["chips"]["a100-sxm"]["sigma_log"])
    memory = _u("memory", "own")
    link = math.hypot(_u("link", "generic"), _u("link", "own"))
    got = {t: s for t, (s, _) in term_sigmas(get_chip("a100-sxm")).items()}
    assert got == {"compute": compute, "memory": memory, "link": link}
    assert math.isclose(_half_width("a100-sxm"), Z80 * max(compute, memory, link), rel_tol=1e-12)
    assert max(got, key=got.get) == "link" and compute < memory < link


def test_siblings_are_bound_by_a_gemm_curve_borrowed_from_other_silicon():
    # the A100-PCIe / H100-SXM keep their own best-shape point and borrow the curve (own_peak_only at spread 1);
    # A100-SXM-40GB and A30 take the family mean, held out, on top; A30's power transfer adds its exponent's error
    po = load_fitted()["uncertainty"]["compute"]["own_peak_only"]
    shape = math.hypot(float(po["bias"]), float(po["scatter"]))
    family = math.hypot(_u("compute", "family"), shape)
    assert math.isclose(term_sigmas(get_chip("a100-pcie"))["compute"][0], shape, rel_tol=1e-12)
    assert math.isclose(term_sigmas(get_chip("a100-sxm-40gb"))["compute"][0], family, rel_tol=1e-12)
    a30 = term_sigmas(get_chip("a30"))["compute"]
    assert a30[0] >= family and "power-transfer exponent error" in a30[1]
    if not uncertainty.SIBLING_SWEEP:
        assert math.isclose(term_sigmas(get_chip("h100-sxm"))["compute"][0], shape, rel_tol=1e-12)
    for cid in ("a100-pcie", "a100-sxm-40gb", "a30"):  # the compute term binds: 3-4x the A100-SXM-80GB's width
        assert _half_width(cid) > 3 * _half_width("a100-sxm")


def test_no_distance_term_reaches_any_ampere_board_training_row():
    # the chip-level term (chip_family) is the only one a non-LLM row can get; Ampere has microbenchmarks,
    # so neither the A100-SXM-80GB nor its siblings are widened: their widths differ only by the compute level
    for acc, cid in BOARDS.items():
        lo, hi = interval_for(10.0, get_chip(cid))
        res = SimpleNamespace(predicted=10.0, low=lo, high=hi, detail={})
        apply_chip(res, {"accelerator": acc}, load_fitted())
        assert (res.low, res.high) == (lo, hi) and "distance" not in res.detail


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(BOARDS)), st.floats(0.01, 1e4), st.lists(st.floats(0.0, 0.5), max_size=3))
def test_the_decomposition_closes(acc, value, extra):
    # a harness-default row (unknown shares) widened by any distance terms: the terms combine to the stated width
    cid = BOARDS[acc]
    lo, hi = interval_for(value, get_chip(cid))
    terms = {f"t{i}": (s, "test") for i, s in enumerate(extra)}
    wlo, whi = widen(value, lo, hi, terms)
    row = {"accelerator": acc, "predicted": value, "low": wlo, "high": whi, "skipped": None,
           "detail": {"interval": HARNESS_DEFAULT, "interval_base": [lo, hi], "distance": {k: [s, w] for k, (s, w) in terms.items()}}}
    d = decompose(row)
    want = math.sqrt(max(s for s, _ in term_sigmas(get_chip(cid)).values()) ** 2 + sum(s * s for s in extra))
    assert math.isclose(d["sigma"], want, rel_tol=1e-9)
    assert math.isclose(d["stated_sigma"], d["sigma"], rel_tol=1e-9, abs_tol=1e-12)


def test_a_row_without_an_interval_has_no_decomposition():
    assert decompose({"accelerator": "NVIDIA A100-SXM-80GB", "predicted": 1.0, "low": None, "high": None}) is None
    assert decompose({"accelerator": "no such board", "predicted": 1.0, "low": 0.5, "high": 2.0}) is None
