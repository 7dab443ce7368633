//! The pending queue: actions a cooldown (or another action in flight on the same target) held
//! back although they are still needed. One ledger record, so a scheduled run reads it with one
//! request however large the ledger grows; the guard adds an item when it defers and removes it
//! when the action ends one way or another (`playbooks/deferred.rs` carries items out).

use serde::{Deserialize, Serialize};

use crate::report::TriggerRef;
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::ledger::{Ledger, LedgerError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    #[serde(default)]
    pub items: Vec<PendingItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingItem {
    /// The claim key: one item per (change, action, target).
    pub claim: String,
    pub intent: Intent,
    pub spec: ActionSpec,
    /// The event that asked for it.
    pub trigger: TriggerRef,
    /// Not before this (epoch seconds): when the cooldown ends or the action in flight is over.
    pub not_before: i64,
    /// Why it waits, for the report and `autoheal status`.
    pub reason: String,
    pub deferred_at: i64,
}

pub fn key(ledger: &Ledger) -> String {
    ledger.key("pending", "queue")
}

pub async fn load(ledger: &Ledger) -> Result<Pending, LedgerError> {
    ledger.value_or_default(&key(ledger)).await
}

/// Adds the item, or updates the one with the same claim (a second deferral moves it later).
pub async fn defer(ledger: &Ledger, item: PendingItem) -> Result<(), LedgerError> {
    ledger
        .update::<Pending, _>(&key(ledger), |p| {
            let first = p
                .items
                .iter()
                .find(|i| i.claim == item.claim)
                .map(|i| i.deferred_at);
            p.items.retain(|i| i.claim != item.claim);
            p.items.push(PendingItem {
                deferred_at: first.unwrap_or(item.deferred_at),
                ..item.clone()
            });
        })
        .await?;
    Ok(())
}

/// Removes the item of a claim whose action ended (done, failed, no longer needed).
pub async fn remove(ledger: &Ledger, claim: &str) -> Result<(), LedgerError> {
    ledger
        .upsert::<Pending, _>(&key(ledger), |current| {
            let p = current?;
            p.items.iter().any(|i| i.claim == claim).then(|| Pending {
                items: p
                    .items
                    .iter()
                    .filter(|i| i.claim != claim)
                    .cloned()
                    .collect(),
            })
        })
        .await?;
    Ok(())
}
