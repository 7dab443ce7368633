//! Playbooks A and B's judgement: from the triage, what to do about the alarm. Pure: the rules
//! read the evidence and nothing else, so each can be tested alone.
//!
//! The rules are tried in order and the first that applies decides; the order is the ranking of
//! evidence (what the collector's log cannot show is never guessed, Twitch's own verdict outranks
//! log lines, and only evidence a redeploy can fix leads to one).

use crate::config::Config;
use crate::probes::freshness::age_text;
use crate::probes::logscan::Signature;
use crate::probes::twitch::TokenCheck;
use crate::report::links::aws_cli;
use crate::report::Playbook;

use super::triage::Triage;
use super::AlarmKind;

/// A deployment this close before the alarm makes the alarm deploy-related (RUNBOOK §2.5).
const DEPLOY_RELATED_SECS: i64 = 60 * 60;

/// What the responder will do.
pub enum Plan {
    Redeploy { why: String },
    Rollback { why: String },
    Escalate { why: String, steps: Vec<String> },
}

type Decision = (Playbook, Plan);

/// The evidence the rules read, counted once.
struct Signals<'a> {
    kind: AlarmKind,
    t: &'a Triage,
    token: Option<&'a TokenCheck>,
    alarm_at: i64,
    cfg: &'a Config,
    /// Playbook B when the logs point at Twitch or discovery, else A.
    playbook: Playbook,
    token_rejected: usize,
    /// Tasks started by a deployment older than the newest secret change still hold the old value.
    predates_secret: bool,
}

impl<'a> Signals<'a> {
    fn read(
        kind: AlarmKind,
        t: &'a Triage,
        token: Option<&'a TokenCheck>,
        alarm_at: i64,
        cfg: &'a Config,
    ) -> Self {
        let token_rejected = t.count(Signature::AuthFailed) + t.count(Signature::TokenRejected);
        let discovery = t.count(Signature::ChannelDiscovery);
        let playbook = if discovery > 0 || token_rejected > 0 || kind == AlarmKind::ErrorSpike {
            Playbook::ChannelDiscovery
        } else {
            Playbook::NoNewSnapshots
        };
        let predates_secret = match (t.deployed_at, &t.secret_changed) {
            (Some(dep), Some((changed, _))) => dep < *changed,
            _ => false,
        };
        Self {
            kind,
            t,
            token,
            alarm_at,
            cfg,
            playbook,
            token_rejected,
            predates_secret,
        }
    }

    /// How many times the logs show any of `signatures`; `None` when they never do.
    fn seen(&self, signatures: &[Signature]) -> Option<usize> {
        let n: usize = signatures.iter().map(|sig| self.t.count(*sig)).sum();
        (n > 0).then_some(n)
    }

    fn escalate(&self, why: String, steps: Vec<String>) -> Option<Decision> {
        Some((self.playbook, Plan::Escalate { why, steps }))
    }

    fn redeploy(&self, why: String) -> Option<Decision> {
        Some((self.playbook, Plan::Redeploy { why }))
    }

    fn rotate_steps(&self) -> Vec<String> {
        let oauth = &self.cfg.oauth_secret_id;
        vec![
            format!("rotate {oauth}: {} (bare token, no 'oauth:' prefix)", aws_cli(self.cfg, &format!("secretsmanager update-secret --secret-id {oauth} --secret-string '<new token>'"))),
            "Autoheal redeploys the collector when it sees the change (RUNBOOK §5)".into(),
        ]
    }
}

/// The rules, strongest evidence first: what the collector itself says (its log, Twitch's own
/// verdict, S3's refusal) outranks the timing of a release.
const RULES: [fn(&Signals) -> Option<Decision>; 11] = [
    unreadable_log,
    configuration_problem,
    twitch_rejects_token,
    auth_failures_in_logs,
    client_id_mismatch,
    s3_denied,
    deploy_related,
    discovery_failing,
    tasks_predate_secret,
    stalled_cycle,
    busy_without_saving,
];

pub fn decide(
    kind: AlarmKind,
    t: &Triage,
    token: Option<&TokenCheck>,
    alarm_at: i64,
    cfg: &Config,
) -> (Playbook, Plan) {
    let s = Signals::read(kind, t, token, alarm_at, cfg);
    RULES
        .iter()
        .find_map(|rule| rule(&s))
        .unwrap_or_else(|| nothing_a_redeploy_fixes(&s))
}

/// The collector's log is the evidence for every decision below; without it, do not guess.
fn unreadable_log(s: &Signals) -> Option<Decision> {
    let err =
        s.t.collector()
            .and_then(|g| g.error.as_ref())?
            .detail
            .clone();
    s.escalate(
        format!("the collector's log could not be read ({err}), so the cause cannot be judged"),
        vec![format!(
            "Read {} by hand (RUNBOOK §2.3)",
            s.cfg.collector_log_group
        )],
    )
}

fn configuration_problem(s: &Signals) -> Option<Decision> {
    if s.t.secret_problems.is_empty() && s.t.env_problems.is_empty() {
        return None;
    }
    let mut p = s.t.secret_problems.clone();
    p.extend(s.t.env_problems.clone());
    s.escalate(
        format!("configuration problem: {}", p.join("; ")),
        vec![
            "Restore the missing secret or setting (RUNBOOK §6 A/B), then force a new deployment"
                .into(),
        ],
    )
}

fn deploy_related(s: &Signals) -> Option<Decision> {
    // Autoheal's own forced redeploy is not a release.
    if s.t.own_deployment {
        return None;
    }
    let dep = s.t.deployed_at?;
    let recent = s.alarm_at - dep <= DEPLOY_RELATED_SECS && s.alarm_at >= dep;
    if !recent || s.token_rejected > 0 || s.predates_secret {
        return None;
    }
    Some((
        Playbook::Rollback,
        Plan::Rollback {
            why: format!(
                "deploy-related: the collector's current deployment started {} before the alarm",
                age_text(s.alarm_at - dep)
            ),
        },
    ))
}

/// Twitch's own answer outranks log evidence: a rejected token is never "fixed" by a restart.
fn twitch_rejects_token(s: &Signals) -> Option<Decision> {
    let oauth = &s.cfg.oauth_secret_id;
    let why = match s.token {
        Some(TokenCheck::Rejected { status }) => format!("Twitch rejects the OAuth token in {oauth} (validate answered HTTP {status}); redeploying would start tasks with the same token"),
        Some(TokenCheck::Unusable(why)) => format!("the OAuth token in {oauth} cannot work as stored: {why}; redeploying would start tasks with the same value"),
        _ => return None,
    };
    Some((
        Playbook::ChannelDiscovery,
        Plan::Escalate {
            why,
            steps: s.rotate_steps(),
        },
    ))
}

fn auth_failures_in_logs(s: &Signals) -> Option<Decision> {
    let n = s.token_rejected;
    if n == 0 && s.t.count(Signature::VodAuth) == 0 {
        return None;
    }
    let oauth = &s.cfg.oauth_secret_id;
    if s.predates_secret {
        return s.redeploy(format!("Twitch rejects the token the running tasks hold ({n} auth failures), and {oauth} changed after they started: a new deployment picks up the new value"));
    }
    if matches!(s.token, Some(TokenCheck::Valid { .. })) {
        return s.escalate(
            format!("the logs show {n} auth failures, yet Twitch accepts the stored token now and the tasks started after its last change: check the client id and the token's scopes"),
            vec![format!("Compare {} with the token's client id (RUNBOOK §6 B)", s.cfg.client_id_secret_id)],
        );
    }
    s.escalate(
        format!("Twitch rejects the OAuth token ({n} auth failures in the logs); redeploying would start tasks with the same token"),
        s.rotate_steps(),
    )
}

fn client_id_mismatch(s: &Signals) -> Option<Decision> {
    let n = s.seen(&[Signature::ClientRejected])?;
    s.escalate(
        format!("Twitch rejects the request with HTTP 400/403 ({n} times): client id and token do not match"),
        vec![format!(
            "Check {} and {} belong to the same Twitch application (RUNBOOK §6 B)",
            s.cfg.client_id_secret_id, s.cfg.oauth_secret_id
        )],
    )
}

fn s3_denied(s: &Signals) -> Option<Decision> {
    let n = s.seen(&[Signature::S3AccessDenied, Signature::UploadFailed])?;
    s.escalate(
        format!("the collector cannot write to S3 ({n} access-denied or upload failures); a redeploy does not change IAM"),
        vec!["Check the collector task role's S3 policy: HeadBucket needs s3:ListBucket without a prefix condition (VIEWERATLAS.md §8, defect 1)".into()],
    )
}

fn discovery_failing(s: &Signals) -> Option<Decision> {
    let n = s.seen(&[Signature::ChannelDiscovery])?;
    s.escalate(
        format!("channel discovery keeps failing ({n} ChannelDiscoveryError) without an auth error: likely the outbound network path or Twitch itself"),
        vec!["Verify the outbound network path from the ECS tasks (subnet route, NAT or public IP) (RUNBOOK §6 B)".into()],
    )
}

fn tasks_predate_secret(s: &Signals) -> Option<Decision> {
    if !s.predates_secret {
        return None;
    }
    s.redeploy("the running tasks started before the latest Twitch secret change".into())
}

/// A hung cycle (VIEWERATLAS.md §8, defect 2): the process runs, and its log went silent.
fn stalled_cycle(s: &Signals) -> Option<Decision> {
    let running = s.t.service.as_ref().map(|x| x.running_count()).unwrap_or(0);
    if s.kind != AlarmKind::SnapshotStalled || running == 0 {
        return None;
    }
    let g = s.t.collector()?;
    // Any line in the window is activity: not the silence the runbook's evidence describes.
    if g.events > 0 || g.failures() > 0 {
        return None;
    }
    let last = g
        .last_line
        .as_ref()
        .map(|(_, l)| l.clone())
        .unwrap_or_else(|| "no log lines at all".into());
    s.redeploy(format!("the collector runs but has stalled: no 'Saved:' and no errors in the window (last line: {last}); a restart clears a hung cycle (VIEWERATLAS.md §8, defect 2)"))
}

/// The collector is active but saved nothing: a healthy collector can go hours without saving
/// (one snapshot per channel per UTC day, VIEWERATLAS.md §2 and §5), so this is not a hang.
fn busy_without_saving(s: &Signals) -> Option<Decision> {
    let g = s.t.collector()?;
    if s.kind != AlarmKind::SnapshotStalled || g.events == 0 || g.count(Signature::Saved) > 0 {
        return None;
    }
    let last = g
        .last_line
        .as_ref()
        .map(|(_, l)| l.clone())
        .unwrap_or_default();
    s.escalate(
        format!("the collector is active ({} log lines in the window, latest: {last}) but saved no snapshot; a healthy collector can go hours without saving (daily dedup), so a restart is not justified", g.events),
        vec![format!("Check whether every channel was already collected today (dedup) before acting; RUNBOOK §6 A. {} is the log to read", s.cfg.collector_log_group)],
    )
}

fn nothing_a_redeploy_fixes(s: &Signals) -> Decision {
    let why = if s.kind == AlarmKind::Unavailable && !s.t.stopped.is_empty() {
        format!(
            "the collector is not running; stopped tasks say: {}",
            s.t.stopped.join("; ")
        )
    } else {
        "triage found no cause a redeploy would fix".to_string()
    };
    let step = format!(
        "Follow {} with the evidence above",
        s.playbook.runbook_section()
    );
    (
        s.playbook,
        Plan::Escalate {
            why,
            steps: vec![step],
        },
    )
}
