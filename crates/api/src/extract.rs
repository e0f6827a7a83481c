//! Extractors whose every rejection is a problem+json [`ApiError`], never axum's plain text.
//!
//! - [`Json`]: `Content-Type` must be `application/json` (or `application/*+json`), else 415;
//!   a body over [`BODY_LIMIT_BYTES`](crate::BODY_LIMIT_BYTES) is 413; bytes that are not JSON
//!   are 400; JSON of the wrong shape (missing field, wrong type, unknown enum value) is 422 with
//!   the field's path.
//! - [`OptionalJson`]: the same for a body that may be left out (no body, or JSON `null`, is
//!   the type's default).
//! - [`Path`] and [`Query`]: a component that does not decode is 400.
//! - [`ClientIp`]: the peer address `serve` attached, for per-client limits and idempotency
//!   scopes.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A JSON body (see the module docs for its rejections).
#[derive(Clone, Copy, Debug, Default)]
pub struct Json<T>(pub T);

/// True when the request says its body is JSON.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest("The body could not be read.".to_owned()),
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be left out: an empty body, or JSON `null`, is `T::default()`; any
/// other body is read as [`Json`] reads it (415, 413, 400, 422).
#[derive(Clone, Copy, Debug, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest("The body could not be read.".to_owned()),
            }
        })?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json::<Option<T>>(&bytes).map(|v| Self(v.unwrap_or_default()))
    }
}

/// Parses a JSON body: syntax errors (including trailing bytes and nesting deeper than 128)
/// are 400, shape errors 422 naming the field. The syntax is checked over the whole body first,
/// so a malformed body is never reported as a missing field.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "The body is not valid JSON: {}.",
            without_position(&e)
        ))
    })?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = without_position(e.inner());
        ApiError::Validation(vec![FieldError::new(field_of(&path, &message), message)])
    })
}

/// serde_json's message without its " at line L column C" suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text.get(..at).unwrap_or_default().to_owned(),
        None => text,
    }
}

/// The path of the field an error is about. serde reports a missing field at its parent, so
/// the name is taken from the message ("missing field `email`").
fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'));
    match (missing, path) {
        (Some(name), ".") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, path) => path.to_owned(),
    }
}

/// Path parameters; a segment that does not decode is 400.
#[derive(Clone, Copy, Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|_| ApiError::BadRequest("A path segment could not be decoded.".to_owned()))
    }
}

/// Query parameters; a query string that does not decode is 400.
#[derive(Clone, Copy, Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|_| ApiError::BadRequest("The query string could not be decoded.".to_owned()))
    }
}

/// The client's address as `serve` saw it (the TCP peer; no proxy header is trusted), or
/// `unknown` when the app runs without `serve` (tests calling the router directly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl ClientIp {
    /// Reads the peer address from the request's extensions.
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        Self(extensions.get::<ConnectInfo<SocketAddr>>().map_or_else(
            || "unknown".to_owned(),
            |ConnectInfo(addr)| addr.ip().to_string(),
        ))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = core::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        x: String,
    }

    fn field(body: &str) -> (StatusCode, Option<String>) {
        match parse_json::<Outer>(body.as_bytes()) {
            Ok(_) => (StatusCode::OK, None),
            Err(ApiError::Validation(errors)) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(errors[0].field.clone()),
            ),
            Err(e) => (e.status(), None),
        }
    }

    #[test]
    fn shape_errors_name_the_field() {
        assert_eq!(
            field(r#"{"name":"a","inner":{"x":"b"}}"#),
            (StatusCode::OK, None)
        );
        assert_eq!(
            field(r#"{"inner":{"x":"b"}}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("name".to_owned()))
        );
        assert_eq!(
            field(r#"{"name":"a","inner":{}}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("inner.x".to_owned()))
        );
        assert_eq!(
            field(r#"{"name":1,"inner":{"x":"b"}}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("name".to_owned()))
        );
        assert_eq!(
            field("[]"),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(".".to_owned()))
        );
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        for body in [
            "",
            "{",
            r#"{"name":"a","inner":{"x":"b"}} trailing"#,
            "\u{0}",
        ] {
            assert_eq!(field(body), (StatusCode::BAD_REQUEST, None), "{body:?}");
        }
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (value, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/jsonx", false),
        ] {
            h.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&h), ok, "{value}");
        }
    }
}
