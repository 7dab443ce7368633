//! One SNS message holds at most 256 KB, and Autoheal's message carries the report several times
//! (the text for email and SMS, the JSON for each machine protocol). A report built from arbitrary
//! input (a log line, an event field) can be larger than that. [`fit`] shortens the long fields of
//! the copy that is published until the whole message fits, and the copy says so (`shortened`).
//! The run's own report (returned by the function, printed by the CLI) keeps every character.

use crate::report::{truncate_chars, Report};

/// SNS's limit on one message, in bytes (AWS counts the whole per-protocol JSON document).
pub const SNS_MESSAGE_LIMIT: usize = 262_144;

/// What the message body may take: the subject and the message attributes count against the same
/// limit, so they keep this much room.
pub const BODY_BUDGET: usize = SNS_MESSAGE_LIMIT - 8 * 1024;

/// Longest field lengths tried in turn (characters), the gentlest first.
const CAPS: [usize; 5] = [16_384, 4_096, 1_024, 256, 96];

/// When even the shortest fields do not fit (thousands of checks), lists keep this many items.
const MAX_ITEMS: usize = 20;

/// The report as it can be published: unchanged when `size` (the byte size of the message built
/// from it) is within [`BODY_BUDGET`], else a copy with its long fields cut and a note saying so.
pub fn fit<E>(report: &Report, size: impl Fn(&Report) -> Result<usize, E>) -> Result<Report, E> {
    if size(report)? <= BODY_BUDGET {
        return Ok(report.clone());
    }
    let longest = fields(&mut report.clone())
        .iter()
        .map(|f| f.chars().count())
        .max()
        .unwrap_or(0);
    let mut attempt = report.clone();
    for cap in CAPS {
        attempt = report.clone();
        let cut = shorten_fields(&mut attempt, cap);
        attempt.shortened = Some(note(cut, cap, longest, None));
        if size(&attempt)? <= BODY_BUDGET {
            return Ok(attempt);
        }
    }
    // Only a report with a great many items gets here: keep the first of each list.
    let cap = CAPS[CAPS.len() - 1];
    let dropped = keep_first(&mut attempt, MAX_ITEMS);
    let cut = shorten_fields(&mut attempt, cap);
    attempt.shortened = Some(note(cut, cap, longest, Some(dropped)));
    Ok(attempt)
}

/// Every free-text field of a report, for measuring and cutting.
fn fields(r: &mut Report) -> Vec<&mut String> {
    let mut out: Vec<&mut String> = vec![&mut r.reason, &mut r.trigger.id, &mut r.trigger.name];
    for c in &mut r.checks {
        out.push(&mut c.name);
        out.push(&mut c.detail);
    }
    for a in &mut r.actions {
        out.push(&mut a.kind);
        out.push(&mut a.target);
        out.push(&mut a.detail);
    }
    out.extend(r.next_steps.iter_mut());
    out
}

/// Cuts every field longer than `cap` characters; returns how many were cut.
fn shorten_fields(r: &mut Report, cap: usize) -> usize {
    let mut cut = 0;
    for f in fields(r) {
        let n = f.chars().count();
        if n > cap {
            *f = format!(
                "{} [shortened: {} of {n} characters omitted]",
                truncate_chars(f, cap),
                n - cap
            );
            cut += 1;
        }
    }
    cut
}

/// Keeps the first `n` checks, actions and next steps; returns how many items were dropped.
fn keep_first(r: &mut Report, n: usize) -> usize {
    let before = r.checks.len() + r.actions.len() + r.next_steps.len();
    r.checks.truncate(n);
    r.actions.truncate(n);
    r.next_steps.truncate(n);
    before - (r.checks.len() + r.actions.len() + r.next_steps.len())
}

fn note(cut: usize, cap: usize, longest: usize, dropped: Option<usize>) -> String {
    let mut s = format!(
        "this copy was shortened to fit SNS's 256 KB message limit: {cut} field(s) longer than {cap} characters were cut (the longest had {longest})"
    );
    if let Some(d) = dropped {
        s.push_str(&format!(
            "; {d} list item(s) beyond the first {MAX_ITEMS} of each list were left out"
        ));
    }
    s.push_str("; the full text is at its source (the log or event named in the check), and the run's own report has it whole");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Check, Playbook, TriggerKind, TriggerRef};

    fn big(n_checks: usize, detail_len: usize) -> Report {
        let mut r = Report::new(
            TriggerRef {
                kind: TriggerKind::TaskStopped,
                id: "t".into(),
                name: "x".repeat(detail_len),
            },
            Playbook::VodFailure,
        );
        r.reason = "y".repeat(detail_len);
        for i in 0..n_checks {
            r.checks
                .push(Check::fail(&format!("c{i}"), "z".repeat(detail_len)));
        }
        r
    }

    fn json_size(r: &Report) -> Result<usize, ()> {
        // The message repeats the report six times (text twice, JSON four times).
        Ok(serde_json::to_string(r).map_err(|_| ())?.len() * 6)
    }

    #[test]
    fn small_reports_are_untouched() {
        let r = big(3, 100);
        let fitted = fit(&r, json_size).unwrap();
        assert_eq!(fitted, r);
        assert!(fitted.shortened.is_none());
    }

    #[test]
    fn any_input_fits_and_the_copy_says_it_was_shortened() {
        for (checks, len) in [(1, 300 * 1024), (15, 40_000), (5_000, 50), (3_000, 3_000)] {
            let fitted = fit(&big(checks, len), json_size).unwrap();
            assert!(
                json_size(&fitted).unwrap() <= BODY_BUDGET,
                "{checks} checks of {len}"
            );
            let note = fitted.shortened.as_deref().unwrap_or_default();
            assert!(note.contains("256 KB"), "{note}");
        }
    }
}
