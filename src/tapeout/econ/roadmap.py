"""The chip roadmap (data/econ/roadmap.csv): the year each catalog chip can be bought, its price
in a dated year and a price decline per year with a low-high range, each with its basis.

Price path (geometric decline, the shape of published list-price histories of data-center GPUs):
    price(year) = price(price_year) x (1 - decline)^(year - price_year),   year >= price_year.
A decline >= 1 would make the price zero or negative (alternating sign): refused. A chip with a
street price but no roadmap row gets the `default` row's decline from its street-price date; a
row without a price takes the chip's street price (data/econ/street_prices.csv)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ..errors import TapeoutError
from .prices import street_price


@dataclass(frozen=True)
class RoadmapEntry:
    chip_id: str
    available_year: int
    price_usd: float
    price_year: int
    decline: float
    decline_low: float
    decline_high: float
    status: str
    source: str


def check_decline(decline, field: str) -> None:
    """A decline of 1 or more per year sends the price to zero or below: one line naming `field`."""
    d = np.asarray(decline, dtype=float)
    if np.any(~(d < 1)):
        bad = float(np.max(d))
        raise TapeoutError(f"{field}: a price decline of {bad:g} per year makes the price path zero or negative; "
                           "give a fraction below 1 (0.12 = 12% a year, negative = price rises).")


def price_path(price_usd, price_year, decline, year):
    """Price in `year` of a chip priced `price_usd` in `price_year`; broadcasts over numpy arrays.
    Years before price_year keep the dated price (no back-extrapolation)."""
    p = np.asarray(price_usd, dtype=float)
    if np.any(p < 0):
        raise TapeoutError(f"price must be >= 0 USD, got {float(np.min(p)):g}.")
    check_decline(decline, "price decline")
    t = np.maximum(np.asarray(year, dtype=float) - np.asarray(price_year, dtype=float), 0.0)
    out = p * (1.0 - np.asarray(decline, dtype=float)) ** t
    return float(out) if np.ndim(out) == 0 else out


@lru_cache(maxsize=1)
def _rows() -> dict[str, dict]:
    with resources.files("tapeout").joinpath("data", "econ", "roadmap.csv").open(newline="") as f:
        rows = {r["chip_id"]: r for r in csv.DictReader(f)}
    for k, r in rows.items():
        check_decline([float(r[c]) for c in ("decline_per_year", "decline_low", "decline_high")], f"data/econ/roadmap.csv {k}")
        if r["price_usd"].strip() and float(r["price_usd"]) < 0:
            raise TapeoutError(f"data/econ/roadmap.csv {k}: price_usd must be >= 0.")
    return rows


def roadmap_ids() -> list[str]:
    return [k for k in _rows() if k != "default"]


def roadmap_entry(chip_id: str, start_year: int, prices: dict[str, float] | None = None,
                  declines: dict[str, float] | None = None) -> RoadmapEntry:
    """The roadmap of `chip_id` with the study's overrides: `prices` (a study price is the price
    in `start_year`, declining from there) and `declines` (per chip id, or `default`)."""
    rows = _rows()
    r, d = rows.get(chip_id), rows["default"]
    if prices and chip_id in prices:
        sp = street_price(chip_id, prices)
        price, pyear, source = sp.price_usd, start_year, "economics.prices in the study file"
    elif r is None or not r["price_usd"].strip():
        sp = street_price(chip_id)
        price, pyear = sp.price_usd, int(sp.date[:4])
        source = r["source"] if r else f"price: street price ({sp.date}); decline: {d['source']}"
    else:
        price, pyear, source = float(r["price_usd"]), int(r["price_year"]), r["source"]
    avail = int(r["available_year"]) if r else street_price(chip_id, prices).available_year or start_year
    row = r or d
    dec = float(row["decline_per_year"])
    if declines:
        dec = float(declines.get(chip_id, declines.get("default", dec)))
        check_decline(dec, f"economics.price_decline.{chip_id}")
    return RoadmapEntry(chip_id, avail, float(price), pyear, dec, min(float(row["decline_low"]), dec),
                        max(float(row["decline_high"]), dec), r["status"] if r else "street price", source)
