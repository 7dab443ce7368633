//! Recreating a ViewerAtlas alarm from its apply-monitoring.sh definition (RUNBOOK §6 E).

use aws_sdk_cloudwatch::types::Dimension;

use super::MutationError;
use crate::aws::AwsError;
use crate::deps::Deps;
use crate::probes::alarms::{describe, drift, known_alarms, AlarmSpec};

/// The definition of a known alarm; Autoheal recreates nothing else.
fn spec(deps: &Deps, alarm: &str) -> Result<AlarmSpec, String> {
    known_alarms(&deps.config)
        .into_iter()
        .find(|s| s.name == alarm)
        .ok_or_else(|| format!("{alarm} is not one of the ViewerAtlas alarms"))
}

/// Someone may have fixed it since the check: only recreate what is still wrong.
pub async fn recheck(deps: &Deps, alarm: &str) -> Result<(), String> {
    let spec = spec(deps, alarm)?;
    let live = describe(&deps.aws, std::slice::from_ref(&spec.name)).await?;
    match live.into_iter().next() {
        None => Ok(()),
        Some(live) if !drift(&spec, &live, &deps.config.topic_arn).is_empty() => Ok(()),
        Some(_) => Err(format!("{alarm} already matches its definition")),
    }
}

pub async fn matches(deps: &Deps, alarm: &str) -> Result<Option<String>, String> {
    let spec = spec(deps, alarm)?;
    let live = describe(&deps.aws, std::slice::from_ref(&spec.name)).await?;
    Ok(live
        .first()
        .filter(|l| drift(&spec, l, &deps.config.topic_arn).is_empty())
        .map(|_| format!("{alarm} recreated from its definition (read back: it matches)")))
}

pub async fn put(deps: &Deps, alarm: &str) -> Result<String, MutationError> {
    let s = spec(deps, alarm).map_err(MutationError::Refused)?;
    let dims: Vec<Dimension> = s
        .dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect();
    deps.aws
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
        .alarm_actions(&deps.config.topic_arn)
        // Sent once, like every mutation.
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
