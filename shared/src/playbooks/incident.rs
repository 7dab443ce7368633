//! RUNBOOK §7, the post-incident checklist, tracked across runs: a remediation opens an incident;
//! a passing smoke test, a successful analysis run and a successful VOD run after it close it with
//! one "incident closed" report that lists what was verified.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::report::{ActionStatus, Check, Outcome, Playbook, Report, TriggerKind, TriggerRef};
use crate::safety::ledger::{Ledger, LedgerError, Versioned};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub opened_at: i64,
    /// "playbook: action on target" of every remediation since it opened.
    pub remediations: Vec<String>,
    pub smoke_test_passed: Option<(i64, String)>,
    pub analysis_succeeded: Option<(i64, String)>,
    pub vod_succeeded: Option<(i64, String)>,
}

impl Incident {
    fn complete(&self) -> bool {
        self.smoke_test_passed.is_some()
            && self.analysis_succeeded.is_some()
            && self.vod_succeeded.is_some()
    }
}

/// What a finished run proves for the checklist.
enum Evidence {
    Remediation(String),
    SmokeTest,
    Analysis,
    Vod,
}

fn evidence(report: &Report, cfg: &crate::config::Config) -> Option<Evidence> {
    if report.outcome == Outcome::Remediated {
        let a = report
            .actions
            .iter()
            .find(|a| a.status == ActionStatus::Done)?;
        return Some(Evidence::Remediation(format!(
            "{}: {} on {}",
            report.playbook.name(),
            a.kind,
            a.target
        )));
    }
    if report.outcome != Outcome::Healthy {
        return None;
    }
    match report.playbook {
        Playbook::SmokeTest => Some(Evidence::SmokeTest),
        Playbook::AnalysisFailure if report.trigger.name == cfg.analysis_family => {
            Some(Evidence::Analysis)
        }
        Playbook::VodFailure if report.trigger.name == cfg.vod_family => Some(Evidence::Vod),
        _ => None,
    }
}

/// The incident opened by a remediation and not yet verified closed, if any.
pub async fn open(ledger: &Ledger) -> Result<Option<Incident>, LedgerError> {
    let key = ledger.key("incidents", "open");
    Ok(ledger
        .get::<Incident>(&key)
        .await?
        .map(|v| v.value)
        .filter(|i| i.opened_at != 0))
}

/// Whether [`note`] reads the incident record for this report (so that a run can read it ahead).
pub fn concerns(report: &Report, cfg: &crate::config::Config) -> bool {
    evidence(report, cfg).is_some()
}

/// The incident record as stored, for [`note`].
pub async fn read(ledger: &Ledger) -> Result<Option<Versioned<Incident>>, LedgerError> {
    ledger
        .get::<Incident>(&ledger.key("incidents", "open"))
        .await
}

/// Updates the open incident with this run; returns the closing report when the checklist is done.
/// `read`: the record as read ahead ([`read`]; `None`: read it now). It is read once: the update
/// writes on that version, and reads again only if another run wrote in between.
pub async fn note(
    ledger: &Ledger,
    cfg: &crate::config::Config,
    report: &Report,
    now: i64,
    read: Option<Option<Versioned<Incident>>>,
) -> Result<Option<Report>, LedgerError> {
    let Some(ev) = evidence(report, cfg) else {
        return Ok(None);
    };
    let key = ledger.key("incidents", "open");
    let current = match read {
        Some(r) => r,
        None => ledger.get::<Incident>(&key).await?,
    };
    // A closed incident leaves an empty record: that is no incident (and opens none).
    let open = current.as_ref().is_some_and(|c| c.value.opened_at != 0);
    if !open && !matches!(ev, Evidence::Remediation(_)) {
        return Ok(None);
    }
    let mut closed: Option<Incident> = None;
    let stamp = (now, format!("{} ({})", report.trigger.id, report.reason));
    ledger
        .update_from::<Incident, _>(&key, Some(current), |inc| {
            closed = None;
            if inc.opened_at == 0 {
                inc.opened_at = now;
            }
            match &ev {
                Evidence::Remediation(r) => {
                    inc.remediations.push(format!("{} {r}", rfc3339(now)));
                    // A new fix restarts verification: earlier passes predate it.
                    inc.smoke_test_passed = None;
                    inc.analysis_succeeded = None;
                    inc.vod_succeeded = None;
                }
                Evidence::SmokeTest => inc.smoke_test_passed = Some(stamp.clone()),
                Evidence::Analysis => inc.analysis_succeeded = Some(stamp.clone()),
                Evidence::Vod => inc.vod_succeeded = Some(stamp.clone()),
            }
            if inc.complete() {
                closed = Some(inc.clone());
                *inc = Incident::default();
            }
        })
        .await?;
    let record = crate::report::links::ledger_object(cfg, &key);
    Ok(closed.map(|inc| closing_report(&inc, now, &record)))
}

/// The incident-closed report; every check links to the incident's ledger record.
fn closing_report(inc: &Incident, now: i64, record: &str) -> Report {
    let trigger = TriggerRef {
        kind: TriggerKind::Manual,
        id: format!("incident-{}", inc.opened_at),
        name: "post-incident checklist".into(),
    };
    let mut r = Report::new(trigger, Playbook::SmokeTest);
    r.outcome = Outcome::Healthy;
    r.reason = format!(
        "incident closed: opened {}, verified by smoke test, analysis run and VOD run",
        rfc3339(inc.opened_at)
    );
    for rem in &inc.remediations {
        r.checks.push(Check::pass("remediation", rem.clone()));
    }
    for (name, v) in [
        ("smoke_test_passed", &inc.smoke_test_passed),
        ("analysis_run_succeeded", &inc.analysis_succeeded),
        ("vod_run_succeeded", &inc.vod_succeeded),
    ] {
        if let Some((at, what)) = v {
            r.checks
                .push(Check::pass(name, format!("{} {what}", rfc3339(*at))));
        }
    }
    r.next_steps.push("Write the incident summary and remediation notes (RUNBOOK §7.4); the checks above are the evidence".into());
    for c in &mut r.checks {
        c.link = Some(record.to_string());
    }
    r.finished_at = rfc3339(now);
    r
}
