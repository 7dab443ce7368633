//! Autoheal: the ViewerAtlas on-call runbook (../shared/RUNBOOK.md), run unattended.
//!
//! Every Lambda function and the `autoheal` CLI are thin wiring over this crate:
//! [`intake`] turns any delivered event into a typed trigger, [`run`] picks the playbook and
//! produces a [`report::Report`], [`publish`] sends it to the alerts topic.

pub mod alarms;
pub mod aws;
pub mod caller;
pub mod cli;
pub mod clock;
pub mod config;
pub mod freshness;
pub mod guard;
pub mod https;
pub mod incident;
pub mod intake;
pub mod lambda;
pub mod ledger;
pub mod logscan;
pub mod outcome;
pub mod publish;
pub mod remedy;
pub mod report;
pub mod responder;
pub mod rollback;
pub mod rotation;
pub mod run;
pub mod tasks;
pub mod telemetry;
pub mod twitch;
