//! What every run borrows: the validated settings and the SDK clients, built once per process (at a
//! Lambda function's init, or when the CLI starts) and passed down by reference.

use crate::aws::Aws;
use crate::config::Config;

#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub aws: Aws,
}

// `Deps::ledger()` is defined next to the ledger (safety/ledger.rs), so that this file, which
// everything imports, imports nothing of the layers above it.

/// What one run may do, and until when it can be alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invocation {
    /// Reads and checks only: nothing mutates AWS, nothing is published (CONTRACT §2).
    pub dry_run: bool,
    /// Epoch seconds after which this run is certainly gone: Lambda stops an invocation at its
    /// deadline, so a claim this run holds may be taken over by a retry after it. For the CLI,
    /// the configured claim lease from the start of the run.
    pub deadline: i64,
}

impl Invocation {
    /// A run starting now that lasts at most `AUTOHEAL_CLAIM_LEASE_SECONDS` (the CLI, tests).
    pub fn now(config: &Config, dry_run: bool) -> Self {
        Self {
            dry_run,
            deadline: crate::clock::now_epoch() + config.claim_lease_seconds as i64,
        }
    }
}
