"""RNN-T (recurrent neural network transducer) speech recognition: the MLPerf Training `rnnt` model.

Model (mlcommons/training rnn_speech_recognition/pytorch/configs/baseline_v3-1023sp.yaml, the reference
config every submission trains): 80 log-mel filterbanks every 10 ms (window_stride 0.01, n_filt 80, 16 kHz),
frame splicing stacks 3 frames and keeps every 3rd (frame_stacking 3, frame_subsampling 3: in_feats 240 every
30 ms); encoder: 2 LSTM layers of 1024 (enc_pre_rnn_layers), a time-stacking layer joining 2 frames
(enc_stack_time_factor 2: 2048 features every 60 ms), 3 LSTM layers of 1024 (enc_post_rnn_layers); prediction
network: an embedding of the previous symbol (pred_n_hid 512) and 2 LSTM layers of 512 (pred_rnn_layers); joint
network: encoder and prediction outputs projected to 512 (joint_n_hid), added over every (frame, symbol) pair,
ReLU, a linear layer to the vocabulary: 1023 sentencepieces (sentpiece_model librispeech1023.model) + blank.

An LSTM layer is built from the closed op set (one rule per physics; the `ops.py` GEMM and elementwise ops):
  input projection  one GEMM over every frame of the batch: m = B x T, n = 4h, k = n_in (cuDNN runs a layer's
                    input GEMM for all time steps at once, then the recurrence)
  recurrence        per time step a GEMM m = B, n = 4h, k = h (count T: a sequential chain, each step waits for
                    the previous hidden state) and the cell's pointwise kernel over B x h (reads the two gate
                    pre-activations of 4h each and c, writes h and c)
FLOPs of one layer per frame and sequence: 2 x 4h x (n_in + h) = 8 h (n_in + h).

Joint (NVIDIA's MLPerf implementation, apex transducer joint `pack`, config APEX_JOINT=pack_w_relu_dropout): only
the valid (t, u) pairs of each utterance are formed (T_i x (U_i + 1) per utterance, packed), so the joint's
hidden and vocabulary tensors are sum_i T_i (U_i + 1) rows, not B x max T x max (U + 1). The transducer loss
(apex transducer loss, APEX_LOSS=fp16) reads the packed logits once for the blank and label log-probabilities;
its backward writes the logits' gradient (fused softmax backward).

Greedy decoding (the evaluation, reference rnnt/decoder.py RNNTGreedyDecoder, batched in NVIDIA's
BATCH_EVAL_MODE): the encoder runs once; then per iteration one joint step per utterance (prediction LSTMs
on the last emitted symbol, its projection, the add + ReLU, the vocabulary GEMM, an argmax), one iteration per
encoder frame plus one per emitted symbol (an emission does not advance the frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TapeoutError
from ..inputs import finite
from ..ops import EmbeddingGather, Op, OpGraph
from ..precision import Precision, dtype_bytes
from .blocks import as_precision, check_batch, eltwise, linear


@dataclass(frozen=True)
class RnntConfig:
    """baseline_v3-1023sp.yaml (module docstring), field by field."""
    name: str = "rnnt-mlperf"
    sample_rate: int = 16000  # sample_rate
    hop_s: float = 0.01  # filterbank_features.window_stride
    n_mels: int = 80  # n_filt
    frame_stacking: int = 3  # frame_splicing.frame_stacking
    frame_subsampling: int = 3  # frame_splicing.frame_subsampling
    enc_hidden: int = 1024  # enc_n_hid
    enc_pre_layers: int = 2  # enc_pre_rnn_layers
    enc_post_layers: int = 3  # enc_post_rnn_layers
    time_stack: int = 2  # enc_stack_time_factor
    pred_hidden: int = 512  # pred_n_hid
    pred_layers: int = 2  # pred_rnn_layers
    joint_hidden: int = 512  # joint_n_hid
    vocab: int = 1024  # 1023 sentencepieces (librispeech1023.model) + blank

    @property
    def in_feats(self) -> int:  # the config's in_feats: 240 = n_filt x frame_stacking
        return self.n_mels * self.frame_stacking


RNNT = RnntConfig()

LSTM_GATES = 4  # input, forget, cell, output gate pre-activations per hidden unit
CELL_FLOPS = 20  # pointwise flops per hidden unit of one step: 3 sigmoids + 2 tanh + products and sums (approximate)


def lstm_layer_flops(n_in: int, hidden: int) -> float:
    """Forward FLOPs of one LSTM layer per frame of one sequence (the two GEMMs): 2 x 4h x (n_in + h)."""
    return 2.0 * LSTM_GATES * hidden * (n_in + hidden)


def _duration(field: str, seconds: float) -> float:
    return float(finite(field, seconds, gt=0))


def encoder_frames(duration_s: float, cfg: RnntConfig = RNNT) -> tuple[int, int]:
    """(frames into the pre-stack LSTMs, frames after time stacking) of an utterance of `duration_s` s: the STFT
    (center=True) gives 1 + floor(samples / hop) frames; splicing keeps ceil(frames / subsampling); the encoder's
    time stacking ceil(T1 / factor) (the reference pads the last group)."""
    s = _duration("duration_s", duration_s)
    frames = 1 + math.floor(s * cfg.sample_rate / round(cfg.hop_s * cfg.sample_rate))
    t1 = math.ceil(frames / cfg.frame_subsampling)
    return t1, math.ceil(t1 / cfg.time_stack)


def lstm_ops(tag: str, batch: int, steps: int, n_in: int, hidden: int, layers: int, pr: Precision,
             frames: float | None = None) -> list[Op]:
    """`layers` stacked LSTM layers of `hidden` over `steps` time steps of `batch` sequences (module docstring). Op
    names: <tag>.l<i>.x (input projection over `frames` rows per sequence, default `steps`), .h (recurrent GEMM,
    count = steps), .cell (pointwise, count = steps)."""
    ops: list[Op] = []
    g = LSTM_GATES * hidden
    rows = batch * (steps if frames is None else frames)
    for i in range(layers):
        k = n_in if i == 0 else hidden
        ops += [linear(f"{tag}.l{i}.x", rows, g, k, pr),
                linear(f"{tag}.l{i}.h", batch, g, hidden, pr, count=steps),
                eltwise(f"{tag}.l{i}.cell", batch * hidden, pr, CELL_FLOPS, reads=2 * LSTM_GATES + 1, writes=2,
                        count=steps)]
    return ops


def lstm_weight_bytes(n_in: int, hidden: int, layers: int, pr: Precision) -> float:
    """Distinct weight bytes of a stacked LSTM (both GEMMs' weights; the recurrent one is reused every step)."""
    g = LSTM_GATES * hidden
    elems = g * (n_in + hidden) + (layers - 1) * g * 2 * hidden
    return elems * dtype_bytes(pr.weights)


def encoder_ops(batch: int, t1: int, t2: int, pr: Precision, cfg: RnntConfig = RNNT,
                frames: tuple[int, int] | None = None) -> list[Op]:
    """The encoder over chains of t1 / t2 steps; `frames` (default (t1, t2)): the real frames per sequence its input
    projections and time stacking process."""
    h = cfg.enc_hidden
    f1, f2 = frames or (t1, t2)
    return (lstm_ops("enc.pre", batch, t1, cfg.in_feats, h, cfg.enc_pre_layers, pr, f1)
            # time stacking: a copy joining `time_stack` frames (reads and writes the pre-stack output once)
            + [eltwise("enc.stack_time", batch * f1 * h, pr, 0)]
            + lstm_ops("enc.post", batch, t2, cfg.time_stack * h, h, cfg.enc_post_layers, pr, f2))


def _check_tokens(tokens: float) -> float:
    return float(finite("tokens", tokens, gt=0))


def rnnt_train_graph(batch: int, duration_s: float, tokens: float, precision: str | Precision = "bf16",
                     cfg: RnntConfig = RNNT, recurrent_duration_s: float | None = None) -> OpGraph:
    """One training forward of `batch` utterances of `duration_s` s with `tokens` sentencepieces each: encoder,
    prediction network over the U + 1 symbols (start + transcript), packed joint over T2 x (U + 1) pairs per
    utterance, transducer loss. `recurrent_duration_s` (>= duration_s; default duration_s): the padded length the
    LSTMs' recurrences run over (a batch padded to its longest utterance; the prediction LSTMs over the symbols at
    the same rate, tokens x recurrent_duration_s / duration_s): the chains take that many steps at M = batch, while
    the input projections, the packed joint and the loss cost the real lengths (NVIDIA's sequence split,
    MIN_SEQ_SPLIT_LEN with PRE_SORT_FOR_SEQ_SPLIT, runs the tail of a length-sorted batch on its longer sequences
    only; its common/rnn.py LSTM.forward carries the hidden state from the first time segment into the second, so
    the chain stays the batch's longest)."""
    n = check_batch(batch)
    pr = as_precision(precision)
    u = _check_tokens(tokens)
    rec = duration_s if recurrent_duration_s is None else recurrent_duration_s
    if _duration("recurrent_duration_s", rec) < _duration("duration_s", duration_s):
        raise TapeoutError(f"recurrent_duration_s={rec:g} is below duration_s={duration_s:g}: the LSTMs run over the "
                           f"padded batch, at least the mean utterance; give recurrent_duration_s >= duration_s.")
    t1, t2 = encoder_frames(rec, cfg)
    t1_real, t2_real = encoder_frames(duration_s, cfg)
    sym_real = max(1, round(u)) + 1  # the start symbol + the transcript's symbols
    sym = max(1, round(u * rec / duration_s)) + 1  # the padded symbol tensor the prediction LSTMs run over
    pairs = float(n) * t2_real * (u + 1.0)  # packed (t, u) pairs of the joint
    hp, hj, V = cfg.pred_hidden, cfg.joint_hidden, cfg.vocab
    emb_b = dtype_bytes(pr.weights)
    ops: list[Op] = encoder_ops(n, t1, t2, pr, cfg, (t1_real, t2_real))
    ops += [EmbeddingGather(name="pred.embed", lookups=n * sym_real, rows=V, row_bytes=hp * emb_b, dim=hp)]
    ops += lstm_ops("pred.lstm", n, sym, hp, hp, cfg.pred_layers, pr, sym_real)
    ops += [linear("joint.enc_proj", n * t2_real, hj, cfg.enc_hidden, pr),
            linear("joint.pred_proj", n * sym_real, hj, hp, pr),
            # apex transducer joint (pack, fused ReLU + dropout): reads the two projections per pair, writes the
            # packed hidden tensor
            eltwise("joint.add_relu", pairs * hj, pr, 2, reads=2, writes=1),
            linear("joint.out", pairs, V, hj, pr),
            # apex transducer loss: reads the packed logits once (blank and label log-probabilities); the
            # alpha/beta recursions over the (t, u) lattice touch 2 values per pair (not costed apart)
            eltwise("loss.transducer", pairs * V, pr, 4, reads=1, writes=0)]
    wb = (lstm_weight_bytes(cfg.in_feats, cfg.enc_hidden, cfg.enc_pre_layers, pr)
          + lstm_weight_bytes(cfg.time_stack * cfg.enc_hidden, cfg.enc_hidden, cfg.enc_post_layers, pr)
          + lstm_weight_bytes(hp, hp, cfg.pred_layers, pr)
          + (hj * cfg.enc_hidden + hj * hp + V * hj) * dtype_bytes(pr.weights) + V * hp * emb_b)
    return OpGraph(f"{cfg.name}:train:b{n}:{duration_s:g}s:{pr.name}", ops,
                   {"model": cfg.name, "batch": n, "units": n, "unit": "utterances", "t1": t1, "t2": t2,
                    "t2_real": t2_real, "symbols": sym, "symbols_real": sym_real, "joint_pairs": pairs, "weight_bytes": wb})


def rnnt_greedy_decode_graph(batch: int, duration_s: float, tokens: float, precision: str | Precision = "bf16",
                             cfg: RnntConfig = RNNT) -> OpGraph:
    """Greedy decoding of `batch` utterances of `duration_s` s emitting `tokens` symbols each (module docstring):
    the encoder forward, then T2 + U iterations of one batched joint step (prediction LSTMs on the last symbol,
    its projection, add + ReLU, vocabulary GEMM, argmax)."""
    n = check_batch(batch)
    pr = as_precision(precision)
    u = _check_tokens(tokens)
    t1, t2 = encoder_frames(duration_s, cfg)
    it = t2 + max(1, round(u))
    hp, hj, V = cfg.pred_hidden, cfg.joint_hidden, cfg.vocab
    ops: list[Op] = encoder_ops(n, t1, t2, pr, cfg)
    ops.append(linear("joint.enc_proj", n * t2, hj, cfg.enc_hidden, pr))
    ops.append(EmbeddingGather(name="dec.embed", count=it, lookups=n, rows=V, row_bytes=hp * dtype_bytes(pr.weights),
                               dim=hp))
    for i in range(cfg.pred_layers):  # one step of each prediction LSTM layer per iteration
        g = LSTM_GATES * hp
        ops += [linear(f"dec.lstm.l{i}.x", n, g, hp, pr, count=it), linear(f"dec.lstm.l{i}.h", n, g, hp, pr, count=it),
                eltwise(f"dec.lstm.l{i}.cell", n * hp, pr, CELL_FLOPS, reads=2 * LSTM_GATES + 1, writes=2, count=it)]
    ops += [linear("dec.pred_proj", n, hj, hp, pr, count=it),
            eltwise("dec.add_relu", n * hj, pr, 2, reads=2, writes=1, count=it),
            linear("dec.joint_out", n, V, hj, pr, count=it),
            eltwise("dec.argmax", n * V, pr, 1, reads=1, writes=0, count=it)]
    return OpGraph(f"{cfg.name}:greedy:b{n}:{duration_s:g}s:{pr.name}", ops,
                   {"model": cfg.name, "batch": n, "units": n, "unit": "utterances", "t1": t1, "t2": t2,
                    "iterations": it})


__all__ = ["RNNT", "RnntConfig", "encoder_frames", "lstm_layer_flops", "lstm_ops", "lstm_weight_bytes",
           "rnnt_train_graph", "rnnt_greedy_decode_graph"]
