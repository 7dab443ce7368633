//! Faults the emulator cannot produce: throttling, 5xx, access denied, a failing SNS publish, a
//! failing UpdateService, endpoints that keep answering 503 or never answer at all.
//!
//! Every SDK client is built from the `SdkConfig` that `Aws::connect` builds for production
//! (so the retry and timeout policy under test is the real one in `aws.rs`), with its HTTP client
//! replaced by `aws-smithy-mocks`. Nothing leaves the process: the mock HTTP client answers every
//! request, and the endpoint is a closed loopback port in case anything ever slipped through.
//!
//! Each test builds its own world of mocks ("a healthy ViewerAtlas") and breaks one part of it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autoheal::aws::{Aws, Clients, CredentialSource, StaticKeys};
use autoheal::config::Config;
use autoheal::deps::Deps;
use autoheal::report::{ActionStatus, Check, CheckStatus, Outcome, Report};
use autoheal::run::{self, Function, RunError, RunOptions};
use aws_config::SdkConfig;
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::DateTime;
use serde_json::Value;

const REGION: &str = "us-east-1";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:t";
const ACCOUNT: &str = "123456789012";
const CLUSTER: &str = "vieweratlas-cluster";
const COLLECTOR: &str = "vieweratlas-collector";
const OAUTH_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:vieweratlas/twitch/oauth_token-Ab12Cd";
const CURRENT_VERSION: &str = "a1b2c3d4-e5f6-4789-9abc-def012345678";

// ---------------------------------------------------------------------------------------------
// Settings, events, clients
// ---------------------------------------------------------------------------------------------

fn config() -> Config {
    let env: HashMap<&str, &str> = HashMap::from([
        ("AWS_REGION", REGION),
        ("S3_BUCKET", "b"),
        ("SNS_TOPIC_ARN", TOPIC),
        ("AUTOHEAL_TWITCH_VALIDATE_URL", ""),
        // Belt and braces: were a request ever to get past the mocks, it would meet a closed
        // loopback port, never AWS.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ]);
    Config::from_lookup(&move |k| env.get(k).map(|v| v.to_string())).expect("valid test config")
}

fn sample_event(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/events")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The production SDK configuration (region, credentials, retry and timeout policy from aws.rs).
async fn production_sdk(config: &Config) -> SdkConfig {
    let keys = StaticKeys {
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
    };
    Aws::connect(config, CredentialSource::Static(keys))
        .await
        .sdk
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Mock rules per service. The first matching rule answers, so a test puts its faults in front of
/// the healthy defaults.
#[derive(Default)]
struct Mocks {
    ecs: Vec<Rule>,
    logs: Vec<Rule>,
    s3: Vec<Rule>,
    events: Vec<Rule>,
    secrets: Vec<Rule>,
    sns: Vec<Rule>,
    cloudwatch: Vec<Rule>,
    /// Replaces the ECS HTTP client entirely (for a service that never answers).
    ecs_http: Option<SharedHttpClient>,
}

fn interceptor(rules: &[Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

impl Mocks {
    fn build(&self, sdk: &SdkConfig) -> Aws {
        let http = create_mock_http_client();
        let ecs = match &self.ecs_http {
            // A real (if silent) HTTP client: requests go to it, not to the mock rules.
            Some(client) => aws_sdk_ecs::config::Builder::from(sdk).http_client(client.clone()),
            None => aws_sdk_ecs::config::Builder::from(sdk)
                .http_client(http.clone())
                .interceptor(interceptor(&self.ecs)),
        };
        let clients = Clients {
            ecs: aws_sdk_ecs::Client::from_conf(ecs.build()),
            logs: aws_sdk_cloudwatchlogs::Client::from_conf(
                aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
                    .http_client(http.clone())
                    .interceptor(interceptor(&self.logs))
                    .build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(true)
                    .http_client(http.clone())
                    .interceptor(interceptor(&self.s3))
                    .build(),
            ),
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(sdk)
                    .http_client(http.clone())
                    .interceptor(interceptor(&self.events))
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(sdk)
                    .http_client(http.clone())
                    .interceptor(interceptor(&self.secrets))
                    .build(),
            ),
            sns: aws_sdk_sns::Client::from_conf(
                aws_sdk_sns::config::Builder::from(sdk)
                    .http_client(http.clone())
                    .interceptor(interceptor(&self.sns))
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(sdk)
                    .http_client(http)
                    .interceptor(interceptor(&self.cloudwatch))
                    .build(),
            ),
        };
        Aws::from_clients(sdk.clone(), clients)
    }

    async fn deps(&self) -> Deps {
        let config = config();
        let sdk = production_sdk(&config).await;
        Deps {
            aws: self.build(&sdk),
            config,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Wire-level faults, as the services send them
// ---------------------------------------------------------------------------------------------

fn http(status: u16, content_type: &str, body: &str) -> HttpResponse {
    let mut r = HttpResponse::new(
        StatusCode::try_from(status).expect("status"),
        SdkBody::from(body.to_string()),
    );
    r.headers_mut()
        .insert("content-type", content_type.to_string());
    r
}

/// awsJson 1.1 (ECS, CloudWatch Logs, EventBridge, Secrets Manager) error body.
fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
    http(
        status,
        "application/x-amz-json-1.1",
        &format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
    )
}

/// S3 REST-XML error body.
fn s3_error(status: u16, code: &str, message: &str) -> HttpResponse {
    http(
        status,
        "application/xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>R3Q</RequestId></Error>"#
        ),
    )
}

/// awsQuery (SNS, CloudWatch) error body.
fn query_error(status: u16, code: &str, message: &str) -> HttpResponse {
    http(
        status,
        "text/xml",
        &format!(
            r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>R3Q</RequestId></ErrorResponse>"#
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// A healthy ViewerAtlas, as mock answers
// ---------------------------------------------------------------------------------------------

fn td_arn(family: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:3")
}

fn service_arn(name: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{name}")
}

fn healthy_service(name: &str) -> aws_sdk_ecs::types::Service {
    use aws_sdk_ecs::types::{Deployment, DeploymentRolloutState, Service};
    Service::builder()
        .service_name(name)
        .service_arn(service_arn(name))
        .cluster_arn(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"))
        .status("ACTIVE")
        .desired_count(1)
        .running_count(1)
        .pending_count(0)
        .task_definition(td_arn(name))
        .deployments(
            Deployment::builder()
                .id("ecs-svc/1111111111111111111")
                .status("PRIMARY")
                .rollout_state(DeploymentRolloutState::Completed)
                .task_definition(td_arn(name))
                .created_at(DateTime::from_secs(now() - 86_400))
                .desired_count(1)
                .running_count(1)
                .build(),
        )
        .build()
}

fn healthy_ecs() -> Vec<Rule> {
    use aws_sdk_ecs::operation::describe_clusters::DescribeClustersOutput;
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::operation::list_services::ListServicesOutput;
    use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
    use aws_sdk_ecs::types::{
        Cluster, ContainerDefinition, Secret, TaskDefinition, TaskDefinitionStatus,
    };
    use aws_sdk_ecs::Client;
    vec![
        mock!(Client::describe_clusters).then_output(|| {
            DescribeClustersOutput::builder()
                .clusters(
                    Cluster::builder()
                        .cluster_name(CLUSTER)
                        .status("ACTIVE")
                        .running_tasks_count(1)
                        .build(),
                )
                .build()
        }),
        mock!(Client::describe_task_definition).then_compute_output(|req| {
            // By family (the freshness check) or by ARN (the rotation redeploy).
            let asked = req.task_definition().unwrap_or_default();
            let family = autoheal::intake::family_of_task_definition(asked).0;
            let mut c = ContainerDefinition::builder()
                .name(family.clone())
                .image(format!(
                    "{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{family}:4f2c9ab"
                ));
            if family == COLLECTOR {
                c = c.secrets(
                    Secret::builder()
                        .name("TWITCH_OAUTH_TOKEN")
                        .value_from(OAUTH_ARN)
                        .build()
                        .expect("secret"),
                );
            }
            DescribeTaskDefinitionOutput::builder()
                .task_definition(
                    TaskDefinition::builder()
                        .task_definition_arn(td_arn(&family))
                        .family(family.clone())
                        .revision(3)
                        .status(TaskDefinitionStatus::Active)
                        .container_definitions(c.build())
                        .build(),
                )
                .build()
        }),
        mock!(Client::describe_services).then_compute_output(|req| {
            let services = req
                .services()
                .iter()
                .map(|s| healthy_service(s.rsplit('/').next().unwrap_or(s)))
                .collect::<Vec<_>>();
            DescribeServicesOutput::builder()
                .set_services(Some(services))
                .build()
        }),
        mock!(Client::list_services).then_output(|| {
            ListServicesOutput::builder()
                .service_arns(service_arn(COLLECTOR))
                .build()
        }),
        mock!(Client::update_service).then_output(|| {
            UpdateServiceOutput::builder()
                .service(healthy_service(COLLECTOR))
                .build()
        }),
    ]
}

fn healthy_logs() -> Vec<Rule> {
    use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput;
    use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
    use aws_sdk_cloudwatchlogs::Client;
    vec![mock!(Client::filter_log_events).then_output(|| {
        FilterLogEventsOutput::builder()
            .events(
                FilteredLogEvent::builder()
                    .timestamp((now() - 60) * 1000)
                    .message("Saved: snapshot 1764324900.json")
                    .build(),
            )
            .build()
    })]
}

fn healthy_s3() -> Vec<Rule> {
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_s3::types::Object;
    use aws_sdk_s3::Client;
    vec![
        mock!(Client::list_objects_v2).then_compute_output(|req| {
            ListObjectsV2Output::builder()
                .contents(
                    Object::builder()
                        .key(format!("{}snapshot.json", req.prefix().unwrap_or_default()))
                        .last_modified(DateTime::from_secs(now() - 120))
                        .build(),
                )
                .is_truncated(false)
                .build()
        }),
        mock!(Client::head_object).then_output(|| {
            HeadObjectOutput::builder()
                .last_modified(DateTime::from_secs(now() - 3_600))
                .build()
        }),
        // The ledger starts empty.
        mock!(Client::get_object)
            .then_http_response(|| s3_error(404, "NoSuchKey", "The specified key does not exist.")),
        mock!(Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"0f1e2d3c\"").build()),
    ]
}

fn healthy_events() -> Vec<Rule> {
    use aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput;
    use aws_sdk_eventbridge::operation::list_targets_by_rule::ListTargetsByRuleOutput;
    use aws_sdk_eventbridge::types::{EcsParameters, RuleState, Target};
    use aws_sdk_eventbridge::Client;
    let family_of = |rule: &str| {
        if rule.contains("vod") {
            "vieweratlas-vod-collector"
        } else {
            "vieweratlas-analysis"
        }
    };
    vec![
        mock!(Client::describe_rule).then_compute_output(|req| {
            DescribeRuleOutput::builder()
                .name(req.name().unwrap_or_default())
                .state(RuleState::Enabled)
                .build()
        }),
        mock!(Client::list_targets_by_rule).then_compute_output(move |req| {
            let family = family_of(req.rule().unwrap_or_default());
            ListTargetsByRuleOutput::builder()
                .targets(
                    Target::builder()
                        .id("1")
                        .arn(format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}"))
                        .ecs_parameters(
                            EcsParameters::builder()
                                .task_definition_arn(td_arn(family))
                                .build()
                                .expect("ecs parameters"),
                        )
                        .build()
                        .expect("target"),
                )
                .build()
        }),
    ]
}

fn healthy_secrets() -> Vec<Rule> {
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
    use aws_sdk_secretsmanager::Client;
    vec![mock!(Client::describe_secret).then_output(|| {
        DescribeSecretOutput::builder()
            .arn(OAUTH_ARN)
            .name("vieweratlas/twitch/oauth_token")
            .version_ids_to_stages(CURRENT_VERSION, vec!["AWSCURRENT".to_string()])
            .build()
    })]
}

/// SNS Publish that succeeds and keeps every published message for inspection.
fn recording_publish(sink: Arc<Mutex<Vec<String>>>) -> Rule {
    use aws_sdk_sns::operation::publish::PublishOutput;
    use aws_sdk_sns::Client;
    mock!(Client::publish).then_compute_output(move |req| {
        sink.lock()
            .unwrap()
            .push(req.message().unwrap_or_default().to_string());
        PublishOutput::builder()
            .message_id("11111111-2222-3333-4444-555555555555")
            .build()
    })
}

fn healthy() -> Mocks {
    Mocks {
        ecs: healthy_ecs(),
        logs: healthy_logs(),
        s3: healthy_s3(),
        events: healthy_events(),
        secrets: healthy_secrets(),
        sns: vec![recording_publish(Arc::default())],
        cloudwatch: vec![],
        ecs_http: None,
    }
}

fn check<'a>(r: &'a Report, name: &str) -> &'a Check {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {:#?}", r.checks))
}

/// The JSON report inside a published SNS message (message structure "json").
fn published_report(message: &str) -> Value {
    let envelope: Value = serde_json::from_str(message).expect("SNS message is JSON");
    serde_json::from_str(envelope["sqs"].as_str().expect("sqs member")).expect("report JSON")
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

/// (a) Throttled ECS, a 500 from S3 and AccessDenied from CloudWatch Logs: the run still finishes,
/// each affected check says `error` and names the error code, and the report goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freshness_run_reports_throttling_5xx_and_access_denied_as_check_errors() {
    let throttled = mock!(aws_sdk_ecs::Client::describe_services)
        .then_http_response(|| json_error(400, "ThrottlingException", "Rate exceeded"));
    let s3_500 = mock!(aws_sdk_s3::Client::list_objects_v2).then_http_response(|| {
        s3_error(
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    });
    let denied = mock!(aws_sdk_cloudwatchlogs::Client::filter_log_events).then_http_response(|| {
        json_error(
            400,
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/autoheal/fn is not authorized to perform: logs:FilterLogEvents",
        )
    });
    let published = Arc::new(Mutex::new(Vec::new()));
    let mut mocks = healthy();
    mocks.ecs.insert(0, throttled.clone());
    mocks.s3.insert(0, s3_500.clone());
    mocks.logs.insert(0, denied.clone());
    mocks.sns = vec![recording_publish(published.clone())];
    let deps = mocks.deps().await;

    let started = Instant::now();
    let report = run::handle(
        &deps,
        Function::FreshnessCheck,
        &sample_event("schedule-freshness.json"),
        RunOptions::default(),
    )
    .await
    .expect("the run completes and its report is published");
    let took = started.elapsed();

    assert!(
        matches!(report.outcome, Outcome::Failed | Outcome::Escalated),
        "{report:#?}"
    );
    let service = check(&report, "collector_service_active");
    assert_eq!(service.status, CheckStatus::Error, "{service:?}");
    assert!(
        service.detail.contains("ThrottlingException"),
        "{service:?}"
    );
    let snapshots = check(&report, "s3_snapshot_freshness");
    assert_eq!(snapshots.status, CheckStatus::Error, "{snapshots:?}");
    assert!(snapshots.detail.contains("InternalError"), "{snapshots:?}");
    let logs = check(&report, "collector_recent_logs");
    assert_eq!(logs.status, CheckStatus::Error, "{logs:?}");
    assert!(logs.detail.contains("AccessDeniedException"), "{logs:?}");
    // What could not be described is skipped, not guessed.
    assert_eq!(
        check(&report, "collector_rollout").status,
        CheckStatus::Skipped
    );
    assert_eq!(
        check(&report, "collector_running").status,
        CheckStatus::Skipped
    );
    // The unaffected checks still ran and passed.
    for name in [
        "ecs_cluster_active",
        "task_definitions_resolve",
        "analysis_output_freshness",
        "schedule_targets_current",
    ] {
        assert_eq!(
            check(&report, name).status,
            CheckStatus::Pass,
            "{:?}",
            check(&report, name)
        );
    }
    assert!(
        report
            .next_steps
            .iter()
            .any(|s| s.contains("could not run")),
        "{:?}",
        report.next_steps
    );

    // Throttling and 5xx are retried (3 attempts in all), access denied is not.
    assert_eq!(throttled.num_calls(), 3, "DescribeServices attempts");
    assert_eq!(s3_500.num_calls(), 3, "ListObjectsV2 attempts");
    assert_eq!(denied.num_calls(), 1, "FilterLogEvents attempts");

    let sent = published.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one report published");
    assert_eq!(published_report(&sent[0])["outcome"], report.outcome.name());
    println!(
        "faults (a): outcome {}, {} checks in error, took {took:.2?}",
        report.outcome.name(),
        report.failing_checks().count()
    );
}

/// (b) The report cannot be published: the run fails with `RunError::Publish`, naming the topic,
/// so Lambda's retry and failure destination take over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_fails_the_invocation_and_names_the_topic() {
    let sns_500 = mock!(aws_sdk_sns::Client::publish)
        .then_http_response(|| query_error(500, "InternalError", "Internal failure"));
    let mut mocks = healthy();
    mocks.sns = vec![sns_500.clone()];
    let mut deps = mocks.deps().await;
    // Ignored runs are published only when asked for.
    deps.config.publish_ignored = true;

    // An alarm that is back to OK is reported as ignored without reading anything: a run that
    // must publish, and touches no other service.
    let mut event = sample_event("alarm-eventbridge-snapshot-stalled.json");
    event["detail"]["state"]["value"] = "OK".into();
    let err = run::handle(
        &deps,
        Function::AlarmResponder,
        &event,
        RunOptions::default(),
    )
    .await
    .expect_err("publishing failed, so the run must fail");
    let text = err.to_string();
    assert!(text.contains(TOPIC), "{text}");
    assert!(text.contains("InternalError"), "{text}");
    assert!(!text.contains('\n'), "{text}");
    assert!(
        !err.is_invalid_input(),
        "a publish failure is retryable, not bad input"
    );
    let RunError::Publish { report, .. } = err else {
        panic!("expected RunError::Publish, got {text}")
    };
    assert_eq!(
        report.outcome,
        Outcome::Ignored,
        "the report is kept: {report:#?}"
    );
    assert_eq!(
        sns_500.num_calls(),
        3,
        "Publish attempts (SDK retries, then Lambda's)"
    );
    println!("faults (b): {text}");
}

/// (c) UpdateService fails with a 5xx during a rotation redeploy: the action and the run are
/// `failed`, and the decision is still written to the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_update_service_is_reported_and_the_decision_is_still_recorded() {
    let update_500 = mock!(aws_sdk_ecs::Client::update_service).then_http_response(|| {
        json_error(
            500,
            "ServerException",
            "Service Unavailable. Please try again later.",
        )
    });
    let decisions = Arc::new(Mutex::new(Vec::<Value>::new()));
    let sink = decisions.clone();
    let decision_put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|req| req.key().is_some_and(|k| k.contains("/decisions/")))
        .then_compute_output(move |req| {
            let body = req.body().bytes().map(serde_json::from_slice::<Value>);
            sink.lock().unwrap().push(match body {
                Some(Ok(v)) => v,
                other => panic!("decision body is not JSON: {other:?}"),
            });
            aws_sdk_s3::operation::put_object::PutObjectOutput::builder()
                .e_tag("\"d3c1510\"")
                .build()
        });
    let published = Arc::new(Mutex::new(Vec::new()));
    let mut mocks = healthy();
    mocks.ecs.insert(0, update_500.clone());
    mocks.s3.insert(0, decision_put.clone());
    mocks.sns = vec![recording_publish(published.clone())];
    let deps = mocks.deps().await;

    // A 5xx that (read back) changed nothing may pass on a second delivery: the run reports, then
    // ends in an error so that Lambda delivers the event again.
    let report = match run::handle(
        &deps,
        Function::RotationRedeploy,
        &sample_event("secret-update-oauth-token.json"),
        RunOptions::default(),
    )
    .await
    {
        Err(RunError::Retry { report }) => *report,
        other => panic!("the run reports and asks to be retried, got {other:?}"),
    };

    assert_eq!(report.outcome, Outcome::Failed, "{report:#?}");
    assert!(
        report.reason.contains("read back: it was not made"),
        "{}",
        report.reason
    );
    assert_eq!(report.actions.len(), 1, "{report:#?}");
    let action = &report.actions[0];
    assert_eq!(action.kind, "force_new_deployment");
    assert_eq!(action.status, ActionStatus::Failed, "{action:?}");
    assert!(action.detail.contains("ServerException"), "{action:?}");
    assert!(!action.detail.contains("ledger write failed"), "{action:?}");
    assert!(
        report.reason.contains("the action failed"),
        "{}",
        report.reason
    );
    assert!(!report.next_steps.is_empty());

    // Mutations are sent exactly once (a retried 5xx could start a second deployment), and the
    // decision reached the ledger.
    assert_eq!(update_500.num_calls(), 1, "UpdateService attempts");
    assert_eq!(decision_put.num_calls(), 1, "decision PutObject calls");
    let d = decisions.lock().unwrap()[0].clone();
    assert_eq!(d["status"], "failed", "{d:#}");
    assert_eq!(d["action"], "force_new_deployment");
    assert_eq!(d["target"], format!("service/{CLUSTER}/{COLLECTOR}"));
    assert!(
        d["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("ServerException"),
        "{d:#}"
    );

    assert_eq!(
        published.lock().unwrap().len(),
        1,
        "the failure is reported"
    );
    println!("faults (c): {}", action.detail);
}

/// (d) A service that keeps answering 503 is tried at most 3 times (aws.rs: 3 attempts), and the
/// check that needed it reports the error instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_of_a_503_are_bounded_to_three_attempts() {
    let unavailable = mock!(aws_sdk_ecs::Client::describe_clusters).then_http_response(|| {
        json_error(503, "ServiceUnavailableException", "Service Unavailable")
    });
    let mut mocks = healthy();
    mocks.ecs.insert(0, unavailable.clone());
    let deps = mocks.deps().await;

    let started = Instant::now();
    let report = run::handle(
        &deps,
        Function::FreshnessCheck,
        &sample_event("schedule-freshness.json"),
        RunOptions::default(),
    )
    .await
    .expect("run");
    let took = started.elapsed();

    assert_eq!(unavailable.num_calls(), 3, "DescribeClusters attempts");
    let cluster = check(&report, "ecs_cluster_active");
    assert_eq!(cluster.status, CheckStatus::Error, "{cluster:?}");
    assert!(cluster.detail.contains("ServiceUnavailable"), "{cluster:?}");
    assert_eq!(report.outcome, Outcome::Failed, "{report:#?}");
    // Two backoffs of at most 1 s and 2 s (standard retry, jittered).
    assert!(took < Duration::from_secs(10), "took {took:?}");
    println!(
        "faults (d): DescribeClusters attempted {} times, run took {took:.2?}",
        unavailable.num_calls()
    );
}

/// An HTTP client that accepts every request and never answers, noting each attempt: the
/// operation (`x-amz-target`), the SDK's invocation id (the same for every retry of one call) and
/// its `amz-sdk-request` header (`attempt=N; max=M`).
#[derive(Clone, Debug, Default)]
struct Silent {
    attempts: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl HttpConnector for Silent {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let h = request.headers();
        let field = |name: &str| h.get(name).unwrap_or("?").to_string();
        self.attempts.lock().unwrap().push((
            field("x-amz-target"),
            field("amz-sdk-invocation-id"),
            field("amz-sdk-request"),
        ));
        HttpConnectorFuture::new(std::future::pending::<Result<HttpResponse, ConnectorError>>())
    }
}

impl HttpClient for Silent {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// (d, continued) An endpoint that never answers: each call is attempted at most 3 times and
/// given up within the operation timeout (aws.rs: 5 s per attempt, 12 s per operation), so the
/// whole run ends well inside Lambda's budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_never_answers_is_abandoned_within_the_operation_timeout() {
    let silent = Silent::default();
    let mut mocks = healthy();
    mocks.ecs = vec![];
    mocks.ecs_http = Some(SharedHttpClient::new(silent.clone()));
    let deps = mocks.deps().await;

    let started = Instant::now();
    let report = run::handle(
        &deps,
        Function::FreshnessCheck,
        &sample_event("schedule-freshness.json"),
        RunOptions::default(),
    )
    .await
    .expect("run");
    let took = started.elapsed();

    for name in [
        "ecs_cluster_active",
        "task_definitions_resolve",
        "collector_service_active",
    ] {
        let c = check(&report, name);
        assert_eq!(c.status, CheckStatus::Error, "{c:?}");
        assert!(c.detail.contains("timed out"), "{c:?}");
    }
    assert_eq!(report.outcome, Outcome::Failed, "{report:#?}");

    let attempts = silent.attempts.lock().unwrap().clone();
    let mut per_call: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
    for (op, invocation, request) in &attempts {
        assert!(
            request.ends_with("max=3"),
            "{op}: amz-sdk-request {request}"
        );
        per_call.entry(invocation).or_insert((op, 0)).1 += 1;
    }
    // DescribeClusters, DescribeServices and one DescribeTaskDefinition per family at least.
    assert!(per_call.len() >= 5, "{per_call:?}");
    for (invocation, (op, n)) in &per_call {
        assert!(
            (1..=3).contains(n),
            "{op} ({invocation}) attempted {n} times"
        );
    }
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(16),
        "took {took:?}"
    );
    let most = per_call.values().map(|(_, n)| *n).max().unwrap_or(0);
    println!(
        "faults (d, timeout): {} ECS calls, {} attempts in all, at most {most} per call; run took {took:.2?}",
        per_call.len(),
        attempts.len()
    );
}
