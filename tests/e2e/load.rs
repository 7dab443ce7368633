//! Load: many deliveries at once, in one process sharing one `Deps` (one connection pool, one set of
//! SDK clients), the way a warm Lambda container or a busy CLI host runs them. The guard must still
//! act exactly once per change, every event must get a report, and the ledger must stay readable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use autoheal::deps::Deps;
use autoheal::report::{Outcome, Playbook, Report};
use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{sample_event, World};
use serde_json::{json, Value};
use tokio::task::JoinSet;

/// Ignored runs are not published by default; these tests load the publishing path with them.
const PUBLISH_ALL: &[(&str, &str)] = &[("AUTOHEAL_PUBLISH_IGNORED", "true")];

fn tally(reports: &[&Report]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for r in reports {
        *out.entry(r.outcome.name()).or_insert(0) += 1;
    }
    out
}

/// Runs `events` through `run::handle` with at most `limit` in flight; the reports come back in
/// event order.
async fn run_all(deps: Arc<Deps>, events: Vec<Value>, limit: usize) -> Vec<Report> {
    let n = events.len();
    let mut slots: Vec<Option<Report>> = vec![None; n];
    let mut set = JoinSet::new();
    let mut pending = events.into_iter().enumerate();
    loop {
        while set.len() < limit {
            let Some((i, ev)) = pending.next() else { break };
            let deps = deps.clone();
            set.spawn(async move {
                let r = run::handle(
                    &deps,
                    Function::RotationRedeploy,
                    &ev,
                    RunOptions::default(),
                )
                .await;
                (
                    i,
                    r.unwrap_or_else(|e| panic!("event {i} ({}) failed: {e}", ev["id"])),
                )
            });
        }
        match set.join_next().await {
            Some(joined) => {
                let (i, report) = joined.expect("a run panicked");
                assert!(
                    slots[i].replace(report).is_none(),
                    "event {i} reported twice"
                );
            }
            None => break,
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|| panic!("event {i} produced no report")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_deliveries_of_one_change_act_once() {
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    // Every run publishes, duplicates too: the load is on the publishing path as well.
    let deps = Arc::new(world.deps_with(PUBLISH_ALL).await);
    let event = sample_event("secret-update-oauth-token.json");

    let started = Instant::now();
    // All 100 at once: no limit below the number of deliveries.
    let reports = run_all(deps, vec![event; 100], 100).await;
    let took = started.elapsed();

    assert_eq!(reports.len(), 100);
    let counts = tally(&reports.iter().collect::<Vec<_>>());
    assert_eq!(counts.get("remediated"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("ignored"), Some(&99), "{counts:?}");
    for r in reports.iter().filter(|r| r.outcome == Outcome::Ignored) {
        assert!(r.reason.contains("duplicate"), "{}", r.reason);
    }
    assert_eq!(
        world.calls("UpdateService"),
        1,
        "ECS received exactly one deployment request"
    );

    // Every run was reported and every decision is in the ledger, readable.
    // (A Publish the SDK retried after a timeout is delivered twice: never more copies than calls.)
    let delivered = world.published().len();
    let attempts = world.calls("Publish");
    assert!(
        (100..=attempts).contains(&delivered),
        "{delivered} reports delivered from {attempts} Publish calls"
    );
    let decisions: Vec<(String, String)> = world
        .ledger()
        .into_iter()
        .filter(|(k, _)| k.contains("/decisions/"))
        .collect();
    assert_eq!(decisions.len(), 100);
    for (k, body) in &decisions {
        serde_json::from_str::<Value>(body)
            .unwrap_or_else(|e| panic!("{k} is not JSON ({e}): {body}"));
    }
    println!(
        "load: 100 concurrent deliveries of one change in {took:.2?}: {counts:?}, UpdateService 1"
    );
}

/// A noisy account: 1,000 changes to a secret Autoheal does not watch, with 10 deliveries of one
/// real change to the Twitch token mixed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_unrelated_events_hides_one_real_change() {
    const UNRELATED: usize = 1_000;
    const REAL: usize = 10;
    const IN_FLIGHT: usize = 50;
    let world = World::healthy();
    world.scenario("rotate-secret", json!({}));
    // Every run publishes, duplicates too: the load is on the publishing path as well.
    let deps = Arc::new(world.deps_with(PUBLISH_ALL).await);

    // Near misses included: names that share a prefix with the watched secret are still other secrets.
    let others = [
        "payments/stripe",
        "vieweratlas/twitch/oauth_token_v2",
        "vieweratlas/db/password",
    ];
    let unrelated = (0..UNRELATED).map(|i| {
        let name = others[i % others.len()];
        let mut ev = sample_event("secret-update-oauth-token.json");
        ev["id"] = json!(format!("unrelated-{i:04}"));
        ev["detail"]["requestParameters"]["secretId"] = json!(name);
        ev["detail"]["responseElements"]["arn"] = json!(format!(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-Ab12Cd"
        ));
        ev["detail"]["responseElements"]["name"] = json!(name);
        ev["detail"]["responseElements"]["versionId"] = json!(format!("v-{i}"));
        ev
    });
    // One change (one new AWSCURRENT version), seen through 10 deliveries of two event kinds.
    let real = (0..REAL).map(|i| {
        let mut ev = sample_event(if i % 2 == 0 {
            "secret-update-oauth-token.json"
        } else {
            "secret-rotation-succeeded.json"
        });
        ev["id"] = json!(format!("real-{i:02}"));
        ev
    });
    let mut events: Vec<Value> = unrelated.collect();
    for (k, ev) in real.enumerate() {
        events.insert(k * (UNRELATED / REAL) + 50 + k, ev);
    }
    let is_real: Vec<bool> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().starts_with("real-"))
        .collect();
    assert_eq!(is_real.iter().filter(|r| **r).count(), REAL);

    let started = Instant::now();
    let reports = run_all(deps, events, IN_FLIGHT).await;
    let took = started.elapsed();

    assert_eq!(
        reports.len(),
        UNRELATED + REAL,
        "every event produced a report"
    );
    let (real_reports, unrelated_reports): (Vec<&Report>, Vec<&Report>) = {
        let mut real = Vec::new();
        let mut other = Vec::new();
        for (r, flag) in reports.iter().zip(&is_real) {
            if *flag {
                real.push(r);
            } else {
                other.push(r);
            }
        }
        (real, other)
    };
    for r in &unrelated_reports {
        assert_eq!(
            (r.outcome, r.playbook),
            (Outcome::Ignored, Playbook::None),
            "{}: {}",
            r.trigger.id,
            r.reason
        );
        assert!(r.actions.is_empty());
    }
    let real_counts = tally(&real_reports);
    assert_eq!(real_counts.get("remediated"), Some(&1), "{real_counts:?}");
    assert_eq!(
        real_counts.get("ignored"),
        Some(&(REAL - 1)),
        "{real_counts:?}"
    );
    let all_counts = tally(&reports.iter().collect::<Vec<_>>());
    assert_eq!(
        all_counts.get("ignored"),
        Some(&(UNRELATED + REAL - 1)),
        "{all_counts:?}"
    );

    // What reached AWS: one deployment, one report per event, ledger writes only for the real change.
    let journal = world.journal();
    let mut mutating: BTreeMap<String, usize> = BTreeMap::new();
    for e in journal.iter().filter(|e| e["mutating"] == true) {
        *mutating
            .entry(e["op"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
        if e["service"] == "s3" {
            let path = e["path"].as_str().unwrap_or_default();
            assert!(
                path.contains("/autoheal/"),
                "an S3 write outside the ledger: {e}"
            );
        }
    }
    assert_eq!(world.calls("UpdateService"), 1, "{mutating:?}");
    // Every event's report reached the topic. The SDK retries a Publish whose answer timed out on
    // a saturated machine, and SNS delivers such a message twice: extra copies are allowed only as
    // many as there were extra attempts.
    let attempts = mutating.get("Publish").copied().unwrap_or(0);
    let delivered = world.published();
    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for p in &delivered {
        let id = p.report["trigger"]["id"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        *per_event.entry(id).or_insert(0) += 1;
    }
    assert_eq!(per_event.len(), UNRELATED + REAL, "one report per event");
    assert!(attempts >= UNRELATED + REAL, "{mutating:?}");
    assert!(
        delivered.len() - (UNRELATED + REAL) <= attempts - (UNRELATED + REAL),
        "{} messages for {} events from {attempts} Publish calls",
        delivered.len(),
        UNRELATED + REAL
    );
    let allowed = ["Publish", "UpdateService", "PutObject"];
    assert!(
        mutating.keys().all(|op| allowed.contains(&op.as_str())),
        "unexpected mutations: {mutating:?}"
    );
    // The secret-change runs read the secret's current version; the unrelated ones read nothing.
    assert_eq!(
        world.calls("DescribeSecret"),
        REAL,
        "only the real change looks at Secrets Manager"
    );

    // The ledger is intact: every object parses, one decision per delivery of the real change.
    let ledger = world.ledger();
    for (k, body) in &ledger {
        serde_json::from_str::<Value>(body)
            .unwrap_or_else(|e| panic!("{k} is not JSON ({e}): {body}"));
    }
    let decisions = ledger
        .iter()
        .filter(|(k, _)| k.contains("/decisions/"))
        .count();
    assert_eq!(decisions, REAL, "decision records");
    println!(
        "load: {} events ({UNRELATED} unrelated + {REAL} real), {IN_FLIGHT} in flight, in {took:.2?} ({:.0} events/s): {all_counts:?}; \
         mutations {mutating:?}; {} ledger objects",
        UNRELATED + REAL,
        (UNRELATED + REAL) as f64 / took.as_secs_f64(),
        ledger.len(),
    );
}
