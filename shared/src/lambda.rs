//! The Lambda side: start-up (config once, clients once) and the handler as a free function over
//! borrowed dependencies, as in aws-lambda-rust-runtime's examples.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use crate::aws::{Aws, CredentialSource};
use crate::config::Config;
use crate::deps::Deps;
use crate::run::{self, Function, RunOptions};

/// Handles one invocation. An error makes Lambda retry the async invocation and then send it to
/// the on-failure destination, which is what we want when the report could not be delivered.
pub async fn handler(
    deps: &Deps,
    function: Function,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let (payload, ctx) = event.into_parts();
    tracing::info!(request_id = %ctx.request_id, "invocation");
    // Lambda stops the invocation at its deadline: a claim this run holds is free after it.
    let opts = RunOptions {
        dry_run: false,
        deadline: Some((ctx.deadline / 1000) as i64 + 1),
    };
    match run::handle(deps, function, &payload, opts).await {
        Ok(report) => Ok(serde_json::to_value(&report)?),
        Err(e) => {
            tracing::error!(error = %e, invalid_input = e.is_invalid_input(), "run failed");
            // Display only: the error's Debug form would repeat the whole report in the log.
            Err(e.to_string().into())
        }
    }
}

/// Everything a function's `main` does: logs, settings, clients, then the runtime loop.
/// Bad settings stop the function at init with one line naming every problem.
pub async fn serve(function: Function) -> Result<(), lambda_runtime::Error> {
    crate::report::telemetry::init();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "start-up failed"))?;
    let aws = Aws::connect(&config, CredentialSource::Environment).await;
    let deps = Deps { config, aws };
    let deps = &deps;
    // Boxed so the runtime's service type does not carry the whole playbook future's type.
    lambda_runtime::run(service_fn(move |event| {
        Box::pin(handler(deps, function, event))
    }))
    .await
}
