//! The guard. Every mutating AWS call Autoheal makes goes through [`Guard::act`], which runs these
//! stages in order and stops at the first that says no:
//!
//! 1. policy: the playbook is allowed and the report-only switch is off;
//! 2. claim: one claim per (change, action, target) in the ledger; copies of the same event find
//!    the claim and report `ignored` (duplicate), a retry after a crash resumes instead of
//!    repeating;
//! 3. live re-check just before acting (alarm still in ALARM, no ECS rollout under way, not
//!    already done, target exists);
//! 4. reserve: cooldowns, caps and loop detection per target, reserved atomically in the ledger so
//!    that concurrent invocations for different events cannot both act;
//! 5. apply, then record the result on the claim and the target's history.
//!
//! In a dry run every stage is evaluated read-only and the action is reported as `planned`.
//! Every decision (done, planned, skipped, failed) is written to the ledger with its evidence.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::config::Config;
use crate::deps::Deps;
use crate::report::{Action, ActionStatus, Playbook, TriggerRef};
use crate::safety::ledger::{Created, Decision, Ledger, LedgerError, Replaced};
pub use crate::safety::operator::Operator;

/// Why a mutation call did not succeed, as far as the guard's next step goes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MutationError {
    /// AWS answered and refused (a 4xx, a RunTask failure): nothing was changed.
    #[error("{0}")]
    Refused(String),
    /// No answer, or a 5xx: the change may or may not have been made.
    #[error("{0}")]
    Unknown(String),
}

impl From<crate::aws::AwsError> for MutationError {
    fn from(e: crate::aws::AwsError) -> Self {
        if e.is(crate::aws::ErrorKind::Transient) {
            MutationError::Unknown(e.to_string())
        } else {
            MutationError::Refused(e.to_string())
        }
    }
}

/// One mutation, with the checks only it knows how to make.
pub trait Mutation {
    /// `force_new_deployment`, `update_service_task_definition`, … (CONTRACT §3 action kinds).
    fn kind(&self) -> &'static str;
    /// What is changed, stable across runs: `service/<cluster>/<name>`, `rule/<name>`, ….
    fn target(&self) -> String;
    /// Read live state just before acting. `Err` says why acting now would be wrong.
    fn recheck(&self) -> impl std::future::Future<Output = Result<(), String>> + Send;
    /// Did a previous attempt (one that crashed before recording its result) already do this
    /// after `since`? Returns its result (deployment id, task ARN, …).
    fn already_applied(
        &self,
        since: i64,
    ) -> impl std::future::Future<Output = Option<String>> + Send;
    /// Performs the change; returns what identifies it (deployment id, task ARN, …).
    fn apply(&self) -> impl std::future::Future<Output = Result<String, MutationError>> + Send;
}

/// Why the guard held an action back. Each maps to a report outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The same change was already handled (or is being handled) by another delivery: `ignored`.
    Duplicate { previous: String },
    /// Too soon after the last action on this target: `ignored`, with when it may act again.
    Cooldown { until: i64 },
    /// Too many actions on this target in 24 h: `escalated`.
    Cap { count: usize, history: Vec<String> },
    /// Fixes did not hold: `escalated`.
    Loop {
        relapses: usize,
        history: Vec<String>,
    },
    /// Live state says acting would be wrong or useless: `ignored` or `escalated` by playbook.
    Blocked { reason: String },
    /// Policy forbids acting (report-only or not allow-listed): `escalated`, a human decides.
    Policy { reason: String },
    /// An operator paused Autoheal (`autoheal pause`): `escalated`, a human decides.
    Paused { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The mutation was made. `ledger` says what could not be recorded afterwards (the mutation's
    /// result still stands; the next run that touches the record reconciles it).
    Done {
        result: String,
        ledger: Option<String>,
    },
    Planned,
    Held(Hold),
    /// The ledger could not be read or written before acting, so nothing was done.
    NotAttempted {
        error: String,
    },
    Failed {
        error: String,
    },
}

/// An intended action with the evidence behind it.
#[derive(Debug, Clone)]
pub struct Intent {
    pub playbook: Playbook,
    /// What identifies the change being remediated. The event id by default; a secret version,
    /// say, when several events describe one change.
    pub change_id: String,
    pub detail: String,
    pub evidence: Vec<String>,
    /// Responding to an alarm: an earlier fix on the same target that did not hold counts toward
    /// loop detection.
    pub alarm_response: bool,
}

/// The guard's answer about one intended action: its verdict and the action line for the report.
#[derive(Debug, Clone)]
pub struct Guarded {
    pub verdict: Verdict,
    pub action: Action,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetHistory {
    #[serde(default)]
    pub actions: Vec<HistoryEntry>,
    /// When an alarm came back after a fix, epoch seconds.
    #[serde(default)]
    pub relapses: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub playbook: String,
    pub action: String,
    pub change_id: String,
    #[serde(default)]
    pub result: Option<String>,
}

impl HistoryEntry {
    fn line(&self) -> String {
        format!(
            "{} {} by {} ({}){}",
            rfc3339(self.at),
            self.action,
            self.playbook,
            self.change_id,
            self.result
                .as_ref()
                .map(|r| format!(" → {r}"))
                .unwrap_or_default()
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub change_id: String,
    pub action: String,
    pub target: String,
    pub playbook: String,
    /// `claimed` while in flight, then `done`, `failed` or `held`.
    pub status: String,
    pub claimed_at: i64,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A claim older than this with no result belongs to an invocation that died (Lambda's timeout is
/// far shorter): a retry may take it over.
const STALE_CLAIM_SECS: i64 = 15 * 60;

/// The claim this invocation holds while it acts.
struct Held {
    key: String,
    claim: Claim,
    etag: String,
}

/// Where one intended action stands after a stage: go on, or stop with this verdict.
type Stage<T> = Result<T, Verdict>;

pub struct Guard<'a> {
    cfg: &'a Config,
    ledger: Ledger,
    trigger: TriggerRef,
    dry_run: bool,
    now: i64,
    seq: AtomicU32,
    operator: Option<Operator>,
    /// What `--force` passed in this run's last decision (for its record and report).
    forced: Mutex<Option<String>>,
}

fn claim_key(change_id: &str, kind: &str, target: &str) -> String {
    format!("{change_id}--{kind}--{target}")
}

impl<'a> Guard<'a> {
    pub fn new(
        cfg: &'a Config,
        ledger: Ledger,
        trigger: TriggerRef,
        dry_run: bool,
        now: i64,
    ) -> Self {
        Self {
            cfg,
            ledger,
            trigger,
            dry_run,
            now,
            seq: AtomicU32::new(0),
            operator: None,
            forced: Mutex::new(None),
        }
    }

    /// A guard for an operator's command: who asked, why, and whether `--force` was given.
    pub fn with_operator(mut self, operator: Operator) -> Self {
        self.operator = Some(operator);
        self
    }

    /// The guard of a run starting now, with its ledger in the configured bucket.
    pub fn for_run(deps: &'a Deps, trigger: TriggerRef, dry_run: bool) -> Self {
        Self::new(
            &deps.config,
            deps.ledger(),
            trigger,
            dry_run,
            crate::clock::now_epoch(),
        )
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn config(&self) -> &Config {
        self.cfg
    }

    /// Decides about and, if every rail allows, performs one mutation.
    pub async fn act<M: Mutation + Sync>(&self, intent: &Intent, m: &M) -> Guarded {
        let target = m.target();
        let kind = m.kind();
        let verdict = match self.decide_and_act(intent, m, &target, kind).await {
            Ok(v) | Err(v) => v,
        };
        let (status, mut detail) = describe(&verdict, intent, self.cfg);
        if let Some(passed) = self.forced.lock().ok().and_then(|mut f| f.take()) {
            detail.push_str(&format!(" [{passed}]"));
        }
        let mut action = Action {
            kind: kind.to_string(),
            target,
            status,
            detail,
            link: None,
            record: None,
        };
        if !self.dry_run {
            let result = match &verdict {
                Verdict::Done { result, .. } => Some(result.clone()),
                _ => None,
            };
            match self.record(intent, &action, result).await {
                Ok(key) => {
                    action.record = Some(crate::report::links::ledger_object(self.cfg, &key))
                }
                Err(e) => {
                    tracing::error!(error = %e, "decision could not be written to the ledger");
                    // An action that happened must never go unrecorded without saying so.
                    action
                        .detail
                        .push_str(&format!(" [ledger write failed: {e}]"));
                }
            }
        }
        Guarded { verdict, action }
    }

    /// The stages, in order; the first to stop decides the verdict.
    async fn decide_and_act<M: Mutation + Sync>(
        &self,
        intent: &Intent,
        m: &M,
        target: &str,
        kind: &str,
    ) -> Stage<Verdict> {
        self.policy(intent).await?;
        let claim_name = self
            .ledger
            .key("claims", &claim_key(&intent.change_id, kind, target));
        let history_name = self.ledger.key("targets", target);
        if self.dry_run {
            return self
                .evaluate(intent, m, &claim_name, &history_name, kind)
                .await;
        }
        let claim = Claim {
            change_id: intent.change_id.clone(),
            action: kind.to_string(),
            target: target.to_string(),
            playbook: intent.playbook.name().to_string(),
            status: "claimed".into(),
            claimed_at: self.now,
            result: None,
            reason: None,
        };
        let held = self.claim(m, claim_name, claim).await?;
        if let Err(reason) = m.recheck().await {
            self.finish_claim(&held, "held", None, Some(reason.clone()))
                .await
                .map_err(not_attempted)?;
            return Err(Verdict::Held(Hold::Blocked { reason }));
        }
        self.reserve(intent, kind, &history_name, &held).await?;
        match m.apply().await {
            Ok(result) => {
                let ledger = self
                    .record_success(&held, &history_name, intent, &result)
                    .await
                    .err()
                    .map(|e| e.to_string());
                Ok(Verdict::Done { result, ledger })
            }
            Err(error) => {
                let error = error.to_string();
                self.finish_claim(&held, "failed", None, Some(error.clone()))
                    .await
                    .map_err(not_attempted)?;
                Ok(Verdict::Failed { error })
            }
        }
    }

    /// Stage 1: the allow-list, the report-only switch and any pause. An approval is a human's
    /// decision to pass exactly this stage.
    async fn policy(&self, intent: &Intent) -> Stage<()> {
        if self.operator.as_ref().is_some_and(|o| o.approves.is_some()) {
            return Ok(());
        }
        if !self.cfg.allowed_playbooks.contains(&intent.playbook) {
            return Err(Verdict::Held(Hold::Policy {
                reason: format!(
                    "playbook {} is not in AUTOHEAL_ALLOWED_PLAYBOOKS",
                    intent.playbook.name()
                ),
            }));
        }
        if self.cfg.report_only && !self.dry_run {
            return Err(Verdict::Held(Hold::Policy {
                reason: "AUTOHEAL_REPORT_ONLY is on: Autoheal reports, a human acts".into(),
            }));
        }
        // Like report-only, a pause is not applied in a dry run: the replay shows the plan.
        if !self.dry_run {
            let pause = crate::safety::pause::holding(&self.ledger, intent.playbook, self.now);
            if let Some(p) = pause.await.map_err(not_attempted)? {
                return Err(Verdict::Held(Hold::Paused {
                    reason: format!("held: {}", p.describe()),
                }));
            }
        }
        Ok(())
    }

    /// A dry run: every rail evaluated read-only; nothing is written.
    async fn evaluate<M: Mutation + Sync>(
        &self,
        intent: &Intent,
        m: &M,
        claim_name: &str,
        history_name: &str,
        kind: &str,
    ) -> Stage<Verdict> {
        let claim = self.ledger.get::<Claim>(claim_name).await;
        if let Some(c) = claim.map_err(not_attempted)? {
            return Err(Verdict::Held(Hold::Duplicate {
                previous: summarize_claim(&c.value),
            }));
        }
        if let Err(reason) = m.recheck().await {
            return Err(Verdict::Held(Hold::Blocked { reason }));
        }
        let history = self.ledger.get::<TargetHistory>(history_name).await;
        let history = history
            .map_err(not_attempted)?
            .map(|v| v.value)
            .unwrap_or_default();
        match self.rails(&history, intent, kind) {
            Some(hold) => Err(Verdict::Held(hold)),
            None => Ok(Verdict::Planned),
        }
    }

    /// Stage 2: create the claim, or find whose it is. A claim left behind by an invocation that
    /// died is taken over, after checking whether that invocation had already acted.
    async fn claim<M: Mutation + Sync>(&self, m: &M, key: String, claim: Claim) -> Stage<Held> {
        let existing = match self.ledger.create(&key, &claim).await {
            Ok(Created::Won(etag)) => return Ok(Held { key, claim, etag }),
            Ok(Created::Exists(existing)) => existing,
            Err(e) => return Err(not_attempted(e)),
        };
        let c = &existing.value;
        let stale = c.status == "claimed" && self.now - c.claimed_at > STALE_CLAIM_SECS;
        if !stale {
            return Err(Verdict::Held(Hold::Duplicate {
                previous: summarize_claim(c),
            }));
        }
        let mut taken = c.clone();
        taken.claimed_at = self.now;
        let etag = match self.ledger.replace(&key, &taken, &existing.etag).await {
            Ok(Replaced::Done(etag)) => etag,
            Ok(Replaced::Superseded) => {
                return Err(Verdict::Held(Hold::Duplicate {
                    previous: "another retry took over this claim".into(),
                }))
            }
            Err(e) => return Err(not_attempted(e)),
        };
        let held = Held {
            key,
            claim: taken,
            etag,
        };
        if let Some(result) = m.already_applied(c.claimed_at).await {
            self.finish_claim(&held, "done", Some(result.clone()), None)
                .await
                .map_err(not_attempted)?;
            return Err(Verdict::Done {
                result: format!("{result} (resumed: the earlier attempt had acted)"),
                ledger: None,
            });
        }
        Ok(held)
    }

    /// Stage 4: reserve the slot atomically: the rails are evaluated against the latest history
    /// and the reservation lands only if nobody changed it meanwhile.
    async fn reserve(
        &self,
        intent: &Intent,
        kind: &str,
        history_name: &str,
        held: &Held,
    ) -> Stage<()> {
        let mut hold: Option<Hold> = None;
        let entry = HistoryEntry {
            at: self.now,
            playbook: intent.playbook.name().to_string(),
            action: kind.to_string(),
            change_id: intent.change_id.clone(),
            result: None,
        };
        let loop_window = self.cfg.loop_window_minutes as i64 * 60;
        self.ledger
            .update::<TargetHistory, _>(history_name, |h| {
                if intent.alarm_response && h.actions.iter().any(|a| self.now - a.at <= loop_window)
                {
                    h.relapses.push(self.now);
                }
                hold = self.rails(h, intent, kind);
                if hold.is_none() {
                    h.actions.push(entry.clone());
                }
                let keep = self.now - 7 * 86_400;
                h.actions.retain(|a| a.at >= keep);
                h.relapses.retain(|t| *t >= keep);
            })
            .await
            .map_err(not_attempted)?;
        let Some(hold) = hold else {
            return Ok(());
        };
        let reason = describe_hold(&hold, self.cfg);
        self.finish_claim(held, "held", None, Some(reason))
            .await
            .map_err(not_attempted)?;
        Err(Verdict::Held(hold))
    }

    /// After the mutation: the claim is done and the history entry gets its result. A failure here
    /// does not undo the mutation, so it is reported, not treated as the action failing.
    async fn record_success(
        &self,
        held: &Held,
        history_name: &str,
        intent: &Intent,
        result: &str,
    ) -> Result<(), LedgerError> {
        self.finish_claim(held, "done", Some(result.to_string()), None)
            .await?;
        let change = intent.change_id.clone();
        self.ledger
            .update::<TargetHistory, _>(history_name, |h| {
                if let Some(e) = h
                    .actions
                    .iter_mut()
                    .rev()
                    .find(|e| e.change_id == change && e.result.is_none())
                {
                    e.result = Some(result.to_string());
                }
            })
            .await?;
        Ok(())
    }

    async fn finish_claim(
        &self,
        held: &Held,
        status: &str,
        result: Option<String>,
        reason: Option<String>,
    ) -> Result<(), LedgerError> {
        let mut c = held.claim.clone();
        c.status = status.to_string();
        c.result = result;
        c.reason = reason;
        // Only this invocation holds the claim; `Superseded` means a retry took it over, and that
        // retry will record its own ending.
        self.ledger.replace(&held.key, &c, &held.etag).await?;
        Ok(())
    }

    /// Appends the decision about one action to the audit ledger.
    async fn record(
        &self,
        intent: &Intent,
        action: &Action,
        result: Option<String>,
    ) -> Result<String, LedgerError> {
        let at_ms = crate::clock::now_millis();
        let (at, at_text) = Decision::stamp(at_ms);
        let status = serde_json::to_value(action.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let d = Decision {
            at,
            at_ms,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            at_text,
            trigger_id: self.trigger.id.clone(),
            trigger_name: self.trigger.name.clone(),
            playbook: intent.playbook.name().to_string(),
            action: action.kind.clone(),
            target: action.target.clone(),
            status,
            reason: action.detail.clone(),
            evidence: intent.evidence.clone(),
            result,
            operator: self.operator.clone(),
        };
        self.ledger.record_decision(&d).await
    }

    /// Cooldown, cap and loop rules against a target's history; an operator's `--force` passes a
    /// cooldown or the cap (and the guard remembers which, for the record).
    fn rails(&self, h: &TargetHistory, intent: &Intent, kind: &str) -> Option<Hold> {
        let hold = self.unforced_rails(h, intent, kind);
        let op = self.operator.as_ref().filter(|o| o.force);
        match (hold, op) {
            (Some(h @ (Hold::Cooldown { .. } | Hold::Cap { .. })), Some(op)) => {
                let passed = format!(
                    "--force by {} passed it ({}): {}",
                    op.by,
                    op.why.as_deref().unwrap_or("no reason given"),
                    describe_hold(&h, self.cfg)
                );
                if let Ok(mut f) = self.forced.lock() {
                    *f = Some(passed);
                }
                None
            }
            (hold, _) => hold,
        }
    }

    fn unforced_rails(&self, h: &TargetHistory, intent: &Intent, kind: &str) -> Option<Hold> {
        let cfg = self.cfg;
        let window = cfg.loop_window_minutes as i64 * 60;
        let relapses = h
            .relapses
            .iter()
            .filter(|t| self.now - **t <= window)
            .count();
        let lines = || {
            h.actions
                .iter()
                .rev()
                .take(10)
                .map(HistoryEntry::line)
                .collect::<Vec<_>>()
        };
        if intent.alarm_response && relapses >= cfg.loop_max_failed_fixes as usize {
            return Some(Hold::Loop {
                relapses,
                history: lines(),
            });
        }
        let day = h
            .actions
            .iter()
            .filter(|a| self.now - a.at < 86_400)
            .count();
        if day >= cfg.max_actions_per_day as usize {
            return Some(Hold::Cap {
                count: day,
                history: lines(),
            });
        }
        let cooldown = cfg.cooldown_minutes as i64 * 60;
        let last = h
            .actions
            .iter()
            .filter(|a| a.action == kind)
            .map(|a| a.at)
            .max();
        match last {
            Some(last) if self.now - last < cooldown => Some(Hold::Cooldown {
                until: last + cooldown,
            }),
            _ => None,
        }
    }
}

/// Every ledger error before the mutation: nothing was changed.
fn not_attempted(e: LedgerError) -> Verdict {
    Verdict::NotAttempted {
        error: e.to_string(),
    }
}

fn summarize_claim(c: &Claim) -> String {
    match (&c.status[..], &c.result) {
        ("done", Some(r)) => format!("already done at {}: {r}", rfc3339(c.claimed_at)),
        ("claimed", _) => format!(
            "another invocation claimed it at {} and is acting",
            rfc3339(c.claimed_at)
        ),
        (s, _) => format!(
            "already handled at {} ({s}{})",
            rfc3339(c.claimed_at),
            c.reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
    }
}

pub fn describe_hold(h: &Hold, cfg: &Config) -> String {
    match h {
        Hold::Duplicate { previous } => format!("duplicate delivery of the same change: {previous}"),
        Hold::Cooldown { until } => format!(
            "cooldown: the last action on this target was under {} min ago; next allowed at {}",
            cfg.cooldown_minutes,
            rfc3339(*until)
        ),
        Hold::Cap { count, history } => format!(
            "cap reached: {count} automated actions on this target in 24 h (max {}); recent: {}",
            cfg.max_actions_per_day,
            history.join(" | ")
        ),
        Hold::Loop { relapses, history } => format!(
            "loop: the alarm came back {relapses} times within {} min of a fix; automation stops for this target; recent: {}",
            cfg.loop_window_minutes,
            history.join(" | ")
        ),
        Hold::Blocked { reason } => format!("live state: {reason}"),
        Hold::Policy { reason } | Hold::Paused { reason } => reason.clone(),
    }
}

fn describe(v: &Verdict, intent: &Intent, cfg: &Config) -> (ActionStatus, String) {
    match v {
        Verdict::Done {
            result,
            ledger: None,
        } => (ActionStatus::Done, format!("{}: {result}", intent.detail)),
        Verdict::Done {
            result,
            ledger: Some(e),
        } => (
            ActionStatus::Done,
            format!(
                "{}: {result} (the audit ledger could not be updated afterwards: {e}; the next run reconciles it)",
                intent.detail
            ),
        ),
        Verdict::Planned => (
            ActionStatus::Planned,
            format!("dry run: would {}", intent.detail),
        ),
        Verdict::Held(h) => (
            ActionStatus::Skipped,
            format!("not done ({}): {}", describe_hold(h, cfg), intent.detail),
        ),
        Verdict::NotAttempted { error } => (
            ActionStatus::Skipped,
            format!(
                "not done: the audit ledger could not be reached, so nothing was changed ({error}): {}",
                intent.detail
            ),
        ),
        Verdict::Failed { error } => (
            ActionStatus::Failed,
            format!("{} failed: {error}", intent.detail),
        ),
    }
}
