//! Settings from the environment (CONTRACT §4), read and validated once at start-up.
//!
//! Every problem is collected before failing, so an operator fixes a bad deployment in one round.

use std::collections::BTreeSet;
use std::fmt;

use crate::report::Playbook;

/// Where the date partitions of the snapshot prefix come from. The collector writes
/// `raw/snapshots/YYYY/MM/DD/`; the pattern is configurable because later ViewerAtlas versions use
/// `date=YYYY-MM-DD/` (VIEWERATLAS.md §9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionLayout {
    pattern: String,
}

impl PartitionLayout {
    pub const DEFAULT: &'static str = "%Y/%m/%d/";

    pub fn parse(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Ok(Self {
                pattern: String::new(),
            });
        }
        for tok in ["%Y", "%m", "%d"] {
            if !pattern.contains(tok) {
                return Err(format!(
                    "must contain %Y, %m and %d (or be empty for no partitions), got {pattern:?}"
                ));
            }
        }
        if !pattern.ends_with('/') {
            return Err(format!("must end with '/', got {pattern:?}"));
        }
        Ok(Self {
            pattern: pattern.to_string(),
        })
    }

    /// The partition key fragment for a civil UTC date.
    pub fn render(&self, (y, m, d): (i64, u32, u32)) -> String {
        self.pattern
            .replace("%Y", &format!("{y:04}"))
            .replace("%m", &format!("{m:02}"))
            .replace("%d", &format!("{d:02}"))
    }

    pub fn is_partitioned(&self) -> bool {
        !self.pattern.is_empty()
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// Everything Autoheal needs to know about the ViewerAtlas deployment it looks after.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub region: String,
    pub endpoint_url: Option<String>,
    pub cluster: String,
    pub collector_service: String,
    pub collector_family: String,
    pub analysis_family: String,
    pub vod_family: String,
    pub collector_log_group: String,
    pub analysis_log_group: String,
    pub vod_log_group: String,
    pub bucket: String,
    pub prefix: String,
    pub snapshot_prefix: String,
    pub partition_layout: PartitionLayout,
    pub freshness_max_age_minutes: u64,
    pub analysis_max_age_hours: u64,
    pub log_lookback_minutes: u64,
    pub analysis_rule: String,
    pub vod_rule: String,
    pub oauth_secret_id: String,
    pub client_id_secret_id: String,
    pub topic_arn: String,
    pub twitch_validate_url: Option<String>,
    pub freshness_rule: String,
    pub daily_rule: String,
    pub alarm_unavailable: String,
    pub alarm_snapshot_stalled: String,
    pub alarm_error_spike: String,
    pub error_spike_threshold: u64,
    pub snapshot_window_seconds: u64,
    pub schedule_max_failures: u32,
    pub dry_run: bool,
    pub report_only: bool,
    pub publish_healthy: bool,
    pub allowed_playbooks: BTreeSet<Playbook>,
    pub ledger_prefix: String,
    pub cooldown_minutes: u64,
    pub max_actions_per_day: u32,
    pub loop_window_minutes: u64,
    pub loop_max_failed_fixes: u32,
    pub publish_ignored: bool,
    pub reminder_minutes: u64,
    pub chatbot_format: bool,
    pub approval_max_age_hours: u64,
    /// How long a claim protects an action from other deliveries when the run holding it is not
    /// a Lambda invocation (which has its own deadline): the CLI and tests.
    pub claim_lease_seconds: u64,
    /// How long a collector revision must have been the only, completed deployment before a
    /// passing check records it as known-good.
    pub known_good_settle_minutes: u64,
}

/// All the problems found in the environment, by setting name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.problems.join("; "))
    }
}

struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Reader<'_> {
    /// A set, non-blank value; blank counts as unset so an empty SAM parameter means "default".
    fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_string())
    }

    fn required(&mut self, name: &str) -> String {
        match self.raw(name) {
            Some(v) => v,
            None => {
                self.problems
                    .push(format!("{name} is required but not set"));
                String::new()
            }
        }
    }

    fn number<T>(&mut self, name: &str, default: T, min: T) -> T
    where
        T: std::str::FromStr + Copy + PartialOrd + fmt::Display,
    {
        match self.raw(name) {
            None => default,
            Some(v) => match v.parse::<T>() {
                Ok(n) if n >= min => n,
                Ok(_) => {
                    self.problems
                        .push(format!("{name} must be at least {min}, got {v:?}"));
                    default
                }
                Err(_) => {
                    self.problems
                        .push(format!("{name} must be a whole number, got {v:?}"));
                    default
                }
            },
        }
    }

    fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.raw(name).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => true,
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => false,
            Some(v) => {
                self.problems
                    .push(format!("{name} must be true or false, got {v:?}"));
                default
            }
        }
    }
}

impl Config {
    /// Reads the process environment. Call once, at start-up.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Reads settings through `get`, so tests and the CLI can supply them without touching the
    /// process environment. Each group of settings is read by its own function; every problem in
    /// any group is collected before failing.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            get,
            problems: Vec::new(),
        };
        let mut c = Config::default();
        read_aws(&mut r, &mut c);
        read_viewer_atlas(&mut r, &mut c);
        read_data(&mut r, &mut c);
        read_twitch(&mut r, &mut c);
        read_alerts(&mut r, &mut c);
        read_safety(&mut r, &mut c);
        read_on_call(&mut r, &mut c);
        if r.problems.is_empty() {
            Ok(c)
        } else {
            Err(ConfigError {
                problems: r.problems,
            })
        }
    }

    /// Key of the analysis output the freshness check watches.
    pub fn analysis_results_key(&self) -> String {
        format!("{}processed/analysis_results.json", self.prefix)
    }

    /// The three task families the runbook names, in its order.
    pub fn families(&self) -> [&str; 3] {
        [
            &self.collector_family,
            &self.analysis_family,
            &self.vod_family,
        ]
    }
}

/// Region and endpoint (CONTRACT §4).
fn read_aws(r: &mut Reader, c: &mut Config) {
    c.region = r
        .raw("AWS_REGION")
        .or_else(|| r.raw("AWS_DEFAULT_REGION"))
        .unwrap_or_default();
    if c.region.is_empty() {
        r.problems.push("AWS_REGION is required but not set".into());
    }
    c.endpoint_url = r.raw("AWS_ENDPOINT_URL");
    if let Some(url) = &c.endpoint_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            r.problems.push(format!(
                "AWS_ENDPOINT_URL must be an http(s) URL, got {url:?}"
            ));
        }
    }
}

/// ECS names, log groups and schedule rules, defaulting to the ViewerAtlas scripts' names.
fn read_viewer_atlas(r: &mut Reader, c: &mut Config) {
    c.cluster = r.string("ECS_CLUSTER", "vieweratlas-cluster");
    c.collector_service = r.string("COLLECTOR_SERVICE_NAME", "vieweratlas-collector");
    c.collector_family = r.string("COLLECTOR_TASK_FAMILY", &c.collector_service);
    c.analysis_family = r.string("ANALYSIS_TASK_FAMILY", "vieweratlas-analysis");
    c.vod_family = r.string("VOD_TASK_FAMILY", "vieweratlas-vod-collector");
    c.collector_log_group = r.string(
        "COLLECTOR_LOG_GROUP",
        &format!("/ecs/{}", c.collector_family),
    );
    c.analysis_log_group = r.string("ANALYSIS_LOG_GROUP", &format!("/ecs/{}", c.analysis_family));
    c.vod_log_group = r.string("VOD_LOG_GROUP", &format!("/ecs/{}", c.vod_family));
    c.log_lookback_minutes = r.number("LOG_LOOKBACK_MINUTES", 30u64, 1);
    c.analysis_rule = r.string("ANALYSIS_RULE_NAME", "vieweratlas-analysis-daily");
    c.vod_rule = r.string("VOD_RULE_NAME", "vieweratlas-vod-6h");
}

/// The data lake: bucket, prefixes, partition layout and freshness limits.
fn read_data(r: &mut Reader, c: &mut Config) {
    c.bucket = r.required("S3_BUCKET");
    let prefix = r.string("S3_PREFIX", "vieweratlas/");
    // ViewerAtlas normalises its prefix to end in exactly one '/' (VIEWERATLAS.md §2).
    c.prefix = format!("{}/", prefix.trim_end_matches('/'));
    if c.prefix == "/" {
        c.prefix.clear();
    }
    c.snapshot_prefix = r.string("S3_SNAPSHOT_PREFIX", &format!("{}raw/snapshots/", c.prefix));
    c.partition_layout = match PartitionLayout::parse(
        &r.string("AUTOHEAL_SNAPSHOT_PARTITIONS", PartitionLayout::DEFAULT),
    ) {
        Ok(p) => p,
        Err(e) => {
            r.problems.push(format!("AUTOHEAL_SNAPSHOT_PARTITIONS {e}"));
            PartitionLayout {
                pattern: PartitionLayout::DEFAULT.into(),
            }
        }
    };
    c.freshness_max_age_minutes = r.number("S3_FRESHNESS_MAX_AGE_MINUTES", 180u64, 1);
    c.analysis_max_age_hours = r.number("AUTOHEAL_ANALYSIS_MAX_AGE_HOURS", 26u64, 1);
}

/// The two secrets and the token check's endpoint.
fn read_twitch(r: &mut Reader, c: &mut Config) {
    c.oauth_secret_id = r.string("TWITCH_OAUTH_SECRET_ID", "vieweratlas/twitch/oauth_token");
    c.client_id_secret_id = r.string("TWITCH_CLIENT_ID_SECRET_ID", "vieweratlas/twitch/client_id");
    // Unset means Twitch's endpoint; set-but-empty turns the check off (CONTRACT §4).
    c.twitch_validate_url = match (r.get)("AUTOHEAL_TWITCH_VALIDATE_URL") {
        None => Some("https://id.twitch.tv/oauth2/validate".to_string()),
        Some(v) if v.trim().is_empty() => None,
        Some(v) => Some(v.trim().to_string()),
    };
    // The token is sent to this URL: https, or plain http only to this machine (a test stand-in).
    if let Some(u) = &c.twitch_validate_url {
        if let Err(why) = validate_url_allowed(u) {
            r.problems
                .push(format!("AUTOHEAL_TWITCH_VALIDATE_URL {why}, got {u:?}"));
        }
    }
}

/// https anywhere; http only to a loopback host, judged on the parsed URL (a prefix match lets
/// `http://localhost.evil.example` or `http://127.0.0.1.nip.io` through).
fn validate_url_allowed(u: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(u).map_err(|_| "is not a URL")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(url::Host::Domain("localhost"))) => Ok(()),
        ("http", Some(url::Host::Ipv4(ip))) if ip.is_loopback() => Ok(()),
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() => Ok(()),
        ("http", _) => {
            Err("may use plain http only for a loopback host (127.0.0.1, ::1, localhost)")
        }
        _ => Err("must be an https:// URL"),
    }
}

/// Where reports go, Autoheal's own rules, and the alarms it responds to (apply-monitoring.sh).
fn read_alerts(r: &mut Reader, c: &mut Config) {
    c.topic_arn = r.required("SNS_TOPIC_ARN");
    if !c.topic_arn.is_empty() && !c.topic_arn.starts_with("arn:") {
        r.problems.push(format!(
            "SNS_TOPIC_ARN must be a topic ARN, got {:?}",
            c.topic_arn
        ));
    }
    c.freshness_rule = r.string(
        "AUTOHEAL_FRESHNESS_RULE_NAME",
        "vieweratlas-autoheal-freshness",
    );
    c.daily_rule = r.string("AUTOHEAL_DAILY_RULE_NAME", "vieweratlas-autoheal-daily");
    c.alarm_unavailable = r.string(
        "COLLECTOR_UNAVAILABLE_ALARM",
        "ViewerAtlas-ECSCollector-Unavailable",
    );
    c.alarm_snapshot_stalled = r.string(
        "SNAPSHOT_STALLED_ALARM",
        "ViewerAtlas-Collector-Snapshot-Stalled",
    );
    c.alarm_error_spike = r.string("ERROR_SPIKE_ALARM", "ViewerAtlas-Collector-Error-Spike");
    c.error_spike_threshold = r.number("ERROR_SPIKE_THRESHOLD", 20u64, 1);
    c.snapshot_window_seconds = r.number("SNAPSHOT_WINDOW_SECONDS", 3600u64, 60);
    c.publish_healthy = r.flag("AUTOHEAL_PUBLISH_HEALTHY", false);
}

/// The guard's rails: dry run, report-only, allow-list, ledger, cooldowns, caps, loops.
fn read_safety(r: &mut Reader, c: &mut Config) {
    c.schedule_max_failures = r.number("AUTOHEAL_SCHEDULE_MAX_FAILURES", 3u32, 1);
    c.dry_run = r.flag("AUTOHEAL_DRY_RUN", false);
    c.report_only = r.flag("AUTOHEAL_REPORT_ONLY", false);
    // Unlike the other settings, set-but-blank is not "unset": an empty allow-list is how a team
    // pauses Autoheal (AllowedPlaybooks=""), so it must fail closed, with nothing allowed.
    c.allowed_playbooks = match (r.get)("AUTOHEAL_ALLOWED_PLAYBOOKS") {
        None => Playbook::ALL.iter().copied().collect(),
        Some(list) => {
            let mut set = BTreeSet::new();
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match Playbook::from_name(name) {
                    Some(p) => {
                        set.insert(p);
                    }
                    None => r.problems.push(format!(
                        "AUTOHEAL_ALLOWED_PLAYBOOKS has unknown playbook {name:?}"
                    )),
                }
            }
            set
        }
    };
    c.ledger_prefix = format!(
        "{}/",
        r.string("AUTOHEAL_LEDGER_PREFIX", "autoheal/")
            .trim_end_matches('/')
    );
    c.cooldown_minutes = r.number("AUTOHEAL_COOLDOWN_MINUTES", 30u64, 0);
    c.max_actions_per_day = r.number("AUTOHEAL_MAX_ACTIONS_PER_DAY", 3u32, 0);
    c.loop_window_minutes = r.number("AUTOHEAL_LOOP_WINDOW_MINUTES", 120u64, 1);
    c.loop_max_failed_fixes = r.number("AUTOHEAL_LOOP_MAX_FAILED_FIXES", 2u32, 1);
    c.claim_lease_seconds = r.number("AUTOHEAL_CLAIM_LEASE_SECONDS", 900u64, 1);
    c.known_good_settle_minutes = r.number("AUTOHEAL_KNOWN_GOOD_SETTLE_MINUTES", 30u64, 0);
}

/// How Autoheal talks to the on-call engineer: which runs are published, how often an ongoing
/// problem is repeated, the chat format, and how long a held action may still be approved.
fn read_on_call(r: &mut Reader, c: &mut Config) {
    c.publish_ignored = r.flag("AUTOHEAL_PUBLISH_IGNORED", false);
    c.reminder_minutes = r.number("AUTOHEAL_REMINDER_MINUTES", 240u64, 1);
    c.chatbot_format = r.flag("AUTOHEAL_CHATBOT_FORMAT", false);
    c.approval_max_age_hours = r.number("AUTOHEAL_APPROVAL_MAX_AGE_HOURS", 24u64, 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&move |k| map.get(k).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        ("AWS_REGION", "us-east-1"),
        ("S3_BUCKET", "b"),
        (
            "SNS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:vieweratlas-alerts",
        ),
    ];

    #[test]
    fn defaults_follow_the_contract() {
        let c = cfg(BASE).unwrap();
        assert_eq!(c.cluster, "vieweratlas-cluster");
        assert_eq!(c.snapshot_prefix, "vieweratlas/raw/snapshots/");
        assert_eq!(c.collector_log_group, "/ecs/vieweratlas-collector");
        assert_eq!(c.freshness_max_age_minutes, 180);
        assert_eq!(c.analysis_max_age_hours, 26);
        assert_eq!(
            c.twitch_validate_url.as_deref(),
            Some("https://id.twitch.tv/oauth2/validate")
        );
        assert!(!c.dry_run);
        assert_eq!(c.allowed_playbooks.len(), Playbook::ALL.len());
    }

    #[test]
    fn every_problem_is_reported_at_once_by_name() {
        let err = cfg(&[
            ("S3_FRESHNESS_MAX_AGE_MINUTES", "soon"),
            ("AUTOHEAL_DRY_RUN", "maybe"),
            ("AUTOHEAL_ALLOWED_PLAYBOOKS", "rollback,reboot"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for name in [
            "AWS_REGION",
            "S3_BUCKET",
            "SNS_TOPIC_ARN",
            "S3_FRESHNESS_MAX_AGE_MINUTES",
            "AUTOHEAL_DRY_RUN",
            "reboot",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        assert_eq!(err.problems.len(), 6, "{text}");
        assert!(!text.contains('\n'));
    }

    /// Pausing is an empty allow-list (`AllowedPlaybooks=""`): it must fail closed, not fall back
    /// to the default of every playbook. Unset still means every playbook.
    #[test]
    fn an_empty_allow_list_lets_no_playbook_act() {
        for blank in ["", " ", ",", " , "] {
            let mut pairs = BASE.to_vec();
            pairs.push(("AUTOHEAL_ALLOWED_PLAYBOOKS", blank));
            let c = cfg(&pairs).unwrap();
            assert!(
                c.allowed_playbooks.is_empty(),
                "{blank:?} allowed {:?}",
                c.allowed_playbooks
            );
        }
        assert_eq!(
            cfg(BASE).unwrap().allowed_playbooks.len(),
            Playbook::ALL.len()
        );
    }

    #[test]
    fn prefix_is_normalised_and_empty_validate_url_disables_the_check() {
        let mut pairs = BASE.to_vec();
        pairs.push(("S3_PREFIX", "data//"));
        pairs.push(("AUTOHEAL_TWITCH_VALIDATE_URL", ""));
        let c = cfg(&pairs).unwrap();
        assert_eq!(c.prefix, "data/");
        assert_eq!(c.snapshot_prefix, "data/raw/snapshots/");
        assert_eq!(c.twitch_validate_url, None);
    }

    #[test]
    fn the_validate_url_is_https_or_loopback_http_judged_on_the_parsed_host() {
        for ok in [
            "https://id.twitch.tv/oauth2/validate",
            "http://127.0.0.1:8080/oauth2/validate",
            "http://localhost/validate",
            "http://[::1]:9/v",
        ] {
            assert_eq!(validate_url_allowed(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://localhost.evil.example/v",
            "http://127.0.0.1.nip.io/v",
            "http://localhost@evil.example/v",
            "http://evil.example/v",
            "https://user:pw@id.twitch.tv/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(validate_url_allowed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn partition_layout_renders_and_rejects_nonsense() {
        let p = PartitionLayout::parse("date=%Y-%m-%d/").unwrap();
        assert_eq!(p.render((2026, 3, 7)), "date=2026-03-07/");
        assert!(PartitionLayout::parse("%Y/%m/").is_err());
        let mut pairs = BASE.to_vec();
        pairs.push(("AUTOHEAL_SNAPSHOT_PARTITIONS", "%Y/%m"));
        assert!(cfg(&pairs)
            .unwrap_err()
            .to_string()
            .contains("AUTOHEAL_SNAPSHOT_PARTITIONS"));
    }
}
