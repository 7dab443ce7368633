//! The mutations Autoheal may make to ViewerAtlas's ECS services, each with the live-state checks
//! that must pass just before it runs. They are only ever executed through [`crate::guard::Guard`].

use aws_sdk_ecs::types::{DeploymentRolloutState, Service};

use crate::aws::{describe_error, Aws};
use crate::freshness::short_td;
use crate::guard::Mutation;
use crate::intake::AlarmState;

/// Mutations are sent once: an SDK retry after a 5xx the service had in fact applied would start a
/// second deployment behind the ledger's back. The guard records the failure instead.
pub fn no_retry_ecs() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
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
/// and never fight the deployment circuit breaker.
pub fn rollout_quiet(svc: &Service) -> Result<(), String> {
    let deployments = svc.deployments();
    if deployments.len() > 1 {
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

/// `aws ecs update-service --force-new-deployment`: new tasks re-read the secrets.
pub struct ForceDeployment<'a> {
    pub aws: &'a Aws,
    pub cluster: String,
    pub service: String,
    /// When set, the alarm that justified this must still be in ALARM.
    pub alarm: Option<String>,
}

impl Mutation for ForceDeployment<'_> {
    fn kind(&self) -> &'static str {
        "force_new_deployment"
    }
    fn target(&self) -> String {
        format!("service/{}/{}", self.cluster, self.service)
    }
    async fn recheck(&self) -> Result<(), String> {
        // Two independent reads, asked together: one round trip to AWS instead of two. The alarm's
        // verdict still comes first.
        let alarm = async {
            match &self.alarm {
                Some(a) => alarm_still_firing(self.aws, a).await,
                None => Ok(()),
            }
        };
        let (alarm, svc) = tokio::join!(
            alarm,
            describe_service(self.aws, &self.cluster, &self.service)
        );
        alarm?;
        rollout_quiet(&svc?)
    }
    async fn already_applied(&self, since: i64) -> Option<String> {
        let svc = describe_service(self.aws, &self.cluster, &self.service)
            .await
            .ok()?;
        let d = svc
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))?;
        (d.created_at()?.secs() >= since).then(|| format!("deployment {}", d.id().unwrap_or("?")))
    }
    async fn apply(&self) -> Result<String, String> {
        let out = self
            .aws
            .ecs()
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .force_new_deployment(true)
            .customize()
            .config_override(no_retry_ecs())
            .send()
            .await
            .map_err(|e| format!("UpdateService {}: {}", self.service, describe_error(&e)))?;
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
        Ok(format!("deployment {id}"))
    }
}

/// Points a service at an existing task-definition revision (a rollback that rebuilds nothing).
pub struct PointServiceAt<'a> {
    pub aws: &'a Aws,
    pub cluster: String,
    pub service: String,
    pub task_definition_arn: String,
}

impl Mutation for PointServiceAt<'_> {
    fn kind(&self) -> &'static str {
        "update_service_task_definition"
    }
    fn target(&self) -> String {
        format!("service/{}/{}", self.cluster, self.service)
    }
    async fn recheck(&self) -> Result<(), String> {
        let svc = describe_service(self.aws, &self.cluster, &self.service).await?;
        rollout_quiet(&svc)?;
        if svc.task_definition() == Some(self.task_definition_arn.as_str()) {
            return Err(format!(
                "service already runs {}",
                short_td(&self.task_definition_arn)
            ));
        }
        let td = self
            .aws
            .ecs()
            .describe_task_definition()
            .task_definition(&self.task_definition_arn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "target revision {}: {}",
                    short_td(&self.task_definition_arn),
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
                short_td(&self.task_definition_arn),
                other.unwrap_or("missing")
            )),
        }
    }
    async fn already_applied(&self, _since: i64) -> Option<String> {
        let svc = describe_service(self.aws, &self.cluster, &self.service)
            .await
            .ok()?;
        (svc.task_definition() == Some(self.task_definition_arn.as_str()))
            .then(|| format!("service on {}", short_td(&self.task_definition_arn)))
    }
    async fn apply(&self) -> Result<String, String> {
        let out = self
            .aws
            .ecs()
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .task_definition(&self.task_definition_arn)
            .customize()
            .config_override(no_retry_ecs())
            .send()
            .await
            .map_err(|e| format!("UpdateService {}: {}", self.service, describe_error(&e)))?;
        let id = out
            .service()
            .and_then(|s| s.deployments().first())
            .and_then(|d| d.id())
            .unwrap_or("?");
        Ok(format!(
            "service now on {} (deployment {id})",
            short_td(&self.task_definition_arn)
        ))
    }
}
