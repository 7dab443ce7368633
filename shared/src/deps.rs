//! What every run borrows: the validated settings and the SDK clients, built once per process (at a
//! Lambda function's init, or when the CLI starts) and passed down by reference.

use crate::aws::Aws;
use crate::config::Config;
use crate::safety::ledger::Ledger;

#[derive(Debug, Clone)]
pub struct Deps {
    pub config: Config,
    pub aws: Aws,
}

impl Deps {
    /// The audit ledger in the configured bucket and prefix (a handle; nothing is read yet).
    pub fn ledger(&self) -> Ledger {
        Ledger::new(
            self.aws.s3().clone(),
            &self.config.bucket,
            &self.config.ledger_prefix,
        )
    }
}
