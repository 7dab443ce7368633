//! Live state of ECS services, task definitions and alarms: what playbooks report as evidence and
//! what every mutation re-checks just before it acts.

use aws_sdk_ecs::types::{DeploymentRolloutState, Service};

use crate::aws::{describe_error, Aws};
use crate::intake::AlarmState;

/// `arn:…:task-definition/vieweratlas-collector:2` → `vieweratlas-collector:2`.
pub fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Describes one service; `Err` names what is wrong (missing, inactive, API failure).
pub async fn describe_service(aws: &Aws, cluster: &str, service: &str) -> Result<Service, String> {
    let out = aws
        .ecs()
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(|e| format!("DescribeServices {service}: {}", describe_error(&e)))?;
    match out.services().first() {
        Some(s) if s.status() == Some("ACTIVE") => Ok(s.clone()),
        Some(s) => Err(format!(
            "service {service} is {}",
            s.status().unwrap_or("not ACTIVE")
        )),
        None => Err(format!("service {service} not found in cluster {cluster}")),
    }
}

/// `Err` when ECS is rolling the service out or back: never start a deployment on top of one,
/// and never fight the deployment circuit breaker. A primary deployment whose rollout FAILED is
/// not rolling: the circuit breaker stopped it (without rolling back), and the older deployment
/// only keeps its tasks; that is the state a rollback is for.
pub fn rollout_quiet(svc: &Service) -> Result<(), String> {
    let deployments = svc.deployments();
    let primary_failed = deployments
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .is_some_and(|d| d.rollout_state() == Some(&DeploymentRolloutState::Failed));
    if deployments.len() > 1 && !primary_failed {
        let ids: Vec<String> = deployments
            .iter()
            .map(|d| {
                format!(
                    "{} {} on {}",
                    d.id().unwrap_or("?"),
                    d.status().unwrap_or("?"),
                    d.task_definition().map(short_td).unwrap_or("?")
                )
            })
            .collect();
        return Err(format!(
            "ECS is already rolling out or back ({} deployments: {})",
            deployments.len(),
            ids.join(", ")
        ));
    }
    if let Some(d) = deployments.first() {
        if d.rollout_state() == Some(&DeploymentRolloutState::InProgress) {
            return Err(format!(
                "deployment {} is IN_PROGRESS",
                d.id().unwrap_or("?")
            ));
        }
    }
    Ok(())
}

/// `Err` unless the alarm is in ALARM right now: never act on a resolved or stale signal.
pub async fn alarm_still_firing(aws: &Aws, alarm: &str) -> Result<(), String> {
    alarm_live_state(aws, alarm).await.map_err(|e| match e {
        AlarmLive::NotFiring(s) | AlarmLive::Unknown(s) => s,
    })
}

/// Why an alarm is not (known to be) firing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmLive {
    /// CloudWatch says OK, INSUFFICIENT_DATA, or the alarm is gone.
    NotFiring(String),
    /// CloudWatch could not be asked.
    Unknown(String),
}

pub async fn alarm_live_state(aws: &Aws, alarm: &str) -> Result<(), AlarmLive> {
    let out = aws
        .cloudwatch()
        .describe_alarms()
        .alarm_names(alarm)
        .send()
        .await
        .map_err(|e| {
            AlarmLive::Unknown(format!("DescribeAlarms {alarm}: {}", describe_error(&e)))
        })?;
    let state = out
        .metric_alarms()
        .first()
        .and_then(|a| a.state_value())
        .map(|s| s.as_str().to_string())
        .or_else(|| {
            out.composite_alarms()
                .first()
                .and_then(|a| a.state_value())
                .map(|s| s.as_str().to_string())
        });
    match state.as_deref().and_then(AlarmState::parse) {
        Some(AlarmState::Alarm) => Ok(()),
        Some(s) => Err(AlarmLive::NotFiring(format!(
            "alarm {alarm} is now {}, no longer ALARM",
            s.name()
        ))),
        None => Err(AlarmLive::NotFiring(format!(
            "alarm {alarm} does not exist (any more)"
        ))),
    }
}

/// Image of the first container of a revision, for before/after evidence.
pub async fn image_of(aws: &Aws, td: &str) -> String {
    match aws
        .ecs()
        .describe_task_definition()
        .task_definition(td)
        .send()
        .await
    {
        Ok(o) => o
            .task_definition()
            .and_then(|t| t.container_definitions().first())
            .and_then(|c| c.image())
            .map(|i| i.rsplit('/').next().unwrap_or(i).to_string())
            .unwrap_or_else(|| "?".into()),
        Err(e) => format!("unknown ({})", describe_error(&e)),
    }
}
