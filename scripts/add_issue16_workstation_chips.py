"""Ledger: the RTX PRO 4500 Blackwell and Intel Arc Pro B60/B50 rows added to the catalog on 2026-12-04.

Every value was read on the page named with it (search tool, corpora docs+pages). No NVIDIA or
Intel product page came back for these cards, so every row is status `secondary`; figures no page
gave are empty rows (status `missing`) with the reason. Rerunning is a no-op: rows already present
are left as they are."""
from chip_ledger import append_rows

S, M, D = "secondary", "missing", "derived"
NF = "none found: search corpora docs+pages, 2026-12-04"
# RTX PRO 4500 Blackwell
HMC45 = "https://hmc-tech.com/gpu/intel-arc-pro-b50-vs-nvidia-rtx-pro-4500-blackwell"
HMC4090 = "https://hmc-tech.com/gpus/nvidia-geforce-rtx-4090-vs-nvidia-rtx-pro-4500-blackwell"
TC45 = "https://technical.city/en/video/RTX-PRO-4500-Blackwell"
CPUT = "https://cputronic.com/gpu/compare/nvidia-rtx-pro-4500-blackwell-vs-nvidia-geforce-rtx-4090"
ACC = ("this page lists the same rate with FP16 and FP32 accumulate; the same site's RTX 4090 comparison page "
       f"({HMC4090}) halves the FP32-accumulate rate, as on GeForce cards")
# Intel Arc Pro B60 / B50 (Xe2 'Battlemage', BMG-G21)
HMCB60 = "https://hmc-tech.com/gpu/intel-arc-pro-b60-vs-nvidia-quadro-p620"
TCB60 = "https://technical.city/en/video/Iris-Xe-Graphics-96EU-vs-Arc-Pro-B60"
SR = "https://www.storagereview.com/review/intel-arc-pro-b60-battlematrix-preview-192gb-of-vram-for-on-premise-ai"
IBYTE = "https://ibytenews.com/?p=3182"
TCB50 = "https://technical.city/en/video/Xbox-Series-X-GPU-vs-Arc-Pro-B50"
CVB50 = "https://chipversus.com/hardware/gpu/intel-arc-pro-b50"
SPDUP = "https://spdup.net/20251004/intel-arc-pro-b50-gaming-performance-surpasses-expectations-in-small-form-factor-builds"
NOFP8 = "no FP8 matrix rate on the pages checked (they list FP16, BF16, INT8 and INT4 XMX rates only)"
NOSP = "no sparse matrix rate on the pages checked"

# (chip, field, value, unit, status, source, notes); file: supplement_specs.csv unless field == num_cores
ROWS = [
    ("rtx-pro-4500", "year", "2025", "year", S, TC45, "sales from 18 March 2025"),
    ("rtx-pro-4500", "process_node", "TSMC 5 nm", "", S, CPUT, "GB203; foundry TSMC, process 5 nm"),
    ("rtx-pro-4500", "transistors_billion", "45.6", "B", S, TC45, "GB203: 45,600 million"),
    ("rtx-pro-4500", "fp4_tflops_dense", "878.98", "TFLOPS", S, HMC45, "FP4 tensor 878.98 TFLOPS dense, 1.76 PFLOPS sparse"),
    ("rtx-pro-4500", "fp8_tflops_dense", "439.49", "TFLOPS", S, HMC45, "FP8 tensor 439.49 dense; " + ACC + " (219.7)"),
    ("rtx-pro-4500", "fp16_tflops_dense", "219.74", "TFLOPS", S, HMC45, "FP16 tensor 219.74 dense; " + ACC + " (109.9)"),
    ("rtx-pro-4500", "bf16_tflops_dense", "219.74", "TFLOPS", S, HMC45, "BF16 tensor 219.74 dense (the RTX 4090 comparison page lists 109.9)"),
    ("rtx-pro-4500", "int8_tops_dense", "439.49", "TOPS", S, HMC45, "INT8 tensor 439.49 dense, 878.98 sparse"),
    ("rtx-pro-4500", "fp32_tflops", "54.94", "TFLOPS", S, TC45, "54.94 TFLOPS"),
    ("rtx-pro-4500", "sparsity_factor", "2", "x", S, HMC45, "sparse rates are 2 x dense"),
    ("rtx-pro-4500", "memory_type", "GDDR7", "", S, TC45, ""),
    ("rtx-pro-4500", "memory_capacity_gb", "32", "GB", S, TC45, ""),
    ("rtx-pro-4500", "memory_bandwidth_tbps", "0.896", "TB/s", S, TC45, "256-bit, 896.0 GB/s"),
    ("rtx-pro-4500", "tdp_w", "200", "W", S, TC45, "200 W"),
    ("rtx-pro-4500", "num_cores", "82", "SMs", S, HMC4090, "82 SMs, 10,496 CUDA cores"),
    ("arc-pro-b60", "year", "2025", "year", S, HMCB60, "release 5/19/2025 (Computex); sales 5 September 2025 (technical.city)"),
    ("arc-pro-b60", "process_node", "TSMC N5", "", S, HMCB60 + " ; " + SR, "BMG-G21; 'Xe2 (TSMC N5)'"),
    ("arc-pro-b60", "logic_die_area_mm2_total", "272", "mm2", S, HMCB60, "BMG-G21 die 272 mm2"),
    ("arc-pro-b60", "transistors_billion", "19.6", "B", S, HMCB60, "19.6 billion"),
    ("arc-pro-b60", "int8_tops_dense", "196.61", "TOPS", S, HMCB60, "INT8 196.61 TOPS tensor (XMX)"),
    ("arc-pro-b60", "fp16_tflops_dense", "98.3", "TFLOPS", S, HMCB60, "FP16 98.3 TFLOPS tensor (FP32 accumulate)"),
    ("arc-pro-b60", "bf16_tflops_dense", "98.3", "TFLOPS", S, HMCB60, "BF16 98.3 TFLOPS tensor"),
    ("arc-pro-b60", "fp8_tflops_dense", "", "TFLOPS", M, NF, NOFP8),
    ("arc-pro-b60", "fp32_tflops", "12.29", "TFLOPS", S, HMCB60, "12.29 TFLOPS"),
    ("arc-pro-b60", "sparsity_factor", "", "x", M, NF, NOSP),
    ("arc-pro-b60", "memory_type", "GDDR6", "", S, HMCB60, ""),
    ("arc-pro-b60", "memory_capacity_gb", "24", "GB", S, HMCB60, "24GB GDDR6 per GPU (dual-GPU boards carry two)"),
    ("arc-pro-b60", "memory_bandwidth_tbps", "0.456", "TB/s", S, IBYTE + " ; " + TCB60, "19 Gbps x 192-bit = 456 GB/s per GPU"),
    ("arc-pro-b60", "tdp_w", "200", "W", S, TCB60, "200 W (single-GPU card)"),
    ("arc-pro-b60", "num_cores", "20", "Xe-cores", S, SR, "20 Xe-cores (160 XMX engines)"),
    ("arc-pro-b50", "year", "2025", "year", S, CVB50, "released September 5 2025"),
    ("arc-pro-b50", "process_node", "5 nm", "", S, CVB50, "BMG-G21, 5 nm"),
    ("arc-pro-b50", "logic_die_area_mm2_total", "272", "mm2", D, CVB50 + " ; " + HMCB60, "same BMG-G21 die as the Arc Pro B60 (chipversus codename), 272 mm2 (hmc-tech)"),
    ("arc-pro-b50", "transistors_billion", "19.6", "B", S, TCB50, "19,600 million"),
    ("arc-pro-b50", "int8_tops_dense", "170.39", "TOPS", S, HMC45, "INT8 170.39 TOPS tensor (XMX)"),
    ("arc-pro-b50", "fp16_tflops_dense", "85.2", "TFLOPS", S, HMC45, "FP16 85.2 TFLOPS tensor (FP32 accumulate)"),
    ("arc-pro-b50", "bf16_tflops_dense", "85.2", "TFLOPS", S, HMC45, "BF16 85.2 TFLOPS tensor"),
    ("arc-pro-b50", "fp8_tflops_dense", "", "TFLOPS", M, NF, NOFP8),
    ("arc-pro-b50", "fp32_tflops", "10.65", "TFLOPS", S, HMC45, "10.65 TFLOPS"),
    ("arc-pro-b50", "sparsity_factor", "", "x", M, NF, NOSP),
    ("arc-pro-b50", "memory_type", "GDDR6", "", S, TCB50, ""),
    ("arc-pro-b50", "memory_capacity_gb", "16", "GB", S, TCB50, ""),
    ("arc-pro-b50", "memory_bandwidth_tbps", "0.224", "TB/s", S, TCB50, "128-bit, 224.0 GB/s"),
    ("arc-pro-b50", "tdp_w", "70", "W", S, SPDUP, "70 W total graphics power, slot-powered"),
    ("arc-pro-b50", "num_cores", "16", "Xe-cores", S, SPDUP, "16 Xe cores, 128 XMX engines"),
]

append_rows(ROWS, {"num_cores"})
