//! The safety layer. Every mutating AWS call Autoheal makes goes through [`Guard::act`], which
//! applies, in order:
//!
//! 1. policy: the playbook is allowed and the report-only switch is off;
//! 2. idempotency: one claim per (change, action, target) in the ledger; copies of the same event
//!    find the claim and report `ignored` (duplicate), a retry after a crash resumes instead of
//!    repeating;
//! 3. a re-check of live state just before acting (alarm still in ALARM, no ECS rollout under way,
//!    not already done, target exists);
//! 4. cooldowns, caps and loop detection per target, reserved atomically in the ledger so that
//!    concurrent invocations for different events cannot both act;
//! 5. dry run: everything above is evaluated read-only and the action is reported as `planned`.
//!
//! Every decision (done, planned, skipped, failed) is written to the ledger with its evidence.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use crate::aws::Aws;
use crate::clock::rfc3339;
use crate::config::Config;
use crate::ledger::{Created, Decision, Ledger, LedgerError};
use crate::report::{Action, ActionStatus, Playbook, TriggerRef};

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
    fn apply(&self) -> impl std::future::Future<Output = Result<String, String>> + Send;
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done { result: String },
    Planned,
    Held(Hold),
    Failed { error: String },
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

pub struct Guard<'a> {
    cfg: &'a Config,
    ledger: Ledger,
    trigger: TriggerRef,
    dry_run: bool,
    now: i64,
    seq: AtomicU32,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub verdict: Verdict,
    pub action: Action,
}

fn claim_key(change_id: &str, kind: &str, target: &str) -> String {
    format!("{change_id}--{kind}--{target}")
}

impl<'a> Guard<'a> {
    pub fn new(
        cfg: &'a Config,
        s3: aws_sdk_s3::Client,
        trigger: TriggerRef,
        dry_run: bool,
        now: i64,
    ) -> Self {
        Self {
            cfg,
            ledger: Ledger::new(s3, &cfg.bucket, &cfg.ledger_prefix),
            trigger,
            dry_run,
            now,
            seq: AtomicU32::new(0),
        }
    }

    /// The guard of a run starting now, with its ledger in the configured bucket.
    pub fn for_run(cfg: &'a Config, aws: &Aws, trigger: TriggerRef, dry_run: bool) -> Self {
        Self::new(
            cfg,
            aws.s3().clone(),
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

    /// Decides about and, if every rail allows, performs one mutation.
    pub async fn act<M: Mutation + Sync>(&self, intent: &Intent, m: &M) -> Outcome {
        let target = m.target();
        let kind = m.kind();
        let out = match self.decide_and_act(intent, m, &target, kind).await {
            Ok(v) => v,
            Err(e) => Verdict::Failed {
                error: e.to_string(),
            },
        };
        let (status, detail) = describe(&out, intent, self.cfg);
        let action = Action {
            kind: kind.to_string(),
            target: target.clone(),
            status,
            detail: detail.clone(),
        };
        if !self.dry_run {
            let result = match &out {
                Verdict::Done { result } => Some(result.clone()),
                _ => None,
            };
            if let Err(e) = self
                .record(intent, kind, &target, status, &detail, result)
                .await
            {
                tracing::error!(error = %e, "decision could not be written to the ledger");
                // An action that happened must never go unrecorded without saying so.
                let mut action = action;
                action
                    .detail
                    .push_str(&format!(" [ledger write failed: {e}]"));
                return Outcome {
                    verdict: out,
                    action,
                };
            }
        }
        Outcome {
            verdict: out,
            action,
        }
    }

    async fn record(
        &self,
        intent: &Intent,
        kind: &str,
        target: &str,
        status: ActionStatus,
        detail: &str,
        result: Option<String>,
    ) -> Result<String, LedgerError> {
        let at_ms = crate::clock::now_millis();
        let (at, at_text) = Decision::stamp(at_ms);
        let status = serde_json::to_value(status)
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
            action: kind.to_string(),
            target: target.to_string(),
            status,
            reason: detail.to_string(),
            evidence: intent.evidence.clone(),
            result,
        };
        self.ledger.record_decision(&d).await
    }

    async fn decide_and_act<M: Mutation + Sync>(
        &self,
        intent: &Intent,
        m: &M,
        target: &str,
        kind: &str,
    ) -> Result<Verdict, LedgerError> {
        if !self.cfg.allowed_playbooks.contains(&intent.playbook) {
            return Ok(Verdict::Held(Hold::Policy {
                reason: format!(
                    "playbook {} is not in AUTOHEAL_ALLOWED_PLAYBOOKS",
                    intent.playbook.name()
                ),
            }));
        }
        if self.cfg.report_only && !self.dry_run {
            return Ok(Verdict::Held(Hold::Policy {
                reason: "AUTOHEAL_REPORT_ONLY is on: Autoheal reports, a human acts".into(),
            }));
        }

        let claim_name = self
            .ledger
            .key("claims", &claim_key(&intent.change_id, kind, target));
        let history_name = self.ledger.key("targets", target);

        if self.dry_run {
            // Evaluate every rail read-only; write nothing.
            if let Some(c) = self.ledger.get::<Claim>(&claim_name).await? {
                return Ok(Verdict::Held(Hold::Duplicate {
                    previous: summarize_claim(&c.value),
                }));
            }
            if let Err(reason) = m.recheck().await {
                return Ok(Verdict::Held(Hold::Blocked { reason }));
            }
            let history = self
                .ledger
                .get::<TargetHistory>(&history_name)
                .await?
                .map(|v| v.value)
                .unwrap_or_default();
            if let Some(hold) = self.rails(&history, intent, kind) {
                return Ok(Verdict::Held(hold));
            }
            return Ok(Verdict::Planned);
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
        // The claim and the live re-check are independent, so they are asked together: one round
        // trip, and the state is read no earlier before acting than when it followed the claim. A
        // duplicate's re-check is read and dropped.
        let (created, live) = tokio::join!(self.ledger.create(&claim_name, &claim), m.recheck());
        let (claim_etag, live) = match created? {
            Created::Won(etag) => (etag, live),
            Created::Exists(existing) => {
                let c = &existing.value;
                let stale = c.status == "claimed" && self.now - c.claimed_at > STALE_CLAIM_SECS;
                if !stale {
                    return Ok(Verdict::Held(Hold::Duplicate {
                        previous: summarize_claim(c),
                    }));
                }
                // The invocation that claimed this died mid-way. Resume: find out whether it
                // acted before repeating anything.
                let mut taken = c.clone();
                taken.claimed_at = self.now;
                let Some(etag) = self
                    .ledger
                    .put_if(&claim_name, &taken, Some(&existing.etag))
                    .await?
                else {
                    return Ok(Verdict::Held(Hold::Duplicate {
                        previous: "another retry took over this claim".into(),
                    }));
                };
                if let Some(result) = m.already_applied(c.claimed_at).await {
                    self.finish_claim(
                        &claim_name,
                        &taken,
                        &etag,
                        "done",
                        Some(result.clone()),
                        None,
                    )
                    .await?;
                    return Ok(Verdict::Done {
                        result: format!("{result} (resumed: the earlier attempt had acted)"),
                    });
                }
                // Read again: the state read with the claim predates the takeover.
                (etag, m.recheck().await)
            }
        };

        if let Err(reason) = live {
            self.finish_claim(
                &claim_name,
                &claim,
                &claim_etag,
                "held",
                None,
                Some(reason.clone()),
            )
            .await?;
            return Ok(Verdict::Held(Hold::Blocked { reason }));
        }

        // Reserve the slot atomically: the rails are evaluated against the latest history and the
        // reservation lands only if nobody changed it meanwhile.
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
            .update::<TargetHistory, _>(&history_name, |h| {
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
            .await?;
        if let Some(hold) = hold {
            let reason = describe_hold(&hold, self.cfg);
            self.finish_claim(&claim_name, &claim, &claim_etag, "held", None, Some(reason))
                .await?;
            return Ok(Verdict::Held(hold));
        }

        match m.apply().await {
            Ok(result) => {
                self.finish_claim(
                    &claim_name,
                    &claim,
                    &claim_etag,
                    "done",
                    Some(result.clone()),
                    None,
                )
                .await?;
                let r = result.clone();
                let change = intent.change_id.clone();
                self.ledger
                    .update::<TargetHistory, _>(&history_name, |h| {
                        if let Some(e) = h
                            .actions
                            .iter_mut()
                            .rev()
                            .find(|e| e.change_id == change && e.result.is_none())
                        {
                            e.result = Some(r.clone());
                        }
                    })
                    .await?;
                Ok(Verdict::Done { result })
            }
            Err(error) => {
                self.finish_claim(
                    &claim_name,
                    &claim,
                    &claim_etag,
                    "failed",
                    None,
                    Some(error.clone()),
                )
                .await?;
                Ok(Verdict::Failed { error })
            }
        }
    }

    async fn finish_claim(
        &self,
        key: &str,
        claim: &Claim,
        etag: &str,
        status: &str,
        result: Option<String>,
        reason: Option<String>,
    ) -> Result<(), LedgerError> {
        let mut c = claim.clone();
        c.status = status.to_string();
        c.result = result;
        c.reason = reason;
        // Only this invocation holds the claim; a failed condition means a retry took it over,
        // and that retry will record its own ending.
        self.ledger.put_if(key, &c, Some(etag)).await?;
        Ok(())
    }

    /// Cooldown, cap and loop rules against a target's history.
    fn rails(&self, h: &TargetHistory, intent: &Intent, kind: &str) -> Option<Hold> {
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
        let day: Vec<&HistoryEntry> = h
            .actions
            .iter()
            .filter(|a| self.now - a.at < 86_400)
            .collect();
        if day.len() >= cfg.max_actions_per_day as usize {
            return Some(Hold::Cap {
                count: day.len(),
                history: lines(),
            });
        }
        let cooldown = cfg.cooldown_minutes as i64 * 60;
        if let Some(last) = h
            .actions
            .iter()
            .filter(|a| a.action == kind)
            .map(|a| a.at)
            .max()
        {
            if self.now - last < cooldown {
                return Some(Hold::Cooldown {
                    until: last + cooldown,
                });
            }
        }
        None
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
        Hold::Policy { reason } => reason.clone(),
    }
}

fn describe(v: &Verdict, intent: &Intent, cfg: &Config) -> (ActionStatus, String) {
    match v {
        Verdict::Done { result } => (ActionStatus::Done, format!("{}: {result}", intent.detail)),
        Verdict::Planned => (
            ActionStatus::Planned,
            format!("dry run: would {}", intent.detail),
        ),
        Verdict::Held(h) => (
            ActionStatus::Skipped,
            format!("not done ({}): {}", describe_hold(h, cfg), intent.detail),
        ),
        Verdict::Failed { error } => (
            ActionStatus::Failed,
            format!("{} failed: {error}", intent.detail),
        ),
    }
}
