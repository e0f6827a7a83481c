//! The application state every handler shares, and its configuration.

use std::sync::Arc;

use store::wallet::WalletStore;

use crate::auth::{JwtKey, MIN_JWT_KEY_BYTES, PasswordHashing};
use crate::error::ApiError;
use crate::observe::Metrics;
use crate::ratelimit::{RateLimit, RateLimiter, RateLimits};
use crate::token_service::{NoTokenService, TokenService};

/// The clock seam: the current time as Unix seconds. The CLI passes the system clock; tests pass
/// a value they move by hand.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Access tokens live this long by default (15 minutes).
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 60;
/// Sessions (and so refresh tokens) end this long after login by default (30 days).
pub const SESSION_TTL_SECS: i64 = 30 * 24 * 60 * 60;

/// What the API needs from its operator.
#[derive(Debug)]
pub struct Config {
    jwt_key: JwtKey,
    /// Lifetime of an access token, seconds.
    pub access_token_ttl_secs: i64,
    /// Lifetime of a session from login, seconds; refreshing does not extend it.
    pub session_ttl_secs: i64,
    /// Argon2id cost of new password hashes.
    pub password_hashing: PasswordHashing,
    /// The rate limits.
    pub rate_limits: RateLimits,
    /// The token service the card routes call (by default none: they answer 502).
    pub token_service: Arc<dyn TokenService>,
    /// `POST /v1/cards/{id}/keys`, per card: each batch revokes the last and spends ATCs the
    /// token can never get back (by default 10 at once, then one a minute).
    pub key_replenish_per_card: RateLimiter,
}

/// The configuration is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The JWT key is shorter than 32 bytes.
    JwtKeyTooShort,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::JwtKeyTooShort => write!(
                f,
                "the JWT signing key must be at least {MIN_JWT_KEY_BYTES} random bytes"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Defaults around a JWT signing key of at least 32 random bytes (from the operator's
    /// secret store, or the OS RNG for a demo).
    pub fn new(jwt_key: Vec<u8>) -> Result<Self, ConfigError> {
        Ok(Self {
            jwt_key: JwtKey::new(jwt_key).ok_or(ConfigError::JwtKeyTooShort)?,
            access_token_ttl_secs: ACCESS_TOKEN_TTL_SECS,
            session_ttl_secs: SESSION_TTL_SECS,
            password_hashing: PasswordHashing::owasp(),
            rate_limits: RateLimits::default(),
            token_service: Arc::new(NoTokenService),
            key_replenish_per_card: RateLimiter::new(RateLimit {
                burst: 10,
                refill_every_secs: 60,
            }),
        })
    }

    /// The same configuration calling `token_service` for cards (e.g. a
    /// [`TspClient`](crate::tsp_client::TspClient)).
    #[must_use]
    pub fn with_token_service(mut self, token_service: Arc<dyn TokenService>) -> Self {
        self.token_service = token_service;
        self
    }

    /// Minimal Argon2id cost, for tests only: never for real passwords.
    #[must_use]
    pub fn danger_minimal_password_hashing(mut self) -> Self {
        self.password_hashing = PasswordHashing::danger_minimal();
        self
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: WalletStore,
    config: Config,
    clock: Clock,
    metrics: Metrics,
    openapi_json: String,
    /// A hash of a random password, checked when a login names an unknown email so that the
    /// response takes as long as for a known one.
    dummy_password_hash: String,
}

impl core::fmt::Debug for AppState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of an app over `store`, configured by `config`, reading time from `clock`.
    ///
    /// Fails only if the OS random generator does (it makes the dummy password hash).
    pub async fn new(store: WalletStore, config: Config, clock: Clock) -> Result<Self, ApiError> {
        let hashing = config.password_hashing.clone();
        let dummy_password = crate::random::token(24).map_err(ApiError::internal)?;
        let dummy_password_hash =
            crate::auth::blocking(move || hashing.hash(&dummy_password)).await??;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                config,
                clock,
                metrics: Metrics::new(),
                openapi_json: crate::openapi::json(),
                dummy_password_hash,
            }),
        })
    }

    /// The wallet database.
    pub fn store(&self) -> &WalletStore {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Now, Unix seconds, from the clock seam.
    pub fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// The rate limiters (reusable by later routes, e.g. OTP checks).
    pub fn rate_limits(&self) -> &RateLimits {
        &self.inner.config.rate_limits
    }

    /// The token service.
    pub fn token_service(&self) -> &dyn TokenService {
        self.inner.config.token_service.as_ref()
    }

    /// The request metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn jwt(&self) -> &JwtKey {
        &self.inner.config.jwt_key
    }

    pub(crate) fn openapi_json(&self) -> &str {
        &self.inner.openapi_json
    }

    pub(crate) fn dummy_password_hash(&self) -> &str {
        &self.inner.dummy_password_hash
    }
}
