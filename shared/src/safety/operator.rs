//! Who is behind an operator's command, as the guard and the audit ledger record it.

use serde::{Deserialize, Serialize};

/// The person behind an operator's command (`autoheal rollback`, `schedules`, `run`, `approve`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub by: String,
    #[serde(default)]
    pub why: Option<String>,
    /// `--force`: pass a cooldown or the daily cap (never the claim or the live re-check).
    #[serde(default)]
    pub force: bool,
    /// `autoheal approve <id>`: the decision approved; the policy stage (report-only, allow-list,
    /// pause) was the human's to pass, and they did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approves: Option<String>,
}
