//! What reaches the alerts topic: every message fits SNS's limit whatever the input.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, stopped_task_event, World};
use serde_json::{json, Value};

const VOD: &str = "vieweratlas-vod-collector";

/// A stopped VOD task whose log stream holds `lines`.
fn vod_stopped_with_log(world: &World, task_id: &str, lines: &[String]) -> Value {
    world.scenario(
        "task-log",
        json!({"family": VOD, "task_id": task_id, "lines": lines}),
    );
    let mut ev = stopped_task_event(VOD, task_id, "events-rule/vieweratlas-vod-6h");
    ev["detail"]["containers"][0]["exitCode"] = json!(1);
    ev
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

/// 300 KB of one log line: more than SNS takes in a whole message (256 KB), and the report text is
/// repeated per protocol in the message.
fn huge_line(head: &str) -> String {
    format!("{head} {}", "x".repeat(300 * 1024))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_kb_log_line_still_reaches_on_call_shortened_and_saying_so() {
    let world = World::healthy();
    let line = huge_line("2026-11-28 06:00:10,001 - vod_collector - ERROR - Error loading queue:");
    let ev = vod_stopped_with_log(&world, "big1", &[line]);
    let deps = world.deps().await;
    // (The error is not printed whole: it holds the 300 KB report.)
    let r = match run::handle(&deps, Function::TaskWatch, &ev, RunOptions::default()).await {
        Ok(r) => r,
        Err(e) => panic!(
            "the run could not publish its report: {}",
            short(&e.to_string())
        ),
    };
    assert_eq!(r.outcome, autoheal::report::Outcome::Escalated);
    let published = world.published();
    assert_eq!(published.len(), 1, "the escalation reaches on-call");
    let report = &published[0].report;
    assert_eq!(report["outcome"], "escalated");
    let note = report["shortened"].as_str().unwrap_or_default();
    assert!(
        note.contains("256 KB"),
        "the report says it was shortened: {report:#}"
    );
    assert!(report.to_string().contains("Error loading queue"));
    assert!(report.to_string().len() < 64 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_kb_line_in_the_collector_log_reaches_the_alarm_report_clipped() {
    let world = World::healthy();
    let line = huge_line("Traceback (most recent call last): ConnectionResetError");
    world.scenario("collector-log", json!({"lines": [line]}));
    world.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-Collector-Error-Spike"}),
    );
    let deps = world.deps().await;
    let ev = sample_event("alarm-direct-error-spike.json");
    if let Err(e) = run::handle(&deps, Function::AlarmResponder, &ev, RunOptions::default()).await {
        panic!(
            "the run could not publish its report: {}",
            short(&e.to_string())
        );
    }
    let published = world.published();
    assert_eq!(published.len(), 1);
    assert!(published[0]
        .report
        .to_string()
        .contains("ConnectionResetError"));
}

/// One scheduled freshness check, as the freshness function receives it, with its own event id.
async fn freshness(world: &World, id: &str, extra: &[(&str, &str)]) -> Value {
    let mut ev = sample_event("schedule-freshness.json");
    ev["id"] = json!(id);
    let deps = world.deps_with(extra).await;
    // Boxed: a run's future is large for a 2 MiB test thread.
    let r = Box::pin(run::handle(
        &deps,
        Function::FreshnessCheck,
        &ev,
        RunOptions::default(),
    ))
    .await
    .expect("run");
    serde_json::to_value(r).unwrap()
}

/// Lets `minutes` pass for the collector's evidence (snapshots, logs) and for Autoheal's
/// conversation records, the way the world lets time pass: by ageing what is stored.
fn pass_time(world: &World, minutes: u32) {
    world.scenario("stale", json!({"minutes": minutes}));
    world.emulator.post(
        "/_world/s3/age",
        &json!({"prefix": "autoheal/conversations/", "minutes": minutes}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_stale_hours_are_one_escalation_and_one_recovery_not_twelve() {
    let world = World::healthy();
    assert_eq!(freshness(&world, "ok-0", &[]).await["outcome"], "healthy");
    world.scenario("stale", json!({"minutes": 190}));
    // Every 15 minutes for 3 hours: twelve runs, each escalated.
    for i in 0..12 {
        let r = freshness(&world, &format!("stale-{i}"), &[]).await;
        assert_eq!(r["outcome"], "escalated", "run {i}: {r:#}");
        pass_time(&world, 15);
    }
    let sent = world.published();
    assert_eq!(
        sent.len(),
        1,
        "{:#?}",
        sent.iter().map(|p| &p.subject).collect::<Vec<_>>()
    );
    assert!(
        sent[0]
            .subject
            .starts_with("[Autoheal] ESCALATED smoke-test"),
        "{}",
        sent[0].subject
    );
    assert_eq!(sent[0].report["conversation"]["message"], "first");
    assert_eq!(
        sent[0].attributes.get("conversation").map(String::as_str),
        Some("first")
    );

    world.scenario("recover", json!({}));
    let r = freshness(&world, "ok-1", &[]).await;
    assert_eq!(r["outcome"], "healthy", "{r:#}");
    assert_eq!(freshness(&world, "ok-2", &[]).await["outcome"], "healthy");
    let sent = world.published();
    assert_eq!(
        sent.len(),
        1,
        "one recovery message, then quiet healthy runs"
    );
    assert!(
        sent[0]
            .subject
            .starts_with("[Autoheal] RECOVERED smoke-test"),
        "{}",
        sent[0].subject
    );
    assert_eq!(sent[0].report["outcome"], "healthy");
    assert_eq!(sent[0].report["conversation"]["message"], "recovered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ongoing_problem_is_reminded_at_the_interval_and_a_redelivery_is_not_a_second_message() {
    let world = World::healthy();
    world.scenario("stale", json!({"minutes": 200}));
    assert_eq!(freshness(&world, "s-1", &[]).await["outcome"], "escalated");
    assert_eq!(world.published().len(), 1);
    // The same scheduled event delivered again: its message already went out.
    let again = freshness(&world, "s-1", &[]).await;
    assert_eq!(again["conversation"]["message"], "quiet", "{again:#}");
    assert!(world.published().is_empty());
    // Two hours on, with a 90-minute interval: a reminder.
    pass_time(&world, 60);
    freshness(&world, "s-2", &[("AUTOHEAL_REMINDER_MINUTES", "90")]).await;
    assert!(world.published().is_empty(), "60 min < 90 min");
    pass_time(&world, 60);
    freshness(&world, "s-3", &[("AUTOHEAL_REMINDER_MINUTES", "90")]).await;
    let sent = world.published();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .subject
            .starts_with("[Autoheal] STILL ESCALATED smoke-test"),
        "{}",
        sent[0].subject
    );
    assert!(sent[0].report["conversation"]["detail"]
        .as_str()
        .unwrap()
        .contains("still going on since"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_runs_are_not_published_unless_asked_but_stay_in_the_ledger() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let deps = world.deps().await;
    let ev = sample_event("secret-update-oauth-token.json");
    let first = run::handle(
        &deps,
        Function::RotationRedeploy,
        &ev,
        RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.outcome, autoheal::report::Outcome::Remediated);
    let dup = run::handle(
        &deps,
        Function::RotationRedeploy,
        &ev,
        RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(dup.outcome, autoheal::report::Outcome::Ignored);
    let sent = world.published();
    assert_eq!(sent.len(), 1, "only the remediation is published");
    assert_eq!(sent[0].report["outcome"], "remediated");
    let decisions: Vec<String> = world
        .ledger()
        .into_iter()
        .filter(|(k, _)| k.contains("/decisions/"))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(decisions.len(), 2, "both decisions are in the ledger");
    assert!(decisions.iter().any(|b| b.contains("duplicate delivery")));

    let loud = world
        .deps_with(&[("AUTOHEAL_PUBLISH_IGNORED", "true")])
        .await;
    run::handle(
        &loud,
        Function::RotationRedeploy,
        &ev,
        RunOptions::default(),
    )
    .await
    .unwrap();
    let sent = world.published();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].report["outcome"], "ignored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_chatbot_format_sns_takes_the_message_and_machines_still_get_the_report() {
    let world = World::healthy();
    world.scenario("stale", json!({"minutes": 240}));
    let r = freshness(&world, "chat-1", &[("AUTOHEAL_CHATBOT_FORMAT", "true")]).await;
    assert_eq!(r["outcome"], "escalated");
    let sent = world.published();
    assert_eq!(sent.len(), 1, "SNS accepted the per-protocol message");
    assert_eq!(sent[0].report["trigger"]["id"], "chat-1");
    assert_eq!(sent[0].report["outcome"], "escalated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_of_a_change_whose_report_never_went_out_is_published_once() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let deps = world.deps().await;
    let ev = sample_event("secret-update-oauth-token.json");
    world.emulator.post(
        "/_world/faults",
        &json!({"ops": {"Publish": {"code": "InternalError", "status": 500}}}),
    );
    let first = run::handle(
        &deps,
        Function::RotationRedeploy,
        &ev,
        RunOptions::default(),
    )
    .await;
    assert!(
        first.is_err(),
        "the remediation's report could not be published"
    );
    world.emulator.post("/_world/faults", &json!({"ops": {}}));
    // Redelivered while the first delivery's claim is still leased: a duplicate, but the only
    // report that can tell on-call the change was made.
    let dup = run::handle(
        &deps,
        Function::RotationRedeploy,
        &ev,
        RunOptions::default(),
    )
    .await
    .expect("published");
    assert_eq!(
        dup.outcome,
        autoheal::report::Outcome::Ignored,
        "{}",
        dup.reason
    );
    let sent = world.published();
    assert_eq!(
        sent.len(),
        1,
        "the duplicate states the change, so it is published"
    );
    assert!(sent[0].report["reason"]
        .as_str()
        .unwrap()
        .contains("already done"));
    // Once stated, later duplicates are quiet again.
    run::handle(
        &deps,
        Function::RotationRedeploy,
        &ev,
        RunOptions::default(),
    )
    .await
    .expect("run");
    assert!(world.published().is_empty());
    assert_eq!(world.calls("UpdateService"), 1);
}
