//! End-to-end tests: the real Autoheal code against a real AWS API emulator (moto server on
//! loopback, started per test by the harness). One test binary, so the SDK links once.

mod cli;
mod freshness;
mod intake;
mod load;
mod safety;
mod responder;
mod rollback;
mod alarm_gap;
mod tasks;
mod twitch;
mod incident;
