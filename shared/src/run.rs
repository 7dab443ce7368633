//! One run: event in, playbook chosen, report out (published, logged, measured).
//!
//! The Lambda functions and `autoheal handle` both come through [`handle`], so a replayed event does
//! exactly what the function would have done.

use serde_json::Value;

use crate::aws::Aws;
use crate::clock::{now_epoch, rfc3339};
use crate::config::Config;
use crate::freshness;
use crate::intake::{self, AlarmState, IntakeError, Trigger};
use crate::publish::{self, PublishError};
use crate::report::{Outcome, Playbook, Report, TriggerKind, TriggerRef};

/// What every run borrows: validated settings and the SDK clients. Built once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub aws: Aws,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Reads and checks only: no mutation, no publish (CONTRACT §2). Also set by AUTOHEAL_DRY_RUN.
    pub dry_run: bool,
}

/// Which function received the event; each accepts only its own trigger kinds. The CLI is `Any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Any,
    FreshnessCheck,
    RotationRedeploy,
    AlarmResponder,
    DeploymentWatch,
    TaskWatch,
}

impl Function {
    fn accepts(self, t: &Trigger) -> bool {
        match self {
            Function::Any => true,
            Function::FreshnessCheck => matches!(t, Trigger::Schedule(_)),
            Function::RotationRedeploy => matches!(t, Trigger::SecretChange(_)),
            // Its own reports may arrive on the alerts topic: accepted, and ignored.
            Function::AlarmResponder => matches!(t, Trigger::Alarm(_) | Trigger::OwnReport { .. }),
            Function::DeploymentWatch => matches!(t, Trigger::Deployment(_)),
            Function::TaskWatch => matches!(t, Trigger::TaskChange(_)),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Function::Any => "autoheal",
            Function::FreshnessCheck => "freshness-check",
            Function::RotationRedeploy => "rotation-redeploy",
            Function::AlarmResponder => "alarm-responder",
            Function::DeploymentWatch => "deployment-watch",
            Function::TaskWatch => "task-watch",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The event cannot be handled (exit 2): nothing was read or changed.
    #[error(transparent)]
    Invalid(#[from] IntakeError),
    #[error("{function} does not handle {kind} events (it was sent trigger {id})")]
    WrongFunction {
        function: &'static str,
        kind: String,
        id: String,
    },
    /// The run finished but its report could not be delivered (exit 1; Lambda retries).
    #[error("{source}")]
    Publish {
        report: Box<Report>,
        #[source]
        source: PublishError,
    },
}

impl RunError {
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, RunError::Invalid(_) | RunError::WrongFunction { .. })
    }
}

pub async fn handle(
    deps: &Deps,
    function: Function,
    event: &Value,
    opts: RunOptions,
) -> Result<Report, RunError> {
    let trigger = intake::parse(event)?;
    if !function.accepts(&trigger) {
        let r = trigger.reference();
        return Err(RunError::WrongFunction {
            function: function.name(),
            kind: serde_json::to_value(r.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            id: r.id,
        });
    }
    let dry_run = opts.dry_run || deps.config.dry_run;
    let tref = trigger.reference();
    tracing::info!(trigger_kind = ?tref.kind, trigger_id = %tref.id, trigger_name = %tref.name, dry_run, "run started");
    let report = dispatch(deps, &trigger, dry_run).await;
    finish(
        deps,
        report,
        dry_run,
        !matches!(trigger, Trigger::OwnReport { .. }),
    )
    .await
}

/// Runs the smoke test on demand (`autoheal smoke-test`): nothing is published.
pub async fn smoke_test(deps: &Deps) -> Report {
    let trigger = TriggerRef {
        kind: TriggerKind::Manual,
        id: format!("manual-{}", now_epoch()),
        name: "smoke-test".into(),
    };
    // A human's smoke test reads only: it does not move the known-good marker.
    let mut report = freshness_report(deps, trigger, true).await;
    report.finished_at = rfc3339(now_epoch());
    report
}

async fn dispatch(deps: &Deps, trigger: &Trigger, dry_run: bool) -> Report {
    let cfg = &deps.config;
    let tref = trigger.reference();
    // Each playbook's future is boxed: together they would make one very large future, and tokio's
    // worker threads (and test threads) have 2 MiB stacks.
    match trigger {
        Trigger::Schedule(s) if s.rule == cfg.daily_rule => Box::pin(crate::alarms::check(deps, tref, dry_run)).await,
        Trigger::Schedule(_) => Box::pin(freshness_report(deps, tref, dry_run)).await,
        Trigger::OwnReport { subject, .. } => ignored(
            trigger,
            Playbook::None,
            format!(
                "this is Autoheal's own report ({}) delivered back by the alerts topic; never acted on",
                subject.as_deref().unwrap_or("no subject")
            ),
        ),
        Trigger::Alarm(a) if a.state != AlarmState::Alarm => ignored(
            trigger,
            Playbook::None,
            format!("alarm {} is {}, not ALARM: nothing to heal", a.name, a.state.name()),
        ),
        Trigger::Alarm(a) => Box::pin(crate::responder::handle(deps, a, tref, dry_run)).await,
        Trigger::SecretChange(s) => Box::pin(crate::rotation::handle(deps, s, tref, dry_run)).await,
        Trigger::TaskChange(t) => Box::pin(crate::tasks::handle(deps, t, tref, dry_run)).await,
        Trigger::Deployment(d) => Box::pin(crate::rollback::handle_deployment(deps, d, tref, dry_run)).await,
    }
}

fn ignored(trigger: &Trigger, playbook: Playbook, reason: String) -> Report {
    let mut r = Report::new(trigger.reference(), playbook);
    r.outcome = Outcome::Ignored;
    r.reason = reason;
    r
}

async fn freshness_report(deps: &Deps, trigger: TriggerRef, dry_run: bool) -> Report {
    let now = now_epoch();
    let cfg = &deps.config;
    let ledger = crate::ledger::Ledger::new(deps.aws.s3().clone(), &cfg.bucket, &cfg.ledger_prefix);
    // The known-good record is read together with the checks (one round trip, not one more after
    // them); it is written only when every check passed. A dry run reads no ledger.
    let known = async {
        if dry_run {
            None
        } else {
            Some(
                crate::rollback::read_known_good_versioned(
                    &ledger,
                    &cfg.cluster,
                    &cfg.collector_service,
                )
                .await,
            )
        }
    };
    let (findings, known) = tokio::join!(freshness::run(&deps.aws, cfg, now), known);
    let mut r = Report::new(trigger, Playbook::SmokeTest);
    let failing: Vec<&str> = findings.failing_checks_names();
    let errors = findings
        .checks
        .iter()
        .filter(|c| c.status == crate::report::CheckStatus::Error)
        .count();
    let fails = findings
        .checks
        .iter()
        .filter(|c| c.status == crate::report::CheckStatus::Fail)
        .count();
    if failing.is_empty() {
        r.outcome = Outcome::Healthy;
        r.reason = match findings.check(freshness::ROLLOUT) {
            Some(c) if c.status == crate::report::CheckStatus::Skipped => {
                "all checks passed; a collector rollout is in progress".to_string()
            }
            _ => "all checks passed".to_string(),
        };
    } else {
        r.outcome = if fails > 0 {
            Outcome::Escalated
        } else {
            Outcome::Failed
        };
        // Lead with the failure that matters most to the on-call engineer, not the first listed.
        let lead = freshness::PRIORITY
            .iter()
            .filter_map(|n| findings.check(n))
            .find(|c| c.status == crate::report::CheckStatus::Fail)
            .or_else(|| {
                findings
                    .checks
                    .iter()
                    .find(|c| c.status == crate::report::CheckStatus::Error)
            });
        r.reason = match lead {
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
        };
        for p in findings.applicable_playbooks() {
            r.next_steps.push(next_step_for(p));
        }
        if errors > 0 {
            r.next_steps.push(format!(
                "{errors} check(s) could not run (status error): check Autoheal's IAM permissions and the AWS API health, then re-run `autoheal smoke-test`"
            ));
        }
    }
    r.applicable_playbooks = findings.applicable_playbooks();
    r.checks = findings.checks.clone();
    if r.outcome == Outcome::Healthy {
        if let Some(known) = known {
            record_known_good(deps, &ledger, &findings, known, &mut r).await;
        }
    }
    r
}

/// Everything passed: what runs now is the revision a rollback returns to (RUNBOOK §3). `known` is
/// the record as read with the checks.
async fn record_known_good(
    deps: &Deps,
    ledger: &crate::ledger::Ledger,
    findings: &freshness::Findings,
    known: Result<Option<crate::ledger::Versioned<crate::rollback::KnownGood>>, String>,
    r: &mut Report,
) {
    let cfg = &deps.config;
    let Some(td) = &findings.collector_task_definition else {
        return;
    };
    let kg = crate::rollback::KnownGood {
        service: cfg.collector_service.clone(),
        task_definition_arn: td.clone(),
        image: None,
        recorded_at: now_epoch(),
        recorded_by: r.trigger.id.clone(),
    };
    let recorded = match known {
        Ok(current) => {
            crate::rollback::record_known_good_over(ledger, &cfg.cluster, &kg, current).await
        }
        Err(e) => Err(e),
    };
    match recorded {
        Ok(true) => r.checks.push(crate::report::Check::pass(
            "known_good_recorded",
            format!(
                "{} is now the known-good revision of {}",
                freshness::short_td(td),
                cfg.collector_service
            ),
        )),
        Ok(false) => {}
        Err(e) => r
            .checks
            .push(crate::report::Check::error("known_good_recorded", e)),
    }
}

fn next_step_for(p: Playbook) -> String {
    let how = match p {
        Playbook::NoNewSnapshots => "collector not producing: check service health and running count, auth/API errors in /ecs/vieweratlas-collector, Twitch secrets, and S3_BUCKET/S3_PREFIX in the task definition",
        Playbook::AnalysisFailure => "analysis output is stale: check /ecs/vieweratlas-analysis logs (it exits 0 on failure), confirm fresh inputs, trigger one manual run",
        Playbook::Schedules => "schedule targets are pinned to an old task-definition revision: re-run create-schedules.sh (or put-targets with the newest revision)",
        Playbook::Rollback => "the deployment itself looks broken: identify the current revisions and image tags and consider rolling back to the last known-good revision",
        _ => "see the runbook",
    };
    format!("{} {}: {how}", p.runbook_section(), p.name())
}

/// RUNBOOK §7: remediations open an incident; the smoke test, an analysis run and a VOD run that
/// pass after it close it with one report of what was verified.
async fn close_incident(deps: &Deps, report: &mut Report) {
    let cfg = &deps.config;
    let ledger = crate::ledger::Ledger::new(deps.aws.s3().clone(), &cfg.bucket, &cfg.ledger_prefix);
    match crate::incident::note(&ledger, cfg, report, now_epoch()).await {
        Ok(Some(closing)) => {
            crate::telemetry::emit_metrics(&closing);
            match publish::publish(deps.aws.sns(), &cfg.topic_arn, &closing).await {
                Ok(id) => tracing::info!(message_id = %id, "incident closed and reported"),
                Err(e) => {
                    tracing::error!(error = %e, "incident-closed report could not be published")
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "post-incident checklist could not be updated");
            report.checks.push(crate::report::Check::error(
                "post_incident_checklist",
                e.to_string(),
            ));
        }
    }
}

/// Finishes a run a human started outside `handle` (e.g. `autoheal rollback`): logged, measured
/// and published like any other.
pub async fn finish_manual(deps: &Deps, report: Report, dry_run: bool) -> Result<Report, RunError> {
    finish(deps, report, dry_run, true).await
}

async fn finish(
    deps: &Deps,
    mut report: Report,
    dry_run: bool,
    may_publish: bool,
) -> Result<Report, RunError> {
    report.finished_at = rfc3339(now_epoch());
    report.dry_run = dry_run;
    crate::telemetry::emit_metrics(&report);
    tracing::info!(
        outcome = report.outcome.name(),
        playbook = report.playbook.name(),
        reason = %report.reason,
        failed_checks = report.failing_checks().count(),
        "run finished"
    );
    // Playbook E's report doubles as the SNS test message, so it always goes out.
    if !dry_run && may_publish {
        close_incident(deps, &mut report).await;
    }
    let wanted = report.outcome != Outcome::Healthy
        || deps.config.publish_healthy
        || report.playbook == Playbook::AlarmGap;
    if dry_run || !may_publish || !wanted {
        return Ok(report);
    }
    match publish::publish(deps.aws.sns(), &deps.config.topic_arn, &report).await {
        Ok(id) => {
            tracing::info!(message_id = %id, "report published");
            Ok(report)
        }
        Err(e) => {
            tracing::error!(error = %e, "report could not be published");
            Err(RunError::Publish {
                report: Box::new(report),
                source: e,
            })
        }
    }
}
