//! RUNBOOK §5: after a Twitch secret changes, force one new deployment of every service whose task
//! definition injects it (values are read only at task start, VIEWERATLAS.md §1).

use crate::aws::{AwsError, ErrorKind};
use crate::config::Config;
use crate::deps::Deps;
use crate::deps::Invocation;
use crate::intake::{SecretChange, SecretEventKind};
use crate::probes::secrets::{current_version, secret_name_matches, services_using};
use crate::probes::service::describe_service;
use crate::probes::twitch::{self, TokenCheck};
use crate::report::links::aws_cli;
use crate::report::{Check, Outcome, Playbook, Report, TriggerRef};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::guard::Guard;
use crate::safety::settle::settle;

enum Kind {
    ValueChanged,
    Ignore(String),
    Escalate(String, Vec<String>),
}

fn classify(c: &SecretChange, name: &str, cfg: &Config) -> Kind {
    if let Some(code) = &c.error_code {
        return Kind::Ignore(format!(
            "{} on {name} failed ({code}); the secret did not change",
            c.event_name
        ));
    }
    // A version staged only as AWSPENDING (a rotation's first step, or a put with explicit stages)
    // is not what tasks read: the change comes when it is made AWSCURRENT.
    let pending_only = c
        .version_stages
        .as_ref()
        .is_some_and(|s| !s.iter().any(|x| x == "AWSCURRENT"));
    match (c.kind, c.event_name.as_str()) {
        (_, "PutSecretValue") if pending_only => Kind::Ignore(format!(
            "PutSecretValue staged a new version of {name} as {} only, not AWSCURRENT: the tasks' value did not change",
            c.version_stages.as_deref().unwrap_or_default().join(", ")
        )),
        (_, "PutSecretValue" | "RotationSucceeded" | "UpdateSecretVersionStage") => Kind::ValueChanged,
        (_, "UpdateSecret") if c.version_id.is_some() => Kind::ValueChanged,
        (_, "UpdateSecret") => Kind::Ignore(format!("UpdateSecret on {name} changed only metadata (no new version)")),
        (_, "RotateSecret" | "RotationStarted") => {
            Kind::Ignore(format!("rotation of {name} started; the redeploy follows RotationSucceeded"))
        }
        (SecretEventKind::ServiceEvent, "RotationFailed" | "RotationAbandoned") => Kind::Escalate(
            format!("rotation of {name} failed: the old value is still current and may be about to expire"),
            vec![
                format!("Check the rotation function's logs for {name}"),
                format!("Rotate by hand (RUNBOOK §5): {}; Autoheal redeploys the collector when it sees the change", aws_cli(cfg, &format!("secretsmanager update-secret --secret-id {name} --secret-string '<new token>'"))),
            ],
        ),
        (_, "DeleteSecret") => Kind::Escalate(
            format!("{name} was scheduled for deletion: the collector and VOD tasks cannot start without it"),
            vec![format!("If unintended: {}", aws_cli(cfg, &format!("secretsmanager restore-secret --secret-id {name}")))],
        ),
        (_, other) => Kind::Ignore(format!("{other} does not change the value of {name}")),
    }
}

pub async fn handle(
    deps: &Deps,
    change: &SecretChange,
    trigger: TriggerRef,
    inv: Invocation,
) -> Report {
    let cfg = &deps.config;
    let watched = [&cfg.oauth_secret_id, &cfg.client_id_secret_id];
    let Some(name) = watched
        .iter()
        .find(|n| secret_name_matches(&change.secret_id, n))
        .map(|n| n.to_string())
    else {
        return Report::unrelated(
            trigger,
            format!(
                "{} is not one of the ViewerAtlas secrets ({}, {})",
                change.secret_id, cfg.oauth_secret_id, cfg.client_id_secret_id
            ),
        );
    };
    let mut r = Report::new(trigger.clone(), Playbook::SecretRotation);
    r.checks.push(Check::pass(
        "secret_watched",
        format!("{} on {name} ({})", change.event_name, change.secret_id),
    ));
    match classify(change, &name, cfg) {
        Kind::Ignore(reason) => return r.concluded(Outcome::Ignored, reason),
        Kind::Escalate(reason, steps) => {
            r.next_steps = steps;
            return r.concluded(Outcome::Escalated, reason);
        }
        Kind::ValueChanged => {}
    }
    // The current version, the token check and the services that inject the secret are
    // independent: asked together, one round trip (plus the listing's own chain) instead of three.
    // When the secret turns out to be gone, the other answers go unused (reads only).
    // The guard's pause record is read with them.
    let is_token = name == cfg.oauth_secret_id;
    let guard = Guard::for_run(deps, trigger.clone(), inv);
    let (version, token, services, ()) = tokio::join!(
        current_version(&deps.aws, &name),
        async {
            match is_token {
                true => twitch::check_configured(deps).await,
                false => None,
            }
        },
        services_using(&deps.aws, &cfg.cluster, &name),
        guard.read_ahead()
    );
    let Some(change_id) = change_identity(version, &name, &trigger, &mut r) else {
        return r;
    };
    // Validate the new token before rolling it out: a token Twitch rejects is escalated, not
    // deployed. The value is read only for this call and never logged or reported.
    if is_token && !token_accepted(token, &name, &mut r) {
        return r;
    }
    let Some(services) = injecting_services(deps, services, &name, &mut r) else {
        return r;
    };
    redeploy(deps, &guard, change, &name, &change_id, &services, &mut r).await;
    if services.iter().all(|(_, d)| *d == 0) {
        return r.concluded(
            Outcome::Ignored,
            format!("{name} changed but no running service injects it"),
        );
    }
    if r.outcome == Outcome::Remediated {
        verify(deps, &services, &mut r).await;
    }
    r
}

/// The version now labelled AWSCURRENT identifies the change, so that UpdateSecret and the
/// RotationSucceeded that follows it count once. `None` when the run must stop (the secret is
/// gone: escalated).
fn change_identity(
    version: Result<Option<String>, AwsError>,
    name: &str,
    trigger: &TriggerRef,
    r: &mut Report,
) -> Option<String> {
    match version {
        Ok(Some(v)) => {
            r.checks.push(Check::pass(
                "secret_current_version",
                format!("AWSCURRENT is version {v}"),
            ));
            Some(format!("secret:{name}:{v}"))
        }
        Ok(None) => {
            r.checks.push(Check::error(
                "secret_current_version",
                "no AWSCURRENT version reported; keying on the event id",
            ));
            Some(trigger.id.clone())
        }
        Err(e) if e.is(ErrorKind::NotFound) => {
            r.checks
                .push(Check::fail("secret_current_version", e.to_string()));
            r.step(format!(
                "Recreate {name} (RUNBOOK §5) before the collector restarts"
            ));
            r.conclude(
                Outcome::Escalated,
                format!("{name} changed but no longer exists"),
            );
            None
        }
        Err(e) => {
            r.checks
                .push(Check::error("secret_current_version", e.to_string()));
            Some(trigger.id.clone())
        }
    }
}

/// Twitch's verdict on the new token; `false` when it is rejected (escalated, not rolled out).
fn token_accepted(token: Option<TokenCheck>, name: &str, r: &mut Report) -> bool {
    const CHECK: &str = "twitch_token_validation";
    match token {
        None => r.checks.push(Check::skipped(
            CHECK,
            "turned off (AUTOHEAL_TWITCH_VALIDATE_URL is empty)",
        )),
        Some(c @ (TokenCheck::Rejected { .. } | TokenCheck::Unusable(_))) => {
            r.checks.push(Check::fail(CHECK, c.summary()));
            r.step(format!("Put a valid token in {name} (bare token, no 'oauth:' prefix); Autoheal rolls it out when it changes"));
            r.conclude(
                Outcome::Escalated,
                format!("the new value of {name} is rejected by Twitch; not rolled out"),
            );
            return false;
        }
        Some(c @ TokenCheck::Valid { .. }) => r.checks.push(Check::pass(CHECK, c.summary())),
        Some(c) => r.checks.push(Check::error(
            CHECK,
            format!("{}; rolling out anyway", c.summary()),
        )),
    }
    true
}

/// The services whose task definition injects the secret, with their desired counts; `None` when
/// they cannot be found (the run failed: a human redeploys).
fn injecting_services(
    deps: &Deps,
    found: Result<Vec<(String, i32)>, String>,
    name: &str,
    r: &mut Report,
) -> Option<Vec<(String, i32)>> {
    let cfg = &deps.config;
    match found {
        Ok(services) => {
            let names: Vec<String> = services
                .iter()
                .map(|(n, d)| format!("{n} (desired {d})"))
                .collect();
            r.checks.push(Check::pass(
                "services_using_secret",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                },
            ));
            Some(services)
        }
        Err(e) => {
            r.checks
                .push(Check::error("services_using_secret", e.clone()));
            r.step(format!(
                "Force a new deployment by hand: {}",
                aws_cli(
                    cfg,
                    &format!(
                        "ecs update-service --cluster {} --service {} --force-new-deployment",
                        cfg.cluster, cfg.collector_service
                    )
                )
            ));
            r.conclude(
                Outcome::Failed,
                format!("could not find the services that inject {name}: {e}"),
            );
            None
        }
    }
}

/// One guarded forced deployment per service that runs tasks holding the old value.
async fn redeploy(
    deps: &Deps,
    guard: &Guard<'_>,
    change: &SecretChange,
    name: &str,
    change_id: &str,
    services: &[(String, i32)],
    r: &mut Report,
) {
    let cfg = &deps.config;
    let mut outcomes = Vec::new();
    for (svc, desired) in services {
        if *desired == 0 {
            // Nothing runs, so nothing holds the old value; the next task started reads the new one.
            r.checks.push(Check::skipped(
                "redeploy",
                format!("{svc} has desired count 0: the next task reads the new value"),
            ));
            continue;
        }
        let intent = Intent {
            playbook: Playbook::SecretRotation,
            change_id: change_id.to_string(),
            detail: format!("force a new deployment of {svc} so its tasks read the new {name}"),
            evidence: vec![
                format!("{} on {name}", change.event_name),
                format!("change {change_id}"),
            ],
            alarm_response: false,
        };
        let spec = ActionSpec::ForceNewDeployment {
            cluster: cfg.cluster.clone(),
            service: svc.clone(),
            alarm: None,
        };
        outcomes.push(guard.act(&intent, &spec).await);
    }
    if !outcomes.is_empty() {
        settle(r, outcomes, &format!("{name} changed"), cfg);
    }
}

/// ECS has a new primary deployment; the rollout itself is followed by the deployment events and
/// the next scheduled freshness check.
async fn verify(deps: &Deps, services: &[(String, i32)], r: &mut Report) {
    for (svc, _) in services.iter().filter(|(_, d)| *d > 0) {
        match describe_service(&deps.aws, &deps.config.cluster, svc).await {
            Ok(s) => {
                let d = s
                    .deployments()
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY"));
                r.checks.push(Check::pass(
                    "deployment_started",
                    format!(
                        "{svc}: primary deployment {} {}",
                        d.and_then(|d| d.id()).unwrap_or("?"),
                        d.and_then(|d| d.rollout_state())
                            .map(|s| s.as_str())
                            .unwrap_or("(no rollout state)")
                    ),
                ));
            }
            Err(e) => r.checks.push(Check::error("deployment_started", e)),
        }
    }
    r.step("Nothing, if the next freshness check passes: it verifies the collector is running and writing snapshots");
}
