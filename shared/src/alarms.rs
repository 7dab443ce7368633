//! Playbook E, alarm and notification gaps: the three ViewerAtlas alarms exist as
//! apply-monitoring.sh defines them (VIEWERATLAS.md §1) and notify the topic, the topic exists,
//! no subscription waits for confirmation, and a test message goes out. A missing or altered alarm
//! is recreated from its known definition: the alarm deleted by mistake is the one nobody notices.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic};

use crate::aws::{describe_error, Aws};
use crate::config::Config;
use crate::guard::{Guard, Intent, Mutation};
use crate::outcome::settle;
use crate::report::{Check, Outcome, Playbook, Report, TriggerRef};
use crate::run::Deps;

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

struct PutAlarm<'a> {
    aws: &'a Aws,
    spec: AlarmSpec,
    topic: String,
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
    async fn apply(&self) -> Result<String, String> {
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
            // Sent once, like every mutation (see remedy::no_retry_ecs).
            .customize()
            .config_override(
                aws_sdk_cloudwatch::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| format!("PutMetricAlarm {}: {}", s.name, describe_error(&e)))?;
        Ok(format!("{} recreated from its definition", s.name))
    }
}

async fn describe(aws: &Aws, names: &[String]) -> Result<Vec<MetricAlarm>, String> {
    let out = aws
        .cloudwatch()
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| format!("DescribeAlarms: {}", describe_error(&e)))?;
    Ok(out.metric_alarms().to_vec())
}

pub async fn check(deps: &Deps, trigger: TriggerRef, dry_run: bool) -> Report {
    let cfg = &deps.config;
    let aws = &deps.aws;
    let mut r = Report::new(trigger.clone(), Playbook::AlarmGap);
    let specs = known_alarms(cfg);
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let (live, topic, subs) = tokio::join!(
        describe(aws, &names),
        aws.sns()
            .get_topic_attributes()
            .topic_arn(&cfg.topic_arn)
            .send(),
        aws.sns()
            .list_subscriptions_by_topic()
            .topic_arn(&cfg.topic_arn)
            .send(),
    );
    let mut repairs = Vec::new();
    match live {
        Err(e) => {
            // Without the alarms' definitions nothing can be judged: the check itself failed.
            r.checks.push(Check::error("alarms", e.clone()));
            r.outcome = Outcome::Failed;
            r.reason = format!("the alarms could not be read: {e}");
            r.next_steps.push(
                "Check Autoheal's cloudwatch:DescribeAlarms permission and re-run the daily check"
                    .into(),
            );
            return r;
        }
        Ok(live) => {
            for spec in specs {
                match live
                    .iter()
                    .find(|a| a.alarm_name() == Some(spec.name.as_str()))
                {
                    None => {
                        r.checks.push(Check::fail(
                            "alarm_defined",
                            format!("{} does not exist", spec.name),
                        ));
                        repairs.push(spec);
                    }
                    Some(a) => {
                        let d = drift(&spec, a, &cfg.topic_arn);
                        if d.is_empty() {
                            r.checks.push(Check::pass(
                                "alarm_defined",
                                format!(
                                    "{} matches its definition (state {})",
                                    spec.name,
                                    a.state_value().map(|s| s.as_str()).unwrap_or("?")
                                ),
                            ));
                        } else {
                            r.checks.push(Check::fail(
                                "alarm_defined",
                                format!("{} was altered: {}", spec.name, d.join("; ")),
                            ));
                            repairs.push(spec);
                        }
                    }
                }
            }
        }
    }
    let topic_ok = match topic {
        Ok(_) => {
            r.checks
                .push(Check::pass("topic_exists", cfg.topic_arn.clone()));
            true
        }
        Err(e) => {
            r.checks.push(Check::fail(
                "topic_exists",
                format!("{}: {}", cfg.topic_arn, describe_error(&e)),
            ));
            false
        }
    };
    let mut pending = Vec::new();
    match subs {
        Ok(s) => {
            let all = s.subscriptions();
            pending = all
                .iter()
                .filter(|x| x.subscription_arn() == Some("PendingConfirmation"))
                .map(|x| {
                    format!(
                        "{} {}",
                        x.protocol().unwrap_or("?"),
                        x.endpoint().unwrap_or("?")
                    )
                })
                .collect();
            r.checks.push(if pending.is_empty() {
                Check::pass(
                    "subscriptions_confirmed",
                    format!("{} subscriptions, none pending", all.len()),
                )
            } else {
                Check::fail(
                    "subscriptions_confirmed",
                    format!("pending confirmation: {}", pending.join(", ")),
                )
            });
        }
        Err(e) => r
            .checks
            .push(Check::error("subscriptions_confirmed", describe_error(&e))),
    }

    if !topic_ok {
        r.outcome = Outcome::Escalated;
        r.reason = format!(
            "the alerts topic {} does not exist: no alarm reaches anyone",
            cfg.topic_arn
        );
        r.next_steps.push("Create the topic and subscribe the on-call address (aws/SNS_SETUP.md), then re-run apply-monitoring.sh".into());
        return r;
    }
    let guard = Guard::for_run(cfg, aws, trigger.clone(), dry_run);
    let mut outcomes = Vec::new();
    for spec in repairs {
        let intent = Intent {
            playbook: Playbook::AlarmGap,
            change_id: format!("alarm-gap:{}:{}", spec.name, trigger.id),
            detail: format!(
                "recreate {} from its apply-monitoring.sh definition",
                spec.name
            ),
            evidence: vec![],
            alarm_response: false,
        };
        outcomes.push(
            guard
                .act(
                    &intent,
                    &PutAlarm {
                        aws,
                        spec,
                        topic: cfg.topic_arn.clone(),
                    },
                )
                .await,
        );
    }
    let gaps = outcomes.len();
    settle(
        &mut r,
        outcomes,
        &format!("{gaps} alarm(s) missing or altered"),
        cfg,
    );
    if gaps == 0 {
        r.outcome = Outcome::Healthy;
        r.reason = "the three alarms match their definitions and notify the topic".into();
    }
    if !pending.is_empty() {
        if matches!(r.outcome, Outcome::Healthy | Outcome::Remediated) {
            r.outcome = Outcome::Escalated;
        }
        let note = format!(
            "subscription(s) pending confirmation: {}",
            pending.join(", ")
        );
        r.reason = if gaps == 0 {
            note.clone()
        } else {
            format!("{}; {note}", r.reason)
        };
        r.next_steps.push("Confirm the pending subscription from its confirmation email (RUNBOOK §6 E); until then alarms reach nobody there".into());
    }
    // The report itself is the SNS test message: it is always published for this playbook.
    r
}
