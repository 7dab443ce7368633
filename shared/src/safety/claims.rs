//! Idempotency: one claim per (change, action, target) in the ledger. Whoever creates it acts;
//! every other delivery of the same change finds it and learns what happened.
//!
//! A claim is leased until the deadline of the run that holds it (Lambda stops an invocation at
//! its deadline, so after it the holder is certainly gone). A delivery that finds an expired claim
//! still `claimed` takes it over, first asking AWS whether the dead holder had already acted; one
//! that finds an action `done` but never reported sends the report the dead holder could not.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::safety::actions::ActionSpec;
use crate::safety::ledger::{fnv1a, Created, Ledger, LedgerError, Replaced, Versioned};

/// How many times one change's action is attempted across deliveries before Autoheal stops trying.
pub const MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// A run holds it and may be acting.
    Claimed,
    /// The action was made; `result` says what it was.
    Done,
    /// The action failed (verified not made).
    Failed,
    /// Live state or a rail held it back; nothing was changed.
    Held,
    /// Held by a cooldown or another action in flight; the pending queue carries it out later.
    Deferred,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub change_id: String,
    pub action: String,
    pub target: String,
    pub playbook: String,
    pub status: ClaimStatus,
    pub claimed_at: i64,
    /// Until when the holder may be alive (0 in records written before leases: 15 min then).
    #[serde(default)]
    pub lease_until: i64,
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    /// A report saying the action was done reached the alerts topic.
    #[serde(default)]
    pub reported: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ActionSpec>,
}

impl Claim {
    pub fn lease_expired(&self, now: i64) -> bool {
        let until = if self.lease_until == 0 {
            self.claimed_at + 15 * 60
        } else {
            self.lease_until
        };
        now > until
    }

    /// Whether this claim keeps another delivery from acting now: the action was made, is being
    /// made by a holder that may be alive, or failed too often.
    pub fn taken(&self, now: i64) -> bool {
        match self.status {
            ClaimStatus::Done => true,
            ClaimStatus::Claimed => !self.lease_expired(now),
            ClaimStatus::Failed => self.attempt >= MAX_ATTEMPTS,
            ClaimStatus::Held | ClaimStatus::Deferred => false,
        }
    }

    pub fn summary(&self) -> String {
        match (self.status, &self.result) {
            (ClaimStatus::Done, Some(r)) => {
                format!("already done at {}: {r}", rfc3339(self.claimed_at))
            }
            (ClaimStatus::Claimed, _) => format!(
                "another invocation claimed it at {} and is acting (until {} at the latest)",
                rfc3339(self.claimed_at),
                rfc3339(self.lease_until)
            ),
            (s, _) => format!(
                "already handled at {} ({}{})",
                rfc3339(self.claimed_at),
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                self.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        }
    }
}

pub fn claim_name(change_id: &str, kind: &str, target: &str) -> String {
    format!("{change_id}--{kind}--{target}")
}

/// The claim's mark on AWS resources that can carry one (RunTask's startedBy and client token):
/// stable across takeovers, so a retry finds what an earlier attempt started.
pub fn tag(key: &str) -> String {
    format!("{:016x}", fnv1a(key))
}

/// The claim this run holds while it acts.
#[derive(Debug, Clone)]
pub struct Held {
    pub key: String,
    pub claim: Claim,
    pub etag: String,
}

/// What the claim stage found.
pub enum Claimed {
    /// This run holds the claim and should act (`previous`: the claim it took over, if any).
    Acting {
        held: Held,
        previous: Option<Box<Claim>>,
    },
    /// The action was done by an earlier delivery whose report never went out; this run holds
    /// the claim to report it.
    Unreported(Held),
    /// Another delivery handled or is handling it.
    Taken(Claim),
}

/// Creates the claim, or decides what an existing one means for this delivery.
pub async fn claim(
    ledger: &Ledger,
    key: &str,
    fresh: Claim,
    now: i64,
) -> Result<Claimed, LedgerError> {
    let existing = match ledger.create(key, &fresh).await? {
        Created::Won(etag) => {
            return Ok(Claimed::Acting {
                held: Held {
                    key: key.to_string(),
                    claim: fresh,
                    etag,
                },
                previous: None,
            })
        }
        Created::Exists(existing) => existing,
    };
    let c = existing.value.clone();
    let mine = |status: ClaimStatus, attempt: u32| Claim {
        status,
        attempt,
        claimed_at: now,
        lease_until: fresh.lease_until,
        ..c.clone()
    };
    match c.status {
        ClaimStatus::Done if !c.reported && c.lease_expired(now) => {
            let taken = Claim {
                lease_until: fresh.lease_until,
                ..c.clone()
            };
            Ok(match take(ledger, key, &existing, taken).await? {
                Some(held) => Claimed::Unreported(held),
                None => Claimed::Taken(c),
            })
        }
        ClaimStatus::Done => Ok(Claimed::Taken(c)),
        ClaimStatus::Claimed if !c.lease_expired(now) => Ok(Claimed::Taken(c)),
        ClaimStatus::Failed if c.attempt >= MAX_ATTEMPTS => Ok(Claimed::Taken(c)),
        // The holder died (claimed, lease over), or nothing was changed (held, deferred, failed):
        // this delivery decides afresh.
        _ => {
            // Only a claim whose holder may have called AWS counts as an attempt.
            let attempt = match c.status {
                ClaimStatus::Claimed | ClaimStatus::Failed => c.attempt + 1,
                _ => c.attempt.max(1),
            };
            let taken = mine(ClaimStatus::Claimed, attempt);
            Ok(match take(ledger, key, &existing, taken).await? {
                Some(held) => Claimed::Acting {
                    held,
                    previous: Some(Box::new(c)),
                },
                None => Claimed::Taken(c),
            })
        }
    }
}

/// Which claims a later delivery may take over once the holder's lease is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphan {
    /// Still `claimed`: the holder died before recording an outcome; read back what it did.
    Unfinished,
    /// `done` but never reported: the holder died before its report went out; report it.
    Unreported,
}

impl Orphan {
    fn is(self, c: &Claim, now: i64) -> bool {
        let state = match self {
            Orphan::Unfinished => c.status == ClaimStatus::Claimed,
            Orphan::Unreported => c.status == ClaimStatus::Done && !c.reported,
        };
        state && c.lease_expired(now)
    }
}

/// Takes over the claim at `key` when it is such an orphan; `None` when it is not (any more), or
/// another delivery took it first.
pub async fn take_orphan(
    ledger: &Ledger,
    key: &str,
    which: Orphan,
    lease_until: i64,
    now: i64,
) -> Result<Option<Held>, LedgerError> {
    take_if(ledger, key, lease_until, |c| which.is(c, now)).await
}

/// Takes the claim at `key` over with a new lease when `wanted` says so of its current state.
async fn take_if(
    ledger: &Ledger,
    key: &str,
    lease_until: i64,
    wanted: impl Fn(&Claim) -> bool,
) -> Result<Option<Held>, LedgerError> {
    let Some(existing) = ledger.get::<Claim>(key).await? else {
        return Ok(None);
    };
    if !wanted(&existing.value) {
        return Ok(None);
    }
    let taken = Claim {
        lease_until,
        ..existing.value.clone()
    };
    take(ledger, key, &existing, taken).await
}

/// Takes an existing claim over; `None` when another delivery took it first.
async fn take(
    ledger: &Ledger,
    key: &str,
    existing: &Versioned<Claim>,
    taken: Claim,
) -> Result<Option<Held>, LedgerError> {
    Ok(match ledger.replace(key, &taken, &existing.etag).await? {
        Replaced::Done(etag) => Some(Held {
            key: key.to_string(),
            claim: taken,
            etag,
        }),
        Replaced::Superseded => None,
    })
}

/// Records how the held claim ended. `Superseded` means a later delivery took it over after this
/// run's lease, and that delivery records its own ending.
pub async fn finish(
    ledger: &Ledger,
    held: &mut Held,
    status: ClaimStatus,
    result: Option<String>,
    reason: Option<String>,
) -> Result<(), LedgerError> {
    let mut c = held.claim.clone();
    c.status = status;
    c.result = result;
    c.reason = reason;
    if let Replaced::Done(etag) = ledger.replace(&held.key, &c, &held.etag).await? {
        held.claim = c;
        held.etag = etag;
    }
    Ok(())
}

/// After the report went out: a later delivery need not send it again.
pub async fn mark_reported(ledger: &Ledger, key: &str) -> Result<(), LedgerError> {
    ledger
        .upsert::<Claim, _>(key, |current| {
            let c = current?;
            (!c.reported).then(|| Claim {
                reported: true,
                ..c.clone()
            })
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(status: ClaimStatus, lease_until: i64) -> Claim {
        Claim {
            change_id: "c".into(),
            action: "force_new_deployment".into(),
            target: "service/x/y".into(),
            playbook: "secret-rotation".into(),
            status,
            claimed_at: 1_000,
            lease_until,
            attempt: 1,
            result: None,
            reason: None,
            reported: false,
            spec: None,
        }
    }

    #[test]
    fn leases_end_at_the_holders_deadline_and_old_records_get_fifteen_minutes() {
        assert!(!claim(ClaimStatus::Claimed, 1_060).lease_expired(1_060));
        assert!(claim(ClaimStatus::Claimed, 1_060).lease_expired(1_061));
        assert!(!claim(ClaimStatus::Claimed, 0).lease_expired(1_900));
        assert!(claim(ClaimStatus::Claimed, 0).lease_expired(1_901));
    }

    #[test]
    fn tags_are_stable_and_fit_ecs_started_by() {
        let t = tag("secret:x:v1--run_task--rule/r");
        assert_eq!(t, tag("secret:x:v1--run_task--rule/r"));
        assert_ne!(t, tag("secret:x:v2--run_task--rule/r"));
        assert!(format!("autoheal-{t}").len() <= 36);
    }
}
