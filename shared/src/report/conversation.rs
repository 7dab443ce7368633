//! Quiet: one ongoing problem is one conversation with the on-call engineer. The first escalation
//! goes out; while the problem lasts, a reminder goes out every `AUTOHEAL_REMINDER_MINUTES`
//! (default 4 h), or sooner when another check starts failing; when the check passes again, one
//! "recovered" message closes it. Every run in between is judged and logged as usual, but not
//! published.
//!
//! A conversation is about what a recurring check sees: the scheduled freshness check
//! (`schedule:<rule>`) and each collector alarm (`alarm:<name>`). Discrete events (a failed task,
//! a deployment, a secret change, an operator's command) are one message each, as before.
//!
//! This file decides; `run::notify` keeps the record in the ledger. The record is written only
//! when a message is decided (and again once it is published), so "how long since the last
//! message" is the age of the record (its S3 `LastModified`), and a suppressed run writes nothing.
//!
//! Redelivery: the record names the event behind its last message and whether that message was
//! confirmed published. The same event again finds it: confirmed, it stays quiet; unconfirmed, the
//! earlier attempt may have died before publishing, so the message goes out again (a duplicate is
//! better than a lost escalation). An unconfirmed message of another event older than
//! [`LOST_AFTER_SECS`] is taken as lost and sent again too.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::config::Config;
use crate::report::{Outcome, Playbook, Report, TriggerKind, TriggerRef};

/// An unconfirmed message older than this was lost (longer than any function's timeout).
pub const LOST_AFTER_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    First,
    /// Another check started failing while the problem lasted.
    Update,
    Reminder,
    Recovered,
}

impl MessageKind {
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::First => "first",
            MessageKind::Update => "update",
            MessageKind::Reminder => "reminder",
            MessageKind::Recovered => "recovered",
        }
    }
}

/// The message a conversation sent last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    pub trigger_id: String,
    pub kind: MessageKind,
    /// Published (the SNS call answered); until then a redelivery sends it again.
    pub confirmed: bool,
}

/// The ledger record of one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub key: String,
    pub open: bool,
    /// When the first message went out (epoch seconds).
    pub opened_at: i64,
    /// The first escalation's reason, for the reminders and the recovery.
    pub first_reason: String,
    /// Every check seen failing in this conversation.
    pub failing: BTreeSet<String>,
    pub last: Sent,
    /// When this version was decided (epoch seconds); the record's `LastModified` is preferred.
    pub written_at: i64,
}

/// What the report says about its conversation (CONTRACT §3 extension `conversation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationNote {
    pub key: String,
    /// `first`, `update`, `reminder`, `recovered`; `quiet` when the run was not published.
    pub message: String,
    /// When the problem was first reported, RFC 3339.
    pub since: String,
    pub detail: String,
}

/// What to do with a finished run's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Publish it as this message; write `record` first when set (`None`: the record already
    /// says so, this is a redelivery).
    Send {
        kind: MessageKind,
        record: Option<Conversation>,
    },
    /// Part of a conversation that needs no message now: not published.
    Quiet(String),
    /// Not part of a conversation: the usual rules decide.
    Usual,
}

/// The conversation a report belongs to, if any: the recurring checks only.
pub fn key(r: &Report, cfg: &Config) -> Option<String> {
    key_for(&r.trigger, r.playbook, r.dry_run, cfg)
}

/// [`key`] of a report on `trigger` by `playbook` (known before the report is).
pub fn key_for(
    trigger: &TriggerRef,
    playbook: Playbook,
    dry_run: bool,
    cfg: &Config,
) -> Option<String> {
    if dry_run || playbook == Playbook::AlarmGap {
        return None;
    }
    match trigger.kind {
        TriggerKind::Schedule if trigger.name != cfg.daily_rule => {
            Some(format!("schedule:{}", trigger.name))
        }
        // An alarm that is not one of ViewerAtlas's collector alarms has no conversation.
        TriggerKind::Alarm if playbook != Playbook::None => Some(format!("alarm:{}", trigger.name)),
        _ => None,
    }
}

fn is_problem(o: Outcome) -> bool {
    matches!(o, Outcome::Escalated | Outcome::Failed)
}

/// Decides about `r` given the stored conversation and its age in seconds (time since its last
/// message). `interval` is the reminder interval in seconds.
pub fn decide(
    r: &Report,
    key: &str,
    stored: Option<(&Conversation, i64)>,
    now: i64,
    interval: i64,
) -> Step {
    let tid = &r.trigger.id;
    if let Some((c, _)) = stored.filter(|(c, _)| c.last.trigger_id == *tid) {
        return if c.last.confirmed {
            Step::Quiet("an earlier delivery of this event already sent this message".into())
        } else {
            Step::Send {
                kind: c.last.kind,
                record: None,
            }
        };
    }
    let failing: BTreeSet<String> = r.failing_checks().map(|c| c.name.clone()).collect();
    if !is_problem(r.outcome) {
        return match stored.filter(|(c, _)| c.open) {
            Some((c, _)) if r.outcome == Outcome::Healthy => {
                send(MessageKind::Recovered, c, tid, now, |c| c.open = false)
            }
            _ => Step::Usual,
        };
    }
    // A conversation silent for two intervals has ended by lapse: the problem is new.
    let Some((c, age)) = stored.filter(|(c, age)| c.open && *age < 2 * interval) else {
        return Step::Send {
            kind: MessageKind::First,
            record: Some(opened(r, key, failing, now)),
        };
    };
    if !c.last.confirmed {
        if age < LOST_AFTER_SECS {
            return Step::Quiet(format!(
                "another run ({}) is sending the message about this problem",
                c.last.trigger_id
            ));
        }
        return send(c.last.kind, c, tid, now, |_| {});
    }
    if !failing.is_subset(&c.failing) {
        return send(MessageKind::Update, c, tid, now, |c| {
            c.failing.extend(failing.iter().cloned())
        });
    }
    if age >= interval {
        return send(MessageKind::Reminder, c, tid, now, |_| {});
    }
    Step::Quiet(format!(
        "same problem as the message of {} min ago; next reminder in {} min",
        age / 60,
        (interval - age + 59) / 60
    ))
}

fn opened(r: &Report, key: &str, failing: BTreeSet<String>, now: i64) -> Conversation {
    Conversation {
        key: key.to_string(),
        open: true,
        opened_at: now,
        first_reason: r.reason.clone(),
        failing,
        last: Sent {
            trigger_id: r.trigger.id.clone(),
            kind: MessageKind::First,
            confirmed: false,
        },
        written_at: now,
    }
}

fn send(
    kind: MessageKind,
    c: &Conversation,
    tid: &str,
    now: i64,
    change: impl FnOnce(&mut Conversation),
) -> Step {
    let mut next = c.clone();
    change(&mut next);
    next.last = Sent {
        trigger_id: tid.to_string(),
        kind,
        confirmed: false,
    };
    next.written_at = now;
    Step::Send {
        kind,
        record: Some(next),
    }
}

/// An action on the problem ends its conversation without a message of its own (the remediation
/// is published as usual): whatever comes next, a relapse or the loop guard stopping, is news and
/// starts a new conversation. The closed record, when `r` acted on an open conversation.
pub fn closed_by_action(r: &Report, stored: Option<&Conversation>) -> Option<Conversation> {
    let c = stored.filter(|c| c.open && r.outcome == Outcome::Remediated)?;
    let mut closed = c.clone();
    closed.open = false;
    Some(closed)
}

/// The record after its message was published; `None` when it no longer names that message.
pub fn confirmed(c: &Conversation, trigger_id: &str) -> Option<Conversation> {
    (c.last.trigger_id == trigger_id && !c.last.confirmed).then(|| {
        let mut c = c.clone();
        c.last.confirmed = true;
        c
    })
}

/// Marks the report with its place in the conversation (text, subject and JSON show it).
pub fn note(r: &mut Report, c: &Conversation, kind: MessageKind, interval: i64) {
    let every = interval / 60;
    let detail = match kind {
        MessageKind::First => format!(
            "first report of this problem; while it lasts, a reminder every {} and one message when it recovers",
            minutes_text(every)
        ),
        MessageKind::Update => format!(
            "ongoing since {}; another check started failing ({})",
            rfc3339(c.opened_at),
            c.failing.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        MessageKind::Reminder => format!(
            "still going on since {} (first: {}); next reminder in {} unless it recovers",
            rfc3339(c.opened_at),
            c.first_reason,
            minutes_text(every)
        ),
        MessageKind::Recovered => format!(
            "recovered: the problem first reported at {} ({}) is over",
            rfc3339(c.opened_at),
            c.first_reason
        ),
    };
    r.conversation = Some(ConversationNote {
        key: c.key.clone(),
        message: kind.name().to_string(),
        since: rfc3339(c.opened_at),
        detail,
    });
}

/// Marks a report that was judged part of a conversation and not published.
pub fn note_quiet(r: &mut Report, key: &str, why: String) {
    r.conversation = Some(ConversationNote {
        key: key.to_string(),
        message: "quiet".into(),
        since: String::new(),
        detail: format!("not published: {why}"),
    });
}

fn minutes_text(m: i64) -> String {
    if m % 60 == 0 {
        format!("{} h", m / 60)
    } else {
        format!("{m} min")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Check, TriggerRef};

    const H: i64 = 3600;

    fn run(id: &str, outcome: Outcome, failing: &[&str]) -> Report {
        let mut r = Report::new(
            TriggerRef {
                kind: TriggerKind::Schedule,
                id: id.into(),
                name: "vieweratlas-autoheal-freshness".into(),
            },
            Playbook::SmokeTest,
        );
        r.outcome = outcome;
        r.reason = format!("{outcome:?}");
        for f in failing {
            r.checks.push(Check::fail(f, "x"));
        }
        r
    }

    /// Plays runs every 15 min through `decide`, storing what it writes; returns the messages.
    fn play(runs: &[Report], interval: i64) -> Vec<(usize, MessageKind)> {
        let mut stored: Option<(Conversation, i64)> = None;
        let mut sent = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            let now = 1_000_000 + i as i64 * 900;
            let view = stored.as_ref().map(|(c, at)| (c, now - at));
            if let Step::Send { kind, record } = decide(r, "k", view, now, interval) {
                sent.push((i, kind));
                let c = record.or(stored.map(|(c, _)| c)).unwrap();
                stored = Some((confirmed(&c, &r.trigger.id).unwrap_or(c), now));
            }
        }
        sent
    }

    #[test]
    fn three_stale_hours_are_one_escalation_and_one_recovery() {
        let mut runs: Vec<Report> = (0..12)
            .map(|i| {
                run(
                    &format!("e{i}"),
                    Outcome::Escalated,
                    &["s3_snapshot_freshness"],
                )
            })
            .collect();
        runs.push(run("ok1", Outcome::Healthy, &[]));
        runs.push(run("ok2", Outcome::Healthy, &[]));
        assert_eq!(
            play(&runs, 4 * H),
            vec![(0, MessageKind::First), (12, MessageKind::Recovered)]
        );
    }

    #[test]
    fn reminders_follow_the_interval_and_a_new_failure_is_an_update() {
        let mut runs: Vec<Report> = (0..20)
            .map(|i| run(&format!("e{i}"), Outcome::Escalated, &["a"]))
            .collect();
        runs[5] = run("e5", Outcome::Escalated, &["a", "b"]);
        let sent = play(&runs, 2 * H);
        // 0: first; 5: update (b); then every 2 h (8 runs) after the last message.
        assert_eq!(
            sent,
            vec![
                (0, MessageKind::First),
                (5, MessageKind::Update),
                (13, MessageKind::Reminder)
            ]
        );
    }

    /// The conversation a first escalation opens.
    fn opened_by(r: &Report) -> Conversation {
        match decide(r, "k", None, 0, 4 * H) {
            Step::Send {
                record: Some(c), ..
            } => c,
            other => panic!("no conversation opened: {other:?}"),
        }
    }

    #[test]
    fn an_action_ends_the_conversation_so_a_relapse_is_news() {
        let c = opened_by(&run("e1", Outcome::Escalated, &["a"]));
        let fixed = run("f1", Outcome::Remediated, &[]);
        assert_eq!(
            decide(&fixed, "k", Some((&c, 600)), 600, 4 * H),
            Step::Usual
        );
        let closed = closed_by_action(&fixed, Some(&c)).unwrap();
        assert!(!closed.open);
        let again = run("e2", Outcome::Escalated, &["a"]);
        assert!(matches!(
            decide(&again, "k", Some((&closed, 900)), 900, 4 * H),
            Step::Send {
                kind: MessageKind::First,
                ..
            }
        ));
    }

    #[test]
    fn a_redelivery_is_quiet_once_published_and_sent_again_if_not() {
        let r = run("e1", Outcome::Escalated, &["a"]);
        let c = opened_by(&r);
        // The earlier attempt died before publishing: the same event sends it again.
        assert!(matches!(
            decide(&r, "k", Some((&c, 60)), 60, 4 * H),
            Step::Send {
                kind: MessageKind::First,
                record: None
            }
        ));
        let done = confirmed(&c, "e1").unwrap();
        assert!(matches!(
            decide(&r, "k", Some((&done, 60)), 60, 4 * H),
            Step::Quiet(_)
        ));
        // Another event while the first is still being published stays quiet; once that one is
        // overdue, it is taken as lost and sent.
        let other = run("e2", Outcome::Escalated, &["a"]);
        assert!(matches!(
            decide(&other, "k", Some((&c, 30)), 30, 4 * H),
            Step::Quiet(_)
        ));
        assert!(matches!(
            decide(
                &other,
                "k",
                Some((&c, LOST_AFTER_SECS)),
                LOST_AFTER_SECS,
                4 * H
            ),
            Step::Send {
                kind: MessageKind::First,
                ..
            }
        ));
    }
}
