//! The runbook's smoke test (RUNBOOK §2.4, VIEWERATLAS.md §5) as a playbook: the freshness
//! check's findings become a report, failures point to the playbook that fixes them, and a fully
//! passing check records the collector's revision as known-good (for RUNBOOK §3).

use crate::clock::{now_epoch, rfc3339};
use crate::config::Config;
use crate::deps::{Deps, Invocation};
use crate::playbooks::rollback::{known_good_key, record_known_good, KnownGood};
use crate::probes::freshness;
use crate::probes::service::short_td;
use crate::report::links::{self, autoheal_cli};
use crate::report::{Check, CheckStatus, Outcome, Playbook, Report, TriggerKind, TriggerRef};
use crate::safety::ledger::Versioned;

/// `autoheal smoke-test`: a human's check reads only; it does not move the known-good marker.
pub async fn on_demand(deps: &Deps) -> Report {
    let trigger = TriggerRef {
        kind: TriggerKind::Manual,
        id: format!("manual-{}", now_epoch()),
        name: "smoke-test".into(),
    };
    let inv = Invocation::now(&deps.config, true);
    let mut report = scheduled(deps, trigger, inv).await;
    report.finished_at = rfc3339(now_epoch());
    report
}

/// The freshness function's scheduled run: check, judge, and record known-good when all passed.
pub async fn scheduled(deps: &Deps, trigger: TriggerRef, inv: Invocation) -> Report {
    // The known-good record is read with the checks (a dry run records nothing, so reads none).
    let (findings, known_good) = tokio::join!(
        freshness::run(&deps.aws, &deps.config, now_epoch()),
        read_known_good_ahead(deps, inv)
    );
    let mut r = Report::new(trigger, Playbook::SmokeTest);
    judge(&findings, &mut r, &deps.config);
    r.applicable_playbooks = findings.applicable_playbooks();
    r.checks = findings.checks.clone();
    if r.outcome == Outcome::Healthy && !inv.dry_run {
        note_known_good(deps, &findings, &mut r, known_good).await;
    }
    r
}

/// The collector's known-good record as stored; `None` in a dry run or when the read failed
/// (recording reads it then).
async fn read_known_good_ahead(
    deps: &Deps,
    inv: Invocation,
) -> Option<Option<Versioned<KnownGood>>> {
    if inv.dry_run {
        return None;
    }
    let ledger = deps.ledger();
    let key = known_good_key(
        &ledger,
        &deps.config.cluster,
        &deps.config.collector_service,
    );
    ledger.get::<KnownGood>(&key).await.ok()
}

/// Outcome, reason and next steps from the findings: a failed check escalates; a check that could
/// not run (and none failed) is Autoheal's own failure.
fn judge(findings: &freshness::Findings, r: &mut Report, cfg: &Config) {
    let failing = findings.failing_checks_names();
    if failing.is_empty() {
        let rolling = findings
            .check(freshness::ROLLOUT)
            .is_some_and(|c| c.status == CheckStatus::Skipped);
        r.conclude(
            Outcome::Healthy,
            if rolling {
                "all checks passed; a collector rollout is in progress"
            } else {
                "all checks passed"
            },
        );
        return;
    }
    let count = |status| {
        findings
            .checks
            .iter()
            .filter(|c| c.status == status)
            .count()
    };
    let (fails, errors) = (count(CheckStatus::Fail), count(CheckStatus::Error));
    let outcome = if fails > 0 {
        Outcome::Escalated
    } else {
        Outcome::Failed
    };
    r.conclude(outcome, lead_reason(findings, &failing));
    for p in findings.applicable_playbooks() {
        r.step(next_step_for(p, cfg));
    }
    if errors > 0 {
        r.step(format!(
            "{errors} check(s) could not run (status error): check Autoheal's IAM permissions and the AWS API health, then re-run: {}",
            autoheal_cli(cfg, "smoke-test --text")
        ));
    }
}

/// Lead with the failure that matters most to the on-call engineer, not the first listed.
fn lead_reason(findings: &freshness::Findings, failing: &[&str]) -> String {
    let lead = freshness::PRIORITY
        .iter()
        .filter_map(|n| findings.check(n))
        .find(|c| c.status == CheckStatus::Fail)
        .or_else(|| {
            findings
                .checks
                .iter()
                .find(|c| c.status == CheckStatus::Error)
        });
    match lead {
        Some(c) if failing.len() == 1 => c.detail.clone(),
        Some(c) => {
            let others: Vec<&str> = failing.iter().copied().filter(|n| *n != c.name).collect();
            format!(
                "{} (+{} more: {})",
                c.detail,
                others.len(),
                others.join(", ")
            )
        }
        None => "checks failed".to_string(),
    }
}

/// Everything passed, and the revision has proven itself: it is what a rollback returns to
/// (RUNBOOK §3). A check that passes during a rollout proves nothing about the new revision (old
/// tasks may still be the ones writing), so nothing is recorded then.
async fn note_known_good(
    deps: &Deps,
    findings: &freshness::Findings,
    r: &mut Report,
    read: Option<Option<Versioned<KnownGood>>>,
) {
    let cfg = &deps.config;
    let Some(facts) = &findings.collector else {
        return;
    };
    let ledger = deps.ledger();
    let record = links::ledger_object(
        cfg,
        &known_good_key(&ledger, &cfg.cluster, &cfg.collector_service),
    );
    let settle = cfg.known_good_settle_minutes as i64 * 60;
    if let Err(why) = proven(facts, findings.newest_snapshot_at, now_epoch(), settle) {
        r.checks
            .push(Check::skipped("known_good_recorded", why).with_link(record));
        return;
    }
    let td = &facts.primary_task_definition;
    let kg = KnownGood {
        service: cfg.collector_service.clone(),
        task_definition_arn: td.clone(),
        image: None,
        recorded_at: now_epoch(),
        recorded_by: r.trigger.id.clone(),
    };
    match record_known_good(&ledger, &cfg.cluster, &kg, read).await {
        Ok(true) => r.checks.push(
            Check::pass(
                "known_good_recorded",
                format!(
                    "{} is now the known-good revision of {}",
                    short_td(td),
                    cfg.collector_service
                ),
            )
            .with_link(record),
        ),
        Ok(false) => {}
        Err(e) => r
            .checks
            .push(Check::error("known_good_recorded", e).with_link(record)),
    }
}

/// A revision is proven good when its deployment is COMPLETED, has been the service's only
/// deployment for the settle period, and snapshots were written after it completed. `Err` says
/// which of these is not (yet) true.
pub fn proven(
    d: &freshness::DeploymentFacts,
    newest_snapshot_at: Option<i64>,
    now: i64,
    settle: i64,
) -> Result<(), String> {
    let rev = short_td(&d.primary_task_definition);
    if d.deployments != 1 || !d.completed || d.task_definition != d.primary_task_definition {
        return Err(format!(
            "not recorded: {rev} is not the only completed deployment ({} deployment(s), rollout {})",
            d.deployments,
            if d.completed { "completed" } else { "not completed" }
        ));
    }
    let Some(done) = d.changed_at else {
        return Err(format!("not recorded: when {rev} completed is unknown"));
    };
    if now - done < settle {
        return Err(format!(
            "not recorded yet: {rev} completed {} ago; it must run alone for {} first",
            freshness::age_text(now - done),
            freshness::age_text(settle)
        ));
    }
    match newest_snapshot_at {
        Some(t) if t > done => Ok(()),
        _ => Err(format!(
            "not recorded: no snapshot seen that {rev} wrote after it completed at {}",
            rfc3339(done)
        )),
    }
}

fn next_step_for(p: Playbook, cfg: &Config) -> String {
    let how = match p {
        Playbook::NoNewSnapshots => format!("collector not producing: check service health and running count, auth/API errors in {}, Twitch secrets, and S3_BUCKET/S3_PREFIX in the task definition", cfg.collector_log_group),
        Playbook::AnalysisFailure => format!("analysis output is stale: check the {} logs (it exits 0 on failure), confirm fresh inputs, then start one manual run: {}", cfg.analysis_log_group, autoheal_cli(cfg, "run analysis")),
        Playbook::Schedules => "schedule targets are pinned to an old task-definition revision: re-run create-schedules.sh (or put-targets with the newest revision)".to_string(),
        Playbook::Rollback => format!("the deployment itself looks broken: identify the current revisions and image tags and consider rolling back to the last known-good revision: {}", autoheal_cli(cfg, "rollback --dry-run --text")),
        _ => "see the runbook".to_string(),
    };
    format!("{} {}: {how}", p.runbook_section(), p.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::freshness::DeploymentFacts;

    fn facts(deployments: usize, completed: bool, changed_at: i64) -> DeploymentFacts {
        DeploymentFacts {
            task_definition: "arn:x:task-definition/vieweratlas-collector:8".into(),
            primary_id: "ecs-svc/8".into(),
            primary_task_definition: "arn:x:task-definition/vieweratlas-collector:8".into(),
            completed,
            changed_at: Some(changed_at),
            deployments,
        }
    }

    #[test]
    fn a_revision_in_a_rollout_is_never_proven() {
        // Revision 8 is rolling out while revision 7's tasks still write snapshots.
        let r = proven(&facts(2, false, 1_000), Some(9_000), 9_000, 1_800);
        assert!(r.unwrap_err().contains("not the only completed deployment"));
    }

    #[test]
    fn a_completed_revision_must_settle_and_write_after_completing() {
        let settle = 1_800;
        assert!(proven(&facts(1, true, 1_000), Some(2_000), 2_000, settle)
            .unwrap_err()
            .contains("must run alone"));
        assert!(proven(&facts(1, true, 1_000), Some(900), 3_000, settle)
            .unwrap_err()
            .contains("no snapshot"));
        assert_eq!(
            proven(&facts(1, true, 1_000), Some(2_900), 3_000, settle),
            Ok(())
        );
    }
}
