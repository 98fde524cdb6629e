"""Screenshot a report with Debian Chromium: python scripts/screenshot_report.py REPORT.html OUT.png [HEIGHT]"""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

src, out = Path(sys.argv[1]).resolve(), sys.argv[2]
height = int(sys.argv[3]) if len(sys.argv) > 3 else 0
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update", "--no-first-run"])
    page = b.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(src.as_uri())
    page.wait_for_timeout(2500)
    if height:
        page.set_viewport_size({"width": 1400, "height": height})
    page.screenshot(path=out, full_page=height == 0)
    b.close()
