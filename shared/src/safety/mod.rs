//! The only way Autoheal changes AWS. A playbook states an [`actions::Intent`] and an
//! [`actions::ActionSpec`]; the [`guard`] decides (policy, [`claims`], [`history`] rails, live
//! re-check, dry run), performs it through [`mutations`] and records the decision in the
//! [`ledger`]; held-back actions wait in [`pending`]; [`settle`] turns the guard's verdicts into
//! the report's outcome.

pub mod actions;
pub mod claims;
pub mod deliveries;
pub mod guard;
pub mod history;
pub mod ledger;
pub mod mutations;
pub mod operator;
pub mod pause;
pub mod pending;
pub mod settle;
pub mod standing;
