"""The training stack's attention library (perf/train_attention.py): flash-attn 2 at its rate
relative to the calibrated cuDNN kernels, measured on the same chip (FlashAttention-3 paper,
Shah et al. 2024, Fig. 5/6, H100 SXM5, head dim 128, 16k tokens per batch)."""

import numpy as np
import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.opcost import evaluate
from tapeout.perf.train_attention import library_ratio
from tapeout.perf.train_backward import attention_backward_time
from tapeout.perf.train_stack import find_stack, stack_settings
from tapeout.perf.training import train
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm

# the paper's bars (TFLOPS/s) at seq 512..16k: causal forward and backward, FA2 and cuDNN
FA2_FWD_CAUSAL, CUDNN_FWD_CAUSAL = [191, 260, 298, 319, 333, 335], [315, 410, 484, 518, 529, 539]
FA2_BWD, CUDNN_BWD = [214, 260, 291, 310, 318, 322], [305, 408, 465, 499, 518, 516]


def test_fa2_ratio_is_the_median_of_the_papers_bars():
    fwd, bwd = library_ratio("h100-sxm", "fa2")
    assert fwd == pytest.approx(np.median(np.divide(FA2_FWD_CAUSAL, CUDNN_FWD_CAUSAL)))
    assert bwd == pytest.approx(np.median(np.divide(FA2_BWD, CUDNN_BWD)))
    assert 0.55 < fwd < 0.7 and 0.55 < bwd < 0.7  # "only 35% utilization" vs cuDNN's ~55-60%


def test_calibrated_library_is_unity_and_unmeasured_chip_is_none():
    assert library_ratio("h100-sxm", "cudnn") == (1.0, 1.0)
    assert library_ratio("mi300x", "fa2") is None  # no FA2 kernel measured there


def test_unknown_library_is_a_named_error():
    with pytest.raises(TapeoutError, match="attention_kernel 'flash-attn-9'.*cudnn"):
        library_ratio("h100-sxm", "flash-attn-9")


def _attention_time(tp: int, seq: int) -> float:
    """One layer's attention core at BF16, costed on its own (independent of perf/training.py); a
    training step's graph (lm_head_all_tokens) has no paged KV cache, so no serving prefill fixed time."""
    p = calibrated_params(get_chip("h100-sxm"))
    g = build_llm_graph(load_llm("gpt3-175b"), LLMStep("prefill", 1, seq, 0, get_precision("bf16"), tp, 1,
                                                       lm_head_all_tokens=True))
    ct = evaluate(g, p)
    i = [k for k, op in enumerate(ct.table.ops) if op.name == "attention"][0]
    return float(np.max(np.asarray(ct.time, dtype=float).reshape(len(ct.table), -1)[i])), p


def test_fa2_adds_exactly_the_slower_attention_to_each_pass():
    kw = dict(tp=4, pp=8, vp=1, mbs=1, cp=1, zero=1, recompute="none")
    a = train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "bf16", **kw)
    b = train("gpt3-175b", "h100-sxm", 512, 1536 * 2048, 2048, "bf16", attention_kernel="fa2", **kw)
    rf, rb = library_ratio("h100-sxm", "fa2")
    t, p = _attention_time(4, 2048)
    n = 96 // 8  # layers on the slowest (last) stage
    assert b.breakdown["F"] - a.breakdown["F"] == pytest.approx(n * t * (1 / rf - 1), rel=1e-6)
    t_b = float(np.max(attention_backward_time(t, p)))
    assert b.breakdown["B"] - a.breakdown["B"] == pytest.approx(n * t_b * (1 / rb - 1), rel=1e-6)
    assert b.step_time_s > a.step_time_s and b.mfu < a.mfu


def test_unmeasured_chip_keeps_the_calibrated_rate_and_says_so():
    kw = dict(tp=8, pp=4, mbs=1, cp=1, zero=1, recompute="none")
    a = train("gpt3-175b", "mi300x", 512, 512 * 2048, 2048, "bf16", **kw)
    b = train("gpt3-175b", "mi300x", 512, 512 * 2048, 2048, "bf16", attention_kernel="fa2", **kw)
    assert b.step_time_s == a.step_time_s
    assert any("fa2 is not measured on mi300x" in n for n in b.notes)


def test_fp8_attention_needs_cudnn():
    with pytest.raises(TapeoutError, match="no FP8 attention"):
        train("llama-2-70b", "h100-sxm", 8, 8 * 8192, 8192, "fp8", fp8_attention=True, attention_kernel="fa2")


@pytest.mark.parametrize("software, rnd, expect", [
    ("NVIDIA NeMo Framework Release 23.09", "v3.1", "fa2"),  # flash-attn 2.0.8 in the Dockerfile
    ("NVIDIA NeMo Framework Release 24.04", "v4.0", "cudnn"),
    ("NVIDIA NeMo Framework", "v3.0", "fa1"),  # flash-attn 1.0.x through TE 0.x (FA2 paper Fig. 7 on H100)
])
def test_stack_sets_its_attention_library(software, rnd, expect):
    _, settings, _ = stack_settings(find_stack(software, rnd), {}, {}, False)
    assert settings.get("attention_kernel") == expect


def test_power_capped_variant_keeps_the_silicons_library_ratio():
    # the FA2 / cuDNN ratio is a property of the silicon's kernels: a power-capped variant
    # ('h100-sxm@500w', calibration_id 'h100-sxm') runs the same libraries, so it gets no
    # "not measured" note and its attention slows by the same ratio as the base chip's would
    c = get_chip("h100-sxm").power_capped(500.0)
    assert c.id != c.calibration_id == "h100-sxm"
    kw = dict(model="llama3.1-8b", chip=c, num_chips=8, global_batch_tokens=8 * 8192, seq_len=8192,
              tp=2, pp=1, cp=1, mbs=1, zero=1, recompute="selective")
    fa2, cudnn = train(**kw, attention_kernel="fa2"), train(**kw, attention_kernel="cudnn")
    assert not any("not measured" in n for n in fa2.notes)
    assert fa2.step_time_s > cudnn.step_time_s


def test_mlperf_row_on_a_chip_without_the_librarys_measurement_says_so():
    # a v3.1 GPT-3 row (stack nemo-23.09: flash-attn 2) on a chip with no FA2 / cuDNN kernel pair
    # on file keeps the calibrated rate; the row's detail carries the engine's note saying so
    from tapeout.formats import data_file
    from tapeout.validation import harness, registry

    registry.load_mappers()
    row = next(r for r in harness.read_rows(data_file("measured", "end_to_end.csv")) if r["id"] == "TRN-v3.1-0019")
    assert library_ratio("b200", "fa2") is None
    res = harness.predict_row({**row, "accelerator": "NVIDIA B200", "n_accelerators": "512",
                               "notes": row["notes"].replace("nodes=1344", "nodes=64")})
    assert res.skipped is None and res.detail["stack"] == "nemo-23.09"
    assert any("fa2 is not measured on b200" in n for n in res.detail["model_notes"])


def test_flashattention2_has_one_name_on_every_chip():
    """FlashAttention-2 rows carry one impl name whichever benchmark measured them (the FA3 paper's bars on H100,
    PyTorch SDPA's FLASH_ATTENTION backend, FlashAttention-2 from PyTorch 2.2, on H200): a stack asking for fa2
    finds every chip where it was measured. On Hopper FA2 (mma.sync, no wgmma/TMA) runs below cuDNN."""
    from tapeout.perf.fit.rows import read_attention_kernels

    rows = read_attention_kernels()
    assert {r["impl"] for r in rows} <= {"cudnn", "fa1", "fa2", "fa3"}
    for chip in sorted({r["chip"] for r in rows if r["impl"] == "fa2"}):
        fwd, bwd = library_ratio(chip, "fa2")
        assert 0.3 < fwd < 1.0 and 0.3 < bwd < 1.0, chip
    assert library_ratio("h200", "fa2") is not None
