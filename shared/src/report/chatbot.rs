//! The report as an AWS Chatbot (Amazon Q Developer in chat applications) custom notification, so
//! Slack or Teams show a title, the outcome and the next steps instead of raw JSON. With
//! `AUTOHEAL_CHATBOT_FORMAT=true` it is what the topic's HTTPS subscribers (Chatbot is one) receive;
//! email still gets the text and SQS and Lambda the JSON report.
//!
//! Schema: version `1.0`, source `custom`, `content` {textType `client-markdown`, title,
//! description, nextSteps, keywords}, `metadata` {threadId, summary, eventType, relatedResources,
//! additionalContext}. Messages of one conversation share a `threadId`, so the reminders and the
//! recovery land in the first escalation's thread.

use serde_json::{json, Value};

use crate::report::{truncate_chars, CheckStatus, Report};

/// Kept well inside what a chat message shows at once.
const TITLE_MAX: usize = 250;
const DESCRIPTION_MAX: usize = 3_000;
const STEP_MAX: usize = 600;
const STEPS_MAX: usize = 8;

pub fn notification(r: &Report) -> Value {
    let mut description = format!("*Outcome:* {}", r.outcome.name());
    description.push_str(&format!("\n*Why:* {}", r.reason));
    if let Some(c) = &r.conversation {
        description.push_str(&format!("\n*Problem:* {}", c.detail));
    }
    for c in r.failing_checks() {
        let mark = if c.status == CheckStatus::Error {
            "could not check"
        } else {
            "failed"
        };
        description.push_str(&format!("\n• {} {mark}: {}", c.name, c.detail));
        if let Some(l) = &c.link {
            // Standard markdown: client-markdown renders it in the chat platform's own syntax.
            description.push_str(&format!(" ([console]({l}))"));
        }
    }
    for a in &r.actions {
        description.push_str(&format!("\n• {} {}: {}", a.kind, a.target, a.detail));
    }
    let steps: Vec<String> = r
        .next_steps
        .iter()
        .take(STEPS_MAX)
        .map(|s| truncate_chars(s, STEP_MAX))
        .collect();
    let related: Vec<&String> = r
        .checks
        .iter()
        .filter_map(|c| c.link.as_ref())
        .chain(r.actions.iter().filter_map(|a| a.link.as_ref()))
        .take(10)
        .collect();
    let thread = r
        .conversation
        .as_ref()
        .map(|c| format!("{}@{}", c.key, c.since))
        .unwrap_or_else(|| r.trigger.id.clone());
    json!({
        "version": "1.0",
        "source": "custom",
        "id": r.trigger.id,
        "content": {
            "textType": "client-markdown",
            "title": truncate_chars(&r.subject(), TITLE_MAX),
            "description": truncate_chars(&description, DESCRIPTION_MAX),
            "nextSteps": steps,
            "keywords": ["autoheal", r.outcome.name(), r.playbook.name()],
        },
        "metadata": {
            "threadId": thread,
            "summary": truncate_chars(&r.reason, TITLE_MAX),
            "eventType": "autoheal-report",
            "relatedResources": related,
            "additionalContext": {
                "outcome": r.outcome.name(),
                "playbook": r.playbook.name(),
                "trigger": r.trigger.name,
                "finished_at": r.finished_at,
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Check, Outcome, Playbook, TriggerKind, TriggerRef};

    #[test]
    fn follows_the_custom_notification_schema() {
        let mut r = Report::new(
            TriggerRef {
                kind: TriggerKind::Schedule,
                id: "ev1".into(),
                name: "vieweratlas-autoheal-freshness".into(),
            },
            Playbook::SmokeTest,
        );
        r.conclude(Outcome::Escalated, "newest snapshot is 241 min old");
        r.checks
            .push(Check::fail("s3_snapshot_freshness", "241 min").with_link("https://x/y".into()));
        r.step("Follow RUNBOOK §6 A");
        let n = notification(&r);
        assert_eq!(n["version"], "1.0");
        assert_eq!(n["source"], "custom");
        assert_eq!(n["content"]["textType"], "client-markdown");
        assert!(n["content"]["title"]
            .as_str()
            .unwrap()
            .starts_with("[Autoheal] ESCALATED smoke-test"));
        assert_eq!(n["content"]["nextSteps"][0], "Follow RUNBOOK §6 A");
        assert!(n["content"]["description"]
            .as_str()
            .unwrap()
            .contains("s3_snapshot_freshness failed: 241 min"));
        assert_eq!(n["metadata"]["relatedResources"][0], "https://x/y");
    }
}
