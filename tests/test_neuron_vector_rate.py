"""A chip's own non-matrix rate (hardware/params.vector_tflops, switch CHIP_VECTOR_RATE): AWS NeuronCore-v2 runs norms,
activations and softmax on its Scalar (2.9 FP32 TFLOPS) and Vector (2.3) engines, not at the TensorEngine's FP32 matrix
rate that fp32_tflops states (AWS Neuron docs, NeuronCore-v2 Architecture). docs/notes/issue-24.md, round stop-41,
branch issue-56b."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.errors import TapeoutError
from tapeout.hardware import params as hp
from tapeout.hardware.catalog import get_chip
from tapeout.ops import Elementwise, OpTable
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate

NC_V2_SCALAR, NC_V2_VECTOR = 2.9, 2.3  # FP32 TFLOPS per NeuronCore-v2 (AWS NeuronCore-v2 Architecture page)


@pytest.mark.parametrize("cid", ["inferentia2", "trainium"])
def test_neuroncore_v2_chips_take_their_scalar_and_vector_engines(cid):
    chip = get_chip(cid)
    assert chip.get("num_cores") == 2
    assert hp.vector_tflops(chip) == pytest.approx(2 * (NC_V2_SCALAR + NC_V2_VECTOR))
    assert calibrated_params(chip).vector_flops == pytest.approx(10.4e12)
    # the matrix FP32 peak is untouched: TensorE FP32 matmuls still price at fp32_tflops
    assert chip.peak_tflops("fp32") == pytest.approx(47.5)


def test_chips_without_the_field_keep_fp32_or_the_matrix_fraction(monkeypatch):
    for cid in ("h100-sxm", "trainium2"):
        chip = get_chip(cid)
        assert chip.get("vector_tflops", None) is None
        assert hp.vector_tflops(chip) == pytest.approx(float(chip.get("fp32_tflops")))
    monkeypatch.setattr(hp, "CHIP_VECTOR_RATE", False)
    assert hp.vector_tflops(get_chip("trainium")) == pytest.approx(47.5)  # off: the old rate


@settings(max_examples=30, deadline=None)
@given(elems=st.floats(1e6, 1e9), fpe=st.floats(200.0, 2000.0))
def test_vector_bound_op_slows_by_the_rate_ratio(elems, fpe):
    """An elementwise op with many FLOPs per element is vector-bound: its time scales with 1 / vector rate."""
    op = OpTable.from_ops([Elementwise(name="e", elems=elems, flops_per_elem=fpe)])
    p = calibrated_params(get_chip("trainium"))
    t_on = float(evaluate(op, p.replace(kernel_overhead=0.0), check_support=False).time[0])
    t_off = float(evaluate(op, p.replace(kernel_overhead=0.0, vector_flops=47.5e12), check_support=False).time[0])
    assert t_on / t_off == pytest.approx(47.5 / 10.4, rel=1e-6)


class _Stub:
    id = "stub"

    def __init__(self, **f):
        self.f = f

    def get(self, k, default=None):
        return self.f.get(k, default)

    def peak_tflops(self, k):
        return 100.0


@pytest.mark.parametrize("bad", [0.0, -3.0, "fast"])
def test_bad_vector_rate_names_the_field_and_the_fix(bad):
    with pytest.raises(TapeoutError, match=r"vector_tflops.*TFLOP/s \(> 0\).*extra_specs.csv"):
        hp.vector_tflops(_Stub(vector_tflops=bad, fp32_tflops=10.0))
