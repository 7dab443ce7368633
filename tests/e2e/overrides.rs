//! Human override: `--force` passes a cooldown (or the daily cap), never the live re-check or the
//! claim, and the ledger records who and why. `autoheal run` starts a manual run the way Autoheal
//! does, so its success re-enables a rule Autoheal disabled.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{stopped_task_event, World};
use serde_json::{json, Value};

const ALICE: &[(&str, &str)] = &[("AUTOHEAL_OPERATOR", "alice")];
const ANALYSIS: &str = "vieweratlas-analysis";

fn collector_td(world: &World) -> String {
    world.state()["services"]["vieweratlas-collector"]["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string()
}

fn decisions(world: &World) -> Vec<Value> {
    world
        .ledger()
        .into_iter()
        .filter(|(k, _)| k.contains("/decisions/"))
        .map(|(_, b)| serde_json::from_str(&b).unwrap())
        .collect()
}

#[test]
fn force_passes_a_cooldown_with_who_and_why_in_the_ledger() {
    let world = World::healthy();
    let first = world.cli(&["rollback", "--to", "1"], "", ALICE);
    assert_eq!(first.report()["outcome"], "remediated", "{}", first.stdout);
    let held = world.cli(&["rollback", "--to", "2"], "", ALICE);
    assert_eq!(held.report()["outcome"], "ignored");
    assert!(held.report()["reason"]
        .as_str()
        .unwrap()
        .contains("cooldown"));
    let no_reason = world.cli(&["rollback", "--to", "2", "--force"], "", ALICE);
    assert_eq!(no_reason.code, 2);
    assert!(
        no_reason.stderr.contains("--force needs --reason"),
        "{}",
        no_reason.stderr
    );
    assert_eq!(world.calls("UpdateService"), 1);

    let forced = world.cli(
        &[
            "rollback",
            "--to",
            "2",
            "--force",
            "--reason",
            "revision 1 is worse",
        ],
        "",
        ALICE,
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    let r = forced.report();
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    let detail = r["actions"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("--force by alice passed it (revision 1 is worse): cooldown"),
        "{detail}"
    );
    assert_eq!(world.calls("UpdateService"), 2);
    assert!(collector_td(&world).ends_with("vieweratlas-collector:2"));
    let d = decisions(&world)
        .into_iter()
        .find(|d| d["status"] == "done" && d["operator"]["force"] == true)
        .expect("the forced decision");
    assert_eq!(d["operator"]["by"], "alice");
    assert_eq!(d["operator"]["why"], "revision 1 is worse");
}

#[test]
fn force_never_passes_the_live_re_check() {
    let world = World::healthy();
    let run1 = world.cli(&["run", "analysis"], "", ALICE);
    assert_eq!(run1.code, 0, "{}", run1.stderr);
    assert_eq!(run1.report()["outcome"], "remediated", "{}", run1.stdout);
    assert_eq!(world.calls("RunTask"), 1);
    // The run is still going: a second one would overlap it, cooldown or not.
    let forced = world.cli(
        &["run", "analysis", "--force", "--reason", "impatient"],
        "",
        ALICE,
    );
    let r = forced.report();
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("already running"),
        "{}",
        r["reason"]
    );
    assert_eq!(world.calls("RunTask"), 1);
    // Once it finished, force passes the cooldown the first run started.
    world.scenario("tasks-finished", json!({"family": ANALYSIS}));
    let held = world.cli(&["run", "analysis"], "", ALICE);
    assert_eq!(held.report()["outcome"], "ignored", "{}", held.stdout);
    let forced = world.cli(
        &["run", "analysis", "--force", "--reason", "rerun now"],
        "",
        ALICE,
    );
    assert_eq!(
        forced.report()["outcome"],
        "remediated",
        "{}",
        forced.stdout
    );
    assert_eq!(world.calls("RunTask"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_started_by_a_human_re_enables_the_rule_autoheal_disabled() {
    let world = World::healthy();
    let settings = [("AUTOHEAL_SCHEDULE_MAX_FAILURES", "2")];
    let deps = world.deps_with(&settings).await;
    for id in ["ne1", "ne2"] {
        world.scenario(
            "task-log",
            json!({"family": ANALYSIS, "task_id": id, "kind": "analysis-no-edges"}),
        );
        let ev = stopped_task_event(ANALYSIS, id, "events-rule/vieweratlas-analysis-daily");
        run::handle(&deps, Function::TaskWatch, &ev, RunOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(
        world.state()["rules"]["vieweratlas-analysis-daily"]["state"],
        "DISABLED"
    );

    let started = world.cli(&["run", "analysis", "--text"], "", ALICE);
    assert_eq!(started.code, 0, "{}", started.stderr);
    assert!(
        started
            .stdout
            .contains("[done] run_task rule/vieweratlas-analysis-daily"),
        "{}",
        started.stdout
    );
    let tasks = world.state()["tasks"].clone();
    let task_id = tasks[0]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    world.scenario(
        "task-log",
        json!({"family": ANALYSIS, "task_id": task_id, "kind": "analysis-ok"}),
    );
    let ev = stopped_task_event(ANALYSIS, &task_id, "autoheal");
    let back = run::handle(&deps, Function::TaskWatch, &ev, RunOptions::default())
        .await
        .unwrap();
    assert_eq!(
        back.outcome,
        autoheal::report::Outcome::Remediated,
        "{}",
        back.reason
    );
    assert_eq!(
        world.state()["rules"]["vieweratlas-analysis-daily"]["state"],
        "ENABLED"
    );

    let bad = world.cli(&["run", "backup"], "", ALICE);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("unknown job \"backup\""),
        "{}",
        bad.stderr
    );
}
