//! `autoheal`, the operator CLI (CONTRACT §2): replay any event through exactly what the Lambda
//! functions run, run the smoke test by hand, and the on-call workflow (pause, resume, status,
//! approve, manual runs), one file each.

mod approve;
mod args;
mod operator;
mod pause;
mod run_job;
mod status;

use std::io::Read;
use std::process::ExitCode;

use self::args::Spec;
use crate::aws::{Aws, CredentialSource};
use crate::config::Config;
use crate::deps::{Deps, Invocation};
use crate::intake;
use crate::report::{Outcome, Playbook, Report};
use crate::run::{self, Function, RunError, RunOptions};
use crate::safety::guard::Guard;

const USAGE: &str = "\
autoheal: the ViewerAtlas runbook, unattended (same code as the Lambda functions)

USAGE:
  autoheal handle [--dry-run] [--text] [FILE]   run what the matching function would run for one event
                                                (FILE, or stdin); prints the report as JSON
  autoheal smoke-test [--text]                  the runbook's smoke test; exit 0 if it passes, 1 if not
  autoheal render [FILE]                        print a JSON report (FILE or stdin) as the email text
  autoheal decisions [--days N] [--json]        recent decisions from the audit ledger, newest first
  autoheal schedules status|disable|enable [--rule NAME] [--dry-run]
                                                RUNBOOK §4 for humans, through the same guards
  autoheal rollback [--to REVISION] [--dry-run] [--text]
                                                roll the collector back to its known-good revision (or
                                                REVISION) through the same guards as the functions
  autoheal run analysis|vod [--dry-run] [--text]
                                                one manual run with the schedule's target configuration,
                                                as Autoheal starts it (a success re-enables its rule)
  autoheal approve <decision-id> [--dry-run] [--text]
                                                carry out exactly the action a report held for a human
                                                (report-only, allow-list, pause), once, after a live check
  autoheal pause [--playbook P] [--until TIME] --reason TEXT
                                                hold Autoheal's actions (all, or playbook P); runs still
                                                triage and report
  autoheal resume [--playbook P]                end a pause
  autoheal status [--json]                      pauses, open problems, cooldowns and caps, known-good,
                                                last decisions
  autoheal help [COMMAND]                       this text

OPTIONS:
  --dry-run   every read and check runs; nothing mutates AWS and nothing is published;
              intended actions appear with status `planned` (AUTOHEAL_DRY_RUN=true does the same)
  --text      print the report as the on-call engineer reads it, instead of JSON
  --force --reason TEXT
              (rollback, schedules, run, approve) pass a cooldown or the daily cap; never the idempotency
              claim or the live re-check. The ledger records who (AUTOHEAL_OPERATOR, else $USER)
              and why

EXIT STATUS (handle):
  0  the run completed, whatever its outcome
  1  the run itself failed (e.g. the report could not be published)
  2  the event or the configuration is invalid; nothing was changed

Settings come from the environment (README: Configuration). AWS_ENDPOINT_URL points every client
at an emulator.";

const HANDLE_HELP: &str = "\
autoheal handle [--dry-run] [--text] [FILE]

Reads one event (FILE, or stdin when absent) in any shape a function accepts: EventBridge alarm
state change, SNS-delivered alarm, direct alarm action, Scheduled Event, Secrets Manager CloudTrail
event, ECS task or deployment state change. Runs what that function would run, publishes the report
(unless --dry-run) and prints it as one JSON object on stdout.";

const SMOKE_HELP: &str = "\
autoheal smoke-test [--text]

The runbook's smoke test (VIEWERATLAS.md §5), without the ten-minute wait: cluster, task
definitions, collector service, rollout, running count, recent logs, snapshot and analysis
freshness, schedule targets. Exit 0 when it passes, 1 when not. Nothing is published.";

const DECISIONS: Spec = Spec {
    command: "decisions",
    help: "\
autoheal decisions [--days N] [--json]

Every decision Autoheal recorded in the last N UTC days (default 2), newest first.",
    flags: &["--json"],
    options: &[("--days", "a number from 1 to 90")],
    words: 0,
};

const ROLLBACK: Spec = Spec {
    command: "rollback",
    help: "\
autoheal rollback [--to REVISION] [--force --reason TEXT] [--dry-run] [--text]

Points the collector service at its last known-good task-definition revision (recorded by the
freshness check when every check passed), or at REVISION. Never rebuilds or re-tags images.
Goes through the same guards as the functions: no rollback while ECS is rolling, cooldowns,
caps, the audit ledger. Exit 0 when the run completed, 1 when it failed, 2 on bad arguments.",
    flags: &["--dry-run", "--text"],
    options: &[("--to", "a revision (7, family:7 or an ARN)")],
    words: 0,
};

const SCHEDULES: Spec = Spec {
    command: "schedules",
    help: "\
autoheal schedules status|disable|enable [--rule NAME] [--force --reason TEXT] [--dry-run] [--text]

status: both schedule rules (state, expression, target revision, failures Autoheal counted).
disable/enable: one rule (--rule) or both, through the same guards and audit ledger as the functions.",
    flags: &["--dry-run", "--text"],
    options: &[("--rule", "a rule name")],
    words: 0,
};

struct Args {
    dry_run: bool,
    text: bool,
    file: Option<String>,
}

fn parse_flags(rest: &[String], allow_file: bool) -> Result<Args, String> {
    let mut a = Args {
        dry_run: false,
        text: false,
        file: None,
    };
    for arg in rest {
        match arg.as_str() {
            "--dry-run" if allow_file => a.dry_run = true,
            "--text" => a.text = true,
            s if s.starts_with('-') && s != "-" => return Err(format!("unknown option {s}")),
            s if allow_file && a.file.is_none() => a.file = Some(s.to_string()),
            s => return Err(format!("unexpected argument {s:?}")),
        }
    }
    Ok(a)
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("autoheal: {msg}");
    ExitCode::from(code)
}

pub fn main(args: Vec<String>) -> ExitCode {
    let Some(cmd) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let wants_help = rest.iter().any(|a| a == "--help" || a == "-h");
    match cmd.as_str() {
        "help" | "--help" | "-h" => {
            match rest.first().map(String::as_str) {
                Some("handle") => println!("{HANDLE_HELP}"),
                Some("smoke-test") => println!("{SMOKE_HELP}"),
                _ => println!("{USAGE}"),
            }
            ExitCode::SUCCESS
        }
        "handle" if wants_help => {
            println!("{HANDLE_HELP}");
            ExitCode::SUCCESS
        }
        "smoke-test" if wants_help => {
            println!("{SMOKE_HELP}");
            ExitCode::SUCCESS
        }
        "handle" => match parse_flags(rest, true) {
            Ok(a) => handle(a),
            Err(e) => fail(2, format!("handle: {e} (see autoheal help handle)")),
        },
        "decisions" => decisions(rest),
        "rollback" => with_override("rollback", rest, rollback),
        "schedules" => with_override("schedules", rest, schedules),
        "run" => with_override("run", rest, run_job::run_cmd),
        "approve" => with_override("approve", rest, approve::approve_cmd),
        "pause" => pause::pause_cmd(rest),
        "resume" => pause::resume_cmd(rest),
        "status" => status::status_cmd(rest),
        "render" => match parse_flags(rest, true) {
            Ok(a) => render(a),
            Err(e) => fail(2, format!("render: {e}")),
        },
        "smoke-test" => match parse_flags(rest, false) {
            Ok(a) => smoke(a),
            Err(e) => fail(2, format!("smoke-test: {e} (see autoheal help smoke-test)")),
        },
        other => fail(2, format!("unknown command {other:?} (try autoheal help)")),
    }
}

/// Takes `--force`/`--reason` off an acting command's arguments (exit 2 when they are wrong) and
/// runs the command with them.
fn with_override(
    name: &str,
    rest: &[String],
    command: fn(&[String], operator::Override) -> ExitCode,
) -> ExitCode {
    match operator::take_override(rest) {
        Ok((o, rest)) => command(&rest, o),
        Err(e) => fail(2, format!("{name}: {e}")),
    }
}

fn read_event(file: Option<&str>) -> Result<String, String> {
    let mut buf = String::new();
    match file {
        None | Some("-") => std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| format!("reading stdin: {e}"))?,
        Some(path) => {
            return std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"));
        }
    };
    Ok(buf)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn print_report(report: &Report, text: bool) {
    if text {
        print!("{}", report.text());
    } else {
        match serde_json::to_string_pretty(report) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("autoheal: could not encode the report: {e}"),
        }
    }
}

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| fail(2, e))
}

/// Start-up shared by every command that talks to AWS: logs, settings (exit 2 when invalid, before
/// any call), the async runtime and the clients; then `body` runs with them.
fn with_deps<F, Fut>(check: impl FnOnce(&Config) -> Result<(), ExitCode>, body: F) -> ExitCode
where
    F: FnOnce(Deps) -> Fut,
    Fut: std::future::Future<Output = ExitCode>,
{
    crate::report::telemetry::init();
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = check(&config) {
        return code;
    }
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(1, e),
    };
    rt.block_on(async {
        let aws = Aws::connect(&config, CredentialSource::Standard).await;
        body(Deps { config, aws }).await
    })
}

/// A trigger for a run an operator started.
fn manual_trigger(what: &str, name: String) -> crate::report::TriggerRef {
    crate::report::TriggerRef {
        kind: crate::report::TriggerKind::Manual,
        id: format!(
            "manual-{what}-{}-{}",
            crate::clock::now_millis(),
            std::process::id()
        ),
        name,
    }
}

/// Ends an operator's run like a function's (logged, measured, published) and prints the report.
async fn finish_and_print(deps: &Deps, report: Report, dry_run: bool, text: bool) -> ExitCode {
    match run::finish_manual(deps, report, dry_run).await {
        Ok(report) => {
            print_report(&report, text);
            if report.outcome == Outcome::Failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(RunError::Publish { report, source }) => {
            print_report(&report, text);
            fail(1, source)
        }
        Err(RunError::Retry { report }) => {
            print_report(&report, text);
            fail(
                1,
                "nothing final was decided; run the command again to retry",
            )
        }
        Err(e) => fail(1, e),
    }
}

fn handle(a: Args) -> ExitCode {
    let raw = match read_event(a.file.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(2, e),
    };
    // The event is judged before anything else, so bad input never reaches AWS.
    let event: serde_json::Value = match serde_json::from_str(&raw) {
        Ok(v) => v,
        Err(e) => return fail(2, intake::IntakeError::NotJson(e.to_string())),
    };
    if let Err(e) = intake::parse(&event) {
        return fail(2, e);
    }
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let opts = RunOptions {
                dry_run: a.dry_run,
                deadline: None,
            };
            match run::handle(&deps, Function::Any, &event, opts).await {
                Ok(report) => {
                    print_report(&report, a.text);
                    ExitCode::SUCCESS
                }
                Err(RunError::Publish { report, source }) => {
                    print_report(&report, a.text);
                    fail(1, source)
                }
                Err(RunError::Retry { report }) => {
                    print_report(&report, a.text);
                    fail(
                        1,
                        "nothing final was decided; deliver the event again to retry",
                    )
                }
                Err(e) if e.is_invalid_input() => fail(2, e),
                Err(e) => fail(1, e),
            }
        },
    )
}

fn smoke(a: Args) -> ExitCode {
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let report = run::smoke_test(&deps).await;
            print_report(&report, a.text);
            if report.outcome == Outcome::Healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        },
    )
}

/// Reads a report (the JSON `handle` prints or a function returns) and prints its text form.
fn render(a: Args) -> ExitCode {
    let raw = match read_event(a.file.as_deref()) {
        Ok(r) => r,
        Err(e) => return fail(2, e),
    };
    match serde_json::from_str::<Report>(&raw) {
        Ok(report) => {
            print!("{}", report.text());
            ExitCode::SUCCESS
        }
        Err(e) => fail(2, format!("not an Autoheal report: {e}")),
    }
}

/// Lists the audit ledger: every acted, planned or held decision, newest first.
fn decisions(rest: &[String]) -> ExitCode {
    let p = match args::parse(rest, &DECISIONS) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let json = p.flag("--json");
    let days = match p.value("--days").map(|d| d.parse::<i64>()) {
        None => 2,
        Some(Ok(d)) if (1..=90).contains(&d) => d,
        Some(_) => return fail(2, "decisions: --days needs a number from 1 to 90"),
    };
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let ledger = deps.ledger();
            let list = match ledger
                .recent_decisions(crate::clock::now_epoch(), days)
                .await
            {
                Ok(l) => l,
                Err(e) => return fail(1, e),
            };
            for d in &list {
                if json {
                    println!("{}", serde_json::to_string(d).unwrap_or_default());
                } else {
                    println!(
                        "{}  {:<8} {:<22} {:<45} {} [{}] {} (id {})",
                        d.at_text,
                        d.status,
                        d.action,
                        d.target,
                        d.playbook,
                        d.trigger_id,
                        d.reason,
                        d.id
                    );
                }
            }
            if list.is_empty() && !json {
                eprintln!("autoheal: no decisions recorded in the last {days} day(s)");
            }
            ExitCode::SUCCESS
        },
    )
}

/// A human-started rollback: the same guard (live re-check, cooldown, cap, ledger) as the functions.
fn rollback(rest: &[String], over: operator::Override) -> ExitCode {
    let p = match args::parse(rest, &ROLLBACK) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let to = p.value("--to").map(str::to_string);
    let (dry_run, text) = (p.flag("--dry-run"), p.flag("--text"));
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let who = operator::who();
            let trigger = manual_trigger("rollback", deps.config.collector_service.clone());
            let req = crate::playbooks::rollback::Request {
                service: deps.config.collector_service.clone(),
                to,
                change_id: trigger.id.clone(),
                why: format!(
                    "manual rollback requested by {who}{}",
                    over.reason
                        .as_ref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                from_alarm: false,
                operator: Some(operator::operator(&over, None)),
                alarm: None,
                deployment: None,
            };
            let dry = dry_run || deps.config.dry_run;
            let start = Report::new(trigger, crate::report::Playbook::Rollback);
            let inv = Invocation::now(&deps.config, dry);
            let report = crate::playbooks::rollback::roll_back(&deps, req, start, inv).await;
            finish_and_print(&deps, report, dry, text).await
        },
    )
}

/// RUNBOOK §4 by hand: status of both rules, or disable/enable one or both through the guard.
fn schedules(rest: &[String], over: operator::Override) -> ExitCode {
    let Some(verb) = rest.first().map(String::as_str) else {
        return fail(
            2,
            "schedules: say status, disable or enable (see autoheal schedules --help)",
        );
    };
    if verb == "--help" || verb == "-h" {
        println!("{}", SCHEDULES.help);
        return ExitCode::SUCCESS;
    }
    if !matches!(verb, "status" | "disable" | "enable") {
        return fail(
            2,
            format!("schedules: unknown action {verb:?} (status, disable or enable)"),
        );
    }
    let p = match args::parse(&rest[1..], &SCHEDULES) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rule = p.value("--rule").map(str::to_string);
    let (dry_run, text) = (p.flag("--dry-run"), p.flag("--text"));
    let pick = |config: &Config| -> Result<Vec<String>, ExitCode> {
        match &rule {
            Some(r) if *r == config.analysis_rule || *r == config.vod_rule => Ok(vec![r.clone()]),
            Some(r) => Err(fail(
                2,
                format!(
                    "schedules: {r} is not one of {} or {}",
                    config.analysis_rule, config.vod_rule
                ),
            )),
            None => Ok(vec![config.analysis_rule.clone(), config.vod_rule.clone()]),
        }
    };
    with_deps(
        |config| pick(config).map(|_| ()),
        |deps| async move {
            let rules = match pick(&deps.config) {
                Ok(r) => r,
                Err(code) => return code,
            };
            if verb == "status" {
                for line in crate::playbooks::schedules::status(&deps).await {
                    println!("{line}");
                }
                return ExitCode::SUCCESS;
            }
            let trigger = manual_trigger("schedules", rules.join(","));
            let dry = dry_run || deps.config.dry_run;
            let guard = Guard::for_run(&deps, trigger.clone(), Invocation::now(&deps.config, dry))
                .with_operator(operator::operator(&over, None));
            let start = Report::new(trigger, Playbook::Schedules);
            let report = crate::playbooks::schedules::operator_set(
                &deps,
                &guard,
                &rules,
                verb == "enable",
                start,
            )
            .await;
            finish_and_print(&deps, report, dry, text).await
        },
    )
}
