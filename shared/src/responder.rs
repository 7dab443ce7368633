//! The alarm responder: RUNBOOK §2 triage for every collector alarm, then playbook A (no new
//! snapshots) or B (channel discovery fails), acting only where a redeploy can help.

use aws_sdk_ecs::types::Service;

use crate::aws::{describe_error, Aws};
use crate::freshness::{self, age_text, short_td};
use crate::guard::{Guard, Intent};
use crate::intake::AlarmSignal;
use crate::logscan::{self, GroupScan, Signature};
use crate::outcome::settle;
use crate::remedy::{describe_service, ForceDeployment};
use crate::report::{Check, CheckStatus, Outcome, Playbook, Report, TriggerRef};
use crate::run::Deps;
use crate::twitch::TokenCheck;

/// A deployment this close before the alarm makes the alarm deploy-related (RUNBOOK §2.5).
const DEPLOY_RELATED_SECS: i64 = 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmKind {
    Unavailable,
    SnapshotStalled,
    ErrorSpike,
    Other,
}

pub fn alarm_kind(name: &str) -> AlarmKind {
    let n = name.to_ascii_lowercase();
    if n.contains("unavailable") {
        AlarmKind::Unavailable
    } else if n.contains("snapshot-stalled") || n.contains("snapshotstalled") {
        AlarmKind::SnapshotStalled
    } else if n.contains("error-spike") || n.contains("errorspike") {
        AlarmKind::ErrorSpike
    } else {
        AlarmKind::Other
    }
}

/// What triage found; every field is evidence in the report.
pub struct Triage {
    pub service: Result<Service, String>,
    pub scans: Vec<GroupScan>,
    pub findings: freshness::Findings,
    pub stopped: Vec<String>,
    /// Newest time either Twitch secret changed, epoch seconds, with its name.
    pub secret_changed: Option<(i64, String)>,
    pub secret_problems: Vec<String>,
    pub env_problems: Vec<String>,
    pub deployed_at: Option<i64>,
}

impl Triage {
    fn count(&self, s: Signature) -> usize {
        self.scans.first().map(|g| g.count(s)).unwrap_or(0)
    }
    fn collector(&self) -> Option<&GroupScan> {
        self.scans.first()
    }
}

async fn stopped_reasons(aws: &Aws, cluster: &str, service: &str) -> Vec<String> {
    let listed = aws
        .ecs()
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await;
    let arns = match listed {
        Ok(l) => l.task_arns().iter().take(10).cloned().collect::<Vec<_>>(),
        Err(e) => {
            return vec![format!(
                "could not list stopped tasks: {}",
                describe_error(&e)
            )]
        }
    };
    if arns.is_empty() {
        return Vec::new();
    }
    match aws
        .ecs()
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
    {
        Err(e) => vec![format!(
            "could not describe stopped tasks: {}",
            describe_error(&e)
        )],
        Ok(d) => d
            .tasks()
            .iter()
            // ListTasks' service filter is advisory in some emulators; the group is authoritative.
            .filter(|t| t.group().is_none_or(|g| g == format!("service:{service}")))
            .map(|t| {
                let exits: Vec<String> = t
                    .containers()
                    .iter()
                    .filter_map(|c| {
                        c.exit_code()
                            .map(|x| format!("{} exit {x}", c.name().unwrap_or("?")))
                    })
                    .collect();
                format!(
                    "{}: {}{}",
                    t.task_arn()
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or("?"),
                    t.stopped_reason()
                        .filter(|r| !r.is_empty())
                        .unwrap_or("no stopped reason"),
                    if exits.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", exits.join(", "))
                    }
                )
            })
            .collect(),
    }
}

async fn secrets_state(deps: &Deps) -> (Option<(i64, String)>, Vec<String>) {
    let cfg = &deps.config;
    let mut newest: Option<(i64, String)> = None;
    let mut problems = Vec::new();
    // Both secrets are described at once: one round trip, not two.
    let describe = |name: &String| deps.aws.secrets().describe_secret().secret_id(name).send();
    let (oauth, client_id) = tokio::join!(
        describe(&cfg.oauth_secret_id),
        describe(&cfg.client_id_secret_id)
    );
    for (name, answer) in [
        (&cfg.oauth_secret_id, oauth),
        (&cfg.client_id_secret_id, client_id),
    ] {
        match answer {
            Ok(d) => {
                if d.deleted_date().is_some() {
                    problems.push(format!("{name} is scheduled for deletion"));
                }
                if let Some(t) = d.last_changed_date().map(|t| t.secs()) {
                    if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                        newest = Some((t, name.clone()));
                    }
                }
            }
            Err(e) => problems.push(format!("{name}: {}", describe_error(&e))),
        }
    }
    (newest, problems)
}

/// `S3_BUCKET`/`S3_PREFIX` in the environment and both secrets injected (playbooks A and B).
async fn task_definition_problems(deps: &Deps, td: &str) -> Vec<String> {
    let cfg = &deps.config;
    let def = match deps
        .aws
        .ecs()
        .describe_task_definition()
        .task_definition(td)
        .send()
        .await
    {
        Ok(d) => d,
        Err(e) => return vec![format!("{}: {}", short_td(td), describe_error(&e))],
    };
    let Some(c) = def
        .task_definition()
        .and_then(|t| t.container_definitions().first())
    else {
        return vec![format!("{} has no containers", short_td(td))];
    };
    let mut out = Vec::new();
    for var in ["S3_BUCKET", "S3_PREFIX"] {
        if !c
            .environment()
            .iter()
            .any(|kv| kv.name() == Some(var) && kv.value().is_some_and(|v| !v.is_empty()))
        {
            out.push(format!("{var} missing from {}'s environment", short_td(td)));
        }
    }
    for (var, secret) in [
        ("TWITCH_OAUTH_TOKEN", &cfg.oauth_secret_id),
        ("TWITCH_CLIENT_ID", &cfg.client_id_secret_id),
    ] {
        let ok = c.secrets().iter().any(|s| {
            s.name() == var && crate::rotation::secret_name_matches(s.value_from(), secret)
        });
        if !ok {
            out.push(format!(
                "{var} is not injected from {secret} in {}",
                short_td(td)
            ));
        }
    }
    out
}

pub async fn triage(deps: &Deps, now: i64) -> Triage {
    let cfg = &deps.config;
    let aws = &deps.aws;
    let start_ms = (now - cfg.log_lookback_minutes as i64 * 60) * 1000;
    // The service's task definition is read as soon as the service answers, not after the slowest
    // of the other reads: the chain service → task definition is the longest the triage needs.
    let service_and_config = async {
        let service = describe_service(aws, &cfg.cluster, &cfg.collector_service).await;
        let env_problems = match &service {
            Ok(s) => task_definition_problems(deps, s.task_definition().unwrap_or_default()).await,
            Err(_) => Vec::new(),
        };
        (service, env_problems)
    };
    let ((service, env_problems), c, a, v, findings, stopped, (secret_changed, secret_problems)) = tokio::join!(
        service_and_config,
        logscan::scan(aws, &cfg.collector_log_group, start_ms, &[]),
        logscan::scan(aws, &cfg.analysis_log_group, start_ms, &[]),
        logscan::scan(aws, &cfg.vod_log_group, start_ms, &[]),
        Box::pin(freshness::run(aws, cfg, now)),
        stopped_reasons(aws, &cfg.cluster, &cfg.collector_service),
        secrets_state(deps),
    );
    let deployed_at = service.as_ref().ok().and_then(|s| {
        s.deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .or(s.deployments().first())
            .and_then(|d| d.created_at())
            .map(|t| t.secs())
    });
    Triage {
        service,
        scans: vec![c, a, v],
        findings,
        stopped,
        secret_changed,
        secret_problems,
        env_problems,
        deployed_at,
    }
}

fn triage_checks(t: &Triage, now: i64, r: &mut Report) {
    match &t.service {
        Ok(s) => {
            let deps: Vec<String> = s
                .deployments()
                .iter()
                .map(|d| {
                    format!(
                        "{} {} {} on {}",
                        d.id().unwrap_or("?"),
                        d.status().unwrap_or("?"),
                        d.rollout_state().map(|x| x.as_str()).unwrap_or("-"),
                        d.task_definition().map(short_td).unwrap_or("?")
                    )
                })
                .collect();
            let events: Vec<&str> = s
                .events()
                .iter()
                .take(3)
                .filter_map(|e| e.message())
                .collect();
            let status = if s.desired_count() > 0 && s.running_count() < 1 {
                CheckStatus::Fail
            } else {
                CheckStatus::Pass
            };
            r.checks.push(Check::new(
                "service_health",
                status,
                format!(
                    "desired {}, running {}, pending {}; deployments: {}; recent events: {}",
                    s.desired_count(),
                    s.running_count(),
                    s.pending_count(),
                    deps.join("; "),
                    if events.is_empty() {
                        "none".to_string()
                    } else {
                        events.join(" | ")
                    }
                ),
            ));
        }
        Err(e) => r.checks.push(Check::fail("service_health", e.clone())),
    }
    r.checks.push(if t.stopped.is_empty() {
        Check::pass("stopped_tasks", "no recently stopped tasks")
    } else {
        Check::fail("stopped_tasks", t.stopped.join("; "))
    });
    for g in &t.scans {
        let mut detail = g.summary();
        if !g.samples.is_empty() {
            detail.push_str(&format!("; e.g. {}", g.samples.join(" ⏎ ")));
        }
        let status = if g.error.is_some() {
            CheckStatus::Error
        } else if g.failures() > 0 {
            CheckStatus::Fail
        } else {
            CheckStatus::Pass
        };
        r.checks.push(Check::new("log_scan", status, detail));
    }
    // Data freshness and what is deployed always; any other smoke check only when it did not pass
    // (the service itself is already described above).
    let always = [
        freshness::SNAPSHOTS,
        freshness::ANALYSIS,
        freshness::TASK_DEFINITIONS,
    ];
    let covered = [freshness::SERVICE, freshness::ROLLOUT, freshness::RUNNING];
    for c in &t.findings.checks {
        if always.contains(&c.name.as_str())
            || (c.status != CheckStatus::Pass && !covered.contains(&c.name.as_str()))
        {
            r.checks.push(c.clone());
        }
    }
    r.checks
        .push(match (&t.secret_changed, t.secret_problems.is_empty()) {
            (_, false) => Check::fail("twitch_secrets", t.secret_problems.join("; ")),
            (Some((at, name)), true) => Check::pass(
                "twitch_secrets",
                format!(
                    "both present; {name} last changed {} ago",
                    age_text(now - at)
                ),
            ),
            (None, true) => Check::pass("twitch_secrets", "both present"),
        });
    r.checks.push(if t.env_problems.is_empty() {
        Check::pass(
            "task_definition_config",
            "S3_BUCKET, S3_PREFIX and both Twitch secrets are configured",
        )
    } else {
        Check::fail("task_definition_config", t.env_problems.join("; "))
    });
    let mut scope = vec!["collector"];
    if t.findings
        .check(freshness::ANALYSIS)
        .is_some_and(|c| c.status == CheckStatus::Fail)
        || t.scans.get(1).is_some_and(|g| g.failures() > 0)
    {
        scope.push("analysis");
    }
    if t.scans.get(2).is_some_and(|g| g.failures() > 0) {
        scope.push("vod");
    }
    r.checks.push(Check::pass("blast_radius", scope.join(", ")));
}

enum Plan {
    Redeploy { why: String },
    Rollback { why: String },
    Escalate { why: String, steps: Vec<String> },
}

fn decide(
    kind: AlarmKind,
    t: &Triage,
    token: Option<&TokenCheck>,
    alarm_at: i64,
    cfg: &crate::config::Config,
) -> (Playbook, Plan) {
    let oauth = &cfg.oauth_secret_id;
    let token_rejected = t.count(Signature::AuthFailed) + t.count(Signature::TokenRejected);
    let client_rejected = t.count(Signature::ClientRejected);
    let discovery = t.count(Signature::ChannelDiscovery);
    let s3_denied = t.count(Signature::S3AccessDenied) + t.count(Signature::UploadFailed);
    let playbook = if discovery > 0 || token_rejected > 0 || kind == AlarmKind::ErrorSpike {
        Playbook::ChannelDiscovery
    } else {
        Playbook::NoNewSnapshots
    };
    // Tasks started by a deployment older than the newest secret change still hold the old value.
    let predates_secret = match (t.deployed_at, &t.secret_changed) {
        (Some(dep), Some((changed, _))) => dep < *changed,
        _ => false,
    };
    let running = t.service.as_ref().map(|s| s.running_count()).unwrap_or(0);

    // The collector's log is the evidence for every decision below; without it, do not guess.
    if let Some(err) = t.collector().and_then(|g| g.error.clone()) {
        return (
            playbook,
            Plan::Escalate {
                why: format!(
                    "the collector's log could not be read ({err}), so the cause cannot be judged"
                ),
                steps: vec![format!(
                    "Read {} by hand (RUNBOOK §2.3)",
                    cfg.collector_log_group
                )],
            },
        );
    }
    if !t.secret_problems.is_empty() || !t.env_problems.is_empty() {
        let mut p = t.secret_problems.clone();
        p.extend(t.env_problems.clone());
        return (playbook, Plan::Escalate {
            why: format!("configuration problem: {}", p.join("; ")),
            steps: vec!["Restore the missing secret or setting (RUNBOOK §6 A/B), then force a new deployment".into()],
        });
    }
    if let Some(dep) = t.deployed_at {
        if alarm_at - dep <= DEPLOY_RELATED_SECS
            && alarm_at >= dep
            && token_rejected == 0
            && !predates_secret
        {
            return (Playbook::Rollback, Plan::Rollback { why: format!("deploy-related: the collector's current deployment started {} before the alarm", age_text(alarm_at - dep)) });
        }
    }
    let rotate_steps = || {
        vec![
            format!("rotate {oauth}: aws secretsmanager update-secret --secret-id {oauth} --secret-string '<new token>' (bare token, no 'oauth:' prefix)"),
            "Autoheal redeploys the collector when it sees the change (RUNBOOK §5)".into(),
        ]
    };
    // Twitch's own answer outranks log evidence: a rejected token is never "fixed" by a restart.
    if let Some(TokenCheck::Rejected { status }) = token {
        return (Playbook::ChannelDiscovery, Plan::Escalate {
            why: format!("Twitch rejects the OAuth token in {oauth} (validate answered HTTP {status}); redeploying would start tasks with the same token"),
            steps: rotate_steps(),
        });
    }
    if token_rejected > 0 || t.count(Signature::VodAuth) > 0 {
        if predates_secret {
            return (playbook, Plan::Redeploy {
                why: format!("Twitch rejects the token the running tasks hold ({token_rejected} auth failures), and {} changed after they started: a new deployment picks up the new value", oauth),
            });
        }
        if matches!(token, Some(TokenCheck::Valid { .. })) {
            return (playbook, Plan::Escalate {
                why: format!("the logs show {token_rejected} auth failures, yet Twitch accepts the stored token now and the tasks started after its last change: check the client id and the token's scopes"),
                steps: vec![format!("Compare {} with the token's client id (RUNBOOK §6 B)", cfg.client_id_secret_id)],
            });
        }
        return (playbook, Plan::Escalate {
            why: format!("Twitch rejects the OAuth token ({token_rejected} auth failures in the logs); redeploying would start tasks with the same token"),
            steps: rotate_steps(),
        });
    }
    if client_rejected > 0 {
        return (playbook, Plan::Escalate {
            why: format!("Twitch rejects the request with HTTP 400/403 ({client_rejected} times): client id and token do not match"),
            steps: vec![format!("Check {} and {oauth} belong to the same Twitch application (RUNBOOK §6 B)", cfg.client_id_secret_id)],
        });
    }
    if s3_denied > 0 {
        return (playbook, Plan::Escalate {
            why: format!("the collector cannot write to S3 ({s3_denied} access-denied or upload failures); a redeploy does not change IAM"),
            steps: vec!["Check the collector task role's S3 policy: HeadBucket needs s3:ListBucket without a prefix condition (VIEWERATLAS.md §8, defect 1)".into()],
        });
    }
    if discovery > 0 {
        return (playbook, Plan::Escalate {
            why: format!("channel discovery keeps failing ({discovery} ChannelDiscoveryError) without an auth error: likely the outbound network path or Twitch itself"),
            steps: vec!["Verify the outbound network path from the ECS tasks (subnet route, NAT or public IP) (RUNBOOK §6 B)".into()],
        });
    }
    if predates_secret {
        return (
            playbook,
            Plan::Redeploy {
                why: "the running tasks started before the latest Twitch secret change".into(),
            },
        );
    }
    if kind == AlarmKind::SnapshotStalled && running > 0 {
        let quiet = t
            .collector()
            .is_some_and(|g| g.count(Signature::Saved) == 0 && g.failures() == 0);
        if quiet {
            let last = t
                .collector()
                .and_then(|g| g.last_line.as_ref())
                .map(|(_, l)| l.clone())
                .unwrap_or_else(|| "no log lines at all".into());
            return (playbook, Plan::Redeploy {
                why: format!("the collector runs but has stalled: no 'Saved:' and no errors in the window (last line: {last}); a restart clears a hung cycle (VIEWERATLAS.md §8, defect 2)"),
            });
        }
    }
    let detail = if kind == AlarmKind::Unavailable && !t.stopped.is_empty() {
        format!(
            "the collector is not running; stopped tasks say: {}",
            t.stopped.join("; ")
        )
    } else {
        "triage found no cause a redeploy would fix".to_string()
    };
    (
        playbook,
        Plan::Escalate {
            why: detail,
            steps: vec![format!(
                "Follow {} with the evidence above",
                playbook.runbook_section()
            )],
        },
    )
}

pub async fn handle(
    deps: &Deps,
    alarm: &AlarmSignal,
    trigger: TriggerRef,
    dry_run: bool,
) -> Report {
    let cfg = &deps.config;
    let now = crate::clock::now_epoch();
    let kind = alarm_kind(&alarm.name);
    let mut r = Report::new(
        trigger.clone(),
        match kind {
            AlarmKind::ErrorSpike => Playbook::ChannelDiscovery,
            AlarmKind::Other => Playbook::None,
            AlarmKind::Unavailable | AlarmKind::SnapshotStalled => Playbook::NoNewSnapshots,
        },
    );
    if kind == AlarmKind::Other {
        r.outcome = Outcome::Ignored;
        r.playbook = Playbook::None;
        r.reason = format!(
            "alarm {} is not one of the ViewerAtlas collector alarms",
            alarm.name
        );
        return r;
    }
    // Never act on a stale or resolved signal: the event may be old or redelivered. The live state
    // and the triage are independent reads, so they are asked together (the alarm's answer arrives
    // with the evidence, not one round trip before it); for a resolved alarm the evidence goes
    // unused.
    let (live, t) = tokio::join!(
        crate::remedy::alarm_live_state(&deps.aws, &alarm.name),
        triage(deps, now)
    );
    match live {
        Ok(()) => {}
        Err(crate::remedy::AlarmLive::NotFiring(resolved)) => {
            r.outcome = Outcome::Ignored;
            r.reason = format!("{} was delivered as ALARM, but {resolved}", alarm.name);
            r.checks.push(Check::pass("alarm_live_state", resolved));
            return r;
        }
        Err(crate::remedy::AlarmLive::Unknown(why)) => {
            // Unverifiable is not firing: no action, and a human hears that the check broke.
            r.outcome = Outcome::Failed;
            r.reason = format!(
                "{} is in ALARM per the event, but its live state could not be read: {why}",
                alarm.name
            );
            r.checks.push(Check::error("alarm_live_state", why));
            r.next_steps.push(format!(
                "Check {} in CloudWatch and follow RUNBOOK §2 by hand",
                alarm.name
            ));
            return r;
        }
    }
    triage_checks(&t, now, &mut r);
    let alarm_at = alarm.changed_at.unwrap_or(now);
    let token = crate::twitch::check_configured(deps).await;
    r.checks.push(match &token {
        None => Check::skipped(
            "twitch_token",
            "token check off (AUTOHEAL_TWITCH_VALIDATE_URL is empty); judged from the logs",
        ),
        Some(c @ TokenCheck::Valid { .. }) => Check::pass("twitch_token", c.summary()),
        Some(c @ TokenCheck::Rejected { .. }) => Check::fail("twitch_token", c.summary()),
        Some(c @ TokenCheck::Unknown(_)) => Check::error("twitch_token", c.summary()),
    });
    let (playbook, plan) = decide(kind, &t, token.as_ref(), alarm_at, cfg);
    r.playbook = playbook;
    // The cause leads (it is what the subject line shows on a phone); the alarm follows.
    let tag = format!("({} in ALARM)", alarm.name);
    match plan {
        Plan::Escalate { why, steps } => {
            r.outcome = Outcome::Escalated;
            r.reason = format!("{why} {tag}");
            r.next_steps = steps;
        }
        Plan::Rollback { why } => {
            let req = crate::rollback::Request {
                service: cfg.collector_service.clone(),
                to: None,
                change_id: format!("alarm:{}", trigger.id),
                why: format!("{why} {tag}"),
                from_alarm: true,
            };
            return Box::pin(crate::rollback::roll_back(deps, req, r, dry_run)).await;
        }
        Plan::Redeploy { why } => {
            let guard = Guard::new(cfg, deps.aws.s3().clone(), trigger.clone(), dry_run, now);
            let intent = Intent {
                playbook,
                change_id: trigger.id.clone(),
                detail: format!("force a new deployment of {}", cfg.collector_service),
                evidence: r
                    .checks
                    .iter()
                    .filter(|c| c.status != CheckStatus::Pass)
                    .map(|c| format!("{}: {}", c.name, c.detail))
                    .collect(),
                alarm_response: true,
            };
            let m = ForceDeployment {
                aws: &deps.aws,
                cluster: cfg.cluster.clone(),
                service: cfg.collector_service.clone(),
                alarm: Some(alarm.name.clone()),
            };
            let out = guard.act(&intent, &m).await;
            settle(&mut r, vec![out], &format!("{why} {tag}"), cfg);
            if r.outcome == Outcome::Remediated {
                r.next_steps.push("Verification is the next scheduled freshness check: it must see new snapshots within the freshness window".into());
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarm_kinds_follow_the_viewer_atlas_names() {
        assert_eq!(
            alarm_kind("ViewerAtlas-ECSCollector-Unavailable"),
            AlarmKind::Unavailable
        );
        assert_eq!(
            alarm_kind("ViewerAtlas-Collector-Snapshot-Stalled"),
            AlarmKind::SnapshotStalled
        );
        assert_eq!(
            alarm_kind("ViewerAtlas-Collector-Error-Spike"),
            AlarmKind::ErrorSpike
        );
        assert_eq!(alarm_kind("Billing"), AlarmKind::Other);
    }
}
