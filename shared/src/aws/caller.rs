//! Which Autoheal function makes an AWS call: every request of a run carries
//! `autoheal-function/<name>` at the end of its User-Agent.
//!
//! CloudTrail records the user agent, so an operator can tell which function (and which
//! replay through `autoheal handle`, which runs as the function that would have received the event)
//! made a call; the test world reads it to check each call against that function's own IAM policy.
//!
//! The name comes from a task-local set by [`scope`] around a run, because one process may run
//! several functions' playbooks (the CLI, the tests) over one set of SDK clients. It is added by a
//! wrapper around the one shared HTTP client, after signing: SigV4 does not sign `User-Agent`.

use std::future::Future;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `run` as `function`: its AWS calls name that function in their user agent.
pub async fn scope<F: Future>(function: &'static str, run: F) -> F::Output {
    FUNCTION.scope(function, run).await
}

/// The function the current task runs as, if any.
pub fn current() -> Option<&'static str> {
    FUNCTION.try_with(|f| *f).ok()
}

/// `inner`, with the current function appended to each request's User-Agent.
pub fn tagged(inner: SharedHttpClient) -> SharedHttpClient {
    SharedHttpClient::new(Tagged(inner))
}

#[derive(Debug)]
struct Tagged(SharedHttpClient);

impl HttpClient for Tagged {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(TaggedConnector(self.0.http_connector(settings, components)))
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_base_client_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[derive(Debug)]
struct TaggedConnector(SharedHttpConnector);

impl HttpConnector for TaggedConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        if let Some(function) = current() {
            let ua = request.headers().get("user-agent").unwrap_or_default();
            let tagged = format!("{ua} autoheal-function/{function}");
            // Both parts are valid header text; should that ever fail, the call goes out untagged.
            let _ = request
                .headers_mut()
                .try_insert("user-agent", tagged.trim_start().to_string());
        }
        self.0.call(request)
    }
}
