//! Who runs an operator command, and the override flags every acting command takes
//! (`rollback`, `schedules`, `run`, `approve`): `--force` passes a cooldown or the daily cap, never
//! the idempotency claim or the live re-check, and needs `--reason TEXT`. The ledger records the
//! person and the reason with the decision.

use crate::safety::guard::Operator;

/// `--force` and `--reason TEXT`, taken out of a command's arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Override {
    pub force: bool,
    pub reason: Option<String>,
}

/// Splits `--force` and `--reason TEXT` off `args`; the rest is the command's own. A force without
/// a reason is refused: the ledger must say why.
pub fn take_override(args: &[String]) -> Result<(Override, Vec<String>), String> {
    let mut o = Override::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--force" => o.force = true,
            "--reason" => match it.next().map(|r| r.trim()).filter(|r| !r.is_empty()) {
                Some(r) => o.reason = Some(one_line(r)),
                None => return Err("--reason needs a text (why you are doing this)".into()),
            },
            _ => rest.push(a.clone()),
        }
    }
    if o.force && o.reason.is_none() {
        return Err(
            "--force needs --reason TEXT: the audit ledger records who forced and why".into(),
        );
    }
    Ok((o, rest))
}

/// A reason goes into reports and the ledger on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Who is at the keyboard: `AUTOHEAL_OPERATOR`, else the login name.
pub fn who() -> String {
    ["AUTOHEAL_OPERATOR", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .map(|v| one_line(v.trim()))
        .unwrap_or_else(|| "an unnamed operator".into())
}

/// The operator as the guard and the ledger record them.
pub fn operator(o: &Override, approves: Option<String>) -> Operator {
    Operator {
        by: who(),
        why: o.reason.clone(),
        force: o.force,
        approves,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn force_needs_a_reason_and_the_rest_is_left_alone() {
        let (o, rest) =
            take_override(&args(&["--to", "2", "--force", "--reason", "bad release"])).unwrap();
        assert_eq!(
            o,
            Override {
                force: true,
                reason: Some("bad release".into())
            }
        );
        assert_eq!(rest, args(&["--to", "2"]));
        assert!(take_override(&args(&["--force"]))
            .unwrap_err()
            .contains("--reason"));
        assert!(take_override(&args(&["--reason", " "])).is_err());
    }
}
