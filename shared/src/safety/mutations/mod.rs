//! The AWS calls behind each action kind, with the live-state checks that must pass just before
//! they run and the read-back that tells whether an earlier attempt already made them. Only the
//! guard calls these, through [`crate::safety::actions::ActionSpec`].
//!
//! Every mutating call is sent once (no SDK retry): a retried 5xx that the service had in fact
//! applied would act twice behind the ledger's back. The guard reads back instead.

pub mod alarm;
pub mod rule;
pub mod service;
pub mod task;

/// `startedBy` prefix of the runs Autoheal starts (the rest is the claim's tag), so their results
/// are recognised as Autoheal's verification runs.
pub const STARTED_BY: &str = "autoheal";

/// Why a mutation call did not succeed, as far as the guard's next step goes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    /// AWS answered and refused (a 4xx, a RunTask failure): nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// No answer, or a 5xx: the change may or may not have been made.
    #[error("{0}")]
    Unknown(String),
}

impl From<crate::aws::AwsError> for MutationError {
    fn from(e: crate::aws::AwsError) -> Self {
        if e.is(crate::aws::ErrorKind::Transient) {
            MutationError::Unknown(e.to_string())
        } else {
            MutationError::Refused(e.to_string())
        }
    }
}
