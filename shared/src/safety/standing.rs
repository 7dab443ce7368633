//! Where each target stands against the guard's rails now (for `autoheal status`): the cooldowns
//! still running and when they end, the actions that count toward the daily cap and when the cap
//! frees a slot, the relapses toward the loop guard. The same rules as `Guard::rails`, read-only.

use serde::Serialize;

use crate::config::Config;
use crate::safety::history::{self, Ask, Rail, TargetHistory};
use crate::safety::ledger::{Ledger, LedgerError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cooldown {
    pub action: String,
    /// When the next action of this kind is allowed (epoch seconds).
    pub until: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    /// The target's ledger name (`service_<cluster>_<service>`, `rule_<name>`, …).
    pub target: String,
    pub cooldowns: Vec<Cooldown>,
    /// An action reserved and not finished, and until when its run may still be acting.
    pub in_flight: Option<(String, i64)>,
    pub actions_24h: usize,
    pub cap: u32,
    /// At the cap: when the oldest counted action leaves the 24 h window.
    pub cap_frees_at: Option<i64>,
    pub relapses: usize,
    /// The loop guard holds alarm responses on this target.
    pub loop_stopped: bool,
    /// The latest action, as the history says it.
    pub last: Option<String>,
}

/// The rails for every kind of action the target has seen, asked as the guard asks them
/// (`history::rails`), so status and guard never disagree. The cap is counted apart, so that a
/// target at its cap still shows its cooldowns.
pub fn standing(target: &str, h: &TargetHistory, cfg: &Config, now: i64) -> Standing {
    let uncapped = Config {
        max_actions_per_day: u32::MAX,
        ..cfg.clone()
    };
    let mut kinds: Vec<&str> = h.actions.iter().map(|a| a.action.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut cooldowns = Vec::new();
    let mut in_flight = None;
    for kind in kinds {
        let ask = Ask {
            claim: "",
            kind,
            alarm_response: false,
            force: false,
            now,
        };
        match history::rails(h, &ask, &uncapped) {
            Some(Rail::Cooldown { until }) => cooldowns.push(Cooldown {
                action: kind.to_string(),
                until,
            }),
            Some(Rail::InFlight { action, until }) => in_flight = Some((action, until)),
            _ => {}
        }
    }
    let day: Vec<i64> = h
        .actions
        .iter()
        .map(|a| a.at)
        .filter(|at| now - at < 86_400)
        .collect();
    let at_cap = day.len() >= cfg.max_actions_per_day as usize;
    let window = cfg.loop_window_minutes as i64 * 60;
    let relapses = h.relapses.iter().filter(|t| now - **t <= window).count();
    Standing {
        target: target.to_string(),
        cooldowns,
        in_flight,
        actions_24h: day.len(),
        cap: cfg.max_actions_per_day,
        cap_frees_at: at_cap
            .then(|| day.iter().min().map(|t| t + 86_400))
            .flatten(),
        relapses,
        loop_stopped: relapses >= cfg.loop_max_failed_fixes as usize,
        last: h.actions.iter().max_by_key(|a| a.at).map(|a| a.line()),
    }
}

/// Every target in the ledger, by name.
pub async fn all(ledger: &Ledger, cfg: &Config, now: i64) -> Result<Vec<Standing>, LedgerError> {
    let mut out = Vec::new();
    for key in ledger.keys("targets").await? {
        let Some(h) = ledger.get::<TargetHistory>(&key).await? else {
            continue;
        };
        let name = key
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".json"))
            .unwrap_or(&key);
        out.push(standing(name, &h.value, cfg, now));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safety::history::HistoryEntry;

    fn entry(at: i64, action: &str) -> HistoryEntry {
        HistoryEntry {
            at,
            playbook: "rollback".into(),
            action: action.into(),
            change_id: format!("c{at}"),
            result: Some("ok".into()),
            claim: Some(format!("claim-{at}")),
            lease_until: 0,
        }
    }

    #[test]
    fn cooldowns_and_the_cap_end_when_the_rails_say() {
        let cfg = Config {
            cooldown_minutes: 30,
            max_actions_per_day: 2,
            loop_window_minutes: 120,
            loop_max_failed_fixes: 2,
            ..Config::default()
        };
        let now = 100_000;
        let h = TargetHistory {
            actions: vec![
                entry(now - 20 * 3600, "force_new_deployment"),
                entry(now - 600, "update_service_task_definition"),
            ],
            relapses: vec![],
        };
        let s = standing("service_c_s", &h, &cfg, now);
        // A service's changes cool each other down, whatever their kind.
        let until = now - 600 + 1800;
        assert_eq!(
            s.cooldowns,
            vec![
                Cooldown {
                    action: "force_new_deployment".into(),
                    until
                },
                Cooldown {
                    action: "update_service_task_definition".into(),
                    until
                }
            ]
        );
        assert_eq!(s.in_flight, None);
        assert_eq!((s.actions_24h, s.cap), (2, 2));
        assert_eq!(s.cap_frees_at, Some(now - 20 * 3600 + 86_400));
        assert!(!s.loop_stopped);
    }
}
