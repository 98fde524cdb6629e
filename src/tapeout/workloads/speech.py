"""Speech and encoder op graphs: Whisper-large-v3 (encoder + autoregressive decoder) and
BERT-large.

Whisper (Radford et al. 2022, arXiv:2212.04356; dims from model_configs.csv): log-mel input
of 128 bins x 3000 frames (30 s), two conv1d (k=3; the second stride 2) -> 1500 audio
tokens, 32 pre-LN encoder layers (d 1280, 20 heads, FFN 5120, GELU); 32 decoder layers with
causal self-attention (KV cache), cross-attention to the 1500 encoder states (their K/V
projected once per utterance and cached), FFN 5120, and a tied output projection to 51,866
tokens. A transcription of `output_tokens` tokens = 1 encoder pass + 1 prefill of the
`prompt_tokens` start tokens + output_tokens decode steps at the mean context.

BERT-large (Devlin et al. 2019): 24 layers, hidden 1024, 16 heads, FFN 4096, vocab 30,522,
post-LN; the MLPerf SQuAD v1.1 task runs seq 384 with a span head (2 logits per token).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import require_positive
from ..ops import Attention, Elementwise, EmbeddingGather, Op, OpGraph
from ..precision import Precision, dtype_bytes
from .blocks import as_precision, check_batch, distinct_weight_bytes, eltwise, epilogue, linear, transformer_block


@dataclass(frozen=True)
class WhisperConfig:
    name: str = "whisper-large-v3"
    d_model: int = 1280
    encoder_layers: int = 32
    decoder_layers: int = 32
    heads: int = 20
    ffn: int = 5120
    audio_ctx: int = 1500
    text_ctx: int = 448
    n_mels: int = 128
    vocab: int = 51866


WHISPER = {"whisper-large-v3": WhisperConfig()}


def whisper_graph(batch: int = 1, output_tokens: int = 100, prompt_tokens: int = 4, precision: str | Precision = "bf16",
                  cfg: WhisperConfig = WhisperConfig(), part: str = "all", beam: int = 1) -> OpGraph:
    """One 30-s chunk per sequence, `batch` chunks. part: all | encoder | decoder.

    beam: hypotheses per utterance (1 = greedy, what the MLPerf reference runs:
    mlcommons/inference speech2text/reference_SUT.py, vLLM SamplingParams(temperature=0,
    top_p=1.0, max_tokens=200), one output sequence, no beam search). With beam k the decoder
    runs k hypotheses per utterance (openai/whisper decoding.py BeamSearchDecoder: tokens
    repeat_interleave(n_group), k x the decoder batch, k x the self-attention KV cache); the
    encoder and the cross-attention K/V projection run once per utterance and the k queries of
    an utterance read that one cross K/V (an attention of k queries over the 1,500 audio
    states). ASSUMPTION (a lower bound): openai/whisper itself repeats the audio features per
    beam (audio_features.repeat_interleave(n_group)), so its cross K/V is projected and held
    k times; an engine that shares it across beams runs as modelled here. Per step a top-k over the k x vocab log-probs picks the next beams; the KV cache
    is re-indexed by indirection (TensorRT-LLM's cache-indirection beam search), not copied.
    The result still counts `output_tokens` per utterance (the best hypothesis)."""
    n = check_batch(batch)
    k = check_batch(beam, "beam")
    require_positive("output_tokens", output_tokens)
    require_positive("prompt_tokens", prompt_tokens)
    if prompt_tokens + output_tokens > cfg.text_ctx:
        from ..errors import TapeoutError

        raise TapeoutError(f"prompt_tokens + output_tokens must be <= text_ctx {cfg.text_ctx}, got {prompt_tokens + output_tokens}.")
    pr = as_precision(precision)
    d, A = cfg.d_model, cfg.audio_ctx
    ops: list[Op] = []
    if part in ("all", "encoder"):
        frames = 2 * A
        ops.append(linear("enc.conv1", n * frames, d, cfg.n_mels * 3, pr))
        ops.append(eltwise("enc.gelu1", n * frames * d, pr, 8))
        ops.append(linear("enc.conv2", n * A, d, d * 3, pr))
        ops.append(eltwise("enc.gelu2_pos", n * A * d, pr, 9, reads=2))
        ops += transformer_block("enc.layer", n, A, d, cfg.heads, cfg.ffn, pr, count=cfg.encoder_layers)
        ops.append(eltwise("enc.ln_post", n * A * d, pr, 5))
        # cross-attention K/V of every decoder layer, projected once per utterance
        ops.append(linear("dec.cross_kv_proj", n * A, 2 * d, d, pr, count=cfg.decoder_layers))
    if part in ("all", "decoder"):
        tok_b = dtype_bytes(pr.weights if pr.weights in ("bf16", "fp16", "fp8") else "bf16")
        nk = n * k  # decoder sequences: k hypotheses per utterance
        # prefill of the start-of-transcript prompt
        P = prompt_tokens
        ops.append(EmbeddingGather(name="dec.prefill.embed", lookups=nk * P, rows=cfg.vocab, row_bytes=d * tok_b, dim=d))
        ops += _decoder_layers("dec.prefill", n, k, P, P, cfg, pr, count=cfg.decoder_layers)
        # decode steps: one token per hypothesis per step, mean self-attention context
        steps = output_tokens
        ctx = P + (steps + 1) / 2
        ops.append(EmbeddingGather(name="dec.step.embed", count=steps, lookups=nk, rows=cfg.vocab, row_bytes=d * tok_b, dim=d))
        ops += _decoder_layers("dec.step", n, k, 1, max(1, round(ctx)), cfg, pr, count=cfg.decoder_layers * steps)
        ops.append(linear("dec.logits", nk, cfg.vocab, d, pr, count=steps, out_dtype="fp32"))
        if k > 1:  # log-softmax + top-k over the k x vocab candidates of each utterance (fp32 logits)
            ops.append(Elementwise(name="dec.beam_topk", count=steps, elems=float(nk * cfg.vocab), flops_per_elem=6,
                                   reads=1, writes=0, dtype="fp32"))
    wb = distinct_weight_bytes(ops, {"dec.step": output_tokens, "dec.logits": output_tokens, "dec.prefill": 0})
    return OpGraph(f"{cfg.name}:b{n}:out{output_tokens}:{part}:{pr.name}" + (f":beam{k}" if k > 1 else ""), ops,
                   # MLPerf whisper counts output tokens: the reference SUT returns n_tokens with each
                   # QuerySampleResponse (mlcommons/inference speech2text/reference_SUT.py), so a
                   # unit here is one generated token; `samples` keeps the 30-s windows
                   {"model": cfg.name, "batch": n, "units": n * output_tokens if part != "encoder" else n,
                    "unit": "output tokens" if part != "encoder" else "30-s chunks", "samples": n,
                    "output_tokens": output_tokens, "beam": k,
                    "weight_bytes": wb})


def _decoder_layers(tag: str, n: int, k: int, q: int, kv: int, cfg: WhisperConfig, pr: Precision, count: float) -> list[Op]:
    """Decoder layers for n utterances x k hypotheses of q new tokens over kv self-attention
    keys: causal self-attention + FFN on the n*k sequences, cross-attention of the k*q queries
    of an utterance over its one cached cross K/V (projected in the encoder part)."""
    d, A = cfg.d_model, cfg.audio_ctx
    ops = transformer_block(tag, n * k, q, d, cfg.heads, cfg.ffn, pr, count=count, causal=True, q_len=q, kv_len=kv)
    T = n * k * q
    h = cfg.heads
    cross = [eltwise(f"{tag}.norm_x", T * d, pr, 5, count=count),
             linear(f"{tag}.xq", T, d, d, pr, count),
             Attention(name=f"{tag}.xattn", count=count, batch=n, q_len=k * q, kv_len=A, heads=h, kv_heads=h, d_qk=d // h,
                       d_v=d // h, causal=False, act_dtype=pr.activations, kv_dtype=pr.kv_cache, math_dtype=pr.compute),
             linear(f"{tag}.xattn_out", T, d, d, pr, count),
             *epilogue(f"{tag}.residual_x", T * d, pr, 1, reads=2, count=count)]
    at = next(i for i, o in enumerate(ops) if o.name == f"{tag}.norm2")  # after self-attention, before the FFN
    return ops[:at] + cross + ops[at:]


@dataclass(frozen=True)
class BertConfig:
    name: str = "bert-large"
    hidden: int = 1024
    layers: int = 24
    heads: int = 16
    ffn: int = 4096
    vocab: int = 30522
    max_pos: int = 512


BERTS = {"bert-large": BertConfig(), "bert-base": BertConfig("bert-base", 768, 12, 12, 3072)}


def bert_graph(batch: int = 1, seq_len: int = 384, precision: str | Precision = "bf16", cfg: BertConfig = BertConfig(),
               head: str = "squad", mlm_per_seq: int | None = None) -> OpGraph:
    """BERT encoder of `batch` sequences of `seq_len` tokens. head "pretrain": MLM over
    mlm_per_seq masked positions per sequence (default the 76 slots MLPerf pads them to; a
    stack that gathers only the real masked tokens passes their count) + NSP."""
    n = check_batch(batch)
    require_positive("seq_len", seq_len)
    if seq_len > cfg.max_pos:
        from ..errors import TapeoutError

        raise TapeoutError(f"seq_len={seq_len} exceeds {cfg.name}'s {cfg.max_pos} positions; use <= {cfg.max_pos}.")
    pr = as_precision(precision)
    T = n * seq_len
    h = cfg.hidden
    emb_b = dtype_bytes("fp16" if pr.weights in ("int8", "int4", "fp8") else pr.weights)
    ops: list[Op] = [
        EmbeddingGather(name="embed.tokens", lookups=T, rows=cfg.vocab, row_bytes=h * emb_b, dim=h),
        eltwise("embed.pos_type_norm", T * h, pr, 7, reads=3),
    ]
    ops += transformer_block("layer", n, seq_len, h, cfg.heads, cfg.ffn, pr, count=cfg.layers)
    if head == "squad":
        ops.append(linear("qa_head", T, 2, h, pr, out_dtype="fp32"))
    elif head == "pretrain":  # MLM on the masked positions (MLPerf: max 76 per sequence) + NSP
        if mlm_per_seq is not None:
            require_positive("mlm_per_seq", mlm_per_seq)
        mlm = n * min(76, seq_len if mlm_per_seq is None else mlm_per_seq)
        ops.append(linear("mlm_transform", mlm, h, h, pr))
        ops.append(linear("mlm_decoder", mlm, cfg.vocab, h, pr, out_dtype="fp32"))
        ops.append(linear("pooler_nsp", n, h, h, pr))
    else:
        ops.append(linear("pooler", n, h, h, pr))
    return OpGraph(f"{cfg.name}:b{n}:s{seq_len}:{pr.name}", ops,
                   {"model": cfg.name, "batch": n, "units": n, "unit": "sequences", "seq_len": seq_len})
