"""The freshness check as a Python team would write it for Lambda: the benchmark's peer of Autoheal's
freshness-check function (bench/peer/compare.py runs both). Not part of Autoheal.

Same checks, thresholds, settings and report fields as `shared/src/freshness.rs` + `run.rs`
(CONTRACT §3): the nine smoke checks of VIEWERATLAS.md §5, the known-good revision recorded in the
ledger after a fully passing run, the open incident looked up, and a report published to SNS unless the
run is healthy. Two handlers, one file:

- `freshness_check.handler`: sequential, one call after the other, as most Lambda code is written;
- `freshness_check.handler_threaded`: the independent reads submitted to a thread pool at once.

Written the way the boto3 documentation and Lambda's best practices suggest: clients created once at
import (so the init phase pays for them and warm invocations reuse them and their connections),
settings from the environment, standard retries. Runs under awslambdaric (the runtime interface client
of AWS's Python images): `python -m awslambdaric freshness_check.handler`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENV = os.environ
PREFIX = ENV.get("S3_PREFIX", "vieweratlas/").rstrip("/") + "/"
CFG = {
    "cluster": ENV.get("ECS_CLUSTER", "vieweratlas-cluster"),
    "service": ENV.get("COLLECTOR_SERVICE_NAME", "vieweratlas-collector"),
    "families": [ENV.get("COLLECTOR_TASK_FAMILY", ENV.get("COLLECTOR_SERVICE_NAME", "vieweratlas-collector")),
                 ENV.get("ANALYSIS_TASK_FAMILY", "vieweratlas-analysis"),
                 ENV.get("VOD_TASK_FAMILY", "vieweratlas-vod-collector")],
    "bucket": ENV["S3_BUCKET"],
    "snapshots": ENV.get("S3_SNAPSHOT_PREFIX", f"{PREFIX}raw/snapshots/"),
    "analysis_key": f"{PREFIX}processed/analysis_results.json",
    "max_age_min": int(ENV.get("S3_FRESHNESS_MAX_AGE_MINUTES", "180")),
    "analysis_max_h": int(ENV.get("AUTOHEAL_ANALYSIS_MAX_AGE_HOURS", "26")),
    "lookback_min": int(ENV.get("LOG_LOOKBACK_MINUTES", "30")),
    "rules": [(ENV.get("ANALYSIS_RULE_NAME", "vieweratlas-analysis-daily"), ENV.get("ANALYSIS_TASK_FAMILY", "vieweratlas-analysis")),
              (ENV.get("VOD_RULE_NAME", "vieweratlas-vod-6h"), ENV.get("VOD_TASK_FAMILY", "vieweratlas-vod-collector"))],
    "ledger": ENV.get("AUTOHEAL_LEDGER_PREFIX", "autoheal/"),
    "topic": ENV["SNS_TOPIC_ARN"],
    "publish_healthy": ENV.get("AUTOHEAL_PUBLISH_HEALTHY", "false") == "true",
}
CFG["log_group"] = ENV.get("COLLECTOR_LOG_GROUP", f"/ecs/{CFG['families'][0]}")

# Module scope: created once per sandbox. Region and endpoint come from the environment (AWS_REGION,
# AWS_ENDPOINT_URL), as Lambda sets them; S3 path style only matters for an emulator.
_config = Config(retries={"mode": "standard"}, s3={"addressing_style": "path"}, max_pool_connections=16)
ecs = boto3.client("ecs", config=_config)
logs = boto3.client("logs", config=_config)
s3 = boto3.client("s3", config=_config)
events = boto3.client("events", config=_config)
sns = boto3.client("sns", config=_config)


def check(name, status, detail):
    return {"name": name, "status": status, "detail": detail}


def age_text(secs: float) -> str:
    m = max(int(secs), 0) // 60
    if m < 60:
        return f"{m} min"
    if m < 48 * 60:
        return f"{m // 60} h {m % 60:02d} min"
    return f"{m // 1440} d {(m % 1440) // 60} h"


def short_td(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "Error")


# -- reads (each one AWS call, or one paginated listing) ------------------------------------------

def read_cluster():
    return ecs.describe_clusters(clusters=[CFG["cluster"]])["clusters"]


def read_task_definition(family):
    try:
        return ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
    except ClientError as e:
        return e


def read_service():
    return ecs.describe_services(cluster=CFG["cluster"], services=[CFG["service"]])["services"]


def read_logs(now):
    """Up to 10 pages of the window; the last line and the 'Saved:' count."""
    kw = {"logGroupName": CFG["log_group"], "startTime": int((now - CFG["lookback_min"] * 60) * 1000)}
    n, saved, newest = 0, 0, None
    for page in range(10):
        out = logs.filter_log_events(**kw)
        for e in out.get("events", []):
            n += 1
            msg = e.get("message", "")
            saved += "] Saved: " in msg or " - Saved: " in msg
            newest = max(newest or 0, e.get("timestamp", 0))
        if "nextToken" not in out:
            return n, saved, newest, False
        kw["nextToken"] = out["nextToken"]
    return n, saved, newest, True


def newest_under(prefix, fresh_after):
    """Newest object under a prefix; stops at the first page that holds a fresh one."""
    kw = {"Bucket": CFG["bucket"], "Prefix": prefix}
    newest = None
    while True:
        out = s3.list_objects_v2(**kw)
        for o in out.get("Contents", []):
            t = o["LastModified"].timestamp()
            if newest is None or t > newest[0]:
                newest = (t, o["Key"])
        if newest and newest[0] >= fresh_after:
            return newest
        if not out.get("IsTruncated"):
            return newest
        kw["ContinuationToken"] = out["NextContinuationToken"]


def read_snapshots(now):
    """Only the date partitions the window can touch; past them, up to 7 days back for evidence."""
    max_age = CFG["max_age_min"] * 60
    day = dt.timedelta(days=1)
    first = dt.datetime.fromtimestamp(now - max_age, dt.timezone.utc).date()
    d = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
    best = None
    while d >= first:
        n = newest_under(f"{CFG['snapshots']}{d:%Y/%m/%d}/", now - max_age)
        if n and n[0] >= now - max_age:
            return n
        best = max(best, n) if best and n else (best or n)
        d -= day
    for back in range(1, 8):
        if best:
            break
        best = newest_under(f"{CFG['snapshots']}{first - back * day:%Y/%m/%d}/", float("inf"))
    return best


def read_analysis():
    try:
        return s3.head_object(Bucket=CFG["bucket"], Key=CFG["analysis_key"])["LastModified"].timestamp()
    except ClientError as e:
        return e


def read_rule(rule):
    return events.describe_rule(Name=rule)


def read_targets(rule):
    return events.list_targets_by_rule(Rule=rule)["Targets"]


def ledger_get(kind, name):
    key = f"{CFG['ledger']}{kind}/{name}.json"
    try:
        out = s3.get_object(Bucket=CFG["bucket"], Key=key)
        return key, json.loads(out["Body"].read()), out["ETag"]
    except ClientError as e:
        if code(e) in ("NoSuchKey", "404"):
            return key, None, None
        raise


KNOWN_GOOD = ("known-good", f"{CFG['cluster']}_{CFG['service']}")
INCIDENT = ("incidents", "open")


# -- judgement (the same verdicts and thresholds as freshness.rs) ---------------------------------

def guarded(fn, *args):
    """A check whose read failed reports status `error` with the AWS error code, like Autoheal."""
    try:
        return fn(*args)
    except ClientError as e:
        return e


def judge(now, r):
    checks = []
    c = r["cluster"]
    if isinstance(c, ClientError):
        checks.append(check("ecs_cluster_active", "error", f"DescribeClusters {CFG['cluster']}: {code(c)}"))
    elif not c:
        checks.append(check("ecs_cluster_active", "fail", f"cluster {CFG['cluster']} not found"))
    elif c[0].get("status") == "ACTIVE":
        checks.append(check("ecs_cluster_active", "pass", f"{CFG['cluster']} ACTIVE, {c[0].get('runningTasksCount', 0)} running tasks"))
    else:
        checks.append(check("ecs_cluster_active", "fail", f"cluster {CFG['cluster']} is {c[0].get('status')}"))

    found, missing, errors, newest = [], [], [], {}
    for fam, td in zip(CFG["families"], r["task_definitions"]):
        if isinstance(td, ClientError):
            (missing if code(td) == "ClientException" else errors).append(fam)
            newest[fam] = None
            continue
        image = (td.get("containerDefinitions") or [{}])[0].get("image", "?")
        tag = image.rsplit(":", 1)[1] if ":" in image and "/" not in image.rsplit(":", 1)[1] else "latest"
        found.append(f"{fam}:{td['revision']} (image {tag})")
        newest[fam] = td["taskDefinitionArn"]
    if missing:
        checks.append(check("task_definitions_resolve", "fail", f"not found: {', '.join(missing)}; found: {', '.join(found)}"))
    elif errors:
        checks.append(check("task_definitions_resolve", "error", f"could not describe {', '.join(errors)}"))
    else:
        checks.append(check("task_definitions_resolve", "pass", ", ".join(found)))

    svc = r["service"]
    running_td = None
    if isinstance(svc, ClientError) or not svc:
        why = f"DescribeServices {CFG['service']}: {code(svc)}" if svc else f"service {CFG['service']} not found in {CFG['cluster']}"
        checks += [check("collector_service_active", "error" if svc else "fail", why),
                   check("collector_rollout", "skipped", "service could not be described"),
                   check("collector_running", "skipped", "service could not be described")]
    else:
        s = svc[0]
        running_td = s.get("taskDefinition")
        status = s.get("status", "UNKNOWN")
        checks.append(check("collector_service_active", "pass" if status == "ACTIVE" else "fail",
                            f"{CFG['service']} ACTIVE on {short_td(running_td or '?')}" if status == "ACTIVE"
                            else f"{CFG['service']} is {status}"))
        deps = s.get("deployments", [])
        primary = next((d for d in deps if d.get("status") == "PRIMARY"), deps[0] if deps else None)
        if primary is None:
            checks.append(check("collector_rollout", "skipped", "service reports no deployments"))
        else:
            age = age_text(now - primary["createdAt"].timestamp()) if "createdAt" in primary else "?"
            state = primary.get("rolloutState")
            if state == "FAILED":
                checks.append(check("collector_rollout", "fail", f"deployment {primary['id']} FAILED: {primary.get('rolloutStateReason', 'no reason given')}"))
            elif state == "IN_PROGRESS":
                checks.append(check("collector_rollout", "skipped", f"deployment {primary['id']} IN_PROGRESS for {age}; stability not judged, the next run will"))
            elif len(deps) > 1:
                checks.append(check("collector_rollout", "skipped", f"{len(deps)} deployments active (primary {primary['id']}); a rollout is under way"))
            else:
                checks.append(check("collector_rollout", "pass", f"deployment {primary['id']} COMPLETED, stable for {age}"))
        desired, running, pending = s.get("desiredCount", 0), s.get("runningCount", 0), s.get("pendingCount", 0)
        counts = f"desired {desired}, running {running}, pending {pending}"
        if desired > 0 and running < 1:
            ev = s.get("events") or []
            checks.append(check("collector_running", "fail", counts + (f"; latest service event: {ev[0]['message']}" if ev else "")))
        else:
            checks.append(check("collector_running", "pass", counts))

    lg = r["logs"]
    if isinstance(lg, ClientError):
        checks.append(check("collector_recent_logs", "fail" if code(lg) == "ResourceNotFoundException" else "error",
                            f"FilterLogEvents {CFG['log_group']}: {code(lg)}"))
    elif lg[2] is None:
        checks.append(check("collector_recent_logs", "fail", f"no log events in {CFG['log_group']} in the last {CFG['lookback_min']} min"))
    else:
        n, saved, newest_ms, more = lg
        checks.append(check("collector_recent_logs", "pass", f"{n}{'+' if more else ''} events in the last {CFG['lookback_min']} min, "
                            f"{saved} 'Saved:' lines, newest {age_text(now - newest_ms / 1000)} ago"))

    snap, limit = r["snapshots"], CFG["max_age_min"]
    if isinstance(snap, ClientError):
        checks.append(check("s3_snapshot_freshness", "error", f"ListObjectsV2 s3://{CFG['bucket']}/{CFG['snapshots']}: {code(snap)}"))
    elif snap is None:
        checks.append(check("s3_snapshot_freshness", "fail", f"no snapshots under s3://{CFG['bucket']}/{CFG['snapshots']} in the last 8 daily partitions"))
    elif snap[0] >= now - limit * 60:
        checks.append(check("s3_snapshot_freshness", "pass", f"newest snapshot {age_text(now - snap[0])} old (limit {limit} min): {snap[1]}"))
    else:
        checks.append(check("s3_snapshot_freshness", "fail", f"newest snapshot is {age_text(now - snap[0])} old, limit {limit} min: {snap[1]}"))

    an, key, lim_h = r["analysis"], CFG["analysis_key"], CFG["analysis_max_h"]
    if isinstance(an, ClientError):
        checks.append(check("analysis_output_freshness", "fail" if code(an) in ("404", "NoSuchKey") else "error",
                            f"s3://{CFG['bucket']}/{key} does not exist" if code(an) in ("404", "NoSuchKey") else f"HeadObject {key}: {code(an)}"))
    elif now - an <= lim_h * 3600:
        checks.append(check("analysis_output_freshness", "pass", f"{key} written {age_text(now - an)} ago (limit {lim_h} h)"))
    else:
        checks.append(check("analysis_output_freshness", "fail", f"{key} is {age_text(now - an)} old, limit {lim_h} h: the daily analysis has not produced output"))

    notes, drift, errs = [], [], []
    for (rule, fam), desc, targets in zip(CFG["rules"], r["rules"], r["targets"]):
        if isinstance(desc, ClientError) or isinstance(targets, ClientError):
            e = desc if isinstance(desc, ClientError) else targets
            (drift if code(e) == "ResourceNotFoundException" else errs).append(f"{rule}: {code(e)}")
            continue
        tds = [t["EcsParameters"]["TaskDefinitionArn"] for t in targets if "EcsParameters" in t]
        if not tds:
            drift.append(f"{rule} has no ECS target")
        for td in tds:
            n = newest.get(fam)
            if ":" not in short_td(td):
                notes.append(f"{rule} → {short_td(td)} (unpinned)")
            elif n == td:
                notes.append(f"{rule} → {short_td(td)}")
            elif n:
                drift.append(f"{rule} runs {short_td(td)} but the newest ACTIVE revision is {short_td(n)}")
            else:
                notes.append(f"{rule} → {short_td(td)} (newest revision unknown)")
    if drift:
        checks.append(check("schedule_targets_current", "fail", "; ".join(drift) + "; re-run create-schedules.sh or point the targets at the newest revision"))
    elif errs:
        checks.append(check("schedule_targets_current", "error", "; ".join(errs)))
    else:
        checks.append(check("schedule_targets_current", "pass", "; ".join(notes)))
    return checks, running_td


PRIORITY = ["collector_running", "s3_snapshot_freshness", "collector_service_active", "ecs_cluster_active",
            "task_definitions_resolve", "collector_rollout", "collector_recent_logs", "analysis_output_freshness",
            "schedule_targets_current"]


def report(event, checks):
    rule = next((r.rsplit("/", 1)[-1] for r in event.get("resources", []) if "rule/" in r), "schedule")
    bad = [c for c in checks if c["status"] in ("fail", "error")]
    fails = [c for c in bad if c["status"] == "fail"]
    if not bad:
        outcome, reason = "healthy", "all checks passed"
    else:
        outcome = "escalated" if fails else "failed"
        lead = next((c for n in PRIORITY for c in fails if c["name"] == n), bad[0])
        others = [c["name"] for c in bad if c is not lead]
        reason = lead["detail"] + (f" (+{len(others)} more: {', '.join(others)})" if others else "")
    return {"trigger": {"kind": "schedule", "id": event.get("id", ""), "name": rule}, "playbook": "smoke-test",
            "outcome": outcome, "reason": reason, "checks": checks, "actions": [],
            "next_steps": [f"{len(bad)} check(s) did not pass: follow the runbook for {', '.join(c['name'] for c in bad)}"] if bad else [],
            "finished_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "dry_run": False}


def finish(event, now, checks, running_td, known_good, incident):
    """Records the known-good revision after a fully passing run, notes the open incident, publishes."""
    rep = report(event, checks)
    if rep["outcome"] == "healthy" and running_td:
        key, current, etag = known_good
        if not current or current.get("task_definition_arn") != running_td:
            body = json.dumps({"service": CFG["service"], "task_definition_arn": running_td, "image": None,
                               "recorded_at": int(now), "recorded_by": rep["trigger"]["id"]}).encode()
            cond = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                s3.put_object(Bucket=CFG["bucket"], Key=key, Body=body, ContentType="application/json", **cond)
                rep["checks"].append(check("known_good_recorded", "pass", f"{short_td(running_td)} is now the known-good revision of {CFG['service']}"))
            except ClientError as e:
                if code(e) != "PreconditionFailed":
                    rep["checks"].append(check("known_good_recorded", "error", code(e)))
    # `incident` is read like Autoheal reads it; the benchmark world never has one open, so updating
    # its checklist (RUNBOOK §7) is left out of the peer.
    if rep["outcome"] != "healthy" or CFG["publish_healthy"]:
        sns.publish(TopicArn=CFG["topic"], Subject=f"[Autoheal] {rep['outcome'].upper()} smoke-test"[:100],
                    Message=json.dumps(rep), MessageAttributes={
                        "autoheal_report": {"DataType": "String", "StringValue": "1"},
                        "outcome": {"DataType": "String", "StringValue": rep["outcome"]}})
    return rep


def handler(event, context):
    """Sequential: each read waits for the one before."""
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    r = {"cluster": guarded(read_cluster),
         "task_definitions": [read_task_definition(f) for f in CFG["families"]],
         "service": guarded(read_service),
         "logs": guarded(read_logs, now),
         "snapshots": guarded(read_snapshots, now),
         "analysis": read_analysis(),
         "rules": [guarded(read_rule, rule) for rule, _ in CFG["rules"]],
         "targets": [guarded(read_targets, rule) for rule, _ in CFG["rules"]]}
    checks, running_td = judge(now, r)
    return finish(event, now, checks, running_td, ledger_get(*KNOWN_GOOD), ledger_get(*INCIDENT))


# One pool per sandbox, like the clients: threads are started once and reused by warm invocations.
POOL = ThreadPoolExecutor(max_workers=16)


def handler_threaded(event, context):
    """Every independent read submitted at once; the judgement waits for all of them."""
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    f = {"cluster": POOL.submit(guarded, read_cluster),
         "task_definitions": [POOL.submit(read_task_definition, fam) for fam in CFG["families"]],
         "service": POOL.submit(guarded, read_service),
         "logs": POOL.submit(guarded, read_logs, now),
         "snapshots": POOL.submit(guarded, read_snapshots, now),
         "analysis": POOL.submit(read_analysis),
         "rules": [POOL.submit(guarded, read_rule, rule) for rule, _ in CFG["rules"]],
         "targets": [POOL.submit(guarded, read_targets, rule) for rule, _ in CFG["rules"]],
         "known_good": POOL.submit(ledger_get, *KNOWN_GOOD),
         "incident": POOL.submit(ledger_get, *INCIDENT)}
    r = {k: [x.result() for x in v] if isinstance(v, list) else v.result() for k, v in f.items()}
    checks, running_td = judge(now, r)
    return finish(event, now, checks, running_td, r["known_good"], r["incident"])
