//! Deferred actions, carried out (RUNBOOK §2-§6, whichever playbook asked): an action a cooldown
//! or another action in flight held back is still needed, and CloudWatch does not resend an alarm
//! that stays in ALARM, nor Secrets Manager a change. The freshness schedule runs this after its
//! check: every pending item whose time has come goes through the guard again, with a fresh live
//! check, and gets a report of its own.

use crate::clock::{now_epoch, rfc3339};
use crate::deps::{Deps, Invocation};
use crate::report::{links, Check, Outcome, Report};
use crate::safety::guard::{Guard, Verdict};
use crate::safety::history::TargetHistory;
use crate::safety::ledger::LedgerError;
use crate::safety::pending::{self, Pending, PendingItem};
use crate::safety::settle::settle;

/// One report per item carried out (or found no longer needed); nothing when none is due.
/// `queue`: the pending queue as the run read it (with its own first reads).
pub async fn sweep(
    deps: &Deps,
    inv: Invocation,
    queue: Result<Pending, LedgerError>,
) -> Vec<Report> {
    let queue = match queue {
        Ok(q) => q,
        Err(e) => {
            tracing::warn!(error = %e, "the pending queue could not be read");
            return Vec::new();
        }
    };
    let now = now_epoch();
    let mut reports = Vec::new();
    for item in queue.items.into_iter().filter(|i| i.not_before <= now) {
        reports.push(carry_out(deps, inv, item).await);
    }
    reports
}

async fn carry_out(deps: &Deps, inv: Invocation, item: PendingItem) -> Report {
    let mut r = Report::new(item.trigger.clone(), item.intent.playbook);
    let queue = links::ledger_object(&deps.config, &pending::key(&deps.ledger()));
    r.checks.push(
        Check::pass(
            "deferred",
            format!(
                "{} was deferred at {} ({}); due since {}",
                item.spec.kind(),
                rfc3339(item.deferred_at),
                item.reason,
                rfc3339(item.not_before)
            ),
        )
        .with_link(queue),
    );
    if let Some(since) = superseded(deps, &item).await {
        if !inv.dry_run {
            if let Err(e) = pending::remove(&deps.ledger(), &item.claim).await {
                tracing::warn!(error = %e, "a superseded pending item could not be removed");
            }
        }
        return r.concluded(
            Outcome::Ignored,
            format!(
                "{} is no longer needed: {} was acted on again at {} after it was deferred; the alarm is judged afresh if it persists",
                item.intent.detail,
                item.spec.target(),
                rfc3339(since)
            ),
        );
    }
    let guard = Guard::for_run(deps, item.trigger.clone(), inv);
    let out = guard.act(&item.intent, &item.spec).await;
    let no_longer = matches!(
        &out.verdict,
        Verdict::Held(crate::safety::guard::Hold::Blocked { .. })
    );
    let what = format!(
        "deferred at {}: {}",
        rfc3339(item.deferred_at),
        item.intent.detail
    );
    settle(&mut r, vec![out], &what, &deps.config);
    if no_longer && item.intent.alarm_response {
        // The alarm that asked for it resolved, or ECS is rolling: nothing is owed any more.
        r.outcome = Outcome::Ignored;
        r.next_steps.clear();
    }
    r
}

/// An alarm's deferred fix is overtaken when the same target was acted on after it was deferred:
/// that later action answered the same symptom. A secret rotation's redeploy is never overtaken
/// (only a deployment after the change picks the new value up, and the live check tells).
async fn superseded(deps: &Deps, item: &PendingItem) -> Option<i64> {
    if !item.intent.alarm_response {
        return None;
    }
    let ledger = deps.ledger();
    let h = ledger
        .get::<TargetHistory>(&ledger.key("targets", &item.spec.target()))
        .await
        .ok()??
        .value;
    h.actions
        .iter()
        .filter(|a| a.result.is_some() && a.at > item.deferred_at)
        .map(|a| a.at)
        .max()
}
