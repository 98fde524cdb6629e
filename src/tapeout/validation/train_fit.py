"""Whether one chip's share of a non-LLM MLPerf Training step fits its memory (issue 52c, round stop-40).

Bytes per chip = model states + saved activations + the workload's own state, against the usable memory
the LLM engine uses (perf/train_reserve.py: the runtime's context, GEMM workspace, one communicator per
process group of size > 1 (DDP: one), allocator fragmentation; hardware/memory_capacity.capacity_bytes).

Model states (`state_bytes`): the trainable parameters (`dense` bf16 bytes / 2, the trained graph's
weights, other_rows.training_graphs) at the bytes per parameter of every tensor of the benchmark's
optimizer spec (other_benchmarks.yaml weight_update.<bench>, `bytes`: the stack's working weight copy, its
gradient, fp32 master, momenta, LAMB's update buffer, ...; each tensor held once per parameter). The working
copies ("weight" / "param" and "grad") are full on every data-parallel replica; every other tensor is split
over the optimizer's shard group as the step prices it (other_training.update_spec: DistributedFusedLAMB /
Apex DistributedFusedAdam / XLA weight-update sharding). Flux.1 under HSDP (flux_train.hsdp, FSDP2
fully_shard per block) shards the working copies too and all-gathers one block's BF16 parameters at a
time; two blocks' are counted (the block computing and the one prefetched, FSDP2's default prefetch).

Saved activations (`saved_activation_bytes`): PyTorch autograd keeps, until the backward has used it,
every tensor an op saved for its gradient (ctx.save_for_backward / SavedVariable, docs "Autograd
mechanics: Saved tensors"); a saved tensor is an input or output of a forward op, and every input of a
trained-graph op is either the output of an earlier op or an input from outside the graph (data, a frozen
part's output: exactly the ops of other_benchmarks.yaml train_no_input_grad, which read them; their input
is kept for the weight gradient). Counting every op output once (ops x count) plus those outside inputs
is therefore an UPPER BOUND on what autograd holds (ops that save nothing, e.g. an addition, are counted
anyway), the graph's tensors counted once each at their dtype; where the graph's ops re-read one outside
tensor (R-GAT's per-relation projections of the sampled node features) the builder gives that tensor's
bytes (meta outside_input_bytes). To it the backward adds its working set: the largest single op's output
gradient and, where its input needs one (not an op reading data), its input gradient, live at once.
Recomputed blocks (activation checkpointing: Flux.1's wrapped double and single blocks, flux_train
.recompute_blocks; torch.utils.checkpoint keeps only the block's inputs and reruns its forward in the
backward) keep per block instance its inputs (the inputs of the ops that read them, flux_train
.recompute_block_inputs from torchtitan's block forward signatures; a block with none on file: its largest
op input, a transformer block's residual streams being narrower than its MLP's hidden input) plus, during
the backward of one block, that block's activations in full. RNN-T's gradient-accumulation passes (rnnt_train.micro_batched: op counts x
passes) free each pass's activations in its backward: one pass's are counted. BERT's stack accumulates too
(bert_train.grad_accumulation, NVIDIA's BATCHSIZE / GRADIENT_STEPS): a per-chip batch that does not fit runs,
for memory, in the fewest passes whose micro-batch fits (`check_fits`; noted with the result), and the step is
priced as those passes x the micro-batch (PRICE_PASSES; other_training applies rnnt_train.micro_batched, RNN-T's rule). Memory-efficient kernels
are the graph's own (a fused attention op writes only its output; its scores are never in memory).

The workload's own state: DLRM-DCNv2's embedding tables and their Adagrad state per chip, dlrm_train's rule
(table_bytes_per_chip; sharded as HugeCTR places them when EMBEDDING_SHARDED, whole otherwise).

Not counted: BERT's stack-specific graph transforms priced in training_time (an unfused attention core's
probabilities, dropout masks: validation/bert_attention.py, bert_dropout.py), the allocator's transient
peaks inside one kernel, the data loader's pinned host buffers (host memory).

MEMORY_CHECK: on. It moves no prediction (it only refuses a step that cannot run); every measured
non-LLM training row fits under it (docs/notes/physical-limits.md, round stop-40 issue-52c).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, replace

from ..errors import TapeoutError
from ..hardware.memory_capacity import GIB, capacity_bytes
from ..ops import OpGraph
from . import sram_rows

MEMORY_CHECK = True  # refuse a per-chip batch whose step does not fit the chip (module docstring); moves no prediction
# A per-chip batch the stack splits into accumulation passes runs each pass at the micro-batch: the step is priced as
# passes x the micro-batch (op counts x passes, rnnt_train.micro_batched), not as one pass at the whole per-chip batch.
# On: the stack's documented behaviour (NVIDIA's BERT run_pretraining.py: GRADIENT_STEPS forward/backward passes of
# BATCHSIZE / GRADIENT_STEPS samples per optimizer step), as RNN-T's graph already prices it; it moves only rows whose
# batch the memory rule splits (docs/notes/physical-limits.md, round stop-40 issue-54d). Off: one pass at the whole batch.
PRICE_PASSES = True

WORKING_COPIES = ("weight", "param", "grad")  # optimizer-spec tensors the forward / backward touch in full


class MemoryRefusal(TapeoutError):
    """A per-chip batch whose training step does not fit the chip's memory (check_fits)."""


@dataclass(frozen=True)
class StepMemory:
    """Bytes one chip holds at the peak of a training step, by part, and what it may use."""

    states: float  # weights, gradients, optimizer state
    activations: float  # saved for the backward + the backward's working set
    workload: float  # the workload's own state (DLRM tables)
    usable: float
    capacity: float
    passes: int = 1  # gradient-accumulation passes the stack splits the per-chip batch into (accumulates)
    micro_batch: int = 0  # samples per pass (0: not split)

    @property
    def total(self) -> float:
        return self.states + self.activations + self.workload

    @property
    def fits(self) -> bool:
        return self.total <= self.usable


def _matches(name: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


def saved_activation_bytes(g: OpGraph, outside_inputs=(), recomputed=(), passes: int = 1, block_inputs=()) -> float:
    """Upper bound on the bytes autograd holds for the backward of `g` (module docstring): every op's output
    (x count) plus the inputs of the ops matching `outside_inputs` (fnmatch; g.meta["outside_input_bytes"] instead
    where the graph's builder gives the tensor those ops read, e.g. R-GAT's sampled features that its per-relation
    projections re-read), the ops whose name starts with a `recomputed` prefix keeping per instance only their
    block's inputs (the inputs of its ops matching `block_inputs`; where none does, its largest op input) plus one
    instance's outputs in full; divided by `passes` (gradient-accumulation passes
    folded into the counts); plus the backward's working set, the largest op's output gradient and, for an op whose
    input needs one (not `outside_inputs`), its input gradient."""
    total, outside, work = 0.0, 0.0, 0.0
    blocks: dict[str, tuple[float, float, float]] = {}  # prefix -> (instances, largest input, outputs per instance)
    kept: dict[str, float] = {}  # prefix -> the block's inputs per instance (its ops matching `block_inputs`)
    for o in g.ops:
        reads_outside = _matches(o.name, outside_inputs)
        work = max(work, o.output_bytes + (0.0 if reads_outside else o.input_bytes))
        pre = next((p for p in recomputed if o.name.startswith(p)), None)
        if pre is not None:
            n, inp, out = blocks.get(pre, (0.0, 0.0, 0.0))
            blocks[pre] = (max(n, o.count), max(inp, o.input_bytes), out + o.output_bytes)
            if _matches(o.name, block_inputs):
                kept[pre] = kept.get(pre, 0.0) + o.input_bytes
            continue
        total += o.count * o.output_bytes
        outside += o.count * o.input_bytes if reads_outside else 0.0
    total += float(g.meta.get("outside_input_bytes", outside))
    total += sum(n * kept.get(pre, inp) for pre, (n, inp, _) in blocks.items())
    total += max((out for *_, out in blocks.values()), default=0.0)
    return total / max(1, int(passes)) + work


def state_bytes(bench: str, chip, n_chips: int, dense: float, g: OpGraph | None = None, p=None) -> float:
    """Weights, gradients and optimizer state of `bench`'s trainable parameters (`dense` bf16 bytes) on one of
    `n_chips` data-parallel ranks (module docstring); `g` the trained graph (Flux.1's gathered blocks); `p` the
    chip's calibrated params (its scale-up domain; None: calibrated_params(chip))."""
    from ..perf.calibration import calibrated_params
    from ..perf.collectives import topology_for
    from ..perf.weight_update import shard_group
    from .other_rows import fact
    from .other_training import update_spec

    spec = update_spec(bench, chip)
    params = dense / 2.0
    domain = topology_for(p if p is not None else calibrated_params(chip), chip.family).domain if n_chips > 1 else 1
    group = shard_group(spec, n_chips, domain)
    fsdp = bench == "flux1" and fact("flux_train", "hsdp")
    held = sum(float(b) / (group if fsdp or t not in WORKING_COPIES else 1) for t, b in spec["bytes"].items())
    gathered = 0.0
    if fsdp and g is not None and group > 1:  # FSDP2: one block's BF16 parameters gathered, the next prefetched
        blocks = tuple(fact("flux_train", "recompute_blocks"))
        # one instance's parameters of each block kind (the graph's bf16 weight bytes / 2), the largest
        per_block = max((sum(o.weight_bytes / 2.0 for o in g.ops if o.name.startswith(pre) and o.kind == "matmul")
                         for pre in blocks), default=0.0)
        gathered = 2.0 * per_block * float(fact("flux_train", "param_bytes"))
    return params * held + gathered


def workload_bytes(bench: str, n_chips: int) -> float:
    """The workload's own state per chip: DLRM-DCNv2's tables and Adagrad state, DLRM's tables (dlrm_train's rule);
    0 else."""
    from . import dlrm_train

    if bench not in dlrm_train.BENCHES:
        return 0.0
    return dlrm_train.table_bytes_per_chip(n_chips if dlrm_train.sharded(bench) else 1, bench)


def usable_bytes(chip, n_chips: int) -> tuple[float, float]:
    """(usable, capacity) bytes of one rank of a data-parallel job on `n_chips` x `chip`: the LLM engine's
    reserve rule (perf/train_reserve.py) at one process group (DDP) where n_chips > 1."""
    from ..perf.train_layout import TrainLayout
    from ..perf.train_reserve import training_reserve

    cap = float(capacity_bytes(chip))
    return training_reserve(TrainLayout(dp=max(1, int(n_chips))), chip).usable(cap), cap


def step_memory(bench: str, chip, n_chips: int, per_chip_batch: int, sgs: int = 1, p=None) -> StepMemory:
    """The per-chip memory of `bench`'s training step at `per_chip_batch` samples per chip on `n_chips` x `chip`
    data-parallel ranks (3D U-Net: each sample split over a spatial group of `sgs` ranks, unet3d_spatial)."""
    from . import unet3d_spatial
    from .other_rows import fact, training_graphs

    n = max(1, int(n_chips))
    g, _, dense = training_graphs(bench, max(1, int(per_chip_batch)), chip, n)
    g = unet3d_spatial.per_chip_graph(g, sgs) if bench == "unet3d" else g
    flux = bench == "flux1"
    act = saved_activation_bytes(g, tuple(fact("train_no_input_grad", bench)),
                                 tuple(fact("flux_train", "recompute_blocks")) if flux else (), int(g.meta.get("passes", 1)),
                                 tuple(fact("flux_train", "recompute_block_inputs")) if flux else ())
    usable, cap = usable_bytes(chip, n)
    return StepMemory(state_bytes(bench, chip, n, dense, g, p), act, workload_bytes(bench, n), usable, cap)


def largest_fitting_batch(bench: str, chip, n_chips: int, below: int, sgs: int = 1, p=None) -> int:
    """The largest per-chip batch below `below` whose step fits (bisection: memory grows with the batch); 0 for none."""
    lo, hi = 0, max(1, int(below))  # step_memory fits at lo (0: none known), not at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if step_memory(bench, chip, n_chips, mid, sgs, p).fits:
            lo = mid
        else:
            hi = mid
    return lo


def accumulates(bench: str) -> bool:
    """Whether `bench`'s stack splits a per-chip batch into gradient-accumulation micro-batches the memory rule may
    use: BERT (other_benchmarks.yaml bert_train.grad_accumulation); RNN-T's split is in its graph already
    (rnnt_train.MICRO_BATCHES, by the chip's memory)."""
    from .other_rows import fact

    return bench == "bert" and bool(fact("bert_train", "grad_accumulation"))


def check_fits(bench: str, chip, n_chips: int, per_chip_batch: int, global_batch: float, sgs: int = 1,
               p=None) -> StepMemory:
    """The step's memory (step_memory's arguments); TapeoutError where it does not fit, naming the bytes needed vs
    usable per chip, the largest per-chip batch that fits and the fix (MEMORY_CHECK off: never refuses)."""
    m = step_memory(bench, chip, n_chips, per_chip_batch, sgs, p)
    if m.fits or not MEMORY_CHECK or not sram_rows.memory_rule_applies(chip):  # SRAM chips: validation/sram_rows.py
        return m
    best = largest_fitting_batch(bench, chip, n_chips, per_chip_batch, sgs, p)
    if best and accumulates(bench):  # the fewest passes whose micro-batch fits (each no larger than `best`)
        passes = -(-int(per_chip_batch) // best)
        micro = -(-int(per_chip_batch) // passes)
        return replace(step_memory(bench, chip, n_chips, micro, sgs, p), passes=passes, micro_batch=micro)
    gib = lambda b: f"{b / GIB:,.1f} GiB"  # noqa: E731
    parts = (f"{gib(m.states)} weights, gradients and optimizer state, {gib(m.activations)} activations saved for "
             f"the backward" + (f", {gib(m.workload)} embedding tables and their state" if m.workload else ""))
    if best:
        fix = (f"the largest per-chip batch that fits is {best:,}: give --global-batch {best * n_chips // sgs:,} or less on "
               f"{n_chips:,} chip{'s' if n_chips > 1 else ''}, or more --num-chips (at --global-batch {int(global_batch):,}, about "
               f"{-(-int(global_batch) * sgs // best):,} chips at this per-chip memory)")
    else:
        sharded = step_memory(bench, chip, 2 * n_chips, 1, sgs, p).states < m.states  # the stack shards its state
        fix = ("not even one sample per chip fits: use a chip with more memory" +
               (", or more --num-chips (the stack shards the model's state over its ranks)" if sharded else ""))
    if bench == "rnnt":
        fix += "; RNN-T's stack splits the batch into gradient-accumulation micro-batches (validation/rnnt_train.py)"
    raise MemoryRefusal(
        f"--global-batch {int(global_batch):,}: {bench} at {int(per_chip_batch):,} samples per chip needs "
        f"{gib(m.total)} per chip ({parts}), but {chip.id} has {gib(m.usable)} usable of {gib(m.capacity)} "
        f"(perf/train_reserve.py); {fix} (validation/train_fit.py).")


__all__ = ["MEMORY_CHECK", "MemoryRefusal", "PRICE_PASSES", "StepMemory", "accumulates", "check_fits", "largest_fitting_batch", "saved_activation_bytes",
           "state_bytes", "step_memory", "usable_bytes", "workload_bytes"]
