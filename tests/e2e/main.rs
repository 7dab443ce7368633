//! End-to-end tests: the real Autoheal code against a real AWS API emulator (moto server on
//! loopback, started per test by the harness). One test binary, so the SDK links once.

mod alarm_gap;
mod approve;
mod cli;
mod crash_matrix;
mod fault_sweep;
mod freshness;
mod iam;
mod incident;
mod intake;
mod links;
mod load;
mod overrides;
mod pause;
mod publishing;
mod responder;
mod retries;
mod rollback;
mod safety;
mod status;
mod tasks;
mod twitch;
