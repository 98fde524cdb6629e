"""Beam search's decode attention over one shared prompt: which of its KV reads reach the DRAM.

A beam-search request's beams hold its prompt's KV once: TensorRT-LLM's paged cache references every
full prompt block from all beams (data/software/serving_stacks.yaml kv_beams_share_prompt), and its
masked-MHA generation kernel reads the prompt tokens of every beam from beam 0's blocks ("The beam
offset is always 0 either when beam_width = 1 or the time_idx < kv_loop_length (all beams share the
same context kv cache)": seqIdx = batch_idx * beam_width for time_idx < beam0_context_length; NVIDIA/
TensorRT-LLM cpp/tensorrt_llm/kernels/decoderMaskedMultiheadAttention/
decoderMaskedMultiheadAttentionTemplate.h, rev 02519b0c2a8778cf57449e4ccf5bbb03fd35da18). Only the
generated tokens are read per beam, through the cache indirection. The kernel runs one CTA per
(sequence, head) and the beams of a request are consecutive sequences, so their CTAs are resident
together (4 x 256-thread CTAs per SM, perf/mmha_launch.py) and stream the same prompt lines at the same
pace: the first read of a line misses to the DRAM, the other beams' reads of it hit the L2 (a
working set of the resident CTAs' lines in flight, far below any of these chips' L2).

So the DRAM term of that op moves (prompt + beams x generated) / (beams x context) of the bytes the
op reads; the vector work (perf/opcost.py attn_gen_vflops_*: every beam converts and multiplies every
byte it reads) and the fixed time do not change. Where the kernel's KV stream is its CTAs' Little's-law
stream (opcost.cta_stream_on, the --kernels calibration), that stream was measured at DRAM latency and
bounds the L2 hits as well: nothing is taken off there (an L2 hit's shorter round trip is not modelled).

BEAM_PROMPT_L2 is off: with it the default model prices GPT-J's beam-4 steps on the L40S, whose masked
MHA is DRAM-bound, ~1.5x faster than MLPerf measures (docs/notes/issue-24.md, round stop-32, branch
issue-32gj): the default model has no per-CTA latency limit that would bound the L2-served reads, so
the switch alone is not right for a chip whose DRAM binds.
"""

from __future__ import annotations

BEAM_PROMPT_L2 = False  # off: see the module docstring


def prompt_sharing(beams: int, prompt_len: float, shares_prompt: bool, on: bool | None = None) -> tuple[int, float]:
    """(beams, prompt tokens) whose prompt KV the beams read from one set of blocks, or (1, 0.0)
    when they do not (one beam, a stack that copies the prompt per beam, the switch off)."""
    on = BEAM_PROMPT_L2 if on is None else on
    if not on or beams <= 1 or not shares_prompt or prompt_len <= 0:
        return 1, 0.0
    return int(beams), float(prompt_len)


def dram_fraction(beams: int, prompt_len: float, ctx: float) -> float:
    """Share of a decode step's KV reads (`beams` beams over `ctx` cached tokens each) that reach the
    DRAM when the first `prompt_len` tokens are one set of blocks: (p + beams (ctx - p)) / (beams ctx)."""
    if beams <= 1 or ctx <= 0:
        return 1.0
    p = min(max(prompt_len, 0.0), ctx)
    return (p + beams * (ctx - p)) / (beams * ctx)


def shared_prompt_time(compute, memory, total, fraction):
    """An op's time (total = max(compute, memory) + the rest, perf/opcost.py) with its DRAM term
    scaled to `fraction` of its bytes: max(compute, memory x fraction) + the rest."""
    return total - max(compute, memory) + max(compute, memory * fraction)
