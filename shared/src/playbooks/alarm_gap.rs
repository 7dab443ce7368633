//! Playbook E, alarm and notification gaps: the three ViewerAtlas alarms exist as
//! apply-monitoring.sh defines them (VIEWERATLAS.md §1) and notify the topic, the topic exists,
//! no subscription waits for confirmation, and a test message goes out. A missing or altered alarm
//! is recreated from its known definition: the alarm deleted by mistake is the one nobody notices.

use aws_sdk_cloudwatch::types::MetricAlarm;
use aws_sdk_sns::types::Subscription;

use crate::aws::describe_error;
use crate::deps::Deps;
use crate::deps::Invocation;
use crate::probes::alarms::{describe, drift, known_alarms, AlarmSpec};
use crate::report::{Check, Outcome, Playbook, Report, TriggerRef};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::guard::Guard;
use crate::safety::settle::settle;

pub async fn check(deps: &Deps, trigger: TriggerRef, inv: Invocation) -> Report {
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
    let live = match live {
        Ok(live) => live,
        Err(e) => {
            // Without the alarms' definitions nothing can be judged: the check itself failed.
            r.checks.push(Check::error("alarms", e.clone()));
            r.step(
                "Check Autoheal's cloudwatch:DescribeAlarms permission and re-run the daily check",
            );
            return r.concluded(
                Outcome::Failed,
                format!("the alarms could not be read: {e}"),
            );
        }
    };
    let repairs = judge_alarms(specs, &live, &cfg.topic_arn, &mut r);
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
    let pending = match subs {
        Ok(s) => judge_subscriptions(s.subscriptions(), &mut r),
        Err(e) => {
            r.checks
                .push(Check::error("subscriptions_confirmed", describe_error(&e)));
            Vec::new()
        }
    };
    if !topic_ok {
        r.step("Create the topic and subscribe the on-call address (aws/SNS_SETUP.md), then re-run apply-monitoring.sh");
        return r.concluded(
            Outcome::Escalated,
            format!(
                "the alerts topic {} does not exist: no alarm reaches anyone",
                cfg.topic_arn
            ),
        );
    }
    repair(deps, &trigger, repairs, inv, &mut r).await;
    if !pending.is_empty() {
        escalate_pending(&pending, &mut r);
    }
    // The report itself is the SNS test message: it is always published for this playbook.
    r
}

/// Each known alarm against its live twin: the ones missing or altered need recreating.
fn judge_alarms(
    specs: Vec<AlarmSpec>,
    live: &[MetricAlarm],
    topic: &str,
    r: &mut Report,
) -> Vec<AlarmSpec> {
    let mut repairs = Vec::new();
    for spec in specs {
        let Some(a) = live
            .iter()
            .find(|a| a.alarm_name() == Some(spec.name.as_str()))
        else {
            r.checks.push(Check::fail(
                "alarm_defined",
                format!("{} does not exist", spec.name),
            ));
            repairs.push(spec);
            continue;
        };
        let d = drift(&spec, a, topic);
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
    repairs
}

/// Subscriptions still waiting for confirmation ("protocol endpoint"): alarms reach nobody there.
fn judge_subscriptions(all: &[Subscription], r: &mut Report) -> Vec<String> {
    let pending: Vec<String> = all
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
    pending
}

/// Recreates every missing or altered alarm through the guard (RUNBOOK §6 E: re-run
/// apply-monitoring for them).
async fn repair(
    deps: &Deps,
    trigger: &TriggerRef,
    repairs: Vec<AlarmSpec>,
    inv: Invocation,
    r: &mut Report,
) {
    let cfg = &deps.config;
    let guard = Guard::for_run(deps, trigger.clone(), inv);
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
        let spec = ActionSpec::PutMetricAlarm { alarm: spec.name };
        outcomes.push(guard.act(&intent, &spec).await);
    }
    let gaps = outcomes.len();
    settle(
        r,
        outcomes,
        &format!("{gaps} alarm(s) missing or altered"),
        cfg,
    );
    if gaps == 0 {
        r.conclude(
            Outcome::Healthy,
            "the three alarms match their definitions and notify the topic",
        );
    }
}

/// An unconfirmed subscription is a gap only a human can close (the confirmation email).
fn escalate_pending(pending: &[String], r: &mut Report) {
    if matches!(r.outcome, Outcome::Healthy | Outcome::Remediated) {
        r.outcome = Outcome::Escalated;
    }
    let note = format!(
        "subscription(s) pending confirmation: {}",
        pending.join(", ")
    );
    r.reason = if r.actions.is_empty() {
        note
    } else {
        format!("{}; {note}", r.reason)
    };
    r.step("Confirm the pending subscription from its confirmation email (RUNBOOK §6 E); until then alarms reach nobody there");
}
