//! The runbook's smoke test (VIEWERATLAS.md §5), unattended and cheaper: independent checks run
//! concurrently, a rollout in progress is reported instead of waited for, and the S3 check reads only
//! the date partitions the freshness window can touch.

use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_ecs::types::{DeploymentRolloutState, Service};

use crate::aws::{describe_error, Aws, AwsError, ErrorKind};
use crate::clock::{civil_date, rfc3339};
use crate::config::Config;
use crate::probes::service::short_td;
use crate::report::{Check, CheckStatus, Playbook};

pub const CLUSTER: &str = "ecs_cluster_active";
pub const TASK_DEFINITIONS: &str = "task_definitions_resolve";
pub const SERVICE: &str = "collector_service_active";
pub const ROLLOUT: &str = "collector_rollout";
pub const RUNNING: &str = "collector_running";
pub const LOGS: &str = "collector_recent_logs";
pub const SNAPSHOTS: &str = "s3_snapshot_freshness";
pub const ANALYSIS: &str = "analysis_output_freshness";
pub const SCHEDULES: &str = "schedule_targets_current";

/// Order in which failures lead a report: what stops data first.
pub const PRIORITY: [&str; 9] = [
    RUNNING,
    SNAPSHOTS,
    SERVICE,
    CLUSTER,
    TASK_DEFINITIONS,
    ROLLOUT,
    LOGS,
    ANALYSIS,
    SCHEDULES,
];

/// How far back, in partitions, the S3 check looks for the newest snapshot once the window itself
/// is empty. It only sharpens the evidence ("newest is 2 d old"); the verdict is already known.
const EVIDENCE_PARTITIONS: i64 = 7;

/// The newest ACTIVE revision of each family, as the check found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revisions {
    pub entries: Vec<(String, Option<String>)>,
}

impl Revisions {
    pub fn arn_of(&self, family: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(f, _)| f == family)
            .and_then(|(_, a)| a.as_deref())
    }
}

#[derive(Debug, Clone)]
pub struct Findings {
    pub checks: Vec<Check>,
    /// S3 requests the snapshot check made (the figure the README compares with smoke-test.sh).
    pub s3_requests: u32,
    pub revisions: Revisions,
    /// The collector's deployment, when the service could be described.
    pub collector: Option<DeploymentFacts>,
    /// When the newest snapshot the check saw was written.
    pub newest_snapshot_at: Option<i64>,
}

/// What a known-good record needs to know about the collector's deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFacts {
    /// The revision the service runs (during a rollout: the one it is moving to).
    pub task_definition: String,
    /// The primary deployment: its id, revision, rollout state and when it last changed.
    pub primary_id: String,
    pub primary_task_definition: String,
    pub completed: bool,
    pub changed_at: Option<i64>,
    /// How many deployments the service has (more than one: a rollout or rollback is under way).
    pub deployments: usize,
}

impl DeploymentFacts {
    fn of(svc: &Service) -> Self {
        let all = svc.deployments();
        let primary = all
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .or(all.first());
        Self {
            task_definition: svc.task_definition().unwrap_or_default().to_string(),
            primary_id: primary.and_then(|d| d.id()).unwrap_or_default().to_string(),
            primary_task_definition: primary
                .and_then(|d| d.task_definition())
                .unwrap_or_default()
                .to_string(),
            completed: primary.and_then(|d| d.rollout_state())
                == Some(&DeploymentRolloutState::Completed),
            changed_at: primary
                .and_then(|d| d.updated_at().or(d.created_at()))
                .map(|t| t.secs()),
            deployments: all.len(),
        }
    }
}

impl Findings {
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    pub fn failing_checks_names(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| matches!(c.status, CheckStatus::Fail | CheckStatus::Error))
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Which runbook playbooks the failures point to, most specific first.
    pub fn applicable_playbooks(&self) -> Vec<Playbook> {
        // Only real failures point to a playbook; a check that could not run proves nothing.
        let bad = |n: &str| self.check(n).is_some_and(|c| c.status == CheckStatus::Fail);
        let mut out = Vec::new();
        if bad(RUNNING) || bad(SNAPSHOTS) || bad(LOGS) || bad(SERVICE) {
            out.push(Playbook::NoNewSnapshots);
        }
        if bad(ANALYSIS) {
            out.push(Playbook::AnalysisFailure);
        }
        if bad(SCHEDULES) {
            out.push(Playbook::Schedules);
        }
        if bad(CLUSTER) || bad(TASK_DEFINITIONS) || bad(ROLLOUT) {
            out.push(Playbook::Rollback);
        }
        out
    }
}

/// Minutes as "42 min" or "3 h 05 min" or "2 d 4 h".
pub fn age_text(secs: i64) -> String {
    let m = secs.max(0) / 60;
    if m < 60 {
        format!("{m} min")
    } else if m < 48 * 60 {
        format!("{} h {:02} min", m / 60, m % 60)
    } else {
        format!("{} d {} h", m / 1440, (m % 1440) / 60)
    }
}

pub async fn run(aws: &Aws, cfg: &Config, now: i64) -> Findings {
    let s3_requests = AtomicU32::new(0);
    let (cluster, (tds, revisions), service, logs, snapshots, analysis, targets) = tokio::join!(
        check_cluster(aws, cfg),
        check_task_definitions(aws, cfg),
        describe_collector(aws, cfg),
        check_logs(aws, cfg, now),
        check_snapshots(aws, cfg, now, &s3_requests),
        check_analysis(aws, cfg, now),
        read_rule_targets(aws, cfg),
    );
    let collector = service
        .as_ref()
        .ok()
        .and_then(|s| s.as_ref())
        .map(DeploymentFacts::of);
    let (snapshots, newest_snapshot_at) = snapshots;
    let (svc_check, rollout, running) = judge_service(service, cfg, now);
    let schedules = judge_schedules(targets, &revisions);
    Findings {
        checks: vec![
            cluster, tds, svc_check, rollout, running, logs, snapshots, analysis, schedules,
        ],
        s3_requests: s3_requests.into_inner(),
        revisions,
        collector,
        newest_snapshot_at,
    }
}

async fn check_cluster(aws: &Aws, cfg: &Config) -> Check {
    match aws
        .ecs()
        .describe_clusters()
        .clusters(&cfg.cluster)
        .send()
        .await
    {
        Err(e) => Check::error(
            CLUSTER,
            format!("DescribeClusters {}: {}", cfg.cluster, describe_error(&e)),
        ),
        Ok(out) => match out.clusters().first() {
            None => Check::fail(CLUSTER, format!("cluster {} not found", cfg.cluster)),
            Some(c) if c.status() == Some("ACTIVE") => Check::pass(
                CLUSTER,
                format!(
                    "{} ACTIVE, {} running tasks",
                    cfg.cluster,
                    c.running_tasks_count()
                ),
            ),
            Some(c) => Check::fail(
                CLUSTER,
                format!(
                    "cluster {} is {}",
                    cfg.cluster,
                    c.status().unwrap_or("in an unknown state")
                ),
            ),
        },
    }
}

/// Image tag of the first container, for "what is deployed" evidence.
fn image_tag(image: &str) -> &str {
    image
        .rsplit_once(':')
        .map(|(_, t)| t)
        .filter(|t| !t.contains('/'))
        .unwrap_or("latest")
}

async fn check_task_definitions(aws: &Aws, cfg: &Config) -> (Check, Revisions) {
    let families = cfg.families();
    let lookups = families.map(|fam| async move {
        let res = aws
            .ecs()
            .describe_task_definition()
            .task_definition(fam)
            .send()
            .await;
        (fam, res)
    });
    let [a, b, c] = lookups;
    let (a, b, c) = tokio::join!(a, b, c);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let mut errors = Vec::new();
    let mut revisions = Revisions::default();
    for (fam, res) in [a, b, c] {
        match res {
            Ok(out) => match out.task_definition() {
                Some(td) => {
                    let tag = td
                        .container_definitions()
                        .first()
                        .and_then(|c| c.image())
                        .map(image_tag)
                        .unwrap_or("?");
                    found.push(format!("{fam}:{} (image {tag})", td.revision()));
                    revisions.entries.push((
                        fam.to_string(),
                        td.task_definition_arn().map(str::to_string),
                    ));
                }
                None => {
                    missing.push(fam.to_string());
                    revisions.entries.push((fam.to_string(), None));
                }
            },
            Err(e) => {
                let e = AwsError::from_sdk(fam, &e);
                if e.is(ErrorKind::NotFound) {
                    missing.push(fam.to_string());
                } else {
                    errors.push(e.to_string());
                }
                revisions.entries.push((fam.to_string(), None));
            }
        }
    }
    let check = if !missing.is_empty() {
        Check::fail(
            TASK_DEFINITIONS,
            format!(
                "not found: {}; found: {}",
                missing.join(", "),
                found.join(", ")
            ),
        )
    } else if !errors.is_empty() {
        Check::error(
            TASK_DEFINITIONS,
            format!("could not describe {}", errors.join("; ")),
        )
    } else {
        Check::pass(TASK_DEFINITIONS, found.join(", "))
    };
    (check, revisions)
}

async fn describe_collector(aws: &Aws, cfg: &Config) -> Result<Option<Service>, String> {
    let out = aws
        .ecs()
        .describe_services()
        .cluster(&cfg.cluster)
        .services(&cfg.collector_service)
        .send()
        .await
        .map_err(|e| {
            format!(
                "DescribeServices {}: {}",
                cfg.collector_service,
                describe_error(&e)
            )
        })?;
    Ok(out.services().first().cloned())
}

/// Service status, rollout and running count all come from one DescribeServices answer.
fn judge_service(
    svc: Result<Option<Service>, String>,
    cfg: &Config,
    now: i64,
) -> (Check, Check, Check) {
    let name = &cfg.collector_service;
    let svc = match svc {
        Err(e) => {
            return (
                Check::error(SERVICE, e.clone()),
                Check::skipped(ROLLOUT, "service could not be described"),
                Check::skipped(RUNNING, "service could not be described"),
            )
        }
        Ok(None) => {
            return (
                Check::fail(
                    SERVICE,
                    format!("service {name} not found in {}", cfg.cluster),
                ),
                Check::skipped(ROLLOUT, "no service"),
                Check::skipped(RUNNING, "no service"),
            )
        }
        Ok(Some(s)) => s,
    };
    let status = svc.status().unwrap_or("UNKNOWN");
    let svc_check = if status == "ACTIVE" {
        Check::pass(
            SERVICE,
            format!(
                "{name} ACTIVE on {}",
                svc.task_definition().map(short_td).unwrap_or("?")
            ),
        )
    } else {
        Check::fail(SERVICE, format!("{name} is {status}"))
    };

    let deployments = svc.deployments();
    let primary = deployments
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .or(deployments.first());
    let rollout = match primary {
        None => Check::skipped(ROLLOUT, "service reports no deployments"),
        Some(d) => {
            let id = d.id().unwrap_or("?");
            let age = d
                .created_at()
                .map(|t| age_text(now - t.secs()))
                .unwrap_or_else(|| "?".into());
            match d.rollout_state() {
                Some(DeploymentRolloutState::Failed) => Check::fail(
                    ROLLOUT,
                    format!("deployment {id} FAILED: {}", d.rollout_state_reason().unwrap_or("no reason given")),
                ),
                Some(DeploymentRolloutState::InProgress) => Check::skipped(
                    ROLLOUT,
                    format!(
                        "deployment {id} of {} IN_PROGRESS for {age} ({} deployments active); stability not judged, the next run will",
                        d.task_definition().map(short_td).unwrap_or("?"),
                        deployments.len()
                    ),
                ),
                _ if deployments.len() > 1 => Check::skipped(
                    ROLLOUT,
                    format!("{} deployments active (primary {id}); a rollout is under way", deployments.len()),
                ),
                _ => Check::pass(ROLLOUT, format!("deployment {id} COMPLETED, stable for {age}")),
            }
        }
    };

    let (desired, running, pending) = (
        svc.desired_count(),
        svc.running_count(),
        svc.pending_count(),
    );
    let running_check = if desired > 0 && running < 1 {
        let hint = svc
            .events()
            .first()
            .and_then(|e| e.message())
            .map(|m| format!("; latest service event: {m}"))
            .unwrap_or_default();
        Check::fail(
            RUNNING,
            format!("desired {desired}, running {running}, pending {pending}{hint}"),
        )
    } else {
        Check::pass(
            RUNNING,
            format!("desired {desired}, running {running}, pending {pending}"),
        )
    };
    (svc_check, rollout, running_check)
}

async fn check_logs(aws: &Aws, cfg: &Config, now: i64) -> Check {
    let group = &cfg.collector_log_group;
    let window = cfg.log_lookback_minutes;
    // The same reader as triage: lines are matched in code, not with filter patterns, whose syntax
    // differs between CloudWatch and emulators.
    let scan = crate::probes::logscan::scan(aws, group, (now - window as i64 * 60) * 1000).await;
    if let Some(e) = &scan.error {
        return if e.is(ErrorKind::NotFound) {
            Check::fail(LOGS, format!("log group {group} does not exist"))
        } else {
            Check::error(LOGS, format!("FilterLogEvents {group}: {}", e.detail))
        };
    }
    match &scan.last_line {
        None => Check::fail(
            LOGS,
            format!("no log events in {group} in the last {window} min"),
        ),
        Some((newest_ms, _)) => Check::pass(
            LOGS,
            format!(
                "{}{} events in the last {window} min, {} 'Saved:' lines, newest {} ago",
                scan.events,
                if scan.truncated { "+" } else { "" },
                scan.count(crate::probes::logscan::Signature::Saved),
                age_text(now - newest_ms / 1000)
            ),
        ),
    }
}

/// The date partitions the window [now - max_age, now] touches, newest first.
pub fn window_partitions(cfg: &Config, now: i64, max_age_secs: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut day = now.div_euclid(86_400);
    let first = (now - max_age_secs).div_euclid(86_400);
    while day >= first {
        out.push(cfg.partition_layout.render(civil_date(day * 86_400)));
        day -= 1;
    }
    out
}

/// Newest object under `prefix`, stopping at the first one younger than `fresh_after`.
async fn newest_under(
    aws: &Aws,
    bucket: &str,
    prefix: &str,
    fresh_after: i64,
    requests: &AtomicU32,
) -> Result<Option<(i64, String)>, String> {
    let mut token: Option<String> = None;
    let mut newest: Option<(i64, String)> = None;
    loop {
        requests.fetch_add(1, Ordering::Relaxed);
        let out = aws
            .s3()
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "ListObjectsV2 s3://{bucket}/{prefix}: {}",
                    describe_error(&e)
                )
            })?;
        for o in out.contents() {
            let t = o.last_modified().map(|t| t.secs()).unwrap_or(0);
            if newest.as_ref().is_none_or(|(n, _)| t > *n) {
                newest = Some((t, o.key().unwrap_or_default().to_string()));
            }
        }
        if newest.as_ref().is_some_and(|(t, _)| *t >= fresh_after) {
            return Ok(newest);
        }
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
            _ => return Ok(newest),
        }
    }
}

/// Only the snapshot freshness check (for callers that need no other evidence, and no other IAM).
pub async fn snapshot_check(aws: &Aws, cfg: &Config, now: i64) -> Check {
    check_snapshots(aws, cfg, now, &AtomicU32::new(0)).await.0
}

/// The snapshot check, and when the newest snapshot it saw was written.
async fn check_snapshots(
    aws: &Aws,
    cfg: &Config,
    now: i64,
    requests: &AtomicU32,
) -> (Check, Option<i64>) {
    let max_age = cfg.freshness_max_age_minutes as i64 * 60;
    let fresh_after = now - max_age;
    let base = &cfg.snapshot_prefix;
    let limit = cfg.freshness_max_age_minutes;
    let verdict = |newest: Option<(i64, String)>, scope: &str, requests: &AtomicU32| {
        let at = newest.as_ref().map(|(t, _)| *t);
        let check = match newest {
            Some((t, key)) if t >= fresh_after => Check::pass(
                SNAPSHOTS,
                format!(
                    "newest snapshot {} old (limit {limit} min): {key}; {} S3 requests",
                    age_text(now - t),
                    requests.load(Ordering::Relaxed)
                ),
            ),
            Some((t, key)) => Check::fail(
                SNAPSHOTS,
                format!(
                    "newest snapshot is {} old, limit {limit} min (last written {}): {key}",
                    age_text(now - t),
                    rfc3339(t)
                ),
            ),
            None => Check::fail(
                SNAPSHOTS,
                format!("no snapshots under s3://{}/{base}{scope}", cfg.bucket),
            ),
        };
        (check, at)
    };

    if !cfg.partition_layout.is_partitioned() {
        return match newest_under(aws, &cfg.bucket, base, fresh_after, requests).await {
            Ok(n) => verdict(n, "", requests),
            Err(e) => (Check::error(SNAPSHOTS, e), None),
        };
    }
    let mut best: Option<(i64, String)> = None;
    for part in window_partitions(cfg, now, max_age) {
        match newest_under(
            aws,
            &cfg.bucket,
            &format!("{base}{part}"),
            fresh_after,
            requests,
        )
        .await
        {
            Err(e) => return (Check::error(SNAPSHOTS, e), None),
            Ok(Some(n)) if n.0 >= fresh_after => return verdict(Some(n), "", requests),
            Ok(n) => best = best.max(n),
        }
    }
    if best.is_none() {
        // Evidence only: how long has it been? Walk back day by day until something turns up.
        let first_day = (now - max_age).div_euclid(86_400);
        for back in 1..=EVIDENCE_PARTITIONS {
            let part = cfg
                .partition_layout
                .render(civil_date((first_day - back) * 86_400));
            match newest_under(
                aws,
                &cfg.bucket,
                &format!("{base}{part}"),
                i64::MAX,
                requests,
            )
            .await
            {
                Err(e) => return (Check::error(SNAPSHOTS, e), None),
                Ok(Some(n)) => {
                    best = Some(n);
                    break;
                }
                Ok(None) => {}
            }
        }
        if best.is_none() {
            return (
                Check::fail(
                    SNAPSHOTS,
                    format!(
                        "no snapshots under s3://{}/{base} in the last {} daily partitions",
                        cfg.bucket,
                        EVIDENCE_PARTITIONS + 1
                    ),
                ),
                None,
            );
        }
    }
    verdict(best, "", requests)
}

async fn check_analysis(aws: &Aws, cfg: &Config, now: i64) -> Check {
    let key = cfg.analysis_results_key();
    let limit_h = cfg.analysis_max_age_hours;
    match aws.s3().head_object().bucket(&cfg.bucket).key(&key).send().await {
        Ok(o) => match o.last_modified() {
            Some(t) if now - t.secs() <= limit_h as i64 * 3600 => {
                Check::pass(ANALYSIS, format!("{key} written {} ago (limit {limit_h} h)", age_text(now - t.secs())))
            }
            Some(t) => Check::fail(
                ANALYSIS,
                format!("{key} is {} old, limit {limit_h} h: the daily analysis has not produced output", age_text(now - t.secs())),
            ),
            None => Check::error(ANALYSIS, format!("{key} has no LastModified")),
        },
        Err(e) => {
            let e = AwsError::from_sdk(format!("HeadObject {key}"), &e);
            if e.is(ErrorKind::NotFound) {
                Check::fail(ANALYSIS, format!("s3://{}/{key} does not exist", cfg.bucket))
            } else {
                Check::error(ANALYSIS, e.to_string())
            }
        }
    }
}

/// What one schedule rule runs, as EventBridge stores it.
#[derive(Debug, Clone)]
pub struct RuleTargets {
    pub rule: String,
    pub family: String,
    pub state: Option<String>,
    pub task_definitions: Vec<String>,
}

async fn read_rule(aws: &Aws, rule: &str, family: &str) -> Result<RuleTargets, AwsError> {
    let (desc, targets) = tokio::join!(
        aws.events().describe_rule().name(rule).send(),
        aws.events().list_targets_by_rule().rule(rule).send()
    );
    let desc = desc.map_err(|e| AwsError::from_sdk(format!("DescribeRule {rule}"), &e))?;
    let targets =
        targets.map_err(|e| AwsError::from_sdk(format!("ListTargetsByRule {rule}"), &e))?;
    Ok(RuleTargets {
        rule: rule.to_string(),
        family: family.to_string(),
        state: desc.state().map(|s| s.as_str().to_string()),
        task_definitions: targets
            .targets()
            .iter()
            .filter_map(|t| {
                t.ecs_parameters()
                    .map(|p| p.task_definition_arn().to_string())
            })
            .collect(),
    })
}

async fn read_rule_targets(aws: &Aws, cfg: &Config) -> Vec<Result<RuleTargets, AwsError>> {
    let (a, v) = tokio::join!(
        read_rule(aws, &cfg.analysis_rule, &cfg.analysis_family),
        read_rule(aws, &cfg.vod_rule, &cfg.vod_family)
    );
    vec![a, v]
}

/// Rules are pinned to the revision current when create-schedules.sh ran (VIEWERATLAS.md §1);
/// a later deploy leaves them behind. Report that drift.
fn judge_schedules(rules: Vec<Result<RuleTargets, AwsError>>, revisions: &Revisions) -> Check {
    let mut notes = Vec::new();
    let mut drift = Vec::new();
    let mut errors = Vec::new();
    for r in rules {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                if e.is(ErrorKind::NotFound) {
                    drift.push(e.to_string());
                } else {
                    errors.push(e.to_string());
                }
                continue;
            }
        };
        let newest = revisions.arn_of(&r.family);
        if r.task_definitions.is_empty() {
            drift.push(format!("{} has no ECS target", r.rule));
            continue;
        }
        for td in &r.task_definitions {
            match newest {
                // A target by family name (no revision) always runs the newest revision.
                _ if !short_td(td).contains(':') => {
                    notes.push(format!("{} → {} (unpinned)", r.rule, short_td(td)))
                }
                Some(n) if n == td => notes.push(format!("{} → {}", r.rule, short_td(td))),
                Some(n) => drift.push(format!(
                    "{} runs {} but the newest ACTIVE revision is {}",
                    r.rule,
                    short_td(td),
                    short_td(n)
                )),
                None => notes.push(format!(
                    "{} → {} (newest revision unknown)",
                    r.rule,
                    short_td(td)
                )),
            }
        }
        if r.state.as_deref() == Some("DISABLED") {
            notes.push(format!(
                "{} is DISABLED (RUNBOOK §4): scheduled runs are paused",
                r.rule
            ));
        }
    }
    if !drift.is_empty() {
        Check::fail(
            SCHEDULES,
            format!(
                "{}; re-run create-schedules.sh or point the targets at the newest revision",
                drift.join("; ")
            ),
        )
    } else if !errors.is_empty() {
        Check::error(SCHEDULES, errors.join("; "))
    } else {
        Check::pass(SCHEDULES, notes.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(extra: &[(&str, &str)]) -> Config {
        let mut map: HashMap<String, String> = [
            ("AWS_REGION", "us-east-1"),
            ("S3_BUCKET", "b"),
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            map.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(&move |k| map.get(k).cloned()).unwrap()
    }

    #[test]
    fn window_touches_yesterday_only_across_midnight() {
        let c = cfg(&[]);
        let noon = crate::clock::parse_timestamp("2026-11-28T12:00:00Z").unwrap();
        assert_eq!(window_partitions(&c, noon, 180 * 60), vec!["2026/11/28/"]);
        let early = crate::clock::parse_timestamp("2026-11-28T01:30:00Z").unwrap();
        assert_eq!(
            window_partitions(&c, early, 180 * 60),
            vec!["2026/11/28/", "2026/11/27/"]
        );
        let c2 = cfg(&[("AUTOHEAL_SNAPSHOT_PARTITIONS", "date=%Y-%m-%d/")]);
        assert_eq!(
            window_partitions(&c2, early, 180 * 60),
            vec!["date=2026-11-28/", "date=2026-11-27/"]
        );
    }

    #[test]
    fn drift_is_reported_with_both_revisions() {
        let revs = Revisions {
            entries: vec![
                (
                    "vieweratlas-analysis".into(),
                    Some("arn:aws:ecs:r:1:task-definition/vieweratlas-analysis:3".into()),
                ),
                (
                    "vieweratlas-vod-collector".into(),
                    Some("arn:aws:ecs:r:1:task-definition/vieweratlas-vod-collector:2".into()),
                ),
            ],
        };
        let rules = vec![
            Ok(RuleTargets {
                rule: "vieweratlas-analysis-daily".into(),
                family: "vieweratlas-analysis".into(),
                state: Some("ENABLED".into()),
                task_definitions: vec![
                    "arn:aws:ecs:r:1:task-definition/vieweratlas-analysis:2".into()
                ],
            }),
            Ok(RuleTargets {
                rule: "vieweratlas-vod-6h".into(),
                family: "vieweratlas-vod-collector".into(),
                state: Some("DISABLED".into()),
                task_definitions: vec![
                    "arn:aws:ecs:r:1:task-definition/vieweratlas-vod-collector:2".into(),
                ],
            }),
        ];
        let check = judge_schedules(rules, &revs);
        assert_eq!(check.status, CheckStatus::Fail);
        assert!(
            check.detail.contains(
                "vieweratlas-analysis:2 but the newest ACTIVE revision is vieweratlas-analysis:3"
            ),
            "{}",
            check.detail
        );
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age_text(59), "0 min");
        assert_eq!(age_text(241 * 60), "4 h 01 min");
        assert_eq!(age_text(3 * 86_400 + 7200), "3 d 2 h");
        assert_eq!(
            image_tag("123.dkr.ecr.us-east-1.amazonaws.com/vieweratlas-collector:4f2c9ab"),
            "4f2c9ab"
        );
        assert_eq!(image_tag("localhost:5000/repo"), "latest");
    }
}
