//! How real AWS delivers events and answers calls: writes whose answer is lost, deliveries that
//! race a ledger that is slow or down. The guard must act once, recognise its own writes, and never
//! tell a human to redo what another delivery already did.

use autoheal::run::{self, Function, RunError, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};

/// The rotation function's run, and whether it asked to be delivered again (nothing final was
/// decided; its report went out all the same).
async fn rotation_run(world: &World) -> (Value, bool) {
    let deps = world.deps().await;
    let (r, retry) = match run::handle(
        &deps,
        Function::RotationRedeploy,
        &sample_event("secret-update-oauth-token.json"),
        RunOptions::default(),
    )
    .await
    {
        Ok(r) => (r, false),
        Err(RunError::Retry { report }) => (*report, true),
        Err(e) => panic!("run: {e}"),
    };
    (serde_json::to_value(r).expect("report"), retry)
}

async fn rotation(world: &World) -> Value {
    rotation_run(world).await.0
}

fn faults(world: &World, ops: Value) {
    world
        .emulator
        .post("/_world/faults", &json!({ "ops": ops }));
}

/// S3 stored the claim, but the answer never reached Autoheal (a 500 after the write, a reset); the
/// SDK's retry then meets its own object and gets 412. That is this delivery's claim, not another's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_write_whose_answer_was_lost_is_recognised_as_our_own() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    faults(
        &world,
        json!({"PutObject": {"path": "/claims/", "times": 1, "apply": true,
                             "code": "InternalError", "status": 500}}),
    );
    let r = rotation(&world).await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(world.calls("UpdateService"), 1);
}

/// A second delivery of a change that was already remediated cannot write its claim (S3 answers
/// 500 to every try). It must find the earlier delivery's claim and report the deployment that was
/// made, not `failed` with "perform the action by hand" (a second deployment by a human).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_whose_claim_write_fails_reports_what_was_done() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    let first = rotation(&world).await;
    assert_eq!(first["outcome"], "remediated", "{first:#}");
    faults(
        &world,
        json!({"PutObject": {"path": "/claims/", "code": "InternalError", "status": 500}}),
    );
    let second = rotation(&world).await;
    assert_eq!(second["outcome"], "ignored", "{second:#}");
    let reason = second["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("duplicate"), "{reason}");
    assert!(
        reason.contains("deployment"),
        "names what was done: {reason}"
    );
    assert!(
        !second.to_string().contains("by hand"),
        "a human must not be told to redo it: {second:#}"
    );
    assert_eq!(world.calls("UpdateService"), 1);
}

/// The ledger cannot be reached at all: no claim, so no action, and the report says that nothing
/// was changed instead of asking a human to perform the action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_ledger_means_no_action_and_a_report_that_says_so() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    faults(
        &world,
        json!({
            "PutObject": {"path": "/claims/", "code": "InternalError", "status": 500},
            "GetObject": {"path": "/claims/", "code": "InternalError", "status": 500},
        }),
    );
    let (r, retry) = rotation_run(&world).await;
    assert_eq!(r["outcome"], "failed", "{r:#}");
    assert!(
        retry,
        "nothing final was decided: the run asks Lambda to deliver the event again"
    );
    assert_eq!(world.calls("UpdateService"), 0);
    let text = r.to_string();
    assert!(text.contains("nothing was changed"), "{r:#}");
    assert!(
        !text.contains("perform the action in the report by hand"),
        "{r:#}"
    );
}

/// The deployment was made, then S3 failed every ledger write that records it. The mutation's
/// result wins: `remediated` with its id, a note that the ledger lags, and no request to redo it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_failure_after_the_deployment_still_reports_remediated() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    faults(
        &world,
        // The claim, the event's note of it and the slot reservation land; every write after the
        // call fails.
        json!({"PutObject": {"path": "/autoheal/", "skip": 3, "code": "InternalError", "status": 500}}),
    );
    let r = rotation(&world).await;
    assert_eq!(world.calls("UpdateService"), 1);
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("deployment"),
        "names the deployment: {reason}"
    );
    assert!(reason.contains("ledger could not be updated"), "{reason}");
    assert!(!r.to_string().contains("perform the action"), "{r:#}");
}
