"""Small design spaces shared by the explore tests (holds no tests itself)."""

SMALL = {
    "name": "tiny",
    "parameters": {
        "cores": [8, 16, 32],
        "array_rows": [32, 64, 128],
        "dataflow": ["ws", "os"],
        "clock_ghz": {"min": 0.8, "max": 1.2, "step": 0.4},
        "mem_type": ["HBM3", "LPDDR5"],
        "mem_stacks": [2, 4],
    },
    "derived": {"array_cols": "array_rows"},
    "workloads": [
        {"name": "dec", "kind": "llm_decode", "model": "llama-3.1-8b", "batch": 16, "context": 1024,
         "precision": "fp8", "weight": 1, "slo_ms": 40},
        {"name": "pre", "kind": "llm_prefill", "model": "llama-3.1-8b", "batch": 1, "input_len": 512,
         "precision": "fp8", "weight": 2, "slo_ms": 400},
    ],
    "constraints": [{"metric": "tdp_w", "max": 800}, {"reticle": True}],
    "search": {"chunk": 64, "population": 16, "budget": 96, "seed": 3},
}
