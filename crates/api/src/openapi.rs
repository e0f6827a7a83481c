//! The OpenAPI 3.1 document, generated from the handlers' annotations.
//!
//! Every route is listed with its request and response schemas, every status code it can
//! return (and no other), the problem+json error schema, and the bearer security scheme. The
//! document is built once per [`AppState`](crate::AppState) and served at `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{cards, devices, sessions, system, transactions, users, webhooks};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tapwallet wallet backend",
        description = "The token requestor's API: users, sessions, device wallets, the cards in \
            them (tokenized at the token service; the wallet never keeps a card number), \
            payment history and the token service's webhooks.\n\n\
            Errors are RFC 9457 problem details (`application/problem+json`) whose `type` is \
            `urn:tapwallet:problem:<name>` and whose `instance` is the request id (also in the \
            `x-request-id` response header).\n\n\
            POSTs that create or change resources accept an `Idempotency-Key` header: the same \
            key and body replay the first successful response (with `Idempotency-Replayed: \
            true`) for 24 hours; the same key with a different body is a 422; a key whose first \
            request is still running is a 409.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
        version = "1.0.0",
    ),
    paths(
        users::create,
        sessions::create,
        sessions::refresh,
        sessions::delete_current,
        devices::create,
        devices::list,
        devices::lost,
        devices::recovered,
        cards::provision,
        cards::list,
        cards::get_one,
        cards::verify,
        cards::send_otp,
        cards::payload,
        cards::replenish_keys,
        cards::suspend,
        cards::resume,
        cards::delete,
        cards::set_default,
        transactions::list,
        webhooks::tsp,
        webhooks::tsp_token_updated,
        system::health,
        system::ready,
        system::metrics,
        system::openapi,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerScheme),
    tags(
        (name = "users", description = "Sign-up."),
        (name = "sessions", description = "Login, token refresh, logout."),
        (name = "devices", description = "Device wallets and their secure element keys."),
        (name = "cards", description = "Cards in device wallets: provisioning through the token \
            service, step-up verification, the provisioning payload, HCE cards' limited-use \
            keys, lifecycle."),
        (name = "transactions", description = "Payment history, enriched (merchant name, city, \
            country, category)."),
        (name = "webhooks", description = "Events from the token service: compact JWS (ES256) \
            whose payload is `{event_id, tur, status, reason, occurred_at}` (token status) or \
            `{event_id, kind: \"transaction\", tur, amount_minor, currency, approved, \
            response_code, merchant: {name_location, mcc}, occurred_at}` (a payment; \
            `name_location` is ISO 8583 DE 43). Each event applies once by `event_id`."),
        (name = "operations", description = "Health, readiness, metrics, this document."),
    )
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme (the access token, a JWT).
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token from POST /v1/sessions or /v1/sessions/refresh.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON.
pub fn json() -> String {
    ApiDoc::openapi().to_json().unwrap_or_default()
}
