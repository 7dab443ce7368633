//! The runbook's playbooks, one file each, named after the playbook (RUNBOOK.md section in the
//! file's first line). A playbook reads evidence through `probes`, judges it, and hands every
//! intended change to the guard in `safety`; it returns the run's report.

pub mod alarm_gap;
pub mod approval;
pub mod deferred;
pub mod incident;
pub mod manual_run;
pub mod responder;
pub mod rollback;
pub mod rotation;
pub mod schedules;
pub mod smoke_test;
pub mod task_failure;
