//! The Twitch token check against a loopback stand-in for oauth2/validate.

use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{check, sample_event, TwitchStub, World, SENTINEL_CLIENT_ID, SENTINEL_TOKEN};
use serde_json::{json, Value};

async fn run_with(world: &World, f: Function, ev: &Value, stub: &TwitchStub) -> Value {
    let deps = world
        .deps_with(&[("AUTOHEAL_TWITCH_VALIDATE_URL", &stub.url)])
        .await;
    serde_json::to_value(
        run::handle(&deps, f, ev, RunOptions::default())
            .await
            .expect("run"),
    )
    .unwrap()
}

fn no_leak(world: &World, r: &Value) {
    let mut all = vec![r.to_string()];
    all.extend(
        world
            .published()
            .iter()
            .map(|p| format!("{} {}", p.subject, p.report)),
    );
    all.extend(world.ledger().into_iter().map(|(k, b)| format!("{k} {b}")));
    for t in all {
        assert!(
            !t.contains(SENTINEL_TOKEN) && !t.contains(SENTINEL_CLIENT_ID),
            "secret leaked: {t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_twitch_rejects_is_not_rolled_out() {
    let world = World::healthy();
    let new = format!("{SENTINEL_TOKEN}-bad");
    world.scenario("rotate-secret", json!({"value": new}));
    let stub = TwitchStub::start(&[]);
    let r = run_with(
        &world,
        Function::RotationRedeploy,
        &sample_event("secret-update-oauth-token.json"),
        &stub,
    )
    .await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert_eq!(check(&r, "twitch_token_validation")["status"], "fail");
    assert_eq!(world.calls("UpdateService"), 0);
    assert_eq!(
        stub.received(),
        vec![new],
        "the stored value is what gets validated, and only there"
    );
    no_leak(&world, &r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_twitch_accepts_is_rolled_out() {
    let world = World::healthy();
    let new = format!("{SENTINEL_TOKEN}-good");
    world.scenario("rotate-secret", json!({ "value": new }));
    let stub = TwitchStub::start(&[&new]);
    let r = run_with(
        &world,
        Function::RotationRedeploy,
        &sample_event("secret-update-oauth-token.json"),
        &stub,
    )
    .await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    let c = check(&r, "twitch_token_validation");
    assert_eq!(c["status"], "pass");
    assert!(c["detail"].as_str().unwrap().contains("client stubclient"));
    assert_eq!(world.calls("UpdateService"), 1);
    no_leak(&world, &r);
}

/// The token is stored as `oauth:<token>` (the IRC spelling): the collector's Helix calls send it
/// as `Bearer oauth:…` and Twitch rejects them, even though the token itself is valid. The check
/// says so instead of stripping the prefix and passing, and nothing is rolled out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_stored_with_an_oauth_prefix_is_not_rolled_out() {
    let world = World::healthy();
    let new = format!("{SENTINEL_TOKEN}-good");
    world.scenario("rotate-secret", json!({"value": format!("oauth:{new}")}));
    let stub = TwitchStub::start(&[&new]);
    let r = run_with(
        &world,
        Function::RotationRedeploy,
        &sample_event("secret-update-oauth-token.json"),
        &stub,
    )
    .await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    let c = check(&r, "twitch_token_validation");
    assert_eq!(c["status"], "fail");
    assert!(
        c["detail"].as_str().unwrap().contains("'oauth:' prefix"),
        "{c}"
    );
    assert_eq!(world.calls("UpdateService"), 0);
    no_leak(&world, &r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_responder_never_restarts_a_collector_whose_token_twitch_rejects() {
    let world = World::healthy();
    world.scenario("collector-stalled", json!({}));
    world.scenario(
        "alarm",
        json!({"alarm": "ViewerAtlas-Collector-Snapshot-Stalled"}),
    );
    let stub = TwitchStub::start(&[]);
    let r = run_with(
        &world,
        Function::AlarmResponder,
        &sample_event("alarm-eventbridge-snapshot-stalled.json"),
        &stub,
    )
    .await;
    assert_eq!(r["outcome"], "escalated", "{r:#}");
    assert_eq!(r["playbook"], "channel-discovery");
    assert!(r["reason"]
        .as_str()
        .unwrap()
        .contains("validate answered HTTP 401"));
    assert!(r["next_steps"][0]
        .as_str()
        .unwrap()
        .starts_with("rotate vieweratlas/twitch/oauth_token"));
    assert_eq!(world.calls("UpdateService"), 0);
    no_leak(&world, &r);

    // Same world, token accepted: the stalled process is restarted.
    let ok = TwitchStub::start(&[SENTINEL_TOKEN]);
    let mut ev = sample_event("alarm-eventbridge-snapshot-stalled.json");
    ev["id"] = json!("second-delivery-after-rotation");
    let r = run_with(&world, Function::AlarmResponder, &ev, &ok).await;
    assert_eq!(r["outcome"], "remediated", "{r:#}");
    assert_eq!(check(&r, "twitch_token")["status"], "pass");
}
