"""The FP8 userbuffers reduce-scatter (perf/tp_overlap.py `fp8_rs`, TPComm.reduce_scatter_quantized):
Transformer Engine 1.x gives a pipeline reduce-scatter slot with `fp8_buf` an FP8 userbuffer, the FP8
GEMM writes its output there and the reduce-scatter kernel moves 1 B per element (BF16 sum out).
The v4.0 GPT-3 runs set it for proj_fprop only (NVTE_UB_FP8_RS=1; fc2_fprop fp8_buf 0)."""

import pytest

from tapeout.errors import TapeoutError
from tapeout.perf import tp_overlap
from tapeout.perf.sequence_parallel import TPComm, tp_block_comm
from tapeout.perf.stack_features import StackFeatures
from tapeout.perf.tp_overlap import TPOverlap, get_overlap, region_time

from test_tp_gather_dtype import _fwd, _ring, _topo


@pytest.mark.parametrize("g", [2, 4, 8])
def test_fp8_output_reduce_scatter_moves_half_the_bytes(g):
    _, _, topo = _topo()
    S = 100e6
    c = tp_block_comm(S, g, topo, True, output_bytes=0.5)
    assert c.reduce_scatter == pytest.approx(_ring(S, g, topo), rel=1e-9)  # NCCL / BF16 path unchanged
    assert c.reduce_scatter_quantized == pytest.approx(_ring(S / 2, g, topo), rel=1e-9)
    # not given: the quantized part is the BF16 one, so a config without fp8_buf prices what it did
    assert TPComm(3.0, 1.0, 1.0).reduce_scatter_quantized == 3.0
    assert tp_block_comm(S, g, topo, True).reduce_scatter_quantized == tp_block_comm(S, g, topo, True).reduce_scatter


def _ov(fp8_rs):
    return TPOverlap("t", ag=True, rs=True, rs_dgrad=False, qkv=True,
                     slots=(("proj_fprop", "pipeline", 8, 4),), fp8_rs=frozenset(fp8_rs))


def test_only_an_overlapped_fp8_slot_reads_the_quantized_reduce_scatter():
    # one GEMM (o_proj) far longer than its collective: t = g / (1 - f) + c / n, plus the unoverlapped
    # qkv input gather (its GEMM is 0, so it adds c)
    g, cores = 10.0, 132.0
    coll = {"attn_allreduce": TPComm(reduce_scatter=2.0, gather_input=1.0, gather_grad=1.0, reduce_scatter_quantized=1.2)}
    gp = g / (1.0 - 8 / cores)
    fp8 = region_time({"o_proj": g}, coll, _ov({"proj_fprop"}), 4, cores, backward=False)
    bf16 = region_time({"o_proj": g}, coll, _ov(()), 4, cores, backward=False)
    assert fp8 == pytest.approx(1.0 + gp + 1.2 / 4, rel=1e-12)
    assert bf16 == pytest.approx(1.0 + gp + 2.0 / 4, rel=1e-12)
    # rs overlap off: TE takes the NCCL path, the BF16 reduce-scatter, whatever the slot says
    off = TPOverlap("t", True, False, False, True, (("proj_fprop", "pipeline", 8, 4),), fp8_rs=frozenset({"proj_fprop"}))
    assert region_time({"o_proj": g}, coll, off, 4, cores, backward=False) == pytest.approx(1.0 + g + 2.0)


def test_the_v4_gpt3_config_has_the_fp8_proj_buffer_and_no_other_config_does():
    assert get_overlap("nemo-gpt3-fp8-h100-tp4").fp8_rs == {"proj_fprop"}
    for name in tp_overlap.overlap_names():
        if name != "nemo-gpt3-fp8-h100-tp4":
            assert get_overlap(name).fp8_rs == frozenset(), name


def test_fp8_buf_on_a_non_pipeline_slot_is_bad_input(monkeypatch):
    bad = {"x": {"flags": {"ag": True, "rs": True, "rs_dgrad": False, "qkv": True},
                 "slots": {"qkv_fprop": {"method": "ring_exchange", "num_sm": 1, "fp8_buf": True}}}}
    monkeypatch.setattr(tp_overlap, "_table", lambda: bad)
    with pytest.raises(TapeoutError, match="qkv_fprop.*fp8_buf.*pipeline"):
        get_overlap("x")


def test_te_stack_step_costs_carry_the_fp8_attention_output():
    cfg, topo, f = _fwd("gpt3-175b", StackFeatures(quantized_gathers=True))
    L, S = cfg.num_hidden_layers, 2048 * cfg.hidden_size * 2.0
    for k in ("attn_allreduce", "mlp_allreduce"):
        assert f[f"reduce_scatter_quantized:{k}"] / L == pytest.approx(_ring(S / 2, 4, topo), rel=1e-9)
        assert f[f"reduce_scatter:{k}"] / L == pytest.approx(_ring(S, 4, topo), rel=1e-9)
    _, _, b = _fwd("gpt3-175b", StackFeatures())  # a stack not on file: BF16 everywhere
    assert b["reduce_scatter_quantized:attn_allreduce"] == pytest.approx(b["reduce_scatter:attn_allreduce"])
