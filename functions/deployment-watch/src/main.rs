//! deployment-watch: ECS deployment watcher: roll back failed collector deployments to known-good (RUNBOOK §3).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    autoheal::lambda::serve(autoheal::run::Function::DeploymentWatch).await
}
