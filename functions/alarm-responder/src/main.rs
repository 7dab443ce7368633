//! alarm-responder: CloudWatch alarm responder: triage and runbook playbooks A, B (and rollback hand-off).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    autoheal::lambda::serve(autoheal::run::Function::AlarmResponder).await
}
