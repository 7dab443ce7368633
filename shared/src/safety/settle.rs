//! Turns the guard's verdicts on a run's intended actions into the report's outcome and reason
//! (CONTRACT §3), the same way for every playbook.

use crate::config::Config;
use crate::report::{Outcome, Report};
use crate::safety::guard::{describe_hold, Guarded, Hold, Verdict};

pub fn settle(r: &mut Report, results: Vec<Guarded>, what: &str, cfg: &Config) {
    let verdicts: Vec<Verdict> = results.iter().map(|g| g.verdict.clone()).collect();
    r.actions.extend(results.into_iter().map(|g| g.action));
    if verdicts.is_empty() {
        return;
    }
    let first_hold = |pred: &dyn Fn(&Hold) -> bool| {
        verdicts.iter().find_map(|v| match v {
            Verdict::Held(h) if pred(h) => Some(h.clone()),
            _ => None,
        })
    };
    if let Some(Verdict::Done { result, ledger }) =
        verdicts.iter().find(|v| matches!(v, Verdict::Done { .. }))
    {
        // The mutation's result wins over any later bookkeeping failure.
        r.outcome = Outcome::Remediated;
        r.reason = format!("{what}; acted: {result}");
        if let Some(e) = ledger {
            r.reason
                .push_str("; the audit ledger could not be updated afterwards");
            r.next_steps.push(format!(
                "Nothing to redo: the action above was made. Autoheal's ledger could not record it ({e}); the next run on this target reconciles it"
            ));
        }
    } else if let Some(Verdict::NotAttempted { error }) = verdicts
        .iter()
        .find(|v| matches!(v, Verdict::NotAttempted { .. }))
    {
        r.outcome = Outcome::Failed;
        r.reason = format!(
            "{what}; not acted: the audit ledger could not be reached, so nothing was changed ({error})"
        );
        r.next_steps.push(
            "Nothing was changed. If this event is delivered again (Lambda retries a failed run after about 1 and 3 minutes) Autoheal decides again; otherwise check the ledger bucket and Autoheal's S3 permissions, and see `autoheal decisions` before acting by hand: another delivery may have acted".into(),
        );
    } else if verdicts.iter().any(|v| matches!(v, Verdict::Planned)) {
        r.outcome = Outcome::Planned;
        r.reason = format!("{what}; dry run: the action is planned, nothing was changed");
    } else if let Some(Verdict::Failed { error }) = verdicts
        .iter()
        .find(|v| matches!(v, Verdict::Failed { .. }))
    {
        r.outcome = Outcome::Failed;
        r.reason = format!("{what}; the action failed: {error}");
        r.next_steps
            .push("Autoheal could not finish: perform the action in the report by hand".into());
    } else if let Some(h) = first_hold(&|h| {
        matches!(
            h,
            Hold::Cap { .. }
                | Hold::Loop { .. }
                | Hold::Policy { .. }
                | Hold::Paused { .. }
                | Hold::Blocked { .. }
        )
    }) {
        r.outcome = Outcome::Escalated;
        r.reason = format!("{what}; not acted: {}", describe_hold(&h, cfg));
        let step = match h {
            Hold::Policy { .. } => "Review the planned action in this report and perform it by hand if it is right".to_string(),
            Hold::Paused { .. } => format!(
                "Autoheal is paused: perform the action by hand if it is right, or end the pause: {}",
                crate::report::links::autoheal_cli(cfg, "resume")
            ),
            Hold::Blocked { .. } => "Wait for the ECS rollout to finish, then check the service again (RUNBOOK §2)".to_string(),
            _ => "Automation has stopped for this target: investigate why the fixes do not hold (RUNBOOK §2)".to_string(),
        };
        r.next_steps.push(step);
    } else if let Some(h) = first_hold(&|h| matches!(h, Hold::Cooldown { .. })) {
        r.outcome = Outcome::Ignored;
        r.reason = format!("{what}; held back: {}", describe_hold(&h, cfg));
    } else if let Some(h) = first_hold(&|h| matches!(h, Hold::Duplicate { .. })) {
        r.outcome = Outcome::Ignored;
        r.reason = format!("{what}; {}", describe_hold(&h, cfg));
    }
}
