//! Evidence: every read a playbook judges from. Nothing here changes AWS.

pub mod alarms;
pub mod freshness;
pub mod logscan;
pub mod secrets;
pub mod service;
pub mod tasks;
pub mod twitch;
