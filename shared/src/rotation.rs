//! RUNBOOK §5: after a Twitch secret changes, force one new deployment of every service whose task
//! definition injects it (values are read only at task start, VIEWERATLAS.md §1).

use crate::aws::{describe_error, Aws};
use crate::guard::{Guard, Intent};
use crate::intake::{SecretChange, SecretEventKind};
use crate::outcome::settle;
use crate::remedy::{describe_service, ForceDeployment};
use crate::report::{Check, Playbook, Report, TriggerRef};
use crate::run::Deps;

/// The name inside any spelling of a secret id: a name, a partial ARN, or a full ARN whose name
/// carries Secrets Manager's random 6-character suffix.
pub fn secret_name_matches(id: &str, name: &str) -> bool {
    let resource = match id.split_once(":secret:") {
        Some((_, r)) => r,
        None => return id == name,
    };
    // ECS valueFrom may append `:json-key:version-stage:version-id`.
    let resource = resource.split(':').next().unwrap_or(resource);
    if resource == name {
        return true;
    }
    resource
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|suffix| {
            suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

enum Kind {
    ValueChanged,
    Ignore(String),
    Escalate(String, Vec<String>),
}

fn classify(c: &SecretChange, name: &str) -> Kind {
    if let Some(code) = &c.error_code {
        return Kind::Ignore(format!(
            "{} on {name} failed ({code}); the secret did not change",
            c.event_name
        ));
    }
    match (c.kind, c.event_name.as_str()) {
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
                format!("Rotate by hand (RUNBOOK §5): aws secretsmanager update-secret --secret-id {name} --secret-string '<new token>'; Autoheal redeploys the collector when it sees the change"),
            ],
        ),
        (_, "DeleteSecret") => Kind::Escalate(
            format!("{name} was scheduled for deletion: the collector and VOD tasks cannot start without it"),
            vec![format!("If unintended: aws secretsmanager restore-secret --secret-id {name}")],
        ),
        (_, other) => Kind::Ignore(format!("{other} does not change the value of {name}")),
    }
}

/// Every ECS service in the cluster whose current task definition injects `secret`.
async fn services_using(
    aws: &Aws,
    cluster: &str,
    secret: &str,
) -> Result<Vec<(String, i32)>, String> {
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = aws
            .ecs()
            .list_services()
            .cluster(cluster)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("ListServices {cluster}: {}", describe_error(&e)))?;
        arns.extend(page.service_arns().iter().cloned());
        match page.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    let mut services = Vec::new();
    for chunk in arns.chunks(10) {
        let svcs = aws
            .ecs()
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| format!("DescribeServices: {}", describe_error(&e)))?;
        for s in svcs.services() {
            if let Some(td) = s.task_definition() {
                let name = s.service_name().unwrap_or_default().to_string();
                services.push((name, s.desired_count(), td.to_string()));
            }
        }
    }
    // Every service's revision is described at once: one round trip, not one per service.
    let mut lookups = tokio::task::JoinSet::new();
    for (i, (_, _, td)) in services.iter().enumerate() {
        let (ecs, td) = (aws.ecs().clone(), td.clone());
        lookups.spawn(async move {
            let def = ecs
                .describe_task_definition()
                .task_definition(&td)
                .send()
                .await;
            (i, td, def)
        });
    }
    let mut uses = vec![false; services.len()];
    while let Some(joined) = lookups.join_next().await {
        let (i, td, def) = joined.map_err(|e| format!("DescribeTaskDefinition: {e}"))?;
        let def =
            def.map_err(|e| format!("DescribeTaskDefinition {td}: {}", describe_error(&e)))?;
        uses[i] = def.task_definition().is_some_and(|t| {
            t.container_definitions()
                .iter()
                .flat_map(|c| c.secrets())
                .any(|s| secret_name_matches(s.value_from(), secret))
        });
    }
    let mut out: Vec<(String, i32)> = services
        .into_iter()
        .zip(uses)
        .filter(|(_, uses)| *uses)
        .map(|((name, desired, _), _)| (name, desired))
        .collect();
    out.sort();
    Ok(out)
}

/// The version now labelled AWSCURRENT: the identity of "the change", so that UpdateSecret and the
/// RotationSucceeded that follows it count once.
async fn current_version(aws: &Aws, secret: &str) -> Result<Option<String>, String> {
    let d = aws
        .secrets()
        .describe_secret()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| format!("DescribeSecret {secret}: {}", describe_error(&e)))?;
    Ok(d.version_ids_to_stages().and_then(|m| {
        m.iter()
            .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
            .map(|(v, _)| v.clone())
    }))
}

pub async fn handle(
    deps: &Deps,
    change: &SecretChange,
    trigger: TriggerRef,
    dry_run: bool,
) -> Report {
    let cfg = &deps.config;
    let aws = &deps.aws;
    let mut r = Report::new(trigger.clone(), Playbook::SecretRotation);
    let watched = [&cfg.oauth_secret_id, &cfg.client_id_secret_id];
    let Some(name) = watched
        .iter()
        .find(|n| secret_name_matches(&change.secret_id, n))
        .map(|n| n.to_string())
    else {
        r.outcome = crate::report::Outcome::Ignored;
        r.reason = format!(
            "{} is not one of the ViewerAtlas secrets ({}, {})",
            change.secret_id, cfg.oauth_secret_id, cfg.client_id_secret_id
        );
        r.playbook = Playbook::None;
        return r;
    };
    r.checks.push(Check::pass(
        "secret_watched",
        format!("{} on {name} ({})", change.event_name, change.secret_id),
    ));
    match classify(change, &name) {
        Kind::Ignore(reason) => {
            r.outcome = crate::report::Outcome::Ignored;
            r.reason = reason;
            return r;
        }
        Kind::Escalate(reason, steps) => {
            r.outcome = crate::report::Outcome::Escalated;
            r.reason = reason;
            r.next_steps = steps;
            return r;
        }
        Kind::ValueChanged => {}
    }

    // The current version, the token check and the services that inject the secret are
    // independent: asked together, one round trip (plus the listing's own chain) instead of three.
    // When the secret turns out to be gone, the other answers go unused (reads only).
    let (version, token, services) = tokio::join!(
        current_version(aws, &name),
        async {
            if name == cfg.oauth_secret_id {
                crate::twitch::check_configured(deps).await
            } else {
                None
            }
        },
        services_using(aws, &cfg.cluster, &name)
    );
    let change_id = match version {
        Ok(Some(v)) => {
            r.checks.push(Check::pass(
                "secret_current_version",
                format!("AWSCURRENT is version {v}"),
            ));
            format!("secret:{name}:{v}")
        }
        Ok(None) => {
            r.checks.push(Check::error(
                "secret_current_version",
                "no AWSCURRENT version reported; keying on the event id",
            ));
            trigger.id.clone()
        }
        Err(e) => {
            if e.contains("ResourceNotFound") {
                r.outcome = crate::report::Outcome::Escalated;
                r.reason = format!("{name} changed but no longer exists");
                r.checks.push(Check::fail("secret_current_version", e));
                r.next_steps.push(format!(
                    "Recreate {name} (RUNBOOK §5) before the collector restarts"
                ));
                return r;
            }
            r.checks.push(Check::error("secret_current_version", e));
            trigger.id.clone()
        }
    };
    // Validate the new token before rolling it out: a token Twitch rejects is escalated, not
    // deployed. The value is read only for this call and never logged or reported.
    if name == cfg.oauth_secret_id {
        match token {
            None => r.checks.push(Check::skipped(
                "twitch_token_validation",
                "turned off (AUTOHEAL_TWITCH_VALIDATE_URL is empty)",
            )),
            Some(c @ crate::twitch::TokenCheck::Rejected { .. }) => {
                r.checks
                    .push(Check::fail("twitch_token_validation", c.summary()));
                r.outcome = crate::report::Outcome::Escalated;
                r.reason = format!("the new value of {name} is rejected by Twitch; not rolled out");
                r.next_steps.push(format!("Put a valid token in {name} (bare token, no 'oauth:' prefix); Autoheal rolls it out when it changes"));
                return r;
            }
            Some(c @ crate::twitch::TokenCheck::Valid { .. }) => r
                .checks
                .push(Check::pass("twitch_token_validation", c.summary())),
            Some(c) => r.checks.push(Check::error(
                "twitch_token_validation",
                format!("{}; rolling out anyway", c.summary()),
            )),
        }
    }

    let services = match services {
        Ok(s) => s,
        Err(e) => {
            r.checks
                .push(Check::error("services_using_secret", e.clone()));
            r.outcome = crate::report::Outcome::Failed;
            r.reason = format!("could not find the services that inject {name}: {e}");
            r.next_steps.push(format!("Force a new deployment by hand: aws ecs update-service --cluster {} --service {} --force-new-deployment", cfg.cluster, cfg.collector_service));
            return r;
        }
    };
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

    let guard = Guard::for_run(cfg, aws, trigger, dry_run);
    let mut outcomes = Vec::new();
    for (svc, desired) in &services {
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
            change_id: change_id.clone(),
            detail: format!("force a new deployment of {svc} so its tasks read the new {name}"),
            evidence: vec![
                format!("{} on {name}", change.event_name),
                format!("change {change_id}"),
            ],
            alarm_response: false,
        };
        let m = ForceDeployment {
            aws,
            cluster: cfg.cluster.clone(),
            service: svc.clone(),
            alarm: None,
        };
        outcomes.push(guard.act(&intent, &m).await);
    }
    if services.iter().all(|(_, d)| *d == 0) {
        r.outcome = crate::report::Outcome::Ignored;
        r.reason = format!("{name} changed but no running service injects it");
        return r;
    }
    settle(&mut r, outcomes, &format!("{name} changed"), cfg);
    if r.outcome == crate::report::Outcome::Remediated {
        // Verification: ECS has a new primary deployment; the rollout itself is followed by the
        // deployment events and the next scheduled freshness check.
        for (svc, _) in services.iter().filter(|(_, d)| *d > 0) {
            match describe_service(aws, &cfg.cluster, svc).await {
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
        r.next_steps.push("Nothing, if the next freshness check passes: it verifies the collector is running and writing snapshots".into());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids_match_in_every_spelling() {
        let n = "vieweratlas/twitch/oauth_token";
        assert!(secret_name_matches(n, n));
        assert!(secret_name_matches(
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token",
            n
        ));
        assert!(secret_name_matches(
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token-Ab12Cd",
            n
        ));
        assert!(secret_name_matches("arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token-Ab12Cd:token::", n));
        assert!(!secret_name_matches(
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token_v2-Ab12Cd",
            n
        ));
        assert!(!secret_name_matches(
            "arn:aws:secretsmanager:us-east-1:1:secret:vieweratlas/twitch/oauth_token-Ab12C",
            n
        ));
        assert!(!secret_name_matches("vieweratlas/twitch/client_id", n));
    }
}
