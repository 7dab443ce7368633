#!/usr/bin/env python3
"""Routes the sample events through the EventBridge rules of a *translated* Autoheal template.

Usage: check-patterns.py TRANSLATED.json EVENTS_DIR   (tools/lint-template.sh runs it as stage
"event-patterns", with tests/fixtures/events)

The tests and the demo hand events to the functions directly, so without this nothing would show
that the rules in template.yaml deliver the events the functions are written for, or that they keep
out the ones they must never see. For every rule that targets an Autoheal function it evaluates the
rule's EventPattern with moto's EventBridge pattern matcher (the emulator's own, installed in the
pinned virtualenv); schedule rules match the "Scheduled Event" naming their rule. Each case below
is an event (a sample from EVENTS_DIR, or a sample with one field changed) and the set of functions
it must reach; the check fails when any event reaches a different set, and when a sample in
EVENTS_DIR that EventBridge would deliver has no case.

Parameters resolve to their defaults and pseudo parameters to the sample events' account and
region (check-iam.py's resolver). Exit codes: 0 pass, 1 mismatches, 2 unreadable input.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

from moto.events.models import EventPattern

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("check_iam", HERE / "check-iam.py")
check_iam = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_iam)

FRESHNESS, ROTATION, RESPONDER, DEPLOYMENT, TASKS = (
    "FreshnessCheckFunction",
    "RotationRedeployFunction",
    "AlarmResponderFunction",
    "DeploymentWatchFunction",
    "TaskWatchFunction",
)


def changed(event: dict, path: str, value) -> dict:
    """A copy of `event` with the dotted `path` set to `value`."""
    out = copy.deepcopy(event)
    node = out
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    return out


def cases(samples: dict[str, dict]) -> list[tuple[str, dict, set[str]]]:
    alarm = samples["alarm-eventbridge-snapshot-stalled.json"]
    deploy = samples["ecs-deployment-failed-collector.json"]
    task = samples["ecs-task-stopped-analysis.json"]
    rotated = samples["secret-rotation-succeeded.json"]
    updated = samples["secret-update-oauth-token.json"]
    schedule = samples["schedule-freshness.json"]
    other_service = deploy["resources"][0].rsplit("/", 1)[0] + "/some-other-service"
    return [
        ("schedule-freshness.json", schedule, {FRESHNESS}),
        ("schedule of another rule", changed(schedule, "resources", [schedule["resources"][0] + "-other"]), set()),
        ("alarm-eventbridge-snapshot-stalled.json", alarm, {RESPONDER}),
        ("the same alarm back to OK", changed(alarm, "detail.state.value", "OK"), set()),
        ("the same alarm INSUFFICIENT_DATA", changed(alarm, "detail.state.value", "INSUFFICIENT_DATA"), set()),
        ("Collector-Unavailable alarm", changed(alarm, "detail.alarmName", "ViewerAtlas-ECSCollector-Unavailable"), {RESPONDER}),
        ("Error-Spike alarm", changed(alarm, "detail.alarmName", "ViewerAtlas-Collector-Error-Spike"), {RESPONDER}),
        ("Autoheal's own Errors alarm", changed(alarm, "detail.alarmName", "autoheal-alarm-responder-errors"), set()),
        ("ecs-deployment-failed-collector.json", deploy, {DEPLOYMENT}),
        ("collector deployment completed", changed(deploy, "detail.eventName", "SERVICE_DEPLOYMENT_COMPLETED"), {DEPLOYMENT}),
        ("collector deployment in progress", changed(deploy, "detail.eventName", "SERVICE_DEPLOYMENT_IN_PROGRESS"), set()),
        ("another service's deployment failed", changed(deploy, "resources", [other_service]), set()),
        ("ecs-task-stopped-analysis.json", task, {TASKS}),
        ("VOD task stopped", changed(task, "detail.group", "family:vieweratlas-vod-collector"), {TASKS}),
        ("analysis task running", changed(task, "detail.lastStatus", "RUNNING"), set()),
        ("collector service task stopped", changed(task, "detail.group", "service:vieweratlas-collector"), set()),
        ("secret-rotation-succeeded.json", rotated, {ROTATION}),
        ("secret-update-oauth-token.json", updated, {ROTATION}),
        ("PutSecretValue", changed(updated, "detail.eventName", "PutSecretValue"), {ROTATION}),
        # Autoheal itself reads the token (GetSecretValue): that must never trigger a redeploy.
        ("GetSecretValue", changed(updated, "detail.eventName", "GetSecretValue"), set()),
        ("DescribeSecret", changed(updated, "detail.eventName", "DescribeSecret"), set()),
    ]


class Rule:
    def __init__(self, logical_id: str, props: dict, tmpl, functions: set[str]):
        self.id = logical_id
        self.targets = set()
        for t in props.get("Targets") or []:
            arn = t.get("Arn")
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                ga = arn["Fn::GetAtt"]
                target = ga[0] if isinstance(ga, list) else str(ga).split(".")[0]
                if target in functions:
                    self.targets.add(target)
        self.pattern = None
        self.schedule_arn = None
        if "EventPattern" in props:
            self.pattern = EventPattern.load(json.dumps(resolve_all(props["EventPattern"], tmpl)))
        elif "ScheduleExpression" in props:
            name = resolve_all(props.get("Name"), tmpl)
            p = check_iam.PSEUDO
            self.schedule_arn = f"arn:{p['AWS::Partition']}:events:{p['AWS::Region']}:{p['AWS::AccountId']}:rule/{name}"

    def matches(self, event: dict) -> bool:
        if self.pattern is not None:
            return self.pattern.matches_event(event)
        if self.schedule_arn is not None:
            return (event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"
                    and self.schedule_arn in (event.get("resources") or []))
        return False


def resolve_all(v, tmpl):
    """Every intrinsic in a pattern resolved to one string (a pattern must not branch)."""
    if isinstance(v, list):
        return [resolve_all(x, tmpl) for x in v]
    if isinstance(v, dict) and len(v) == 1 and next(iter(v)) in ("Ref", "Fn::Sub", "Fn::Join", "Fn::GetAtt", "Fn::If"):
        options = tmpl.resolve(v, whole=False)
        if len(options) != 1:
            raise check_iam.Unverifiable(f"{json.dumps(v)} has {len(options)} possible values")
        return options[0]
    if isinstance(v, dict):
        return {k: resolve_all(x, tmpl) for k, x in v.items()}
    return v


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: check-patterns.py TRANSLATED.json EVENTS_DIR", file=sys.stderr)
        return 2
    try:
        doc = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
        samples = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(Path(argv[2]).glob("*.json"))}
    except (OSError, ValueError) as e:
        print(f"pattern check: unreadable input: {e}", file=sys.stderr)
        return 2
    tmpl = check_iam.Template(doc)
    functions = {k for k, r in tmpl.resources.items() if r.get("Type") == "AWS::Lambda::Function"}
    try:
        rules = [Rule(k, r.get("Properties") or {}, tmpl, functions)
                 for k, r in tmpl.resources.items() if r.get("Type") == "AWS::Events::Rule"]
        all_cases = cases(samples)
    except (check_iam.Unverifiable, KeyError) as e:
        print(f"pattern check: cannot evaluate: {e}", file=sys.stderr)
        return 2
    rules = [r for r in rules if r.targets]

    problems = []
    covered = {name for name, _, _ in all_cases}
    for name, event in samples.items():
        # Samples EventBridge delivers carry a detail-type; the others are direct/SNS invocations.
        if "detail-type" in event and name not in covered:
            problems.append(f"{name}: no case says which function it must reach")
    for name, event, expected in all_cases:
        reached = set()
        for rule in rules:
            if rule.matches(event):
                reached |= rule.targets
        if reached != expected:
            problems.append(f"{name}: reaches {sorted(reached) or 'nothing'}, expected {sorted(expected) or 'nothing'}")
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    if problems:
        print(f"pattern check: FAILED ({len(problems)} of {len(all_cases)} cases)", file=sys.stderr)
        return 1
    delivered = sum(1 for _, _, e in all_cases if e)
    print(f"pattern check: OK ({len(rules)} rules; {len(all_cases)} events: {delivered} reach the right function, "
          f"{len(all_cases) - delivered} reach none)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
