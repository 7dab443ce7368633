"""A simulated ViewerAtlas (version A, VIEWERATLAS.md §1-§3), built through the emulator's AWS APIs.

Names, shapes and log lines follow ../shared/VIEWERATLAS.md. The secrets hold sentinel values so the
leak tests can search every output for them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid

import boto3
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "vieweratlas-cluster"
COLLECTOR = "vieweratlas-collector"
ANALYSIS = "vieweratlas-analysis"
VOD = "vieweratlas-vod-collector"
BUCKET = "vieweratlas-data-lake"
PREFIX = "vieweratlas/"
TOPIC = "vieweratlas-alerts"
SINK_QUEUE = "autoheal-report-sink"
ANALYSIS_RULE = "vieweratlas-analysis-daily"
VOD_RULE = "vieweratlas-vod-6h"
OAUTH_SECRET = "vieweratlas/twitch/oauth_token"
CLIENT_ID_SECRET = "vieweratlas/twitch/client_id"
# Planted so tests can prove no secret value ever reaches an output.
SENTINEL_TOKEN = "SENTINEL-oauth-9f27c1d4e8b3"
SENTINEL_CLIENT_ID = "SENTINEL-clientid-5a61e0"
IMAGE_TAG = "4f2c9ab"
ALARMS = {
    "ViewerAtlas-ECSCollector-Unavailable": dict(
        Namespace="ECS/ContainerInsights", MetricName="RunningTaskCount", Statistic="Average",
        Period=300, EvaluationPeriods=2, Threshold=1.0, ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
        Dimensions=[{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": COLLECTOR}],
        AlarmDescription="Collector running task count dropped below 1",
    ),
    "ViewerAtlas-Collector-Snapshot-Stalled": dict(
        Namespace="ViewerAtlas/Collector", MetricName="SnapshotSavedCount", Statistic="Sum",
        Period=3600, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching", AlarmDescription="No collector snapshot save logs in expected window",
    ),
    "ViewerAtlas-Collector-Error-Spike": dict(
        Namespace="ViewerAtlas/Collector", MetricName="CollectorErrorCount", Statistic="Sum",
        Period=300, EvaluationPeriods=1, Threshold=20.0, ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching", AlarmDescription="Collector error log volume exceeded threshold",
    ),
}
CHANNELS = ["xqc", "kaicenat", "shroud", "pokimane", "summit1g", "lirik", "sodapoppin", "hasanabi",
            "ibai", "auronplay", "tarik", "zackrawrr", "caedrel", "jynxzi", "stableronaldo"]


TASK_LOGS = {
    "analysis-ok": [
        "2026-11-28 03:00:50,001 - __main__ - INFO - ANALYSIS PIPELINE START",
        "2026-11-28 03:00:51,001 - __main__ - INFO - [1/6] AGGREGATING VIEWER DATA",
        "2026-11-28 03:40:51,001 - __main__ - INFO - [6/6] SAVING RESULTS",
        f"2026-11-28 03:40:52,001 - __main__ - INFO - ✓ Results saved to s3://{BUCKET}/{PREFIX}processed/analysis_results.json",
        "2026-11-28 03:40:52,101 - __main__ - INFO - ✅ ANALYSIS PIPELINE COMPLETE",
    ],
    "analysis-pipeline-failed": [
        "2026-11-28 03:00:50,001 - __main__ - INFO - ANALYSIS PIPELINE START",
        "2026-11-28 03:00:51,001 - __main__ - INFO - [1/6] AGGREGATING VIEWER DATA",
        "2026-11-28 03:41:01,001 - __main__ - ERROR - Pipeline failed: Connection reset by peer",
        "Traceback (most recent call last):",
        "ConnectionResetError: [Errno 104] Connection reset by peer",
    ],
    "analysis-no-input": [
        "2026-11-28 03:00:50,001 - __main__ - INFO - ANALYSIS PIPELINE START",
        "2026-11-28 03:00:59,001 - __main__ - ERROR - ❌ No analysis input data found in S3 prefixes 'raw/snapshots' or 'curated/presence_snapshots/source=vod'",
    ],
    "analysis-no-edges": [
        "2026-11-28 03:00:50,001 - __main__ - INFO - ANALYSIS PIPELINE START",
        "2026-11-28 03:20:50,001 - __main__ - ERROR - Graph has no edges. Try lowering overlap_threshold.",
    ],
    "vod-ok": [
        "2026-11-28 06:00:10,001 - __main__ - WARNING - VOD collection is disabled in config but preprocess_vods was requested. Proceeding anyway.",
        "2026-11-28 06:00:10,101 - vod_collector - INFO - No pending VODs in queue",
        "2026-11-28 06:00:10,201 - vod_collector - INFO - VOD processing complete. Processed: 0",
        "2026-11-28 06:00:10,301 - vod_collector - INFO - Queue stats: {'total': 0, 'pending': 0, 'processing': 0, 'completed': 0, 'failed': 0}",
    ],
    "vod-timeout": [
        "2026-11-28 06:00:10,001 - vod_collector - INFO - Processing VOD 2291 (xqc)",
        "2026-11-28 06:05:10,001 - vod_collector - ERROR - Timeout downloading VOD 2291",
        "2026-11-28 06:05:10,101 - vod_collector - WARNING - VOD 2291 failed (attempt 1); next attempt after 60s",
    ],
}


def clients(url: str):
    # The app id keeps the world's own set-up calls out of the emulator's latency switch.
    cfg = Config(retries={"max_attempts": 2}, s3={"addressing_style": "path"},
                 user_agent_appid="autoheal-test-world")
    kw = dict(endpoint_url=url, region_name=REGION, aws_access_key_id="testing",
              aws_secret_access_key="testing", config=cfg)
    return {name: boto3.client(name, **kw) for name in
            ("ecs", "s3", "logs", "events", "secretsmanager", "sns", "sqs", "ec2", "cloudwatch", "iam")}


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def secret_partial_arn(name: str) -> str:
    # ViewerAtlas task defs reference secrets by partial ARN, without the random suffix (§1).
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"


def task_def(family: str, container: str, cpu: str, mem: str, image_repo: str, tag: str,
             command=None, secrets=True) -> dict:
    env = [
        {"name": "STORAGE_TYPE", "value": "s3"},
        {"name": "S3_BUCKET", "value": BUCKET},
        {"name": "S3_PREFIX", "value": PREFIX},
        {"name": "S3_REGION", "value": REGION},
    ]
    cdef = {
        "name": container,
        "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{image_repo}:{tag}",
        "essential": True,
        "memory": int(mem),
        "environment": env,
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": f"/ecs/{family}", "awslogs-region": REGION,
            "awslogs-stream-prefix": container if family != COLLECTOR else "collector"}},
    }
    if command:
        cdef["command"] = command
    if secrets:
        cdef["secrets"] = [
            {"name": "TWITCH_OAUTH_TOKEN", "valueFrom": secret_partial_arn(OAUTH_SECRET)},
            {"name": "TWITCH_CLIENT_ID", "valueFrom": secret_partial_arn(CLIENT_ID_SECRET)},
        ]
    return dict(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu=cpu, memory=mem,
        executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{family}-execution-role",
        taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{family}-task-role",
        containerDefinitions=[cdef],
    )


def register_all(ecs, tag: str, families=None) -> dict:
    arns = {}
    for args in (
        (COLLECTOR, "collector", "256", "512", "vieweratlas-collector", tag, None, True),
        (ANALYSIS, "analysis", "1024", "2048", "vieweratlas-analysis", tag,
         ["python", "-u", "main.py", "analyze", "rigorous"], False),
        (VOD, "vod-collector", "512", "1024", "vieweratlas-vod", tag,
         ["python", "-u", "main.py", "preprocess_vods", "config.yaml"], True),
    ):
        if families is not None and args[0] not in families:
            continue
        td = ecs.register_task_definition(**task_def(*args))["taskDefinition"]
        arns[args[0]] = td["taskDefinitionArn"]
    return arns


def network(c) -> dict:
    subnets = c["ec2"].describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    sgs = c["ec2"].describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    return {"awsvpcConfiguration": {"subnets": [subnets[0]["SubnetId"]], "securityGroups": [sgs[0]["GroupId"]],
                                    "assignPublicIp": "ENABLED"}}


def collector_success_lines(t0: dt.datetime, channels) -> list[tuple[dt.datetime, str]]:
    fmt = lambda t: t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"  # noqa: E731
    out, t = [], t0
    def add(name, level, msg, step=1):
        nonlocal t
        out.append((t, f"{fmt(t)} - {name} - {level} - {msg}"))
        t += dt.timedelta(seconds=step)
    add("__main__", "INFO", "Starting data collection cycle...")
    add("get_viewers", "INFO", "Fetching top 5000 channels...")
    add("__main__", "INFO", f"Found {len(channels)} channels to monitor")
    add("get_viewers", "INFO", "Processing batch 1/1...")
    for ch in channels:
        stamp = t.strftime("%Y%m%d_%H%M%S")
        add("get_viewers", "INFO",
            f"[{ch}] Saved: s3://{BUCKET}/{PREFIX}raw/snapshots/{t:%Y/%m/%d}/{ch}_{stamp}.json", 20)
    add("__main__", "INFO", "✓ Collection cycle complete")
    return out


def put_lines(logs, group: str, stream: str, lines) -> None:
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    events = [{"timestamp": ms(t), "message": m} for t, m in sorted(lines)]
    for i in range(0, len(events), 1000):
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events[i:i + 1000])


def put_snapshots(s3, day: dt.datetime, channels, body_extra=None) -> int:
    for ch in channels:
        key = f"{PREFIX}raw/snapshots/{day:%Y/%m/%d}/{ch}_{day:%Y%m%d_%H%M%S}.json"
        body = {"timestamp": day.isoformat(), "viewer_count": random.randint(100, 90000),
                "game_name": "Just Chatting", "language": "en", "title": "live", "started_at": day.isoformat(),
                "chatters": ["a", "b", "c"]}
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(body).encode(), ServerSideEncryption="AES256")
    return len(channels)


def seed(url: str, channels: int = 12, yesterday: bool = True) -> dict:
    """A healthy ViewerAtlas: everything ran recently and every check should pass."""
    c = clients(url)
    now = now_utc()
    ecs = c["ecs"]
    ecs.create_cluster(clusterName=CLUSTER, settings=[{"name": "containerInsights", "value": "enabled"}])
    for fam in (COLLECTOR, ANALYSIS, VOD):
        c["logs"].create_log_group(logGroupName=f"/ecs/{fam}")
        c["logs"].put_retention_policy(logGroupName=f"/ecs/{fam}", retentionInDays=7)
    # Two deploys happened: revision 1 (old) and revision 2 (current).
    register_all(ecs, "1a0b9c8")
    arns = register_all(ecs, IMAGE_TAG)
    net = network(c)
    ecs.create_service(cluster=CLUSTER, serviceName=COLLECTOR, taskDefinition=arns[COLLECTOR], desiredCount=1,
                       launchType="FARGATE", networkConfiguration=net,
                       deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                                "maximumPercent": 200, "minimumHealthyPercent": 100})
    for fam in (ANALYSIS, VOD):
        ecs.create_service(cluster=CLUSTER, serviceName=fam, taskDefinition=arns[fam], desiredCount=0,
                           launchType="FARGATE", networkConfiguration=net)

    sm = c["secretsmanager"]
    sm.create_secret(Name=OAUTH_SECRET, SecretString=SENTINEL_TOKEN)
    sm.create_secret(Name=CLIENT_ID_SECRET, SecretString=SENTINEL_CLIENT_ID)

    s3 = c["s3"]
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    chans = CHANNELS[: max(1, min(channels, len(CHANNELS)))]
    if yesterday:
        put_snapshots(s3, now - dt.timedelta(days=1), chans)
    put_snapshots(s3, now - dt.timedelta(minutes=5), chans)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}processed/analysis_results.json",
                  Body=json.dumps({"timestamp": now.isoformat(), "statistics": {"nodes": 412}}).encode())

    task_id = uuid.uuid4().hex
    put_lines(c["logs"], f"/ecs/{COLLECTOR}", f"collector/collector/{task_id}",
              collector_success_lines(now - dt.timedelta(minutes=12), chans))

    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"
    role = f"arn:aws:iam::{ACCOUNT}:role/vieweratlas-eventbridge-ecs-role"
    for rule, expr, fam, tid in ((ANALYSIS_RULE, "cron(0 3 * * ? *)", ANALYSIS, "vieweratlas-analysis-target"),
                                 (VOD_RULE, "rate(6 hours)", VOD, "vieweratlas-vod-target")):
        c["events"].put_rule(Name=rule, ScheduleExpression=expr, State="ENABLED")
        c["events"].put_targets(Rule=rule, Targets=[{
            "Id": tid, "Arn": cluster_arn, "RoleArn": role,
            "EcsParameters": {"TaskDefinitionArn": arns[fam], "TaskCount": 1, "LaunchType": "FARGATE",
                              "PlatformVersion": "LATEST", "NetworkConfiguration": {"awsvpcConfiguration": {
                                  "Subnets": net["awsvpcConfiguration"]["subnets"],
                                  "SecurityGroups": net["awsvpcConfiguration"]["securityGroups"],
                                  "AssignPublicIp": "ENABLED"}}}}])

    topic = c["sns"].create_topic(Name=TOPIC)["TopicArn"]
    q = c["sqs"].create_queue(QueueName=SINK_QUEUE)["QueueUrl"]
    qarn = c["sqs"].get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    c["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    for name, spec in ALARMS.items():
        c["cloudwatch"].put_metric_alarm(AlarmName=name, AlarmActions=[topic], ActionsEnabled=True, **spec)

    # The ECS scheduler has started the collector's task and finished the rollout.
    import emulator
    emulator.set_service_state({"service": COLLECTOR, "runningCount": 1, "rolloutState": "COMPLETED",
                                "deploymentAgeMinutes": 2 * 24 * 60})
    # The Twitch secrets were set up long before the current deployment.
    emulator.age_secrets({"minutes": 10 * 24 * 60})

    return {"topic_arn": topic, "queue_url": q, "bucket": BUCKET, "task_definitions": arns,
            "oauth_secret_arn": sm.describe_secret(SecretId=OAUTH_SECRET)["ARN"]}


def seed_history(days: int, per_day: int, bucket: str = BUCKET, prefix: str = PREFIX) -> dict:
    """Many days of snapshots, written straight into the emulator's store (benchmarks need 150k+ keys;
    100k PutObject calls through HTTP would take longer than the measurement)."""
    from moto.s3.models import FakeKey, s3_backends

    backend = s3_backends[ACCOUNT]["global"]
    b = backend.get_bucket(bucket)
    now = now_utc()
    n = 0
    for d in range(days):
        day = now - dt.timedelta(days=d)
        for i in range(per_day):
            t = day.replace(hour=(i * 24) // per_day, minute=i % 60, second=0, microsecond=0)
            if t > now:
                t = now - dt.timedelta(minutes=1)
            name = f"{prefix}raw/snapshots/{t:%Y/%m/%d}/chan{i:05d}_{t:%Y%m%d_%H%M%S}.json"
            key = FakeKey(name=name, value=b"{}", account_id=ACCOUNT, region_name=REGION)
            key.last_modified = t.replace(tzinfo=None)
            b.keys[name] = key
            n += 1
    return {"written": n}


def seed_ledger(decisions: int = 10_000, targets: int = 1_000, days: int = 30, bucket: str = BUCKET,
                prefix: str = "autoheal/") -> dict:
    """A long-used audit ledger (layout of shared/src/ledger.rs), written straight into the emulator's
    store like seed_history: `decisions` decision records spread over the last `days` days (today
    included), each with its finished claim, and `targets` per-target histories. One of the targets is
    the real collector service, with two actions 3 and 4 days ago: read by every guarded action on it,
    yet outside every cooldown, cap and loop window, so the runs decide as on an empty ledger."""
    from moto.s3.models import FakeKey, s3_backends

    b = s3_backends[ACCOUNT]["global"].get_bucket(bucket)
    now = now_utc()
    rng = random.Random(7)

    def put(name: str, doc: dict, when: dt.datetime) -> None:
        key = FakeKey(name=name, value=json.dumps(doc, indent=1).encode(), account_id=ACCOUNT, region_name=REGION)
        key.last_modified = when.replace(tzinfo=None)
        b.keys[name] = key

    names = [f"service/{CLUSTER}/{COLLECTOR}"] + [f"service/{CLUSTER}/svc-{i:04d}" for i in range(1, targets)]
    safe = lambda s: "".join(c if c.isalnum() or c in "-_." else "_" for c in s)  # noqa: E731  (ledger::safe_key)
    for i in range(decisions):
        when = now - dt.timedelta(seconds=rng.uniform(60, days * 86_400))
        at_ms = int(when.timestamp() * 1000)
        target, change = names[i % len(names)], f"seeded-event-{i:05d}"
        put(f"{prefix}decisions/{when:%Y/%m/%d}/{at_ms}-{change}-0-{i:09d}-1.json", {
            "at": at_ms // 1000, "at_ms": at_ms, "seq": 0, "at_text": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "trigger_id": change, "trigger_name": "ViewerAtlas-Collector-Snapshot-Stalled",
            "playbook": "no-new-snapshots", "action": "force_new_deployment", "target": target,
            "status": rng.choice(["done", "skipped", "skipped", "planned"]),
            "reason": "seeded history for the ledger cost benchmark", "evidence": ["seeded"], "result": None}, when)
        put(f"{prefix}claims/{safe(f'{change}--force_new_deployment--{target}')}.json", {
            "change_id": change, "action": "force_new_deployment", "target": target,
            "playbook": "no-new-snapshots", "status": "done", "claimed_at": at_ms // 1000,
            "result": "deployment ecs-svc/seeded", "reason": None}, when)
    for j, target in enumerate(names):
        ago = [3, 4] if j == 0 else [rng.uniform(1.5, 6.5) for _ in range(3)]
        put(f"{prefix}targets/{safe(target)}.json", {"actions": [
            {"at": int((now - dt.timedelta(days=d)).timestamp()), "playbook": "no-new-snapshots",
             "action": "force_new_deployment", "change_id": f"seeded-{j}-{k}", "result": "deployment ecs-svc/seeded"}
            for k, d in enumerate(ago)], "relapses": []}, now - dt.timedelta(days=min(ago)))
    return {"decisions": decisions, "claims": decisions, "targets": len(names)}


def scenario(url: str, name: str, args: dict) -> dict:
    """Named incidents. Each changes the world the way the real failure would show up."""
    c = clients(url)
    import emulator  # circular only at call time

    if name == "stale":
        # The collector stopped writing a while ago: newest snapshot and log lines are old.
        minutes = float(args.get("minutes", 240))
        out = emulator.age_objects({"prefix": f"{PREFIX}raw/snapshots/", "minutes": minutes})
        _age_logs(f"/ecs/{COLLECTOR}", minutes)
        return out
    if name == "recover":
        # The collector writes again: fresh snapshots and a cycle's log lines, just now.
        chans = CHANNELS[: int(args.get("channels", 12))]
        put_snapshots(c["s3"], now_utc() - dt.timedelta(minutes=1), chans)
        put_lines(c["logs"], f"/ecs/{COLLECTOR}", f"collector/collector/{uuid.uuid4().hex}",
                  collector_success_lines(now_utc() - dt.timedelta(minutes=6), chans))
        return {"recovered": len(chans)}
    if name == "tasks-finished":
        # Every running task of a family ran to its end (what the task itself does; not Autoheal).
        fam = args.get("family", ANALYSIS)
        arns = c["ecs"].list_tasks(cluster=CLUSTER, family=fam, desiredStatus="RUNNING")["taskArns"]
        for arn in arns:
            c["ecs"].stop_task(cluster=CLUSTER, task=arn, reason="Essential container in task exited")
        return {"stopped": len(arns)}
    if name == "collector-down":
        emulator.set_service_state({"service": COLLECTOR, "runningCount": 0, "events": [
            {"message": f"(service {COLLECTOR}) has started 1 tasks: (task 0d2b).", "minutesAgo": 3},
            {"message": f"(service {COLLECTOR}) deregistered 1 targets", "minutesAgo": 5},
        ]})
        return {"collector": "down"}
    if name == "collector-running":
        return emulator.set_service_state({"service": COLLECTOR, "runningCount": int(args.get("count", 1)),
                                           "rolloutState": "COMPLETED"})
    if name == "rollout-in-progress":
        return emulator.set_service_state({"service": COLLECTOR, "rolloutState": "IN_PROGRESS"})
    if name == "analysis-stale":
        return emulator.age_objects({"prefix": f"{PREFIX}processed/", "minutes": float(args.get("minutes", 30 * 60))})
    if name == "new-task-definitions":
        # A deploy registered new revisions without re-running create-schedules.sh: the rules drift.
        return {"task_definitions": register_all(c["ecs"], args.get("tag", "9e8d7c6"))}
    if name == "alarm":
        # CloudWatch evaluated the metric: the alarm is in `state` now (default ALARM).
        c["cloudwatch"].set_alarm_state(AlarmName=args["alarm"], StateValue=args.get("state", "ALARM"),
                                        StateReason="world scenario")
        return {"alarm": args["alarm"]}
    if name == "token-expired":
        # The collector crash-loops at channel refresh: ChannelDiscoveryError with HTTP 401.
        _collector_lines(c, [
            "Starting data collection cycle...",
            "HTTP error 401 fetching channels (attempt 1/4)",
            "Traceback (most recent call last):",
            "update_channels.ChannelDiscoveryError: Twitch API request rejected with HTTP 401. Check TWITCH_CLIENT_ID and TWITCH_OAUTH_TOKEN.",
            "2026-11-28 10:20:01,123 - get_viewers - ERROR - [xqc] Auth failed. Check TWITCH_OAUTH_TOKEN",
        ])
        _crash_tasks(c, int(args.get("tasks", 2)), "Essential container in task exited")
        emulator.set_service_state({"service": COLLECTOR, "runningCount": 0})
        return {"token": "expired"}
    if name == "collector-stalled":
        # The process runs but hangs after the first batch (VIEWERATLAS.md §8 defect 2): old lines only.
        minutes = float(args.get("minutes", 90))
        _age_logs(f"/ecs/{COLLECTOR}", minutes)
        emulator.age_objects({"prefix": f"{PREFIX}raw/snapshots/", "minutes": minutes})
        _collector_lines(c, ["Processing batch 1/50..."], minutes_ago=minutes - 1)
        return {"collector": "stalled"}
    if name == "collector-log":
        # Arbitrary collector lines (printed or logged), written just now.
        _collector_lines(c, list(args["lines"]))
        return {"lines": len(args["lines"])}
    if name == "s3-denied":
        _collector_lines(c, ["ValueError: Access denied to S3 bucket: " + BUCKET])
        return {"s3": "denied"}
    if name == "recent-deploy":
        return emulator.set_service_state({"service": COLLECTOR, "deploymentAgeMinutes": float(args.get("minutes", 20))})
    if name == "bad-deploy":
        # A release whose tasks fail to start: the new revision's deployment FAILED (the circuit
        # breaker stopped it without rolling back); the old one still has its tasks.
        old = _collector_td(c)
        arns = register_all(c["ecs"], args.get("tag", "badc0de"))
        c["ecs"].update_service(cluster=CLUSTER, service=COLLECTOR, taskDefinition=arns[COLLECTOR])
        state = emulator.set_service_state({"service": COLLECTOR, "runningCount": 0, "deployments": [
            {"taskDefinition": arns[COLLECTOR], "status": "PRIMARY", "rolloutState": "FAILED", "ageMinutes": 12,
             "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
             "id": args.get("deployment")},
            {"taskDefinition": old, "status": "ACTIVE", "rolloutState": "COMPLETED", "ageMinutes": 2 * 24 * 60}]})
        return {"task_definitions": arns, "deployment": state["deployments"][0]}
    if name == "circuit-breaker-rolling-back":
        # The circuit breaker is rolling a failed release back: a new primary deployment of the old
        # revision is in progress, the failed one is still listed.
        old = _collector_td(c)
        arns = register_all(c["ecs"], "badc0de")
        emulator.set_service_state({"service": COLLECTOR, "deployments": [
            {"taskDefinition": old, "status": "PRIMARY", "rolloutState": "IN_PROGRESS", "ageMinutes": 1,
             "rolloutStateReason": "ECS deployment circuit breaker: rolling back to the previous deployment."},
            {"taskDefinition": arns[COLLECTOR], "status": "ACTIVE", "rolloutState": "FAILED", "ageMinutes": 10}]})
        return {"task_definitions": arns}
    if name == "rollout":
        # A release rolling out: its deployment is primary and `state` (IN_PROGRESS by default);
        # the previous revision's tasks are still running and writing.
        old = _collector_td(c)
        arns = register_all(c["ecs"], args.get("tag", "8f8f8f8"), families=[COLLECTOR])
        c["ecs"].update_service(cluster=CLUSTER, service=COLLECTOR, taskDefinition=arns[COLLECTOR])
        emulator.set_service_state({"service": COLLECTOR, "runningCount": 1, "deployments": [
            {"taskDefinition": arns[COLLECTOR], "status": "PRIMARY",
             "rolloutState": args.get("state", "IN_PROGRESS"), "ageMinutes": float(args.get("minutes", 4))},
            {"taskDefinition": old, "status": "ACTIVE", "rolloutState": "COMPLETED", "ageMinutes": 2 * 24 * 60}]})
        return {"task_definitions": arns}
    if name == "rollout-done":
        # The release's rollout completed `minutes` ago and it is now the only deployment.
        emulator.set_service_state({"service": COLLECTOR, "runningCount": 1, "deployments": [
            {"status": "PRIMARY", "rolloutState": "COMPLETED", "ageMinutes": float(args.get("minutes", 60)) + 5,
             "completedMinutesAgo": float(args.get("minutes", 60))}]})
        return {"completed_minutes_ago": float(args.get("minutes", 60))}
    if name == "alarm-deleted":
        # Someone deleted one alarm by mistake.
        c["cloudwatch"].delete_alarms(AlarmNames=[args.get("alarm", "ViewerAtlas-Collector-Snapshot-Stalled")])
        return {"deleted": 1}
    if name == "alarm-tamper":
        # Someone deleted one alarm and raised another's threshold by hand.
        c["cloudwatch"].delete_alarms(AlarmNames=["ViewerAtlas-Collector-Snapshot-Stalled"])
        spec = dict(ALARMS["ViewerAtlas-Collector-Error-Spike"], Threshold=200.0)
        c["cloudwatch"].put_metric_alarm(AlarmName="ViewerAtlas-Collector-Error-Spike",
                                         AlarmActions=[c["sns"].create_topic(Name=TOPIC)["TopicArn"]], **spec)
        return {"tampered": 2}
    if name == "pending-subscription":
        # Someone subscribed an address to the alerts topic and never clicked the confirmation
        # link: SNS lists such a subscription with the ARN "PendingConfirmation" (moto confirms
        # everything at once, so the world sets what real SNS would report).
        from moto.sns.models import sns_backends
        endpoint = args.get("endpoint", "oncall@example.com")
        arn = c["sns"].subscribe(TopicArn=c["sns"].create_topic(Name=TOPIC)["TopicArn"],
                                 Protocol="email", Endpoint=endpoint)["SubscriptionArn"]
        sns_backends[ACCOUNT][REGION].subscriptions[arn].arn = "PendingConfirmation"
        return {"pending": endpoint}
    if name == "task-log":
        # The log stream a scheduled task wrote before it stopped (awslogs: <prefix>/<container>/<id>):
        # the lines of a known `kind`, or the given `lines`.
        family, task_id = args["family"], args["task_id"]
        prefix, container = {ANALYSIS: ("analysis", "analysis"), VOD: ("vod-collector", "vod-collector")}[family]
        t = now_utc() - dt.timedelta(minutes=5)
        messages = args["lines"] if "lines" in args else TASK_LOGS[args["kind"]]
        lines = [(t + dt.timedelta(seconds=i), m) for i, m in enumerate(messages)]
        put_lines(c["logs"], f"/ecs/{family}", f"{prefix}/{container}/{task_id}", lines)
        return {"stream": f"{prefix}/{container}/{task_id}"}
    if name == "rotate-secret":
        # What an operator's `aws secretsmanager put-secret-value` does: a new AWSCURRENT version.
        secret = args.get("secret", OAUTH_SECRET)
        value = args.get("value", SENTINEL_TOKEN + "-v2")
        extra = {"VersionStages": args["stages"]} if "stages" in args else {}
        out = c["secretsmanager"].put_secret_value(SecretId=secret, SecretString=value, **extra)
        return {"version": out["VersionId"], "arn": out["ARN"]}
    raise KeyError(f"unknown scenario {name!r}")


def _collector_td(c) -> str:
    return c["ecs"].describe_services(cluster=CLUSTER, services=[COLLECTOR])["services"][0]["taskDefinition"]


def _collector_lines(c, messages, minutes_ago: float = 2) -> None:
    t = now_utc() - dt.timedelta(minutes=minutes_ago)
    lines = [(t + dt.timedelta(seconds=i), m) for i, m in enumerate(messages)]
    put_lines(c["logs"], f"/ecs/{COLLECTOR}", f"collector/collector/{uuid.uuid4().hex}", lines)


def _crash_tasks(c, n: int, reason: str) -> None:
    """Tasks the ECS scheduler started for the service and that died (exit 1)."""
    ecs = c["ecs"]
    svc = ecs.describe_services(cluster=CLUSTER, services=[COLLECTOR])["services"][0]
    net = svc["networkConfiguration"]
    for _ in range(n):
        t = ecs.run_task(cluster=CLUSTER, taskDefinition=svc["taskDefinition"], launchType="FARGATE",
                         networkConfiguration=net, group=f"service:{COLLECTOR}",
                         startedBy=svc["deployments"][0]["id"])["tasks"][0]
        ecs.stop_task(cluster=CLUSTER, task=t["taskArn"], reason=reason)


def _age_logs(group: str, minutes: float) -> None:
    from moto.logs.models import logs_backends

    g = logs_backends[ACCOUNT][REGION].groups[group]
    delta = int(minutes * 60 * 1000)
    for stream in g.streams.values():
        for e in stream.events:
            e.timestamp -= delta
            e.ingestion_time -= delta


def published(url: str) -> list:
    """Drain what Autoheal published to the alerts topic (through its SQS subscription).

    Read straight from moto's queue, in order, instead of through ReceiveMessage/DeleteMessage:
    a load test leaves a thousand messages, and draining them ten at a time over HTTP on a busy
    machine took longer than the harness waits."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT][REGION].queues[SINK_QUEUE]
    with queue._messages_lock:
        messages, queue._messages = list(queue._messages), []
    out = []
    for m in messages:
        env = json.loads(m.body)
        out.append({"subject": env.get("Subject"), "message": env.get("Message"),
                    "attributes": {k: v.get("Value") for k, v in (env.get("MessageAttributes") or {}).items()}})
    return out


def state(url: str) -> dict:
    """Everything Autoheal could mutate, for before/after comparisons."""
    c = clients(url)
    ecs = c["ecs"]
    svcs = ecs.describe_services(cluster=CLUSTER, services=[COLLECTOR, ANALYSIS, VOD])["services"]
    tasks = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    rules = {}
    for r in (ANALYSIS_RULE, VOD_RULE):
        d = c["events"].describe_rule(Name=r)
        t = c["events"].list_targets_by_rule(Rule=r)["Targets"]
        rules[r] = {"state": d["State"], "targets": [x.get("EcsParameters", {}).get("TaskDefinitionArn") for x in t]}
    alarms = {a["AlarmName"]: {"threshold": a["Threshold"], "actions": a["AlarmActions"]}
              for a in c["cloudwatch"].describe_alarms()["MetricAlarms"]}
    ledger = [o["Key"] for o in c["s3"].list_objects_v2(Bucket=BUCKET, Prefix="autoheal/").get("Contents", [])]
    return {
        "services": {s["serviceName"]: {"taskDefinition": s["taskDefinition"], "desiredCount": s["desiredCount"],
                                        "deployments": [d["id"] for d in s["deployments"]]} for s in svcs},
        "tasks": sorted(tasks),
        "rules": rules,
        "alarms": alarms,
        "ledger": sorted(ledger),
    }


def ledger(url: str) -> list:
    """Every object under Autoheal's ledger prefix, with its body (for leak and audit checks)."""
    c = clients(url)
    out = []
    for page in c["s3"].get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="autoheal/"):
        for o in page.get("Contents", []):
            body = c["s3"].get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().decode()
            out.append({"key": o["Key"], "body": body})
    return out
