//! `autoheal pause` / `resume`: a paused playbook still triages and reports, but does not act;
//! resuming (or the pause running out) lets it act again. Bad input changes nothing.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{check, sample_event, World};
use serde_json::{json, Value};

const ALICE: &[(&str, &str)] = &[("AUTOHEAL_OPERATOR", "alice")];

async fn stalled_alarm(world: &World, id: &str, extra: &[(&str, &str)]) -> Value {
    let mut ev = sample_event("alarm-eventbridge-snapshot-stalled.json");
    ev["id"] = json!(id);
    world.run(Function::AlarmResponder, &ev, extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_playbook_triages_and_reports_but_does_not_act_until_resumed() {
    let world = World::healthy();
    let p = world.cli(
        &[
            "pause",
            "--playbook",
            "no-new-snapshots",
            "--until",
            "2h",
            "--reason",
            "collector deploy",
        ],
        "",
        ALICE,
    );
    assert_eq!(p.code, 0, "{}", p.stderr);
    assert!(
        p.stdout
            .contains("paused by alice (no-new-snapshots) until"),
        "{}",
        p.stdout
    );

    world.scenario("collector-stalled", json!({"minutes": 90}));
    world.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-Collector-Snapshot-Stalled"}),
    );
    let held = stalled_alarm(&world, "stall-1", &[]).await;
    assert_eq!(held["outcome"], "escalated", "{held:#}");
    let reason = held["reason"].as_str().unwrap();
    assert!(
        reason.contains("held: paused by alice (no-new-snapshots) until"),
        "{reason}"
    );
    assert!(reason.contains("reason: collector deploy"), "{reason}");
    // Triage ran in full; only the action was held.
    check(&held, "service_health");
    check(&held, "s3_snapshot_freshness");
    assert_eq!(held["actions"][0]["kind"], "force_new_deployment");
    assert_eq!(held["actions"][0]["status"], "skipped");
    assert!(
        held["next_steps"].to_string().contains("autoheal resume"),
        "{held:#}"
    );
    assert_eq!(world.calls("UpdateService"), 0);
    let published = world.published();
    assert_eq!(published.len(), 1, "a held action is reported");
    let decision = world
        .ledger()
        .into_iter()
        .find(|(k, _)| k.contains("/decisions/"))
        .expect("the held decision is recorded");
    assert!(
        decision.1.contains("held: paused by alice"),
        "{}",
        decision.1
    );

    // Another playbook is not paused: a secret rotation still redeploys.
    world.scenario("rotate-secret", json!({}));
    let deps = world.deps().await;
    let rot = run::handle(
        &deps,
        Function::RotationRedeploy,
        &sample_event("secret-update-oauth-token.json"),
        RunOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        rot.outcome,
        autoheal::report::Outcome::Remediated,
        "{:?}",
        rot.reason
    );
    assert_eq!(world.calls("UpdateService"), 1);

    let r = world.cli(&["resume"], "", ALICE);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("resumed no-new-snapshots"),
        "{}",
        r.stdout
    );
    // (The rotation's redeploy just now started the service's cooldown; this test is not about it.)
    let acted = stalled_alarm(&world, "stall-2", &[("AUTOHEAL_COOLDOWN_MINUTES", "0")]).await;
    assert_eq!(acted["outcome"], "remediated", "{acted:#}");
    assert_eq!(world.calls("UpdateService"), 2);
    let again = world.cli(&["resume"], "", ALICE);
    assert!(
        again.stdout.contains("nothing was paused"),
        "{}",
        again.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_ends_by_itself_at_its_until() {
    let world = World::healthy();
    let ends = autoheal::clock::now_epoch() + 6;
    let until = autoheal::clock::rfc3339(ends);
    let p = world.cli(
        &["pause", "--until", &until, "--reason", "short window"],
        "",
        ALICE,
    );
    assert_eq!(p.code, 0, "{}", p.stderr);
    world.scenario("collector-stalled", json!({"minutes": 90}));
    world.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-Collector-Snapshot-Stalled"}),
    );
    let held = stalled_alarm(&world, "stall-a", &[]).await;
    assert!(
        held["reason"]
            .as_str()
            .unwrap()
            .contains("held: paused by alice (every playbook)"),
        "{held:#}"
    );
    assert_eq!(world.calls("UpdateService"), 0);
    // The pause is stored with its end as an instant; nobody resumes it. (A pause ends at a
    // wall-clock instant, so this test waits the few seconds left instead of ageing the world.)
    while autoheal::clock::now_epoch() <= ends {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let acted = stalled_alarm(&world, "stall-b", &[]).await;
    assert_eq!(acted["outcome"], "remediated", "{acted:#}");
    assert_eq!(world.calls("UpdateService"), 1);
}

#[test]
fn bad_pause_input_exits_2_with_one_line_and_writes_nothing() {
    let world = World::healthy();
    let before = world.state();
    for (args, needle) in [
        (
            vec!["pause", "--until", "2020-01-01T00:00:00Z", "--reason", "x"],
            "in the past",
        ),
        (
            vec!["pause", "--until", "soonish", "--reason", "x"],
            "neither an RFC 3339 time",
        ),
        (vec!["pause", "--until", "4h"], "--reason TEXT is required"),
        (
            vec!["pause", "--playbook", "reboot", "--reason", "x"],
            "unknown playbook \"reboot\"",
        ),
        (
            vec!["resume", "--playbook"],
            "--playbook needs a playbook name",
        ),
    ] {
        let run = world.cli(&args, "", ALICE);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
        assert!(
            lines[0].starts_with("autoheal: ") && lines[0].contains(needle),
            "{args:?}: {}",
            lines[0]
        );
    }
    assert_eq!(world.state(), before, "nothing was written");
}
