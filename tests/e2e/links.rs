//! Messages that lead somewhere: every check and action in every kind of report links to the AWS
//! console page that shows it, for the report's region, and the commands handed to a human are
//! complete (region, configured names).

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, stopped_task_event, World};
use serde_json::{json, Value};
use url::Url;

async fn go(world: &World, f: Function, ev: &Value, extra: &[(&str, &str)]) -> Value {
    let deps = world.deps_with(extra).await;
    // Boxed: a run's future is large, and this test awaits many in a row on a 2 MiB test thread.
    let r = Box::pin(run::handle(&deps, f, ev, RunOptions::default()))
        .await
        .expect("run");
    serde_json::to_value(r).unwrap()
}

fn stopped_task(family: &str, task_id: &str) -> Value {
    stopped_task_event(family, task_id, "events-rule/vieweratlas-analysis-daily")
}

/// A console link: https, the region's console (or S3's global one), the region named.
fn assert_console_link(what: &str, link: &Value) {
    let s = link
        .as_str()
        .unwrap_or_else(|| panic!("{what} has no link"));
    let u = Url::parse(s).unwrap_or_else(|e| panic!("{what}: {s} is not a URL: {e}"));
    assert_eq!(u.scheme(), "https", "{what}: {s}");
    let host = u.host_str().unwrap_or_default();
    assert!(
        host == "us-east-1.console.aws.amazon.com" || host == "s3.console.aws.amazon.com",
        "{what}: {s}"
    );
    assert!(
        u.query_pairs()
            .any(|(k, v)| k == "region" && v == "us-east-1"),
        "{what}: {s}"
    );
}

/// Every check and action of `r` links somewhere; a decision's record link names a ledger object
/// that exists.
fn assert_all_linked(r: &Value, ledger_keys: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for c in r["checks"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        assert_console_link(&format!("check {name} of {}", r["playbook"]), &c["link"]);
        names.push(name.to_string());
    }
    for a in r["actions"].as_array().unwrap() {
        let kind = a["kind"].as_str().unwrap();
        assert_console_link(&format!("action {kind}"), &a["link"]);
        assert_console_link(&format!("the record of action {kind}"), &a["record"]);
        let u = Url::parse(a["record"].as_str().unwrap()).unwrap();
        let key = u
            .query_pairs()
            .find(|(k, _)| k == "prefix")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        assert!(ledger_keys.contains(&key), "{key} is not a ledger object");
        names.push(kind.to_string());
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_check_and_action_links_to_its_console_page() {
    let world = World::healthy();
    let mut reports = Vec::new();
    // Smoke test, healthy: nine checks and the known-good marker (a ledger object).
    reports.push(
        go(
            &world,
            Function::FreshnessCheck,
            &sample_event("schedule-freshness.json"),
            &[],
        )
        .await,
    );
    // Alarm responder: triage, three log scans, a redeploy.
    world.scenario("collector-stalled", json!({"minutes": 90}));
    world.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-Collector-Snapshot-Stalled"}),
    );
    reports.push(
        go(
            &world,
            Function::AlarmResponder,
            &sample_event("alarm-eventbridge-snapshot-stalled.json"),
            &[],
        )
        .await,
    );
    // A resolved alarm: its live state.
    world.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-Collector-Error-Spike", "state": "OK"}),
    );
    reports.push(
        go(
            &world,
            Function::AlarmResponder,
            &sample_event("alarm-direct-error-spike.json"),
            &[],
        )
        .await,
    );
    // A failed analysis run: the task, its log stream, a manual run.
    world.scenario("recover", json!({}));
    world.scenario("task-log", json!({"family": "vieweratlas-analysis", "task_id": "ln1", "kind": "analysis-pipeline-failed"}));
    reports.push(
        go(
            &world,
            Function::TaskWatch,
            &stopped_task("vieweratlas-analysis", "ln1"),
            &[],
        )
        .await,
    );
    // A secret rotation: the secret, the services using it, a redeploy.
    world.scenario("rotate-secret", json!({}));
    reports.push(
        go(
            &world,
            Function::RotationRedeploy,
            &sample_event("secret-update-oauth-token.json"),
            &[("AUTOHEAL_COOLDOWN_MINUTES", "0")],
        )
        .await,
    );
    // A failed deployment: known-good, rollback.
    world.scenario(
        "bad-deploy",
        json!({"deployment": "ecs-svc/4815162342108157000"}),
    );
    reports.push(
        go(
            &world,
            Function::DeploymentWatch,
            &sample_event("ecs-deployment-failed-collector.json"),
            &[("AUTOHEAL_COOLDOWN_MINUTES", "0")],
        )
        .await,
    );
    // The daily alarm-gap check: alarms, topic, subscriptions, recreated alarms.
    world.scenario("alarm-tamper", json!({}));
    let mut daily = sample_event("schedule-freshness.json");
    daily["resources"] =
        json!(["arn:aws:events:us-east-1:123456789012:rule/vieweratlas-autoheal-daily"]);
    daily["id"] = json!("daily-links");
    reports.push(go(&world, Function::FreshnessCheck, &daily, &[]).await);

    let keys: Vec<String> = world.ledger().into_iter().map(|(k, _)| k).collect();
    let mut seen = std::collections::BTreeSet::new();
    for r in &reports {
        seen.extend(assert_all_linked(r, &keys));
    }
    for kind in [
        "ecs_cluster_active",
        "task_definitions_resolve",
        "collector_service_active",
        "collector_rollout",
        "collector_running",
        "collector_recent_logs",
        "s3_snapshot_freshness",
        "analysis_output_freshness",
        "schedule_targets_current",
        "known_good_recorded",
        "service_health",
        "stopped_tasks",
        "log_scan",
        "twitch_secrets",
        "twitch_token",
        "task_definition_config",
        "blast_radius",
        "alarm_live_state",
        "task",
        "task_log",
        "run_result",
        "consecutive_failures",
        "secret_watched",
        "services_using_secret",
        "twitch_token_validation",
        "current_revision",
        "known_good",
        "after",
        "alarm_defined",
        "topic_exists",
        "subscriptions_confirmed",
        "force_new_deployment",
        "run_task",
        "update_service_task_definition",
        "put_metric_alarm",
    ] {
        assert!(seen.contains(kind), "no report had a {kind}: {seen:?}");
    }
    // The known-good link names the object the freshness check wrote.
    let kg = reports[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "known_good_recorded")
        .unwrap();
    let u = Url::parse(kg["link"].as_str().unwrap()).unwrap();
    let key = u
        .query_pairs()
        .find(|(k, _)| k == "prefix")
        .unwrap()
        .1
        .to_string();
    assert!(keys.contains(&key), "{key} not in the ledger");
    // A log link carries the log group and a time window.
    let scan = reports[1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "log_scan")
        .unwrap();
    let l = scan["link"].as_str().unwrap();
    assert!(
        l.contains(
            "#logsV2:log-groups/log-group/$252Fecs$252Fvieweratlas-collector/log-events$3Fstart$3D"
        ),
        "{l}"
    );
    // The email text shows them.
    let text = world.cli(&["render"], &reports[3].to_string(), &[]).stdout;
    assert!(text.contains("https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/vieweratlas-cluster/tasks/ln1/configuration?region=us-east-1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_for_the_human_are_complete_with_region_and_configured_names() {
    let world = World::healthy();
    world.scenario("token-expired", json!({}));
    world.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-ECSCollector-Unavailable"}),
    );
    let custom = [("AUTOHEAL_COOLDOWN_MINUTES", "0")];
    let token = go(
        &world,
        Function::AlarmResponder,
        &sample_event("alarm-sns-collector-unavailable.json"),
        &custom,
    )
    .await;
    world.scenario(
        "bad-deploy",
        json!({"deployment": "ecs-svc/4815162342108157000"}),
    );
    let rollback = go(
        &world,
        Function::DeploymentWatch,
        &sample_event("ecs-deployment-failed-collector.json"),
        &custom,
    )
    .await;
    world.scenario(
        "task-log",
        json!({"family": "vieweratlas-analysis", "task_id": "ne9", "kind": "analysis-no-edges"}),
    );
    let task = go(
        &world,
        Function::TaskWatch,
        &stopped_task("vieweratlas-analysis", "ne9"),
        &custom,
    )
    .await;
    // A deployment whose collector logs to a group of its own: the step names that group.
    world.scenario("stale", json!({"minutes": 240}));
    // The template has no parameter for the log group: the call check counts the calls from here
    // on instead of deciding them against the template's policies.
    world.emulator.post(
        "/_world/calls/off-template",
        &json!({"reason": "COLLECTOR_LOG_GROUP names a log group the template does not grant"}),
    );
    let own_group = [("COLLECTOR_LOG_GROUP", "/ecs/collector-eu")];
    let stale = go(
        &world,
        Function::FreshnessCheck,
        &sample_event("schedule-freshness.json"),
        &own_group,
    )
    .await;
    let steps = stale["next_steps"].to_string();
    assert!(steps.contains("/ecs/collector-eu"), "{steps}");
    assert!(!steps.contains("/ecs/vieweratlas-collector"), "{steps}");
    let mut commands = 0;
    for r in [&token, &rollback, &task, &stale] {
        assert_eq!(r["outcome"], "escalated", "{r:#}");
        for step in r["next_steps"].as_array().unwrap() {
            let step = step.as_str().unwrap();
            if step.contains("aws ") {
                commands += 1;
                assert!(step.contains("--region us-east-1"), "{step}");
            }
            if step.contains(" autoheal ") {
                commands += 1;
                assert!(step.contains("AWS_REGION=us-east-1 S3_BUCKET=vieweratlas-data-lake SNS_TOPIC_ARN=arn:aws:sns:"), "{step}");
            }
        }
    }
    assert!(
        commands >= 3,
        "the escalations name commands: {token:#} {rollback:#} {task:#}"
    );
    // A configured name, not the default, in what the human is told to read.
    let task_text = task.to_string();
    assert!(task_text.contains("autoheal run analysis"), "{task_text}");
    let log = task["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "task_log")
        .unwrap();
    assert!(log["link"]
        .as_str()
        .unwrap()
        .contains("vieweratlas-analysis"));
}
