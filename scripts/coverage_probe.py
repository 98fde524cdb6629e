"""Coverage probe: rows in end_to_end.csv's schema spelled as the newer MLPerf rounds publish them
(Inference v5.0-v6.0, Training v5.0-v5.1; new chips, formats, software strings). value = 1 and
notes say PROBE: these are NOT results, only a check of mapping, units, scenario, interval and
skip reasons (docs/notes/issue-15.md, Round stop-19 issue-19sf).

    python scripts/coverage_probe.py /tmp/probe.csv
    tapeout validate --data /tmp/probe.csv --json /tmp/probe.json
"""
import csv, sys
COLS = "id,category,workload,model_config,scenario,accelerator,n_accelerators,precision,metric,value,unit,software,source,notes".split(",")
NOTE = "PROBE row (value=1 is not a measurement; mapping test only)"
M = {"Offline": "throughput (Offline, unconstrained latency)", "Server": "max throughput meeting Server latency SLA (Poisson arrivals)",
     "Interactive": "max throughput meeting Server latency SLA (Poisson arrivals)", "SingleStream": "p90 latency per sample (SingleStream)",
     "MultiStream": "p99 latency per 8-sample query (MultiStream)"}
rows = []
def inf(w, sc, acc, n, prec, unit, sw, extra=""):
    rows.append(dict(category="mlperf-inf", workload=w, model_config="probe", scenario=sc, accelerator=acc, n_accelerators=str(n),
                     precision=prec, metric=M[sc], value="1", unit=unit, software=sw, source="probe", notes=NOTE + extra))
def trn(w, acc, n, sw, notes):
    rows.append(dict(category="mlperf-train", workload=w, model_config="probe", scenario="time-to-train (closed)", accelerator=acc,
                     n_accelerators=str(n), precision="per submission (mixed; not logged)", metric="time to train to quality target",
                     value="1", unit="minutes", software=sw, source="probe", notes=NOTE + "; " + notes))
TRT = "TensorRT 10.11, TensorRT-LLM 1.0, CUDA 12.9"
inf("MLPerf Inference v5.0 llama3.1-405b", "Offline", "NVIDIA GB200", 72, "fp4", "Tokens/s", TRT)
inf("MLPerf Inference v5.0 llama3.1-405b", "Server", "NVIDIA B200-SXM-180GB", 8, "nvfp4", "Tokens/s", TRT)
inf("MLPerf Inference v5.1 llama3.1-405b-interactive", "Server", "NVIDIA GB300", 72, "nvfp4", "Tokens/s", TRT)
inf("MLPerf Inference v5.1 llama3.1-405b", "Interactive", "NVIDIA B300-SXM-270GB", 8, "fp4", "Tokens/s", TRT)
inf("MLPerf Inference v5.1 llama3.1-8b", "Offline", "NVIDIA RTX PRO 6000 Blackwell Server Edition", 8, "fp8", "Tokens/s", "TensorRT-LLM 0.21")
inf("MLPerf Inference v5.1 llama3.1-8b", "Server", "AMD Instinct MI355X", 8, "mxfp4", "Tokens/s", "vLLM 0.10.1, ROCm 7.0")
inf("MLPerf Inference v5.1 llama3.1-8b-interactive", "Server", "NVIDIA H200-SXM-141GB-CTS", 8, "fp8", "Tokens/s", TRT)
inf("MLPerf Inference v5.1 llama3.1-8b", "SingleStream", "NVIDIA RTX PRO 6000 Blackwell Server Edition", 1, "fp8", "Latency (ms)", TRT)
inf("MLPerf Inference v5.0 llama2-70b-99", "Offline", "AMD Instinct MI325X", 8, "fp8", "Tokens/s", "vLLM 0.8.5, ROCm 6.4")
inf("MLPerf Inference v5.0 llama2-70b-interactive-99", "Server", "NVIDIA B200-SXM-180GB", 8, "fp4", "Tokens/s", TRT)
inf("MLPerf Inference v5.0 llama2-70b-99.9", "Interactive", "NVIDIA H200-SXM-141GB", 8, "fp8", "Tokens/s", TRT)
inf("MLPerf Inference v5.0 llama2-70b-99", "Server", "Google TPU Trillium", 8, "int8", "Tokens/s", "JAX 0.5, JetStream")
inf("MLPerf Inference v5.0 llama2-70b-99", "Offline", "Intel Gaudi3", 8, "fp8", "Tokens/s", "vLLM 0.6 (Gaudi), SynapseAI 1.20")
inf("MLPerf Inference v5.1 deepseek-r1", "Offline", "NVIDIA GB200", 4, "fp4", "Tokens/s", TRT)
inf("MLPerf Inference v5.1 deepseek-r1", "Server", "AMD Instinct MI355X", 8, "mxfp4", "Tokens/s", "SGLang 0.4.9, ROCm 7.0")
inf("MLPerf Inference v6.0 deepseek-r1-interactive", "Server", "NVIDIA GB300", 72, "nvfp4", "Tokens/s", TRT)
inf("MLPerf Inference v6.0 gpt-oss-120b", "Offline", "NVIDIA B200-SXM-180GB", 8, "mxfp4", "Tokens/s", TRT)
inf("MLPerf Inference v6.0 gpt-oss-120b", "Interactive", "AMD Instinct MI355X", 8, "mxfp4", "Tokens/s", "vLLM 0.11, ROCm 7.0")
inf("MLPerf Inference v5.0 mixtral-8x7b", "Offline", "AMD MI325X", 8, "fp8", "Tokens/s", "vLLM 0.8.3, ROCm 6.3")
inf("MLPerf Inference v5.0 mixtral-8x7b", "Server", "NVIDIA H200-SXM-141GB", 8, "fp8", "Tokens/s", TRT)
inf("MLPerf Inference v5.1 whisper", "Offline", "NVIDIA B200-SXM-180GB", 8, "fp8", "Samples/s", TRT)
inf("MLPerf Inference v5.0 rgat", "Offline", "NVIDIA H200-SXM-141GB", 8, "fp16", "Samples/s", "PyTorch 2.5, DGL")
inf("MLPerf Inference v5.0 stable-diffusion-xl", "Offline", "NVIDIA B200-SXM-180GB", 8, "fp8", "Samples/s", TRT)
inf("MLPerf Inference v5.0 stable-diffusion-xl", "Server", "AMD Instinct MI325X", 8, "fp8", "Queries/s", "ROCm 6.3, MIGraphX")
inf("MLPerf Inference v5.1 dlrm-v2-99", "Offline", "NVIDIA B200-SXM-180GB", 8, "fp8", "Samples/s", TRT)
inf("MLPerf Inference v5.1 dlrm-v2-99.9", "Server", "NVIDIA GB200", 4, "fp16", "Queries/s", TRT)
inf("MLPerf Inference v5.0 pointpainting", "SingleStream", "NVIDIA L40S", 1, "fp16", "Latency (ms)", TRT)
inf("MLPerf Inference v5.1 retinanet", "Offline", "NVIDIA RTX PRO 6000 Blackwell Server Edition", 8, "int8", "Samples/s", TRT)
inf("MLPerf Inference v5.1 resnet", "Server", "NVIDIA H200-SXM-141GB-CTS", 8, "int8", "Queries/s", TRT)
inf("MLPerf Inference v5.1 3d-unet-99.9", "Offline", "NVIDIA B200-SXM-180GB", 8, "fp8", "Samples/s", TRT)
inf("MLPerf Inference v5.0 bert-99", "Offline", "NVIDIA B200-SXM-180GB", 8, "int8", "Samples/s", TRT)
inf("MLPerf Inference v6.0 qwen3-vl-235b-a22b", "Offline", "NVIDIA GB300", 72, "nvfp4", "Tokens/s", TRT)
inf("MLPerf Inference v6.0 wan-2.2-t2v-a14b", "Offline", "NVIDIA B200-SXM-180GB", 8, "fp8", "Samples/s", TRT)
inf("MLPerf Inference v6.0 dlrm-v3", "Offline", "NVIDIA B200-SXM-180GB", 8, "fp8", "Samples/s", TRT)
inf("MLPerf Inference v6.0 llama3.1-8b", "Offline", "Google TPU Ironwood", 4, "fp8", "Tokens/s", "JAX, vLLM TPU")
inf("MLPerf Inference v5.1 llama3.1-8b", "Offline", "NVIDIA B200-SXM5-180GB", 8, "fp8", "Tokens/s", TRT)
inf("MLPerf Inference v5.1 llama3.1-8b", "Offline", "Acme Photon X1", 8, "fp8", "Tokens/s", "AcmeRT 1.0")
inf("MLPerf Inference v5.1 llama3.1-8b", "Offline", "AWS Trainium2", 16, "bf16", "Tokens/s", "Neuron SDK 2.24, vLLM 0.9")
inf("MLPerf Inference v5.1 llama3.1-405b", "Offline", "NVIDIA B200-SXM-180GB", 8, "mixed", "Tokens/s", TRT)
inf("MLPerf Inference v5.1 llama2-70b-99", "Offline", "NVIDIA B200-SXM-180GB", 8, "fp8", "Samples/s", TRT)
GB = lambda g, extra="": f"global_batch_size={g}{extra}"
trn("MLPerf Training v5.0 llama31_405b", "NVIDIA GB200", 512, "NeMo 25.04, Megatron-Core", GB(1152, "; samples_count=1e6"))
trn("MLPerf Training v5.0 llama31_405b", "Google TPU Trillium", 1024, "JAX/MaxText", GB(1152, "; samples_count=1e6"))
trn("MLPerf Training v5.1 llama31_8b", "NVIDIA B300-SXM-270GB", 8, "NeMo 25.09", GB(32, "; samples_count=2e5"))
trn("MLPerf Training v5.1 llama31_8b", "AMD Instinct MI355X", 8, "PyTorch 2.8, ROCm 7.0, Primus", GB(32, "; samples_count=2e5"))
trn("MLPerf Training v5.1 flux1", "NVIDIA B200-SXM-180GB", 64, "NeMo 25.09", GB(1024, "; samples_count=3e6"))
trn("MLPerf Training v5.0 retinanet", "NVIDIA B200-SXM-180GB", 8, "PyTorch NGC 25.04", GB(256, "; epoch_num=4"))
trn("MLPerf Training v5.0 rgat", "NVIDIA GB200", 8, "DGL, PyTorch NGC 25.04", GB(16384, "; epoch_num=0.8"))
trn("MLPerf Training v5.0 llama2_70b_lora", "AMD Instinct MI325X", 8, "PyTorch 2.6, ROCm 6.4", GB(8, "; samples_count=3072"))
trn("MLPerf Training v5.1 llama2_70b_lora", "Intel Gaudi3", 8, "PyTorch 2.6, SynapseAI 1.21, Optimum Habana", GB(8, "; samples_count=3072"))
trn("MLPerf Training v5.0 dlrm_dcnv2", "NVIDIA B200-SXM-180GB", 8, "HugeCTR NGC 25.04", GB(55296, "; epoch_num=0.7"))
trn("MLPerf Training v5.0 stable_diffusion", "NVIDIA B200-SXM-180GB", 8, "NeMo 25.04", GB(512, "; samples_count=2.5e6"))
trn("MLPerf Training v5.1 llama31_8b", "AWS Trainium2", 64, "Neuron SDK 2.24, NxD", GB(32, "; samples_count=2e5"))
for i, r in enumerate(rows):
    r["id"] = f"PROBE-{i:03d}"
w = csv.DictWriter(open(sys.argv[1], "w", newline=""), fieldnames=COLS)
w.writeheader(); w.writerows(rows)
print(len(rows), "rows")
