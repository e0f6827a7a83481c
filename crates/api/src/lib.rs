//! The wallet backend (token requestor): REST/JSON over HTTPS, OpenAPI 3.1, problem+json errors.
//!
//! [`app`] builds the axum [`Router`] over an [`AppState`] (the [`WalletStore`], the JWT key,
//! the clock seam, rate limiters, metrics); [`serve`] runs it on a listener, over TLS
//! ([`tls`]) or plain HTTP, until a shutdown future completes.
//!
//! # Routes
//!
//! | Route | Auth | What |
//! |---|---|---|
//! | `POST /v1/users` | - | sign up (Argon2id) |
//! | `POST /v1/sessions` | - | log in: access + refresh token |
//! | `POST /v1/sessions/refresh` | - | rotate the refresh token |
//! | `DELETE /v1/sessions/current` | bearer | log out |
//! | `POST /v1/devices` | bearer | register a device and its attested SE key |
//! | `GET /v1/devices` | bearer | list devices (paginated) |
//! | `POST /v1/devices/{id}/lost`, `/recovered` | bearer | device status; suspends / resumes its cards |
//! | `POST /v1/cards/provision` | bearer | add a card to a device wallet (tokenize at the TSP) |
//! | `GET /v1/cards`, `GET /v1/cards/{id}` | bearer | the wallet's cards (paginated) |
//! | `POST /v1/cards/{id}/verify`, `/otp` | bearer | step-up: check / send a one-time password |
//! | `GET /v1/cards/{id}/payload` | bearer | the provisioning payload (JWE to the device) |
//! | `POST /v1/cards/{id}/keys` | bearer | an HCE card's next batch of limited-use keys (JWE to the device) |
//! | `POST /v1/cards/{id}/suspend`, `/resume`; `DELETE /v1/cards/{id}` | bearer | lifecycle |
//! | `PUT /v1/cards/{id}/default` | bearer | the device's default card |
//! | `GET /v1/transactions` | bearer | payment history, newest first (paginated) |
//! | `POST /v1/webhooks/tsp` (also `/notify/token-updated`) | JWS | token service events |
//! | `GET /health`, `/ready`, `/metrics`, `/openapi.json` | - | operations |
//!
//! # Design
//!
//! - **Errors.** One [`ApiError`] renders every failure as RFC 9457 problem+json, with the
//!   request id as `instance`. Extractors ([`extract`]) map every rejection (malformed JSON,
//!   wrong content type, missing fields, oversize body) to it: no input produces axum's plain
//!   text or a 500.
//! - **Authentication** ([`auth`]): HS256 access tokens of 15 minutes naming their session,
//!   checked against the session on every request; opaque refresh tokens stored as SHA-256 and
//!   rotated on every use, with reuse revoking the session.
//! - **Device attestation** ([`attestation`]): an ES256 signature by the secure element key over
//!   a challenge binding user, name, platform and key thumbprint.
//! - **Idempotency** ([`idempotency`]): `Idempotency-Key` on resource POSTs, scoped per user or
//!   client address, replaying stored 2xx responses.
//! - **Rate limits** ([`ratelimit`]): token buckets on login (per email and per client),
//!   sign-up (per client), card provisioning and one-time passwords (per user), and HCE
//!   cards' limited-use key batches (per card, [`Config::key_replenish_per_card`]).
//! - **Token requestor** ([`token_service`], [`tsp_client`]): the backend keeps no card
//!   number. A card's PAN, expiry, CVV and name are checked, encrypted to the token service's
//!   key (JWE) and sent once; the backend keeps the token service's TUR, the last four digits,
//!   status and display data. Lifecycle changes go to the token service first; its ES256-signed
//!   webhooks bring status changes and payments, applied once per event id.
//! - **Host card emulation**: a card provisioned with `credential: "hce"` never gets its card
//!   key; `POST /v1/cards/{id}/keys` forwards the token service's batch of limited-use keys
//!   (a JWE to the device) and stores nothing of it, not even for `Idempotency-Key` replays.
//! - **Observability** ([`observe`]): request ids in every log line and response, Prometheus
//!   counters and latency histograms by route template.
//! - **Time** comes from the [`Clock`] seam only (token expiry, sessions, limits), so tests run
//!   on a fixed clock; latency is measured with tokio's clock.
//!
//! Logs carry ids, statuses and timings, never passwords, tokens or bodies.
#![forbid(unsafe_code)]

pub mod attestation;
pub mod auth;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod observe;
pub mod openapi;
pub mod pagination;
mod random;
pub mod ratelimit;
mod routes;
mod state;
pub mod tls;
pub mod token_service;
pub mod tsp_client;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::handler::Handler as _;
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{get, post, put};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

pub use error::{ApiError, AuthFailure, FieldError, Problem};
pub use routes::cards::{
    Card, CardCredential, CardKeys, CardList, CardPayload, CardStatus, MAX_CARDHOLDER_NAME_CHARS,
    MAX_KEYS_PER_BATCH, Network, OTP_DIGITS, PAN_DIGITS, ProvisionRequest, ReplenishKeysRequest,
    SendOtpRequest, SuspendedBy, VerificationMethodType, VerificationMethodView, VerifyRequest,
};
pub use routes::devices::{
    CreateDeviceRequest, Device, DeviceList, DeviceStatus, MAX_NAME_CHARS, Platform,
};
pub use routes::sessions::{LoginRequest, RefreshRequest, TokenResponse};
pub use routes::system::Health;
pub use routes::transactions::{Transaction, TransactionList, TransactionMerchant};
pub use routes::users::{
    CreateUserRequest, MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, User,
};
pub use routes::webhooks::{WebhookAck, WebhookOutcomeKind};
pub use state::{ACCESS_TOKEN_TTL_SECS, AppState, Clock, Config, ConfigError, SESSION_TTL_SECS};
pub use store::wallet::WalletStore;
pub use token_service::TokenService;
pub use tsp_client::{TspClient, TspClientConfig};

/// The largest request body accepted (64 KiB); larger ones are refused with 413.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// How long a client may take to finish the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers (HTTP/1.1).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The wallet backend's routes, with every cross-cutting layer, over `state`.
///
/// Test it with `tower::ServiceExt::oneshot`; serve it with [`serve`].
pub fn app(state: AppState) -> Router {
    let by_client = from_fn_with_state(state.clone(), idempotency::by_client);
    let by_user = from_fn_with_state(state.clone(), idempotency::by_user);
    Router::new()
        .route("/v1/users", post(routes::users::create.layer(by_client)))
        .route("/v1/sessions", post(routes::sessions::create))
        .route("/v1/sessions/refresh", post(routes::sessions::refresh))
        .route(
            "/v1/sessions/current",
            axum::routing::delete(routes::sessions::delete_current),
        )
        .route(
            "/v1/devices",
            post(routes::devices::create.layer(by_user.clone())).get(routes::devices::list),
        )
        .route(
            "/v1/devices/{id}/lost",
            post(routes::devices::lost.layer(by_user.clone())),
        )
        .route(
            "/v1/devices/{id}/recovered",
            post(routes::devices::recovered.layer(by_user.clone())),
        )
        .route(
            "/v1/cards/provision",
            post(routes::cards::provision.layer(by_user.clone())),
        )
        .route("/v1/cards", get(routes::cards::list))
        .route(
            "/v1/cards/{id}",
            get(routes::cards::get_one).delete(routes::cards::delete),
        )
        .route(
            "/v1/cards/{id}/verify",
            post(routes::cards::verify.layer(by_user.clone())),
        )
        .route(
            "/v1/cards/{id}/otp",
            post(routes::cards::send_otp.layer(by_user.clone())),
        )
        .route("/v1/cards/{id}/payload", get(routes::cards::payload))
        // No idempotency layer: a batch of keys is never stored (see the handler).
        .route("/v1/cards/{id}/keys", post(routes::cards::replenish_keys))
        .route(
            "/v1/cards/{id}/suspend",
            post(routes::cards::suspend.layer(by_user.clone())),
        )
        .route(
            "/v1/cards/{id}/resume",
            post(routes::cards::resume.layer(by_user)),
        )
        .route("/v1/cards/{id}/default", put(routes::cards::set_default))
        .route("/v1/transactions", get(routes::transactions::list))
        .route("/v1/webhooks/tsp", post(routes::webhooks::tsp))
        .route(
            "/v1/webhooks/tsp/notify/token-updated",
            post(routes::webhooks::tsp_token_updated),
        )
        .route("/health", get(routes::system::health))
        .route("/ready", get(routes::system::ready))
        .route("/metrics", get(routes::system::metrics))
        .route("/openapi.json", get(routes::system::openapi))
        .fallback(routes::system::not_found)
        // After every route: it applies to the routes present.
        .method_not_allowed_fallback(routes::system::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(map_response(no_sniff))
        .layer(from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}

/// Every response: the body's type is the declared one.
async fn no_sniff(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits for
/// the requests in flight to finish (HTTP/1.1 connections close when idle, HTTP/2 ones get a
/// GOAWAY). Wrap it in a timeout to bound that wait.
///
/// With `tls`, connections are HTTPS (give the config `h2` and `http/1.1` in its ALPN list, as
/// [`tls::load`] and [`tls::dev_certificate`] do); without, plain HTTP. HTTP/1.1 and HTTP/2 are
/// both served either way. Each request carries the peer address as
/// `ConnectInfo<SocketAddr>`, which the per-client limits and idempotency scopes use.
///
/// Returns when every connection has closed; accept errors are logged and retried.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(addr = ?listener.local_addr().ok(), tls = acceptor.is_some(), "serving");
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Typically out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                connections.spawn(connection(
                    stream,
                    peer,
                    acceptor.clone(),
                    router.clone(),
                    stop_rx.clone(),
                ));
            }
        }
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        "shutting down: draining connections"
    );
    // Ignored error: every receiver may be gone already.
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// One connection: TLS handshake if configured, then HTTP until it closes or the server stops.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    router: Router,
    stop: watch::Receiver<bool>,
) {
    // Best effort: Nagle only delays small responses.
    let _ = stream.set_nodelay(true);
    let service = tower::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(req)
    });
    let service = TowerToHyperService::new(service);
    match acceptor {
        None => drive(TokioIo::new(stream), service, stop).await,
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => drive(TokioIo::new(tls), service, stop).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn drive<I, S>(io: I, service: S, mut stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = axum::response::Response,
            Error = core::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = async {
            // An error means the server is gone: stop as well.
            let _ = stop.wait_for(|stopped| *stopped).await;
        } => {
            connection.as_mut().graceful_shutdown();
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error while draining");
            }
        }
    }
}
