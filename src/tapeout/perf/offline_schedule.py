"""Which request runs in which step of an MLPerf Offline run (every sample queued at t = 0), on B
engine slots and, where given, a paged KV pool of a fixed number of blocks.

A request's run is cut into segments: a segment starting at step s prefills `prompt` tokens (and
emits a token) in step s and decodes in steps s+1 .. end-1. Without a pool a request is one segment
(serving_sim.offline_run: the earliest-free slot takes the next request). With a pool the capacity
scheduler of the stack decides, step by step (TensorRT-LLM MAX_UTILIZATION, the default of NVIDIA's
MLPerf LLM harness, main.cc `DEFINE_string(trtllm_batch_sched_policy, "max_util", ...)`;
NVIDIA/TensorRT-LLM cpp/tensorrt_llm/batch_manager/capacityScheduler.cpp
MaxUtilizationScheduler::operator(), rev cf6abc45):

- the active requests are visited in arrival order; each is scheduled if the blocks it needs this
  step (a context: its whole prompt; a generating request: the block its next token opens, if any)
  fit beside those already held and scheduled;
- when one does not fit, the last started (generating) request at or after it is paused, its blocks
  freed (`schedulingRemoveSequence`), the list cut there, and the same request is tried again; when
  none is started from it on, scheduling stops for this step (strict arrival order);
- a paused request stays in the active list (here it keeps its slot, an assumption: the executor's
  limit on fetched active requests was not read) and resumes as a context whose prompt is its prompt plus the
  tokens it generated, recomputed (tensorrt_llm/batch_manager/llmRequest.h LlmRequest::pause:
  mPromptLen += generated tokens, mMaxNewTokens -= them; beam width > 1: back to the prompt,
  restarted; cpp/include/tensorrt_llm/batch_manager/llmRequest.h rev d879430b; the engine's
  max_input_len cap on the new prompt is not modelled).

vLLM (V0, vllm/core/scheduler.py `_schedule_running`: `victim_seq_group = running_queue.pop()`,
`_preempt` RECOMPUTE, the victim back at the head of the waiting queue) preempts the same request
(the newest running one) and recomputes it the same way; it differs only in that a preempted
request leaves its slot (max_num_seqs counts running sequences), which this schedule does not model.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KVPool:
    """A replica's paged KV cache: `blocks` blocks of `tokens_per_block` tokens. A request with
    beam width `beams` holds its prompt `prompt_copies` times (1: beams share the prompt's blocks)
    and its generated tokens once per beam."""

    blocks: int
    tokens_per_block: int
    beams: int = 1
    prompt_copies: int = 1

    def held(self, prompt, generated) -> np.ndarray:
        """Blocks a request holds with `prompt` prompt tokens and `generated` tokens in the cache."""
        p, g, blk = np.asarray(prompt), np.asarray(generated), self.tokens_per_block
        if self.beams == 1:
            return -(-(p + g) // blk)
        return self.prompt_copies * -(-p // blk) + self.beams * -(-g // blk)

    def bound(self, tokens: np.ndarray, requests: np.ndarray) -> np.ndarray:
        """Upper bound on the blocks `requests` requests holding `tokens` tokens (per beam) in all
        occupy: every beam's copy, each request's last block(s) partly empty."""
        per = 1 if self.beams == 1 else self.prompt_copies + self.beams
        return self.beams * tokens / self.tokens_per_block + per * requests


@dataclass
class Segments:
    """One row per segment: start step, prompt prefilled at start, end (first step after its last
    token), engine slot, request and whether it is the request's first segment."""

    start: np.ndarray
    prompt: np.ndarray
    end: np.ndarray
    slot: np.ndarray
    request: np.ndarray
    first: np.ndarray
    pauses: int = 0


def slot_schedule(ins: np.ndarray, outs: np.ndarray, B: int) -> Segments:
    """No pool limit: the earliest-free slot (lowest index among equals) takes the next request in
    issue order, and every request runs to its end in one segment."""
    n = len(ins)
    start = np.empty(n, dtype=np.int64)
    slot = np.empty(n, dtype=np.int64)
    heap = [(0, j) for j in range(B)]
    for r in range(n):
        s, j = heapq.heappop(heap)
        start[r], slot[r] = s, j
        heapq.heappush(heap, (s + int(outs[r]), j))
    return Segments(start, np.asarray(ins, dtype=np.int64), start + outs, slot, np.arange(n), np.ones(n, dtype=bool))


def pool_schedule(ins: np.ndarray, outs: np.ndarray, B: int, pool: KVPool) -> Segments:
    """The MAX_UTILIZATION schedule (module docstring) on B slots and `pool`. A context that would
    not fit an empty pool on its own is run anyway (the engine would reject it; kept, not dropped)."""
    n = len(ins)
    rid = np.full(B, -1, dtype=np.int64)  # request in each slot (-1: free)
    prompt = np.zeros(B, dtype=np.int64)  # the current segment's prompt
    rem = np.zeros(B, dtype=np.int64)  # tokens the current segment emits
    s0 = np.zeros(B, dtype=np.int64)  # the current segment's start
    started = np.zeros(B, dtype=bool)
    first = np.ones(B, dtype=bool)
    rows: list[tuple] = []
    nxt = m = pauses = 0

    def close(sl: np.ndarray, end) -> None:
        for j in sl:
            rows.append((s0[j], prompt[j], end if np.isscalar(end) else end[j], j, rid[j], first[j]))

    while nxt < n or (rid >= 0).any():
        done = np.flatnonzero(started & (s0 + rem == m))
        close(done, m)
        rid[done], started[done] = -1, False
        new = np.flatnonzero(rid < 0)[: n - nxt]
        if new.size:
            rid[new] = np.arange(nxt, nxt + new.size)
            prompt[new], rem[new], first[new] = ins[rid[new]], outs[rid[new]], True
            nxt += new.size
        occ = np.flatnonzero(rid >= 0)
        order = occ[np.argsort(rid[occ])]
        g = m - s0[order]
        st = started[order]
        held = np.where(st, pool.held(prompt[order], np.maximum(g - 1, 0)), 0)
        need = np.where(st, pool.held(prompt[order], g) - held, pool.held(prompt[order], 0))
        free = pool.blocks - int(held.sum())
        lo, end, cut = 0, len(order), None
        paused = []
        while cut is None:
            c = np.cumsum(need[lo:end])
            bad = np.flatnonzero(c > free)
            if not bad.size:
                cut = end
                break
            i = lo + int(bad[0])
            free -= int(c[bad[0] - 1]) if bad[0] > 0 else 0
            lo = i
            later = np.flatnonzero(st[i:end])
            if not later.size:
                cut = i
                break
            p = i + int(later[-1])
            free += int(held[p])
            paused.append(order[p])
            end = p
        if cut == 0 and len(order):
            cut = 1  # nothing runs and the first context alone exceeds the pool: run it anyway
        if paused:
            pj = np.array(paused)
            close(pj, m)
            gen = m - s0[pj]
            if pool.beams == 1:
                prompt[pj] += gen
                rem[pj] -= gen
            else:  # beam search restarts from the prompt
                prompt[pj], rem[pj] = ins[rid[pj]], outs[rid[pj]]
            started[pj], first[pj] = False, False
            pauses += len(pj)
        go = order[:cut]
        ctx = go[~started[go]]
        s0[ctx], started[ctx] = m, True
        m += 1
    a = np.array(rows, dtype=np.int64).reshape(-1, 6)
    return Segments(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5].astype(bool), pauses)
