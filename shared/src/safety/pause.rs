//! Pausing Autoheal without a deploy (`autoheal pause` / `autoheal resume`): one ledger record,
//! `pauses/active.json`, that the guard's policy stage reads before every action. A paused run
//! still triages and reports; its actions are held ("held: paused by … until …, reason …") and
//! recorded like any other decision. A pause ends by itself at its `until`; nothing has to clean
//! it up (an expired pause is simply no longer active, and the next write drops it).
//!
//! One pause per scope (everything, or one playbook): pausing a scope again replaces its pause, so
//! running the same command twice is the same as once. The record keeps the last
//! [`HISTORY_MAX`] pauses and resumes, with who and when.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::report::Playbook;
use crate::safety::ledger::{Ledger, LedgerError};

pub const HISTORY_MAX: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// The playbook paused; `None` pauses every playbook.
    pub playbook: Option<String>,
    pub by: String,
    pub reason: String,
    pub since: i64,
    /// When it ends by itself (epoch seconds); `None` lasts until `autoheal resume`.
    pub until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseEvent {
    pub at: i64,
    pub by: String,
    pub what: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pauses {
    #[serde(default)]
    pub pauses: Vec<Pause>,
    #[serde(default)]
    pub history: Vec<PauseEvent>,
}

impl Pause {
    pub fn is_active(&self, now: i64) -> bool {
        self.until.is_none_or(|u| u > now)
    }

    pub fn covers(&self, playbook: Playbook, now: i64) -> bool {
        self.is_active(now)
            && self
                .playbook
                .as_deref()
                .is_none_or(|p| p == playbook.name())
    }

    pub fn scope(&self) -> &str {
        self.playbook.as_deref().unwrap_or("every playbook")
    }

    /// "paused by alice until 2026-11-28T18:00:00Z, reason: collector deploy" — what a held
    /// action's report says.
    pub fn describe(&self) -> String {
        format!(
            "paused by {} ({}) {}, reason: {}",
            self.by,
            self.scope(),
            match self.until {
                Some(u) => format!("until {}", rfc3339(u)),
                None => "until someone runs autoheal resume".to_string(),
            },
            self.reason
        )
    }
}

pub fn key(ledger: &Ledger) -> String {
    ledger.key("pauses", "active")
}

/// Every pause on record, active or expired (status shows both).
pub async fn read(ledger: &Ledger) -> Result<Pauses, LedgerError> {
    ledger.value_or_default(&key(ledger)).await
}

/// The pause in `all` (the record as read) that holds `playbook` now, if any.
pub fn holding_in(all: Pauses, playbook: Playbook, now: i64) -> Option<Pause> {
    all.pauses.into_iter().find(|p| p.covers(playbook, now))
}

fn remember(all: &mut Pauses, event: PauseEvent) {
    all.history.push(event);
    let extra = all.history.len().saturating_sub(HISTORY_MAX);
    all.history.drain(..extra);
}

/// Pauses a scope (replacing its earlier pause); returns the record as stored.
pub async fn pause(ledger: &Ledger, p: Pause, now: i64) -> Result<Pauses, LedgerError> {
    ledger
        .update::<Pauses, _>(&key(ledger), |all| {
            all.pauses
                .retain(|q| q.is_active(now) && q.playbook != p.playbook);
            all.pauses.push(p.clone());
            remember(
                all,
                PauseEvent {
                    at: now,
                    by: p.by.clone(),
                    what: p.describe(),
                },
            );
        })
        .await
}

/// Ends the pause of one playbook, or every pause (`None`); returns the pauses it ended.
pub async fn resume(
    ledger: &Ledger,
    playbook: Option<&str>,
    by: &str,
    now: i64,
) -> Result<Vec<Pause>, LedgerError> {
    let mut ended = Vec::new();
    ledger
        .update::<Pauses, _>(&key(ledger), |all| {
            ended.clear();
            let (gone, kept): (Vec<Pause>, Vec<Pause>) = all.pauses.drain(..).partition(|q| {
                q.is_active(now) && playbook.is_none_or(|p| q.playbook.as_deref() == Some(p))
            });
            all.pauses = kept.into_iter().filter(|q| q.is_active(now)).collect();
            for g in &gone {
                remember(
                    all,
                    PauseEvent {
                        at: now,
                        by: by.to_string(),
                        what: format!("resumed {}", g.scope()),
                    },
                );
            }
            ended = gone;
        })
        .await?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(playbook: Option<&str>, until: Option<i64>) -> Pause {
        Pause {
            playbook: playbook.map(str::to_string),
            by: "alice".into(),
            reason: "deploy".into(),
            since: 0,
            until,
        }
    }

    #[test]
    fn a_pause_covers_its_scope_until_it_ends() {
        let all = p(None, Some(100));
        assert!(all.covers(Playbook::Rollback, 99));
        assert!(!all.covers(Playbook::Rollback, 100), "ended by itself");
        let one = p(Some("rollback"), None);
        assert!(one.covers(Playbook::Rollback, 10_000));
        assert!(!one.covers(Playbook::SecretRotation, 0));
        assert!(one
            .describe()
            .contains("until someone runs autoheal resume"));
        assert!(all.describe().starts_with(
            "paused by alice (every playbook) until 1970-01-01T00:01:40Z, reason: deploy"
        ));
    }
}
