"""Cycle model of a GEMM on systolic arrays (one or many cores), vectorized over designs.

SCALE-Sim's analytical model (Samajdar et al., "A Systematic Methodology for Characterizing
Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020, Sec. III): a GEMM
C[M,N] = A[M,K] B[K,N] is mapped onto an R x C array by choosing which two operand
dimensions are laid out in space (S_R along the rows, S_C along the columns) and which one
streams in time (T):

    dataflow            S_R   S_C   T     stationary operand
    output-stationary   M     N     K     the partial sums C[m, n]
    weight-stationary   K     N     M     the weights B[k, n]
    input-stationary    K     M     N     the inputs A[m, k]

A mapping larger than the array is folded: ceil(S_R/R) * ceil(S_C/C) folds run one after
another. One fold costs fill + stream + drain cycles:

    WS / IS   2R + C + T - 2   (R cycles to pre-load the stationary operand, T rows streamed
                                with an (R-1)-cycle skew, C-1 cycles to drain partial sums)
    OS        R + C + T - 2    (nothing to pre-load; T operand pairs stream in with row and
                                column skews of R-1 and C-1)

The WS/IS expression is the paper's Eq. for a folded mapping; the OS expression is the one
SCALE-Sim's trace generator produces (`systolic_compute_os.py`: no pre-load prefix; the
paper's generic 2R + C + T - 2 is its WS/IS case). SCALE-Sim reports one cycle fewer in total
(cycle numbering starts at 0); benchmarks/scalesim_compare.py checks both against the tool.

Tensor-core style engines (small MMA tiles fed from register files, e.g. GPU tensor cores)
pipeline back-to-back tiles, so there is no per-fold fill/drain: cycles = folds * T.

Several cores: the independent (batch x fold) tasks are spread over the cores in waves;
when there are fewer tasks than cores, the streamed dimension T is split across cores
(each core takes a slice of rows / of the reduction), which only pays the fill again.
"""

from __future__ import annotations

import numpy as np

DATAFLOWS = ("ws", "os", "is")
STYLES = ("systolic", "tensor_core")


def dataflow_code(df) -> np.ndarray | int:
    """'ws'/'os'/'is' (or an array of them, or integer codes) -> integer code into DATAFLOWS."""
    if isinstance(df, str):
        return DATAFLOWS.index(df.lower())
    a = np.asarray(df)
    if a.dtype.kind in "iu":
        return a
    return np.vectorize(lambda s: DATAFLOWS.index(str(s).lower()), otypes=[int])(a)


def _a(x):
    return np.asarray(x, dtype=float)


def mapping_dims(m, n, k, dataflow):
    """(S_R, S_C, T) of C[M,N] = A[M,K] B[K,N] under `dataflow` (code or name)."""
    df = dataflow_code(dataflow)
    m, n, k = _a(m), _a(n), _a(k)
    is_os, is_ws = (df == 1), (df == 0)
    sr = np.where(is_os, m, k)
    sc = np.where(is_os | is_ws, n, m)
    t = np.where(is_os, k, np.where(is_ws, m, n))
    return sr, sc, t


def fill_drain_cycles(rows, cols, dataflow, style=0):
    """Per-fold overhead cycles beyond the T streamed cycles (0 for tensor-core style)."""
    df = dataflow_code(dataflow)
    r, c = _a(rows), _a(cols)
    ovh = np.where(df == 1, r + c - 2.0, 2.0 * r + c - 2.0)
    return np.where(_a(style) == 1, 0.0, ovh)


def fold_counts(m, n, k, rows, cols, dataflow):
    """(row folds, column folds) of the mapping."""
    sr, sc, _ = mapping_dims(m, n, k, dataflow)
    return np.ceil(sr / _a(rows)), np.ceil(sc / _a(cols))


def gemm_cycles(m, n, k, rows, cols, dataflow="ws", batch=1, cores=1, style=0):
    """Compute cycles of `batch` independent GEMMs M x N x K on `cores` R x C arrays.

    Every argument broadcasts (ops along one axis, designs along another)."""
    sr, sc, t = mapping_dims(m, n, k, dataflow)
    r, c = _a(rows), _a(cols)
    folds = np.ceil(sr / r) * np.ceil(sc / c)
    tasks = _a(batch) * folds
    cores = np.maximum(_a(cores), 1.0)
    ovh = fill_drain_cycles(r, c, dataflow, style)
    # fewer tasks than cores: split the streamed dimension over the idle cores
    split = np.clip(np.floor(cores / tasks), 1.0, np.maximum(1.0, np.floor(t / np.maximum(r, 1.0))))
    t_slice = np.ceil(t / split)
    waves = np.ceil(tasks * split / cores)
    return waves * (ovh + t_slice)


def single_array_cycles(m, n, k, rows, cols, dataflow="ws"):
    """SCALE-Sim closed form for one array: folds x (fill/drain + T)."""
    sr, sc, t = mapping_dims(m, n, k, dataflow)
    folds = np.ceil(sr / _a(rows)) * np.ceil(sc / _a(cols))
    return folds * (fill_drain_cycles(rows, cols, dataflow) + t)


def utilization(m, n, k, rows, cols, dataflow="ws", batch=1, cores=1, style=0):
    """Fraction of the MAC-cycles doing useful work: MACs / (cores R C cycles)."""
    macs = _a(batch) * _a(m) * _a(n) * _a(k)
    cyc = gemm_cycles(m, n, k, rows, cols, dataflow, batch, cores, style)
    return macs / (np.maximum(_a(cores), 1.0) * _a(rows) * _a(cols) * cyc)
