//! The alarm responder: RUNBOOK §2 triage for every collector alarm, then playbook A (no new
//! snapshots) or B (channel discovery fails), acting only where a redeploy can help, and handing
//! deploy-related alarms to the rollback (RUNBOOK §3).
//!
//! Stages: the alarm must still be firing ([`handle`]), [`triage`] reads the evidence, the Twitch
//! token is checked, [`decide`] judges, and the plan is carried out through the guard.

mod decide;
mod triage;

use crate::clock::now_epoch;
use crate::deps::Deps;
use crate::deps::Invocation;
use crate::intake::AlarmSignal;
use crate::playbooks::rollback::{self, Request};
use crate::probes::service::{alarm_live_state, AlarmLive};
use crate::probes::twitch::{self, TokenCheck};
use crate::report::{Check, CheckStatus, Outcome, Playbook, Report, TriggerRef};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::guard::Guard;
use crate::safety::settle::settle;

use decide::{decide, Plan};
use triage::{triage, triage_checks};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    Unavailable,
    SnapshotStalled,
    ErrorSpike,
    Other,
}

pub fn alarm_kind(name: &str) -> AlarmKind {
    let n = name.to_ascii_lowercase();
    if n.contains("unavailable") {
        AlarmKind::Unavailable
    } else if n.contains("snapshot-stalled") || n.contains("snapshotstalled") {
        AlarmKind::SnapshotStalled
    } else if n.contains("error-spike") || n.contains("errorspike") {
        AlarmKind::ErrorSpike
    } else {
        AlarmKind::Other
    }
}

pub async fn handle(
    deps: &Deps,
    alarm: &AlarmSignal,
    trigger: TriggerRef,
    inv: Invocation,
) -> Report {
    let now = now_epoch();
    let kind = alarm_kind(&alarm.name);
    let playbook = match kind {
        AlarmKind::ErrorSpike => Playbook::ChannelDiscovery,
        AlarmKind::Other => Playbook::None,
        AlarmKind::Unavailable | AlarmKind::SnapshotStalled => Playbook::NoNewSnapshots,
    };
    if kind == AlarmKind::Other {
        return Report::unrelated(
            trigger,
            format!(
                "alarm {} is not one of the ViewerAtlas collector alarms",
                alarm.name
            ),
        );
    }
    let mut r = Report::new(trigger.clone(), playbook);
    // Never act on a stale or resolved signal: the event may be old or redelivered. The live
    // state and the triage are independent reads, asked together (the alarm's answer arrives with
    // the evidence, not one round trip before it); for a resolved alarm the evidence goes unused.
    // The guard's pause record is read with them too, whatever the plan turns out to be.
    let guard = Guard::for_run(deps, trigger.clone(), inv);
    let (live, t, ()) = tokio::join!(
        alarm_live_state(&deps.aws, &alarm.name),
        triage(deps, now),
        guard.read_ahead()
    );
    if !still_firing(live, alarm, &mut r) {
        return r;
    }
    triage_checks(&t, now, &mut r);
    let token = twitch::check_configured(deps).await;
    r.checks.push(token_check(token.as_ref()));
    let alarm_at = alarm.changed_at.unwrap_or(now);
    let (playbook, plan) = decide(kind, &t, token.as_ref(), alarm_at, &deps.config);
    r.playbook = playbook;
    // The cause leads (it is what the subject line shows on a phone); the alarm follows.
    let tag = format!("({} in ALARM)", alarm.name);
    match plan {
        Plan::Escalate { why, steps } => {
            r.next_steps = steps;
            r.concluded(Outcome::Escalated, format!("{why} {tag}"))
        }
        Plan::Rollback { why } => {
            let req = Request {
                service: deps.config.collector_service.clone(),
                to: None,
                change_id: format!("alarm:{}", trigger.id),
                why: format!("{why} {tag}"),
                from_alarm: true,
                operator: None,
                alarm: Some(alarm.name.clone()),
                deployment: None,
            };
            Box::pin(rollback::roll_back(deps, req, r, inv)).await
        }
        Plan::Redeploy { why } => {
            redeploy(
                deps,
                &guard,
                alarm,
                playbook,
                &format!("{why} {tag}"),
                &mut r,
            )
            .await;
            r
        }
    }
}

/// `false` when the run stops here (resolved: ignored; unverifiable: failed, and a human hears
/// the check broke).
fn still_firing(live: Result<(), AlarmLive>, alarm: &AlarmSignal, r: &mut Report) -> bool {
    match live {
        Ok(()) => true,
        Err(AlarmLive::NotFiring(resolved)) => {
            r.checks
                .push(Check::pass("alarm_live_state", resolved.clone()));
            r.conclude(
                Outcome::Ignored,
                format!("{} was delivered as ALARM, but {resolved}", alarm.name),
            );
            false
        }
        Err(AlarmLive::Unknown(why)) => {
            r.checks.push(Check::error("alarm_live_state", why.clone()));
            r.step(format!(
                "Check {} in CloudWatch and follow RUNBOOK §2 by hand",
                alarm.name
            ));
            r.conclude(
                Outcome::Failed,
                format!(
                    "{} is in ALARM per the event, but its live state could not be read: {why}",
                    alarm.name
                ),
            );
            false
        }
    }
}

fn token_check(token: Option<&TokenCheck>) -> Check {
    match token {
        None => Check::skipped(
            "twitch_token",
            "token check off (AUTOHEAL_TWITCH_VALIDATE_URL is empty); judged from the logs",
        ),
        Some(c @ TokenCheck::Valid { .. }) => Check::pass("twitch_token", c.summary()),
        Some(c @ (TokenCheck::Rejected { .. } | TokenCheck::Unusable(_))) => {
            Check::fail("twitch_token", c.summary())
        }
        Some(c @ TokenCheck::Unknown(_)) => Check::error("twitch_token", c.summary()),
    }
}

/// One guarded forced deployment of the collector; the evidence is every check that did not pass.
async fn redeploy(
    deps: &Deps,
    guard: &Guard<'_>,
    alarm: &AlarmSignal,
    playbook: Playbook,
    why: &str,
    r: &mut Report,
) {
    let cfg = &deps.config;
    let intent = Intent {
        playbook,
        change_id: r.trigger.id.clone(),
        detail: format!("force a new deployment of {}", cfg.collector_service),
        evidence: r
            .checks
            .iter()
            .filter(|c| c.status != CheckStatus::Pass)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect(),
        alarm_response: true,
    };
    let spec = ActionSpec::ForceNewDeployment {
        cluster: cfg.cluster.clone(),
        service: cfg.collector_service.clone(),
        alarm: Some(alarm.name.clone()),
    };
    let out = guard.act(&intent, &spec).await;
    settle(r, vec![out], why, cfg);
    if r.outcome == Outcome::Remediated {
        r.step("Verification is the next scheduled freshness check: it must see new snapshots within the freshness window");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_kinds_follow_the_viewer_atlas_names() {
        assert_eq!(
            alarm_kind("ViewerAtlas-ECSCollector-Unavailable"),
            AlarmKind::Unavailable
        );
        assert_eq!(
            alarm_kind("ViewerAtlas-Collector-Snapshot-Stalled"),
            AlarmKind::SnapshotStalled
        );
        assert_eq!(
            alarm_kind("ViewerAtlas-Collector-Error-Spike"),
            AlarmKind::ErrorSpike
        );
        assert_eq!(alarm_kind("Billing"), AlarmKind::Other);
    }
}
