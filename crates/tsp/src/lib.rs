//! The token service (TSP) at the card network: the MDES/VTS-shaped service a wallet backend
//! (the token requestor) calls to turn a card into a device token.
//!
//! # What it does
//!
//! * **Tokenize** (`POST /tsp/v1/tokenize`): decrypts the funding account (a JWE to the token
//!   service's key), asks the issuer for an eligibility and ID&V decision
//!   ([`issuer::idv::IssuerIdv`]), and answers `APPROVED` (token active), `REQUIRE_ADDITIONAL_
//!   AUTHENTICATION` (token `INACTIVE`, with the methods the issuer offers) or `DECLINED` (with
//!   the issuer's reason). Tokens go into the network's vault (`store::TokenRow`, FPAN sealed by
//!   [`network::vault::VaultKeys`]), so a tap with the new DPAN authorizes through the network
//!   host like any other token.
//! * **Step-up**: `POST /tsp/v1/tokens/{tur}/otp` has the issuer send a one-time password,
//!   `POST /tsp/v1/tokens/{tur}/authenticate` checks it and activates the token; approval in the
//!   issuer's app reaches the token service through [`issuer::idv::TokenActivation`].
//! * **Provisioning payload** (`GET /tsp/v1/tokens/{tur}/payload`): a JWE to the device's secure
//!   element key holding the DPAN, expiry, PSN, scheme, cryptogram version, the credential
//!   (`se` or `hce`) and, for an SE token only, the token's ICC master key (derived from the
//!   token master key and the DPAN, as the network derives it).
//! * **Host card emulation**: a token tokenized with `token_type: HCE` never gives its ICC
//!   master key (MK-AC) to the device. `POST /tsp/v1/tokens/{tur}/keys` issues it a batch of
//!   limited-use keys instead ([`Tsp::replenish_keys`]): each derived from MK-AC and its index,
//!   good for a range of ATCs and a limited time ([`LimitedUseKeyPolicy`]), the batch revoking
//!   every earlier key; the network verifies each cryptogram with the key of its ATC.
//! * **Lifecycle**: read, search, suspend, unsuspend, delete; each status change updates the
//!   vault (the network declines a suspended token 62, a deleted one 14) and queues a signed
//!   token-updated notification (ES256 JWS) in a durable outbox, delivered by a [`Notifier`]
//!   with retries.
//!
//! # Routes
//!
//! | Route | Success (JSON) | Errors |
//! |---|---|---|
//! | `GET /tsp/v1/keys` (unsigned) | 200 `{keys: [enc JWK, sig JWK]}` | |
//! | `POST /tsp/v1/tokenize` | 200 [`TokenizeOutcome`] (also for `DECLINED`) | 400, 401, 403, 413, 422, 503 |
//! | `POST /tsp/v1/tokens/search` `{token_requestor_id, device_id?}` | 200 `{tokens: [TokenView]}` | 400, 401, 403, 422 |
//! | `GET /tsp/v1/tokens/{tur}` | 200 [`TokenView`] | 401, 404 |
//! | `GET /tsp/v1/tokens/{tur}/payload` | 200 `{tur, encrypted_payload}` | 401, 404, 409 (not active) |
//! | `POST /tsp/v1/tokens/{tur}/otp` `{method}` | 200 `{tur, method, destination, expires_at}` | 400, 401, 404, 409 (not inactive, locked), 422 |
//! | `POST /tsp/v1/tokens/{tur}/authenticate` `{method, otp}` | 200 [`TokenView`] | 400, 401, 404, 409 (locked, expired, none sent, not inactive), 422 (wrong code, with `attempts_left`) |
//! | `POST /tsp/v1/tokens/{tur}/keys` `{count?}` (1 to 16, default 4; an empty body is `{}`) | 200 `{tur, count, expires_at (Unix seconds), encrypted_keys}` | 400, 401, 404, 409 (`not-hce-token`, `token-not-active`, `atc-space-exhausted`), 422 |
//! | `POST /tsp/v1/tokens/suspend`, `/unsuspend`, `/delete` `{token_requestor_id, turs, reason}` | 200 `{tokens: [TokenView]}` | 400 (0 or more than 10 TURs), 401, 403, 404, 409, 422 |
//!
//! Errors are `application/problem+json` (RFC 9457): `type` (`urn:tapwallet:tsp:problem:<kind>`),
//! `title`, `status`, `detail` and, for 422, `errors: [{field, message}]`; messages never repeat
//! a value sent. A token of another requestor is 404, as an unknown one. Lifecycle batches are all
//! or nothing. Store and issuer failures are 503; no input produces a 500.
//!
//! # Formats
//!
//! * Expiry dates are `MMYY` everywhere (funding account, token, payload), as printed on cards.
//! * Tokenize takes an optional `token_type`, `SECURE_ELEMENT` (the default) or `HCE`; token
//!   views carry it back.
//! * The limited-use keys JWE (same suite and key as the payload) holds `{tur, key_algorithm,
//!   keys: [{index, key (hex), atc_from, atc_to, expires_at (Unix seconds)}]}`.
//! * The funding account plaintext is JSON `{pan, expiry, cvv, cardholder_name}`, encrypted as
//!   a compact JWE with `ECDH-ES+A256KW` / `A256GCM` to the token service's P-256 key.
//! * Token unique references are `DNITHE` and 26 random hex digits; payment account references
//!   are 29 characters (`T001` and 25 from an HMAC of the FPAN, so every token of a card shares
//!   it).
//!
//! # Authentication of token requestors ([`auth`])
//!
//! Each registered requestor ([`TokenRequestor`]) has an id and a 32-byte API key. Every request
//! carries `X-Tsp-Requestor-Id`, `X-Tsp-Timestamp` (Unix seconds, within 5 minutes of the
//! service's clock) and `X-Tsp-Signature: v1=HEX(HMAC-SHA-256(key, "v1\n" timestamp "\n"
//! METHOD "\n" path "\n" body))`; [`auth::sign`] computes it.
#![forbid(unsafe_code)]

pub mod auth;
mod error;
mod http;
mod notify;
mod service;
mod time;

pub use error::{FieldError, TspError};
pub use http::{app, run};
pub use notify::{HttpNotifier, Notifier, NotifyError};
pub use service::{
    AuthMethodView, Clock, ConfigError, Credential, KeyBatch, LifecycleAction, LimitedUseKeyPolicy,
    MAX_KEYS_PER_BATCH, TokenRequestor, TokenView, TokenizeOutcome, TokenizeRequest, Tsp,
    TspConfig,
};

/// A boxed future (the traits here are used as trait objects).
pub use issuer::idv::BoxFuture;
