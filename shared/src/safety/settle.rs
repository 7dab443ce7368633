//! Turns the guard's verdicts on a run's intended actions into the report's outcome, reason and
//! next steps (CONTRACT §3), the same way for every playbook. The strongest verdict leads: an
//! action made, then planned, then one whose fate is unknown, failed, not attempted, held for a
//! human, deferred, and last a duplicate.

use crate::clock::rfc3339;
use crate::config::Config;
use crate::report::links::autoheal_cli;
use crate::report::{Outcome, Report};
use crate::safety::guard::{describe_hold, describe_verdict, Guarded, Hold, Verdict};

pub fn settle(r: &mut Report, results: Vec<Guarded>, what: &str, cfg: &Config) {
    let verdicts: Vec<Verdict> = results.iter().map(|g| g.verdict.clone()).collect();
    let approvable = approvable(&results);
    r.claims
        .extend(results.iter().filter_map(|g| g.claim.clone()));
    r.actions.extend(results.into_iter().map(|g| g.action));
    r.retry |= verdicts.iter().any(Verdict::worth_a_retry);
    let Some(lead) = verdicts.iter().min_by_key(|v| rank(v)) else {
        return;
    };
    match lead {
        Verdict::Done { result, ledger } => {
            // The mutation's result wins over any later bookkeeping failure.
            r.conclude(Outcome::Remediated, format!("{what}; acted: {result}"));
            if let Some(e) = ledger {
                r.reason
                    .push_str("; the audit ledger could not be updated afterwards");
                r.step(format!("Nothing to redo: the action above was made. Autoheal's ledger could not record it ({e}); the next run on this target reconciles it"));
            }
        }
        Verdict::Planned => r.conclude(
            Outcome::Planned,
            format!("{what}; dry run: the action is planned, nothing was changed"),
        ),
        Verdict::Unknown { error } => {
            r.conclude(
                Outcome::Failed,
                format!("{what}; the action may or may not have been made: {error}"),
            );
            r.step("Do not repeat the action blindly: check the target in the console (its deployments, tasks or state) first. Autoheal reads it back again when the event is retried");
        }
        Verdict::Failed { error, .. } => {
            r.conclude(
                Outcome::Failed,
                format!("{what}; the action failed: {error}"),
            );
            r.step("Autoheal could not make the change (read back: it was not made); if it is still needed, perform the action in the report by hand");
        }
        Verdict::NotAttempted { error } => {
            r.conclude(Outcome::Failed, format!("{what}; not acted: the audit ledger could not be reached, so nothing was changed ({error})"));
            r.step("Nothing was changed. If this event is delivered again (Lambda retries a failed run after about 1 and 3 minutes) Autoheal decides again; otherwise check the ledger bucket and Autoheal's S3 permissions, and see `autoheal decisions` before acting by hand: another delivery may have acted");
        }
        Verdict::Held(h @ Hold::Duplicate { .. }) => r.conclude(
            Outcome::Ignored,
            format!("{what}; {}", describe_hold(h, cfg)),
        ),
        Verdict::Held(h @ Hold::Cooldown { .. }) => r.conclude(
            Outcome::Ignored,
            format!("{what}; held back: {}", describe_hold(h, cfg)),
        ),
        Verdict::Held(h) => {
            r.conclude(
                Outcome::Escalated,
                format!("{what}; not acted: {}", describe_hold(h, cfg)),
            );
            match h {
                Hold::Policy { .. } => r.step("Review the planned action in this report and perform it by hand if it is right"),
                Hold::Paused { .. } => r.step(format!(
                    "Autoheal is paused: perform the action by hand if it is right, or end the pause: {}",
                    autoheal_cli(cfg, "resume")
                )),
                Hold::Blocked { .. } => r.step("Wait for the ECS rollout to finish, then check the service again (RUNBOOK §2)"),
                _ => r.step("Automation has stopped for this target: investigate why the fixes do not hold (RUNBOOK §2)"),
            }
            for id in &approvable {
                r.step(format!(
                    "Or let Autoheal carry out exactly this action now, after a fresh live check: {}",
                    autoheal_cli(cfg, &format!("approve {id}"))
                ));
            }
        }
        Verdict::Deferred { until, .. } => {
            r.conclude(
                Outcome::Deferred,
                format!("{what}; {}", describe_verdict(lead, cfg)),
            );
            r.step(format!("Nothing yet: the first scheduled run after {} carries it out, with a fresh live check (`autoheal status` lists what is pending)", rfc3339(*until)));
        }
    }
}

/// The decisions a human may approve: held by policy (report-only, the allow-list) or a pause, and
/// recorded (an unrecorded one has no id to approve).
fn approvable(results: &[Guarded]) -> Vec<String> {
    results
        .iter()
        .filter(|g| {
            matches!(
                g.verdict,
                Verdict::Held(Hold::Policy { .. } | Hold::Paused { .. })
            )
        })
        .filter_map(|g| g.action.decision_id.clone())
        .collect()
}

/// Which verdict leads the report (lowest first).
fn rank(v: &Verdict) -> u8 {
    match v {
        Verdict::Done { .. } => 0,
        Verdict::Planned => 1,
        Verdict::Unknown { .. } => 2,
        Verdict::Failed { .. } => 3,
        Verdict::NotAttempted { .. } => 4,
        Verdict::Held(Hold::Duplicate { .. }) => 7,
        Verdict::Held(Hold::Cooldown { .. }) => 6,
        Verdict::Held(_) => 5,
        Verdict::Deferred { .. } => 6,
    }
}
