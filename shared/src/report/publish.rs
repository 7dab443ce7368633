//! Publishes a report to the alerts topic: readable text for email subscribers, the JSON report for
//! machines (or, optionally, an AWS Chatbot custom notification for HTTPS subscribers), and message
//! attributes for subscription filter policies.

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::json;

use crate::aws::describe_error;
use crate::intake::OWN_REPORT_ATTRIBUTE;
use crate::report::{chatbot, fit, Report};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing the report to {topic} failed: {detail}")]
    Sns { topic: String, detail: String },
    #[error("could not encode the report: {0}")]
    Encode(String),
}

/// How a report is published.
#[derive(Debug, Clone, Copy, Default)]
pub struct Format {
    /// HTTPS subscribers (AWS Chatbot) get the custom-notification JSON instead of the report.
    pub chatbot: bool,
}

/// The SNS message: a `default` text body (email and SMS) and the JSON report for SQS, Lambda and
/// HTTP(S) subscribers, using SNS's per-protocol message structure.
pub fn message_body(report: &Report, format: Format) -> Result<String, PublishError> {
    let json_report =
        serde_json::to_string(report).map_err(|e| PublishError::Encode(e.to_string()))?;
    let https = if format.chatbot {
        chatbot::notification(report).to_string()
    } else {
        json_report.clone()
    };
    let text = report.text();
    Ok(json!({
        "default": text,
        "email": text,
        "sqs": json_report,
        "lambda": json_report,
        "https": https,
        "http": json_report,
    })
    .to_string())
}

fn attr(v: &str) -> Result<MessageAttributeValue, PublishError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| PublishError::Encode(e.to_string()))
}

/// The report as it goes out: shortened, and saying so, when the whole message would exceed SNS's
/// limit (the text is repeated per protocol in the message).
pub fn publishable(report: &Report, format: Format) -> Result<Report, PublishError> {
    fit::fit(report, |r| message_body(r, format).map(|b| b.len()))
}

pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    report: &Report,
    format: Format,
) -> Result<String, PublishError> {
    let report = &publishable(report, format)?;
    let mut call = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(report.subject())
        .message_structure("json")
        .message(message_body(report, format)?)
        .message_attributes("playbook", attr(report.playbook.name())?)
        .message_attributes("outcome", attr(report.outcome.name())?)
        .message_attributes(
            "trigger_kind",
            attr(&format!("{:?}", report.trigger.kind).to_lowercase())?,
        )
        .message_attributes(OWN_REPORT_ATTRIBUTE, attr("1")?);
    if let Some(c) = &report.conversation {
        call = call.message_attributes("conversation", attr(&c.message)?);
    }
    let out = call.send().await.map_err(|e| PublishError::Sns {
        topic: topic_arn.to_string(),
        detail: describe_error(&e),
    })?;
    Ok(out.message_id().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Outcome, Playbook, TriggerKind, TriggerRef};

    #[test]
    fn chatbot_subscribers_get_the_notification_and_everyone_else_what_they_had() {
        let mut r = Report::new(
            TriggerRef {
                kind: TriggerKind::Alarm,
                id: "a1".into(),
                name: "ViewerAtlas-ECSCollector-Unavailable".into(),
            },
            Playbook::NoNewSnapshots,
        );
        r.conclude(Outcome::Escalated, "collector down");
        let plain: serde_json::Value =
            serde_json::from_str(&message_body(&r, Format::default()).unwrap()).unwrap();
        assert_eq!(plain["https"], plain["sqs"]);
        let chat: serde_json::Value =
            serde_json::from_str(&message_body(&r, Format { chatbot: true }).unwrap()).unwrap();
        let n: serde_json::Value = serde_json::from_str(chat["https"].as_str().unwrap()).unwrap();
        assert_eq!(
            (n["version"].as_str(), n["source"].as_str()),
            (Some("1.0"), Some("custom"))
        );
        assert!(chat["email"].as_str().unwrap().contains("WHAT I SAW"));
        let report: Report = serde_json::from_str(chat["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(report.outcome, Outcome::Escalated);
    }
}
