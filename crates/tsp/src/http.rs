//! The HTTP API: routes, request authentication, JSON in and out.
//!
//! Bodies are read as bytes (the signature covers them exactly), parsed as JSON values and
//! checked field by field, so every 422 names its field and no message repeats a value sent.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use issuer::idv::AuthMethodKind;
use jose::Jwk;
use secret::Secret;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::Tsp;
use crate::auth;
use crate::error::{FieldError, TspError};
use crate::service::{
    Credential, LifecycleAction, MAX_KEYS_PER_BATCH, MAX_TURS, TokenRequestor, TokenizeRequest,
    parse_channel,
};

/// Largest request body accepted, bytes.
const BODY_LIMIT: usize = 64 * 1024;

/// The token service's routes (see the crate documentation), with `tsp` as state.
pub fn app(tsp: Arc<Tsp>) -> Router {
    Router::new()
        .route("/tsp/v1/keys", get(keys))
        .route("/tsp/v1/tokenize", post(tokenize))
        .route("/tsp/v1/tokens/search", post(search))
        .route("/tsp/v1/tokens/suspend", post(suspend))
        .route("/tsp/v1/tokens/unsuspend", post(unsuspend))
        .route("/tsp/v1/tokens/delete", post(delete))
        .route("/tsp/v1/tokens/{tur}", get(token))
        .route("/tsp/v1/tokens/{tur}/payload", get(payload))
        .route("/tsp/v1/tokens/{tur}/otp", post(send_otp))
        .route("/tsp/v1/tokens/{tur}/authenticate", post(authenticate))
        .route("/tsp/v1/tokens/{tur}/keys", post(replenish_keys))
        .fallback(|| async { TspError::RouteNotFound })
        .method_not_allowed_fallback(|| async { TspError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(tsp)
}

/// Serves the token service on `listener` until `shutdown` resolves, delivering due
/// notifications every `notify_interval` meanwhile.
pub async fn run(
    listener: TcpListener,
    tsp: Arc<Tsp>,
    notify_interval: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let courier = Arc::clone(&tsp);
    let notifications = tokio::spawn(async move {
        let mut tick = tokio::time::interval(notify_interval);
        loop {
            tick.tick().await;
            courier.deliver_notifications().await;
        }
    });
    let served = axum::serve(listener, app(tsp))
        .with_graceful_shutdown(shutdown)
        .await;
    notifications.abort();
    served
}

/// Everything a handler needs to authenticate a request.
struct Signed<'a> {
    method: &'a Method,
    uri: &'a OriginalUri,
    headers: &'a HeaderMap,
    body: &'a [u8],
}

/// The registered requestor that signed the request (see [`crate::auth`]).
fn authenticate_request<'t>(
    tsp: &'t Tsp,
    req: &Signed<'_>,
) -> Result<&'t TokenRequestor, TspError> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let refuse = |why: auth::AuthFailure| {
        tracing::info!(reason = ?why, path = req.uri.path(), "request not authenticated");
        TspError::Unauthorized
    };
    let (Some(id), Some(timestamp), Some(signature)) = (
        header(auth::REQUESTOR_HEADER),
        header(auth::TIMESTAMP_HEADER),
        header(auth::SIGNATURE_HEADER),
    ) else {
        return Err(refuse(auth::AuthFailure::MissingHeader));
    };
    let requestor = tsp
        .requestor(id)
        .ok_or_else(|| refuse(auth::AuthFailure::UnknownRequestor))?;
    auth::verify(
        &requestor.api_key,
        timestamp,
        signature,
        req.method.as_str(),
        req.uri.path(),
        req.body,
        tsp.now_unix(),
    )
    .map_err(refuse)?;
    Ok(requestor)
}

/// The body's bytes: 413 past [`BODY_LIMIT`], 400 when it cannot be read.
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, TspError> {
    body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            TspError::PayloadTooLarge
        } else {
            TspError::BadRequest("the body cannot be read".to_owned())
        }
    })
}

/// The body as a JSON object: 400 when it is not JSON, 422 when not an object.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, TspError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| TspError::BadRequest("the body is not valid JSON".to_owned()))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(TspError::field("", "the body must be a JSON object")),
    }
}

/// Collects field errors while reading a body.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'static str,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            prefix: "",
            errors: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn error(&mut self, name: &str, message: &str) {
        let field = self.path(name);
        self.errors.push(FieldError::new(&field, message));
    }

    /// A required string of 1 to `max` characters.
    fn string(&mut self, name: &str, max: usize) -> Option<String> {
        match self.map.get(name) {
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Some(s.clone()),
            Some(Value::String(_)) => {
                self.error(name, &format!("must be 1 to {max} characters"));
                None
            }
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
            None => {
                self.error(name, "is required");
                None
            }
        }
    }

    /// An optional string of 1 to `max` characters.
    fn optional_string(&mut self, name: &str, max: usize) -> Option<String> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(_) => self.string(name, max),
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, TspError> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(TspError::Invalid(self.errors)),
        }
    }
}

/// An identifier: letters, digits and `._:-`.
fn is_identifier(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Checks the body's `token_requestor_id` against the requestor that signed the request.
fn check_requestor(fields: &mut Fields<'_>, requestor: &TokenRequestor) -> Result<(), TspError> {
    match fields.string("token_requestor_id", 64) {
        Some(id) if id != requestor.id => Err(TspError::RequestorMismatch),
        _ => Ok(()),
    }
}

fn method_field(fields: &mut Fields<'_>) -> Option<AuthMethodKind> {
    let name = fields.string("method", 32)?;
    let method = AuthMethodKind::parse(&name);
    if method.is_none() {
        fields.error("method", "must be OTP_SMS, OTP_EMAIL or ISSUER_APP");
    }
    method
}

/// `channels`: absent means every channel.
fn channels_field(fields: &mut Fields<'_>, map: &Map<String, Value>) -> Option<domain::ChannelSet> {
    match map.get("channels") {
        None | Some(Value::Null) => Some(domain::ChannelSet::ALL),
        Some(Value::Array(items)) if !items.is_empty() => {
            let parsed: Option<Vec<_>> = items
                .iter()
                .map(|v| v.as_str().and_then(parse_channel))
                .collect();
            if parsed.is_none() {
                fields.error("channels", "items must be CONTACTLESS, IN_APP or ECOMMERCE");
            }
            parsed.map(|c| domain::ChannelSet::of(&c))
        }
        Some(_) => {
            fields.error("channels", "must be a non-empty array");
            None
        }
    }
}

/// `token_type`: absent means `SECURE_ELEMENT`.
fn token_type_field(fields: &mut Fields<'_>) -> Option<Credential> {
    match fields.map.get("token_type") {
        None | Some(Value::Null) => Some(Credential::SecureElement),
        Some(Value::String(s)) => {
            let credential = Credential::parse_wire(s);
            if credential.is_none() {
                fields.error("token_type", "must be SECURE_ELEMENT or HCE");
            }
            credential
        }
        Some(_) => {
            fields.error("token_type", "must be a string: SECURE_ELEMENT or HCE");
            None
        }
    }
}

/// `count`: absent means `default`; otherwise an integer from 1 to [`MAX_KEYS_PER_BATCH`].
fn count_field(fields: &mut Fields<'_>, default: u32) -> Option<u32> {
    match fields.map.get("count") {
        None | Some(Value::Null) => Some(default),
        Some(value) => {
            let count = value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=MAX_KEYS_PER_BATCH).contains(n));
            if count.is_none() {
                fields.error(
                    "count",
                    &format!("must be an integer from 1 to {MAX_KEYS_PER_BATCH}"),
                );
            }
            count
        }
    }
}

/// `device`: its id and secure element public key.
fn device_field(fields: &mut Fields<'_>, map: &Map<String, Value>) -> Option<(String, Jwk)> {
    match map.get("device") {
        Some(Value::Object(device)) => {
            let mut inner = Fields {
                map: device,
                prefix: "device.",
                errors: Vec::new(),
            };
            let id = inner.string("device_id", 64);
            if id.as_deref().is_some_and(|id| !is_identifier(id)) {
                inner.error("device_id", "may hold only letters, digits and . _ : -");
            }
            let key = match device.get("se_public_key") {
                Some(value @ Value::Object(_)) => match Jwk::from_json(&value.to_string()) {
                    Ok(k) if k.is_private() => {
                        inner.error(
                            "se_public_key",
                            "must be a public key: never send the private part",
                        );
                        None
                    }
                    Ok(k) => Some(k),
                    Err(e) => {
                        inner.error("se_public_key", &format!("is not a P-256 JWK: {e}"));
                        None
                    }
                },
                Some(_) => {
                    inner.error("se_public_key", "must be a JWK object");
                    None
                }
                None => {
                    inner.error("se_public_key", "is required");
                    None
                }
            };
            fields.errors.append(&mut inner.errors);
            id.zip(key)
        }
        Some(_) => {
            fields.error("device", "must be an object");
            None
        }
        None => {
            fields.error("device", "is required");
            None
        }
    }
}

fn respond<T: serde::Serialize>(result: Result<T, TspError>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn keys(State(tsp): State<Arc<Tsp>>) -> Response {
    let with_use = |jwk: Jwk, usage: &str| {
        let mut value = serde_json::to_value(&jwk).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert("use".to_owned(), Value::String(usage.to_owned()));
        }
        value
    };
    axum::Json(json!({
        "keys": [
            with_use(tsp.encryption_public_key(), "enc"),
            with_use(tsp.signing_public_key(), "sig"),
        ]
    }))
    .into_response()
}

async fn tokenize(
    State(tsp): State<Arc<Tsp>>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let body = read_body(body)?;
            let signed = Signed {
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            let requestor = authenticate_request(&tsp, &signed)?;
            let map = json_object(&body)?;
            let mut fields = Fields::new(&map);
            check_requestor(&mut fields, requestor)?;
            let funding_account = fields.string("funding_account", 16 * 1024);
            let channels = channels_field(&mut fields, &map);
            let credential = token_type_field(&mut fields);
            let device = device_field(&mut fields, &map);
            let input = fields.finish(
                device
                    .zip(funding_account)
                    .zip(channels)
                    .zip(credential)
                    .map(
                        |(
                            (((device_id, se_public_key), funding_account), channels),
                            credential,
                        )| {
                            TokenizeRequest {
                                device_id,
                                se_public_key,
                                funding_account,
                                channels,
                                credential,
                            }
                        },
                    ),
            )?;
            tsp.tokenize(requestor, input).await
        }
        .await,
    )
}

async fn search(
    State(tsp): State<Arc<Tsp>>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let body = read_body(body)?;
            let signed = Signed {
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            let requestor = authenticate_request(&tsp, &signed)?;
            let map = json_object(&body)?;
            let mut fields = Fields::new(&map);
            check_requestor(&mut fields, requestor)?;
            let device_id = fields.optional_string("device_id", 64);
            fields.finish(Some(()))?;
            let tokens = tsp.search(requestor, device_id.as_deref()).await?;
            Ok(json!({ "tokens": tokens }))
        }
        .await,
    )
}

async fn lifecycle(
    tsp: &Tsp,
    action: LifecycleAction,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, TspError> {
    let body = read_body(body)?;
    let signed = Signed {
        method,
        uri,
        headers,
        body: &body,
    };
    let requestor = authenticate_request(tsp, &signed)?;
    let map = json_object(&body)?;
    let mut fields = Fields::new(&map);
    check_requestor(&mut fields, requestor)?;
    let turs = match map.get("turs") {
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > MAX_TURS {
                return Err(TspError::BadRequest(format!(
                    "turs must hold 1 to {MAX_TURS} token unique references"
                )));
            }
            let turs: Option<Vec<String>> = items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect();
            if turs.is_none() {
                fields.error("turs", "items must be strings");
            }
            turs
        }
        Some(_) => {
            fields.error("turs", "must be an array");
            None
        }
        None => {
            fields.error("turs", "is required");
            None
        }
    };
    let reason = fields.string("reason", 64);
    let (turs, reason) = fields.finish(turs.zip(reason))?;
    let tokens = tsp.lifecycle(requestor, action, &turs, &reason).await?;
    Ok(json!({ "tokens": tokens }))
}

async fn suspend(
    State(tsp): State<Arc<Tsp>>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        lifecycle(
            &tsp,
            LifecycleAction::Suspend,
            &method,
            &uri,
            &headers,
            body,
        )
        .await,
    )
}

async fn unsuspend(
    State(tsp): State<Arc<Tsp>>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        lifecycle(
            &tsp,
            LifecycleAction::Unsuspend,
            &method,
            &uri,
            &headers,
            body,
        )
        .await,
    )
}

async fn delete(
    State(tsp): State<Arc<Tsp>>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(lifecycle(&tsp, LifecycleAction::Delete, &method, &uri, &headers, body).await)
}

async fn token(
    State(tsp): State<Arc<Tsp>>,
    tur: Result<Path<String>, PathRejection>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let body = read_body(body)?;
            let Path(tur) = tur.map_err(|_| TspError::TokenNotFound(String::new()))?;
            let signed = Signed {
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            let requestor = authenticate_request(&tsp, &signed)?;
            tsp.token(requestor, &tur).await
        }
        .await,
    )
}

async fn payload(
    State(tsp): State<Arc<Tsp>>,
    tur: Result<Path<String>, PathRejection>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let body = read_body(body)?;
            let Path(tur) = tur.map_err(|_| TspError::TokenNotFound(String::new()))?;
            let signed = Signed {
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            let requestor = authenticate_request(&tsp, &signed)?;
            let jwe = tsp.payload(requestor, &tur).await?;
            Ok(json!({ "tur": tur, "encrypted_payload": jwe }))
        }
        .await,
    )
}

async fn send_otp(
    State(tsp): State<Arc<Tsp>>,
    tur: Result<Path<String>, PathRejection>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let body = read_body(body)?;
            let Path(tur) = tur.map_err(|_| TspError::TokenNotFound(String::new()))?;
            let signed = Signed {
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            let requestor = authenticate_request(&tsp, &signed)?;
            let map = json_object(&body)?;
            let mut fields = Fields::new(&map);
            let auth_method = method_field(&mut fields);
            let auth_method = fields.finish(auth_method)?;
            let sent = tsp.send_otp(requestor, &tur, auth_method).await?;
            Ok(json!({
                "tur": tur,
                "method": sent.method.as_str(),
                "destination": sent.destination,
                "expires_at": crate::time::rfc3339(sent.expires_at_unix),
            }))
        }
        .await,
    )
}

async fn authenticate(
    State(tsp): State<Arc<Tsp>>,
    tur: Result<Path<String>, PathRejection>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let body = read_body(body)?;
            let Path(tur) = tur.map_err(|_| TspError::TokenNotFound(String::new()))?;
            let signed = Signed {
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            let requestor = authenticate_request(&tsp, &signed)?;
            let map = json_object(&body)?;
            let mut fields = Fields::new(&map);
            let auth_method = method_field(&mut fields);
            let otp = match map.get("otp") {
                Some(Value::String(s)) if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(Secret::new(s.clone()))
                }
                Some(_) => {
                    fields.error("otp", "must be 6 digits");
                    None
                }
                None => {
                    fields.error("otp", "is required");
                    None
                }
            };
            let (auth_method, otp) = fields.finish(auth_method.zip(otp))?;
            tsp.authenticate(requestor, &tur, auth_method, &otp).await
        }
        .await,
    )
}

async fn replenish_keys(
    State(tsp): State<Arc<Tsp>>,
    tur: Result<Path<String>, PathRejection>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let body = read_body(body)?;
            let Path(tur) = tur.map_err(|_| TspError::TokenNotFound(String::new()))?;
            let signed = Signed {
                method: &method,
                uri: &uri,
                headers: &headers,
                body: &body,
            };
            let requestor = authenticate_request(&tsp, &signed)?;
            // An empty body asks for the default batch, as `{}` does.
            let map = if body.is_empty() {
                Map::new()
            } else {
                json_object(&body)?
            };
            let mut fields = Fields::new(&map);
            let count = count_field(&mut fields, tsp.limited_use_key_policy().default_count);
            let count = fields.finish(count)?;
            let batch = tsp.replenish_keys(requestor, &tur, count).await?;
            Ok(json!({
                "tur": tur,
                "count": batch.count,
                "expires_at": batch.expires_at_unix,
                "encrypted_keys": batch.encrypted_keys,
            }))
        }
        .await,
    )
}
