//! Disabling and enabling a schedule rule (RUNBOOK §4).

use super::MutationError;
use crate::aws::{describe_error, Aws, AwsError};

fn state_name(enable: bool) -> &'static str {
    if enable {
        "ENABLED"
    } else {
        "DISABLED"
    }
}

async fn state(aws: &Aws, rule: &str) -> Result<Option<String>, String> {
    let d = aws
        .events()
        .describe_rule()
        .name(rule)
        .send()
        .await
        .map_err(|e| format!("DescribeRule {rule}: {}", describe_error(&e)))?;
    Ok(d.state().map(|s| s.as_str().to_string()))
}

pub async fn recheck(aws: &Aws, rule: &str, enable: bool) -> Result<(), String> {
    let want = state_name(enable);
    match state(aws, rule).await?.as_deref() {
        Some(s) if s == want => Err(format!("{rule} is already {want}")),
        _ => Ok(()),
    }
}

pub async fn is_in_state(aws: &Aws, rule: &str, enable: bool) -> Result<Option<String>, String> {
    let want = state_name(enable);
    Ok((state(aws, rule).await?.as_deref() == Some(want)).then(|| format!("{rule} {want}")))
}

pub async fn set(aws: &Aws, rule: &str, enable: bool) -> Result<String, MutationError> {
    let once = || {
        aws_sdk_eventbridge::config::Builder::default()
            .retry_config(aws_config::retry::RetryConfig::disabled())
    };
    let want = state_name(enable);
    let op = format!(
        "{} {rule}",
        if enable { "EnableRule" } else { "DisableRule" }
    );
    // The two calls have different builder and error types: each sends with the same no-retry
    // override and names its operation when it fails.
    if enable {
        let call = aws.events().enable_rule().name(rule).customize();
        let sent = call.config_override(once()).send().await;
        sent.map_err(|e| AwsError::from_sdk(op, &e))?;
    } else {
        let call = aws.events().disable_rule().name(rule).customize();
        let sent = call.config_override(once()).send().await;
        sent.map_err(|e| AwsError::from_sdk(op, &e))?;
    }
    Ok(format!("{rule} {want}"))
}
