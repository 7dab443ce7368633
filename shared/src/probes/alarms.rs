//! ViewerAtlas's three alarms as apply-monitoring.sh defines them (VIEWERATLAS.md §1), and how a
//! live alarm differs from its definition.

use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm, Statistic};

use crate::aws::{describe_error, Aws};
use crate::config::Config;

/// An alarm as apply-monitoring.sh creates it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: String,
    pub description: &'static str,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub statistic: Statistic,
    pub period: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    pub comparison: ComparisonOperator,
    pub treat_missing: &'static str,
    pub dimensions: Vec<(String, String)>,
}

pub fn known_alarms(cfg: &Config) -> Vec<AlarmSpec> {
    vec![
        AlarmSpec {
            name: cfg.alarm_unavailable.clone(),
            description: "Collector running task count dropped below 1",
            namespace: "ECS/ContainerInsights",
            metric: "RunningTaskCount",
            statistic: Statistic::Average,
            period: 300,
            evaluation_periods: 2,
            threshold: 1.0,
            comparison: ComparisonOperator::LessThanThreshold,
            treat_missing: "breaching",
            dimensions: vec![
                ("ClusterName".into(), cfg.cluster.clone()),
                ("ServiceName".into(), cfg.collector_service.clone()),
            ],
        },
        AlarmSpec {
            name: cfg.alarm_snapshot_stalled.clone(),
            description: "No collector snapshot save logs in expected window",
            namespace: "ViewerAtlas/Collector",
            metric: "SnapshotSavedCount",
            statistic: Statistic::Sum,
            period: cfg.snapshot_window_seconds as i32,
            evaluation_periods: 1,
            threshold: 1.0,
            comparison: ComparisonOperator::LessThanThreshold,
            treat_missing: "breaching",
            dimensions: vec![],
        },
        AlarmSpec {
            name: cfg.alarm_error_spike.clone(),
            description: "Collector error log volume exceeded threshold",
            namespace: "ViewerAtlas/Collector",
            metric: "CollectorErrorCount",
            statistic: Statistic::Sum,
            period: 300,
            evaluation_periods: 1,
            threshold: cfg.error_spike_threshold as f64,
            comparison: ComparisonOperator::GreaterThanOrEqualToThreshold,
            treat_missing: "notBreaching",
            dimensions: vec![],
        },
    ]
}

/// Differences between the live alarm and its definition; empty when it matches.
pub fn drift(spec: &AlarmSpec, live: &MetricAlarm, topic: &str) -> Vec<String> {
    let mut d = Vec::new();
    let mut cmp = |what: &str, want: String, got: String| {
        if want != got {
            d.push(format!("{what} is {got}, should be {want}"));
        }
    };
    cmp(
        "namespace",
        spec.namespace.into(),
        live.namespace().unwrap_or("-").into(),
    );
    cmp(
        "metric",
        spec.metric.into(),
        live.metric_name().unwrap_or("-").into(),
    );
    cmp(
        "statistic",
        spec.statistic.as_str().into(),
        live.statistic().map(|s| s.as_str()).unwrap_or("-").into(),
    );
    cmp(
        "period",
        spec.period.to_string(),
        live.period().map(|p| p.to_string()).unwrap_or("-".into()),
    );
    cmp(
        "evaluation periods",
        spec.evaluation_periods.to_string(),
        live.evaluation_periods()
            .map(|p| p.to_string())
            .unwrap_or("-".into()),
    );
    cmp(
        "threshold",
        format!("{}", spec.threshold),
        live.threshold()
            .map(|t| format!("{t}"))
            .unwrap_or("-".into()),
    );
    cmp(
        "comparison",
        spec.comparison.as_str().into(),
        live.comparison_operator()
            .map(|c| c.as_str())
            .unwrap_or("-")
            .into(),
    );
    if !live.alarm_actions().iter().any(|a| a == topic) {
        d.push(format!(
            "alarm actions {:?} do not include {topic}",
            live.alarm_actions()
        ));
    }
    if live.actions_enabled() == Some(false) {
        d.push("actions are disabled".into());
    }
    d
}

pub async fn describe(aws: &Aws, names: &[String]) -> Result<Vec<MetricAlarm>, String> {
    let out = aws
        .cloudwatch()
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| format!("DescribeAlarms: {}", describe_error(&e)))?;
    Ok(out.metric_alarms().to_vec())
}
