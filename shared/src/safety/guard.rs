//! The guard. Every mutating AWS call Autoheal makes goes through [`Guard::act`], which runs these
//! stages in order and stops at the first that says no:
//!
//! 1. policy: the playbook is allowed, the report-only switch is off and no pause holds it (an
//!    operator's approval of a held decision is the human passing this stage);
//! 2. claim: one claim per (change, action, target) in the ledger (`claims.rs`); copies of the same
//!    event find it and report `ignored` (duplicate); a retry after the holder died takes it over,
//!    first asking AWS whether the holder had already acted;
//! 3. reserve: one action at a time per target, cooldowns across every kind of action, daily caps
//!    and loop detection (`history.rs`), reserved atomically in the ledger. A cooldown or an action
//!    in flight defers the action (`pending.rs`) instead of dropping it;
//! 4. live re-check just before acting, after reserving (alarm still in ALARM, no ECS rollout under
//!    way, not already done, target exists); a no gives the slot back;
//! 5. apply; an answer that never came is read back before anything is reported; the result is
//!    recorded on the claim and the target's history.
//!
//! In a dry run every stage is evaluated read-only and the action is reported as `planned`.
//! Every decision is written to the ledger with its evidence and the action itself, so it can be
//! approved, carried out later or verified exactly as recorded.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::clock::rfc3339;
use crate::config::Config;
use crate::deps::{Deps, Invocation};
use crate::report::{Action, ActionStatus, TriggerKind, TriggerRef};
use crate::safety::actions::{ActionSpec, Intent};
use crate::safety::claims::{self, Claim, ClaimStatus, Claimed, Held};
use crate::safety::deliveries;
use crate::safety::history::{self, Ask, HistoryEntry, Rail, TargetHistory};
use crate::safety::ledger::{decision_id, Decision, Ledger, LedgerError, Upserted, Versioned};
use crate::safety::mutations::MutationError;
use crate::safety::pause::{self, Pauses};
use crate::safety::pending::{self, PendingItem};

pub use crate::safety::operator::Operator;

/// Why the guard held an action back. Each maps to a report outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The same change was already handled (or is being handled) by another delivery: `ignored`.
    /// `announce`: that delivery made the change and its report is not known to have gone out,
    /// so this report states it (and is published, ignored or not).
    Duplicate { previous: String, announce: bool },
    /// An operator's request too soon after the last action on this target: `ignored`, with when
    /// it may be done (`--force` passes it).
    Cooldown { until: i64 },
    /// Too many actions on this target in 24 h: `escalated`.
    Cap { count: usize, history: Vec<String> },
    /// Fixes did not hold: `escalated`.
    Loop {
        relapses: usize,
        history: Vec<String>,
    },
    /// Live state says acting would be wrong or useless: `escalated`.
    Blocked { reason: String },
    /// Policy forbids acting (report-only or not allow-listed): `escalated`, a human decides.
    Policy { reason: String },
    /// An operator paused Autoheal (`autoheal pause`): `escalated`, a human decides.
    Paused { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The mutation was made. `ledger` says what could not be recorded afterwards (the mutation's
    /// result still stands; the next run on the target reconciles it).
    Done {
        result: String,
        ledger: Option<String>,
    },
    Planned,
    Held(Hold),
    /// Still needed, but a cooldown or another action on the target comes first: carried out by
    /// the first scheduled run after `until`.
    Deferred {
        until: i64,
        why: String,
    },
    /// The ledger could not be read or written before acting, so nothing was done.
    NotAttempted {
        error: String,
    },
    /// The call failed and reading back confirmed nothing changed. `transient`: a retry may work.
    Failed {
        error: String,
        transient: bool,
    },
    /// The call got no answer and reading back could not tell whether it was made.
    Unknown {
        error: String,
    },
}

impl Verdict {
    fn done(result: &str) -> Self {
        Verdict::Done {
            result: result.to_string(),
            ledger: None,
        }
    }

    /// Lambda should run the event again (it does, after about 1 and 3 minutes, when the run
    /// returns an error): nothing final was decided and trying again may help.
    pub fn worth_a_retry(&self) -> bool {
        matches!(
            self,
            Verdict::NotAttempted { .. }
                | Verdict::Unknown { .. }
                | Verdict::Failed {
                    transient: true,
                    ..
                }
        )
    }
}

/// The guard's answer about one intended action: its verdict, the action line for the report (with
/// its decision id: what `autoheal approve` takes), and the claim to mark reported once the report
/// is out.
#[derive(Debug, Clone)]
pub struct Guarded {
    pub verdict: Verdict,
    pub action: Action,
    pub claim: Option<String>,
}

/// Where one intended action stands after a stage: go on, or stop with this verdict.
type Stage<T> = Result<T, Verdict>;

/// A mutation made, whose ledger writes are still to come ([`Guard::record_made`]).
struct Made {
    held: Held,
    result: String,
    /// The target's history as the reservation left it.
    slot: Upserted<TargetHistory>,
}

pub struct Guard<'a> {
    deps: &'a Deps,
    ledger: Ledger,
    trigger: TriggerRef,
    inv: Invocation,
    now: i64,
    seq: AtomicU32,
    operator: Option<Operator>,
    /// What `--force` passed for the action being decided (for its record and report).
    forced: Mutex<Option<String>>,
    /// The pause record read ahead ([`Guard::read_ahead`]), for the first action's policy stage.
    pauses: Mutex<Option<Pauses>>,
}

impl<'a> Guard<'a> {
    /// The guard of a run starting now, with its ledger in the configured bucket.
    pub fn for_run(deps: &'a Deps, trigger: TriggerRef, inv: Invocation) -> Self {
        Self {
            deps,
            ledger: deps.ledger(),
            trigger,
            inv,
            now: crate::clock::now_epoch(),
            seq: AtomicU32::new(0),
            operator: None,
            forced: Mutex::new(None),
            pauses: Mutex::new(None),
        }
    }

    /// Reads the pause record now, for the policy stage of the run's first action: a playbook
    /// starts this with its own first reads, so the stage does not wait one round trip for it
    /// after them. Nothing in a dry run (which applies no pause); a failed read is made again by
    /// the policy stage, which then stops on its error as before.
    pub async fn read_ahead(&self) {
        if self.inv.dry_run {
            return;
        }
        match pause::read(&self.ledger).await {
            Ok(p) => {
                if let Ok(mut slot) = self.pauses.lock() {
                    *slot = Some(p);
                }
            }
            Err(e) => tracing::debug!(error = %e, "pause record not read ahead; read when acting"),
        }
    }

    /// A guard for an operator's command: who asked, why, whether `--force` was given, and the
    /// decision they approve.
    pub fn with_operator(mut self, operator: Operator) -> Self {
        self.operator = Some(operator);
        self
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    pub fn dry_run(&self) -> bool {
        self.inv.dry_run
    }

    pub fn config(&self) -> &Config {
        &self.deps.config
    }

    /// Decides about and, if every rail allows, performs one action.
    pub async fn act(&self, intent: &Intent, spec: &ActionSpec) -> Guarded {
        let target = spec.target();
        let key = claims::claim_name(&intent.change_id, spec.kind(), &target);
        // Boxed: the stages' concurrent reads and writes make a large future (2 MiB stacks).
        let (mut verdict, made) = match Box::pin(self.decide_and_act(intent, spec, &key)).await {
            Ok(m) => (Verdict::done(&m.result), Some(m)),
            Err(v) => (v, None),
        };
        let forced = self.forced.lock().ok().and_then(|mut f| f.take());
        let (status, detail) = describe_forced(&verdict, intent, self.config(), forced.as_deref());
        let mut action = Action {
            kind: spec.kind().to_string(),
            target: target.clone(),
            status,
            detail,
            link: None,
            record: None,
            decision_id: None,
        };
        if !self.inv.dry_run {
            // The decision and a mutation's ledger writes are independent records: written together.
            let (recorded, unrecorded) = tokio::join!(
                Box::pin(self.record(intent, spec, &action, &verdict)),
                Box::pin(self.record_made(made, &target))
            );
            if let (Some(e), Verdict::Done { ledger, .. }) = (unrecorded, &mut verdict) {
                *ledger = Some(e);
                action.detail =
                    describe_forced(&verdict, intent, self.config(), forced.as_deref()).1;
            }
            self.link_record(&mut action, recorded);
        }
        // A change this report states as made: marked reported once the report is out.
        let announced = matches!(
            verdict,
            Verdict::Done { .. } | Verdict::Held(Hold::Duplicate { announce: true, .. })
        );
        let done = announced && !self.inv.dry_run;
        Guarded {
            verdict,
            action,
            claim: done.then(|| self.ledger.key("claims", &key)),
        }
    }

    /// The action line links its decision record, or says that it could not be written.
    fn link_record(&self, action: &mut Action, recorded: Result<String, LedgerError>) {
        match recorded {
            Ok(key) => {
                action.record = Some(crate::report::links::ledger_object(self.config(), &key));
                action.decision_id = Some(decision_id(&key));
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

    /// The stages, in order; the first to stop decides the verdict.
    async fn decide_and_act(&self, intent: &Intent, spec: &ActionSpec, name: &str) -> Stage<Made> {
        self.policy(intent).await?;
        let key = self.ledger.key("claims", name);
        let history_key = self.ledger.key("targets", &spec.target());
        if self.inv.dry_run {
            let (Ok(v) | Err(v)) = self.evaluate(intent, spec, &key, &history_key).await;
            return Err(v);
        }
        // The target's history and the event's delivery record are read while the claim is
        // written: neither read depends on the claim, and the writes made from them wait for it
        // (each is conditional on the version read, so a stale read only costs a retry).
        let delivery_key = deliveries::key(&self.ledger, &self.trigger.id);
        let (claimed, history, delivery) = tokio::join!(
            Box::pin(self.claim(intent, spec, &key)),
            self.ledger.get::<TargetHistory>(&history_key),
            self.ledger.get::<deliveries::Delivery>(&delivery_key)
        );
        let mut held = claimed?;
        // Noted under the event, so that a later delivery can tell what this one did; read by
        // nothing before the action, so it goes alongside the reservation.
        let (noted, reserved) = tokio::join!(
            deliveries::note(&self.ledger, &self.trigger.id, &key, delivery.ok()),
            self.reserve(intent, spec, &history_key, &mut held, history.ok())
        );
        let slot = reserved?;
        noted.map_err(not_attempted)?;
        if let Err(reason) = spec.recheck(self.deps).await {
            self.give_back(&history_key, &held, slot).await;
            self.end(&mut held, ClaimStatus::Held, None, Some(reason.clone()))
                .await?;
            return Err(Verdict::Held(Hold::Blocked { reason }));
        }
        self.apply(spec, held, slot).await
    }

    /// Stage 1: the allow-list, the report-only switch and any pause. An approval is a human's
    /// decision to pass exactly this stage.
    async fn policy(&self, intent: &Intent) -> Stage<()> {
        if self.operator.as_ref().is_some_and(|o| o.approves.is_some()) {
            return Ok(());
        }
        let cfg = self.config();
        if !cfg.allowed_playbooks.contains(&intent.playbook) {
            return Err(Verdict::Held(Hold::Policy {
                reason: format!(
                    "playbook {} is not in AUTOHEAL_ALLOWED_PLAYBOOKS",
                    intent.playbook.name()
                ),
            }));
        }
        if cfg.report_only && !self.inv.dry_run {
            return Err(Verdict::Held(Hold::Policy {
                reason: "AUTOHEAL_REPORT_ONLY is on: Autoheal reports, a human acts".into(),
            }));
        }
        // Like report-only, a pause is not applied in a dry run: the replay shows the plan.
        if !self.inv.dry_run {
            let read_ahead = self.pauses.lock().ok().and_then(|mut p| p.take());
            let all = match read_ahead {
                Some(all) => all,
                None => pause::read(&self.ledger).await.map_err(not_attempted)?,
            };
            if let Some(p) = pause::holding_in(all, intent.playbook, self.now) {
                return Err(Verdict::Held(Hold::Paused {
                    reason: format!("held: {}", p.describe()),
                }));
            }
        }
        Ok(())
    }

    /// A dry run: every rail evaluated read-only; nothing is written.
    async fn evaluate(
        &self,
        intent: &Intent,
        spec: &ActionSpec,
        key: &str,
        history_key: &str,
    ) -> Stage<Verdict> {
        let claim = self.ledger.get::<Claim>(key).await.map_err(not_attempted)?;
        if let Some(c) = claim.filter(|c| c.value.taken(self.now)) {
            return Err(Verdict::Held(Hold::Duplicate {
                previous: c.value.summary(),
                announce: false,
            }));
        }
        let history = self.ledger.get::<TargetHistory>(history_key).await;
        let history = history
            .map_err(not_attempted)?
            .map(|v| v.value)
            .unwrap_or_default();
        let ask = self.ask(intent, key, spec.kind());
        if let Some(rail) = history::rails(&history, &ask, self.config()) {
            return Err(self.rail_verdict(rail));
        }
        if let Err(reason) = spec.recheck(self.deps).await {
            return Err(Verdict::Held(Hold::Blocked { reason }));
        }
        Ok(Verdict::Planned)
    }

    /// Stage 2: hold the claim, or learn what another delivery did. A claim whose holder died is
    /// taken over only after asking AWS whether that holder had acted.
    async fn claim(&self, intent: &Intent, spec: &ActionSpec, key: &str) -> Stage<Held> {
        let fresh = Claim {
            change_id: intent.change_id.clone(),
            action: spec.kind().to_string(),
            target: spec.target(),
            playbook: intent.playbook.name().to_string(),
            status: ClaimStatus::Claimed,
            claimed_at: self.now,
            lease_until: self.inv.deadline,
            attempt: 1,
            result: None,
            reason: None,
            reported: false,
            spec: Some(spec.clone()),
        };
        let claimed = claims::claim(&self.ledger, key, fresh, self.now)
            .await
            .map_err(not_attempted)?;
        let (mut held, previous) = match claimed {
            Claimed::Acting { held, previous } => (held, previous),
            Claimed::Taken(c) => {
                return Err(Verdict::Held(Hold::Duplicate {
                    previous: c.summary(),
                    announce: c.status == ClaimStatus::Done && !c.reported,
                }))
            }
            Claimed::Unreported(held) => {
                let result = held.claim.result.clone().unwrap_or_default();
                return Err(Verdict::Done {
                    result: format!(
                        "{result} (made by an earlier delivery at {}, whose report was never sent)",
                        rfc3339(held.claim.claimed_at)
                    ),
                    ledger: None,
                });
            }
        };
        // The holder that died may have called AWS: ask before acting again.
        if let Some(prev) = previous.filter(|p| p.status == ClaimStatus::Claimed) {
            let tag = claims::tag(key);
            match spec.already_applied(self.deps, prev.claimed_at, &tag).await {
                Ok(Some(result)) => {
                    self.end(&mut held, ClaimStatus::Done, Some(result.clone()), None)
                        .await?;
                    return Err(Verdict::Done {
                        result: format!("{result} (resumed: the earlier attempt had acted)"),
                        ledger: None,
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    return Err(Verdict::Unknown {
                        error: format!(
                            "an earlier attempt may have acted and it cannot be read back: {e}"
                        ),
                    })
                }
            }
        }
        Ok(held)
    }

    /// Stage 3: reserve the target's slot atomically: the rails are evaluated against the latest
    /// history and the reservation lands only if nobody changed it meanwhile.
    async fn reserve(
        &self,
        intent: &Intent,
        spec: &ActionSpec,
        history_key: &str,
        held: &mut Held,
        read: Option<Option<Versioned<TargetHistory>>>,
    ) -> Stage<Upserted<TargetHistory>> {
        let entry = HistoryEntry {
            at: self.now,
            playbook: intent.playbook.name().to_string(),
            action: spec.kind().to_string(),
            change_id: intent.change_id.clone(),
            result: None,
            claim: Some(held.key.clone()),
            lease_until: self.inv.deadline,
        };
        let key = held.key.clone();
        let ask = self.ask(intent, &key, spec.kind());
        let mut rail = None;
        let mut passed = None;
        let slot = self
            .ledger
            .update_from::<TargetHistory, _>(history_key, read, |h| {
                passed = self.passed_by_force(h, &ask);
                rail = history::reserve(h, &entry, &ask, self.config());
            })
            .await
            .map_err(not_attempted)?;
        self.note_forced(passed);
        let Some(rail) = rail else {
            return Ok(slot);
        };
        // Held back anyway; if the action is no longer needed at all, that is the truer answer.
        let verdict = match spec.recheck(self.deps).await {
            Err(reason) => Verdict::Held(Hold::Blocked { reason }),
            Ok(()) => self.rail_verdict(rail),
        };
        match &verdict {
            Verdict::Deferred { until, why } => {
                self.defer(intent, spec, &held.key, *until, why).await?;
                self.end(held, ClaimStatus::Deferred, None, Some(why.clone()))
                    .await?;
            }
            _ => {
                let reason = describe_verdict(&verdict, self.config());
                self.end(held, ClaimStatus::Held, None, Some(reason))
                    .await?;
            }
        }
        Err(verdict)
    }

    /// Stage 5: the call. An answer that never came is read back: the report says what is true.
    async fn apply(
        &self,
        spec: &ActionSpec,
        mut held: Held,
        slot: Upserted<TargetHistory>,
    ) -> Stage<Made> {
        let tag = claims::tag(&held.key);
        let (error, transient) = match spec.apply(self.deps, &tag).await {
            Ok(result) => return Ok(Made { held, result, slot }),
            Err(MutationError::Refused(e)) => (e, false),
            Err(MutationError::Unknown(e)) => match spec
                .already_applied(self.deps, held.claim.claimed_at, &tag)
                .await
            {
                Ok(Some(result)) => {
                    let result = format!(
                        "{result} (the call's answer was lost: {e}; read back, it was made)"
                    );
                    return Ok(Made { held, result, slot });
                }
                Ok(None) => (format!("{e}; read back: it was not made"), true),
                // The claim stays `claimed`: after its lease a retry reads back again.
                Err(re) => {
                    return Err(Verdict::Unknown {
                        error: format!("{e}; reading back failed too: {re}"),
                    })
                }
            },
        };
        self.end(&mut held, ClaimStatus::Failed, None, Some(error.clone()))
            .await?;
        Err(Verdict::Failed { error, transient })
    }

    /// After the mutation: the claim is done, the slot gets its result and the pending queue
    /// drops the item, all at once (independent records; a run that dies between them leaves the
    /// claim `claimed` or the slot open, and the next delivery reads the target back and
    /// completes both, as after a run that dies right after the call). The slot is written on the
    /// version the reservation left, not read again. A failure here does not undo the mutation,
    /// so it is reported with it (the error), not as the action failing.
    async fn record_made(&self, made: Option<Made>, target: &str) -> Option<String> {
        let Made {
            mut held,
            result,
            slot,
        } = made?;
        let history_key = self.ledger.key("targets", target);
        let claim = held.key.clone();
        let done = Some(result.clone());
        let (finished, settled, unqueued) = tokio::join!(
            claims::finish(&self.ledger, &mut held, ClaimStatus::Done, done, None),
            self.ledger
                .update_from::<TargetHistory, _>(&history_key, slot.versioned(), |h| {
                    history::settle_slot(h, &claim, &result)
                }),
            pending::remove(&self.ledger, &claim)
        );
        let e = finished.and(settled.map(drop)).and(unqueued).err()?;
        Some(e.to_string())
    }

    /// Ends the held claim with `status`; a deferred claim that ends leaves the pending queue.
    async fn end(
        &self,
        held: &mut Held,
        status: ClaimStatus,
        result: Option<String>,
        reason: Option<String>,
    ) -> Stage<()> {
        claims::finish(&self.ledger, held, status, result, reason)
            .await
            .map_err(not_attempted)?;
        if status != ClaimStatus::Deferred {
            pending::remove(&self.ledger, &held.key)
                .await
                .map_err(not_attempted)?;
        }
        Ok(())
    }

    /// The slot of an action that was not made goes back, so it counts toward no cooldown.
    /// `slot`: the history as the reservation left it (not read again unless it changed since).
    async fn give_back(&self, history_key: &str, held: &Held, slot: Upserted<TargetHistory>) {
        let released = self
            .ledger
            .update_from::<TargetHistory, _>(history_key, slot.versioned(), |h| {
                history::release(h, &held.key)
            })
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "a reserved slot could not be given back");
        }
    }

    async fn defer(
        &self,
        intent: &Intent,
        spec: &ActionSpec,
        key: &str,
        until: i64,
        why: &str,
    ) -> Stage<()> {
        let item = PendingItem {
            claim: key.to_string(),
            intent: intent.clone(),
            spec: spec.clone(),
            trigger: self.trigger.clone(),
            not_before: until,
            reason: why.to_string(),
            deferred_at: self.now,
        };
        pending::defer(&self.ledger, item)
            .await
            .map_err(not_attempted)
    }

    fn ask<'k>(&self, intent: &Intent, key: &'k str, kind: &'k str) -> Ask<'k> {
        Ask {
            claim: key,
            kind,
            alarm_response: intent.alarm_response,
            force: self.operator.as_ref().is_some_and(|o| o.force),
            now: self.now,
        }
    }

    /// What an operator's `--force` passes here: the rail that would hold the action without it.
    fn passed_by_force(&self, h: &TargetHistory, ask: &Ask) -> Option<String> {
        let op = self.operator.as_ref().filter(|o| o.force)?;
        let unforced = Ask {
            force: false,
            ..*ask
        };
        let rail = history::rails(h, &unforced, self.config())?;
        if history::rails(h, ask, self.config()).is_some() {
            return None; // still held: force passed nothing
        }
        Some(format!(
            "--force by {} passed it ({}): {}",
            op.by,
            op.why.as_deref().unwrap_or("no reason given"),
            describe_verdict(&self.rail_verdict(rail), self.config())
        ))
    }

    fn note_forced(&self, passed: Option<String>) {
        if let Ok(mut f) = self.forced.lock() {
            *f = passed;
        }
    }

    fn rail_verdict(&self, rail: Rail) -> Verdict {
        let cfg = self.config();
        match rail {
            // An operator asked for it now: say when it may be done rather than doing it later
            // behind their back.
            Rail::Cooldown { until } if self.trigger.kind == TriggerKind::Manual => {
                Verdict::Held(Hold::Cooldown { until })
            }
            Rail::Cooldown { until } => Verdict::Deferred {
                until,
                why: format!(
                    "cooldown: the last action on this target was under {} min ago",
                    cfg.cooldown_minutes
                ),
            },
            Rail::InFlight { action, until } => Verdict::Deferred {
                until,
                why: format!("another action on this target is under way ({action})"),
            },
            Rail::Cap { count, history } => Verdict::Held(Hold::Cap { count, history }),
            Rail::Loop { relapses, history } => Verdict::Held(Hold::Loop { relapses, history }),
        }
    }

    /// Appends the decision about one action to the audit ledger, with the action itself.
    async fn record(
        &self,
        intent: &Intent,
        spec: &ActionSpec,
        action: &Action,
        verdict: &Verdict,
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
            result: match verdict {
                Verdict::Done { result, .. } => Some(result.clone()),
                _ => None,
            },
            intent: Some(intent.clone()),
            spec: Some(spec.clone()),
            operator: self.operator.clone(),
            approvable: matches!(
                verdict,
                Verdict::Held(Hold::Policy { .. } | Hold::Paused { .. })
            ),
            id: String::new(),
        };
        self.ledger.record_decision(&d).await
    }
}

/// Every ledger error before the mutation: nothing was changed.
fn not_attempted(e: LedgerError) -> Verdict {
    Verdict::NotAttempted {
        error: e.to_string(),
    }
}

pub fn describe_hold(h: &Hold, cfg: &Config) -> String {
    match h {
        Hold::Duplicate { previous, .. } => {
            format!("duplicate delivery of the same change: {previous}")
        }
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

/// Why an action was not made, in one phrase.
pub fn describe_verdict(v: &Verdict, cfg: &Config) -> String {
    match v {
        Verdict::Held(h) => describe_hold(h, cfg),
        Verdict::Deferred { until, why } => {
            format!("{why}; deferred until {}", rfc3339(*until))
        }
        Verdict::NotAttempted { error } => {
            format!("the audit ledger could not be reached, so nothing was changed ({error})")
        }
        Verdict::Failed { error, .. } => error.clone(),
        Verdict::Unknown { error } => format!("unknown whether it was made: {error}"),
        Verdict::Done { result, .. } => result.clone(),
        Verdict::Planned => "planned".into(),
    }
}

/// [`describe`], with what `--force` passed.
fn describe_forced(
    v: &Verdict,
    intent: &Intent,
    cfg: &Config,
    forced: Option<&str>,
) -> (ActionStatus, String) {
    let (status, mut detail) = describe(v, intent, cfg);
    if let Some(passed) = forced {
        detail.push_str(&format!(" [{passed}]"));
    }
    (status, detail)
}

fn describe(v: &Verdict, intent: &Intent, cfg: &Config) -> (ActionStatus, String) {
    let detail = &intent.detail;
    match v {
        Verdict::Done {
            result,
            ledger: None,
        } => (ActionStatus::Done, format!("{detail}: {result}")),
        Verdict::Done {
            result,
            ledger: Some(e),
        } => (
            ActionStatus::Done,
            format!(
                "{detail}: {result} (the audit ledger could not be updated afterwards: {e}; the next run reconciles it)"
            ),
        ),
        Verdict::Planned => (ActionStatus::Planned, format!("dry run: would {detail}")),
        Verdict::Deferred { .. } => (
            ActionStatus::Deferred,
            format!("not yet ({}): {detail}", describe_verdict(v, cfg)),
        ),
        Verdict::Held(_) | Verdict::NotAttempted { .. } => (
            ActionStatus::Skipped,
            format!("not done ({}): {detail}", describe_verdict(v, cfg)),
        ),
        Verdict::Failed { error, .. } => (ActionStatus::Failed, format!("{detail} failed: {error}")),
        Verdict::Unknown { error } => (
            ActionStatus::Failed,
            format!("{detail}: unknown whether it was made ({error})"),
        ),
    }
}
