"""scripts/train_layer_breakdown.py: one layer of a training run itemized from the engine's own objects
(docs/notes/issue-18.md, Round stop-36, issue-36b)."""

import importlib.util
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

from tapeout.ops import Attention, Collective, MatMul
from tapeout.perf import training

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("train_layer_breakdown", ROOT / "scripts" / "train_layer_breakdown.py")
bd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bd)


def _args(**kw):
    base = dict(model=None, benchmark=None, stack=None, seq_len=None, global_batch_tokens=None, tp=None, pp=None,
                cp=None, vp=None, precision=None, chip="h100-sxm", num_chips=8)
    return Namespace(**{**base, **kw})


def test_itemized_ops_add_up_to_the_engine_classes():
    """The per-op forward rows the script prints are the engine's: their GEMM times sum to the _Fwd cost dict's
    gemm, the attention rows' to its attn and the collectives carry no compute time."""
    r, (cfg, chip, p, topo, pr, lay, a, k) = bd.priced_run(_args(model="llama-3.1-8b", tp=2, pp=1, cp=1,
                                                                 global_batch_tokens=8 * 8192, seq_len=8192))
    assert r.layout["tp"] == 2
    fwd = a[3]
    f = fwd(lay.tp, lay.ep, lay.mbs, a[2] // lay.cp)
    rows, _ = bd.forward_ops(fwd, lay, a[2] // lay.cp)
    body = [x for x in rows if x["op"].name not in training.HEAD_OPS]
    gemm = sum(x["t"] * x["op"].count for x in body if isinstance(x["op"], MatMul))
    attn = sum(x["t"] * x["op"].count for x in body if isinstance(x["op"], Attention))
    assert gemm == pytest.approx(f["gemm"], rel=1e-9)
    assert attn == pytest.approx(f["attn"], rel=1e-9)
    assert all(isinstance(x["op"], Collective) for x in body if x["t"] == 0.0 and x["t0"] > 0.0)
    assert "_time" not in vars(fwd)  # the spy is gone: the engine's method again


def test_burst_to_sustained_is_the_pair_ratio():
    """H100-SXM has no pair of its own: it takes H200's (same die at 700 W), MSMF / burst MAMF from the data file
    (MB-0723 FP8 1354 / 1525, MB-0722 BF16 755 / 850); a chip with no pair at its TDP has none."""
    from tapeout.hardware.catalog import get_chip

    assert bd.burst_to_sustained(get_chip("h100-sxm"), "fp8") == pytest.approx(1354.0 / 1525.0)
    assert bd.burst_to_sustained(get_chip("h100-sxm"), "bf16") == pytest.approx(755.0 / 850.0)
    assert bd.burst_to_sustained(get_chip("a100-sxm"), "bf16") is None


def test_script_restores_the_switch():
    """one_op_time flips SUSTAINED_SCALE for one op and puts it back."""
    from tapeout.perf import train_clock

    was = train_clock.SUSTAINED_SCALE
    r, (cfg, chip, p, topo, pr, lay, a, k) = bd.priced_run(_args(model="llama-3.1-8b", tp=1, pp=1, cp=1,
                                                                 global_batch_tokens=8 * 8192, seq_len=8192))
    op = MatMul(name="g", m=8192, n=8192, k=8192)
    on, off = bd.one_op_time(op, a[3], scaled=True), bd.one_op_time(op, a[3], scaled=False)
    assert train_clock.SUSTAINED_SCALE is was
    assert on >= off and np.isfinite(on)
