//! `autoheal run analysis|vod`: one manual run of a scheduled job, started the way Autoheal starts
//! its own, so that its success re-enables a rule Autoheal disabled.

use std::process::ExitCode;

use super::args::{self, Spec};
use super::operator::{self, Override};
use super::{fail, finish_and_print, manual_trigger, with_deps};
use crate::deps::Invocation;
use crate::playbooks::manual_run;
use crate::playbooks::task_failure::Job;
use crate::report::Report;
use crate::safety::guard::Guard;

pub const RUN_HELP: &str = "\
autoheal run analysis|vod [--force --reason TEXT] [--dry-run] [--text]

Starts one manual run of the analysis (or VOD) job with exactly its schedule rule's target
configuration (task definition, launch type, network), started by `autoheal` like Autoheal's own
runs: when it succeeds, task-watch re-enables the rule if Autoheal had disabled it. Through the same
guard as the functions: never while a run of the job is going (live re-check), one claim per
command, cooldowns and the daily cap (--force passes those two, with a reason). The report is
published. Exit 0 when the run completed, 1 when it failed, 2 on bad arguments.";

pub fn run_cmd(rest: &[String], over: Override) -> ExitCode {
    let p = match args::parse(rest, &Spec::acting("run", RUN_HELP, 1)) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (dry_run, text) = (p.flag("--dry-run"), p.flag("--text"));
    let job = match p.words.first().map(|w| (w, Job::from_word(w))) {
        Some((_, Some(j))) => j,
        Some((word, None)) => {
            return fail(2, format!("run: unknown job {word:?} (analysis or vod)"))
        }
        None => {
            return fail(
                2,
                "run: say which job: analysis or vod (see autoheal run --help)",
            )
        }
    };
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let family = job.family(&deps.config).to_string();
            let trigger = manual_trigger("run", family);
            let dry = dry_run || deps.config.dry_run;
            let guard = Guard::for_run(&deps, trigger.clone(), Invocation::now(&deps.config, dry))
                .with_operator(operator::operator(&over, None));
            let start = Report::new(trigger, job.playbook());
            let report = manual_run::operator_run(&deps, &guard, job, start).await;
            finish_and_print(&deps, report, dry, text).await
        },
    )
}
