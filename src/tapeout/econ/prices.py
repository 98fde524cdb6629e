"""Street prices of catalog chips (data/econ/street_prices.csv): each a dated, sourced price or
an explicit estimate with its basis, with a low-high range and the year the chip became
available. No price is ever invented: a chip without a row (and without a study override)
has no price, and says so."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..errors import TapeoutError


@dataclass(frozen=True)
class StreetPrice:
    chip_id: str
    price_usd: float
    low: float
    high: float
    date: str
    available_year: int
    status: str
    source: str

    @property
    def basis(self) -> str:
        return f"{'estimate' if self.status == 'estimate' else 'street price'} ${self.price_usd:,.0f} ({self.date}; {self.source})"


@lru_cache(maxsize=1)
def street_prices() -> dict[str, StreetPrice]:
    out = {}
    with resources.files("tapeout").joinpath("data", "econ", "street_prices.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            out[r["chip_id"]] = StreetPrice(r["chip_id"], float(r["price_usd"]), float(r["low"]), float(r["high"]), r["date"],
                                            int(r["available_year"]), r["status"], r["source"])
    return out


def street_price(chip_id: str, overrides: dict[str, float] | None = None) -> StreetPrice:
    """The price a buyer pays for `chip_id`: the study's override, else the data file's row."""
    if overrides and chip_id in overrides:
        p = float(overrides[chip_id])
        if p < 0:
            raise TapeoutError(f"economics.prices.{chip_id}: price must be >= 0 USD, got {p:g}.")
        return StreetPrice(chip_id, p, p, p, "study file", 0, "study", "economics.prices in the study file")
    row = street_prices().get(chip_id)
    if row is None:
        raise TapeoutError(f"no street price for {chip_id}: add it under economics.prices in the study file "
                           "(or a sourced row to data/econ/street_prices.csv).")
    return row
