"""What TensorRT-LLM's pipeline parallelism does per step, as the serving engine models it: the
runtime max batch bounds each micro-batch (CapacityScheduler(getMaxBatchSize() * mNumMicroBatches)),
and the final norm and LM head run on the last stage only, which sets the pipeline's pace."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeout.hardware.catalog import get_chip
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.mlperf import serve_at_scale
from tapeout.perf.opcost import K_ATTN
from tapeout.perf.serving_sim import LAST_STAGE_OPS, StepModel, pp_hops, serving_costs
from tapeout.perf.stacks import max_batch_per_micro_batch
from tapeout.precision import get_precision
from tapeout.workloads.llm import LLMStep, build_llm_graph
from tapeout.workloads.llm_config import load_llm


def test_tensorrt_llm_max_batch_bounds_each_micro_batch():
    """llama-2-70b fp8 on 8 x H200 at TP1 PP2 holds far more than 2 x 64 sequences: with
    max_batch_size 64 the engine runs 64 per micro-batch, 128 in all; at PP1 64."""
    assert max_batch_per_micro_batch("tensorrt-llm-0.x") and not max_batch_per_micro_batch("vllm")
    kw = dict(dataset="llama2-70b", max_batch=64, tp=1)
    pp2 = serve_at_scale("llama-2-70b", "h200", 8, "fp8", 222.33, 294.45, "offline", pp=2, **kw)
    pp1 = serve_at_scale("llama-2-70b", "h200", 8, "fp8", 222.33, 294.45, "offline", pp=1, **kw)
    assert pp2.batch_size == 128 and pp1.batch_size == 64


def _stage_parts(sm: StepModel, n: int) -> tuple[float, float]:
    """(whole-model non-attention time, its final-norm + LM-head part) for n decode tokens, from the
    cost table the step model evaluates."""
    g = build_llm_graph(sm.cfg, LLMStep("decode", n, 1, 1, sm.pr, sm.tp, sm.ep))
    ct = serving_costs(sm.evaluator(g, sm.p), sm.topo, sm.stack)
    t = ct.table
    w = np.asarray(ct.time, dtype=float).reshape(len(t), -1).max(axis=1) * t.count
    lin = float(w[t.kind != K_ATTN].sum())
    return lin, float(w[np.isin(np.asarray(t.names), LAST_STAGE_OPS)].sum())


@settings(max_examples=6, deadline=None)
@given(pp=st.sampled_from([2, 4, 8]), n=st.sampled_from([1, 16, 256, 1024]))
def test_last_stage_carries_the_lm_head(pp, n):
    """Stage time = decoder layers / pp + the whole head (not head / pp): larger than the even split
    by head x (1 - 1/pp), equal to it at pp = 1; and pp x stage >= the unsplit model."""
    cfg, pr = load_llm("llama-2-70b"), get_precision("fp8")
    p = calibrated_params(get_chip("h100-sxm"))
    one = StepModel(cfg, p, pr, tp=1, pp=1)
    many = StepModel(cfg, p, pr, tp=1, pp=pp)
    lin, head = _stage_parts(one, n)
    assert head > 0
    assert np.isclose(one._eval("decode", n, 1, 1)[0], lin)
    stage = many._eval("decode", n, 1, 1)[0]
    assert np.isclose(stage, lin / pp + head * (1 - 1 / pp))
    assert pp * stage >= lin


@settings(max_examples=200, deadline=None)
@given(pp=st.integers(1, 16), tp=st.integers(1, 16), domain=st.sampled_from([1, 2, 4, 8, 16, 72]))
def test_pipeline_hops_split_into_inside_and_across_domains(pp, tp, domain):
    """A pipeline of pp stages has pp - 1 hops; with ranks TP-innermost (TensorRT-LLM mapping.py:
    pp group = ranks tp apart) all of them stay inside one domain when tp * pp fits it, none do when
    a stage fills a domain, and otherwise one hop per domain boundary crossed leaves it."""
    inside, across = pp_hops(pp, tp, domain)
    assert inside >= 0 and across >= 0 and inside + across == max(pp - 1, 0)
    if tp * pp <= domain:
        assert across == 0
    if tp >= domain:
        assert inside == 0
    if 2 * tp <= domain and domain % tp == 0 and pp % (domain // tp) == 0:
        assert across == pp // (domain // tp) - 1


def test_stage_hop_inside_a_domain_goes_over_the_scale_up_link():
    """TP1 PP2 on one 8-GPU NVLink domain: the activation hop per micro-batch is one send/recv over
    NVLink, a + S / (B eff) shared by the 2 stages, not over the node's NIC."""
    chip, cfg = get_chip("h100-sxm"), load_llm("llama-2-70b")
    p = calibrated_params(chip)
    sm = StepModel(cfg, p, get_precision("fp8"), tp=1, pp=2, family=chip.family)
    topo, tokens = sm.topo, 800
    S = tokens * cfg.hidden_size * sm.pr.residual_bytes
    want = (topo.scaleup_latency + S / (topo.scaleup_bw * topo.eff_link)) / 2
    assert topo.domain == 8 and np.isclose(sm.pp_p2p(tokens), want, rtol=1e-9)
    nic = (topo.scaleout_latency + S / (topo.scaleout_bw * topo.eff_link)) / 2
    assert sm.pp_p2p(tokens) < nic
