//! rotation-redeploy: Secrets Manager changes (CloudTrail via EventBridge) → one forced redeploy of
//! every service that injects the changed Twitch secret (RUNBOOK §5).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    autoheal::lambda::serve(autoheal::run::Function::RotationRedeploy).await
}
