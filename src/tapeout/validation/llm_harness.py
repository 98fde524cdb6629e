"""MLPerf LLM harnesses that fix the number of engine replicas (data/mlperf/llm_harness.yaml).

A harness that drives one engine endpoint per node (the MLCommons reference SUT over one
OpenAI-compatible API server) runs the node's accelerators as one model replica: the layout
search then only considers tp x pp = accelerators per node. A property of the harness source,
the same for every chip.

A harness that sets no engine argument of the server it drives (`stack_defaults`) leaves that
server's scheduler at the stack's defaults: its runtime cap on running sequences is the stack's
`default_max_seqs` (vLLM V0 max_num_seqs 256), the `max_batch` the engine then serves with.

A harness that fixes the engine's pipeline depth (`pipeline_parallelism`: NVIDIA's v4.1 llama2-70b
TensorRT-LLM base configs, 1; the reference API harness over one vLLM 0.5.x server, 1 by vLLM 0.5.x's documented
single-node practice, which later vLLM docs revise for GPUs without NVLink) has the layout search run at that depth; the tensor parallelism is still searched.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml

from ..perf.stacks import default_max_seqs
from .registry import SkipRow

# Whether a harness that launches its server at the stack's defaults caps each replica at the stack's
# default running-sequence limit (vLLM V0 max_num_seqs = 256, vllm/engine/arg_utils.py). On: sourced
# software behaviour (the default the published material leaves), and on the two rows it reaches
# (NeuralMagic's 8 x L40S vLLM 0.5.2 Llama-2-70B) it moves both toward their measurements
# (docs/notes/issue-24.md, round stop-37, branch issue-39b). Off: the layout search's best batch.
HARNESS_STACK_DEFAULTS = True

# Whether a row run by a harness that fixes the pipeline depth (llm_harness.yaml `pipeline_parallelism`) is
# searched at that depth only, instead of over every PP the stack supports. On: NVIDIA's v4.1 llama2-70b configs
# set pipeline_parallelism = 1 in OfflineGPUBaseConfig / ServerGPUBaseConfig and no system overrides it, and vLLM
# 0.5.x documents tensor parallelism over one node's GPUs (sources in the yaml), so a PP > 1 layout is one the
# harness did not run; it moves every row whose prediction it changes toward its measurement (docs/notes/issue-24.md,
# round stop-38, branch issue-42e).
# Off: the search over every PP the stack supports (the model's best layout).
HARNESS_DEFAULT_PP = True


@lru_cache(maxsize=1)
def harnesses() -> dict:
    return yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "llm_harness.yaml").read_text())["harnesses"]


def _harness(row: dict) -> dict | None:
    """The harness entry whose notes and software patterns match the row; None where none does."""
    notes, software = row.get("notes", ""), row.get("software", "").lower()
    workload = row.get("workload", "").lower()
    for h in harnesses().values():
        if re.search(h["notes_match"], notes) and re.search(h["software_match"], software) \
                and re.search(h.get("workload_match", ""), workload):
            return h
    return None


def harness_replicas(row: dict) -> int | None:
    """Engine replicas the row's harness runs (replicas per node x nodes), None where no
    harness entry matches (tapeout chooses the data parallelism)."""
    h = _harness(row)
    if h is None or "replicas_per_node" not in h:
        return None
    m = re.search(r"\bnodes=(\d+)", row.get("notes", ""))
    return int(h["replicas_per_node"]) * (int(m.group(1)) if m else 1)


def harness_max_batch(row: dict, stack: str | None, on: bool | None = None) -> int | None:
    """Sequences one engine replica runs at most under the row's harness: the stack's default
    running-sequence cap where the harness launches its server at the stack's defaults
    (`stack_defaults`) and the stack names one, unless the row states the server's own cap
    (`max_num_seqs=N` in its notes: the engine ran with that, not the default); None otherwise
    (tapeout picks the batch). `on`: HARNESS_STACK_DEFAULTS unless given."""
    on = HARNESS_STACK_DEFAULTS if on is None else on
    h = _harness(row)
    if not on or h is None or not h.get("stack_defaults") or stack is None:
        return None
    stated = re.search(r"\bmax_num_seqs=(\d+)", row.get("notes", ""))
    return int(stated.group(1)) if stated else default_max_seqs(stack)


def harness_pp(row: dict, on: bool | None = None) -> int | None:
    """Pipeline depth the row's harness runs every engine at where its base configuration fixes it
    (`pipeline_parallelism`), unless the row states its own (`pp=N` / `PP=N` in its notes); None
    otherwise (tapeout searches the PP the stack supports). `on`: HARNESS_DEFAULT_PP unless given."""
    on = HARNESS_DEFAULT_PP if on is None else on
    h = _harness(row)
    if not on or h is None or "pipeline_parallelism" not in h:
        return None
    if not re.search(h.get("pipeline_parallelism_software_match", ""), row.get("software", "").lower()):
        return None  # a software version the depth's source does not document (e.g. vLLM after 0.5.x)
    stated = re.search(r"\bpp=(\d+)", row.get("notes", ""), flags=re.I)
    if stated and int(stated.group(1)) < 1:  # 0 would read as 'any depth' downstream (serve_at_scale pp falsy)
        raise SkipRow(f"notes pp={stated.group(1)}: a pipeline depth is a whole number >= 1; state the engine's "
                      "pipeline_parallelism (pp=1 for none) or drop it")
    return int(stated.group(1)) if stated else int(h["pipeline_parallelism"])
