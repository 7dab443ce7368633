#!/usr/bin/env bash
# The ViewerAtlas runbook's smoke test (version A, VIEWERATLAS.md §5), re-implemented for the benchmark.
#
# Same checks, same order, same AWS CLI calls (one CLI process per call, as the original makes them):
#   1. aws and python3 exist
#   2. cluster ACTIVE                              ecs describe-clusters
#   3. the 3 task-definition families resolve      ecs describe-task-definition  x3
#   4. service vieweratlas-collector ACTIVE        ecs describe-services
#   5. the service is stable                       ecs wait services-stable (CLI waiter, polls every 15 s,
#                                                  gives up after 40 polls, about 10 min)
#   6. desired > 0 implies running >= 1            ecs describe-services  x2 (desired, running)
#   7. recent collector logs                       logs filter-log-events over LOG_LOOKBACK_MINUTES
#                                                  (all pages: the CLI paginates)
#   8. newest snapshot no older than the limit     s3api list-objects-v2 over the whole snapshot prefix
#                                                  (all pages: the CLI paginates, 1,000 keys a page)
# One deliberate difference from the original, in step 8: see the comment there (it only changes how
# the CLI's output is read, not which requests are made).
# Prints `Smoke test passed`, or `[ERROR] <reason>` and exits 1.
#
# Env: AWS_REGION, ECS_CLUSTER, S3_BUCKET (required); S3_PREFIX (vieweratlas/), S3_SNAPSHOT_PREFIX
# (<prefix>/raw/snapshots/), S3_FRESHNESS_MAX_AGE_MINUTES (180), LOG_LOOKBACK_MINUTES (30).
# Bench-only additions: AWS_ENDPOINT_URL (the emulator; passed as --endpoint-url on every call so an
# older CLI that ignores the variable still talks to it) and AWS_CLI (which aws binary, default `aws`).
# In the test world moto reports the service stable on the waiter's first poll (runningCount ==
# desiredCount, one deployment), so step 5 costs one call there; against a real rollout it can wait
# up to about 10 minutes.

set -euo pipefail

AWS_REGION=${AWS_REGION:-}
ECS_CLUSTER=${ECS_CLUSTER:-}
S3_BUCKET=${S3_BUCKET:-}
S3_PREFIX=${S3_PREFIX:-vieweratlas/}
S3_SNAPSHOT_PREFIX=${S3_SNAPSHOT_PREFIX:-${S3_PREFIX%/}/raw/snapshots/}
S3_FRESHNESS_MAX_AGE_MINUTES=${S3_FRESHNESS_MAX_AGE_MINUTES:-180}
LOG_LOOKBACK_MINUTES=${LOG_LOOKBACK_MINUTES:-30}
export LOG_LOOKBACK_MINUTES
AWS_CLI=${AWS_CLI:-aws}
COLLECTOR_SERVICE=vieweratlas-collector
COLLECTOR_LOG_GROUP=/ecs/vieweratlas-collector

say() { echo "[INFO] $1"; }
fail() { echo "[ERROR] $1"; exit 1; }

# 1. Tools.
command -v "$AWS_CLI" >/dev/null 2>&1 || fail "AWS CLI is required"
command -v python3 >/dev/null 2>&1 || fail "python3 is required"
[ -n "$AWS_REGION" ] || fail "AWS_REGION is required"
[ -n "$ECS_CLUSTER" ] || fail "ECS_CLUSTER is required"
[ -n "$S3_BUCKET" ] || fail "S3_BUCKET is required"

endpoint_args=()
[ -z "${AWS_ENDPOINT_URL:-}" ] || endpoint_args=(--endpoint-url "$AWS_ENDPOINT_URL")
awscli() { "$AWS_CLI" "${endpoint_args[@]}" --region "$AWS_REGION" "$@"; }

say "Smoke checks: cluster=$ECS_CLUSTER region=$AWS_REGION"

# 2. Cluster.
status=$(awscli ecs describe-clusters --clusters "$ECS_CLUSTER" \
    --query 'clusters[0].status' --output text 2>/dev/null || true)
[ "$status" = "ACTIVE" ] || fail "ECS cluster not ACTIVE: $ECS_CLUSTER (status=${status:-missing})"
say "ECS cluster is ACTIVE"

# 3. Task definitions.
for family in vieweratlas-collector vieweratlas-analysis vieweratlas-vod-collector; do
    td=$(awscli ecs describe-task-definition --task-definition "$family" \
        --query 'taskDefinition.taskDefinitionArn' --output text 2>/dev/null || true)
    { [ -n "$td" ] && [ "$td" != "None" ]; } || fail "Task definition not resolvable: $family"
    say "Task definition OK: $family"
done

# 4. Collector service.
svc_status=$(awscli ecs describe-services --cluster "$ECS_CLUSTER" --services "$COLLECTOR_SERVICE" \
    --query 'services[0].status' --output text 2>/dev/null || true)
[ "$svc_status" = "ACTIVE" ] || fail "Collector service missing or not ACTIVE: $COLLECTOR_SERVICE"

# 5. Stability (the runbook's way: the CLI waiter).
say "Waiting for collector service to stabilize"
awscli ecs wait services-stable --cluster "$ECS_CLUSTER" --services "$COLLECTOR_SERVICE" \
    || fail "Collector service did not become stable: $COLLECTOR_SERVICE"

# 6. Running count.
desired=$(awscli ecs describe-services --cluster "$ECS_CLUSTER" --services "$COLLECTOR_SERVICE" \
    --query 'services[0].desiredCount' --output text) || fail "Could not read desiredCount of $COLLECTOR_SERVICE"
running=$(awscli ecs describe-services --cluster "$ECS_CLUSTER" --services "$COLLECTOR_SERVICE" \
    --query 'services[0].runningCount' --output text) || fail "Could not read runningCount of $COLLECTOR_SERVICE"
if [ "$desired" -gt 0 ] && [ "$running" -lt 1 ]; then
    fail "Collector service not healthy: desired=$desired running=$running"
fi
say "Collector service healthy: desired=$desired running=$running"

# 7. Recent logs.
start_ms=$(python3 -c 'import os, time; print(int((time.time() - int(os.environ["LOG_LOOKBACK_MINUTES"]) * 60) * 1000))')
events=$(awscli logs filter-log-events --log-group-name "$COLLECTOR_LOG_GROUP" --start-time "$start_ms" \
    --query 'length(events)' --output text 2>/dev/null || true)
case "$events" in
    ""|None|0) fail "No recent collector log events in the last ${LOG_LOOKBACK_MINUTES} minutes" ;;
esac
say "Recent collector logs present (${events} events)"

# 8. Snapshot freshness: newest LastModified over the whole prefix.
# The CLI applies a text-mode --query to each page, so past 1,000 objects it prints one line per page.
# The original script hands that multi-line value to python3 and dies with a traceback; here the newest
# line wins (same requests; ISO-8601 UTC stamps sort as text).
pages=$(awscli s3api list-objects-v2 --bucket "$S3_BUCKET" --prefix "$S3_SNAPSHOT_PREFIX" \
    --query 'sort_by(Contents,&LastModified)[-1].LastModified' --output text 2>/dev/null || true)
newest=$(printf '%s\n' "$pages" | grep -v -x -e None -e '' | sort | tail -n 1 || true)
{ [ -n "$newest" ] && [ "$newest" != "None" ]; } \
    || fail "No snapshot objects found at s3://${S3_BUCKET}/${S3_SNAPSHOT_PREFIX}"
age=$(python3 -c 'import datetime as d, sys
t = d.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
print(int((d.datetime.now(d.timezone.utc) - t).total_seconds()))' "$newest")
limit=$((S3_FRESHNESS_MAX_AGE_MINUTES * 60))
[ "$age" -le "$limit" ] || fail "Latest snapshot is too old (${age}s > ${limit}s)"
say "Snapshot freshness OK (${age}s old, threshold=${limit}s)"

echo "Smoke test passed"
