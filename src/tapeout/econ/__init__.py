"""Silicon economics: area per node, power, yield and unit cost, TCO. Every coefficient lives
in data/econ/ with its source; every function broadcasts over numpy arrays of designs."""

from .area import die_area, package_size, power_density_w_mm2, shoreline_available_mm  # noqa: F401
from .nodes import NODES, coef, node_index, node_param, parse_node  # noqa: F401
from .power import bit_energy_pj, dynamic_power_w, mac_energy_pj, op_energy_pj, power_capped_clock, static_power_w  # noqa: F401
from .summary import chip_cost_stack, chip_econ_summary  # noqa: F401
from .tco import (  # noqa: F401
    capex_per_chip,
    cost_per_million_tokens,
    cost_per_thousand_queries,
    cost_per_unit,
    cost_per_video_minute,
    tco_per_chip_year,
)
from .yield_cost import (  # noqa: F401
    chiplet_vs_monolithic,
    die_yield,
    dies_per_wafer,
    negative_binomial_yield,
    nre_per_unit,
    tested_die_cost,
    unit_cost,
)
