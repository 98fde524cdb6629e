"""The chip catalog and model presets from Python: `chips`, `get_chip` (what `tapeout chips`
and `tapeout show --json` print), `register_chip` (a custom chip from a dict or YAML, usable
by every other function under its id) and `load_model` (a preset or a config.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import TapeoutError
from ..hardware.catalog import Chip, Spec
from .results import ChipInfo, ChipsResult, ModelInfo

# columns of `tapeout chips`: field -> table header
CHIP_COLUMNS = {
    "bf16_tflops_dense": "BF16 TFLOPS",
    "fp8_tflops_dense": "FP8 TFLOPS",
    "memory_capacity_gb": "Mem GB",
    "memory_bandwidth_tbps": "Mem TB/s",
    "tdp_w": "TDP W",
    "process_node": "Node",
}
# a custom chip needs these (directly or from `base`) to be served; the message names the fix
REQUIRED = {
    "memory_bandwidth_tbps": "off-chip memory bandwidth in TB/s",
    "memory_capacity_gb": "memory capacity in GB",
    "tdp_w": "board power in W",
}
PEAK_FIELDS = ("bf16_tflops_dense", "fp16_tflops_dense", "fp8_tflops_dense", "int8_tops_dense", "fp4_tflops_dense")
USER_SOURCE = "user input (register_chip)"


class UserChip(Chip):
    """A chip added by `register_chip` (may be replaced by registering the same id again)."""

    package_facts: dict | None = None  # its package facts for the physical limits (econ.buildable.described_facts)


def chips() -> ChipsResult:
    """The chip catalog (`tapeout chips --json`), one row per chip: id, name, vendor, family,
    dense BF16/FP8 peaks in TFLOPS, memory in GB and TB/s, TDP in W, process node."""
    from ..hardware.catalog import all_chips

    return ChipsResult({"chips": [{"id": c.id, "name": c.name, "vendor": c.vendor, "family": c.family,
                                   **{f: c.get(f) for f in CHIP_COLUMNS}} for c in all_chips()]})


def econ_summary(chip) -> dict | None:
    """Area, cost and export status of a chip (None without the economics stage)."""
    try:
        from ..econ import chip_econ_summary  # provided by the economics stage
    except ImportError:
        return None
    try:
        return chip_econ_summary(chip)
    except TapeoutError as e:  # econ data may not cover every chip (e.g. no die area)
        return {"error": str(e)}


def get_chip(name: str) -> ChipInfo:
    """Every sourced spec of one chip (`tapeout show CHIP --json`): `specs` (field -> value,
    unit, status, source), `calibration` (achieved fractions of peak, fitted to
    microbenchmarks), `architecture_defaults`, `scaleout` (the network rate per chip the model uses,
    GB/s per direction: `gbps`, with `nic_gbps`, `host_link_gbps` and which of them `binds`;
    hardware/params.scaleout_link) and `economics` (area in mm2, cost in USD, export status)."""
    from ..hardware.catalog import get_chip as lookup
    from ..hardware.params import scaleout_link
    from ..perf.calibration import calibration_for

    c = lookup(name)
    d = c.as_dict()
    d["calibration"] = calibration_for(c).as_dict()
    d["architecture_defaults"] = {f: {"value": c.get(f), "source": c.source_of(f)}
                                  for f in ("num_cores", "matrix_tile_m", "matrix_tile_n", "scaleup_domain_size",
                                            "onchip_sram_mb", "attention_cta_grid", "devices_per_chip") if f not in c.specs}
    d["scaleout"] = scaleout_link(c)  # the network rate the model uses: NIC, or the host link where that binds
    econ = econ_summary(c)
    if econ is not None:
        d["economics"] = econ
    return ChipInfo(d)


def _known_fields() -> dict[str, Spec]:
    """Every field a catalog chip or family default has, with one catalog example (for its unit
    and whether it holds text)."""
    from ..hardware.catalog import all_chips, family_defaults

    out: dict[str, Spec] = {}
    for fam in family_defaults().values():
        for k, v in fam.items():
            out.setdefault(k, Spec(v.get("value"), v.get("unit", ""), "default", ""))
    for c in all_chips():
        for k, s in c.specs.items():
            if not isinstance(out.get(k), Spec) or out[k].status == "default":
                out[k] = s
    # the training memory reserve's software runtime (perf/train_reserve.py); no catalog chip sets it
    out.setdefault("training_runtime", Spec("", "", "default", "data/software/training_reserve.yaml"))
    return out


def _spec(field: str, raw, known: dict[str, Spec], where: str) -> Spec:
    from ..errors import unknown_name_error
    from ..inputs import finite

    if field not in known:
        raise unknown_name_error(f"{where} field", field, sorted(known))
    source, unit = USER_SOURCE, known[field].unit
    if isinstance(raw, Mapping):
        if "value" not in raw:
            raise TapeoutError(f"{where}.{field}: give a number, or a mapping with value (and source, unit).")
        source, unit, raw = str(raw.get("source") or USER_SOURCE), str(raw.get("unit") or unit), raw["value"]
    if isinstance(known[field].value, str) and isinstance(raw, str):
        return Spec(raw, unit, "user", source)
    if isinstance(known[field].value, bool):  # a switch (e.g. collectives_on_cores): 'no' or 3.5 would read as true
        if not isinstance(raw, (bool, np.bool_)):
            raise TapeoutError(f"{where}.{field} is a switch: give true or false, got {raw!r} ({type(raw).__name__}).")
        return Spec(bool(raw), unit, "user", source)
    # a package holds at least one compute die (econ.summary.compute_dies divides the logic area by it), and a die
    # has an area (the floorplan divides the package power by it: 0 mm^2 would be an infinite heat flux)
    bound = {"num_compute_dies": {"ge": 1}, "logic_die_area_mm2_total": {"gt": 0}, "devices_per_chip": {"ge": 1}}.get(field, {"ge": 0})
    return Spec(finite(f"{where}.{field}", raw, unit=unit, **bound), unit, "user", source)


def register_chip(chip: Mapping | str | Path) -> ChipInfo:
    """Add a custom chip to this session's catalog, usable by id in `serve`, `train`,
    `workload_run`, `cost`, `compliance`, ...

    Args:
        chip: a mapping, or a YAML file holding one, with
            `id` (required), `name`, `vendor`, `family` (family defaults for missing fields:
            generic, nvidia-hopper, google-tpu, ... in data/chips/family_defaults.yaml),
            `base` (a catalog chip whose specs are the starting point) and `specs`: field ->
            number, or {value, unit, source}. Fields and units are the catalog's
            (`tapeout show h100-sxm`): e.g. bf16_tflops_dense (TFLOPS), fp8_tflops_dense
            (TFLOPS), memory_bandwidth_tbps (TB/s), memory_capacity_gb (GB), tdp_w (W),
            scaleup_bw_gbps_bidir (GB/s), process_node (text), logic_die_area_mm2_total (mm2).
            A value without a source is recorded as "user input". `packaging` (cowos-s, cowos-l,
            emib, organic) and `cooling` (air, cold_plate, immersion): the package the physical
            limits are checked against (default: the base's on file, else cowos-s, organic without
            HBM; no cooling class: the heat-flux and package-power limits are then not checked, a
            note says so). `physical_limits` (default true): a chip that breaks a physical limit of
            econ.buildable (a compute die beyond the 858 mm^2 reticle, HBM / link PHYs beyond the die
            edge, a package beyond its technology, heat flux or power beyond the cooling class) is
            refused, naming the field and the fix; false registers it anyway.

    A custom chip is calibrated as a never-built chip: its family's microbenchmark mean, else
    the generic mean. Registering the same id again replaces the chip and clears the caches.

    Returns:
        ChipInfo: what `get_chip` returns for the new chip.
    """
    from ..errors import unknown_name_error
    from ..hardware.catalog import WIRING_DEFAULTS, all_chips, check_devices_per_chip, family_defaults, resolve_chip_id
    from ..hardware.catalog import get_chip as lookup
    from ..hardware.catalog import register_chip as add

    from ..hardware.memory_capacity import rebased_specs
    from ..inputs import read_yaml_mapping

    data = read_yaml_mapping(chip, "chip file", "chip", f"chip file {chip}", "a chip must be a mapping with id and specs") \
        if isinstance(chip, (str, Path)) else chip
    if not isinstance(data, Mapping):
        raise TapeoutError("register_chip: give a mapping (id, specs, ...) or the path of a YAML file holding one.")
    extra = set(data) - {"id", "name", "vendor", "family", "form_factor", "base", "specs", "physical_limits",
                         "packaging", "cooling"}
    if extra:
        raise TapeoutError(f"chip: unknown key(s) {', '.join(sorted(map(str, extra)))}; put chip fields under 'specs'.")
    cid = data.get("id")
    if not isinstance(cid, str) or not cid.strip():
        raise TapeoutError("chip.id must be a non-empty string, e.g. id: my-npu.")
    existing = resolve_chip_id(cid)
    if existing is not None and not isinstance(lookup(existing), UserChip):
        raise TapeoutError(f"chip.id '{cid}' is the catalog chip '{existing}'; pick another id (use base: {existing} "
                           "to start from its specs).")
    base = lookup(data["base"]) if data.get("base") else None
    raw = data.get("specs") or {}
    if not isinstance(raw, Mapping):
        raise TapeoutError("chip.specs must be a mapping of field -> value, e.g. {memory_bandwidth_tbps: 4.0}.")
    known = _known_fields()
    specs = rebased_specs(dict(base.specs) if base else {},
                          {str(k): _spec(str(k), v, known, "chip.specs") for k, v in raw.items()})
    for f, what in REQUIRED.items():
        if f not in specs:
            raise TapeoutError(f"chip.specs.{f} is missing: give the {what} (or a base catalog chip).")
    if not any(isinstance(getattr(specs.get(f), "value", None), float) and specs[f].value > 0 for f in PEAK_FIELDS):
        raise TapeoutError(f"chip.specs needs a dense matrix peak > 0: one of {', '.join(PEAK_FIELDS)} (TFLOPS/TOPS).")
    family = str(data.get("family") or (base.family if base else "generic"))
    families = sorted((set(family_defaults()) - set(WIRING_DEFAULTS.values())) | {x.family for x in all_chips()})
    if family not in families:
        raise unknown_name_error("chip.family", family, families)
    c = UserChip(id=cid, name=str(data.get("name") or cid), vendor=str(data.get("vendor") or "custom"),
                 family=family,
                 form_factor=str(data.get("form_factor") or (base.form_factor if base else "oam")), specs=specs,
                 derived_from=base.id if base else "")
    check_devices_per_chip(c, "chip.specs.devices_per_chip")  # stated, or from the base or the family
    limits = data.get("physical_limits", True)
    if not isinstance(limits, bool):
        raise TapeoutError(f"chip.physical_limits is a switch: give true or false, got {limits!r}.")
    _refuse_unbuildable(c, base, data, {str(k) for k in raw}, limits)
    if "training_runtime" in specs:  # checked here, not at the first `train` that reads it
        from ..perf.train_reserve import runtime_of

        runtime_of(c)
    if existing is not None:
        from ..perf.mlperf import clear_caches  # results are cached per chip id

        clear_caches()
    add(c)
    return get_chip(cid)


# spec fields behind the physical limits (econ.buildable): a chip that changes none of its base's is that
# shipping part, not checked again
LIMIT_FIELDS = frozenset({"logic_die_area_mm2_total", "num_compute_dies", "hbm_stacks", "memory_capacity_gb",
                          "memory_type", "tdp_w", "scaleup_bw_gbps_bidir", "year"})


def _refuse_unbuildable(c: Chip, base: Chip | None, data: Mapping, raw_fields: set[str], limits: bool) -> None:
    """econ.buildable's check of a registered chip (the catalog's, check_chip): the reticle per compute die,
    die edge, package, heat flux and package power, against `packaging` / `cooling` of the chip file (else the
    base's package facts, else CoWoS-S and no cooling class). Refused when the chip sets a field behind a limit to
    a value its base does not have, or names its packaging or cooling; one TapeoutError naming the fields and the
    fix. The facts stay on the chip: `compliance(chip=...)` / `show` check it the same way (physical_limits: false
    too)."""
    from ..econ.buildable import described_facts, refuse_unbuildable_chip
    from ..econ.floorplan import check_cooling, check_packaging
    from ..econ.summary import packaging_overrides

    packaging, cooling = data.get("packaging"), data.get("cooling")
    for key, val, check in (("packaging", packaging, check_packaging), ("cooling", cooling, check_cooling)):
        if val is not None:
            check(str(val), f"chip.{key}")
    changed = {f for f in raw_fields & LIMIT_FIELDS
               if base is None or getattr(base.specs.get(f), "value", None) != c.specs[f].value}
    c.package_facts = described_facts(c, packaging_overrides().get(base.id, {}) if base else {}, changed,
                                      str(packaging) if packaging else None, str(cooling) if cooling else None)
    if limits and (changed or packaging or cooling):
        refuse_unbuildable_chip(c, c.package_facts)


def load_model(model: str | Path) -> ModelInfo:
    """An LLM from a preset name (`tapeout models`) or a Hugging Face config.json path.

    Returns:
        ModelInfo: `params_b` and `active_params_b` (billions of parameters), `layers`,
        `hidden`, `heads`, `kv_heads`, `experts`, `attention` (MHA/GQA/MLA),
        `kv_bytes_per_token_bf16` (bytes of KV cache per token at BF16, every layer holding the token),
        `local_attention` (share and window of sliding / chunked layers), `notes` (config fields priced
        approximately, and how), `source`, and the validated `config`.
    """
    from ..errors import unknown_name_error
    from ..workloads.llm_config import load_llm, preset_names
    from .args import check_texts

    check_texts(model=model)
    if model is None or not str(model).strip():
        raise unknown_name_error("model", model, preset_names())
    cfg = load_llm(str(model))
    return ModelInfo({**cfg.summary(), "config": cfg.model_dump(mode="json")})
