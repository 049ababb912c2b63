"""Ready in seconds: the sims boot Python from a memory snapshot made on the first
boot and kept in OPFS, fall back to a normal boot when it cannot be used, and
never share a random stream. One browser (persistent profile) for the module."""

import numpy as np
import pytest
from pageflow import BOOT_TIMEOUT_MS, download_run, start_run

from vpslog import record

pytestmark = pytest.mark.browser

RANDOM_MODEL = """import random
import vpslog

class Dice(vpslog.Source):
    \"\"\"Draws from the module-level random stream, as plain models do.\"\"\"
    def run(self, log):
        for i in range(200):
            log.enter(i, self.part.worker, random.randrange(65536))
            yield
"""


@pytest.fixture(scope="module")
def page(module_page):
    return module_page


def boot_modes(page):
    page.wait_for_selector("#start:not([disabled])", timeout=BOOT_TIMEOUT_MS)
    page.wait_for_function("window.vpslog.pipeline.sims.length >= 2 && window.vpslog.pipeline.sims.every(s => s.bootMode)")
    return page.evaluate("window.vpslog.pipeline.sims.map(s => s.bootMode)")


# The snapshot files in OPFS cache/ (a sim moves one into place when whole, before it reports ready).
SNAPSHOTS = """async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('cache', { create: true });
    const names = [];
    for await (const name of dir.keys()) if (name.endsWith('.bin')) names.push(name);
    return names; }"""


def dice_run(page, tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "dice.py").write_text(RANDOM_MODEL)
    page.select_option("select[name=source]", "__user__")
    page.fill("#code-entry", "dice")
    page.set_input_files("#code-file", str(tmp_path / "dice.py"))
    page.wait_for_function("document.querySelector('#code-status').textContent.includes('source Dice')",
                           timeout=60_000)
    r = start_run(page, source=None, workers=2)
    assert r["status"] == "closed" and int(r["produced"]) == int(r["logged"]) == 400
    bin_path, _ = download_run(page, r["runId"], tmp_path)
    recs = np.fromfile(bin_path, dtype=record.numpy_dtype())
    return [recs["edge_id"][recs["vehicle_id"] == w].tolist() for w in (0, 1)]


def test_first_boot_is_fresh_then_reloads_restore_the_snapshot(page, tmp_path):
    if boot_modes(page) != ["fresh", "fresh"]:  # this page restored a snapshot made before: start from none
        page.evaluate("navigator.storage.getDirectory().then((root) => root.removeEntry('cache', { recursive: true }))")
        page.reload()
        assert boot_modes(page) == ["fresh", "fresh"]
    assert page.evaluate(SNAPSHOTS), "the first boot saved no snapshot"
    fresh = dice_run(page, tmp_path / "a")
    assert fresh[0] != fresh[1]
    page.reload()
    assert boot_modes(page) == ["snapshot", "snapshot"]
    # restored from one snapshot, yet each worker draws its own random stream
    restored = dice_run(page, tmp_path / "b")
    assert restored[0] != restored[1] and restored[0] not in fresh
    assert not page.errors, page.errors


def test_an_unusable_snapshot_falls_back_to_a_normal_boot(page, tmp_path):
    boot_modes(page)  # once booted, a snapshot is saved (by this boot, or one before)
    assert page.evaluate(SNAPSHOTS), "no snapshot to spoil"
    page.evaluate("""async () => {
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('cache');
        for await (const name of dir.keys()) {
            const w = await (await dir.getFileHandle(name)).createWritable();
            await w.write(new Uint8Array(1000).fill(7));
            await w.close();
        }}""")
    page.reload()
    assert boot_modes(page) == ["fresh", "fresh"]
    r = start_run(page, source="load", workers=2, duration_s=1, rate=100_000)
    assert r["status"] == "closed" and int(r["produced"]) == int(r["logged"]) > 0
