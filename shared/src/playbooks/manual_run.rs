//! RUNBOOK §6 C/D by hand (`autoheal run analysis|vod`): one manual run with exactly the schedule
//! rule's target configuration, started the way Autoheal starts its own (`startedBy autoheal`), so
//! that its success re-enables a rule Autoheal disabled. Through the same guard: the claim, the
//! live re-check (never two runs at once), cooldowns and the cap (which `--force` may pass).

use crate::deps::Deps;
use crate::playbooks::task_failure::Job;
use crate::report::{Outcome, Report};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::guard::Guard;
use crate::safety::settle::settle;

pub async fn operator_run(deps: &Deps, guard: &Guard<'_>, job: Job, mut r: Report) -> Report {
    let cfg = &deps.config;
    let (rule, family) = (job.rule(cfg), job.family(cfg));
    let intent = Intent {
        playbook: job.playbook(),
        change_id: r.trigger.id.clone(),
        detail: format!(
            "start one manual {family} run with {rule}'s target configuration (asked by an operator)"
        ),
        evidence: vec![],
        alarm_response: false,
    };
    let spec = ActionSpec::RunTask {
        rule: rule.to_string(),
        family: family.to_string(),
    };
    let out = guard.act(&intent, &spec).await;
    settle(
        &mut r,
        vec![out],
        &format!("an operator asked for one manual {family} run"),
        cfg,
    );
    if r.outcome == Outcome::Remediated {
        r.step(format!(
            "Nothing if the run succeeds: its stop event is judged like Autoheal's own runs, and a success re-enables {rule} if Autoheal disabled it"
        ));
    }
    r
}
