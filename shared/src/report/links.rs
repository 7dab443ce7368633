//! Messages that lead somewhere: every check and action in a report links to the AWS console page
//! that shows what it looked at or changed, in the report's region, and every command handed to a
//! human is complete (its `--region` and the configured names, never the defaults).
//!
//! Links are built with `url` from the configured names, so a name with odd characters still gives
//! a well-formed link. [`annotate`] fills in the link of every check and action that its playbook
//! did not set itself, by what the check is about; checks about a ledger record (known-good,
//! schedule record, incident) get theirs where the record's key is known, in the playbook.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use url::Url;

use crate::config::Config;
use crate::report::{Check, Report};

/// The console's host for a region: its partition decides the domain.
fn console_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("{region}.console.amazonaws.cn")
    } else if region.starts_with("us-gov-") {
        format!("{region}.console.amazonaws-us-gov.com")
    } else {
        format!("{region}.console.aws.amazon.com")
    }
}

/// `https://<region console>/<segments…>?region=<region>[&query…][#fragment]`.
fn console(
    cfg: &Config,
    segments: &[&str],
    query: &[(&str, &str)],
    fragment: Option<&str>,
) -> String {
    let host = if segments.first() == Some(&"s3") && !cfg.region.starts_with("cn-") {
        // S3's console is global; the region goes in the query.
        "s3.console.aws.amazon.com".to_string()
    } else {
        console_host(&cfg.region)
    };
    let mut url = match Url::parse(&format!("https://{host}/")) {
        Ok(u) => u,
        Err(_) => return String::new(),
    };
    if let Ok(mut path) = url.path_segments_mut() {
        path.clear().extend(segments);
    }
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("region", &cfg.region);
        for (k, v) in query {
            q.append_pair(k, v);
        }
    }
    url.set_fragment(fragment);
    url.to_string()
}

/// What stays as it is in a URL component: letters, digits and `-_.~` (RFC 3986 unreserved).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// The CloudWatch Logs console's fragment encoding of a name: percent-encoded twice, then `%`
/// written `$` (a `/` in a log group name is `$252F`).
fn cw_name(s: &str) -> String {
    encode(&encode(s)).replace('%', "$")
}

/// … and of the query inside the fragment: percent-encoded once, `%` written `$` (`?` is `$3F`).
fn cw_query(start_ms: i64, end_ms: i64) -> String {
    encode(&format!("?start={start_ms}&end={end_ms}")).replace('%', "$")
}

pub fn cluster(cfg: &Config) -> String {
    console(
        cfg,
        &["ecs", "v2", "clusters", &cfg.cluster, "services"],
        &[],
        None,
    )
}

/// A tab of a service's page: `health`, `deployments`, `tasks`, `events`.
pub fn service(cfg: &Config, cluster: &str, service: &str, tab: &str) -> String {
    console(
        cfg,
        &["ecs", "v2", "clusters", cluster, "services", service, tab],
        &[],
        None,
    )
}

pub fn task(cfg: &Config, cluster: &str, task_id: &str) -> String {
    console(
        cfg,
        &[
            "ecs",
            "v2",
            "clusters",
            cluster,
            "tasks",
            task_id,
            "configuration",
        ],
        &[],
        None,
    )
}

/// A task-definition family, or one revision of it (`family:rev` or a task-definition ARN).
pub fn task_definition(cfg: &Config, td: &str) -> String {
    let short = td.rsplit('/').next().unwrap_or(td);
    match short.split_once(':') {
        Some((family, rev)) => console(
            cfg,
            &["ecs", "v2", "task-definitions", family, rev, "containers"],
            &[],
            None,
        ),
        None => console(cfg, &["ecs", "v2", "task-definitions", short], &[], None),
    }
}

/// A log group's events between two instants (epoch ms).
pub fn log_group(cfg: &Config, group: &str, start_ms: i64, end_ms: i64) -> String {
    let fragment = format!(
        "logsV2:log-groups/log-group/{}/log-events{}",
        cw_name(group),
        cw_query(start_ms, end_ms)
    );
    console(cfg, &["cloudwatch", "home"], &[], Some(&fragment))
}

/// One log stream's events between two instants (epoch ms).
pub fn log_stream(cfg: &Config, group: &str, stream: &str, start_ms: i64, end_ms: i64) -> String {
    let fragment = format!(
        "logsV2:log-groups/log-group/{}/log-events/{}{}",
        cw_name(group),
        cw_name(stream),
        cw_query(start_ms, end_ms)
    );
    console(cfg, &["cloudwatch", "home"], &[], Some(&fragment))
}

pub fn alarm(cfg: &Config, name: &str) -> String {
    let fragment = format!("alarmsV2:alarm/{}", encode(name));
    console(cfg, &["cloudwatch", "home"], &[], Some(&fragment))
}

pub fn alarms(cfg: &Config) -> String {
    console(cfg, &["cloudwatch", "home"], &[], Some("alarmsV2:"))
}

pub fn rule(cfg: &Config, name: &str) -> String {
    let fragment = format!("/eventbus/default/rules/{}", encode(name));
    console(cfg, &["events", "home"], &[], Some(&fragment))
}

pub fn secret(cfg: &Config, name: &str) -> String {
    console(cfg, &["secretsmanager", "secret"], &[("name", name)], None)
}

pub fn topic(cfg: &Config, arn: &str) -> String {
    let fragment = format!("/topic/{arn}");
    console(cfg, &["sns", "v3", "home"], &[], Some(&fragment))
}

/// The objects under a prefix of a bucket.
pub fn s3_prefix(cfg: &Config, bucket: &str, prefix: &str) -> String {
    console(cfg, &["s3", "buckets", bucket], &[("prefix", prefix)], None)
}

/// One object (a ledger record, the analysis output).
pub fn s3_object(cfg: &Config, bucket: &str, key: &str) -> String {
    console(cfg, &["s3", "object", bucket], &[("prefix", key)], None)
}

/// A ledger record of this deployment, by its key.
pub fn ledger_object(cfg: &Config, key: &str) -> String {
    s3_object(cfg, &cfg.bucket, key)
}

/// An `aws` command a human can paste as it is: the region is always named.
pub fn aws_cli(cfg: &Config, command: &str) -> String {
    format!("aws {command} --region {}", cfg.region)
}

/// An `autoheal` command a human can paste as it is: the settings it needs to find this
/// deployment (region, bucket, topic, and every name the commands use that is not its default)
/// come first.
pub fn autoheal_cli(cfg: &Config, command: &str) -> String {
    let mut env = vec![
        ("AWS_REGION", cfg.region.as_str()),
        ("S3_BUCKET", cfg.bucket.as_str()),
        ("SNS_TOPIC_ARN", cfg.topic_arn.as_str()),
    ];
    // The defaults, from the one place that knows them.
    let required = |k: &str| match k {
        "AWS_REGION" => Some(cfg.region.clone()),
        "S3_BUCKET" => Some(cfg.bucket.clone()),
        "SNS_TOPIC_ARN" => Some(cfg.topic_arn.clone()),
        _ => None,
    };
    if let Ok(d) = Config::from_lookup(&required) {
        let names = [
            ("ECS_CLUSTER", &cfg.cluster, d.cluster),
            (
                "COLLECTOR_SERVICE_NAME",
                &cfg.collector_service,
                d.collector_service,
            ),
            (
                "COLLECTOR_TASK_FAMILY",
                &cfg.collector_family,
                d.collector_family,
            ),
            (
                "ANALYSIS_TASK_FAMILY",
                &cfg.analysis_family,
                d.analysis_family,
            ),
            ("VOD_TASK_FAMILY", &cfg.vod_family, d.vod_family),
            ("ANALYSIS_RULE_NAME", &cfg.analysis_rule, d.analysis_rule),
            ("VOD_RULE_NAME", &cfg.vod_rule, d.vod_rule),
            (
                "AUTOHEAL_LEDGER_PREFIX",
                &cfg.ledger_prefix,
                d.ledger_prefix,
            ),
        ];
        env.extend(
            names
                .into_iter()
                .filter(|(_, mine, default)| *mine != default)
                .map(|(k, mine, _)| (k, mine.as_str())),
        );
    }
    let env: Vec<String> = env
        .into_iter()
        .map(|(k, v)| format!("{k}={}", shell_word(v)))
        .collect();
    format!("{} autoheal {command}", env.join(" "))
}

/// A value as one shell word: as it is when it is plain, else single-quoted.
fn shell_word(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,".contains(c));
    if plain {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// Where a rule's failures and the analysis or VOD family meet: the rule that runs `family`.
fn rule_of_family<'a>(cfg: &'a Config, family: &str) -> Option<&'a str> {
    if family == cfg.analysis_family {
        Some(&cfg.analysis_rule)
    } else if family == cfg.vod_family {
        Some(&cfg.vod_rule)
    } else {
        None
    }
}

/// Which of `names` a check's detail is about: the one it starts with, followed by `after`
/// (a `log_scan` detail starts "<group>:", an `alarm_defined` one "<alarm> ").
fn named_in<'a>(names: [&'a String; 3], detail: &str, after: char) -> Option<&'a str> {
    names
        .into_iter()
        .find(|n| detail.starts_with(&format!("{n}{after}")))
        .map(String::as_str)
}

/// The console page for a check, by what it is about. `now` ends the log windows.
pub fn for_check(cfg: &Config, r: &Report, c: &Check, now: i64) -> Option<String> {
    let window_start = (now - cfg.log_lookback_minutes as i64 * 60 - 300) * 1000;
    let end = (now + 60) * 1000;
    let svc = |tab| service(cfg, &cfg.cluster, &cfg.collector_service, tab);
    let link = match c.name.as_str() {
        "ecs_cluster_active" | "services_using_secret" | "redeploy" => cluster(cfg),
        "task_definitions_resolve" | "task_definition_config" => {
            task_definition(cfg, &cfg.collector_family)
        }
        "collector_service_active" | "collector_running" | "service_health" | "service" => {
            svc("health")
        }
        "collector_rollout" | "current_revision" | "after" | "deployment" | "rollback"
        | "deployment_started" => svc("deployments"),
        "stopped_tasks" | "blast_radius" => svc("tasks"),
        "collector_recent_logs" => log_group(cfg, &cfg.collector_log_group, window_start, end),
        "log_scan" => {
            let groups = [
                &cfg.collector_log_group,
                &cfg.analysis_log_group,
                &cfg.vod_log_group,
            ];
            log_group(cfg, named_in(groups, &c.detail, ':')?, window_start, end)
        }
        "s3_snapshot_freshness" => {
            let today = crate::clock::civil_date(now);
            let prefix = format!(
                "{}{}",
                cfg.snapshot_prefix,
                cfg.partition_layout.render(today)
            );
            s3_prefix(cfg, &cfg.bucket, &prefix)
        }
        "analysis_output_freshness" => s3_object(cfg, &cfg.bucket, &cfg.analysis_results_key()),
        "schedule_targets_current" => console(cfg, &["events", "home"], &[], Some("/rules")),
        "consecutive_failures" => rule(cfg, rule_of_family(cfg, &r.trigger.name)?),
        "alarm_live_state" => alarm(cfg, &r.trigger.name),
        "alarm_defined" => {
            let alarms = [
                &cfg.alarm_unavailable,
                &cfg.alarm_snapshot_stalled,
                &cfg.alarm_error_spike,
            ];
            alarm(cfg, named_in(alarms, &c.detail, ' ')?)
        }
        "alarms" => alarms(cfg),
        "twitch_secrets" | "twitch_token" | "twitch_token_validation" | "log_lines_withheld" => {
            secret(cfg, &cfg.oauth_secret_id)
        }
        "secret_watched" | "secret_current_version" => secret(cfg, &r.trigger.name),
        "topic_exists" | "subscriptions_confirmed" => topic(cfg, &cfg.topic_arn),
        _ => return None,
    };
    Some(link)
}

/// The console page for an action's target (`service/<cluster>/<name>`, `rule/<name>`,
/// `alarm/<name>`, `topic/<arn>`).
pub fn for_target(cfg: &Config, target: &str) -> Option<String> {
    let (kind, rest) = target.split_once('/')?;
    Some(match kind {
        "service" => {
            let (cluster, name) = rest.split_once('/')?;
            service(cfg, cluster, name, "deployments")
        }
        "rule" => rule(cfg, rest),
        "alarm" => alarm(cfg, rest),
        "topic" => topic(cfg, rest),
        _ => return None,
    })
}

/// Gives every check and action without a link the console page that shows it.
pub fn annotate(r: &mut Report, cfg: &Config, now: i64) {
    let snapshot = r.clone();
    for c in r.checks.iter_mut().filter(|c| c.link.is_none()) {
        c.link = for_check(cfg, &snapshot, c, now);
    }
    for a in r.actions.iter_mut().filter(|a| a.link.is_none()) {
        a.link = for_target(cfg, &a.target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(region: &str) -> Config {
        let mut c = Config::from_lookup(&|k| match k {
            "AWS_REGION" => Some(region.into()),
            "S3_BUCKET" => Some("b".into()),
            "SNS_TOPIC_ARN" => Some("arn:aws:sns:eu-west-1:1:t".into()),
            _ => None,
        })
        .unwrap();
        c.region = region.into();
        c
    }

    #[test]
    fn log_links_use_the_consoles_fragment_encoding_and_the_window() {
        let l = log_stream(
            &cfg("eu-west-1"),
            "/ecs/vieweratlas-analysis",
            "analysis/analysis/ab12",
            1000,
            2000,
        );
        assert!(l.starts_with("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/$252Fecs$252Fvieweratlas-analysis/log-events/analysis$252Fanalysis$252Fab12$3Fstart$3D1000$26end$3D2000"), "{l}");
    }

    #[test]
    fn partitions_and_odd_names_give_well_formed_links() {
        assert!(alarm(&cfg("cn-north-1"), "A b")
            .starts_with("https://cn-north-1.console.amazonaws.cn/"));
        let s = secret(&cfg("us-east-1"), "vieweratlas/twitch/oauth token");
        let u = Url::parse(&s).unwrap();
        assert_eq!(
            u.query_pairs().find(|(k, _)| k == "name").unwrap().1,
            "vieweratlas/twitch/oauth token"
        );
        assert!(s3_prefix(&cfg("us-east-1"), "b", "p/2026/").starts_with(
            "https://s3.console.aws.amazon.com/s3/buckets/b?region=us-east-1&prefix=p%2F2026%2F"
        ));
    }

    #[test]
    fn every_check_found_by_name_has_a_page() {
        let c = cfg("us-east-1");
        let mut r = Report::new(
            crate::report::TriggerRef {
                kind: crate::report::TriggerKind::TaskStopped,
                id: "e".into(),
                name: c.analysis_family.clone(),
            },
            crate::report::Playbook::AnalysisFailure,
        );
        for name in [
            "ecs_cluster_active",
            "services_using_secret",
            "redeploy",
            "task_definitions_resolve",
            "task_definition_config",
            "collector_service_active",
            "collector_running",
            "service_health",
            "service",
            "collector_rollout",
            "current_revision",
            "after",
            "deployment",
            "rollback",
            "deployment_started",
            "stopped_tasks",
            "blast_radius",
            "collector_recent_logs",
            "s3_snapshot_freshness",
            "analysis_output_freshness",
            "schedule_targets_current",
            "consecutive_failures",
            "alarms",
            "twitch_secrets",
            "twitch_token",
            "twitch_token_validation",
            "topic_exists",
            "subscriptions_confirmed",
        ] {
            r.checks.push(Check::pass(name, "x"));
        }
        r.checks.push(Check::pass(
            "log_scan",
            format!("{}: 3 events", c.vod_log_group),
        ));
        r.checks.push(Check::pass(
            "alarm_defined",
            format!("{} matches", c.alarm_error_spike),
        ));
        annotate(&mut r, &c, 1_800_000_000);
        for ch in &r.checks {
            let link = ch
                .link
                .as_deref()
                .unwrap_or_else(|| panic!("{} has no link", ch.name));
            assert!(Url::parse(link).is_ok(), "{link}");
        }
    }

    #[test]
    fn commands_name_the_region_and_the_deployment() {
        let c = cfg("eu-west-1");
        assert_eq!(
            aws_cli(&c, "ecs describe-services"),
            "aws ecs describe-services --region eu-west-1"
        );
        assert!(autoheal_cli(&c, "status").starts_with("AWS_REGION=eu-west-1 S3_BUCKET=b SNS_TOPIC_ARN=arn:aws:sns:eu-west-1:1:t autoheal status"));
    }
}
