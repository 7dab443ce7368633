//! `autoheal pause` and `autoheal resume`: stop Autoheal from acting (everywhere or for one
//! playbook) without a deploy, and start it again. Paused runs still triage and report; their
//! actions are held and say by whom, until when and why.

use std::process::ExitCode;

use super::args::{self, Parsed, Spec};
use super::{fail, operator, with_deps};
use crate::clock::{now_epoch, parse_timestamp, rfc3339};
use crate::report::Playbook;
use crate::safety::pause::{self, Pause};

pub const PAUSE_HELP: &str = "\
autoheal pause [--playbook P] [--until TIME] --reason TEXT

Holds every action of every playbook (or of playbook P) until TIME, or until `autoheal resume`.
Runs still triage and report; held actions say \"held: paused by … until …, reason …\".
TIME: an RFC 3339 instant (2026-11-28T18:00:00Z) or a duration from now (90m, 4h, 2d).
Pausing the same scope again replaces its pause. The person is AUTOHEAL_OPERATOR (else $USER).
Exit 0 when paused, 2 on bad arguments (nothing is written).";

pub const RESUME_HELP: &str = "\
autoheal resume [--playbook P]

Ends the pause of playbook P, or every pause. Exit 0 (also when nothing was paused).";

struct PauseArgs {
    playbook: Option<Playbook>,
    until: Option<i64>,
    reason: String,
}

/// `90m`, `4h`, `2d` from `now`, or an RFC 3339 instant; it must lie in the future.
pub fn parse_until(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    let relative = t
        .strip_suffix('m')
        .map(|n| (n, 60))
        .or_else(|| t.strip_suffix('h').map(|n| (n, 3600)))
        .or_else(|| t.strip_suffix('d').map(|n| (n, 86_400)));
    let at = match relative.and_then(|(n, unit)| n.parse::<i64>().ok().map(|n| n * unit)) {
        Some(secs) if secs > 0 => now + secs,
        Some(_) => return Err(format!("--until {t:?} must be a positive duration")),
        None => parse_timestamp(t).ok_or_else(|| {
            format!("--until {t:?} is neither an RFC 3339 time (2026-11-28T18:00:00Z) nor a duration (90m, 4h, 2d)")
        })?,
    };
    if at <= now {
        return Err(format!(
            "--until {} is in the past (now is {})",
            rfc3339(at),
            rfc3339(now)
        ));
    }
    Ok(at)
}

fn playbook_arg(name: &str) -> Result<Playbook, String> {
    Playbook::from_name(name).ok_or_else(|| {
        let all: Vec<&str> = Playbook::ALL.iter().map(|p| p.name()).collect();
        format!("unknown playbook {name:?} (one of {})", all.join(", "))
    })
}

const PLAYBOOK: (&str, &str) = ("--playbook", "a playbook name");

fn parse_pause(p: &Parsed, now: i64) -> Result<PauseArgs, String> {
    let reason = p
        .value("--reason")
        .map(|r| r.trim().replace(|c: char| c.is_control(), " "))
        .unwrap_or_default();
    if reason.is_empty() {
        return Err("--reason TEXT is required: every held report repeats it".into());
    }
    Ok(PauseArgs {
        playbook: p.value("--playbook").map(playbook_arg).transpose()?,
        until: p
            .value("--until")
            .map(|t| parse_until(t, now))
            .transpose()?,
        reason,
    })
}

pub fn pause_cmd(rest: &[String]) -> ExitCode {
    let spec = Spec {
        command: "pause",
        help: PAUSE_HELP,
        flags: &[],
        options: &[PLAYBOOK, ("--until", "a time"), ("--reason", "a text")],
        words: 0,
    };
    let parsed = match args::parse(rest, &spec) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let now = now_epoch();
    let a = match parse_pause(&parsed, now) {
        Ok(a) => a,
        Err(e) => return fail(2, format!("pause: {e}")),
    };
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let p = Pause {
                playbook: a.playbook.map(|p| p.name().to_string()),
                by: operator::who(),
                reason: a.reason,
                since: now,
                until: a.until,
            };
            match pause::pause(&deps.ledger(), p.clone(), now).await {
                Ok(_) => {
                    println!("autoheal: {}", p.describe());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(
                    1,
                    format!("pause: not paused, the ledger could not be written: {e}"),
                ),
            }
        },
    )
}

pub fn resume_cmd(rest: &[String]) -> ExitCode {
    let spec = Spec {
        command: "resume",
        help: RESUME_HELP,
        flags: &[],
        options: &[PLAYBOOK],
        words: 0,
    };
    let playbook = match args::parse(rest, &spec).map(|p| p.value("--playbook").map(playbook_arg)) {
        Ok(None) => None,
        Ok(Some(Ok(p))) => Some(p),
        Ok(Some(Err(e))) => return fail(2, format!("resume: {e}")),
        Err(code) => return code,
    };
    with_deps(
        |_| Ok(()),
        |deps| async move {
            let now = now_epoch();
            let scope = playbook.map(Playbook::name);
            match pause::resume(&deps.ledger(), scope, &operator::who(), now).await {
                Ok(ended) if ended.is_empty() => {
                    println!(
                        "autoheal: nothing was paused{}",
                        scope.map(|s| format!(" for {s}")).unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Ok(ended) => {
                    for p in ended {
                        println!("autoheal: resumed {} (was {})", p.scope(), p.describe());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, format!("resume: the ledger could not be written: {e}")),
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_durations_and_instants_in_the_future_only() {
        let now = 1_800_000_000;
        assert_eq!(parse_until("90m", now), Ok(now + 5400));
        assert_eq!(parse_until("4h", now), Ok(now + 4 * 3600));
        assert_eq!(parse_until("2d", now), Ok(now + 2 * 86_400));
        assert_eq!(parse_until(&rfc3339(now + 60), now), Ok(now + 60));
        assert!(parse_until("2020-01-01T00:00:00Z", now)
            .unwrap_err()
            .contains("in the past"));
        assert!(parse_until("tomorrow", now)
            .unwrap_err()
            .contains("neither"));
        assert!(parse_until("0h", now).is_err());
    }
}
