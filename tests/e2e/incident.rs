//! RUNBOOK §7: a remediation opens an incident; smoke test, analysis and VOD runs close it.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

fn stopped(family: &str, task_id: &str) -> Value {
    let mut ev = sample_event("ecs-task-stopped-analysis.json");
    ev["id"] = json!(format!("evt-{task_id}"));
    ev["detail"]["taskArn"] = json!(format!(
        "arn:aws:ecs:us-east-1:123456789012:task/vieweratlas-cluster/{task_id}"
    ));
    ev["detail"]["group"] = json!(format!("family:{family}"));
    ev["detail"]["taskDefinitionArn"] = json!(format!(
        "arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:2"
    ));
    ev["detail"]["containers"][0]["exitCode"] = json!(0);
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remediation_followed_by_smoke_analysis_and_vod_successes_closes_the_incident_once() {
    let world = World::healthy();
    let deps = world.deps().await;
    let go = |f: Function, ev: Value| {
        let deps = &deps;
        async move {
            run::handle(deps, f, &ev, RunOptions::default())
                .await
                .expect("run")
        }
    };
    world.scenario("rotate-secret", json!({}));
    assert_eq!(
        go(
            Function::RotationRedeploy,
            sample_event("secret-update-oauth-token.json")
        )
        .await
        .outcome,
        autoheal::report::Outcome::Remediated
    );
    world.published();

    go(
        Function::FreshnessCheck,
        sample_event("schedule-freshness.json"),
    )
    .await;
    world.scenario(
        "task-log",
        json!({"family": "vieweratlas-analysis", "task_id": "an1", "kind": "analysis-ok"}),
    );
    go(Function::TaskWatch, stopped("vieweratlas-analysis", "an1")).await;
    assert!(
        world.published().iter().all(|p| !p.report["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("incident closed")),
        "not yet: no VOD run"
    );

    world.scenario(
        "task-log",
        json!({"family": "vieweratlas-vod-collector", "task_id": "vo1", "kind": "vod-ok"}),
    );
    go(
        Function::TaskWatch,
        stopped("vieweratlas-vod-collector", "vo1"),
    )
    .await;
    let closed: Vec<_> = world
        .published()
        .into_iter()
        .filter(|p| {
            p.report["reason"]
                .as_str()
                .unwrap_or("")
                .starts_with("incident closed")
        })
        .collect();
    assert_eq!(closed.len(), 1);
    let text = closed[0].report.to_string();
    for part in ["secret-rotation: force_new_deployment on service/vieweratlas-cluster/vieweratlas-collector", "smoke_test_passed", "analysis_run_succeeded", "vod_run_succeeded"] {
        assert!(text.contains(part), "{part} missing: {text}");
    }
    assert!(
        closed[0]
            .subject
            .starts_with("[Autoheal] HEALTHY smoke-test: incident closed"),
        "{}",
        closed[0].subject
    );

    // Closed means closed: another round of healthy runs (smoke test, analysis, VOD) opens no
    // phantom incident and so closes none.
    go(
        Function::FreshnessCheck,
        sample_event("schedule-freshness.json"),
    )
    .await;
    world.scenario(
        "task-log",
        json!({"family": "vieweratlas-analysis", "task_id": "an2", "kind": "analysis-ok"}),
    );
    go(Function::TaskWatch, stopped("vieweratlas-analysis", "an2")).await;
    world.scenario(
        "task-log",
        json!({"family": "vieweratlas-vod-collector", "task_id": "vo2", "kind": "vod-ok"}),
    );
    go(
        Function::TaskWatch,
        stopped("vieweratlas-vod-collector", "vo2"),
    )
    .await;
    assert!(world.published().is_empty());
}
