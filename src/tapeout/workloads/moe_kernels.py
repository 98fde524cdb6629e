"""The kernels a fused-MoE layer launches around its two grouped GEMMs (TensorRT-LLM's CUTLASS MoE runner).

One forward of TensorRT-LLM's fused MoE (tensorrt_llm/_torch/modules/fused_moe/fused_moe_cutlass.py ->
torch.ops.trtllm.fused_moe -> CutlassMoeFCRunner::runMoe, cpp/tensorrt_llm/kernels/cutlass_kernels/moe_gemm/
moe_kernels.cu, NVIDIA/TensorRT-LLM 1.x, revision 000dea27) launches, per rank:
  routing    top-k of each token's router logits and the softmax of the k kept (RenormalizeMoeRoutingMethod:
             one custom kernel, tensorrt_llm/_torch/modules/fused_moe/routing.py)
  sort       the expert maps (permuted <-> unpermuted rows, each local expert's first row):
             fusedBuildExpertMapsSortFirstToken, one CTA, for <= 256 tokens and top-k in {1, 2, 4, 6, 8};
             else threeStepBuildExpertMapsSortFirstToken (blockExpertPrefixSum, globalExpertPrefixSum,
             mergeExpertPrefixSum: three kernels)
  permute    expandInputRowsKernel: each routed row copies its token's hidden vector into expert order
  GEMM1, activation (doActivation: its own kernel after a TMA warp-specialised GEMM1), GEMM2
  finalize   finalizeMoeRoutingKernel: each token's output row is the top-k-weighted sum of its routed rows
The GEMMs, activation and quantize passes are workloads/llm.py's; these are the rest, as memory-bound
passes with their bytes (each kernel's launch is the chip's kernel_overhead, perf/opcost.py).

Per format (FORMAT_KERNELS, on by default since stop 35; TensorRT-LLM 1.x CutlassFusedMoE.quantize_input and run_moe,
tensorrt_llm/_torch/modules/fused_moe/fused_moe_cutlass.py, and moe_kernels.cu runMoe, revision 000dea27):
  input quantize   FP8 per tensor: torch.ops.tensorrt_llm.static_quantize_e4m3_per_tensor, NVFP4:
                   torch.ops.trtllm.fp4_quantize (swizzled scale factors): one kernel each before the fused op,
                   reading the 16-bit hidden states and writing the format. FP8 block scales and BF16: none
                   (quantize_input passes the input through: "handled in kernel").
  GEMM setup       setupTmaWarpSpecializedInputs -> computeStridesTmaWarpSpecializedKernel: one thread per local
                   expert writes both grouped GEMMs' per-expert arguments (problem shape, A / B / D pointers and
                   strides, the alpha and scale-factor pointers), read by the TMA warp-specialised grouped GEMMs
                   (BF16, FP8, NVFP4). FP8 block scales run gemm1 / gemm2 through the block-scale runner
                   (BlockScaleFC1 / FC2; DeepGEMM's own MoE on SM100): no setup priced. Priced only on a chip whose
                   grouped GEMM of the format runs TMA warp-specialised (Elementwise.gemm_path "tma_ws";
                   perf/grouped_gemm_path.py: Hopper, datacenter Blackwell, and sm_120 for NVFP4 only).
  FP8 dequant      the SM80-path FP8 grouped GEMMs (Ampere / Ada, sm_120's FP8) instead take their per-expert alpha
                   pointers from computeFP8DequantScale, one launch before each GEMM (moe_kernels.cu gemm1 / gemm2,
                   `else if (use_fp8)`: one thread per local expert writes one 8-byte pointer; gemm_path "sm80").
  GEMM2 quantize   doActivationKernel writes GEMM2's input in the format itself (FP8: times fc2_fp8_quant; NVFP4:
                   IsNVFP4 -> the E2M1 values and their block scales, fc2_act_sf_flat): no kernel of its own.
"""

from __future__ import annotations

from ..ops import Elementwise

# the expert FFN inside that layer (workloads/llm.py moe_block): what a grouped-GEMM benchmark without routing,
# permute or finalize times (perf/fit/kernels.py fit_moe's rows: torch._grouped_mm + SiLU-and-mul + grouped mm)
EXPERT_FFN_OPS = ("experts_quantize", "experts_gate_up", "experts_act", "experts_down_quantize", "experts_down")
INDEX_DTYPE = "fp32"  # int32 expert ids / row maps and fp32 routing scales: 4-byte words
# fusedBuildExpertMapsSortFirstTokenBlockSize: one CTA of at most 256 threads (one token each), top-k
# instantiated for 1, 2, 4, 6, 8; fusedBuildExpertMapsSortFirstToken: log2(local experts + 1) + 1 <= 9 bits
FUSED_SORT_MAX_TOKENS = 256
FUSED_SORT_TOPK = (1, 2, 4, 6, 8)
FUSED_SORT_MAX_EXPERT_BITS = 9
# the per-format kernels above (input quantize, GEMM setup, GEMM2 quantize inside the activation), each priced only
# on the grouped-GEMM path the chip runs (perf/grouped_gemm_path.py); on since stop 35: TensorRT-LLM's source launches
# them (CutlassFusedMoE.quantize_input, run_moe). Off: the stop-31 kernel list, whose quantize passes follow
# formats.yaml separate_quantize as a dense layer's do
FORMAT_KERNELS = True
# formats CutlassFusedMoE.quantize_input converts in a kernel of its own before the fused op
INPUT_QUANTIZE_KERNEL = ("fp8", "nvfp4")
# expert GEMM formats whose grouped GEMMs take computeStridesTmaWarpSpecializedKernel's arguments
TMA_WS_SETUP_FORMATS = ("bf16", "fp16", "fp8", "nvfp4")
# computeStridesTmaWarpSpecializedKernel's words per local expert: reads its two first-row offsets (int64: 4
# words), writes for each of the two GEMMs about 10 eight-byte fields (problem shape, A / B / D pointers and
# strides, alpha and scale-factor pointers): 40 four-byte words
SETUP_READ_WORDS, SETUP_WRITE_WORDS = 4, 40
DEQUANT_POINTER_WORDS = 2  # computeFP8DequantScale: alpha_scale_ptr_array[expert] = fp8_dequant + expert (a pointer)


def routing_op(tokens: float, experts: int, top_k: int, count: float, logit_dtype: str = "fp32") -> Elementwise:
    """Top-k routing: reads every router logit (tokens x experts at the router's output width), writes each
    token's k expert ids (int32) and k softmax weights (fp32). One warp-level arg-max round per kept expert:
    about top_k compares per logit."""
    from ..precision import dtype_bytes

    return Elementwise(name="experts_routing", count=count, elems=tokens * experts, flops_per_elem=top_k, reads=1,
                       writes=top_k * 8.0 / (experts * dtype_bytes(logit_dtype)), dtype=logit_dtype)


def sort_fused(tokens: float, local_experts: int, top_k: int) -> bool:
    """Whether the expert maps are built by the one-CTA fused kernel (moe_kernels.cu fusedBuildExpertMapsSortFirstToken)."""
    bits = int(local_experts + 1).bit_length()  # floor(log2(E_local + 1)) + 1
    return tokens <= FUSED_SORT_MAX_TOKENS and top_k in FUSED_SORT_TOPK and bits <= FUSED_SORT_MAX_EXPERT_BITS


def sort_ops(tokens: float, local_experts: int, top_k: int, count: float) -> list[Elementwise]:
    """The expert-map kernels: read the tokens x k expert ids, write both row maps (2 x tokens x k int32).
    The three-step path counts per (local expert, token block), scans the counts, then merges."""
    tk = tokens * top_k
    if sort_fused(tokens, local_experts, top_k):
        return [Elementwise(name="experts_sort", count=count, elems=tk, flops_per_elem=1, reads=1, writes=2,
                            dtype=INDEX_DTYPE)]
    return [Elementwise(name="experts_sort_count", count=count, elems=tk, flops_per_elem=1, reads=1, writes=1,
                        dtype=INDEX_DTYPE),
            Elementwise(name="experts_sort_scan", count=count, elems=max(1.0, float(local_experts)), flops_per_elem=1,
                        reads=1, writes=1, dtype=INDEX_DTYPE),
            Elementwise(name="experts_sort_merge", count=count, elems=tk, flops_per_elem=1, reads=1, writes=2,
                        dtype=INDEX_DTYPE)]


def permute_op(routed_rows: float, hidden: int, dtype: str, count: float) -> Elementwise:
    """expandInputRowsKernel: every routed row reads its token's hidden vector and writes it in expert order
    (routed_rows x hidden in, the same out, at the GEMM input's width)."""
    return Elementwise(name="experts_permute", count=count, elems=routed_rows * hidden, flops_per_elem=0, reads=1,
                       writes=1, dtype=dtype)


def finalize_op(tokens: float, routed_rows: float, hidden: int, dtype: str, count: float) -> Elementwise:
    """finalizeMoeRoutingKernel: each token's output row (tokens x hidden written) sums its routed rows of GEMM2's
    output, each times its routing weight (routed_rows x hidden read; one multiply-add per element read)."""
    per_token = routed_rows / max(tokens, 1e-30)
    return Elementwise(name="experts_finalize", count=count, elems=tokens * hidden, flops_per_elem=2.0 * per_token,
                       reads=per_token, writes=1, dtype=dtype)


def format_kernels(serving: bool) -> bool:
    """Whether the layer gets TensorRT-LLM's per-format kernel list: FORMAT_KERNELS, for a serving step only (a
    training step's MoE layer is Megatron-Core's grouped GEMM with Transformer Engine's quantize kernels, whose
    kernel list this is not: it keeps the stop-31 list)."""
    return FORMAT_KERNELS and serving


def input_quantize_separate(fmt: str, serving: bool = True) -> bool | None:
    """Whether the layer's input quantize to the expert GEMM format `fmt` is a kernel of its own (FORMAT_KERNELS:
    CutlassFusedMoE.quantize_input); None: formats.yaml separate_quantize decides, as for a dense layer."""
    return fmt in INPUT_QUANTIZE_KERNEL if format_kernels(serving) else None


def act_quantize_separate(serving: bool = True) -> bool | None:
    """Whether GEMM2's input quantize is a kernel of its own: never with FORMAT_KERNELS (doActivationKernel
    writes the format and its block scales); None: formats.yaml separate_quantize decides."""
    return False if format_kernels(serving) else None


def gemm_setup_ops(local_experts: int, fmt: str, count: float, serving: bool = True) -> list[Elementwise]:
    """computeStridesTmaWarpSpecializedKernel (FORMAT_KERNELS only, expert GEMMs in TMA_WS_SETUP_FORMATS): one
    launch, one thread per local expert, its SETUP_READ_WORDS / SETUP_WRITE_WORDS 4-byte words of arguments."""
    if not format_kernels(serving) or fmt not in TMA_WS_SETUP_FORMATS:
        return []
    return [Elementwise(name="experts_gemm_setup", count=count, elems=max(1.0, float(local_experts)) * SETUP_READ_WORDS,
                        flops_per_elem=0, reads=1, writes=SETUP_WRITE_WORDS / SETUP_READ_WORDS, dtype=INDEX_DTYPE,
                        gemm_path="tma_ws", gemm_format=fmt)]


def fp8_dequant_scale_op(name: str, local_experts: int, fmt: str, count: float, serving: bool = True) -> list[Elementwise]:
    """computeFP8DequantScale before an FP8 grouped GEMM of the SM80 path (FORMAT_KERNELS only): one launch, one
    thread per local expert writing its alpha pointer (8 bytes: DEQUANT_POINTER_WORDS 4-byte words), nothing read."""
    if not format_kernels(serving) or fmt != "fp8":
        return []
    return [Elementwise(name=name, count=count, elems=max(1.0, float(local_experts)), flops_per_elem=0, reads=0,
                        writes=DEQUANT_POINTER_WORDS, dtype=INDEX_DTYPE, gemm_path="sm80", gemm_format=fmt)]
