"""Same-silicon rule: chips with the same die, dense peaks and TDP share GEMM evidence."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapeout.hardware import get_chip
from tapeout.perf import fit
from tapeout.perf.calibration import calibration_for
from tapeout.perf.fit.same_silicon import pool_gemm_efficiency, same_silicon, silicon_key


def _key(c):
    return silicon_key(get_chip(c))


def test_gh100_at_700w_is_one_silicon():
    # NVIDIA datasheets: H100-SXM, H200 and H800-SXM are GH100 (814 mm2) with 989/1979 TFLOPS at 700 W
    assert same_silicon(_key("h100-sxm"), _key("h200"))
    assert same_silicon(_key("h800-sxm"), _key("h200"))
    # GH200 module (higher power), H100-PCIe (114 SMs, 350 W), H20 (cut-down tensor peaks) are not
    for other in ("gh200", "h100-pcie", "h20", "b200", "mi300x"):
        assert not same_silicon(_key(other), _key("h200")), other


@given(st.floats(0.3, 1.0), st.floats(0.3, 1.0), st.integers(1, 300), st.integers(1, 300), st.floats(0.3, 1.0))
def test_pool_is_the_point_weighted_mean(a, b, na, nb, c):
    entries = {"x": {"eff_compute": {"fp8": a}}, "y": {"eff_compute": {"fp8": b, "bf16": c}},
               "z": {"eff_compute": {"fp8": c}}}
    keys = {"x": ("v", 1.0, 2.0), "y": ("v", 1.0, 2.0), "z": ("v", 1.0, 3.0)}
    pooled = pool_gemm_efficiency(entries, {"x": {"fp8": na}, "y": {"fp8": nb}}, keys.get)
    assert set(pooled) == {"x", "y"}
    want = (na * a + nb * b) / (na + nb)
    assert entries["x"]["eff_compute"]["fp8"] == pytest.approx(want, abs=1e-4)
    assert entries["y"]["eff_compute"]["fp8"] == pytest.approx(want, abs=1e-4)
    assert entries["x"]["eff_compute"]["bf16"] == pytest.approx(c, abs=1e-4)  # a dtype only the sibling measured
    assert entries["z"]["eff_compute"] == {"fp8": c}  # other silicon untouched


def test_never_measured_chip_takes_its_same_silicon_fit():
    held = fit.fit_all(exclude="h100-sxm", uncertainty=False)
    cal = calibration_for(get_chip("h100-sxm"), held)
    assert cal.origin["eff_compute"] == "same silicon as h200"
    assert cal.eff_compute["fp8"] == held["chips"]["h200"]["eff_compute"]["fp8"]
    assert calibration_for(get_chip("h800-sxm")).origin["eff_compute"].startswith("same silicon as")
    assert calibration_for(get_chip("h20")).origin["eff_compute"].startswith("family nvidia-hopper")
