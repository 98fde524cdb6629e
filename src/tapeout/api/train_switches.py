"""Training switches that act on one part of a layout or one kind of chip, refused where they cannot act.

Each switch prices one mechanism (perf/stack_features.StackFeatures documents them):
  p2p_blocking_warmup, p2p_forward_send_wait   the interleaved pipeline's held sends: only a layout with
      PP > 1 and VP > 1 sends between virtual stages (perf/pipeline_p2p.pipeline_send_time returns at PP 1
      and prices the held sends only at VP > 1)
  fp8_attention_cp   FP8 attention inside the context-parallel ring: only at CP > 1, and only when the run's
      attention is FP8 at all (perf/training._Fwd.bf16_attention)
  ep_node_forwarding, ep_fp8_dispatch   the MoE expert all-to-all: only at EP > 1 (perf/training._Fwd._ep_a2a);
      node forwarding relays a token over NVLink inside its destination node (DeepEP README,
      github.com/deepseek-ai/DeepEP: intranode kernels over NVLink, internode RDMA + NVLink forwarding), so
      it needs an NVIDIA chip with an NVLink scale-up tier (not a PCIe card, not a TPU / Trainium torus,
      not an xGMI / RoCE mesh)
A switch asked for (turned on; fp8_attention_cp either way) with a layout pinned where it cannot act is an
error naming the pin (`refuse`); one asked for while the layout search picks a layout where it did nothing is
said in the result's notes (`idle_notes`). Turning a default-off switch off asks nothing and is accepted.
"""

from __future__ import annotations

from ..errors import TapeoutError
from .args import option_name

# switch -> (the layout dimensions that must exceed 1 for it to act, what it prices)
NEEDS = {
    "p2p_blocking_warmup": (("pp", "vp"), "the interleaved pipeline's held sends"),
    "p2p_forward_send_wait": (("pp", "vp"), "the interleaved pipeline's held sends"),
    "fp8_attention_cp": (("cp",), "FP8 attention inside the context-parallel ring"),
    "ep_node_forwarding": (("ep",), "the MoE expert all-to-all"),
    "ep_fp8_dispatch": (("ep",), "the MoE expert all-to-all"),
}


def _given(settings: dict) -> list[str]:
    """The switches `settings` asks for: turned on (an off switch is the default, which asks nothing), and
    fp8_attention_cp either way (its default is the stack's, and neither value acts at CP 1)."""
    return [k for k in NEEDS if settings.get(k) or (k == "fp8_attention_cp" and settings.get(k) is not None)]


def nvlink_domain(chip) -> bool:
    """Whether `chip` has an NVIDIA NVLink scale-up tier (switch or direct links), the one DeepEP forwards over."""
    from ..hardware.node import scaleup_wiring
    from ..hardware.topology import nvlink_under_nccl

    return nvlink_under_nccl(chip.family, scaleup_wiring(chip))


def refuse(settings: dict, pins: dict, pin_from: dict, chip, fp8_attention_runs: bool) -> None:
    """Refuse a switch in `settings` (the user's; None = not given) that cannot act: a layout dimension it
    needs pinned to 1 (`pins`, named by `pin_from`), FP8-attention-in-CP on a run whose attention is not
    FP8, node forwarding on a chip without an NVLink domain."""
    for k in _given(settings):
        dims, what = NEEDS[k]
        for d in dims:
            if pins.get(d) is not None and int(pins[d]) <= 1:
                src = pin_from.get(d, "--" + d)
                raise TapeoutError(f"{option_name(k)} changes {what}, which a layout with {d.upper()} 1 does not have "
                                   f"({d} 1 from {src}): drop {option_name(k)}, or give --{d} above 1.")
    if settings.get("fp8_attention_cp") is not None and not fp8_attention_runs:
        raise TapeoutError("--fp8-attention-cp sets the precision of FP8 attention inside the context-parallel ring; this "
                           "run's attention is BF16 (no --fp8-attention under an FP8 recipe that runs on the chip): drop "
                           "--fp8-attention-cp, or give --fp8-attention with --precision fp8.")
    if settings.get("ep_node_forwarding") and not nvlink_domain(chip):
        from ..hardware.node import scaleup_wiring

        raise TapeoutError(f"--ep-node-forwarding forwards each token over NVLink inside its destination node (DeepEP); "
                           f"{chip.id} ({chip.family}, scale-up wiring '{scaleup_wiring(chip)}') has no NVLink domain: "
                           f"drop --ep-node-forwarding.")


def idle_notes(settings: dict, layout: dict) -> list[str]:
    """Notes for the switches in `settings` that the searched `layout` (perf/training TrainLayout as a dict)
    gave nothing to act on."""
    notes = []
    for k in _given(settings):
        dims, what = NEEDS[k]
        flat = [d for d in dims if int(layout.get(d, 1) or 1) <= 1]
        if flat:
            at = ", ".join(f"{d.upper()} {int(layout.get(d, 1) or 1)}" for d in dims)
            notes.append(f"{option_name(k)} changed nothing: it acts on {what}, and the chosen layout ({at}) has none; "
                         f"pin --{flat[0]} above 1 to price it")
    return notes
