"""Backpressure against a genuinely slow logger: OPFS in a default (incognito)
context costs ~1.7 ms per write, far below what two sims produce at full pace.
The sims must wait for credits rather than drop or queue without bound."""

import pytest
from pageflow import start_run

import harness
pytestmark = pytest.mark.browser
CREDIT_WINDOW = 64  # workers/protocol.js


@pytest.fixture
def slow_storage_page(playwright_instance):
    browser = playwright_instance.chromium.launch(
        executable_path=harness.chromium_path(), args=harness.CHROMIUM_ARGS, headless=True)
    try:
        context = browser.new_context()
        guard = harness.OffHostGuard(context)
        yield context.new_page()
        assert not guard.off_host, guard.off_host
    finally:
        browser.close()


def test_producers_wait_for_credits_and_lose_nothing(slow_storage_page, app_url):
    page = slow_storage_page
    page.goto(app_url)
    r = start_run(page, workers=2, source="load", rate=2_000_000, duration_s=2)
    assert r["status"] == "closed"
    assert int(r["produced"]) == int(r["logged"]) > 0
    assert int(r["maxInFlight"]) == CREDIT_WINDOW  # the window filled up...
    assert int(r["waitMs"]) > 500  # ...and the sims spent real time waiting instead of dropping
