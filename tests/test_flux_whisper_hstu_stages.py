"""FLUX.1 workload (published sizes and closed forms), Whisper beam search, HSTU retrieval stage."""

import pytest
from tapeout.errors import TapeoutError
from tapeout.workloads import catalog, diffusion
from tapeout.workloads.blocks import as_precision, weight_params

from _cli import run_cli


def one_line_error(args: list[str], field: str) -> None:
    code, out, err = run_cli(args)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and field in lines[0] and "Traceback" not in err + out, (code, err)


def test_flux_transformer_params_match_published_12b():
    # FLUX.1 transformer: "~11.9B" (mlcommons/training text_to_image README, '4. Model'; BFL model
    # card "12 billion parameter"); the graph omits biases and norms (< 0.1%)
    g = diffusion.flux_graph("flux1-dev", steps=1, include_text=False, include_vae=False)
    assert weight_params(g.ops) == pytest.approx(11.9e9, rel=0.01)
    # schnell lacks only the guidance embedder: MLPEmbedder(256 -> 3072 -> 3072)
    s = diffusion.flux_graph("flux1-schnell", steps=1, include_text=False, include_vae=False)
    assert weight_params(g.ops) - weight_params(s.ops) == 256 * 3072 + 3072 * 3072


def test_flux_text_encoder_and_vae_sizes():
    pr = as_precision("bf16")
    g = diffusion.flux_graph("flux1-dev", steps=1)
    # T5-XXL v1.1 encoder: 4.76B with its 32,128 x 4,096 token embedding (t5-v1_1-xxl encoder)
    t5 = weight_params([o for o in g.ops if o.name.startswith("text.t5xxl")]) + 32128 * 4096
    assert t5 == pytest.approx(4.76e9, rel=0.02)
    # the decoder is the SD layout with 16 latent channels: only conv_in differs (9 x (16 - 4) x 512)
    vae16 = weight_params(diffusion.vae_decoder_ops(1, 128, 128, pr, z=16))
    vae4 = weight_params(diffusion.vae_decoder_ops(1, 128, 128, pr))
    assert vae16 - vae4 == 9 * 12 * 512


def test_flux_tokens_and_joint_attention_closed_form():
    assert diffusion.flux_tokens(1024, 1024) == 4096  # 128x128 latents, 2x2 packed
    g = diffusion.flux_graph("flux1-dev", steps=1, include_text=False, include_vae=False)
    att = next(o for o in g.ops if o.name == "flux.double.joint_attn")
    assert (att.q_len, att.kv_len, att.heads, att.d_qk) == (4096 + 512, 4096 + 512, 24, 128)
    # single block: one fused linear 3072 -> 3 x 3072 + 4 x 3072 over all 4,608 tokens
    lin1 = next(o for o in g.ops if o.name == "flux.single.linear1")
    assert lin1.flops * lin1.count == 2 * 4608 * 3072 * (3 * 3072 + 12288) * 38


def test_flux_transformer_flops_scale_with_steps_and_no_cfg_doubling():
    def dit_flops(steps):
        g = diffusion.flux_graph("flux1-dev", steps=steps, include_text=False, include_vae=False)
        return sum(o.flops * o.count for o in g.ops if o.name.startswith("flux."))

    assert dit_flops(28) == pytest.approx(28 * dit_flops(1), rel=1e-12)
    g = diffusion.flux_graph("flux1-dev", batch=1, steps=1)
    att = next(o for o in g.ops if o.name == "flux.double.joint_attn")
    assert att.batch == 1  # guidance-distilled: one latent per image per step


def test_flux_presets_listed_and_bad_input():
    names = {w["name"] for w in catalog.list_workloads()}
    assert {"flux1-dev", "flux1-schnell"} <= names
    assert catalog.build_workload("flux-schnell").meta["steps"] == 4
    with pytest.raises(TapeoutError, match="height"):
        diffusion.flux_graph(height=1000)
    one_line_error(["workload-run", "flux1-dev", "--chip", "h200", "--set", "width=1000"], "width")
    one_line_error(["workload-run", "flux1-dev", "--chip", "h200", "--set", "steps=0"], "steps")


# ---- Whisper beam search


def _flops(ops, prefix=""):
    return sum(o.flops * o.count for o in ops if o.name.startswith(prefix))


def test_whisper_beam1_equals_greedy_construction():
    """beam=1 is the greedy graph: decoder layers with cross-attention to the cached K/V, as
    transformer_block(cross_len=1500, cross_kv_cached=True) builds them."""
    from tapeout.workloads import speech
    from tapeout.workloads.blocks import transformer_block

    pr = as_precision("bf16")
    g = speech.whisper_graph(batch=4, output_tokens=50, beam=1, precision=pr)
    cfg = speech.WhisperConfig()
    ref = transformer_block("dec.step", 4, 1, cfg.d_model, cfg.heads, cfg.ffn, pr, count=cfg.decoder_layers * 50,
                            causal=True, q_len=1, kv_len=round(4 + 51 / 2), cross_len=cfg.audio_ctx, cross_kv_cached=True)
    layers = [o for o in g.ops if o.name.startswith("dec.step.") and o.name != "dec.step.embed"]
    assert sorted(o.name for o in layers) == sorted(o.name for o in ref)
    assert _flops(layers) == pytest.approx(_flops(ref), rel=1e-12)
    assert sum(o.bytes * o.count for o in layers) == pytest.approx(
        sum(o.bytes * o.count for o in ref), rel=1e-12)
    assert not any(o.name == "dec.beam_topk" for o in g.ops)


@pytest.mark.parametrize("k", [2, 4, 5])
def test_whisper_beam_scales_decoder_not_encoder(k):
    from tapeout.workloads import speech

    g1 = speech.whisper_graph(batch=8, output_tokens=100, beam=1)
    gk = speech.whisper_graph(batch=8, output_tokens=100, beam=k)
    # encoder and the cross K/V projection: once per utterance
    assert _flops(gk.ops, "enc.") == _flops(g1.ops, "enc.")
    assert _flops(gk.ops, "dec.cross_kv_proj") == _flops(g1.ops, "dec.cross_kv_proj")
    # decode steps (projections, self- and cross-attention scores, logits): exactly k x
    assert _flops(gk.ops, "dec.step.") == pytest.approx(k * _flops(g1.ops, "dec.step."), rel=1e-9)
    assert _flops(gk.ops, "dec.logits") == pytest.approx(k * _flops(g1.ops, "dec.logits"), rel=1e-12)
    # ... but the cross K/V is read once per utterance: the cross-attention op keeps batch 8
    x = next(o for o in gk.ops if o.name == "dec.step.xattn")
    assert (x.batch, x.q_len, x.kv_len) == (8, k, 1500)
    # the result still counts the output tokens of one transcript per utterance
    assert gk.meta["units"] == g1.meta["units"] == 800


def test_whisper_beam_bad_input():
    from tapeout.workloads import speech

    with pytest.raises(TapeoutError, match="beam"):
        speech.whisper_graph(beam=0)
    one_line_error(["workload-run", "whisper", "--chip", "h100-sxm", "--set", "beam=0"], "beam")
    one_line_error(["workload-run", "whisper", "--chip", "h100-sxm", "--set", "beam=2.5"], "beam")


# ---- HSTU retrieval stage


def test_hstu_retrieval_encodes_history_only():
    from tapeout.workloads import hstu

    r = hstu.hstu_graph(batch=2, seq_len=1000, seq_std=0, candidates=256, stage="retrieval")
    k = hstu.hstu_graph(batch=2, seq_len=1000, seq_std=0, candidates=256, stage="ranking")
    assert r.meta["tokens"] == 2 * 1000 and k.meta["tokens"] == 2 * (1000 + 256)
    assert not any(o.name.startswith("head.") for o in r.ops)
    scan = r.meta["retrieval_scan"]
    # brute-force MIPS: 2 x queries x items x dim FLOPs, fp32 scores written and read once
    assert scan["flops"] == 2 * 2 * 1e9 * 512 and scan["score_bytes"] == 2 * 2 * 1e9 * 4
    assert "retrieval_scan" not in k.meta


def test_hstu_retrieval_scan_closed_forms():
    from tapeout.perf.workload_throughput import workload_throughput

    rb = 512 * 2  # emb_dim x fp16
    # corpus resident in HBM: the whole table from HBM once per batch, nothing from host/SSD
    small = workload_throughput("hstu", "h100-sxm", stage="retrieval", item_rows=1e6, batch=4)
    assert small["retrieval_scan_bytes_hbm"] == pytest.approx(1e6 * rb + 2 * 4 * 1e6 * 4, rel=1e-12)
    assert small["retrieval_scan_bytes_host"] == 0 and small["retrieval_scan_bytes_ssd"] == 0
    # the scan is shared by the batch: table bytes do not grow with the number of queries
    one = workload_throughput("hstu", "h100-sxm", stage="retrieval", item_rows=1e6, batch=1)
    assert small["retrieval_scan_bytes_hbm"] - one["retrieval_scan_bytes_hbm"] == pytest.approx(2 * 3 * 1e6 * 4)
    # row-wise sharding over 2 chips halves each chip's scan
    half = workload_throughput("hstu", "h100-sxm", stage="retrieval", item_rows=1e6, batch=4, shards=2)
    assert half["retrieval_scan_bytes_hbm"] == pytest.approx(small["retrieval_scan_bytes_hbm"] / 2, rel=1e-12)
    # a corpus larger than HBM: every row read once, HBM-cached rows from HBM, the rest over the host link
    big = workload_throughput("hstu", "h100-sxm", stage="retrieval")
    total = big["retrieval_scan_bytes_hbm"] + big["retrieval_scan_bytes_host"] + big["retrieval_scan_bytes_ssd"]
    assert total == pytest.approx(1e9 * rb + 2 * 1e9 * 4, rel=1e-9)
    assert big["retrieval_scan_bytes_host"] > 0.9 * 1e9 * rb
    assert big["bound"] == "embedding-host"


def test_scan_bytes_all_hbm_vs_all_host():
    from tapeout.perf.placement import TableDemand, place_tables, scan_bytes

    t = [TableDemand("items", 1e6, 1024, 100)]
    in_hbm = place_tables(t, hbm_bytes=2e9, host_bytes=0)["tables"][0]
    assert scan_bytes(in_hbm, 1e6, 1024) == {"hbm": 1.024e9, "host": 0.0, "ssd": 0.0}
    on_host = place_tables(t, hbm_bytes=0, host_bytes=2e9)["tables"][0]
    assert scan_bytes(on_host, 1e6, 1024) == {"hbm": 0.0, "host": 1.024e9, "ssd": 0.0}


def test_hstu_stage_bad_input():
    from tapeout.workloads import hstu

    with pytest.raises(TapeoutError, match="stage"):
        hstu.hstu_graph(stage="rank")
    one_line_error(["workload-run", "hstu", "--chip", "h100-sxm", "--set", "stage=rank"], "stage")
