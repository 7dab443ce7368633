//! Autoheal: the ViewerAtlas on-call runbook, run unattended.
//!
//! Every Lambda function and the `autoheal` CLI are thin wiring over this crate. One event flows
//! through it top to bottom, and the folders follow that flow:
//!
//! 1. [`intake`] turns any delivered event (EventBridge, SNS, a direct alarm action) into a typed
//!    trigger, or a one-line error;
//! 2. [`run`] picks the playbook for the trigger and finishes the run (log, metrics, publish);
//! 3. `playbooks/` holds one file per runbook playbook: triage, judge, and the intended actions;
//! 4. `probes/` reads the evidence they judge from (freshness checks, log scans, the Twitch token
//!    check, live service and alarm state), and never changes anything;
//! 5. `safety/` is the only way to change AWS: the guard (policy, idempotency, live re-check,
//!    cooldowns and caps, dry run), the mutations it may make, and the S3 audit ledger;
//! 6. `report/` is what the on-call engineer reads: the report, its SNS message and its metrics.
//!
//! [`deps::Deps`] (settings + SDK clients, built once per process) is what every stage borrows.
//! The public surface is what the functions, the CLI and the tests use.

pub mod aws;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deps;
pub mod intake;
pub mod lambda;
pub mod report;
pub mod run;

mod playbooks;
mod probes;
mod safety;

/// The smoke test's checks, for tests and benchmarks that measure them directly.
pub use probes::freshness;
