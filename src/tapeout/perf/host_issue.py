"""CPU issue time per transformer layer of an eager training stack, on a given host CPU.

Data: data/software/host_issue.yaml (per-call CPU times measured on hosts, calls per layer tallied from
the stack's source). One layer's CPU time per pass on host h:

    c = t_call(h) x (n_te x te_over_torch x fp8_factor + n_glue + adapters x n_adapter + n_attention)

t_call(h): the measured CPU time of one eager torch.nn.Linear forward on host h (one module call, one
ATen dispatch, one cuBLAS launch); a host without a measurement runs at the reference host's (an
assumption the caller shows). te_over_torch: a Transformer Engine Linear's CPU time over torch's, on the
hosts where both are measured. fp8_factor: FP8 over BF16 for a TE module (1 in BF16). n_attention:
base + per-CP-step x CP (no_cp at CP 1). A recomputing backward also re-issues the forward calls it
reruns (RERUN: all of them under full recompute, the core attention's under selective). The overlap of this CPU time with the GPU's is
perf/train_host.py's rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from ..errors import TapeoutError
from ..formats import data_file
from ..hardware.catalog import get_chip, lineage, resolve_chip_id, vendor_of


@lru_cache(maxsize=1)
def host_issue_table() -> dict:
    return yaml.safe_load(data_file("software", "host_issue.yaml").read_text())


def _value(entry) -> float:
    return float(entry["value"] if isinstance(entry, dict) else entry)


def te_over_torch() -> float:
    """Mean over the hosts with both measured of TE Linear / torch Linear CPU time."""
    t = host_issue_table()["call_cpu_us"]
    both = sorted(set(t["torch_linear"]) & set(t["te_linear"]))
    return sum(_value(t["te_linear"][h]) / _value(t["torch_linear"][h]) for h in both) / len(both)


def host_names() -> list[str]:
    return sorted(host_issue_table()["call_cpu_us"]["torch_linear"])


def resolve_host(host: str | None, chip_id: str | None = None) -> tuple[str, bool]:
    """(host CPU name, assumed): the named host, else the chip's own (a superchip), else the reference
    host (assumed True: its per-call time stands in for an unmeasured host). An unknown name is an error."""
    tab = host_issue_table()
    if host is not None:
        if host not in tab["call_cpu_us"]["torch_linear"]:
            raise TapeoutError(f"host_cpu '{host}' has no measured per-call CPU time; use one of "
                               f"{', '.join(host_names())} or leave it unset for the reference host "
                               f"(data/software/host_issue.yaml call_cpu_us).")
        return host, False
    hosts = tab.get("chip_hosts") or {}
    for c in (lineage(chip_id) if chip_id is not None and resolve_chip_id(chip_id) is not None else []):
        if c.id in hosts:  # the chip's own host, else the one of the chip it derives from (gh200@600w -> gh200)
            return hosts[c.id], False
    return tab["reference_host"], True


def check_host_issue(layer: str | None, host: str | None) -> None:
    """One clear error for an eager layer type or a host CPU not on file (None: not set)."""
    if layer is not None and layer not in host_issue_table()["layers"]:
        raise TapeoutError(f"eager_layer '{layer}' is not a layer type of data/software/host_issue.yaml; "
                           f"use one of {', '.join(sorted(host_issue_table()['layers']))}.")
    if host is not None:
        resolve_host(host)


def check_layer_chip(layer: str, chip) -> None:
    """One clear error where an eager layer type is set on a chip its stack does not run on: the layer's
    calls and per-call CPU times are of its vendor's software (host_issue.yaml `vendor`), and no host-issue
    data exists for another vendor's (XLA compiles a TPU step whole; no ROCm per-call time is on file)."""
    check_host_issue(layer, None)
    want = host_issue_table()["layers"][layer].get("vendor")
    have = vendor_of(chip)
    if want and have.lower() != str(want).lower():
        c = get_chip(chip)
        raise TapeoutError(f"eager_layer '{layer}' is a layer of {want}'s software (data/software/host_issue.yaml): its host "
                           f"issue time has no data for chip {c.id} (vendor {have}); unset eager_layer (--eager-layer none), "
                           f"or pick one of {want}'s chips.")


def call_cpu_s(host: str) -> float:
    """CPU seconds of one eager call on `host` (the torch.nn.Linear forward measured there)."""
    return _value(host_issue_table()["call_cpu_us"]["torch_linear"][host]) * 1e-6


@dataclass(frozen=True)
class LayerIssue:
    forward_s: float
    backward_s: float
    host: str
    host_assumed: bool
    calls: dict  # {"forward": n, "backward": n} in call units (TE modules weighted)

    def shown(self) -> dict:
        return {"cpu_per_layer_fwd_ms": self.forward_s * 1e3, "cpu_per_layer_bwd_ms": self.backward_s * 1e3,
                "host_cpu": self.host + (" (assumed: no measurement of the run's host)" if self.host_assumed else ""),
                "calls_per_layer": self.calls, "source": "data/software/host_issue.yaml"}


# what a recomputing backward reruns of the layer's forward, per train_layout.RECOMPUTE, as the GPU side
# prices it (perf/training.evaluate_layout `rc`): full the whole forward (Megatron CheckpointFunction.backward
# calls it again from Python); selective the core attention (Megatron-Core _checkpointed_attention_forward);
# dots (XLA's policy) the attention and the elementwise glue; dots-except-ffn1 also the FFN1 GEMM, but as one
# compiled XLA program it issues no per-module calls from the host (the entry keeps every RECOMPUTE value keyed)
RERUN = {"none": (), "full": ("te", "glue", "adapter", "attention"), "selective": ("attention",),
         "dots": ("attention", "glue"), "dots-except-ffn1": ("attention", "glue")}


@lru_cache(maxsize=256)
def layer_issue(layer: str, host: str | None = None, chip_id: str | None = None, fp8: bool = False,
                adapters: int = 0, cp: int = 1, recompute: str = "none") -> LayerIssue:
    """CPU issue time of one layer of type `layer` (host_issue.yaml `layers`) per pass on the host;
    the backward also re-issues the forward calls its `recompute` reruns (RERUN)."""
    check_host_issue(layer, None)
    layers = host_issue_table()["layers"]
    if adapters < 0 or cp < 1:
        raise TapeoutError(f"adapters must be >= 0 and cp >= 1 (got {adapters}, {cp}).")
    if recompute not in RERUN:
        raise TapeoutError(f"recompute = {recompute!r}: use one of {', '.join(RERUN)}.")
    e = layers[layer]
    name, assumed = resolve_host(host, chip_id)
    te = te_over_torch() * (_value(host_issue_table()["fp8_over_bf16"]) if fp8 else 1.0)
    calls, parts = {}, {}
    for p in ("forward", "backward"):
        att = e["attention_calls"][p]
        parts[p] = {"te": e["te_gemm_modules"][p] * te, "glue": e["glue_calls"][p],
                    "adapter": adapters * e["adapter_calls"][p],
                    "attention": att["base"] + (att["per_cp_step"] * cp if cp > 1 else att["no_cp"])}
        calls[p] = sum(parts[p].values())
    calls["backward"] += sum(parts["forward"][k] for k in RERUN[recompute])
    t = call_cpu_s(name)
    return LayerIssue(calls["forward"] * t, calls["backward"] * t, name, assumed,
                      {p: round(v, 2) for p, v in calls.items()})
