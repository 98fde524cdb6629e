"""Generation-attention kernels in the kernel-level fit (issue 24, round stop-17): which kernel
TensorRT-LLM dispatches, the masked-MHA kernel's per-query-head work, the Little's-law CTA KV
stream, and the per-format power density of the GEMM efficiency law."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.ops import PEAK_KEYS, Attention, MatMul, OpTable
from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernels_db
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import Kernels, chip_for
from tapeout.perf.opcost import evaluate


def _one(family, kv_fmt, heads, kv_heads, head_dim=128):
    return str(kf.decode_kernel(family, [kv_fmt], [heads], [kv_heads], [head_dim])[0])


@pytest.mark.parametrize("family, kv_fmt, heads, kv_heads, head_dim, kernel", [
    # SM100: trtllm-gen up to a GQA group of 32 (TrtllmGenSupportChecker), masked MHA above
    ("nvidia-blackwell", "bf16", 32, 8, 128, "trtllmgen"),
    ("nvidia-blackwell", "fp8", 64, 64, 128, "trtllmgen"),  # vanilla MHA stays on trtllm-gen
    ("nvidia-blackwell", "fp8", 64, 2, 128, "trtllmgen"),  # group 32
    ("nvidia-blackwell", "bf16", 66, 2, 128, "mmha"),  # group 33
    ("nvidia-blackwell", "fp8", 128, 1, 256, "mmha"),  # group 128
    # SM90: QGMMA only with an E4M3 KV cache and a GQA group of 2..32 (supportConfigQGMMA)
    ("nvidia-hopper", "fp8", 32, 8, 128, "qgmma"),
    ("nvidia-hopper", "fp8", 64, 2, 256, "qgmma"),  # group 32: still XQA
    ("nvidia-hopper", "bf16", 32, 8, 128, "hmma"),  # BF16 KV: the Ampere-style kernel
    ("nvidia-hopper", "fp8", 32, 32, 128, "mmha"),  # vanilla MHA leaves XQA (supportConfigCommon)
    ("nvidia-hopper", "fp8", 66, 2, 128, "mmha"),  # group 33 > 32
    ("nvidia-hopper", "bf16", 32, 8, 512, "mmha"),  # head size > 256
    ("nvidia-hopper", "bf16", 32, 8, 72, "mmha"),  # head size not a multiple of 16
    # SM80 / SM89 / SM120: no QGMMA (SM != 90), HMMA for GQA groups 2..32
    ("nvidia-ampere", "fp8", 32, 8, 128, "hmma"),
    ("nvidia-ada", "bf16", 16, 2, 64, "hmma"),
    ("nvidia-blackwell-rtx", "fp8", 32, 8, 128, "hmma"),
    ("nvidia-ampere", "bf16", 8, 8, 128, "mmha"),
])
def test_decode_kernel_follows_the_tensorrt_llm_dispatch(family, kv_fmt, heads, kv_heads, head_dim, kernel):
    assert _one(family, kv_fmt, heads, kv_heads, head_dim) == kernel


def test_serving_decode_class_is_the_gqa_kernel_of_the_chip():
    assert kf.serving_decode_class(chip_for("h200")) == "decode_hmma"
    assert kf.serving_decode_class(chip_for("b200")) == "decode_trtllmgen"
    assert kf.serving_decode_class(chip_for("l40s")) == "decode_hmma"


def _decode_rows(rows):
    return Kernels({c: np.array([r[i] for r in rows]) for i, c in enumerate(kernels_db.COLUMNS)}, "t", [])


def test_groups_split_a_chips_decode_kernels_by_kernel_and_errors_pool_them():
    rows = [("h200", "s", "attention_decode", "bf16", kv, 0, 0, 0, 8, 1, 4096, h, kvh, 128, 1e-5, "trtllm", "1")
            for kv, h, kvh in (("bf16", 32, 8), ("fp8", 32, 8), ("bf16", 32, 32), ("fp8", 64, 1))]
    g = kf.Groups(_decode_rows(rows))
    # one item per (kernel class, replayed from L2): the group-64 MHA's 8 MB FP8 cache fits H200's 50 MB
    # L2, the 537 MB BF16 cache of 32 KV heads does not (kernel_replay.decode_l2_resident)
    assert sorted((i["cls"], i["l2"]) for i in g.items) == [("decode_hmma", False), ("decode_mmha", False),
                                                            ("decode_mmha", True), ("decode_qgmma", False)]
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    e = kf.errors(g, x)["h200"]
    assert list(e) == ["attention_decode/bf16"] and e["attention_decode/bf16"]["n"] == 4


def test_masked_mha_kernel_is_timed_one_query_head_per_cta():
    # group 64 on Hopper runs the masked-MHA kernel: each query head streams its KV head's cache,
    # i.e. the op is timed as 64 independent heads (64x the KV bytes of the packed GQA read)
    row = ("h200", "s", "attention_decode", "bf16", "bf16", 0, 0, 0, 4, 1, 2048, 64, 1, 128, 1e-5, "trtllm", "1")
    (item,) = kf.Groups(_decode_rows([row])).items
    assert item["cls"] == "decode_mmha"
    att = [o for o in kf.timed_ops(_decode_rows([row]), np.array([0]), per_query_head=True) if isinstance(o, Attention)][0]
    packed = [o for o in kf.timed_ops(_decode_rows([row]), np.array([0])) if isinstance(o, Attention)][0]
    assert att.kv_heads == 64 and packed.kv_heads == 1
    assert OpTable.from_ops([att]).weight_bytes[0] == pytest.approx(64 * OpTable.from_ops([packed]).weight_bytes[0])


P = calibrated_params(chip_for("h200"))


def _decode_time(p, batch=1, kv_len=32768, kv_heads=8):
    op = Attention(name="a", batch=batch, q_len=1, kv_len=kv_len, heads=4 * kv_heads, kv_heads=kv_heads, d_qk=128, d_v=128,
                   causal=True, act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    c = evaluate(OpTable.from_ops([op]), p)
    return float(c.time[0]), float(c.memory_time[0]), float(OpTable.from_ops([op]).weight_bytes[0]), float(c.dram_bytes[0])


def test_cta_stream_is_off_by_default():
    assert P.attn_cta_tokens_per_s == 0.0
    assert _decode_time(P) == _decode_time(P.replace(attn_ctas_per_core=7.0))


def test_cta_stream_memory_time_closed_form():
    # b=1, 8 KV heads: 8 units split over the KV to fill the cores (FlashDecoding); every core holds
    # one CTA (resident = min(units, cores x ctas_per_core)), each streaming tokens/s x K+V bytes per token
    p = P.replace(attn_cta_tokens_per_s=1e6, attn_ctas_per_core=2.0, core_bw_share=1e9)
    _, t_mem, kv_bytes, dram = _decode_time(p)  # dram: the KV cache plus the query read and output write
    per_token = kv_bytes / (8 * 32768)
    units = 8 * np.clip(np.floor(p.num_cores / 8), 1, np.floor(32768 / 256))
    stream = min(units, 2.0 * p.num_cores) * 1e6 * per_token
    assert t_mem == pytest.approx(dram / stream, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(bw=st.floats(1.0, 4.0), batch=st.integers(1, 64), kv=st.integers(256, 65536))
def test_a_binding_cta_stream_does_not_use_more_dram_bandwidth(bw, batch, kv):
    # Little's law: with the CTA stream binding, a faster DRAM behind the same cores and kernel
    # gives the same memory time; without it, time falls with the bandwidth
    p = P.replace(attn_cta_tokens_per_s=1e5, attn_ctas_per_core=1.0)
    assert _decode_time(p.replace(mem_bw=P.mem_bw * bw), batch, kv)[1] == pytest.approx(_decode_time(p, batch, kv)[1], rel=1e-9)
    assert _decode_time(P.replace(mem_bw=P.mem_bw * bw), batch, kv)[1] <= _decode_time(P, batch, kv)[1] * (1 + 1e-12)


@pytest.mark.parametrize("batch, waves", [(1, 1), (16, 1), (17, 2), (40, 3)])
def test_generation_wave_latency_adds_to_the_cta_stream(batch, waves):
    # with the CTA stream modelled, each wave of (sequence, KV head) units x KV splits pays the unit
    # latency on top of the stream: 8 KV heads x batch units, split to fill the 132 cores when fewer
    base = P.replace(attn_cta_tokens_per_s=1e6, attn_ctas_per_core=2.0, core_bw_share=1e9, attn_decode_unit_flops=0.0,
                     attn_decode_unit_time=0.0)
    t0 = _decode_time(base, batch=batch)[0]
    t1 = _decode_time(base.replace(attn_decode_unit_time=3e-6), batch=batch)[0]
    assert t1 - t0 == pytest.approx(waves * 3e-6, rel=1e-9)


def test_generation_wave_latency_overlaps_the_stream_by_default():
    # without the CTA stream (default), the unit latency is compute-side work under the max with
    # the memory time: a long KV stream hides a small one entirely
    base = P.replace(attn_decode_unit_flops=0.0, attn_decode_unit_time=0.0)
    assert _decode_time(base.replace(attn_decode_unit_time=1e-7))[0] == _decode_time(base)[0]


def test_cta_stream_leaves_context_attention_and_gemms_alone():
    p = P.replace(attn_cta_tokens_per_s=1e5)
    ctx = Attention(name="c", batch=2, q_len=512, kv_len=512, heads=32, kv_heads=8, d_qk=128, d_v=128, causal=True,
                    act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    mm = MatMul(name="g", m=16, n=8192, k=8192, a_dtype="bf16", w_dtype="bf16", out_dtype="bf16", math_dtype="bf16")
    t = OpTable.from_ops([ctx, mm])
    assert np.array_equal(evaluate(t, p).time, evaluate(t, P).time)


def test_format_power_density_is_tdp_per_bf16_equivalent_peak():
    # TDP / (format peak / its nominal multiple of BF16): B200 FP4 (9 PFLOP/s = 4 x 2.25) and H100 FP8
    # (2 x BF16) draw the BF16 density; Blackwell Ultra's FP4 peak grew more than its power
    for cid, key in (("b200", "fp4"), ("h100-sxm", "fp8")):
        pd = kf.format_power_density(chip_for(cid))
        assert pd[PEAK_KEYS.index(key)] == pytest.approx(pd[PEAK_KEYS.index("bf16")], rel=0.01)
    gb300 = chip_for("gb300")
    pd = kf.format_power_density(gb300)
    assert pd[PEAK_KEYS.index("fp4")] == pytest.approx(gb300.get("tdp_w") / (gb300.peak_tflops("fp4") / 4.0), rel=1e-12)
    assert pd[PEAK_KEYS.index("fp4")] < pd[PEAK_KEYS.index("bf16")]
    assert pd[PEAK_KEYS.index("bf16")] == pytest.approx(kf.chip_power_density(gb300), rel=1e-12)


# ---- round stop-18: the GQA group inside one CTA (query tile padding, serialised per-row work) ----

@pytest.mark.parametrize("cls, group, rows", [
    # XQA mma.sync: warpTile.y = roundUp(group, 16) (mha.cu)
    ("decode_hmma", 2, 16), ("decode_hmma", 16, 16), ("decode_hmma", 17, 32), ("decode_hmma", 32, 32),
    # XQA Hopper SWAP_AB: ctaNbQHeads = roundUp(group, 8) (mha_sm90.cu)
    ("decode_qgmma", 2, 8), ("decode_qgmma", 8, 8), ("decode_qgmma", 12, 16), ("decode_qgmma", 20, 24),
    # trtllm-gen tileSizeQ 8/16/32/64/128 (fmhaKernels.h selectGqGenerationKernel)
    ("decode_trtllmgen", 1, 8), ("decode_trtllmgen", 5, 8), ("decode_trtllmgen", 20, 32), ("decode_trtllmgen", 40, 64),
    ("decode_trtllmgen", 128, 128), ("decode_trtllmgen", 200, 128),  # the tile rule; dispatch caps the group at 32
    # masked MHA: one query head per CTA
    ("decode_mmha", 1, 1),
])
def test_query_tile_rows_follow_each_kernels_source(cls, group, rows):
    from tapeout.perf.opcost import gen_q_rows

    q = kf.gen_q_tile(cls)
    assert float(gen_q_rows(group, q["attn_gen_q_tile"], q["attn_gen_q_tile_pow2"])) == rows


def test_query_tile_is_off_for_gemms_context_and_by_default():
    assert kf.gen_q_tile("bf16") == kf.gen_q_tile("prefill") == {"attn_gen_q_tile": 0.0, "attn_gen_q_tile_pow2": 0.0}
    assert P.attn_gen_q_tile == 0.0 and P.attn_gen_score_flops == 0.0
    # without the CTA stream the per-row work is not read
    assert _decode_time(P.replace(attn_gen_score_flops=1e6)) == _decode_time(P)


def _gen(p, group, kv_heads=8, batch=1, kv_len=32768):
    op = Attention(name="a", batch=batch, q_len=1, kv_len=kv_len, heads=group * kv_heads, kv_heads=kv_heads, d_qk=128,
                   d_v=128, causal=True, act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    t = OpTable.from_ops([op])
    return evaluate(t, p), t


def test_serialised_row_work_memory_time_closed_form():
    # per CTA, seconds per KV token = 1 / tokens_per_s + padded rows x score FLOPs x cores / vector rate:
    # group 20 on a 16-row tile pads to 32 rows
    tok, score = 2e7, 300.0
    p = P.replace(attn_cta_tokens_per_s=tok, attn_ctas_per_core=2.0, core_bw_share=1e9, attn_gen_q_tile=16.0,
                  attn_gen_score_flops=score)
    c, t = _gen(p, 20)
    rate = float(p.vector_flops) * p.eff_vector
    per_token = 1.0 / tok + 32 * score * p.num_cores / rate
    units = 8 * np.clip(np.floor(p.num_cores / 8), 1, np.floor(32768 / 256))
    stream = min(units, 2.0 * p.num_cores) / per_token * float(t.weight_bytes[0]) / (8 * 32768)
    assert float(c.memory_time[0]) == pytest.approx(float(c.dram_bytes[0]) / stream, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(g1=st.integers(2, 32), g2=st.integers(2, 32), step=st.sampled_from([8.0, 16.0]), pow2=st.sampled_from([0.0, 1.0]))
def test_generation_time_follows_the_padded_group(g1, g2, step, pow2):
    # the same KV cache: groups padded to the same tile rows stream at the same rate (memory time per
    # DRAM byte; the query read and output write grow with the group), and more rows stream slower
    from tapeout.perf.opcost import gen_q_rows

    p = P.replace(attn_cta_tokens_per_s=2e7, attn_ctas_per_core=2.0, attn_gen_q_tile=step, attn_gen_q_tile_pow2=pow2,
                  attn_gen_score_flops=500.0)
    r1, r2 = float(gen_q_rows(g1, step, pow2)), float(gen_q_rows(g2, step, pow2))
    (c1, _), (c2, _) = _gen(p, g1), _gen(p, g2)
    m1, m2 = float(c1.memory_time[0] / c1.dram_bytes[0]), float(c2.memory_time[0] / c2.dram_bytes[0])
    if r1 == r2:
        assert m1 == pytest.approx(m2, rel=1e-12)
    elif r1 < r2:
        assert m1 < m2


# ---- round stop-19: the trtllm-gen group limit, masked MHA's parameters ----

def test_blackwell_masked_mha_fallback_runs_without_the_separate_preparation_kernels():
    # group 64 on B200 falls back to masked MHA, which applies RoPE and appends K/V itself; group 8
    # stays on trtllm-gen behind invokeQKVPreprocessing (generation_preprocess_families)
    rows = [("b200", "s", "attention_decode", "bf16", "bf16", 0, 0, 0, 8, 1, 4096, h, kvh, 128, 1e-5, "trtllm", "1")
            for h, kvh in ((64, 8), (64, 1))]
    items = {i["cls"]: i for i in kf.Groups(_decode_rows(rows)).items}
    assert set(items) == {"decode_trtllmgen", "decode_mmha"}
    assert items["decode_trtllmgen"]["pre"] and not items["decode_mmha"]["pre"]
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    t_mmha = kf.predict_group(items["decode_mmha"], x)
    x_pre = x.copy()
    x_pre[kf.NAMES.index("ovh_gen_pre")] += 7.0  # the preparation launch does not reach masked MHA
    assert kf.predict_group(items["decode_mmha"], x_pre) == pytest.approx(t_mmha, rel=1e-12)
    assert kf.predict_group(items["decode_trtllmgen"], x_pre) == pytest.approx(
        kf.predict_group(items["decode_trtllmgen"], x) + 7e-6, rel=1e-9)


def test_per_row_work_is_fitted_only_for_kernels_with_several_query_rows():
    # masked MHA has one query row per CTA: its per-(row, token) work is its per-token stream
    cfg = kernels_db.db_config()["decode_kernels"]
    fitted = {n.removeprefix("score_decode_") for n in kf.NAMES if n.startswith("score_decode_")}
    assert fitted == {k for k in kf.DECODE_KERNELS if cfg["q_tile"][k] > 1} and "mmha" not in fitted
    assert kf.params_for(P, kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}),
                         "decode_mmha").attn_gen_score_flops == 0.0


@pytest.mark.parametrize("keys, seq_heads, splits", [
    # XQA computeMultiBlockCount on 132 SMs, 128-key sub-sequences, sqrt(8x) cap, 8 waves:
    (32768, 8, 45),  # 256 sub-sequences, capped at round(sqrt(2048)) = 45; 8 x 45 CTAs < 8 waves
    (2048, 1, 11),  # 16, capped at round(sqrt(128)) = 11
    (512, 64, 4),  # 4 <= round(sqrt(32)) = 6
    (100, 1, 1),  # shorter than one sub-sequence: one CTA
    (16384, 512, 2),  # 32 after the cap; 512 x 32 / 132 = 124 waves -> floor(32 / 15.5) = 2
    (4096, 4096, 1),  # far beyond 8 waves: no split
])
def test_xqa_multi_block_count_follows_the_source(keys, seq_heads, splits):
    from tapeout.perf.opcost import gen_kv_splits

    assert float(gen_kv_splits(keys, seq_heads, 132, 128.0, 8.0, 8.0)) == splits


def test_multi_block_rule_sets_the_generation_ctas_only_where_the_kernel_has_one():
    # XQA kernels carry the rule; trtllm-gen, masked MHA, GEMMs and context attention fill the cores
    assert kf.gen_split("decode_hmma") == kf.gen_split("decode_qgmma") == {
        "attn_gen_split_tokens": 128.0, "attn_gen_split_sqrt": 8.0, "attn_gen_split_waves": 8.0}
    for cls in ("decode_trtllmgen", "decode_mmha", "bf16", "prefill"):
        assert kf.gen_split(cls)["attn_gen_split_tokens"] == 0.0
    # 1 (sequence, KV head), 32k keys: fill-the-cores splits 128 ways (>= 256 keys each), XQA 45:
    # the per-wave CTA cost is the same (one wave), the per-CTA stream of 32768 / 45 keys is longer
    base = P.replace(attn_cta_tokens_per_s=2e7, attn_ctas_per_core=2.0, core_bw_share=1e9)
    xqa = base.replace(**kf.gen_split("decode_hmma"))
    (c0, _), (c1, _) = _gen(base, 8, kv_heads=1), _gen(xqa, 8, kv_heads=1)
    assert float(c1.memory_time[0]) == pytest.approx(float(c0.memory_time[0]) * 128 / 45, rel=1e-9)
    assert _decode_time(P.replace(attn_gen_split_tokens=0.0)) == _decode_time(P)  # off by default


def _decode_time_d(p, head_dim, batch=1, kv_len=32768, kv_heads=8):
    op = Attention(name="a", batch=batch, q_len=1, kv_len=kv_len, heads=4 * kv_heads, kv_heads=kv_heads, d_qk=head_dim,
                   d_v=head_dim, causal=True, act_dtype="bf16", kv_dtype="bf16", math_dtype="bf16", kv_cache=True)
    c = evaluate(OpTable.from_ops([op]), p)
    return float(c.memory_time[0]), float(c.dram_bytes[0])


def test_cta_byte_stream_memory_time_closed_form():
    # a CTA whose buffers hold a fixed number of bytes (XQA mha.cu head parts) streams attn_cta_bytes_per_s
    # whatever its token size; with a token rate as well, per token it waits 1 / tokens/s + bytes / bytes/s
    base = P.replace(attn_ctas_per_core=2.0, core_bw_share=1e9)
    units = 8 * np.clip(np.floor(P.num_cores / 8), 1, np.floor(32768 / 256))
    resident = min(units, 2.0 * P.num_cores)
    for d in (64, 128, 256):
        t_mem, dram = _decode_time_d(base.replace(attn_cta_bytes_per_s=5e9), d)
        assert t_mem == pytest.approx(dram / (resident * 5e9), rel=1e-9)
        token = 2 * 2 * d  # K + V, BF16
        t_mem, dram = _decode_time_d(base.replace(attn_cta_bytes_per_s=5e9, attn_cta_tokens_per_s=1e7), d)
        assert t_mem == pytest.approx(dram / (resident * token / (1 / 1e7 + token / 5e9)), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(rate=st.floats(1e8, 1e10), kv=st.integers(1024, 65536))
def test_a_binding_byte_stream_scales_with_the_head_size_a_token_stream_does_not(rate, kv):
    # Little's law over a fixed number of bytes in flight: twice the bytes per token, twice the time;
    # over a fixed number of tokens in flight the time per token does not depend on its bytes
    slow = P.replace(attn_ctas_per_core=1.0, core_bw_share=1e9)
    b128, b256 = (_decode_time_d(slow.replace(attn_cta_bytes_per_s=rate * 1e-3), d, kv_len=kv)[0] for d in (128, 256))
    t128, t256 = (_decode_time_d(slow.replace(attn_cta_tokens_per_s=rate * 1e-6), d, kv_len=kv)[0] for d in (128, 256))
    assert b256 == pytest.approx(2.0 * b128, rel=1e-9)
    assert t256 == pytest.approx(t128, rel=1e-9)


def test_a_byte_stream_alone_puts_the_wave_latency_in_series():
    base = P.replace(attn_cta_bytes_per_s=5e9, attn_ctas_per_core=2.0, core_bw_share=1e9, attn_decode_unit_flops=0.0,
                     attn_decode_unit_time=0.0)
    assert _decode_time(base.replace(attn_decode_unit_time=3e-6))[0] - _decode_time(base)[0] == pytest.approx(3e-6, rel=1e-9)



def test_a_decode_kernel_replayed_from_l2_does_not_see_the_dram():
    # the collector replays one KV cache: one that fits in L2 streams against the L2 (l2_read_bw), so the
    # predicted time is the same whatever the DRAM behind it; one that does not fit slows with a slower DRAM
    rows = [("h200", "s", "attention_decode", "bf16", "bf16", 0, 0, 0, b, 1, 8192, 32, 8, 128, 1e-5, "trtllm", "1")
            for b in (1, 64)]  # 33.6 MB and 2.1 GB of K and V
    items = {i["l2"]: i for i in kf.Groups(_decode_rows(rows)).items}
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    for res, item in items.items():
        slow = dict(item, params=item["params"].replace(mem_bw=item["params"].mem_bw / 4))
        same = kf.predict_group(slow, x)[0] == pytest.approx(kf.predict_group(item, x)[0], rel=1e-12)
        assert bool(same) == res


def _h200_item(batch, kv_len, heads, kv_heads, kv_fmt="bf16", head_dim=128):
    rows = [("h200", "s", "attention_decode", "bf16", kv_fmt, 0, 0, 0, batch, 1, kv_len, heads, kv_heads, head_dim, 1e-5,
             "trtllm", "1")]
    (item,) = kf.Groups(_decode_rows(rows)).items
    return item


def test_masked_mha_gqa_group_is_served_by_the_l2():
    """Masked MHA runs one CTA per query head, the group's CTAs of a KV head side by side (grid query
    head fastest): the DRAM delivers each KV head once, the L2 serves the group's 64 reads of it. The
    537 MB packed cache (batch 64, 8192 keys, 2 KV heads of 128, 128 query heads) is not resident, yet
    its time does not follow the DRAM while 64 x the DRAM outruns the L2; a vanilla-MHA (group 1)
    kernel of the same cache does."""
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    gqa = _h200_item(64, 8192, 128, 2)
    mha = _h200_item(64, 8192, 2, 2)
    assert gqa["cls"] == mha["cls"] == "decode_mmha"
    assert gqa["l2"] and not mha["l2"] and gqa["reread"] == 64.0
    for item, follows in ((gqa, False), (mha, True)):
        slow = dict(item, params=item["params"].replace(mem_bw=item["params"].mem_bw / 4))
        same = kf.predict_group(slow, x)[0] == pytest.approx(kf.predict_group(item, x)[0], rel=1e-12)
        assert bool(same) != follows


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 8), kv_len=st.sampled_from([512, 2048, 8192]), grp=st.sampled_from([2, 4, 8, 64]))
def test_a_kernel_served_by_the_l2_is_never_slower_than_its_dram_stream(batch, kv_len, grp):
    """Every byte a core reads from DRAM passes through the L2, so a generation kernel whose replay the
    L2 serves is timed at most as long as the same kernel streamed from the DRAM (issue-23kb's B200
    p90: cores x a GEMM-fitted per-SM L2 stream was below B200's 8 TB/s DRAM)."""
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    item = _h200_item(batch, kv_len, grp, 1)  # <= 33.6 MB of K and V: resident in H200's 50 MB L2
    assert item["l2"]
    t_l2 = kf.predict_group(item, x)[0]
    t_dram = kf.predict_group(dict(item, l2=False), x)[0]
    assert t_l2 <= t_dram * (1 + 1e-12)


def test_masked_mha_holds_elements_not_bytes_in_flight():
    """The masked-MHA CTA's byte term counts math-width elements: over an FP8 cache its CTA stream of
    the same keys takes as long as over a BF16 one when the byte term binds (a fixed number of
    elements in flight), although the FP8 cache has half the bytes. The XQA HMMA kernel is untouched."""
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    x[kf.NAMES.index("ctabw_decode_mmha")] = 1.0  # 1 GB/s per CTA: the byte term binds
    x[kf.NAMES.index("tokrate_decode_mmha")] = 2000.0
    bf, f8 = (_h200_item(64, 8192, 8, 8, kv_fmt=f) for f in ("bf16", "fp8"))  # group 1: masked MHA, 1 GB / 0.5 GB
    assert bf["cls"] == f8["cls"] == "decode_mmha" and (bf["cta_width"], f8["cta_width"]) == (1.0, 0.5)
    assert kf.predict_group(f8, x)[0] == pytest.approx(kf.predict_group(bf, x)[0], rel=0.02)
    assert _h200_item(64, 8192, 32, 8)["cta_width"] == 1.0  # HMMA (GQA 4, BF16)
