//! The run report (CONTRACT §3): one JSON object per run, plus the subject and plain text an on-call
//! engineer reads on a phone. [`publish`] sends it to the alerts topic; [`telemetry`] turns it into
//! logs and metrics.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

pub mod chatbot;
pub mod conversation;
pub mod fit;
pub mod links;
pub mod publish;
pub mod telemetry;

/// Runbook playbooks, named as in CONTRACT §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Playbook {
    SmokeTest,
    NoNewSnapshots,
    ChannelDiscovery,
    AnalysisFailure,
    VodFailure,
    AlarmGap,
    SecretRotation,
    Rollback,
    Schedules,
    None,
}

impl Playbook {
    pub const ALL: [Playbook; 10] = [
        Playbook::SmokeTest,
        Playbook::NoNewSnapshots,
        Playbook::ChannelDiscovery,
        Playbook::AnalysisFailure,
        Playbook::VodFailure,
        Playbook::AlarmGap,
        Playbook::SecretRotation,
        Playbook::Rollback,
        Playbook::Schedules,
        Playbook::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Playbook::SmokeTest => "smoke-test",
            Playbook::NoNewSnapshots => "no-new-snapshots",
            Playbook::ChannelDiscovery => "channel-discovery",
            Playbook::AnalysisFailure => "analysis-failure",
            Playbook::VodFailure => "vod-failure",
            Playbook::AlarmGap => "alarm-gap",
            Playbook::SecretRotation => "secret-rotation",
            Playbook::Rollback => "rollback",
            Playbook::Schedules => "schedules",
            Playbook::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.name() == name)
    }

    /// Where the playbook lives in ../shared/RUNBOOK.md.
    pub fn runbook_section(self) -> &'static str {
        match self {
            Playbook::SmokeTest => "RUNBOOK §2.4 / §7",
            Playbook::NoNewSnapshots => "RUNBOOK §6 A",
            Playbook::ChannelDiscovery => "RUNBOOK §6 B",
            Playbook::AnalysisFailure => "RUNBOOK §6 C",
            Playbook::VodFailure => "RUNBOOK §6 D",
            Playbook::AlarmGap => "RUNBOOK §6 E",
            Playbook::SecretRotation => "RUNBOOK §5",
            Playbook::Rollback => "RUNBOOK §3",
            Playbook::Schedules => "RUNBOOK §4",
            Playbook::None => "RUNBOOK §2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Healthy,
    Remediated,
    Escalated,
    Ignored,
    Planned,
    Failed,
    /// Still needed, held by a cooldown or another action in flight: the first scheduled run after
    /// the stated time carries it out.
    Deferred,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Healthy => "healthy",
            Outcome::Remediated => "remediated",
            Outcome::Escalated => "escalated",
            Outcome::Ignored => "ignored",
            Outcome::Planned => "planned",
            Outcome::Failed => "failed",
            Outcome::Deferred => "deferred",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Alarm,
    Schedule,
    SecretChange,
    TaskStopped,
    Deployment,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerRef {
    pub kind: TriggerKind,
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    Error,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    /// The AWS console page that shows what the check looked at ([`links`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl Check {
    pub fn new(name: &str, status: CheckStatus, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            status,
            detail: detail.into(),
            link: None,
        }
    }
    /// The console page that shows this check's subject, when the caller knows it better than
    /// [`links::annotate`] would.
    pub fn with_link(mut self, link: String) -> Self {
        self.link = Some(link);
        self
    }
    pub fn pass(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Pass, detail)
    }
    pub fn fail(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Fail, detail)
    }
    pub fn error(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Error, detail)
    }
    pub fn skipped(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, CheckStatus::Skipped, detail)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Done,
    Planned,
    Skipped,
    Failed,
    /// Held for now; carried out later (see the report's reason for when).
    Deferred,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub kind: String,
    pub target: String,
    pub status: ActionStatus,
    pub detail: String,
    /// The AWS console page of the target ([`links`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The console page of this decision's record in the audit ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The decision's id in the audit ledger (what `autoheal approve` takes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub trigger: TriggerRef,
    pub playbook: Playbook,
    pub outcome: Outcome,
    pub reason: String,
    pub checks: Vec<Check>,
    pub actions: Vec<Action>,
    pub next_steps: Vec<String>,
    /// The runbook playbooks the evidence points to, when the run's own playbook only diagnoses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applicable_playbooks: Vec<Playbook>,
    /// When the run finished, RFC 3339 UTC.
    pub finished_at: String,
    pub dry_run: bool,
    /// The run's place in the conversation about an ongoing problem ([`conversation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<conversation::ConversationNote>,
    /// Set on a published copy that had to be shortened to fit one SNS message ([`fit`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortened: Option<String>,
    /// Ledger claims of actions this report announces as done: marked reported once it is out, so
    /// a later delivery does not announce them again.
    #[serde(skip)]
    pub claims: Vec<String>,
    /// Nothing final was decided and trying again may help: the run ends in an error after its
    /// report is out, so that Lambda delivers the event again.
    #[serde(skip)]
    pub retry: bool,
}

/// SNS caps subjects at 100 characters and rejects control characters.
pub const SUBJECT_MAX: usize = 100;

impl Report {
    pub fn new(trigger: TriggerRef, playbook: Playbook) -> Self {
        Self {
            trigger,
            playbook,
            outcome: Outcome::Healthy,
            reason: String::new(),
            checks: Vec::new(),
            actions: Vec::new(),
            next_steps: Vec::new(),
            applicable_playbooks: Vec::new(),
            finished_at: String::new(),
            dry_run: false,
            conversation: None,
            shortened: None,
            claims: Vec::new(),
            retry: false,
        }
    }

    /// A run about something Autoheal does not look after (another secret, service, alarm…).
    pub fn unrelated(trigger: TriggerRef, reason: impl Into<String>) -> Self {
        Self::new(trigger, Playbook::None).concluded(Outcome::Ignored, reason)
    }

    /// Ends the run's judgement: its outcome and the one sentence that says why.
    pub fn conclude(&mut self, outcome: Outcome, reason: impl Into<String>) {
        self.outcome = outcome;
        self.reason = reason.into();
    }

    /// [`Report::conclude`] for a run that stops here: `return r.concluded(…)`.
    pub fn concluded(mut self, outcome: Outcome, reason: impl Into<String>) -> Self {
        self.conclude(outcome, reason);
        self
    }

    /// Adds what is left to a human.
    pub fn step(&mut self, step: impl Into<String>) {
        self.next_steps.push(step.into());
    }

    pub fn failing_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| matches!(c.status, CheckStatus::Fail | CheckStatus::Error))
    }

    /// "[Autoheal] ESCALATED smoke-test: snapshots 241 min old" — what happened, at a glance. A
    /// reminder says STILL, a recovery RECOVERED.
    pub fn subject(&self) -> String {
        let outcome = self.outcome.name().to_ascii_uppercase();
        let state = match self.conversation.as_ref().map(|c| c.message.as_str()) {
            Some("reminder") => format!("STILL {outcome}"),
            Some("recovered") => "RECOVERED".to_string(),
            _ => outcome,
        };
        let head = format!("[Autoheal] {state} {}: ", self.playbook.name());
        let mut s = head;
        for ch in self.reason.chars() {
            if ch.is_control() {
                s.push(' ');
            } else {
                s.push(ch);
            }
        }
        truncate_chars(&s, SUBJECT_MAX)
    }

    /// The plain-text body: what was seen, what was done, what is left.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{}", self.subject());
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "Outcome:  {}{}",
            self.outcome.name(),
            if self.dry_run { " (dry run)" } else { "" }
        );
        let _ = writeln!(t, "Why:      {}", self.reason);
        let _ = writeln!(
            t,
            "Trigger:  {} {} ({})",
            serde_json::to_value(self.trigger.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            self.trigger.name,
            self.trigger.id
        );
        let _ = writeln!(
            t,
            "Playbook: {} ({})",
            self.playbook.name(),
            self.playbook.runbook_section()
        );
        let _ = writeln!(t, "At:       {}", self.finished_at);
        if let Some(c) = &self.conversation {
            let _ = writeln!(t, "Problem:  {}", c.detail);
        }
        if let Some(note) = &self.shortened {
            let _ = writeln!(t, "Note:     {note}");
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "WHAT I SAW");
        for c in &self.checks {
            let mark = match c.status {
                CheckStatus::Pass => "ok  ",
                CheckStatus::Fail => "FAIL",
                CheckStatus::Error => "ERR ",
                CheckStatus::Skipped => "skip",
            };
            let _ = writeln!(t, "  [{mark}] {}: {}", c.name, c.detail);
            if let Some(link) = &c.link {
                let _ = writeln!(t, "         {link}");
            }
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "WHAT I DID");
        if self.actions.is_empty() {
            let _ = writeln!(t, "  nothing (no action was needed or allowed)");
        }
        for a in &self.actions {
            let st = serde_json::to_value(a.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(t, "  [{st}] {} {}: {}", a.kind, a.target, a.detail);
            for link in a.link.iter().chain(&a.record) {
                let _ = writeln!(t, "         {link}");
            }
        }
        let _ = writeln!(t);
        let _ = writeln!(t, "WHAT IS LEFT FOR YOU");
        if self.next_steps.is_empty() {
            let _ = writeln!(t, "  nothing");
        }
        for (i, s) in self.next_steps.iter().enumerate() {
            let _ = writeln!(t, "  {}. {}", i + 1, s);
        }
        t
    }
}

pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new(
            TriggerRef {
                kind: TriggerKind::Schedule,
                id: "abc".into(),
                name: "vieweratlas-autoheal-freshness".into(),
            },
            Playbook::SmokeTest,
        );
        r.outcome = Outcome::Escalated;
        r.reason = "newest snapshot is 241 min old (limit 180)\nand more".into();
        r.checks
            .push(Check::fail("s3_snapshot_freshness", "newest 241 min"));
        r.next_steps.push("Follow RUNBOOK §6 A".into());
        r
    }

    #[test]
    fn subject_is_short_single_line_and_says_what_happened() {
        let mut r = sample();
        assert!(r
            .subject()
            .starts_with("[Autoheal] ESCALATED smoke-test: newest snapshot is 241 min old"));
        assert!(!r.subject().contains('\n'));
        r.reason = "x".repeat(500);
        assert_eq!(r.subject().chars().count(), SUBJECT_MAX);
    }

    #[test]
    fn json_uses_contract_names() {
        let v = serde_json::to_value(sample()).unwrap();
        assert_eq!(v["trigger"]["kind"], "schedule");
        assert_eq!(v["playbook"], "smoke-test");
        assert_eq!(v["outcome"], "escalated");
        assert_eq!(v["checks"][0]["status"], "fail");
        assert!(v["actions"].as_array().unwrap().is_empty());
        assert_eq!(
            Playbook::from_name("channel-discovery"),
            Some(Playbook::ChannelDiscovery)
        );
    }

    #[test]
    fn text_has_the_three_sections() {
        let t = sample().text();
        for part in [
            "WHAT I SAW",
            "[FAIL] s3_snapshot_freshness",
            "WHAT I DID",
            "WHAT IS LEFT FOR YOU",
            "1. Follow RUNBOOK §6 A",
        ] {
            assert!(t.contains(part), "{part} missing in\n{t}");
        }
    }
}
