//! `autoheal status`: what Autoheal holds now, for a person and for scripts.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::json;

const ALICE: &[(&str, &str)] = &[("AUTOHEAL_OPERATOR", "alice")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_pauses_problems_cooldowns_caps_known_good_and_decisions() {
    let world = World::healthy();
    let empty = world.cli(&["status"], "", &[]);
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    for part in [
        "PAUSES\n  none",
        "OPEN PROBLEMS\n  none",
        "KNOWN-GOOD\n  none recorded",
    ] {
        assert!(
            empty.stdout.contains(part),
            "{part} missing:\n{}",
            empty.stdout
        );
    }

    // Known-good recorded by a healthy check; a rollback; a pause; an ongoing stale problem.
    let deps = world.deps().await;
    let ev = sample_event("schedule-freshness.json");
    run::handle(&deps, Function::FreshnessCheck, &ev, RunOptions::default())
        .await
        .unwrap();
    let cap1 = [
        ("AUTOHEAL_OPERATOR", "alice"),
        ("AUTOHEAL_MAX_ACTIONS_PER_DAY", "1"),
    ];
    assert_eq!(
        world.cli(&["rollback", "--to", "1"], "", &cap1).report()["outcome"],
        "remediated"
    );
    world.cli(
        &[
            "pause",
            "--playbook",
            "rollback",
            "--until",
            "3h",
            "--reason",
            "release freeze",
        ],
        "",
        ALICE,
    );
    world.scenario("stale", json!({"minutes": 240}));
    let mut stale = sample_event("schedule-freshness.json");
    stale["id"] = json!("stale-status");
    run::handle(
        &deps,
        Function::FreshnessCheck,
        &stale,
        RunOptions::default(),
    )
    .await
    .unwrap();

    let text = world.cli(&["status"], "", &cap1);
    assert_eq!(text.code, 0, "{}", text.stderr);
    let out = &text.stdout;
    for part in [
        "rollback paused by alice since",
        "reason: release freeze",
        "schedule:vieweratlas-autoheal-freshness: ongoing since",
        "next reminder due by",
        "service_vieweratlas-cluster_vieweratlas-collector: 1/1 actions in 24 h; cap reached, frees",
        "update_service_task_definition cooling down until",
        "vieweratlas-collector: vieweratlas-collector:2 recorded",
        "done     update_service_task_definition service/vieweratlas-cluster/vieweratlas-collector (rollback)",
    ] {
        assert!(out.contains(part), "{part:?} missing:\n{out}");
    }

    let json = world.cli(&["status", "--json"], "", &cap1);
    let s: serde_json::Value = serde_json::from_str(&json.stdout).expect(&json.stdout);
    assert_eq!(s["pauses"][0]["by"], "alice");
    assert_eq!(s["pauses"][0]["playbook"], "rollback");
    assert_eq!(s["conversations"][0]["open"], true);
    let t = &s["targets"][0];
    assert_eq!(
        t["cooldowns"][0]["action"],
        "update_service_task_definition"
    );
    assert!(t["cap_frees_at"].as_i64().unwrap() > t["cooldowns"][0]["until"].as_i64().unwrap());
    assert!(s["known_good"]["task_definition_arn"]
        .as_str()
        .unwrap()
        .ends_with("vieweratlas-collector:2"));
    assert_eq!(
        s["decisions"][0]["action"],
        "update_service_task_definition"
    );
    assert_eq!(world.cli(&["status", "--yaml"], "", &[]).code, 2);
}
