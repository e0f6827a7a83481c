//! The one error type of the API and its RFC 9457 problem+json rendering.
//!
//! Every failure a handler, an extractor or a middleware can produce is an [`ApiError`]; its
//! [`IntoResponse`] writes `application/problem+json` with a `type` URI naming the problem, a
//! `title`, the `status`, a `detail` for the client, the request id as `instance`, and for
//! validation failures an `errors` list naming each field. Internal detail (a database error)
//! goes to the log, never to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::observe;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type` URI; the suffix names the problem.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:tapwallet:problem:";

/// An RFC 9457 problem details object, as every error response carries it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI naming the kind of problem, `urn:tapwallet:problem:<name>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:tapwallet:problem:validation")]
    pub type_uri: String,
    /// Short, human-readable summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request id (also sent as `x-request-id`); quote it when reporting a problem.
    pub instance: String,
    /// For validation problems (422): each offending field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For a wrong one-time password (422 `incorrect-otp`): the attempts left before
    /// verification by code locks (then 423 `otp-locked`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

/// One invalid field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's path in the JSON body (`se_public_key.x`), or the query parameter's name;
    /// `.` is the body as a whole.
    pub field: String,
    /// Why it is invalid.
    pub message: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Why a request was not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// Email and password do not match a user.
    BadCredentials,
    /// The access token is malformed, altered, expired, or its session is revoked.
    InvalidToken,
    /// The refresh token is unknown, rotated, or its session is revoked or expired.
    InvalidRefreshToken,
    /// No `Authorization: Bearer` header.
    MissingToken,
}

/// Every error the API returns.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request cannot be parsed (malformed JSON, query or header).
    BadRequest(String),
    /// 401, with `WWW-Authenticate: Bearer`.
    Unauthorized(AuthFailure),
    /// 404: no such resource (or not the caller's).
    NotFound(&'static str),
    /// 405: the path exists, the method does not (axum adds `Allow`).
    MethodNotAllowed,
    /// 409: the request conflicts with the state: `problem` names the conflict.
    Conflict {
        /// Suffix of the problem type URI.
        problem: &'static str,
        /// Explanation for the client.
        detail: &'static str,
    },
    /// 413: the body exceeds the limit.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: the body parsed but its fields are invalid.
    Validation(Vec<FieldError>),
    /// 422: the `Idempotency-Key` was used before for a different request.
    IdempotencyKeyReused,
    /// 422: the one-time password is wrong; this many attempts are left.
    IncorrectOtp {
        /// Attempts left before verification by code locks.
        attempts_left: u32,
    },
    /// 401, with `WWW-Authenticate: JWS`: a webhook whose signature does not verify with the
    /// token service's key.
    InvalidSignature,
    /// 423: too many wrong one-time passwords; verification by code is locked for this card.
    OtpLocked,
    /// 502: the token service is unreachable or answered something unusable; the cause is
    /// logged, not returned.
    TokenService(String),
    /// 429, with `Retry-After`.
    RateLimited {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// 500: a bug or a failed dependency; the message is logged, not returned.
    Internal(String),
    /// 503: the database does not answer (readiness).
    Unavailable,
}

impl ApiError {
    /// A 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// A 500 whose cause is logged.
    pub fn internal(cause: impl core::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::IdempotencyKeyReused | Self::IncorrectOtp { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::InvalidSignature => StatusCode::UNAUTHORIZED,
            Self::OtpLocked => StatusCode::LOCKED,
            Self::TokenService(_) => StatusCode::BAD_GATEWAY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// `(type suffix, title, detail)`.
    fn describe(&self) -> (&'static str, &'static str, String) {
        match self {
            Self::BadRequest(detail) => ("malformed-request", "Malformed request", detail.clone()),
            Self::Unauthorized(why) => {
                let detail = match why {
                    AuthFailure::BadCredentials => "The email or password is wrong.",
                    AuthFailure::InvalidToken => {
                        "The access token is invalid, expired or revoked; sign in again or refresh."
                    }
                    AuthFailure::InvalidRefreshToken => {
                        "The refresh token is invalid, expired, already used or revoked; sign in \
                         again."
                    }
                    AuthFailure::MissingToken => {
                        "This operation needs an access token: `Authorization: Bearer <token>`."
                    }
                };
                ("unauthorized", "Unauthorized", detail.to_owned())
            }
            Self::NotFound(what) => ("not-found", "Not found", format!("No such {what}.")),
            Self::MethodNotAllowed => (
                "method-not-allowed",
                "Method not allowed",
                "This path does not support this method; see the Allow header.".to_owned(),
            ),
            Self::Conflict { problem, detail } => (problem, "Conflict", (*detail).to_owned()),
            Self::PayloadTooLarge => (
                "payload-too-large",
                "Payload too large",
                format!("The body exceeds {} bytes.", crate::BODY_LIMIT_BYTES),
            ),
            Self::UnsupportedMediaType => (
                "unsupported-media-type",
                "Unsupported media type",
                "The body must be JSON, sent with `Content-Type: application/json`.".to_owned(),
            ),
            Self::Validation(_) => (
                "validation",
                "Validation failed",
                "Some fields are invalid; see `errors`.".to_owned(),
            ),
            Self::IdempotencyKeyReused => (
                "idempotency-key-reused",
                "Idempotency key reused",
                "This Idempotency-Key was used for a different request; use a new key.".to_owned(),
            ),
            Self::IncorrectOtp { attempts_left } => (
                "incorrect-otp",
                "Incorrect one-time password",
                format!(
                    "The one-time password is wrong; {attempts_left} attempt(s) left before \
                     verification by code locks."
                ),
            ),
            Self::InvalidSignature => (
                "invalid-signature",
                "Invalid signature",
                "The body is not a JWS signed (ES256) by the token service's key.".to_owned(),
            ),
            Self::OtpLocked => (
                "otp-locked",
                "Locked",
                "Too many wrong one-time passwords: verification by code is locked for this \
                 card. Delete it and add it again, or verify in the issuer's app if offered."
                    .to_owned(),
            ),
            Self::TokenService(_) => (
                "token-service-unavailable",
                "Bad gateway",
                "The token service did not answer usably; retry later.".to_owned(),
            ),
            Self::RateLimited { retry_after_secs } => (
                "rate-limited",
                "Too many requests",
                format!("Too many attempts; retry in {retry_after_secs} s."),
            ),
            Self::Internal(_) => (
                "internal",
                "Internal error",
                "The server failed to handle the request; quote `instance` to report it."
                    .to_owned(),
            ),
            Self::Unavailable => (
                "unavailable",
                "Service unavailable",
                "The database does not answer.".to_owned(),
            ),
        }
    }

    /// The problem object this error renders (with the current request's id as `instance`).
    pub fn problem(&self) -> Problem {
        let (suffix, title, detail) = self.describe();
        Problem {
            type_uri: format!("{PROBLEM_TYPE_PREFIX}{suffix}"),
            title: title.to_owned(),
            status: self.status().as_u16(),
            detail,
            instance: observe::current_request_id().unwrap_or_default(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            attempts_left: match self {
                Self::IncorrectOtp { attempts_left } => Some(*attempts_left),
                Self::OtpLocked => Some(0),
                _ => None,
            },
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        Self::internal(e)
    }
}

impl core::fmt::Display for ApiError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (suffix, _, _) = self.describe();
        write!(f, "{} {suffix}", self.status().as_u16())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            // The cause stays in the log; the client sees the request id to quote.
            Self::Internal(cause) => tracing::error!(%cause, "internal error"),
            Self::TokenService(cause) => tracing::warn!(%cause, "token service failure"),
            other => tracing::debug!(problem = %other, "request refused"),
        }
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match self {
            Self::Unauthorized(why) => {
                let value = match why {
                    AuthFailure::InvalidToken => {
                        r#"Bearer realm="tapwallet", error="invalid_token""#
                    }
                    _ => r#"Bearer realm="tapwallet""#,
                };
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
            }
            Self::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::InvalidSignature => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"JWS realm="tapwallet-webhooks", alg="ES256""#),
                );
            }
            _ => {}
        }
        response
    }
}
