//! The `autoheal` binary as an operator runs it (CONTRACT §2), against the emulator.

use autoheal_tests::{repo_root, World};
use serde_json::json;

fn sample(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/events").join(name)).unwrap()
}

#[test]
fn handle_dry_run_prints_a_contract_report_and_changes_nothing() {
    let world = World::healthy();
    let before = world.state();
    let run = world.cli(
        &["handle", "--dry-run"],
        &sample("schedule-freshness.json"),
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(
        r["trigger"],
        json!({"kind": "schedule", "id": "d1f0a7e2-3b4c-5d6e-8f90-a1b2c3d4e5f6", "name": "vieweratlas-autoheal-freshness"})
    );
    assert_eq!(r["playbook"], "smoke-test");
    assert_eq!(r["outcome"], "healthy");
    assert_eq!(r["dry_run"], true);
    for field in ["reason", "checks", "actions", "next_steps"] {
        assert!(r.get(field).is_some(), "{field} missing");
    }
    // Logs and the metric line go to stderr as JSON, never into the report on stdout.
    let emf = run
        .stderr
        .lines()
        .find(|l| l.contains("\"_aws\""))
        .expect("EMF line");
    let emf: serde_json::Value = serde_json::from_str(emf).unwrap();
    assert_eq!(emf["Outcome"], "healthy");
    assert!(run
        .stderr
        .lines()
        .any(|l| l.contains("\"level\":\"INFO\"") && l.contains("run finished")));
    assert_eq!(world.state(), before);
    assert!(world.published().is_empty());
    // `handle` runs as the function that would receive the event: every call says so in its user
    // agent (CloudTrail shows it; tools/check-calls.py checks the calls against that function's role).
    let journal = world.journal();
    assert!(!journal.is_empty());
    for e in &journal {
        assert_eq!(e["function"], "freshness-check", "{e}");
    }
}

#[test]
fn handle_publishes_a_failing_report_and_text_reads_well() {
    let world = World::healthy();
    world.scenario("stale", json!({}));
    let dir = std::env::temp_dir().join(format!("autoheal-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ev.json");
    std::fs::write(&file, sample("schedule-freshness.json")).unwrap();
    let run = world.cli(&["handle", "--text", file.to_str().unwrap()], "", &[]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for part in [
        "[Autoheal] ESCALATED smoke-test",
        "WHAT I SAW",
        "[FAIL] s3_snapshot_freshness",
        "WHAT IS LEFT FOR YOU",
        "RUNBOOK §6 A",
    ] {
        assert!(run.stdout.contains(part), "{part} missing:\n{}", run.stdout);
    }
    assert_eq!(world.published().len(), 1);
}

#[test]
fn malformed_or_unknown_events_exit_2_with_one_line_and_no_mutation() {
    let world = World::healthy();
    let before = world.state();
    for (input, needle) in [
        ("{", "not valid JSON"),
        ("[]", "not a JSON object"),
        (
            r#"{"detail-type": "EC2 Spot Instance Interruption Warning", "source": "aws.ec2", "id": "1"}"#,
            "aws.ec2",
        ),
        (r#"{"hello": "world"}"#, "unrecognised event"),
    ] {
        let run = world.cli(&["handle"], input, &[]);
        assert_eq!(run.code, 2, "{input}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{input}: {}", run.stdout);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{input}: {:?}", lines);
        assert!(
            lines[0].starts_with("autoheal: ") && lines[0].contains(needle),
            "{input}: {}",
            lines[0]
        );
    }
    let missing = world.cli(&["handle", "/nonexistent/event.json"], "", &[]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("/nonexistent/event.json"));
    assert_eq!(world.state(), before);
    assert!(world.published().is_empty());
}

#[test]
fn bad_configuration_exits_2_naming_every_problem() {
    let world = World::healthy();
    let run = world.cli(
        &["handle"],
        &sample("schedule-freshness.json"),
        &[
            ("S3_BUCKET", ""),
            ("S3_FRESHNESS_MAX_AGE_MINUTES", "3h"),
            ("AUTOHEAL_DRY_RUN", "perhaps"),
        ],
    );
    assert_eq!(run.code, 2);
    let line = run.stderr.trim();
    assert!(!line.contains('\n'), "{line}");
    for name in [
        "S3_BUCKET",
        "S3_FRESHNESS_MAX_AGE_MINUTES",
        "AUTOHEAL_DRY_RUN",
    ] {
        assert!(line.contains(name), "{name} not named: {line}");
    }
    assert!(world.published().is_empty());
}

#[test]
fn smoke_test_exit_code_follows_the_verdict() {
    let world = World::healthy();
    let ok = world.cli(&["smoke-test"], "", &[]);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.report()["trigger"]["kind"], "manual");
    // An operator command runs with the operator's credentials, not a function's role: untagged.
    let journal = world.journal();
    assert!(!journal.is_empty());
    assert!(
        journal.iter().all(|e| e["function"].is_null()),
        "{journal:?}"
    );
    world.scenario("collector-down", json!({}));
    let bad = world.cli(&["smoke-test", "--text"], "", &[]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stdout.contains("[FAIL] collector_running"),
        "{}",
        bad.stdout
    );
    assert!(
        world.published().is_empty(),
        "the manual smoke test does not page anyone"
    );
}

#[test]
fn resolved_alarms_and_own_reports_are_ignored_and_never_loop() {
    let world = World::healthy();
    let before = world.state();
    let mut ok_alarm: serde_json::Value =
        serde_json::from_str(&sample("alarm-eventbridge-snapshot-stalled.json")).unwrap();
    ok_alarm["detail"]["state"]["value"] = json!("OK");
    let run = world.cli(&["handle"], &ok_alarm.to_string(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = run.report();
    assert_eq!(r["outcome"], "ignored");
    assert!(r["reason"].as_str().unwrap().contains("is OK, not ALARM"));
    assert!(r["actions"].as_array().unwrap().is_empty());
    assert!(
        world.published().is_empty(),
        "ignored runs are not published by default"
    );
    let publish_all = [("AUTOHEAL_PUBLISH_IGNORED", "true")];
    let run = world.cli(&["handle"], &ok_alarm.to_string(), &publish_all);
    assert_eq!(run.report()["outcome"], "ignored");
    let published = world.published();
    assert_eq!(
        published.len(),
        1,
        "an ignored run is reported when asked for"
    );

    // Feed that very report back the way the alerts topic would deliver it to a Lambda.
    let own = json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:x",
        "Sns": {"Type": "Notification", "MessageId": "feedback-1", "TopicArn": autoheal_tests::TOPIC_ARN,
            "Subject": published[0].subject, "Message": published[0].report.to_string(),
            "MessageAttributes": {"autoheal_report": {"Type": "String", "Value": "1"}}}}]});
    let run = world.cli(&["handle"], &own.to_string(), &publish_all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.report()["outcome"], "ignored");
    assert!(
        world.published().is_empty(),
        "a report about our own report would loop"
    );
    assert_eq!(world.state(), before);
}

#[test]
fn help_is_available_for_every_command() {
    let world = World::healthy();
    for args in [
        vec!["--help"],
        vec!["help", "handle"],
        vec!["handle", "--help"],
        vec!["smoke-test", "-h"],
    ] {
        let run = world.cli(&args, "", &[]);
        assert_eq!(run.code, 0, "{args:?}");
        assert!(run.stdout.contains("autoheal"), "{args:?}");
    }
    assert_eq!(world.cli(&["frobnicate"], "", &[]).code, 2);
}
