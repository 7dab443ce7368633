//! What each event set in motion, by its id: the claims its deliveries made. A delivery that comes
//! again (Lambda's retry of a run that died, EventBridge's redelivery, a replay) reads it, so its
//! report states what an earlier delivery did even when nothing is left to do, and announces an
//! action whose report the dead run never sent (a repaired alarm, a re-enabled rule…).

use serde::{Deserialize, Serialize};

use crate::clock::now_epoch;
use crate::deps::Deps;
use crate::safety::claims::{self, Claim, ClaimStatus, Orphan};
use crate::safety::history::{self, TargetHistory};
use crate::safety::ledger::{Ledger, LedgerError, Versioned};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// Ledger keys of the claims made for this event.
    #[serde(default)]
    pub claims: Vec<String>,
}

pub fn key(ledger: &Ledger, trigger_id: &str) -> String {
    ledger.key("deliveries", trigger_id)
}

/// Notes that this event made `claim` (before its action is attempted), starting from the record
/// as `read` (see [`Ledger::upsert_from`]; `None`: read it now).
pub async fn note(
    ledger: &Ledger,
    trigger_id: &str,
    claim: &str,
    read: Option<Option<Versioned<Delivery>>>,
) -> Result<(), LedgerError> {
    ledger
        .upsert_from::<Delivery, _>(&key(ledger, trigger_id), read, |current| {
            let mut d = current.cloned().unwrap_or_default();
            if d.claims.iter().any(|c| c == claim) {
                return None;
            }
            d.claims.push(claim.to_string());
            Some(d)
        })
        .await?;
    Ok(())
}

/// The claims earlier deliveries of this event made, as they stand now, but those in `skip` (this
/// delivery's own, which it need not read back). `read`: the event's record as read ahead
/// (`None`: read it now).
pub async fn earlier(
    ledger: &Ledger,
    trigger_id: &str,
    skip: &[String],
    read: Option<Option<Versioned<Delivery>>>,
) -> Result<Vec<(String, Claim)>, LedgerError> {
    let read = match read {
        Some(r) => r,
        None => ledger.get::<Delivery>(&key(ledger, trigger_id)).await?,
    };
    let Some(d) = read else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for k in d.value.claims.into_iter().filter(|k| !skip.contains(k)) {
        if let Some(c) = ledger.get::<Claim>(&k).await? {
            out.push((k, c.value));
        }
    }
    Ok(out)
}

/// What an earlier delivery of this event did, as this delivery must report it.
#[derive(Debug, Clone, PartialEq)]
pub enum Earlier {
    /// Done, and its report never went out: this report announces it (and then marks it).
    Unannounced { claim: String, c: Claim },
    /// Done and announced: this report states it.
    Announced(Claim),
}

/// Settles what earlier deliveries of this event left behind, and says what to report. A claim
/// whose holder died after calling AWS (still `claimed`, lease over) is read back now: made, it is
/// recorded done and announced; not made, the claim and its reserved slot are released.
pub async fn settle_earlier(
    deps: &Deps,
    trigger_id: &str,
    skip: &[String],
    lease_until: i64,
    read: Option<Option<Versioned<Delivery>>>,
) -> Result<Vec<Earlier>, LedgerError> {
    let ledger = deps.ledger();
    let now = now_epoch();
    let mut out = Vec::new();
    for (key, c) in earlier(&ledger, trigger_id, skip, read).await? {
        let c = match c.status {
            ClaimStatus::Claimed if c.lease_expired(now) => {
                // Resumed and found made: this run holds the claim and announces it.
                if let Some(done) = resume(deps, &ledger, &key, lease_until, now).await? {
                    out.push(Earlier::Unannounced {
                        claim: key,
                        c: done,
                    });
                }
                continue;
            }
            ClaimStatus::Done => c,
            _ => continue,
        };
        if claims::take_orphan(&ledger, &key, Orphan::Unreported, lease_until, now)
            .await?
            .is_some()
        {
            out.push(Earlier::Unannounced { claim: key, c });
        } else {
            out.push(Earlier::Announced(c));
        }
    }
    Ok(out)
}

/// Reads back an action whose holder died: the claim as it now stands when the action was made;
/// `None` when it was not (claim and reserved slot released) or another delivery resumed it.
async fn resume(
    deps: &Deps,
    ledger: &Ledger,
    key: &str,
    lease_until: i64,
    now: i64,
) -> Result<Option<Claim>, LedgerError> {
    let Some(mut held) =
        claims::take_orphan(ledger, key, Orphan::Unfinished, lease_until, now).await?
    else {
        return Ok(None);
    };
    let Some(spec) = held.claim.spec.clone() else {
        return Ok(None);
    };
    let since = held.claim.claimed_at;
    match spec.already_applied(deps, since, &claims::tag(key)).await {
        Ok(Some(result)) => {
            claims::finish(
                ledger,
                &mut held,
                ClaimStatus::Done,
                Some(result.clone()),
                None,
            )
            .await?;
            ledger
                .update::<TargetHistory, _>(&ledger.key("targets", &held.claim.target), |h| {
                    history::settle_slot(h, key, &result)
                })
                .await?;
            Ok(Some(held.claim.clone()))
        }
        Ok(None) => {
            let reason = "an earlier delivery died before acting; released".to_string();
            claims::finish(ledger, &mut held, ClaimStatus::Held, None, Some(reason)).await?;
            ledger
                .update::<TargetHistory, _>(&ledger.key("targets", &held.claim.target), |h| {
                    history::release(h, key)
                })
                .await?;
            Ok(None)
        }
        // Cannot tell yet: leave it for the next delivery (its lease is ours until then).
        Err(_) => Ok(None),
    }
}
