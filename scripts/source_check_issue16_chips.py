"""One-off: apply the 2026-12-04 source check to the issue-16 chip rows (kept in the commit as a ledger)."""
import csv, io, pathlib, sys
ROOT = pathlib.Path(__file__).resolve().parents[1] / "src/tapeout/data/chips"
NF = "not found in a public source checked on 2026-12-04"
BLOG = "https://developer.nvidia.com/blog/inside-nvidia-blackwell-ultra-the-chip-powering-the-ai-factory-era"
VERDA = "https://verda.com/blog/gb300-nvl72-architecture (per-GPU dense table: B300 and GB300 columns)"
KLOCK = "https://glennklockwood.com/garden/processors/B300"
ACE = "https://acecloud.ai/blog/nvidia-hgx-b300"
AIWIKI_DGXB300 = "https://aiwiki.ai/wiki/nvidia_dgx_b300"
AIWIKI_GB300 = "https://aiwiki.ai/wiki/nvidia_gb300_nvl72"
ITKB = "https://itkb.uw.cz/2026/06/nvidia-h200-vs-b300-precisions-cores.html"
AIWIKI_H200 = "https://aiwiki.ai/wiki/nvidia_h200/raw"
UVATION = "https://uvation.com/articles/category/datacenter"
TOPCPU = "https://www.topcpu.net/es/news/nvidia-launches-96gb-rtx-5090-model-with-a-whopping-price-tag-of-10000"
GPUNAME = "https://gpu.name/posts/nvidia-unveils-rtx-pro-6000-blackwell-gpu-with-24-064-cores-and-96gb-memory"
PTSITE = "https://ferreiradozezere.net/entretenimento/a-mansao-na-qual-adele-viveu-nao-e-vendida-por-ser-assombrada/2388/?random-post=1"
FORTYUP = "https://40-up.com/next-generation-gpus-nvidias-rtx-pro-6000-blackwell-is-basically-a-supercomputer-in-disguise"
GIGA = "https://gigagpu.com/?p=34220"
WAREDB = "https://waredb.com/processor/nvidia-geforce-rtx-4090"
LAURENT = "https://laurentschoice.com/?p=5797"
TECHGOING = "https://www.techgoing.com/nvidia-rtx-4090-gaming-graphics-cards-break-100-tflops-for-the-first-time/?amp=1"
CLPEAK = "https://github.com/krrishnarraj/clpeak/issues/106"
WCCF = "https://wccftech.com/amd-instinct-mi350-gpuai-hardware-powerhouse-3nm-3d-chiplet-cdna-4-185-billion-transistors-1400w-tbp-over-4000b-llm-support//amp/"
ROCM = "https://rocm.docs.amd.com/en/7.13.0-preview/reference/gpu-specs.html"
JARED = "https://www.jaredwatkins.com/research/ai-accelerators/amd-instinct/mi350-series/"
WHATPSU = "https://de.whatpsu.com/articles/1768-Detailed-information-on-the-silicon-of-the-AMD-Instinct-MI350X-Series-AI-GPU"
MI355 = "https://www.amd.com/en/products/accelerators/instinct/mi350/mi355x.html (via shared/data/facts/accelerators.csv MI355X row)"
TRN3 = "https://awsdocs-neuron.readthedocs-hosted.com/en/v2.29.1/_sources/about-neuron/arch/neuron-hardware/trainium3.rst"
MLU = "http://guangxilong.com/c/032129635H022.html (Cambricon MLU370-X8 launch, 2022-03-21)"
MLU2 = "http://www.rencaizhenjiang.com/news/hard/20220324/124384.html"
LINOS = "https://www.linos.ai/technology/nvidia-rubin-gpu-architecture-specs-2026"
MIRROR = "https://mirrorfrog.com/en/blog/nvidia-vera-rubin-platform-6-chips-deep-dive"
SILICON = "https://silicontales.com/nvidia-vera-rubin-nvl72/"
LUCA = "https://lucaberton.com/blog/huawei-atlas-950-superpod-ai-infrastructure/"
SCHIHEI = "https://pc.schihei.de/new-paradigms-for-ai-infrastructure"

V, C, E = "verified", "corrected", "emptied"
# (chip, field): (outcome, value or None to keep, status or None to keep, source, notes or None to keep)
L = {
 ("b300", "num_cores"): (V, None, "official", BLOG, None),
 ("b300", "scaleup_domain_size"): (V, None, "secondary", ACE, "HGX B300 baseboard: 8 Blackwell Ultra GPUs"),
 ("b300", "year"): (V, None, "secondary", AIWIKI_DGXB300, "announced at GTC, March 2025"),
 ("b300", "process_node"): (V, None, "official", BLOG, None),
 ("b300", "num_compute_dies"): (V, None, "official", BLOG, "two reticle-sized dies over NV-HBI"),
 ("b300", "transistors_billion"): (V, None, "official", BLOG, None),
 ("b300", "fp4_tflops_dense"): (C, "14000", "secondary", VERDA, "14 PFLOPS dense per B300 GPU (verda table); was 13,500 (= 108 PF / 8 from the HGX page, which was not found); glennklockwood lists 13,125"),
 ("b300", "fp8_tflops_dense"): (V, None, "secondary", VERDA, "4.5 PFLOPS dense"),
 ("b300", "bf16_tflops_dense"): (V, None, "secondary", VERDA, "2.25 PFLOPS dense"),
 ("b300", "fp16_tflops_dense"): (V, None, "secondary", VERDA, "FP16/BF16 2.25 PFLOPS dense"),
 ("b300", "tf32_tflops_dense"): (V, None, "secondary", KLOCK, "HGX B300 TF32 matrix 1,125 dense (verda rounds to 1.1 PF)"),
 ("b300", "fp32_tflops"): (V, None, "secondary", VERDA, "0.075 PFLOPS"),
 ("b300", "int8_tops_dense"): (C, "150", "secondary", VERDA, "Blackwell Ultra cuts INT8: 0.15 POPS dense per B300 GPU (was left empty)"),
 ("b300", "sparsity_factor"): (V, None, "secondary", VERDA, "table states dense = sparse / 2"),
 ("b300", "memory_type"): (V, None, "official", BLOG, None),
 ("b300", "memory_capacity_gb"): (V, None, "official", BLOG, "288 GB HBM3e (verda: 270 GB usable on HGX B300)"),
 ("b300", "memory_bandwidth_tbps"): (V, None, "secondary", ACE, "up to 8 TB/s per GPU (verda lists 7.7 TB/s for HGX B300)"),
 ("b300", "tdp_w"): (C, "1100", "secondary", VERDA, "max TDP 1.1 kW per HGX B300 GPU (was left empty); glennklockwood and itkb quote 1,400 W, the GB300 figure"),
 ("b300", "scaleup_bw_gbps_bidir"): (V, None, "secondary", ACE, "NVLink 5, 1.8 TB/s bidirectional per GPU"),
 ("gb300", "num_cores"): (V, None, "official", BLOG, None),
 ("gb300", "scaleup_domain_size"): (V, None, "secondary", AIWIKI_GB300, "72 Blackwell Ultra GPUs per NVLink domain"),
 ("gb300", "year"): (V, None, "secondary", AIWIKI_GB300, "announced March 18, 2025 (GTC)"),
 ("gb300", "process_node"): (V, None, "official", BLOG, None),
 ("gb300", "num_compute_dies"): (V, None, "official", BLOG, None),
 ("gb300", "transistors_billion"): (V, None, "official", BLOG, None),
 ("gb300", "fp4_tflops_dense"): (V, None, "official", BLOG + " ; " + VERDA, "15 PFLOPS dense NVFP4"),
 ("gb300", "fp8_tflops_dense"): (V, None, "secondary", VERDA, "5 PFLOPS dense"),
 ("gb300", "bf16_tflops_dense"): (V, None, "secondary", VERDA, "2.5 PFLOPS dense"),
 ("gb300", "fp16_tflops_dense"): (V, None, "secondary", VERDA, "FP16/BF16 2.5 PFLOPS dense"),
 ("gb300", "tf32_tflops_dense"): (V, None, "secondary", VERDA, "1.25 PFLOPS dense"),
 ("gb300", "int8_tops_dense"): (C, "165", "secondary", VERDA, "0.165 POPS dense per GB300 GPU (was left empty)"),
 ("gb300", "sparsity_factor"): (V, None, "secondary", VERDA, None),
 ("gb300", "memory_type"): (V, None, "official", BLOG, None),
 ("gb300", "memory_capacity_gb"): (V, None, "official", BLOG, "288 GB HBM3e (verda: 279 GB usable)"),
 ("gb300", "memory_bandwidth_tbps"): (V, None, "secondary", VERDA, "8 TB/s per GPU; 576 TB/s per 72-GPU rack"),
 ("gb300", "tdp_w"): (C, "1400", "secondary", VERDA, "max TDP 1.4 kW per GB300 GPU (was left empty)"),
 ("gb300", "scaleup_bw_gbps_bidir"): (V, None, "secondary", VERDA, "NVLink 5, 1.8 TB/s total per GPU"),
 ("h200-nvl", "num_cores"): (V, None, "secondary", AIWIKI_H200, "same GH100 die as H200 SXM (132 SMs)"),
 ("h200-nvl", "scaleup_domain_size"): (V, None, "secondary", UVATION, "H200 supports a 4-way NVLink (bridge) domain"),
 ("h200-nvl", "year"): (V, None, "secondary", AIWIKI_H200, "H200 shipments from Q2 2024"),
 ("h200-nvl", "process_node"): (V, None, "secondary", AIWIKI_H200, "TSMC custom 4N, GH100"),
 ("h200-nvl", "bf16_tflops_dense"): (E,),
 ("h200-nvl", "fp16_tflops_dense"): (E,),
 ("h200-nvl", "fp8_tflops_dense"): (E,),
 ("h200-nvl", "int8_tops_dense"): (E,),
 ("h200-nvl", "tf32_tflops_dense"): (E,),
 ("h200-nvl", "fp32_tflops"): (E,),
 ("h200-nvl", "sparsity_factor"): (E,),
 ("h200-nvl", "memory_type"): (V, None, "secondary", AIWIKI_H200, "141 GB HBM3e on SXM and NVL boards"),
 ("h200-nvl", "memory_capacity_gb"): (V, None, "secondary", AIWIKI_H200, None),
 ("h200-nvl", "memory_bandwidth_tbps"): (V, None, "secondary", AIWIKI_H200, "4.8 TB/s on SXM and NVL boards"),
 ("h200-nvl", "tdp_w"): (V, None, "secondary", ITKB, "NVL variant: PCIe card, 600 W"),
 ("h200-nvl", "scaleup_bw_gbps_bidir"): (V, None, "secondary", UVATION, "4-way NVLink domain, up to 1.8 TB/s aggregate = 900 GB/s per GPU pair link set"),
 ("rtx-pro-6000", "num_cores"): (V, None, "secondary", TOPCPU, "188 SMs, 24,064 CUDA cores (all three RTX PRO 6000 variants)"),
 ("rtx-pro-6000", "year"): (V, None, "secondary", GPUNAME, "announced GTC 2025, available April 2025"),
 ("rtx-pro-6000", "process_node"): (V, None, "secondary", FORTYUP, "TSMC 4N, GB202"),
 ("rtx-pro-6000", "fp4_tflops_dense"): (V, None, "secondary", TOPCPU, "4,000 AI TOPS FP4 (with sparsity) / 2"),
 ("rtx-pro-6000", "fp8_tflops_dense"): (E,),
 ("rtx-pro-6000", "bf16_tflops_dense"): (E,),
 ("rtx-pro-6000", "fp32_tflops"): (C, "125", "secondary", TOPCPU, "up to 125 TFLOPS FP32 (was 120)"),
 ("rtx-pro-6000", "sparsity_factor"): (E,),
 ("rtx-pro-6000", "memory_type"): (V, None, "secondary", GPUNAME, None),
 ("rtx-pro-6000", "memory_capacity_gb"): (V, None, "secondary", GPUNAME, None),
 ("rtx-pro-6000", "memory_bandwidth_tbps"): (C, "1.792", "secondary", GPUNAME + " ; " + PTSITE, "1,792 GB/s, same memory configuration on the three variants (was 1.597)"),
 ("rtx-pro-6000", "tdp_w"): (V, None, "secondary", GPUNAME, "600 W"),
 ("rtx-4090", "num_cores"): (V, None, "secondary", GIGA, "128 SMs (16,384 CUDA cores)"),
 ("rtx-4090", "year"): (V, None, "secondary", WAREDB, None),
 ("rtx-4090", "process_node"): (V, None, "secondary", LAURENT, "TSMC 4N"),
 ("rtx-4090", "logic_die_area_mm2_total"): (C, "608.4", "secondary", LAURENT, "AD102 608.4 mm2 (was 608.5)"),
 ("rtx-4090", "transistors_billion"): (V, None, "secondary", LAURENT, "AD102 76.3 billion"),
 ("rtx-4090", "fp8_tflops_dense"): (V, None, "secondary", GIGA, "FP8 660.6 dense (FP16 accumulate); waredb lists 330.3 with FP32 accumulate"),
 ("rtx-4090", "bf16_tflops_dense"): (V, None, "secondary", GIGA, "BF16/FP16 with FP32 accumulate 165.2 dense"),
 ("rtx-4090", "fp16_tflops_dense"): (V, None, "secondary", GIGA, "FP16 with FP16 accumulate 330.3 dense"),
 ("rtx-4090", "int8_tops_dense"): (V, None, "secondary", GIGA, None),
 ("rtx-4090", "fp32_tflops"): (V, None, "secondary", GIGA, None),
 ("rtx-4090", "sparsity_factor"): (V, None, "secondary", GIGA, None),
 ("rtx-4090", "memory_type"): (V, None, "secondary", WAREDB, None),
 ("rtx-4090", "memory_capacity_gb"): (V, None, "secondary", WAREDB, None),
 ("rtx-4090", "memory_bandwidth_tbps"): (V, None, "secondary", WAREDB, "1,008 GB/s"),
 ("rtx-4090", "tdp_w"): (V, None, "secondary", TECHGOING, "TBP 450 W"),
 ("mi350x", "num_cores"): (V, None, "official", ROCM, "256 CUs (32 per XCD)"),
 ("mi350x", "scaleup_domain_size"): (V, None, "secondary", WHATPSU, "up to eight MI350 series GPUs per blade"),
 ("mi350x", "year"): (V, None, "secondary", WCCF, "launched June 2025"),
 ("mi350x", "process_node"): (V, None, "secondary", WCCF, None),
 ("mi350x", "transistors_billion"): (V, None, "secondary", WCCF, None),
 ("mi350x", "bf16_tflops_dense"): (C, "2292", "derived", MI355 + " ; " + WCCF, "MI355X 2,500 dense x 2.2/2.4 GHz max clock (same CDNA4 die); AMD's rounded 2.3 PF page figure was not found"),
 ("mi350x", "fp16_tflops_dense"): (C, "2292", "derived", MI355 + " ; " + WCCF, "MI355X 2,500 x 2.2/2.4 GHz"),
 ("mi350x", "fp8_tflops_dense"): (C, "4583", "derived", MI355 + " ; " + WCCF, "MI355X 5,000 x 2.2/2.4 GHz"),
 ("mi350x", "fp6_tflops_dense"): (E,),
 ("mi350x", "fp4_tflops_dense"): (C, "9167", "derived", MI355 + " ; " + WCCF, "MI355X 10,000 (secondary) x 2.2/2.4 GHz"),
 ("mi350x", "int8_tops_dense"): (E,),
 ("mi350x", "sparsity_factor"): (E,),
 ("mi350x", "memory_type"): (V, None, "secondary", JARED, None),
 ("mi350x", "memory_capacity_gb"): (V, None, "official", ROCM, "288"),
 ("mi350x", "memory_bandwidth_tbps"): (V, None, "secondary", JARED, "8 TB/s"),
 ("mi350x", "tdp_w"): (V, None, "secondary", WCCF, "air-cooled, 1,000 W TBP"),
 ("trainium3", "num_cores"): (V, None, "official", TRN3, "eight NeuronCore-v4"),
 ("trainium3", "scaleup_domain_size"): (E,),
 ("trainium3", "year"): (V, None, "official", TRN3, "page dated 2025-12-02"),
 ("trainium3", "process_node"): (E,),
 ("trainium3", "fp8_tflops_dense"): (V, None, "official", TRN3, "2,517 MXFP8/MXFP4 TFLOPS"),
 ("trainium3", "fp4_tflops_dense"): (V, None, "official", TRN3, "MXFP4 at the MXFP8 rate"),
 ("trainium3", "bf16_tflops_dense"): (V, None, "official", TRN3, "671 BF16/FP16/TF32 TFLOPS"),
 ("trainium3", "fp16_tflops_dense"): (V, None, "official", TRN3, None),
 ("trainium3", "fp32_tflops"): (V, None, "official", TRN3, None),
 ("trainium3", "memory_type"): (E,),
 ("trainium3", "memory_capacity_gb"): (V, None, "official", TRN3, "144 GiB"),
 ("trainium3", "memory_bandwidth_tbps"): (V, None, "official", TRN3, None),
 ("trainium3", "scaleup_bw_gbps_bidir"): (V, None, "official", TRN3, "NeuronLink-v4 2.56 TB/s per device"),
 ("trainium3", "tdp_w"): (E,),
 ("mlu370-x8", "host_link_bw_gbps"): (V, None, "derived", MLU, "PCIe 4.0 x16 stated; 32 GB/s per direction"),
 ("mlu370-x8", "year"): (V, None, "official", MLU, "launched 2022-03-21"),
 ("mlu370-x8", "process_node"): (C, "7nm", "official", MLU, "7 nm (foundry not stated; was 'TSMC 7nm')"),
 ("mlu370-x8", "num_compute_dies"): (C, "4", "official", MLU, "two MLU370 chips, each with two dies (双芯片四芯粒) (was 2)"),
 ("mlu370-x8", "int8_tops_dense"): (V, None, "official", MLU, None),
 ("mlu370-x8", "fp16_tflops_dense"): (V, None, "official", MLU, None),
 ("mlu370-x8", "bf16_tflops_dense"): (V, None, "official", MLU, None),
 ("mlu370-x8", "fp32_tflops"): (C, "32", "official", MLU, "FP32 32 TFLOPS (was 24)"),
 ("mlu370-x8", "memory_type"): (V, None, "official", MLU, None),
 ("mlu370-x8", "memory_capacity_gb"): (V, None, "official", MLU, None),
 ("mlu370-x8", "memory_bandwidth_tbps"): (V, None, "official", MLU, "614.4 GB/s"),
 ("mlu370-x8", "tdp_w"): (V, None, "official", MLU, "max training power 250 W"),
 ("mlu370-x8", "scaleup_bw_gbps_bidir"): (V, None, "official", MLU2, "MLU-Link 200 GB/s per card"),
 ("rubin", "scaleup_domain_size"): (V, None, "announced", SILICON, "Vera Rubin NVL72: 72 Rubin GPUs per rack"),
 ("rubin", "year"): (V, None, "announced", LINOS, "announced 2026, ships H2 2026"),
 ("rubin", "process_node"): (V, None, "announced", LINOS, "TSMC 3nm (N3P)"),
 ("rubin", "fp4_tflops_dense"): (V, None, "announced", LINOS + " ; " + MIRROR, "50 PFLOPS NVFP4 inference per GPU; NVIDIA does not say dense or sparse (mirrorfrog reads it as sparse)"),
 ("rubin", "fp8_tflops_dense"): (E,),
 ("rubin", "bf16_tflops_dense"): (E,),
 ("rubin", "memory_type"): (V, None, "announced", MIRROR, None),
 ("rubin", "memory_capacity_gb"): (V, None, "announced", MIRROR, None),
 ("rubin", "memory_bandwidth_tbps"): (V, None, "announced", LINOS, "22 TB/s HBM4"),
 ("rubin", "scaleup_bw_gbps_bidir"): (V, None, "announced", LINOS, "NVLink 6, 3.6 TB/s bidirectional"),
 ("rubin", "tdp_w"): (E,),
 ("ascend-950dt", "scaleup_domain_size"): (V, None, "announced", LUCA, "Atlas 950 SuperPoD: 8,192 Ascend 950DT"),
 ("ascend-950dt", "year"): (V, None, "announced", LUCA, "Ascend 950DT Q4 2026"),
 ("ascend-950dt", "fp8_tflops_dense"): (V, None, "announced", LUCA + " ; " + SCHIHEI, "1 PFLOPS FP8/MXFP8/HiF8"),
 ("ascend-950dt", "fp4_tflops_dense"): (V, None, "announced", LUCA, "2 PFLOPS MXFP4"),
 ("ascend-950dt", "bf16_tflops_dense"): (E,),
 ("ascend-950dt", "memory_type"): (V, None, "announced", LUCA, None),
 ("ascend-950dt", "memory_capacity_gb"): (V, None, "announced", LUCA, None),
 ("ascend-950dt", "memory_bandwidth_tbps"): (V, None, "announced", LUCA, "4 TB/s"),
 ("ascend-950dt", "scaleup_bw_gbps_bidir"): (V, None, "announced", LUCA + " ; " + SCHIHEI, "2 TB/s interconnect"),
 ("ascend-950dt", "tdp_w"): (E,),
}
counts = {V: 0, C: 0, E: 0}
seen = set()
for name in ("specs.csv", "extra_specs.csv", "supplement_specs.csv"):
    p = ROOT / name
    raw = p.read_bytes().decode()
    eol = "\r\n" if 2 * raw.count("\r\n") > raw.count("\n") else "\n"  # majority line ending
    text = raw.replace("\r\n", "\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    fields = list(rows[0].keys())
    for r in rows:
        k = (r["chip_id"], r["field"])
        if k not in L:
            continue
        seen.add(k)
        out = L[k]
        counts[out[0]] += 1
        if out[0] == E and name == "extra_specs.csv":  # extra rows hold no empty values: drop, family default applies
            r["chip_id"] = None
            continue
        if out[0] == E:
            was = r["value"]
            r["value"], r["status"] = "", "missing"
            r["notes"] = NF + (f" (was {was}, unsourced)" if was else "")
            r["source"] = "none found: search corpora docs+pages, 2026-12-04"
            continue
        _, val, st, src, notes = out
        if val is not None:
            r["value"] = val
        if st:
            r["status"] = "secondary" if (st == "announced" and name == "extra_specs.csv") else st
        r["source"] = src
        if notes is not None:
            r["notes"] = notes
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator=eol)
    w.writeheader(); w.writerows(r for r in rows if r["chip_id"])
    p.write_bytes(buf.getvalue().encode())
missing = set(L) - seen
print(counts, "unmatched:", missing)
