//! The Twitch token check (CONTRACT §4): `GET oauth2/validate` with `Authorization: OAuth <token>`.
//! 200 means Twitch accepts the token; 401 means it does not, and no redeploy can fix that.
//!
//! The token is held in [`Token`], which never prints its value; it is read from Secrets Manager
//! only for this call and sent only to the configured validate URL.

use std::sync::OnceLock;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;

use crate::aws::Aws;

/// A secret value. Debug and Display print a placeholder; there is no way to serialize it.
pub struct Token(String);

impl Token {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The value, for the one place that must send it.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([REDACTED])")
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// Twitch accepts the token.
    Valid {
        client_id: Option<String>,
        expires_in: Option<i64>,
        scopes: Vec<String>,
    },
    /// Twitch rejects it (HTTP 401): rotate it; redeploying changes nothing.
    Rejected { status: u16 },
    /// The stored value cannot work the way the collector uses it (e.g. an `oauth:` prefix): the
    /// value must be fixed, whatever Twitch would say about the bare token.
    Unusable(String),
    /// The check itself could not be made: no verdict either way.
    Unknown(String),
}

impl TokenCheck {
    pub fn summary(&self) -> String {
        match self {
            TokenCheck::Valid {
                client_id,
                expires_in,
                scopes,
            } => format!(
                "Twitch accepts the token (client {}, expires in {}, scopes {})",
                client_id.as_deref().unwrap_or("?"),
                expires_in
                    .map(crate::probes::freshness::age_text)
                    .unwrap_or_else(|| "?".into()),
                if scopes.is_empty() {
                    "none".to_string()
                } else {
                    scopes.join(" ")
                }
            ),
            TokenCheck::Rejected { status } => format!("Twitch rejects the token (HTTP {status})"),
            TokenCheck::Unusable(why) => format!("the stored token cannot work: {why}"),
            TokenCheck::Unknown(why) => format!("token check inconclusive: {why}"),
        }
    }
}

/// Reads the token's current value. The error never contains the value.
pub async fn read_token(aws: &Aws, secret_id: &str) -> Result<Token, String> {
    let value = super::secrets::value(aws, secret_id).await?;
    // Checked exactly as stored: the collector uses the value as it is (VIEWERATLAS.md §7).
    Ok(Token::new(value.trim().to_string()))
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

/// One client per process: building it reads and parses the system trust store, which a warm
/// Lambda sandbox should not redo on every alarm. It keeps no idle connections: there is one call
/// per run, and a pooled connection would belong to the runtime of the run that opened it.
fn https_client() -> Result<&'static HttpsClient, String> {
    static CLIENT: OnceLock<Result<HttpsClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| format!("no TLS trust roots: {e}"))?
                .https_or_http()
                .enable_http1()
                .build();
            Ok(
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .pool_max_idle_per_host(0)
                    .build(connector),
            )
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Calls the validate endpoint once, bounded to a few seconds.
pub async fn validate(url: &str, token: &Token) -> TokenCheck {
    let client = match https_client() {
        Ok(c) => c,
        Err(e) => return TokenCheck::Unknown(e),
    };
    let request = match hyper::Request::get(url)
        .header("Authorization", format!("OAuth {}", token.expose()))
        .header("User-Agent", "autoheal")
        .body(Empty::new())
    {
        Ok(r) => r,
        Err(e) => return TokenCheck::Unknown(format!("bad validate URL {url}: {e}")),
    };
    let response = match tokio::time::timeout(Duration::from_secs(5), client.request(request)).await
    {
        Err(_) => return TokenCheck::Unknown(format!("{url} did not answer within 5 s")),
        Ok(Err(e)) => return TokenCheck::Unknown(format!("{url} unreachable: {e}")),
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    let body =
        match tokio::time::timeout(Duration::from_secs(5), response.into_body().collect()).await {
            Ok(Ok(b)) => b.to_bytes(),
            _ => Bytes::new(),
        };
    match status {
        200 => {
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            TokenCheck::Valid {
                client_id: v
                    .get("client_id")
                    .and_then(|c| c.as_str())
                    .map(str::to_string),
                expires_in: v.get("expires_in").and_then(|c| c.as_i64()),
                scopes: v
                    .get("scopes")
                    .and_then(|s| s.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        }
        401 => TokenCheck::Rejected { status },
        other => TokenCheck::Unknown(format!("{url} answered HTTP {other}")),
    }
}

/// Reads and checks the configured token, when the check is on (`None` when it is off).
pub async fn check_configured(deps: &crate::deps::Deps) -> Option<TokenCheck> {
    let url = deps.config.twitch_validate_url.as_deref()?;
    Some(
        match read_token(&deps.aws, &deps.config.oauth_secret_id).await {
            Ok(token) => match unusable(&token) {
                Some(why) => TokenCheck::Unusable(why),
                None => validate(url, &token).await,
            },
            Err(e) => TokenCheck::Unknown(e),
        },
    )
}

/// Why the value cannot work as the collector sends it, if it cannot. The Helix calls send it as
/// `Bearer <value>`: with an `oauth:` prefix (an IRC spelling) Twitch answers 401 (§7), even when
/// the token after the prefix is valid, so stripping the prefix and passing would hide the fault.
fn unusable(token: &Token) -> Option<String> {
    let v = token.expose();
    if v.to_ascii_lowercase().starts_with("oauth:") {
        return Some("it is stored with an 'oauth:' prefix, which the collector's Helix calls send as 'Bearer oauth:…' and Twitch rejects; store the bare token".into());
    }
    if v.is_empty() || v.chars().any(char::is_whitespace) {
        return Some("it is empty or contains whitespace".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oauth_prefix_is_reported_not_stripped() {
        assert!(unusable(&Token::new("oauth:abcdef".into())).is_some());
        assert!(unusable(&Token::new("OAuth:abcdef".into())).is_some());
        assert!(unusable(&Token::new("abcdef".into())).is_none());
    }

    #[test]
    fn tokens_never_print_their_value() {
        let t = Token::new("s3cr3t-value".into());
        assert_eq!(format!("{t} {t:?}"), "[REDACTED] Token([REDACTED])");
        assert_eq!(t.expose(), "s3cr3t-value");
    }
}
