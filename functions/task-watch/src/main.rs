//! task-watch: ECS Task State Change events of the analysis and VOD families → playbooks C and D,
//! one guarded manual run, and schedule control after repeated failures (RUNBOOK §4).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    autoheal::lambda::serve(autoheal::run::Function::TaskWatch).await
}
