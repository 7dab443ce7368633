//! One place builds the SDK configuration and every client, so they share one HTTP connector,
//! credentials cache, retry and timeout policy; and one place says what an SDK error means.

pub mod caller;
mod error;
pub mod https;

pub use error::{describe_error, is_transient, AwsError, ErrorKind};

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::Config;

/// Static credentials for callers that must not consult the environment or instance metadata
/// (tests against the emulator).
#[derive(Clone)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The SDK clients Autoheal uses, all from one `SdkConfig` (one HTTPS client, credentials cache,
/// retry and timeout policy).
///
/// Each client is built on first use: building one parses that SDK crate's endpoint partition
/// table and assembles its runtime plugins, and no function uses all seven (deployment-watch uses
/// three). So a cold start pays for the clients its run needs, not for the whole set.
#[derive(Clone, Debug)]
pub struct Aws {
    pub sdk: SdkConfig,
    path_style: bool,
    ecs: OnceLock<aws_sdk_ecs::Client>,
    logs: OnceLock<aws_sdk_cloudwatchlogs::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    events: OnceLock<aws_sdk_eventbridge::Client>,
    secrets: OnceLock<aws_sdk_secretsmanager::Client>,
    sns: OnceLock<aws_sdk_sns::Client>,
    cloudwatch: OnceLock<aws_sdk_cloudwatch::Client>,
}

/// A full set of ready-made clients, for [`Aws::from_clients`].
pub struct Clients {
    pub ecs: aws_sdk_ecs::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub s3: aws_sdk_s3::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

/// Bounded so a hanging endpoint cannot eat the function's whole time budget: at most
/// 3 attempts of 5 s each, 12 s per operation in all.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build()
}

/// Where the SDK finds credentials.
#[derive(Clone, Debug)]
pub enum CredentialSource {
    /// The SDK's standard chain (environment, profiles, SSO, web identity, container, instance
    /// metadata): what a person running the CLI expects.
    Standard,
    /// Only `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, which is how Lambda
    /// hands a function its role's credentials. Building the standard chain would construct STS,
    /// SSO and metadata clients at every cold start that a Lambda function never uses.
    Environment,
    /// Fixed keys (tests against the emulator must not consult anything else).
    Static(StaticKeys),
}

impl Aws {
    pub async fn connect(config: &Config, credentials: CredentialSource) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(caller::tagged(https::shared_client()))
            .region(Region::new(config.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(timeouts());
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        match credentials {
            CredentialSource::Standard => {}
            CredentialSource::Environment => {
                loader = loader.credentials_provider(
                    aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
                );
            }
            CredentialSource::Static(k) => {
                loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                    k.access_key_id,
                    k.secret_access_key,
                    None,
                    None,
                    "autoheal-static",
                ));
            }
        }
        let sdk = loader.load().await;
        Self::from_sdk(sdk, config.endpoint_url.is_some())
    }

    /// Keeps the `SdkConfig` every client will be built from. An emulator endpoint serves all
    /// buckets from one host, so S3 then needs path-style addressing.
    pub fn from_sdk(sdk: SdkConfig, path_style: bool) -> Self {
        Self {
            sdk,
            path_style,
            ecs: OnceLock::new(),
            logs: OnceLock::new(),
            s3: OnceLock::new(),
            events: OnceLock::new(),
            secrets: OnceLock::new(),
            sns: OnceLock::new(),
            cloudwatch: OnceLock::new(),
        }
    }

    /// Clients configured by the caller (tests that give each service its own stubbed HTTP client).
    pub fn from_clients(sdk: SdkConfig, c: Clients) -> Self {
        Self {
            sdk,
            path_style: true,
            ecs: c.ecs.into(),
            logs: c.logs.into(),
            s3: c.s3.into(),
            events: c.events.into(),
            secrets: c.secrets.into(),
            sns: c.sns.into(),
            cloudwatch: c.cloudwatch.into(),
        }
    }

    pub fn ecs(&self) -> &aws_sdk_ecs::Client {
        self.ecs.get_or_init(|| aws_sdk_ecs::Client::new(&self.sdk))
    }

    pub fn logs(&self) -> &aws_sdk_cloudwatchlogs::Client {
        self.logs
            .get_or_init(|| aws_sdk_cloudwatchlogs::Client::new(&self.sdk))
    }

    pub fn s3(&self) -> &aws_sdk_s3::Client {
        self.s3.get_or_init(|| {
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&self.sdk)
                    .force_path_style(self.path_style)
                    .build(),
            )
        })
    }

    pub fn events(&self) -> &aws_sdk_eventbridge::Client {
        self.events
            .get_or_init(|| aws_sdk_eventbridge::Client::new(&self.sdk))
    }

    pub fn secrets(&self) -> &aws_sdk_secretsmanager::Client {
        self.secrets
            .get_or_init(|| aws_sdk_secretsmanager::Client::new(&self.sdk))
    }

    pub fn sns(&self) -> &aws_sdk_sns::Client {
        self.sns.get_or_init(|| aws_sdk_sns::Client::new(&self.sdk))
    }

    pub fn cloudwatch(&self) -> &aws_sdk_cloudwatch::Client {
        self.cloudwatch
            .get_or_init(|| aws_sdk_cloudwatch::Client::new(&self.sdk))
    }
}
