"""`tapeout train`: LLM training step at cluster scale (and MLPerf Training presets)."""

from __future__ import annotations

import typer

from .. import api
from ..errors import TapeoutError
from .app import app, console, print_json, table


# step-breakdown rows whose key alone does not say the unit
LABELS = {"bubble": "bubble (fraction of step)", "m": "micro-batches per step", "F": "forward, slowest stage, per micro-batch (s)",
          "B": "backward, slowest stage, per micro-batch (s)", "t_dp": "DP gradient sync (s)", "exposed_dp": "exposed DP sync (s)",
          "act": "activations on the fullest chip (bytes)"}
# non-LLM benchmark breakdown rows that are not seconds
def _added_terms(bd: dict) -> list[list]:
    """Step-breakdown rows of the terms a stack or layout adds where they are nonzero: NeMo's per-step work outside
    the schedule (perf/step_fixed_work.py) and the ZeRO-3 gathers an evaluation step exposes (perf/zero3_fetch.py)."""
    fixed = (bd.get("step_fixed_work") or {}).get("total_s") or 0.0
    rows = [["NeMo per-step work outside the schedule (s): grad zeroing, grad-norm and loss all-reduces", fixed]] if fixed else []
    if bd.get("eval_gather_s"):
        rows.append(["ZeRO-3 gathers exposed per evaluation step (s)", bd["eval_gather_s"]])
    return rows


BENCH_LABELS = {"accumulation_passes": "gradient-accumulation passes", "micro_batch": "samples per pass",
                "recurrent_weights_from": "RNN-T recurrent weights read from"}


@app.command("train")
def train_cmd(
    model: str = typer.Option(None, "--model", "-m", help="preset name or config.json"),
    chip: str = typer.Option(..., "--chip", "-c"),
    num_chips: int = typer.Option(8, "--num-chips", "-n"),
    global_batch_tokens: float = typer.Option(None, "--global-batch-tokens", help="tokens per optimizer step; default: "
                                              "with --benchmark gpt3-175b the allowed batch with the smallest time to "
                                              "train (its RCP convergence point), else the benchmark's, else 1024 sequences"),
    seq_len: int = typer.Option(None, "--seq-len"),
    precision: str = typer.Option(None, "--precision", "-p", help="training recipe: bf16, fp8 (TE delayed scaling), fp8-current, mxfp8, nvfp4 (data/precision/training_recipes.yaml); or int8/fp16; default: with --benchmark under its NVIDIA stack, its submissions' (fp8 where the chip has it), else bf16"),
    benchmark: str = typer.Option(None, "--benchmark", help="gpt3-175b | llama2-70b-lora | llama3.1-405b | llama3.1-8b; "
                                  "non-LLM: retinanet | rgat | dlrm-dcnv2 | dlrm | bert | resnet | stable-diffusion | flux1 | rnnt | maskrcnn | unet3d (with "
                                  "--chip, --num-chips, --global-batch only)"),
    global_batch: int = typer.Option(None, "--global-batch", help="with a non-LLM --benchmark: samples per step; "
                                     "default: the batch of its Reference Convergence Point on file (of several, the one with the smallest time to train)"),
    tp: int = typer.Option(None, "--tp"),
    pp: int = typer.Option(None, "--pp"),
    cp: int = typer.Option(None, "--cp", help="context-parallel size"),
    ep: int = typer.Option(None, "--ep", help="expert-parallel size (MoE; may exceed TP and span nodes)"),
    vp: int = typer.Option(None, "--vp", help="virtual pipeline stages per device (interleaved 1F1B); PP x VP <= layers + 2 (a stage may hold only the embedding or only the loss)"),
    mbs: int = typer.Option(None, "--mbs", help="micro-batch size (sequences)"),
    zero: int = typer.Option(None, "--zero", help="ZeRO stage 0-3 (3 = FSDP)"),
    recompute: str = typer.Option(None, "--recompute", help="none | selective | full | dots (XLA checkpoint_dots_with_no_batch_dims, MaxText remat minimal) | dots-except-ffn1 (the dots but FFN1's output: MaxText save_dot_except_mlpwi / save_dot_except_logits_ffn1) | block:k (Megatron-Core --recompute-method block --recompute-num-layers k: first k layers of each model chunk)"),
    shard: int = typer.Option(None, "--shard", help="hybrid sharded DP: ZeRO shard group in DP x CP ranks (e.g. one TPU slice)"),
    pipeline_schedule: str = typer.Option(None, "--pipeline-schedule", help="1f1b (default: Megatron-Core 1F1B, "
                                          "interleaved with --vp) | dualpipe (DeepSeek-V3: bidirectional, EP all-to-all and "
                                          "PP sends overlapped pair by pair; even PP, even micro-batches >= 2 PP)"),
    lora: bool = typer.Option(False, "--lora", help="LoRA fine-tuning (frozen base weights)"),
    tp_overlap: str = typer.Option(None, "--tp-overlap", help="TP comm overlap config (data/software/tp_comm_overlap.yaml), e.g. nemo-lora-fp8-h100-tp4"),
    power_limit: float = typer.Option(None, "--power-limit", help="board power cap in W"),
    chips_per_node: int = typer.Option(None, "--chips-per-node", help="accelerators per server (e.g. an MLPerf system's "
                                       "acc_per_node): below the chip's board its scale-up tier ends at the server "
                                       "(data/clusters/node_boards.yaml); default: the catalog's scale-up domain"),
    rank_spread: float = typer.Option(None, "--rank-spread", help="assumed relative std. dev. of one rank's compute speed (0.02 = 2%); the step waits for the slowest rank (off by default: no sourced size)"),
    cluster: str = typer.Option(None, "--cluster", help="scale-out fabric beyond one zone (data/clusters/clusters.yaml), e.g. meta-rsc-24k; default: non-blocking"),
    rank_order: str = typer.Option(None, "--rank-order", help="rank grouping, innermost first: tp,cp,dp,pp (Megatron default) or tp,cp,pp,dp (Llama 3); default: the cluster's"),
    kernels: str = typer.Option(None, "--kernels", help="price the GEMMs from a measured kernel database: aiconfigurator "
                                "(needs pip install 'tapeout\\[kernels]'; chips of the database only); default: the fitted model"),
    stack: str = typer.Option(None, "--stack", help="training software stack from data/software/training_stacks.yaml "
                              "(nemo-megatron-23.04, nemo-23.09, nemo-24.04; pax-2023-09, maxtext-2024-04 on TPUs) or none; default: with --benchmark, the stack "
                              "of its latest MLPerf round on file (NVIDIA chips), else the model's defaults"),
    fp8_attention: bool = typer.Option(None, "--fp8-attention/--no-fp8-attention", help="FP8 dot-product attention "
                                       "under an FP8 --precision; default: the benchmark's config (gated by the stack), else off"),
    eager_layer: str = typer.Option(None, "--eager-layer", help="layers issued from the CPU (no CUDA graphs): a layer "
                                    "type of data/software/host_issue.yaml (mcore-te-gpt; NVIDIA chips) or none; default: the stack's"),
    host_cpu: str = typer.Option(None, "--host-cpu", help="the eager run's host CPU (host_issue.yaml call_cpu_us); "
                                 "default: the chip's own (Grace superchips), else the reference host, shown as assumed"),
    comm_ctas: int = typer.Option(None, "--comm-ctas", help="CTAs (one core each) an overlapped DP / CP collective "
                                  "occupies; default: the stack's NCCL cap, else NCCL's own channel count where the stack sets no cap "
                                  "(nccl_default_channels), else 0"),
    p2p_blocking_warmup: bool = typer.Option(None, "--p2p-blocking-warmup/--no-p2p-blocking-warmup", help="later "
                                             "Megatron-Core: interleaved warm-up / cool-down sends held (default off)"),
    p2p_forward_send_wait: bool = typer.Option(None, "--p2p-forward-send-wait/--no-p2p-forward-send-wait", help="Megatron-LM "
                                               "260cba71: each steady-state forward send waited on (default off)"),
    fp8_attention_cp: bool = typer.Option(None, "--fp8-attention-cp/--no-fp8-attention-cp", help="FP8 attention inside "
                                          "the context-parallel ring (Transformer Engine >= 1.10); default: the stack's, else on"),
    ep_node_forwarding: bool = typer.Option(None, "--ep-node-forwarding/--no-ep-node-forwarding", help="EP all-to-all "
                                            "once per destination node, forwarded over NVLink (DeepEP; group-limited routing "
                                            "from the model config); default off: one NCCL all-to-all of the k copies"),
    ep_fp8_dispatch: bool = typer.Option(None, "--ep-fp8-dispatch/--no-ep-fp8-dispatch", help="under an FP8 "
                                         "--precision the EP dispatch in FP8 with 1x128 scales, combine BF16 (DeepSeek-V3); "
                                         "default off: BF16 (Megatron-Core)"),
    json_out: bool = typer.Option(False, "--json"),
):
    """Predict step time, tokens/s, MFU and memory per chip; picks the fastest layout that fits."""
    from ..api.other_train import non_llm_benchmark

    if non_llm_benchmark(benchmark):  # RetinaNet, R-GAT, DLRM-DCNv2, BERT, ResNet, SD, Flux.1
        llm_only = {k: v for k, v in locals().items() if k not in ("benchmark", "chip", "num_chips", "global_batch",
                                                                   "chips_per_node", "json_out", "non_llm_benchmark")}
        given = [k for k, v in llm_only.items() if v not in (None, False)]
        if given:
            raise TapeoutError(f"--{given[0].replace('_', '-')} applies to the LLM presets; --benchmark {benchmark} "
                               f"takes --chip, --num-chips, --global-batch and --chips-per-node only.")
        return _print_benchmark(api.train_benchmark(benchmark, chip, num_chips, global_batch,
                                                    chips_per_node=chips_per_node), json_out)
    if global_batch is not None:
        raise TapeoutError("--global-batch (samples) applies to the non-LLM --benchmark presets (retinanet, rgat, "
                           "dlrm-dcnv2, dlrm, bert, resnet, stable-diffusion, flux1, rnnt, maskrcnn, unet3d); LLM runs take --global-batch-tokens.")
    r = api.train(model=model, chip=chip, num_chips=num_chips, global_batch_tokens=global_batch_tokens, seq_len=seq_len,
                  precision=precision, benchmark=benchmark, tp=tp, pp=pp, cp=cp, ep=ep, vp=vp, mbs=mbs, zero=zero,
                  recompute=recompute, lora=lora, power_limit=power_limit, shard=shard,
                  tp_overlap=tp_overlap, rank_spread=rank_spread, cluster=cluster, rank_order=rank_order, kernels=kernels,
                  stack=stack, fp8_attention=fp8_attention, eager_layer=eager_layer, host_cpu=host_cpu, comm_ctas=comm_ctas,
                  p2p_blocking_warmup=p2p_blocking_warmup, p2p_forward_send_wait=p2p_forward_send_wait,
                  fp8_attention_cp=fp8_attention_cp, pipeline_schedule=pipeline_schedule,
                  ep_node_forwarding=ep_node_forwarding, ep_fp8_dispatch=ep_fp8_dispatch, chips_per_node=chips_per_node)
    d = r.to_dict()
    if json_out:
        print_json(d)
        return
    keys = ["model", "chip", "num_chips", "precision", "parallelism", "step_time_s", "tokens_per_s", "mfu",
            "memory_gib_per_chip", "capacity_gib_per_chip", "time_to_train_min"]
    console.print(table("training prediction", ["metric", "value"], [[k, d.get(k)] for k in keys if d.get(k) is not None]))
    gb = d.get("global_batch")
    if gb:  # a benchmark run: its batch, where it came from, the samples it converges in, the runners-up
        cv = gb["convergence"]
        rows = [[f"{gb['sequences']:,} (run)", d["parallelism"], f"{cv['samples_to_converge']:,.0f}", f"{d['time_to_train_min']:.3f}"]]
        rows += [[f"{p['sequences']:,}", p["parallelism"], f"{p['samples_to_converge']:,.0f}", f"{p['time_to_train_min']:.3f}"]
                 for p in gb["runners_up"]]
        console.print(table("global batch (sequences)", ["batch", "layout", "samples to converge", "time to train (min)"], rows,
                            caption=f"batch: {gb['from']}; samples to converge: {cv['rule']}, {cv['source']}"))
    bd = d["breakdown"]
    st = d["stack"]  # every stack setting that shaped the answer, and where it came from (api/train_settings.py)
    console.print(table(f"software stack: {st['name'] or 'none (model defaults)'}", ["setting", "value", "from"],
                        [[x["setting"], x["value"], x["from"]] for x in st["settings"]], caption=st["origin"]))
    if bd.get("host_issue"):  # an eager run: the host's issue time per layer and the GPU idle it leaves
        hi = bd["host_issue"]
        console.print(table("eager host issue (perf/host_issue.py)", ["item", "value"],
                            [["host CPU", hi["host_cpu"]], ["CPU per layer fwd / bwd (ms)",
                              f"{hi['cpu_per_layer_fwd_ms']:.3g} / {hi['cpu_per_layer_bwd_ms']:.3g}"],
                             ["GPU idle per step (ms)", hi["gpu_idle_per_step_ms"]]]))
    for n in d.get("notes") or []:
        console.print(f"[yellow]note:[/yellow] {n}")
    prec = bd.get("precision")
    if prec:
        scaling = "no scaling" if prec["scaling"] in (None, "none") else f"{prec['scaling']} scaling"
        console.print(table(f"precision recipe {prec['recipe']} ({scaling})", ["op class", "ran", "bytes/elem", "note"],
                            [[c["op_class"], c["ran"], f"{c['bytes_per_elem']:.4g}", c["note"]] for c in prec["op_classes"]]))
    console.print(table("exposed communication per step (s)", ["collective", "seconds"],
                        [[k, v] for k, v in (bd.get("exposed_comm_s") or {}).items()]))
    console.print(table("step breakdown", ["item", "value"], [[LABELS.get(k, k), bd[k]] for k in ("m", "F", "B", "bubble", "stage_layers", "t_dp", "exposed_dp",
                                                                                   "optimizer", "act", "train_min", "eval_min", "n_evals")
                                                                                   if k in bd] + _added_terms(bd)))
    if bd.get("zone_share"):  # --cluster: the NIC share of flows leaving a zone (perf/zone_share.py)
        console.print(table("cross-zone NIC share", ["group", "share (1 = not slowed)"],
                            [[k, f"{v:.3f}"] for k, v in bd["zone_share"].items()]))
    if bd.get("rank_spread"):
        rs = bd["rank_spread"]
        console.print(table("slowest-rank pace (perf/rank_spread.py)", ["item", "value"],
                            [["ranks waited for", rs["ranks"]], ["per-rank sigma", rs["sigma_persistent"]],
                             ["E[max z]", rs["expected_max_z"]], ["compute slowdown", rs["slowdown"]],
                             ["added per step (s)", rs["added_s"]], ["source", rs["source"]]]))


def _print_benchmark(r, json_out: bool) -> None:
    """A non-LLM MLPerf Training run: its definition (with sources), step breakdown, time to train."""
    d = r.to_dict()
    if json_out:
        print_json(d)
        return
    q = d["quality_target"]
    rows = [["benchmark", d["benchmark"], ""], ["chip", f"{d['num_chips']} x {d['chip']}", ""],
            ["global batch (samples)", d["global_batch"], d["global_batch_from"]],
            ["samples to converge", "not on file" if d["samples_to_converge"] is None else f"{d['samples_to_converge']:,.0f}",
             d["samples_to_converge_from"]],
            ["convergence target", q["value"] if q["value"] is not None else "not on file", f"{q['status']}: {q['source']}"],
            ["samples/s", f"{d['samples_per_s']:,.1f}", ""], ["step time (s)", f"{d['step_time_s']:.4g}", ""]]
    if d["time_to_train_min"] is not None:
        rows.append(["time to train (min, incl. evaluation)", f"{d['time_to_train_min']:.3f}", ""])
    console.print(table("MLPerf Training prediction", ["item", "value", "from"], rows,
                        caption=f"RCP source: {d['definition']['samples_to_converge']['source']}"))
    bd = d["breakdown"]
    console.print(table("step breakdown (s)", ["item", "value"],
                        [[BENCH_LABELS.get(k, k), bd[k]] for k in ("per_chip_batch", "accumulation_passes", "micro_batch", "fwd_s",
                                              "bwd_s", "head_grad_s", "recompute_s", "once_s", "allreduce_s", "optimizer_s",
                                              "emb_all_to_all_s", "emb_all_to_all_exposed_s", "feature_read_s", "n_evals",
                                              "eval_min", "recurrent_weights_from") if bd.get(k) is not None]))
    if bd.get("bert_graph"):  # which graph the stack's BERT was priced on (validation/other_training.bert_graph_shown)
        console.print(table("BERT graph priced", ["part", "as"], [[k, v] for k, v in bd["bert_graph"].items()]))
    if bd.get("host_issue"):  # NVIDIA Mask R-CNN: the GPU idle its uncaptured eager calls leave (validation/maskrcnn_host.py)
        h = bd["host_issue"]
        console.print(table("eager host issue outside the CUDA graph (validation/maskrcnn_host.py)", ["item", "value"],
                            [["GPU idle per step (s)", h["host_idle_s"]], ["eager calls (forward / backward)",
                             f"{h['eager_calls']['forward']} / {h['eager_calls']['backward']}"], ["host syncs per step", h["syncs"]],
                             ["CPU per call (us)", f"{h['call_cpu_us']:.2f}"], ["host CPU", h["host_cpu"]], ["source", h["source"]]]))
    if bd.get("eval_scoring"):  # the detection stacks' host-side COCO scoring inside the run (validation/detection_eval.py)
        e = bd["eval_scoring"]
        console.print(table("host COCO scoring of the evaluations (validation/detection_eval.py)", ["item", "value"],
                            [["metric types", ", ".join(e["iou_types"])], ["one scoring (s)", f"{e['scoring_s']:.1f}"],
                             ["synchronous", "yes: every evaluation waits" if e["synchronous"] else "no: only the last is in the run"],
                             ["scorings in the run", e["exposed_evals"]], ["in the run (s)", f"{e['exposed_s']:.1f}"],
                             ["source", e["source"]]]))
    if bd.get("unet3d"):  # the definition's facts the 3D U-Net run was priced with (validation/unet3d_train.py)
        console.print(table("3D U-Net definition priced", ["fact", "value"], [[k, v] for k, v in bd["unet3d"].items()]))
    for n in d.get("notes") or []:
        console.print(f"[yellow]note:[/yellow] {n}")
