"""`pip install vpslog`, then `vpslog app`, as a Python user does it: the wheel that
scripts/build_wheel.py builds, installed with its extras in a venv of its own, and
`vpslog app` run from a temp directory with only that venv on PATH (no Node, no
repository). Headless Chromium, offline, at the one origin it serves: cross-origin
isolated under its Content-Security-Policy, an OPFS run downloaded and read by the
venv's `vpslog verify`/`analyze`, a CLOUD run through the same origin's local S3."""

import contextlib
import gzip
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import textwrap
import urllib.parse
import urllib.request
import zipfile

import installed_app
import jsonschema
import pytest
from pageflow import download_run, start_run

import harness
from vpslog.manifest import schema

pytestmark = pytest.mark.browser

# What the tests add to the Caddyfile: its local CA, no admin endpoint, no port 80.
CADDY_TEST_OPTIONS = """{{
	admin off
	local_certs
	skip_install_trust
	http_port {http_port}
	auto_https disable_redirects
}}
"""
# A violation made on purpose (an image from another origin): its report arriving shows that
# the browser's reports reach the app's log, so any sent before it are there too.
CANARY = "() => { new Image().src = 'http://127.0.0.1:9/csp-canary.png'; }"


@pytest.fixture(scope="module")
def wheel():
    return installed_app.built_wheel()


@pytest.fixture(scope="module")
def venv(wheel):
    return installed_app.venv_for(wheel)


@pytest.fixture(scope="module")
def app(venv):
    with installed_app.running_app(venv) as app:
        app.wait_for(installed_app.READ_RUNS)  # CLOUD mode on
        yield app


@contextlib.contextmanager
def browser_at(playwright, url, **context_options):
    """A fresh persistent-profile Chromium at ``url``; ``page.errors`` (page errors and console
    errors, CSP refusals among them) and ``page.puts`` (every PUT's URL, workers' too)."""
    with harness.persistent_context(playwright, **context_options) as ctx:
        guard = harness.OffHostGuard(ctx)
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.errors, page.puts = [], []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        ctx.on("request", lambda r: r.method == "PUT" and page.puts.append(r.url))
        page.goto(url)
        yield page
        assert not guard.off_host, guard.off_host


@pytest.fixture(scope="module")
def page(playwright_instance, app):
    with browser_at(playwright_instance, app.url) as page:
        yield page


@pytest.fixture(scope="module")
def production(venv, tmp_path_factory):
    """The production layout on loopback: a bucket on an origin of its own (the moto of a
    `vpslog serve`, standing in for R2, its CORS rule allowing the app's origin), `vpslog app
    --public-url https://127.0.0.1:<port>` configured for it, behind Caddy running
    docs/production.md's Caddyfile with Caddy's local CA instead of ACME: (app, public URL, bucket)."""
    caddy = shutil.which("caddy")
    assert caddy, "Caddy not found: scripts/setup.sh installs it (Debian: apt-get install caddy)"
    site = re.search(r"```caddyfile\n(.*?)```", (harness.REPO / "docs/production.md").read_text(), re.S)[1]
    public = f"https://127.0.0.1:{harness.free_port()}"
    tmp = tmp_path_factory.mktemp("caddy")
    (tmp / "Caddyfile").write_text(CADDY_TEST_OPTIONS.format(http_port=harness.free_port()) + textwrap.dedent(site))
    with harness.backend(public) as bucket, installed_app.running_app(
            venv, "--public-url", public, env=installed_app.user_env(venv, **harness.s3_env(bucket))) as app, \
            (tmp / "caddy.log").open("w") as log:
        app.wait_for(re.compile(r"^vpslog app: CLOUD mode on: .* at http://", re.M))
        env = {**os.environ, "VPSLOG_SITE": public, "VPSLOG_APP": urllib.parse.urlsplit(app.url).netloc,
               "XDG_DATA_HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp)}
        proc = subprocess.Popen([caddy, "run", "--config", str(tmp / "Caddyfile"), "--adapter", "caddyfile"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            app.wait_until(lambda: proxied_status(public) == 200 or proc.poll() is not None, "Caddy to serve the app")
            assert proc.poll() is None, (tmp / "caddy.log").read_text()
            yield app, public + "/", bucket
        finally:
            proc.terminate()
            proc.wait(10)


def proxied_status(url):
    try:
        with urllib.request.urlopen(url, context=ssl._create_unverified_context(), timeout=5) as r:
            return r.status
    except OSError:
        return None


def user_cli(venv, *args, env=None, cwd=None):
    """`vpslog ARGS` from the user's venv, as the user runs it."""
    return subprocess.run([str(venv / "bin/vpslog"), *map(str, args)], capture_output=True, text=True,
                          env=installed_app.user_env(venv, **(env or {})), cwd=cwd)


def get(app, path, host=None, **headers):
    u = urllib.parse.urlsplit(app.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", path, headers={"Host": host or u.netloc, **headers})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r, body


def test_the_venv_holds_vpslog_from_the_wheel_alone(wheel, venv, tmp_path):
    where = subprocess.run([str(venv / "bin/python"), "-c", "import shutil, vpslog; print(vpslog.__file__); "
                            "print(shutil.which('node'))"], capture_output=True, text=True, check=True,
                           env=installed_app.user_env(venv), cwd=tmp_path).stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == "None"
    with zipfile.ZipFile(wheel) as z:
        build = json.loads(z.read("vpslog/webapp/files.json"))["app_build"]
        (inner,) = [n for n in z.namelist() if re.fullmatch(r"vpslog/webapp/pyodide/vpslog-.*\.whl", n)]
        (tmp_path / "browser.whl").write_bytes(z.read(inner))
    assert user_cli(venv, "--version").stdout.strip() == f"vpslog {installed_app.version(wheel)} (app build {build})"
    # the wheel Pyodide installs: no app inside, no dependencies
    with zipfile.ZipFile(tmp_path / "browser.whl") as z:
        assert not [n for n in z.namelist() if "/webapp/" in n]
        meta = z.read(next(n for n in z.namelist() if n.endswith("METADATA"))).decode()
    assert not [line for line in meta.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert (tmp_path / "browser.whl").stat().st_size < 200_000


def test_served_as_in_production(app):
    index, html = get(app, "/", **{"Accept-Encoding": "gzip"})
    assert index.status == 200 and index.getheader("Content-Type") == "text/html; charset=utf-8"
    assert index.getheader("Cross-Origin-Opener-Policy") == "same-origin"
    assert index.getheader("Cross-Origin-Embedder-Policy") == "require-corp"
    assert "'wasm-unsafe-eval'" in index.getheader("Content-Security-Policy")
    assert index.getheader("Cache-Control") == "no-cache" and index.getheader("Content-Encoding") == "gzip"
    html = gzip.decompress(html).decode()
    # revalidation: the same ETag answers 304, another build's does not
    assert get(app, "/", **{"Accept-Encoding": "gzip", "If-None-Match": index.getheader("ETag")})[0].status == 304
    assert get(app, "/", **{"If-None-Match": '"other"'})[0].status == 200
    assert get(app, "/", **{"If-Modified-Since": index.getheader("Last-Modified")})[0].status == 304

    script = re.search(r'src="(/assets/index-[\w-]+\.js)"', html)[1]  # Vite's hashes are base64url: '-' too
    asset, _ = get(app, script)
    assert asset.getheader("Cache-Control") == "public, max-age=31536000, immutable"
    assert asset.getheader("Content-Type") == "text/javascript; charset=utf-8"

    # wasm: gzipped for a client that takes it, whole for one that does not
    packed, zbody = get(app, "/pyodide/pyodide.asm.wasm", **{"Accept-Encoding": "gzip, deflate"})
    plain, body = get(app, "/pyodide/pyodide.asm.wasm")
    assert packed.getheader("Content-Type") == plain.getheader("Content-Type") == "application/wasm"
    assert packed.getheader("Content-Encoding") == "gzip" and plain.getheader("Content-Encoding") is None
    assert gzip.decompress(zbody) == body and body[:4] == b"\0asm" and len(zbody) < 0.5 * len(body)
    assert packed.getheader("ETag") != plain.getheader("ETag") and packed.getheader("Vary") == "Accept-Encoding"
    assert get(app, "/pyodide/pyodide.mjs")[0].getheader("Content-Type") == "text/javascript; charset=utf-8"

    assert get(app, "/nothing-here.js")[0].status == 404
    assert get(app, "/assets/../../../__init__.py")[0].status == 404
    assert get(app, "/pyodide/pytest-9.0.2-py3-none-any.whl")[0].status == 404  # test-only wheels stay out
    # another name for this server is a DNS-rebinding page
    assert get(app, "/", host="attacker.example:80")[0].status == 421


def test_opfs_run_downloaded_and_read_by_the_users_vpslog(page, app, venv, tmp_path):
    assert page.evaluate("crossOriginIsolated") is True
    r = start_run(page, workers=2, vehicles=4_000, grid=12, seed=3)
    assert r["status"] == "closed" and int(r["produced"]) == int(r["logged"]) > 0
    bin_path, manifest = download_run(page, r["runId"], tmp_path)
    jsonschema.validate(manifest, schema())
    assert manifest["vpslog_version"] == installed_app.version(installed_app.built_wheel())
    assert manifest["app_build"] == app.build

    verified = user_cli(venv, "verify", bin_path, "--json", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["records"] == int(r["logged"])
    analysed = user_cli(venv, "analyze", bin_path, "--json", "--workers", "1", cwd=tmp_path)
    assert analysed.returncode == 0, analysed.stderr
    assert json.loads(analysed.stdout)["traversals"] == int(r["traversals"]) > 0


def cloud_run(page, puts_under):
    """A short CLOUD run from the form, uploaded whole, every PUT of it (parts, manifest) to a URL
    under ``puts_under``; #run-result's data attributes."""
    page.wait_for_selector("#start:not([disabled])")
    page.select_option("select[name=mode]", "cloud")
    r = start_run(page, source="load", pace="realtime", duration_s=1.5)
    assert r["status"] == "closed" and r["published"] == "uploaded"
    puts = [u for u in page.puts if f"/runs/{r['runId']}/" in u]
    assert len(puts) >= 2 and all(u.startswith(puts_under) for u in puts), page.puts
    assert not page.errors, page.errors
    return r


def test_cloud_run_through_the_one_origin(page, app, venv, tmp_path):
    page.goto(app.url)
    # every part and the manifest to this origin's /s3, where the gateway checks their signatures
    r = cloud_run(page, f"{app.url}s3/vpslog/runs/")
    # what the bucket holds, read as the app told its user to
    env = dict(kv.split("=", 1) for kv in app.wait_for(installed_app.READ_RUNS)["env"].split())
    verified = user_cli(venv, "verify", f"s3://vpslog/runs/{r['runId']}", "--json", env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["records"] == int(r["produced"]) > 0


def test_the_page_breaks_no_content_security_policy_rule(page, app):
    booted = app.wait_until(lambda: page.is_enabled("#start") or app.csp_violations(),
                            "the page to boot (Start enabled) or a CSP report", timeout_s=90)
    assert booted is True, booted
    assert not page.errors, page.errors  # the page's own CSP refusals are console errors too
    page.evaluate(CANARY)
    app.wait_until(lambda: [v for v in app.csp_violations() if "csp-canary" in v.get("blocked-uri", "")],
                   "the CSP report of the canary image")
    assert [v for v in app.csp_violations() if "csp-canary" not in v.get("blocked-uri", "")] == []


def test_in_the_production_layout_behind_the_documented_tls_proxy(playwright_instance, production):
    app, url, bucket = production
    with browser_at(playwright_instance, url, ignore_https_errors=True) as page:
        assert page.evaluate("isSecureContext && crossOriginIsolated") is True
        # straight to the bucket's origin: CORS lets the page in, the CSP's connect-src names it
        cloud_run(page, f"{bucket['upstream']}/vpslog/runs/")
    assert app.csp_violations() == []


BLOCK_BACKEND = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] in ('boto3', 'botocore', 'moto'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
"""


def test_without_the_backend_extra_the_app_serves_opfs_and_says_what_cloud_needs(venv):
    with installed_app.running_app(venv, python_prelude=BLOCK_BACKEND) as app:
        app.wait_until(lambda: "CLOUD mode is off" in app.err, "CLOUD mode is off")
        assert "pip install 'vpslog[backend]'" in app.err and "Traceback" not in app.err
        assert get(app, "/")[0].status == 200
        u = urllib.parse.urlsplit(app.url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        conn.request("POST", "/api/runs", body=b"{}", headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 503 and "pip install 'vpslog[backend]'" in json.load(r)["error"]


def test_ctrl_c_stops_the_app_cleanly(venv):
    with installed_app.running_app(venv) as app:
        assert get(app, "/")[0].status == 200
        assert app.stop() == 0
        assert "vpslog app: stopped" in app.err and "Traceback" not in app.err
        u = urllib.parse.urlsplit(app.url)
        with pytest.raises(ConnectionRefusedError), socket.create_connection((u.hostname, u.port), timeout=5):
            pass
