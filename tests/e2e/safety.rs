//! The safety rails (guard + ledger) with a real mutation behind them: the rotation redeploy.
//! Every assertion about "actions" counts the UpdateService calls the emulator actually received.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, World, SENTINEL_CLIENT_ID, SENTINEL_TOKEN};
use serde_json::{json, Value};

fn update_event() -> Value {
    sample_event("secret-update-oauth-token.json")
}

async fn handle(world: &World, ev: &Value, extra: &[(&str, &str)]) -> Value {
    let deps = world.deps_with(extra).await;
    let r = run::handle(&deps, Function::RotationRedeploy, ev, RunOptions::default())
        .await
        .expect("run");
    serde_json::to_value(r).unwrap()
}

fn assert_no_leak(world: &World, texts: &[&str]) {
    let mut all: Vec<String> = texts.iter().map(|s| s.to_string()).collect();
    for p in world.published() {
        all.push(p.subject.clone());
        all.push(p.report.to_string());
    }
    for (k, b) in world.ledger() {
        all.push(k);
        all.push(b);
    }
    for t in &all {
        assert!(
            !t.contains(SENTINEL_TOKEN) && !t.contains(SENTINEL_CLIENT_ID),
            "a secret value leaked: {t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_identical_events_lead_to_one_deployment() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let first = handle(&world, &update_event(), &[]).await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    assert_eq!(first["actions"][0]["kind"], "force_new_deployment");
    assert_eq!(first["actions"][0]["status"], "done");
    assert_eq!(
        first["actions"][0]["target"],
        "service/vieweratlas-cluster/vieweratlas-collector"
    );
    let second = handle(&world, &update_event(), &[]).await;
    assert_eq!(second["outcome"], "ignored", "{second:#}");
    assert!(
        second["reason"].as_str().unwrap().contains("duplicate"),
        "{}",
        second["reason"]
    );
    assert_eq!(world.calls("UpdateService"), 1);
    // The VOD service injects the secret too but has desired count 0: nothing to restart.
    assert!(first["checks"]
        .to_string()
        .contains("vieweratlas-vod-collector has desired count 0"));
    assert_no_leak(&world, &[&first.to_string(), &second.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_then_rotation_succeeded_for_the_same_version_is_one_change() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let a = handle(&world, &update_event(), &[]).await;
    let b = handle(&world, &sample_event("secret-rotation-succeeded.json"), &[]).await;
    assert_eq!(a["outcome"], "remediated");
    assert_eq!(b["outcome"], "ignored", "{b:#}");
    assert!(b["reason"].as_str().unwrap().contains("duplicate"));
    assert_eq!(world.calls("UpdateService"), 1);
}

#[test]
fn fifty_concurrent_identical_events_from_parallel_processes_act_once() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let event = update_event().to_string();
    let deployments_before =
        world.state()["services"]["vieweratlas-collector"]["deployments"].clone();
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..50)
            // Duplicates are published too here: fifty processes publishing at once.
            .map(|_| {
                s.spawn(|| world.cli(&["handle"], &event, &[("AUTOHEAL_PUBLISH_IGNORED", "true")]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut outcomes = std::collections::BTreeMap::new();
    for r in &runs {
        assert_eq!(r.code, 0, "{}", r.stderr);
        *outcomes
            .entry(r.report()["outcome"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(outcomes.get("remediated"), Some(&1), "{outcomes:?}");
    assert_eq!(outcomes.get("ignored"), Some(&49), "{outcomes:?}");
    assert_eq!(
        world.calls("UpdateService"),
        1,
        "ECS received exactly one deployment request"
    );
    assert_ne!(
        world.state()["services"]["vieweratlas-collector"]["deployments"],
        deployments_before
    );
    // Every run is reported and every decision is in the ledger.
    assert_eq!(world.published().len(), 50);
    let decisions = world
        .ledger()
        .iter()
        .filter(|(k, _)| k.contains("/decisions/"))
        .count();
    assert_eq!(decisions, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_blocks_a_second_deployment_and_says_until_when() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({"value": "v2"}));
    assert_eq!(
        handle(&world, &update_event(), &[]).await["outcome"],
        "remediated"
    );
    world.scenario("rotate-secret", json!({"value": "v3"}));
    let mut again = update_event();
    again["id"] = json!("another-change");
    let r = handle(&world, &again, &[]).await;
    // A distinct change is still needed: deferred, never dropped.
    assert_eq!(r["outcome"], "deferred", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("cooldown") && reason.contains("deferred until 20"),
        "{reason}"
    );
    assert_eq!(r["actions"][0]["status"], "deferred");
    assert_eq!(world.calls("UpdateService"), 1);
    let queue = world
        .ledger()
        .into_iter()
        .find(|(k, _)| k.ends_with("pending/queue.json"))
        .expect("the pending queue");
    assert!(queue.1.contains("another-change"), "{}", queue.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_escalates_with_the_recent_history() {
    let world = World::healthy();
    let settings = [
        ("AUTOHEAL_COOLDOWN_MINUTES", "0"),
        ("AUTOHEAL_MAX_ACTIONS_PER_DAY", "2"),
    ];
    let mut outcomes = Vec::new();
    for i in 0..3 {
        world.scenario("rotate-secret", json!({"value": format!("v{i}")}));
        let mut ev = update_event();
        ev["id"] = json!(format!("change-{i}"));
        outcomes.push(handle(&world, &ev, &settings).await);
    }
    assert_eq!(outcomes[0]["outcome"], "remediated");
    assert_eq!(outcomes[1]["outcome"], "remediated");
    assert_eq!(outcomes[2]["outcome"], "escalated", "{:#}", outcomes[2]);
    let reason = outcomes[2]["reason"].as_str().unwrap();
    assert!(
        reason.contains("cap reached: 2 automated actions")
            && reason.contains("force_new_deployment by secret-rotation"),
        "{reason}"
    );
    assert_eq!(world.calls("UpdateService"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_in_progress_means_no_new_deployment() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    world.scenario("rollout-in-progress", json!({}));
    let r = handle(&world, &update_event(), &[]).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("IN_PROGRESS"),
        "{}",
        r["reason"]
    );
    assert_eq!(world.calls("UpdateService"), 0);
}

#[test]
fn dry_run_mutates_nothing_at_all() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let before = world.state();
    let run = world.cli(&["handle", "--dry-run"], &update_event().to_string(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["outcome"], "planned");
    assert_eq!(r["actions"][0]["status"], "planned");
    assert!(
        world.mutations().is_empty(),
        "dry run made mutating calls: {:?}",
        world.mutations()
    );
    assert_eq!(world.state(), before);
    // The environment switch does the same.
    let run = world.cli(
        &["handle"],
        &update_event().to_string(),
        &[("AUTOHEAL_DRY_RUN", "true")],
    );
    assert_eq!(run.report()["outcome"], "planned");
    assert!(world.mutations().is_empty());
    assert!(world.published().is_empty());
}

#[test]
fn the_ledger_survives_a_process_restart_and_can_be_listed() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let ev = update_event().to_string();
    let first = world.cli(&["handle"], &ev, &[]);
    assert_eq!(first.report()["outcome"], "remediated", "{}", first.stderr);
    // A new process has no memory of its own: only the ledger can tell it this was done.
    let second = world.cli(&["handle"], &ev, &[]);
    let r = second.report();
    assert_eq!(r["outcome"], "ignored");
    assert!(
        r["reason"].as_str().unwrap().contains("already done at"),
        "{}",
        r["reason"]
    );
    assert_eq!(world.calls("UpdateService"), 1);
    let list = world.cli(&["decisions", "--json"], "", &[]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let decisions: Vec<Value> = list
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(decisions.len(), 2, "{}", list.stdout);
    assert_eq!(decisions[0]["status"], "skipped");
    assert_eq!(decisions[1]["status"], "done");
    assert!(decisions[1]["result"]
        .as_str()
        .unwrap()
        .starts_with("deployment ecs-svc/"));
    assert_no_leak(
        &world,
        &[
            &first.stdout,
            &first.stderr,
            &second.stdout,
            &second.stderr,
            &list.stdout,
        ],
    );
}

/// Pausing Autoheal is `AllowedPlaybooks=""` (or `none`, the playbook that never acts, for tools
/// that cannot pass an empty value): the run still checks and reports, and nothing acts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_allow_list_pauses_every_action() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    for (i, paused) in ["", "none"].into_iter().enumerate() {
        let mut ev = update_event();
        ev["id"] = json!(format!("paused-{i}"));
        let r = handle(&world, &ev, &[("AUTOHEAL_ALLOWED_PLAYBOOKS", paused)]).await;
        assert_eq!(r["outcome"], "escalated", "{paused:?}: {r:#}");
        assert!(
            r["reason"]
                .as_str()
                .unwrap()
                .contains("not in AUTOHEAL_ALLOWED_PLAYBOOKS"),
            "{paused:?}: {}",
            r["reason"]
        );
        assert_eq!(r["actions"][0]["status"], "skipped");
    }
    assert_eq!(world.calls("UpdateService"), 0);
    assert_eq!(world.published().len(), 2, "a paused run still reports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_only_and_allow_list_hold_the_action_and_say_so() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let r = handle(&world, &update_event(), &[("AUTOHEAL_REPORT_ONLY", "true")]).await;
    assert_eq!(r["outcome"], "escalated");
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("AUTOHEAL_REPORT_ONLY"));
    assert_eq!(r["actions"][0]["status"], "skipped");
    let mut ev = update_event();
    ev["id"] = json!("other");
    let r = handle(
        &world,
        &ev,
        &[("AUTOHEAL_ALLOWED_PLAYBOOKS", "smoke-test,rollback")],
    )
    .await;
    assert_eq!(r["outcome"], "escalated");
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("not in AUTOHEAL_ALLOWED_PLAYBOOKS"));
    assert_eq!(world.calls("UpdateService"), 0);
    // Held decisions are audited too.
    assert_eq!(
        world
            .ledger()
            .iter()
            .filter(|(k, _)| k.contains("/decisions/"))
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrelated_secrets_failed_calls_and_failed_rotations_never_deploy() {
    let world = World::healthy();
    let mut unrelated = update_event();
    unrelated["detail"]["responseElements"]["arn"] =
        json!("arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/stripe-Ab12Cd");
    unrelated["detail"]["requestParameters"]["secretId"] = json!("payments/stripe");
    let r = handle(&world, &unrelated, &[]).await;
    assert_eq!(
        (r["outcome"].as_str(), r["playbook"].as_str()),
        (Some("ignored"), Some("none"))
    );

    let mut failed = sample_event("secret-rotation-succeeded.json");
    failed["detail"]["eventName"] = json!("RotationFailed");
    let r = handle(&world, &failed, &[]).await;
    assert_eq!(r["outcome"], "escalated");
    assert!(r["next_steps"]
        .to_string()
        .contains("update-secret --secret-id vieweratlas/twitch/oauth_token"));

    let mut denied = update_event();
    denied["detail"]["errorCode"] = json!("AccessDeniedException");
    assert_eq!(handle(&world, &denied, &[]).await["outcome"], "ignored");

    let mut meta = update_event();
    meta["detail"]["responseElements"]
        .as_object_mut()
        .unwrap()
        .remove("versionId");
    let r = handle(&world, &meta, &[]).await;
    assert!(
        r["reason"].as_str().unwrap().contains("only metadata"),
        "{}",
        r["reason"]
    );
    assert_eq!(world.calls("UpdateService"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_the_client_id_redeploys_the_collector_too() {
    let world = World::healthy();
    world.scenario(
        "rotate-secret",
        json!({"secret": "vieweratlas/twitch/client_id"}),
    );
    let mut ev = update_event();
    ev["detail"]["requestParameters"]["secretId"] = json!("vieweratlas/twitch/client_id");
    ev["detail"]["responseElements"] = json!({"aRN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:vieweratlas/twitch/client_id-Qw34Er", "versionId": "v"});
    let r = handle(&world, &ev, &[]).await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(world.calls("UpdateService"), 1);
}

/// RUNBOOK §5 twice in ten minutes: the token at 10:00 (redeploy), the client id at 10:10. The
/// second value must reach the collector too: held by the cooldown, then carried out by the first
/// scheduled run after it ends, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_held_by_the_cooldown_is_carried_out_by_the_next_scheduled_run() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let first = handle(&world, &update_event(), &[]).await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    world.scenario(
        "rotate-secret",
        json!({"secret": "vieweratlas/twitch/client_id"}),
    );
    let mut ev = update_event();
    ev["id"] = json!("client-id-change");
    ev["detail"]["requestParameters"]["secretId"] = json!("vieweratlas/twitch/client_id");
    ev["detail"]["responseElements"] = json!({"aRN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:vieweratlas/twitch/client_id-Qw34Er", "versionId": "v"});
    let second = handle(&world, &ev, &[]).await;
    assert_eq!(second["outcome"], "deferred", "{second:#}");
    assert_eq!(world.calls("UpdateService"), 1);

    let schedule = sample_event("schedule-freshness.json");
    // Before the cooldown ends the scheduled run leaves it waiting.
    world.run(Function::FreshnessCheck, &schedule, &[]).await;
    assert_eq!(world.calls("UpdateService"), 1);
    world.published();

    world.age_ledger(31.0);
    world.run(Function::FreshnessCheck, &schedule, &[]).await;
    assert_eq!(
        world.calls("UpdateService"),
        2,
        "the deferred redeploy was made"
    );
    let carried = world
        .published()
        .into_iter()
        .find(|p| p.report["outcome"] == "remediated")
        .expect("a report of the deferred action");
    assert_eq!(carried.report["trigger"]["id"], "client-id-change");
    assert!(carried.report["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("deferred at"));

    // Done is done: later scheduled runs find nothing pending.
    world.age_ledger(31.0);
    world.run(Function::FreshnessCheck, &schedule, &[]).await;
    assert_eq!(world.calls("UpdateService"), 2);
}

/// A rotation's first step (or a put with explicit stages) stages the new version as AWSPENDING:
/// the tasks' value has not changed, so nothing is redeployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_staged_as_pending_only_is_not_a_new_value() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({"stages": ["AWSPENDING"]}));
    let mut ev = update_event();
    ev["detail"]["eventName"] = json!("PutSecretValue");
    ev["detail"]["requestParameters"]["versionStages"] = json!(["AWSPENDING"]);
    let r = handle(&world, &ev, &[]).await;
    assert_eq!(r["outcome"], "ignored", "{r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("AWSPENDING"),
        "{r:#}"
    );
    assert_eq!(world.calls("UpdateService"), 0);
}
