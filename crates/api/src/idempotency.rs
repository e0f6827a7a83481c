//! The `Idempotency-Key` header on POSTs that create or change resources.
//!
//! # Semantics
//!
//! A client that may retry a POST (a timeout, a dropped connection) sends a unique
//! `Idempotency-Key` (1 to 255 printable ASCII characters, e.g. a UUID). Keys live in a scope:
//! the user, for authenticated routes, or the client address for unauthenticated ones
//! (`POST /v1/users`), so one client can never see another's responses.
//!
//! - First use: the key is claimed (recorded as in flight with the request's digest), the
//!   request runs, and a 2xx response is stored with it. Any other
//!   outcome releases the claim, so a retry with the same key runs again (a 4xx would repeat;
//!   a 5xx may not).
//! - Same key, same request, after success: the stored status and body are replayed, with
//!   `Idempotency-Replayed: true`; nothing runs again.
//! - Same key, different request (method, path or body): 422 `idempotency-key-reused`.
//! - Same key while the first request still runs: 409 `idempotency-in-flight`; retry later.
//!
//! A claim whose request died (the process stopped) is taken over after
//! [`IN_FLIGHT_TIMEOUT_SECS`]; stored responses are kept [`RETENTION_SECS`] (24 h), after which
//! the key may be reused. The key is optional: without it a POST simply runs.
//!
//! The request digest is HMAC-SHA-256, under the server's token key, of method, path and body:
//! a provisioning body holds a card number and CVV, and a plain hash of it could be reversed by
//! trying the few candidates left once the card's last four digits are known.
//!
//! The session routes do not take part: their responses are credentials, which are never
//! stored (the database keeps only hashes of refresh tokens), and a repeated login or refresh
//! is harmless in itself. The header is ignored there.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use store::wallet::WalletStore;
use store::wallet::{IdempotencyBegin, IdempotencyClaim};
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::ClientIp;
use crate::{AppState, BODY_LIMIT_BYTES};

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header set on a replay.
pub const IDEMPOTENCY_REPLAYED: &str = "idempotency-replayed";
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// A claim in flight this long is presumed dead.
pub const IN_FLIGHT_TIMEOUT_SECS: i64 = 60;
/// How long a stored response is replayed.
pub const RETENTION_SECS: i64 = 24 * 60 * 60;

/// The `Idempotency-Key` request header, as the OpenAPI document describes it.
#[derive(Clone, Debug, Default, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// Makes a retry safe: the same key and body replay the first successful response (24 h).
    #[param(
        rename = "Idempotency-Key",
        value_type = String,
        required = false,
        min_length = 1,
        max_length = 255,
        pattern = "^[!-~]+$"
    )]
    pub idempotency_key: Option<String>,
}

/// Label of the keyed request digest.
const REQUEST_DIGEST_LABEL: &str = "tapwallet idempotency request v1";

/// Our own JSON responses are small; a bigger one is not stored (the claim is released).
const MAX_STORED_RESPONSE_BYTES: usize = 256 * 1024;

/// Middleware for unauthenticated POSTs: keys are scoped by client address.
pub(crate) async fn by_client(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let scope = format!("ip:{}", ClientIp::of(req.extensions()).0);
    run(&state, scope, req, next).await
}

/// Middleware for authenticated POSTs: authenticates first (401 otherwise), then scopes keys by
/// user. The handler's [`AuthUser`] extractor reuses the result.
pub(crate) async fn by_user(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let user = match AuthUser::authenticate(&parts, &state).await {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let scope = format!("user:{}", user.user_id);
    parts.extensions.insert(user);
    run(&state, scope, Request::from_parts(parts, body), next).await
}

fn valid_key(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= MAX_KEY_LEN && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_owned())
}

async fn run(state: &AppState, scope: String, req: Request, next: Next) -> Response {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let Some(key) = valid_key(value) else {
        return ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters."
        ))
        .into_response();
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) if is_length_limit(&e) => return ApiError::PayloadTooLarge.into_response(),
        Err(_) => {
            return ApiError::BadRequest("The body could not be read.".to_owned()).into_response();
        }
    };
    let request_hash = state.jwt().keyed_digest(
        REQUEST_DIGEST_LABEL,
        &[
            parts.method.as_str().as_bytes(),
            parts
                .uri
                .path_and_query()
                .map_or("", |pq| pq.as_str())
                .as_bytes(),
            &bytes,
        ],
    );
    let claim = IdempotencyClaim {
        scope,
        key,
        request_hash,
        now_unix: state.now(),
        in_flight_timeout_secs: IN_FLIGHT_TIMEOUT_SECS,
        retention_secs: RETENTION_SECS,
    };
    let begun = match state.store().idempotency_begin(&claim).await {
        Ok(begun) => begun,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match begun {
        IdempotencyBegin::Started => {}
        IdempotencyBegin::Completed { status, body } => return replay(status, body),
        IdempotencyBegin::InFlight => {
            return ApiError::Conflict {
                problem: "idempotency-in-flight",
                detail: "A request with this Idempotency-Key is still being processed; retry \
                         later.",
            }
            .into_response();
        }
        IdempotencyBegin::Mismatch => return ApiError::IdempotencyKeyReused.into_response(),
    }

    let mut guard = Release {
        store: state.store().clone(),
        scope: claim.scope,
        key: claim.key,
        armed: true,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if !response.status().is_success() {
        guard.release().await;
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_STORED_RESPONSE_BYTES).await else {
        guard.release().await;
        return ApiError::internal("response too large to store for idempotency").into_response();
    };
    // From here the effect has happened: the claim must not be released (a retry would run it
    // again). If storing fails, the claim stays in flight until it expires.
    guard.armed = false;
    if let Err(e) = state
        .store()
        .idempotency_complete(&guard.scope, &guard.key, parts.status.as_u16(), &bytes)
        .await
    {
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// True when reading a body failed because it exceeded the limit.
pub(crate) fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(IDEMPOTENCY_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Releases a claim if the request ends without storing a response, including when the
/// request's future is dropped (the client went away mid-request).
struct Release {
    store: WalletStore,
    scope: String,
    key: String,
    armed: bool,
}

impl Release {
    async fn release(&mut self) {
        self.armed = false;
        if let Err(e) = self.store.idempotency_release(&self.scope, &self.key).await {
            tracing::warn!(error = %e, "could not release an idempotency claim");
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let scope = core::mem::take(&mut self.scope);
        let key = core::mem::take(&mut self.key);
        runtime.spawn(async move {
            if let Err(e) = store.idempotency_release(&scope, &key).await {
                tracing::warn!(error = %e, "could not release an abandoned idempotency claim");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(valid_key(&v("3f1c-aa_b.c~!")).is_some());
        assert!(valid_key(&v("")).is_none());
        assert!(valid_key(&v("a b")).is_none());
        assert!(valid_key(&v(&"k".repeat(256))).is_none());
        assert!(valid_key(&v(&"k".repeat(255))).is_some());
    }
}
