"""A full disk, for real: Chrome's own quota for the origin is lowered over CDP
(Storage.overrideQuotaForOrigin), so OPFS writes fail inside Chrome exactly as
they would on a full profile. What was stored must stay intact and verifiable,
the manifest must survive and say what happened, and the run must stop."""

from urllib.parse import urlsplit

import pytest
from pageflow import download_run, start_run, verify_cli

pytestmark = pytest.mark.browser
QUOTA = 3_000_000


def test_storage_full_stops_the_run_and_keeps_every_stored_record(page, context, app_url, tmp_path):
    page.goto(app_url)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(app_url))
    context.new_cdp_session(page).send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": QUOTA})

    # pace=max would write ~40 MB/s for 30 s: the quota must end it long before.
    result = start_run(page, workers=1, source="load", rate=2_000_000, duration_s=30)
    produced, stored = int(result["produced"]), int(result["logged"])
    assert result["status"] == "error"
    assert 0 < stored < produced and stored * 10 < QUOTA

    bin_path, manifest = download_run(page, result["runId"], tmp_path)
    assert "storage full" in manifest["errors"]["storage"] or "QuotaExceededError" in manifest["errors"]["storage"]
    assert manifest["records"] == stored and bin_path.stat().st_size == stored * 10
    assert manifest["producers"][0]["records"] == manifest["producers"][0]["reported_records"] == produced
    assert manifest["errors"]["dropped_records"] == produced - stored

    # Every stored record is whole and checks out; verify reports the failure, not corruption.
    code, report = verify_cli(bin_path)
    assert code == 1
    assert report["records"] == stored and report["checksum"] == manifest["checksum"]["value"]
    assert sorted(report["problems"]) == sorted([
        "manifest status is 'error', not 'closed' (run ended abnormally?)",
        f"{produced - stored} received record(s) were dropped (storage failed)",
    ])
    assert "storage failed" in page.inner_text("#errors")


NO_ROOM_FOR_THE_MANIFEST = """async () => {
  const pl = window.vpslog.pipeline;
  try {
    await pl.openRun({ runId: 'test-no-room', mode: 'opfs', config: { test: true }, producers: [1] });
    return 'opened';
  } catch (e) {
    return e.message;
  }
}"""


def test_a_run_whose_manifest_cannot_be_written_is_refused_and_leaves_nothing(page, context, app_url):
    page.goto(app_url)
    page.wait_for_function("window.vpslog.pipeline.logger")
    # a user may ask for no headroom: the pre-flight check passes, the manifest write then meets a full disk
    page.evaluate("window.vpslog.pipeline.setRetention({maxTotalBytes: null, maxAgeDays: null, minHeadroomBytes: 0,"
                  " freeSpaceForRuns: false})")
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(app_url))
    cdp = context.new_cdp_session(page)
    usage = page.evaluate("navigator.storage.estimate().then((e) => e.usage)")
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin, "quotaSize": usage + 1000})
    refused = page.evaluate(NO_ROOM_FOR_THE_MANIFEST)
    assert refused.startswith("cannot open run test-no-room: its manifest could not be written ("), refused
    assert "test-no-room" not in [r["runId"] for r in page.evaluate("window.vpslog.pipeline.listRuns()")]
    # with room again the same run opens: no lock held, no file left from the refused open
    cdp.send("Storage.overrideQuotaForOrigin", {"origin": origin})
    assert page.evaluate(NO_ROOM_FOR_THE_MANIFEST) == "opened"
