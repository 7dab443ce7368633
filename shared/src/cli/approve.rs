//! `autoheal approve <decision-id>`: carry out exactly the action a report held for a human
//! (report-only, not allow-listed, paused), once, with a fresh live re-check.

use std::process::ExitCode;

use super::args::{self, Spec};
use super::operator::{self, Override};
use super::{fail, finish_and_print, with_deps};
use crate::clock::now_epoch;
use crate::deps::Invocation;
use crate::playbooks::approval::{self, Approved};

pub const APPROVE_HELP: &str = "\
autoheal approve <decision-id> [--force --reason TEXT] [--dry-run] [--text]

Carries out exactly the action of a decision that was held by policy (AUTOHEAL_REPORT_ONLY, not in
AUTOHEAL_ALLOWED_PLAYBOOKS) or by a pause: the report that held it names this command with its id
(`autoheal decisions --json` lists ids too). It goes through the same guard as the functions: a
fresh live re-check (if the world changed since the decision, it says so and does nothing), one
approval per decision, cooldowns and the daily cap (--force passes those two, with a reason). The
ledger records who approved (AUTOHEAL_OPERATOR, else $USER) and when; the report is published.
Decisions older than AUTOHEAL_APPROVAL_MAX_AGE_HOURS (24) cannot be approved.
Exit 0 when the run completed, 1 when it failed, 2 when the id or the decision cannot be approved
(nothing is changed).";

pub fn approve_cmd(rest: &[String], over: Override) -> ExitCode {
    let p = match args::parse(rest, &Spec::acting("approve", APPROVE_HELP, 1)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (dry_run, text) = (p.flag("--dry-run"), p.flag("--text"));
    let Some(id) = p
        .words
        .first()
        .map(|w| w.trim().to_string())
        .filter(|i| !i.is_empty())
    else {
        return fail(
            2,
            "approve: needs a decision id (the report that held the action names it)",
        );
    };
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let decision = match deps.ledger().decision(&id).await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    return fail(
                        2,
                        format!("approve: there is no decision {id:?} in the ledger (see autoheal decisions --json)"),
                    )
                }
                Err(e) => return fail(1, format!("approve: the ledger could not be read: {e}")),
            };
            let now = now_epoch();
            let max_age = deps.config.approval_max_age_hours;
            let (spec, intent) = match approval::approvable(&decision, &id, now, max_age) {
                Ok(found) => found,
                Err(e) => return fail(2, format!("approve: {e}")),
            };
            let dry = dry_run || deps.config.dry_run;
            let approved = Approved {
                decision: &decision,
                id: &id,
                spec,
                intent,
            };
            let op = operator::operator(&over, None);
            let inv = Invocation::now(&deps.config, dry);
            let report = approval::approve(&deps, approved, op, inv).await;
            finish_and_print(&deps, report, dry, text).await
        },
    )
}
