"""The live view on the main thread: the map colours edges by their current V/C
from the sims' view channel, and the channel stays small and slow."""

import pytest
from pageflow import start_run

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1100, "height": 1400}

# The most congested edge now: its id, V/C and the colour a user sees at it.
SAMPLE = """() => {
  const v = window.vpslog.view, net = v.net;
  if (!net) return null;
  let best = -1, at = -1;
  for (let i = 0; i < net.n; i++) { const r = net.occ[i] / net.capacity[i]; if (r > best) { best = r; at = i; } }
  v.draw();
  return { edge: net.edgeIds[at], vc: best, rgb: v.colourAt(net.edgeIds[at]) };
}"""


def rgb(hex_colour):
    return [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]


@pytest.fixture(scope="module")
def page(module_page):
    return module_page


def test_congested_edges_turn_red_on_the_map_and_clear_after_the_run(page):
    colours = page.evaluate("() => import('/view.js').then((m) => m.VC_COLOURS)")
    before = start_run(page, wait=False, source="traffic", workers=2, vehicles=30_000, grid=24, alpha=0.3, beta=3,
                       pace="max")
    samples = []
    for _ in range(400):
        s = page.evaluate(SAMPLE)
        if s:
            samples.append(s)
        if page.evaluate("prev => { const el = document.querySelector('#run-result');"
                         " return !el.hidden && (el.dataset.runId ?? null) !== prev; }", before):
            break
        page.wait_for_timeout(100)
    jammed = [s for s in samples if s["vc"] >= 1.5]
    assert jammed, max((s["vc"] for s in samples), default=None)
    # a user sees the over-capacity colour at the jammed edge...
    assert any(s["rgb"] == rgb(colours[-1]) for s in jammed), jammed[:3]
    # ...and, once every vehicle has arrived, the same edge is drawn empty
    page.wait_for_selector("#run-result:not([hidden])")
    edge = jammed[0]["edge"]
    assert page.evaluate("e => { window.vpslog.view.draw(); return window.vpslog.view.colourAt(e); }", edge) == rgb(colours[0])
    # the live charts and the finished run's summary were drawn from stats
    assert page.locator("#rate-chart canvas").count() and page.locator("#summary-chart canvas").count()
    counts = page.locator("#summary-status .bar").all_inner_texts()
    assert [c.split("\n")[0] for c in counts] == ["enter", "exit", "error"]
    assert not page.errors, page.errors


def test_a_source_without_geometry_gets_top_edges_and_status_rates(page):
    page.reload()
    start_run(page, source="load", workers=2, duration_s=2, rate=200_000, edges=50)
    top = page.locator("#top-edges tbody tr").all_inner_texts()
    assert len(top) == 10 and all(int(row.split()[0]) < 50 for row in top)
    assert page.is_hidden("#map-panel")
    enter = page.inner_text("#status-counts [data-status=enter]")
    assert int(enter.split()[1].replace(",", "")) > 100_000
