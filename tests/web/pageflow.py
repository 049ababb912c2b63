"""Driving the page as a user does: start a run, wait for it, download it."""

import json
import os
import subprocess
import sys

BOOT_TIMEOUT_MS = 90_000


def start_run(page, workers=2, duration_s=0, pace="max", source="traffic", **options):
    """Fill the form (``options`` go to the source's fieldset), press Start, wait
    for the run to close; returns #run-result's data attributes."""
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    page.select_option("select[name=source]", source)
    page.fill("input[name=workers]", str(workers))
    page.fill("input[name=durationS]", str(duration_s))
    page.select_option("select[name=pace]", pace)
    for name, value in options.items():
        page.fill(f"fieldset[data-source={source}] input[name={name}]", str(value))
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


def fetch_cli(backend, run_id, dest):
    """`vpslog fetch` of a CLOUD run from the local S3 into ``dest``; returns the CompletedProcess."""
    from vpslog.backend.settings import Settings

    env = {**os.environ, "VPSLOG_S3_ENDPOINT": backend["upstream"],
           "VPSLOG_S3_ACCESS_KEY_ID": Settings(None).access_key_id,
           "VPSLOG_S3_SECRET_ACCESS_KEY": Settings(None).secret_access_key}
    return subprocess.run([sys.executable, "-m", "vpslog.cli", "fetch", f"s3://{backend['bucket']}/runs/{run_id}",
                           "--out", str(dest)], capture_output=True, text=True, env=env)
