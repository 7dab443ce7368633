//! One manual run of a scheduled task, with exactly its schedule rule's target configuration
//! (RUNBOOK §6 C and D).

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, DesiredStatus, LaunchType, NetworkConfiguration,
};

use super::MutationError;
use crate::aws::{describe_error, Aws, AwsError};
use crate::probes::service::short_td;
use crate::probes::tasks::rule_target;

use super::STARTED_BY;

fn once() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
}

/// `startedBy` of the run this claim starts: Autoheal's prefix and the claim's tag, so a retry can
/// find the task an earlier attempt started (ECS allows 36 characters).
pub fn started_by(tag: &str) -> String {
    format!("{STARTED_BY}-{tag}")
}

/// Never overlap a run that is still going (scheduled or manual).
pub async fn recheck(aws: &Aws, rule: &str, family: &str) -> Result<(), String> {
    let t = rule_target(aws, rule).await?;
    let running = aws
        .ecs()
        .list_tasks()
        .cluster(&t.cluster)
        .family(family)
        .desired_status(DesiredStatus::Running)
        .send()
        .await
        .map_err(|e| format!("ListTasks {family}: {}", describe_error(&e)))?;
    if !running.task_arns().is_empty() {
        return Err(format!(
            "a {family} task is already running ({})",
            running.task_arns().join(", ")
        ));
    }
    Ok(())
}

/// The task this claim started, running or stopped.
pub async fn started(
    aws: &Aws,
    rule: &str,
    family: &str,
    tag: &str,
) -> Result<Option<String>, String> {
    let t = rule_target(aws, rule).await?;
    for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
        let out = aws
            .ecs()
            .list_tasks()
            .cluster(&t.cluster)
            .family(family)
            .started_by(started_by(tag))
            .desired_status(status)
            .send()
            .await
            .map_err(|e| format!("ListTasks {family}: {}", describe_error(&e)))?;
        if let Some(arn) = out.task_arns().first() {
            return Ok(Some(format!(
                "task {arn} on {}",
                short_td(&t.task_definition)
            )));
        }
    }
    Ok(None)
}

/// RunTask with the rule's target. The claim's tag is the client token too, so a request ECS
/// received twice starts one task.
pub async fn run(aws: &Aws, rule: &str, tag: &str) -> Result<String, MutationError> {
    let t = rule_target(aws, rule)
        .await
        .map_err(MutationError::Refused)?;
    let mut vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(t.subnets.clone()))
        .set_security_groups(Some(t.security_groups.clone()));
    if let Some(a) = &t.assign_public_ip {
        vpc = vpc.assign_public_ip(AssignPublicIp::from(a.as_str()));
    }
    let vpc = vpc
        .build()
        .map_err(|e| MutationError::Refused(format!("network configuration of {rule}: {e}")))?;
    let out = aws
        .ecs()
        .run_task()
        .cluster(&t.cluster)
        .task_definition(&t.task_definition)
        .set_launch_type(t.launch_type.as_deref().map(LaunchType::from))
        .set_platform_version(t.platform_version.clone())
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        )
        .started_by(started_by(tag))
        .client_token(tag)
        .count(1)
        .customize()
        .config_override(once())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("RunTask {}", short_td(&t.task_definition)), &e))?;
    if let Some(f) = out.failures().first() {
        return Err(MutationError::Refused(format!(
            "RunTask failed: {}",
            f.reason().unwrap_or("unknown")
        )));
    }
    let arn = out
        .tasks()
        .first()
        .and_then(|t| t.task_arn())
        .unwrap_or("?");
    Ok(format!("task {arn} on {}", short_td(&t.task_definition)))
}
