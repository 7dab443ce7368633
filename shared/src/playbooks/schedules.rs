//! RUNBOOK §4, schedule control: the per-rule record of consecutive failed runs, disabling a rule
//! that keeps failing, re-enabling it after a successful manual run, and the operator's
//! `autoheal schedules` command.

use serde::{Deserialize, Serialize};

use crate::aws::describe_error;
use crate::clock::now_epoch;
use crate::deps::Deps;
use crate::intake::TaskChange;
use crate::probes::service::short_td;
use crate::probes::tasks::rule_target;
use crate::report::links::{self, autoheal_cli};
use crate::report::{Check, CheckStatus, Outcome, Playbook, Report};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::guard::{Guard, Guarded, Verdict};
use crate::safety::mutations::STARTED_BY;
use crate::safety::settle::settle;

/// `analysis` or `vod`, the word `autoheal run` takes for the family of `t`.
fn job_word(cfg: &crate::config::Config, t: &TaskChange) -> &'static str {
    if t.family == cfg.vod_family {
        "vod"
    } else {
        "analysis"
    }
}

/// Who started a task: the schedule rule, Autoheal's own manual run, or someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Starter {
    Schedule,
    Autoheal,
    Other,
}

impl Starter {
    pub fn of(t: &TaskChange) -> Self {
        match t.started_by.as_deref() {
            // Autoheal's runs carry `autoheal-<claim tag>` (and older ones plain `autoheal`).
            Some(s) if s == STARTED_BY || s.starts_with(&format!("{STARTED_BY}-")) => {
                Starter::Autoheal
            }
            Some(s) if s.starts_with("events-rule/") => Starter::Schedule,
            _ => Starter::Other,
        }
    }
}

/// A failed run of a scheduled job, as schedule control needs it.
pub struct FailedRun<'a> {
    pub task: &'a TaskChange,
    pub rule: &'a str,
    /// The log line that shows the failure.
    pub line: &'a str,
    /// "<family> run failed (<kind>)", for the report.
    pub what: &'a str,
    pub starter: Starter,
}

/// Per-rule schedule health, in the ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_failure_at: Option<i64>,
    #[serde(default)]
    pub last_success_at: Option<i64>,
    /// Autoheal disabled the rule; only then does it re-enable it by itself.
    #[serde(default)]
    pub disabled_by_autoheal: bool,
    /// The failed tasks already counted (the latest few): a redelivered event counts once.
    #[serde(default)]
    pub counted: Vec<String>,
}

/// How many counted task ARNs a record keeps: far more than deliveries of one event can span.
const COUNTED_KEPT: usize = 20;

fn schedule_key(guard: &Guard<'_>, rule: &str) -> String {
    guard.ledger().key("schedules", rule)
}

/// A run succeeded: the failure count starts again, and a rule Autoheal disabled is re-enabled when
/// this was Autoheal's own verification run.
pub async fn after_success(
    deps: &Deps,
    guard: &Guard<'_>,
    t: &TaskChange,
    rule: &str,
    line: &str,
    starter: Starter,
    mut r: Report,
) -> Report {
    let key = schedule_key(guard, rule);
    let now = now_epoch();
    let record = update_record(guard, &key, &mut r, |rec| {
        rec.consecutive_failures = 0;
        rec.last_success_at = Some(now);
    })
    .await;
    if starter != Starter::Autoheal || !record.disabled_by_autoheal {
        return r.concluded(Outcome::Healthy, format!("{} run succeeded", t.family));
    }
    let intent = Intent {
        playbook: Playbook::Schedules,
        change_id: format!("reenable:{}", t.task_arn),
        detail: format!("re-enable {rule}: a manual run succeeded"),
        evidence: vec![line.to_string()],
        alarm_response: false,
    };
    let out = set_rule(guard, &intent, rule, true).await;
    settle(
        &mut r,
        vec![out],
        &format!("the verification run of {} succeeded", t.family),
        &deps.config,
    );
    if r.outcome == Outcome::Remediated && !guard.dry_run() {
        update_record(guard, &key, &mut r, |rec| rec.disabled_by_autoheal = false).await;
    }
    r
}

/// Counts a failed scheduled run and returns the consecutive failures so far. Only scheduled runs
/// count: Autoheal's own manual run failing is not the schedule failing.
pub async fn count_failure(guard: &Guard<'_>, failed: &FailedRun<'_>, r: &mut Report) -> u32 {
    let limit = guard.config().schedule_max_failures;
    let now = now_epoch();
    let task = &failed.task.task_arn;
    let record = update_record(guard, &schedule_key(guard, failed.rule), r, |rec| {
        if failed.starter == Starter::Schedule && !rec.counted.contains(task) {
            rec.consecutive_failures += 1;
            rec.last_failure_at = Some(now);
            rec.counted.push(task.clone());
            let excess = rec.counted.len().saturating_sub(COUNTED_KEPT);
            rec.counted.drain(..excess);
        }
    })
    .await;
    let n = record.consecutive_failures;
    r.checks.push(Check::new(
        "consecutive_failures",
        if n >= limit {
            CheckStatus::Fail
        } else {
            CheckStatus::Pass
        },
        format!(
            "{n} consecutive failed scheduled runs of {} (limit {limit})",
            failed.rule
        ),
    ));
    n
}

/// Stop spending money after N failed runs in a row (RUNBOOK §4): disable the rule. Disabling
/// stops the bleeding; a human still has to fix the cause, so the run is escalated.
pub async fn disable_failing(
    deps: &Deps,
    guard: &Guard<'_>,
    failed: &FailedRun<'_>,
    failures: u32,
    mut r: Report,
) -> Report {
    let rule = failed.rule;
    let intent = Intent {
        playbook: Playbook::Schedules,
        change_id: format!("disable:{}", failed.task.task_arn),
        detail: format!("disable {rule} after {failures} consecutive failures"),
        evidence: vec![failed.line.to_string()],
        alarm_response: false,
    };
    let out = set_rule(guard, &intent, rule, false).await;
    let disabled = matches!(out.verdict, Verdict::Done { .. });
    settle(&mut r, vec![out], failed.what, &deps.config);
    if disabled {
        let key = schedule_key(guard, rule);
        update_record(guard, &key, &mut r, |rec| rec.disabled_by_autoheal = true).await;
    }
    if r.outcome != Outcome::Planned {
        r.outcome = Outcome::Escalated;
    }
    r.step(format!(
        "Fix the cause ({}); then start one manual run ({}) and its success re-enables the rule, or re-enable it yourself: {}",
        failed.line,
        autoheal_cli(&deps.config, &format!("run {}", job_word(&deps.config, failed.task))),
        autoheal_cli(&deps.config, &format!("schedules enable --rule {rule}"))
    ));
    r
}

async fn set_rule(guard: &Guard<'_>, intent: &Intent, rule: &str, enable: bool) -> Guarded {
    let rule = rule.to_string();
    let spec = if enable {
        ActionSpec::EnableRule { rule }
    } else {
        ActionSpec::DisableRule { rule }
    };
    guard.act(intent, &spec).await
}

/// `autoheal schedules disable|enable`: an operator's request, through the same guard.
pub async fn operator_set(
    deps: &Deps,
    guard: &Guard<'_>,
    rules: &[String],
    enable: bool,
    mut r: Report,
) -> Report {
    let verb = if enable { "enable" } else { "disable" };
    let mut outcomes = Vec::new();
    for rule in rules {
        let intent = Intent {
            playbook: Playbook::Schedules,
            change_id: r.trigger.id.clone(),
            detail: format!("{verb} {rule} (requested by an operator)"),
            evidence: vec![],
            alarm_response: false,
        };
        outcomes.push(set_rule(guard, &intent, rule, enable).await);
    }
    let what = format!("operator asked to {verb} {}", rules.join(", "));
    settle(&mut r, outcomes, &what, &deps.config);
    r
}

/// Applies `f` to the rule's record in the ledger and returns it as it now stands. In a dry run
/// the change is applied to a copy only; a ledger failure is noted in the report.
async fn update_record(
    guard: &Guard<'_>,
    key: &str,
    r: &mut Report,
    f: impl Fn(&mut ScheduleRecord),
) -> ScheduleRecord {
    if guard.dry_run() {
        let mut rec = guard
            .ledger()
            .get::<ScheduleRecord>(key)
            .await
            .ok()
            .flatten()
            .map(|v| v.value)
            .unwrap_or_default();
        f(&mut rec);
        return rec;
    }
    match guard
        .ledger()
        .update::<ScheduleRecord, _>(key, |rec| f(rec))
        .await
    {
        Ok(rec) => rec,
        Err(e) => {
            let record = links::ledger_object(guard.config(), key);
            r.checks
                .push(Check::error("schedule_record", e.to_string()).with_link(record));
            ScheduleRecord::default()
        }
    }
}

/// `autoheal schedules status`: both rules, their targets and what the ledger knows.
pub async fn status(deps: &Deps) -> Vec<String> {
    let cfg = &deps.config;
    let ledger = deps.ledger();
    let mut out = Vec::new();
    for rule in [&cfg.analysis_rule, &cfg.vod_rule] {
        let state = match deps.aws.events().describe_rule().name(rule).send().await {
            Ok(d) => format!(
                "{} {}",
                d.state().map(|s| s.as_str()).unwrap_or("?"),
                d.schedule_expression().unwrap_or("")
            ),
            Err(e) => format!("unreadable ({})", describe_error(&e)),
        };
        let target = rule_target(&deps.aws, rule)
            .await
            .map(|t| short_td(&t.task_definition).to_string())
            .unwrap_or_else(|e| e);
        let rec = ledger
            .get::<ScheduleRecord>(&ledger.key("schedules", rule))
            .await
            .ok()
            .flatten()
            .map(|v| v.value)
            .unwrap_or_default();
        out.push(format!(
            "{rule}: {state}; target {target}; {} consecutive failures{}",
            rec.consecutive_failures,
            if rec.disabled_by_autoheal {
                "; disabled by Autoheal"
            } else {
                ""
            }
        ));
    }
    out
}
