"""Driving the page as a user does: start a run, wait for it, download it."""

import json
import subprocess
import sys

BOOT_TIMEOUT_MS = 90_000


def start_run(page, workers=2, rate=300_000, duration_s=3, pace="realtime"):
    """Fill the form, press Start, wait for the run to close; returns #run-result's data."""
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    page.fill("input[name=workers]", str(workers))
    page.fill("input[name=rate]", str(rate))
    page.fill("input[name=durationS]", str(duration_s))
    page.select_option("select[name=pace]", pace)
    page.click("#start")
    page.wait_for_selector("#run-result:not([hidden])", timeout=60_000)
    return page.eval_on_selector("#run-result", "el => ({...el.dataset})")


def download_run(page, run_id, dest):
    """Click Download in the run's row; returns (bin path, manifest dict)."""
    row = page.locator(f"#runs tr[data-run-id='{run_id}']")
    row.wait_for()
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    row.locator("button.download").click()
    for _ in range(100):
        if len(downloads) == 2:
            break
        page.wait_for_timeout(100)
    files = {}
    for d in downloads:
        files[d.suggested_filename] = target = dest / d.suggested_filename
        d.save_as(target)
    return files[f"{run_id}.bin"], json.loads(files[f"{run_id}.manifest.json"].read_text())


def verify_cli(bin_path):
    """`vpslog verify --json` as a user runs it; returns (exit code, report)."""
    out = subprocess.run([sys.executable, "-m", "vpslog.cli", "verify", str(bin_path), "--json"],
                         capture_output=True, text=True)
    return out.returncode, json.loads(out.stdout)
