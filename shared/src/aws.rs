//! One place builds the SDK configuration and every client, so they share one HTTP connector,
//! credentials cache, retry and timeout policy.

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

/// The SDK clients Autoheal uses. Cheap to clone; each clone shares the same connection pool.
#[derive(Clone, Debug)]
pub struct Aws {
    pub sdk: SdkConfig,
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

impl Aws {
    /// Loads credentials the standard way (the Lambda environment, profiles, …).
    pub async fn connect(config: &Config) -> Self {
        Self::connect_with(config, None).await
    }

    pub async fn connect_with(config: &Config, keys: Option<StaticKeys>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(timeouts());
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some(k) = keys {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                k.access_key_id,
                k.secret_access_key,
                None,
                None,
                "autoheal-static",
            ));
        }
        let sdk = loader.load().await;
        Self::from_sdk(sdk, config.endpoint_url.is_some())
    }

    /// Builds every client from one `SdkConfig`. An emulator endpoint serves all buckets from one
    /// host, so S3 then needs path-style addressing.
    pub fn from_sdk(sdk: SdkConfig, path_style: bool) -> Self {
        let s3_conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(path_style)
            .build();
        Self {
            ecs: aws_sdk_ecs::Client::new(&sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(&sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            sns: aws_sdk_sns::Client::new(&sdk),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&sdk),
            sdk,
        }
    }
}

/// A short, single-line description of an SDK error: the service's code and message when there is
/// one, else the transport failure. Never includes request bodies.
pub fn describe_error<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                // HEAD responses carry no error body: the status is all there is.
                _ => format!("HTTP {} ({e})", se.raw().status().as_u16()),
            }
        }
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                "timed out connecting".to_string()
            } else if d.is_io() {
                "connection failed (I/O)".to_string()
            } else {
                "request could not be sent".to_string()
            }
        }
        SdkError::ResponseError(_) => "unreadable response".to_string(),
        SdkError::ConstructionFailure(_) => "request could not be built".to_string(),
        _ => "unknown SDK error".to_string(),
    }
}
