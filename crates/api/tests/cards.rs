//! Cards end to end: the wallet backend (through `app(state).oneshot`) against the real token
//! service (`tsp::app`, served on 127.0.0.1:0) with the issuer's ID&V and the network's vault
//! on the demo world and keys of `harness::demo`. Both share one hand-moved clock.
//!
//! Each case of [`cards_test!`] runs with the backend on SQLite and, when configured, on
//! PostgreSQL; the token service always keeps its own in-memory SQLite store.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use api::token_service::{LifecycleAction, TokenService as _, TokenState};
use api::{TspClient, TspClientConfig};
use harness::demo;
use issuer::idv::{Idv, IdvConfig, IdvRules};
use jose::{HeaderParams, Jwk, jwe, jws};
use network::vault::VaultKeys;
use sqlx::{Connection as _, Row as _};

use super::*;

/// A low-risk Visa: tokenized green.
const GREEN_PAN: &str = "4111111111111111";
const GREEN_CVV: &str = "123";
/// Another low-risk Visa (green).
const GREEN2_PAN: &str = "4242424242424242";
const GREEN2_CVV: &str = "654";
/// A Mastercard that needs a step-up: SMS, e-mail or the issuer's app.
const YELLOW_PAN: &str = "5555555555554444";
const YELLOW_CVV: &str = "456";

// ---- the token service ------------------------------------------------------------------------

fn key32(hex: &str) -> secret::Secret<[u8; 32]> {
    demo::key32(hex, "demo key").unwrap()
}

fn tsp_encryption_key() -> Jwk {
    Jwk::from_private_bytes(key32(demo::TSP_ENCRYPTION_KEY_HEX).expose())
        .unwrap()
        .with_kid(demo::TSP_ENCRYPTION_KEY_ID)
}

fn tsp_signing_key() -> Jwk {
    Jwk::from_private_bytes(key32(demo::TSP_SIGNING_KEY_HEX).expose())
        .unwrap()
        .with_kid(demo::TSP_SIGNING_KEY_ID)
}

fn requestor_api_key() -> Vec<u8> {
    key32(demo::TOKEN_REQUESTOR_API_KEY_HEX).expose().to_vec()
}

fn vault() -> VaultKeys {
    VaultKeys::new(
        key32(demo::VAULT_KEY_HEX).expose(),
        key32(demo::VAULT_HASH_KEY_HEX).expose(),
    )
    .unwrap()
}

/// The token service on the demo world, served on a free local port.
struct TspWorld {
    addr: SocketAddr,
    tsp: Arc<tsp::Tsp>,
    idv: Arc<Idv>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for TspWorld {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TspWorld {
    async fn start(clock: &Arc<AtomicI64>) -> Self {
        let store = store::Store::open("sqlite::memory:").await.unwrap();
        let issuer = issuer::Issuer::new(
            store.clone(),
            issuer::IssuerConfig {
                keys: issuer::IssuerKeys::single(
                    demo::tdes_key(demo::ISSUER_IMK_HEX, "issuer IMK").unwrap(),
                ),
                pan_hash_key: key32(demo::ISSUER_HASH_KEY_HEX),
                velocity: Default::default(),
            },
            clock_of(clock),
        );
        demo::seed(&store, &issuer, &vault()).await.unwrap();
        let idv = Arc::new(Idv::new(
            store.clone(),
            IdvConfig {
                pan_hash_key: key32(demo::ISSUER_HASH_KEY_HEX),
                idv_key: key32(demo::ISSUER_IDV_KEY_HEX),
                rules: IdvRules::default(),
            },
            clock_of(clock),
        ));
        demo::seed_idv(&idv).await.unwrap();
        let config = tsp::TspConfig {
            vault: vault(),
            token_imk: demo::tdes_key(demo::TOKEN_IMK_HEX, "token IMK").unwrap(),
            par_key: key32(demo::TSP_PAR_KEY_HEX),
            encryption_key: tsp_encryption_key(),
            signing_key: tsp_signing_key(),
            bins: demo::bin_table(),
            requestors: vec![tsp::TokenRequestor {
                id: demo::TOKEN_REQUESTOR_ID.to_owned(),
                api_key: secret::Secret::new(requestor_api_key()),
                callback_url: None,
            }],
            token_validity_years: 3,
        };
        let issuer_idv: Arc<dyn issuer::idv::IssuerIdv> = idv.clone();
        let tsp = Arc::new(
            tsp::Tsp::new(
                store,
                config,
                issuer_idv,
                Arc::new(tsp::HttpNotifier::plain(Duration::from_secs(1))),
                clock_of(clock),
            )
            .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = tsp::app(Arc::clone(&tsp));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            tsp,
            idv,
            server,
        }
    }

    fn client(&self, clock: &Arc<AtomicI64>) -> TspClient {
        TspClient::new(
            TspClientConfig::new(
                format!("http://{}", self.addr),
                demo::TOKEN_REQUESTOR_ID,
                requestor_api_key(),
            ),
            clock_of(clock),
        )
        .unwrap()
    }

    /// `(token service state, vault status)` of a token.
    async fn state_of(&self, tur: &str) -> (String, String) {
        let token = self.tsp.store().tsp_token(tur).await.unwrap().unwrap();
        (token.tsp.state, token.vault.status)
    }

    /// The last one-time password the issuer sent (the simulated SMS/e-mail gateway).
    async fn last_code(&self) -> String {
        let sent = self.tsp.store().otp_outbox(0, 10_000).await.unwrap();
        sent.last().unwrap().code.clone()
    }

    /// The signed notifications the token service queued for a token, oldest first.
    async fn notifications(&self, tur: &str) -> Vec<String> {
        self.tsp
            .store()
            .tsp_notifications_of(tur)
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.jws)
            .collect()
    }

    async fn token_count(&self) -> usize {
        self.tsp
            .store()
            .tsp_tokens_of_requestor(demo::TOKEN_REQUESTOR_ID, None, 1000)
            .await
            .unwrap()
            .len()
    }
}

/// The backend wired to a token service.
struct CardEnv {
    env: Env,
    world: TspWorld,
    /// A client of its own, to act at the token service behind the backend's back (as the
    /// issuer or the network would).
    direct: TspClient,
}

impl core::ops::Deref for CardEnv {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

impl CardEnv {
    async fn new(url: &str) -> Self {
        let clock = Arc::new(AtomicI64::new(T0));
        let world = TspWorld::start(&clock).await;
        let config = base_config().with_token_service(Arc::new(world.client(&clock)));
        let env = Env::build(url, Arc::clone(&clock), config).await;
        let direct = world.client(&clock);
        Self { env, world, direct }
    }
}

/// Each case is `async fn(&CardEnv)`; this runs it on every backend.
macro_rules! cards_test {
    ($($name:ident),* $(,)?) => {
        mod backends {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::super::on_each_backend(stringify!($name), |url| async move {
                        let env = super::CardEnv::new(&url).await;
                        super::$name(&env).await;
                        env.state.store().close().await;
                    })
                    .await;
                }
            )*
        }
    };
}

cards_test!(
    green_cards_are_active_and_their_payload_opens_on_the_device,
    yellow_cards_verify_by_code,
    wrong_codes_lock_verification_and_checks_are_rate_limited,
    red_cards_are_declined,
    lifecycle_calls_reach_the_token_service,
    lost_devices_suspend_their_cards,
    webhooks_are_verified_and_apply_once,
    issuer_app_approval_arrives_by_webhook,
    transaction_webhooks_build_an_enriched_history,
    other_users_cards_are_not_found,
    provisioning_is_validated,
    provisioning_replays_with_an_idempotency_key,
    default_cards_are_one_per_device,
    hce_cards_get_batches_of_limited_use_keys,
    limited_use_keys_are_for_active_hce_cards_only,
);

// ---- fixtures ---------------------------------------------------------------------------------

/// A user with a session and device `n`: (user id, tokens, device id).
async fn wallet(env: &Env, email: &str, n: u8) -> (String, Tokens, String) {
    let (user_id, tokens) = user(env, email).await;
    let device = register(env, &tokens, &user_id, n).await;
    let device_id = device["id"].as_str().unwrap().to_owned();
    (user_id, tokens, device_id)
}

fn card_body(device_id: &str, pan: &str, cvv: &str) -> Value {
    json!({
        "device_id": device_id,
        "pan": pan,
        "expiry": "12/30",
        "cvv": cvv,
        "cardholder_name": "ADA LOVELACE",
    })
}

async fn provision(env: &Env, tokens: &Tokens, device_id: &str, pan: &str, cvv: &str) -> Reply {
    env.post(
        "/v1/cards/provision",
        card_body(device_id, pan, cvv),
        Some(&tokens.access),
    )
    .await
}

/// Provisions a card and asserts its status; returns the card.
async fn card(
    env: &Env,
    tokens: &Tokens,
    device_id: &str,
    (pan, cvv): (&str, &str),
    status: &str,
) -> Value {
    let r = provision(env, tokens, device_id, pan, cvv).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["status"], status, "{}", r.json);
    r.json
}

fn id_of(card: &Value) -> String {
    card["id"].as_str().unwrap().to_owned()
}

async fn tur_of(env: &Env, user_id: &str, card_id: &str) -> String {
    env.state
        .store()
        .provisioned_token(user_id, card_id)
        .await
        .unwrap()
        .unwrap()
        .tur
        .unwrap()
}

async fn post_empty(env: &Env, path: &str, tokens: &Tokens) -> Reply {
    env.call(request(Method::POST, path, None, Some(&tokens.access), &[]))
        .await
}

async fn verify(env: &Env, tokens: &Tokens, card_id: &str, otp: &str) -> Reply {
    env.post(
        &format!("/v1/cards/{card_id}/verify"),
        json!({ "otp": otp }),
        Some(&tokens.access),
    )
    .await
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// The private half of test device `n`'s secure element key (see `se_key`).
fn device_private_key(n: u8) -> Jwk {
    let mut scalar = [0x11u8; 32];
    scalar[31] = n;
    Jwk::from_private_bytes(&scalar).unwrap()
}

/// Opens a payload answer with device `n`'s key.
fn open_payload(reply: &Reply, n: u8) -> Result<Value, jose::JoseError> {
    let compact = reply.json["encrypted_payload"].as_str().unwrap();
    let (_, plain) = jwe::decrypt(compact, &device_private_key(n))?;
    Ok(serde_json::from_slice(&plain).unwrap())
}

/// A JWS over `payload` as the token service signs its notifications.
fn signed(payload: &Value) -> String {
    jws::sign_es256(
        payload.to_string().as_bytes(),
        &HeaderParams::new()
            .kid(demo::TSP_SIGNING_KEY_ID)
            .typ("JOSE"),
        &tsp_signing_key(),
    )
    .unwrap()
}

async fn webhook_at(env: &Env, path: &str, body: &str, content_type: &str) -> Reply {
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_owned()))
        .unwrap();
    env.call(req).await
}

async fn webhook(env: &Env, body: &str) -> Reply {
    webhook_at(env, "/v1/webhooks/tsp", body, "application/jose").await
}

fn rfc3339(unix: i64) -> String {
    // Days to a civil date (Howard Hinnant), for the few test times.
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn transaction_event(
    event_id: &str,
    tur: &str,
    at: i64,
    amount_minor: i64,
    approved: bool,
) -> Value {
    json!({
        "event_id": event_id,
        "kind": "transaction",
        "tur": tur,
        "amount_minor": amount_minor,
        "currency": "EUR",
        "approved": approved,
        "response_code": if approved { "00" } else { "51" },
        "merchant": {
            "name_location": "TAPWALLET CAFE         PARIS        FR",
            "mcc": "5814",
        },
        "occurred_at": rfc3339(at),
    })
}

// ---- cases ------------------------------------------------------------------------------------

async fn green_cards_are_active_and_their_payload_opens_on_the_device(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let r = provision(env, &tokens, &device, "4111 1111 1111 1111", GREEN_CVV).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    let c = &r.json;
    assert_eq!(c["status"], "active");
    assert_eq!(c["fpan_last4"], "1111");
    assert_eq!(c["network"], "visa");
    assert_eq!(c["product_name"], "Tapwallet Visa Credit");
    assert_eq!(c["card_art"], "visa-default");
    assert_eq!(c["credential"], "se");
    assert_eq!(c["device_id"], device.as_str());
    assert_eq!(c["is_default"], false);
    assert_eq!(c["created_at"], T0);
    assert!(c.get("verification_methods").is_none() && c.get("decline_reason").is_none());
    let body = String::from_utf8_lossy(&r.body);
    assert!(!body.contains(GREEN_PAN) && !body.contains("4111 1111"));
    let id = id_of(c);
    let tur = tur_of(env, &user_id, &id).await;
    assert!(tur.starts_with("DNITHE"), "{tur}");
    assert_eq!(
        env.world.state_of(&tur).await,
        ("active".to_owned(), "active".to_owned())
    );

    let listed = env.get("/v1/cards", Some(&tokens.access)).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json["cards"], json!([c]));
    assert_eq!(listed.json["next_cursor"], Value::Null);
    let one = env
        .get(&format!("/v1/cards/{id}"), Some(&tokens.access))
        .await;
    assert_eq!(&one.json, c);

    let p = env
        .get(&format!("/v1/cards/{id}/payload"), Some(&tokens.access))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.json);
    assert_eq!(p.json["card_id"], id.as_str());
    assert_eq!(p.json["device_id"], device.as_str());
    let plain = open_payload(&p, 1).unwrap();
    assert_eq!(plain["tur"], tur.as_str());
    assert_eq!(plain["fpan_last4"], "1111");
    assert_eq!(plain["scheme"], "visa");
    assert_eq!(plain["credential"], "se");
    assert!(plain["icc_master_key"].is_string());
    let dpan = plain["dpan"].as_str().unwrap();
    assert_eq!(dpan.len(), 16);
    assert!(
        dpan.starts_with("4761739"),
        "a DPAN of the Visa token range"
    );
    assert_ne!(dpan, GREEN_PAN);
    assert!(
        open_payload(&p, 2).is_err(),
        "only the provisioning device's key opens it"
    );
}

async fn yellow_cards_verify_by_code(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let c = card(
        env,
        &tokens,
        &device,
        (YELLOW_PAN, YELLOW_CVV),
        "pending_verification",
    )
    .await;
    assert_eq!(c["network"], "mastercard");
    let methods = c["verification_methods"].as_array().unwrap();
    let kinds: Vec<_> = methods
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["OTP_SMS", "OTP_EMAIL", "ISSUER_APP"]);
    assert_eq!(methods[0]["code_sent"], true, "the first code goes at once");
    assert_eq!(methods[1]["code_sent"], false);
    let destination = methods[0]["destination"].as_str().unwrap();
    assert!(
        destination.contains('*') && destination.ends_with("32"),
        "{destination}"
    );
    assert!(methods[2].get("destination").is_none());
    let id = id_of(&c);
    let tur = tur_of(env, &user_id, &id).await;
    assert_eq!(
        env.world.state_of(&tur).await,
        ("inactive".to_owned(), "suspended".to_owned())
    );
    let p = env
        .get(&format!("/v1/cards/{id}/payload"), Some(&tokens.access))
        .await;
    p.assert_problem(StatusCode::CONFLICT, "card-not-active");

    let code = env.world.last_code().await;
    let r = verify(env, &tokens, &id, &wrong(&code)).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "incorrect-otp");
    assert_eq!(r.json["attempts_left"], 4);
    assert!(r.json["detail"].as_str().unwrap().contains("4 attempt"));
    let r = verify(env, &tokens, &id, "12345").await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.field_errors(), ["otp"]);

    env.advance(30);
    let r = verify(env, &tokens, &id, &code).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["updated_at"], T0 + 30);
    assert!(r.json.get("verification_methods").is_none());
    assert_eq!(
        env.world.state_of(&tur).await,
        ("active".to_owned(), "active".to_owned())
    );
    let p = env
        .get(&format!("/v1/cards/{id}/payload"), Some(&tokens.access))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.json);
    let plain = open_payload(&p, 1).unwrap();
    assert_eq!(plain["scheme"], "mastercard");
    assert_eq!(plain["fpan_last4"], "4444");
    verify(env, &tokens, &id, &code)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-pending");
}

async fn wrong_codes_lock_verification_and_checks_are_rate_limited(env: &CardEnv) {
    let (_, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let c = card(
        env,
        &tokens,
        &device,
        (YELLOW_PAN, YELLOW_CVV),
        "pending_verification",
    )
    .await;
    let id = id_of(&c);
    // A new code by e-mail: it replaces the SMS one.
    let r = env
        .post(
            &format!("/v1/cards/{id}/otp"),
            json!({ "method": "OTP_EMAIL" }),
            Some(&tokens.access),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    let sent: Vec<_> = r.json["verification_methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code_sent"].as_bool().unwrap())
        .collect();
    assert_eq!(sent, [false, true, false]);
    let r = env
        .post(
            &format!("/v1/cards/{id}/otp"),
            json!({ "method": "ISSUER_APP" }),
            Some(&tokens.access),
        )
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.field_errors(), ["method"]);
    let code = env.world.last_code().await;

    let mut checks = 1; // the e-mail code
    for left in (1..=4).rev() {
        let r = verify(env, &tokens, &id, &wrong(&code)).await;
        checks += 1;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "incorrect-otp");
        assert_eq!(r.json["attempts_left"], left);
    }
    let r = verify(env, &tokens, &id, &wrong(&code)).await;
    checks += 1;
    r.assert_problem(StatusCode::LOCKED, "otp-locked");
    assert_eq!(r.json["attempts_left"], 0);
    let r = verify(env, &tokens, &id, &code).await;
    checks += 1;
    r.assert_problem(StatusCode::LOCKED, "otp-locked");
    let r = env
        .post(
            &format!("/v1/cards/{id}/otp"),
            json!({}),
            Some(&tokens.access),
        )
        .await;
    checks += 1;
    r.assert_problem(StatusCode::LOCKED, "otp-locked");

    // 10 checks or sends per user at once, then one every 30 s.
    while checks < 10 {
        let r = verify(env, &tokens, &id, &code).await;
        assert_eq!(r.status, StatusCode::LOCKED);
        checks += 1;
    }
    let r = verify(env, &tokens, &id, &code).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    assert_eq!(r.header("retry-after"), Some("30"));
    env.advance(30);
    assert_eq!(
        verify(env, &tokens, &id, &code).await.status,
        StatusCode::LOCKED
    );
}

async fn red_cards_are_declined(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let c = card(env, &tokens, &device, (GREEN_PAN, "999"), "declined").await;
    assert_eq!(c["decline_reason"], "CVV_MISMATCH");
    assert_eq!(c["fpan_last4"], "1111");
    let id = id_of(&c);
    let row = env
        .state
        .store()
        .provisioned_token(&user_id, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.tur, None, "no token was made");
    assert_eq!(env.world.token_count().await, 0);
    let listed = env.get("/v1/cards", Some(&tokens.access)).await;
    assert_eq!(
        listed.json["cards"],
        json!([]),
        "declined cards are not in the wallet"
    );
    let access = Some(tokens.access.as_str());
    env.get(&format!("/v1/cards/{id}/payload"), access)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-active");
    post_empty(env, &format!("/v1/cards/{id}/suspend"), &tokens)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-active");
    verify(env, &tokens, &id, "123456")
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-pending");
    env.call(request(
        Method::PUT,
        &format!("/v1/cards/{id}/default"),
        None,
        access,
        &[],
    ))
    .await
    .assert_problem(StatusCode::CONFLICT, "card-not-in-wallet");
    let r = env
        .call(request(
            Method::DELETE,
            &format!("/v1/cards/{id}"),
            None,
            access,
            &[],
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(env.get(&format!("/v1/cards/{id}"), access).await.json, c);
}

async fn lifecycle_calls_reach_the_token_service(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let c = card(env, &tokens, &device, (GREEN_PAN, GREEN_CVV), "active").await;
    let id = id_of(&c);
    let tur = tur_of(env, &user_id, &id).await;
    let access = Some(tokens.access.as_str());

    env.advance(10);
    let r = post_empty(env, &format!("/v1/cards/{id}/suspend"), &tokens).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "suspended");
    assert_eq!(r.json["suspended_by"], "user");
    assert_eq!(r.json["updated_at"], T0 + 10);
    assert_eq!(
        env.world.state_of(&tur).await,
        ("suspended".to_owned(), "suspended".to_owned())
    );
    let seen = env.direct.token(&tur).await.unwrap();
    assert_eq!(seen.state, TokenState::Suspended);
    env.advance(10);
    let again = post_empty(env, &format!("/v1/cards/{id}/suspend"), &tokens).await;
    assert_eq!(again.json, r.json, "suspending again changes nothing");

    let r = post_empty(env, &format!("/v1/cards/{id}/resume"), &tokens).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "active");
    assert!(r.json.get("suspended_by").is_none());
    assert_eq!(
        env.world.state_of(&tur).await,
        ("active".to_owned(), "active".to_owned())
    );
    let again = post_empty(env, &format!("/v1/cards/{id}/resume"), &tokens).await;
    assert_eq!(again.json, r.json);

    let r = env
        .call(request(
            Method::PUT,
            &format!("/v1/cards/{id}/default"),
            None,
            access,
            &[],
        ))
        .await;
    assert_eq!(r.json["is_default"], true);

    let r = env
        .call(request(
            Method::DELETE,
            &format!("/v1/cards/{id}"),
            None,
            access,
            &[],
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    assert_eq!(
        env.world.state_of(&tur).await,
        ("deleted".to_owned(), "deleted".to_owned())
    );
    let gone = env.get(&format!("/v1/cards/{id}"), access).await;
    assert_eq!(gone.json["status"], "deleted");
    assert_eq!(gone.json["is_default"], false);
    assert_eq!(env.get("/v1/cards", access).await.json["cards"], json!([]));
    let r = env
        .call(request(
            Method::DELETE,
            &format!("/v1/cards/{id}"),
            None,
            access,
            &[],
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "deleting again is fine");
    post_empty(env, &format!("/v1/cards/{id}/suspend"), &tokens)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-active");
    post_empty(env, &format!("/v1/cards/{id}/resume"), &tokens)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-suspended");

    // The token service changed a card behind the wallet's back: the wallet re-reads it.
    let c = card(env, &tokens, &device, (GREEN2_PAN, GREEN2_CVV), "active").await;
    let id = id_of(&c);
    let tur = tur_of(env, &user_id, &id).await;
    env.direct
        .lifecycle(LifecycleAction::Suspend, &tur, "ISSUER_REQUEST")
        .await
        .unwrap();
    post_empty(env, &format!("/v1/cards/{id}/suspend"), &tokens)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-state-changed");
    let now = env.get(&format!("/v1/cards/{id}"), access).await;
    assert_eq!(now.json["status"], "suspended");
    assert_eq!(now.json["suspended_by"], "token_service");
    post_empty(env, &format!("/v1/cards/{id}/resume"), &tokens)
        .await
        .assert_problem(StatusCode::CONFLICT, "suspended-by-issuer");
}

async fn lost_devices_suspend_their_cards(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let access = Some(tokens.access.as_str());
    let active = id_of(&card(env, &tokens, &device, (GREEN_PAN, GREEN_CVV), "active").await);
    let pending = id_of(
        &card(
            env,
            &tokens,
            &device,
            (YELLOW_PAN, YELLOW_CVV),
            "pending_verification",
        )
        .await,
    );
    let mine = id_of(&card(env, &tokens, &device, (GREEN2_PAN, GREEN2_CVV), "active").await);
    post_empty(env, &format!("/v1/cards/{mine}/suspend"), &tokens).await;
    let tur = tur_of(env, &user_id, &active).await;

    let r = post_empty(env, &format!("/v1/devices/{device}/lost"), &tokens).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["status"], "lost");
    assert_eq!(
        env.world.state_of(&tur).await,
        ("suspended".to_owned(), "suspended".to_owned())
    );
    let status = |id: String| async move {
        let r = env.get(&format!("/v1/cards/{id}"), access).await;
        (
            r.json["status"].as_str().unwrap().to_owned(),
            r.json["suspended_by"].as_str().map(str::to_owned),
        )
    };
    assert_eq!(
        status(active.clone()).await,
        ("suspended".to_owned(), Some("device_lost".to_owned()))
    );
    assert_eq!(status(pending.clone()).await.0, "pending_verification");
    assert_eq!(
        status(mine.clone()).await,
        ("suspended".to_owned(), Some("user".to_owned()))
    );
    env.get(&format!("/v1/cards/{active}/payload"), access)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-active");
    post_empty(env, &format!("/v1/cards/{active}/resume"), &tokens)
        .await
        .assert_problem(StatusCode::CONFLICT, "device-lost");
    let r = provision(env, &tokens, &device, GREEN_PAN, GREEN_CVV).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.field_errors(), ["device_id"]);
    // Reporting it again converges: nothing left to suspend.
    let again = post_empty(env, &format!("/v1/devices/{device}/lost"), &tokens).await;
    assert_eq!(again.status, StatusCode::OK);

    let r = post_empty(env, &format!("/v1/devices/{device}/recovered"), &tokens).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(
        env.world.state_of(&tur).await,
        ("active".to_owned(), "active".to_owned())
    );
    assert_eq!(status(active.clone()).await, ("active".to_owned(), None));
    assert_eq!(
        status(mine).await,
        ("suspended".to_owned(), Some("user".to_owned())),
        "what the cardholder suspended stays suspended"
    );
    let p = env
        .get(&format!("/v1/cards/{active}/payload"), access)
        .await;
    assert_eq!(p.status, StatusCode::OK);
}

async fn webhooks_are_verified_and_apply_once(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let access = Some(tokens.access.as_str());
    let id = id_of(&card(env, &tokens, &device, (GREEN_PAN, GREEN_CVV), "active").await);
    let tur = tur_of(env, &user_id, &id).await;

    // The issuer suspends the token at the token service; its signed notification arrives.
    env.advance(60);
    env.direct
        .lifecycle(LifecycleAction::Suspend, &tur, "ISSUER_REQUEST")
        .await
        .unwrap();
    let suspended = env.world.notifications(&tur).await.pop().unwrap();
    let r = webhook(env, &suspended).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["outcome"], "processed");
    assert!(r.json["event_id"].as_str().unwrap().starts_with("evt_"));
    let c = env.get(&format!("/v1/cards/{id}"), access).await;
    assert_eq!(c.json["status"], "suspended");
    assert_eq!(c.json["suspended_by"], "token_service");
    let r = webhook(env, &suspended).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["outcome"], "replayed");
    assert_eq!(
        env.get(&format!("/v1/cards/{id}"), access).await.json,
        c.json
    );
    post_empty(env, &format!("/v1/cards/{id}/resume"), &tokens)
        .await
        .assert_problem(StatusCode::CONFLICT, "suspended-by-issuer");

    // Resumed, delivered on the token service's notifier path.
    env.advance(60);
    env.direct
        .lifecycle(LifecycleAction::Resume, &tur, "ISSUER_REQUEST")
        .await
        .unwrap();
    let resumed = env.world.notifications(&tur).await.pop().unwrap();
    let r = webhook_at(
        env,
        "/v1/webhooks/tsp/notify/token-updated",
        &resumed,
        "application/jose",
    )
    .await;
    assert_eq!(r.json["outcome"], "processed", "{}", r.json);
    assert_eq!(
        env.get(&format!("/v1/cards/{id}"), access).await.json["status"],
        "active"
    );
    // A late event (older than the status held) is acknowledged but not applied.
    let late = signed(&json!({
        "event_id": "evt_late",
        "tur": tur,
        "status": "SUSPENDED",
        "reason": "ISSUER_REQUEST",
        "occurred_at": rfc3339(T0 + 30),
    }));
    assert_eq!(webhook(env, &late).await.json["outcome"], "processed");
    assert_eq!(
        env.get(&format!("/v1/cards/{id}"), access).await.json["status"],
        "active"
    );

    // Refused: altered, another key, another algorithm, unknown key id.
    let (head, rest) = resumed.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut sig = signature.as_bytes().to_vec();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let altered = format!("{head}.{payload}.{}", String::from_utf8(sig).unwrap());
    let forged_payload = Base64UrlUnpadded::encode_string(
        json!({"event_id":"evt_forged","tur":tur,"status":"DELETED","occurred_at":rfc3339(T0 + 999)})
            .to_string()
            .as_bytes(),
    );
    let swapped = format!("{head}.{forged_payload}.{signature}");
    let other_key = Jwk::from_private_bytes(&[0x42; 32]).unwrap();
    let forged = jws::sign_es256(
        br#"{"event_id":"evt_x","tur":"DNITHE00","status":"DELETED","occurred_at":"2024-01-01T00:00:00Z"}"#,
        &HeaderParams::new().kid(demo::TSP_SIGNING_KEY_ID),
        &other_key,
    )
    .unwrap();
    let hmac = jws::sign_hs256(
        b"{}",
        &HeaderParams::new().kid(demo::TSP_SIGNING_KEY_ID),
        &jws::HmacKey::new(&[7; 32]).unwrap(),
    )
    .unwrap();
    let unknown_kid = jws::sign_es256(
        b"{}",
        &HeaderParams::new().kid("tsp-demo-sig-99"),
        &other_key,
    )
    .unwrap();
    let none = format!(
        "{}.{payload}.",
        Base64UrlUnpadded::encode_string(br#"{"alg":"none"}"#)
    );
    for bad in [&altered, &swapped, &forged, &hmac, &unknown_kid, &none] {
        let r = webhook(env, bad).await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "invalid-signature");
        assert!(r.header("www-authenticate").unwrap().starts_with("JWS"));
    }
    assert_eq!(
        env.get(&format!("/v1/cards/{id}"), access).await.json["status"],
        "active",
        "nothing refused was applied"
    );
    for junk in ["", "not a jws", "a.b", "a.b.c.d", "!!!.e30.x"] {
        webhook(env, junk)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    }
    webhook_at(env, "/v1/webhooks/tsp", &resumed, "application/json")
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");

    // Signed by the token service, but about no token of this wallet: 404, not recorded.
    let stranger = json!({
        "event_id": "evt_stranger",
        "tur": "DNITHE0000000000000000000000",
        "status": "ACTIVE",
        "occurred_at": rfc3339(T0),
    });
    webhook(env, &signed(&stranger))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    // Signed nonsense is a 422 naming the fields.
    let r = webhook(
        env,
        &signed(&json!({"event_id": "", "tur": "a/b", "status": "FROZEN"})),
    )
    .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        r.field_errors(),
        ["event_id", "tur", "status", "occurred_at"]
    );
    let r = webhook(env, &signed(&json!({"kind": "refund"}))).await;
    assert_eq!(r.field_errors(), ["kind"]);
    let r = webhook(env, &signed(&json!([1, 2]))).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
}

async fn issuer_app_approval_arrives_by_webhook(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let id = id_of(
        &card(
            env,
            &tokens,
            &device,
            (YELLOW_PAN, YELLOW_CVV),
            "pending_verification",
        )
        .await,
    );
    let tur = tur_of(env, &user_id, &id).await;
    env.advance(5);
    env.world
        .idv
        .approve_in_app(&tur, env.world.tsp.as_ref())
        .await
        .unwrap();
    let activated = env.world.notifications(&tur).await.pop().unwrap();
    let r = webhook(env, &activated).await;
    assert_eq!(r.json["outcome"], "processed", "{}", r.json);
    let c = env
        .get(&format!("/v1/cards/{id}"), Some(&tokens.access))
        .await;
    assert_eq!(c.json["status"], "active");
    assert!(c.json.get("verification_methods").is_none());
    assert_eq!(c.json["updated_at"], T0 + 5);
}

async fn transaction_webhooks_build_an_enriched_history(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let access = Some(tokens.access.as_str());
    let a = id_of(&card(env, &tokens, &device, (GREEN_PAN, GREEN_CVV), "active").await);
    let b = id_of(&card(env, &tokens, &device, (GREEN2_PAN, GREEN2_CVV), "active").await);
    let tur_a = tur_of(env, &user_id, &a).await;
    let tur_b = tur_of(env, &user_id, &b).await;

    let t1 = transaction_event("evt_t1", &tur_a, T0 + 10, 450, true);
    let mut t2 = transaction_event("evt_t2", &tur_b, T0 + 20, 1999, true);
    t2["merchant"] = json!({"name_location": "SQ *BLUE BOTTLE #123  OAKLAND  US", "mcc": "5411"});
    let t3 = transaction_event("evt_t3", &tur_a, T0 + 30, 250_000, false);
    for event in [&t1, &t2, &t3] {
        let r = webhook(env, &signed(event)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json);
        assert_eq!(r.json["outcome"], "processed");
    }
    let r = webhook(env, &signed(&t1)).await;
    assert_eq!(r.json["outcome"], "replayed");

    let all = env.get("/v1/transactions", access).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.json);
    let list = all.json["transactions"].as_array().unwrap();
    let amounts: Vec<_> = list
        .iter()
        .map(|t| t["amount_minor"].as_i64().unwrap())
        .collect();
    assert_eq!(
        amounts,
        [250_000, 1999, 450],
        "newest first, the replay not counted"
    );
    let first = &list[2];
    assert_eq!(first["card_id"], a.as_str());
    assert_eq!(first["currency"], "EUR");
    assert_eq!(first["approved"], true);
    assert_eq!(first["response_code"], "00");
    assert_eq!(first["occurred_at"], T0 + 10);
    assert_eq!(
        first["merchant"],
        json!({
            "name": "Tapwallet Cafe",
            "city": "Paris",
            "country": "FR",
            "category": "food_and_drink",
            "mcc": "5814",
        })
    );
    assert_eq!(list[1]["merchant"]["name"], "Blue Bottle");
    assert_eq!(list[1]["merchant"]["category"], "groceries");
    assert_eq!(list[0]["approved"], false);
    assert_eq!(list[0]["response_code"], "51");

    let page = env.get("/v1/transactions?limit=2", access).await;
    assert_eq!(page.json["transactions"].as_array().unwrap().len(), 2);
    let cursor = page.json["next_cursor"].as_str().unwrap();
    let rest = env
        .get(&format!("/v1/transactions?limit=2&cursor={cursor}"), access)
        .await;
    assert_eq!(rest.json["transactions"], json!([first]));
    assert_eq!(rest.json["next_cursor"], Value::Null);
    let only_a = env
        .get(&format!("/v1/transactions?card_id={a}"), access)
        .await;
    let amounts: Vec<_> = only_a.json["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount_minor"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [250_000, 450]);
    env.get("/v1/transactions?card_id=crd_nope", access)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    env.get("/v1/transactions?limit=0", access)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");

    // Another user sees none of it, and cannot filter by Alice's card.
    let (_, bob, _) = wallet(env, "bob@example.com", 2).await;
    let theirs = env.get("/v1/transactions", Some(&bob.access)).await;
    assert_eq!(theirs.json["transactions"], json!([]));
    env.get(&format!("/v1/transactions?card_id={a}"), Some(&bob.access))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");

    // Malformed signed transactions are 422s naming the field.
    let mut bad = transaction_event("evt_bad", &tur_a, T0, -1, true);
    bad["merchant"]["mcc"] = json!("58");
    bad["currency"] = json!("eur");
    let r = webhook(env, &signed(&bad)).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        r.field_errors(),
        ["amount_minor", "currency", "merchant.mcc"]
    );
}

async fn other_users_cards_are_not_found(env: &CardEnv) {
    let (_, alice, device) = wallet(env, "ada@example.com", 1).await;
    let id = id_of(&card(env, &alice, &device, (GREEN_PAN, GREEN_CVV), "active").await);
    let (_, bob, _) = wallet(env, "bob@example.com", 2).await;
    let bob_access = Some(bob.access.as_str());
    let attempts = [
        (Method::GET, format!("/v1/cards/{id}"), None),
        (Method::GET, format!("/v1/cards/{id}/payload"), None),
        (Method::POST, format!("/v1/cards/{id}/suspend"), None),
        (Method::POST, format!("/v1/cards/{id}/resume"), None),
        (Method::DELETE, format!("/v1/cards/{id}"), None),
        (Method::PUT, format!("/v1/cards/{id}/default"), None),
        (
            Method::POST,
            format!("/v1/cards/{id}/verify"),
            Some(json!({"otp": "123456"})),
        ),
        (Method::POST, format!("/v1/cards/{id}/otp"), Some(json!({}))),
        (Method::POST, format!("/v1/cards/{id}/keys"), None),
        (
            Method::POST,
            format!("/v1/cards/{id}/keys"),
            Some(json!({"count": 2})),
        ),
    ];
    for (method, path, body) in attempts {
        let r = env
            .call(request(method.clone(), &path, body, bob_access, &[]))
            .await;
        r.assert_problem(StatusCode::NOT_FOUND, "not-found");
        assert_eq!(r.json["detail"], "No such card.", "{method} {path}");
    }
    let r = provision(env, &bob, &device, GREEN2_PAN, GREEN2_CVV).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        r.field_errors(),
        ["device_id"],
        "Alice's device is not Bob's"
    );
    assert_eq!(
        env.get("/v1/cards", bob_access).await.json["cards"],
        json!([])
    );
    let still = env
        .get(&format!("/v1/cards/{id}"), Some(&alice.access))
        .await;
    assert_eq!(still.json["status"], "active");
    assert_eq!(still.json["is_default"], false);
}

async fn provisioning_is_validated(env: &CardEnv) {
    let (_, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let cases: Vec<(Value, &[&str])> = vec![
        (json!({"pan": "4111111111111112"}), &["pan"]),
        (json!({"pan": "411111111111"}), &["pan"]),
        (json!({"pan": "41111111111111111111"}), &["pan"]),
        (json!({"pan": "4111-1111-1111-111x"}), &["pan"]),
        (json!({"pan": ""}), &["pan"]),
        (json!({"expiry": "12/23"}), &["expiry"]),
        (json!({"expiry": "13/30"}), &["expiry"]),
        (json!({"expiry": "1230"}), &["expiry"]),
        (json!({"cvv": "12"}), &["cvv"]),
        (json!({"cvv": "12a"}), &["cvv"]),
        (json!({"cvv": "12345"}), &["cvv"]),
        (json!({"cardholder_name": ""}), &["cardholder_name"]),
        (
            json!({"cardholder_name": "A".repeat(27)}),
            &["cardholder_name"],
        ),
        (json!({"cardholder_name": "ADA\u{7}"}), &["cardholder_name"]),
        (json!({"device_id": "dev_nope"}), &["device_id"]),
        (json!({"credential": "sim"}), &["credential"]),
        (json!({"credential": "HCE"}), &["credential"]),
        (json!({"credential": 1}), &["credential"]),
        (json!({"device_id": ""}), &["device_id"]),
        (
            json!({"device_id": "x", "pan": "1", "expiry": "x", "cvv": "", "cardholder_name": ""}),
            &["device_id", "pan", "expiry", "cvv", "cardholder_name"],
        ),
    ];
    for (change, fields) in cases {
        let mut body = card_body(&device, GREEN_PAN, GREEN_CVV);
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = env
            .post("/v1/cards/provision", body.clone(), Some(&tokens.access))
            .await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(r.field_errors(), fields, "{change}");
        let text = String::from_utf8_lossy(&r.body);
        assert!(
            !text.contains("4111111111111112") && !text.contains(GREEN_PAN),
            "errors never repeat the card number: {text}"
        );
    }
    let mut missing = card_body(&device, GREEN_PAN, GREEN_CVV);
    missing.as_object_mut().unwrap().remove("pan");
    let r = env
        .post("/v1/cards/provision", missing, Some(&tokens.access))
        .await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(r.field_errors(), ["pan"]);
    // The expiry month is good through its last day.
    env.clock.store(T0 + 20 * 86_400, Ordering::SeqCst);
    let tokens = log_in(env, "ada@example.com").await;
    let mut body = card_body(&device, GREEN_PAN, GREEN_CVV);
    body["expiry"] = json!("01/24");
    let r = env
        .post("/v1/cards/provision", body, Some(&tokens.access))
        .await;
    assert_eq!(r.field_errors(), Vec::<String>::new(), "{}", r.json);
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.json["status"], "declined",
        "the issuer knows the real expiry"
    );
    assert_eq!(r.json["decline_reason"], "EXPIRY_MISMATCH");
    assert_eq!(
        env.world.token_count().await,
        0,
        "nothing invalid reached the token service"
    );
    // Unauthenticated: 401 before anything.
    let r = env
        .post(
            "/v1/cards/provision",
            card_body(&device, GREEN_PAN, GREEN_CVV),
            None,
        )
        .await;
    r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn provisioning_replays_with_an_idempotency_key(env: &CardEnv) {
    let (_, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let send = || {
        env.call(request(
            Method::POST,
            "/v1/cards/provision",
            Some(card_body(&device, GREEN_PAN, GREEN_CVV)),
            Some(&tokens.access),
            &[("idempotency-key", "add-visa-1")],
        ))
    };
    let first = send().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    let again = send().await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotency-replayed"), Some("true"));
    assert_eq!(again.json, first.json);
    assert_eq!(env.world.token_count().await, 1, "tokenized once");
    let other = env
        .call(request(
            Method::POST,
            "/v1/cards/provision",
            Some(card_body(&device, GREEN2_PAN, GREEN2_CVV)),
            Some(&tokens.access),
            &[("idempotency-key", "add-visa-1")],
        ))
        .await;
    other.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
}

async fn default_cards_are_one_per_device(env: &CardEnv) {
    let (_, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let access = Some(tokens.access.as_str());
    let a = id_of(&card(env, &tokens, &device, (GREEN_PAN, GREEN_CVV), "active").await);
    env.advance(1);
    let b = id_of(&card(env, &tokens, &device, (GREEN2_PAN, GREEN2_CVV), "active").await);
    let put = |id: String| async move {
        env.call(request(
            Method::PUT,
            &format!("/v1/cards/{id}/default"),
            None,
            access,
            &[],
        ))
        .await
    };
    assert_eq!(put(a.clone()).await.json["is_default"], true);
    assert_eq!(put(b.clone()).await.json["is_default"], true);
    let listed = env.get("/v1/cards", access).await;
    let defaults: Vec<_> = listed.json["cards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["is_default"].as_bool().unwrap())
        .collect();
    assert_eq!(defaults, [false, true]);
    put("crd_nope".to_owned())
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    let page = env.get("/v1/cards?limit=1", access).await;
    let cursor = page.json["next_cursor"].as_str().unwrap().to_owned();
    let rest = env
        .get(&format!("/v1/cards?limit=1&cursor={cursor}"), access)
        .await;
    assert_eq!(rest.json["cards"][0]["id"], b.as_str());
    assert_eq!(rest.json["next_cursor"], Value::Null);
}

// ---- without a token service ------------------------------------------------------------------

/// An app configured without a token service: card routes are 502, webhooks 401, never 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_need_a_token_service() {
    let env = Env::new("sqlite::memory:").await;
    let (user_id, tokens) = user(&env, "ada@example.com").await;
    let device = register(&env, &tokens, &user_id, 1).await;
    let r = provision(
        &env,
        &tokens,
        device["id"].as_str().unwrap(),
        GREEN_PAN,
        GREEN_CVV,
    )
    .await;
    r.assert_problem(StatusCode::BAD_GATEWAY, "token-service-unavailable");
    webhook(&env, &signed(&json!({})))
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "invalid-signature");
    env.state.store().close().await;
}

// ---- no card data at rest or in the logs ------------------------------------------------------

/// A buffer the test's tracing subscriber writes into.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// The process-wide log capture, installed on first use.
///
/// Process-wide, not scoped to the test's thread: with a single scoped dispatcher, tracing-core
/// caches "never" for callsites that other threads (other tests) reach first, so a scoped
/// capture misses events. This one sees every test running meanwhile too, which only makes the
/// check stronger.
fn captured_logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = LogBuffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

/// Every row of every table of a SQLite file, each value `quote()`d (text as text, blobs as
/// `X'..'` hex).
async fn dump_sqlite(url: &str) -> (usize, String) {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let mut rows = 0;
    let mut dump = String::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let select = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {select} FROM \"{table}\""
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for row in found {
            let line: String = row.get(0);
            dump.push_str(&format!("{table}: {line}\n"));
            rows += 1;
        }
    }
    conn.close().await.unwrap();
    (rows, dump)
}

/// After whole provisioning flows (green, yellow with a code, a payload, a transaction, a
/// suspension and an idempotent replay), neither the funding PANs nor the DPANs are anywhere in
/// the backend's database (every row of every table, and the raw file bytes) or in anything it
/// logged.
#[tokio::test]
async fn no_card_number_at_rest_or_in_the_logs() {
    let logs = captured_logs();

    let path = std::env::temp_dir().join(format!(
        "tapwallet-api-card-data-{}-{:016x}.db",
        std::process::id(),
        random_u64()
    ));
    let url = format!("sqlite://{}", path.display());
    let env = CardEnv::new(&url).await;
    let (user_id, tokens, device) = wallet(&env, "ada@example.com", 1).await;
    let access = Some(tokens.access.as_str());

    let green = env
        .call(request(
            Method::POST,
            "/v1/cards/provision",
            Some(card_body(&device, GREEN_PAN, GREEN_CVV)),
            access,
            &[("idempotency-key", "green-1")],
        ))
        .await;
    assert_eq!(green.status, StatusCode::CREATED, "{}", green.json);
    let green_id = id_of(&green.json);
    let yellow = card(
        &env,
        &tokens,
        &device,
        (YELLOW_PAN, YELLOW_CVV),
        "pending_verification",
    )
    .await;
    let yellow_id = id_of(&yellow);
    let code = env.world.last_code().await;
    verify(&env, &tokens, &yellow_id, &wrong(&code)).await;
    assert_eq!(
        verify(&env, &tokens, &yellow_id, &code).await.status,
        StatusCode::OK
    );
    let mut dpans = Vec::new();
    for id in [&green_id, &yellow_id] {
        let p = env.get(&format!("/v1/cards/{id}/payload"), access).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.json);
        dpans.push(
            open_payload(&p, 1).unwrap()["dpan"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let tur = tur_of(&env, &user_id, &green_id).await;
    let r = webhook(
        &env,
        &signed(&transaction_event("evt_leak", &tur, T0, 450, true)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    post_empty(&env, &format!("/v1/cards/{green_id}/suspend"), &tokens).await;
    let declined = card(&env, &tokens, &device, (GREEN2_PAN, "000"), "declined").await;
    assert_eq!(declined["fpan_last4"], "4242");
    env.state.store().close().await;

    let mut secrets = vec![
        GREEN_PAN.to_owned(),
        YELLOW_PAN.to_owned(),
        GREEN2_PAN.to_owned(),
    ];
    secrets.extend(dpans);
    let (rows, dump) = dump_sqlite(&url).await;
    assert!(rows > 10, "the scan reads the data: {rows} rows");
    assert!(
        dump.contains("'1111'") && dump.contains("'4444'"),
        "last four digits are kept"
    );
    let mut raw = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        if let Ok(bytes) = std::fs::read(&p) {
            raw.extend_from_slice(&bytes);
        }
        let _ = std::fs::remove_file(&p);
    }
    assert!(!raw.is_empty());
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    for line in [
        "card provisioned",
        "card verified",
        "payload delivered",
        "transaction recorded",
    ] {
        assert!(logged.contains(line), "the logs were captured: {line}");
    }
    for secret in &secrets {
        assert!(!dump.contains(secret.as_str()), "a card number is stored");
        assert!(
            !raw.contains(secret.as_str()),
            "a card number is in the file"
        );
        assert!(
            !logged.contains(secret.as_str()),
            "a card number was logged"
        );
    }
    // Nor the CVVs or the one-time password, next to their field names.
    for needle in [
        format!("cvv\":\"{GREEN_CVV}"),
        format!("otp\":\"{code}"),
        format!("={code}"),
    ] {
        assert!(
            !dump.contains(&needle) && !logged.contains(&needle),
            "{needle}"
        );
    }
}

// ---- host card emulation ----------------------------------------------------------------------

/// `(index, atc_from, atc_to)` of each key of an opened batch.
fn key_ranges(keys: &Value) -> Vec<(u64, u64, u64)> {
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["index"].as_u64().unwrap(),
                k["atc_from"].as_u64().unwrap(),
                k["atc_to"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Opens a keys answer with device `n`'s key.
fn open_keys(reply: &Reply, n: u8) -> Result<Value, jose::JoseError> {
    let compact = reply.json["encrypted_keys"].as_str().unwrap();
    let (_, plain) = jwe::decrypt(compact, &device_private_key(n))?;
    Ok(serde_json::from_slice(&plain).unwrap())
}

async fn provision_hce(env: &Env, tokens: &Tokens, device_id: &str) -> Value {
    let mut body = card_body(device_id, GREEN_PAN, GREEN_CVV);
    body["credential"] = json!("hce");
    let r = env
        .post("/v1/cards/provision", body, Some(&tokens.access))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    r.json
}

async fn hce_cards_get_batches_of_limited_use_keys(env: &CardEnv) {
    let (user_id, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let access = Some(tokens.access.as_str());
    let c = provision_hce(env, &tokens, &device).await;
    assert_eq!(c["status"], "active");
    assert_eq!(c["credential"], "hce");
    let id = id_of(&c);
    let tur = tur_of(env, &user_id, &id).await;
    let listed = env.get("/v1/cards", access).await;
    assert_eq!(listed.json["cards"][0]["credential"], "hce");
    assert_eq!(env.get(&format!("/v1/cards/{id}"), access).await.json, c);

    // The payload has the card but no key.
    let p = env.get(&format!("/v1/cards/{id}/payload"), access).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.json);
    let plain = open_payload(&p, 1).unwrap();
    assert_eq!(plain["credential"], "hce");
    assert!(plain.get("icc_master_key").is_none() && plain.get("key_algorithm").is_none());
    let dpan = plain["dpan"].as_str().unwrap().to_owned();

    // No body: the default batch, keys the network derives from the token key.
    let r = post_empty(env, &format!("/v1/cards/{id}/keys"), &tokens).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["card_id"], id.as_str());
    assert_eq!(r.json["count"], 4);
    assert_eq!(r.json["expires_at"], T0 + 7 * 86_400);
    let keys = open_keys(&r, 1).unwrap();
    assert!(open_keys(&r, 2).is_err(), "only the card's device opens it");
    assert_eq!(keys["tur"], tur.as_str());
    assert_eq!(keys["key_algorithm"], "TDES2");
    assert_eq!(
        key_ranges(&keys),
        [(1, 1, 5), (2, 6, 10), (3, 11, 15), (4, 16, 20)]
    );
    // (The token service's tests check each key against MK-AC; here, their form.)
    for key in keys["keys"].as_array().unwrap() {
        let hex = key["key"].as_str().unwrap();
        assert!(hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key["expires_at"], T0 + 7 * 86_400);
    }
    assert!(!r.body.windows(dpan.len()).any(|w| w == dpan.as_bytes()));

    // A JSON body names the count; the new batch revokes the last one at the token service.
    let r = env
        .post(
            &format!("/v1/cards/{id}/keys"),
            json!({ "count": 2 }),
            access,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["count"], 2);
    assert_eq!(
        key_ranges(&open_keys(&r, 1).unwrap()),
        [(5, 21, 25), (6, 26, 30)]
    );
    let stored = env.world.tsp.store().limited_use_keys(&tur).await.unwrap();
    assert_eq!(stored.len(), 6);
    assert!(stored[..4].iter().all(|k| k.revoked) && stored[4..].iter().all(|k| !k.revoked));

    // An Idempotency-Key does not replay key material: a retry is a new batch.
    let send = || {
        env.call(request(
            Method::POST,
            &format!("/v1/cards/{id}/keys"),
            Some(json!({})),
            access,
            &[("idempotency-key", "keys-1")],
        ))
    };
    let (first, again) = (send().await, send().await);
    assert_eq!(
        (first.status, again.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(again.header("idempotency-replayed"), None);
    assert_ne!(first.json["encrypted_keys"], again.json["encrypted_keys"]);
    assert_eq!(key_ranges(&open_keys(&again, 1).unwrap())[0], (11, 51, 55));
    // And the backend keeps none of it.
    assert!(
        env.state
            .store()
            .idempotency_begin(&IdempotencyClaim {
                scope: format!("user:{user_id}"),
                key: "keys-1".to_owned(),
                request_hash: [0; 32],
                now_unix: env.clock.load(Ordering::SeqCst),
                in_flight_timeout_secs: 60,
                retention_secs: 86_400,
            })
            .await
            .unwrap()
            == store::wallet::IdempotencyBegin::Started,
        "the key was never claimed"
    );
}

async fn limited_use_keys_are_for_active_hce_cards_only(env: &CardEnv) {
    let (_, tokens, device) = wallet(env, "ada@example.com", 1).await;
    let access = Some(tokens.access.as_str());
    let keys = |id: &str, body: Option<Value>| {
        env.call(request(
            Method::POST,
            &format!("/v1/cards/{id}/keys"),
            body,
            access,
            &[],
        ))
    };
    // An SE card holds its key in the secure element.
    let se = id_of(&card(env, &tokens, &device, (GREEN2_PAN, GREEN2_CVV), "active").await);
    keys(&se, None)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-hce");
    let hce = id_of(&provision_hce(env, &tokens, &device).await);
    // Counts from 1 to 16.
    for bad in [json!(0), json!(17), json!("4"), json!(-1), json!(1.5)] {
        let r = keys(&hce, Some(json!({ "count": bad }))).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(r.field_errors(), ["count"], "{bad}");
    }
    assert_eq!(keys(&hce, Some(json!(null))).await.json["count"], 4);
    assert_eq!(
        keys(&hce, Some(json!({ "count": 16 }))).await.json["count"],
        16
    );
    // A body must be JSON.
    let r = env
        .call(
            Request::builder()
                .method(Method::POST)
                .uri(format!("/v1/cards/{hce}/keys"))
                .header(header::AUTHORIZATION, format!("Bearer {}", tokens.access))
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("count=2"))
                .unwrap(),
        )
        .await;
    r.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    // Unknown card, no token.
    keys("crd_nope", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not-found");
    env.call(request(
        Method::POST,
        &format!("/v1/cards/{hce}/keys"),
        None,
        None,
        &[],
    ))
    .await
    .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    // Batches are rate-limited per card: 10 at once (2 spent above), then one a minute.
    for _ in 0..8 {
        assert_eq!(keys(&hce, None).await.status, StatusCode::OK);
    }
    let r = keys(&hce, None).await;
    r.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate-limited");
    env.advance(60);
    let tokens = log_in(env, "ada@example.com").await;
    let access = Some(tokens.access.as_str());
    let keys = |id: &str| {
        env.call(request(
            Method::POST,
            &format!("/v1/cards/{id}/keys"),
            None,
            access,
            &[],
        ))
    };
    assert_eq!(keys(&hce).await.status, StatusCode::OK);
    // A suspended card gets none.
    let suspended = post_empty(env, &format!("/v1/cards/{hce}/suspend"), &tokens).await;
    assert_eq!(suspended.json["status"], "suspended");
    keys(&hce)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-not-active");
    // Nor does one the token service suspended behind the backend's back (it says so, the
    // backend records it).
    let other = provision_hce(env, &tokens, &device).await;
    let other_id = id_of(&other);
    let tur = other["token_ref"].as_str().unwrap().to_owned();
    env.direct
        .lifecycle(LifecycleAction::Suspend, &tur, "ISSUER_REQUEST")
        .await
        .unwrap();
    keys(&other_id)
        .await
        .assert_problem(StatusCode::CONFLICT, "card-state-changed");
    let now = env.get(&format!("/v1/cards/{other_id}"), access).await;
    assert_eq!(now.json["status"], "suspended");
    assert_eq!(now.json["suspended_by"], "token_service");
}
