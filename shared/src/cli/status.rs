//! `autoheal status`: what Autoheal holds right now, from the ledger: pauses, open problems (the
//! post-incident checklist and the conversations about ongoing problems), cooldowns and caps per
//! target with when they end, schedule control, the known-good revision, the last decisions.
//! Text for a person, `--json` for scripts. Reads only.

use std::process::ExitCode;

use serde::Serialize;

use super::args::{self, Spec};
use super::{fail, with_deps};
use crate::clock::{now_epoch, rfc3339};
use crate::deps::Deps;
use crate::playbooks::incident::{self, Incident};
use crate::playbooks::rollback::{read_known_good, KnownGood};
use crate::playbooks::schedules::ScheduleRecord;
use crate::report::conversation::Conversation;
use crate::safety::ledger::{Decision, LedgerError};
use crate::safety::pause::{self, Pause, PauseEvent};
use crate::safety::pending::{self, PendingItem};
use crate::safety::standing::{self, Standing};

pub const STATUS_HELP: &str = "\
autoheal status [--json]

What Autoheal holds now, from its ledger: pauses (active and ended), open problems (the
post-incident checklist, conversations about ongoing problems and when the next reminder is due),
pending (deferred) actions and when they are due, cooldowns, actions in flight and the daily cap per
target with when they end, schedule control, the known-good
revision and when it was recorded, and the last 10 decisions. Reads only. Exit 0, or 1 when the
ledger cannot be read.";

const LAST_DECISIONS: usize = 10;

#[derive(Debug, Serialize)]
struct Status {
    now: String,
    pauses: Vec<Pause>,
    pause_history: Vec<PauseEvent>,
    incident: Option<Incident>,
    conversations: Vec<Conversation>,
    pending: Vec<PendingItem>,
    targets: Vec<Standing>,
    schedules: Vec<(String, ScheduleRecord)>,
    known_good: Option<KnownGood>,
    decisions: Vec<Decision>,
}

pub fn status_cmd(rest: &[String]) -> ExitCode {
    let spec = Spec {
        command: "status",
        help: STATUS_HELP,
        flags: &["--json"],
        options: &[],
        words: 0,
    };
    let json = match args::parse(rest, &spec) {
        Ok(p) => p.flag("--json"),
        Err(code) => return code,
    };
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let now = now_epoch();
            let s = match gather(&deps, now).await {
                Ok(s) => s,
                Err(e) => return fail(1, format!("status: the ledger could not be read: {e}")),
            };
            if json {
                match serde_json::to_string_pretty(&s) {
                    Ok(j) => println!("{j}"),
                    Err(e) => return fail(1, format!("status: {e}")),
                }
            } else {
                print!("{}", text(&s, &deps, now));
            }
            ExitCode::SUCCESS
        },
    )
}

async fn gather(deps: &Deps, now: i64) -> Result<Status, LedgerError> {
    let cfg = &deps.config;
    let ledger = deps.ledger();
    let pauses = pause::read(&ledger).await?;
    let mut conversations = Vec::new();
    for key in ledger.keys("conversations").await? {
        if let Some(c) = ledger.get::<Conversation>(&key).await? {
            conversations.push(c.value);
        }
    }
    let mut schedules = Vec::new();
    for rule in [&cfg.analysis_rule, &cfg.vod_rule] {
        let rec: ScheduleRecord = ledger
            .value_or_default(&ledger.key("schedules", rule))
            .await?;
        schedules.push((rule.clone(), rec));
    }
    let mut decisions = ledger.recent_decisions(now, 2).await?;
    decisions.truncate(LAST_DECISIONS);
    Ok(Status {
        now: rfc3339(now),
        pauses: pauses.pauses,
        pause_history: pauses.history,
        incident: incident::open(&ledger).await?,
        conversations,
        pending: pending::load(&ledger).await?.items,
        targets: standing::all(&ledger, cfg, now).await?,
        schedules,
        known_good: read_known_good(&ledger, &cfg.cluster, &cfg.collector_service)
            .await
            .ok()
            .flatten(),
        decisions,
    })
}

/// "in 25 min" / "3 h 10 min ago", next to the instant.
fn when(at: i64, now: i64) -> String {
    let d = at - now;
    let span = |s: i64| {
        let m = s.abs() / 60;
        if m >= 60 {
            format!("{} h {} min", m / 60, m % 60)
        } else {
            format!("{m} min")
        }
    };
    if d >= 0 {
        format!("{} (in {})", rfc3339(at), span(d))
    } else {
        format!("{} ({} ago)", rfc3339(at), span(d))
    }
}

fn text(s: &Status, deps: &Deps, now: i64) -> String {
    let mut out = vec![format!("Autoheal status at {}", s.now)];
    out.push(String::new());
    out.extend(pause_lines(s, now));
    out.push(String::new());
    out.extend(problem_lines(s, deps, now));
    out.push(String::new());
    out.extend(pending_lines(s, now));
    out.push(String::new());
    out.extend(target_lines(s, now));
    out.push(String::new());
    out.push("KNOWN-GOOD".into());
    out.push(match &s.known_good {
        Some(kg) => format!(
            "  {}: {} recorded {} by {}",
            kg.service,
            kg.task_definition_arn
                .rsplit('/')
                .next()
                .unwrap_or(&kg.task_definition_arn),
            when(kg.recorded_at, now),
            kg.recorded_by
        ),
        None => "  none recorded (a rollback will not guess one)".into(),
    });
    out.push(String::new());
    out.push(format!("LAST DECISIONS ({} shown)", s.decisions.len()));
    for d in &s.decisions {
        out.push(format!(
            "  {} {:<8} {} {} ({}): {}",
            d.at_text, d.status, d.action, d.target, d.playbook, d.reason
        ));
    }
    if s.decisions.is_empty() {
        out.push("  none in the last 2 days".into());
    }
    out.join("\n") + "\n"
}

fn pause_lines(s: &Status, now: i64) -> Vec<String> {
    let mut out = vec!["PAUSES".to_string()];
    let active: Vec<&Pause> = s.pauses.iter().filter(|p| p.is_active(now)).collect();
    if active.is_empty() {
        out.push("  none: Autoheal acts as configured".into());
    }
    for p in active {
        out.push(format!(
            "  {} paused by {} since {}, {}; reason: {}",
            p.scope(),
            p.by,
            rfc3339(p.since),
            p.until
                .map(|u| format!("ends {}", when(u, now)))
                .unwrap_or_else(|| "until resumed".into()),
            p.reason
        ));
    }
    for e in s.pause_history.iter().rev().take(3) {
        out.push(format!(
            "  (history) {} {}: {}",
            rfc3339(e.at),
            e.by,
            e.what
        ));
    }
    out
}

fn problem_lines(s: &Status, deps: &Deps, now: i64) -> Vec<String> {
    let mut out = vec!["OPEN PROBLEMS".to_string()];
    if let Some(i) = &s.incident {
        let missing: Vec<&str> = [
            ("smoke test", i.smoke_test_passed.is_none()),
            ("analysis run", i.analysis_succeeded.is_none()),
            ("VOD run", i.vod_succeeded.is_none()),
        ]
        .iter()
        .filter(|(_, m)| *m)
        .map(|(n, _)| *n)
        .collect();
        out.push(format!(
            "  incident opened {} after {} remediation(s); waiting for: {}",
            when(i.opened_at, now),
            i.remediations.len(),
            missing.join(", ")
        ));
    }
    let every = deps.config.reminder_minutes as i64 * 60;
    for c in s.conversations.iter().filter(|c| c.open) {
        out.push(format!(
            "  {}: ongoing since {} ({}); last message {} ({}), next reminder due by {}",
            c.key,
            rfc3339(c.opened_at),
            c.first_reason,
            c.last.kind.name(),
            rfc3339(c.written_at),
            rfc3339(c.written_at + every)
        ));
    }
    if out.len() == 1 {
        out.push("  none".into());
    }
    out
}

fn pending_lines(s: &Status, now: i64) -> Vec<String> {
    let mut out = vec!["PENDING (DEFERRED) ACTIONS".to_string()];
    for p in &s.pending {
        out.push(format!(
            "  {} {}: not before {}; {} (deferred {}, asked by {} {})",
            p.spec.kind(),
            p.spec.target(),
            when(p.not_before, now),
            p.reason,
            rfc3339(p.deferred_at),
            p.trigger.name,
            p.trigger.id
        ));
    }
    if s.pending.is_empty() {
        out.push("  none".into());
    }
    out
}

fn target_lines(s: &Status, now: i64) -> Vec<String> {
    let mut out = vec!["COOLDOWNS AND CAPS".to_string()];
    for t in &s.targets {
        let mut parts = vec![format!("{}/{} actions in 24 h", t.actions_24h, t.cap)];
        if let Some(f) = t.cap_frees_at {
            parts.push(format!("cap reached, frees {}", when(f, now)));
        }
        for c in &t.cooldowns {
            parts.push(format!(
                "{} cooling down until {}",
                c.action,
                when(c.until, now)
            ));
        }
        if let Some((action, until)) = &t.in_flight {
            parts.push(format!(
                "in flight: {action} (its run may act until {})",
                when(*until, now)
            ));
        }
        if t.loop_stopped {
            parts.push(format!(
                "loop guard: {} relapses, automation stopped",
                t.relapses
            ));
        }
        if let Some(l) = &t.last {
            parts.push(format!("last: {l}"));
        }
        out.push(format!("  {}: {}", t.target, parts.join("; ")));
    }
    for (rule, rec) in &s.schedules {
        if rec.consecutive_failures > 0 || rec.disabled_by_autoheal {
            out.push(format!(
                "  rule {rule}: {} consecutive failed runs{}",
                rec.consecutive_failures,
                if rec.disabled_by_autoheal {
                    "; disabled by Autoheal (a successful `autoheal run` re-enables it)"
                } else {
                    ""
                }
            ));
        }
    }
    if out.len() == 1 {
        out.push("  nothing is cooling down; no target has acted in 24 h".into());
    }
    out
}
