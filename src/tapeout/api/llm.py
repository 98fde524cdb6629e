"""LLM serving, its per-op explanation, and training: the functions behind `tapeout serve`,
`tapeout explain` and `tapeout train` (the CLI prints what these return)."""

from __future__ import annotations

from ..errors import TapeoutError, unknown_name_error
from .args import check_context, check_flags, check_numbers, check_texts, option_name
from .results import ExplainResult, ServeResult, TrainResult


def _capped(chip: str, power_limit: float | None) -> str:
    from ..hardware.catalog import get_chip

    return get_chip(chip).power_capped(power_limit).id if power_limit is not None and chip else chip


def on_server(chip: str, chips_per_node: int | None, num_chips: int | None = None) -> str:
    """The chip in a server of `chips_per_node` accelerators (hardware/node.on_node: its scale-up domain ends
    at the server where the tier lives in it); `chip` itself without a node size. A job of `num_chips` fills
    whole servers: more chips than one server that are not a whole number of them are refused (every
    collective group is split into equal scale-up domains, hardware/topology.Topology.split). A server smaller than
    the domain of a chip whose tier is known to end at its board (a smaller board on file: HGX H100 4-GPU) but of a
    size no board on file has (1 H100 SXM) is refused: no wiring on file prices it, and the catalog's 8-chip domain
    would price NVLink peers the server does not hold."""
    from ..hardware.catalog import get_chip
    from ..hardware.node import board_sizes, catalog_domain, on_node

    if chips_per_node is None or not chip:
        return chip
    if num_chips is not None and num_chips > chips_per_node and num_chips % chips_per_node:
        raise TapeoutError(f"--chips-per-node {chips_per_node} does not divide --num-chips {num_chips}: the job fills "
                           f"whole servers of equal size; give a --num-chips that is a multiple of {chips_per_node}, or "
                           f"another --chips-per-node.")
    c = get_chip(chip)
    domain = catalog_domain(c)
    if chips_per_node > domain and chips_per_node % domain:  # Topology.split: equal scale-up domains per group
        raise TapeoutError(f"--chips-per-node {chips_per_node} is not a whole number of {c.id}'s {domain}-chip scale-up "
                           f"domains (catalog scaleup_domain_size): a server above the domain holds whole domains; give "
                           f"a multiple of {domain}, or at most {domain}.")
    boards = board_sizes(c)
    if chips_per_node < domain and boards and on_node(c, chips_per_node) is c:
        raise TapeoutError(f"--chips-per-node {chips_per_node}: no server of {chips_per_node} {c.id} is on file; its "
                           f"scale-up tier ends at its board: the catalog's {domain}-chip domain (scaleup_domain_size), or a "
                           f"board of {' or '.join(map(str, boards))} (data/clusters/node_boards.yaml): give "
                           f"{', '.join(map(str, boards))} or {domain} (or a multiple of {domain}).")
    return on_node(c, chips_per_node).id


def server_notes(chip: str, power_limit: float | None, chips_per_node: int | None) -> list[str]:
    """What a --power-limit or --chips-per-node that left `chip` (the catalog id asked) as it was did not do, said
    with the answer: a limit at or above the TDP caps nothing (Chip.power_capped); a server smaller than the
    catalog board with no board of that size on file keeps the catalog's scale-up domain (hardware/node.on_node:
    a tier spanning servers, or a board not in data/clusters/node_boards.yaml)."""
    from ..hardware.catalog import get_chip
    from ..hardware.node import catalog_domain, on_node

    c, notes = get_chip(chip), []
    tdp = c.get("tdp_w")
    if power_limit is not None and isinstance(tdp, (int, float)) and power_limit >= tdp:
        notes.append(f"--power-limit {power_limit:g} W is at or above {c.id}'s {tdp:g} W TDP: no cap applied")
    domain = catalog_domain(c)
    if chips_per_node is not None and chips_per_node < domain and on_node(c, chips_per_node) is c:
        notes.append(f"--chips-per-node {chips_per_node}: no server of {chips_per_node} {c.id} on file "
                     f"(data/clusters/node_boards.yaml) and its scale-up tier may span servers: priced on the catalog's "
                     f"{domain}-chip scale-up domain")
    if chips_per_node is not None and chips_per_node > domain:  # legitimate (8 PCIe cards in bridged pairs), changes nothing
        notes.append(f"--chips-per-node {chips_per_node}: a server of {chips_per_node // domain:,} scale-up domains of "
                     f"{domain} {c.id} (catalog scaleup_domain_size); priced on the {domain}-chip domain as without "
                     f"--chips-per-node (the server size changes nothing above the domain)")
    return notes


def _serving(model, chip, num_chips, precision, input_len, output_len, batch, tp, kv_precision, sparsity,
             images_per_request=0, image_size=448, stack=None, fitted=None):
    from ..perf.llm import serve as engine

    if sparsity and sparsity not in ("none", "dense"):
        try:
            from ..quant import serve_with_compression
        except ImportError:
            raise TapeoutError("--sparsity needs the compression stage (tapeout.quant), which is not installed.") from None
        return serve_with_compression(model, chip, num_chips, precision, kv_precision, sparsity,
                                      input_len=input_len, output_len=output_len, batch=batch, tp=tp)
    return engine(model, chip, num_chips, precision, input_len, output_len, batch=batch, tp=tp, kv_precision=kv_precision,
                  images_per_request=images_per_request, image_size=image_size, stack=stack, fitted=fitted)


def serve(model: str | None = None, chip: str | None = None, num_chips: int = 1, precision: str = "bf16",
          input_len: int | None = None, output_len: int | None = None, batch: int | None = None,
          tp: int | None = None, max_batch: int | None = None, kv_precision: str | None = None,
          sparsity: str | None = None, benchmark: str | None = None, scenario: str = "offline", power_limit: float | None = None,
          images_per_request: int = 0, image_size: int = 448, stack: str | None = None,
          kernels: str | None = None) -> ServeResult:
    """Predict LLM serving throughput and latency on `num_chips` chips (`tapeout serve`).

    Args:
        model: preset name (`tapeout.load_model`) or path to a Hugging Face config.json.
        chip: catalog id or alias, or the id of a chip added with `register_chip`.
        num_chips: accelerators in the deployment (replicas x model-parallel group).
        precision: weight/GEMM number format (bf16, fp8, int8, int4, ...).
        input_len: prompt length in tokens (None: 1024; with `benchmark`: its dataset's).
        output_len: generated tokens per request (None: 256; with `benchmark`: its dataset's).
        batch: sequences per replica (None: the largest that fits and helps).
        tp: tensor-parallel degree (None: the fastest layout).
        max_batch: with `benchmark`: sequences per engine as a runtime setting (Offline fills it where the KV cache allows).
        kv_precision: KV-cache format (None: as `precision`'s policy).
        sparsity: "2:4" or "unstructured:0.5" (needs the compression stage).
        benchmark: MLPerf preset (llama2-70b, mixtral-8x7b, ...) instead of model/lengths.
        scenario: with `benchmark`: offline, server or interactive.
        power_limit: board power cap in W (e.g. an MLPerf MaxQ setting).
        images_per_request: images per request, for a vision-language model (qwen2.5-vl-7b):
            their tokens are added to `input_len` and their vision encoder runs in the prefill.
        image_size: side of each (square) image in pixels (the processor rounds it to 28 px).
        stack: serving stack (data/software/serving_stacks.yaml: tensorrt-llm-0.x, vllm, ...; None: the
            default): the parallelism it supports, its all-reduce dispatch and KV cache.
        kernels: "aiconfigurator": calibrate the chip on its own measured kernels in NVIDIA's kernel database
            (aiconfigurator-core, needs pip install 'tapeout[kernels]'; chips of the database only), as
            `tapeout validate --kernels aiconfigurator` does; None: the shipped microbenchmark calibration.

    Returns:
        ServeResult: `output_tokens_per_s` (output tokens/s of the deployment), `ttft_s` and
        `tpot_s` (s), `memory_gib_per_chip` (GiB), `power_w_per_chip` (W),
        `joules_per_token` (J per output token), `parallelism`, `bound`, `image_tokens_per_request`
        (tokens), `encoder_s_per_request` (s per request on one replica), ...

    Raises:
        TapeoutError: bad input, with the message `tapeout serve` prints.
    """
    check_texts(model=model, chip=chip, precision=precision, kv_precision=kv_precision, sparsity=sparsity,
                benchmark=benchmark, scenario=scenario, stack=stack, kernels=kernels)
    if benchmark:  # the benchmark defines these: a value given with it would be silently ignored
        from ..perf.mlperf import inference_benchmark

        inference_benchmark(benchmark)  # an unknown name first (the known ones listed), before what it would set
        given = [o for o, v in (("--model", model), ("--input-len", input_len), ("--output-len", output_len),
                                ("--batch", batch), ("--kv-precision", kv_precision), ("--sparsity", sparsity),
                                ("--images-per-request", images_per_request or None)) if v is not None]
        if given:
            raise TapeoutError(f"{given[0]}: --benchmark {benchmark} sets the model, the dataset's lengths and the "
                               f"formats; drop {given[0]} (--max-batch / --tp pin the engine), or drop --benchmark.")
    elif max_batch is not None or scenario != "offline":  # these set the benchmark's engine and traffic only
        given = "--max-batch" if max_batch is not None else f"--scenario {scenario}"
        raise TapeoutError(f"{given} applies to an MLPerf run: add --benchmark NAME (e.g. llama2-70b), or drop it "
                           "(without --benchmark serve predicts the offline maximum throughput; --batch sets the "
                           "sequences per replica).")
    input_len = 1024 if input_len is None else input_len
    output_len = 256 if output_len is None else output_len
    check_numbers("serve", num_chips=num_chips, input_len=input_len, output_len=output_len, batch=batch, tp=tp,
                  max_batch=max_batch, power_limit=power_limit, images_per_request=images_per_request,
                  image_size=image_size)
    fitted, kernel_note = kernel_serving_fit(kernels, chip, power_limit)
    if chip and power_limit is not None:  # a limit at or above the TDP caps nothing: said with the answer
        kernel_note = "; ".join(n for n in (kernel_note, *server_notes(chip, power_limit, None)) if n)
    chip = _capped(chip, power_limit)
    if stack is not None:
        from ..perf.stacks import stack as stack_entry

        stack_entry(stack)  # an unknown name is refused here, naming the stacks on file
    if benchmark:
        from ..perf.mlperf import serve_benchmark  # MLPerf presets (LLM at scale)

        r = serve_benchmark(benchmark, chip, num_chips, scenario=scenario, precision=precision if precision != "bf16" else None,
                            tp=tp, max_batch=max_batch, stack=stack, fitted=fitted)
        return ServeResult(_with_note(r if isinstance(r, dict) else r.as_dict(), kernel_note))
    if not model or not chip:
        raise TapeoutError("--model and --chip are required (or --benchmark with --chip).")
    if images_per_request and sparsity and sparsity not in ("none", "dense"):
        raise TapeoutError("--images-per-request cannot be combined with --sparsity yet; drop one of them.")
    image_tokens = _image_tokens(model, images_per_request, image_size)
    check_context(model, input_len + image_tokens + output_len,
                  "--input-len + image tokens + --output-len" if image_tokens else "--input-len + --output-len")
    if fitted is not None and sparsity and sparsity not in ("none", "dense"):
        raise TapeoutError("--kernels cannot be combined with --sparsity yet (the compression stage prices its own "
                           "kernels); drop one of them.")
    return ServeResult(_with_note(_serving(model, chip, num_chips, precision, input_len, output_len, batch, tp, kv_precision,
                                           sparsity, images_per_request, image_size, stack, fitted).as_dict(), kernel_note))


def kernel_serving_fit(kernels: str | None, chip: str | None, power_limit: float | None) -> tuple[dict | None, str]:
    """(calibration, note) of `tapeout serve --kernels`: the chip refitted on its own measured kernels
    (perf/kernel_calibration.build, the `validate --kernels` calibration); (None, "") without `kernels`."""
    if kernels is None:
        return None, ""
    from ..perf.gemm_table import check_kernels

    check_kernels(kernels)
    if not chip:
        raise TapeoutError("--kernels needs --chip (a chip of the kernel database).")
    if power_limit is not None:
        raise TapeoutError("--kernels with --power-limit: the kernel database timed each chip at its full board power; "
                           "drop one of them.")
    from ..hardware.catalog import get_chip
    from ..perf.kernel_calibration import build
    from ..perf.kernels_db import db_config

    cid = get_chip(chip).id
    known = sorted({e["chip"] for e in db_config()["systems"].values()})
    if cid not in known:
        raise TapeoutError(f"--kernels aiconfigurator: the kernel database has no kernels of '{cid}'; use one of "
                           f"{', '.join(known)}, or drop --kernels (the shipped calibration).")
    fitted = build(chips=[cid])
    src = fitted["kernel_db"]["source"]
    e = src["chips"].get(cid, {})
    versions = ", ".join(f"{op} {v}" for op, v in e.get("stack_versions", {}).items())
    return fitted, (f"--kernels: {cid} calibrated on its own measured kernels ({src['package']} "
                    f"{src['package_version']}, stack {e.get('stack')}: {versions}); the serving engine around them is "
                    "the same model")


def _with_note(d: dict, note: str) -> dict:
    """The result's dict with `note` appended to its notes ('' adds nothing)."""
    return {**d, "notes": [*(d.get("notes") or []), note]} if note else d


def _image_tokens(model: str, images: int, image_size: int) -> int:
    """Image tokens per request (0 without images); refuses a text-only model or a bad image."""
    if not images:
        return 0
    from ..perf.llm import vision_load
    from ..workloads.llm_config import load_llm

    return vision_load(model, load_llm(model), images, image_size).tokens_per_request


def explain(model: str, chip: str, num_chips: int = 1, precision: str = "bf16", input_len: int = 1024,
            output_len: int = 256, batch: int | None = None, tp: int | None = None, kv_precision: str | None = None,
            phase: str = "decode", images_per_request: int = 0, image_size: int = 448) -> ExplainResult:
    """Per-op table of one serving step at the layout `serve` picks (`tapeout explain`).

    Arguments as `serve`; `phase` is "decode" (one token per sequence, at the mean context
    input_len + output_len/2) or "prefill" (one chunk of prompts). With `images_per_request`
    (a vision-language model) the image tokens join the prompt and `vision_encoder` holds the
    encoder's per-op table for one request's images (the time `serve` adds to the prefill).

    Returns:
        ExplainResult: `ops` rows (op, kind, count, op_class, format that ran, fell_back,
        gflops in GFLOP, dram_mb in MB, bound, time_ms in ms, energy_j in J, share of the step),
        `formats` (per op class: asked, ran, bytes per element, fell back, note), `step_time_s` (s), `energy_j` (J),
        `assumptions` (layout, batch, calibration and datasheet sources, the serving notes), `serving`.
    """
    import numpy as np

    from ..hardware.catalog import get_chip
    from ..perf.llm import PREFILL_CHUNK_TOKENS, step_costs
    from ..perf.llm import serve as engine

    check_texts(model=model, chip=chip, precision=precision, kv_precision=kv_precision, phase=phase)
    check_numbers("explain", num_chips=num_chips, input_len=input_len, output_len=output_len, batch=batch, tp=tp,
                  images_per_request=images_per_request, image_size=image_size)
    if phase not in ("decode", "prefill"):
        raise TapeoutError(f"--phase must be decode or prefill, got '{phase}'.")
    image_tokens = _image_tokens(model, images_per_request, image_size)
    check_context(model, input_len + image_tokens + output_len,
                  "--input-len + image tokens + --output-len" if image_tokens else "--input-len + --output-len")
    r = engine(model, chip, num_chips, precision, input_len, output_len, batch=batch, tp=tp, kv_precision=kv_precision,
               images_per_request=images_per_request, image_size=image_size)
    prompt = input_len + image_tokens  # image tokens enter the prompt like text tokens
    mb = max(1, round(r.batch_size / r.pp))  # sequences per pipeline micro-batch
    b = mb if phase == "decode" else max(1, min(mb, PREFILL_CHUNK_TOKENS // prompt))
    ct = step_costs(model, chip, precision, phase, b, prompt, output_len, r.tp, r.ep, kv_precision)
    total = float(ct.total_time)
    rows = op_rows(ct, {f["op_class"]: f["fell_back"] for f in r.formats})
    c = get_chip(chip)
    from ..perf.calibration import calibrated_params

    p = calibrated_params(c)
    assumptions = {
        "parallelism": r.parallelism, "batch": b, "phase": phase, "context_tokens": input_len + output_len // 2 if phase == "decode" else 0,
        "calibration": p.calibration_source, "peak_source": c.source_of(f"{'fp8' if 'fp8' in precision else 'bf16'}_tflops_dense"),
        "memory_bandwidth_source": c.source_of("memory_bandwidth_tbps"),
        "kernel_overhead_us": float(np.max(p.kernel_overhead)) * 1e6,
    }
    if image_tokens:
        assumptions["image_tokens_per_request"] = image_tokens
    if r.notes:  # the serving notes: formats that fell back, an assumed TDP, config fields priced approximately
        assumptions["notes"] = " | ".join(r.notes)
    out = {"ops": rows, "formats": r.formats, "step_time_s": total, "energy_j": float(ct.total_energy),
           "assumptions": assumptions, "serving": r.as_dict()}
    if images_per_request:
        out["vision_encoder"] = _encoder_table(model, images_per_request, image_size, precision, p, r)
    return ExplainResult(out)


def _encoder_table(model: str, images: int, image_size: int, precision: str, params, r) -> dict:
    """The vision encoder's per-op table for one request's images on one chip; its time split
    over the replica's TP group is the `encoder_s_per_request` serve charges (perf/vlm.py)."""
    from ..perf.llm import vision_load
    from ..perf.opcost import evaluate
    from ..workloads.llm_config import load_llm
    from ..workloads.vlm import vision_graph

    load = vision_load(model, load_llm(model), images, image_size)
    ct = evaluate(vision_graph(load.spec, images, image_size, precision), params)
    return {"images_per_request": images, "image_size": image_size, "image_tokens_per_request": load.tokens_per_request,
            "tp": r.tp, "time_s_per_request": r.encoder_s_per_request, "ops": op_rows(ct)}


def op_rows(ct, fell: dict | None = None) -> list[dict]:
    """The rows of an explain table from a CostTable (one chip): per op its kind, count, op
    class, format, fell back (per op class in `fell`), GFLOP, DRAM MB, bound, time in ms,
    energy in J and share of the total time (counts applied)."""
    from ..formats import op_class, op_format
    from ..ops import OP_KINDS
    from ..perf.opcost import BOUNDS

    t = ct.table
    total = float(ct.total_time)
    fell = fell or {}
    rows = []
    for i, name in enumerate(t.names):
        cnt = t.count[i]
        tm = float(ct.time[i]) * cnt
        cls = op_class(t.ops[i])
        rows.append({
            "op": name, "kind": OP_KINDS[t.kind[i]], "count": float(cnt) if cnt != int(cnt) else int(cnt), "op_class": cls,
            "format": op_format(t.ops[i]), "fell_back": bool(fell.get(cls, False)),
            "gflops": float(t.flops[i]) * cnt / 1e9, "dram_mb": float(ct.dram_bytes[i]) * cnt / 1e6,
            "bound": BOUNDS[int(ct.bound[i])], "time_ms": tm * 1e3, "energy_j": float(ct.energy[i]) * cnt,
            "share": tm / total if total else 0.0,
        })
    return rows


def llm_benchmarks() -> tuple[str, ...]:
    """The LLM MLPerf Training presets `train` runs (benchmarks.yaml training)."""
    from ..perf.mlperf import benchmarks

    return tuple(benchmarks()["training"])


def train(model: str | None = None, chip: str | None = None, num_chips: int = 8, global_batch_tokens: float | None = None,
          seq_len: int | None = None, precision: str | None = None, benchmark: str | None = None, tp: int | None = None,
          pp: int | None = None, cp: int | None = None, ep: int | None = None, vp: int | None = None,
          mbs: int | None = None, zero: int | None = None, recompute: str | None = None, lora: bool = False,
          power_limit: float | None = None, shard: int | None = None, tp_overlap: str | None = None,
          rank_spread: float | None = None, cluster: str | None = None, rank_order: str | None = None,
          kernels: str | None = None, stack: str | None = None, fp8_attention: bool | None = None,
          eager_layer: str | None = None, host_cpu: str | None = None, comm_ctas: int | None = None,
          p2p_blocking_warmup: bool | None = None, p2p_forward_send_wait: bool | None = None,
          fp8_attention_cp: bool | None = None, pipeline_schedule: str | None = None,
          ep_node_forwarding: bool | None = None, ep_fp8_dispatch: bool | None = None,
          chips_per_node: int | None = None) -> TrainResult:
    """Predict an LLM training step at cluster scale (`tapeout train`); picks the fastest
    layout (TP x PP x DP, ZeRO, recompute) that fits.

    Args:
        model: preset name or config.json (optional with `benchmark`).
        chip: catalog id or alias.
        num_chips: accelerators in the job.
        global_batch_tokens: tokens per optimizer step (default 1024 sequences of `seq_len`; with a benchmark
            that has a global_batch_range and RCPs, the batch in that range with the smallest time to train,
            api/train_batch.py, shown in the result's `global_batch` with its runners-up; else its batch).
        seq_len: sequence length in tokens (default 2048, or the benchmark's).
        precision: training recipe (bf16, fp8 = TE delayed scaling, fp8-current, mxfp8, nvfp4;
            data/precision/training_recipes.yaml; bfloat16 = bf16) or a GEMM dtype (int8, fp16); anything else
            (mxfp4, int4, fp32, w4a16, ...) is refused, a serving spelling of a recipe's format (float8,
            fp8e4m3, w8a8) with the recipe it may mean. None: with `benchmark`
            under its NVIDIA stack, the precision its submissions ran (FP8 where the chip has it,
            benchmarks.yaml precision_rules.training), else bf16; shown in the result's `stack`.
        benchmark: MLPerf Training preset (gpt3-175b, llama2-70b-lora, llama3.1-405b,
            llama3.1-8b; the non-LLM ones, retinanet ... stable-diffusion: `train_benchmark`): adds `time_to_train_min` including evaluation passes, training to the
            convergence point of the run's batch (the benchmark's RCPs, data/mlperf/rcps.yaml, where on file).
        tp: tensor-parallel degree (None: best).
        pp: pipeline-parallel degree (None: best).
        cp: context-parallel size (None: the search picks it, as for the layout options below).
        ep: expert-parallel size (MoE; may exceed TP and span nodes).
        vp: virtual pipeline stages per device (interleaved 1F1B).
        mbs: micro-batch size in sequences.
        zero: ZeRO stage 0-3 (3 = FSDP).
        recompute: none | selective | full | dots (XLA checkpoint_dots_with_no_batch_dims) | dots-except-ffn1 | block:k
            (Megatron-Core --recompute-method block --recompute-num-layers k: the first k layers of each
            model chunk recomputed, 1 <= k < layers per chunk).
        lora: LoRA fine-tuning (frozen base weights).
        power_limit: board power cap in W.
        chips_per_node: accelerators per server (None: the catalog's scale-up domain); fewer than the chip's
            board end its scale-up tier at the server (hardware/node.py, data/clusters/node_boards.yaml).
        pipeline_schedule: "1f1b" (None, the default: Megatron-Core 1F1B, interleaved with vp) or
            "dualpipe" (DeepSeek-V3's bidirectional schedule, its EP all-to-all and PP sends overlapped
            pair by pair; even PP, an even number of micro-batches >= 2 PP; perf/dualpipe.py).
        shard: hybrid sharded DP: the ZeRO shard group in DP x CP ranks (e.g. one TPU slice or
            node); gradients are then all-reduced across the replicas (None: the whole DP group).
        tp_overlap: a stack's TP communication overlap (Transformer Engine userbuffers), by name
            from data/software/tp_comm_overlap.yaml (None: TP collectives after their GEMMs).
        rank_spread: assumed relative standard deviation of one rank's compute speed (0.02 = 2%,
            chip-to-chip and step-to-step together); the step then waits for the slowest of
            `num_chips` ranks (perf/rank_spread.py). None (default): no spread; no sourced size on file.
        cluster: scale-out fabric beyond one zone, by name from data/clusters/clusters.yaml (e.g.
            meta-rsc-24k: pods of 3,072 GPUs joined at 1:7); flows leaving a zone share its uplinks
            (perf/zone_share.py). None (default): one non-blocking fabric.
        rank_order: order the ranks are grouped in, innermost first, e.g. "tp,cp,pp,dp" (Llama 3) or
            "tp,cp,dp,pp" (Megatron-Core's default); None: the cluster's, else Megatron's.
        kernels: "aiconfigurator": price the dense GEMMs from the chip's measured kernel table
            (aiconfigurator-core, needs pip install 'tapeout[kernels]'; chips of the database only;
            perf/gemm_table.py); the breakdown's `gemm_source` names the database version.
            None (default): the fitted kernel model.
        stack: a training software stack by name from data/software/training_stacks.yaml (e.g.
            nemo-24.04; its wired features shape the run, as for the validation rows), or "none" for the
            model's defaults. None: with `benchmark`, the stack of the benchmark's latest MLPerf round on
            file (on its vendor's chips; e.g. nemo-24.04 for gpt3-175b and llama2-70b-lora) with the
            records its submissions' configs hold for every chip (benchmarks.yaml submission_layouts);
            else the defaults. The result's `stack` lists every setting used and where it came from.
        fp8_attention: FP8 dot-product attention (Transformer Engine fp8_dpa) under an FP8 --precision;
            None: the benchmark's config (gated by the stack), else off.
        eager_layer: the run issues its layers from the CPU (no CUDA graphs): a layer type of
            data/software/host_issue.yaml (mcore-te-gpt; NVIDIA chips), "none" for off; None: the stack's.
        host_cpu: the eager run's host CPU (host_issue.yaml call_cpu_us); None: the chip's own, else
            the reference host (shown as assumed). Only with an eager layer.
        comm_ctas: CTAs (one core each) an overlapped DP / CP collective occupies (0: free); None: the
            stack's NCCL cap, else NCCL's own channel count where the stack's runs set no cap
            (nccl_default_channels, perf/nccl_channels.py), else 0. A given count replaces NCCL's.
        p2p_blocking_warmup, p2p_forward_send_wait: later Megatron-Core's held interleaved-pipeline
            sends (perf/pipeline_p2p.py); None: off.
        fp8_attention_cp: FP8 attention inside the context-parallel ring (Transformer Engine >= 1.10);
            None: the stack's, else on.
        ep_node_forwarding: EP dispatch / combine once per destination node over the NIC, forwarded over
            NVLink (DeepEP; perf/stack_features); None: off (one NCCL all-to-all of the k copies).
        ep_fp8_dispatch: EP dispatch in FP8 with 1 x 128 scales under an FP8 recipe (DeepSeek-V3); None: off (BF16).

    Returns:
        TrainResult: `step_time_s` (s), `tokens_per_s` (training tokens/s of the job), `mfu`
        (fraction of peak), `memory_gib_per_chip` (GiB), `time_to_train_min` (minutes, with a
        benchmark), `breakdown` of the step in s.
    """
    from dataclasses import replace

    from ..perf.convergence import has_rcps, samples_to_converge
    from ..perf.mlperf import benchmarks, value_of
    from ..perf.train_layout import check_recompute, check_schedule, sequences
    from ..workloads.llm_config import load_llm
    from ..perf.train_lora import adapters_of_benchmark
    from ..perf.training import time_to_train_min
    from ..perf.training import train as engine
    from .train_settings import run_stack
    from .train_switches import idle_notes

    check_texts(model=model, chip=chip, precision=precision, benchmark=benchmark, recompute=recompute,
                tp_overlap=tp_overlap, cluster=cluster, kernels=kernels, stack=stack, eager_layer=eager_layer,
                host_cpu=host_cpu, pipeline_schedule=pipeline_schedule, rank_order=rank_order)
    check_flags(lora=lora, fp8_attention=fp8_attention, p2p_blocking_warmup=p2p_blocking_warmup,
                p2p_forward_send_wait=p2p_forward_send_wait, fp8_attention_cp=fp8_attention_cp,
                ep_node_forwarding=ep_node_forwarding, ep_fp8_dispatch=ep_fp8_dispatch)
    n = check_numbers("train", num_chips=num_chips, global_batch_tokens=global_batch_tokens, seq_len=seq_len, tp=tp,
                      pp=pp, cp=cp, ep=ep, vp=vp, mbs=mbs, shard=shard, zero=zero, power_limit=power_limit,
                      comm_ctas=comm_ctas, chips_per_node=chips_per_node)
    num_chips, seq_len, tp, pp, cp, ep, vp, mbs, shard, zero, comm_ctas = (
        n[k] for k in ("num_chips", "seq_len", "tp", "pp", "cp", "ep", "vp", "mbs", "shard", "zero", "comm_ctas"))
    if zero is not None and zero not in (0, 1, 2, 3):
        raise TapeoutError(f"--zero must be a ZeRO stage 0, 1, 2 or 3 (3 = FSDP), got {zero}.")
    check_recompute(recompute)
    check_schedule(pipeline_schedule)
    if not chip:
        raise TapeoutError("--chip is required.")
    asked_chip = chip
    chip = on_server(_capped(chip, power_limit), n["chips_per_node"], num_chips)
    ttt_tokens = batch_range = None
    bench_cfg = key = None
    batch_given = global_batch_tokens is not None  # the user's batch wins over a benchmark's choice
    if benchmark:
        tb = benchmarks()["training"]
        key = benchmark.lower().replace("_", "-")
        if key not in tb:
            from ..validation.other_training import BENCHMARKS  # priced by api.train_benchmark

            if key in BENCHMARKS:  # a known benchmark of the other engine, not an unknown name
                raise TapeoutError(f"benchmark '{benchmark}' is not an LLM: call tapeout.train_benchmark("
                                   f"benchmark='{key}', chip=...) (the CLI's `tapeout train --benchmark {key}` does); "
                                   f"train takes {', '.join(tb)}.")
            raise unknown_name_error("training benchmark", benchmark, list(tuple(tb) + BENCHMARKS))
        b = bench_cfg = tb[key]
        if model and load_llm(model).name != load_llm(b["model"]).name:  # its time to train is for its model
            raise TapeoutError(f"--model: benchmark {key} trains {b['model']}; drop --model, or drop --benchmark "
                               f"to train {model}.")
        model = model or b["model"]
        seq_len = int(value_of(b["seq_len"])) if seq_len is None else seq_len
        if global_batch_tokens is None:
            global_batch_tokens = float(value_of(b["global_batch_sequences"])) * seq_len
        if not b.get("full_finetune", True):  # the benchmark's adapters, as its validation rows cost them
            lora = adapters_of_benchmark(b) or True
        elif lora:  # its time to train is defined for training every weight
            raise TapeoutError(f"--lora: benchmark {key} trains every weight (full_finetune in data/mlperf/"
                               f"benchmarks.yaml); drop --lora, or use --model {b['model']} --lora without --benchmark.")
        ttt_tokens = float(value_of(b["tokens_to_train"])) if "tokens_to_train" in b else float(value_of(b["samples_to_train"])) * seq_len
        if "global_batch_range" in b:  # the batches its submitters may choose (a refusal names the nearest that split)
            batch_range = (int(b["global_batch_range"]["min"]), int(b["global_batch_range"]["max"]))
    if not model:
        raise TapeoutError("--model (or --benchmark) is required.")
    ep_switches = [k for k, v in (("ep_node_forwarding", ep_node_forwarding), ("ep_fp8_dispatch", ep_fp8_dispatch)) if v]
    if ep_switches and not (cfg_ep := load_llm(model)).is_moe:  # a dense model has no EP all-to-all to change
        raise TapeoutError(f"{option_name(ep_switches[0])} changes the MoE expert all-to-all; {cfg_ep.name} is "
                           f"dense (no experts): drop {option_name(ep_switches[0])}, or pick an MoE model.")
    seq_len = 2048 if seq_len is None else seq_len
    if global_batch_tokens is None:
        global_batch_tokens = 1024 * seq_len
    if bench_cfg is None or seq_len != int(value_of(bench_cfg["seq_len"])):  # a benchmark's own length is its definition
        check_context(model, seq_len, "--seq-len")  # (MLPerf llama2_70b_lora runs Llama-2-70B at 8192)
    spread = None
    if rank_spread is not None:
        from ..perf.rank_spread import RankSpread

        try:  # RankSpread owns the range rule; the message names the flag
            spread = RankSpread(persistent=rank_spread, source="--rank-spread (user assumption)")
        except TapeoutError as e:
            raise TapeoutError(f"--rank-spread: {e}") from None
    rs = run_stack(stack, key, bench_cfg, chip, precision, fp8_attention,
                   dict(tp=tp, pp=pp, cp=cp, ep=ep, vp=vp, mbs=mbs, zero=zero, recompute=recompute, shard=shard),
                   dict(tp_overlap=tp_overlap, eager_layer=eager_layer, host_cpu=host_cpu, comm_ctas=comm_ctas,
                        p2p_blocking_warmup=p2p_blocking_warmup, p2p_forward_send_wait=p2p_forward_send_wait,
                        fp8_attention_cp=fp8_attention_cp, ep_node_forwarding=ep_node_forwarding,
                        ep_fp8_dispatch=ep_fp8_dispatch))

    def run(tokens: float, **split):
        return engine(model, chip, num_chips, tokens, seq_len, rs.precision, lora=lora, fp8_attention=rs.fp8_attention,
                      rank_spread=spread, cluster=cluster, rank_order=rank_order, kernels=kernels, batch_range=batch_range,
                      schedule=pipeline_schedule,
                      **{**rs.pins, **split}, **rs.settings)

    choice = None
    if ttt_tokens and batch_range and not batch_given and has_rcps(key):  # the submitter's choice, by time to train
        choice = _choose_batch(run, lambda r: _with_time_to_train(r, key, bench_cfg, rs, seq_len, ttt_tokens),
                               model, chip, num_chips, seq_len, batch_range, rs, key)
    r = choice[0][0].result if choice else run(global_batch_tokens)
    idle = idle_notes(dict(p2p_blocking_warmup=p2p_blocking_warmup, p2p_forward_send_wait=p2p_forward_send_wait,
                           fp8_attention_cp=fp8_attention_cp, ep_node_forwarding=ep_node_forwarding,
                           ep_fp8_dispatch=ep_fp8_dispatch), r.layout)
    idle += server_notes(asked_chip, power_limit, n["chips_per_node"])
    if key is not None and rs.precision_from.startswith("default"):  # a benchmark run whose precision is not its own
        idle.append(f"precision {rs.precision}, {rs.precision_from}")
    if idle:  # a switch or size that changed nothing at this answer: said where the answer is
        r = replace(r, notes=[*r.notes, *idle])
    src = r.breakdown.get("gemm_source")
    if src:  # the database timed its GEMMs under a serving stack, never this run's training stack (issue 24 item 4)
        r = replace(r, notes=[*r.notes, f"--kernels: the GEMM times were measured under {src['stack']} {src['stack_version']} "
                              f"(the database's stack for {src['system']}), not under this run's training stack "
                              f"({rs.name or 'none given'}): its GEMM library may differ"])
    if r.global_batch_tokens != global_batch_tokens and not choice:  # a step trains whole sequences: say what ran
        r = replace(r, notes=[*r.notes, f"--global-batch-tokens {global_batch_tokens:,.0f} is not a whole number of "
                              f"{seq_len}-token sequences: ran {sequences(round(r.global_batch_tokens / seq_len))} = "
                              f"{r.global_batch_tokens:,.0f} tokens per step"])
    batch = None
    if ttt_tokens:
        if not choice:
            r = _with_time_to_train(r, key, bench_cfg, rs, seq_len, ttt_tokens)
        tt = r.breakdown
        r = replace(r, notes=[*r.notes, f"time to train = {tt['train_min']:.1f} min training + {tt['eval_min']:.1f} min in "
                              f"{tt['n_evals']} evaluation passes (benchmarks.yaml); checkpoint loading and warm-up excluded"])
        conv = bench_cfg.get("tokens_to_train") or bench_cfg.get("samples_to_train")
        on_fallback = samples_to_converge(key, round(r.global_batch_tokens / seq_len), seq_len) is None  # no RCP scores it
        if on_fallback and isinstance(conv, dict) and conv.get("status") not in ("official", "published"):
            r = replace(r, notes=[*r.notes, f"the convergence point behind the time to train ({ttt_tokens:.3g} tokens) is "
                                            f"{conv.get('status')}: {conv.get('source')} (benchmarks.yaml)"])
        batch, note = _batch_record(r, key, bench_cfg, seq_len, ttt_tokens, batch_range, batch_given, choice)
        r = replace(r, notes=[*r.notes, note])
        if "quality_target" in bench_cfg:  # the convergence point the time to train is defined by
            r = replace(r, notes=[*r.notes, f"{key} converges at {value_of(bench_cfg['quality_target'])} "
                                            f"({bench_cfg['quality_target'].get('status', 'official')}, benchmarks.yaml)"])
    return TrainResult({**r.as_dict(), "stack": rs.as_dict(), **({"global_batch": batch} if batch else {})})


def _with_time_to_train(r, key: str, bench_cfg: dict, rs, seq_len: int, ttt_tokens: float):
    """`r` with the benchmark's time to train: training to the convergence point of its global batch (the
    RCPs where on file, perf/convergence.py; else benchmarks.yaml's one value) plus the evaluation passes."""
    from dataclasses import replace

    from ..perf.convergence import samples_to_converge
    from ..perf.mlperf import value_of
    from ..perf.training import time_to_train_min

    conv = samples_to_converge(key, round(r.global_batch_tokens / seq_len), seq_len)
    samples = conv.samples if conv is not None else ttt_tokens / seq_len
    ev = {k: float(value_of(bench_cfg[k])) for k in ("eval_every_samples", "eval_samples", "skip_evals") if k in bench_cfg}
    if rs.skip_evals is not None:  # the applied stack's submissions skip their own number (shown with the stack)
        ev["skip_evals"] = float(rs.skip_evals)
    tt = time_to_train_min(r, samples, ev.get("eval_every_samples"), ev.get("eval_samples", 0.0), int(ev.get("skip_evals", 0)))
    return replace(r, time_to_train_min=tt["minutes"],
                   breakdown={**r.breakdown, "train_min": tt["train_min"], "eval_min": tt["eval_min"], "n_evals": tt["n_evals"],
                              "samples_to_converge": samples})


def _choose_batch(run, priced, model: str, chip: str, num_chips: int, seq_len: int, batch_range: tuple[int, int], rs,
                  key: str):
    """(the fastest-to-train batches in `batch_range` that split over the chips, best first; how many (batch,
    split) runs were priced) (api/train_batch.py), or None when none splits (the run at the default batch
    then gives the engine's refusal). The best batch is run again with the whole layout search."""
    import numpy as np

    from ..hardware.catalog import get_chip
    from ..perf.calibration import calibrated_params
    from ..perf.chip_count import Unholdable
    from ..perf.convergence import rcp_batches, samples_to_converge
    from ..perf.mlperf import benchmarks, value_of
    from ..perf.tp_overlap import get_overlap
    from ..workloads.llm_config import load_llm
    from .train_batch import Priced, choose, no_batch_refusal, shapes

    domain = int(np.max(calibrated_params(get_chip(chip)).scaleup_domain))
    pins = {k: v for k, v in rs.pins.items() if v is not None and k in ("tp", "pp", "cp", "ep", "vp", "mbs")}
    ov = get_overlap(rs.settings.get("tp_overlap"))
    if ov is not None and "tp" not in pins:  # the engine runs a userbuffers config at its own TP (perf/training._train)
        pins["tp"] = ov.tp
    split = shapes(load_llm(model), num_chips, domain, seq_len, pins, bool(rs.settings.get("even_pipeline")))

    def price(g: int, s=None) -> Priced:
        r = priced(run(g * seq_len, **(s.pins() if s is not None else {})))
        return Priced(g, r, r.breakdown["samples_to_converge"])

    refused = {}
    reference = int(value_of(benchmarks()["training"][key]["global_batch_sequences"]))
    try:
        best, runs = choose(price, split, *batch_range, (*rcp_batches(key), reference),
                            samples=lambda g: samples_to_converge(key, g, seq_len).samples, refused=refused)
    except Unholdable:  # too few chips at any batch and split: the refusal at the benchmark's own batch, its pins
        run(reference * seq_len)
        raise
    if not best:
        if not split:  # no split at all (e.g. a pinned uneven PP): the engine's own refusal at the default batch
            return None
        try:
            run(reference * seq_len)
            at_reference = "it runs (not priced above: report this)"
        except TapeoutError as e:
            at_reference = str(e)
        raise no_batch_refusal(key, num_chips, chip, *batch_range, split, refused, bool(rs.settings.get("even_pipeline")),
                               at_reference)
    whole = price(best[0].sequences)  # the chosen batch under the whole search (its best layout may split otherwise)
    ranked = sorted([whole, *best[1:]], key=lambda p: (p.result.time_to_train_min, p.sequences))
    return ranked, runs


def _batch_record(r, key: str, bench_cfg: dict, seq_len: int, ttt_tokens: float, batch_range, batch_given: bool,
                  choice) -> tuple[dict, str]:
    """The result's `global_batch` (the batch, where it came from, the samples it converges in and why, the
    runners-up) and the note saying it."""
    from ..perf.convergence import has_rcps, samples_to_converge

    g = round(r.global_batch_tokens / seq_len)
    conv = samples_to_converge(key, g, seq_len)
    if choice:
        origin = (f"chosen: the smallest time to train of {choice[1]} runs (batch, TP x PP x CP) within {batch_range[0]:,}-"
                  f"{batch_range[1]:,} sequences (benchmarks.yaml global_batch_range) that split over the chips "
                  "(api/train_batch.py)")
    else:
        origin = "--global-batch-tokens" if batch_given else f"the benchmark's batch (benchmarks.yaml {key} global_batch_sequences)"
    rec = {"sequences": g, "from": origin,
           "convergence": conv.as_dict() if conv else {"global_batch": g, "samples_to_converge": ttt_tokens / seq_len,
                                                       "rule": "benchmarks.yaml tokens_to_train (no RCP scores this batch)",
                                                       "source": "data/mlperf/benchmarks.yaml"},
           "runners_up": [{"sequences": p.sequences, "parallelism": p.result.parallelism,
                           "step_time_s": p.result.step_time_s, "time_to_train_min": p.result.time_to_train_min,
                           "samples_to_converge": p.samples} for p in (choice[0][1:] if choice else [])]}
    note = f"global batch {g:,} sequences ({origin}); trains {rec['convergence']['samples_to_converge']:,.0f} sequences to converge"
    if conv:
        note += f" ({conv.how}; {key} RCPs, data/mlperf/rcps.yaml)"
    else:
        note += " (benchmarks.yaml tokens_to_train" + (f": no RCP of {key} scores this batch, rcp_checker 'Missing RCP'"
                                                       if has_rcps(key) else f": no RCPs of {key} on file") + ")"
    if rec["runners_up"]:
        note += "; runners-up: " + "; ".join(f"{p['sequences']:,} sequences, {p['parallelism']}, {p['time_to_train_min']:.2f} min"
                                             for p in rec["runners_up"])
    if batch_range and not batch_range[0] <= g <= batch_range[1]:
        note += (f"; it lies outside the {batch_range[0]:,}-{batch_range[1]:,} sequences on file for the benchmark's batch "
                 f"(benchmarks.yaml global_batch_range, {bench_cfg['global_batch_range'].get('status', 'official')}: see its source)")
    return rec, note
