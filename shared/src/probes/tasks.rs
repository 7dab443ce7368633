//! The scheduled tasks' evidence: a stopped task's own log stream, and the ECS target a schedule
//! rule runs (what a manual run must copy exactly).

use crate::aws::{describe_error, Aws};
use crate::intake::TaskChange;
use crate::probes::service::short_td;

/// Reads the task's own log stream, named by the awslogs settings of its task definition.
pub async fn task_log(aws: &Aws, t: &TaskChange) -> Result<(String, Vec<String>), String> {
    let td = aws
        .ecs()
        .describe_task_definition()
        .task_definition(&t.task_definition_arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "DescribeTaskDefinition {}: {}",
                short_td(&t.task_definition_arn),
                describe_error(&e)
            )
        })?;
    let c = td
        .task_definition()
        .and_then(|d| d.container_definitions().first())
        .ok_or_else(|| format!("{} has no containers", short_td(&t.task_definition_arn)))?;
    let opts = c
        .log_configuration()
        .and_then(|l| l.options())
        .cloned()
        .unwrap_or_default();
    let group = opts
        .get("awslogs-group")
        .cloned()
        .ok_or("the task definition has no awslogs group")?;
    let prefix = opts
        .get("awslogs-stream-prefix")
        .cloned()
        .unwrap_or_default();
    let task_id = t.task_arn.rsplit('/').next().unwrap_or_default();
    let stream = format!("{prefix}/{}/{task_id}", c.name().unwrap_or_default());
    let mut lines = Vec::new();
    let mut token = None;
    for _ in 0..10 {
        let out = aws
            .logs()
            .filter_log_events()
            .log_group_name(&group)
            .log_stream_names(&stream)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("FilterLogEvents {group} {stream}: {}", describe_error(&e)))?;
        lines.extend(
            out.events()
                .iter()
                .filter_map(|e| e.message().map(str::to_string)),
        );
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    Ok((format!("{group} {stream}"), lines))
}

/// The ECS target of a schedule rule, as RunTask input.
pub struct RuleTarget {
    pub cluster: String,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<String>,
}

pub async fn rule_target(aws: &Aws, rule: &str) -> Result<RuleTarget, String> {
    let out = aws
        .events()
        .list_targets_by_rule()
        .rule(rule)
        .send()
        .await
        .map_err(|e| format!("ListTargetsByRule {rule}: {}", describe_error(&e)))?;
    let t = out
        .targets()
        .iter()
        .find(|t| t.ecs_parameters().is_some())
        .ok_or_else(|| format!("{rule} has no ECS target"))?;
    let p = t
        .ecs_parameters()
        .ok_or_else(|| format!("{rule} has no ECS target"))?;
    let vpc = p
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    Ok(RuleTarget {
        cluster: t.arn().to_string(),
        task_definition: p.task_definition_arn().to_string(),
        launch_type: p.launch_type().map(|l| l.as_str().to_string()),
        platform_version: p.platform_version().map(str::to_string),
        subnets: vpc.map(|v| v.subnets().to_vec()).unwrap_or_default(),
        security_groups: vpc
            .map(|v| v.security_groups().to_vec())
            .unwrap_or_default(),
        assign_public_ip: vpc
            .and_then(|v| v.assign_public_ip())
            .map(|a| a.as_str().to_string()),
    })
}
