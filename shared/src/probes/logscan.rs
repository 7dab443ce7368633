//! Counts ViewerAtlas's known failure signatures (VIEWERATLAS.md §3) in its log groups.
//!
//! Matching happens here, in code, on the exact strings the application prints: CloudWatch filter
//! patterns treat `?term`, JSON and `[...]` specially and emulators do not honour them, and several
//! of the lines are print() output with no log level.

use crate::aws::{Aws, AwsError};
use crate::probes::secrets::Redactor;

/// A failure (or success) line ViewerAtlas prints, and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signature {
    /// `[<chan>] Auth failed. Check TWITCH_OAUTH_TOKEN` (HTTP 401 per channel).
    AuthFailed,
    /// `Twitch API request rejected with HTTP 401`: the token is rejected.
    TokenRejected,
    /// `... rejected with HTTP 400/403`: client id or token mismatch.
    ClientRejected,
    /// `ChannelDiscoveryError`: the collector died during channel refresh.
    ChannelDiscovery,
    /// `Access denied to S3 bucket`.
    S3AccessDenied,
    /// `Failed to upload` (the `Saved:` line is logged even then).
    UploadFailed,
    /// A Python traceback.
    Traceback,
    /// `Error fetching VODs ... 401`.
    VodAuth,
    /// `Saved:`: a snapshot written (or attempted).
    Saved,
    /// `Processing batch`: progress inside a cycle.
    Progress,
}

impl Signature {
    pub const FAILURES: [Signature; 8] = [
        Signature::AuthFailed,
        Signature::TokenRejected,
        Signature::ClientRejected,
        Signature::ChannelDiscovery,
        Signature::S3AccessDenied,
        Signature::UploadFailed,
        Signature::Traceback,
        Signature::VodAuth,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signature::AuthFailed => "Auth failed",
            Signature::TokenRejected => "Twitch API request rejected with HTTP 401",
            Signature::ClientRejected => "Twitch API request rejected with HTTP 400/403",
            Signature::ChannelDiscovery => "ChannelDiscoveryError",
            Signature::S3AccessDenied => "Access denied to S3 bucket",
            Signature::UploadFailed => "Failed to upload",
            Signature::Traceback => "Traceback",
            Signature::VodAuth => "VOD fetch 401",
            Signature::Saved => "Saved:",
            Signature::Progress => "Processing batch",
        }
    }

    /// Every signature a line carries (a discovery failure line is also a rejection line).
    pub fn classify(line: &str) -> Vec<Signature> {
        let mut out = Vec::new();
        if line.contains("Auth failed. Check TWITCH_OAUTH_TOKEN") {
            out.push(Signature::AuthFailed);
        }
        if line.contains("Twitch API request rejected with HTTP 401") {
            out.push(Signature::TokenRejected);
        }
        if line.contains("Twitch API request rejected with HTTP 400")
            || line.contains("Twitch API request rejected with HTTP 403")
        {
            out.push(Signature::ClientRejected);
        }
        if line.contains("ChannelDiscoveryError") {
            out.push(Signature::ChannelDiscovery);
        }
        if line.contains("Access denied to S3 bucket") {
            out.push(Signature::S3AccessDenied);
        }
        if line.contains("Failed to upload") {
            out.push(Signature::UploadFailed);
        }
        if line.contains("Traceback (most recent call last)") {
            out.push(Signature::Traceback);
        }
        if line.contains("Error fetching VODs") && line.contains("401") {
            out.push(Signature::VodAuth);
        }
        if line.contains("] Saved: ") || line.contains(" - Saved: ") {
            out.push(Signature::Saved);
        }
        if line.contains("Processing batch") {
            out.push(Signature::Progress);
        }
        out
    }
}

#[derive(Debug, Clone, Default)]
pub struct GroupScan {
    pub group: String,
    pub events: usize,
    pub counts: std::collections::BTreeMap<Signature, usize>,
    pub samples: Vec<String>,
    /// Last line seen and its time (ms), for "the process went quiet after …".
    pub last_line: Option<(i64, String)>,
    pub error: Option<AwsError>,
    /// More events exist than were read.
    pub truncated: bool,
}

impl GroupScan {
    pub fn count(&self, s: Signature) -> usize {
        self.counts.get(&s).copied().unwrap_or(0)
    }

    pub fn failures(&self) -> usize {
        Signature::FAILURES.iter().map(|s| self.count(*s)).sum()
    }

    /// "12 events; Auth failed ×5, Traceback ×1" for the report.
    pub fn summary(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: could not read ({})", self.group, e.detail);
        }
        let sigs: Vec<String> = Signature::FAILURES
            .iter()
            .filter(|s| self.count(**s) > 0)
            .map(|s| format!("{} ×{}", s.name(), self.count(*s)))
            .collect();
        format!(
            "{}: {}{} events, {} 'Saved:'; {}",
            self.group,
            self.events,
            if self.truncated { "+" } else { "" },
            self.count(Signature::Saved),
            if sigs.is_empty() {
                "no failure signatures".to_string()
            } else {
                sigs.join(", ")
            }
        )
    }
}

const PAGES: usize = 10;
const SAMPLES: usize = 3;
const SAMPLE_CHARS: usize = 220;

/// Reads up to a bounded number of pages of one group over the window and counts signatures.
/// The sample lines are kept whole until [`GroupScan::redacted`] blanks the secrets out of them:
/// clipping first could cut a secret in half and leave the rest readable.
pub async fn scan(aws: &Aws, group: &str, start_ms: i64) -> GroupScan {
    let mut scan = GroupScan {
        group: group.to_string(),
        ..Default::default()
    };
    let mut token: Option<String> = None;
    for page in 0..PAGES {
        let res = aws
            .logs()
            .filter_log_events()
            .log_group_name(group)
            .start_time(start_ms)
            .set_next_token(token.take())
            .send()
            .await;
        let out = match res {
            Ok(o) => o,
            Err(e) => {
                scan.error = Some(AwsError::from_sdk("FilterLogEvents", &e));
                return scan;
            }
        };
        for e in out.events() {
            let msg = e.message().unwrap_or_default();
            scan.events += 1;
            let sigs = Signature::classify(msg);
            for s in &sigs {
                *scan.counts.entry(*s).or_insert(0) += 1;
            }
            let t = e.timestamp().unwrap_or(0);
            if scan.last_line.as_ref().is_none_or(|(lt, _)| t >= *lt) {
                scan.last_line = Some((t, msg.to_string()));
            }
            if sigs.iter().any(|s| Signature::FAILURES.contains(s)) && scan.samples.len() < SAMPLES
            {
                scan.samples.push(msg.to_string());
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
        if page + 1 == PAGES {
            scan.truncated = true;
        }
    }
    scan
}

/// One line, with every known secret value blanked out, then bounded.
fn clip(line: &str, redactor: &Redactor) -> String {
    let s = redactor.redact(&line.replace(['\n', '\r'], " "));
    crate::report::truncate_chars(&s, SAMPLE_CHARS)
}

impl GroupScan {
    /// The scan as it may be shown: samples and the last line redacted and clipped.
    pub fn redacted(mut self, redactor: &Redactor) -> Self {
        self.samples = self.samples.iter().map(|l| clip(l, redactor)).collect();
        self.last_line = self.last_line.map(|(t, l)| (t, clip(&l, redactor)));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_real_lines() {
        let l = "2026-11-28 10:20:01,123 - get_viewers - ERROR - [xqc] Auth failed. Check TWITCH_OAUTH_TOKEN";
        assert_eq!(Signature::classify(l), vec![Signature::AuthFailed]);
        let l = "update_channels.ChannelDiscoveryError: Twitch API request rejected with HTTP 401. Check TWITCH_CLIENT_ID and TWITCH_OAUTH_TOKEN.";
        assert_eq!(
            Signature::classify(l),
            vec![Signature::TokenRejected, Signature::ChannelDiscovery]
        );
        let l = "2026-11-28 10:20:01,123 - get_viewers - INFO - [xqc] Saved: s3://b/vieweratlas/raw/snapshots/2026/11/28/xqc_20261128_102001.json";
        assert_eq!(Signature::classify(l), vec![Signature::Saved]);
        assert!(Signature::classify("all fine").is_empty());
    }

    #[test]
    fn samples_are_redacted_before_they_are_clipped() {
        let r = Redactor::of(["abcdef123456".to_string()]);
        let s = clip("token abcdef123456 leaked\nnext", &r);
        assert_eq!(s, "token [REDACTED] leaked next");
        assert!(clip(&"x".repeat(1000), &r).chars().count() <= SAMPLE_CHARS);
        // A secret straddling the clip point must not leave its head behind.
        let long = format!("{}abcdef123456", "y".repeat(SAMPLE_CHARS - 6));
        assert!(!clip(&long, &r).contains("abcdef"));
    }
}
