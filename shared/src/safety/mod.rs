//! The only way Autoheal changes AWS. A playbook states an intent and a mutation; the [`guard`]
//! decides (policy, idempotency, live re-check, cooldowns, caps, dry run), performs it and records
//! the decision in the [`ledger`]; [`settle`] turns the guard's verdicts into the report's outcome.

pub mod guard;
pub mod ledger;
pub mod mutations;
pub mod operator;
pub mod pause;
pub mod settle;
pub mod standing;
