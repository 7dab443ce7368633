//! IAM where the emulator models it: S3's answer for a missing key depends on the caller's
//! s3:ListBucket (tests/world/emulator.py). The rest of IAM is checked after the suite, call by call,
//! by tools/check-calls.py.

use autoheal::report::{Outcome, Report};
use autoheal::run::{self, Function, RunOptions};
use autoheal_tests::{repo_root, sample_event, Emulator, World};

/// The ledger's ListBucket as it was before: only with an s3:prefix condition, which a GetObject never
/// carries. On AWS every first read of a ledger record would then be 403, not 404.
fn template_with_prefix_conditioned_listing() -> std::path::PathBuf {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).expect("template");
    let grant = "          - Sid: ListBucketForHonest404s
            Effect: Allow
            Action: s3:ListBucket
            Resource: !Sub arn:${AWS::Partition}:s3:::${S3Bucket}
";
    assert!(
        template.contains(grant),
        "template.yaml no longer has the ListBucketForHonest404s statement this test plants into"
    );
    let planted = template.replace(
        grant,
        &format!("{grant}            Condition:\n              StringLike:\n                s3:prefix: autoheal/*\n"),
    );
    let path =
        std::env::temp_dir().join(format!("autoheal-iam-planted-{}.yaml", std::process::id()));
    std::fs::write(&path, planted).expect("write the planted template");
    path
}

/// One scheduled freshness check: its first run reads ledger records that do not exist yet.
async fn freshness_check(world: &World) -> Report {
    let deps = world.deps().await;
    run::handle(
        &deps,
        Function::FreshnessCheck,
        &sample_event("schedule-freshness.json"),
        RunOptions::default(),
    )
    .await
    .expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ledger_record_is_access_denied_without_a_plain_list_bucket() {
    let planted = template_with_prefix_conditioned_listing();
    let world = World::healthy_in(Emulator::start_with_env(&[(
        "AUTOHEAL_IAM_TEMPLATE",
        planted.to_str().expect("utf-8 path"),
    )]));
    let report = freshness_check(&world).await;
    let text = serde_json::to_string(&report).unwrap();
    assert!(
        text.contains("AccessDenied"),
        "a first ledger read must be denied under the planted policy: {text}"
    );
    let denied: Vec<_> = world
        .journal()
        .into_iter()
        .filter(|e| e["status"] == 403)
        .collect();
    assert!(!denied.is_empty(), "no 403 in the journal");
    for e in &denied {
        assert!(
            matches!(e["op"].as_str(), Some("GetObject" | "HeadObject")),
            "{e}"
        );
        assert_eq!(e["function"], "freshness-check", "{e}");
    }
    let _ = std::fs::remove_file(planted);
}

/// The same run under the real template: the missing records are honest 404s, and the run is healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ledger_record_is_a_404_under_the_template() {
    let world = World::healthy();
    let report = freshness_check(&world).await;
    assert_eq!(
        report.outcome,
        Outcome::Healthy,
        "{}",
        serde_json::to_string(&report).unwrap()
    );
    let journal = world.journal();
    assert!(
        journal
            .iter()
            .any(|e| e["status"] == 404 && e["function"] == "freshness-check"),
        "the run read no missing key, so this test shows nothing: {journal:?}"
    );
    assert!(journal.iter().all(|e| e["status"] != 403));
}
