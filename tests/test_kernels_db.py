"""Importer of AIConfigurator's measured kernel database and the structural kernel fit (issue 24).

The parsing tests run on a tiny synthetic database written by the test with DuckDB; the tests
marked `needs_db` read a small slice of the installed aiconfigurator-core (kernels extra) and
skip cleanly without it."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapeout.cli import main
from tapeout.errors import TapeoutError
from tapeout.perf import kernel_fit as kf
from tapeout.perf import kernels_db
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.kernels_db import Kernels, chip_for, pick_version, read_kernels

from _db import needs_db


def _write(con, path, sql):
    path.parent.mkdir(parents=True, exist_ok=True)
    con.sql(f"COPY ({sql}) TO '{path}' (FORMAT parquet)")


@pytest.fixture
def fake_db(tmp_path):
    """h200_sxm with GEMMs in two trtllm versions, context and generation attention."""
    import duckdb

    con = duckdb.connect()
    root = tmp_path / "data"
    g = root / "h200_sxm" / "gemm" / "trtllm"
    gemm = ("SELECT 'TRTLLM' AS framework, '{v}' AS version, 'NVIDIA H200' AS device, 'gemm' AS op_name, "
            "'torch_flow' AS kernel_source, * FROM (VALUES ('bfloat16', 8192, 8192, 8192, 1.5), ('fp8', 16, 4096, 4096, 0.02), "
            "('int8_wo', 16, 4096, 4096, 0.03), ('bfloat16', 1, 1024, 1024, 0.004)) t(gemm_dtype, m, n, k, latency)")
    _write(con, g / "1.0.0" / "gemm_perf.parquet", gemm.format(v="1.0.0"))
    _write(con, g / "1.3.0rc20" / "gemm_perf.parquet", gemm.format(v="1.3.0rc20"))
    a = root / "h200_sxm" / "attention" / "trtllm" / "1.3.0rc20"
    attn = ("SELECT 'TRTLLM' AS framework, '1.3.0rc20' AS version, 'NVIDIA H200' AS device, '{op}' AS op_name, "
            "'torch_flow' AS kernel_source, * FROM (VALUES (4, {isl}, 32, 8, 128, 0, 1, 'bfloat16', 'fp8', {step}, 0.5), "
            "(4, {isl}, 32, 8, 128, 128, 1, 'bfloat16', 'bfloat16', {step}, 0.3)) t(batch_size, isl, num_heads, "
            "num_key_value_heads, head_dim, window_size, beam_width, attn_dtype, kv_cache_dtype, step, latency)")
    _write(con, a / "context_attention_perf.parquet", attn.format(op="context_attention", isl=2048, step=0))
    _write(con, a / "generation_attention_perf.parquet", attn.format(op="generation_attention", isl=1, step=511))
    return root


def test_fixture_parsed_into_tidy_records(fake_db):
    k = read_kernels(root=fake_db, package_version="test", systems=["h200_sxm"], per_group=None)
    recs = k.records()
    gemm = [r for r in recs if r["op"] == "gemm"]
    # newest version read; weight-only int8 (not a matrix format of the fit) dropped
    assert {r["stack_version"] for r in gemm} == {"1.3.0rc20"}
    assert sorted(r["fmt"] for r in gemm) == ["bf16", "bf16", "fp8"]
    big = next(r for r in gemm if r["m"] == 8192)
    assert big["latency_s"] == pytest.approx(1.5e-3)  # stored in milliseconds
    assert big["chip"] == "h200" and big["package_version"] == "test" and big["stack"] == "trtllm"
    pre = [r for r in recs if r["op"] == "attention_prefill"]
    dec = [r for r in recs if r["op"] == "attention_decode"]
    assert len(pre) == 1 and len(dec) == 1  # sliding-window rows dropped
    assert (pre[0]["q_len"], pre[0]["kv_len"], pre[0]["kv_fmt"]) == (2048, 2048, "fp8")
    assert (dec[0]["q_len"], dec[0]["kv_len"]) == (1, 512)  # one new token over isl + step cached
    assert (dec[0]["heads"], dec[0]["kv_heads"], dec[0]["head_dim"], dec[0]["batch"]) == (32, 8, 128, 4)


def test_asked_stack_version_missing_is_said(fake_db):
    # a version one table lacks: that table reads its newest and says so (the GEMMs have 1.0.0, attention not)
    k = read_kernels(root=fake_db, package_version="test", systems=["h200_sxm"], stack_version="1.0.0")
    src = {s["op"]: s for s in k.sources}
    assert src["gemm"]["stack_version"] == "1.0.0" and src["gemm"]["note"] == ""
    assert src["attention_prefill"]["stack_version"] == "1.3.0rc20" and "asked for 1.0.0" in src["attention_prefill"]["note"]
    k = read_kernels(root=fake_db, package_version="test", systems=["h200_sxm"], stack_version="1.0.0", ops=("gemm",))
    assert set(k.cols["stack_version"]) == {"1.0.0"}


def test_stack_version_no_table_has_is_one_line(fake_db):
    # round stop-25: was read as the newest everywhere, the whole fit run on a version never asked for
    with pytest.raises(TapeoutError, match=r"--stack-version 1\.2\.0: .*use one of 1\.0\.0, 1\.3\.0rc20, or drop --stack-version"):
        read_kernels(root=fake_db, package_version="test", systems=["h200_sxm"], stack_version="1.2.0", ops=("gemm",))


def test_per_group_cap(fake_db):
    k = read_kernels(root=fake_db, package_version="test", systems=["h200_sxm"], per_group=1, ops=("gemm",))
    assert sorted(k.cols["fmt"]) == ["bf16", "fp8"]  # one per format


@pytest.mark.parametrize("versions,newest", [(["1.0.0", "1.3.0rc20"], "1.3.0rc20"), (["0.5.6.post2", "0.5.14"], "0.5.14"),
                                             (["0.14.0", "0.24.0", "0.5.0"], "0.24.0")])
def test_pick_version_natural_order(versions, newest):
    assert pick_version(versions, None) == (newest, "")


def test_unknown_system_and_stack_are_one_line_errors(fake_db):
    with pytest.raises(TapeoutError, match="kernels_db.yaml"):
        read_kernels(root=fake_db, package_version="t", systems=["b60"])
    with pytest.raises(TapeoutError, match="--stack"):
        read_kernels(root=fake_db, package_version="t", systems=["h200_sxm"], stack="tensorrt")


def test_missing_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(kernels_db, "db_config", lambda: {"package": "no-such-package-xyz", "db_path": "x"})
    with pytest.raises(TapeoutError, match=r"tapeout\[kernels\]"):
        kernels_db.installed_root()


def test_off_catalog_chip_from_sourced_overrides():
    c = chip_for("gb300")
    p = calibrated_params(c)
    assert p.num_cores == 152 and c.peak_tflops("fp4") == 15000 and c.family == "nvidia-blackwell"
    assert "aiconfigurator-core" in c.source_of("fp4_tflops_dense")
    assert "gb300.txtpb" in c.source_of("num_cores")  # the device's own count (OpenXLA device spec), not the die's 160
    with pytest.raises(TapeoutError, match="--holdout"):
        chip_for("no-such-gpu")


def _synthetic(chips, x_true):
    """Kernels whose latency is the model's own prediction at known shared parameters."""
    rng = np.random.default_rng(0)
    cols = {c: [] for c in kernels_db.COLUMNS}
    for chip in chips:
        for fmt in ("bf16", "fp8"):
            for _ in range(40):
                m, n, k = (int(2 ** rng.integers(0, 14)), int(2 ** rng.integers(8, 15)), int(2 ** rng.integers(8, 15)))
                for name, v in zip(kernels_db.COLUMNS, (chip, "s", "gemm", fmt, "", m, n, k, 0, 0, 0, 0, 0, 0, 1.0, "trtllm", "1")):
                    cols[name].append(v)
    arr = {k: np.array(v, dtype=object if isinstance(v[0], str) else float) for k, v in cols.items()}
    ker = Kernels(arr, "synthetic", [])
    g = kf.Groups(ker)
    for gi, t in zip(g.items, g.predict(x_true)):
        gi["meas"] = t
    return g


def test_fit_recovers_shared_parameters_of_synthetic_kernels():
    x_true = kf.x_of({**{n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}, "eff_bf16": 0.8, "eff_fp8": 0.55, "mem_bf16": 0.9,
                      "mem_fp8": 0.6, "ovh_bf16": 3.0, "ovh_fp8": 9.0, "pj_flop_n7": 1.5})
    g = _synthetic(["h100-sxm", "b200", "l40s"], x_true)
    f = kf.fit(g)
    for name in ("eff_bf16", "eff_fp8", "mem_bf16", "mem_fp8", "ovh_bf16", "ovh_fp8"):
        assert f["params"][name] == pytest.approx(x_true[kf.NAMES.index(name)], rel=0.05), name
    assert "eff_nvfp4" not in f["fitted"]  # no nvfp4 kernel: that parameter stays at its start
    e = kf.errors(g, kf.x_of(f["params"]))
    assert all(v["median_abs_err_pct"] < 1.0 for d in e.values() for v in d.values())


def test_holdout_must_not_be_in_training():
    k = Kernels({c: np.array(["h200"], dtype=object) if c == "chip" else np.zeros(1) for c in kernels_db.COLUMNS}, "t", [])
    with pytest.raises(ValueError):
        kf.holdout_report(k, k, "h200")


def test_holdout_leaves_its_twin_out_too():
    """GB200 carries B200's die and memory (kernels_db.yaml same_silicon): a B200 hold-out with GB200's kernels in the
    training set would be fitted on the held-out GPU's own numbers. H200 is no twin of H100 (another memory stack)."""
    assert kernels_db.held_out_chips("b200") == kernels_db.held_out_chips("gb200") == {"b200", "gb200"}
    assert kernels_db.held_out_chips("gb300") == {"b300", "gb300"} and kernels_db.held_out_chips("h200") == {"h200"}
    twin = Kernels({c: np.array(["gb200"], dtype=object) if c == "chip" else np.zeros(1) for c in kernels_db.COLUMNS}, "t", [])
    with pytest.raises(ValueError, match="twin"):
        kf.holdout_report(twin, twin, "b200")
    both = Kernels({c: np.array(["gb200", "h100-sxm", "b200"], dtype=object) if c == "chip" else np.zeros(3)
                    for c in kernels_db.COLUMNS}, "t", [{"chip": "gb200"}, {"chip": "h100-sxm"}, {"chip": "b200"}])
    left = kernels_db.without_chips(both, kernels_db.held_out_chips("b200"))
    assert list(left.cols["chip"]) == ["h100-sxm"] and left.sources == [{"chip": "h100-sxm"}]


@needs_db
def test_installed_slice_obeys_peaks_and_bandwidth():
    """No measured GEMM beats the H200's dense peak for its format, and no decode-attention
    kernel streams its KV cache faster than the HBM bandwidth (4.8 TB/s, H200 datasheet): a
    units or shape mix-up in the importer would break one of the two."""
    k = read_kernels(systems=["h200_sxm"], per_group=200, ops=("gemm", "attention_decode"))
    assert k.package_version == "0.12.0" and set(k.cols["chip"]) == {"h200"}
    assert all(s["stack"] == "trtllm" and s["stack_version"] for s in k.sources)
    c = k.cols
    peak = {"bf16": 989e12, "fp8": 1979e12, "fp8_block": 1979e12}
    g = c["op"] == "gemm"
    rate = 2.0 * c["m"][g] * c["n"][g] * c["k"][g] / c["latency_s"][g]
    assert len(rate) >= 400 and np.all(rate <= np.array([peak[f] for f in c["fmt"][g]]))
    d = c["op"] == "attention_decode"
    kv_bytes = np.where(c["kv_fmt"][d] == "fp8", 1, 2) * 2 * c["batch"][d] * c["kv_len"][d] * c["kv_heads"][d] * c["head_dim"][d]
    assert np.all(kv_bytes / c["latency_s"][d] <= 4.8e12)
    assert np.max(kv_bytes / c["latency_s"][d]) > 0.5 * 4.8e12  # the big ones do stream


@needs_db
def test_cli_holdout_json(tmp_path):
    out = tmp_path / "b200.json"
    main(["calibrate", "--kernels", "aiconfigurator", "--holdout", "b200", "--per-group", "30", "--json", str(out)])
    r = json.loads(out.read_text())
    assert r["holdout"] == "b200" and len(r["train_chips"]) >= 5
    assert not {"b200", "gb200"} & set(r["train_chips"])  # nor its twin (same GPU die and memory)
    assert {"gemm/bf16", "gemm/fp8", "gemm/nvfp4", "attention_prefill/bf16", "attention_decode/bf16"} <= set(r["errors"])
    # the measured collectives (perf/kernel_collectives.py) join the held-out report
    assert {"nccl_all_reduce/fp16", "nccl_all_gather/fp16", "nccl_reduce_scatter/fp16", "nccl_all_to_all/fp16",
            "custom_all_reduce/bf16"} <= set(r["errors"])
    # and its fused-MoE layers at the serving calibration of the same held-out fit (perf/kernel_moe.py with_moe)
    assert {"moe/bf16", "moe/fp8", "moe/nvfp4"} <= set(r["errors"]) and r["errors"]["moe/bf16"]["n"] > 0
    for e in r["errors"].values():  # a class of layers the model cannot express (MX-format experts) only counts them
        assert (e["n"] > 0 and 0 <= e["median_abs_err_pct"] <= e["p90_abs_err_pct"]) or e.get("skipped", 0) > 0
    src = r["source"]
    assert src["package_version"] == "0.12.0" and src["chips"]["b200"]["stack"] == "trtllm"
    assert src["chips"]["h200"]["stack_versions"]["gemm"]


@needs_db
def test_cli_holdout_not_in_db(capsys):
    with pytest.raises(SystemExit) as e:
        main(["calibrate", "--kernels", "aiconfigurator", "--holdout", "mi300x"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "--holdout 'mi300x'" in err


@pytest.mark.parametrize("fmt,read_bytes,write_bytes", [
    ("bf16", None, None),
    # dynamic per-tensor FP8: an amax pass and a convert pass over the BF16 activation, 1 byte out
    ("fp8", 2 * 2.0, 1.0),
    # 1x128 blocks: one pass, 1 byte + a 4-byte FP32 scale per 128 elements
    ("fp8_block", 2.0, 1.0 + 4.0 / 128),
    # NVFP4: one pass, half a byte + a 1-byte E4M3 scale per 16 elements (4.5 bits per element)
    ("nvfp4", 2.0, 0.5 + 1.0 / 16),
])
def test_quantize_pass_bytes_per_activation_element(fmt, read_bytes, write_bytes):
    q = kf.quantize_op(fmt, 1000.0)
    if read_bytes is None:
        assert q is None
        return
    assert q.fused  # its launch is part of the format's fixed time, not a second overhead
    assert q.input_bytes == pytest.approx(1000.0 * read_bytes)
    assert q.output_bytes == pytest.approx(1000.0 * write_bytes)


def test_quantized_gemm_predicted_as_gemm_plus_its_quantize_pass():
    from tapeout.ops import MatMul, OpTable
    from tapeout.perf.opcost import evaluate

    m, n, k = 4096, 4096, 8192
    cols = {c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, ("h200", "s", "gemm", "fp8", "", m, n, k, 0, 0, 0, 0, 0, 0,
                                                                  1e-3, "trtllm", "1"))}
    g = kf.Groups(Kernels(cols, "t", [])).items[0]
    x = kf.x_of({n_: p[1] for n_, p in zip(kf.NAMES, kf.PARAMS)})
    p = kf.params_for(g["params"], x, "fp8")
    gemm = float(evaluate(OpTable.from_ops([MatMul(name="g", m=m, n=n, k=k, a_dtype="fp8", w_dtype="fp8", out_dtype="bf16",
                                                   math_dtype="fp8")]), p).time[0])
    q = kf.quantize_op("fp8", m * k)
    quant = q.input_bytes + q.output_bytes
    t = float(kf.predict_group(g, x)[0])
    assert t - gemm == pytest.approx(quant / (p.mem_bw * p.eff_mem), rel=1e-6)  # memory-bound, no second launch


def test_block_scaled_fp8_efficiency_by_where_the_scales_are_applied():
    from tapeout.formats import mma_block_scaled_fp8

    # Blackwell's tcgen05 MMA takes the block scales; Hopper promotes on CUDA cores
    assert mma_block_scaled_fp8(chip_for("b200")) and mma_block_scaled_fp8(chip_for("gb300"))
    assert not mma_block_scaled_fp8(chip_for("h200")) and not mma_block_scaled_fp8(chip_for("l40s"))
    cols = {c: np.array([v, v2]) for c, v, v2 in zip(kernels_db.COLUMNS, ("b200", "s", "gemm", "fp8_block", "", 64, 4096, 4096, 0, 0,
                                                                          0, 0, 0, 0, 1e-3, "trtllm", "1"),
                                                      ("h200", "s", "gemm", "fp8_block", "", 64, 4096, 4096, 0, 0, 0, 0, 0, 0,
                                                       1e-3, "trtllm", "1"))}
    groups = {g["chip"]: g for g in kf.Groups(Kernels(cols, "t", [])).items}
    # Hopper: the per-tensor FP8 GEMM's efficiency plus the promotion on the CUDA cores
    assert groups["b200"]["eff"] == "eff_fp8_block_mma" and groups["h200"]["eff"] == "eff_fp8"
    assert groups["b200"]["promote_flops"][0] == 0.0
    assert groups["h200"]["promote_flops"][0] == 2.0 * 64 * 4096 * (4096 / 128)


@pytest.mark.parametrize("fmt, k, expected", [("fp8_block", 4096, 2 * 32 * 64 * 32), ("fp8_block", 4097, 2 * 32 * 64 * 33),
                                              ("fp8", 4096, 0.0), ("bf16", 4096, 0.0)])
def test_promotion_is_one_fma_per_output_element_per_k_block(fmt, k, expected):
    assert float(kf.promotion_flops(32, 64, k, fmt)) == expected


def test_promotion_on_a_known_tile_runs_on_the_sms_its_tiles_occupy():
    # 8 tokens x 4096 rows on 16 x 128 tiles: 32 CTAs, one wave on 132 SMs; each promotes its whole
    # padded 16 x 128 tile per 128-deep K block, so the chip is busy 132 x that (4.125x the output's FMAs x 16/8)
    f = float(kf.promotion_flops(8, 4096, 4096, "fp8_block", 16.0, 128.0, 132.0))
    assert f == 132 * 2.0 * 16 * 128 * 32
    # a GEMM that fills whole waves of unpadded tiles promotes exactly its output elements
    assert float(kf.promotion_flops(128 * 132, 128 * 2, 256, "fp8_block", 128.0, 128.0, 132.0)) == \
        float(kf.promotion_flops(128 * 132, 128 * 2, 256, "fp8_block"))
    assert float(kf.promotion_flops(8, 4096, 4096, "fp8", 16.0, 128.0, 132.0)) == 0.0


@given(st.integers(1, 20000), st.integers(128, 70000), st.integers(128, 60000),
       st.sampled_from([(16.0, 128.0), (64.0, 40.0), (128.0, 128.0)]))
def test_promotion_on_a_tile_is_at_least_the_output_elements(m, n, k, tile):
    assert float(kf.promotion_flops(m, n, k, "fp8_block", *tile, 132.0)) >= float(kf.promotion_flops(m, n, k, "fp8_block"))


def test_exposed_promotion_time_is_its_fmas_at_the_vector_peak():
    cols = {c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, ("h200", "s", "gemm", "fp8_block", "", 4096, 4096, 4096, 0, 0,
                                                                 0, 0, 0, 0, 1e-3, "trtllm", "1"))}
    g = kf.Groups(Kernels(cols, "t", [])).items[0]
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    i = kf.NAMES.index("promote_exposed")
    x0, x1 = x.copy(), x.copy()
    x0[i], x1[i] = 0.0, 0.6
    d = float(kf.predict_group(g, x1)[0] - kf.predict_group(g, x0)[0])
    assert d == pytest.approx(0.6 * 2.0 * 4096 * 4096 * 32 / g["params"].vector_flops, rel=1e-9)


def test_fit_scans_the_gqa_pack_limit():
    """Synthetic decode kernels generated with a pack limit of 16: the scan finds it."""
    x_true = kf.x_of({**{n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}, "attn_head_pack": 16.0, "mem_decode_hmma": 0.7,
                   "mem_decode_mmha": 0.7})
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(60):
        kvh = int(rng.choice([1, 2, 8]))
        rows.append(("h200", "s", "attention_decode", "bf16", "bf16", 0, 0, 0, int(2 ** rng.integers(0, 8)), 1,
                     int(2 ** rng.integers(8, 15)), kvh * int(rng.choice([1, 4, 8, 16, 32, 64])), kvh, 128, 1.0, "trtllm", "1"))
    cols = {c: np.array([r[i] for r in rows], dtype=object if isinstance(rows[0][i], str) else float)
            for i, c in enumerate(kernels_db.COLUMNS)}
    g = kf.Groups(Kernels(cols, "synthetic", []))
    for gi, t in zip(g.items, g.predict(x_true)):
        gi["meas"] = t
    assert kf.fit(g)["params"]["attn_head_pack"] == 16.0


def test_context_attention_includes_the_qkv_preprocessing_pass():
    # 4 sequences x 512 tokens, 32 query / 8 KV heads of 128: the pass reads the fused QKV
    # activation and writes Q and the new K/V, (32 + 2 * 8) * 128 BF16 elements per token each way
    q = kf.qkv_preprocess_op(4 * 512, 32, 8, 128)
    per_way = 4 * 512 * (32 + 2 * 8) * 128 * 2.0
    assert q.input_bytes == per_way and q.output_bytes == per_way and q.fused
    row = ("h200", "s", "attention_prefill", "bf16", "bf16", 0, 0, 0, 4, 512, 512, 32, 8, 128, 1e-3, "trtllm", "1")
    g = kf.Groups(Kernels({c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, row)}, "t", [])).items[0]
    assert len(g["table"]) == 2 and len(kf.predict_group(g, kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}))) == 1


def test_qkv_preprocessing_writes_the_new_kv_at_the_cache_width():
    # FP8 cache: Q written in BF16 (32 x 128 x 2 B per token), K and V at one byte (2 x 8 x 128 x 1 B);
    # the fused BF16 QKV read is unchanged
    tokens = 4 * 512
    q8, q16 = kf.qkv_preprocess_op(tokens, 32, 8, 128, "fp8"), kf.qkv_preprocess_op(tokens, 32, 8, 128, "bf16")
    assert q8.input_bytes == q16.input_bytes == tokens * (32 + 2 * 8) * 128 * 2.0
    assert q8.output_bytes == pytest.approx(tokens * (32 * 128 * 2.0 + 2 * 8 * 128 * 1.0))
    assert q16.output_bytes == pytest.approx(tokens * (32 + 2 * 8) * 128 * 2.0)
    with pytest.raises(ValueError, match="nvfp4"):
        kf.qkv_preprocess_op(tokens, 32, 8, 128, "nvfp4")
    # the context kernel of an FP8-cache row is timed with that pass
    row = ("h200", "s", "attention_prefill", "bf16", "fp8", 0, 0, 0, 4, 512, 512, 32, 8, 128, 1e-3, "trtllm", "1")
    g = kf.Groups(Kernels({c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, row)}, "t", [])).items[0]
    assert float(g["table"].output_bytes[0]) == pytest.approx(q8.output_bytes)


def test_softmax_exponential_costs_one_sfu_result():
    # 16 MUFU.EX2 results against 128 FP32 FMA (256 FLOP) per clock per SM: an exponential costs
    # 16 FP32 FLOPs of the vector rate; Blackwell Ultra's data doubles the SFU rate (sourced)
    assert kf.exp_fp32_flops(chip_for("b200")) == 16.0
    assert kf.exp_fp32_flops(chip_for("gb300")) == kf.exp_fp32_flops(chip_for("b300")) == 8.0
    assert "developer.nvidia.com" in chip_for("gb300").source_of("sfu_exp_speedup")
    # H100: FlashAttention-3 (Shah et al. 2024) quotes 3.9 TFLOP/s of special functions
    h100 = calibrated_params(chip_for("h100-sxm"))
    assert h100.vector_flops / kf.exp_fp32_flops(chip_for("h100-sxm")) == pytest.approx(3.9e12, rel=0.1)


def test_blackwell_generation_runs_separate_preparation_kernels():
    # TensorRT-LLM on SM100 runs invokeBuildDecoderInfo + invokeQKVPreprocessing before the
    # trtllm-gen generation kernel; Hopper's XQA applies RoPE in the one kernel (kernels_db.yaml)
    rows = [(chip, "s", "attention_decode", "bf16", "bf16", 0, 0, 0, 8, 1, 1024, 32, 8, 128, 1e-5, "trtllm", "1")
            for chip in ("b200", "h200")]
    cols = {c: np.array([r[i] for r in rows], dtype=object if isinstance(rows[0][i], str) else float)
            for i, c in enumerate(kernels_db.COLUMNS)}
    g = kf.Groups(Kernels(cols, "t", []))
    assert {gi["chip"]: (gi["pre"], len(gi["table"])) for gi in g.items} == {"b200": (True, 2), "h200": (False, 1)}
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    x5 = x.copy()
    x5[kf.NAMES.index("ovh_gen_pre")] += 5.0
    for gi in g.items:
        added = float(kf.predict_group(gi, x5)[0] - kf.predict_group(gi, x)[0])
        assert added == pytest.approx(5e-6 if gi["pre"] else 0.0, abs=1e-15)


def _fp8_block_group(m, n, k, system="h200_sxm"):
    cols = {c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, ("h200", system, "gemm", "fp8_block", "", m, n, k, 0, 0,
                                                                 0, 0, 0, 0, 1e-3, "trtllm", "1"))}
    return kf.Groups(Kernels(cols, "t", [])).items[0]


def test_sm90_fp8_block_kernel_runs_on_its_own_tile_without_split_k():
    """The DeepGEMM kernel (kernels_db.yaml trtllm_fp8_block_tile): 8 tokens swap to a 16 x 128 tile, no K splits;
    an undescribed system keeps the chip's tile and split-K."""
    g = _fp8_block_group(8, 4096, 7168)
    assert (g["params"].tile_m, g["params"].min_tile_m, g["params"].tile_n) == (16.0, 16.0, 128.0) and g["no_split"]
    assert g["inflight"] == 8 * (16 + 128) * 128  # 8 stages of a 128-deep K block of both tiles
    other = _fp8_block_group(8, 4096, 7168, system="s")
    assert not other["no_split"] and other["inflight"] == 0.0 and not other["operand_bytes"].any()
    # its own kernel class (the SM 9.0 quantize + DeepGEMM pair): its own fixed time, nobody else's
    assert g["cls"] == kf.FP8_BLOCK_SM90 and other["cls"] == "fp8_block"
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    x1 = x.copy()
    x1[kf.NAMES.index("ovh_fp8_block_sm90")] += 3.0
    assert float(kf.predict_group(g, x1)[0] - kf.predict_group(g, x)[0]) == pytest.approx(3e-6, rel=1e-9)
    assert float(kf.predict_group(other, x1)[0]) == float(kf.predict_group(other, x)[0])


def test_operand_stream_is_a_roofline_term_at_the_l2_bandwidth():
    from tapeout.perf.kernel_tile import operand_stream_bytes

    # 256 x 2048 x 65536 on 128 x 32 tiles: 1.38 GB of operand reads, ~141 us at the H200's 9.8 TB/s L2,
    # well above its MMA time at any efficiency the fit allows (68.7 GFLOP at 1979 TFLOP/s: 35 us at peak)
    g = _fp8_block_group(256, 2048, 65536)
    assert g["operand_bytes"][0] == pytest.approx(float(operand_stream_bytes(256, 2048, 65536, 128, 32, "fp8_block")))
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    t = float(kf.predict_group(g, x)[0])
    floor = g["operand_bytes"][0] / g["l2_bw"]
    assert t >= floor
    # and only that term: without the operand bytes the same kernel is predicted faster
    assert float(kf.predict_group({**g, "operand_bytes": np.zeros(1)}, x)[0]) < floor


def test_a_known_pipeline_streams_its_bytes_in_flight_per_round_trip():
    """One CTA (128 weight rows, 8 tokens) of the SM 9.0 kernel: its memory time is its bytes over
    in-flight bytes / latency, so doubling the latency adds the bytes' time at the first latency."""
    from tapeout.perf.opcost import evaluate

    g = _fp8_block_group(8, 128, 16384)
    x = kf.x_of({**{n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)}, "epilogue_exposed": 0.0})
    i = kf.NAMES.index("load_latency_us")
    x2, x4 = x.copy(), x.copy()
    x2[i], x4[i] = 2.0, 4.0
    t2, t4 = float(kf.predict_group(g, x2)[0]), float(kf.predict_group(g, x4)[0])
    gemm_bytes = float(evaluate(g["table"], g["params"], check_support=False).dram_bytes[0])
    assert gemm_bytes >= 128 * 16384  # at least the FP8 weight
    assert t4 - t2 == pytest.approx(gemm_bytes * 2e-6 / g["inflight"], rel=1e-6)



def test_sm90_quantize_pass_takes_its_rounds_whatever_the_dram():
    """The SM 9.0 pair's quantize kernel (scale_1x128_kernel, SMs x 8 CTAs) quantizes one 1 x 128 block per warp
    per round: a 32768 x 7168 activation is 218 rounds on 132 SMs, so at 2 us a round its pass takes >= 436 us,
    the same on H100 and H200 (same SMs), against ~130 / ~90 us at their DRAMs' 3.35 / 4.8 TB/s."""
    from tapeout.perf.opcost import evaluate

    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    x[kf.NAMES.index("quant_round_us")] = 2.0
    times = {}
    for chip, system in (("h200", "h200_sxm"), ("h100-sxm", "h100_sxm")):
        cols = {c: np.array([v]) for c, v in zip(kernels_db.COLUMNS, (chip, system, "gemm", "fp8_block", "", 32768, 128, 7168, 0, 0,
                                                                     0, 0, 0, 0, 1e-3, "trtllm", "1"))}
        g = kf.Groups(Kernels(cols, "t", [])).items[0]
        assert float(g["quant_rounds"][0]) == 218.0
        cost = kf.with_quant_rounds(evaluate(g["table"], kf.item_params(g, x), check_support=False), g["quant_rounds"], 2e-6)
        times[chip] = float(np.asarray(cost.time).reshape(-1)[1])  # the quantize row
    assert times["h200"] == pytest.approx(436e-6, rel=0.05) and times["h100-sxm"] == pytest.approx(times["h200"], rel=0.05)
    other = _fp8_block_group(32768, 128, 7168, system="s")  # a system whose kernel is not described: no rounds
    assert not np.any(other["quant_rounds"])


def test_sm90_promotion_shows_only_with_one_math_warpgroup():
    """48 tokens run a 64-row M block (one math warpgroup): its promotion adds promote_exposed x its FLOPs at the
    vector rate; 4096 tokens run 128 rows (two warpgroups), whose promotion hides under the other's WGMMAs."""
    x = kf.x_of({n: p[1] for n, p in zip(kf.NAMES, kf.PARAMS)})
    i = kf.NAMES.index("promote_exposed")
    x0, x1 = x.copy(), x.copy()
    x0[i], x1[i] = 0.0, 1.0
    one, two = _fp8_block_group(48, 7168, 7168), _fp8_block_group(4096, 7168, 7168)
    assert (float(one["promote_wgs"][0]), float(two["promote_wgs"][0])) == (1.0, 2.0)
    added = float(kf.predict_group(one, x1)[0] - kf.predict_group(one, x0)[0])
    assert added == pytest.approx(float(one["promote_flops"][0]) / float(one["params"].vector_flops), rel=1e-9)
    assert float(kf.predict_group(two, x1)[0]) == float(kf.predict_group(two, x0)[0])


@pytest.mark.parametrize("args,field", [(["-c", "mi300x", "--kernels", "aiconfigurator"], "has no kernels of 'mi300x'"),
                                        (["-c", "h200", "--kernels", "foo"], "--kernels 'foo'"),
                                        (["-c", "h200", "--kernels", "aiconfigurator", "--power-limit", "500"], "--power-limit")])
def test_serve_kernels_refusals(args, field, capsys):
    """`tapeout serve --kernels` refuses a chip outside the database, another database and a capped board, in one line."""
    with pytest.raises(SystemExit) as e:
        main(["serve", "-m", "llama-3.1-8b", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and field in err


@needs_db
def test_serve_kernels_calibrates_the_chip_on_its_kernels(capsys):
    """`tapeout serve --kernels aiconfigurator` runs the engine on the chip's own kernel calibration and says so; the
    prediction is the one `validate --kernels` would make (kernel_calibration.build) and differs from the shipped fit's."""
    from tapeout.perf.kernel_calibration import build
    from tapeout.perf.llm import serve

    main(["serve", "-m", "llama-3.1-8b", "-c", "h200", "-p", "fp8", "--kernels", "aiconfigurator", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert any(n.startswith("--kernels: h200 calibrated on its own measured kernels (aiconfigurator-core") for n in d["notes"])
    own = serve("llama-3.1-8b", "h200", 1, "fp8", fitted=build(chips=["h200"])).output_tokens_per_s
    assert d["output_tokens_per_s"] == pytest.approx(own, rel=1e-9)
    assert d["output_tokens_per_s"] != pytest.approx(serve("llama-3.1-8b", "h200", 1, "fp8").output_tokens_per_s, rel=1e-3)
