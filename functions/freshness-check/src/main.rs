//! freshness-check: the runbook's smoke test on an EventBridge schedule.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    autoheal::lambda::serve(autoheal::run::Function::FreshnessCheck).await
}
