"""Ledger: the Qualcomm Cloud AI 100 Ultra and first-generation Intel Gaudi rows added to the
catalog on 2026-12-04 (round stop-15).

Every value was read on the page named with it (search tool, corpora docs+pages). The Cloud AI
100 Ultra card is one catalog chip: the figures are the card totals Qualcomm's Cloud AI SDK
documentation lists (four AI 100 SoCs behind a PCIe switch), which is how MLPerf counts it (one
accelerator = one card). First-gen Gaudi: Intel's Hot Chips 2024 Gaudi generations table (the
same source the gaudi2 row uses). Figures no page gave are empty rows (status `missing`) with the reason. Chips looked for
and left out (an essential figure not found) are listed in docs/notes/issue-16.md. Rerunning is a
no-op: rows already present are left as they are."""
from chip_ledger import append_rows

O, S, M, D = "official", "secondary", "missing", "derived"
NF = "none found: search corpora docs+pages, 2026-12-04"
QDOC = "https://quic.github.io/cloud-ai-sdk-pages/latest/Getting-Started/Architecture"
MTM = "https://morethanmoore.substack.com/p/qualcomms-cloud-ai-100-pcie-now-for"
WIKI = "https://en.wikichip.org/wiki/qualcomm/microarchitectures/cloud_ai_100"
GROK = "https://grokipedia.com/page/Qualcomm_Cloud_AI_100"
CARD = "card total: 4 AI 100 SoCs"
DT = ("the AI 100 data types are INT8, INT16, FP16 and FP32 (" + GROK + "); the SDK table lists FP16 and INT8 rates only")
HC24 = ("Intel, 'Intel Gaudi 3 AI Accelerator: Architected for Gen AI Training and Inference', Hot Chips 2024 "
        "(R. Kaplan), Gaudi product generations table, text at https://www.sgpjbg.com/baogao/465025.html")
HDOC = "https://docs.habana.ai/en/latest/Gaudi_Overview/Gaudi_Architecture.html"
G1 = "first-gen Gaudi column"
ARCH = {"num_cores", "host_link_bw_gbps", "hbm_stacks"}  # these go to extra_specs.csv

# (chip, field, value, unit, status, source, notes)
ROWS = [
    ("cloud-ai-100-ultra", "year", "2023", "year", S, MTM, "the AI 100 Ultra was the updated card, announced in 2023"),
    ("cloud-ai-100-ultra", "process_node", "TSMC 7 nm", "", S, WIKI, "the Cloud AI 100 SoC is fabricated on TSMC's 7 nm process"),
    ("cloud-ai-100-ultra", "num_compute_dies", "4", "dies", O, QDOC, "4 AI 100 SoCs and a PCIe switch on the card"),
    ("cloud-ai-100-ultra", "fp16_tflops_dense", "290", "TFLOPS", O, QDOC, CARD),
    ("cloud-ai-100-ultra", "int8_tops_dense", "870", "TOPS", O, QDOC, CARD),
    ("cloud-ai-100-ultra", "bf16_tflops_dense", "", "TFLOPS", M, NF, "no BF16: " + DT),
    ("cloud-ai-100-ultra", "fp8_tflops_dense", "", "TFLOPS", M, NF, "no FP8: " + DT),
    ("cloud-ai-100-ultra", "fp32_tflops", "", "TFLOPS", M, NF, "no FP32 rate published on the pages checked (the vector fallback applies)"),
    ("cloud-ai-100-ultra", "sparsity_factor", "", "x", M, NF, "no sparse rate on the pages checked"),
    ("cloud-ai-100-ultra", "onchip_sram_mb", "576", "MB", O, QDOC, CARD + " x 144 MB"),
    ("cloud-ai-100-ultra", "memory_type", "LPDDR4X", "", O, QDOC, "4 x 64-bit LPDDR4X channels per SoC"),
    ("cloud-ai-100-ultra", "memory_capacity_gb", "128", "GB", O, QDOC, CARD + " x 32 GB"),
    ("cloud-ai-100-ultra", "memory_bandwidth_tbps", "0.548", "TB/s", O, QDOC,
     CARD + " x 137 GB/s; each SoC reaches only its own 137 GB/s"),
    ("cloud-ai-100-ultra", "tdp_w", "150", "W", O, QDOC, "card TDP"),
    ("cloud-ai-100-ultra", "scaleup_bw_gbps_bidir", "64", "GB/s", D, QDOC,
     "no card-to-card link: cards talk over the host PCIe Gen4 x16 (64 GB/s bidirectional)"),
    ("cloud-ai-100-ultra", "num_cores", "64", "AI cores", O, QDOC + " ; " + MTM, "16 AI cores per SoC x 4 SoCs"),
    ("cloud-ai-100-ultra", "host_link_bw_gbps", "32", "GB/s", D, QDOC, "PCIe Gen4 x16 to the host: 32 GB/s per direction"),
    ("cloud-ai-100-ultra", "hbm_stacks", "0", "stacks", O, QDOC, "LPDDR4X, no HBM"),
    ("gaudi1", "year", "", "year", M, NF, "no launch date on the pages checked"),
    ("gaudi1", "process_node", "16 nm", "", O, HC24, G1 + ": 16nm (foundry not named)"),
    ("gaudi1", "bf16_tflops_dense", "60", "TFLOPS", O, HC24, G1 + ": peak compute (BF16) 60 TFLOPs"),
    ("gaudi1", "fp8_tflops_dense", "", "TFLOPS", M, NF, "no FP8 rate for first-gen Gaudi (the table gives BF16 only; FP8 came with Gaudi2)"),
    ("gaudi1", "fp16_tflops_dense", "", "TFLOPS", M, NF, "no FP16 rate on the pages checked"),
    ("gaudi1", "memory_type", "HBM", "", O, HC24, G1 + ": HBM capacity and peak HBM BW"),
    ("gaudi1", "memory_capacity_gb", "32", "GB", O, HC24, G1 + ": HBM capacity 32 GB"),
    ("gaudi1", "memory_bandwidth_tbps", "0.9", "TB/s", O, HC24, G1 + ": peak HBM BW 900 GB/s"),
    ("gaudi1", "tdp_w", "400", "W", O, HC24, G1 + ": TDP (OAM) 400 W"),
    ("gaudi1", "scaleup_bw_gbps_bidir", "250", "GB/s", D, HC24 + " ; " + HDOC,
     "embedded NIC BW 2 Tb/s bidirectional = 10 x 100 GbE RoCE ports (Habana docs), all counted as on the gaudi2 row"),
    ("gaudi1", "host_link_bw_gbps", "32", "GB/s", D, HC24, G1 + ": peak PCIe BW 64 GB/s bidirectional"),
]

append_rows(ROWS, ARCH)
