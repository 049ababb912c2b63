"""The live view: the map (drawn by the map worker into the page's canvas)
colours edges by their current V/C from the sims' view channel, and what it
draws is what the page shows; charts, counts and top edges from stats."""

import base64
import time

import pytest
from pageflow import start_run

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1100, "height": 1400}

# What the page shows at a pixel of the map: from a real screenshot of the
# canvas (the map worker draws it, so only the compositor's output is what a
# user sees), decoded by the browser.
SHOWN_JS = """async ([b64, x, y]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
  const c = new OffscreenCanvas(bmp.width, bmp.height).getContext('2d');
  c.drawImage(bmp, 0, 0);
  return [...c.getImageData(x, y, 1, 1).data.slice(0, 3)];
}"""


def rgb(hex_colour):
    return [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]


def shown(page, x, y):
    """The colour on the screen at the map canvas's pixel (x, y): the compositor
    puts the canvas at its box's rounded position in the viewport."""
    canvas = page.locator("#map")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    png = page.screenshot()
    return page.evaluate(SHOWN_JS, [base64.b64encode(png).decode(), round(box["x"]) + x, round(box["y"]) + y])


@pytest.fixture(scope="module")
def page(module_page):
    return module_page


# On every view message, once the page has relayed it to the map worker: the most
# congested edge and the colour drawn there (a probe first draws what is pending),
# until an edge over 1.5 V/C shows `overCapacity`. Then the probing stops, so any
# later redraw is one the map worker made by itself.
SAMPLE_UNTIL_JAMMED = """overCapacity => {
  const pl = window.vpslog.pipeline;
  const s = (window.mapSamples = { maxVc: 0, jammed: null });
  const onView = async () => {
    const p = await window.vpslog.view.probe();
    if (!p || s.jammed) return;
    s.maxVc = Math.max(s.maxVc, p.vc);
    if (p.vc >= 1.5 && p.rgb?.join() === overCapacity.join()) {
      s.jammed = p;
      pl.removeEventListener('view', onView);
    }
  };
  pl.addEventListener('view', onView);
  pl.addEventListener('run', (e) => { if (e.detail.state === 'closed') pl.removeEventListener('view', onView); });
}"""


def test_congested_edges_turn_red_on_the_map_and_clear_after_the_run(page):
    # the map worker draws in the cross-origin isolated page (Stop's SIGINT needs it)
    assert page.evaluate("crossOriginIsolated") is True
    colours = page.evaluate("() => import('/view.js').then((m) => m.VC_COLOURS)")
    page.evaluate(SAMPLE_UNTIL_JAMMED, rgb(colours[-1]))
    start_run(page, source="traffic", workers=2, vehicles=30_000, grid=24, alpha=0.3, beta=3, pace="max")
    # the over-capacity colour was drawn at a jammed edge while the run ran...
    samples = page.evaluate("window.mapSamples")
    assert samples["jammed"], f"no edge over 1.5 V/C was drawn in the over-capacity colour: {samples}"
    jammed = samples["jammed"]
    # ...and, once every vehicle has arrived, the map draws the same edge empty by itself, on the screen too
    deadline = time.monotonic() + 10
    while (on_screen := shown(page, jammed["x"], jammed["y"])) != rgb(colours[0]):
        assert time.monotonic() < deadline, f"waited 10 s for the map to show edge {jammed['edge']} empty: {on_screen}"
    cleared = page.evaluate(f"window.vpslog.view.probe({jammed['edge']})")
    assert cleared["vc"] == 0 and cleared["rgb"] == rgb(colours[0]), cleared
    # the whole network is drawn: every edge's middle pixel is not background
    stats = page.evaluate("window.vpslog.view.mapStats()")
    assert stats["edges"] == 4 * 24 * 23 == stats["edgesDrawn"], stats
    # the live charts and the finished run's summary were drawn from stats
    assert page.locator("#rate-chart canvas").count() and page.locator("#summary-chart canvas").count()
    counts = page.locator("#summary-status .bar").all_inner_texts()
    assert [c.split("\n")[0] for c in counts] == ["enter", "exit", "error"]
    assert not page.errors, page.errors


def test_a_source_without_geometry_gets_top_edges_and_status_rates(page):
    # the last run had a map, whose table and counts this one must replace and whose map it must hide
    start_run(page, source="traffic", workers=1, vehicles=300, grid=6)
    assert page.is_visible("#map-panel")
    start_run(page, source="load", workers=2, duration_s=2, rate=200_000, edges=50)
    top = page.locator("#top-edges tbody tr").all_inner_texts()
    assert len(top) == 10 and all(int(row.split()[0]) < 50 for row in top)
    assert page.is_hidden("#map-panel")
    enter = page.inner_text("#status-counts [data-status=enter]")
    assert int(enter.split()[1].replace(",", "")) > 100_000
