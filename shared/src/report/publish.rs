//! Publishes a report to the alerts topic: readable text for email subscribers, the JSON report for
//! machines, and message attributes for subscription filter policies.

use aws_sdk_sns::types::MessageAttributeValue;
use serde_json::json;

use crate::aws::describe_error;
use crate::intake::OWN_REPORT_ATTRIBUTE;
use crate::report::Report;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publishing the report to {topic} failed: {detail}")]
    Sns { topic: String, detail: String },
    #[error("could not encode the report: {0}")]
    Encode(String),
}

/// The SNS message: a `default` text body (email and SMS) and the JSON report for SQS, Lambda and
/// HTTPS subscribers, using SNS's per-protocol message structure.
pub fn message_body(report: &Report) -> Result<String, PublishError> {
    let json_report =
        serde_json::to_string(report).map_err(|e| PublishError::Encode(e.to_string()))?;
    let text = report.text();
    Ok(json!({
        "default": text,
        "email": text,
        "sqs": json_report,
        "lambda": json_report,
        "https": json_report,
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

pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    report: &Report,
) -> Result<String, PublishError> {
    let out = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(report.subject())
        .message_structure("json")
        .message(message_body(report)?)
        .message_attributes("playbook", attr(report.playbook.name())?)
        .message_attributes("outcome", attr(report.outcome.name())?)
        .message_attributes(
            "trigger_kind",
            attr(&format!("{:?}", report.trigger.kind).to_lowercase())?,
        )
        .message_attributes(OWN_REPORT_ATTRIBUTE, attr("1")?)
        .send()
        .await
        .map_err(|e| PublishError::Sns {
            topic: topic_arn.to_string(),
            detail: describe_error(&e),
        })?;
    Ok(out.message_id().unwrap_or_default().to_string())
}
