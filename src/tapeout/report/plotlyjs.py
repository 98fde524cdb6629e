"""The plotly.js inlined once in the report (offline): the vendored basic partial bundle
(scatter, bar, pie; 1.2 MB) when it matches the installed plotly.py and covers every trace
type the figures use, else the full bundle plotly.py ships (4.8 MB)."""

from __future__ import annotations

import re
from pathlib import Path

from plotly.offline import get_plotlyjs, get_plotlyjs_version

BASIC = Path(__file__).parent / "vendor" / "plotly-basic.min.js"
BASIC_TRACES = frozenset({"scatter", "bar", "pie"})


def bundle_version(js_head: str) -> str | None:
    m = re.search(r"plotly\.js.*?v(\d+\.\d+\.\d+)", js_head)
    return m.group(1) if m else None


def plotly_js(trace_types: set[str]) -> str:
    """The smallest bundle that draws these trace types with the installed plotly.py."""
    if BASIC.exists() and trace_types <= BASIC_TRACES:
        js = BASIC.read_text(encoding="utf-8")
        if bundle_version(js[:300]) == get_plotlyjs_version():
            return js
    return get_plotlyjs()
