//! Forced redeploys and rollbacks of an ECS service (RUNBOOK §5 and §3).

use aws_sdk_ecs::operation::update_service::builders::UpdateServiceFluentBuilder;

use super::MutationError;
use crate::aws::{describe_error, Aws, AwsError};
use crate::probes::service::{alarm_still_firing, describe_service, rollout_quiet, short_td};

fn once() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
}

/// Never start a deployment on top of a rollout (never fight ECS's circuit breaker), nor on a
/// resolved alarm.
pub async fn recheck_redeploy(
    aws: &Aws,
    cluster: &str,
    service: &str,
    alarm: Option<&str>,
) -> Result<(), String> {
    live_service(aws, cluster, service, alarm).await.map(|_| ())
}

/// The alarm (when one asked) and the service, read together (one round trip, not two); the
/// alarm's verdict comes first. The service, when it may be changed now.
async fn live_service(
    aws: &Aws,
    cluster: &str,
    service: &str,
    alarm: Option<&str>,
) -> Result<aws_sdk_ecs::types::Service, String> {
    let firing = async {
        match alarm {
            Some(a) => alarm_still_firing(aws, a).await,
            None => Ok(()),
        }
    };
    let (firing, svc) = tokio::join!(firing, describe_service(aws, cluster, service));
    firing?;
    let svc = svc?;
    rollout_quiet(&svc)?;
    Ok(svc)
}

/// As for a redeploy, and the target revision exists, is ACTIVE and is not what runs already.
pub async fn recheck_point(
    aws: &Aws,
    cluster: &str,
    service: &str,
    task_definition_arn: &str,
    alarm: Option<&str>,
) -> Result<(), String> {
    let svc = live_service(aws, cluster, service, alarm).await?;
    if svc.task_definition() == Some(task_definition_arn) {
        return Err(format!(
            "service already runs {}",
            short_td(task_definition_arn)
        ));
    }
    let td = aws
        .ecs()
        .describe_task_definition()
        .task_definition(task_definition_arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "target revision {}: {}",
                short_td(task_definition_arn),
                describe_error(&e)
            )
        })?;
    match td
        .task_definition()
        .and_then(|t| t.status())
        .map(|s| s.as_str())
    {
        Some("ACTIVE") => Ok(()),
        other => Err(format!(
            "target revision {} is {}",
            short_td(task_definition_arn),
            other.unwrap_or("missing")
        )),
    }
}

/// A primary deployment created since `since`: a forced redeploy that was made.
pub async fn redeployed_since(
    aws: &Aws,
    cluster: &str,
    service: &str,
    since: i64,
) -> Result<Option<String>, String> {
    let svc = describe_service(aws, cluster, service).await?;
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    Ok(primary
        .filter(|d| d.created_at().is_some_and(|t| t.secs() >= since))
        .map(|d| format!("deployment {}", d.id().unwrap_or("?"))))
}

/// The service runs the revision: a rollback that was made.
pub async fn runs(
    aws: &Aws,
    cluster: &str,
    service: &str,
    task_definition_arn: &str,
) -> Result<Option<String>, String> {
    let svc = describe_service(aws, cluster, service).await?;
    Ok((svc.task_definition() == Some(task_definition_arn))
        .then(|| format!("service on {}", short_td(task_definition_arn))))
}

pub async fn redeploy(aws: &Aws, cluster: &str, service: &str) -> Result<String, MutationError> {
    let update = aws.ecs().update_service().force_new_deployment(true);
    let id = update_service(update, cluster, service).await?;
    Ok(format!("deployment {id}"))
}

pub async fn point_at(
    aws: &Aws,
    cluster: &str,
    service: &str,
    task_definition_arn: &str,
) -> Result<String, MutationError> {
    let update = aws
        .ecs()
        .update_service()
        .task_definition(task_definition_arn);
    let id = update_service(update, cluster, service).await?;
    Ok(format!(
        "service now on {} (deployment {id})",
        short_td(task_definition_arn)
    ))
}

/// Sends one UpdateService (never retried by the SDK: the guard reads back instead) and returns
/// the id of the deployment it started, the primary one.
async fn update_service(
    update: UpdateServiceFluentBuilder,
    cluster: &str,
    service: &str,
) -> Result<String, MutationError> {
    let out = update
        .cluster(cluster)
        .service(service)
        .customize()
        .config_override(once())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("UpdateService {service}"), &e))?;
    let id = out
        .service()
        .and_then(|s| {
            s.deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"))
                .or(s.deployments().first())
        })
        .and_then(|d| d.id())
        .unwrap_or("?");
    Ok(id.to_string())
}
