//! The alarm responder: triage, playbooks A and B, guarded redeploys, against the emulator.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{check, sample_event, World, SENTINEL_CLIENT_ID, SENTINEL_TOKEN};
use serde_json::{json, Value};

const STALLED: &str = "ViewerAtlas-Collector-Snapshot-Stalled";
const UNAVAILABLE: &str = "ViewerAtlas-ECSCollector-Unavailable";

async fn respond(world: &World, ev: &Value) -> Value {
    world.run(Function::AlarmResponder, ev, &[]).await
}

/// The Snapshot-Stalled alarm, in ALARM in the world and delivered by EventBridge.
async fn stalled_alarm(world: &World) -> Value {
    world.scenario("alarm", json!({"alarm": STALLED}));
    respond(
        world,
        &sample_event("alarm-eventbridge-snapshot-stalled.json"),
    )
    .await
}

fn checks_named<'a>(r: &'a Value, name: &str) -> Vec<&'a Value> {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_collector_is_restarted_once_and_triage_is_in_the_report() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({"minutes": 90}));
    world.scenario("alarm", json!({"alarm": STALLED}));
    let ev = sample_event("alarm-eventbridge-snapshot-stalled.json");
    let r = respond(&world, &ev).await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(r["playbook"], "no-new-snapshots");
    assert!(
        r["reason"].as_str().unwrap().contains("stalled"),
        "{}",
        r["reason"]
    );
    assert_eq!(r["actions"][0]["kind"], "force_new_deployment");
    // Triage, always in the report (RUNBOOK §2).
    for name in [
        "service_health",
        "stopped_tasks",
        "blast_radius",
        "twitch_secrets",
        "task_definition_config",
        "s3_snapshot_freshness",
    ] {
        check(&r, name);
    }
    assert_eq!(checks_named(&r, "log_scan").len(), 3);
    assert!(check(&r, "service_health")["detail"]
        .as_str()
        .unwrap()
        .contains("desired 1, running 1"));
    assert_eq!(world.calls("UpdateService"), 1);

    // The same alarm delivered again: no second restart.
    let again = respond(&world, &ev).await;
    assert_eq!(again["outcome"], "ignored", "{again:#}");
    assert!(again["reason"].as_str().unwrap().contains("duplicate"));
    assert_eq!(world.calls("UpdateService"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_escalated_with_the_rotation_step_not_redeployed() {
    let world = World::healthy();
    world.scenario("token-expired", json!({}));
    world.scenario("alarm", json!({"alarm": UNAVAILABLE}));
    let r = respond(
        &world,
        &sample_event("alarm-sns-collector-unavailable.json"),
    )
    .await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert_eq!(r["playbook"], "channel-discovery");
    assert!(
        r["next_steps"][0]
            .as_str()
            .unwrap()
            .starts_with("rotate vieweratlas/twitch/oauth_token"),
        "{}",
        r["next_steps"]
    );
    let logs = checks_named(&r, "log_scan");
    assert_eq!(logs[0]["status"], "fail");
    let d = logs[0]["detail"].as_str().unwrap();
    assert!(
        d.contains("ChannelDiscoveryError ×1") && d.contains("Auth failed ×1"),
        "{d}"
    );
    let stopped = check(&r, "stopped_tasks")["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        stopped.contains("Essential container in task exited"),
        "{stopped}"
    );
    assert_eq!(world.calls("UpdateService"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_rotated_after_the_tasks_started_is_fixed_by_a_redeploy() {
    let world = World::healthy();
    world.scenario("token-expired", json!({}));
    world.scenario("rotate-secret", json!({}));
    world.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-Collector-Error-Spike"}),
    );
    let r = respond(&world, &sample_event("alarm-direct-error-spike.json")).await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("changed after they started"),
        "{}",
        r["reason"]
    );
    assert_eq!(world.calls("UpdateService"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_alarm_is_never_acted_on_even_if_the_event_says_alarm() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario("alarm", json!({"alarm": STALLED, "state": "OK"}));
    let r = respond(
        &world,
        &sample_event("alarm-eventbridge-snapshot-stalled.json"),
    )
    .await;
    assert_eq!(r["outcome"], "ignored", "{r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("is now OK"),
        "{}",
        r["reason"]
    );
    assert!(world
        .mutations()
        .iter()
        .all(|m| !m.contains("UpdateService")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_access_denied_is_escalated_with_the_iam_finding() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario("s3-denied", json!({}));
    let r = stalled_alarm(&world).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(r["reason"].as_str().unwrap().contains("cannot write to S3"));
    assert!(r["next_steps"][0]
        .as_str()
        .unwrap()
        .contains("s3:ListBucket"));
    assert_eq!(world.calls("UpdateService"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_related_alarm_without_known_good_is_escalated_not_guessed() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario("recent-deploy", json!({"minutes": 20}));
    world.scenario("alarm", json!({"alarm": STALLED}));
    let mut ev = sample_event("alarm-eventbridge-snapshot-stalled.json");
    ev["detail"]["state"]["timestamp"] =
        json!(autoheal::clock::rfc3339(autoheal::clock::now_epoch()));
    let r = respond(&world, &ev).await;
    assert_eq!(r["playbook"], "rollback", "{r:#}");
    assert_eq!(r["outcome"], "escalated");
    assert!(
        r["reason"].as_str().unwrap().contains("deploy-related")
            && r["reason"].as_str().unwrap().contains("no known-good"),
        "{}",
        r["reason"]
    );
    assert_eq!(world.calls("UpdateService"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_that_are_not_viewer_atlas_collector_alarms_are_ignored() {
    let world = World::healthy();
    let mut ev = sample_event("alarm-eventbridge-snapshot-stalled.json");
    ev["detail"]["alarmName"] = json!("Billing-Estimated-Charges");
    let r = respond(&world, &ev).await;
    assert_eq!(
        (r["outcome"].as_str(), r["playbook"].as_str()),
        (Some("ignored"), Some("none"))
    );
    // Nothing changed, and an ignored run is not published (AUTOHEAL_PUBLISH_IGNORED).
    assert_eq!(world.mutations(), Vec::<String>::new());
    assert!(world.published().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_mismatch_is_escalated_with_the_secret_to_compare() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario(
        "collector-log",
        json!({"lines": [
            "HTTP error 403 fetching channels (attempt 4/4)",
            "update_channels.ChannelDiscoveryError: Twitch API request rejected with HTTP 403. Check TWITCH_CLIENT_ID and TWITCH_OAUTH_TOKEN."
        ]}),
    );
    let r = stalled_alarm(&world).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("client id and token do not match"),
        "{}",
        r["reason"]
    );
    assert!(r["next_steps"][0]
        .as_str()
        .unwrap()
        .contains("vieweratlas/twitch/client_id"));
    assert_eq!(world.calls("UpdateService"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_failing_without_an_auth_error_points_at_the_network() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario(
        "collector-log",
        json!({"lines": [
            "Network error fetching channels (attempt 4/4): HTTPSConnectionPool(host='api.twitch.tv', port=443): Max retries exceeded",
            "update_channels.ChannelDiscoveryError: Failed to fetch channels after 4 attempts"
        ]}),
    );
    world.scenario("alarm", json!({"alarm": UNAVAILABLE}));
    let r = respond(
        &world,
        &sample_event("alarm-sns-collector-unavailable.json"),
    )
    .await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert_eq!(r["playbook"], "channel-discovery");
    assert!(
        r["next_steps"][0]
            .as_str()
            .unwrap()
            .contains("outbound network path"),
        "{}",
        r["next_steps"]
    );
    assert_eq!(world.calls("UpdateService"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixes_that_do_not_hold_stop_the_automation_for_that_target() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario("alarm", json!({"alarm": STALLED}));
    // No cooldown, a generous cap: only the loop detector may stop the third restart.
    let settings = [
        ("AUTOHEAL_COOLDOWN_MINUTES", "0"),
        ("AUTOHEAL_MAX_ACTIONS_PER_DAY", "10"),
        ("AUTOHEAL_LOOP_MAX_FAILED_FIXES", "2"),
    ];
    let deps = world.deps_with(&settings).await;
    let mut outcomes = Vec::new();
    for i in 0..3 {
        // The alarm comes back after each restart: a new transition, a new event id.
        let mut ev = sample_event("alarm-eventbridge-snapshot-stalled.json");
        ev["id"] = json!(format!("stalled-again-{i}"));
        let r = run::handle(&deps, Function::AlarmResponder, &ev, RunOptions::default())
            .await
            .unwrap();
        outcomes.push(serde_json::to_value(r).unwrap());
    }
    assert_eq!(outcomes[0]["outcome"], "remediated");
    assert_eq!(
        outcomes[1]["outcome"], "remediated",
        "one relapse is still allowed: {:#}",
        outcomes[1]
    );
    assert_eq!(outcomes[2]["outcome"], "escalated", "{:#}", outcomes[2]);
    let reason = outcomes[2]["reason"].as_str().unwrap();
    assert!(
        reason.contains("loop: the alarm came back 2 times"),
        "{reason}"
    );
    assert!(
        reason.contains("force_new_deployment by no-new-snapshots"),
        "the history is attached: {reason}"
    );
    assert_eq!(world.calls("UpdateService"), 2);
}

/// No `Saved:` line for a while, but the collector is logging: a healthy collector can go hours
/// without saving (one snapshot per channel per UTC day). That is not the hang the runbook
/// describes (a silent log), so there is no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_collector_without_saved_lines_is_not_restarted() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({"minutes": 90}));
    world.scenario(
        "collector-log",
        json!({"lines": [
            "2026-12-03 10:00:00,001 - __main__ - INFO - Starting data collection cycle...",
            "2026-12-03 10:00:05,001 - get_viewers - INFO - [xqc] already collected today, skipped",
            "2026-12-03 10:00:06,001 - __main__ - INFO - ✓ Collection cycle complete",
        ]}),
    );
    let r = stalled_alarm(&world).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("daily dedup"),
        "{r:#}"
    );
    assert_eq!(world.calls("UpdateService"), 0);
}

/// A release 20 minutes ago, and the collector's log says S3 denies its writes: the IAM finding
/// is the cause; rolling back would not change the task role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_denied_outranks_a_recent_release() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario("s3-denied", json!({}));
    world.scenario("recent-deploy", json!({"minutes": 20}));
    let r = stalled_alarm(&world).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert_ne!(r["playbook"], "rollback", "{r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("cannot write to S3"),
        "{r:#}"
    );
    assert_eq!(world.calls("UpdateService"), 0);
}

/// Autoheal's own forced redeploy (after a token rotation) started minutes before the alarm: it is
/// not a release, so the alarm is not handed to the rollback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autoheals_own_redeploy_is_not_a_release() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let deps = world.deps().await;
    let rotated = run::handle(
        &deps,
        Function::RotationRedeploy,
        &sample_event("secret-update-oauth-token.json"),
        RunOptions::default(),
    )
    .await
    .expect("rotation");
    assert_eq!(rotated.outcome.name(), "remediated");
    world.scenario("collector-stalled", json!({"minutes": 90}));
    let r = stalled_alarm(&world).await;
    assert_ne!(r["playbook"], "rollback", "{r:#}");
    assert!(
        !r["reason"].as_str().unwrap().contains("deploy-related"),
        "{r:#}"
    );
}

/// A collector log line that carries a secret value (a debug print, an error echoing its input):
/// the report shows the line with the value blanked out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_in_log_lines_are_redacted_in_every_sample() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario(
        "collector-log",
        json!({"lines": [
            format!("2026-12-03 10:20:01,123 - get_viewers - ERROR - [xqc] Auth failed. Check TWITCH_OAUTH_TOKEN (sent {SENTINEL_TOKEN} with client {SENTINEL_CLIENT_ID})"),
        ]}),
    );
    let r = stalled_alarm(&world).await;
    let text = r.to_string();
    assert!(text.contains("[REDACTED]"), "{r:#}");
    assert!(!text.contains(SENTINEL_TOKEN) && !text.contains(SENTINEL_CLIENT_ID));
}
