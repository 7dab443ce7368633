//! Per-target history: what Autoheal did to one service, rule or alarm, for cooldowns, caps, loop
//! detection and "one mutation in flight per target". The rules are pure functions of the history,
//! so each can be tested alone; the guard reserves a slot atomically in the ledger.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::config::Config;

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
    /// The claim that reserved this slot: its own retries do not count against it.
    #[serde(default)]
    pub claim: Option<String>,
    /// Until when the reserving run may still be acting (0: unknown, older records).
    #[serde(default)]
    pub lease_until: i64,
}

impl HistoryEntry {
    pub fn line(&self) -> String {
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

    /// Reserved, no result yet, and the reserving run may still be alive.
    fn in_flight(&self, now: i64) -> bool {
        self.result.is_none() && now <= self.lease_until
    }
}

/// Why a rail holds an action back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rail {
    /// Another action on this target is under way: wait for it.
    InFlight { action: String, until: i64 },
    /// Too soon after the last action on this target (of any kind).
    Cooldown { until: i64 },
    /// Too many actions on this target in 24 h.
    Cap { count: usize, history: Vec<String> },
    /// Fixes did not hold.
    Loop {
        relapses: usize,
        history: Vec<String>,
    },
}

/// What is asked of the rails.
pub struct Ask<'a> {
    pub claim: &'a str,
    /// The action kind: cooldowns hold back actions of the same group on the target.
    pub kind: &'a str,
    pub alarm_response: bool,
    /// An operator's `--force`: passes cooldown and cap (never a loop, never one in flight).
    pub force: bool,
    pub now: i64,
}

/// Actions that cool each other down. A service gets one change at a time whatever its kind (a
/// rotation redeploy and a rollback must not both go ahead); a schedule rule's disable, enable and
/// manual run are different acts (a failing run is disabled right after its rerun; a rule a
/// verified run re-enabled may have been disabled minutes before).
fn cooldown_group(kind: &str) -> &str {
    match kind {
        "force_new_deployment" | "update_service_task_definition" => "service",
        other => other,
    }
}

/// Loop, in-flight, cap and cooldown rules against a target's history, in that order.
pub fn rails(h: &TargetHistory, ask: &Ask, cfg: &Config) -> Option<Rail> {
    let now = ask.now;
    let window = cfg.loop_window_minutes as i64 * 60;
    let relapses = h.relapses.iter().filter(|t| now - **t <= window).count();
    let lines = || {
        h.actions
            .iter()
            .rev()
            .take(10)
            .map(HistoryEntry::line)
            .collect::<Vec<_>>()
    };
    if ask.alarm_response && relapses >= cfg.loop_max_failed_fixes as usize {
        return Some(Rail::Loop {
            relapses,
            history: lines(),
        });
    }
    // This claim's own earlier reservation (a retry after a crash) is not another action.
    let others: Vec<&HistoryEntry> = h
        .actions
        .iter()
        .filter(|a| a.claim.as_deref() != Some(ask.claim))
        .collect();
    if let Some(busy) = others.iter().find(|a| a.in_flight(now)) {
        return Some(Rail::InFlight {
            action: busy.line(),
            until: busy.lease_until,
        });
    }
    if ask.force {
        return None;
    }
    let day = others.iter().filter(|a| now - a.at < 86_400).count();
    if day >= cfg.max_actions_per_day as usize {
        return Some(Rail::Cap {
            count: day,
            history: lines(),
        });
    }
    let cooldown = cfg.cooldown_minutes as i64 * 60;
    let group = cooldown_group(ask.kind);
    let same = others.iter().filter(|a| cooldown_group(&a.action) == group);
    match same.map(|a| a.at).max() {
        Some(last) if now - last < cooldown => Some(Rail::Cooldown {
            until: last + cooldown,
        }),
        _ => None,
    }
}

/// Reserves a slot for `entry` unless a rail says no; records a relapse when an alarm is answered
/// again within the loop window; drops entries older than a week.
pub fn reserve(
    h: &mut TargetHistory,
    entry: &HistoryEntry,
    ask: &Ask,
    cfg: &Config,
) -> Option<Rail> {
    let window = cfg.loop_window_minutes as i64 * 60;
    let claim = entry.claim.as_deref();
    let retry = h.actions.iter().any(|a| a.claim.as_deref() == claim);
    if ask.alarm_response && !retry && h.actions.iter().any(|a| ask.now - a.at <= window) {
        h.relapses.push(ask.now);
    }
    let rail = rails(h, ask, cfg);
    if rail.is_none() {
        match h.actions.iter_mut().find(|a| a.claim.as_deref() == claim) {
            Some(mine) => *mine = entry.clone(),
            None => h.actions.push(entry.clone()),
        }
    }
    let keep = ask.now - 7 * 86_400;
    h.actions.retain(|a| a.at >= keep);
    h.relapses.retain(|t| *t >= keep);
    rail
}

/// Gives back a slot whose action was not made (live state said no).
pub fn release(h: &mut TargetHistory, claim: &str) {
    h.actions
        .retain(|a| a.claim.as_deref() != Some(claim) || a.result.is_some());
}

/// Writes the result on the slot the claim reserved.
pub fn settle_slot(h: &mut TargetHistory, claim: &str, result: &str) {
    if let Some(e) = h
        .actions
        .iter_mut()
        .rev()
        .find(|e| e.claim.as_deref() == Some(claim))
    {
        e.result = Some(result.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            cooldown_minutes: 30,
            max_actions_per_day: 3,
            loop_window_minutes: 120,
            loop_max_failed_fixes: 2,
            ..Config::default()
        }
    }

    fn entry(at: i64, action: &str, claim: &str, result: Option<&str>, lease: i64) -> HistoryEntry {
        HistoryEntry {
            at,
            playbook: "p".into(),
            action: action.into(),
            change_id: claim.into(),
            result: result.map(str::to_string),
            claim: Some(claim.into()),
            lease_until: lease,
        }
    }

    fn ask(claim: &str, now: i64) -> Ask<'_> {
        Ask {
            claim,
            kind: "force_new_deployment",
            alarm_response: false,
            force: false,
            now,
        }
    }

    #[test]
    fn cooldown_spans_every_kind_of_change_to_a_service() {
        let h = TargetHistory {
            actions: vec![entry(
                1_000,
                "update_service_task_definition",
                "a",
                Some("rolled back"),
                1_060,
            )],
            relapses: vec![],
        };
        let r = rails(&h, &ask("b", 1_600), &cfg());
        assert_eq!(
            r,
            Some(Rail::Cooldown {
                until: 1_000 + 1_800
            })
        );
        assert_eq!(rails(&h, &ask("b", 2_801), &cfg()), None);
    }

    #[test]
    fn a_rule_can_be_disabled_right_after_its_rerun() {
        let h = TargetHistory {
            actions: vec![entry(1_000, "run_task", "a", Some("task t"), 1_060)],
            relapses: vec![],
        };
        let mut a = ask("b", 1_100);
        a.kind = "disable_rule";
        assert_eq!(rails(&h, &a, &cfg()), None);
        a.kind = "run_task";
        assert!(matches!(rails(&h, &a, &cfg()), Some(Rail::Cooldown { .. })));
    }

    #[test]
    fn one_action_in_flight_per_target_and_a_retry_is_not_another() {
        let h = TargetHistory {
            actions: vec![entry(
                1_000,
                "update_service_task_definition",
                "a",
                None,
                1_060,
            )],
            relapses: vec![],
        };
        assert!(matches!(
            rails(
                &h,
                &ask("b", 1_010),
                &Config {
                    cooldown_minutes: 0,
                    ..cfg()
                }
            ),
            Some(Rail::InFlight { until: 1_060, .. })
        ));
        assert_eq!(rails(&h, &ask("a", 1_010), &cfg()), None);
    }

    #[test]
    fn force_passes_cooldown_and_cap_but_not_one_in_flight() {
        let mut h = TargetHistory::default();
        for i in 0..3 {
            h.actions
                .push(entry(1_000 + i, "x", &format!("c{i}"), Some("ok"), 0));
        }
        let mut a = ask("d", 1_100);
        assert!(matches!(
            rails(&h, &a, &cfg()),
            Some(Rail::Cap { count: 3, .. })
        ));
        a.force = true;
        assert_eq!(rails(&h, &a, &cfg()), None);
        h.actions.push(entry(1_050, "x", "e", None, 1_200));
        assert!(matches!(rails(&h, &a, &cfg()), Some(Rail::InFlight { .. })));
    }

    #[test]
    fn a_released_slot_no_longer_counts() {
        let mut h = TargetHistory::default();
        let e = entry(1_000, "x", "a", None, 1_060);
        assert_eq!(reserve(&mut h, &e, &ask("a", 1_000), &cfg()), None);
        release(&mut h, "a");
        assert_eq!(rails(&h, &ask("b", 1_001), &cfg()), None);
    }
}
