//! RUNBOOK §3, done safely: roll a service back by pointing it at its last known-good
//! task-definition revision. Nothing is rebuilt or re-tagged (deploy.sh's path overwrites the
//! known-good image on MUTABLE repositories: VIEWERATLAS.md §4).
//!
//! Known-good is what the freshness check saw running when every one of its checks passed.

use serde::{Deserialize, Serialize};

use crate::aws::{describe_error, Aws};
use crate::freshness::short_td;
use crate::guard::{Guard, Intent};
use crate::intake::DeploymentChange;
use crate::ledger::{Ledger, Versioned};
use crate::outcome::settle;
use crate::remedy::{describe_service, PointServiceAt};
use crate::report::{Check, Outcome, Playbook, Report, TriggerRef};
use crate::run::Deps;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownGood {
    pub service: String,
    pub task_definition_arn: String,
    pub image: Option<String>,
    pub recorded_at: i64,
    pub recorded_by: String,
}

fn known_good_key(ledger: &Ledger, cluster: &str, service: &str) -> String {
    ledger.key("known-good", &format!("{cluster}/{service}"))
}

pub async fn read_known_good(
    ledger: &Ledger,
    cluster: &str,
    service: &str,
) -> Result<Option<KnownGood>, String> {
    ledger
        .get::<KnownGood>(&known_good_key(ledger, cluster, service))
        .await
        .map(|v| v.map(|v| v.value))
        .map_err(|e| e.to_string())
}

/// The known-good record with the ETag it was read with (for [`record_known_good_over`]).
pub async fn read_known_good_versioned(
    ledger: &Ledger,
    cluster: &str,
    service: &str,
) -> Result<Option<Versioned<KnownGood>>, String> {
    ledger
        .get::<KnownGood>(&known_good_key(ledger, cluster, service))
        .await
        .map_err(|e| e.to_string())
}

/// Records what runs now as known-good; writes only when it changed.
pub async fn record_known_good(
    ledger: &Ledger,
    cluster: &str,
    kg: &KnownGood,
) -> Result<bool, String> {
    let current = read_known_good_versioned(ledger, cluster, &kg.service).await?;
    record_known_good_over(ledger, cluster, kg, current).await
}

/// [`record_known_good`] over a record read earlier (the freshness check reads it with its checks);
/// the write is conditional on that read, so a change in between makes it fail, not overwrite.
pub async fn record_known_good_over(
    ledger: &Ledger,
    cluster: &str,
    kg: &KnownGood,
    current: Option<Versioned<KnownGood>>,
) -> Result<bool, String> {
    let key = known_good_key(ledger, cluster, &kg.service);
    if current
        .as_ref()
        .is_some_and(|c| c.value.task_definition_arn == kg.task_definition_arn)
    {
        return Ok(false);
    }
    let expect = current.as_ref().map(|c| c.etag.as_str());
    ledger
        .put_if(&key, kg, expect)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// Image of the first container of a revision, for before/after evidence.
pub async fn image_of(aws: &Aws, td: &str) -> String {
    match aws
        .ecs()
        .describe_task_definition()
        .task_definition(td)
        .send()
        .await
    {
        Ok(o) => o
            .task_definition()
            .and_then(|t| t.container_definitions().first())
            .and_then(|c| c.image())
            .map(|i| i.rsplit('/').next().unwrap_or(i).to_string())
            .unwrap_or_else(|| "?".into()),
        Err(e) => format!("unknown ({})", describe_error(&e)),
    }
}

/// What a deployment event, an alarm found deploy-related, or `autoheal rollback` asks for.
pub struct Request {
    pub service: String,
    /// Explicit revision (`autoheal rollback --to`); otherwise the recorded known-good.
    pub to: Option<String>,
    /// What identifies the change being undone (the failed deployment id, say).
    pub change_id: String,
    pub why: String,
    /// An alarm asked: rolling back to what already runs would leave the alarm unexplained.
    pub from_alarm: bool,
}

pub async fn handle_deployment(
    deps: &Deps,
    d: &DeploymentChange,
    trigger: TriggerRef,
    dry_run: bool,
) -> Report {
    let cfg = &deps.config;
    let mut r = Report::new(trigger, Playbook::Rollback);
    let cluster_ok = d.cluster.as_deref().is_none_or(|c| c == cfg.cluster);
    if d.service != cfg.collector_service || !cluster_ok {
        r.outcome = Outcome::Ignored;
        r.playbook = Playbook::None;
        r.reason = format!(
            "{} is not a service Autoheal watches ({} in {})",
            d.service, cfg.collector_service, cfg.cluster
        );
        return r;
    }
    match d.event_name.as_str() {
        "SERVICE_DEPLOYMENT_FAILED" => {}
        "SERVICE_DEPLOYMENT_COMPLETED" => {
            r.outcome = Outcome::Healthy;
            r.reason = format!(
                "deployment {} of {} completed",
                d.deployment_id.as_deref().unwrap_or("?"),
                d.service
            );
            r.checks.push(Check::pass("deployment", r.reason.clone()));
            return r;
        }
        other => {
            r.outcome = Outcome::Ignored;
            r.reason = format!("{other} for {} needs no action", d.service);
            return r;
        }
    }
    let req = Request {
        service: d.service.clone(),
        to: None,
        change_id: format!(
            "deployment:{}",
            d.deployment_id
                .clone()
                .unwrap_or_else(|| r.trigger.id.clone())
        ),
        from_alarm: false,
        why: format!(
            "deployment {} of {} failed: {}",
            d.deployment_id.as_deref().unwrap_or("?"),
            d.service,
            d.reason.as_deref().unwrap_or("no reason given")
        ),
    };
    roll_back(deps, req, r, dry_run).await
}

/// Rolls `req.service` back through the guard, into `r`.
pub async fn roll_back(deps: &Deps, req: Request, mut r: Report, dry_run: bool) -> Report {
    let cfg = &deps.config;
    let aws = &deps.aws;
    r.playbook = Playbook::Rollback;
    let guard = Guard::for_run(cfg, aws, r.trigger.clone(), dry_run);

    let svc = match describe_service(aws, &cfg.cluster, &req.service).await {
        Ok(s) => s,
        Err(e) => {
            r.checks.push(Check::fail("service", e.clone()));
            r.outcome = Outcome::Escalated;
            r.reason = format!("{}; cannot roll back: {e}", req.why);
            r.next_steps
                .push("Check the service in the ECS console (RUNBOOK §2)".into());
            return r;
        }
    };
    let current = svc.task_definition().unwrap_or_default().to_string();
    let current_image = image_of(aws, &current).await;
    r.checks.push(Check::pass(
        "current_revision",
        format!(
            "{} runs {} (image {current_image})",
            req.service,
            short_td(&current)
        ),
    ));

    // Never fight ECS: if its circuit breaker (or anyone) is already rolling, verify instead.
    if let Err(rolling) = crate::remedy::rollout_quiet(&svc) {
        r.checks.push(Check::skipped(
            "rollback",
            format!("{rolling}; ECS's own rollback is under way"),
        ));
        r.outcome = Outcome::Ignored;
        r.reason = format!("{}; ECS is already rolling the service ({rolling}); its result is verified by the next deployment event and freshness check", req.why);
        return r;
    }

    let target = match &req.to {
        Some(rev) => qualify_revision(&current, rev),
        None => match read_known_good(guard.ledger(), &cfg.cluster, &req.service).await {
            Ok(Some(kg)) => {
                r.checks.push(Check::pass(
                    "known_good",
                    format!(
                        "{} recorded {} by {}",
                        short_td(&kg.task_definition_arn),
                        crate::clock::rfc3339(kg.recorded_at),
                        kg.recorded_by
                    ),
                ));
                kg.task_definition_arn
            }
            Ok(None) => {
                r.checks.push(Check::fail(
                    "known_good",
                    format!("no known-good revision recorded for {}", req.service),
                ));
                r.outcome = Outcome::Escalated;
                r.reason = format!(
                    "{}; no known-good revision is recorded, so Autoheal will not guess one",
                    req.why
                );
                r.next_steps.push(format!(
                    "Pick the last good revision and run: autoheal rollback --to <revision> (or aws ecs update-service --cluster {} --service {} --task-definition {}:<revision>)",
                    cfg.cluster, req.service, cfg.collector_family
                ));
                return r;
            }
            Err(e) => {
                r.checks.push(Check::error("known_good", e.clone()));
                r.outcome = Outcome::Failed;
                r.reason = format!("{}; the ledger could not be read: {e}", req.why);
                return r;
            }
        },
    };
    if target == current {
        if req.from_alarm {
            r.outcome = Outcome::Escalated;
            r.reason = format!("{}; but {} already runs the known-good revision {}, so the release is not the cause", req.why, req.service, short_td(&target));
            r.next_steps
                .push("Triage further (RUNBOOK §2): logs, secrets, S3 access".into());
        } else {
            r.outcome = Outcome::Ignored;
            r.reason = format!(
                "{}; {} already runs {}",
                req.why,
                req.service,
                short_td(&target)
            );
        }
        return r;
    }
    let target_image = image_of(aws, &target).await;
    let intent = Intent {
        playbook: Playbook::Rollback,
        change_id: req.change_id.clone(),
        detail: format!(
            "roll {} back from {} (image {current_image}) to {} (image {target_image})",
            req.service,
            short_td(&current),
            short_td(&target)
        ),
        evidence: vec![req.why.clone()],
        alarm_response: false,
    };
    let m = PointServiceAt {
        aws,
        cluster: cfg.cluster.clone(),
        service: req.service.clone(),
        task_definition_arn: target.clone(),
    };
    let outcome = guard.act(&intent, &m).await;
    settle(&mut r, vec![outcome], &req.why, cfg);
    if r.outcome == Outcome::Remediated {
        if let Ok(after) = describe_service(aws, &cfg.cluster, &req.service).await {
            let now_td = after.task_definition().unwrap_or_default();
            r.checks.push(Check::pass(
                "after",
                format!(
                    "{} now on {} (image {})",
                    req.service,
                    short_td(now_td),
                    image_of(aws, now_td).await
                ),
            ));
        }
        r.next_steps.push("The rollout is verified by the next deployment event and freshness check; fix the failed release before deploying it again (deploy.sh rebuilds: check out the known-good commit first)".into());
    }
    r
}

/// `7` or `vieweratlas-collector:7` or a full ARN → the ARN in the same family as `current`.
pub fn qualify_revision(current: &str, rev: &str) -> String {
    if rev.starts_with("arn:") {
        return rev.to_string();
    }
    let base = current.rsplit_once('/').map(|(b, _)| b).unwrap_or("");
    let fam_rev = if rev.contains(':') {
        rev.to_string()
    } else {
        let fam = short_td(current).split(':').next().unwrap_or_default();
        format!("{fam}:{rev}")
    };
    if base.is_empty() {
        fam_rev
    } else {
        format!("{base}/{fam_rev}")
    }
}

#[cfg(test)]
mod tests {
    use super::qualify_revision;

    #[test]
    fn revisions_are_qualified_in_the_current_family() {
        let cur = "arn:aws:ecs:us-east-1:1:task-definition/vieweratlas-collector:3";
        assert_eq!(
            qualify_revision(cur, "2"),
            "arn:aws:ecs:us-east-1:1:task-definition/vieweratlas-collector:2"
        );
        assert_eq!(
            qualify_revision(cur, "vieweratlas-collector:1"),
            "arn:aws:ecs:us-east-1:1:task-definition/vieweratlas-collector:1"
        );
        assert_eq!(qualify_revision(cur, "arn:x"), "arn:x");
    }
}
