//! Rollback to known-good (RUNBOOK §3) on failed deployments, and by hand.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

async fn deployment_failed(world: &World) -> Value {
    let deps = world.deps().await;
    let r = run::handle(
        &deps,
        Function::DeploymentWatch,
        &sample_event("ecs-deployment-failed-collector.json"),
        RunOptions::default(),
    )
    .await
    .expect("run");
    serde_json::to_value(r).unwrap()
}

async fn record_known_good(world: &World) {
    let deps = world.deps().await;
    let r = run::handle(
        &deps,
        Function::FreshnessCheck,
        &sample_event("schedule-freshness.json"),
        RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.outcome, autoheal::report::Outcome::Healthy);
    assert!(
        r.checks.iter().any(
            |c| c.name == "known_good_recorded" && c.detail.contains("vieweratlas-collector:2")
        ),
        "{:?}",
        r.checks
    );
}

fn collector_td(world: &World) -> String {
    world.state()["services"]["vieweratlas-collector"]["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deployment_ends_on_the_known_good_revision() {
    let world = World::healthy();
    record_known_good(&world).await;
    world.scenario("bad-deploy", json!({}));
    assert!(collector_td(&world).ends_with("vieweratlas-collector:3"));
    let r = deployment_failed(&world).await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(r["actions"][0]["kind"], "update_service_task_definition");
    let detail = r["actions"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("from vieweratlas-collector:3 (image vieweratlas-collector:badc0de) to vieweratlas-collector:2 (image vieweratlas-collector:4f2c9ab)"), "{detail}");
    assert!(collector_td(&world).ends_with("vieweratlas-collector:2"));
    assert_eq!(world.calls("UpdateService"), 1);
    // The same failure event again: no second rollback.
    let again = deployment_failed(&world).await;
    assert_eq!(again["outcome"], "ignored", "{again:#}");
    assert_eq!(world.calls("UpdateService"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_known_good_means_escalation_without_action() {
    let world = World::healthy();
    world.scenario("bad-deploy", json!({}));
    let r = deployment_failed(&world).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("no known-good revision"));
    assert!(r["next_steps"][0]
        .as_str()
        .unwrap()
        .contains("autoheal rollback --to"));
    assert_eq!(world.calls("UpdateService"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_circuit_breaker_rolling_back_is_not_fought() {
    let world = World::healthy();
    record_known_good(&world).await;
    world.scenario("circuit-breaker-rolling-back", json!({}));
    let r = deployment_failed(&world).await;
    assert_eq!(r["outcome"], "ignored", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("ECS is already rolling"),
        "{}",
        r["reason"]
    );
    assert_eq!(world.calls("UpdateService"), 0);
}

#[test]
fn a_human_can_roll_back_to_a_chosen_revision_through_the_same_guards() {
    let world = World::healthy();
    let dry = world.cli(&["rollback", "--to", "1", "--dry-run"], "", &[]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.report()["outcome"], "planned");
    assert_eq!(world.calls("UpdateService"), 0);
    let run = world.cli(&["rollback", "--to", "1"], "", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(r["trigger"]["kind"], "manual");
    assert!(collector_td(&world).ends_with("vieweratlas-collector:1"));
    // A second rollback right away is held by the cooldown.
    let again = world.cli(&["rollback", "--to", "2"], "", &[]);
    assert_eq!(again.report()["outcome"], "ignored");
    assert!(again.report()["reason"]
        .as_str()
        .unwrap()
        .contains("cooldown"));
    assert_eq!(world.calls("UpdateService"), 1);
    // The held rollback (ignored) is printed to the operator, not published.
    assert_eq!(world.published().len(), 1);
}
