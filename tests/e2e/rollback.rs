//! Rollback to known-good (RUNBOOK §3) on failed deployments, and by hand.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

/// The deployment the sample event says failed; `bad_deploy` makes it the service's.
const FAILED_DEPLOYMENT: &str = "ecs-svc/4815162342108157000";

fn bad_deploy(world: &World) {
    world.scenario("bad-deploy", json!({ "deployment": FAILED_DEPLOYMENT }));
}

async fn deployment_failed(world: &World) -> Value {
    deliver(world, &sample_event("ecs-deployment-failed-collector.json")).await
}

async fn deliver(world: &World, event: &Value) -> Value {
    let deps = world.deps().await;
    let r = run::handle(
        &deps,
        Function::DeploymentWatch,
        event,
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
    bad_deploy(&world);
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
    bad_deploy(&world);
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

/// A failure event that arrives late, or again after a human fixed things: the service is on a
/// newer deployment now, and rolling back would undo it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_failure_event_for_a_replaced_deployment_is_ignored_naming_it() {
    let world = World::healthy();
    record_known_good(&world).await;
    bad_deploy(&world);
    // A human ships a fixed release; its rollout completed.
    world.scenario("rollout", json!({"tag": "f1x3d00"}));
    world.scenario("rollout-done", json!({"minutes": 5}));
    let r = deployment_failed(&world).await;
    assert_eq!(r["outcome"], "ignored", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(reason.contains(FAILED_DEPLOYMENT), "{reason}");
    assert!(reason.contains("late or replayed"), "{reason}");
    assert_eq!(world.calls("UpdateService"), 0);
}

/// Revision 3 rolls out while revision 2's tasks keep writing snapshots: the check passes, but
/// 3 has proven nothing. It becomes known-good only once it has been the only, completed
/// deployment for the settle period and snapshots were written after it completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_good_is_recorded_only_for_a_settled_completed_revision() {
    let world = World::healthy();
    record_known_good(&world).await;
    let schedule = sample_event("schedule-freshness.json");
    let check = || world.run(Function::FreshnessCheck, &schedule, &[]);
    world.scenario("rollout", json!({"tag": "8badc0d"}));
    let during = check().await;
    assert_eq!(during["outcome"], "healthy", "{during:#}");
    let kg = autoheal_tests::check(&during, "known_good_recorded");
    assert_eq!(kg["status"], "skipped", "{kg}");
    assert!(kg["detail"]
        .as_str()
        .unwrap()
        .contains("not the only completed deployment"));

    world.scenario("rollout-done", json!({"minutes": 10}));
    let early = check().await;
    let kg = autoheal_tests::check(&early, "known_good_recorded");
    assert!(
        kg["detail"].as_str().unwrap().contains("must run alone"),
        "{kg}"
    );

    world.scenario("rollout-done", json!({"minutes": 40}));
    let settled = check().await;
    let kg = autoheal_tests::check(&settled, "known_good_recorded");
    assert_eq!(kg["status"], "pass", "{kg}");
    assert!(
        kg["detail"]
            .as_str()
            .unwrap()
            .contains("vieweratlas-collector:3"),
        "{kg}"
    );
}

/// The ledger's known-good names a revision of another family (a bad record, or another
/// service's): Autoheal does not deploy it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_refuses_a_known_good_of_another_family() {
    let world = World::healthy();
    record_known_good(&world).await;
    let deps = world.deps().await;
    let record = json!({
        "service": "vieweratlas-collector",
        "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/vieweratlas-analysis:2",
        "image": null, "recorded_at": 1, "recorded_by": "someone"
    });
    deps.aws
        .s3()
        .put_object()
        .bucket("vieweratlas-data-lake")
        .key("autoheal/known-good/vieweratlas-cluster_vieweratlas-collector.json")
        .body(record.to_string().into_bytes().into())
        .send()
        .await
        .expect("plant the record");
    bad_deploy(&world);
    let r = deployment_failed(&world).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("another task-definition family"));
    assert_eq!(world.calls("UpdateService"), 0);
}
