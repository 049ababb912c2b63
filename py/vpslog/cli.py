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
        span = "—" if r.time_min_ms is None else f"{r.time_min_ms}..{r.time_max_ms} ms"
        counts = ", ".join(f"{k} {v}" for k, v in r.status_counts.items())
        print(f"{r.path}: {r.records} records, {r.bytes} bytes, time {span}, {counts}, crc32c {r.checksum}")
        if r.manifest:
            print(f"manifest: {r.manifest}")
        for p in r.problems:
            print(f"FAIL: {p}", file=sys.stderr)
        print("OK" if r.ok else f"{len(r.problems)} problem(s)")
    return 0 if r.ok else 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="vpslog", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="check a run .bin (and its manifest) record by record")
    v.add_argument("run", help="RUN.bin")
    v.add_argument("--manifest", help="RUN.manifest.json (default: the one beside RUN.bin, if any)")
    v.add_argument("--json", action="store_true", help="print one JSON object")
    v.set_defaults(func=_verify)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
