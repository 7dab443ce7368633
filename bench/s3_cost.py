"""S3 requests and wall time of the snapshot-freshness check: `autoheal smoke-test` against the runbook's
whole-prefix listing, on worlds with 1, 30 and 90 days of history at 5,000 snapshots a day.

    .venv/bin/python bench/s3_cost.py [--days 1,30,90] [--per-day 5000] [--autoheal-runs 3]
                                      [--autoheal PATH] [--json OUT]

For each world (POST /moto-api/reset, /_world/seed, then /_world/seed-history {days, per_day}):
  (a) `autoheal smoke-test`, --autoheal-runs times: the S3 request count its s3_snapshot_freshness check
      reports ("N S3 requests"), cross-checked against the ListObjects requests the emulator journal saw
      from the Rust SDK, and the wall time of the whole command (median);
  (b) the runbook's listing, exactly as smoke-test.sh runs it (aws s3api list-objects-v2 over the whole
      snapshot prefix with --query 'sort_by(Contents,&LastModified)[-1].LastModified' --output text; the
      CLI follows every continuation token): its wall time, and its request count. awscli v1 applies a
      text-mode --query to each page, so the CLI prints one line per page: that line count is the number
      of ListObjectsV2 requests. It is verified against ceil(objects / 1000) and against a boto3 paginator
      over the same prefix and endpoint (pages, objects, newest LastModified), and on the smallest world
      also against the CLI's own --debug log (one "Making request for OperationModel(name=ListObjectsV2"
      per request);
  (c) scenario stale (minutes 240), then `autoheal smoke-test` once: it must fail, and its S3 request
      count is taken from the emulator journal (a failing check does not print the count).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import threading
import time

import boto3
from botocore.config import Config

import benchlib as b

PER_PAGE = 1000  # ListObjectsV2 MaxKeys default
LISTING_TIMEOUT = 3600  # seconds; the 90-day listing takes about 10 min on the emulator
LIST_CMD = ["s3api", "list-objects-v2", "--bucket", b.BUCKET, "--prefix", b.SNAPSHOT_PREFIX,
            "--query", "sort_by(Contents,&LastModified)[-1].LastModified", "--output", "text"]


def s3_list_requests(journal: list) -> int:
    return sum(1 for e in journal if e.get("service") == "s3" and e.get("op") == "ListObjects")


def run_autoheal(emu: b.Emulator, cmd: list[str], env: dict, expect_ok: bool) -> dict:
    emu.journal(clear=True)
    dt, cp = b.timed(cmd, env, timeout=900)
    journal = emu.journal(clear=True)
    report = b.autoheal_report(cp)
    status, detail = b.check_detail(report, "s3_snapshot_freshness")
    if expect_ok and (cp.returncode != 0 or status != "pass"):
        raise RuntimeError(f"autoheal smoke-test should pass here: exit {cp.returncode}, {status}: {detail!r}; "
                           f"reason: {report.get('reason')}")
    if not expect_ok and (cp.returncode != 1 or status != "fail"):
        raise RuntimeError(f"autoheal smoke-test should fail on the stale world: exit {cp.returncode}, "
                           f"{status}: {detail!r}")
    m = re.search(r"(\d+) S3 requests", detail)
    reported = int(m.group(1)) if m else None
    seen = s3_list_requests(journal)
    if reported is not None and reported != seen:
        raise RuntimeError(f"autoheal reported {reported} S3 requests but the emulator saw {seen} ListObjects")
    return {"seconds": dt, "reported": reported, "journal": seen, "detail": detail}


def runbook_listing(url: str, env: dict, debug: bool) -> dict:
    cmd = [str(b.VENV_BIN / "aws"), "--endpoint-url", url, "--region", "us-east-1"] + LIST_CMD
    if debug:
        cmd.insert(1, "--debug")
    t0 = time.perf_counter()
    with subprocess.Popen(cmd, env=env, cwd=b.ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE if debug else subprocess.DEVNULL, text=True) as p:
        watchdog = threading.Timer(LISTING_TIMEOUT, p.kill)  # bounded even if the CLI hangs
        watchdog.start()
        try:
            # --debug logs every response body: count the requests while streaming, never hold it all.
            # (stdout is one short line per page, far below a pipe's capacity, so it cannot block.)
            debug_requests = 0
            if debug:
                for line in p.stderr:
                    if "Making request for OperationModel(name=ListObjectsV2" in line:
                        debug_requests += 1
            out = p.stdout.read()
            rc = p.wait()
        finally:
            watchdog.cancel()
    dt = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"aws s3api list-objects-v2 exited {rc}")
    lines = [x for x in out.splitlines() if x.strip() and x.strip() != "None"]
    return {"seconds": dt, "pages": len(lines), "newest": max(lines) if lines else None,
            "debug_requests": debug_requests if debug else None}


def paginator_count(url: str) -> dict:
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing",
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))
    pages = objects = 0
    newest = None
    t0 = time.perf_counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b.BUCKET, Prefix=b.SNAPSHOT_PREFIX):
        pages += 1
        for o in page.get("Contents", []):
            objects += 1
            if newest is None or o["LastModified"] > newest:
                newest = o["LastModified"]
    return {"pages": pages, "objects": objects, "newest": newest, "seconds": time.perf_counter() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", default="1,30,90")
    ap.add_argument("--per-day", type=int, default=5000)
    ap.add_argument("--autoheal-runs", type=int, default=3)
    ap.add_argument("--autoheal", help="autoheal binary (default target/bench/release/autoheal or $AUTOHEAL_BIN)")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    days_list = [int(d) for d in args.days.split(",") if d.strip()]
    cmd = [str(b.autoheal_bin(args.autoheal)), "smoke-test"]
    results = []

    load_before = b.machine()
    with b.Emulator() as emu:
        env = b.bench_env(emu.url)
        for i, days in enumerate(days_list):
            log = lambda msg: print(f"{time.strftime('%H:%M:%S')} [{days} d] {msg} ({b.machine()})",  # noqa: E731
                                    file=sys.stderr, flush=True)
            emu.fresh_world()
            t0 = time.perf_counter()
            written = emu.post("/_world/seed-history", {"days": days, "per_day": args.per_day}, timeout=1800)["written"]
            log(f"seeded {written} history snapshots in {time.perf_counter() - t0:.1f} s")

            runs = [run_autoheal(emu, cmd, env, expect_ok=True) for _ in range(max(1, args.autoheal_runs))]
            log(f"autoheal: {[r['reported'] for r in runs]} S3 requests, "
                f"{[round(r['seconds'], 3) for r in runs]} s")

            listing = runbook_listing(emu.url, env, debug=False)
            log(f"runbook listing: {listing['pages']} pages in {listing['seconds']:.1f} s")
            pag = paginator_count(emu.url)
            log(f"boto3 paginator: {pag['pages']} pages, {pag['objects']} objects in {pag['seconds']:.1f} s")
            expected_pages = max(1, math.ceil(pag["objects"] / PER_PAGE))
            if not (listing["pages"] == pag["pages"] == expected_pages):
                raise RuntimeError(f"page counts disagree: CLI {listing['pages']}, paginator {pag['pages']}, "
                                   f"ceil(objects/1000) {expected_pages}")
            cli_newest = listing["newest"]
            pag_newest = pag["newest"].strftime("%Y-%m-%dT%H:%M:%S") if pag["newest"] else None
            if cli_newest is None or pag_newest is None or not cli_newest.startswith(pag_newest):
                raise RuntimeError(f"newest LastModified disagrees: CLI {cli_newest}, paginator {pag_newest}")
            debug_requests = None
            if i == 0:
                dbg = runbook_listing(emu.url, env, debug=True)
                debug_requests = dbg["debug_requests"]
                if debug_requests != listing["pages"]:
                    raise RuntimeError(f"--debug saw {debug_requests} ListObjectsV2 requests, "
                                       f"the CLI printed {listing['pages']} pages")
                log(f"aws --debug: {debug_requests} ListObjectsV2 requests")

            emu.post("/_world/scenario", {"name": "stale", "args": {"minutes": 240}})
            stale = run_autoheal(emu, cmd, env, expect_ok=False)
            log(f"stale: autoheal made {stale['journal']} S3 requests: {stale['detail']}")

            results.append({
                "days": days, "objects": pag["objects"], "history_written": written,
                "autoheal_requests": sorted({r["reported"] for r in runs}),
                "autoheal_seconds": [r["seconds"] for r in runs],
                "runbook_requests": listing["pages"], "runbook_seconds": listing["seconds"],
                "paginator_pages": pag["pages"], "paginator_seconds": pag["seconds"], "debug_requests": debug_requests,
                "stale_requests": stale["journal"], "stale_detail": stale["detail"],
            })

    utc = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print()
    print(f"S3 cost of the snapshot-freshness check, {args.per_day:,} snapshots/day of history, measured {utc}")
    print(f"Machine: before {load_before}; after {b.machine()}")
    print()
    print("| history | objects under prefix | autoheal S3 requests (healthy) | autoheal smoke-test wall "
          f"(median of {args.autoheal_runs}) | runbook listing S3 requests | runbook listing wall (aws CLI) | "
          "same listing, boto3 paginator wall | autoheal S3 requests (stale) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        req = "/".join(str(x) for x in r["autoheal_requests"])
        verified = f" (boto3 paginator: {r['paginator_pages']}" + (
            f", aws --debug: {r['debug_requests']})" if r["debug_requests"] is not None else ")")
        print(f"| {r['days']} d | {r['objects']:,} | {req} | {b.median(r['autoheal_seconds']):.2f} s | "
              f"{r['runbook_requests']:,}{verified} | {r['runbook_seconds']:.1f} s | {r['paginator_seconds']:.1f} s | "
              f"{r['stale_requests']} |")
    print()
    for r in results:
        print(f"- {r['days']} d stale: {r['stale_detail']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"per_day": args.per_day, "measured": utc, "results": results}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
