//! The platform, simulated: every mutation path is stopped at each step between claiming and
//! reporting, the way Lambda stops an invocation at its timeout, and the same event is delivered
//! again the way Lambda retries it (after the dead run's deadline: "+1 min", "+3 min") and once
//! more after a long gap. Each path must end with exactly one mutation and a last report that
//! states what was done, and the on-call engineer must have received one report saying so.
//!
//! The run is the real `autoheal handle` process; the emulator holds the answer of the call the
//! run is waiting for ("hold"), and the test kills the process there. Claims are leased for 3 s
//! (`AUTOHEAL_CLAIM_LEASE_SECONDS`), which stands in for the function's timeout.

use std::time::Duration;

use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

const LEASE: &[(&str, &str)] = &[("AUTOHEAL_CLAIM_LEASE_SECONDS", "3")];

/// Where the run dies.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// The claim is written; the run dies before anything else.
    AfterClaim,
    /// The mutation reached AWS; the run dies before recording it.
    AfterCall,
    /// Everything is recorded; the run dies before its report is published.
    BeforePublish,
}

impl Stop {
    const ALL: [Stop; 3] = [Stop::AfterClaim, Stop::AfterCall, Stop::BeforePublish];

    fn name(self) -> &'static str {
        match self {
            Stop::AfterClaim => "after the claim",
            Stop::AfterCall => "after the AWS call, before recording it",
            Stop::BeforePublish => "after recording, before publishing",
        }
    }

    /// The fault that stops the run there: (operation, fault).
    fn fault(self, mutation: &str) -> (String, Value) {
        match self {
            Stop::AfterClaim => (
                "PutObject".into(),
                json!({"path": "/claims/", "times": 1, "apply": true, "hold": true}),
            ),
            Stop::AfterCall => (
                mutation.into(),
                json!({"times": 1, "apply": true, "hold": true}),
            ),
            Stop::BeforePublish => ("Publish".into(), json!({"times": 1, "hold": true})),
        }
    }
}

/// One mutation path: how to set the world up, the event that asks for the action, the call it
/// makes, and settings.
struct Path {
    name: &'static str,
    setup: fn(&World) -> Value,
    mutation: &'static str,
    /// Text of the action's result, which every later report must state.
    done: &'static str,
    env: &'static [(&'static str, &'static str)],
}

fn deliver(world: &World, event: &Value, env: &[(&str, &str)]) -> Value {
    let mut all: Vec<(&str, &str)> = LEASE.to_vec();
    all.extend_from_slice(env);
    let run = world.cli(&["handle"], &event.to_string(), &all);
    assert!(
        run.code == 0 || run.code == 1,
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    run.report()
}

/// Runs `path` with the run killed at `stop`, then three more deliveries; returns the row of the
/// README's matrix.
fn crash_and_redeliver(world: &World, path: &Path, stop: Stop) -> String {
    world.emulator.post("/_world/reseed", &json!({}));
    let event = (path.setup)(world);
    world
        .emulator
        .post("/_world/journal", &json!({"clear": true}));
    let _ = world.published();

    let (op, fault) = stop.fault(path.mutation);
    world
        .emulator
        .post("/_world/faults", &json!({"ops": { op.clone(): fault }}));
    let mut env: Vec<(&str, &str)> = LEASE.to_vec();
    env.extend_from_slice(path.env);
    let mut child = world.cli_spawn(&["handle"], &event.to_string(), &env);
    world.wait_for_held(&op, Duration::from_secs(60));
    child.kill().expect("kill the run");
    let _ = child.wait();
    world.emulator.post("/_world/faults", &json!({"ops": {}}));

    // Lambda's two retries come after the dead run's deadline (here: its 3 s lease).
    let mut outcomes = Vec::new();
    for gap in [Duration::from_secs(4), Duration::from_secs(2)] {
        std::thread::sleep(gap);
        let r = deliver(world, &event, path.env);
        outcomes.push(r["outcome"].as_str().unwrap_or("?").to_string());
    }
    // A long gap: hours later, the same event once more.
    world.age_ledger(6.0 * 60.0);
    let last = deliver(world, &event, path.env);
    outcomes.push(last["outcome"].as_str().unwrap_or("?").to_string());

    let made = world.calls(path.mutation);
    assert_eq!(
        made,
        1,
        "{} stopped {}: {made} {} calls; deliveries ended {outcomes:?}",
        path.name,
        stop.name(),
        path.mutation
    );
    let text = last.to_string();
    assert!(
        text.contains(path.done),
        "{} stopped {}: the last report does not say what was done ({:?}):\n{last:#}",
        path.name,
        stop.name(),
        path.done
    );
    let told = world
        .published()
        .into_iter()
        .filter(|p| {
            p.report["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["status"] == "done"))
        })
        .count();
    assert_eq!(
        told,
        1,
        "{} stopped {}: the on-call engineer must get exactly one report of the action; deliveries ended {outcomes:?}",
        path.name,
        stop.name()
    );
    format!(
        "| {} | {} | {made} | {} |",
        path.name,
        stop.name(),
        outcomes.join(" → ")
    )
}

fn matrix(path: Path) {
    let world = World::healthy();
    let rows: Vec<String> = Stop::ALL
        .iter()
        .map(|s| crash_and_redeliver(&world, &path, *s))
        .collect();
    eprintln!("{}", rows.join("\n"));
}

fn rotation(w: &World) -> Value {
    w.scenario("rotate-secret", json!({}));
    sample_event("secret-update-oauth-token.json")
}

/// A passing check records known-good, then a release fails: the event names the deployment the
/// service is on now.
fn failed_release(w: &World) -> Value {
    let ok = w.cli(
        &["handle"],
        &sample_event("schedule-freshness.json").to_string(),
        &[],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    w.scenario(
        "bad-deploy",
        json!({"deployment": "ecs-svc/4815162342108157000"}),
    );
    sample_event("ecs-deployment-failed-collector.json")
}

fn task_stopped(w: &World, task: &str, started_by: &str, kind: &str) -> Value {
    w.scenario(
        "task-log",
        json!({"family": "vieweratlas-analysis", "task_id": task, "kind": kind}),
    );
    let mut ev = sample_event("ecs-task-stopped-analysis.json");
    ev["detail"]["taskArn"] = json!(format!(
        "arn:aws:ecs:us-east-1:123456789012:task/vieweratlas-cluster/{task}"
    ));
    ev["detail"]["taskDefinitionArn"] =
        json!("arn:aws:ecs:us-east-1:123456789012:task-definition/vieweratlas-analysis:2");
    ev["detail"]["startedBy"] = json!(started_by);
    ev
}

fn transient_failure(w: &World) -> Value {
    task_stopped(
        w,
        "t1",
        "events-rule/vieweratlas-analysis-daily",
        "analysis-pipeline-failed",
    )
}

fn verified_run_after_disable(w: &World) -> Value {
    // Autoheal disabled the rule after a failure (one allowed here), then its own run succeeded.
    let off = task_stopped(
        w,
        "t0",
        "events-rule/vieweratlas-analysis-daily",
        "analysis-no-edges",
    );
    let r = w.cli(
        &["handle"],
        &off.to_string(),
        &[("AUTOHEAL_SCHEDULE_MAX_FAILURES", "1")],
    );
    assert_eq!(
        r.report()["actions"][0]["kind"],
        "disable_rule",
        "{}",
        r.stdout
    );
    w.age_ledger(60.0);
    task_stopped(w, "t2", "autoheal-0000000000000000", "analysis-ok")
}

fn deleted_alarm(w: &World) -> Value {
    w.scenario("alarm-deleted", json!({}));
    let mut ev = sample_event("schedule-freshness.json");
    ev["resources"] =
        json!(["arn:aws:events:us-east-1:123456789012:rule/vieweratlas-autoheal-daily"]);
    ev
}

#[test]
fn forced_deployment_survives_a_crash_at_every_step() {
    matrix(Path {
        name: "forced deployment (secret rotation)",
        setup: rotation,
        mutation: "UpdateService",
        done: "deployment ecs-svc/",
        env: &[],
    });
}

#[test]
fn rollback_survives_a_crash_at_every_step() {
    matrix(Path {
        name: "rollback (failed deployment)",
        setup: failed_release,
        mutation: "UpdateService",
        done: "on vieweratlas-collector:2",
        env: &[],
    });
}

#[test]
fn manual_run_survives_a_crash_at_every_step() {
    matrix(Path {
        name: "manual run (analysis failed)",
        setup: transient_failure,
        mutation: "RunTask",
        done: "task arn:aws:ecs:",
        env: &[],
    });
}

#[test]
fn disabling_a_rule_survives_a_crash_at_every_step() {
    matrix(Path {
        name: "disable rule (repeated failures)",
        setup: |w| {
            task_stopped(
                w,
                "t3",
                "events-rule/vieweratlas-analysis-daily",
                "analysis-no-edges",
            )
        },
        mutation: "DisableRule",
        done: "vieweratlas-analysis-daily DISABLED",
        env: &[("AUTOHEAL_SCHEDULE_MAX_FAILURES", "1")],
    });
}

#[test]
fn enabling_a_rule_survives_a_crash_at_every_step() {
    matrix(Path {
        name: "enable rule (verified run)",
        setup: verified_run_after_disable,
        mutation: "EnableRule",
        done: "vieweratlas-analysis-daily ENABLED",
        env: &[],
    });
}

#[test]
fn recreating_an_alarm_survives_a_crash_at_every_step() {
    matrix(Path {
        name: "alarm recreate (alarm gap)",
        setup: deleted_alarm,
        mutation: "PutMetricAlarm",
        done: "recreated from its definition",
        env: &[],
    });
}
