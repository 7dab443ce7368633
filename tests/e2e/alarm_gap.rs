//! Playbook E: alarms and notification paths, checked daily, repaired through the guard.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

fn daily() -> Value {
    let mut ev = sample_event("schedule-freshness.json");
    ev["resources"] =
        json!(["arn:aws:events:us-east-1:123456789012:rule/vieweratlas-autoheal-daily"]);
    ev["id"] = json!("daily-1");
    ev
}

async fn run_daily(world: &World) -> Value {
    let deps = world.deps().await;
    serde_json::to_value(
        run::handle(
            &deps,
            Function::FreshnessCheck,
            &daily(),
            RunOptions::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intact_alarms_pass_and_the_report_is_the_test_message() {
    let world = World::healthy();
    let r = run_daily(&world).await;
    assert_eq!(r["playbook"], "alarm-gap");
    assert_eq!(r["outcome"], "healthy", "{r:#}");
    assert_eq!(
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == "alarm_defined" && c["status"] == "pass")
            .count(),
        3
    );
    let p = world.published();
    assert_eq!(
        p.len(),
        1,
        "the daily report is published even when healthy: it is the SNS test message"
    );
    assert_eq!(
        p[0].attributes.get("playbook").map(String::as_str),
        Some("alarm-gap")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_altered_alarms_are_recreated_from_their_definitions() {
    let world = World::healthy();
    world.emulator.post(
        "/_world/scenario",
        &json!({"name": "alarm-tamper", "args": {}}),
    );
    let before = world.state()["alarms"].clone();
    assert!(before
        .get("ViewerAtlas-Collector-Snapshot-Stalled")
        .is_none());
    assert_eq!(
        before["ViewerAtlas-Collector-Error-Spike"]["threshold"],
        200.0
    );
    let r = run_daily(&world).await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(world.calls("PutMetricAlarm"), 2);
    let after = world.state()["alarms"].clone();
    assert_eq!(
        after["ViewerAtlas-Collector-Snapshot-Stalled"]["threshold"],
        1.0
    );
    assert_eq!(
        after["ViewerAtlas-Collector-Error-Spike"]["threshold"],
        20.0
    );
    assert_eq!(
        after["ViewerAtlas-Collector-Error-Spike"]["actions"],
        json!([autoheal_tests::TOPIC_ARN])
    );
    // Fixed now: the next daily run finds nothing to do.
    let mut again = daily();
    again["id"] = json!("daily-2");
    let deps = world.deps().await;
    let r2 = serde_json::to_value(
        run::handle(
            &deps,
            Function::FreshnessCheck,
            &again,
            RunOptions::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(r2["outcome"], "healthy", "{r2:#}");
    assert_eq!(world.calls("PutMetricAlarm"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_subscription_is_escalated_with_the_confirmation_step() {
    let world = World::healthy();
    world.emulator.post(
        "/_world/scenario",
        &json!({"name": "pending-subscription", "args": {"endpoint": "oncall@example.com"}}),
    );
    let r = run_daily(&world).await;
    // The alarms themselves are intact, so nothing is recreated; the notification path is not.
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert_eq!(world.calls("PutMetricAlarm"), 0);
    // Autoheal cannot confirm a subscription for someone: the report is its only write.
    assert_eq!(world.mutations(), vec!["query:Publish".to_string()]);
    let sub = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "subscriptions_confirmed")
        .expect("a subscriptions check");
    assert_eq!(sub["status"], "fail", "{sub:#}");
    assert!(
        sub["detail"]
            .as_str()
            .unwrap()
            .contains("email oncall@example.com"),
        "{sub:#}"
    );
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("pending confirmation"),
        "{r:#}"
    );
    assert!(
        r["next_steps"].as_array().unwrap().iter().any(|s| s
            .as_str()
            .unwrap()
            .contains("Confirm the pending subscription")),
        "{r:#}"
    );
    assert_eq!(world.published().len(), 1);
}
