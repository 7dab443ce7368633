//! Playbooks C (analysis fails) and D (VOD failures), driven by ECS Task State Change events of the
//! two scheduled task families; repeated failures hand over to schedule control (`schedules`).
//!
//! The analysis task exits 0 even when it fails (VIEWERATLAS.md §3), so the verdict comes from the
//! task's own log stream, not the exit code. The daily freshness check's analysis-output age check
//! catches the runs that never produced an event at all.

use crate::clock::now_epoch;
use crate::config::Config;
use crate::deps::Deps;
use crate::deps::Invocation;
use crate::intake::TaskChange;
use crate::playbooks::schedules::{self, FailedRun, Starter};
use crate::probes::freshness;
use crate::probes::secrets::Redactor;
use crate::probes::service::short_td;
use crate::probes::tasks::task_log;
use crate::report::links;
use crate::report::{Check, CheckStatus, Outcome, Playbook, Report, TriggerRef};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::guard::Guard;
use crate::safety::settle::settle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Analysis,
    Vod,
}

impl Job {
    /// `analysis` or `vod`, as `autoheal run` takes it.
    pub fn from_word(word: &str) -> Option<Self> {
        match word {
            "analysis" => Some(Job::Analysis),
            "vod" => Some(Job::Vod),
            _ => None,
        }
    }
    pub fn family(self, cfg: &Config) -> &str {
        match self {
            Job::Analysis => &cfg.analysis_family,
            Job::Vod => &cfg.vod_family,
        }
    }
    /// The job a task family belongs to; `None` for any other family.
    fn of(family: &str, cfg: &Config) -> Option<Self> {
        if family == cfg.analysis_family {
            Some(Job::Analysis)
        } else if family == cfg.vod_family {
            Some(Job::Vod)
        } else {
            None
        }
    }
    pub fn rule(self, cfg: &Config) -> &str {
        match self {
            Job::Analysis => &cfg.analysis_rule,
            Job::Vod => &cfg.vod_rule,
        }
    }
    pub fn playbook(self) -> Playbook {
        match self {
            Job::Analysis => Playbook::AnalysisFailure,
            Job::Vod => Playbook::VodFailure,
        }
    }
    /// The word `autoheal run` takes for it.
    pub fn word(self) -> &'static str {
        match self {
            Job::Analysis => "analysis",
            Job::Vod => "vod",
        }
    }
    fn log_group(self, cfg: &Config) -> &str {
        match self {
            Job::Analysis => &cfg.analysis_log_group,
            Job::Vod => &cfg.vod_log_group,
        }
    }
    /// Its playbook's letter in RUNBOOK §6.
    fn letter(self) -> &'static str {
        match self {
            Job::Analysis => "C",
            Job::Vod => "D",
        }
    }
}

/// What the task's log stream says about the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunResult {
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
) -> RunResult {
    let find = |needle: &str| lines.iter().find(|l| l.contains(needle)).cloned();
    let reason = stopped_reason.unwrap_or("");
    if reason.contains("ResourceInitializationError")
        || reason.contains("mount") && reason.contains("efs")
        || reason.contains("EFS")
    {
        return RunResult::Deterministic(format!(
            "the task could not start its volumes (EFS mount): {reason}"
        ));
    }
    if reason.contains("CannotPullContainer") {
        return RunResult::Deterministic(format!("the image could not be pulled: {reason}"));
    }
    match job {
        Job::Analysis => {
            if let Some(l) =
                find("No analysis input data found").or_else(|| find("No viewer data found"))
            {
                return RunResult::NoInput(l);
            }
            if let Some(l) = find("Graph has no edges") {
                return RunResult::Deterministic(format!(
                    "{l} (the rigorous preset's overlap threshold is 300)"
                ));
            }
            if let Some(l) = find("Pipeline failed").or_else(|| find("Community detection failed"))
            {
                return RunResult::Transient(l);
            }
            if let Some(l) =
                find("ANALYSIS PIPELINE COMPLETE").or_else(|| find("Results saved to s3://"))
            {
                return RunResult::Success(l);
            }
        }
        Job::Vod => {
            if let Some(l) = lines
                .iter()
                .find(|l| l.contains("Error fetching VODs") && l.contains("401"))
                .cloned()
            {
                return RunResult::Auth(l);
            }
            if let Some(l) = find("TwitchDownloaderCLI not found") {
                return RunResult::Deterministic(format!(
                    "{l} (the VOD image lacks the downloader)"
                ));
            }
            if let Some(l) = find("Error loading queue").or_else(|| find("Error saving queue")) {
                return RunResult::Deterministic(format!("{l} (the queue file path: with EFS the mount is a directory at /app/vod_queue.json, VIEWERATLAS.md §6)"));
            }
            if let Some(l) =
                find("TwitchDownloaderCLI failed").or_else(|| find("Timeout downloading VOD"))
            {
                return RunResult::Transient(l);
            }
            if let Some(l) = find("VOD processing complete") {
                let stats = find("Queue stats:")
                    .map(|s| format!("; {}", s.split("Queue stats:").nth(1).unwrap_or("").trim()))
                    .unwrap_or_default();
                return RunResult::Success(format!("{l}{stats}"));
            }
        }
    }
    if exit_codes.iter().any(|c| *c != 0) {
        return RunResult::Transient(format!(
            "exit code {:?} and no known line in the log",
            exit_codes
        ));
    }
    if lines.is_empty() {
        return RunResult::Transient("the task's log stream is empty or missing".into());
    }
    RunResult::Transient("the log shows neither the success line nor a known failure".into())
}

pub async fn handle(deps: &Deps, t: &TaskChange, trigger: TriggerRef, inv: Invocation) -> Report {
    let cfg = &deps.config;
    let Some(job) = Job::of(&t.family, cfg) else {
        return Report::new(trigger, Playbook::None).concluded(
            Outcome::Ignored,
            format!(
                "task family {} is not a scheduled ViewerAtlas job",
                t.family
            ),
        );
    };
    let mut r = Report::new(trigger.clone(), job.playbook());
    if t.last_status != "STOPPED" {
        return r.concluded(
            Outcome::Ignored,
            format!(
                "{} task is {}; judged when it stops",
                t.family, t.last_status
            ),
        );
    }
    let exits: Vec<i64> = t.containers.iter().filter_map(|c| c.exit_code).collect();
    r.checks
        .push(task_check(t, &exits).with_link(task_link(cfg, t)));
    let Some((lines, log_link)) = read_log(deps, job, t, &mut r).await else {
        return r;
    };
    let result = judge(job, &lines, &exits, t.stopped_reason.as_deref());
    let guard = Guard::for_run(deps, trigger, inv);
    let rule = job.rule(cfg).to_string();
    let starter = Starter::of(t);
    if let RunResult::Success(line) = &result {
        r.checks
            .push(Check::pass("run_result", line.clone()).with_link(log_link));
        return schedules::after_success(deps, &guard, t, &rule, line, starter, r).await;
    }
    let (kind, line) = describe_failure(&result);
    r.checks
        .push(Check::fail("run_result", format!("{kind}: {line}")).with_link(log_link));
    let what = format!("{} run failed ({kind})", t.family);
    let failed = FailedRun {
        task: t,
        rule: &rule,
        line: &line,
        what: &what,
        starter,
    };
    let failures = schedules::count_failure(&guard, &failed, &mut r).await;
    if failures >= cfg.schedule_max_failures {
        return schedules::disable_failing(deps, &guard, &failed, failures, r).await;
    }
    respond(deps, &guard, job, &failed, &result, r).await
}

/// The stopped task, as evidence.
fn task_check(t: &TaskChange, exits: &[i64]) -> Check {
    Check::pass(
        "task",
        format!(
            "{} ({}) stopped: {}; exit codes {:?}; started by {}",
            t.task_arn.rsplit('/').next().unwrap_or("?"),
            short_td(&t.task_definition_arn),
            t.stopped_reason.as_deref().unwrap_or("no reason"),
            exits,
            t.started_by.as_deref().unwrap_or("?")
        ),
    )
}

/// The task's page in the ECS console (its cluster from the task ARN: `task/<cluster>/<id>`).
fn task_link(cfg: &Config, t: &TaskChange) -> String {
    let mut parts = t.task_arn.rsplit('/');
    let id = parts.next().unwrap_or_default();
    let cluster = parts
        .next()
        .filter(|c| !c.starts_with("arn:"))
        .unwrap_or(&cfg.cluster);
    links::task(cfg, cluster, id)
}

/// The task's log lines and the console link to its stream over the task's lifetime; `None` when
/// they cannot be read. No evidence, no action: a rerun on an unread log would be a guess, so the
/// run is escalated.
/// The lines come back with the Twitch secrets' values blanked out: any of them may end up in the
/// report. When those values cannot be read, no line is shown at all (one could hold a secret).
async fn read_log(
    deps: &Deps,
    job: Job,
    t: &TaskChange,
    r: &mut Report,
) -> Option<(Vec<String>, String)> {
    let cfg = &deps.config;
    // Only the VOD task holds the secrets (the analysis task definition injects none), so only
    // its lines can print them.
    let secrets = async {
        match job {
            Job::Vod => Redactor::read(deps).await,
            Job::Analysis => (Redactor::default(), Vec::new()),
        }
    };
    let (log, (redactor, unreadable)) = tokio::join!(task_log(&deps.aws, t), secrets);
    match log {
        Ok((name, lines)) => {
            let (group, stream) = name.split_once(' ').unwrap_or((&name, ""));
            let now = now_epoch();
            let start = t.started_at.unwrap_or(now - 6 * 3600) - 60;
            let end = t.stopped_at.unwrap_or(now) + 60;
            let link = links::log_stream(cfg, group, stream, start * 1000, end * 1000);
            r.checks.push(
                Check::pass("task_log", format!("{} lines in {name}", lines.len()))
                    .with_link(link.clone()),
            );
            if !unreadable.is_empty() {
                r.checks.push(Check::error(
                    "log_lines_withheld",
                    format!("the secret values to redact the log lines could not be read ({}); the lines are judged but not shown", unreadable.join("; ")),
                ).with_link(link.clone()));
                return Some((lines.iter().map(|l| withheld(l)).collect(), link));
            }
            Some((lines.iter().map(|l| redactor.redact(l)).collect(), link))
        }
        Err(e) => {
            let group = job.log_group(cfg);
            let now = now_epoch();
            r.checks.push(
                Check::error("task_log", e.clone()).with_link(links::log_group(
                    cfg,
                    group,
                    (now - 6 * 3600) * 1000,
                    now * 1000,
                )),
            );
            r.step(format!(
                "Read the task's log in {group} and follow RUNBOOK §6 {}",
                job.letter()
            ));
            r.conclude(
                Outcome::Escalated,
                format!(
                    "{} task stopped, but its log could not be read: {e}",
                    t.family
                ),
            );
            None
        }
    }
}

/// A line that cannot be shown: only the signatures the judge needs survive.
fn withheld(line: &str) -> String {
    const MARKERS: [&str; 14] = [
        "No analysis input data found",
        "No viewer data found",
        "Graph has no edges",
        "Pipeline failed",
        "Community detection failed",
        "ANALYSIS PIPELINE COMPLETE",
        "Results saved to s3://",
        "Error fetching VODs",
        "TwitchDownloaderCLI not found",
        "Error loading queue",
        "Error saving queue",
        "TwitchDownloaderCLI failed",
        "Timeout downloading VOD",
        "VOD processing complete",
    ];
    let mut kept: Vec<&str> = MARKERS
        .iter()
        .copied()
        .filter(|m| line.contains(m))
        .collect();
    if line.contains("401") {
        kept.push("401");
    }
    format!("(line withheld: {})", kept.join(", "))
}

fn describe_failure(result: &RunResult) -> (&'static str, String) {
    match result {
        RunResult::NoInput(l) => ("missing inputs", l.clone()),
        RunResult::Deterministic(l) => ("will fail again", l.clone()),
        RunResult::Transient(l) => ("looks transient", l.clone()),
        RunResult::Auth(l) => ("Twitch token rejected", l.clone()),
        RunResult::Success(l) => ("succeeded", l.clone()),
    }
}

/// What a failed run leads to, by what its log says.
async fn respond(
    deps: &Deps,
    guard: &Guard<'_>,
    job: Job,
    failed: &FailedRun<'_>,
    result: &RunResult,
    mut r: Report,
) -> Report {
    let cfg = &deps.config;
    let (t, what) = (failed.task, failed.what);
    match result {
        RunResult::NoInput(_) => {
            r.applicable_playbooks.push(Playbook::NoNewSnapshots);
            r.step(
                "Follow RUNBOOK §6 A (no new snapshots); the analysis will pass once inputs exist",
            );
            r.concluded(
                Outcome::Escalated,
                format!("{what}: the collector is the problem, not the analysis"),
            )
        }
        RunResult::Auth(_) => {
            r.step(format!("rotate {} (RUNBOOK §5)", cfg.oauth_secret_id));
            r.concluded(
                Outcome::Escalated,
                format!("{what}: Twitch rejects the token"),
            )
        }
        RunResult::Deterministic(_) => {
            r.step(format!(
                "Fix the finding above, then start one manual {} run (RUNBOOK §6 {}): {}",
                t.family,
                job.letter(),
                links::autoheal_cli(cfg, &format!("run {}", job.word()))
            ));
            r.concluded(
                Outcome::Escalated,
                format!("{what}: a rerun would fail the same way"),
            )
        }
        RunResult::Transient(_) if failed.starter == Starter::Autoheal => {
            r.step(format!(
                "Investigate the {} logs in {} (RUNBOOK §6 {})",
                t.family,
                job.log_group(cfg),
                job.letter()
            ));
            r.concluded(
                Outcome::Escalated,
                format!("{what}: Autoheal's own verification run failed too; not retrying again"),
            )
        }
        RunResult::Transient(_) => rerun(deps, guard, job, failed, r).await,
        // The caller handles success before asking.
        RunResult::Success(_) => r,
    }
}

/// One guarded manual run, when the failure looks transient and (for the analysis) its inputs are
/// fresh; stale inputs mean the collector is the problem (RUNBOOK §6 A first).
async fn rerun(
    deps: &Deps,
    guard: &Guard<'_>,
    job: Job,
    failed: &FailedRun<'_>,
    mut r: Report,
) -> Report {
    let cfg = &deps.config;
    let (t, what, rule) = (failed.task, failed.what, failed.rule);
    if job == Job::Analysis {
        let c = freshness::snapshot_check(&deps.aws, cfg, now_epoch()).await;
        let fresh = c.status == CheckStatus::Pass;
        r.checks.push(c);
        if !fresh {
            r.applicable_playbooks.push(Playbook::NoNewSnapshots);
            r.step("Follow RUNBOOK §6 A first");
            return r.concluded(
                Outcome::Escalated,
                format!("{what}: its inputs are not fresh, so the collector is the problem"),
            );
        }
    }
    let intent = Intent {
        playbook: job.playbook(),
        change_id: format!("rerun:{}", t.task_arn),
        detail: format!(
            "start one manual {} run with {rule}'s target configuration",
            t.family
        ),
        evidence: vec![failed.line.to_string()],
        alarm_response: false,
    };
    let spec = ActionSpec::RunTask {
        rule: rule.to_string(),
        family: t.family.clone(),
    };
    let out = guard.act(&intent, &spec).await;
    settle(&mut r, vec![out], what, cfg);
    if r.outcome == Outcome::Remediated {
        r.step("Nothing if the manual run succeeds: its stop event is judged the same way");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The verdict's name, for tables of lines and verdicts.
    fn verdict(r: RunResult) -> &'static str {
        match r {
            RunResult::Success(_) => "success",
            RunResult::Transient(_) => "transient",
            RunResult::NoInput(_) => "no input",
            RunResult::Deterministic(_) => "deterministic",
            RunResult::Auth(_) => "auth",
        }
    }

    #[test]
    fn analysis_exit_zero_is_not_success() {
        for (line, want) in [
            ("ERROR - Pipeline failed: boom", "transient"),
            (
                "ERROR - ❌ No analysis input data found in S3 prefixes 'raw/snapshots'",
                "no input",
            ),
            (
                "ERROR - Graph has no edges. Try lowering overlap_threshold.",
                "deterministic",
            ),
            ("INFO - ✅ ANALYSIS PIPELINE COMPLETE", "success"),
        ] {
            let lines = l(&["ANALYSIS PIPELINE START", line]);
            assert_eq!(
                verdict(judge(Job::Analysis, &lines, &[0], None)),
                want,
                "{line}"
            );
        }
    }

    #[test]
    fn vod_lines_and_efs_errors() {
        let ok = l(&[
            "VOD processing complete. Processed: 0",
            "Queue stats: {'total': 3, 'pending': 1, 'processing': 0, 'completed': 2, 'failed': 0}",
        ]);
        let RunResult::Success(s) = judge(Job::Vod, &ok, &[0], None) else {
            panic!()
        };
        assert!(s.contains("'pending': 1"));
        assert!(matches!(
            judge(Job::Vod, &[], &[1], Some("ResourceInitializationError: failed to invoke EFS utils commands to set up EFS volumes")),
            RunResult::Deterministic(_)
        ));
        let auth = l(&["Error fetching VODs for xqc: 401 Client Error: Unauthorized for url: https://api.twitch.tv/helix/users?login=xqc"]);
        assert!(matches!(
            judge(Job::Vod, &auth, &[0], None),
            RunResult::Auth(_)
        ));
    }
}
