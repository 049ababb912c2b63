import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli("analyze", path, "--json")``: the ``vpslog`` command as a user runs it."""
    def run(*args, check=False, env=None):
        out = harness.run_cli(*args, env=env)
        if check and out.returncode:
            raise AssertionError(f"vpslog {' '.join(map(str, args))} exited {out.returncode}:\n{out.stderr}")
        return out
    return run


@pytest.fixture(scope="session")
def app_port():
    return harness.free_port()


# The shared backend runs as a public deployment must: API tokens (a list) and a
# fixed run secret, which lets tests mint expired or foreign run tokens.
API_TOKENS = ("test-api-token-0123456789", "second-test-token-abcdef")
RUN_SECRET = "test-run-secret-0123456789abcdef0123456789"


@pytest.fixture(scope="session")
def backend(app_port):
    env = {"VPSLOG_API_TOKEN": ",".join(API_TOKENS), "VPSLOG_RUN_SECRET": RUN_SECRET}
    with harness.backend(f"http://127.0.0.1:{app_port}", env) as info:
        yield {**info, "api_token": API_TOKENS[0], "api_tokens": API_TOKENS, "run_secret": RUN_SECRET}


@pytest.fixture(scope="session")
def app_url(app_port, backend):
    with harness.dev_server(app_port, backend["api"].removesuffix("/api")) as url:
        yield url


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def context(playwright_instance):
    with harness.persistent_context(playwright_instance) as ctx:
        ctx.guard = harness.OffHostGuard(ctx)
        yield ctx
        assert not ctx.guard.off_host, f"requests left 127.0.0.1: {ctx.guard.off_host}"


@pytest.fixture(scope="module")
def module_page(playwright_instance, app_url, request):
    """One persistent-profile browser for a whole module, at the app (a module
    may set ``VIEWPORT``); fails if anything was requested off 127.0.0.1."""
    viewport = getattr(request.module, "VIEWPORT", None)
    with harness.persistent_context(playwright_instance, **({"viewport": viewport} if viewport else {})) as ctx:
        guard = harness.OffHostGuard(ctx)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(app_url)
        yield page
        assert not guard.off_host, guard.off_host


@pytest.fixture
def page(context):
    page = context.pages[0] if context.pages else context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    return page


@pytest.fixture(scope="session", autouse=True)
def _fresh_pyodide_dist(request):
    """Pyodide and browser tests load vpslog from the staged wheel: rebuild it
    from the working tree first, so they never test a stale copy."""
    if any(Path(str(item.fspath)).parent.name in ("pyodide", "web") for item in request.session.items):
        subprocess.run([sys.executable, str(harness.REPO / "scripts/stage_pyodide.py")], check=True,
                       stdout=subprocess.DEVNULL)


# What the page showed when a browser test failed (form error, error list, sims,
# pipeline state): a timeout alone does not say why a run never started or closed.
PAGE_STATE_JS = """() => {
  const text = (sel) => document.querySelector(sel)?.innerText ?? null;
  const p = window.vpslog?.pipeline;
  return {
    formError: text('#form-error'), errors: text('#errors'), codeStatus: text('#code-status'),
    start: document.querySelector('#start')?.disabled, stop: document.querySelector('#stop')?.disabled,
    pipeline: p && { run: p.run?.runId ?? null, starting: p.starting, prepared: p.prepared, ready: p.ready,
                     sims: p.sims.map((s) => ({ id: s.id, state: s.state, stage: s.stage })) },
  };
}"""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    page = getattr(item, "funcargs", {}).get("page")
    if report.when != "call" or not report.failed or page is None or not hasattr(page, "evaluate"):
        return
    try:
        state = page.wait_for_function(PAGE_STATE_JS, timeout=5_000).json_value()  # a wedged page must not hang the report
    except Exception as e:  # the page may be gone: say so instead of hiding the test's own failure
        state = f"page state unavailable: {e}"
    report.sections.append(("page state at failure", f"{state}\npage errors: {getattr(page, 'errors', None)}"))


# CI must not turn a broken environment into green skips: a test that cannot run there fails the run.
def pytest_terminal_summary(terminalreporter):
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") and skipped:
        terminalreporter.write_line(f"CI: {len(skipped)} test(s) skipped; every test must run in CI", red=True, bold=True)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") and reporter and reporter.stats.get("skipped") and exitstatus == 0:
        session.exitstatus = 1
