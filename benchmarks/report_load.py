#!/usr/bin/env python3
"""Load time of the flagship report in headless Chromium (issue 20: < 3 s on this machine).

Runs the flagship study (or takes an existing report.html), then opens the page N+1 times in
Debian's Chromium through Playwright and times navigation start to the load event plus every
figure drawn (performance.now() once all plotly divs hold an svg). The first load warms the
browser and is not counted; prints each time and the median, exit 1 if the median is >= the
target. Needs the browser extra and /usr/bin/chromium (see .ci/run).

    python benchmarks/report_load.py [--report out/flagship/report.html] [--loads 3] [--target 3.0]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ALL_DRAWN = "Array.from(document.querySelectorAll('div[id^=fig-]')).every(d => d.querySelector('.main-svg'))"


def load_times(report: Path, loads: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("Debian chromium not installed (apt-get install chromium)")
    times = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        for i in range(loads + 1):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_function(ALL_DRAWN, timeout=60000)
            if i:
                times.append(page.evaluate("performance.now()") / 1000.0)
            page.close()
        browser.close()
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", type=Path, help="an existing report.html (default: run the flagship study)")
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--target", type=float, default=3.0)
    a = ap.parse_args(argv)
    report = a.report
    if report is None:
        from tapeout.study.runner import run_study

        out = Path(tempfile.mkdtemp(prefix="tapeout-report-load-")) / "out"
        run_study(ROOT / "studies" / "flagship.yaml", out)
        report = out / "report.html"
    html = report.read_text()
    times = load_times(report, a.loads)
    med = statistics.median(times)
    print(f"{report} ({len(html) / 1e6:.1f} MB, plotly.js inlined {html.count('* plotly.js')}x): load + draw "
          f"{', '.join(f'{t:.2f}' for t in times)} s; median {med:.2f} s (target < {a.target} s)")
    return 0 if med < a.target else 1


if __name__ == "__main__":
    sys.exit(main())
