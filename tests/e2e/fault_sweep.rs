//! Faults on every AWS call a playbook makes. Each playbook runs once cleanly to learn which
//! operations it calls; then, for each of those operations in turn, a fresh world answers that one
//! operation with an injected 500 (the emulator's `/_world/faults`, the way AWS fails on a bad day)
//! and the run must still end with a report that names the failure, take no action it did not
//! record, and never panic.

use std::collections::BTreeSet;

use autoheal::run::{self, Function, RunError, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

struct Case {
    name: &'static str,
    function: Function,
    event: Value,
    setup: fn(&World),
    /// Evidence the decision rests on: when reading it fails, nothing may be changed.
    decisive: &'static [&'static str],
}

fn stalled(w: &World) {
    w.scenario("collector-stalled", json!({}));
    w.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-Collector-Snapshot-Stalled"}),
    );
}

fn analysis_failed(w: &World) {
    w.scenario("task-log", json!({"family": "vieweratlas-analysis", "task_id": "t1", "kind": "analysis-pipeline-failed"}));
}

fn tampered(w: &World) {
    w.scenario("alarm-tamper", json!({}));
}

fn rotated(w: &World) {
    w.scenario("rotate-secret", json!({}));
}

fn bad_deploy(w: &World) {
    // Known-good first (a passing check records it), then the failed release.
    let ev = sample_event("schedule-freshness.json");
    let out = w.cli(&["handle"], &ev.to_string(), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    w.scenario("bad-deploy", json!({"deployment": FAILED_DEPLOYMENT}));
}

/// The deployment the sample event says failed.
const FAILED_DEPLOYMENT: &str = "ecs-svc/4815162342108157000";

fn task_event() -> Value {
    let mut ev = sample_event("ecs-task-stopped-analysis.json");
    ev["detail"]["taskArn"] =
        json!("arn:aws:ecs:us-east-1:123456789012:task/vieweratlas-cluster/t1");
    ev["detail"]["taskDefinitionArn"] =
        json!("arn:aws:ecs:us-east-1:123456789012:task-definition/vieweratlas-analysis:2");
    ev
}

fn daily_event() -> Value {
    let mut ev = sample_event("schedule-freshness.json");
    ev["resources"] =
        json!(["arn:aws:events:us-east-1:123456789012:rule/vieweratlas-autoheal-daily"]);
    ev
}

/// Mutations that change ViewerAtlas (not Autoheal's own ledger or reports).
const ACTIONS: [&str; 5] = [
    "UpdateService",
    "RunTask",
    "DisableRule",
    "EnableRule",
    "PutMetricAlarm",
];

async fn sweep(case: Case) {
    let world = World::healthy();
    let reseed = |w: &World| {
        w.emulator.post("/_world/reseed", &json!({}));
        (case.setup)(w);
        w.emulator.post("/_world/journal", &json!({"clear": true}));
    };
    reseed(&world);
    let deps = world.deps().await;
    let clean = run::handle(&deps, case.function, &case.event, RunOptions::default())
        .await
        .expect("clean run");
    let ops: BTreeSet<String> = world
        .journal()
        .iter()
        .filter_map(|e| e["op"].as_str().map(str::to_string))
        .collect();
    assert!(
        ops.len() >= 3,
        "{}: the clean run made too few calls to sweep: {ops:?}",
        case.name
    );
    let mut summary = Vec::new();
    for op in &ops {
        reseed(&world);
        world.emulator.post(
            "/_world/faults",
            &json!({"ops": {op: {"code": "InternalFailure", "status": 500}}}),
        );
        let result = run::handle(&deps, case.function, &case.event, RunOptions::default()).await;
        let journal = world.journal();
        world.emulator.post("/_world/faults", &json!({"ops": {}}));
        let report = match result {
            Ok(r) => serde_json::to_value(r).unwrap(),
            // Nothing final was decided: the report is out and Lambda will deliver the event again.
            Err(RunError::Retry { report }) => serde_json::to_value(*report).unwrap(),
            Err(RunError::Publish { report, source }) => {
                assert_eq!(
                    op, "Publish",
                    "{}: only a failed publish may fail the run, got {source}",
                    case.name
                );
                assert!(
                    source.to_string().contains("vieweratlas-alerts"),
                    "{source}"
                );
                serde_json::to_value(*report).unwrap()
            }
            Err(e) => panic!(
                "{}: fault on {op} ended the run without a report: {e}",
                case.name
            ),
        };
        let text = report.to_string();
        // HEAD responses carry no error body: there the status and the operation must be named.
        let named = text.contains(&format!("injected fault on {op}"))
            || (text.contains("HTTP 500") && text.contains(op.as_str()));
        assert!(
            named || op == "Publish",
            "{}: a fault on {op} is not named in the report:\n{report:#}",
            case.name
        );
        // Every change that reached AWS is in the report as done.
        for e in journal
            .iter()
            .filter(|e| e["fault"] == false && ACTIONS.contains(&e["op"].as_str().unwrap_or("")))
        {
            let kind_done = report["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["status"] == "done"));
            assert!(
                kind_done,
                "{}: {} reached AWS but no action is recorded as done (fault on {op}):\n{report:#}",
                case.name, e["op"]
            );
        }
        if case.decisive.contains(&op.as_str()) {
            let acted: Vec<&str> = journal
                .iter()
                .filter(|e| {
                    e["fault"] == false && ACTIONS.contains(&e["op"].as_str().unwrap_or(""))
                })
                .filter_map(|e| e["op"].as_str())
                .collect();
            assert!(
                acted.is_empty(),
                "{}: acted ({acted:?}) although {op} (decisive evidence) failed:\n{report:#}",
                case.name
            );
        }
        summary.push(format!(
            "{op}→{}",
            report["outcome"].as_str().unwrap_or("?")
        ));
    }
    eprintln!(
        "{} (clean: {:?}): {}",
        case.name,
        clean.outcome,
        summary.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_the_alarm_responder() {
    sweep(Case {
        name: "alarm-responder",
        function: Function::AlarmResponder,
        event: sample_event("alarm-eventbridge-snapshot-stalled.json"),
        setup: stalled,
        decisive: &[
            "DescribeAlarms",
            "FilterLogEvents",
            "DescribeServices",
            "DescribeSecret",
        ],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_the_task_watch() {
    sweep(Case {
        name: "task-watch",
        function: Function::TaskWatch,
        event: task_event(),
        setup: analysis_failed,
        decisive: &[
            "DescribeTaskDefinition",
            "FilterLogEvents",
            "ListObjects",
            "ListTasks",
            "ListTargetsByRule",
        ],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_the_alarm_gap_check() {
    sweep(Case {
        name: "alarm-gap",
        function: Function::FreshnessCheck,
        event: daily_event(),
        setup: tampered,
        decisive: &["DescribeAlarms"],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_rotation_redeploy() {
    sweep(Case {
        name: "rotation-redeploy",
        function: Function::RotationRedeploy,
        event: sample_event("secret-update-oauth-token.json"),
        setup: rotated,
        decisive: &["ListServices", "DescribeServices", "DescribeTaskDefinition"],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_the_rollback() {
    sweep(Case {
        name: "deployment-watch",
        function: Function::DeploymentWatch,
        event: sample_event("ecs-deployment-failed-collector.json"),
        setup: bad_deploy,
        decisive: &["DescribeServices", "DescribeTaskDefinition", "GetObject"],
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_the_freshness_check() {
    sweep(Case {
        name: "freshness-check",
        function: Function::FreshnessCheck,
        event: sample_event("schedule-freshness.json"),
        setup: |_| {},
        decisive: &[],
    })
    .await;
}
