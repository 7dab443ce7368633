//! `autoheal approve <decision-id>`: a report-only (or paused, or not allow-listed) decision is
//! carried out exactly as recorded, once, through the guard with a fresh live re-check.

use autoheal::run::Function;
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

const REPORT_ONLY: &[(&str, &str)] = &[
    ("AUTOHEAL_REPORT_ONLY", "true"),
    ("AUTOHEAL_OPERATOR", "alice"),
];
const STALLED: &str = "ViewerAtlas-Collector-Snapshot-Stalled";

async fn stalled_alarm(world: &World, id: &str) -> Value {
    let mut ev = sample_event("alarm-eventbridge-snapshot-stalled.json");
    ev["id"] = json!(id);
    world.run(Function::AlarmResponder, &ev, REPORT_ONLY).await
}

/// The held action's decision id, and the approve command the report names for it.
fn held_decision(r: &Value) -> String {
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    let a = &r["actions"][0];
    assert_eq!(a["status"], "skipped");
    let id = a["decision_id"]
        .as_str()
        .expect("the held action names its decision")
        .to_string();
    let steps = r["next_steps"].to_string();
    assert!(steps.contains(&format!("autoheal approve {id}")), "{steps}");
    assert!(steps.contains("AWS_REGION=us-east-1"), "{steps}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_decision_acts_once_and_the_ledger_says_who_and_when() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({"minutes": 90}));
    world.scenario("alarm", json!({"alarm": STALLED}));
    let held = stalled_alarm(&world, "held-1").await;
    let id = held_decision(&held);
    assert_eq!(world.calls("UpdateService"), 0);

    let ok = world.cli(&["approve", &id], "", REPORT_ONLY);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let r = ok.report();
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(r["actions"][0]["kind"], "force_new_deployment");
    assert_eq!(r["actions"][0]["target"], held["actions"][0]["target"]);
    assert_eq!(world.calls("UpdateService"), 1);
    // The approval's report links the decision it approved.
    let approved = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "approved_decision")
        .unwrap();
    assert!(
        approved["link"]
            .as_str()
            .unwrap()
            .contains(&format!("{id}.json")),
        "{approved}"
    );
    let approval = world
        .ledger()
        .into_iter()
        .filter(|(k, _)| k.contains("/decisions/"))
        .map(|(_, b)| serde_json::from_str::<Value>(&b).unwrap())
        .find(|d| d["status"] == "done")
        .expect("the approval's decision");
    assert_eq!(approval["operator"]["by"], "alice");
    assert_eq!(approval["operator"]["approves"], id);
    assert!(approval["at_text"].as_str().is_some());

    // The approval's own decision was done, not held: it cannot be approved.
    let done_id = r["actions"][0]["decision_id"].as_str().unwrap();
    let not_held = world.cli(&["approve", done_id], "", REPORT_ONLY);
    assert_eq!(not_held.code, 2, "{}", not_held.stdout);
    assert!(
        not_held
            .stderr
            .contains("was not held by policy or a pause"),
        "{}",
        not_held.stderr
    );

    // Approving the same decision again does nothing.
    let twice = world.cli(&["approve", &id], "", REPORT_ONLY);
    assert_eq!(twice.code, 0, "{}", twice.stderr);
    assert_eq!(twice.report()["outcome"], "ignored", "{}", twice.stdout);
    assert!(
        twice.report()["reason"]
            .as_str()
            .unwrap()
            .contains("already"),
        "{}",
        twice.stdout
    );
    assert_eq!(world.calls("UpdateService"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_after_the_world_changed_says_so_and_does_nothing() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({"minutes": 90}));
    world.scenario("alarm", json!({"alarm": STALLED}));
    let id = held_decision(&stalled_alarm(&world, "held-2").await);
    // Meanwhile the alarm resolved: the redeploy it justified is no longer wanted.
    world.scenario("alarm", json!({"alarm": STALLED, "state": "OK"}));
    let late = world.cli(&["approve", &id], "", REPORT_ONLY);
    assert_eq!(late.code, 0, "{}", late.stderr);
    let r = late.report();
    assert_ne!(r["outcome"], "remediated", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains("changed since the decision"), "{reason}");
    assert!(reason.contains("OK"), "{reason}");
    assert_eq!(world.calls("UpdateService"), 0);
}

#[test]
fn approving_what_cannot_be_approved_exits_2_and_changes_nothing() {
    let world = World::healthy();
    let before = world.state();
    for (id, needle) in [
        ("no-such-decision", "no decision"),
        ("", "needs a decision id"),
    ] {
        let run = world.cli(&["approve", id], "", REPORT_ONLY);
        assert_eq!(run.code, 2, "{id}: {}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(needle), "{}", lines[0]);
    }
    assert_eq!(world.state(), before);
}

/// The approving process dies after `UpdateService` reached ECS, before it recorded anything (a
/// closed laptop, a killed shell). The human approves again: the claim's lease is over, the
/// second approval reads back the deployment the first one made, reports it, and makes none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_that_died_after_the_call_is_not_repeated_by_the_next() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({"minutes": 90}));
    world.scenario("alarm", json!({"alarm": STALLED}));
    let id = held_decision(&stalled_alarm(&world, "held-crash").await);
    let mut env = REPORT_ONLY.to_vec();
    env.push(("AUTOHEAL_CLAIM_LEASE_SECONDS", "3"));

    let hold = json!({"ops": {"UpdateService": {"times": 1, "apply": true, "hold": true}}});
    world.emulator.post("/_world/faults", &hold);
    let mut first = world.cli_spawn(&["approve", &id], "", &env);
    world.wait_for_held("UpdateService", std::time::Duration::from_secs(60));
    first.kill().expect("kill the approving process");
    let _ = first.wait();
    world.emulator.post("/_world/faults", &json!({"ops": {}}));
    assert_eq!(world.calls("UpdateService"), 1, "the call reached ECS");

    std::thread::sleep(std::time::Duration::from_secs(4));
    let again = world.cli(&["approve", &id], "", &env);
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    let r = again.report();
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(r["actions"][0]["status"], "done", "{r:#}");
    assert!(
        r["actions"][0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("deployment ecs-svc/"),
        "the report states the deployment the dead run made: {r:#}"
    );
    assert_eq!(world.calls("UpdateService"), 1, "no second deployment");
}
