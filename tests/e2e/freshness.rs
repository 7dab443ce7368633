//! The scheduled freshness check against a simulated ViewerAtlas.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{check, sample_event, World};
use serde_json::{json, Value};

async fn run_check(world: &World, extra: &[(&str, &str)]) -> Value {
    let deps = world.deps_with(extra).await;
    let report = run::handle(
        &deps,
        Function::FreshnessCheck,
        &sample_event("schedule-freshness.json"),
        RunOptions::default(),
    )
    .await
    .expect("freshness run");
    serde_json::to_value(report).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_world_passes_every_check_and_publishes_only_when_asked() {
    let world = World::healthy();
    let quiet = run_check(&world, &[]).await;
    assert_eq!(quiet["outcome"], "healthy", "{quiet:#}");
    assert_eq!(quiet["playbook"], "smoke-test");
    let checks = quiet["checks"].as_array().unwrap();
    // The nine smoke checks, plus the known-good marker recorded on the first healthy run.
    assert_eq!(checks.len(), 10, "{quiet:#}");
    assert_eq!(checks[9]["name"], "known_good_recorded");
    for c in checks {
        assert_eq!(c["status"], "pass", "{c}");
    }
    assert!(check(&quiet, "task_definitions_resolve")["detail"]
        .as_str()
        .unwrap()
        .contains("vieweratlas-collector:2 (image 4f2c9ab)"));
    assert!(
        world.published().is_empty(),
        "healthy runs are not published by default"
    );

    let loud = run_check(&world, &[("AUTOHEAL_PUBLISH_HEALTHY", "true")]).await;
    assert_eq!(loud["outcome"], "healthy");
    let published = world.published();
    assert_eq!(published.len(), 1);
    let p = &published[0];
    assert!(
        p.subject.starts_with("[Autoheal] HEALTHY smoke-test"),
        "{}",
        p.subject
    );
    assert!(p.subject.chars().count() <= 100);
    assert_eq!(
        p.report["trigger"]["id"],
        "d1f0a7e2-3b4c-5d6e-8f90-a1b2c3d4e5f6"
    );
    assert_eq!(
        p.attributes.get("playbook").map(String::as_str),
        Some("smoke-test")
    );
    assert_eq!(
        p.attributes.get("outcome").map(String::as_str),
        Some("healthy")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_snapshots_fail_with_their_age_and_are_published() {
    let world = World::healthy();
    world.scenario("stale", json!({"minutes": 240}));
    let r = run_check(&world, &[]).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    let snap = check(&r, "s3_snapshot_freshness");
    assert_eq!(snap["status"], "fail");
    let detail = snap["detail"].as_str().unwrap();
    assert!(
        detail.contains("4 h 0") && detail.contains("limit 180 min"),
        "{detail}"
    );
    assert_eq!(check(&r, "collector_recent_logs")["status"], "fail");
    assert_eq!(check(&r, "collector_running")["status"], "pass");
    assert!(r["applicable_playbooks"]
        .as_array()
        .unwrap()
        .contains(&json!("no-new-snapshots")));
    assert!(r["next_steps"][0]
        .as_str()
        .unwrap()
        .contains("RUNBOOK §6 A"));

    let published = world.published();
    assert_eq!(published.len(), 1, "a failing check is always published");
    assert!(
        published[0]
            .subject
            .starts_with("[Autoheal] ESCALATED smoke-test"),
        "{}",
        published[0].subject
    );
    assert_eq!(published[0].report["outcome"], "escalated");
    assert!(
        check(&published[0].report, "s3_snapshot_freshness")["detail"]
            .as_str()
            .unwrap()
            .contains("4 h 0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_not_running_fails_with_the_counts_and_service_event() {
    let world = World::healthy();
    world.scenario("collector-down", json!({}));
    let r = run_check(&world, &[]).await;
    assert_eq!(r["outcome"], "escalated");
    let c = check(&r, "collector_running");
    assert_eq!(c["status"], "fail");
    let d = c["detail"].as_str().unwrap();
    assert!(
        d.contains("desired 1, running 0") && d.contains("has started 1 tasks"),
        "{d}"
    );
    assert!(
        r["reason"].as_str().unwrap().contains("running 0"),
        "{}",
        r["reason"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_in_progress_is_reported_not_waited_for() {
    let world = World::healthy();
    world.scenario("rollout-in-progress", json!({}));
    let started = std::time::Instant::now();
    let r = run_check(&world, &[]).await;
    assert!(started.elapsed().as_secs() < 60);
    assert_eq!(r["outcome"], "healthy");
    let c = check(&r, "collector_rollout");
    assert_eq!(c["status"], "skipped");
    assert!(c["detail"].as_str().unwrap().contains("IN_PROGRESS"));
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("rollout is in progress"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_drift_and_stale_analysis_are_reported() {
    let world = World::healthy();
    world.scenario("new-task-definitions", json!({}));
    world.scenario("analysis-stale", json!({"minutes": 30 * 60}));
    let r = run_check(&world, &[]).await;
    assert_eq!(r["outcome"], "escalated");
    let s = check(&r, "schedule_targets_current");
    assert_eq!(s["status"], "fail");
    let d = s["detail"].as_str().unwrap();
    assert!(d.contains("vieweratlas-analysis-daily runs vieweratlas-analysis:2 but the newest ACTIVE revision is vieweratlas-analysis:3"), "{d}");
    assert!(
        d.contains("vieweratlas-vod-6h runs vieweratlas-vod-collector:2"),
        "{d}"
    );
    let a = check(&r, "analysis_output_freshness");
    assert_eq!(a["status"], "fail");
    assert!(
        a["detail"].as_str().unwrap().contains("30 h 0"),
        "{}",
        a["detail"]
    );
    let pbs = r["applicable_playbooks"].as_array().unwrap();
    assert!(
        pbs.contains(&json!("analysis-failure")) && pbs.contains(&json!("schedules")),
        "{pbs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_check_reads_only_the_window_partitions_however_long_the_history() {
    let world = World::healthy();
    // 30 days of history, 1,200 snapshots a day (more than one ListObjectsV2 page per day).
    world.emulator.post(
        "/_world/seed-history",
        &json!({"days": 30, "per_day": 1200}),
    );
    let deps = world.deps().await;
    let findings =
        autoheal::freshness::run(&deps.aws, &deps.config, autoheal::clock::now_epoch()).await;
    let snap = findings.check("s3_snapshot_freshness").unwrap();
    assert_eq!(
        snap.status,
        autoheal::report::CheckStatus::Pass,
        "{}",
        snap.detail
    );
    // Today's partition holds a fresh object on its first page, so the check stops there.
    assert!(
        findings.s3_requests <= 2,
        "{} requests",
        findings.s3_requests
    );

    // Stale: the window's partitions are read in full, then the walk back stops at the first
    // non-empty day, never listing the whole history.
    world.scenario("stale", json!({"minutes": 3 * 24 * 60}));
    let findings =
        autoheal::freshness::run(&deps.aws, &deps.config, autoheal::clock::now_epoch()).await;
    let snap = findings.check("s3_snapshot_freshness").unwrap();
    assert_eq!(snap.status, autoheal::report::CheckStatus::Fail);
    assert!(snap.detail.contains("3 d"), "{}", snap.detail);
    assert!(
        findings.s3_requests <= 8,
        "{} requests for a stale window",
        findings.s3_requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_resources_fail_by_name_instead_of_crashing() {
    let world = World::healthy();
    // No template deployment names these resources: the call check counts this test's calls
    // instead of deciding them against the template's policies.
    world.emulator.post(
        "/_world/calls/off-template",
        &json!({"reason": "ECS_CLUSTER, S3_BUCKET and COLLECTOR_LOG_GROUP name resources that do not exist"}),
    );
    let deps = world
        .deps_with(&[
            ("ECS_CLUSTER", "no-such-cluster"),
            ("S3_BUCKET", "no-such-bucket"),
            ("COLLECTOR_LOG_GROUP", "/ecs/nothing"),
        ])
        .await;
    let report = run::handle(
        &deps,
        Function::FreshnessCheck,
        &sample_event("schedule-freshness.json"),
        RunOptions {
            dry_run: true,
            ..RunOptions::default()
        },
    )
    .await
    .unwrap();
    let r = serde_json::to_value(report).unwrap();
    assert_ne!(r["outcome"], "healthy");
    for name in [
        "ecs_cluster_active",
        "collector_recent_logs",
        "s3_snapshot_freshness",
    ] {
        let c = check(&r, name);
        assert!(c["status"] == "fail" || c["status"] == "error", "{c}");
    }
    assert!(check(&r, "ecs_cluster_active")["detail"]
        .as_str()
        .unwrap()
        .contains("no-such-cluster"));
    assert!(world.published().is_empty(), "dry run publishes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_freshness_function_rejects_other_triggers_without_touching_aws() {
    let world = World::healthy();
    let before = world.state();
    let deps = world.deps().await;
    let err = run::handle(
        &deps,
        Function::FreshnessCheck,
        &sample_event("alarm-direct-error-spike.json"),
        RunOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.is_invalid_input());
    assert!(
        err.to_string()
            .contains("freshness-check does not handle alarm events"),
        "{err}"
    );
    assert_eq!(world.state(), before);
    assert!(world.published().is_empty());
}
