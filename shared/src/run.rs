//! One run: event in, playbook chosen, report out (published, logged, measured). Dispatch only: the
//! playbooks live in `playbooks/`, one file each.
//!
//! The Lambda functions and `autoheal handle` both come through [`handle`], so a replayed event does
//! exactly what the function would have done.

mod notify;

use serde_json::Value;

use crate::aws::caller;
use crate::clock::{now_epoch, rfc3339};
use crate::deps::{Deps, Invocation};
use crate::intake::{self, AlarmState, IntakeError, Trigger};
use crate::playbooks::incident::Incident;
use crate::playbooks::{
    alarm_gap, deferred, incident, responder, rollback, rotation, smoke_test, task_failure,
};
use crate::report::conversation::{self, Conversation};
use crate::report::publish::{self, PublishError};
use crate::report::{links, telemetry, Action, ActionStatus, Check, Outcome, Report};
use crate::report::{Playbook, TriggerRef};
use crate::safety::claims::{self, Claim};
use crate::safety::deliveries::{self, Delivery, Earlier};
use crate::safety::ledger::Versioned;
use crate::safety::pending;

#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Reads and checks only: no mutation, no publish (CONTRACT §2). Also set by AUTOHEAL_DRY_RUN.
    pub dry_run: bool,
    /// When the run is stopped for certain, epoch seconds (a Lambda invocation's deadline). Without
    /// one the run counts on `AUTOHEAL_CLAIM_LEASE_SECONDS` from its start.
    pub deadline: Option<i64>,
}

impl RunOptions {
    fn invocation(self, deps: &Deps) -> Invocation {
        let dry_run = self.dry_run || deps.config.dry_run;
        match self.deadline {
            Some(deadline) => Invocation { dry_run, deadline },
            None => Invocation::now(&deps.config, dry_run),
        }
    }
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
    /// The function that receives this trigger in AWS: itself, or for `Any` (the CLI's `handle`)
    /// the one function that accepts it. Its name goes into the run's user agent (`caller`).
    fn serving(self, t: &Trigger) -> Function {
        const FUNCTIONS: [Function; 5] = [
            Function::FreshnessCheck,
            Function::RotationRedeploy,
            Function::AlarmResponder,
            Function::DeploymentWatch,
            Function::TaskWatch,
        ];
        match self {
            Function::Any => FUNCTIONS.into_iter().find(|f| f.accepts(t)).unwrap_or(self),
            f => f,
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
    /// The run reported, but nothing final was decided and another delivery may succeed
    /// (exit 1; Lambda delivers the event again after about 1 and 3 minutes).
    #[error("{}: {}; the event should be delivered again", .report.outcome.name(), .report.reason)]
    Retry { report: Box<Report> },
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
    let inv = opts.invocation(deps);
    let tref = trigger.reference();
    tracing::info!(trigger_kind = ?tref.kind, trigger_id = %tref.id, trigger_name = %tref.name, dry_run = inv.dry_run, "run started");
    let may_publish = !matches!(trigger, Trigger::OwnReport { .. });
    let run = async {
        // The freshness schedule also carries out what cooldowns deferred; each has its report.
        // The pending queue is read with the playbook's own reads (it does not depend on them).
        let sweeps = matches!(&trigger, Trigger::Schedule(s) if s.rule != deps.config.daily_rule);
        let ahead = sweeps && !inv.dry_run && may_publish;
        let (report, queue, mut ahead) = tokio::join!(
            dispatch(deps, &trigger, inv),
            async {
                match sweeps {
                    true => Some(pending::load(&deps.ledger()).await),
                    false => None,
                }
            },
            Box::pin(Ahead::read(deps, &tref, ahead))
        );
        if let Some(queue) = queue {
            for r in Box::pin(deferred::sweep(deps, inv, queue)).await {
                // What a deferred action wrote may be what was read ahead: read it again.
                ahead = Ahead::default();
                if let Err(e) = Box::pin(finish(deps, r, inv, true, Ahead::default())).await {
                    tracing::error!(error = %e, "a deferred action's report could not be delivered");
                }
            }
        }
        // Boxed, like the playbooks (see `dispatch`): its reads and writes run together.
        Box::pin(finish(deps, report, inv, may_publish, ahead)).await
    };
    // Every AWS call of the run says which function made it (CloudTrail's userAgent).
    caller::scope(function.serving(&trigger).name(), run).await
}

/// The ledger records a scheduled check's report is finished with (the event's deliveries, the
/// open incident, the check's conversation), read with the checks: none depends on them. Each
/// `None` is read when finishing; a record written in between only costs a retry of the
/// conditional write made from it.
#[derive(Default)]
struct Ahead {
    deliveries: Option<Option<Versioned<Delivery>>>,
    incident: Option<Option<Versioned<Incident>>>,
    conversation: Option<(String, Option<Versioned<Conversation>>)>,
}

impl Ahead {
    async fn read(deps: &Deps, trigger: &TriggerRef, wanted: bool) -> Self {
        if !wanted {
            return Self::default();
        }
        let ledger = deps.ledger();
        let talk = conversation::key_for(trigger, Playbook::SmokeTest, false, &deps.config);
        let key = deliveries::key(&ledger, &trigger.id);
        let (deliveries, incident, conversation) = tokio::join!(
            ledger.get::<Delivery>(&key),
            incident::read(&ledger),
            notify::conversation_read(deps, talk.clone())
        );
        Self {
            deliveries: deliveries.ok(),
            incident: incident.ok(),
            conversation: talk.zip(conversation),
        }
    }
}

/// The runbook's smoke test on demand (`autoheal smoke-test`): nothing is published.
pub async fn smoke_test(deps: &Deps) -> Report {
    let mut report = smoke_test::on_demand(deps).await;
    links::annotate(&mut report, &deps.config, now_epoch());
    report
}

async fn dispatch(deps: &Deps, trigger: &Trigger, inv: Invocation) -> Report {
    let cfg = &deps.config;
    let tref = trigger.reference();
    // Each playbook's future is boxed: together they would make one very large future, and tokio's
    // worker threads (and test threads) have 2 MiB stacks.
    match trigger {
        Trigger::Schedule(s) if s.rule == cfg.daily_rule => {
            Box::pin(alarm_gap::check(deps, tref, inv)).await
        }
        Trigger::Schedule(_) => Box::pin(smoke_test::scheduled(deps, tref, inv)).await,
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
        Trigger::Alarm(a) => Box::pin(responder::handle(deps, a, tref, inv)).await,
        Trigger::SecretChange(s) => Box::pin(rotation::handle(deps, s, tref, inv)).await,
        Trigger::TaskChange(t) => Box::pin(task_failure::handle(deps, t, tref, inv)).await,
        Trigger::Deployment(d) => {
            Box::pin(rollback::handle_deployment(deps, d, tref, inv)).await
        }
    }
}

/// Finishes a run a human started outside `handle` (e.g. `autoheal rollback`): logged, measured
/// and published like any other.
pub async fn finish_manual(deps: &Deps, report: Report, dry_run: bool) -> Result<Report, RunError> {
    let inv = Invocation::now(&deps.config, dry_run);
    Box::pin(finish(deps, report, inv, true, Ahead::default())).await
}

async fn finish(
    deps: &Deps,
    mut report: Report,
    inv: Invocation,
    may_publish: bool,
    ahead: Ahead,
) -> Result<Report, RunError> {
    let dry_run = inv.dry_run;
    let published = !dry_run && may_publish;
    // The incident record and the conversation are read while earlier deliveries are looked up
    // (independent reads; each is written, if at all, on the version read), unless read ahead.
    let reads_incident = published && incident::concerns(&report, &deps.config);
    let talk = notify::conversation_of(&report, &deps.config, published);
    let talk_ahead = ahead
        .conversation
        .filter(|(k, _)| talk.as_ref() == Some(k))
        .map(|(_, read)| read);
    let ((), incident_read, talk) = tokio::join!(
        async {
            if published {
                earlier_deliveries(deps, &mut report, inv, ahead.deliveries).await;
            }
        },
        async {
            match (reads_incident, ahead.incident) {
                (false, _) => None,
                (true, Some(read)) => Some(read),
                (true, None) => incident::read(&deps.ledger()).await.ok(),
            }
        },
        async {
            match talk_ahead {
                Some(read) => Some(read),
                None => notify::conversation_read(deps, talk).await,
            }
        }
    );
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
    follow_up_incident(deps, &mut report, incident_read).await;
    match notify::deliver(deps, &mut report, talk).await {
        Ok(published) => {
            if published {
                mark_reported(deps, &report).await;
            }
            if report.retry {
                return Err(RunError::Retry {
                    report: Box::new(report),
                });
            }
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

/// The actions this report announced were announced: a later delivery of the same change need
/// not send them again. A failure only means a later delivery may report them once more.
async fn mark_reported(deps: &Deps, report: &Report) {
    let ledger = deps.ledger();
    for claim in &report.claims {
        if let Err(e) = claims::mark_reported(&ledger, claim).await {
            tracing::warn!(error = %e, claim = %claim, "claim could not be marked reported");
        }
    }
}

/// What earlier deliveries of this event did belongs in this report: an action whose report never
/// went out (the run that made it died) is announced now; one already announced is stated, so the
/// last report of an event always says what was done.
async fn earlier_deliveries(
    deps: &Deps,
    report: &mut Report,
    inv: Invocation,
    read: Option<Option<Versioned<Delivery>>>,
) {
    let id = &report.trigger.id;
    let found = deliveries::settle_earlier(deps, id, &report.claims, inv.deadline, read).await;
    let found = match found {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "earlier deliveries of this event could not be read");
            return;
        }
    };
    for earlier in found {
        match earlier {
            Earlier::Unannounced { claim, c } => announce(report, claim, &c),
            Earlier::Announced(c) => {
                let mut check = Check::pass(
                    "earlier_delivery",
                    format!(
                        "an earlier delivery of this event made {} on {} at {}: {}",
                        c.action,
                        c.target,
                        rfc3339(c.claimed_at),
                        c.result.as_deref().unwrap_or_default()
                    ),
                );
                check.link = links::for_target(&deps.config, &c.target);
                report.checks.push(check);
            }
        }
    }
}

/// An action an earlier delivery made and never reported becomes this report's news.
fn announce(report: &mut Report, claim: String, c: &Claim) {
    let result = c.result.clone().unwrap_or_default();
    report.actions.push(Action {
        kind: c.action.clone(),
        target: c.target.clone(),
        status: ActionStatus::Done,
        detail: format!(
            "{result} (made by an earlier delivery of this event at {}, whose report was never sent)",
            rfc3339(c.claimed_at)
        ),
        link: None,
        record: None,
        decision_id: None,
    });
    report.claims.push(claim);
    if matches!(report.outcome, Outcome::Healthy | Outcome::Ignored) {
        let why = format!(
            "an earlier delivery of this event acted: {result}; now: {}",
            report.reason
        );
        report.conclude(Outcome::Remediated, why);
    }
}

/// RUNBOOK §7: the run's result is evidence for the post-incident checklist; when it completes the
/// checklist, the closing report goes out too.
/// `read`: the incident record as read ahead (`None`: not read yet).
async fn follow_up_incident(
    deps: &Deps,
    report: &mut Report,
    read: Option<Option<Versioned<Incident>>>,
) {
    let ledger = deps.ledger();
    match incident::note(&ledger, &deps.config, report, now_epoch(), read).await {
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
            report
                .checks
                .push(Check::error("post_incident_checklist", e.to_string()).with_link(record));
        }
    }
}
