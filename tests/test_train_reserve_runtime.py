"""The training memory reserve from the chip's software runtime (perf/train_reserve.py,
data/software/training_reserve.yaml): each runtime's sourced terms against their closed forms, the
assumed (CUDA) terms where a runtime sizes none, a chip on no runtime, and the data file's sources."""

import pytest
from hypothesis import given, settings, strategies as st

from tapeout.api.catalog import register_chip
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import all_chips, get_chip
from tapeout.hardware.memory_capacity import GIB, capacity_bytes
from tapeout.perf.train_layout import TrainLayout
from tapeout.perf.train_reserve import (TERMS, communicators, nccl_communicator_bytes, reserve_data, runtime_of,
                                        training_reserve)

MIB = 1 << 20
LAY = TrainLayout(tp=8, pp=16, dp=128)  # three communicators: TP, PP, DP


def test_each_family_gets_its_stack():
    want = {"h100-sxm": "cuda", "b200": "cuda", "a100-sxm": "cuda", "l40s": "cuda", "mi300x": "rocm",
            "tpu-v5p": "xla-tpu", "trainium2": "neuron", "ascend-910b": "ascend", "gaudi2": "synapse"}
    assert {c: runtime_of(get_chip(c))[0] for c in want} == want
    assert not any(runtime_of(get_chip(c))[1] for c in want)


def test_gemm_workspace_by_library():
    # TE: 32 MiB at compute capability >= 9, 4 MiB before; PyTorch's hipBLASLt default 76 MiB; XLA none
    ws = {c: training_reserve(LAY, get_chip(c)).workspace for c in ("h100-sxm", "b200", "a100-sxm", "l40s", "mi300x", "tpu-v5p")}
    assert ws == {"h100-sxm": 32 * MIB, "b200": 32 * MIB, "a100-sxm": 4 * MIB, "l40s": 4 * MIB, "mi300x": 76 * MIB,
                  "tpu-v5p": 0.0}


def test_collective_buffers_by_library():
    per_nccl = 32 * 2 * (4 * MIB + 120 * 640 * 8 * 8 + 8 * 512 * 8 * 16)
    assert training_reserve(LAY, get_chip("h100-sxm")).collective == 3 * per_nccl
    assert training_reserve(LAY, get_chip("ascend-910b")).collective == 3 * 2 * 200 * MIB  # 2 x HCCL_BUFFSIZE
    assert training_reserve(LAY, get_chip("tpu-v5p")).collective == 0.0  # collectives compiled into the program
    assert training_reserve(TrainLayout(), get_chip("ascend-910b")).collective == 0.0  # one chip: no communicator


def test_neuron_microcode_per_core():
    # 96 MB per physical NeuronCore (Neuron device-memory docs): Trainium 2 cores, Trainium2 8
    assert training_reserve(LAY, get_chip("trainium")).context == 2 * 96e6
    assert training_reserve(LAY, get_chip("trainium2")).context == 8 * 96e6


def test_xla_has_no_caching_allocator_share_but_says_it_is_assumed():
    r = training_reserve(LAY, get_chip("tpu-v5p"))
    assert r.fragmentation == 0.0 and r.status["fragmentation"] == "assumption"
    assert r.status["context"].startswith("assumed: cuda's") and r.context == training_reserve(LAY, get_chip("h100-sxm")).context
    assert r.assumptions() == ["context", "fragmentation"]


def test_unsized_terms_are_the_cuda_terms_and_named():
    cuda = training_reserve(LAY, get_chip("h100-sxm"))
    g = training_reserve(LAY, get_chip("gaudi2"))
    assert (g.context, g.workspace, g.collective, g.fragmentation) == (cuda.context, cuda.workspace, cuda.collective,
                                                                      cuda.fragmentation)
    assert g.assumptions() == list(TERMS)
    assert "synapse does not size it" in g.note(capacity_bytes(get_chip("gaudi2")))


def test_a_chip_on_no_runtime_takes_the_assumed_one_and_says_so(session_chips):
    specs = {"bf16_tflops_dense": 500, "memory_bandwidth_tbps": 3, "memory_capacity_gb": 64, "tdp_w": 500}
    register_chip({"id": "reserve-test-npu", "family": "generic", "specs": specs})
    c = get_chip("reserve-test-npu")
    assert runtime_of(c) == ("cuda", True)
    r = training_reserve(LAY, c)
    assert r.assumptions() == list(TERMS)
    assert "family 'generic' has no runtime on file" in r.note(capacity_bytes(c))
    # a design that names its runtime gets it
    register_chip({"id": "reserve-test-npu-xla", "family": "generic", "specs": {**specs, "training_runtime": "xla-tpu"}})
    assert training_reserve(LAY, get_chip("reserve-test-npu-xla")).collective == 0.0
    # an unknown runtime is refused when the chip is registered (round stop-25: was accepted, then refused
    # by the first `train`, never by `serve`), naming the field and the runtimes on file
    with pytest.raises(TapeoutError, match=r"specs\.training_runtime = 'cudda'.*use one of cuda"):
        register_chip({"id": "reserve-test-npu-bad", "family": "generic", "specs": {**specs, "training_runtime": "cudda"}})
    with pytest.raises(TapeoutError, match="unknown chip 'reserve-test-npu-bad'"):  # not added
        get_chip("reserve-test-npu-bad")


def test_a_per_core_term_without_the_chips_core_count_says_why(session_chips):
    # Neuron sizes its context per NeuronCore: a Neuron design without num_cores takes the CUDA term, and
    # the note says it is the missing core count (was "neuron does not size it", which the data file does)
    specs = {"bf16_tflops_dense": 600, "memory_bandwidth_tbps": 3, "memory_capacity_gb": 96, "tdp_w": 500}
    register_chip({"id": "reserve-test-neuron", "family": "aws-neuron", "specs": specs})
    c = get_chip("reserve-test-neuron")
    r = training_reserve(LAY, c)
    assert r.context == training_reserve(LAY, get_chip("h100-sxm")).context
    assert "neuron sizes it per core and chip 'reserve-test-neuron' gives no num_cores" in r.note(capacity_bytes(c))
    register_chip({"id": "reserve-test-neuron4", "family": "aws-neuron", "specs": {**specs, "num_cores": 4}})
    r4 = training_reserve(LAY, get_chip("reserve-test-neuron4"))
    assert r4.context == 4 * 96e6 and "context" not in r4.assumptions()


def test_training_result_shows_the_runtime():
    from tapeout.perf.training import train

    r = train("llama-3.1-8b", "tpu-v5p", 8, 8 * 8192, 8192, "bf16")
    res = r.breakdown["memory_reserve"]
    assert res["runtime"] == "xla-tpu" and res["collective_buffers_gib"] == 0.0
    assert res["usable_gib"] == pytest.approx(r.capacity_gib_per_chip - 0.5)  # only the assumed context
    assert any("memory reserve for runtime xla-tpu" in n for n in r.notes)


def test_data_file_terms_are_sourced_and_families_exist():
    data = reserve_data()
    families = {c.family for c in all_chips()}
    seen = set()
    assert data["assumed_runtime"] in data["runtimes"]
    for name, rt in data["runtimes"].items():
        assert rt["label"] and set(rt["families"]) <= families, name
        assert not seen & set(rt["families"]), name  # a family has one runtime
        seen |= set(rt["families"])
        for key, term in rt.items():
            if isinstance(term, dict):
                assert term["status"] in {"source", "published", "assumption"} and len(term["source"]) > 40, (name, key)
    for key in ("context_bytes", "gemm_workspace_bytes", "nccl_ring", "fragmentation"):  # the assumed runtime sizes all
        assert key in data["runtimes"][data["assumed_runtime"]]


@settings(max_examples=60, deadline=None)
@given(tp=st.sampled_from([1, 2, 8]), pp=st.sampled_from([1, 4]), dp=st.sampled_from([1, 16]), cp=st.sampled_from([1, 2]),
       cap=st.floats(16.0, 200.0))
def test_a_runtime_never_reserves_more_than_the_cuda_terms_it_drops(tp, pp, dp, cp, cap):
    lay = TrainLayout(tp=tp, pp=pp, dp=dp, cp=cp)
    cuda = training_reserve(lay, get_chip("h100-sxm"))
    xla = training_reserve(lay, get_chip("tpu-v5p"))
    assert xla.usable(cap * GIB) >= cuda.usable(cap * GIB)  # same assumed context, no workspace, buffers, cache
    assert cuda.collective == communicators(lay) * nccl_communicator_bytes()
    assert cuda.usable(cap * GIB) <= cap * GIB
