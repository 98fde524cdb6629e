"""Time to train of the non-LLM MLPerf Training benchmarks (RetinaNet, Mask R-CNN, R-GAT, DLRM-DCNv2, DLRM (v1), BERT,
ResNet-50, Stable Diffusion v2, Flux.1, RNN-T, 3D U-Net) at a chip, chip count, global batch and samples to converge: the one
pricing body behind the validation rows (other_rows.py map_training) and `tapeout train --benchmark`
(api/other_train.py). Step model, evaluation passes and sources: other_rows.py's module docstring.

The benchmark definition a user runs (`definition`): the default global batch and its samples to
converge are the newest ruleset's smallest-batch Reference Convergence Point (data/mlperf/rcps.yaml,
mlcommons/logging rcp_checker; perf/convergence.py applies rcp_checker's rule at any batch). Above the
largest RCP on file the samples are unknown and only throughput is given, never an invented count.
"""

from __future__ import annotations

import math

from ..errors import TapeoutError
from ..hardware.catalog import vendor_of
from ..ops import OpGraph
from ..perf.calibration import calibrated_params
from ..perf.collectives import collective_time, topology_for
from ..perf.convergence import LATEST, rcp_batches, samples_to_converge
from ..perf.dp_buckets import BucketRule, bucket_overlap_exposed, collective_count
from ..perf.fsdp import exposed_hsdp_s, hsdp_step_collectives, sharded_dp_collectives
from ..perf.train_backward import backward_time
from ..perf.train_clock import board_power, graph_time
from ..perf.weight_update import resolved_spec, shard_group, shards_every_replica, weight_update_s
from ..workloads import speech
from ..workloads.blocks import as_precision
from ..workloads.detection_train import head_output_passes
from . import bert_attention, bert_config_fusions, bert_config_passes, bert_dropout, bert_grad_clip, bert_fp8, bert_mlm, conv_unfused_passes, detection_eval, dlrm_train, maskrcnn_host, rnnt_recurrence, rnnt_train, sd_round, train_fit, unet3d_spatial, unet3d_train
from .other_rows import (EVAL_GRAPH, EVAL_RUNS_ONCE_GRAPH, eval_graph, fact, feature_read_s, bert_gradient_sync_s, eval_interval,
                         train_precision, training_graphs, workload_facts)

# NVIDIA's ResNet-50 (MXNet + Horovod) all-reduces every gradient in one fused group after the backward (its configs:
# HOROVOD_FUSION_THRESHOLD 64 MiB, MXNET_HOROVOD_NUM_GROUPS=1, "Default is no NCCL and BWD overlap";
# other_benchmarks.yaml resnet_train.allreduce_after_backward_vendors), so the whole all-reduce is in its step, as in
# NVIDIA's Mask R-CNN. On: read from every NVIDIA config v2.0-v4.0, nothing fitted; it moves the NVIDIA resnet rows
# toward their measurements (docs/notes/issue-18.md, Round stop-39 issue-49c).
RESNET_ALLREDUCE_AFTER_BACKWARD = True

# NVIDIA's RetinaNet configs that set the evaluation images per GPU apart from the training batch (--eval-batch-size=8
# at 1 training image per GPU on 256 / 316 DGX H100 nodes; other_benchmarks.yaml retinanet_train.eval_batch_per_chip):
# the evaluation forward runs at that batch, in ceil(eval images / (ranks x it)) steps. On: read from the configs, a
# setting of the run, nothing fitted; it moves the two rows it applies to toward their measurements
# (docs/notes/issue-18.md, Round stop-42 issue-63b). Off: the evaluation runs at the training per-chip batch.
RETINANET_EVAL_BATCH_FROM_CONFIG = True

BENCHMARKS = ("retinanet", "rgat", "dlrm-dcnv2", "dlrm", "bert", "resnet", "stable-diffusion", "flux1", "rnnt", "maskrcnn", "unet3d")
# defined on file but not priced: {name: what is missing} (none at present)
REFUSED: dict[str, str] = {}


def recompute_s(bench: str, g, p, board=None) -> float:
    """Forward time run again in the backward by full activation checkpointing: the wrapped blocks'
    ops (flux1: other_benchmarks.yaml flux_train.recompute_blocks); 0 for a benchmark without it."""
    if bench != "flux1":
        return 0.0
    blocks = tuple(fact("flux_train", "recompute_blocks"))
    ops = [o for o in g.ops if o.name.startswith(blocks)]
    return graph_time(OpGraph(f"{g.name}:recompute", ops, g.meta), p, board)


def head_grad_s(g, p, board=None) -> float:
    """A detection graph's backward passes over its head outputs (workloads/detection_train.py, NVIDIA's
    RetinaNet: the fused focal loss's in-place gradient scaling and GradClone's copies), found from the trained
    graph's own head output convs (`head.p<l>.{cls,box}.out`); 0 for a graph without that head."""
    copies = head_output_passes(g, as_precision("bf16"))[1]
    return graph_time(OpGraph(f"{g.name}:grad_copies", copies, g.meta), p, board)


def optimizer_s(bench: str, chip, p, n: int, dense: float, spec: dict | None = None) -> float:
    """One step's weight update of `bench` on one rank (perf/weight_update.py): the submission's optimizer
    kernels over the trainable parameters (`dense` bf16 weight bytes / 2; frozen layers and encoders are not in
    the trained graph) at other_benchmarks.yaml weight_update.<bench>'s bytes per parameter, on the rank's
    shard. BERT's DistributedFusedLAMB shards over every rank only on bert_train.distributed_lamb_vendors; XLA's
    cross-replica weight-update sharding shards every benchmark on weight_update_sharding.vendors (TPU). `spec`:
    a round's own optimizer where its stack differs (validation/sd_round.py), else update_spec."""
    domain = topology_for(p, chip.family).domain if n > 1 else 1
    return weight_update_s(spec or update_spec(bench, chip), dense / 2.0, p, n, domain)


def update_spec(bench: str, chip) -> dict:
    """The weight-update spec `bench`'s run follows on `chip` (other_benchmarks.yaml weight_update.<bench>, its
    shard set by the vendor's stack: optimizer_s), shared by the step's time and its memory (validation/train_fit.py)."""
    spec = resolved_spec(fact("weight_update", bench))
    vendor = vendor_of(chip)  # a derived chip runs its base's vendor stack (hardware/catalog.vendor_of)
    if shards_every_replica(vendor):
        spec["shard"] = "all"
    elif bench == "bert" and vendor not in fact("bert_train", "distributed_lamb_vendors"):
        spec["shard"] = "none"
    return spec


def data_parallel_sync_s(bench: str, p, family: str, n: int, dense: float, t_fwd: float, t_bwd: float,
                         sd_stack: dict | None = None) -> tuple[float, float]:
    """(gradient / parameter sync seconds, of which exposed) of one step. DDP's gradient all-reduce as the
    collective engine times it for the system (NCCL: inside the scale-up domain, then tree/ring across nodes on
    the domain's shard; perf/collectives.py, the engine the LLM training layouts use), overlapped with the
    backward (PyTorch DDP buckets). stable-diffusion: NeMo's Apex DistributedFusedAdam (other_benchmarks.yaml
    sd_train.distributed_optimizer): per bucket, a reduce-scatter of the FP16 gradients over the optimizer's
    shard group and an all-reduce of the shard across the groups, overlapped with the backward bucket by
    bucket (overlap_grad_sync; the last bucket after it, perf/dp_buckets.bucket_overlap_exposed), then the
    FP16 parameters all-gathered over the group after the update, exposed
    (overlap_param_sync False); without it, NeMo's all-reduce after the backward (sd_train.allreduce_overlapped).
    flux1: HSDP over the scale-up domain (perf/fsdp.py; other_benchmarks.yaml flux_train). `sd_stack`: a round's
    own Stable Diffusion stack (validation/sd_round.py: distributed optimizer or not, DDP overlap), else the facts."""
    if n <= 1:
        return 0.0, 0.0
    topo = topology_for(p, family)
    elems = dense / 2.0  # `dense`: bf16 weight bytes
    if bench == "flux1" and fact("flux_train", "hsdp"):
        f, b = hsdp_step_collectives(elems, n, topo.domain, topo, float(fact("flux_train", "param_bytes")),
                                     float(fact("flux_train", "reduce_bytes")))
        return f + b, exposed_hsdp_s(t_fwd, t_bwd, f, b)
    dist_opt = sd_stack["distributed_optimizer"] if sd_stack else True
    if bench == "stable-diffusion" and dist_opt and fact("sd_train", "distributed_optimizer"):
        d = fact("sd_train", "distributed_optimizer")
        group = shard_group(resolved_spec(fact("weight_update", bench)), n, topo.domain)
        gather, reduce = sharded_dp_collectives(elems, n, group, topo, float(d["param_sync_bytes"]),
                                                float(d["grad_sync_bytes"]))
        # Apex buckets of bucket_cap_mb MiB of gradients, each reduced when the backward has filled it
        buckets = collective_count(elems, 1, BucketRule("apex", float(d["bucket_cap_mb"])), n, float(d["grad_sync_bytes"]))
        exposed = (bucket_overlap_exposed(reduce, t_bwd, buckets) if d["overlap_grad_sync"] else reduce) + \
                  (max(0.0, gather - t_fwd) if d["overlap_param_sync"] else gather)
        return reduce + gather, exposed
    t_ar = float(collective_time("all_reduce", dense, n, topo)[0])
    overlapped = True
    if bench == "stable-diffusion":
        overlapped = sd_stack["allreduce_overlapped"] if sd_stack else fact("sd_train", "allreduce_overlapped")
    return t_ar, (max(0.0, t_ar - t_bwd) if overlapped else t_ar)


def eval_batch_per_chip(bench: str, per_chip: int, mlperf_round: str | None, nodes: int | None, vendor: str) -> int:
    """The images per chip of one evaluation step: the training per-chip batch (NVIDIA's run_and_time.sh / train.py
    default), or where RETINANET_EVAL_BATCH_FROM_CONFIG and an NVIDIA RetinaNet config on file of this round, node
    count and training batch sets --eval-batch-size apart, that value (other_benchmarks.yaml
    retinanet_train.eval_batch_per_chip). A run with no round (`tapeout train --benchmark`) keeps the training batch."""
    if bench != "retinanet" or not RETINANET_EVAL_BATCH_FROM_CONFIG or vendor != "NVIDIA" or mlperf_round is None:
        return per_chip
    for c in fact("retinanet_train", "eval_batch_per_chip"):
        if (c["round"], int(c["nodes"]), int(c["batch_per_chip"])) == (mlperf_round, nodes, per_chip):
            return int(c["eval_batch_per_chip"])
    return per_chip


def allreduce_after_backward(bench: str, vendor: str) -> bool:
    """True where the run's stack all-reduces the gradients in one call after the backward, so none of it hides
    under the backward: NVIDIA's Mask R-CNN (flat all-reduce, maskrcnn_train) and, with
    RESNET_ALLREDUCE_AFTER_BACKWARD, NVIDIA's ResNet-50 (one Horovod group, resnet_train)."""
    if bench == "maskrcnn":
        return vendor in fact("maskrcnn_train", "allreduce_after_backward_vendors")
    if bench == "resnet" and RESNET_ALLREDUCE_AFTER_BACKWARD:
        return vendor in fact("resnet_train", "allreduce_after_backward_vendors")
    return False


def training_time(bench: str, chip, n_chips: int, global_batch: float, samples_to_converge: float | None,
                  fitted: dict | None = None, software: str = "", mlperf_round: str | None = None,
                  nodes: int | None = None, submitter: str | None = None) -> dict:
    """One MLPerf Training run of `bench` on `n_chips` x `chip` (a catalog Chip) at `global_batch`
    samples per step: the step breakdown (s), samples/s, and with `samples_to_converge` the minutes
    to train including the evaluation passes (None without it). `software`: the run's software field
    (a row's), where a stack's graph depends on it (bert_train.mlm_all_slots); `mlperf_round` ("v2.0") and `nodes`
    and `submitter` (a row's), where a stack's evaluation depends on them (detection_eval_scoring.async_scoring). Raises
    TapeoutError where the chip or the graph cannot run it."""
    n = int(n_chips)
    gb = global_batch
    samples = samples_to_converge
    # the data-parallel ranks: every chip, or (unet3d) one per sample with the others evaluating
    n_dp = unet3d_train.training_ranks(n, gb) if bench == "unet3d" else n
    # unet3d at NVIDIA's -sgs layouts: each sample split over a group of sgs chips (validation/unet3d_spatial.py)
    sgs = unet3d_spatial.spatial_group(n, gb) if bench == "unet3d" else 1
    per_chip = max(1, int(math.ceil(gb * sgs / n_dp)))
    prec = train_precision(bench, chip)
    if not chip.supports(prec):
        raise TapeoutError(f"chip {chip.missing_peak(prec)} (the MLPerf {bench} training step runs its GEMMs in "
                           f"{prec.upper()})")
    p = calibrated_params(chip, fitted)
    # back-to-back training GEMMs: no faster than the die's sustained MSMF at its TDP (perf/train_clock, the LLM
    # engine's rule; None where no switch or measured pair applies)
    board = board_power(chip, fitted=fitted)
    if bench in dlrm_train.BENCHES and dlrm_train.sharded(bench):  # the tables fit n chips as the stack places them
        dlrm_train.check_memory(chip, p, n, bench)
    # the chip's share of the step fits its memory, else refused (validation/train_fit.py; MEMORY_CHECK off: never)
    fit = train_fit.check_fits(bench, chip, n_dp, per_chip, gb, sgs, p)
    # the row's BERT config where one is on file (other_benchmarks.yaml bert_train.config_settings): its
    # GRADIENT_STEPS (validation/bert_config_passes.py) and its fusion flags (validation/bert_config_fusions.py)
    rule = bert_config_fusions.config_rule(fact("bert_train", "config_settings"), mlperf_round, submitter, chip.calibration_id,
                                           nodes, n) if bench == "bert" else None
    fit = bert_config_passes.with_config_passes(fit, bert_config_passes.config_passes(rule), bench, chip, n_dp,
                                                per_chip, sgs, p)
    passes = fit.passes
    # where the stack splits the per-chip batch into accumulation passes, the step runs passes x the micro-batch
    # (train_fit.PRICE_PASSES; rnnt_train.micro_batched, RNN-T's rule); off: one pass at the whole per-chip batch
    priced_passes = passes if train_fit.PRICE_PASSES else 1
    graph_batch = fit.micro_batch if priced_passes > 1 else per_chip
    # the vendor whose software stack the run follows: the chip's, else that of the chip it derives from (a user
    # chip with `base: gaudi2` and no vendor runs Habana's stack like its base; hardware/catalog.vendor_of)
    vendor = vendor_of(chip)
    # Stable Diffusion: the round's own stack where it differs from the v4.0 recipe (validation/sd_round.py)
    sd_stack = sd_round.stack(mlperf_round, vendor) if bench == "stable-diffusion" else None
    g, once, dense = training_graphs(bench, graph_batch, chip, n, sd_round.text_encoder_layers(sd_stack))
    no_input_grad = tuple(fact("train_no_input_grad", bench))
    emb = None
    if bench in dlrm_train.BENCHES and dlrm_train.sharded(bench):  # tables sharded, exchanged all-to-all
        g, emb = dlrm_train.exchange(g, p, chip.family, board, no_input_grad, bench)
    # the group's exposed traffic (halo, gather / split, norm statistics), priced on the one-sample graph
    spatial = unet3d_spatial.group_comm_s(g, p, chip.family, sgs, board, no_input_grad)
    g = unet3d_spatial.per_chip_graph(g, sgs)
    packs, slots = bert_attention.packed_core_shape(graph_batch, int(fact("bert_train", "max_seq_len")),
                                                    float(fact("bert_train", "sequences_per_pack")))
    all_slots = bench == "bert" and bert_mlm.MLM_ALL_SLOTS and bert_mlm.runs_all_slots(
        vendor, software, fact("bert_train", "mlm_all_slots"))
    unfused = bench == "bert" and bert_attention.UNFUSED_BERT_ATTENTION and \
        vendor in fact("bert_train", "unfused_attention_vendors")
    # a config on file running FastUnpadBertAttention (validation/bert_attention.py): the core op by op per sequence
    fast_unpad = bench == "bert" and not unfused and bert_attention.FAST_UNPAD_ATTENTION and \
        bert_config_fusions.config_attention(rule) == "fast_unpad"
    # the stack's FP8 encoder unless the row's config does not pass --use_transformer_engine2 (validation/bert_fp8.py)
    fp8_stack = bench == "bert" and bert_fp8.runs_fp8_config(
        bert_fp8.runs_fp8(vendor, chip.family, fact("bert_train", "fp8_encoder_stacks")), rule)
    fp8 = fp8_stack and bert_fp8.BERT_FP8_ENCODER
    if all_slots:
        g = bert_mlm.all_slot_head(g, packs, slots)  # the masked-LM head over every slot (validation/bert_mlm.py)
    drop_fwd = drop_bwd = None
    if bench == "bert" and bert_dropout.BERT_HIDDEN_DROPOUT:  # training's dropout + residual kernels (validation/bert_dropout.py)
        cfg = speech.BertConfig()
        # the Philox draw at its measured (CUDA) share, except on the stacks priced op by op (Habana's TPC)
        drop_fwd, drop_bwd = bert_dropout.dropout_graphs(g, cfg.hidden, cfg.layers, measured_rng=not unfused)
    cfg_fwd = cfg_bwd = None
    flags = bert_config_fusions.config_flags(rule)
    if fp8 and flags is not None:  # the FP8 layers' LayerNormMLP runs GELU in FC1's epilogue whatever the flag (te_layers)
        flags = flags | {"fused_gemm_gelu"}
    if flags is not None and bert_config_fusions.BERT_CONFIG_FUSIONS:  # the config's unfused kernels (validation/bert_config_fusions.py)
        cfg = speech.BertConfig()
        cfg_fwd, cfg_bwd = bert_config_fusions.unfused_graphs(g, flags, cfg.hidden, cfg.ffn, cfg.layers) or (None, None)
    quant_fwd = quant_bwd = None
    if fp8:  # the encoder in FP8 with its cast kernels (validation/bert_fp8.py)
        g, quant_fwd, quant_bwd = bert_fp8.fp8_encoder(g)
    if priced_passes > 1:  # every per-sample graph run once per pass (its op counts x passes)
        g, once, drop_fwd, drop_bwd, quant_fwd, quant_bwd, cfg_fwd, cfg_bwd = (
            x if x is None or not x.ops else rnnt_train.micro_batched(x, priced_passes, per_chip)
            for x in (g, once, drop_fwd, drop_bwd, quant_fwd, quant_bwd, cfg_fwd, cfg_bwd))
    if unfused or fast_unpad:
        # the stack's attention core op by op: over the packs' 512 slots (Habana), or per sequence at the mean real
        # length with torch's CUDA dropout (FastUnpadBertAttention; validation/bert_attention.py)
        shape = (packs, slots) if unfused else bert_attention.unpadded_core_shape(graph_batch, int(g.meta["seq_len"]))
        g_fwd, g_rest, core_bwd = bert_attention.unfused_attention_split(g, *shape, stream_dropout=unfused)
        t_fwd = graph_time(g_fwd, p, board)
        t_bwd = backward_time(g_rest, p, no_input_grad, board) + graph_time(core_bwd, p, board)
    elif bench == "rnnt":  # the LSTMs' recurrent chains as cuDNN runs them (validation/rnnt_recurrence.py)
        g_rest, chains = rnnt_recurrence.split(g)
        t_fwd = graph_time(g_rest, p, board) + rnnt_recurrence.forward_s(chains, p, chip, board)
        t_bwd = backward_time(g_rest, p, no_input_grad, board) + rnnt_recurrence.backward_s(chains, p, chip, board)
        recurrent_from = rnnt_recurrence.weights_read_from(chains, p, chip)
    else:
        t_fwd = graph_time(g, p, board)
        t_bwd = backward_time(g, p, no_input_grad, board)
    # the kernels the stack runs outside the trained convs, backward (RetinaNet's backbone BN / ReLU / add, Mask R-CNN's
    # drelu_dscale and mask-branch ReLU / transform; validation/conv_unfused_passes.py)
    bb_bwd = conv_unfused_passes.all_passes(g, as_precision(prec), vendor, bench)[1]
    if bb_bwd:
        t_bwd += graph_time(OpGraph(f"{g.name}:backbone_bwd", bb_bwd, g.meta), p, board)
    for fwd_g, bwd_g in ((quant_fwd, quant_bwd), (drop_fwd, drop_bwd), (cfg_fwd, cfg_bwd)):  # kernels with their own backward graphs
        if fwd_g is not None:
            t_fwd += graph_time(fwd_g, p, board)
            t_bwd += graph_time(bwd_g, p, board)
    t_once = graph_time(once, p, board) + spatial["exposed_s"]
    t_rc = recompute_s(bench, g, p, board)  # in the backward, before each block's gradients
    t_copy = head_grad_s(g, p, board)  # detection head (RetinaNet): focal-loss backward + gradient copies
    # the weight update runs after the backward and the gradient reduction (it needs the reduced gradients)
    t_opt = optimizer_s(bench, chip, p, n_dp, dense, sd_stack["weight_update"] if sd_stack else None)
    t_ar, t_exposed = data_parallel_sync_s(bench, p, chip.family, n_dp, dense, t_fwd, t_bwd + t_rc + t_copy, sd_stack)
    if bench == "bert" and vendor in fact("bert_train", "distributed_lamb_vendors"):
        t_ar = bert_gradient_sync_s(p, chip.family, n, dense)
        t_exposed = t_ar  # one gradient block, reduced after the backward: exposed
        if bert_grad_clip.BERT_CLIP_BEFORE_ALLREDUCE:  # the passes over the whole gradient before the reduction
            t_opt += graph_time(bert_grad_clip.clip_graph(dense / 2.0, fact("bert_train", "clip_before_allreduce"),
                                                          mlperf_round), p, board)
    if allreduce_after_backward(bench, vendor):
        t_exposed = t_ar  # NVIDIA's Mask R-CNN / ResNet-50: one all-reduce after the backward, exposed
    # NVIDIA's Mask R-CNN: the GPU idle its eager (uncaptured) calls leave (validation/maskrcnn_host.py); the vendors whose
    # stack is NVIDIA's implementation are those of maskrcnn_train.allreduce_after_backward_vendors (the same trainer)
    host = None
    if bench == "maskrcnn" and maskrcnn_host.MASKRCNN_EAGER_HOST and \
            vendor in fact("maskrcnn_train", "allreduce_after_backward_vendors"):
        host = maskrcnn_host.step_host_idle(chip, g, p, per_chip, t_fwd, t_bwd, t_opt, no_input_grad, board)
    t_host = host["host_idle_s"] if host else 0.0
    t_emb = emb["emb_all_to_all_exposed_s"] if emb else 0.0
    t_step = t_fwd + t_bwd + t_copy + t_rc + t_once + t_exposed + t_opt + t_host + t_emb
    t_read = feature_read_s(g, once, p, n, chip.family) if bench == "rgat" else 0.0
    t_step = max(t_step, t_read)
    out = {"chip": chip.id, "per_chip_batch": per_chip, "samples_to_converge": samples, "step_s": t_step,
           "fwd_s": t_fwd, "bwd_s": t_bwd, "head_grad_s": t_copy, "recompute_s": t_rc, "once_s": t_once, "allreduce_s": t_ar, "optimizer_s": t_opt,
           "samples_per_s": gb / t_step, "feature_read_s": t_read, "n_evals": None, "eval_min": None, "minutes": None}
    if sd_stack:  # a round whose Stable Diffusion stack differs from the v4.0 recipe, said with the answer
        out["sd_stack"] = {"round": mlperf_round, "text_encoder_layers": sd_stack["text_encoder_layers"],
                           "distributed_optimizer": sd_stack["distributed_optimizer"],
                           "source": "other_benchmarks.yaml sd_train.round_stacks (validation/sd_round.py)"}
    if bench == "dlrm":  # whether the stack fuses the MLPs' ReLUs, said with the answer (validation/dlrm_train.fused_mlp)
        out["mlp_relu"] = dlrm_train.fused_mlp(vendor)[1]
    if host:
        out["host_issue"] = host
    if passes > 1:  # the stack's gradient-accumulation passes the memory rule needs (validation/train_fit.py)
        out["accumulation_passes"] = passes
        out["micro_batch"] = fit.micro_batch
        out["priced_as_passes"] = priced_passes > 1
    if bench == "rnnt":
        out["recurrent_weights_from"] = recurrent_from
    if emb:
        out.update(emb)
    if bench == "bert":  # how the stack's graph was priced: shown where the answer is (a vendor / software rule)
        out["bert_graph"] = bert_graph_shown(unfused, all_slots, packs, slots, fp8, fp8_stack, flags, fast_unpad)
    if samples is None:  # no convergence point: throughput only
        return out
    # evaluation passes inside the timed region (other_benchmarks.yaml `train-<bench>`): forward
    # only over the validation set, in global batches of the training size. RetinaNet's frozen
    # layers and R-GAT's feature gather (the `once` graph) run in evaluation too; an R-GAT batch
    # waits for its feature read (overlapped, perf/gnn.py)
    ev = workload_facts().get(f"train-{bench}") or {}
    n_evals, t_eval = 0, 0.0
    if bench == "unet3d":  # sliding-window evaluation from epoch 1000, every 20 epochs (validation/unet3d_train.py)
        e = unet3d_train.evaluation(p, board, n, gb, samples, t_step, prec)
        n_evals, t_eval = e["n_evals"], e["eval_s"]
        out["unet3d"] = {**e["facts"], "spatial_group": sgs, "spatial_group_comm_exposed_s": spatial["exposed_s"]}
    elif ev:
        # the run stops at the evaluation that reaches the target, so the row's convergence point is
        # a whole number of intervals (each a whole number of steps: round, not floor)
        every = eval_interval(ev, gb)
        n_evals = max(1, round(samples / every))
        if bench == "rnnt":  # greedy decoding, the dev set in one batch per chip (validation/rnnt_train.py)
            t_eval = n_evals * rnnt_train.eval_pass_s(p, n, board, chip)
        else:
            eval_pc = eval_batch_per_chip(bench, per_chip, mlperf_round, nodes, vendor)
            fwd_ev, once_ev = t_fwd, t_once  # the evaluation forward at its own batch where the config sets one
            if eval_pc != per_chip:
                g_ev, o_ev = training_graphs(bench, eval_pc, chip, n)[:2]
                fwd_ev, once_ev = graph_time(g_ev, p, board), graph_time(o_ev, p, board)
            t_eval_batch = max(fwd_ev + (once_ev if bench in EVAL_RUNS_ONCE_GRAPH else 0.0), t_read)
            if bench in EVAL_GRAPH:  # its own forward graph (Mask R-CNN: the test-time RoI counts)
                t_eval_batch = graph_time(eval_graph(bench, per_chip), p, board)
            # every rank evaluates its shard of the validation set, eval_pc images per step
            eval_gb = gb if eval_pc == per_chip else n_dp * eval_pc
            t_eval = n_evals * math.ceil(float(ev["eval_samples"]["value"]) / eval_gb) * t_eval_batch
            if eval_pc != per_chip:
                out["eval_batch_per_chip"] = {"value": eval_pc, "source": "other_benchmarks.yaml retinanet_train.eval_batch_per_chip"}
        # the detection stacks' host-side COCO scoring: every evaluation's where synchronous, else the last one's
        # (validation/detection_eval.py)
        scoring = detection_eval.exposed_scoring(bench, vendor, n_evals, float(ev["eval_samples"]["value"]),
                                                 mlperf_round, nodes, submitter)
        if scoring:
            t_eval += scoring["exposed_s"]
            out["eval_scoring"] = scoring
    out.update(n_evals=n_evals, eval_min=t_eval / 60.0, minutes=((samples / gb) * t_step + t_eval) / 60.0)
    return out


def bert_graph_shown(unfused: bool, all_slots: bool, packs: float, slots: int, fp8: bool = False,
                     fp8_stack: bool = False, config_flags: frozenset | None = None, fast_unpad: bool = False) -> dict:
    """Which BERT graph a run was priced on: the attention core (fused per sequence, or unfused over the packs'
    slots: validation/bert_attention.py), the masked-LM head's rows (the masked tokens, or every slot:
    validation/bert_mlm.py), the encoder's GEMM format (`fp8`; `fp8_stack`: the stack ran FP8, priced or not:
    validation/bert_fp8.py) and the element-wise fusions (`config_flags`: the flags of a config on file that passes
    fewer: validation/bert_config_fusions.py; `fast_unpad`: the config's FastUnpadBertAttention core), each with the
    data entry that decides it."""
    return {"attention": (f"unfused over {packs:g} packs x {slots} slots (validation/bert_attention.py)" if unfused
                          else "unfused per sequence, FastUnpadBertAttention (validation/bert_attention.py)" if fast_unpad
                          else "fused, per sequence") + " [other_benchmarks.yaml bert_train.unfused_attention_vendors;"
                         " bert_train.config_settings attention]",
            "mlm_head": (f"every slot ({bert_mlm.all_slot_rows(packs, slots):,} rows, validation/bert_mlm.py)" if all_slots
                         else "masked tokens") + " [other_benchmarks.yaml bert_train.mlm_all_slots: vendor and software]",
            "encoder": ("FP8 GEMMs and attention, Transformer Engine delayed scaling (validation/bert_fp8.py)" if fp8
                        else "16-bit; the stack ran FP8, not priced (validation/bert_fp8.BERT_FP8_ENCODER off)"
                        if fp8_stack else "16-bit") + " [other_benchmarks.yaml bert_train.fp8_encoder_stacks: vendor and chip family;"
                       " bert_train.config_settings fp8_encoder]",
            "fusions": ("fused: all of " + ", ".join(bert_config_fusions.FLAGS) if config_flags is None else
                        "the config passes " + (", ".join(sorted(config_flags)) or "none") + " of " +
                        ", ".join(bert_config_fusions.FLAGS) + "; the rest priced as their own kernels" +
                        ("" if bert_config_fusions.BERT_CONFIG_FUSIONS else
                         " (not priced: validation/bert_config_fusions.BERT_CONFIG_FUSIONS off)")) +
                       " [other_benchmarks.yaml bert_train.config_settings: round, submitter, chip, nodes]"}


def definition(bench: str) -> dict:
    """What the benchmark definition on file fixes for `bench`: its reference global batch (the smallest
    batch of the newest ruleset's RCPs, data/mlperf/rcps.yaml) and the samples to converge there
    (perf/convergence.py: rcp_checker's olympic mean; epochs x train-<bench> epoch_samples), and its
    quality target where on file; each with status and source."""
    if bench in REFUSED:
        raise TapeoutError(REFUSED[bench] + ".")
    if bench not in BENCHMARKS:
        raise TapeoutError(f"unknown non-LLM training benchmark '{bench}'. Known: {', '.join(BENCHMARKS)}.")
    key = f"train-{bench}"
    bs = rcp_batches(key, LATEST)[0]
    conv = converge_at(bench, bs)
    target = (workload_facts().get(key) or {}).get("quality_target")
    return {"global_batch": {"value": bs, "status": "official", "source": conv.source},
            "samples_to_converge": {"value": conv.samples, "at_global_batch": bs, "rule": conv.how,
                                    "status": "official", "source": conv.source},
            "quality_target": (dict(target) if target else
                               {"value": None, "status": "not on file", "source": "other_benchmarks.yaml holds no "
                                f"quality target for {bench}"})}


def converge_at(bench: str, global_batch: int):
    """The newest ruleset's RCP convergence (perf/convergence.Convergence) of `bench` at `global_batch`, or None
    (a batch above its largest RCP on file)."""
    key = f"train-{bench}"
    facts = workload_facts().get(key) or {}
    epoch = float(facts["epoch_samples"]["value"]) if "epoch_samples" in facts else None
    return samples_to_converge(key, int(global_batch), mlperf_round=LATEST, epoch_samples=epoch)
