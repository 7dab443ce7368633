//! Structured logs and the per-run metric line.
//!
//! Logs are JSON on stderr, one object per line with `timestamp`, `level` and `message` at the top
//! level, which is what Lambda's JSON log format and Logs Insights expect. stderr keeps stdout free
//! for the CLI's report.

use serde_json::json;

use crate::report::Report;

/// Installs the JSON subscriber. `RUST_LOG`-style filtering through `AUTOHEAL_LOG` (default info).
/// Safe to call more than once (later calls do nothing).
pub fn init() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AUTOHEAL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// One CloudWatch Embedded Metric Format object per run: runs and actions by playbook and outcome.
pub fn emf_line(report: &Report, now_ms: i64) -> String {
    let actions = report
        .actions
        .iter()
        .filter(|a| matches!(a.status, crate::report::ActionStatus::Done))
        .count();
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Autoheal",
                "Dimensions": [["Playbook", "Outcome"]],
                "Metrics": [
                    {"Name": "Runs", "Unit": "Count"},
                    {"Name": "Actions", "Unit": "Count"},
                    {"Name": "FailedChecks", "Unit": "Count"}
                ]
            }]
        },
        "Playbook": report.playbook.name(),
        "Outcome": report.outcome.name(),
        "Runs": 1,
        "Actions": actions,
        "FailedChecks": report.failing_checks().count(),
        "TriggerKind": report.trigger.kind,
        "TriggerId": report.trigger.id,
    })
    .to_string()
}

/// Writes the metric line where Lambda ships it to CloudWatch (stderr, like the logs).
pub fn emit_metrics(report: &Report) {
    let now_ms = crate::clock::now_epoch() * 1000;
    eprintln!("{}", emf_line(report, now_ms));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Playbook, TriggerKind, TriggerRef};

    #[test]
    fn emf_has_dimensions_and_values() {
        let r = Report::new(
            TriggerRef {
                kind: TriggerKind::Schedule,
                id: "i".into(),
                name: "n".into(),
            },
            Playbook::SmokeTest,
        );
        let v: serde_json::Value = serde_json::from_str(&emf_line(&r, 1_700_000_000_000)).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Autoheal");
        assert_eq!(v["Playbook"], "smoke-test");
        assert_eq!(v["Outcome"], "healthy");
        assert_eq!(v["Runs"], 1);
        assert_eq!(v["Actions"], 0);
    }
}
