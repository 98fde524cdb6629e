"""The power cap's energy per FLOP of a chip's format, from the sustained-vs-boost GEMM pair measured on its silicon.

perf/power_cap.py prices the clock a GEMM sustains at the board's cap with one board energy per BF16-equivalent
FLOP (`pj_flop_n7`) shared by every chip and format: the geometric mean of the energies the measured pairs of
data/calibration/power_cap_msmf.yaml invert to (kernel_fit.held_cap_energy; mamf-finder v4: MSMF, a saturated
dense GEMM over 2 s at the power limit, against the same run's boost "pair MAMF"). The pairs do not share one
energy: H200's FP8 pair inverts to 1.99 pJ, its BF16 pair to 1.78, B200's to 1.57 / 1.53, A100 PCIe's BF16 to
1.42, and at the shared mean (1.65) the law gives H200's FP8 GEMM 0.945 of its boost throughput where it
sustained 0.888 (1354 / 1525 TFLOPS), its BF16 0.912 where it sustained 0.888.

The energy a GEMM draws per FLOP is the die's (its tensor datapath, register file and L2 traffic per MMA, at the
die's voltage-frequency curve): a chip built from the same die at the same board power and peaks (the catalog's
same-silicon rule, perf/fit/same_silicon.py: H100-SXM and H200 are one GH100 at 700 W; an H800-SXM too; not a
GH200 module or an H100-PCIe) sustains the same clock at the same busy fraction. With SILICON_CAP_ENERGY a chip's
format takes the energy its own silicon's measured pair of that format inverts to (the geometric mean where
several do; 16-bit formats share one datapath, PAIR_FORMAT), and the shared mean elsewhere. It enters as the
format's power density scaled by shared / own energy (power_cap.clock_factor reads busy x energy / density only),
in the kernel fit (the collector's long GEMMs timed at the cap, perf/collector_clock.py) and in the serving entry
(kernel_calibration.chip_entry: serving runs at the cap throughout).

Kernel-level check (docs/notes/issue-24.md, Round stop-40, branch issue-51a): H100's own kernel fit prices the
database's H100 FP8 GEMMs (m, n, k >= 2048) timed at boost at 0.991 of measured and those timed at the cap at
0.946 (BF16 0.962 / 0.929): the shared energy leaves the sustained kernels 5-7 % fast on Hopper.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import yaml

from ..ops import PEAK_KEYS

# on: a chip's format takes the cap energy its own silicon's measured sustained-vs-boost pair inverts to (module
# docstring); off: the shared mean of every pair (stop 39). On: sourced twice at kernel level (H200's MSMF pairs on
# the same die; H100's and H200's own database GEMMs timed at the cap priced 1.000 / 1.004 x measured, 0.946 / 0.948
# off), and over the database's serving rows own kernels 12.6 -> 9.5 % (H100 10.4 -> 5.6, 61 of 79 rows toward),
# held out 10.1 -> 10.2 (H100 4.6 -> 5.2: it takes its sibling's harder throttle), without the database untouched
# (docs/notes/issue-24.md, Round stop-40, branch issue-51a). The training path's sustained clock (train_clock) does
# not read it.
SILICON_CAP_ENERGY = True
# formats that run the same tensor datapath at the same rate (16-bit): a pair measured in one applies to the other
PAIR_FORMAT = {"fp16": "bf16"}


def pair_energies(held_out=frozenset()) -> list[tuple[object, str, float]]:
    """(chip, format, pj_flop_n7) per measured pair of data/calibration/power_cap_msmf.yaml: the energy at which
    the cap law gives the pair's sustained / boost ratio (power_cap.cap_energy at busy = the boost throughput /
    the format's peak); pairs of the `held_out` chips stay out."""
    from ..hardware.catalog import get_chip, resolve_chip_id
    from .kernel_fit import format_power_density
    from .power_cap import cap_energy, node_energy_scale

    pairs = yaml.safe_load(resources.files("tapeout").joinpath("data", "calibration", "power_cap_msmf.yaml").read_text())["pairs"]
    out = []
    for r in pairs:
        ch = get_chip(resolve_chip_id(r["chip"]))
        if ch.id in held_out:
            continue
        busy = r["pair_mamf_tflops"] / float(ch.peak_tflops(r["format"]))
        out.append((ch, r["format"], cap_energy(busy, format_power_density(ch)[PEAK_KEYS.index(r["format"])],
                                                node_energy_scale(ch), r["msmf_tflops"] / r["pair_mamf_tflops"])))
    return out


def silicon_energies(chip, held_out=frozenset()) -> dict[str, float]:
    """{format: pj_flop_n7} from the pairs measured on the chip's own silicon (itself or a same-silicon twin,
    fit/same_silicon.py), geometric mean per format; {} for a chip without such a pair."""
    from .fit.same_silicon import same_silicon, silicon_key

    key = silicon_key(chip)
    got: dict[str, list[float]] = {}
    for ch, fmt, e in pair_energies(held_out):
        if ch.id == getattr(chip, "id", None) or same_silicon(key, silicon_key(ch)):
            got.setdefault(fmt, []).append(e)
    return {f: float(np.exp(np.mean(np.log(v)))) for f, v in got.items()}


def energy_ratio(chip, shared: float, held_out=frozenset(), on: bool | None = None) -> np.ndarray:
    """Per PEAK_KEYS format: the chip's own-silicon cap energy / the `shared` one where the switch is on and a
    pair of that format (or its PAIR_FORMAT) was measured on its silicon, else 1."""
    out = np.ones(len(PEAK_KEYS))
    if not (SILICON_CAP_ENERGY if on is None else on):
        return out
    own = silicon_energies(chip, held_out)
    for i, k in enumerate(PEAK_KEYS):
        e = own.get(k, own.get(PAIR_FORMAT.get(k, k)))
        if e is not None and shared > 0:
            out[i] = e / shared
    return out
