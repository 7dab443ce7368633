//! RUNBOOK §2 triage for a collector alarm: service health, stopped tasks, the three log groups,
//! data freshness, the Twitch secrets and the task definition's settings, all read at once; and
//! the checks that show them in the report.

use aws_sdk_ecs::types::Service;

use crate::aws::{describe_error, Aws};
use crate::deps::Deps;
use crate::probes::freshness::{self, age_text};
use crate::probes::logscan::{self, GroupScan, Signature};
use crate::probes::secrets::{secret_name_matches, secrets_state, Redactor};
use crate::probes::service::{describe_service, short_td};
use crate::report::{Check, CheckStatus, Report};
use crate::safety::history::TargetHistory;

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
    /// The current deployment is one Autoheal made (a forced redeploy), not a release.
    pub own_deployment: bool,
    /// Why the secret values could not be read to redact the log lines (then none are shown).
    pub unredactable: Vec<String>,
}

impl Triage {
    pub fn count(&self, s: Signature) -> usize {
        self.scans.first().map(|g| g.count(s)).unwrap_or(0)
    }
    pub fn collector(&self) -> Option<&GroupScan> {
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
        let ok = c
            .secrets()
            .iter()
            .any(|s| s.name() == var && secret_name_matches(s.value_from(), secret));
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
    // The running revision's settings are read as soon as the service answers, alongside the rest.
    let service_and_settings = async {
        let service = describe_service(aws, &cfg.cluster, &cfg.collector_service).await;
        let problems = match &service {
            Ok(s) => task_definition_problems(deps, s.task_definition().unwrap_or_default()).await,
            Err(_) => Vec::new(),
        };
        (service, problems)
    };
    let (
        (service, env_problems),
        c,
        a,
        v,
        findings,
        stopped,
        (secret_changed, secret_problems),
        (redactor, unreadable),
        own,
    ) = tokio::join!(
        service_and_settings,
        logscan::scan(aws, &cfg.collector_log_group, start_ms),
        logscan::scan(aws, &cfg.analysis_log_group, start_ms),
        logscan::scan(aws, &cfg.vod_log_group, start_ms),
        Box::pin(freshness::run(aws, cfg, now)),
        stopped_reasons(aws, &cfg.cluster, &cfg.collector_service),
        secrets_state(deps),
        Redactor::read(deps),
        own_results(deps),
    );
    let primary = service.as_ref().ok().and_then(|s| {
        s.deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .or(s.deployments().first())
            .cloned()
    });
    let scans = [c, a, v]
        .into_iter()
        .map(|g| shown(g, &redactor, &unreadable))
        .collect();
    let unredactable = unreadable;
    Triage {
        service,
        scans,
        findings,
        stopped,
        secret_changed,
        secret_problems,
        env_problems,
        deployed_at: primary
            .as_ref()
            .and_then(|d| d.created_at())
            .map(|t| t.secs()),
        own_deployment: primary
            .as_ref()
            .and_then(|d| d.id())
            .is_some_and(|id| own.iter().any(|r| r.contains(id))),
        unredactable,
    }
}

/// A scan as the report may show it: lines with the secret values blanked out, or no lines at all
/// when those values could not be read (a line could then hold one unseen).
fn shown(g: GroupScan, redactor: &Redactor, unreadable: &[String]) -> GroupScan {
    let mut g = g.redacted(redactor);
    if !unreadable.is_empty() {
        g.samples.clear();
        g.last_line = g.last_line.map(|(t, _)| {
            (
                t,
                "(line withheld: the secret values to redact it could not be read)".into(),
            )
        });
    }
    g
}

/// The results of Autoheal's own actions on the collector: its forced deployments are not releases.
async fn own_results(deps: &Deps) -> Vec<String> {
    let cfg = &deps.config;
    let ledger = deps.ledger();
    let target = format!("service/{}/{}", cfg.cluster, cfg.collector_service);
    match ledger
        .get::<TargetHistory>(&ledger.key("targets", &target))
        .await
    {
        Ok(Some(h)) => h
            .value
            .actions
            .into_iter()
            .filter_map(|a| a.result)
            .collect(),
        _ => Vec::new(),
    }
}

/// The triage as report checks, in the order an engineer reads them.
pub fn triage_checks(t: &Triage, now: i64, r: &mut Report) {
    r.checks.push(service_health(&t.service));
    r.checks.push(if t.stopped.is_empty() {
        Check::pass("stopped_tasks", "no recently stopped tasks")
    } else {
        Check::fail("stopped_tasks", t.stopped.join("; "))
    });
    r.checks.extend(t.scans.iter().map(scan_check));
    if !t.unredactable.is_empty() {
        r.checks.push(Check::error(
            "log_lines_withheld",
            format!(
                "the secret values to redact log lines could not be read ({}); counts are shown, lines are not",
                t.unredactable.join("; ")
            ),
        ));
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
    r.checks.push(secrets_check(t, now));
    r.checks.push(if t.env_problems.is_empty() {
        Check::pass(
            "task_definition_config",
            "S3_BUCKET, S3_PREFIX and both Twitch secrets are configured",
        )
    } else {
        Check::fail("task_definition_config", t.env_problems.join("; "))
    });
    r.checks.push(blast_radius(t));
}

fn service_health(service: &Result<Service, String>) -> Check {
    let s = match service {
        Ok(s) => s,
        Err(e) => return Check::fail("service_health", e.clone()),
    };
    let deployments: Vec<String> = s
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
    Check::new(
        "service_health",
        status,
        format!(
            "desired {}, running {}, pending {}; deployments: {}; recent events: {}",
            s.desired_count(),
            s.running_count(),
            s.pending_count(),
            deployments.join("; "),
            if events.is_empty() {
                "none".to_string()
            } else {
                events.join(" | ")
            }
        ),
    )
}

fn scan_check(g: &GroupScan) -> Check {
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
    Check::new("log_scan", status, detail)
}

fn secrets_check(t: &Triage, now: i64) -> Check {
    match (&t.secret_changed, t.secret_problems.is_empty()) {
        (_, false) => Check::fail("twitch_secrets", t.secret_problems.join("; ")),
        (Some((at, name)), true) => Check::pass(
            "twitch_secrets",
            format!(
                "both present; {name} last changed {} ago",
                age_text(now - at)
            ),
        ),
        (None, true) => Check::pass("twitch_secrets", "both present"),
    }
}

/// RUNBOOK §2.1: which parts of the pipeline the evidence touches.
fn blast_radius(t: &Triage) -> Check {
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
    Check::pass("blast_radius", scope.join(", "))
}
