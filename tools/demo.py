"""`make demo`: the real Lambda binaries, through a local Lambda Runtime API (`cargo lambda watch`),
against a simulated ViewerAtlas in the emulator. Prints each report as the on-call engineer would
receive it and exits 0 only when every scenario ended as expected. Everything it starts, it stops.

Run through `make demo` (which prepares the virtualenv and the build).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
EVENTS = ROOT / "tests" / "fixtures" / "events"
AUTOHEAL = ROOT / "target" / "debug" / "autoheal"
TOPIC = "arn:aws:sns:us-east-1:123456789012:vieweratlas-alerts"

sys.path.insert(0, str(ROOT / "tests" / "world"))
from harness import Emulator  # noqa: E402  (starts/stops the test world)
from world import SENTINEL_CLIENT_ID, SENTINEL_TOKEN  # noqa: E402  (the secret values the world plants)

BOLD, DIM, GREEN, RED, RESET = ("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m") if sys.stdout.isatty() else ("",) * 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LambdaRuntime:
    """`cargo lambda watch` serving every function binary of the workspace on loopback."""

    def __init__(self, env: dict):
        self.port = free_port()
        self.env_file = tempfile.NamedTemporaryFile("w", suffix=".env", delete=False)
        for k, v in env.items():
            self.env_file.write(f"{k}={v}\n")
        self.env_file.close()
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [str(VENV / "cargo-lambda"), "lambda", "watch", "-A", "127.0.0.1", "-P", str(self.port),
             "--ignore-changes", "--env-file", self.env_file.name],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise SystemExit("demo: cargo lambda watch did not start; see " + self.log.name)

    def invoke(self, function: str, event: dict) -> dict:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(event, f)
        try:
            out = subprocess.run(
                [str(VENV / "cargo-lambda"), "lambda", "invoke", function, "-A", "127.0.0.1", "-P", str(self.port),
                 "--data-file", f.name, "--output-format", "json"],
                cwd=ROOT, capture_output=True, text=True, timeout=300)
        finally:
            os.unlink(f.name)
        if out.returncode != 0:
            return {"invoke_error": (out.stdout + out.stderr).strip()[-2000:]}
        return json.loads(out.stdout)

    def stop(self) -> str:
        """Stops the runtime; returns everything the functions logged."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=20)
        os.unlink(self.env_file.name)
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            logged = f.read()
        os.unlink(self.log.name)
        return logged


def operator(args: list[str], env: dict) -> str:
    """Runs an `autoheal` operator command against the emulator, as the on-call engineer would."""
    out = subprocess.run([str(AUTOHEAL), *args], capture_output=True, text=True,
                         env={**env, "AUTOHEAL_OPERATOR": "alice", "PATH": os.environ.get("PATH", "")})
    if out.returncode != 0:
        raise SystemExit(f"demo: autoheal {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def run_under_test(sc: dict, runtime: "LambdaRuntime", env: dict, held: list[str]) -> dict:
    """The run a scenario is about: a function invocation, or the on-call engineer approving the
    decision an earlier scenario held (its report named the command)."""
    if sc.get("approve"):
        if not held:
            return {"invoke_error": "no held decision to approve"}
        print(f"{DIM}   $ autoheal approve {held[-1]}{RESET}")
        return json.loads(operator(["approve", held[-1]], env))
    ev = sc["event"]
    what = ev.get("detail-type") or ("SNS notification" if "Records" in ev else "direct alarm action")
    ident = ev.get("id") or (ev.get("Records") or [{}])[0].get("Sns", {}).get("MessageId", "")
    print(f"{DIM}   invoke {sc['function']} with {what} {ident}{RESET}")
    return runtime.invoke(sc["function"], ev)


def render(report: dict) -> str:
    out = subprocess.run([str(AUTOHEAL), "render"], input=json.dumps(report), capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else out.stderr


def event(name: str, **changes) -> dict:
    ev = json.loads((EVENTS / name).read_text())
    for path, value in changes.items():
        cur = ev
        keys = path.split("__")
        for k in keys[:-1]:
            cur = cur[k]
        cur[keys[-1]] = value
    return ev


def daily_event() -> dict:
    return event("schedule-freshness.json", id="daily-demo",
                 resources=["arn:aws:events:us-east-1:123456789012:rule/vieweratlas-autoheal-daily"])


def alarm(name: str, state: str = "ALARM"):
    return ("/_world/scenario", {"name": "alarm", "args": {"alarm": name, "state": state}})


def scen(name: str, **args):
    return ("/_world/scenario", {"name": name, "args": args})


STALLED = "ViewerAtlas-Collector-Snapshot-Stalled"
# The deployment the sample ECS event says failed.
FAILED_DEPLOYMENT = "ecs-svc/4815162342108157000"
UNAVAILABLE = "ViewerAtlas-ECSCollector-Unavailable"

# Each scenario: title, world changes, invocations to run first (function, event), the function and
# event under test, the expected outcome, and whether it continues the previous scenario's world.
SCENARIOS = [
    dict(title="Healthy world: the scheduled freshness check", changes=[],
         function="freshness-check", event=event("schedule-freshness.json"), expect="healthy"),
    dict(title="Stale snapshots: the collector stopped writing 4 hours ago", changes=[scen("stale", minutes=240)],
         function="freshness-check", event=event("schedule-freshness.json"), expect="escalated"),
    dict(title="Collector down: desired 1, running 0 (freshness check)", changes=[scen("collector-down")],
         function="freshness-check", event=event("schedule-freshness.json"), expect="escalated"),
    dict(title="Collector stalled: Snapshot-Stalled alarm, process hung, restarted once",
         changes=[scen("collector-stalled", minutes=90), alarm(STALLED)],
         function="alarm-responder", event=event("alarm-eventbridge-snapshot-stalled.json"), expect="remediated"),
    dict(title="Duplicate delivery of the same alarm: no second restart", changes=[], keep_world=True,
         function="alarm-responder", event=event("alarm-eventbridge-snapshot-stalled.json"), expect="ignored"),
    dict(title="Resolved alarm: the event says ALARM, CloudWatch now says OK",
         changes=[scen("collector-stalled"), alarm(STALLED, "OK")],
         function="alarm-responder", event=event("alarm-eventbridge-snapshot-stalled.json"), expect="ignored"),
    dict(title="Expired Twitch token: collector crash-loops (Unavailable alarm via SNS)",
         changes=[scen("token-expired"), alarm(UNAVAILABLE)],
         function="alarm-responder", event=event("alarm-sns-collector-unavailable.json"), expect="escalated"),
    dict(title="Secret rotation: the new token is rolled out with one forced deployment",
         changes=[scen("rotate-secret")],
         function="rotation-redeploy", event=event("secret-update-oauth-token.json"), expect="remediated"),
    dict(title="RotationSucceeded for the same version: the same change, no second deployment", changes=[], keep_world=True,
         function="rotation-redeploy", event=event("secret-rotation-succeeded.json"), expect="ignored"),
    dict(title="Failed deployment: circuit breaker FAILED, rolled back to known-good",
         # ECS's event names the deployment that failed: the release's, in this world.
         changes=[], pre=[("freshness-check", event("schedule-freshness.json"))],
         after_pre=[scen("bad-deploy", deployment=FAILED_DEPLOYMENT)],
         function="deployment-watch", event=event("ecs-deployment-failed-collector.json"), expect="remediated"),
    dict(title="Alarm gaps: one alarm deleted, one altered, both recreated (daily check)",
         changes=[scen("alarm-tamper")],
         function="freshness-check", event=daily_event(), expect="remediated"),
    dict(title="Failed analysis run: 'Pipeline failed' in its log, inputs fresh: one manual run (playbook C)",
         changes=[scen("task-log", family="vieweratlas-analysis", task_id="6f1e2d3c4b5a69788796a5b4c3d2e1f0",
                       kind="analysis-pipeline-failed")],
         function="task-watch",
         event=event("ecs-task-stopped-analysis.json",
                     detail__taskDefinitionArn="arn:aws:ecs:us-east-1:123456789012:task-definition/vieweratlas-analysis:2"),
         expect="remediated"),
    dict(title="Failed analysis run with no input data: the collector is the problem (escalated to playbook A)",
         changes=[scen("task-log", family="vieweratlas-analysis", task_id="6f1e2d3c4b5a69788796a5b4c3d2e1f0",
                       kind="analysis-no-input")],
         function="task-watch",
         event=event("ecs-task-stopped-analysis.json",
                     detail__taskDefinitionArn="arn:aws:ecs:us-east-1:123456789012:task-definition/vieweratlas-analysis:2"),
         expect="escalated"),
    dict(title="Paused for a deploy: the stalled collector is triaged and reported, not restarted",
         changes=[scen("collector-stalled", minutes=90), alarm(STALLED)],
         commands=[["pause", "--playbook", "no-new-snapshots", "--until", "2h", "--reason", "collector release 4f2c9ab in progress"]],
         function="alarm-responder", event=event("alarm-eventbridge-snapshot-stalled.json"), expect="escalated"),
    dict(title="Approved: on-call approves the held restart; exactly that action, after a live re-check",
         changes=[], keep_world=True, approve=True, expect="remediated"),
    dict(title="Resumed, and the same approval again: nothing is restarted twice",
         changes=[], keep_world=True, commands=[["resume"]], approve=True, expect="ignored"),
]


def prepare(sc: dict, emulator: Emulator, runtime: LambdaRuntime, env: dict) -> list[str]:
    """Sets the scenario's world up: world changes, earlier invocations, the on-call engineer's
    commands. Returns what those commands printed, for the scenario's header."""
    if not sc.get("keep_world"):
        emulator.fresh_world()
    for path, body in sc["changes"]:
        emulator.post(path, body)
    for pre_fn, pre_ev in sc.get("pre", []):
        runtime.invoke(pre_fn, pre_ev)
    said = []
    for args in sc.get("commands", []):
        said.append(f"$ autoheal {shlex.join(args)}")
        said.append(operator(args, env).strip())
    for path, body in sc.get("after_pre", []):
        emulator.post(path, body)
    emulator.post("/_world/published")  # only this scenario's reports count
    return said


def main() -> int:
    emulator = Emulator(log_name="demo-emulator").start()
    runtime = None
    failures = []
    outputs = []  # every report returned and every message published, for the secret search
    logged = ""
    try:
        env = {
            "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": emulator.url,
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "S3_BUCKET": "vieweratlas-data-lake", "SNS_TOPIC_ARN": TOPIC,
            # info, as deployed: the logs are searched for secret values at the end.
            "AUTOHEAL_TWITCH_VALIDATE_URL": "", "AUTOHEAL_LOG": "info",
        }
        runtime = LambdaRuntime(env)
        held = []  # decisions held for a human, in the order the reports named them
        for i, sc in enumerate(SCENARIOS, 1):
            title, expected = sc["title"], sc["expect"]
            said = prepare(sc, emulator, runtime, env)
            print(f"\n{BOLD}━━ Scenario {i}/{len(SCENARIOS)}: {title}{RESET}")
            for line in said:
                print(f"{DIM}   {line}{RESET}")
            started = time.time()
            result = run_under_test(sc, runtime, env, held)
            took = time.time() - started
            held += [a["decision_id"] for a in result.get("actions", [])
                     if a.get("status") == "skipped" and a.get("decision_id")]
            if "invoke_error" in result:
                print(f"{RED}   invocation failed:{RESET}\n{result['invoke_error']}")
                failures.append(title)
                continue
            published = emulator.post("/_world/published")
            outputs.append(json.dumps(result))
            outputs.extend(m["message"] for m in published)
            if published:
                for m in published:
                    print(f"{DIM}   SNS message received by on-call ({took:.1f}s), subject: {m['subject']}{RESET}\n")
                    print("   " + render(json.loads(m["message"])).replace("\n", "\n   "))
            else:
                print(f"{DIM}   nothing published (healthy and ignored runs stay quiet); the run returned ({took:.1f}s):{RESET}\n")
                print("   " + render(result).replace("\n", "\n   "))
            got = result.get("outcome")
            ok = got == expected
            mark = f"{GREEN}as expected{RESET}" if ok else f"{RED}EXPECTED {expected}{RESET}"
            print(f"   → outcome {BOLD}{got}{RESET}: {mark}")
            if not ok:
                failures.append(title)
    finally:
        if runtime:
            logged = runtime.stop()
        emulator.stop(keep_log=sys.exc_info()[0] is not None)
    print()
    leaks = [f"{where} holds the planted value {secret[:12]}…"
             for secret in (SENTINEL_TOKEN, SENTINEL_CLIENT_ID)
             for where, text in [("the functions' logs", logged)] + [(f"output {i}", t) for i, t in enumerate(outputs)]
             if secret in text]
    if leaks:
        print(f"{RED}demo: secret value leaked: {'; '.join(leaks)}{RESET}")
        return 1
    print(f"{DIM}demo: no planted secret value in {len(outputs)} reports and messages or in "
          f"{logged.count(chr(10))} lines of function logs{RESET}")
    if failures:
        print(f"{RED}demo: {len(failures)} of {len(SCENARIOS)} scenarios did not end as expected: {', '.join(failures)}{RESET}")
        return 1
    print(f"{GREEN}demo: all {len(SCENARIOS)} scenarios ended as expected{RESET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
