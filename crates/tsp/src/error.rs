//! The token service's errors and their one mapping to HTTP problem details (RFC 9457).

use core::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// One invalid field of a request (422).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's path, e.g. `funding_account.pan`.
    pub field: String,
    /// What is wrong. Never contains the field's value.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Why a request to the token service failed. Carries no card data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TspError {
    /// The body is not JSON, or a batch is empty or too large (400).
    BadRequest(String),
    /// The request is not signed by a registered token requestor (401).
    Unauthorized,
    /// The body names another token requestor than the one that signed it (403).
    RequestorMismatch,
    /// No such token for this requestor (404).
    TokenNotFound(String),
    /// No such route (404).
    RouteNotFound,
    /// The method is not allowed on this route (405).
    MethodNotAllowed,
    /// The body is larger than the service accepts (413).
    PayloadTooLarge,
    /// The token is not in a state that allows this (409).
    Conflict {
        /// Short machine name of the conflict (`token-not-active`, `otp-locked`, ...).
        kind: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Fields failed validation (422).
    Invalid(Vec<FieldError>),
    /// The one-time password is wrong (422); this many attempts are left.
    IncorrectOtp {
        /// Attempts left before the authentication locks.
        attempts_left: u32,
    },
    /// The one-time password authentication is locked (409).
    OtpLocked,
    /// A dependency (store, issuer) is unavailable (503).
    Unavailable,
}

impl TspError {
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::RequestorMismatch => StatusCode::FORBIDDEN,
            Self::TokenNotFound(_) | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict { .. } | Self::OtpLocked => StatusCode::CONFLICT,
            Self::Invalid(_) | Self::IncorrectOtp { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthorized => "unauthorized",
            Self::RequestorMismatch => "requestor-mismatch",
            Self::TokenNotFound(_) => "token-not-found",
            Self::RouteNotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::PayloadTooLarge => "payload-too-large",
            Self::Conflict { kind, .. } => kind,
            Self::Invalid(_) => "validation-failed",
            Self::IncorrectOtp { .. } => "incorrect-otp",
            Self::OtpLocked => "otp-locked",
            Self::Unavailable => "unavailable",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "Bad request",
            Self::Unauthorized => "Unauthorized",
            Self::RequestorMismatch => "Forbidden",
            Self::TokenNotFound(_) | Self::RouteNotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::PayloadTooLarge => "Payload too large",
            Self::Conflict { .. } | Self::OtpLocked => "Conflict",
            Self::Invalid(_) => "Validation failed",
            Self::IncorrectOtp { .. } => "Incorrect one-time password",
            Self::Unavailable => "Service unavailable",
        }
    }
}

impl fmt::Display for TspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest(d) => f.write_str(d),
            Self::Unauthorized => f.write_str(
                "the request is not signed by a registered token requestor (see X-Tsp-Signature)",
            ),
            Self::RequestorMismatch => {
                f.write_str("token_requestor_id is not the requestor that signed the request")
            }
            Self::TokenNotFound(tur) => write!(f, "no token {tur} for this token requestor"),
            Self::RouteNotFound => f.write_str("no such resource"),
            Self::MethodNotAllowed => f.write_str("this method is not allowed here"),
            Self::PayloadTooLarge => f.write_str("the body is larger than 64 KiB"),
            Self::Conflict { detail, .. } => f.write_str(detail),
            Self::Invalid(errors) => write!(f, "{} field(s) are invalid", errors.len()),
            Self::IncorrectOtp { attempts_left } => write!(
                f,
                "the one-time password is wrong; {attempts_left} attempt(s) left"
            ),
            Self::OtpLocked => f.write_str(
                "too many wrong one-time passwords: authentication by code is locked for this token",
            ),
            Self::Unavailable => f.write_str("a dependency is unavailable; retry later"),
        }
    }
}

impl std::error::Error for TspError {}

impl From<store::StoreError> for TspError {
    fn from(e: store::StoreError) -> Self {
        tracing::error!(error = %e, "token service store failure");
        Self::Unavailable
    }
}

/// An RFC 9457 problem document.
#[derive(Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts_left: Option<u32>,
}

impl IntoResponse for TspError {
    fn into_response(self) -> Response {
        let status = self.status();
        let problem = Problem {
            kind: format!("urn:tapwallet:tsp:problem:{}", self.kind()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            attempts_left: match &self {
                Self::IncorrectOtp { attempts_left } => Some(*attempts_left),
                Self::OtpLocked => Some(0),
                _ => None,
            },
            errors: match self {
                Self::Invalid(errors) => errors,
                _ => Vec::new(),
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
