"""Fit calibration factors to microbenchmarks (and only to microbenchmarks).

Reads data/measured/microbenchmarks.csv and, per chip, fits the free factors of the same
op-cost model the predictions use (perf/opcost.py):
  - GEMM rows (best-shape MAMF throughput, tuned GEMM latency sweeps): eff_compute per
    dtype, eff_mem and the per-kernel overhead, by least squares on log time;
  - streaming-bandwidth rows: eff_mem directly;
  - collective rows (NCCL/RCCL bus bandwidth vs payload): eff_link (ring rows only) and
    the per-step latency of the alpha-beta model;
  - fused-attention kernel rows (data/calibration/attention_kernels.csv, published kernel
    rates): eff_attention, the attention kernel's efficiency as a fraction of the chip's
    fitted GEMM efficiency (forward, causal mask), and attn_bwd_factor, how much slower per
    FLOP the backward kernel runs than the forward one (fit_attention);
  - fused-MoE kernel rows (data/calibration/moe_kernels.csv, published kernel timings of a
    MoE layer's experts): eff_moe, the grouped expert GEMMs' efficiency as a fraction of the
    chip's dense GEMM efficiency (fit_moe).
Chips outside the catalog (GH200, B300, MI210, A100-PCIe) contribute to their family mean
through the peak the row itself states. Writes data/calibration/fitted.yaml with the row
ids behind every number and the residual spread (sigma of log error) used for intervals.

Modules, one job each: rows (reading and parsing microbenchmark rows, the clock each GEMM row was timed at),
clock_fit (sustained-clock GEMM rows brought to boost, switch CLOCK_TAGGED_GEMM_FIT, off), gemm (GEMM fit),
kernels (attention / MoE kernel fits), collective_fit (eff_link, latency, NVLS),
power_transfer (power-density transfer law), uncertainty_fit (leave-one-chip-out sigmas),
calibrate (fit_all, write_fitted).
"""

from .calibrate import fit_all, write_fitted
from .collective_fit import fit_collective_algorithms, fit_collectives
from .gemm import SEARCH_DIMS, SEARCH_K, best_search_utilisation, fit_gemm
from .kernels import fit_attention, fit_moe
from .power_transfer import fit_power_exponent, pool_power, power_density
from .rows import OFF_CATALOG, chip_key, gemm_point, read_attention_kernels, read_microbenchmarks, read_moe_kernels
from .uncertainty_fit import TERMS, fit_uncertainty, gemm_log_residuals, link_log_residuals

__all__ = ["OFF_CATALOG", "SEARCH_DIMS", "SEARCH_K", "TERMS", "best_search_utilisation", "chip_key", "fit_all",
           "fit_attention", "fit_collective_algorithms", "fit_collectives", "fit_gemm", "fit_moe", "fit_power_exponent",
           "fit_uncertainty", "gemm_log_residuals", "gemm_point", "link_log_residuals", "pool_power", "power_density",
           "read_attention_kernels", "read_microbenchmarks", "read_moe_kernels", "write_fitted"]
