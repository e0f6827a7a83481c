//! [`TspClient`]: the [`TokenService`] over the token service's HTTP API (`/tsp/v1/...`).
//!
//! # Requests
//!
//! One HTTP/1.1 request per connection (hyper's client connection), over TLS with rustls for
//! `https://` base URLs, bounded by a timeout. Each request is signed as the token service
//! expects of a token requestor:
//!
//! ```text
//! X-Tsp-Requestor-Id: <requestor id>
//! X-Tsp-Timestamp:    <Unix seconds, from the app's clock>
//! X-Tsp-Signature:    v1=HEX(HMAC-SHA-256(api key, "v1\n" ts "\n" METHOD "\n" path "\n" body))
//! ```
//!
//! # The funding account
//!
//! The card goes to `POST /tsp/v1/tokenize` as a compact JWE (`ECDH-ES+A256KW`, `A256GCM`,
//! [`jose::jwe::encrypt`]) to the token service's encryption key, with a fresh ephemeral key,
//! content-encryption key and IV from the operating system's random source. Its plaintext,
//! `{"pan","expiry":"MMYY","cvv","cardholder_name"}`, is written into a buffer held in a
//! [`Secret`] (sized up front so it is never reallocated, which would leave copies behind) and
//! zeroized as soon as it is encrypted.
//!
//! # Keys
//!
//! The token service's encryption key (to send cards) and signing key (to verify its webhooks)
//! are either pinned in [`TspClientConfig`] or fetched from `GET /tsp/v1/keys` on first use
//! and cached. A webhook naming another `kid` than the cached signing key's triggers a new
//! fetch (key rotation), at most once a minute. Fetching keys over plain HTTP trusts the
//! network: pin them, or use `https://`, outside a demo.
//!
//! Logs carry TURs, statuses and the token service's problem names, never a request body.

use core::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use jose::{HeaderParams, JoseError, Jwk, jwe};
use rustls::pki_types::ServerName;
use secret::Secret;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::error::FieldError;
use crate::state::Clock;
use crate::token_service::{
    BoxFuture, KeyBatch, LifecycleAction, MethodKind, OtpSent, TokenInfo, TokenService,
    TokenServiceError, TokenState, TokenizeOutcome, TokenizeRequest, VerificationMethod,
    parse_rfc3339,
};

/// How long one call may take by default, connection and TLS included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest answer read from the token service.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// A new key fetch for an unknown `kid` happens at most this often.
const KEY_REFETCH_SECS: i64 = 60;
/// Prefix of the token service's problem `type` URIs.
const TSP_PROBLEM_PREFIX: &str = "urn:tapwallet:tsp:problem:";

/// How to reach and authenticate to the token service.
pub struct TspClientConfig {
    /// `http://HOST[:PORT][/PREFIX]` or `https://...`; the API's paths (`/tsp/v1/...`) are
    /// appended.
    pub base_url: String,
    /// This wallet's token requestor id, as registered at the token service.
    pub requestor_id: String,
    /// The API key that signs requests (32 random bytes from the token service).
    pub api_key: Secret<Vec<u8>>,
    /// The TLS client configuration for `https://` (its roots decide which token service
    /// certificates are trusted).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The token service's encryption key, pinned; fetched from `/tsp/v1/keys` when `None`.
    pub encryption_key: Option<Jwk>,
    /// The token service's webhook signing key, pinned; fetched when `None`.
    pub signing_key: Option<Jwk>,
    /// How long one call may take.
    pub timeout: Duration,
}

impl fmt::Debug for TspClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TspClientConfig")
            .field("base_url", &self.base_url)
            .field("requestor_id", &self.requestor_id)
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TspClientConfig {
    /// A configuration with no pinned keys, no TLS and the default timeout.
    pub fn new(
        base_url: impl Into<String>,
        requestor_id: impl Into<String>,
        api_key: Vec<u8>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            requestor_id: requestor_id.into(),
            api_key: Secret::new(api_key),
            tls: None,
            encryption_key: None,
            signing_key: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why a [`TspClient`] cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TspClientError {
    /// The base URL is not `http(s)://HOST[:PORT][/PREFIX]`.
    BadUrl,
    /// `https://` without a TLS configuration.
    TlsNotConfigured,
    /// The host of an `https://` URL is not a valid TLS server name.
    BadServerName,
    /// A pinned key holds its private part (give the public key only).
    PrivateKeyGiven,
}

impl fmt::Display for TspClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadUrl => "the token service URL must be http(s)://host[:port][/prefix]",
            Self::TlsNotConfigured => "an https token service URL needs a TLS configuration",
            Self::BadServerName => "the token service host is not a valid TLS server name",
            Self::PrivateKeyGiven => "pin the token service's public keys, not private ones",
        })
    }
}

impl std::error::Error for TspClientError {}

/// The token service's keys, as last fetched.
#[derive(Default)]
struct KeyCache {
    encryption: Option<Jwk>,
    signing: Option<Jwk>,
    fetched_at_unix: Option<i64>,
}

/// Where the token service is.
struct Target {
    host: String,
    port: u16,
    /// Prepended to every API path (no trailing slash).
    prefix: String,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl Target {
    fn parse(url: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Self, TspClientError> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(TspClientError::BadUrl);
        };
        let (authority, prefix) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let prefix = prefix.trim_end_matches('/');
        let bad_prefix = prefix
            .bytes()
            .any(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.')));
        if authority.is_empty() || authority.contains('@') || bad_prefix {
            return Err(TspClientError::BadUrl);
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(TspClientError::BadUrl)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| TspClientError::BadUrl)?,
                None if after.is_empty() => default_port,
                None => return Err(TspClientError::BadUrl),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_owned(),
                    port.parse().map_err(|_| TspClientError::BadUrl)?,
                ),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(TspClientError::BadUrl);
        }
        let tls = if https {
            let config = tls.ok_or(TspClientError::TlsNotConfigured)?;
            let name =
                ServerName::try_from(host.clone()).map_err(|_| TspClientError::BadServerName)?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        } else {
            None
        };
        Ok(Self {
            host,
            port,
            prefix: prefix.to_owned(),
            tls,
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{host}:{}", self.port)
    }
}

/// The [`TokenService`] over HTTP (see the module docs).
pub struct TspClient {
    target: Target,
    requestor_id: String,
    api_key: Secret<Vec<u8>>,
    pinned_encryption: Option<Jwk>,
    pinned_signing: Option<Jwk>,
    timeout: Duration,
    clock: Clock,
    keys: Mutex<KeyCache>,
}

impl fmt::Debug for TspClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TspClient")
            .field("host", &self.target.host)
            .field("port", &self.target.port)
            .field("tls", &self.target.tls.is_some())
            .field("requestor_id", &self.requestor_id)
            .finish_non_exhaustive()
    }
}

/// An answer: status and body.
struct Answer {
    status: u16,
    body: Bytes,
}

fn unavailable(why: impl fmt::Display) -> TokenServiceError {
    TokenServiceError::Unavailable(why.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A TUR goes into a URL path: only letters and digits (the token service's form) are sent.
fn checked_tur(tur: &str) -> Result<&str, TokenServiceError> {
    let ok = !tur.is_empty() && tur.len() <= 64 && tur.bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(tur)
    } else {
        Err(unavailable("a stored TUR is not alphanumeric"))
    }
}

/// A token as the token service shows it (the fields the wallet uses; the rest is ignored).
#[derive(Deserialize)]
struct TokenView {
    tur: String,
    status: String,
    fpan_last4: String,
    #[serde(default)]
    product_name: String,
    #[serde(default)]
    updated_at: Option<String>,
    /// `SECURE_ELEMENT` or `HCE` (absent from token services that predate HCE).
    #[serde(default)]
    token_type: Option<String>,
}

impl TokenView {
    fn info(self) -> Result<TokenInfo, TokenServiceError> {
        let state = TokenState::parse(&self.status)
            .ok_or_else(|| unavailable("the token service sent an unknown token status"))?;
        Ok(TokenInfo {
            tur: self.tur,
            state,
            fpan_last4: self.fpan_last4,
            product_name: self.product_name,
            updated_at_unix: self.updated_at.as_deref().and_then(parse_rfc3339),
        })
    }
}

#[derive(Deserialize)]
struct AuthMethodView {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct TokenizeAnswer {
    decision: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    token: Option<TokenView>,
    #[serde(default)]
    authentication_methods: Vec<AuthMethodView>,
}

#[derive(Deserialize)]
struct OtpAnswer {
    method: String,
    #[serde(default)]
    destination: String,
}

#[derive(Deserialize)]
struct PayloadAnswer {
    encrypted_payload: String,
}

#[derive(Deserialize)]
struct KeysAnswer {
    count: u32,
    expires_at: i64,
    encrypted_keys: String,
}

#[derive(Deserialize)]
struct TokensAnswer {
    tokens: Vec<TokenView>,
}

#[derive(Deserialize)]
struct ProblemAnswer {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    errors: Vec<ProblemField>,
    #[serde(default)]
    attempts_left: Option<u32>,
}

#[derive(Deserialize)]
struct ProblemField {
    field: String,
    message: String,
}

/// The funding account's JWE plaintext.
#[derive(serde::Serialize)]
struct FundingPlain<'a> {
    pan: &'a str,
    expiry: &'a str,
    cvv: &'a str,
    cardholder_name: &'a str,
}

impl TspClient {
    /// A client for the token service `config` describes, reading time from `clock` (request
    /// timestamps).
    pub fn new(config: TspClientConfig, clock: Clock) -> Result<Self, TspClientError> {
        let pinned = [&config.encryption_key, &config.signing_key];
        if pinned
            .iter()
            .any(|k| k.as_ref().is_some_and(Jwk::is_private))
        {
            return Err(TspClientError::PrivateKeyGiven);
        }
        Ok(Self {
            target: Target::parse(&config.base_url, config.tls)?,
            requestor_id: config.requestor_id,
            api_key: config.api_key,
            pinned_encryption: config.encryption_key,
            pinned_signing: config.signing_key,
            timeout: config.timeout,
            clock,
            keys: Mutex::new(KeyCache::default()),
        })
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// `v1=` and the hex HMAC of a request (see the module docs).
    fn signature(&self, timestamp: i64, method: &str, path: &str, body: &[u8]) -> String {
        use hmac::{KeyInit as _, Mac as _};
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.api_key.expose()) else {
            // HMAC takes keys of any length: this branch is unreachable.
            return String::new();
        };
        for part in [
            b"v1\n".as_slice(),
            timestamp.to_string().as_bytes(),
            b"\n",
            method.as_bytes(),
            b"\n",
            path.as_bytes(),
            b"\n",
            body,
        ] {
            mac.update(part);
        }
        format!("v1={}", hex(&mac.finalize().into_bytes()))
    }

    /// Sends one signed request and reads the answer.
    async fn call(
        &self,
        method: &'static str,
        api_path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, TokenServiceError> {
        let path = format!("{}{api_path}", self.target.prefix);
        let answer = tokio::time::timeout(self.timeout, self.exchange(method, &path, body)).await;
        match answer {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                tracing::warn!(method, path = %path, error = %e, "token service call failed");
                Err(e)
            }
            Err(_) => {
                tracing::warn!(method, path = %path, "token service call timed out");
                Err(unavailable("timed out"))
            }
        }
    }

    async fn exchange(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Answer, TokenServiceError> {
        let body = body.unwrap_or_default();
        let timestamp = self.now();
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.target.host_header())
            .header(hyper::header::ACCEPT, "application/json")
            .header("x-tsp-requestor-id", &self.requestor_id)
            .header("x-tsp-timestamp", timestamp.to_string())
            .header(
                "x-tsp-signature",
                self.signature(timestamp, method, path, &body),
            );
        if !body.is_empty() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body)).map_err(unavailable)?;
        let transport = |e: std::io::Error| unavailable(format!("transport: {}", e.kind()));
        let tcp = TcpStream::connect((self.target.host.as_str(), self.target.port))
            .await
            .map_err(transport)?;
        // Best effort: small requests should not wait for Nagle.
        let _ = tcp.set_nodelay(true);
        let response = match &self.target.tls {
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(transport)?;
                send(TokioIo::new(stream), request).await?
            }
            None => send(TokioIo::new(tcp), request).await?,
        };
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|_| unavailable("the answer could not be read (or is over 1 MiB)"))?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// The body of a 200 answer as `T`, or the error its problem document describes.
    fn parse<T: serde::de::DeserializeOwned>(answer: Answer) -> Result<T, TokenServiceError> {
        if answer.status == 200 {
            return serde_json::from_slice(&answer.body)
                .map_err(|_| unavailable("the token service answered 200 with unusable JSON"));
        }
        let problem: Option<ProblemAnswer> = serde_json::from_slice(&answer.body).ok();
        let kind = problem
            .as_ref()
            .and_then(|p| p.kind.strip_prefix(TSP_PROBLEM_PREFIX))
            .unwrap_or_default()
            .to_owned();
        let error = match (answer.status, kind.as_str()) {
            (404, "token-not-found") => TokenServiceError::NotFound,
            (409, "otp-locked") => TokenServiceError::OtpLocked,
            (409, "otp-expired") => TokenServiceError::OtpExpired,
            (409, "otp-not-sent") => TokenServiceError::OtpNotSent,
            (409, _) if !kind.is_empty() => TokenServiceError::InvalidState { kind },
            (422, "incorrect-otp") => TokenServiceError::IncorrectOtp {
                attempts_left: problem.and_then(|p| p.attempts_left).unwrap_or(0),
            },
            (422, "validation-failed") => TokenServiceError::Invalid(
                problem
                    .map(|p| p.errors)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| FieldError::new(e.field, e.message))
                    .collect(),
            ),
            (status, kind) => unavailable(format!("the token service answered {status} {kind:?}")),
        };
        Err(error)
    }

    fn json_body(value: &Value) -> Bytes {
        Bytes::from(value.to_string())
    }

    /// Fetches `/tsp/v1/keys` into the cache.
    async fn fetch_keys(&self) -> Result<(), TokenServiceError> {
        #[derive(Deserialize)]
        struct Keys {
            keys: Vec<Value>,
        }
        let answer = self.call("GET", "/tsp/v1/keys", None).await?;
        let keys: Keys = Self::parse(answer)?;
        let mut encryption = None;
        let mut signing = None;
        for key in keys.keys {
            let usage = key.get("use").and_then(Value::as_str).map(str::to_owned);
            let jwk = Jwk::from_json(&key.to_string())
                .map_err(|e| unavailable(format!("a token service key is unusable: {e}")))?;
            if jwk.is_private() {
                return Err(unavailable("the token service published a private key"));
            }
            match usage.as_deref() {
                Some("enc") => encryption = Some(jwk),
                Some("sig") => signing = Some(jwk),
                _ => {}
            }
        }
        let mut cache = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        cache.encryption = encryption;
        cache.signing = signing;
        cache.fetched_at_unix = Some(self.now());
        tracing::info!("token service keys fetched");
        Ok(())
    }

    fn cached(&self) -> (Option<Jwk>, Option<Jwk>, Option<i64>) {
        let cache = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        (
            cache.encryption.clone(),
            cache.signing.clone(),
            cache.fetched_at_unix,
        )
    }

    async fn encryption_key(&self) -> Result<Jwk, TokenServiceError> {
        if let Some(key) = &self.pinned_encryption {
            return Ok(key.clone());
        }
        if let (Some(key), _, _) = self.cached() {
            return Ok(key);
        }
        self.fetch_keys().await?;
        self.cached()
            .0
            .ok_or_else(|| unavailable("the token service publishes no encryption key"))
    }

    async fn signing_key(&self, kid: Option<&str>) -> Result<Jwk, TokenServiceError> {
        let matches = |key: &Jwk| match (kid, key.kid()) {
            (Some(wanted), Some(have)) => wanted == have,
            _ => true,
        };
        if let Some(key) = &self.pinned_signing {
            return if matches(key) {
                Ok(key.clone())
            } else {
                Err(unavailable(
                    "the webhook names another key than the pinned one",
                ))
            };
        }
        let (_, cached, fetched_at) = self.cached();
        if let Some(key) = cached.as_ref().filter(|k| matches(k)) {
            return Ok(key.clone());
        }
        let recently =
            fetched_at.is_some_and(|at| self.now().saturating_sub(at) < KEY_REFETCH_SECS);
        if cached.is_some() && recently {
            return Err(unavailable("the webhook names an unknown key"));
        }
        self.fetch_keys().await?;
        match self.cached().1 {
            Some(key) if matches(&key) => Ok(key),
            Some(_) => Err(unavailable("the webhook names an unknown key")),
            None => Err(unavailable("the token service publishes no signing key")),
        }
    }

    /// The funding account as a JWE to `key`.
    fn encrypt_funding(
        funding: &crate::token_service::FundingAccount,
        key: &Jwk,
    ) -> Result<String, TokenServiceError> {
        let expiry = format!(
            "{:02}{:02}",
            funding.expiry.month(),
            funding.expiry.year() % 100
        );
        let plain = FundingPlain {
            pan: funding.pan.expose_digits(),
            expiry: &expiry,
            cvv: funding.cvv.expose(),
            cardholder_name: funding.cardholder_name.expose(),
        };
        // Big enough for the longest plaintext (JSON escapes included), so it never moves.
        let mut buffer = Secret::new(Vec::with_capacity(1024));
        serde_json::to_writer(buffer.expose_mut(), &plain).map_err(unavailable)?;
        let params = HeaderParams::new()
            .kid(key.kid().map_or_else(|| key.thumbprint(), str::to_owned))
            .cty("application/json");
        for _ in 0..4 {
            let ephemeral = Secret::new(random::<32>()?);
            let cek = Secret::new(random::<32>()?);
            let iv = random::<12>()?;
            match jwe::encrypt(
                buffer.expose(),
                key,
                &params,
                ephemeral.expose(),
                cek.expose(),
                &iv,
            ) {
                Ok(jwe) => return Ok(jwe),
                // A scalar outside the group order (probability about 2^-32): draw again.
                Err(JoseError::InvalidEphemeralSecret) => continue,
                Err(e) => return Err(unavailable(format!("encrypting the card failed: {e}"))),
            }
        }
        Err(unavailable("no usable ephemeral key was drawn"))
    }

    async fn tokenize_inner(
        &self,
        request: TokenizeRequest,
    ) -> Result<TokenizeOutcome, TokenServiceError> {
        let key = self.encryption_key().await?;
        let jwe = Self::encrypt_funding(&request.funding, &key)?;
        // The card is encrypted: its clear form goes now, before any network wait.
        drop(request.funding);
        let device_key: Value = serde_json::from_str(&request.device_key.to_public_json())
            .map_err(|_| unavailable("the device key does not serialize"))?;
        let token_type = request.credential.token_type();
        let body = json!({
            "token_requestor_id": self.requestor_id,
            "funding_account": jwe,
            "device": { "device_id": request.device_id, "se_public_key": device_key },
            "token_type": token_type,
        });
        let answer = self
            .call("POST", "/tsp/v1/tokenize", Some(Self::json_body(&body)))
            .await?;
        let answer: TokenizeAnswer = Self::parse(answer)?;
        // A token service that made another kind of token than asked (or ignored the field)
        // would leave the device without the key it expects.
        if let Some(made) = answer.token.as_ref().and_then(|t| t.token_type.as_deref())
            && made != token_type
        {
            return Err(unavailable(
                "the token service made another token type than asked",
            ));
        }
        let token = |t: Option<TokenView>| {
            t.ok_or_else(|| unavailable("the tokenization answer has no token"))?
                .info()
        };
        match answer.decision.as_str() {
            "APPROVED" => Ok(TokenizeOutcome::Approved(token(answer.token)?)),
            "REQUIRE_ADDITIONAL_AUTHENTICATION" => Ok(TokenizeOutcome::StepUp {
                token: token(answer.token)?,
                methods: answer
                    .authentication_methods
                    .into_iter()
                    .filter_map(|m| {
                        // Methods this wallet does not know are not offered to the cardholder.
                        MethodKind::parse(&m.kind).map(|kind| VerificationMethod {
                            kind,
                            destination: m.value,
                        })
                    })
                    .collect(),
            }),
            "DECLINED" => Ok(TokenizeOutcome::Declined {
                reason: answer.reason.unwrap_or_else(|| "DECLINED".to_owned()),
            }),
            _ => Err(unavailable("the token service sent an unknown decision")),
        }
    }

    async fn send_otp_inner(
        &self,
        tur: &str,
        method: MethodKind,
    ) -> Result<OtpSent, TokenServiceError> {
        let path = format!("/tsp/v1/tokens/{}/otp", checked_tur(tur)?);
        let body = json!({ "method": method.as_str() });
        let answer = self
            .call("POST", &path, Some(Self::json_body(&body)))
            .await?;
        let sent: OtpAnswer = Self::parse(answer)?;
        Ok(OtpSent {
            method: MethodKind::parse(&sent.method).unwrap_or(method),
            destination: sent.destination,
        })
    }

    async fn authenticate_inner(
        &self,
        tur: &str,
        method: MethodKind,
        otp: &Secret<String>,
    ) -> Result<TokenInfo, TokenServiceError> {
        #[derive(serde::Serialize)]
        struct Authenticate<'a> {
            method: &'static str,
            otp: &'a str,
        }
        let path = format!("/tsp/v1/tokens/{}/authenticate", checked_tur(tur)?);
        let mut body = Secret::new(Vec::with_capacity(128));
        serde_json::to_writer(
            body.expose_mut(),
            &Authenticate {
                method: method.as_str(),
                otp: otp.expose(),
            },
        )
        .map_err(unavailable)?;
        let answer = self
            .call("POST", &path, Some(Bytes::copy_from_slice(body.expose())))
            .await?;
        Self::parse::<TokenView>(answer)?.info()
    }

    async fn lifecycle_inner(
        &self,
        action: LifecycleAction,
        tur: &str,
        reason: &str,
    ) -> Result<TokenInfo, TokenServiceError> {
        let verb = match action {
            LifecycleAction::Delete => "delete",
            LifecycleAction::Resume => "unsuspend",
            LifecycleAction::Suspend => "suspend",
        };
        let body = json!({
            "token_requestor_id": self.requestor_id,
            "turs": [checked_tur(tur)?],
            "reason": reason,
        });
        let answer = self
            .call(
                "POST",
                &format!("/tsp/v1/tokens/{verb}"),
                Some(Self::json_body(&body)),
            )
            .await?;
        let answer: TokensAnswer = Self::parse(answer)?;
        answer
            .tokens
            .into_iter()
            .find(|t| t.tur == tur)
            .ok_or_else(|| unavailable("the lifecycle answer does not name the token"))?
            .info()
    }
}

/// `N` bytes from the operating system's random source.
fn random<const N: usize>() -> Result<[u8; N], TokenServiceError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| unavailable("the system random source failed"))?;
    Ok(out)
}

async fn send<S>(
    io: TokioIo<S>,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, TokenServiceError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| unavailable(format!("HTTP handshake: {e}")))?;
    // The connection task ends once the answer is read and the sender dropped.
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .map_err(|e| unavailable(format!("HTTP: {e}")))
}

impl TokenService for TspClient {
    fn tokenize(
        &self,
        request: TokenizeRequest,
    ) -> BoxFuture<'_, Result<TokenizeOutcome, TokenServiceError>> {
        Box::pin(self.tokenize_inner(request))
    }

    fn send_otp<'a>(
        &'a self,
        tur: &'a str,
        method: MethodKind,
    ) -> BoxFuture<'a, Result<OtpSent, TokenServiceError>> {
        Box::pin(self.send_otp_inner(tur, method))
    }

    fn authenticate<'a>(
        &'a self,
        tur: &'a str,
        method: MethodKind,
        otp: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>> {
        Box::pin(self.authenticate_inner(tur, method, otp))
    }

    fn payload<'a>(&'a self, tur: &'a str) -> BoxFuture<'a, Result<String, TokenServiceError>> {
        Box::pin(async move {
            let path = format!("/tsp/v1/tokens/{}/payload", checked_tur(tur)?);
            let answer = self.call("GET", &path, None).await?;
            Ok(Self::parse::<PayloadAnswer>(answer)?.encrypted_payload)
        })
    }

    fn token<'a>(&'a self, tur: &'a str) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>> {
        Box::pin(async move {
            let path = format!("/tsp/v1/tokens/{}", checked_tur(tur)?);
            let answer = self.call("GET", &path, None).await?;
            Self::parse::<TokenView>(answer)?.info()
        })
    }

    fn lifecycle<'a>(
        &'a self,
        action: LifecycleAction,
        tur: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>> {
        Box::pin(self.lifecycle_inner(action, tur, reason))
    }

    fn replenish_keys<'a>(
        &'a self,
        tur: &'a str,
        count: Option<u32>,
    ) -> BoxFuture<'a, Result<KeyBatch, TokenServiceError>> {
        Box::pin(async move {
            let path = format!("/tsp/v1/tokens/{}/keys", checked_tur(tur)?);
            let body = match count {
                Some(count) => json!({ "count": count }),
                None => json!({}),
            };
            let answer = self
                .call("POST", &path, Some(Self::json_body(&body)))
                .await?;
            let keys: KeysAnswer = Self::parse(answer)?;
            Ok(KeyBatch {
                count: keys.count,
                expires_at_unix: keys.expires_at,
                encrypted_keys: keys.encrypted_keys,
            })
        })
    }

    fn notification_key<'a>(
        &'a self,
        kid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Jwk, TokenServiceError>> {
        Box::pin(self.signing_key(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("http://127.0.0.1:8444", None).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("127.0.0.1", 8444, "")
        );
        assert_eq!(t.host_header(), "127.0.0.1:8444");
        let t = Target::parse("http://tsp.example/network/", None).unwrap();
        assert_eq!((t.port, t.prefix.as_str()), (80, "/network"));
        let t = Target::parse("http://[::1]:9", None).unwrap();
        assert_eq!(t.host_header(), "[::1]:9");
        assert_eq!(
            Target::parse("https://tsp.example", None).err(),
            Some(TspClientError::TlsNotConfigured)
        );
        for bad in [
            "ftp://x",
            "http://",
            "http://a:b",
            "http://u@h",
            "http://h/a b",
            "http://h/a?b",
            "http://[::1",
        ] {
            assert_eq!(
                Target::parse(bad, None).err(),
                Some(TspClientError::BadUrl),
                "{bad}"
            );
        }
    }

    #[test]
    fn turs_in_paths_are_alphanumeric() {
        assert!(checked_tur("DNITHE0123456789ABCDEF").is_ok());
        for bad in ["", "../keys", "a/b", "a b", &"A".repeat(65)] {
            assert!(checked_tur(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn problems_map_to_errors() {
        let answer = |status: u16, body: &str| Answer {
            status,
            body: Bytes::from(body.to_owned()),
        };
        let problem = |kind: &str| format!(r#"{{"type":"{TSP_PROBLEM_PREFIX}{kind}"}}"#);
        let parse = |a: Answer| TspClient::parse::<Value>(a).unwrap_err();
        assert_eq!(
            parse(answer(404, &problem("token-not-found"))),
            TokenServiceError::NotFound
        );
        assert_eq!(
            parse(answer(409, &problem("otp-locked"))),
            TokenServiceError::OtpLocked
        );
        assert_eq!(
            parse(answer(409, &problem("invalid-state"))),
            TokenServiceError::InvalidState {
                kind: "invalid-state".to_owned()
            }
        );
        assert_eq!(
            parse(answer(
                422,
                &format!(r#"{{"type":"{TSP_PROBLEM_PREFIX}incorrect-otp","attempts_left":3}}"#)
            )),
            TokenServiceError::IncorrectOtp { attempts_left: 3 }
        );
        assert!(matches!(
            parse(answer(401, &problem("unauthorized"))),
            TokenServiceError::Unavailable(_)
        ));
        assert!(matches!(
            parse(answer(502, "<html>")),
            TokenServiceError::Unavailable(_)
        ));
        assert!(matches!(
            TspClient::parse::<TokenView>(answer(200, "{}")),
            Err(TokenServiceError::Unavailable(_))
        ));
    }
}
