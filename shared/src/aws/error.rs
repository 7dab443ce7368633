//! What an SDK error means to a caller: a one-line description for reports (never a request body),
//! and the kind of failure a caller branches on (not found, denied, transient, refused).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

type Response = aws_sdk_s3::config::http::HttpResponse;

/// A short, single-line description of an SDK error: the service's code and message when there is
/// one, else the transport failure. Never includes request bodies.
pub fn describe_error<E>(err: &SdkError<E, Response>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
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

/// Whether an SDK error leaves the request's effect unknown and a new attempt worthwhile: a timeout,
/// a connection that failed or broke, an unreadable answer, or a 5xx (S3's 500 and 503 included).
/// A 4xx is an answer: the request was refused and trying again changes nothing.
pub fn is_transient<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    use aws_sdk_s3::error::SdkError;
    match err {
        SdkError::ServiceError(se) => se.raw().status().is_server_error(),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        _ => false,
    }
}

/// How a call failed, as far as a caller's decision goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The thing asked about does not exist (404, `ResourceNotFoundException`, `NoSuchKey`, ...).
    NotFound,
    /// The caller's role may not do this (403, `AccessDenied...`).
    Denied,
    /// Timeout, broken connection, throttling or 5xx: the effect is unknown; a retry may work.
    Transient,
    /// Any other refusal (a 4xx): the request was answered and did nothing.
    Refused,
}

/// A failed AWS call: which operation, what AWS said (one line), and its [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {detail}")]
pub struct AwsError {
    pub op: String,
    pub detail: String,
    pub kind: ErrorKind,
}

impl AwsError {
    pub fn from_sdk<E>(op: impl Into<String>, err: &SdkError<E, Response>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self {
            op: op.into(),
            detail: describe_error(err),
            kind: kind_of(err),
        }
    }

    pub fn is(&self, kind: ErrorKind) -> bool {
        self.kind == kind
    }
}

fn kind_of<E>(err: &SdkError<E, Response>) -> ErrorKind
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if is_transient(err) {
        return ErrorKind::Transient;
    }
    let SdkError::ServiceError(se) = err else {
        return ErrorKind::Refused;
    };
    let code = se.err().code().unwrap_or_default();
    let status = se.raw().status().as_u16();
    if status == 404
        || code.contains("NotFound")
        || code == "NoSuchKey"
        // ECS answers a missing task definition with a ClientException.
        || se
            .err()
            .message()
            .is_some_and(|m| m.contains("Unable to describe task definition"))
    {
        ErrorKind::NotFound
    } else if status == 403 || code.starts_with("AccessDenied") || code == "UnauthorizedOperation" {
        ErrorKind::Denied
    } else if code.contains("Throttl") || code == "TooManyRequestsException" || code == "SlowDown" {
        ErrorKind::Transient
    } else {
        ErrorKind::Refused
    }
}
