//! RUNBOOK §3, done safely: roll a service back by pointing it at its last known-good
//! task-definition revision. Nothing is rebuilt or re-tagged (deploy.sh's path overwrites the
//! known-good image on MUTABLE repositories: VIEWERATLAS.md §4).
//!
//! Known-good is what the freshness check saw running when every one of its checks passed.

use serde::{Deserialize, Serialize};

use aws_sdk_ecs::types::Service;

use crate::deps::Deps;
use crate::deps::Invocation;
use crate::intake::DeploymentChange;
use crate::probes::service::{describe_service, image_of, rollout_quiet, short_td};
use crate::report::links::{self, autoheal_cli, aws_cli};
use crate::report::{Check, Outcome, Playbook, Report, TriggerRef};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::guard::{Guard, Operator};
use crate::safety::ledger::{Ledger, Versioned};
use crate::safety::settle::settle;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownGood {
    pub service: String,
    pub task_definition_arn: String,
    pub image: Option<String>,
    pub recorded_at: i64,
    pub recorded_by: String,
}

pub fn known_good_key(ledger: &Ledger, cluster: &str, service: &str) -> String {
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

/// Records what runs now as known-good; writes only when it changed. `read`: the record as read
/// ahead (`None`: read it now).
pub async fn record_known_good(
    ledger: &Ledger,
    cluster: &str,
    kg: &KnownGood,
    read: Option<Option<Versioned<KnownGood>>>,
) -> Result<bool, String> {
    let key = known_good_key(ledger, cluster, &kg.service);
    let mut changed = false;
    ledger
        .upsert_from::<KnownGood, _>(&key, read, |current| {
            changed = current.is_none_or(|c| c.task_definition_arn != kg.task_definition_arn);
            changed.then(|| kg.clone())
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(changed)
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
    /// A person asked (`autoheal rollback`): who, why, and whether `--force` was given.
    pub operator: Option<Operator>,
    /// That alarm, which must still be in ALARM when the rollback is made.
    pub alarm: Option<String>,
    /// The failed deployment being undone: acted on only while it is the one the service is on.
    pub deployment: Option<String>,
}

pub async fn handle_deployment(
    deps: &Deps,
    d: &DeploymentChange,
    trigger: TriggerRef,
    inv: Invocation,
) -> Report {
    let cfg = &deps.config;
    let cluster_ok = d.cluster.as_deref().is_none_or(|c| c == cfg.cluster);
    if d.service != cfg.collector_service || !cluster_ok {
        return Report::unrelated(
            trigger,
            format!(
                "{} is not a service Autoheal watches ({} in {})",
                d.service, cfg.collector_service, cfg.cluster
            ),
        );
    }
    let mut r = Report::new(trigger, Playbook::Rollback);
    match d.event_name.as_str() {
        "SERVICE_DEPLOYMENT_FAILED" => {}
        "SERVICE_DEPLOYMENT_COMPLETED" => {
            let done = format!(
                "deployment {} of {} completed",
                d.deployment_id.as_deref().unwrap_or("?"),
                d.service
            );
            r.checks.push(Check::pass("deployment", done.clone()));
            return r.concluded(Outcome::Healthy, done);
        }
        other => {
            return r.concluded(
                Outcome::Ignored,
                format!("{other} for {} needs no action", d.service),
            )
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
        operator: None,
        alarm: None,
        deployment: d.deployment_id.clone(),
        why: format!(
            "deployment {} of {} failed: {}",
            d.deployment_id.as_deref().unwrap_or("?"),
            d.service,
            d.reason.as_deref().unwrap_or("no reason given")
        ),
    };
    roll_back(deps, req, r, inv).await
}

/// Rolls `req.service` back through the guard, into `r`.
pub async fn roll_back(deps: &Deps, req: Request, mut r: Report, inv: Invocation) -> Report {
    r.playbook = Playbook::Rollback;
    let mut guard = Guard::for_run(deps, r.trigger.clone(), inv);
    if let Some(op) = &req.operator {
        guard = guard.with_operator(op.clone());
    }
    let Some((svc, current, current_image)) = current_revision(deps, &req, &mut r).await else {
        return r;
    };
    // Never fight ECS: if its circuit breaker (or anyone) is already rolling, verify instead.
    if let Err(rolling) = rollout_quiet(&svc) {
        r.checks.push(Check::skipped(
            "rollback",
            format!("{rolling}; ECS's own rollback is under way"),
        ));
        return r.concluded(Outcome::Ignored, format!("{}; ECS is already rolling the service ({rolling}); its result is verified by the next deployment event and freshness check", req.why));
    }
    if let Some(stale) = stale_event(&svc, &req) {
        return r.concluded(Outcome::Ignored, stale);
    }
    let Some(target) = rollback_target(deps, &guard, &req, &current, &mut r).await else {
        return r;
    };
    if target == current {
        return already_there(&req, &target, r);
    }
    let target_image = image_of(&deps.aws, &target).await;
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
    let spec = ActionSpec::UpdateServiceTaskDefinition {
        cluster: deps.config.cluster.clone(),
        service: req.service.clone(),
        task_definition_arn: target.clone(),
        alarm: req.alarm.clone(),
    };
    let outcome = guard.act(&intent, &spec).await;
    settle(&mut r, vec![outcome], &req.why, &deps.config);
    if r.outcome == Outcome::Remediated {
        verify(deps, &req, &mut r).await;
    }
    r
}

/// A late or replayed deployment event: the failed deployment is not the one the service is on
/// now (an older one, or one a human or ECS has since replaced). Rolling back then would undo a
/// newer deployment.
fn stale_event(svc: &Service, req: &Request) -> Option<String> {
    let failed = req.deployment.as_deref()?;
    let primary = svc
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .or(svc.deployments().first());
    let (id, state, td) = (
        primary.and_then(|d| d.id()).unwrap_or("?"),
        primary
            .and_then(|d| d.rollout_state())
            .map(|s| s.as_str())
            .unwrap_or("?"),
        primary
            .and_then(|d| d.task_definition())
            .map(short_td)
            .unwrap_or("?"),
    );
    (id != failed).then(|| {
        format!(
            "deployment {failed} failed, but {} is now on deployment {id} ({td}, {state}): a late or replayed event; not rolling back",
            req.service
        )
    })
}

/// The service and the revision (and image) it runs now; `None` when it cannot be described
/// (escalated: a human looks at the service).
async fn current_revision(
    deps: &Deps,
    req: &Request,
    r: &mut Report,
) -> Option<(Service, String, String)> {
    match describe_service(&deps.aws, &deps.config.cluster, &req.service).await {
        Ok(svc) => {
            let current = svc.task_definition().unwrap_or_default().to_string();
            let image = image_of(&deps.aws, &current).await;
            r.checks.push(Check::pass(
                "current_revision",
                format!(
                    "{} runs {} (image {image})",
                    req.service,
                    short_td(&current)
                ),
            ));
            Some((svc, current, image))
        }
        Err(e) => {
            r.checks.push(Check::fail("service", e.clone()));
            r.step("Check the service in the ECS console (RUNBOOK §2)");
            r.conclude(
                Outcome::Escalated,
                format!("{}; cannot roll back: {e}", req.why),
            );
            None
        }
    }
}

/// The revision to return to: the one asked for, or the recorded known-good. `None` when there
/// is none (escalated: Autoheal does not guess) or the ledger cannot be read (failed).
async fn rollback_target(
    deps: &Deps,
    guard: &Guard<'_>,
    req: &Request,
    current: &str,
    r: &mut Report,
) -> Option<String> {
    let cfg = &deps.config;
    if let Some(rev) = &req.to {
        return Some(qualify_revision(current, rev));
    }
    let record = links::ledger_object(
        cfg,
        &known_good_key(guard.ledger(), &cfg.cluster, &req.service),
    );
    match read_known_good(guard.ledger(), &cfg.cluster, &req.service).await {
        Ok(Some(kg)) if family(&kg.task_definition_arn) != family(current) => {
            r.checks.push(
                Check::fail(
                    "known_good",
                    format!(
                        "the recorded known-good {} is not a revision of {}",
                        short_td(&kg.task_definition_arn),
                        family(current)
                    ),
                )
                .with_link(record),
            );
            r.step(format!(
                "Check the known-good record ({}) and roll back by hand: {}",
                autoheal_cli(cfg, "status"),
                autoheal_cli(
                    cfg,
                    &format!("rollback --to <revision of {}>", family(current))
                )
            ));
            r.conclude(
                Outcome::Escalated,
                format!("{}; the known-good record names another task-definition family, so Autoheal will not deploy it", req.why),
            );
            None
        }
        Ok(Some(kg)) => {
            r.checks.push(
                Check::pass(
                    "known_good",
                    format!(
                        "{} recorded {} by {}",
                        short_td(&kg.task_definition_arn),
                        crate::clock::rfc3339(kg.recorded_at),
                        kg.recorded_by
                    ),
                )
                .with_link(record),
            );
            Some(kg.task_definition_arn)
        }
        Ok(None) => {
            r.checks.push(
                Check::fail(
                    "known_good",
                    format!("no known-good revision recorded for {}", req.service),
                )
                .with_link(record),
            );
            r.step(format!(
                "Pick the last good revision and run: {} (or {})",
                autoheal_cli(cfg, "rollback --to <revision>"),
                aws_cli(cfg, &format!("ecs update-service --cluster {} --service {} --task-definition {}:<revision>", cfg.cluster, req.service, cfg.collector_family))
            ));
            r.conclude(
                Outcome::Escalated,
                format!(
                    "{}; no known-good revision is recorded, so Autoheal will not guess one",
                    req.why
                ),
            );
            None
        }
        Err(e) => {
            r.checks
                .push(Check::error("known_good", e.clone()).with_link(record));
            r.conclude(
                Outcome::Failed,
                format!("{}; the ledger could not be read: {e}", req.why),
            );
            None
        }
    }
}

/// The service already runs the target. Asked by an alarm, that means the release is not the
/// cause: escalated for more triage.
fn already_there(req: &Request, target: &str, mut r: Report) -> Report {
    if req.from_alarm {
        r.step("Triage further (RUNBOOK §2): logs, secrets, S3 access");
        return r.concluded(Outcome::Escalated, format!("{}; but {} already runs the known-good revision {}, so the release is not the cause", req.why, req.service, short_td(target)));
    }
    r.concluded(
        Outcome::Ignored,
        format!(
            "{}; {} already runs {}",
            req.why,
            req.service,
            short_td(target)
        ),
    )
}

/// What the service runs after the rollback; the rollout is verified by the next deployment event
/// and freshness check.
async fn verify(deps: &Deps, req: &Request, r: &mut Report) {
    if let Ok(after) = describe_service(&deps.aws, &deps.config.cluster, &req.service).await {
        let now_td = after.task_definition().unwrap_or_default();
        r.checks.push(Check::pass(
            "after",
            format!(
                "{} now on {} (image {})",
                req.service,
                short_td(now_td),
                image_of(&deps.aws, now_td).await
            ),
        ));
    }
    r.step("The rollout is verified by the next deployment event and freshness check; fix the failed release before deploying it again (deploy.sh rebuilds: check out the known-good commit first)");
}

/// The task-definition family of a revision ARN or `family:rev`.
fn family(td: &str) -> &str {
    short_td(td).split(':').next().unwrap_or_default()
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
