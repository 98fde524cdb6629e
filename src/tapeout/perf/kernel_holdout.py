"""One chip held out of the kernel database: what `tapeout calibrate --kernels --holdout` reports and
scripts/kernel_loco_table.py tabulates for every chip in turn, from one fit.

The shared structural parameters (kernel_fit.holdout_report) are fitted without the chip's and its twins'
kernels (kernels_db.held_out_chips); its kernels are predicted with them, its measured collectives priced on
its link description with nothing fitted (kernel_collectives), and its measured fused-MoE layers at the
serving calibration of that same fit (kernel_moe.with_moe, kernel_calibration.held_out_fitted)."""

from __future__ import annotations

from . import kernel_fit
from .kernel_collectives import with_collectives
from .kernel_moe import with_moe
from .kernels_db import Kernels, held_out_chips, without_chips


def held_out_report(train: Kernels, test: Kernels, hid: str, floors: dict, stack: str | None = None,
                    stack_version: str | None = None, systems: list[str] | None = None) -> dict:
    """kernel_fit.holdout_report of `hid` fitted on `train` without it and its twins (`floors` must not hold
    them), its errors ({op/format: stats}) joined by its collectives and MoE layers (`systems`: hid's)."""
    fit_on = without_chips(train, held_out_chips(hid))
    out = kernel_fit.holdout_report(fit_on, test, hid, floors)
    out["errors"] = with_collectives({hid: out["errors"]}, stack, systems).get(hid, {})
    out["errors"] = with_moe(out["errors"], fit_on, hid, out["fit"]["params"], floors, stack, stack_version, systems,
                             report=out)
    return out
