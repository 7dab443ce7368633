//! Playbooks C and D and schedule control, from ECS Task State Change events and the tasks' logs.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

const ANALYSIS: &str = "vieweratlas-analysis";
const VOD: &str = "vieweratlas-vod-collector";

/// A stopped-task event for `family` with `task_id`, started by `started_by`, exit code 0.
fn stopped(family: &str, task_id: &str, started_by: &str) -> Value {
    let mut ev = sample_event("ecs-task-stopped-analysis.json");
    let arn = format!("arn:aws:ecs:us-east-1:123456789012:task/vieweratlas-cluster/{task_id}");
    ev["id"] = json!(format!("evt-{task_id}"));
    ev["detail"]["taskArn"] = json!(arn);
    ev["detail"]["group"] = json!(format!("family:{family}"));
    ev["detail"]["taskDefinitionArn"] = json!(format!(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:2"
    ));
    ev["detail"]["startedBy"] = json!(started_by);
    // The analysis exits 0 on failure (VIEWERATLAS.md §3): the exit code must not decide.
    ev["detail"]["containers"][0]["exitCode"] = json!(0);
    ev
}

async fn watch(world: &World, ev: &Value, extra: &[(&str, &str)]) -> Value {
    world.run(Function::TaskWatch, ev, extra).await
}

fn log(world: &World, family: &str, task_id: &str, kind: &str) {
    world.scenario(
        "task-log",
        json!({"family": family, "task_id": task_id, "kind": kind}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_analysis_failure_with_exit_0_gets_one_manual_run_with_the_rule_config() {
    let world = World::healthy();
    log(&world, ANALYSIS, "a1", "analysis-pipeline-failed");
    let ev = stopped(ANALYSIS, "a1", "events-rule/vieweratlas-analysis-daily");
    let r = watch(&world, &ev, &[]).await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(r["playbook"], "analysis-failure");
    assert_eq!(r["actions"][0]["kind"], "run_task");
    assert!(
        r["actions"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("on vieweratlas-analysis:2"),
        "{}",
        r["actions"][0]["detail"]
    );
    assert!(r
        .to_string()
        .contains("Pipeline failed: Connection reset by peer"));
    assert_eq!(world.calls("RunTask"), 1);
    assert_eq!(world.state()["tasks"].as_array().unwrap().len(), 1);
    // The same stop event again: no second run.
    assert_eq!(watch(&world, &ev, &[]).await["outcome"], "ignored");
    assert_eq!(world.calls("RunTask"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_is_read_from_the_log_and_failures_that_a_rerun_cannot_fix_are_escalated() {
    let world = World::healthy();
    log(&world, ANALYSIS, "ok1", "analysis-ok");
    let r = watch(
        &world,
        &stopped(ANALYSIS, "ok1", "events-rule/vieweratlas-analysis-daily"),
        &[],
    )
    .await;
    assert_eq!(r["outcome"], "healthy", "{r:#}");

    log(&world, ANALYSIS, "ni1", "analysis-no-input");
    let r = watch(
        &world,
        &stopped(ANALYSIS, "ni1", "events-rule/vieweratlas-analysis-daily"),
        &[],
    )
    .await;
    assert_eq!(r["outcome"], "escalated");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("the collector is the problem"),
        "{}",
        r["reason"]
    );
    assert_eq!(r["applicable_playbooks"], json!(["no-new-snapshots"]));

    log(&world, ANALYSIS, "ne1", "analysis-no-edges");
    let r = watch(
        &world,
        &stopped(ANALYSIS, "ne1", "events-rule/vieweratlas-analysis-daily"),
        &[],
    )
    .await;
    assert_eq!(r["outcome"], "escalated");
    assert!(r.to_string().contains("Graph has no edges"));
    assert_eq!(world.calls("RunTask"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_inputs_turn_a_transient_analysis_failure_into_a_collector_escalation() {
    let world = World::healthy();
    world.scenario("stale", json!({"minutes": 600}));
    log(&world, ANALYSIS, "s1", "analysis-pipeline-failed");
    let r = watch(
        &world,
        &stopped(ANALYSIS, "s1", "events-rule/vieweratlas-analysis-daily"),
        &[],
    )
    .await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("inputs are not fresh"));
    assert_eq!(world.calls("RunTask"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_disable_the_schedule_and_a_verified_manual_run_re_enables_it() {
    let world = World::healthy();
    let settings = [("AUTOHEAL_SCHEDULE_MAX_FAILURES", "2")];
    log(&world, ANALYSIS, "f1", "analysis-pipeline-failed");
    let first = watch(
        &world,
        &stopped(ANALYSIS, "f1", "events-rule/vieweratlas-analysis-daily"),
        &settings,
    )
    .await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    log(&world, ANALYSIS, "f2", "analysis-pipeline-failed");
    let second = watch(
        &world,
        &stopped(ANALYSIS, "f2", "events-rule/vieweratlas-analysis-daily"),
        &settings,
    )
    .await;
    assert_eq!(second["outcome"], "escalated", "{second:#}");
    assert_eq!(second["actions"][0]["kind"], "disable_rule");
    assert_eq!(second["actions"][0]["status"], "done");
    assert_eq!(
        world.state()["rules"]["vieweratlas-analysis-daily"]["state"],
        "DISABLED"
    );
    assert!(second["next_steps"][0]
        .as_str()
        .unwrap()
        .contains("autoheal schedules enable --rule vieweratlas-analysis-daily"));

    // Autoheal's own manual run succeeds: the schedule comes back on its own.
    log(&world, ANALYSIS, "m1", "analysis-ok");
    let back = watch(&world, &stopped(ANALYSIS, "m1", "autoheal"), &settings).await;
    assert_eq!(back["outcome"], "remediated", "{back:#}");
    assert_eq!(back["actions"][0]["kind"], "enable_rule");
    assert_eq!(
        world.state()["rules"]["vieweratlas-analysis-daily"]["state"],
        "ENABLED"
    );
    assert_eq!(world.calls("DisableRule"), 1);
    assert_eq!(world.calls("EnableRule"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vod_timeouts_are_retried_once_and_efs_mount_failures_are_escalated() {
    let world = World::healthy();
    log(&world, VOD, "v1", "vod-timeout");
    let r = watch(
        &world,
        &stopped(VOD, "v1", "events-rule/vieweratlas-vod-6h"),
        &[],
    )
    .await;
    assert_eq!(
        (r["outcome"].as_str(), r["playbook"].as_str()),
        (Some("remediated"), Some("vod-failure")),
        "{r:#}"
    );
    assert_eq!(world.calls("RunTask"), 1);

    let mut efs = stopped(VOD, "v2", "events-rule/vieweratlas-vod-6h");
    efs["detail"]["stoppedReason"] = json!("ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes: mount.nfs4: Connection timed out");
    let r = watch(&world, &efs, &[]).await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(r.to_string().contains("EFS mount"));
    assert_eq!(world.calls("RunTask"), 1);

    log(&world, VOD, "v3", "vod-ok");
    let r = watch(
        &world,
        &stopped(VOD, "v3", "events-rule/vieweratlas-vod-6h"),
        &[],
    )
    .await;
    assert_eq!(r["outcome"], "healthy");
    assert!(r.to_string().contains("'pending': 0"));
}

#[test]
fn humans_control_schedules_through_the_same_guards() {
    let world = World::healthy();
    let status = world.cli(&["schedules", "status"], "", &[]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains(
            "vieweratlas-analysis-daily: ENABLED cron(0 3 * * ? *); target vieweratlas-analysis:2"
        ),
        "{}",
        status.stdout
    );
    let off = world.cli(
        &["schedules", "disable", "--rule", "vieweratlas-vod-6h"],
        "",
        &[],
    );
    assert_eq!(off.code, 0, "{}", off.stderr);
    assert_eq!(off.report()["outcome"], "remediated");
    assert_eq!(
        world.state()["rules"]["vieweratlas-vod-6h"]["state"],
        "DISABLED"
    );
    assert_eq!(
        world.state()["rules"]["vieweratlas-analysis-daily"]["state"],
        "ENABLED"
    );
    let again = world.cli(
        &["schedules", "disable", "--rule", "vieweratlas-vod-6h"],
        "",
        &[],
    );
    assert_eq!(again.report()["outcome"], "escalated", "{}", again.stdout);
    assert!(again.report()["reason"]
        .as_str()
        .unwrap()
        .contains("already DISABLED"));
    let bad = world.cli(
        &["schedules", "disable", "--rule", "prod-db-backup"],
        "",
        &[],
    );
    assert_eq!(bad.code, 2);
    assert_eq!(world.calls("DisableRule"), 1);
}

/// The report of a failed run cannot be published (SNS refuses it), so the run fails and Lambda
/// delivers the same event twice more. One failed task is one failure: the schedule is not
/// disabled by redeliveries, and only one manual run is started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_failure_counts_once_and_starts_one_manual_run() {
    let world = World::healthy();
    log(&world, ANALYSIS, "r1", "analysis-pipeline-failed");
    let ev = stopped(ANALYSIS, "r1", "events-rule/vieweratlas-analysis-daily");
    world.emulator.post(
        "/_world/faults",
        &json!({"ops": {"Publish": {"code": "InternalError", "status": 500}}}),
    );
    let deps = world.deps().await;
    for _ in 0..3 {
        let r = run::handle(&deps, Function::TaskWatch, &ev, RunOptions::default()).await;
        assert!(
            r.is_err(),
            "the report could not be published: the run must fail"
        );
    }
    world.emulator.post("/_world/faults", &json!({"ops": {}}));
    assert_eq!(world.calls("RunTask"), 1);
    assert_eq!(world.calls("DisableRule"), 0);
    assert_eq!(
        world.state()["rules"]["vieweratlas-analysis-daily"]["state"],
        "ENABLED"
    );
    let record = world
        .ledger()
        .into_iter()
        .find(|(k, _)| k.ends_with("schedules/vieweratlas-analysis-daily.json"))
        .expect("the schedule record");
    let record: Value = serde_json::from_str(&record.1).unwrap();
    assert_eq!(record["consecutive_failures"], 1, "{record:#}");
}

/// A second failure inside the cooldown after Autoheal's manual run still needs a run: deferred,
/// not dropped, and started by the first scheduled run after the cooldown, exactly once, by the
/// freshness function (whose own role must allow it: the call check decides those calls too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_held_by_the_cooldown_is_started_by_the_next_scheduled_run() {
    let world = World::healthy();
    let scheduled = "events-rule/vieweratlas-analysis-daily";
    log(&world, ANALYSIS, "d1", "analysis-pipeline-failed");
    let first = watch(&world, &stopped(ANALYSIS, "d1", scheduled), &[]).await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    // Autoheal's manual run fails too, and so does the next scheduled run, ten minutes later.
    world.scenario("tasks-finished", json!({"family": ANALYSIS}));
    log(&world, ANALYSIS, "d2", "analysis-pipeline-failed");
    let second = watch(&world, &stopped(ANALYSIS, "d2", scheduled), &[]).await;
    assert_eq!(second["outcome"], "deferred", "{second:#}");
    assert_eq!(second["actions"][0]["status"], "deferred");
    assert_eq!(world.calls("RunTask"), 1);

    let schedule = sample_event("schedule-freshness.json");
    world.published();
    world.age_ledger(31.0);
    world.run(Function::FreshnessCheck, &schedule, &[]).await;
    assert_eq!(
        world.calls("RunTask"),
        2,
        "the deferred manual run was started"
    );
    let carried = world
        .published()
        .into_iter()
        .find(|p| p.report["trigger"]["id"] == "evt-d2")
        .expect("a report of the deferred run");
    assert_eq!(
        carried.report["outcome"], "remediated",
        "{:#}",
        carried.report
    );
    assert_eq!(carried.report["actions"][0]["kind"], "run_task");

    // Done is done: the next scheduled run starts nothing.
    world.age_ledger(31.0);
    world.run(Function::FreshnessCheck, &schedule, &[]).await;
    assert_eq!(world.calls("RunTask"), 2);
}
