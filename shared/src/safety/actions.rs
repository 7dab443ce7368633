//! The actions Autoheal may take, as data. A playbook states one as an [`ActionSpec`]; the guard
//! re-checks, performs and records it; the ledger keeps it with the decision, so a held action can
//! be approved later, a deferred one carried out by the next scheduled run, and an interrupted one
//! verified by a retry: all of them perform exactly what was recorded.
//!
//! Each kind's checks and AWS calls live in `mutations/`, one file per kind.

use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::report::Playbook;
use crate::safety::mutations::{alarm, rule, service, task, MutationError};

/// An intended action with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub playbook: Playbook,
    /// What identifies the change being remediated. The event id by default; a secret version,
    /// say, when several events describe one change.
    pub change_id: String,
    pub detail: String,
    pub evidence: Vec<String>,
    /// Responding to an alarm: an earlier fix on the same target that did not hold counts toward
    /// loop detection.
    pub alarm_response: bool,
}

/// One mutation of ViewerAtlas, serialisable. `kind` is the action kind of CONTRACT §3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionSpec {
    /// `aws ecs update-service --force-new-deployment`: new tasks re-read the secrets.
    ForceNewDeployment {
        cluster: String,
        service: String,
        /// The alarm that justified it, which must still be in ALARM.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alarm: Option<String>,
    },
    /// Points a service at an existing task-definition revision (a rollback that rebuilds nothing).
    UpdateServiceTaskDefinition {
        cluster: String,
        service: String,
        task_definition_arn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alarm: Option<String>,
    },
    /// One manual run with exactly the schedule rule's target configuration.
    RunTask {
        rule: String,
        family: String,
    },
    DisableRule {
        rule: String,
    },
    EnableRule {
        rule: String,
    },
    /// Recreates a ViewerAtlas alarm from its apply-monitoring.sh definition.
    PutMetricAlarm {
        alarm: String,
    },
}

impl ActionSpec {
    /// The action kind, as in reports and the ledger.
    pub fn kind(&self) -> &'static str {
        match self {
            ActionSpec::ForceNewDeployment { .. } => "force_new_deployment",
            ActionSpec::UpdateServiceTaskDefinition { .. } => "update_service_task_definition",
            ActionSpec::RunTask { .. } => "run_task",
            ActionSpec::DisableRule { .. } => "disable_rule",
            ActionSpec::EnableRule { .. } => "enable_rule",
            ActionSpec::PutMetricAlarm { .. } => "put_metric_alarm",
        }
    }

    /// What is changed, stable across runs: one target is changed by one action at a time.
    pub fn target(&self) -> String {
        match self {
            ActionSpec::ForceNewDeployment {
                cluster, service, ..
            }
            | ActionSpec::UpdateServiceTaskDefinition {
                cluster, service, ..
            } => format!("service/{cluster}/{service}"),
            ActionSpec::RunTask { rule, .. }
            | ActionSpec::DisableRule { rule }
            | ActionSpec::EnableRule { rule } => format!("rule/{rule}"),
            ActionSpec::PutMetricAlarm { alarm } => format!("alarm/{alarm}"),
        }
    }

    /// Live state just before acting. `Err` says why acting now would be wrong or useless.
    pub async fn recheck(&self, deps: &Deps) -> Result<(), String> {
        let aws = &deps.aws;
        match self {
            ActionSpec::ForceNewDeployment {
                cluster,
                service,
                alarm,
            } => service::recheck_redeploy(aws, cluster, service, alarm.as_deref()).await,
            ActionSpec::UpdateServiceTaskDefinition {
                cluster,
                service,
                task_definition_arn,
                alarm,
            } => {
                service::recheck_point(aws, cluster, service, task_definition_arn, alarm.as_deref())
                    .await
            }
            ActionSpec::RunTask { rule, family } => task::recheck(aws, rule, family).await,
            ActionSpec::DisableRule { rule } => rule::recheck(aws, rule, false).await,
            ActionSpec::EnableRule { rule } => rule::recheck(aws, rule, true).await,
            ActionSpec::PutMetricAlarm { alarm } => alarm::recheck(deps, alarm).await,
        }
    }

    /// Did an earlier attempt (one whose answer was lost, or that died before recording it) make
    /// this change after `since`? Its result (deployment id, task ARN, …) if so. `tag` is the
    /// claim's own mark, for calls that can carry one (RunTask's startedBy).
    pub async fn already_applied(
        &self,
        deps: &Deps,
        since: i64,
        tag: &str,
    ) -> Result<Option<String>, String> {
        let aws = &deps.aws;
        match self {
            ActionSpec::ForceNewDeployment {
                cluster, service, ..
            } => service::redeployed_since(aws, cluster, service, since).await,
            ActionSpec::UpdateServiceTaskDefinition {
                cluster,
                service,
                task_definition_arn,
                ..
            } => service::runs(aws, cluster, service, task_definition_arn).await,
            ActionSpec::RunTask { rule, family } => task::started(aws, rule, family, tag).await,
            ActionSpec::DisableRule { rule } => rule::is_in_state(aws, rule, false).await,
            ActionSpec::EnableRule { rule } => rule::is_in_state(aws, rule, true).await,
            ActionSpec::PutMetricAlarm { alarm } => alarm::matches(deps, alarm).await,
        }
    }

    /// Performs the change; returns what identifies it (deployment id, task ARN, …).
    pub async fn apply(&self, deps: &Deps, tag: &str) -> Result<String, MutationError> {
        let aws = &deps.aws;
        match self {
            ActionSpec::ForceNewDeployment {
                cluster, service, ..
            } => service::redeploy(aws, cluster, service).await,
            ActionSpec::UpdateServiceTaskDefinition {
                cluster,
                service,
                task_definition_arn,
                ..
            } => service::point_at(aws, cluster, service, task_definition_arn).await,
            ActionSpec::RunTask { rule, .. } => task::run(aws, rule, tag).await,
            ActionSpec::DisableRule { rule } => rule::set(aws, rule, false).await,
            ActionSpec::EnableRule { rule } => rule::set(aws, rule, true).await,
            ActionSpec::PutMetricAlarm { alarm } => alarm::put(deps, alarm).await,
        }
    }
}
