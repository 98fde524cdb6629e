"""The software stack a `tapeout train` run is priced with, and where each setting came from.

Precedence, lowest first: the model's defaults (perf/stack_features.StackFeatures); the stack
(`stack`: a name in data/software/training_stacks.yaml; with `benchmark` and no `stack`, the stack of
the benchmark's latest MLPerf round on file, applied on its vendor's chips only, perf/bench_stack.py)
and the records its submissions' configs hold for every chip and size (benchmarks.yaml
submission_layouts, e.g. the v4.0 LoRA runs' zero 0 and layer_cuda_graph false); then what the user
gives. The result carries every setting that differs from the model's default or that the user can
set here, with its origin, so the answer shows the defaults that shaped it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..errors import TapeoutError
from ..hardware.catalog import get_chip, vendor_of
from ..perf.bench_stack import (PIN_FIELDS, RECORD_FIELDS, benchmark_stack, merged_layout, nvidia_precision, run_settings,
                                submission_entries)
from ..perf.mlperf import value_of
from ..perf.stack_features import StackFeatures
from ..perf.train_recipe import get_recipe, training_precision_name
from ..perf.recompute_gate import RecomputeGate
from ..perf.train_stack import TrainingStack, named_stack, feature_source, stack_settings, stacks_of_benchmark
from .train_switches import refuse

# stack settings `tapeout train` takes as options (perf/stack_features.StackFeatures fields; what each prices
# is documented there), shown with their values on every result
USER_SETTINGS = ("eager_layer", "host_cpu", "comm_ctas", "p2p_blocking_warmup", "p2p_forward_send_wait", "fp8_attention_cp")
DEFAULTS = {f.name: f.default for f in fields(StackFeatures) if f.name in USER_SETTINGS}


@dataclass
class RunStack:
    name: str | None  # the training_stacks.yaml entry applied (None: model defaults)
    origin: str  # why that stack (or none)
    pins: dict = field(default_factory=dict)  # layout pins for perf/training.train (tp, zero, ...)
    settings: dict = field(default_factory=dict)  # perf/training.train **stack keywords
    fp8_attention: bool = False
    skip_evals: int | None = None  # evaluation passes the benchmark's submissions skip (None: the benchmark's)
    precision: str = "bf16"  # the run's training recipe / GEMM dtype (--precision, else the benchmark submissions')
    precision_from: str = ""  # where `precision` came from (_run_precision)
    shown: list = field(default_factory=list)  # [{setting, value, from}] for the result

    def as_dict(self) -> dict:
        return {"name": self.name, "origin": self.origin, "settings": self.shown}


def _gemms_on(precision: str, chip_id: str) -> str:
    """The GEMM format `precision` runs on the chip, after the recipe's fallback (train_recipe.resolve: mxfp8 on
    a chip without it runs fp8)."""
    from ..perf.train_recipe import resolve
    from ..precision import get_precision

    r = get_recipe(precision) if isinstance(precision, str) else None
    if r is None:
        return get_precision(precision).compute
    return resolve(r, get_chip(chip_id))[1].compute


def _fp8_gemms_on(precision: str, chip_id: str) -> bool:
    """Whether `precision` runs its GEMMs in FP8 on the chip (after its fallback): the recipe FP8 attention runs
    under (perf/training._train: fp8_attention and the resolved recipe's gemm 'fp8') and the compute
    perf/training._ep_a2a casts the EP dispatch under."""
    return _gemms_on(precision, chip_id) == "fp8"


def _run_precision(precision: str | None, key: str | None, st: TrainingStack | None, chip_id: str,
                   origin: str = "") -> tuple[str, str]:
    """The run's precision and where it came from: the user's; else, for a benchmark run under its NVIDIA
    (Transformer Engine) stack, the precision those submissions ran on this chip; else bf16, saying why a
    benchmark's own precision was not applied (`origin`: why the run has the stack it has)."""
    if precision is not None:  # shown under its recipe's / GEMM dtype's own name, never the user's spelling alone
        name = training_precision_name(precision) if isinstance(precision, str) else precision
        return name, "--precision" + (f" {precision!r}, read as {name}" if name != precision else "")
    if key is None:
        return "bf16", "default (--precision to change)"
    if st is None:  # origin: why no stack (none on file, or the one on file is another vendor's)
        why = f"{origin.removeprefix(f'--benchmark {key}: ')}; so the precision its submissions ran is not applied"
    elif st.value("training_recipe") is not None and st.chips and st.covers(get_chip(chip_id).calibration_id):
        src = feature_source(st, "training_recipe")
        return str(st.value("training_recipe")), (f"the recipe benchmark {key}'s MLPerf {st.round} submissions trained in on "
                                                  f"{get_chip(chip_id).id} (stack {st.name}, training_stacks.yaml "
                                                  f"training_recipe: {src}); --precision to override")
    elif (st.vendor or "").lower() != "nvidia":
        why = (f"stack {st.name} is {st.vendor}'s; the submissions' precision on file is NVIDIA's (benchmarks.yaml "
               f"precision_rules.training)")
    else:
        nv = nvidia_precision(get_chip(chip_id))
        if nv is not None:
            return nv[0], (f"benchmark {key}'s NVIDIA submissions (benchmarks.yaml precision_rules.training: {nv[1]}); "
                           f"--precision to override")
        why = (f"chip {get_chip(chip_id).id} lacks what NVIDIA's submissions' precision needs (benchmarks.yaml "
               f"precision_rules.training)")
    return "bf16", f"default: {why}; --precision to choose"


def _stack_and_records(stack: str | None, key: str | None, chip_id: str) -> tuple[TrainingStack | None, dict, str]:
    vendor = vendor_of(chip_id)
    if stack is not None and stack.lower() == "none":
        return None, {}, "--stack none: the model's defaults"
    if stack is not None:
        st = named_stack(stack)
        if st.vendor and st.vendor.lower() != vendor.lower():
            raise TapeoutError(f"--stack {stack} runs on {st.vendor} accelerators (data/software/training_stacks.yaml "
                               f"vendor); chip {get_chip(chip_id).id} is {vendor}'s: drop --stack, or give --stack none.")
        rec = merged_layout(submission_entries(key, "nemo", None, st.round, None)) if key and st.round else {}
        return st, rec, f"--stack {st.name}" + (f" (MLPerf {st.round})" if st.round else "")
    if key is None:
        return None, {}, "no --stack or --benchmark: the model's defaults"
    st, rec = benchmark_stack(key, get_chip(chip_id).calibration_id)  # a power-capped or server variant: its catalog chip
    if st is None:
        other = [s for s in stacks_of_benchmark(key, vendor) if s.chips]
        if other:  # stacks on file for this benchmark, none from a config that ran on this chip
            names = "; ".join(f"{s.name} (MLPerf {s.round}: {', '.join(s.chips)})" for s in other)
            return None, {}, (f"--benchmark {key}: no software stack of its submissions on file for chip "
                              f"{get_chip(chip_id).id} (on file: {names}; training_stacks.yaml chips): the model's "
                              f"defaults (--stack to force one)")
        foreign = stacks_of_benchmark(key, "NVIDIA") if vendor.lower() != "nvidia" else []
        if foreign:  # the benchmark's stacks on file are NVIDIA's (benchmark_stack reads NVIDIA's only)
            return None, {}, (f"--benchmark {key}: its stacks on file ({', '.join(s.name for s in foreign)}) run on NVIDIA "
                              f"accelerators (training_stacks.yaml vendor), chip {get_chip(chip_id).id} is {vendor}'s: "
                              f"the model's defaults")
        return None, {}, f"--benchmark {key}: no software stack of its submissions on file: the model's defaults"
    if st.vendor and st.vendor.lower() != vendor.lower():
        return None, {}, (f"--benchmark {key}: its stack on file ({st.name}) runs on {st.vendor} accelerators, chip "
                          f"{get_chip(chip_id).id} is {vendor}'s: the model's defaults (--stack to force one)")
    return st, rec, (f"--benchmark {key}: the stack of its MLPerf {st.round} submissions ({st.name}, "
                     f"training_stacks.yaml) and their configs' records (benchmarks.yaml submission_layouts)")


def run_stack(stack: str | None, key: str | None, bench_cfg: dict | None, chip_id: str, precision: str,
              fp8_attention: bool | None, user_pins: dict, user_settings: dict) -> RunStack:
    """Resolve the run's stack, pins and settings (module docstring); `user_pins` / `user_settings`: what
    the caller gave (None = not given; eager_layer 'none' = off). `precision` None: with a benchmark whose
    NVIDIA stack applies, the precision its submissions ran (benchmarks.yaml precision_rules.training, as
    the validation rows take it), else bf16."""
    st, rec, origin = _stack_and_records(stack, key, chip_id)
    precision, precision_from = _run_precision(precision, key, st, chip_id, origin)
    rec = dict(rec)
    origin_of: dict = {}
    shown_name = st.name if st else None
    pins = {k: rec.pop(k) for k in PIN_FIELDS if k in rec}
    settings = run_settings(rec)
    records = {k: rec.pop(k) for k in RECORD_FIELDS if k in rec}
    skip = rec.pop("skip_evals", None)
    skip_from = "benchmark submissions' config"
    nv = st is not None and st.vendor.lower() == "nvidia"
    fp8 = False
    if bench_cfg is not None:  # the benchmark's configs ask it; NVIDIA's recipe has its own value where on file
        fkey = "fp8_attention_nvidia" if nv and "fp8_attention_nvidia" in bench_cfg else "fp8_attention"
        fp8 = bool(value_of(bench_cfg.get(fkey, {"value": False})))
        if nv and skip is None and "skip_evals_nvidia" in bench_cfg:
            skip, skip_from = int(value_of(bench_cfg["skip_evals_nvidia"])), "benchmark's NVIDIA value (benchmarks.yaml skip_evals_nvidia)"
    fp8 = bool(rec.pop("fp8_attention", fp8))
    for k in [*pins, *settings]:
        origin_of[k] = "benchmark submissions' config"
    before = {**pins, **settings}
    pins, settings, fp8_stack = stack_settings(st, pins, settings, fp8, records)
    for k, v in {**pins, **settings}.items():
        if k not in before or before[k] != v:
            origin_of[k] = f"stack {st.name}"
    fp8_from = "stack " + st.name if (st is not None and fp8_stack != fp8) else \
        (f"benchmark config (benchmarks.yaml {fkey})" if bench_cfg is not None else "default")
    fp8 = fp8_stack
    for k, v in user_pins.items():
        if v is not None:
            pins[k], origin_of[k] = v, "--" + k
    for k, v in user_settings.items():
        if v is None:
            continue
        if k == "eager_layer" and isinstance(v, str) and v.lower() == "none":
            settings.pop(k, None)
            origin_of[k] = "--eager-layer none"
            continue
        settings[k], origin_of[k] = v, "--" + k.replace("_", "-")
    if user_settings.get("comm_ctas") is not None and settings.get("nccl_default_channels"):
        # a given CTA count (0: the collectives take no cores) replaces NCCL's own channel count (perf/nccl_channels)
        settings["nccl_default_channels"] = False
        origin_of["nccl_default_channels"] = "--comm-ctas (a given count replaces NCCL's default)"
    if fp8_attention is not None:
        if fp8_attention and st is not None and st.value("fp8_dot_product_attention") is False:
            raise TapeoutError(f"--fp8-attention: stack {st.name} has no FP8 dot-product attention "
                               f"(training_stacks.yaml fp8_dot_product_attention false); drop --fp8-attention, "
                               f"or give another --stack.")
        if fp8_attention and not _fp8_gemms_on(precision, chip_id):  # the recipe that runs on the chip, after its fallback
            raise TapeoutError(f"--fp8-attention runs under an FP8 recipe; --precision {precision} runs its GEMMs in "
                               f"{_gemms_on(precision, chip_id)} on {get_chip(chip_id).id}: give --precision fp8, or drop "
                               f"--fp8-attention.")
        fp8, fp8_from = bool(fp8_attention), "--fp8-attention"
    if user_settings.get("ep_fp8_dispatch") and not _fp8_gemms_on(precision, chip_id):  # training._ep_a2a: FP8 only
        raise TapeoutError(f"--ep-fp8-dispatch runs under an FP8 recipe (the dispatch is cast to FP8 with 1x128 scales); "
                           f"give --precision fp8 (got '{precision}'), or drop --ep-fp8-dispatch.")
    runs = fp8 and _fp8_gemms_on(precision, chip_id)
    refuse(user_settings, pins, origin_of, get_chip(chip_id), runs)
    shown = [{"setting": "precision", "value": precision, "from": precision_from},
             {"setting": "fp8_attention", "value": runs,
              "from": fp8_from + ("" if runs or not fp8 else f" (asked; runs only where the recipe's GEMMs run FP8 on the "
                                                             f"chip, not {precision}: {_gemms_on(precision, chip_id)})")}]
    for k in sorted(set(USER_SETTINGS) | set(settings)):
        v = settings.get(k, DEFAULTS.get(k))
        v = list(v.methods) if isinstance(v, RecomputeGate) else v  # the stack's recompute methods, as on file
        shown.append({"setting": k, "value": v, "from": origin_of.get(k, "default")})
    for k in sorted(pins):
        shown.append({"setting": k, "value": pins[k], "from": origin_of.get(k, "default")})
    if skip is not None:
        shown.append({"setting": "skip_evals", "value": skip, "from": skip_from})
    return RunStack(shown_name, origin, pins, settings, runs, skip, precision, precision_from, shown)
