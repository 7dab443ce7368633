//! The mutations Autoheal may make to ViewerAtlas, each with the live-state checks that must pass
//! just before it runs: forced redeploy and rollback of a service, a manual run of a scheduled
//! task, disabling or enabling a schedule rule, recreating an alarm. They are only ever executed
//! through [`crate::safety::guard::Guard`].

use aws_sdk_cloudwatch::types::Dimension;

use crate::aws::{describe_error, Aws, AwsError};
use crate::probes::alarms::{describe, drift, AlarmSpec};
use crate::probes::service::{alarm_still_firing, describe_service, rollout_quiet, short_td};
use crate::probes::tasks::rule_target;
use crate::safety::guard::{Mutation, MutationError};

/// Mutations are sent once: an SDK retry after a 5xx the service had in fact applied would start a
/// second deployment behind the ledger's back. The guard records the failure instead.
pub fn no_retry_ecs() -> aws_sdk_ecs::config::Builder {
    aws_sdk_ecs::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
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
        if let Some(a) = &self.alarm {
            alarm_still_firing(self.aws, a).await?;
        }
        let svc = describe_service(self.aws, &self.cluster, &self.service).await?;
        rollout_quiet(&svc)
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
    async fn apply(&self) -> Result<String, MutationError> {
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
            .map_err(|e| AwsError::from_sdk(format!("UpdateService {}", self.service), &e))?;
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
    async fn apply(&self) -> Result<String, MutationError> {
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
            .map_err(|e| AwsError::from_sdk(format!("UpdateService {}", self.service), &e))?;
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

/// `startedBy` of the runs Autoheal starts, so their results can re-enable a schedule.
pub const STARTED_BY: &str = "autoheal";

/// One manual run with exactly the schedule's target configuration (RUNBOOK §6 C).
pub struct ManualRun<'a> {
    pub aws: &'a Aws,
    pub rule: String,
    pub family: String,
}

impl Mutation for ManualRun<'_> {
    fn kind(&self) -> &'static str {
        "run_task"
    }
    fn target(&self) -> String {
        format!("rule/{}", self.rule)
    }
    async fn recheck(&self) -> Result<(), String> {
        let t = rule_target(self.aws, &self.rule).await?;
        // Never overlap a run that is still going (scheduled or manual).
        let running = self
            .aws
            .ecs()
            .list_tasks()
            .cluster(&t.cluster)
            .family(&self.family)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .send()
            .await
            .map_err(|e| format!("ListTasks {}: {}", self.family, describe_error(&e)))?;
        if !running.task_arns().is_empty() {
            return Err(format!(
                "a {} task is already running ({})",
                self.family,
                running.task_arns().join(", ")
            ));
        }
        Ok(())
    }
    async fn already_applied(&self, _since: i64) -> Option<String> {
        let t = rule_target(self.aws, &self.rule).await.ok()?;
        let out = self
            .aws
            .ecs()
            .list_tasks()
            .cluster(&t.cluster)
            .family(&self.family)
            .started_by(STARTED_BY)
            .send()
            .await
            .ok()?;
        out.task_arns().first().cloned()
    }
    async fn apply(&self) -> Result<String, MutationError> {
        use aws_sdk_ecs::types::{
            AssignPublicIp, AwsVpcConfiguration, LaunchType, NetworkConfiguration,
        };
        let t = rule_target(self.aws, &self.rule)
            .await
            .map_err(MutationError::Refused)?;
        let mut vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(t.subnets.clone()))
            .set_security_groups(Some(t.security_groups.clone()));
        if let Some(a) = &t.assign_public_ip {
            vpc = vpc.assign_public_ip(AssignPublicIp::from(a.as_str()));
        }
        let vpc = vpc.build().map_err(|e| {
            MutationError::Refused(format!("network configuration of {}: {e}", self.rule))
        })?;
        let out = self
            .aws
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
            .started_by(STARTED_BY)
            .count(1)
            .customize()
            .config_override(no_retry_ecs())
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("RunTask {}", short_td(&t.task_definition)), &e)
            })?;
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
}

/// Disables or enables a schedule rule (RUNBOOK §4).
pub struct SetRule<'a> {
    pub aws: &'a Aws,
    pub rule: String,
    pub enable: bool,
}

impl Mutation for SetRule<'_> {
    fn kind(&self) -> &'static str {
        if self.enable {
            "enable_rule"
        } else {
            "disable_rule"
        }
    }
    fn target(&self) -> String {
        format!("rule/{}", self.rule)
    }
    async fn recheck(&self) -> Result<(), String> {
        let want = if self.enable { "ENABLED" } else { "DISABLED" };
        let d = self
            .aws
            .events()
            .describe_rule()
            .name(&self.rule)
            .send()
            .await
            .map_err(|e| format!("DescribeRule {}: {}", self.rule, describe_error(&e)))?;
        match d.state().map(|s| s.as_str()) {
            Some(s) if s == want => Err(format!("{} is already {want}", self.rule)),
            _ => Ok(()),
        }
    }
    async fn already_applied(&self, _since: i64) -> Option<String> {
        let want = if self.enable { "ENABLED" } else { "DISABLED" };
        let d = self
            .aws
            .events()
            .describe_rule()
            .name(&self.rule)
            .send()
            .await
            .ok()?;
        (d.state().map(|s| s.as_str()) == Some(want)).then(|| format!("{} {want}", self.rule))
    }
    async fn apply(&self) -> Result<String, MutationError> {
        // Sent once, like every mutation (see no_retry_ecs).
        let once = || {
            aws_sdk_eventbridge::config::Builder::default()
                .retry_config(aws_config::retry::RetryConfig::disabled())
        };
        let op = format!("{} {}", self.kind(), self.rule);
        if self.enable {
            let call = self.aws.events().enable_rule().name(&self.rule);
            call.customize()
                .config_override(once())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(op, &e))?;
        } else {
            let call = self.aws.events().disable_rule().name(&self.rule);
            call.customize()
                .config_override(once())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(op, &e))?;
        }
        Ok(format!(
            "{} {}",
            self.rule,
            if self.enable { "ENABLED" } else { "DISABLED" }
        ))
    }
}

/// Recreates an alarm from its definition (RUNBOOK §6 E: re-run apply-monitoring).
pub struct PutAlarm<'a> {
    pub aws: &'a Aws,
    pub spec: AlarmSpec,
    pub topic: String,
}

impl Mutation for PutAlarm<'_> {
    fn kind(&self) -> &'static str {
        "put_metric_alarm"
    }
    fn target(&self) -> String {
        format!("alarm/{}", self.spec.name)
    }
    async fn recheck(&self) -> Result<(), String> {
        // Someone may have fixed it since the check: only recreate what is still wrong.
        match describe(self.aws, std::slice::from_ref(&self.spec.name))
            .await?
            .into_iter()
            .next()
        {
            None => Ok(()),
            Some(live) if !drift(&self.spec, &live, &self.topic).is_empty() => Ok(()),
            Some(_) => Err(format!("{} already matches its definition", self.spec.name)),
        }
    }
    async fn already_applied(&self, _since: i64) -> Option<String> {
        let live = describe(self.aws, std::slice::from_ref(&self.spec.name))
            .await
            .ok()?
            .into_iter()
            .next()?;
        drift(&self.spec, &live, &self.topic)
            .is_empty()
            .then(|| format!("{} matches its definition", self.spec.name))
    }
    async fn apply(&self) -> Result<String, MutationError> {
        let s = &self.spec;
        let dims: Vec<Dimension> = s
            .dimensions
            .iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect();
        self.aws
            .cloudwatch()
            .put_metric_alarm()
            .alarm_name(&s.name)
            .alarm_description(s.description)
            .namespace(s.namespace)
            .metric_name(s.metric)
            .statistic(s.statistic.clone())
            .period(s.period)
            .evaluation_periods(s.evaluation_periods)
            .threshold(s.threshold)
            .comparison_operator(s.comparison.clone())
            .treat_missing_data(s.treat_missing)
            .set_dimensions(Some(dims))
            .actions_enabled(true)
            .alarm_actions(&self.topic)
            // Sent once, like every mutation (see no_retry_ecs).
            .customize()
            .config_override(
                aws_sdk_cloudwatch::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("PutMetricAlarm {}", s.name), &e))?;
        Ok(format!("{} recreated from its definition", s.name))
    }
}
