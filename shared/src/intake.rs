//! Event intake: every payload shape Autoheal's functions receive becomes one typed [`Trigger`].
//!
//! Real payloads vary between delivery paths and over time, so parsing is by field lookup with
//! tolerance for absent optional fields, `aRN` next to `arn`, null descriptions and unknown extras.
//! Anything unrecognised or malformed is an [`IntakeError`] that names what is wrong; intake never
//! panics and never decides on an action.

use aws_lambda_events::event::cloudwatch_alarms::CloudWatchAlarm;
use serde_json::Value;

use crate::report::{TriggerKind, TriggerRef};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    #[error("event is not valid JSON: {}", one_line(.0))]
    NotJson(String),
    #[error("event is not a JSON object (got {0})")]
    NotObject(&'static str),
    #[error("unrecognised event: {}", one_line(.0))]
    Unrecognised(String),
    #[error("malformed {shape} event: {}", one_line(.problem))]
    Malformed {
        shape: &'static str,
        problem: String,
    },
}

/// Error messages quote parts of the event; control characters in them must not break the
/// one-line contract (or forge log lines), so they are escaped.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn malformed(shape: &'static str, problem: impl Into<String>) -> IntakeError {
    IntakeError::Malformed {
        shape,
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OK" => Some(Self::Ok),
            "ALARM" => Some(Self::Alarm),
            "INSUFFICIENT_DATA" => Some(Self::InsufficientData),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

/// How the alarm reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmVia {
    EventBridge,
    Sns,
    DirectAction,
    Notification,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRef {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmSignal {
    pub id: String,
    pub via: AlarmVia,
    pub name: String,
    pub arn: Option<String>,
    pub state: AlarmState,
    pub previous: Option<AlarmState>,
    pub reason: Option<String>,
    /// When the alarm entered `state`, epoch seconds.
    pub changed_at: Option<i64>,
    pub description: Option<String>,
    pub metrics: Vec<MetricRef>,
    pub composite: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSignal {
    pub id: String,
    pub rule: String,
    pub time: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretEventKind {
    /// "AWS API Call via CloudTrail": PutSecretValue, UpdateSecret, RotateSecret, …
    ApiCall,
    /// "AWS Service Event via CloudTrail": RotationSucceeded, RotationFailed, …
    ServiceEvent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretChange {
    pub id: String,
    pub kind: SecretEventKind,
    pub event_name: String,
    /// Name, partial ARN or full ARN, as the event gave it.
    pub secret_id: String,
    pub version_id: Option<String>,
    /// The stages the call put the new version in (`versionStages`), when it named them.
    pub version_stages: Option<Vec<String>>,
    pub time: Option<i64>,
    /// CloudTrail's errorCode: a failed API call changed nothing.
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerExit {
    pub name: String,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChange {
    pub id: String,
    pub task_arn: String,
    pub cluster_arn: Option<String>,
    pub task_definition_arn: String,
    pub family: String,
    pub revision: Option<u32>,
    pub last_status: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub started_by: Option<String>,
    pub group: Option<String>,
    pub started_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub containers: Vec<ContainerExit>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentChange {
    pub id: String,
    pub service_arn: String,
    pub service: String,
    pub cluster: Option<String>,
    pub event_name: String,
    pub event_type: Option<String>,
    pub deployment_id: Option<String>,
    pub reason: Option<String>,
    pub time: Option<i64>,
}

/// One typed trigger per delivery, whatever the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Alarm(AlarmSignal),
    Schedule(ScheduleSignal),
    SecretChange(SecretChange),
    TaskChange(TaskChange),
    Deployment(DeploymentChange),
    /// An Autoheal report that came back through the alerts topic: never acted on.
    OwnReport {
        id: String,
        subject: Option<String>,
    },
}

impl Trigger {
    pub fn reference(&self) -> TriggerRef {
        let (kind, id, name) = match self {
            Trigger::Alarm(a) => (TriggerKind::Alarm, &a.id, a.name.clone()),
            Trigger::Schedule(s) => (TriggerKind::Schedule, &s.id, s.rule.clone()),
            Trigger::SecretChange(s) => (TriggerKind::SecretChange, &s.id, s.secret_id.clone()),
            Trigger::TaskChange(t) => (TriggerKind::TaskStopped, &t.id, t.family.clone()),
            Trigger::Deployment(d) => (TriggerKind::Deployment, &d.id, d.service.clone()),
            Trigger::OwnReport { id, .. } => {
                (TriggerKind::Alarm, id, "autoheal-report".to_string())
            }
        };
        TriggerRef {
            kind,
            id: id.clone(),
            name,
        }
    }
}

/// Message attribute Autoheal puts on everything it publishes, so its own reports are recognised
/// when the alerts topic delivers them back.
pub const OWN_REPORT_ATTRIBUTE: &str = "autoheal_report";

pub fn parse_str(text: &str) -> Result<Trigger, IntakeError> {
    let v: Value = serde_json::from_str(text).map_err(|e| IntakeError::NotJson(e.to_string()))?;
    parse(&v)
}

pub fn parse(v: &Value) -> Result<Trigger, IntakeError> {
    let obj = match v {
        Value::Object(o) => o,
        Value::Array(_) => return Err(IntakeError::NotObject("an array")),
        Value::String(_) => return Err(IntakeError::NotObject("a string")),
        Value::Number(_) => return Err(IntakeError::NotObject("a number")),
        Value::Bool(_) => return Err(IntakeError::NotObject("a boolean")),
        Value::Null => return Err(IntakeError::NotObject("null")),
    };
    if obj.contains_key("Records") {
        return parse_sns(v);
    }
    if obj.contains_key("detail-type") {
        return parse_eventbridge(v);
    }
    if obj.contains_key("alarmData") {
        return parse_direct_alarm(v);
    }
    if obj.contains_key("AlarmName") && obj.contains_key("NewStateValue") {
        return parse_alarm_notification(v, AlarmVia::Notification, None);
    }
    let keys: Vec<&str> = obj.keys().take(6).map(String::as_str).collect();
    Err(IntakeError::Unrecognised(format!(
        "no Records, detail-type, alarmData or AlarmName field (top-level keys: {})",
        if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        }
    )))
}

/// A string at `path`; a JSON null or a non-string counts as absent.
fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

/// The first key that holds a string, for fields whose capitalisation varies (`arn`/`aRN`/`ARN`).
fn s_any<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_str))
}

fn need<'a>(v: &'a Value, path: &[&str], shape: &'static str) -> Result<&'a str, IntakeError> {
    match s(v, path) {
        Some(x) if !x.trim().is_empty() => Ok(x),
        _ => Err(malformed(
            shape,
            format!("missing or empty {}", path.join(".")),
        )),
    }
}

fn time_of(v: &Value, path: &[&str]) -> Option<i64> {
    s(v, path).and_then(crate::clock::parse_timestamp)
}

fn parse_eventbridge(v: &Value) -> Result<Trigger, IntakeError> {
    let detail_type = need(v, &["detail-type"], "EventBridge")?;
    let source = s(v, &["source"]).unwrap_or("");
    let id = need(v, &["id"], "EventBridge")?.to_string();
    let detail = v.get("detail").filter(|d| d.is_object());
    match (source, detail_type) {
        ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
            let detail = detail.ok_or_else(|| malformed("alarm state change", "missing detail object"))?;
            alarm_from_detail(detail, id, AlarmVia::EventBridge, s(v, &["resources", "0"]).or_else(|| first_resource(v)))
        }
        (_, "Scheduled Event") => {
            let rule_arn = first_resource(v).ok_or_else(|| malformed("scheduled", "no rule ARN in resources"))?;
            let rule = rule_arn.rsplit('/').next().filter(|r| !r.is_empty()).ok_or_else(|| {
                malformed("scheduled", format!("cannot read a rule name from {rule_arn:?}"))
            })?;
            Ok(Trigger::Schedule(ScheduleSignal { id, rule: rule.to_string(), time: time_of(v, &["time"]) }))
        }
        ("aws.secretsmanager", "AWS API Call via CloudTrail" | "AWS Service Event via CloudTrail") => {
            let detail = detail.ok_or_else(|| malformed("Secrets Manager CloudTrail", "missing detail object"))?;
            secret_change(v, detail, id, detail_type)
        }
        ("aws.ecs", "ECS Task State Change") => {
            let detail = detail.ok_or_else(|| malformed("ECS task state change", "missing detail object"))?;
            task_change(detail, id)
        }
        ("aws.ecs", "ECS Deployment State Change") => {
            let detail = detail.ok_or_else(|| malformed("ECS deployment state change", "missing detail object"))?;
            deployment_change(v, detail, id)
        }
        _ => Err(IntakeError::Unrecognised(format!(
            "EventBridge event with source {source:?} and detail-type {detail_type:?} is not one Autoheal handles"
        ))),
    }
}

fn first_resource(v: &Value) -> Option<&str> {
    v.get("resources")?
        .as_array()?
        .iter()
        .find_map(Value::as_str)
}

fn alarm_state(
    v: &Value,
    path: &[&str],
    shape: &'static str,
    required: bool,
) -> Result<Option<AlarmState>, IntakeError> {
    match s(v, path) {
        None if !required => Ok(None),
        None => Err(malformed(shape, format!("missing {}", path.join(".")))),
        Some(x) => AlarmState::parse(x).map(Some).ok_or_else(|| {
            malformed(
                shape,
                format!("unknown alarm state {x:?} in {}", path.join(".")),
            )
        }),
    }
}

/// The metric named at `namespace` and `name` in `v`, if both are there.
fn metric_ref(v: &Value, namespace: &[&str], name: &[&str]) -> Option<MetricRef> {
    Some(MetricRef {
        namespace: s(v, namespace)?.to_string(),
        name: s(v, name)?.to_string(),
    })
}

/// The metrics of an alarm's metric list. Metric-math entries carry an expression instead of a
/// metric stat and name no metric; both are legal.
fn listed_metrics(list: Option<&Value>, namespace: &[&str], name: &[&str]) -> Vec<MetricRef> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| metric_ref(m, namespace, name))
        .collect()
}

/// `detail` of an EventBridge alarm event and `alarmData` of a direct alarm action share a shape.
fn alarm_from_detail(
    d: &Value,
    id: String,
    via: AlarmVia,
    arn: Option<&str>,
) -> Result<Trigger, IntakeError> {
    let shape = "alarm state change";
    let name = need(d, &["alarmName"], shape)?.to_string();
    let state = alarm_state(d, &["state", "value"], shape, true)?.unwrap_or(AlarmState::Alarm);
    let previous = alarm_state(d, &["previousState", "value"], shape, false)?;
    let config = d.get("configuration");
    let composite = config.is_some_and(|c| c.get("alarmRule").is_some());
    let metrics = listed_metrics(
        config.and_then(|c| c.get("metrics")),
        &["metricStat", "metric", "namespace"],
        &["metricStat", "metric", "name"],
    );
    Ok(Trigger::Alarm(AlarmSignal {
        id,
        via,
        name,
        arn: arn.map(str::to_string),
        state,
        previous,
        reason: s(d, &["state", "reason"]).map(str::to_string),
        changed_at: time_of(d, &["state", "timestamp"]),
        description: config
            .and_then(|c| s(c, &["description"]))
            .map(str::to_string),
        metrics,
        composite,
    }))
}

fn parse_direct_alarm(v: &Value) -> Result<Trigger, IntakeError> {
    // The runtime's own type checks the envelope; the configuration and reason stay loose because
    // metric, metric-math and composite alarms shape them differently.
    let alarm: CloudWatchAlarm<Value, Value> = serde_json::from_value(v.clone())
        .map_err(|e| malformed("direct alarm action", e.to_string()))?;
    let arn = alarm.alarm_arn.clone().filter(|a| !a.is_empty());
    let d = v
        .get("alarmData")
        .ok_or_else(|| malformed("direct alarm action", "missing alarmData"))?;
    // A direct action has no event id; the alarm ARN plus the state timestamp names this transition.
    let stamp = s(d, &["state", "timestamp"])
        .or_else(|| s(v, &["time"]))
        .unwrap_or("");
    let id = format!(
        "{}@{}",
        arn.clone()
            .unwrap_or_else(|| alarm.alarm_data.alarm_name.clone()),
        stamp
    );
    alarm_from_detail(d, id, AlarmVia::DirectAction, arn.as_deref())
}

fn parse_sns(v: &Value) -> Result<Trigger, IntakeError> {
    let records = v
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("SNS", "Records is not an array"))?;
    let [record] = records.as_slice() else {
        return Err(malformed(
            "SNS",
            format!(
                "{} records; Lambda delivers exactly one per SNS invocation",
                records.len()
            ),
        ));
    };
    let source = s_any(record, &["EventSource", "eventSource"]).unwrap_or("");
    if source != "aws:sns" {
        return Err(IntakeError::Unrecognised(format!(
            "a Records event from {source:?}, not aws:sns"
        )));
    }
    let sns = record
        .get("Sns")
        .ok_or_else(|| malformed("SNS", "record has no Sns object"))?;
    let message_id = need(sns, &["MessageId"], "SNS")?.to_string();
    let subject = s(sns, &["Subject"]).map(str::to_string);
    if sns
        .get("MessageAttributes")
        .and_then(|a| a.get(OWN_REPORT_ATTRIBUTE))
        .is_some()
    {
        return Ok(Trigger::OwnReport {
            id: message_id,
            subject,
        });
    }
    let message = need(sns, &["Message"], "SNS")?;
    let inner: Value = serde_json::from_str(message).map_err(|_| {
        IntakeError::Unrecognised(format!(
            "SNS message {message_id} is not JSON, so not a CloudWatch alarm notification (subject {:?})",
            subject.as_deref().unwrap_or("")
        ))
    })?;
    if inner.get("playbook").is_some()
        && inner.get("outcome").is_some()
        && inner.get("trigger").is_some()
    {
        // A report whose attributes were stripped on the way (e.g. raw delivery); still ours.
        return Ok(Trigger::OwnReport {
            id: message_id,
            subject,
        });
    }
    if inner.get("AlarmName").is_some() {
        return parse_alarm_notification(&inner, AlarmVia::Sns, Some(message_id));
    }
    if inner.get("detail-type").is_some() {
        // An EventBridge event fanned out through SNS keeps its own id.
        return parse_eventbridge(&inner);
    }
    Err(IntakeError::Unrecognised(format!(
        "SNS message {message_id} is neither a CloudWatch alarm notification nor an EventBridge event"
    )))
}

/// The JSON CloudWatch publishes to SNS for an alarm transition.
fn parse_alarm_notification(
    m: &Value,
    via: AlarmVia,
    id: Option<String>,
) -> Result<Trigger, IntakeError> {
    let shape = "alarm notification";
    let name = need(m, &["AlarmName"], shape)?.to_string();
    let state = alarm_state(m, &["NewStateValue"], shape, true)?.unwrap_or(AlarmState::Alarm);
    let previous = alarm_state(m, &["OldStateValue"], shape, false)?;
    let arn = s_any(m, &["AlarmArn", "AlarmARN", "alarmArn"]).map(str::to_string);
    let changed = s(m, &["StateChangeTime"]);
    let id = id.unwrap_or_else(|| {
        format!(
            "{}@{}",
            arn.as_deref().unwrap_or(&name),
            changed.unwrap_or("")
        )
    });
    let trig = m.get("Trigger");
    let mut metrics: Vec<MetricRef> = trig
        .and_then(|t| metric_ref(t, &["Namespace"], &["MetricName"]))
        .into_iter()
        .collect();
    metrics.extend(listed_metrics(
        trig.and_then(|t| t.get("Metrics")),
        &["MetricStat", "Metric", "Namespace"],
        &["MetricStat", "Metric", "MetricName"],
    ));
    Ok(Trigger::Alarm(AlarmSignal {
        id,
        via,
        name,
        arn,
        state,
        previous,
        reason: s(m, &["NewStateReason"]).map(str::to_string),
        changed_at: changed.and_then(crate::clock::parse_timestamp),
        description: s(m, &["AlarmDescription"]).map(str::to_string),
        metrics,
        composite: m.get("AlarmRule").is_some(),
    }))
}

fn secret_change(
    v: &Value,
    d: &Value,
    id: String,
    detail_type: &str,
) -> Result<Trigger, IntakeError> {
    let shape = "Secrets Manager CloudTrail";
    let event_name = need(d, &["eventName"], shape)?.to_string();
    let kind = if detail_type == "AWS API Call via CloudTrail" {
        SecretEventKind::ApiCall
    } else {
        SecretEventKind::ServiceEvent
    };
    let req = d.get("requestParameters").filter(|x| x.is_object());
    let resp = d.get("responseElements").filter(|x| x.is_object());
    let extra = d.get("additionalEventData").filter(|x| x.is_object());
    // Prefer the full ARN the service answered with; fall back to what the caller asked for.
    let secret_id = resp
        .and_then(|r| s_any(r, &["arn", "aRN", "ARN"]))
        .or_else(|| req.and_then(|r| s_any(r, &["secretId", "SecretId", "name"])))
        .or_else(|| extra.and_then(|x| s_any(x, &["SecretId", "secretId"])))
        .or_else(|| resp.and_then(|r| s(r, &["name"])))
        .or_else(|| first_resource(v))
        .filter(|x| !x.trim().is_empty())
        .ok_or_else(|| malformed(shape, format!("{event_name} names no secret (requestParameters.secretId, responseElements.arn, additionalEventData.SecretId)")))?;
    let version_id = resp
        .and_then(|r| s_any(r, &["versionId", "VersionId"]))
        .or_else(|| extra.and_then(|x| s_any(x, &["VersionId", "versionId"])))
        .or_else(|| req.and_then(|r| s(r, &["clientRequestToken"])))
        .map(str::to_string);
    Ok(Trigger::SecretChange(SecretChange {
        id,
        kind,
        event_name,
        secret_id: secret_id.to_string(),
        version_id,
        version_stages: req
            .and_then(|r| r.get("versionStages").or_else(|| r.get("VersionStages")))
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            }),
        time: time_of(d, &["eventTime"]).or_else(|| time_of(v, &["time"])),
        error_code: s(d, &["errorCode"]).map(str::to_string),
    }))
}

/// `arn:aws:ecs:r:a:task-definition/family:7` → ("family", Some(7)).
pub fn family_of_task_definition(arn: &str) -> (String, Option<u32>) {
    let tail = arn.rsplit('/').next().unwrap_or(arn);
    match tail.rsplit_once(':') {
        Some((fam, rev)) => match rev.parse() {
            Ok(n) => (fam.to_string(), Some(n)),
            Err(_) => (tail.to_string(), None),
        },
        None => (tail.to_string(), None),
    }
}

fn task_change(d: &Value, id: String) -> Result<Trigger, IntakeError> {
    let shape = "ECS task state change";
    let task_arn = need(d, &["taskArn"], shape)?.to_string();
    let task_definition_arn = need(d, &["taskDefinitionArn"], shape)?.to_string();
    let (mut family, revision) = family_of_task_definition(&task_definition_arn);
    if let Some(g) = s(d, &["group"]).and_then(|g| g.strip_prefix("family:")) {
        family = g.to_string();
    }
    let containers = d
        .get("containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| ContainerExit {
                    name: s(c, &["name"]).unwrap_or("?").to_string(),
                    exit_code: c.get("exitCode").and_then(Value::as_i64),
                    reason: s(c, &["reason"]).map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Trigger::TaskChange(TaskChange {
        id,
        task_arn,
        cluster_arn: s(d, &["clusterArn"]).map(str::to_string),
        task_definition_arn,
        family,
        revision,
        last_status: need(d, &["lastStatus"], shape)?.to_string(),
        stop_code: s(d, &["stopCode"]).map(str::to_string),
        stopped_reason: s(d, &["stoppedReason"]).map(str::to_string),
        started_by: s(d, &["startedBy"]).map(str::to_string),
        group: s(d, &["group"]).map(str::to_string),
        started_at: time_of(d, &["startedAt"]),
        stopped_at: time_of(d, &["stoppedAt"]),
        containers,
    }))
}

fn deployment_change(v: &Value, d: &Value, id: String) -> Result<Trigger, IntakeError> {
    let shape = "ECS deployment state change";
    let service_arn = first_resource(v)
        .filter(|r| r.contains(":service/"))
        .ok_or_else(|| malformed(shape, "no service ARN in resources"))?
        .to_string();
    // New-format ARNs are service/<cluster>/<name>; old ones service/<name>.
    let path = service_arn.split(":service/").nth(1).unwrap_or("");
    let mut parts = path.rsplitn(2, '/');
    let service = parts.next().unwrap_or("").to_string();
    let cluster = parts.next().map(str::to_string);
    if service.is_empty() {
        return Err(malformed(
            shape,
            format!("cannot read a service name from {service_arn:?}"),
        ));
    }
    Ok(Trigger::Deployment(DeploymentChange {
        id,
        service_arn: service_arn.clone(),
        service,
        cluster,
        event_name: need(d, &["eventName"], shape)?.to_string(),
        event_type: s(d, &["eventType"]).map(str::to_string),
        deployment_id: s(d, &["deploymentId"]).map(str::to_string),
        reason: s(d, &["reason"]).map(str::to_string),
        time: time_of(d, &["updatedAt"]).or_else(|| time_of(v, &["time"])),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn family_and_revision_from_arns() {
        assert_eq!(
            family_of_task_definition(
                "arn:aws:ecs:us-east-1:1:task-definition/vieweratlas-analysis:7"
            ),
            ("vieweratlas-analysis".into(), Some(7))
        );
        assert_eq!(
            family_of_task_definition("vieweratlas-analysis"),
            ("vieweratlas-analysis".into(), None)
        );
    }

    #[test]
    fn rejections_name_the_problem() {
        assert!(matches!(parse_str("{"), Err(IntakeError::NotJson(_))));
        assert!(matches!(
            parse_str("[1]"),
            Err(IntakeError::NotObject("an array"))
        ));
        let e = parse(&json!({"hello": 1})).unwrap_err().to_string();
        assert!(e.contains("hello"), "{e}");
        let e = parse(&json!({"detail-type": "Scheduled Event", "id": "x", "source": "aws.events", "resources": []}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rule ARN"), "{e}");
        let e = parse(&json!({"detail-type": "EC2 Instance State-change Notification", "id": "x", "source": "aws.ec2"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("aws.ec2"), "{e}");
        let e = parse(&json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": "hi"}}]}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not JSON"), "{e}");
    }

    #[test]
    fn alarm_tolerates_null_description_metric_math_and_composites() {
        let ev = json!({
            "version": "0", "id": "e1", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
            "time": "2026-11-28T10:15:00Z", "resources": ["arn:aws:cloudwatch:us-east-1:1:alarm:A"],
            "detail": {"alarmName": "A", "state": {"value": "OK", "timestamp": "2026-11-28T10:15:00.121+0000"},
                "configuration": {"description": null, "alarmRule": "ALARM(x) OR ALARM(y)",
                    "metrics": [{"id": "e1", "expression": "m1/m2", "returnData": true}]},
                "somethingNew": [1, 2]}
        });
        let Trigger::Alarm(a) = parse(&ev).unwrap() else {
            panic!("not an alarm")
        };
        assert_eq!(a.state, AlarmState::Ok);
        assert!(a.composite);
        assert!(a.metrics.is_empty());
        assert_eq!(a.description, None);
        assert_eq!(a.previous, None);
        assert_eq!(
            a.changed_at,
            crate::clock::parse_timestamp("2026-11-28T10:15:00Z")
        );
        let mut bad = ev.clone();
        bad["detail"]["state"]["value"] = json!("PANIC");
        assert!(parse(&bad).unwrap_err().to_string().contains("PANIC"));
    }

    #[test]
    fn secret_arn_spelled_upper_rn_and_error_codes() {
        let ev = json!({"id": "e", "detail-type": "AWS API Call via CloudTrail", "source": "aws.secretsmanager",
            "detail": {"eventName": "PutSecretValue", "errorCode": "AccessDenied",
                "responseElements": {"aRN": "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/client_id-Xy12Ab"}}});
        let Trigger::SecretChange(c) = parse(&ev).unwrap() else {
            panic!()
        };
        assert_eq!(
            c.secret_id,
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/client_id-Xy12Ab"
        );
        assert_eq!(c.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(c.kind, SecretEventKind::ApiCall);
    }

    #[test]
    fn own_reports_are_recognised_by_attribute_or_shape() {
        let by_attr = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m1", "Message": "x",
            "MessageAttributes": {"autoheal_report": {"Type": "String", "Value": "1"}}}}]});
        assert!(matches!(
            parse(&by_attr).unwrap(),
            Trigger::OwnReport { .. }
        ));
        let by_shape = json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m2",
            "Message": "{\"trigger\":{},\"playbook\":\"none\",\"outcome\":\"healthy\"}"}}]});
        assert!(matches!(
            parse(&by_shape).unwrap(),
            Trigger::OwnReport { .. }
        ));
    }
}
