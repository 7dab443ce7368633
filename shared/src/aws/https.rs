//! One HTTPS client for every SDK client in the process.
//!
//! Left alone, the SDK gives each service client its own default HTTPS client, and each of those
//! builds a throw-away TLS connector when the service client is constructed ("validation"): the
//! whole system trust store parsed into a rustls root store, a TLS config built, and the result
//! dropped. Seven clients meant seven of those at every cold start, the larger part of Autoheal's
//! init time (BENCHMARKS.md §4), and seven connection pools. Here one client is shared, its
//! validation is a no-op, and the connector is built once, on the first request, then cached by
//! the client for every service.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::Provider;
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

/// The SDK's default stack (hyper 1, rustls with aws-lc, proxy settings from the environment),
/// built the way `aws-smithy-runtime` builds it, without the eager warm-up.
pub fn shared_client() -> SharedHttpClient {
    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    });
    SharedHttpClient::new(BuildOnFirstRequest(inner))
}

#[derive(Debug)]
struct BuildOnFirstRequest(SharedHttpClient);

impl HttpClient for BuildOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    /// Nothing to check: the connector settings are Autoheal's own and fixed, and a trust store
    /// problem still surfaces, as a failed request naming the operation, on first use.
    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
