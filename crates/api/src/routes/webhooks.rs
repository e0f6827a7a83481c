//! `POST /v1/webhooks/tsp`: events from the token service, as compact JWS (ES256).
//!
//! # Authentication
//!
//! The body is a compact JWS (`Content-Type: application/jose`) signed with ES256 by the token
//! service's signing key ([`TokenService::notification_key`](crate::token_service::TokenService::notification_key),
//! by the header's `kid`). A body that is not a compact JWS is a 400; one whose signature does
//! not verify (another key, another algorithm, altered bytes) is a 401 `invalid-signature`.
//!
//! # Events (the JWS payload, JSON)
//!
//! A token status change, as the token service sends it (no `kind`, or `kind:
//! "token_updated"`):
//!
//! ```json
//! {"event_id":"evt_…","tur":"DNITHE…","status":"SUSPENDED","reason":"…",
//!  "occurred_at":"2026-11-23T12:00:00Z"}
//! ```
//!
//! A payment (`kind: "transaction"`), defined here for the network's authorization feed:
//!
//! ```json
//! {"event_id":"evt_…","kind":"transaction","tur":"DNITHE…","amount_minor":450,
//!  "currency":"EUR","approved":true,"response_code":"00",
//!  "merchant":{"name_location":"TAPWALLET CAFE         PARIS        FR","mcc":"5814"},
//!  "occurred_at":"2026-11-23T12:00:00Z"}
//! ```
//!
//! `name_location` is ISO 8583 DE 43 text; the history keeps it enriched
//! ([`domain::enrich::enrich`]): clean name, city, country, category.
//!
//! # Effects
//!
//! Each event is recorded by its `event_id` in the same transaction as its effect, so a
//! redelivery is acknowledged (200, `"outcome": "replayed"`) and changes nothing. A status
//! change older than the one the wallet holds (the token service's `occurred_at`) is recorded
//! but not applied. An event about a token the wallet does not hold is a 404 and is not
//! recorded, so the token service retries it (it may have raced the tokenization's answer).
//! A signed payload that is not a valid event is a 422.
//!
//! The token service's HTTP notifier posts to `{callback}/notify/token-updated`; with the
//! callback registered as `https://WALLET/v1/webhooks/tsp`, that is
//! `POST /v1/webhooks/tsp/notify/token-updated`, the same endpoint.

use axum::extract::{Request, State};
use axum::http::header;
use base64ct::{Base64UrlUnpadded, Encoding as _};
use jose::JoseError;
use jose::jws::{self, VerifyKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use store::wallet::{TransactionRow, WebhookEvent, WebhookOutcome};
use utoipa::ToSchema;

use crate::error::{ApiError, FieldError};
use crate::routes::cards::apply_state;
use crate::token_service::{TokenState, parse_rfc3339};
use crate::{AppState, BODY_LIMIT_BYTES, random};

/// Longest event id accepted.
const MAX_EVENT_ID_LEN: usize = 128;
/// Longest DE 43 text accepted (the field is 40 characters; some feeds pad or extend it).
const MAX_NAME_LOCATION_CHARS: usize = 99;

/// What became of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WebhookOutcomeKind {
    /// New: recorded and applied.
    Processed,
    /// Recorded before: acknowledged, nothing done again.
    Replayed,
}

/// The acknowledgement of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    /// The event's id.
    pub event_id: String,
    /// What became of it.
    pub outcome: WebhookOutcomeKind,
}

fn bad_jws() -> ApiError {
    ApiError::BadRequest("The body is not a compact JWS (header.payload.signature).".to_owned())
}

/// The `kid` of a compact JWS's protected header, read before the signature is checked (to
/// choose the key); `Err` when the header cannot be read at all.
fn header_kid(compact: &str) -> Result<Option<String>, ApiError> {
    let mut parts = compact.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_jws());
    };
    let bytes = Base64UrlUnpadded::decode_vec(header).map_err(|_| bad_jws())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad_jws())?;
    let Value::Object(members) = value else {
        return Err(bad_jws());
    };
    Ok(members
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_owned))
}

/// True when the request says its body is a JOSE object.
fn is_jose(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/jose")
        })
        .unwrap_or(false)
}

/// Reads fields of a signed event, collecting what is wrong.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'static str,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>, prefix: &'static str) -> Self {
        Self {
            map,
            prefix,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, name: &str, message: &str) {
        self.errors
            .push(FieldError::new(format!("{}{name}", self.prefix), message));
    }

    /// A string accepted by `ok`, else the error `message`.
    fn string(&mut self, name: &str, ok: impl Fn(&str) -> bool, message: &str) -> Option<String> {
        match self.map.get(name) {
            Some(Value::String(s)) if ok(s) => Some(s.clone()),
            Some(_) => {
                self.error(name, message);
                None
            }
            None => {
                self.error(name, "is required");
                None
            }
        }
    }

    fn time(&mut self, name: &str) -> Option<i64> {
        let text = self.string(
            name,
            |s| parse_rfc3339(s).is_some(),
            "must be an RFC 3339 time",
        )?;
        parse_rfc3339(&text)
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(ApiError::Validation(self.errors)),
        }
    }
}

fn is_event_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_EVENT_ID_LEN && s.bytes().all(|b| b.is_ascii_graphic())
}

fn is_tur(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Receives an event from the token service (see the module docs).
#[utoipa::path(
    post,
    path = "/v1/webhooks/tsp",
    tag = "webhooks",
    operation_id = "tspWebhook",
    request_body(content = String, content_type = "application/jose", description = "A compact JWS (ES256) by the token service's signing key; its payload is a token-updated or a transaction event (see the `webhooks` tag)."),
    responses(
        (status = 200, description = "Processed, or a redelivery acknowledged (`replayed`).", body = WebhookAck),
        (status = 400, description = "The body is not a compact JWS.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature does not verify with the token service's key (`invalid-signature`).", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`JWS realm=\"tapwallet-webhooks\", alg=\"ES256\"`."))),
        (status = 404, description = "The event names a token this wallet does not hold (not recorded: a redelivery is processed afresh).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/jose.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The signed payload is not a valid event (`validation`, with `errors`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn tsp(
    State(state): State<AppState>,
    request: Request,
) -> Result<axum::Json<WebhookAck>, ApiError> {
    receive(&state, request).await
}

/// The token service's notifier path for the same endpoint (see the module docs).
#[utoipa::path(
    post,
    path = "/v1/webhooks/tsp/notify/token-updated",
    tag = "webhooks",
    operation_id = "tspWebhookTokenUpdated",
    request_body(content = String, content_type = "application/jose", description = "As `POST /v1/webhooks/tsp`."),
    responses(
        (status = 200, description = "Processed, or a redelivery acknowledged (`replayed`).", body = WebhookAck),
        (status = 400, description = "The body is not a compact JWS.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The signature does not verify with the token service's key (`invalid-signature`).", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`JWS realm=\"tapwallet-webhooks\", alg=\"ES256\"`."))),
        (status = 404, description = "The event names a token this wallet does not hold (not recorded: a redelivery is processed afresh).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/jose.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The signed payload is not a valid event (`validation`, with `errors`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn tsp_token_updated(
    State(state): State<AppState>,
    request: Request,
) -> Result<axum::Json<WebhookAck>, ApiError> {
    receive(&state, request).await
}

async fn receive(state: &AppState, request: Request) -> Result<axum::Json<WebhookAck>, ApiError> {
    if !is_jose(&request) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT_BYTES)
        .await
        .map_err(|e| {
            if crate::idempotency::is_length_limit(&e) {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("The body could not be read.".to_owned())
            }
        })?;
    let compact = core::str::from_utf8(&bytes).map_err(|_| bad_jws())?.trim();
    let kid = header_kid(compact)?;
    let key = state
        .token_service()
        .notification_key(kid.as_deref())
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "no key to verify a webhook with");
            ApiError::InvalidSignature
        })?;
    let (_, payload) = jws::verify(compact, VerifyKey::Es256(&key)).map_err(|e| match e {
        JoseError::BadSignature | JoseError::AlgorithmMismatch { .. } => {
            tracing::info!(error = %e, "webhook signature refused");
            ApiError::InvalidSignature
        }
        _ => bad_jws(),
    })?;
    let value: Value = serde_json::from_slice(&payload)
        .map_err(|_| ApiError::invalid(".", "the signed payload is not JSON"))?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid(
            ".",
            "the signed payload must be a JSON object",
        ));
    };
    match map.get("kind") {
        None => token_updated(state, &map).await,
        Some(Value::String(kind)) if kind == "token_updated" => token_updated(state, &map).await,
        Some(Value::String(kind)) if kind == "transaction" => transaction(state, &map).await,
        Some(_) => Err(ApiError::invalid(
            "kind",
            "must be token_updated or transaction",
        )),
    }
    .map(axum::Json)
}

async fn token_updated(state: &AppState, map: &Map<String, Value>) -> Result<WebhookAck, ApiError> {
    let mut f = Fields::new(map, "");
    let event_id = f.string(
        "event_id",
        is_event_id,
        "must be 1 to 128 printable characters",
    );
    let tur = f.string("tur", is_tur, "must be 1 to 64 letters and digits");
    let token_state = f
        .string(
            "status",
            |s| TokenState::parse(s).is_some(),
            "must be INACTIVE, ACTIVE, SUSPENDED or DELETED",
        )
        .and_then(|s| TokenState::parse(&s));
    let occurred_at = f.time("occurred_at");
    let (((event_id, tur), token_state), occurred_at) =
        f.finish(event_id.zip(tur).zip(token_state).zip(occurred_at))?;
    let now = state.now();
    let event = WebhookEvent {
        event_id: event_id.clone(),
        kind: "token_updated".to_owned(),
        received_at_unix: now,
    };
    let outcome = state
        .store()
        .record_token_event(&event, &tur, move |t| {
            apply_state(t, token_state, Some(occurred_at), None, now);
        })
        .await?;
    match outcome {
        WebhookOutcome::Applied(update) => {
            tracing::info!(
                event_id = %event_id,
                card_id = %update.token.id,
                status = token_state.as_str(),
                changed = update.changed,
                "token event applied"
            );
            Ok(WebhookAck {
                event_id,
                outcome: WebhookOutcomeKind::Processed,
            })
        }
        WebhookOutcome::Replayed => Ok(WebhookAck {
            event_id,
            outcome: WebhookOutcomeKind::Replayed,
        }),
        WebhookOutcome::UnknownToken => {
            tracing::warn!(event_id = %event_id, tur = %tur, "token event for an unknown token");
            Err(ApiError::NotFound("token"))
        }
    }
}

async fn transaction(state: &AppState, map: &Map<String, Value>) -> Result<WebhookAck, ApiError> {
    let mut f = Fields::new(map, "");
    let event_id = f.string(
        "event_id",
        is_event_id,
        "must be 1 to 128 printable characters",
    );
    let tur = f.string("tur", is_tur, "must be 1 to 64 letters and digits");
    let amount_minor = match map.get("amount_minor").map(Value::as_i64) {
        Some(Some(n)) if n >= 0 => Some(n),
        Some(_) => {
            f.error(
                "amount_minor",
                "must be a whole number of minor units, 0 or more",
            );
            None
        }
        None => {
            f.error("amount_minor", "is required");
            None
        }
    };
    let currency = f.string(
        "currency",
        |s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()),
        "must be an ISO 4217 alphabetic code (three capital letters)",
    );
    let approved = match map.get("approved") {
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            f.error("approved", "must be true or false");
            None
        }
        None => {
            f.error("approved", "is required");
            None
        }
    };
    let response_code = f.string(
        "response_code",
        |s| s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphanumeric()),
        "must be two letters or digits (ISO 8583 DE 39)",
    );
    let occurred_at = f.time("occurred_at");
    let merchant = match map.get("merchant") {
        Some(Value::Object(merchant)) => {
            let mut m = Fields::new(merchant, "merchant.");
            let name_location = m.string(
                "name_location",
                |s| {
                    let n = s.chars().count();
                    (1..=MAX_NAME_LOCATION_CHARS).contains(&n) && !s.chars().any(char::is_control)
                },
                "must be 1 to 99 printable characters (ISO 8583 DE 43)",
            );
            let mcc = m.string(
                "mcc",
                |s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()),
                "must be 4 digits",
            );
            f.errors.append(&mut m.errors);
            name_location.zip(mcc)
        }
        Some(_) => {
            f.error("merchant", "must be an object");
            None
        }
        None => {
            f.error("merchant", "is required");
            None
        }
    };
    let (
        ((((((event_id, tur), amount_minor), currency), approved), response_code), occurred_at),
        (name_location, mcc),
    ) = f.finish(
        event_id
            .zip(tur)
            .zip(amount_minor)
            .zip(currency)
            .zip(approved)
            .zip(response_code)
            .zip(occurred_at)
            .zip(merchant),
    )?;
    let Some(card) = state.store().provisioned_token_by_tur(&tur).await? else {
        tracing::warn!(event_id = %event_id, tur = %tur, "transaction for an unknown token");
        return Err(ApiError::NotFound("token"));
    };
    let merchant = domain::enrich::enrich(&name_location, &mcc);
    let now = state.now();
    let row = TransactionRow {
        id: random::id("txn").map_err(ApiError::internal)?,
        user_id: card.user_id,
        token_id: card.id,
        event_id: event_id.clone(),
        amount_minor,
        currency,
        approved,
        response_code,
        merchant_name: merchant.name,
        merchant_city: merchant.city,
        merchant_country: merchant.country.filter(|c| c.len() == 2),
        category: merchant.category.as_str().to_owned(),
        mcc: merchant.mcc,
        occurred_at_unix: occurred_at,
        received_at_unix: now,
    };
    let event = WebhookEvent {
        event_id: event_id.clone(),
        kind: "transaction".to_owned(),
        received_at_unix: now,
    };
    let outcome = match state.store().record_transaction(&event, &row).await? {
        WebhookOutcome::Applied(()) => {
            tracing::info!(event_id = %event_id, card_id = %row.token_id, "transaction recorded");
            WebhookOutcomeKind::Processed
        }
        WebhookOutcome::Replayed => WebhookOutcomeKind::Replayed,
        WebhookOutcome::UnknownToken => return Err(ApiError::NotFound("token")),
    };
    Ok(WebhookAck { event_id, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kids_are_read_before_verification() {
        let header = Base64UrlUnpadded::encode_string(br#"{"alg":"ES256","kid":"k1"}"#);
        assert_eq!(
            header_kid(&format!("{header}.e30.sig")).unwrap().as_deref(),
            Some("k1")
        );
        let no_kid = Base64UrlUnpadded::encode_string(br#"{"alg":"ES256"}"#);
        assert_eq!(header_kid(&format!("{no_kid}.e30.sig")).unwrap(), None);
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.sig", "W10.e30.sig"] {
            assert!(header_kid(bad).is_err(), "{bad}");
        }
    }
}
