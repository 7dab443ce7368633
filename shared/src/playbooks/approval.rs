//! A human's approval of a held decision (`autoheal approve <decision-id>`): exactly the action the
//! ledger recorded (its `ActionSpec`), through the guard, with a fresh live re-check. The guard's
//! policy stage (report-only, the allow-list, a pause) is what the human passes; the claim
//! (`approve:<decision-id>`) makes each decision approvable once, and the approval's own decision
//! record says who and when. A decision the world has moved on from is not carried out.

use crate::deps::{Deps, Invocation};
use crate::report::{links, Check, Outcome, Report, TriggerKind, TriggerRef};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::guard::{Guard, Hold, Operator, Verdict};
use crate::safety::ledger::Decision;
use crate::safety::settle::settle;

/// The recorded action and intent of a decision a human may approve now; `Err` says why it cannot
/// be approved (exit 2: nothing is changed).
pub fn approvable(
    d: &Decision,
    id: &str,
    now: i64,
    max_age_hours: u64,
) -> Result<(ActionSpec, Intent), String> {
    if !d.approvable {
        return Err(format!(
            "decision {id} was not held by policy or a pause (it was {}: {}); only those can be approved",
            d.status, d.reason
        ));
    }
    let age = now - d.at;
    if age > max_age_hours as i64 * 3600 {
        return Err(format!(
            "decision {id} is from {} ({} h ago); approvals expire after {max_age_hours} h (AUTOHEAL_APPROVAL_MAX_AGE_HOURS): look at the service now and act anew",
            d.at_text,
            age / 3600
        ));
    }
    match (&d.spec, &d.intent) {
        (Some(spec), Some(intent)) => Ok((spec.clone(), intent.clone())),
        _ => Err(format!(
            "decision {id} does not record its action (an older Autoheal wrote it); perform it by hand"
        )),
    }
}

/// What a human approves: the decision, its id, and its recorded action and intent (from
/// [`approvable`]).
pub struct Approved<'a> {
    pub decision: &'a Decision,
    pub id: &'a str,
    pub spec: ActionSpec,
    pub intent: Intent,
}

/// Carries out the approved decision through the guard, as `op`.
pub async fn approve(deps: &Deps, a: Approved<'_>, op: Operator, inv: Invocation) -> Report {
    let (d, id, recorded) = (a.decision, a.id, &a.intent);
    let trigger = TriggerRef {
        kind: TriggerKind::Manual,
        id: format!(
            "approve-{}-{}",
            crate::clock::now_millis(),
            std::process::id()
        ),
        name: format!("approve {id}"),
    };
    let by = op.by.clone();
    let guard = Guard::for_run(deps, trigger.clone(), inv).with_operator(Operator {
        approves: Some(id.to_string()),
        ..op
    });
    let intent = Intent {
        change_id: format!("approve:{id}"),
        detail: format!("{} (approved by {by})", recorded.detail),
        evidence: [
            vec![format!(
                "decision {id} of {} by {}",
                d.at_text, d.trigger_name
            )],
            recorded.evidence.clone(),
        ]
        .concat(),
        ..recorded.clone()
    };
    let mut r = Report::new(trigger, recorded.playbook);
    let mut check = Check::pass(
        "approved_decision",
        format!(
            "{id}: {} on {}, held at {} ({})",
            d.action, d.target, d.at_text, d.reason
        ),
    );
    check.link = (deps.ledger().decision_key(id)).map(|k| links::ledger_object(&deps.config, &k));
    r.checks.push(check);
    let out = guard.act(&intent, &a.spec).await;
    let verdict = out.verdict.clone();
    let what = format!("{by} approved the {} held at {}", d.action, d.at_text);
    settle(&mut r, vec![out], &what, &deps.config);
    explain(&mut r, &verdict, &what, d);
    r
}

/// The approval's own words for what the guard said: a live re-check that says no means the
/// world changed since the decision; a duplicate means the decision was approved before.
fn explain(r: &mut Report, v: &Verdict, what: &str, d: &Decision) {
    match v {
        Verdict::Held(Hold::Blocked { reason }) => {
            r.next_steps.clear();
            r.step("Nothing to undo. If the problem persists, the next alarm or check decides again (and may ask for a new approval)");
            r.conclude(
                Outcome::Escalated,
                format!(
                    "{what}; not carried out: the world changed since the decision at {}: {reason}",
                    d.at_text
                ),
            );
        }
        Verdict::Held(Hold::Duplicate { previous, .. }) => r.conclude(
            Outcome::Ignored,
            format!("{what}; this decision was already approved: {previous}"),
        ),
        _ => {}
    }
}
