"""The chip catalog: sourced specs of real accelerators, looked up by stable id or alias.

Data lives in data/chips/: index.yaml (ids, families, aliases), specs.csv (every number with
unit, status and source, copied from shared/data/facts/accelerators.csv), extra_specs.csv
(architecture fields the datasheet table lacks: core counts, tile shapes, scale-up domain,
...), and family_defaults.yaml (documented fallbacks when a chip lacks a field).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from ..errors import TapeoutError, unknown_name_error


def _data_path(*parts: str):
    return resources.files("tapeout").joinpath("data", *parts)


# spec field of each matrix-engine peak key (dense; TOPS for the integer formats)
PEAK_FIELDS = {"fp32": "fp32_tflops", "tf32": "tf32_tflops_dense", "bf16": "bf16_tflops_dense",
               "fp16": "fp16_tflops_dense", "fp8": "fp8_tflops_dense", "int8": "int8_tops_dense",
               "int4": "int4_tops_dense", "fp6": "fp6_tflops_dense", "fp4": "fp4_tflops_dense"}


@dataclass(frozen=True)
class Spec:
    """One sourced number (or string) of a chip."""

    value: float | str
    unit: str
    status: str
    source: str
    notes: str = ""


_NUM = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _parse(value: str) -> float | str | None:
    v = value.strip()
    if v == "":
        return None
    if _NUM.match(v):
        return float(v)
    return v


@dataclass
class Chip:
    id: str
    name: str
    vendor: str
    family: str
    form_factor: str = ""
    aliases: tuple[str, ...] = ()
    specs: dict[str, Spec] = field(default_factory=dict)
    base_id: str = ""  # set on a derived variant (power_capped): the catalog chip it came from
    nominal_tdp_w: float | None = None  # the base chip's TDP when this variant runs power-capped
    derived_from: str = ""  # a user chip's `base:` (api.register_chip): its specs' starting point, not its calibration

    @property
    def calibration_id(self) -> str:
        """Whose microbenchmark fit applies: the base chip's for a derived variant."""
        return self.base_id or self.id

    def power_capped(self, watts: float) -> "Chip":
        """This chip run at a lower board power limit (e.g. an MLPerf MaxQ system, nvidia-smi -pl),
        registered in the session catalog as '<id>@<W>w'. Only the TDP changes; the calibrated
        efficiency follows it through the power transfer (perf/calibration.py)."""
        tdp = self.get("tdp_w")
        if not isinstance(tdp, (int, float)) or not math.isfinite(watts) or watts <= 0:
            raise TapeoutError(f"power limit {watts} W for {self.id}: the limit must be a finite number > 0 and the chip needs a tdp_w.")
        if watts >= tdp:
            return self
        # below the idle (static) power the chip cannot run at any clock (params.py: static_w)
        idle = float(self.get("static_power_fraction", 0.0)) * float(self.nominal_tdp_w or tdp)
        if watts <= idle:
            raise TapeoutError(f"power limit {watts:g} W for {self.id} is at or below its idle power of {idle:.0f} W "
                               f"(static_power_fraction x {float(self.nominal_tdp_w or tdp):g} W TDP); give --power-limit above {idle:.0f} W.")
        specs = dict(self.specs)
        specs["tdp_w"] = Spec(float(watts), "W", "derived", f"power limit of {self.id} (nominal {tdp:g} W)")
        c = Chip(id=f"{self.calibration_id}@{watts:g}w", name=f"{self.name} @ {watts:g} W", vendor=self.vendor,
                 family=self.family, form_factor=self.form_factor, specs=specs, base_id=self.calibration_id,
                 nominal_tdp_w=float(self.nominal_tdp_w or tdp))
        register_chip(c)
        return c

    def without_scaleup_link(self, cards: int, source: str) -> "Chip":
        """These cards in a system without their accelerator-to-accelerator link (e.g. H100 PCIe / NVL
        cards installed without NVLink bridges): peers reach each other only through PCIe, so the
        scale-up tier is the host link (`host_link_bw_gbps`, as for a chip with no published fabric,
        hardware/params.py), wired as PCIe (no peer one-/two-shot kernels, no in-switch reduction), over
        the `cards` of the node. Registered in the session catalog as '<id>@pcie<cards>'."""
        if int(cards) < 1:
            raise TapeoutError(f"without_scaleup_link: cards={cards} must be >= 1 (accelerators on the node's PCIe).")
        return self._wired("pcie", int(cards), "no accelerator link", source, drop_link=True)

    def with_direct_links(self, cards: int, source: str) -> "Chip":
        """These chips on a board that wires every pair of its `cards` with direct links and no
        switch (HGX H100 4-GPU: each H100's 18 NVLink 4 links split 6 to each of its 3 peers; the
        8-GPU board routes them through four NVSwitches instead): the scale-up tier is a full mesh
        of `cards` (hardware/topology.py 'mesh': a group of g ranks reaches its g-1 peers over
        (g-1)/(cards-1) of the chip's links; no in-switch reduction). Registered in the session
        catalog as '<id>@mesh<cards>'."""
        if int(cards) < 2:
            raise TapeoutError(f"with_direct_links: cards={cards} must be >= 2 (a mesh needs peers on the board).")
        return self._wired("mesh", int(cards), f"direct-link mesh of {int(cards)}", source)

    def _wired(self, wiring: str, cards: int, label: str, source: str, drop_link: bool = False) -> "Chip":
        """This silicon with its scale-up tier rewired as `wiring` over `cards` chips (without its own
        link where `drop_link`), registered in the session catalog as '<id>@<wiring><cards>'."""
        specs = dict(self.specs)
        if drop_link:
            specs.pop("scaleup_bw_gbps_bidir", None)
        specs["scaleup_wiring"] = Spec(wiring, "", "derived", source)
        specs["scaleup_domain_size"] = Spec(float(cards), "chips", "derived", source)
        c = Chip(id=f"{self.id}@{wiring}{cards}", name=f"{self.name} ({label})", vendor=self.vendor,
                 family=self.family, form_factor=self.form_factor, aliases=(), specs=specs,
                 base_id=self.calibration_id, nominal_tdp_w=self.nominal_tdp_w)
        register_chip(c)
        return c

    def _default_sections(self) -> tuple[str, ...]:
        """The family_defaults.yaml sections a field this chip lacks falls back to, first match wins: the PCIe-card
        defaults where the chip's only card-to-card path is PCIe (WIRING_DEFAULTS: its scale-up peers are the cards
        of one server, not a vendor baseboard), its family's, then the generic ones."""
        from .topology import FAMILY_WIRING

        own = self.specs.get("scaleup_wiring")
        wiring = (own.value if own is not None and own.value else "") or FAMILY_WIRING.get(self.family, "switch")
        wired = (WIRING_DEFAULTS[wiring],) if wiring in WIRING_DEFAULTS else ()
        return wired + (self.family, "generic")

    def _default(self, name: str) -> tuple[str, dict] | None:
        """(section, entry) of the family_defaults.yaml fallback this chip takes for `name`; None where none has it."""
        for sec in self._default_sections():
            d = family_defaults().get(sec, {})
            if name in d:
                return sec, d[name]
        return None

    def get(self, name: str, default=None):
        """A spec value, else the default its wiring / family / the generic section gives (_default), else `default`."""
        s = self.specs.get(name)
        if s is not None and s.value is not None:
            return s.value
        hit = self._default(name)
        return hit[1]["value"] if hit is not None else default

    def source_of(self, name: str) -> str:
        s = self.specs.get(name)
        if s is not None:
            return f"{s.source} [{s.status}]"
        hit = self._default(name)
        if hit is not None:
            sec, d = hit
            return f"default for {sec}: {d.get('source', '')} [{d.get('status', 'assumption')}]"
        return "not available"

    def peak_tflops(self, key: str) -> float:
        """Dense matrix-engine peak for a compute dtype key (bf16, fp8, int8, ...); 0 if unsupported."""
        v = self.get(PEAK_FIELDS[key])
        if isinstance(v, float):
            return v
        if key == "fp6":  # Blackwell/CDNA4 run FP6 at the FP8 (NVIDIA) or FP4 (AMD) rate; unlisted -> 0
            return 0.0
        return 0.0

    def supports(self, key: str) -> bool:
        return self.peak_tflops(key) > 0

    def missing_peak(self, key: str) -> str:
        """Why the chip has no `key` matrix peak, naming the spec field and the fix (for an error message)."""
        field = PEAK_FIELDS[key]
        return (f"{self.id} has no {key} matrix peak: its spec {field} is not on file for {self.calibration_id} "
                f"(data/chips/*.csv, every value with its source); add a sourced {field}, or register_chip a chip "
                f"with one")

    def params(self, calibration):
        """ChipParams with `calibration` applied (perf.calibration.calibrated_params(chip, fitted)
        looks the calibration up; hardware/ never reads perf/)."""
        from .params import ChipParams

        return ChipParams.from_chip(self, calibration)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "vendor": self.vendor,
            "family": self.family,
            "form_factor": self.form_factor,
            "aliases": list(self.aliases),
            "specs": {
                k: {"value": s.value, "unit": s.unit, "status": s.status, "source": s.source, "notes": s.notes}
                for k, s in sorted(self.specs.items())
            },
        }


# family_defaults.yaml sections keyed by a scale-up wiring rather than a family (hardware/topology.WIRING_KINDS): a
# card whose only card-to-card path is PCIe takes these before its family's defaults (Chip._default_sections)
WIRING_DEFAULTS = {"pcie": "pcie-card"}


@lru_cache(maxsize=1)
def family_defaults() -> dict:
    return yaml.safe_load(_data_path("chips", "family_defaults.yaml").read_text())


def _read_specs(fname: str) -> dict[str, dict[str, Spec]]:
    out: dict[str, dict[str, Spec]] = {}
    path = _data_path("chips", fname)
    if not path.is_file():
        return out
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            v = _parse(r["value"])
            if v is None:
                continue
            out.setdefault(r["chip_id"], {})[r["field"]] = Spec(v, r["unit"], r["status"], r["source"], r.get("notes", ""))
    return out


def _wiring_spec(cid: str, meta: dict) -> Spec:
    """index.yaml's `scaleup_wiring` of a chip, with its `scaleup_wiring_source`."""
    from .topology import WIRING_KINDS

    wiring, source = str(meta["scaleup_wiring"]), str(meta.get("scaleup_wiring_source", "")).strip()
    if wiring not in WIRING_KINDS or not source:
        raise TapeoutError(f"data/chips/index.yaml {cid}: scaleup_wiring '{wiring}' needs one of {', '.join(WIRING_KINDS)} "
                           "and a scaleup_wiring_source naming where the wiring is documented.")
    return Spec(wiring, "", str(meta.get("scaleup_wiring_status", "official")), source)


@lru_cache(maxsize=1)
def _catalog() -> dict[str, Chip]:
    index = yaml.safe_load(_data_path("chips", "index.yaml").read_text())
    specs = _read_specs("specs.csv")
    for cid, rows in _read_specs("supplement_specs.csv").items():  # chips absent from the shared table
        specs.setdefault(cid, {}).update(rows)
    extra = _read_specs("extra_specs.csv")
    chips = {}
    for cid, meta in index.items():
        s = dict(specs.get(cid, {}))
        s.update(extra.get(cid, {}))  # extra fields never override the datasheet table
        for k, v in specs.get(cid, {}).items():
            s[k] = v
        if meta.get("scaleup_wiring"):  # a chip wired unlike its family (e.g. an Ampere card without NVLink)
            s["scaleup_wiring"] = _wiring_spec(cid, meta)
        chips[cid] = Chip(
            id=cid,
            name=meta.get("source_name") or meta.get("name", cid),
            vendor=meta.get("vendor", ""),
            family=meta.get("family", "generic"),
            form_factor=meta.get("form_factor", ""),
            aliases=tuple(meta.get("aliases", [])),
            specs=s,
        )
        check_devices_per_chip(chips[cid], f"data/chips {cid}.devices_per_chip")
    return chips


def check_devices_per_chip(c: Chip, where: str) -> None:
    """A chip's devices_per_chip (stated, or inherited from its base or family) is a whole number of devices software
    sees in the package, each running its kernels on its own share of the package's cores (perf/comm_contention
    .device_cores = num_cores / devices_per_chip): 1 <= devices <= num_cores, else one TapeoutError naming `where`
    (the field as the caller's input spells it) and the fix. The catalog load and register_chip both check it."""
    devices, cores = c.get("devices_per_chip", 1), c.get("num_cores", 1)
    if isinstance(devices, bool) or not isinstance(devices, (int, float)) or not devices >= 1 or devices != int(devices):
        raise TapeoutError(f"{where} = {devices!r}: give the whole number of devices software sees in one chip, 1 or "
                           "more (2 for an MI250X's two GCDs; 1 for a single-device chip).")
    if isinstance(cores, (int, float)) and devices > cores:
        raise TapeoutError(f"{where} = {devices:g} is more than num_cores = {cores:g}: each device runs on its own "
                           "share of the package's cores; give num_cores for the whole package (an MI250X: 220 CUs, "
                           "2 devices) or fewer devices.")


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


@lru_cache(maxsize=1)
def _alias_map() -> dict[str, str]:
    m = {}
    for cid, c in _catalog().items():
        for a in (cid, c.name, *c.aliases):
            m[_norm(a)] = cid
    return m


def chip_ids() -> list[str]:
    return list(_catalog())


def all_chips() -> list[Chip]:
    return list(_catalog().values())


def resolve_chip_id(name: str) -> str | None:
    """Map an id, alias or MLPerf accelerator string to a catalog id, or None."""
    key = _norm(name)
    amap = _alias_map()
    if key in amap:
        return amap[key]
    # MLPerf system strings carry suffixes ("...-NPS1-SPX-192GB-750W"): accept a prefix
    # match only when the rest is made of such suffix tokens, and a stated memory size
    # agrees with the chip's (so "A100-SXM-40GB" or "H100-NVL" never become another part)
    best = None
    for alias_key, cid in amap.items():
        if len(alias_key) >= 4 and key.startswith(alias_key):
            rest = key[len(alias_key):]
            if not _SUFFIX.fullmatch(rest):
                continue
            # the stated size is a whole token of the original name ("-180GB"): in the normalised
            # rest "sxm5180gb" the digits of "SXM5" would glue onto it (5180 GB)
            gb = re.search(r"(?<![a-z0-9])(\d+)\s*gb(?![a-z])", name.lower())
            cap = _catalog()[cid].get("memory_capacity_gb")
            if gb and isinstance(cap, float) and abs(int(gb.group(1)) - cap) > 0.1 * cap:
                continue
            if best is None or len(alias_key) > len(best[0]):
                best = (alias_key, cid)
    return best[1] if best else None


_SUFFIX = re.compile(r"(?:\d+gb|\d+w|nps\d|spx|cpx|cts|hbm\d?e?|sxm\d?|oam|maxq|aarch64|x86|triton)*")


def get_chip(name: str) -> Chip:
    if isinstance(name, Chip):
        return name
    cid = resolve_chip_id(name) if isinstance(name, str) else None
    if cid is None:
        raise unknown_name_error("chip", name, chip_ids())
    return _catalog()[cid]


def lineage(chip) -> list[Chip]:
    """The chip, then the chips it was derived from, nearest first: a variant's base (power-capped,
    rewired: `base_id`) and a user chip's `base:` (`derived_from`). What the silicon's surroundings (its
    host CPU, its vendor's software) follow when the derived chip itself has no record of them."""
    out, c = [], get_chip(chip)
    while c is not None and c.id not in {x.id for x in out}:
        out.append(c)
        nxt = c.base_id or c.derived_from
        c = get_chip(nxt) if nxt and resolve_chip_id(nxt) is not None else None
    return out


def vendor_of(chip) -> str:
    """The vendor of the chip, else of the nearest chip it derives from ('custom' when none names one)."""
    for c in lineage(chip):
        if c.vendor and c.vendor != "custom":
            return c.vendor
    return "custom"


def register_chip(chip: Chip) -> None:
    """Add a custom chip (e.g. a design-space point or a user YAML) to this session's catalog."""
    if not chip.id:
        raise TapeoutError("chip.id must be a non-empty string.")
    _catalog()[chip.id] = chip
    _alias_map.cache_clear()


def unregister_chip(chip_id: str) -> None:
    """Remove a chip added with register_chip from this session's catalog (no-op if absent)."""
    _catalog().pop(chip_id, None)
    _alias_map.cache_clear()
