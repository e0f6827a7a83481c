//! The wallet backend's HTTP tests: `app(state).oneshot(request)` on a fixed, hand-moved clock.
//!
//! Each case of [`api_test!`] runs on an in-memory SQLite wallet store always, and again on
//! PostgreSQL in a fresh schema (dropped afterwards) when `TAPWALLET_TEST_POSTGRES` names a
//! server. The TLS test serves on 127.0.0.1:0 with the development certificate.
// Test helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use api::{AppState, Config, app};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use http_body_util::BodyExt as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use store::PgSchema;
use store::wallet::{IdempotencyClaim, WalletStore};
use tower::ServiceExt as _;

const POSTGRES_ENV: &str = "TAPWALLET_TEST_POSTGRES";

mod cards;
/// The fixed start of every test's clock: 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200;
const PASSWORD: &str = "correct horse battery staple";

// ---- harness ----------------------------------------------------------------------------------

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// One app on one database, with its clock.
struct Env {
    app: Router,
    state: AppState,
    clock: Arc<AtomicI64>,
}

/// The test configuration: a fixed JWT key, the cheapest password hashing.
fn base_config() -> Config {
    Config::new(vec![0x5a; 32])
        .unwrap()
        .danger_minimal_password_hashing()
}

/// The clock seam reading a hand-moved counter.
fn clock_of(clock: &Arc<AtomicI64>) -> api::Clock {
    let seen = Arc::clone(clock);
    Arc::new(move || seen.load(Ordering::SeqCst))
}

impl Env {
    async fn new(url: &str) -> Self {
        Self::build(url, Arc::new(AtomicI64::new(T0)), base_config()).await
    }

    /// An app on `url` configured by `config`, reading time from `clock`.
    async fn build(url: &str, clock: Arc<AtomicI64>, config: Config) -> Self {
        let store = WalletStore::open(url).await.unwrap();
        let state = AppState::new(store, config, clock_of(&clock))
            .await
            .unwrap();
        Self {
            app: app(state.clone()),
            state,
            clock,
        }
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    async fn call(&self, req: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body: bytes.to_vec(),
            json,
        }
    }

    async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.call(request(Method::POST, path, Some(body), token, &[]))
            .await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(request(Method::GET, path, None, token, &[]))
            .await
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    json: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with this status and type suffix.
    #[track_caller]
    fn assert_problem(&self, status: StatusCode, problem: &str) {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(
            self.json["type"],
            format!("urn:tapwallet:problem:{problem}"),
            "{}",
            self.json
        );
        assert_eq!(self.json["status"], status.as_u16());
        assert!(self.json["title"].is_string() && self.json["detail"].is_string());
        assert_eq!(
            self.json["instance"].as_str(),
            self.header("x-request-id"),
            "instance is the request id"
        );
    }

    fn field_errors(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn request(
    method: Method,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    match body {
        Some(body) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())
}

/// Runs `case` on an in-memory SQLite store, then in a fresh PostgreSQL schema when one is
/// configured, cleaning up even when the case panics.
async fn on_each_backend<F, Fut>(name: &str, case: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let result = tokio::spawn(case("sqlite::memory:".to_owned())).await;
    if let Err(e) = result {
        eprintln!("{name}: failed on SQLite");
        std::panic::resume_unwind(e.into_panic());
    }
    if let Some(base) = postgres_url() {
        let schema = PgSchema::create(&base, &format!("tw_api_{:016x}", random_u64()))
            .await
            .unwrap();
        let result = tokio::spawn(case(schema.url())).await;
        schema.drop_schema().await.unwrap();
        if let Err(e) = result {
            eprintln!("{name}: failed on PostgreSQL");
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Each case is `async fn(Env)`; this runs it on every backend.
macro_rules! api_test {
    ($($name:ident),* $(,)?) => {
        mod backends {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_each_backend(stringify!($name), |url| async move {
                        let env = super::Env::new(&url).await;
                        super::$name(&env).await;
                        env.state.store().close().await;
                    })
                    .await;
                }
            )*
        }
    };
}

api_test!(
    sign_up_and_duplicate_email,
    sign_up_validation,
    malformed_requests_are_problems,
    login_and_bad_credentials,
    refresh_rotates_and_reuse_revokes_the_session,
    logout_revokes_tokens,
    expired_and_altered_access_tokens,
    devices_register_and_list_in_pages,
    bad_attestations_are_refused,
    device_keys_register_once,
    other_users_devices_are_not_found,
    devices_get_lost_and_recovered,
    idempotent_posts_replay,
    idempotency_key_reuse_and_in_flight,
    login_is_rate_limited,
    health_ready_and_metrics,
    request_ids_are_echoed,
    unknown_paths_and_methods,
    openapi_lists_every_route,
    junk_never_gets_a_server_error,
);

// ---- fixtures ---------------------------------------------------------------------------------

async fn sign_up(env: &Env, email: &str) -> String {
    let r = env
        .post(
            "/v1/users",
            json!({ "email": email, "password": PASSWORD }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    r.json["id"].as_str().unwrap().to_owned()
}

struct Tokens {
    access: String,
    refresh: String,
}

async fn log_in(env: &Env, email: &str) -> Tokens {
    let r = env
        .post(
            "/v1/sessions",
            json!({ "email": email, "password": PASSWORD }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    Tokens {
        access: r.json["access_token"].as_str().unwrap().to_owned(),
        refresh: r.json["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// A user with a session: (user id, tokens).
async fn user(env: &Env, email: &str) -> (String, Tokens) {
    let id = sign_up(env, email).await;
    (id, log_in(env, email).await)
}

/// A deterministic secure element key (test scalars, no RNG).
fn se_key(n: u8) -> SigningKey {
    let mut scalar = [0x11u8; 32];
    scalar[31] = n;
    SigningKey::from_slice(&scalar).unwrap()
}

fn jwk(key: &SigningKey) -> Value {
    let point = key.verifying_key().to_sec1_point(false);
    let bytes = point.as_bytes();
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": Base64UrlUnpadded::encode_string(&bytes[1..33]),
        "y": Base64UrlUnpadded::encode_string(&bytes[33..65]),
    })
}

/// RFC 7638 thumbprint, computed independently of the API's code.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    Base64UrlUnpadded::encode_string(&Sha256::digest(canonical.as_bytes()))
}

fn attest(key: &SigningKey, user_id: &str, name: &str, platform: &str) -> String {
    let challenge = format!(
        "tapwallet-device-attestation:v1:{user_id}:{name}:{platform}:{}",
        thumbprint(&jwk(key))
    );
    let signature: Signature = key.sign(challenge.as_bytes());
    Base64UrlUnpadded::encode_string(&signature.to_bytes())
}

fn device_body(key: &SigningKey, user_id: &str, name: &str) -> Value {
    json!({
        "name": name,
        "platform": "ios",
        "se_public_key": jwk(key),
        "attestation": attest(key, user_id, name, "ios"),
    })
}

async fn register(env: &Env, tokens: &Tokens, user_id: &str, n: u8) -> Value {
    let r = env
        .post(
            "/v1/devices",
            device_body(&se_key(n), user_id, &format!("phone {n}")),
            Some(&tokens.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    r.json
}

// ---- users ------------------------------------------------------------------------------------

async fn sign_up_and_duplicate_email(env: &Env) {
    let r = env
        .post(
            "/v1/users",
            json!({ "email": "Ada@Example.com", "password": PASSWORD }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.json["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(r.json["email"], "Ada@Example.com");
    assert_eq!(r.json["created_at"], T0);
    assert!(r.json.get("password").is_none() && !r.json.to_string().contains("argon2"));

    // The same email in another case is the same user.
    let again = env
        .post(
            "/v1/users",
            json!({ "email": "ada@EXAMPLE.com", "password": PASSWORD }),
            None,
        )
        .await;
    again.assert_problem(StatusCode::CONFLICT, "email-taken");
}

async fn sign_up_validation(env: &Env) {
    let r = env
        .post(
            "/v1/users",
            json!({ "email": "not-an-email", "password": "short" }),
            None,
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.field_errors(), ["email", "password"]);

    let r = env
        .post("/v1/users", json!({ "email": "a@b.c" }), None)
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.field_errors(), ["password"], "a missing field is named");

    let r = env
        .post(
            "/v1/users",
            json!({ "email": 7, "password": PASSWORD }),
            None,
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        r.field_errors(),
        ["email"],
        "a wrongly typed field is named"
    );

    let long = "p".repeat(1025);
    let r = env
        .post(
            "/v1/users",
            json!({ "email": "a@b.c", "password": long }),
            None,
        )
        .await;
    assert_eq!(r.field_errors(), ["password"]);
}

async fn malformed_requests_are_problems(env: &Env) {
    let raw = |body: &'static str, content_type: Option<&str>| {
        let mut b = Request::builder().method(Method::POST).uri("/v1/users");
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).unwrap()
    };
    env.call(raw("{\"email\":", Some("application/json")))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    env.call(raw("", Some("application/json")))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    env.call(raw("{} {}", Some("application/json")))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    env.call(raw("{}", Some("text/plain")))
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    env.call(raw("{}", None))
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    env.call(raw("[1,2]", Some("application/json")))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // Over 64 KiB: refused whether or not the body declares its length.
    let big = format!(r#"{{"email":"a@b.c","password":"{}"}}"#, "x".repeat(70_000));
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/sessions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(big.clone()))
        .unwrap();
    env.call(req)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let stream = chunked(big.clone());
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/users")
        .header(header::CONTENT_TYPE, "application/json")
        .body(stream)
        .unwrap();
    env.call(req)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    // And with an Idempotency-Key, whose middleware reads the body first.
    let req = request(
        Method::POST,
        "/v1/users",
        None,
        None,
        &[
            ("idempotency-key", "k"),
            ("content-type", "application/json"),
        ],
    );
    let (parts, _) = req.into_parts();
    env.call(Request::from_parts(parts, Body::from(big)))
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
}

/// A body of unknown length (no Content-Length), as a chunked upload sends it.
struct Chunked(Option<axum::body::Bytes>);

impl hyper::body::Body for Chunked {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(
            self.get_mut()
                .0
                .take()
                .map(|b| Ok(hyper::body::Frame::data(b))),
        )
    }
}

fn chunked(s: String) -> Body {
    Body::new(Chunked(Some(s.into())))
}

// ---- sessions ---------------------------------------------------------------------------------

async fn login_and_bad_credentials(env: &Env) {
    sign_up(env, "ada@example.com").await;
    let r = env
        .post(
            "/v1/sessions",
            json!({ "email": "ADA@example.com", "password": PASSWORD }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 900);
    let refresh = r.json["refresh_token"].as_str().unwrap();
    assert_eq!(Base64UrlUnpadded::decode_vec(refresh).unwrap().len(), 32);
    // The access token is a JWT whose claims name the user and the session.
    let access = r.json["access_token"].as_str().unwrap();
    let parts: Vec<_> = access.split('.').collect();
    assert_eq!(parts.len(), 3);
    let claims: Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[1]).unwrap()).unwrap();
    assert!(claims["sub"].as_str().unwrap().starts_with("usr_"));
    assert!(claims["sid"].as_str().unwrap().starts_with("ses_"));
    assert_eq!(claims["iat"], T0);
    assert_eq!(claims["exp"], T0 + 900);
    assert_eq!(
        env.get("/v1/devices", Some(access)).await.status,
        StatusCode::OK
    );

    for (email, password) in [
        ("ada@example.com", "wrong password!"),
        ("nobody@example.com", PASSWORD),
    ] {
        let r = env
            .post(
                "/v1/sessions",
                json!({ "email": email, "password": password }),
                None,
            )
            .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer realm="tapwallet""#)
        );
    }
    let r = env
        .post("/v1/sessions", json!({ "email": "", "password": "" }), None)
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
}

async fn refresh_rotates_and_reuse_revokes_the_session(env: &Env) {
    let (_, first) = user(env, "ada@example.com").await;
    env.advance(60);
    let r = env
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": first.refresh }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let second = Tokens {
        access: r.json["access_token"].as_str().unwrap().to_owned(),
        refresh: r.json["refresh_token"].as_str().unwrap().to_owned(),
    };
    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    assert_eq!(
        env.get("/v1/devices", Some(&second.access)).await.status,
        StatusCode::OK
    );

    // The first refresh token is used up; presenting it again is a replay, which revokes
    // the whole session: the second refresh token and every access token die with it.
    let replay = env
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": first.refresh }),
            None,
        )
        .await;
    replay.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let r = env
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": second.refresh }),
            None,
        )
        .await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    for token in [&first.access, &second.access] {
        let r = env.get("/v1/devices", Some(token)).await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("invalid_token")
        );
    }

    // Junk tokens are refused the same way.
    for junk in ["", "short", &"A".repeat(43), &"x".repeat(300)] {
        let r = env
            .post(
                "/v1/sessions/refresh",
                json!({ "refresh_token": junk }),
                None,
            )
            .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // A new login is a new session.
    let fresh = log_in(env, "ada@example.com").await;
    assert_eq!(
        env.get("/v1/devices", Some(&fresh.access)).await.status,
        StatusCode::OK
    );
}

async fn logout_revokes_tokens(env: &Env) {
    let (_, tokens) = user(env, "ada@example.com").await;
    let other = log_in(env, "ada@example.com").await;
    let r = env
        .call(request(
            Method::DELETE,
            "/v1/sessions/current",
            None,
            Some(&tokens.access),
            &[],
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    env.get("/v1/devices", Some(&tokens.access))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    env.post(
        "/v1/sessions/refresh",
        json!({ "refresh_token": tokens.refresh }),
        None,
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // Logging out twice: the token is already dead.
    env.call(request(
        Method::DELETE,
        "/v1/sessions/current",
        None,
        Some(&tokens.access),
        &[],
    ))
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // Other sessions of the user live on.
    assert_eq!(
        env.get("/v1/devices", Some(&other.access)).await.status,
        StatusCode::OK
    );
}

async fn expired_and_altered_access_tokens(env: &Env) {
    let (_, tokens) = user(env, "ada@example.com").await;
    // Missing token.
    let r = env.get("/v1/devices", None).await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer realm="tapwallet""#)
    );
    let r = env
        .call(request(
            Method::GET,
            "/v1/devices",
            None,
            None,
            &[("authorization", "Basic YTpi")],
        ))
        .await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // Altered: another subject in the payload, the signature kept.
    let parts: Vec<_> = tokens.access.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!("usr_someone_else");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        Base64UrlUnpadded::encode_string(claims.to_string().as_bytes()),
        parts[2]
    );
    // And one flipped signature character.
    let mut flipped = tokens.access.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [forged.as_str(), flipped.as_str(), "a.b.c", "not-a-jwt"] {
        let r = env.get("/v1/devices", Some(bad)).await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Bearer realm="tapwallet", error="invalid_token""#)
        );
    }

    // Expired: 15 minutes later by the app's clock.
    env.advance(899);
    assert_eq!(
        env.get("/v1/devices", Some(&tokens.access)).await.status,
        StatusCode::OK
    );
    env.advance(1);
    env.get("/v1/devices", Some(&tokens.access))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // The refresh token still works, and gives a token valid from now.
    let r = env
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": tokens.refresh }),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let access = r.json["access_token"].as_str().unwrap();
    assert_eq!(
        env.get("/v1/devices", Some(access)).await.status,
        StatusCode::OK
    );
    // Past the session's 30 days, refresh fails too.
    env.advance(30 * 24 * 3600);
    let next = r.json["refresh_token"].as_str().unwrap();
    env.post(
        "/v1/sessions/refresh",
        json!({ "refresh_token": next }),
        None,
    )
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

// ---- devices ----------------------------------------------------------------------------------

async fn devices_register_and_list_in_pages(env: &Env) {
    let (user_id, tokens) = user(env, "ada@example.com").await;
    let key = se_key(1);
    let device = register(env, &tokens, &user_id, 1).await;
    assert!(device["id"].as_str().unwrap().starts_with("dev_"));
    assert_eq!(device["name"], "phone 1");
    assert_eq!(device["platform"], "ios");
    assert_eq!(device["status"], "active");
    assert_eq!(device["se_public_key"], jwk(&key));
    assert_eq!(device["se_key_thumbprint"], thumbprint(&jwk(&key)));
    assert_eq!(device["created_at"], T0);
    assert_eq!(device["status_changed_at"], T0);

    for n in 2..=5 {
        env.advance(1);
        register(env, &tokens, &user_id, n).await;
    }
    let page = env.get("/v1/devices?limit=2", Some(&tokens.access)).await;
    assert_eq!(page.status, StatusCode::OK);
    let names = |r: &Reply| -> Vec<String> {
        r.json["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&page), ["phone 1", "phone 2"]);
    let mut seen = names(&page);
    let mut cursor = page.json["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let r = env
            .get(
                &format!("/v1/devices?limit=2&cursor={cursor}"),
                Some(&tokens.access),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        seen.extend(names(&r));
        match r.json["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["phone 1", "phone 2", "phone 3", "phone 4", "phone 5"]
    );
    // A page that ends exactly at the last item says so.
    let all = env.get("/v1/devices?limit=5", Some(&tokens.access)).await;
    assert_eq!(all.json["next_cursor"], Value::Null);
    let default = env.get("/v1/devices", Some(&tokens.access)).await;
    assert_eq!(names(&default).len(), 5);

    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "cursor=bm9wZQ",
        "cursor=",
    ] {
        let r = env
            .get(&format!("/v1/devices?{bad}"), Some(&tokens.access))
            .await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    }
    env.get("/v1/devices?limit=1&limit=2", Some(&tokens.access))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
}

async fn bad_attestations_are_refused(env: &Env) {
    let (user_id, tokens) = user(env, "ada@example.com").await;
    let key = se_key(1);
    let post = |body: Value| env.post("/v1/devices", body, Some(&tokens.access));

    // Signed by another key.
    let mut body = device_body(&key, &user_id, "phone");
    body["attestation"] = json!(attest(&se_key(2), &user_id, "phone", "ios"));
    let r = post(body).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.field_errors(), ["attestation"]);

    // Signed over other details: another name, another platform, another user.
    for (name, platform, signer) in [
        ("other name", "ios", user_id.as_str()),
        ("phone", "android", user_id.as_str()),
        ("phone", "ios", "usr_someone_else"),
    ] {
        let mut body = device_body(&key, &user_id, "phone");
        body["attestation"] = json!(attest(&key, signer, name, platform));
        let r = post(body).await;
        assert_eq!(
            r.field_errors(),
            ["attestation"],
            "{name} {platform} {signer}"
        );
    }

    // Not a signature at all.
    for junk in ["", "AAAA", &"A".repeat(86), "!!!"] {
        let mut body = device_body(&key, &user_id, "phone");
        body["attestation"] = json!(junk);
        assert_eq!(post(body).await.field_errors(), ["attestation"]);
    }

    // Keys that are not public P-256 keys.
    let mut body = device_body(&key, &user_id, "phone");
    body["se_public_key"]["d"] = json!(Base64UrlUnpadded::encode_string(&[1; 32]));
    assert_eq!(post(body).await.field_errors(), ["se_public_key.d"]);
    let mut body = device_body(&key, &user_id, "phone");
    body["se_public_key"]["x"] = json!(Base64UrlUnpadded::encode_string(&[1; 32]));
    assert_eq!(post(body).await.field_errors(), ["se_public_key"]);
    let mut body = device_body(&key, &user_id, "phone");
    body["se_public_key"]["y"] = json!("short");
    assert_eq!(post(body).await.field_errors(), ["se_public_key.y"]);
    let mut body = device_body(&key, &user_id, "phone");
    body["se_public_key"]["crv"] = json!("P-384");
    assert_eq!(post(body).await.field_errors(), ["se_public_key.crv"]);
    let mut body = device_body(&key, &user_id, "phone");
    body["platform"] = json!("windows");
    assert_eq!(post(body).await.field_errors(), ["platform"]);

    // Names: 1 to 64 characters.
    for name in [String::new(), "n".repeat(65)] {
        let body = device_body(&key, &user_id, &name);
        assert_eq!(post(body).await.field_errors(), ["name"]);
    }
    let name = "é".repeat(64);
    assert_eq!(
        post(device_body(&key, &user_id, &name)).await.status,
        StatusCode::CREATED,
        "64 characters, 128 bytes"
    );
}

async fn device_keys_register_once(env: &Env) {
    let (alice, alice_tokens) = user(env, "alice@example.com").await;
    let (bob, bob_tokens) = user(env, "bob@example.com").await;
    register(env, &alice_tokens, &alice, 1).await;
    let again = env
        .post(
            "/v1/devices",
            device_body(&se_key(1), &alice, "second name"),
            Some(&alice_tokens.access),
        )
        .await;
    again.assert_problem(StatusCode::CONFLICT, "device-key-registered");
    let by_bob = env
        .post(
            "/v1/devices",
            device_body(&se_key(1), &bob, "bob's"),
            Some(&bob_tokens.access),
        )
        .await;
    by_bob.assert_problem(StatusCode::CONFLICT, "device-key-registered");
}

async fn other_users_devices_are_not_found(env: &Env) {
    let (alice, alice_tokens) = user(env, "alice@example.com").await;
    let (_, bob_tokens) = user(env, "bob@example.com").await;
    let device = register(env, &alice_tokens, &alice, 1).await;
    let id = device["id"].as_str().unwrap();
    for action in ["lost", "recovered"] {
        let r = env
            .post(
                &format!("/v1/devices/{id}/{action}"),
                json!({}),
                Some(&bob_tokens.access),
            )
            .await;
        r.assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    let r = env.get("/v1/devices", Some(&bob_tokens.access)).await;
    assert_eq!(r.json["devices"], json!([]));
    // Still active for its owner.
    let r = env.get("/v1/devices", Some(&alice_tokens.access)).await;
    assert_eq!(r.json["devices"][0]["status"], "active");
    let r = env
        .post(
            "/v1/devices/dev_nope/lost",
            json!({}),
            Some(&alice_tokens.access),
        )
        .await;
    r.assert_problem(StatusCode::NOT_FOUND, "not-found");
    let r = env
        .call(request(
            Method::POST,
            "/v1/devices/%FF/lost",
            None,
            Some(&alice_tokens.access),
            &[],
        ))
        .await;
    r.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
}

async fn devices_get_lost_and_recovered(env: &Env) {
    let (user_id, tokens) = user(env, "ada@example.com").await;
    let device = register(env, &tokens, &user_id, 1).await;
    let id = device["id"].as_str().unwrap();
    env.advance(100);
    let r = env
        .call(request(
            Method::POST,
            &format!("/v1/devices/{id}/lost"),
            None,
            Some(&tokens.access),
            &[],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "lost");
    assert_eq!(r.json["status_changed_at"], T0 + 100);
    env.advance(100);
    let again = env
        .post(
            &format!("/v1/devices/{id}/lost"),
            json!({}),
            Some(&tokens.access),
        )
        .await;
    assert_eq!(again.json["status_changed_at"], T0 + 100, "no change");
    let r = env
        .post(
            &format!("/v1/devices/{id}/recovered"),
            json!({}),
            Some(&tokens.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["status_changed_at"], T0 + 200);
    let listed = env.get("/v1/devices", Some(&tokens.access)).await;
    assert_eq!(listed.json["devices"][0], r.json);
}

// ---- idempotency ------------------------------------------------------------------------------

/// The request digest the idempotency layer stores, computed independently of the API's code:
/// HMAC-SHA-256 under the test JWT key of the label, method, path and body, each prefixed by
/// its length as 8 big-endian bytes.
fn request_digest(method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&[0x5a; 32]).unwrap();
    for part in [
        b"tapwallet idempotency request v1".as_slice(),
        method.as_bytes(),
        path.as_bytes(),
        body,
    ] {
        mac.update(&u64::try_from(part.len()).unwrap().to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

async fn idempotent_posts_replay(env: &Env) {
    let (user_id, tokens) = user(env, "ada@example.com").await;
    let body = device_body(&se_key(1), &user_id, "phone");
    let send = |key: &'static str, body: Value| {
        env.call(request(
            Method::POST,
            "/v1/devices",
            Some(body),
            Some(&tokens.access),
            &[("idempotency-key", key)],
        ))
    };
    let first = send("key-1", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotency-replayed"), None);
    env.advance(30);
    let replay = send("key-1", body.clone()).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.header("idempotency-replayed"), Some("true"));
    assert_eq!(replay.header("content-type"), Some("application/json"));
    assert_eq!(replay.json, first.json, "the same device, not a second one");
    let listed = env.get("/v1/devices", Some(&tokens.access)).await;
    assert_eq!(listed.json["devices"].as_array().unwrap().len(), 1);

    // Without a key, the same body runs again (and meets the registered key).
    let r = env.post("/v1/devices", body, Some(&tokens.access)).await;
    r.assert_problem(StatusCode::CONFLICT, "device-key-registered");

    // A failed request releases its key: fixed and retried with the same key, it runs.
    let mut bad = device_body(&se_key(2), &user_id, "tablet");
    bad["attestation"] = json!("AAAA");
    send("key-2", bad)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let good = send("key-2", device_body(&se_key(2), &user_id, "tablet")).await;
    assert_eq!(good.status, StatusCode::CREATED);
    assert_eq!(good.header("idempotency-replayed"), None);

    // Unauthenticated POSTs are scoped by client address.
    let signup = |addr: &str| {
        let mut req = request(
            Method::POST,
            "/v1/users",
            Some(json!({ "email": "bob@example.com", "password": PASSWORD })),
            None,
            &[("idempotency-key", "signup-1")],
        );
        req.extensions_mut()
            .insert(ConnectInfo(addr.parse::<SocketAddr>().unwrap()));
        env.call(req)
    };
    let created = signup("192.0.2.1:5000").await;
    assert_eq!(created.status, StatusCode::CREATED);
    let replayed = signup("192.0.2.1:6000").await;
    assert_eq!(replayed.header("idempotency-replayed"), Some("true"));
    assert_eq!(replayed.json, created.json);
    // Another client with the same key is another request: the email is taken.
    signup("192.0.2.2:5000")
        .await
        .assert_problem(StatusCode::CONFLICT, "email-taken");

    // Device status changes replay too; keys are per user.
    let id = first.json["id"].as_str().unwrap();
    let lost = |key: &'static str| {
        env.call(request(
            Method::POST,
            &format!("/v1/devices/{id}/lost"),
            None,
            Some(&tokens.access),
            &[("idempotency-key", key)],
        ))
    };
    assert_eq!(lost("lost-1").await.header("idempotency-replayed"), None);
    assert_eq!(
        lost("lost-1").await.header("idempotency-replayed"),
        Some("true")
    );

    // Invalid keys are refused.
    for key in ["", &"k".repeat(256)] {
        let r = env
            .call(request(
                Method::POST,
                "/v1/devices",
                Some(json!({})),
                Some(&tokens.access),
                &[("idempotency-key", key)],
            ))
            .await;
        r.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    }
    // Authentication comes first.
    let r = env
        .call(request(
            Method::POST,
            "/v1/devices",
            Some(json!({})),
            None,
            &[("idempotency-key", "key-1")],
        ))
        .await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn idempotency_key_reuse_and_in_flight(env: &Env) {
    let (user_id, tokens) = user(env, "ada@example.com").await;
    let post = |key: &'static str, body: Value| {
        env.call(request(
            Method::POST,
            "/v1/devices",
            Some(body),
            Some(&tokens.access),
            &[("idempotency-key", key)],
        ))
    };
    let first = post("k", device_body(&se_key(1), &user_id, "phone")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    // Same key, different body.
    post("k", device_body(&se_key(2), &user_id, "tablet"))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    // Same key, another route.
    let id = first.json["id"].as_str().unwrap();
    env.call(request(
        Method::POST,
        &format!("/v1/devices/{id}/lost"),
        None,
        Some(&tokens.access),
        &[("idempotency-key", "k")],
    ))
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");

    // A duplicate that arrives while the first is still running: the first request's claim
    // is in the store (as a concurrent request would have left it), so this one must wait.
    let path = format!("/v1/devices/{id}/recovered");
    let claim = IdempotencyClaim {
        scope: format!("user:{user_id}"),
        key: "busy".to_owned(),
        request_hash: request_digest("POST", &path, b""),
        now_unix: env.state.now(),
        in_flight_timeout_secs: 60,
        retention_secs: 86_400,
    };
    env.state.store().idempotency_begin(&claim).await.unwrap();
    let recovered = || {
        env.call(request(
            Method::POST,
            &path,
            None,
            Some(&tokens.access),
            &[("idempotency-key", "busy")],
        ))
    };
    recovered()
        .await
        .assert_problem(StatusCode::CONFLICT, "idempotency-in-flight");
    // The first request never finishes (it died): after a minute its claim is taken over.
    env.advance(61);
    assert_eq!(recovered().await.status, StatusCode::OK);

    // Twelve concurrent duplicates: one runs, the rest wait (409) or replay.
    let body = device_body(&se_key(3), &user_id, "watch");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let app = env.app.clone();
        let req = request(
            Method::POST,
            "/v1/devices",
            Some(body.clone()),
            Some(&tokens.access),
            &[("idempotency-key", "race")],
        );
        tasks.push(tokio::spawn(async move { app.oneshot(req).await.unwrap() }));
    }
    let mut created = 0;
    for t in tasks {
        let response = t.await.unwrap();
        match response.status() {
            StatusCode::CREATED => {
                if response.headers().get("idempotency-replayed").is_none() {
                    created += 1;
                }
            }
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
}

// ---- rate limits ------------------------------------------------------------------------------

async fn login_is_rate_limited(env: &Env) {
    sign_up(env, "ada@example.com").await;
    let attempt = |email: &str, password: &str, addr: &str| {
        let mut req = request(
            Method::POST,
            "/v1/sessions",
            Some(json!({ "email": email, "password": password })),
            None,
            &[],
        );
        req.extensions_mut()
            .insert(ConnectInfo(addr.parse::<SocketAddr>().unwrap()));
        env.call(req)
    };
    // Per email: 5 at once (from different addresses), whatever the case of the email.
    for i in 0..5 {
        let r = attempt(
            "ADA@example.com",
            "wrong password!",
            &format!("192.0.2.{i}:1"),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = attempt("ada@example.com", PASSWORD, "192.0.2.99:1").await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    assert_eq!(r.header("retry-after"), Some("60"));
    env.advance(60);
    assert_eq!(
        attempt("ada@example.com", PASSWORD, "192.0.2.99:1")
            .await
            .status,
        StatusCode::CREATED
    );

    // Per client address: 20 at once, across emails.
    for i in 0..20 {
        let r = attempt(&format!("user{i}@example.com"), PASSWORD, "198.51.100.7:1").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = attempt("user99@example.com", PASSWORD, "198.51.100.7:2").await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(
        attempt("user99@example.com", PASSWORD, "198.51.100.8:1")
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "other clients are not affected"
    );

    // The limiter is reusable by other routes.
    let limiter = &env.state.rate_limits().login_per_email;
    assert_eq!(limiter.limit().burst, 5);
}

// ---- operations -------------------------------------------------------------------------------

async fn health_ready_and_metrics(env: &Env) {
    let r = env.get("/health", None).await;
    assert_eq!(
        (r.status, r.json.clone()),
        (StatusCode::OK, json!({ "status": "ok" }))
    );
    let r = env.get("/ready", None).await;
    assert_eq!(
        (r.status, r.json.clone()),
        (StatusCode::OK, json!({ "status": "ready" }))
    );
    sign_up(env, "ada@example.com").await;
    env.get("/v1/devices/xyz", None).await;

    let r = env.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(r.body).unwrap();
    for line in [
        r#"http_requests_total{method="POST",route="/v1/users",status="201"} 1"#,
        r#"http_requests_total{method="GET",route="/health",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"http_request_duration_seconds_bucket{method="POST",route="/v1/users",status="201",le="+Inf"} 1"#,
        r#"http_request_duration_seconds_count{method="GET",route="/ready",status="200"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }

    // Not ready once the database is gone.
    env.state.store().close().await;
    env.get("/ready", None)
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(env.get("/health", None).await.status, StatusCode::OK);
}

async fn request_ids_are_echoed(env: &Env) {
    let with_id = |id: &str| {
        env.call(request(
            Method::GET,
            "/v1/devices",
            None,
            None,
            &[("x-request-id", id)],
        ))
    };
    let r = with_id("trace-abc.123_X").await;
    assert_eq!(r.header("x-request-id"), Some("trace-abc.123_X"));
    assert_eq!(r.json["instance"], "trace-abc.123_X");
    // Ids we would not log verbatim are replaced.
    for bad in ["has space", "a/b", &"x".repeat(65)] {
        let r = with_id(bad).await;
        let id = r.header("x-request-id").unwrap();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 16);
        assert_eq!(r.json["instance"], id);
    }
    let a = env.get("/health", None).await;
    let b = env.get("/health", None).await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
}

async fn unknown_paths_and_methods(env: &Env) {
    env.get("/nope", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let r = env
        .call(request(Method::PUT, "/v1/users", None, None, &[]))
        .await;
    r.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    assert_eq!(r.header("allow"), Some("POST"));
    let r = env
        .call(request(Method::DELETE, "/v1/devices", None, None, &[]))
        .await;
    r.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    assert!(r.header("allow").unwrap().contains("GET"));
    assert!(r.header("allow").unwrap().contains("POST"));
}

/// Every route, as the router defines it: the document must list exactly these.
const ROUTES: [(&str, &str); 26] = [
    ("post", "/v1/users"),
    ("post", "/v1/sessions"),
    ("post", "/v1/sessions/refresh"),
    ("delete", "/v1/sessions/current"),
    ("post", "/v1/devices"),
    ("get", "/v1/devices"),
    ("post", "/v1/devices/{id}/lost"),
    ("post", "/v1/devices/{id}/recovered"),
    ("post", "/v1/cards/provision"),
    ("get", "/v1/cards"),
    ("get", "/v1/cards/{id}"),
    ("delete", "/v1/cards/{id}"),
    ("post", "/v1/cards/{id}/verify"),
    ("post", "/v1/cards/{id}/otp"),
    ("get", "/v1/cards/{id}/payload"),
    ("post", "/v1/cards/{id}/keys"),
    ("post", "/v1/cards/{id}/suspend"),
    ("post", "/v1/cards/{id}/resume"),
    ("put", "/v1/cards/{id}/default"),
    ("get", "/v1/transactions"),
    ("post", "/v1/webhooks/tsp"),
    ("post", "/v1/webhooks/tsp/notify/token-updated"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

async fn openapi_lists_every_route(env: &Env) {
    let r = env.get("/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut listed = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            listed.push((method.clone(), path.clone()));
            let responses = op["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}");
            for (status, response) in responses {
                let code: u16 = status.parse().unwrap();
                if code >= 400 {
                    assert!(
                        response["content"]["application/problem+json"]["schema"]["$ref"]
                            .as_str()
                            .unwrap()
                            .ends_with("/Problem"),
                        "{method} {path} {status}"
                    );
                }
            }
            let secured = op.get("security").is_some();
            let needs_auth = ["/v1/devices", "/v1/cards", "/v1/transactions"]
                .iter()
                .any(|p| path.starts_with(p))
                || path == "/v1/sessions/current";
            assert_eq!(secured, needs_auth, "{method} {path}");
            // Webhooks are authenticated by their signature, not a bearer token.
            let webhook = path.starts_with("/v1/webhooks");
            assert_eq!(
                responses.contains_key("401"),
                needs_auth || webhook || path.starts_with("/v1/sessions"),
                "{method} {path}"
            );
        }
    }
    listed.sort();
    let mut expected: Vec<_> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Problem",
        "FieldError",
        "CreateUserRequest",
        "User",
        "LoginRequest",
        "RefreshRequest",
        "TokenResponse",
        "CreateDeviceRequest",
        "Device",
        "DeviceList",
        "PublicJwk",
        "Platform",
        "ProvisionRequest",
        "Card",
        "CardList",
        "CardStatus",
        "CardPayload",
        "CardCredential",
        "CardKeys",
        "ReplenishKeysRequest",
        "VerifyRequest",
        "SendOtpRequest",
        "VerificationMethodView",
        "Transaction",
        "TransactionList",
        "WebhookAck",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    assert!(schemas["PublicJwk"]["properties"].get("d").is_none());
    assert_eq!(
        schemas["Problem"]["properties"]["attempts_left"]["type"][0], "integer",
        "wrong codes say how many attempts are left"
    );
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    // Every declared route answers at its path (not the 404 fallback).
    for (method, path) in ROUTES {
        let path = path.replace("{id}", "dev_x");
        let r = env
            .call(request(method.parse().unwrap(), &path, None, None, &[]))
            .await;
        assert_ne!(
            r.json["type"], "urn:tapwallet:problem:not-found",
            "{method} {path}"
        );
    }
}

/// Odd inputs on every body route: always a 4xx problem, never a 5xx.
async fn junk_never_gets_a_server_error(env: &Env) {
    let (_, tokens) = user(env, "ada@example.com").await;
    let bodies = [
        "null",
        "true",
        "\"text\"",
        "12",
        "{}",
        "{\"email\":null,\"password\":null}",
        "{\"email\":\"a@b\",\"password\":\"\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\"}",
        "{\"name\":\"x\",\"platform\":\"ios\",\"se_public_key\":{},\"attestation\":\"\"}",
        "{\"name\":\"x\",\"platform\":\"ios\",\"se_public_key\":{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"\",\"y\":\"\"},\"attestation\":\"\"}",
        "{\"refresh_token\":[]}",
        "\u{feff}{}",
        "{\"a\":1e999999}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ];
    for path in [
        "/v1/users",
        "/v1/sessions",
        "/v1/sessions/refresh",
        "/v1/devices",
        "/v1/cards/provision",
        "/v1/cards/crd_x/verify",
        "/v1/cards/crd_x/otp",
    ] {
        for body in bodies {
            let req = Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {}", tokens.access))
                .body(Body::from(body))
                .unwrap();
            let r = env.call(req).await;
            assert!(r.status.is_client_error(), "{path} {body}: {}", r.status);
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
        }
    }
    let deep = "[".repeat(10_000);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/users")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(deep))
        .unwrap();
    assert_eq!(env.call(req).await.status, StatusCode::BAD_REQUEST);
}

// ---- TLS --------------------------------------------------------------------------------------

/// A directory under the temp dir, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_the_dev_certificate() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "tapwallet-api-tls-{}-{:016x}",
        std::process::id(),
        random_u64()
    )));
    let server_config = api::tls::dev_certificate(&dir.0).unwrap();
    let cert_pem = std::fs::read(dir.0.join(api::tls::DEV_CERT_FILE)).unwrap();
    // Made once, reused afterwards.
    api::tls::dev_certificate(&dir.0).unwrap();
    assert_eq!(
        std::fs::read(dir.0.join(api::tls::DEV_CERT_FILE)).unwrap(),
        cert_pem
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.0.join(api::tls::DEV_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is private");
    }

    let env = Env::new("sqlite::memory:").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(
        listener,
        Some(server_config),
        env.app.clone(),
        async {
            let _ = stopped.await;
        },
    ));

    // A client that trusts exactly the development certificate.
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&cert_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = |alpn: &[u8]| {
        let mut c = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        c.alpn_protocols = vec![alpn.to_vec()];
        Arc::new(c)
    };
    let connect = |alpn: &'static [u8]| {
        let connector = tokio_rustls::TlsConnector::from(client_config(alpn));
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
            hyper_util::rt::TokioIo::new(tls)
        }
    };
    let get = |path: &str| {
        Request::builder()
            .uri(format!("https://localhost:{}{path}", addr.port()))
            .header(header::HOST, format!("localhost:{}", addr.port()))
            .body(http_body_util::Empty::<axum::body::Bytes>::new())
            .unwrap()
    };

    // HTTP/1.1.
    let (mut h1, conn) = hyper::client::conn::http1::handshake(connect(b"http/1.1").await)
        .await
        .unwrap();
    let h1_task = tokio::spawn(conn);
    let response = h1.send_request(get("/health")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), axum::http::Version::HTTP_11);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["status"],
        "ok"
    );

    // HTTP/2, negotiated by ALPN.
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        connect(b"h2").await,
    )
    .await
    .unwrap();
    let h2_task = tokio::spawn(conn);
    let response = h2.send_request(get("/ready")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), axum::http::Version::HTTP_2);
    // The peer address reached the app (it scopes limits per client).
    let response = h2.send_request(get("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // A certificate for another name is refused by the client.
    let connector = tokio_rustls::TlsConnector::from(client_config(b"h2"));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let wrong = rustls::pki_types::ServerName::try_from("example.com").unwrap();
    assert!(connector.connect(wrong, tcp).await.is_err());

    // Graceful shutdown: open connections are closed when idle and the server returns.
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), h1_task).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), h2_task).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn tls_load_refuses_bad_pem() {
    assert!(matches!(
        api::tls::load(b"", b""),
        Err(api::tls::TlsError::BadCertificate)
    ));
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = made.cert.pem();
    assert!(matches!(
        api::tls::load(cert.as_bytes(), b"junk"),
        Err(api::tls::TlsError::BadKey)
    ));
    let key = made.signing_key.serialize_pem();
    assert!(api::tls::load(cert.as_bytes(), key.as_bytes()).is_ok());
}

#[tokio::test]
async fn short_jwt_keys_are_refused() {
    assert_eq!(
        Config::new(vec![1; 31]).unwrap_err(),
        api::ConfigError::JwtKeyTooShort
    );
}

/// Shutdown waits for a request in flight: the handler is held until after the server has
/// stopped accepting, and its response still reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_requests_in_flight() {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let hooks = Arc::new(std::sync::Mutex::new((Some(started_tx), Some(release_rx))));
    let router = Router::new().route(
        "/slow",
        axum::routing::get(move || {
            let hooks = Arc::clone(&hooks);
            async move {
                let (started, release) = {
                    let mut h = hooks.lock().unwrap();
                    (h.0.take().unwrap(), h.1.take().unwrap())
                };
                started.send(()).unwrap();
                release.await.unwrap();
                "done"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(api::serve(listener, None, router, async {
        let _ = stopped.await;
    }));

    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut client, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    let conn_task = tokio::spawn(conn);
    let request = Request::builder()
        .uri("/slow")
        .header(header::HOST, "localhost")
        .body(http_body_util::Empty::<axum::body::Bytes>::new())
        .unwrap();
    let in_flight = tokio::spawn(async move { client.send_request(request).await });
    started_rx.await.unwrap();

    stop.send(()).unwrap();
    // Wait (bounded) until the server no longer accepts connections.
    let mut closed = false;
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(closed, "the listener closes on shutdown");
    assert!(!server.is_finished(), "a request is still in flight");

    release_tx.send(()).unwrap();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"done");
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("server stops once the request is done")
        .unwrap()
        .unwrap();
    let _ = conn_task.await;
}
