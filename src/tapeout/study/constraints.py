"""One set of constraints for every candidate of a study, bought or built.

Export class and 2026 band, TDP, rack power, memory capacity, memory generation, process node
(supply) and unit price are checked on catalog chips exactly as on custom designs; a candidate
that fails any is excluded with the rule it broke. A figure the check needs but the catalog
lacks (a TDP for a TDP cap) excludes the candidate too: a cap cannot be shown to hold."""

from __future__ import annotations

from ..econ.nodes import coef
from ..econ.yield_cost import normalize_memory_type
from ..errors import TapeoutError

# study `export:` value -> admissible statuses (also used by the explorer's constraint)
EXPORT_CLASSES = {
    "any": None,
    "not-controlled": ["not_controlled"],
    "not-controlled-or-2026-band": ["not_controlled", "band_2026"],
    "2026-band": ["band_2026"],
}


def export_status(chip) -> tuple[str, bool]:
    """(3A090 class text, inside the Jan-2026 case-by-case band) of a catalog chip or design."""
    hw = getattr(chip, "_hw", None)
    if hw:
        from ..rules.export import CLASS_CODES

        return CLASS_CODES[int(hw["export_class"])], bool(hw["band_2026"])
    from ..rules.export import assess_chip

    a = assess_chip(chip)
    return str(a["class_3a090"]), bool(a["case_by_case_2026"])


def _num(chip, field):
    v = chip.get(field)
    return float(v) if isinstance(v, (int, float)) else None


def _parsed(parse, text):
    try:
        return parse(text) if isinstance(text, str) else None
    except TapeoutError:
        return None


def violations(chip, cons, price_usd: float | None = None) -> list[str]:
    """Every rule of the study's constraints `cons` that `chip` breaks (empty: admissible)."""
    out = []
    want = EXPORT_CLASSES.get(cons.export)
    if want:
        cls, band = export_status(chip)
        ok = ("not_controlled" in want and cls == "not 3A090") or ("band_2026" in want and band)
        if not ok:
            out.append(f"export: {cls}{', outside' if not band else ', inside'} the 2026 band; the study requires {cons.export}")
    tdp = _num(chip, "tdp_w")
    if cons.max_tdp_w is not None:
        if tdp is None:
            out.append(f"max_tdp_w: TDP of {chip.id} unknown, cannot show it is <= {cons.max_tdp_w:g} W")
        elif tdp > cons.max_tdp_w:
            out.append(f"max_tdp_w: TDP {tdp:g} W > {cons.max_tdp_w:g} W")
    if cons.rack_kw is not None and cons.chips_per_rack is not None and tdp is not None:
        kw = cons.chips_per_rack * (tdp + coef("host_power_w_per_accel")) / 1000
        if kw > cons.rack_kw:
            out.append(f"rack_kw: {cons.chips_per_rack:g} chips x ({tdp:g} W + host share) = {kw:.1f} kW > {cons.rack_kw:g} kW")
    mem = _num(chip, "memory_capacity_gb")
    if cons.min_memory_gb is not None and (mem is None or mem < cons.min_memory_gb):
        out.append(f"min_memory_gb: {mem if mem is not None else 'unknown'} GB < {cons.min_memory_gb:g} GB")
    from ..econ.nodes import parse_node

    for field, allowed, parse, what in (("memory_type", cons.hbm_generations, normalize_memory_type, "hbm_generations: memory"),
                                        ("process_node", cons.nodes, parse_node, "nodes: process")):
        if allowed:
            text = chip.get(field)
            if _parsed(parse, text) not in {parse(x) for x in allowed}:
                out.append(f"{what} {text or 'unknown'} not in {', '.join(allowed)}")
    if cons.max_unit_cost_usd is not None and price_usd is not None and price_usd > cons.max_unit_cost_usd:
        out.append(f"max_unit_cost_usd: price ${price_usd:,.0f} > ${cons.max_unit_cost_usd:,.0f}")
    return out


def split_candidates(chips: list, cons, prices: dict[str, float] | None = None) -> tuple[list, list[dict]]:
    """(admissible chips, excluded: [{candidate, reason}])."""
    keep, excluded = [], []
    for c in chips:
        v = violations(c, cons, (prices or {}).get(c.id))
        if v:
            excluded.append({"candidate": c.id, "reason": "; ".join(v)})
        else:
            keep.append(c)
    return keep, excluded
