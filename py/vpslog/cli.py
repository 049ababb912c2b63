"""The ``vpslog`` command line (CPython)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def _verify(args) -> int:
    from .verify import verify

    r = verify(args.run, args.manifest)
    if args.json:
        print(json.dumps({**asdict(r), "ok": r.ok}))
    else:
        for s in [r, *r.streams]:
            if s.checksum is not None:  # the records were read (not so for a missing file)
                span = "—" if s.time_min_ms is None else f"{s.time_min_ms}..{s.time_max_ms} ms"
                counts = "".join(f", {k} {v}" for k, v in s.status_counts.items())
                print(f"{s.path}: {s.records} records, {s.bytes} bytes, time {span}{counts}, crc32c {s.checksum}")
        if r.manifest:
            print(f"manifest: {r.manifest}")
        for w in r.warnings:
            print(f"WARNING: {w}", file=sys.stderr)
        for p in r.problems:
            print(f"FAIL: {p}", file=sys.stderr)
        print("OK" if r.ok else f"{len(r.problems)} problem(s)")
    return 0 if r.ok else 1


def _param(text: str) -> tuple[str, object]:
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def _simulate(args) -> int:
    from .registry import SourceError
    from .simulate import simulate

    try:
        params = json.loads(args.params) if args.params else {}
        if not isinstance(params, dict):
            raise ValueError("--params must be a JSON object")
        params.update(dict(args.param or []))
        bin_path, man_path = simulate(args.out, args.source, params, workers=args.workers, seed=args.seed)
    except (SourceError, ValueError) as e:
        print(f"vpslog simulate: {e}", file=sys.stderr)
        return 2
    print(bin_path)
    print(man_path)
    manifest = json.loads(man_path.read_text())
    for st in manifest["streams"]:  # the summary; stdout stays the two paths
        print(f"vpslog simulate: stream {st['name']}: {st['records']} records, {st['bytes']} bytes -> {st['file']}",
              file=sys.stderr)
    for p in manifest["producers"]:
        if p.get("error"):
            print(f"vpslog simulate: worker {p['id']} failed after {p['records']} records:\n{p['error']}", file=sys.stderr)
    return 1 if manifest["status"] == "error" else 0


def _analyze(args) -> int:
    from .analysis import AnalysisError, analyze, analyze_runs
    from .analysis._engine import close_client, open_client, where
    from .runs import is_run_address

    try:
        one = len(args.run) == 1 and is_run_address(args.run[0])
        client = open_client(args.scheduler, args.workers)
        print(f"vpslog analyze: {where(client)}", file=sys.stderr)
    except (AnalysisError, ValueError, OSError) as e:
        print(f"vpslog analyze: {e}", file=sys.stderr)
        return 1
    try:
        if one:
            return _print_one(analyze(args.run[0], args.manifest, args.out, args.interval_s, client), args.json)
        return _print_many(analyze_runs(args.run, args.out, args.interval_s, client, progress=True,
                                        manifest_path=args.manifest), args.json)
    except (AnalysisError, ValueError) as e:
        print(f"vpslog analyze: {e}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            close_client(client)


# analyze's BPR pipeline reads the events; any other stream has no BPR meaning
NO_EVENTS = "no events in a run: `vpslog describe` summarises any stream (counts, time range, per field figures)"


def _fit_line(r: dict) -> str:
    if r["alpha"] is None:
        return r["no_fit_reason"]
    return (f"BPR fit: alpha = {r['alpha']:.4f} [{r['alpha_ci'][0]:.4f}, {r['alpha_ci'][1]:.4f}], "
            f"beta = {r['beta']:.3f} [{r['beta_ci'][0]:.3f}, {r['beta_ci'][1]:.3f}] (95% CI)")


def _print_one(r: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps(r))
        return 0
    print(f"{r['run_id']}: {r['records']} records, {r['traversals']} traversals "
          f"({r['unpaired_enters']} unpaired enters, {r['unpaired_exits']} unpaired exits), {r['errors']} errors")
    if r["reported_traversals"] is not None:
        print(f"sim workers reported {r['reported_traversals']} traversals")
    print(_fit_line(r))
    if not r["records"]:
        print(NO_EVENTS)
    if (off := r["off_table"]) and off["edges"]:
        print(f"{off['edges']} logged edge(s) not in the edge table (ids {', '.join(map(str, off['first_ids']))}"
              f"{', …' if off['edges'] > len(off['first_ids']) else ''}): their {off['traversals']} traversals are in"
              " the tables, not in the BPR fit")
    if r["ground_truth"]:
        print(f"ground truth: alpha = {r['ground_truth']['alpha']}, beta = {r['ground_truth']['beta']}")
    for name, files in (r.get("outputs") or {}).items():
        print(f"  {name}: {files}")
    return 0


def _print_many(out: dict, as_json: bool) -> int:
    """Exit 1 if a run was skipped (each is named on stderr); the others' results stand."""
    for s in out["skipped"]:
        print(f"vpslog analyze: skipped {s['location']}: {s['error']}", file=sys.stderr)
    if as_json:
        print(json.dumps({k: v for k, v in out.items() if k != "sweep"}))
    else:
        for r in out["runs"]:
            print(f"{r['location']}: {r['records']} records, {r['traversals']} traversals; {_fit_line(r)}")
        if any(not r["records"] for r in out["runs"]):
            print(NO_EVENTS)
        p = out["pooled"]
        if p:
            print(f"pooled over {p['runs']} run(s), {p['traversals']} traversals: alpha = {p['alpha']:.4f} "
                  f"[{p['alpha_ci'][0]:.4f}, {p['alpha_ci'][1]:.4f}], beta = {p['beta']:.3f} "
                  f"[{p['beta_ci'][0]:.3f}, {p['beta_ci'][1]:.3f}] (95% CI)")
        print(f"{len(out['runs'])} run(s) analysed, {len(out['skipped'])} skipped")
        for name, files in (out.get("outputs") or {}).items():
            print(f"  {name}: {files}")
    return 1 if out["skipped"] else 0


def _export(args) -> int:
    from .io import export

    try:
        out = export(args.run, args.out, args.format, args.stream, force=args.force, progress=True)
    except (ValueError, FileExistsError) as e:  # ReadError, and a format export does not write
        print(f"vpslog export: {e}", file=sys.stderr)
        return 1
    _print_troubles("export", out["skipped"], out["warnings"], [f["error"] for f in out["failed"]])
    print(*out["files"], sep="\n")  # each run's manifest.json, then every stream's file
    return 1 if out["failed"] or out["skipped"] else 0


def _describe(args) -> int:
    from .io import ReadError, describe
    from .io._describe import as_text

    try:
        out = describe(args.run, progress=True)
    except ReadError as e:
        print(f"vpslog describe: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, allow_nan=False) if args.json else as_text(out))
    _print_troubles("describe", out["skipped"], [], [])  # the text names warnings and failed streams in place
    return 1 if out["skipped"] or any(s["error"] for r in out["runs"] for s in r["streams"]) else 0


def _print_troubles(command: str, skipped: list, warnings: list, failed: list) -> None:
    for s in skipped:
        print(f"vpslog {command}: skipped {s['location']}: {s['error']}", file=sys.stderr)
    for w in warnings:
        print(f"vpslog {command}: WARNING: {w}", file=sys.stderr)
    for f in failed:
        print(f"vpslog {command}: FAIL: {f}", file=sys.stderr)


def _ls(args) -> int:
    from .runs import catalogue

    try:
        rows = catalogue(args.location)
    except (ValueError, OSError) as e:
        print(f"vpslog ls: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'run':<28} {'created':<24} {'status':<7} {'records':>12} {'bytes':>14} {'source':<8} state / params")
    for r in rows:
        state = "complete" if r["complete"] else f"INCOMPLETE: {r['problem']}"
        params = " ".join(f"{k}={v}" for k, v in r["params"].items() if isinstance(v, (int, float, str)))
        streams = ", ".join(f"{k} {n}" for k, n in (r["streams"] or {}).items() if k != "events")
        params += f"  streams: {streams}" if streams else ""
        print(f"{r['run_id']:<28} {r['created_at'] or '—':<24} {r['status'] or '—':<7} "
              f"{r['records'] if r['records'] is not None else '—':>12} {r['bytes'] if r['bytes'] is not None else '—':>14} "
              f"{r['source'] or '—':<8} {state}{'  ' + params if params else ''}")
    print(f"{len(rows)} run(s), {sum(not r['complete'] for r in rows)} incomplete")
    return 0


def _serve(args) -> int:
    from .backend.serve import serve

    try:
        serve(port=args.port, gateway_port=args.gateway_port, insecure_open_api=args.insecure_open_api)
    except ValueError as e:
        print(f"vpslog serve: {e}", file=sys.stderr)
        return 2
    return 0


def _app(args) -> int:
    from .backend.app import AppMissing, run_app

    try:
        run_app(port=args.port, host=args.host, public_url=args.public_url, open_browser=not args.no_browser,
                insecure_open_api=args.insecure_open_api)
    except (AppMissing, ValueError) as e:
        print(f"vpslog app: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"vpslog app: cannot listen on {args.host}:{args.port}: {e.strerror or e} (choose another --port)",
              file=sys.stderr)
        return 2
    return 0


def _fetch(args) -> int:
    from .store import fetch

    try:
        bins, man_path = fetch(args.url, args.out)
    except ValueError as e:
        print(f"vpslog fetch: {e}", file=sys.stderr)
        return 1
    print(*bins, man_path, sep="\n")  # every stream's file, events first, then the manifest
    return 0


def _version() -> str:
    from . import __version__
    from .backend.app import installed_build

    build = installed_build()
    return f"vpslog {__version__} ({f'app build {build}' if build else 'no web app build'})"


class _Version(argparse.Action):
    """--version, worked out only when asked (it reads the installed app build)."""

    def __init__(self, option_strings, dest, **kw) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and the app build, and exit")

    def __call__(self, parser, *_) -> None:
        print(_version())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="vpslog", description=__doc__)
    ap.add_argument("--version", action=_Version)
    sub = ap.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check a run .bin (and its manifest) record by record")
    v.add_argument("run", help="RUN.bin or s3://BUCKET/runs/<runId> (parts streamed, nothing written)")
    v.add_argument("--manifest", help="RUN.manifest.json (default: the one beside RUN.bin, if any)")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(func=_verify)

    sim = sub.add_parser("simulate", help="run an event source natively, writing a run like the browser's")
    sim.add_argument("--out", required=True, help="directory for <runId>.bin and <runId>.manifest.json")
    sim.add_argument("--source", default="traffic",
                     help="traffic (default), load, package.module:Class or path/to/model.py[:Class]")
    sim.add_argument("--workers", type=int, default=2, help="parts simulated in parallel processes (default 2)")
    sim.add_argument("--seed", type=int, default=1, help="the run's seed; each worker derives its own stream")
    sim.add_argument("-p", "--param", type=_param, action="append", metavar="NAME=VALUE",
                     help="a source parameter (VALUE is JSON, else a string); repeatable")
    sim.add_argument("--params", help="source parameters as one JSON object (--param wins)")
    sim.set_defaults(func=_simulate)

    an = sub.add_parser("analyze", help="traversals, per-edge/interval tables and the BPR fit of runs, wherever they live")
    an.add_argument("run", nargs="+", help="RUN.bin, a directory of runs, s3://BUCKET/runs/<runId>, or many: s3://BUCKET[/runs/<id prefix>*]")
    an.add_argument("--manifest", help="RUN.manifest.json (default: the one beside RUN.bin)")
    an.add_argument("--out", help="write Parquet/CSV tables, training.npz, errors.jsonl and bpr.png here"
                    " (one folder per run, plus sweep.parquet/.csv, when analysing many)")
    an.add_argument("--interval-s", type=float, default=300, dest="interval_s", help="interval table bin (default 300 s)")
    an.add_argument("--json", action="store_true", help="print one JSON object")
    an.add_argument("--scheduler", help="run on this Dask cluster, e.g. tcp://host:8786 (default: $DASK_SCHEDULER_ADDRESS,"
                    " else this process)")
    an.add_argument("--workers", type=int, help="N > 1: an embedded Dask LocalCluster of N worker processes"
                    " (default: this process, the fastest and leanest on one machine)")
    an.set_defaults(func=_analyze)

    ex = sub.add_parser("export", help="write runs' streams as Parquet, Arrow or CSV files DuckDB and Polars read")
    ex.add_argument("run", nargs="+", help="RUN.bin, a directory of runs, s3://BUCKET/runs/<runId> or s3://BUCKET[/runs/<id prefix>*]")
    ex.add_argument("--format", default="parquet", help="parquet (zstd, the default), arrow or csv")
    ex.add_argument("--out", required=True, help="writes DIR/<runId>/<stream>.<format> and DIR/<runId>/manifest.json")
    ex.add_argument("--stream", action="append", metavar="NAME", help="only this stream (repeatable; default: every stream)")
    ex.add_argument("--force", action="store_true", help="overwrite files already there")
    ex.set_defaults(func=_export)

    de = sub.add_parser("describe", help="per stream of runs: records, time range, per field min/max/mean/nulls, producers")
    de.add_argument("run", nargs="+", help="RUN.bin, a directory of runs, s3://BUCKET/runs/<runId> or s3://BUCKET[/runs/<id prefix>*]")
    de.add_argument("--json", action="store_true", help="print one JSON object")
    de.set_defaults(func=_describe)

    ls = sub.add_parser("ls", help="the run catalogue of a directory or an s3:// bucket/prefix (reads manifests only)")
    ls.add_argument("location", help="DIR, s3://BUCKET or s3://BUCKET/runs/<id prefix>*")
    ls.add_argument("--json", action="store_true", help="print one JSON array")
    ls.set_defaults(func=_ls)

    sv = sub.add_parser("serve", help="the presign API for CLOUD mode (and a local S3 endpoint if none is configured)")
    sv.add_argument("--port", type=int, default=8787, help="API port on 127.0.0.1 (default 8787)")
    sv.add_argument("--gateway-port", type=int, default=0, help="local S3 gateway port (default: any free port)")
    sv.add_argument("--insecure-open-api", action="store_true",
                    help="serve without VPSLOG_API_TOKEN against a non-local endpoint (anyone may then upload)")
    sv.set_defaults(func=_serve)

    app = sub.add_parser("app", help="the whole app (page, presign API, local S3) on one port, as in production")
    app.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free port)")
    app.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; a reverse proxy"
                     " in front serves the public, see docs/production.md)")
    app.add_argument("--public-url", help="the address browsers use when a reverse proxy is in front,"
                     " e.g. https://vpslog.example.org (allowed origin, Host, local-S3 presigned URLs)")
    app.add_argument("--no-browser", action="store_true", help="do not open a browser")
    app.add_argument("--insecure-open-api", action="store_true",
                     help="serve without VPSLOG_API_TOKEN against a non-local endpoint (anyone may then upload)")
    app.set_defaults(func=_app)

    fe = sub.add_parser("fetch", help="download a CLOUD run's parts, check them and write RUN.bin, RUN.<stream>.bin per stream + manifest")
    fe.add_argument("url", help="s3://BUCKET/runs/<runId>")
    fe.add_argument("--out", required=True, help="directory to write <runId>.bin, <runId>.<stream>.bin and <runId>.manifest.json")
    fe.set_defaults(func=_fetch)
    return ap


# What each command needs beyond the standard library: an extra of py/pyproject.toml, plus
# the s3 extra for an s3:// address. `vpslog app` runs without its extra (OPFS only) and says so.
COMMAND_EXTRA = {"verify": "analysis", "simulate": "analysis", "analyze": "analysis", "export": "analysis",
                 "describe": "analysis", "fetch": "s3",
                 "serve": "backend", "ls": None, "app": None}
# The modules those extras install, by import name (tests/py/test_cli_extras.py holds this to pyproject.toml).
OPTIONAL_MODULES = {"numpy", "polars", "pyarrow", "matplotlib", "distributed", "dask", "tqdm", "crc32c", "boto3", "botocore",
                    "moto", "flask", "flask_cors", "werkzeug"}


def needed_extras(args) -> list[str]:
    extras = [COMMAND_EXTRA[args.command]] if COMMAND_EXTRA[args.command] else []
    given = [getattr(args, k, None) for k in ("run", "location", "url")]
    addresses = [a for g in given for a in (g if isinstance(g, list) else [g]) if a]
    if any(a.startswith("s3://") for a in addresses) and not {"s3", "backend"} & set(extras):
        extras.append("s3")
    return extras


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ModuleNotFoundError as e:
        missing, extras = (e.name or "").partition(".")[0], needed_extras(args)
        if missing not in OPTIONAL_MODULES or not extras:
            raise  # not a missing extra: a bug, with its traceback
        print(f"vpslog {args.command}: {missing} is not installed; this command needs "
              f"pip install 'vpslog[{','.join(extras)}]'", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        # Ctrl-C is the user's choice, not a bug: no traceback (simulate leaves no partial run behind)
        print(f"vpslog {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
