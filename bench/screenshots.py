"""Screenshots of the page as a user sees it (docs/screenshots/), for the README
and docs/app.md and for reviewing the live view: a traffic run while it runs and when it has
finished, the user-code panel with an example installed, and the storage panel.

    .venv/bin/python bench/screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import harness  # noqa: E402

OUT = harness.REPO / "docs" / "screenshots"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with harness.app_page() as (page, _url):
        page.set_viewport_size({"width": 1100, "height": 1000})
        page.wait_for_selector("#start:not([disabled])", timeout=120_000)
        page.fill("#param-fields [name=vehicles]", "60000")
        page.fill("#param-fields [name=grid]", "64")
        page.fill("#param-fields [name=duration_s]", "900")
        page.select_option("select[name=pace]", "max")
        page.click("#start")
        page.wait_for_function("(window.vpslog.stats?.records ?? 0) > 600000", timeout=120_000)
        page.locator("#live").screenshot(path=str(OUT / "live-view-running.png"))
        page.wait_for_selector("#run-result:not([hidden])", timeout=180_000)
        page.locator("#live").screenshot(path=str(OUT / "live-view-finished.png"))
        page.select_option("select[name=source]", "__user__")
        page.set_input_files("#code-file", str(harness.REPO / "examples" / "ring_road.py"))
        page.wait_for_function("document.querySelector('#code-status').textContent.includes('source ring-road')",
                               timeout=60_000)
        page.locator("#run-form").screenshot(path=str(OUT / "user-code.png"))
    for p in sorted(OUT.glob("*.png")):
        print(p.relative_to(harness.REPO))


if __name__ == "__main__":
    main()
