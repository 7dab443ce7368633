//! Autoheal: the ViewerAtlas on-call runbook (../shared/RUNBOOK.md), run unattended.
//!
//! Every Lambda function and the `autoheal` CLI are thin wiring over this crate:
//! [`intake`] turns any delivered event into a typed trigger, [`run`] picks the playbook and
//! produces a [`report::Report`], [`publish`] sends it to the alerts topic.

pub mod alarms;
pub mod aws;
pub mod cli;
pub mod clock;
pub mod config;
pub mod freshness;
pub mod guard;
pub mod ledger;
pub mod outcome;
pub mod remedy;
pub mod rotation;
pub mod incident;
pub mod intake;
pub mod logscan;
pub mod lambda;
pub mod publish;
pub mod report;
pub mod responder;
pub mod rollback;
pub mod run;
pub mod tasks;
pub mod twitch;
pub mod telemetry;
