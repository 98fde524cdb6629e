"""`tapeout cost` (manufacturing cost stack of a chip) and `tapeout compliance` (export-control
check of a catalog chip or a design file)."""

from __future__ import annotations

from typing import Optional

import typer

from .. import api
from ..econ.buildable import describe, excess
from .app import app, console, err_console, print_json, table


@app.command("cost")
def cost_cmd(
    chip: str = typer.Option(..., "--chip", "-c", help="catalog chip id or alias"),
    volume: float = typer.Option(1_000_000, "--volume", help="units over which NRE is amortised"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Unit cost stack of a chip: dies, HBM, packaging, test, yield loss, NRE per unit."""
    r = api.cost(chip=chip, volume=volume).to_dict()
    if as_json:
        print_json(r)
        return
    rows = [
        ["compute dies", r["die"], f"{r['n_compute_dies']:g} x {r['die_area_mm2']:.0f} mm2 on {r['node_label']}, yield {r['die_yield']:.1%}, {r['dpw']:.0f} gross dies/wafer"],
        ["memory", r["memory"], f"{r['memory_gb_physical']:.0f} GB {r['memory_type']} ({r['hbm_stacks']:.0f} stacks)"],
        ["package (interposer/substrate)", r["package"], f"{r['interposer_mm2']:.0f} mm2"],
        ["assembly + final test", r["assembly_test"], ""],
        ["yield loss (package)", r["yield_loss"], f"package yield {r['package_yield']:.1%}"],
        ["= manufacturing", r["manufacturing"], ""],
        ["NRE per unit", r["nre"], f"design + masks over {volume:,.0f} units"],
        ["= total per unit", r["total"], ""],
    ]
    cap = "All coefficients are estimates with sources in src/tapeout/data/econ/."
    if "anchor" in r:
        a = r["anchor"]
        cap += f" Published anchor ({a['name']}): ${a['value']:,.0f}; model {a['model_vs_anchor']:+.0%}."
    console.print(table(f"Unit cost: {r['chip']} (USD)", ["item", "USD", "basis"], rows, caption=cap))
    t = r["tco"]
    if t:
        trows = [[k.replace("_", " "), v, ""] for k, v in t["parts_per_year"].items()]
        trows += [["= TCO per chip-year", t["per_year"], ""], ["= TCO per hour owned", t["per_hour"], t.get("anchor", "")],
                  ["IT capex per chip", t["capex_usd"], t.get("capex_anchor", "")], ["price", t["price_usd"], t["price_basis"]]]
        console.print(table(f"Owned TCO: {r['chip']} (USD)", ["item", "USD", "basis"], trows,
                            caption="econ/tco.py defaults (data/econ/coefficients.csv); chip at 75% of TDP on average"))


@app.command("compliance")
def compliance_cmd(
    chip: Optional[str] = typer.Option(None, "--chip", "-c", help="catalog chip id or alias"),
    design: Optional[str] = typer.Option(None, "--design", help="YAML design file (die_area_mm2, num_dies, tops, ...)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
):
    """Export-control check (ECCN 3A090): TPP, performance density, class, bands, margins. Not legal advice."""
    r = api.compliance(chip=chip, design=design).to_dict()
    for v in (r.get("buildable") or {}).get("violations", []):  # an unbuildable design: one warning per limit
        where = f"field '{v['field']}': " if "field" in v else ""
        err_console.print(f"warning: {r['name']} cannot be built: {where}{describe(v)}", soft_wrap=True)
    if as_json:
        print_json(r)
        return
    rows = [
        ["TPP", r["tpp"], f"max over {', '.join(r['tpp_precisions'])} (dense TOPS x bit length)"],
        ["applicable die area mm2", r["applicable_die_area_mm2"], ""],
        ["performance density", r["pd"], "TPP / mm2"],
        ["class (Nov-2023 rule)", r["class_3a090"], "datacenter" if r["datacenter"] else "non-datacenter"],
        ["Jan-2026 case-by-case band", r["case_by_case_2026"], "TPP < 21,000 and DRAM BW < 6,500 GB/s"],
        ["below H20-class ceiling", r["below_h20_ceiling"], "memory < 4.0 TB/s and interconnect < 900 GB/s (2025 letter)"],
    ]
    if r["tf32_flag"]:
        rows.append(["TF32 flag", r["tpp_tf32_at_19_bits"], "TF32 sets TPP at 32 bits; value with 19 bits shown"])
    if r["hbm_3a090c"]:
        h = r["hbm_3a090c"]
        rows.append(["HBM bandwidth density", h["bw_density_gbs_mm2"], f"{h['type']}: 3A090.c if > 2 GB/s/mm2"])
    for k, v in r["margins"].items():
        rows.append([f"margin {k}", v, "positive = below the threshold"])
    b = r.get("buildable")
    if b:
        rows.append(["physically buildable", "not checked" if b["buildable"] is None else b["buildable"], "; ".join(b["notes"]) or f"checked: {', '.join(b['checked'])}"])
        rows += [[f"broken: {v['limit']}", excess(v),
                  f"fix{' ' + v['field'] if 'field' in v else ''}: {v['fix']}"] for v in b["violations"]]
    console.print(table(f"Export compliance: {r['name']}", ["item", "value", "note"], rows,
                        caption=f"{r['disclaimer']} Rule version: {r['rule_version']}"))
