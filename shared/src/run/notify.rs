//! Whether and how a finished run reaches the on-call engineer: the usual rules (problems and
//! actions always, healthy runs only when asked, ignored runs only when asked), and for the
//! recurring checks the conversation about an ongoing problem (`report::conversation`), whose
//! record this file keeps in the ledger.
//!
//! Whatever the ledger does, a problem is never silenced by a ledger failure: when the record
//! cannot be read or written, the report is published as it would have been without quiet.

use crate::clock::now_epoch;
use crate::config::Config;
use crate::deps::Deps;
use crate::report::conversation::{self, Conversation, Step};
use crate::report::publish::{self, Format, PublishError};
use crate::report::{Outcome, Playbook, Report};
use crate::safety::ledger::{Created, Ledger, Replaced, Versioned};

/// What to do with the report.
enum Plan {
    Publish {
        /// The conversation record to mark confirmed once published.
        confirm: Option<String>,
    },
    Quiet(String),
}

/// The usual rules, for runs outside a conversation.
fn wanted(r: &Report, cfg: &Config) -> bool {
    match r.outcome {
        // Playbook E's report doubles as the SNS test message, so it always goes out.
        Outcome::Healthy => cfg.publish_healthy || r.playbook == Playbook::AlarmGap,
        Outcome::Ignored => cfg.publish_ignored,
        _ => true,
    }
}

/// The conversation [`deliver`] will read for this report, if it is to be published (a report
/// that announces an action is published without one).
pub fn conversation_of(report: &Report, cfg: &Config, published: bool) -> Option<String> {
    let unannounced = published && report.claims.is_empty();
    conversation::key(report, cfg).filter(|_| unannounced)
}

/// The conversation record `key` ([`conversation_of`]), read ahead so that it is read with the
/// run's other reads; `None` when there is none to read, or the read failed (then [`deliver`]
/// reads it itself).
pub async fn conversation_read(
    deps: &Deps,
    key: Option<String>,
) -> Option<Option<Versioned<Conversation>>> {
    let ledger = deps.ledger();
    ledger.get(&ledger.key("conversations", &key?)).await.ok()
}

/// Publishes the report if it should reach on-call now (`true` when it did); marks it with its
/// conversation. A report that announces an action made is always published. `read`: the
/// conversation record as [`conversation_read`] read it (`None`: read it now).
pub async fn deliver(
    deps: &Deps,
    report: &mut Report,
    read: Option<Option<Versioned<Conversation>>>,
) -> Result<bool, PublishError> {
    let cfg = &deps.config;
    let plan = match conversation::key(report, cfg) {
        _ if !report.claims.is_empty() => Plan::Publish { confirm: None },
        Some(key) => converse(deps, report, &key, read).await,
        None if wanted(report, cfg) => Plan::Publish { confirm: None },
        None => Plan::Quiet(format!(
            "{} runs are not published (AUTOHEAL_PUBLISH_{}=true publishes them)",
            report.outcome.name(),
            report.outcome.name().to_ascii_uppercase()
        )),
    };
    let confirm = match plan {
        Plan::Quiet(why) => {
            tracing::info!(reason = %why, "report not published");
            return Ok(false);
        }
        Plan::Publish { confirm } => confirm,
    };
    let format = Format {
        chatbot: cfg.chatbot_format,
    };
    let id = publish::publish(deps.aws.sns(), &cfg.topic_arn, report, format).await?;
    tracing::info!(message_id = %id, "report published");
    if let Some(key) = confirm {
        mark_confirmed(&deps.ledger(), &key, &report.trigger.id).await;
    }
    Ok(true)
}

/// Decides within the conversation `key` and records the decision before publishing.
async fn converse(
    deps: &Deps,
    report: &mut Report,
    key: &str,
    mut read: Option<Option<Versioned<Conversation>>>,
) -> Plan {
    let cfg = &deps.config;
    let ledger = deps.ledger();
    let name = ledger.key("conversations", key);
    let interval = cfg.reminder_minutes as i64 * 60;
    // A few tries: a concurrent run may write the record between our read and our write.
    for _ in 0..4 {
        let now = now_epoch();
        let stored = match read.take() {
            Some(s) => s,
            None => match ledger.get::<Conversation>(&name).await {
                Ok(s) => s,
                Err(e) => return unrecorded(report, cfg, &e.to_string()),
            },
        };
        let view = stored.as_ref().map(|v| {
            let at = v.last_modified.unwrap_or(v.value.written_at);
            (&v.value, now - at)
        });
        let (kind, record) = match conversation::decide(report, key, view, now, interval) {
            Step::Usual if wanted(report, cfg) => {
                let closed = conversation::closed_by_action(report, view.map(|(c, _)| c));
                if let (Some(closed), Some(v)) = (closed, &stored) {
                    // Best effort: left open, the next escalation is a reminder, not news.
                    if let Err(e) = ledger.replace(&name, &closed, &v.etag).await {
                        tracing::warn!(error = %e, "conversation could not be closed");
                    }
                }
                return Plan::Publish { confirm: None };
            }
            Step::Usual => return Plan::Quiet(format!("{} run", report.outcome.name())),
            Step::Quiet(why) => {
                conversation::note_quiet(report, key, why.clone());
                return Plan::Quiet(why);
            }
            Step::Send { kind, record } => (kind, record),
        };
        let written = match (&record, &stored) {
            (None, _) => Ok(true),
            (Some(next), None) => ledger
                .create(&name, next)
                .await
                .map(|c| matches!(c, Created::Won(_))),
            (Some(next), Some(v)) => ledger
                .replace(&name, next, &v.etag)
                .await
                .map(|r| matches!(r, Replaced::Done(_))),
        };
        match written {
            Ok(true) => {
                let c = record.or(stored.map(|v| v.value));
                if let Some(c) = &c {
                    conversation::note(report, c, kind, interval);
                }
                return Plan::Publish {
                    confirm: Some(name),
                };
            }
            // Someone else wrote it: decide again on what they wrote.
            Ok(false) => continue,
            Err(e) => return unrecorded(report, cfg, &e.to_string()),
        }
    }
    unrecorded(
        report,
        cfg,
        "the record kept changing under concurrent runs",
    )
}

/// The conversation cannot be kept: fall back to the usual rules, which publish every problem.
fn unrecorded(report: &Report, cfg: &Config, why: &str) -> Plan {
    tracing::warn!(error = %why, "conversation record unavailable; usual publishing rules apply");
    if wanted(report, cfg) {
        Plan::Publish { confirm: None }
    } else {
        Plan::Quiet(format!("{} run", report.outcome.name()))
    }
}

async fn mark_confirmed(ledger: &Ledger, key: &str, trigger_id: &str) {
    let res = ledger
        .upsert::<Conversation, _>(key, |c| {
            c.and_then(|c| conversation::confirmed(c, trigger_id))
        })
        .await;
    if let Err(e) = res {
        // Unconfirmed, the message may be sent once more later: a duplicate, never a loss.
        tracing::warn!(error = %e, "published, but the conversation record could not be confirmed");
    }
}
