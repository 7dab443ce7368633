//! Playbooks C (analysis fails) and D (VOD failures), and schedule control (RUNBOOK §4), driven by
//! ECS Task State Change events of the two scheduled task families.
//!
//! The analysis task exits 0 even when it fails (VIEWERATLAS.md §3), so the verdict comes from the
//! task's own log stream, not the exit code. The daily freshness check's analysis-output age check
//! catches the runs that never produced an event at all.

use serde::{Deserialize, Serialize};

use crate::aws::{describe_error, Aws};
use crate::config::Config;
use crate::freshness::{self, short_td};
use crate::guard::{Guard, Intent, Mutation};
use crate::intake::TaskChange;
use crate::outcome::settle;
use crate::report::{Check, CheckStatus, Outcome, Playbook, Report, TriggerRef};
use crate::run::Deps;

/// `startedBy` of the runs Autoheal starts, so their results can re-enable a schedule.
pub const STARTED_BY: &str = "autoheal";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Analysis,
    Vod,
}

impl Job {
    fn rule(self, cfg: &Config) -> &str {
        match self {
            Job::Analysis => &cfg.analysis_rule,
            Job::Vod => &cfg.vod_rule,
        }
    }
    fn playbook(self) -> Playbook {
        match self {
            Job::Analysis => Playbook::AnalysisFailure,
            Job::Vod => Playbook::VodFailure,
        }
    }
}

/// What the task's log stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Success(String),
    /// Inputs are missing: the collector is the problem (playbook A), not the analysis.
    NoInput(String),
    /// The run will fail the same way again: a configuration or image problem.
    Deterministic(String),
    /// Worth one more try.
    Transient(String),
    /// The token was rejected (VOD).
    Auth(String),
}

/// Reads ViewerAtlas's analysis and VOD log lines (VIEWERATLAS.md §3) into a verdict.
pub fn judge(
    job: Job,
    lines: &[String],
    exit_codes: &[i64],
    stopped_reason: Option<&str>,
) -> Verdict {
    let find = |needle: &str| lines.iter().find(|l| l.contains(needle)).cloned();
    let reason = stopped_reason.unwrap_or("");
    if reason.contains("ResourceInitializationError")
        || reason.contains("mount") && reason.contains("efs")
        || reason.contains("EFS")
    {
        return Verdict::Deterministic(format!(
            "the task could not start its volumes (EFS mount): {reason}"
        ));
    }
    if reason.contains("CannotPullContainer") {
        return Verdict::Deterministic(format!("the image could not be pulled: {reason}"));
    }
    match job {
        Job::Analysis => {
            if let Some(l) =
                find("No analysis input data found").or_else(|| find("No viewer data found"))
            {
                return Verdict::NoInput(l);
            }
            if let Some(l) = find("Graph has no edges") {
                return Verdict::Deterministic(format!(
                    "{l} (the rigorous preset's overlap threshold is 300)"
                ));
            }
            if let Some(l) = find("Pipeline failed").or_else(|| find("Community detection failed"))
            {
                return Verdict::Transient(l);
            }
            if let Some(l) =
                find("ANALYSIS PIPELINE COMPLETE").or_else(|| find("Results saved to s3://"))
            {
                return Verdict::Success(l);
            }
        }
        Job::Vod => {
            if let Some(l) = lines
                .iter()
                .find(|l| l.contains("Error fetching VODs") && l.contains("401"))
                .cloned()
            {
                return Verdict::Auth(l);
            }
            if let Some(l) = find("TwitchDownloaderCLI not found") {
                return Verdict::Deterministic(format!("{l} (the VOD image lacks the downloader)"));
            }
            if let Some(l) = find("Error loading queue").or_else(|| find("Error saving queue")) {
                return Verdict::Deterministic(format!("{l} (the queue file path: with EFS the mount is a directory at /app/vod_queue.json, VIEWERATLAS.md §6)"));
            }
            if let Some(l) =
                find("TwitchDownloaderCLI failed").or_else(|| find("Timeout downloading VOD"))
            {
                return Verdict::Transient(l);
            }
            if let Some(l) = find("VOD processing complete") {
                let stats = find("Queue stats:")
                    .map(|s| format!("; {}", s.split("Queue stats:").nth(1).unwrap_or("").trim()))
                    .unwrap_or_default();
                return Verdict::Success(format!("{l}{stats}"));
            }
        }
    }
    if exit_codes.iter().any(|c| *c != 0) {
        return Verdict::Transient(format!(
            "exit code {:?} and no known line in the log",
            exit_codes
        ));
    }
    if lines.is_empty() {
        return Verdict::Transient("the task's log stream is empty or missing".into());
    }
    Verdict::Transient("the log shows neither the success line nor a known failure".into())
}

/// Per-rule schedule health, in the ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRecord {
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_failure_at: Option<i64>,
    #[serde(default)]
    pub last_success_at: Option<i64>,
    /// Autoheal disabled the rule; only then does it re-enable it by itself.
    #[serde(default)]
    pub disabled_by_autoheal: bool,
}

/// Reads the task's own log stream, named by the awslogs settings of its task definition.
async fn task_log(aws: &Aws, t: &TaskChange) -> Result<(String, Vec<String>), String> {
    let td = aws
        .ecs()
        .describe_task_definition()
        .task_definition(&t.task_definition_arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "DescribeTaskDefinition {}: {}",
                short_td(&t.task_definition_arn),
                describe_error(&e)
            )
        })?;
    let c = td
        .task_definition()
        .and_then(|d| d.container_definitions().first())
        .ok_or_else(|| format!("{} has no containers", short_td(&t.task_definition_arn)))?;
    let opts = c
        .log_configuration()
        .and_then(|l| l.options())
        .cloned()
        .unwrap_or_default();
    let group = opts
        .get("awslogs-group")
        .cloned()
        .ok_or("the task definition has no awslogs group")?;
    let prefix = opts
        .get("awslogs-stream-prefix")
        .cloned()
        .unwrap_or_default();
    let task_id = t.task_arn.rsplit('/').next().unwrap_or_default();
    let stream = format!("{prefix}/{}/{task_id}", c.name().unwrap_or_default());
    let mut lines = Vec::new();
    let mut token = None;
    for _ in 0..10 {
        let out = aws
            .logs()
            .filter_log_events()
            .log_group_name(&group)
            .log_stream_names(&stream)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| format!("FilterLogEvents {group} {stream}: {}", describe_error(&e)))?;
        lines.extend(
            out.events()
                .iter()
                .filter_map(|e| e.message().map(str::to_string)),
        );
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    Ok((format!("{group} {stream}"), lines))
}

/// The ECS target of a schedule rule, as RunTask input.
pub struct RuleTarget {
    pub cluster: String,
    pub task_definition: String,
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: Option<String>,
}

pub async fn rule_target(aws: &Aws, rule: &str) -> Result<RuleTarget, String> {
    let out = aws
        .events()
        .list_targets_by_rule()
        .rule(rule)
        .send()
        .await
        .map_err(|e| format!("ListTargetsByRule {rule}: {}", describe_error(&e)))?;
    let t = out
        .targets()
        .iter()
        .find(|t| t.ecs_parameters().is_some())
        .ok_or_else(|| format!("{rule} has no ECS target"))?;
    let p = t
        .ecs_parameters()
        .ok_or_else(|| format!("{rule} has no ECS target"))?;
    let vpc = p
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    Ok(RuleTarget {
        cluster: t.arn().to_string(),
        task_definition: p.task_definition_arn().to_string(),
        launch_type: p.launch_type().map(|l| l.as_str().to_string()),
        platform_version: p.platform_version().map(str::to_string),
        subnets: vpc.map(|v| v.subnets().to_vec()).unwrap_or_default(),
        security_groups: vpc
            .map(|v| v.security_groups().to_vec())
            .unwrap_or_default(),
        assign_public_ip: vpc
            .and_then(|v| v.assign_public_ip())
            .map(|a| a.as_str().to_string()),
    })
}

/// One manual run with exactly the schedule's target configuration (RUNBOOK §6 C).
pub struct ManualRun<'a> {
    pub aws: &'a Aws,
    pub rule: String,
    pub family: String,
}

impl Mutation for ManualRun<'_> {
    fn kind(&self) -> &'static str {
        "run_task"
    }
    fn target(&self) -> String {
        format!("rule/{}", self.rule)
    }
    async fn recheck(&self) -> Result<(), String> {
        let t = rule_target(self.aws, &self.rule).await?;
        // Never overlap a run that is still going (scheduled or manual).
        let running = self
            .aws
            .ecs()
            .list_tasks()
            .cluster(&t.cluster)
            .family(&self.family)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .send()
            .await
            .map_err(|e| format!("ListTasks {}: {}", self.family, describe_error(&e)))?;
        if !running.task_arns().is_empty() {
            return Err(format!(
                "a {} task is already running ({})",
                self.family,
                running.task_arns().join(", ")
            ));
        }
        Ok(())
    }
    async fn already_applied(&self, _since: i64) -> Option<String> {
        let t = rule_target(self.aws, &self.rule).await.ok()?;
        let out = self
            .aws
            .ecs()
            .list_tasks()
            .cluster(&t.cluster)
            .family(&self.family)
            .started_by(STARTED_BY)
            .send()
            .await
            .ok()?;
        out.task_arns().first().cloned()
    }
    async fn apply(&self) -> Result<String, String> {
        use aws_sdk_ecs::types::{
            AssignPublicIp, AwsVpcConfiguration, LaunchType, NetworkConfiguration,
        };
        let t = rule_target(self.aws, &self.rule).await?;
        let mut vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(t.subnets.clone()))
            .set_security_groups(Some(t.security_groups.clone()));
        if let Some(a) = &t.assign_public_ip {
            vpc = vpc.assign_public_ip(AssignPublicIp::from(a.as_str()));
        }
        let vpc = vpc
            .build()
            .map_err(|e| format!("network configuration of {}: {e}", self.rule))?;
        let out = self
            .aws
            .ecs()
            .run_task()
            .cluster(&t.cluster)
            .task_definition(&t.task_definition)
            .set_launch_type(t.launch_type.as_deref().map(LaunchType::from))
            .set_platform_version(t.platform_version.clone())
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .started_by(STARTED_BY)
            .count(1)
            .customize()
            .config_override(crate::remedy::no_retry_ecs())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "RunTask {}: {}",
                    short_td(&t.task_definition),
                    describe_error(&e)
                )
            })?;
        if let Some(f) = out.failures().first() {
            return Err(format!(
                "RunTask failed: {}",
                f.reason().unwrap_or("unknown")
            ));
        }
        let arn = out
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .unwrap_or("?");
        Ok(format!("task {arn} on {}", short_td(&t.task_definition)))
    }
}

/// Disables or enables a schedule rule (RUNBOOK §4).
pub struct SetRule<'a> {
    pub aws: &'a Aws,
    pub rule: String,
    pub enable: bool,
}

impl Mutation for SetRule<'_> {
    fn kind(&self) -> &'static str {
        if self.enable {
            "enable_rule"
        } else {
            "disable_rule"
        }
    }
    fn target(&self) -> String {
        format!("rule/{}", self.rule)
    }
    async fn recheck(&self) -> Result<(), String> {
        let want = if self.enable { "ENABLED" } else { "DISABLED" };
        let d = self
            .aws
            .events()
            .describe_rule()
            .name(&self.rule)
            .send()
            .await
            .map_err(|e| format!("DescribeRule {}: {}", self.rule, describe_error(&e)))?;
        match d.state().map(|s| s.as_str()) {
            Some(s) if s == want => Err(format!("{} is already {want}", self.rule)),
            _ => Ok(()),
        }
    }
    async fn already_applied(&self, _since: i64) -> Option<String> {
        let want = if self.enable { "ENABLED" } else { "DISABLED" };
        let d = self
            .aws
            .events()
            .describe_rule()
            .name(&self.rule)
            .send()
            .await
            .ok()?;
        (d.state().map(|s| s.as_str()) == Some(want)).then(|| format!("{} {want}", self.rule))
    }
    async fn apply(&self) -> Result<String, String> {
        // Sent once, like every mutation (see remedy::no_retry_ecs).
        let once = || {
            aws_sdk_eventbridge::config::Builder::default()
                .retry_config(aws_config::retry::RetryConfig::disabled())
        };
        let res = if self.enable {
            self.aws
                .events()
                .enable_rule()
                .name(&self.rule)
                .customize()
                .config_override(once())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe_error(&e))
        } else {
            self.aws
                .events()
                .disable_rule()
                .name(&self.rule)
                .customize()
                .config_override(once())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| describe_error(&e))
        };
        res.map_err(|e| format!("{} {}: {e}", self.kind(), self.rule))?;
        Ok(format!(
            "{} {}",
            self.rule,
            if self.enable { "ENABLED" } else { "DISABLED" }
        ))
    }
}

fn schedule_key(guard: &Guard<'_>, rule: &str) -> String {
    guard.ledger().key("schedules", rule)
}

/// Applies `f` to the rule's record in the ledger and returns it as it now stands. In a dry run
/// the change is applied to a copy only; a ledger failure is noted in the report.
async fn update_record(
    guard: &Guard<'_>,
    key: &str,
    r: &mut Report,
    f: impl Fn(&mut ScheduleRecord),
) -> ScheduleRecord {
    if guard.dry_run() {
        let mut rec = guard
            .ledger()
            .get::<ScheduleRecord>(key)
            .await
            .ok()
            .flatten()
            .map(|v| v.value)
            .unwrap_or_default();
        f(&mut rec);
        return rec;
    }
    match guard
        .ledger()
        .update::<ScheduleRecord, _>(key, |rec| f(rec))
        .await
    {
        Ok(rec) => rec,
        Err(e) => {
            r.checks
                .push(Check::error("schedule_record", e.to_string()));
            ScheduleRecord::default()
        }
    }
}

pub async fn handle(deps: &Deps, t: &TaskChange, trigger: TriggerRef, dry_run: bool) -> Report {
    let cfg = &deps.config;
    let aws = &deps.aws;
    let job = if t.family == cfg.analysis_family {
        Job::Analysis
    } else if t.family == cfg.vod_family {
        Job::Vod
    } else {
        let mut r = Report::new(trigger, Playbook::None);
        r.outcome = Outcome::Ignored;
        r.reason = format!(
            "task family {} is not a scheduled ViewerAtlas job",
            t.family
        );
        return r;
    };
    let mut r = Report::new(trigger.clone(), job.playbook());
    if t.last_status != "STOPPED" {
        r.outcome = Outcome::Ignored;
        r.reason = format!(
            "{} task is {}; judged when it stops",
            t.family, t.last_status
        );
        return r;
    }
    let rule = job.rule(cfg).to_string();
    let manual = t.started_by.as_deref() == Some(STARTED_BY);
    let scheduled = t
        .started_by
        .as_deref()
        .is_some_and(|s| s.starts_with("events-rule/"));
    let exits: Vec<i64> = t.containers.iter().filter_map(|c| c.exit_code).collect();
    r.checks.push(Check::pass(
        "task",
        format!(
            "{} ({}) stopped: {}; exit codes {:?}; started by {}",
            t.task_arn.rsplit('/').next().unwrap_or("?"),
            short_td(&t.task_definition_arn),
            t.stopped_reason.as_deref().unwrap_or("no reason"),
            exits,
            t.started_by.as_deref().unwrap_or("?")
        ),
    ));
    let lines = match task_log(aws, t).await {
        Ok((name, lines)) => {
            r.checks.push(Check::pass(
                "task_log",
                format!("{} lines in {name}", lines.len()),
            ));
            lines
        }
        Err(e) => {
            // No evidence, no action: a rerun on an unread log would be a guess.
            r.checks.push(Check::error("task_log", e.clone()));
            r.outcome = Outcome::Escalated;
            r.reason = format!(
                "{} task stopped, but its log could not be read: {e}",
                t.family
            );
            r.next_steps.push(format!(
                "Read the task's log in /ecs/{} and follow RUNBOOK §6 C/D",
                t.family
            ));
            return r;
        }
    };
    let verdict = judge(job, &lines, &exits, t.stopped_reason.as_deref());
    let guard = Guard::for_run(cfg, aws, trigger.clone(), dry_run);
    let key = schedule_key(&guard, &rule);
    let now = crate::clock::now_epoch();

    if let Verdict::Success(line) = &verdict {
        r.checks.push(Check::pass("run_result", line.clone()));
        let record = update_record(&guard, &key, &mut r, |rec| {
            rec.consecutive_failures = 0;
            rec.last_success_at = Some(now);
        })
        .await;
        if manual && record.disabled_by_autoheal {
            let intent = Intent {
                playbook: Playbook::Schedules,
                change_id: format!("reenable:{}", t.task_arn),
                detail: format!("re-enable {rule}: a manual run succeeded"),
                evidence: vec![line.clone()],
                alarm_response: false,
            };
            let out = guard
                .act(
                    &intent,
                    &SetRule {
                        aws,
                        rule: rule.clone(),
                        enable: true,
                    },
                )
                .await;
            settle(
                &mut r,
                vec![out],
                &format!("the verification run of {} succeeded", t.family),
                cfg,
            );
            if r.outcome == Outcome::Remediated && !dry_run {
                update_record(&guard, &key, &mut r, |rec| rec.disabled_by_autoheal = false).await;
            }
            return r;
        }
        r.outcome = Outcome::Healthy;
        r.reason = format!("{} run succeeded", t.family);
        return r;
    }

    let (kind, line) = match &verdict {
        Verdict::NoInput(l) => ("missing inputs", l.clone()),
        Verdict::Deterministic(l) => ("will fail again", l.clone()),
        Verdict::Transient(l) => ("looks transient", l.clone()),
        Verdict::Auth(l) => ("Twitch token rejected", l.clone()),
        Verdict::Success(l) => ("succeeded", l.clone()),
    };
    r.checks
        .push(Check::fail("run_result", format!("{kind}: {line}")));
    let what = format!("{} run failed ({kind})", t.family);

    // Count scheduled failures; stop spending money after N in a row (RUNBOOK §4).
    // Only scheduled runs count: Autoheal's own manual run failing is not the schedule failing.
    let record = update_record(&guard, &key, &mut r, |rec| {
        if scheduled {
            rec.consecutive_failures += 1;
            rec.last_failure_at = Some(now);
        }
    })
    .await;
    r.checks.push(Check::new(
        "consecutive_failures",
        if record.consecutive_failures >= cfg.schedule_max_failures {
            CheckStatus::Fail
        } else {
            CheckStatus::Pass
        },
        format!(
            "{} consecutive failed scheduled runs of {rule} (limit {})",
            record.consecutive_failures, cfg.schedule_max_failures
        ),
    ));
    if record.consecutive_failures >= cfg.schedule_max_failures {
        let intent = Intent {
            playbook: Playbook::Schedules,
            change_id: format!("disable:{}", t.task_arn),
            detail: format!(
                "disable {rule} after {} consecutive failures",
                record.consecutive_failures
            ),
            evidence: vec![line.clone()],
            alarm_response: false,
        };
        let out = guard
            .act(
                &intent,
                &SetRule {
                    aws,
                    rule: rule.clone(),
                    enable: false,
                },
            )
            .await;
        let disabled = matches!(out.verdict, crate::guard::Verdict::Done { .. });
        settle(&mut r, vec![out], &what, cfg);
        if disabled {
            update_record(&guard, &key, &mut r, |rec| rec.disabled_by_autoheal = true).await;
        }
        // Disabling stops the bleeding; a human still has to fix the cause.
        r.outcome = if r.outcome == Outcome::Planned {
            Outcome::Planned
        } else {
            Outcome::Escalated
        };
        r.next_steps.push(format!(
            "Fix the cause ({line}); then `autoheal schedules enable --rule {rule}` or let a successful manual run re-enable it"
        ));
        return r;
    }

    match verdict {
        Verdict::NoInput(_) => {
            r.outcome = Outcome::Escalated;
            r.reason = format!("{what}: the collector is the problem, not the analysis");
            r.applicable_playbooks.push(Playbook::NoNewSnapshots);
            r.next_steps.push(
                "Follow RUNBOOK §6 A (no new snapshots); the analysis will pass once inputs exist"
                    .into(),
            );
        }
        Verdict::Auth(_) => {
            r.outcome = Outcome::Escalated;
            r.reason = format!("{what}: Twitch rejects the token");
            r.next_steps
                .push(format!("rotate {} (RUNBOOK §5)", cfg.oauth_secret_id));
        }
        Verdict::Deterministic(_) => {
            r.outcome = Outcome::Escalated;
            r.reason = format!("{what}: a rerun would fail the same way");
            r.next_steps.push(format!(
                "Fix the finding above, then run one manual {} task (RUNBOOK §6 {})",
                t.family,
                if job == Job::Analysis { "C" } else { "D" }
            ));
        }
        Verdict::Transient(_) if manual => {
            r.outcome = Outcome::Escalated;
            r.reason =
                format!("{what}: Autoheal's own verification run failed too; not retrying again");
            r.next_steps.push(format!(
                "Investigate the {} logs (RUNBOOK §6 {})",
                t.family,
                if job == Job::Analysis { "C" } else { "D" }
            ));
        }
        Verdict::Transient(_) => {
            if job == Job::Analysis {
                let c = freshness::snapshot_check(aws, cfg, now).await;
                let fresh = c.status == CheckStatus::Pass;
                r.checks.push(c);
                if !fresh {
                    r.outcome = Outcome::Escalated;
                    r.reason = format!(
                        "{what}: its inputs are not fresh, so the collector is the problem"
                    );
                    r.applicable_playbooks.push(Playbook::NoNewSnapshots);
                    r.next_steps.push("Follow RUNBOOK §6 A first".into());
                    return r;
                }
            }
            let intent = Intent {
                playbook: job.playbook(),
                change_id: format!("rerun:{}", t.task_arn),
                detail: format!(
                    "start one manual {} run with {rule}'s target configuration",
                    t.family
                ),
                evidence: vec![line],
                alarm_response: false,
            };
            let out = guard
                .act(
                    &intent,
                    &ManualRun {
                        aws,
                        rule: rule.clone(),
                        family: t.family.clone(),
                    },
                )
                .await;
            settle(&mut r, vec![out], &what, cfg);
            if r.outcome == Outcome::Remediated {
                r.next_steps.push(
                    "Nothing if the manual run succeeds: its stop event is judged the same way"
                        .into(),
                );
            }
        }
        // Handled (and returned) above.
        Verdict::Success(_) => {}
    }
    r
}

/// `autoheal schedules status`: both rules, their targets and what the ledger knows.
pub async fn status(deps: &Deps) -> Vec<String> {
    let cfg = &deps.config;
    let ledger = crate::ledger::Ledger::new(deps.aws.s3().clone(), &cfg.bucket, &cfg.ledger_prefix);
    let mut out = Vec::new();
    for rule in [&cfg.analysis_rule, &cfg.vod_rule] {
        let state = match deps.aws.events().describe_rule().name(rule).send().await {
            Ok(d) => format!(
                "{} {}",
                d.state().map(|s| s.as_str()).unwrap_or("?"),
                d.schedule_expression().unwrap_or("")
            ),
            Err(e) => format!("unreadable ({})", describe_error(&e)),
        };
        let target = rule_target(&deps.aws, rule)
            .await
            .map(|t| short_td(&t.task_definition).to_string())
            .unwrap_or_else(|e| e);
        let rec = ledger
            .get::<ScheduleRecord>(&ledger.key("schedules", rule))
            .await
            .ok()
            .flatten()
            .map(|v| v.value)
            .unwrap_or_default();
        out.push(format!(
            "{rule}: {state}; target {target}; {} consecutive failures{}",
            rec.consecutive_failures,
            if rec.disabled_by_autoheal {
                "; disabled by Autoheal"
            } else {
                ""
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn analysis_exit_zero_is_not_success() {
        let lines = l(&["ANALYSIS PIPELINE START", "ERROR - Pipeline failed: boom"]);
        assert!(matches!(
            judge(Job::Analysis, &lines, &[0], None),
            Verdict::Transient(_)
        ));
        let lines = l(&["ERROR - ❌ No analysis input data found in S3 prefixes 'raw/snapshots'"]);
        assert!(matches!(
            judge(Job::Analysis, &lines, &[0], None),
            Verdict::NoInput(_)
        ));
        let lines = l(&["ERROR - Graph has no edges. Try lowering overlap_threshold."]);
        assert!(matches!(
            judge(Job::Analysis, &lines, &[0], None),
            Verdict::Deterministic(_)
        ));
        let lines = l(&["INFO - ✅ ANALYSIS PIPELINE COMPLETE"]);
        assert!(matches!(
            judge(Job::Analysis, &lines, &[0], None),
            Verdict::Success(_)
        ));
    }

    #[test]
    fn vod_lines_and_efs_errors() {
        let ok = l(&[
            "VOD processing complete. Processed: 0",
            "Queue stats: {'total': 3, 'pending': 1, 'processing': 0, 'completed': 2, 'failed': 0}",
        ]);
        let Verdict::Success(s) = judge(Job::Vod, &ok, &[0], None) else {
            panic!()
        };
        assert!(s.contains("'pending': 1"));
        assert!(matches!(
            judge(Job::Vod, &[], &[1], Some("ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes")),
            Verdict::Deterministic(_)
        ));
        let auth = l(&["Error fetching VODs for xqc: 401 Client Error: Unauthorized for url: https://api.twitch.tv/helix/users?login=xqc"]);
        assert!(matches!(
            judge(Job::Vod, &auth, &[0], None),
            Verdict::Auth(_)
        ));
    }
}
