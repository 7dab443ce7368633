//! One run: event in, playbook chosen, report out (published, logged, measured). Dispatch only: the
//! playbooks live in `playbooks/`, one file each.
//!
//! The Lambda functions and `autoheal handle` both come through [`handle`], so a replayed event does
//! exactly what the function would have done.

mod notify;

use serde_json::Value;

use crate::clock::{now_epoch, rfc3339};
use crate::deps::Deps;
use crate::intake::{self, AlarmState, IntakeError, Trigger};
use crate::playbooks::{
    alarm_gap, incident, responder, rollback, rotation, smoke_test, task_failure,
};
use crate::report::publish::{self, PublishError};
use crate::report::{links, telemetry, Report};

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

/// The runbook's smoke test on demand (`autoheal smoke-test`): nothing is published.
pub async fn smoke_test(deps: &Deps) -> Report {
    let mut report = smoke_test::on_demand(deps).await;
    links::annotate(&mut report, &deps.config, now_epoch());
    report
}

async fn dispatch(deps: &Deps, trigger: &Trigger, dry_run: bool) -> Report {
    let cfg = &deps.config;
    let tref = trigger.reference();
    // Each playbook's future is boxed: together they would make one very large future, and tokio's
    // worker threads (and test threads) have 2 MiB stacks.
    match trigger {
        Trigger::Schedule(s) if s.rule == cfg.daily_rule => {
            Box::pin(alarm_gap::check(deps, tref, dry_run)).await
        }
        Trigger::Schedule(_) => Box::pin(smoke_test::scheduled(deps, tref, dry_run)).await,
        Trigger::OwnReport { subject, .. } => Report::unrelated(
            tref,
            format!(
                "this is Autoheal's own report ({}) delivered back by the alerts topic; never acted on",
                subject.as_deref().unwrap_or("no subject")
            ),
        ),
        Trigger::Alarm(a) if a.state != AlarmState::Alarm => Report::unrelated(
            tref,
            format!("alarm {} is {}, not ALARM: nothing to heal", a.name, a.state.name()),
        ),
        Trigger::Alarm(a) => Box::pin(responder::handle(deps, a, tref, dry_run)).await,
        Trigger::SecretChange(s) => Box::pin(rotation::handle(deps, s, tref, dry_run)).await,
        Trigger::TaskChange(t) => Box::pin(task_failure::handle(deps, t, tref, dry_run)).await,
        Trigger::Deployment(d) => {
            Box::pin(rollback::handle_deployment(deps, d, tref, dry_run)).await
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
    links::annotate(&mut report, &deps.config, now_epoch());
    telemetry::emit_metrics(&report);
    tracing::info!(
        outcome = report.outcome.name(),
        playbook = report.playbook.name(),
        reason = %report.reason,
        failed_checks = report.failing_checks().count(),
        "run finished"
    );
    if dry_run || !may_publish {
        return Ok(report);
    }
    follow_up_incident(deps, &mut report).await;
    match notify::deliver(deps, &mut report).await {
        Ok(()) => Ok(report),
        Err(e) => {
            tracing::error!(error = %e, "report could not be published");
            Err(RunError::Publish {
                report: Box::new(report),
                source: e,
            })
        }
    }
}

/// RUNBOOK §7: the run's result is evidence for the post-incident checklist; when it completes the
/// checklist, the closing report goes out too.
async fn follow_up_incident(deps: &Deps, report: &mut Report) {
    match incident::note(&deps.ledger(), &deps.config, report, now_epoch()).await {
        Ok(Some(mut closing)) => {
            links::annotate(&mut closing, &deps.config, now_epoch());
            telemetry::emit_metrics(&closing);
            let format = publish::Format {
                chatbot: deps.config.chatbot_format,
            };
            match publish::publish(deps.aws.sns(), &deps.config.topic_arn, &closing, format).await {
                Ok(id) => tracing::info!(message_id = %id, "incident closed and reported"),
                Err(e) => {
                    tracing::error!(error = %e, "incident-closed report could not be published")
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "post-incident checklist could not be updated");
            let record =
                links::ledger_object(&deps.config, &deps.ledger().key("incidents", "open"));
            report.checks.push(
                crate::report::Check::error("post_incident_checklist", e.to_string())
                    .with_link(record),
            );
        }
    }
}
