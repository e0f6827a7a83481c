//! The token service end to end: HTTP requests through the router (`oneshot`), the issuer's
//! ID&V on the same store, and the network host authorizing taps made with the tokens it issues.
//!
//! Every case runs on a fresh SQLite file, then again in a fresh PostgreSQL schema when
//! `TAPWALLET_TEST_POSTGRES` names a server. The clock is fixed (and moved by hand); keys are
//! fixed test values.
// Test helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use cards::{Amount, Currency, Date, Expiry, Pan};
use domain::{BinKind, BinRange, BinTable};
use emv_card::{Card, CardProfile, Counters};
use emv_crypto::{Cvn, KeyAlgorithm, MasterKey, derive_icc_master_key, derive_limited_use_key};
use emv_kernel::{Kernel, Outcome, Rng, TerminalConfig, Transaction, TransactionType};
use http_body_util::BodyExt as _;
use iso8583::{Message, Mti, ResponseCode};
use iso8583_net::{Client, ClientConfig, IsoCodec};
use issuer::idv::{Idv, IdvConfig, IdvError, IdvProfile, IdvRules};
use jose::jws::VerifyKey;
use jose::{HeaderParams, Jwk, jwe, jws};
use network::vault::VaultKeys;
use secret::Secret;
use serde_json::{Value, json};
use store::{IssuerCardRow, NewAccount, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;
use tsp::{
    BoxFuture, HttpNotifier, LimitedUseKeyPolicy, Notifier, NotifyError, TokenRequestor, Tsp,
    TspConfig,
};

// ---- fixtures -----------------------------------------------------------------------------------

/// 2026-11-23 12:00 UTC.
const NOW: i64 = 1_795_435_200;

const ISSUER_IMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];
const TOKEN_IMK: [u8; 16] = [
    0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x76, 0x54, 0x32, 0x10, 0xFE, 0xDC, 0xBA, 0x98,
];
const VAULT_KEY: [u8; 32] = [0x10; 32];
const VAULT_HASH_KEY: [u8; 32] = [0x20; 32];
const ISSUER_HASH_KEY: [u8; 32] = [0x30; 32];
const IDV_KEY: [u8; 32] = [0x40; 32];
const PAR_KEY: [u8; 32] = [0x50; 32];
const TSP_ENCRYPTION_D: [u8; 32] = [0x61; 32];
const TSP_SIGNING_D: [u8; 32] = [0x62; 32];
const TSP_SIGNING_KID: &str = "tsp-test-sig-1";

/// The wallet backend under test, and another one.
const WALLET: (&str, [u8; 32]) = ("50110030273", [0x42; 32]);
const OTHER_WALLET: (&str, [u8; 32]) = ("40010075001", [0x43; 32]);

/// A funding card of the test issuer.
struct TestCard {
    fpan: &'static str,
    cvv: &'static str,
    low_risk: bool,
    phone: Option<&'static str>,
    email: Option<&'static str>,
    issuer_app: bool,
    product: &'static str,
}

/// Low risk: green on first tokenization.
const VISA: TestCard = TestCard {
    fpan: "4111111111111111",
    cvv: "123",
    low_risk: true,
    phone: Some("+33 612 34 56 78"),
    email: Some("camille.martin@example.com"),
    issuer_app: true,
    product: "Tapwallet Visa Credit",
};
/// Not low risk: yellow on first tokenization on a device, with SMS, e-mail and app.
const MASTERCARD: TestCard = TestCard {
    fpan: "5555555555554444",
    cvv: "456",
    low_risk: false,
    phone: Some("+33 698 76 54 32"),
    email: Some("alex.durand@example.com"),
    issuer_app: true,
    product: "Tapwallet Mastercard Debit",
};
/// Not low risk, SMS only (no issuer app).
const VISA_SMS: TestCard = TestCard {
    fpan: "4012888888881881",
    cvv: "789",
    low_risk: false,
    phone: Some("+33 611 22 33 44"),
    email: None,
    issuer_app: false,
    product: "Tapwallet Visa Debit",
};
/// Every card expires 12/30.
const CARD_EXPIRY: &str = "1230";

fn tdes(bytes: &[u8; 16]) -> MasterKey {
    MasterKey::new(KeyAlgorithm::Tdes2, bytes).unwrap()
}

fn bins() -> BinTable {
    let r = |low, high, kind| BinRange {
        low,
        high,
        kind,
        owner: "test".to_owned(),
    };
    BinTable::new(vec![
        r(47_617_390, 47_617_399, BinKind::Token),
        r(54_133_300, 54_133_399, BinKind::Token),
        r(40_000_000, 49_999_999, BinKind::Account),
        r(51_000_000, 55_999_999, BinKind::Account),
    ])
}

fn vault() -> VaultKeys {
    VaultKeys::new(&VAULT_KEY, &VAULT_HASH_KEY).unwrap()
}

fn device_key(n: u8) -> Jwk {
    Jwk::from_private_bytes(&[0x70 + n; 32]).unwrap()
}

/// A notifier that records what it posts and refuses the first `fail_first` posts.
#[derive(Default)]
struct Recorder {
    fail_first: AtomicUsize,
    posted: Mutex<Vec<(String, String)>>,
}

impl Notifier for Recorder {
    fn notify<'a>(&'a self, url: &'a str, jws: &'a str) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            let left = self.fail_first.load(Ordering::SeqCst);
            if left > 0 {
                self.fail_first.store(left - 1, Ordering::SeqCst);
                return Err(NotifyError::Refused(503));
            }
            self.posted
                .lock()
                .unwrap()
                .push((url.to_owned(), jws.to_owned()));
            Ok(())
        })
    }
}

/// Where a world keeps its state.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite,
    Postgres(String),
}

enum TempDb {
    File(std::path::PathBuf),
    Schema(Option<store::PgSchema>),
}

impl Drop for TempDb {
    fn drop(&mut self) {
        match self {
            Self::File(path) => {
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
                }
            }
            Self::Schema(schema) => {
                if let Some(schema) = schema.take() {
                    // Dropped from a fresh runtime: Drop cannot await.
                    let _ = std::thread::spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build();
                        if let Ok(rt) = rt {
                            let _ = rt.block_on(schema.drop_schema());
                        }
                    })
                    .join();
                }
            }
        }
    }
}

static WORLDS: AtomicU32 = AtomicU32::new(0);
static STAN: AtomicU32 = AtomicU32::new(1);

/// Everything one test runs against.
struct World {
    store: Store,
    tsp: Arc<Tsp>,
    idv: Arc<Idv>,
    app: Router,
    network: network::Network,
    notifier: Arc<Recorder>,
    time: Arc<AtomicI64>,
    stop: watch::Sender<bool>,
    _db: TempDb,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn world(backend: &Backend) -> World {
    world_with_keys(backend, LimitedUseKeyPolicy::default()).await
}

/// A world whose token service cuts limited-use keys by `keys`.
async fn world_with_keys(backend: &Backend, keys: LimitedUseKeyPolicy) -> World {
    let n = WORLDS.fetch_add(1, Ordering::SeqCst);
    let (db, url) = match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("tw-tsp-{}-{n}.db", std::process::id()));
            let url = format!("sqlite://{}", path.display());
            (TempDb::File(path), url)
        }
        Backend::Postgres(base) => {
            let name = format!("tw_tsp_{}_{n}", std::process::id());
            let schema = store::PgSchema::create(base, &name).await.unwrap();
            let url = schema.url();
            (TempDb::Schema(Some(schema)), url)
        }
    };
    let store = Store::open(&url).await.unwrap();
    let time = Arc::new(AtomicI64::new(NOW));
    let clock: tsp::Clock = {
        let time = Arc::clone(&time);
        Arc::new(move || time.load(Ordering::SeqCst))
    };
    let issuer = Arc::new(issuer::Issuer::new(
        store.clone(),
        issuer::IssuerConfig {
            keys: issuer::IssuerKeys::single(tdes(&ISSUER_IMK)),
            pan_hash_key: Secret::new(ISSUER_HASH_KEY),
            velocity: domain::VelocityLimits::default(),
        },
        Arc::clone(&clock),
    ));
    let idv = Arc::new(Idv::new(
        store.clone(),
        IdvConfig {
            pan_hash_key: Secret::new(ISSUER_HASH_KEY),
            idv_key: Secret::new(IDV_KEY),
            rules: IdvRules::default(),
        },
        Arc::clone(&clock),
    ));
    for card in [&VISA, &MASTERCARD, &VISA_SMS] {
        let fpan = Pan::parse(card.fpan).unwrap();
        let account = store
            .create_account(&NewAccount {
                kind: "credit".to_owned(),
                limit_minor: 500_000,
                balance_minor: 0,
                holds_minor: 0,
                currency_numeric: 978,
                open: true,
            })
            .await
            .unwrap();
        store
            .create_card(&IssuerCardRow {
                pan_hash: issuer.pan_hash(&fpan),
                last4: fpan.last4().to_owned(),
                expiry_yymm: "3012".to_owned(),
                psn: 0x01,
                status: "active".to_owned(),
                account_id: account,
            })
            .await
            .unwrap();
        idv.enroll(
            &fpan,
            &IdvProfile {
                cvv: Secret::new(card.cvv.to_owned()),
                product_name: card.product.to_owned(),
                low_risk: card.low_risk,
                phone: card.phone.map(str::to_owned),
                email: card.email.map(str::to_owned),
                issuer_app: card.issuer_app,
            },
        )
        .await
        .unwrap();
    }
    // The issuer host behind the network, on port 0.
    let (stop, stop_rx) = watch::channel(false);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer_addr = listener.local_addr().unwrap();
    let mut rx = stop_rx.clone();
    tokio::spawn(issuer::run(listener, issuer, async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    let to_issuer = Client::connect(issuer_addr, IsoCodec, ClientConfig::default())
        .await
        .unwrap();
    let network = network::Network::new(
        store.clone(),
        network::NetworkConfig {
            vault: vault(),
            token_imk: tdes(&TOKEN_IMK),
            bins: bins(),
            issuer_timeout: Duration::from_secs(5),
            stand_in: domain::StandInRules::default(),
        },
        to_issuer,
        Arc::clone(&clock),
    );
    let notifier = Arc::new(Recorder::default());
    let requestor = |(id, key): (&str, [u8; 32])| TokenRequestor {
        id: id.to_owned(),
        api_key: Secret::new(key.to_vec()),
        callback_url: Some(format!("http://wallet-{id}.test/cb/")),
    };
    let issuer_port: Arc<dyn issuer::idv::IssuerIdv> = idv.clone();
    let notifier_port: Arc<dyn Notifier> = notifier.clone();
    let tsp = Arc::new(
        Tsp::new(
            store.clone(),
            TspConfig {
                vault: vault(),
                token_imk: tdes(&TOKEN_IMK),
                par_key: Secret::new(PAR_KEY),
                encryption_key: Jwk::from_private_bytes(&TSP_ENCRYPTION_D).unwrap(),
                signing_key: Jwk::from_private_bytes(&TSP_SIGNING_D)
                    .unwrap()
                    .with_kid(TSP_SIGNING_KID),
                bins: bins(),
                requestors: vec![requestor(WALLET), requestor(OTHER_WALLET)],
                token_validity_years: 3,
            },
            issuer_port,
            notifier_port,
            clock,
        )
        .unwrap()
        .with_limited_use_keys(keys),
    );
    World {
        app: tsp::app(Arc::clone(&tsp)),
        store,
        tsp,
        idv,
        network,
        notifier,
        time,
        stop,
        _db: db,
    }
}

/// Runs a test body on SQLite, then on PostgreSQL when one is named.
macro_rules! on_every_backend {
    ($($name:ident => $body:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $body(Backend::Sqlite).await;
            if let Some(url) = std::env::var("TAPWALLET_TEST_POSTGRES").ok().filter(|u| !u.is_empty()) {
                $body(Backend::Postgres(url)).await;
            }
        }
    )*};
}

// ---- requests -----------------------------------------------------------------------------------

struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
    json: Value,
}

impl World {
    /// Sends a request signed by `who` (or unsigned when `None`).
    async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        who: Option<(&str, [u8; 32])>,
        timestamp: i64,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some((id, key)) = who {
            req = req
                .header(tsp::auth::REQUESTOR_HEADER, id)
                .header(tsp::auth::TIMESTAMP_HEADER, timestamp.to_string())
                .header(
                    tsp::auth::SIGNATURE_HEADER,
                    tsp::auth::sign(&key, timestamp, method, path, &body),
                );
        }
        let rsp = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = rsp.status();
        let content_type = rsp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = rsp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            panic!("{method} {path}: {status} {text}");
        }
        Answer {
            status,
            content_type,
            text,
            json,
        }
    }

    async fn send_as(
        &self,
        who: (&str, [u8; 32]),
        method: &str,
        path: &str,
        body: Value,
    ) -> Answer {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        let now = self.time.load(Ordering::SeqCst);
        self.send_raw(method, path, bytes, Some(who), now).await
    }

    async fn send(&self, method: &str, path: &str, body: Value) -> Answer {
        self.send_as(WALLET, method, path, body).await
    }

    fn funding_jwe(&self, pan: &str, expiry: &str, cvv: &str) -> String {
        let plain = json!({
            "pan": pan, "expiry": expiry, "cvv": cvv, "cardholder_name": "CAMILLE MARTIN"
        });
        jwe::encrypt(
            plain.to_string().as_bytes(),
            &self.tsp.encryption_public_key(),
            &HeaderParams::new(),
            &[0x33; 32],
            &[0x44; 32],
            &[0x55; 12],
        )
        .unwrap()
    }

    fn tokenize_body(&self, card: &TestCard, cvv: &str, device: u8) -> Value {
        json!({
            "token_requestor_id": WALLET.0,
            "device": {
                "device_id": format!("device-{device}"),
                "se_public_key": serde_json::to_value(device_key(device).to_public()).unwrap(),
            },
            "funding_account": self.funding_jwe(card.fpan, CARD_EXPIRY, cvv),
            "channels": ["CONTACTLESS", "IN_APP"],
        })
    }

    async fn tokenize(&self, card: &TestCard, device: u8) -> Answer {
        let body = self.tokenize_body(card, card.cvv, device);
        let a = self.send("POST", "/tsp/v1/tokenize", body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        // No card number, and no CVV, in any answer.
        assert!(!a.text.contains(card.fpan), "{}", a.text);
        a
    }

    /// Tokenizes and returns the TUR.
    async fn tokenize_tur(&self, card: &TestCard, device: u8, decision: &str) -> String {
        let a = self.tokenize(card, device).await;
        assert_eq!(a.json["decision"], decision, "{}", a.text);
        a.json["token"]["tur"].as_str().unwrap().to_owned()
    }

    async fn status_of(&self, tur: &str) -> String {
        let a = self
            .send("GET", &format!("/tsp/v1/tokens/{tur}"), Value::Null)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a.json["status"].as_str().unwrap().to_owned()
    }

    /// The decrypted provisioning payload of `tur` for `device`.
    async fn payload(&self, tur: &str, device: u8) -> Value {
        let a = self
            .send("GET", &format!("/tsp/v1/tokens/{tur}/payload"), Value::Null)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.json["tur"], tur);
        let jwe = a.json["encrypted_payload"].as_str().unwrap();
        // Only the device's key opens it.
        assert!(jwe::decrypt(jwe, &device_key(device + 1)).is_err());
        let (header, plain) = jwe::decrypt(jwe, &device_key(device)).unwrap();
        assert_eq!(header.alg(), "ECDH-ES+A256KW");
        assert_eq!(header.enc(), Some("A256GCM"));
        serde_json::from_slice(&plain).unwrap()
    }

    /// The decrypted provisioning payload of `tur` for `device`, as text.
    async fn payload_text(&self, tur: &str, device: u8) -> String {
        self.payload(tur, device).await.to_string()
    }

    async fn lifecycle(&self, action: &str, turs: &[&str]) -> Answer {
        self.send(
            "POST",
            &format!("/tsp/v1/tokens/{action}"),
            json!({ "token_requestor_id": WALLET.0, "turs": turs, "reason": "CUSTOMER_REQUEST" }),
        )
        .await
    }

    /// The codes the simulated SMS/e-mail gateway holds, oldest first.
    async fn otp_codes(&self) -> Vec<(String, String)> {
        self.store
            .otp_outbox(0, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.destination, m.code))
            .collect()
    }

    async fn send_otp(&self, tur: &str, method: &str) -> Answer {
        self.send(
            "POST",
            &format!("/tsp/v1/tokens/{tur}/otp"),
            json!({ "method": method }),
        )
        .await
    }

    async fn authenticate(&self, tur: &str, method: &str, otp: &str) -> Answer {
        self.send(
            "POST",
            &format!("/tsp/v1/tokens/{tur}/authenticate"),
            json!({ "method": method, "otp": otp }),
        )
        .await
    }

    /// Taps the phone card made from a payload and returns the network's answer code.
    async fn tap(&self, card: &mut Card, amount_minor: u64) -> ResponseCode {
        let amount = Amount::from_minor(amount_minor, Currency::lookup("EUR").unwrap()).unwrap();
        let txn = Transaction {
            amount,
            amount_other_minor: 0,
            date: Date::new(2026, 11, 23).unwrap(),
            kind: TransactionType::PURCHASE,
        };
        let stan = STAN.fetch_add(1, Ordering::SeqCst);
        let mut rng = CountingRng(u64::from(stan));
        let mut kernel = Kernel::new(TerminalConfig::default(), txn, &mut rng);
        let first = kernel.start();
        let mut transceive =
            |c: &[u8]| -> Result<Vec<u8>, Infallible> { Ok(card.process(c).response.encode()) };
        let Ok(outcome) = kernel.drive(first, &mut transceive, &mut Vec::new());
        let Outcome::OnlineRequest(request) = outcome else {
            panic!("{outcome:?}")
        };
        let mut msg = Message::new(Mti::AUTHORIZATION_REQUEST);
        msg.set_pan(Secret::new(request.card.pan.expose_digits().to_owned()));
        msg.set_processing_code("000000");
        msg.set_amount_minor(amount.minor());
        msg.set_transmission_date_time("1123120000");
        msg.set_stan(stan);
        msg.set_local_time("120000");
        msg.set_local_date("1123");
        if let Some(e) = request.card.expiry {
            msg.set_expiry(Secret::new(e.yymm()));
        }
        msg.set_pos_entry_mode("071");
        if let Some(psn) = request.card.psn {
            msg.set_card_sequence_number(&format!("{:03}", (psn >> 4) * 10 + (psn & 0x0F)));
        }
        msg.set_rrn(&format!("{:012}", 500_000 + stan));
        msg.set_terminal_id("TWPOS001");
        msg.set_currency_code("978");
        msg.set_icc_data(&request.data.to_tlv());
        let answer = self.network.handle(msg).await.unwrap();
        answer.response_code().unwrap()
    }
}

struct CountingRng(u64);

impl Rng for CountingRng {
    fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            *b = self.0.to_be_bytes()[0];
        }
    }
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn mmyy(text: &str) -> Expiry {
    Expiry::new(
        2000 + text[2..].parse::<u16>().unwrap(),
        text[..2].parse().unwrap(),
    )
    .unwrap()
}

/// The phone's card application, personalized from a provisioning payload.
fn phone_card(payload: &Value) -> Card {
    let pan = Pan::parse(payload["dpan"].as_str().unwrap()).unwrap();
    let expiry = mmyy(payload["expiry"].as_str().unwrap());
    let psn = u8::from_str_radix(payload["psn"].as_str().unwrap(), 16).unwrap();
    let cvn = match payload["cvn"].as_u64().unwrap() {
        18 => Cvn::Visa18,
        16 => Cvn::Mastercard16,
        other => panic!("cvn {other}"),
    };
    assert_eq!(payload["key_algorithm"], "TDES2");
    let key = MasterKey::new(
        KeyAlgorithm::Tdes2,
        &hex_decode(payload["icc_master_key"].as_str().unwrap()),
    )
    .unwrap();
    let profile = match payload["scheme"].as_str().unwrap() {
        "visa" => CardProfile::visa(pan, psn, expiry, cvn, key),
        "mastercard" => CardProfile::mastercard(pan, psn, expiry, cvn, key),
        other => panic!("scheme {other}"),
    };
    let mut card = Card::new(profile, Counters::default());
    card.set_cdcvm_verified(true);
    card
}

/// Checks a provisioning payload against the card it tokenizes.
fn check_payload(payload: &Value, tur: &str, card: &TestCard) {
    assert_eq!(payload["tur"], tur);
    let dpan_text = payload["dpan"].as_str().unwrap();
    let dpan = Pan::parse(dpan_text).expect("a Luhn-valid DPAN");
    assert_ne!(dpan_text, card.fpan);
    assert_eq!(dpan_text.len(), 16);
    assert_eq!(
        bins().route(&dpan).map(|r| r.kind),
        Some(BinKind::Token),
        "the DPAN is in a token range"
    );
    assert_eq!(
        dpan_text.chars().next(),
        card.fpan.chars().next(),
        "same scheme"
    );
    // Three years from November 2026.
    assert_eq!(payload["expiry"], "1129");
    assert_eq!(payload["psn"], "01");
    assert_eq!(payload["fpan_last4"], &card.fpan[12..]);
    assert_eq!(payload["product_name"], card.product);
    assert_eq!(payload["credential"], "se");
    // The key is the one the network derives from the token master key and the DPAN.
    let cvn = if dpan_text.starts_with('4') {
        Cvn::Visa18
    } else {
        Cvn::Mastercard16
    };
    let expected = derive_icc_master_key(cvn, &tdes(&TOKEN_IMK), dpan_text, 0x01).unwrap();
    assert_eq!(
        hex_decode(payload["icc_master_key"].as_str().unwrap()),
        expected.expose_secret()
    );
}

/// The notifications queued for `tur`, verified with the token service's public key: their
/// (status, reason) in order.
async fn notifications(w: &World, tur: &str) -> Vec<(String, String)> {
    let key = w.tsp.signing_public_key();
    let mut out = Vec::new();
    for n in w.store.tsp_notifications_of(tur).await.unwrap() {
        let (header, payload) = jws::verify(&n.jws, VerifyKey::Es256(&key)).unwrap();
        assert_eq!(header.kid(), Some(TSP_SIGNING_KID));
        let body: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(body["tur"], tur);
        assert_eq!(body["event_id"], n.event_id.as_str());
        assert!(body["occurred_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(n.token_requestor_id, WALLET.0);
        out.push((
            body["status"].as_str().unwrap().to_owned(),
            body["reason"].as_str().unwrap().to_owned(),
        ));
    }
    out
}

fn approved() -> ResponseCode {
    ResponseCode::APPROVED
}

// ---- the cases ----------------------------------------------------------------------------------

on_every_backend! {
    green_path_issues_an_active_token_that_pays => green_path;
    yellow_path_with_otp_activates_the_token => yellow_path;
    otp_locks_after_five_wrong_codes_and_codes_expire => otp_limits;
    red_paths_create_no_token => red_paths;
    too_many_attempts_in_a_day_are_declined => attempt_limit;
    issuer_app_approval_activates_a_pending_token => issuer_app;
    lifecycle_changes_what_the_network_answers => lifecycle;
    another_requestor_gets_404 => other_requestor;
    requests_must_be_signed => signatures;
    invalid_input_is_a_problem_never_a_500 => invalid_input;
    notifications_are_delivered_with_retries => delivery;
    search_by_device_and_requestor => search;
    hce_tokens_pay_with_limited_use_keys_only => hce_path;
    limited_use_keys_are_refused_where_they_do_not_apply => keys_refused;
    limited_use_keys_end_with_the_atc_space => keys_exhausted;
}

async fn green_path(backend: Backend) {
    let w = world(&backend).await;
    let a = w.tokenize(&VISA, 1).await;
    assert_eq!(a.json["decision"], "APPROVED");
    assert!(a.json.get("authentication_methods").is_none());
    let token = &a.json["token"];
    let tur = token["tur"].as_str().unwrap().to_owned();
    assert!(tur.starts_with("DNITHE") && tur.len() == 32);
    assert_eq!(token["status"], "ACTIVE");
    assert_eq!(token["device_id"], "device-1");
    assert_eq!(token["token_requestor_id"], WALLET.0);
    assert_eq!(token["fpan_last4"], "1111");
    assert_eq!(token["token_expiry"], "1129");
    assert_eq!(token["channels"], json!(["CONTACTLESS", "IN_APP"]));
    assert_eq!(token["product_name"], VISA.product);
    assert_eq!(token["created_at"], "2026-11-23T12:00:00Z");
    assert_eq!(token["token_type"], "SECURE_ELEMENT");
    let par = token["par"].as_str().unwrap().to_owned();
    assert_eq!(par.len(), 29);
    assert!(par.starts_with("T001"));

    // The vault row the network reads.
    let row = w.store.token_by_tur(&tur).await.unwrap().unwrap();
    assert_eq!(row.status, "active");
    assert_eq!(row.device_id.as_deref(), Some("device-1"));
    assert_eq!(row.psn, 1);
    assert_eq!(row.channels, 3);
    assert_eq!(row.token_expiry_yymm, "2911");
    assert_eq!(row.credential, "se");

    let payload = w.payload(&tur, 1).await;
    check_payload(&payload, &tur, &VISA);
    assert_eq!(payload["scheme"], "visa");
    assert_eq!(payload["cvn"], 18);
    assert_eq!(row.dpan_last4, &payload["dpan"].as_str().unwrap()[12..]);

    // The phone pays with it through the network and the issuer.
    let mut card = phone_card(&payload);
    assert_eq!(w.tap(&mut card, 1_250).await, approved());
    assert_eq!(w.tap(&mut card, 990).await, approved());

    // A second device: another DPAN, the same PAR.
    let a = w.tokenize(&VISA, 2).await;
    assert_eq!(a.json["decision"], "APPROVED");
    assert_eq!(a.json["token"]["par"], par.as_str());
    let tur2 = a.json["token"]["tur"].as_str().unwrap().to_owned();
    assert_ne!(tur2, tur);
    let payload2 = w.payload(&tur2, 2).await;
    assert_ne!(payload2["dpan"], payload["dpan"]);
    // No status changed: nothing to notify.
    assert!(notifications(&w, &tur).await.is_empty());
}

async fn yellow_path(backend: Backend) {
    let w = world(&backend).await;
    let a = w.tokenize(&MASTERCARD, 1).await;
    assert_eq!(a.json["decision"], "REQUIRE_ADDITIONAL_AUTHENTICATION");
    assert_eq!(
        a.json["authentication_methods"],
        json!([
            {"type": "OTP_SMS", "value": "+33 6** ** ** 32"},
            {"type": "OTP_EMAIL", "value": "a**********@example.com"},
            {"type": "ISSUER_APP"},
        ])
    );
    let tur = a.json["token"]["tur"].as_str().unwrap().to_owned();
    assert_eq!(a.json["token"]["status"], "INACTIVE");
    // Not usable yet: no payload, and the network declines it.
    let p = w
        .send("GET", &format!("/tsp/v1/tokens/{tur}/payload"), Value::Null)
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert_eq!(p.json["type"], "urn:tapwallet:tsp:problem:token-not-active");
    assert_eq!(
        w.store.token_by_tur(&tur).await.unwrap().unwrap().status,
        "suspended"
    );

    // No code yet.
    let r = w.authenticate(&tur, "OTP_SMS", "000000").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["type"], "urn:tapwallet:tsp:problem:otp-not-sent");
    // ISSUER_APP carries no code.
    let r = w.send_otp(&tur, "ISSUER_APP").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json["errors"][0]["field"], "method");

    let sent = w.send_otp(&tur, "OTP_SMS").await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
    assert_eq!(sent.json["destination"], "+33 6** ** ** 32");
    assert_eq!(sent.json["expires_at"], "2026-11-23T12:05:00Z");
    let codes = w.otp_codes().await;
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].0, "+33 698 76 54 32");
    let code = codes[0].1.clone();
    assert_eq!(code.len(), 6);
    assert!(!sent.text.contains(&code));

    // A wrong code says how many attempts are left; the wrong method has no code.
    let wrong = if code == "000001" { "000002" } else { "000001" };
    let r = w.authenticate(&tur, "OTP_SMS", wrong).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.json["attempts_left"], 4);
    assert_eq!(r.content_type, "application/problem+json");
    let r = w.authenticate(&tur, "OTP_EMAIL", &code).await;
    assert_eq!(r.json["type"], "urn:tapwallet:tsp:problem:otp-not-sent");

    let ok = w.authenticate(&tur, "OTP_SMS", &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json["status"], "ACTIVE");
    assert_eq!(w.status_of(&tur).await, "ACTIVE");
    // Once active, there is nothing left to authenticate.
    let again = w.authenticate(&tur, "OTP_SMS", &code).await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    let payload = w.payload(&tur, 1).await;
    check_payload(&payload, &tur, &MASTERCARD);
    assert_eq!(payload["scheme"], "mastercard");
    assert_eq!(payload["cvn"], 16);
    let mut card = phone_card(&payload);
    assert_eq!(w.tap(&mut card, 2_000).await, approved());

    // One notification, for the activation.
    assert_eq!(
        notifications(&w, &tur).await,
        [("ACTIVE".to_owned(), "OTP_VERIFIED".to_owned())]
    );

    // The card already has an active token on this device: green this time.
    let a = w.tokenize(&MASTERCARD, 1).await;
    assert_eq!(a.json["decision"], "APPROVED", "{}", a.text);
    // On another device, a step-up again.
    let a = w.tokenize(&MASTERCARD, 2).await;
    assert_eq!(a.json["decision"], "REQUIRE_ADDITIONAL_AUTHENTICATION");
}

async fn otp_limits(backend: Backend) {
    let w = world(&backend).await;
    let tur = w
        .tokenize_tur(&MASTERCARD, 1, "REQUIRE_ADDITIONAL_AUTHENTICATION")
        .await;
    assert_eq!(w.send_otp(&tur, "OTP_EMAIL").await.status, StatusCode::OK);
    let codes = w.otp_codes().await;
    assert_eq!(codes[0].0, "alex.durand@example.com");
    let code = codes[0].1.clone();
    let wrong = if code == "123456" { "654321" } else { "123456" };
    for left in (1..=4).rev() {
        let r = w.authenticate(&tur, "OTP_EMAIL", wrong).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json["attempts_left"], left);
    }
    // A malformed code is a format error and costs no attempt.
    let r = w.authenticate(&tur, "OTP_EMAIL", "12ab").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json["errors"][0]["field"], "otp");
    // The fifth wrong code locks it.
    let r = w.authenticate(&tur, "OTP_EMAIL", wrong).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["type"], "urn:tapwallet:tsp:problem:otp-locked");
    assert_eq!(r.json["attempts_left"], 0);
    // Even the right code is refused now, and no new code is sent.
    let r = w.authenticate(&tur, "OTP_EMAIL", &code).await;
    assert_eq!(r.json["type"], "urn:tapwallet:tsp:problem:otp-locked");
    let r = w.send_otp(&tur, "OTP_SMS").await;
    assert_eq!(r.json["type"], "urn:tapwallet:tsp:problem:otp-locked");
    assert_eq!(w.otp_codes().await.len(), 1);
    assert_eq!(w.status_of(&tur).await, "INACTIVE");
    assert!(notifications(&w, &tur).await.is_empty());

    // Codes expire after five minutes; a new one works.
    let tur = w
        .tokenize_tur(&MASTERCARD, 2, "REQUIRE_ADDITIONAL_AUTHENTICATION")
        .await;
    assert_eq!(w.send_otp(&tur, "OTP_SMS").await.status, StatusCode::OK);
    let first = w.otp_codes().await[1].1.clone();
    w.time.fetch_add(301, Ordering::SeqCst);
    let r = w.authenticate(&tur, "OTP_SMS", &first).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["type"], "urn:tapwallet:tsp:problem:otp-expired");
    assert_eq!(w.send_otp(&tur, "OTP_SMS").await.status, StatusCode::OK);
    let second = w.otp_codes().await[2].1.clone();
    if second != first {
        // The older code no longer works (it costs an attempt).
        let r = w.authenticate(&tur, "OTP_SMS", &first).await;
        assert_eq!(r.json["attempts_left"], 4);
    }
    let r = w.authenticate(&tur, "OTP_SMS", &second).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["status"], "ACTIVE");
}

async fn red_paths(backend: Backend) {
    let world = world(&backend).await;
    let w = &world;
    let decline = |card: &'static str, expiry: &'static str, cvv: &'static str| {
        let body = json!({
            "token_requestor_id": WALLET.0,
            "device": {
                "device_id": "device-1",
                "se_public_key": serde_json::to_value(device_key(1).to_public()).unwrap(),
            },
            "funding_account": w.funding_jwe(card, expiry, cvv),
        });
        async move {
            let a = w.send("POST", "/tsp/v1/tokenize", body).await;
            assert_eq!(a.status, StatusCode::OK, "{}", a.text);
            assert_eq!(a.json["decision"], "DECLINED", "{}", a.text);
            assert!(a.json.get("token").is_none());
            assert!(!a.text.contains(card));
            a.json["reason"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(decline(VISA.fpan, CARD_EXPIRY, "999").await, "CVV_MISMATCH");
    assert_eq!(
        decline(VISA.fpan, CARD_EXPIRY, "1234").await,
        "CVV_MISMATCH"
    );
    assert_eq!(
        decline(VISA.fpan, "1130", VISA.cvv).await,
        "EXPIRY_MISMATCH"
    );
    // A card the issuer does not hold (a published test number).
    assert_eq!(
        decline("4000056655665556", CARD_EXPIRY, "123").await,
        "CARD_NOT_ELIGIBLE"
    );
    // A token cannot be tokenized.
    assert_eq!(
        decline("4761739001010010", CARD_EXPIRY, "123").await,
        "CARD_NOT_ELIGIBLE"
    );
    // A blocked card.
    let issuer_hash = w.idv.pan_hash(&Pan::parse(MASTERCARD.fpan).unwrap());
    assert!(
        w.store
            .set_card_status(&issuer_hash, "blocked")
            .await
            .unwrap()
    );
    assert_eq!(
        decline(MASTERCARD.fpan, CARD_EXPIRY, MASTERCARD.cvv).await,
        "CARD_BLOCKED"
    );
    assert!(
        w.store
            .set_card_status(&issuer_hash, "lost_or_stolen")
            .await
            .unwrap()
    );
    assert_eq!(
        decline(MASTERCARD.fpan, CARD_EXPIRY, MASTERCARD.cvv).await,
        "CARD_LOST_OR_STOLEN"
    );
    // None of these made a token.
    let found = w
        .send(
            "POST",
            "/tsp/v1/tokens/search",
            json!({ "token_requestor_id": WALLET.0 }),
        )
        .await;
    assert_eq!(found.json["tokens"], json!([]));
}

async fn attempt_limit(backend: Backend) {
    let w = world(&backend).await;
    let body = |cvv: &str| w.tokenize_body(&VISA_SMS, cvv, 1);
    for _ in 0..10 {
        let a = w.send("POST", "/tsp/v1/tokenize", body("000")).await;
        assert_eq!(a.json["reason"], "CVV_MISMATCH");
    }
    // The right CVV is too late today.
    let a = w.send("POST", "/tsp/v1/tokenize", body(VISA_SMS.cvv)).await;
    assert_eq!(a.json["reason"], "TOO_MANY_ATTEMPTS");
    // Other cards are not affected.
    w.tokenize_tur(&VISA, 1, "APPROVED").await;
    // A day later the card can be tokenized (SMS only: a step-up).
    w.time.fetch_add(24 * 3600 + 1, Ordering::SeqCst);
    let a = w.send("POST", "/tsp/v1/tokenize", body(VISA_SMS.cvv)).await;
    assert_eq!(a.json["decision"], "REQUIRE_ADDITIONAL_AUTHENTICATION");
    assert_eq!(
        a.json["authentication_methods"],
        json!([{"type": "OTP_SMS", "value": "+33 6** ** ** 44"}])
    );
}

async fn issuer_app(backend: Backend) {
    let w = world(&backend).await;
    let tur = w
        .tokenize_tur(&MASTERCARD, 1, "REQUIRE_ADDITIONAL_AUTHENTICATION")
        .await;
    w.idv.approve_in_app(&tur, w.tsp.as_ref()).await.unwrap();
    assert_eq!(w.status_of(&tur).await, "ACTIVE");
    assert_eq!(
        w.store.token_by_tur(&tur).await.unwrap().unwrap().status,
        "active"
    );
    assert_eq!(
        notifications(&w, &tur).await,
        [("ACTIVE".to_owned(), "ISSUER_APP_APPROVED".to_owned())]
    );
    // Once only.
    assert_eq!(
        w.idv.approve_in_app(&tur, w.tsp.as_ref()).await,
        Err(IdvError::AlreadyApproved)
    );
    // A green token has no step-up to approve; a card without the app cannot use it.
    let green = w.tokenize_tur(&VISA, 1, "APPROVED").await;
    assert_eq!(
        w.idv.approve_in_app(&green, w.tsp.as_ref()).await,
        Err(IdvError::NoSession)
    );
    let sms_only = w
        .tokenize_tur(&VISA_SMS, 1, "REQUIRE_ADDITIONAL_AUTHENTICATION")
        .await;
    assert_eq!(
        w.idv.approve_in_app(&sms_only, w.tsp.as_ref()).await,
        Err(IdvError::MethodNotOffered)
    );
    // A deleted pending token cannot be activated by the app.
    let pending = w
        .tokenize_tur(&MASTERCARD, 2, "REQUIRE_ADDITIONAL_AUTHENTICATION")
        .await;
    assert_eq!(
        w.lifecycle("delete", &[&pending]).await.status,
        StatusCode::OK
    );
    assert_eq!(
        w.idv.approve_in_app(&pending, w.tsp.as_ref()).await,
        Err(IdvError::Activation(
            issuer::idv::ActivationError::NotInactive
        ))
    );
    assert_eq!(w.status_of(&pending).await, "DELETED");
}

async fn lifecycle(backend: Backend) {
    let w = world(&backend).await;
    let tur = w.tokenize_tur(&VISA, 1, "APPROVED").await;
    let mut card = phone_card(&w.payload(&tur, 1).await);
    assert_eq!(w.tap(&mut card, 500).await, approved());

    let s = w.lifecycle("suspend", &[&tur]).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.text);
    assert_eq!(s.json["tokens"][0]["status"], "SUSPENDED");
    assert_eq!(w.tap(&mut card, 500).await, ResponseCode::RESTRICTED_CARD);
    // Only active tokens have payloads; suspending twice is a conflict.
    let p = w
        .send("GET", &format!("/tsp/v1/tokens/{tur}/payload"), Value::Null)
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    let again = w.lifecycle("suspend", &[&tur]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.json["type"],
        "urn:tapwallet:tsp:problem:invalid-state"
    );

    let u = w.lifecycle("unsuspend", &[&tur]).await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.text);
    assert_eq!(u.json["tokens"][0]["status"], "ACTIVE");
    assert_eq!(w.tap(&mut card, 500).await, approved());

    // A batch is all or nothing: one unknown TUR and nothing changes.
    let other = w.tokenize_tur(&VISA, 2, "APPROVED").await;
    let r = w
        .lifecycle(
            "suspend",
            &[&tur, &other, "DNITHE00000000000000000000000000"],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(w.status_of(&tur).await, "ACTIVE");
    assert_eq!(w.status_of(&other).await, "ACTIVE");
    let r = w.lifecycle("suspend", &[&tur, &other]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["tokens"].as_array().unwrap().len(), 2);
    assert_eq!(
        w.lifecycle("unsuspend", &[&tur]).await.status,
        StatusCode::OK
    );

    let d = w.lifecycle("delete", &[&tur]).await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.json["tokens"][0]["status"], "DELETED");
    assert_eq!(
        w.tap(&mut card, 500).await,
        ResponseCode::INVALID_CARD_NUMBER
    );
    assert_eq!(
        w.lifecycle("unsuspend", &[&tur]).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        w.lifecycle("delete", &[&tur]).await.status,
        StatusCode::CONFLICT
    );

    // At most ten TURs, at least one.
    let eleven: Vec<&str> = std::iter::repeat_n(tur.as_str(), 11).collect();
    let r = w.lifecycle("suspend", &eleven).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(
        w.lifecycle("suspend", &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    let ten: Vec<&str> = std::iter::repeat_n(other.as_str(), 10).collect();
    assert_eq!(w.lifecycle("unsuspend", &ten).await.status, StatusCode::OK);

    // One signed notification per status change.
    assert_eq!(
        notifications(&w, &tur).await,
        [
            ("SUSPENDED", "CUSTOMER_REQUEST"),
            ("ACTIVE", "CUSTOMER_REQUEST"),
            ("SUSPENDED", "CUSTOMER_REQUEST"),
            ("ACTIVE", "CUSTOMER_REQUEST"),
            ("DELETED", "CUSTOMER_REQUEST"),
        ]
        .map(|(s, r)| (s.to_owned(), r.to_owned()))
    );
    assert_eq!(notifications(&w, &other).await.len(), 2);
}

async fn other_requestor(backend: Backend) {
    let w = world(&backend).await;
    let tur = w.tokenize_tur(&VISA, 1, "APPROVED").await;
    let get = w
        .send_as(
            OTHER_WALLET,
            "GET",
            &format!("/tsp/v1/tokens/{tur}"),
            Value::Null,
        )
        .await;
    assert_eq!(get.status, StatusCode::NOT_FOUND);
    assert_eq!(get.content_type, "application/problem+json");
    let payload = w
        .send_as(
            OTHER_WALLET,
            "GET",
            &format!("/tsp/v1/tokens/{tur}/payload"),
            Value::Null,
        )
        .await;
    assert_eq!(payload.status, StatusCode::NOT_FOUND);
    let suspend = w
        .send_as(
            OTHER_WALLET,
            "POST",
            "/tsp/v1/tokens/suspend",
            json!({ "token_requestor_id": OTHER_WALLET.0, "turs": [tur], "reason": "FRAUD" }),
        )
        .await;
    assert_eq!(suspend.status, StatusCode::NOT_FOUND);
    assert_eq!(w.status_of(&tur).await, "ACTIVE");
    let otp = w
        .send_as(
            OTHER_WALLET,
            "POST",
            &format!("/tsp/v1/tokens/{tur}/otp"),
            json!({ "method": "OTP_SMS" }),
        )
        .await;
    assert_eq!(otp.status, StatusCode::NOT_FOUND);
    let search = w
        .send_as(
            OTHER_WALLET,
            "POST",
            "/tsp/v1/tokens/search",
            json!({ "token_requestor_id": OTHER_WALLET.0 }),
        )
        .await;
    assert_eq!(search.json["tokens"], json!([]));
    // Signing as one requestor and naming another in the body is forbidden.
    let mismatch = w
        .send_as(
            OTHER_WALLET,
            "POST",
            "/tsp/v1/tokens/suspend",
            json!({ "token_requestor_id": WALLET.0, "turs": [tur], "reason": "FRAUD" }),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::FORBIDDEN);
    let unknown = w
        .send("GET", "/tsp/v1/tokens/DNITHE0000", Value::Null)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn signatures(backend: Backend) {
    let w = world(&backend).await;
    let body = serde_json::to_vec(&json!({ "token_requestor_id": WALLET.0 })).unwrap();
    let path = "/tsp/v1/tokens/search";
    let ok = w
        .send_raw("POST", path, body.clone(), Some(WALLET), NOW)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let unsigned = w.send_raw("POST", path, body.clone(), None, NOW).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unsigned.content_type, "application/problem+json");
    assert_eq!(unsigned.json["status"], 401);
    // Wrong key, unknown requestor, stale or future timestamp.
    let wrong_key = w
        .send_raw(
            "POST",
            path,
            body.clone(),
            Some((WALLET.0, [0x99; 32])),
            NOW,
        )
        .await;
    assert_eq!(wrong_key.status, StatusCode::UNAUTHORIZED);
    let unknown = w
        .send_raw(
            "POST",
            path,
            body.clone(),
            Some(("99999999999", WALLET.1)),
            NOW,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    for at in [NOW - 301, NOW + 301] {
        let stale = w
            .send_raw("POST", path, body.clone(), Some(WALLET), at)
            .await;
        assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    }
    // The signature covers the body: a changed body does not verify.
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header(tsp::auth::REQUESTOR_HEADER, WALLET.0)
        .header(tsp::auth::TIMESTAMP_HEADER, NOW.to_string())
        .header(
            tsp::auth::SIGNATURE_HEADER,
            tsp::auth::sign(&WALLET.1, NOW, "POST", path, &body),
        )
        .body(Body::from(b"{\"token_requestor_id\":\"x\"}".to_vec()))
        .unwrap();
    let rsp = w.app.clone().oneshot(req).await.unwrap();
    assert_eq!(rsp.status(), StatusCode::UNAUTHORIZED);
    // The public keys need no signature.
    let keys = w
        .send_raw("GET", "/tsp/v1/keys", Vec::new(), None, NOW)
        .await;
    assert_eq!(keys.status, StatusCode::OK);
    let sig = keys.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["use"] == "sig")
        .unwrap();
    assert_eq!(sig["kid"], TSP_SIGNING_KID);
    assert!(sig.get("d").is_none());
    let enc = keys.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["use"] == "enc")
        .unwrap();
    assert_eq!(
        Jwk::from_json(&enc.to_string()).unwrap().thumbprint(),
        w.tsp.encryption_public_key().thumbprint()
    );
}

async fn invalid_input(backend: Backend) {
    let w = world(&backend).await;
    let tokenize = |body: Value| w.send("POST", "/tsp/v1/tokenize", body);
    let fields = |a: &Answer| -> Vec<String> {
        a.json["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| e["field"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Not JSON.
    let a = w
        .send_raw(
            "POST",
            "/tsp/v1/tokenize",
            b"{not json".to_vec(),
            Some(WALLET),
            NOW,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.content_type, "application/problem+json");
    // JSON but not an object; an empty object.
    let a = tokenize(json!([1, 2])).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = tokenize(json!({})).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&a),
        ["token_requestor_id", "funding_account", "device"]
    );
    // Field by field.
    let good = w.tokenize_body(&VISA, VISA.cvv, 1);
    let with = |path: &[&str], value: Value| {
        let mut body = good.clone();
        let mut at = &mut body;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = value;
        body
    };
    let a = tokenize(with(&["funding_account"], json!("a.b.c"))).await;
    assert_eq!(fields(&a), ["funding_account"]);
    let a = tokenize(with(&["funding_account"], json!(12))).await;
    assert_eq!(fields(&a), ["funding_account"]);
    // A JWE to another key does not open.
    let to_other = jwe::encrypt(
        br#"{"pan":"4111111111111111"}"#,
        &device_key(3).to_public(),
        &HeaderParams::new(),
        &[0x33; 32],
        &[0x44; 32],
        &[0x55; 12],
    )
    .unwrap();
    let a = tokenize(with(&["funding_account"], json!(to_other))).await;
    assert_eq!(fields(&a), ["funding_account"]);
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Bad plaintext: Luhn, expiry, CVV; the answer never repeats the digits.
    let bad_pan = "4111111111111112";
    let a = tokenize(with(
        &["funding_account"],
        json!(w.funding_jwe(bad_pan, "13/30", "12")),
    ))
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&a),
        [
            "funding_account.pan",
            "funding_account.expiry",
            "funding_account.cvv"
        ]
    );
    assert!(!a.text.contains(bad_pan) && !a.text.contains("411111"));
    // A PAN sent as a number is refused without echoing it.
    let numeric = jwe::encrypt(
        br#"{"pan":4111111111111111,"expiry":"1230","cvv":"123"}"#,
        &w.tsp.encryption_public_key(),
        &HeaderParams::new(),
        &[0x33; 32],
        &[0x44; 32],
        &[0x55; 12],
    )
    .unwrap();
    let a = tokenize(with(&["funding_account"], json!(numeric))).await;
    assert_eq!(fields(&a), ["funding_account"]);
    assert!(!a.text.contains("4111"));
    // Device: a private key, not a key, a bad id.
    let private =
        serde_json::from_str::<Value>(device_key(1).to_private_json().unwrap().expose()).unwrap();
    let a = tokenize(with(&["device", "se_public_key"], private)).await;
    assert_eq!(fields(&a), ["device.se_public_key"]);
    let a = tokenize(with(&["device", "se_public_key"], json!({"kty": "RSA"}))).await;
    assert_eq!(fields(&a), ["device.se_public_key"]);
    let a = tokenize(with(&["device", "device_id"], json!("a b"))).await;
    assert_eq!(fields(&a), ["device.device_id"]);
    let a = tokenize(with(&["channels"], json!(["NFC"]))).await;
    assert_eq!(fields(&a), ["channels"]);
    let a = tokenize(with(&["channels"], json!([]))).await;
    assert_eq!(fields(&a), ["channels"]);
    // Lifecycle and OTP bodies.
    let a = w
        .send(
            "POST",
            "/tsp/v1/tokens/suspend",
            json!({ "token_requestor_id": WALLET.0, "turs": [1], "reason": "" }),
        )
        .await;
    assert_eq!(fields(&a), ["turs", "reason"]);
    let tur = w
        .tokenize_tur(&MASTERCARD, 1, "REQUIRE_ADDITIONAL_AUTHENTICATION")
        .await;
    let a = w.send_otp(&tur, "CARRIER_PIGEON").await;
    assert_eq!(fields(&a), ["method"]);
    // Unknown routes and methods.
    let a = w.send("GET", "/tsp/v1/nothing", Value::Null).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.content_type, "application/problem+json");
    let a = w.send("GET", "/tsp/v1/tokenize", Value::Null).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    // Oversized bodies are refused as problems too.
    let a = w
        .send_raw(
            "POST",
            "/tsp/v1/tokenize",
            vec![b' '; 100 * 1024],
            Some(WALLET),
            NOW,
        )
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.content_type, "application/problem+json");
    // A very long TUR is simply not found.
    let long = "X".repeat(500);
    let a = w
        .send("GET", &format!("/tsp/v1/tokens/{long}"), Value::Null)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

async fn delivery(backend: Backend) {
    let w = world(&backend).await;
    let tur = w.tokenize_tur(&VISA, 1, "APPROVED").await;
    assert_eq!(w.lifecycle("suspend", &[&tur]).await.status, StatusCode::OK);
    // The first post fails: it stays queued, due again 30 s later.
    w.notifier.fail_first.store(1, Ordering::SeqCst);
    assert_eq!(w.tsp.deliver_notifications().await, 0);
    let queued = w.store.tsp_notifications_of(&tur).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(!queued[0].delivered);
    assert_eq!(queued[0].attempts, 1);
    assert_eq!(queued[0].next_attempt_at_unix, NOW + 30);
    assert_eq!(w.tsp.deliver_notifications().await, 0, "not due yet");
    w.time.fetch_add(30, Ordering::SeqCst);
    assert_eq!(w.tsp.deliver_notifications().await, 1);
    assert_eq!(w.tsp.deliver_notifications().await, 0, "delivered once");
    let queued = w.store.tsp_notifications_of(&tur).await.unwrap();
    assert!(queued[0].delivered);
    let posted = w.notifier.posted.lock().unwrap().clone();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].0,
        format!("http://wallet-{}.test/cb/notify/token-updated", WALLET.0)
    );
    assert_eq!(posted[0].1, queued[0].jws);
    let (_, payload) =
        jws::verify(&posted[0].1, VerifyKey::Es256(&w.tsp.signing_public_key())).unwrap();
    let body: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(body["status"], "SUSPENDED");
    assert_eq!(body["reason"], "CUSTOMER_REQUEST");
    assert_eq!(body["occurred_at"], "2026-11-23T12:00:00Z");
    // Backoff doubles.
    assert_eq!(
        w.lifecycle("unsuspend", &[&tur]).await.status,
        StatusCode::OK
    );
    w.notifier.fail_first.store(2, Ordering::SeqCst);
    let now = w.time.load(Ordering::SeqCst);
    w.tsp.deliver_notifications().await;
    w.time.fetch_add(30, Ordering::SeqCst);
    w.tsp.deliver_notifications().await;
    let queued = w.store.tsp_notifications_of(&tur).await.unwrap();
    assert_eq!(queued[1].attempts, 2);
    assert_eq!(queued[1].next_attempt_at_unix, now + 30 + 60);
    w.time.fetch_add(60, Ordering::SeqCst);
    assert_eq!(w.tsp.deliver_notifications().await, 1);
}

async fn search(backend: Backend) {
    let w = world(&backend).await;
    let a = w.tokenize_tur(&VISA, 1, "APPROVED").await;
    let b = w
        .tokenize_tur(&MASTERCARD, 1, "REQUIRE_ADDITIONAL_AUTHENTICATION")
        .await;
    let c = w.tokenize_tur(&VISA, 2, "APPROVED").await;
    let search = |body: Value| w.send("POST", "/tsp/v1/tokens/search", body);
    let turs = |a: &Answer| -> Vec<String> {
        let mut t: Vec<String> = a.json["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tur"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let all = search(json!({ "token_requestor_id": WALLET.0 })).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(turs(&all), sorted(vec![a.clone(), b.clone(), c.clone()]));
    let one = search(json!({ "token_requestor_id": WALLET.0, "device_id": "device-1" })).await;
    assert_eq!(turs(&one), sorted(vec![a, b]));
    let two = search(json!({ "token_requestor_id": WALLET.0, "device_id": "device-2" })).await;
    assert_eq!(turs(&two), [c]);
    let none = search(json!({ "token_requestor_id": WALLET.0, "device_id": "device-9" })).await;
    assert_eq!(none.json["tokens"], json!([]));
}

// ---- the HTTP notifier ----------------------------------------------------------------------------

/// A one-shot HTTP/1.1 server: answers `status` to one request and hands back what it got.
async fn one_request_server(
    status: &'static str,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        serve_one(socket, status).await
    });
    (addr, task)
}

async fn serve_one<S>(mut socket: S, status: &str) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            if got.len() >= end + 4 + length {
                break;
            }
        }
        if n == 0 {
            break;
        }
    }
    socket
        .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
        .await
        .unwrap();
    socket.shutdown().await.unwrap();
    got
}

#[tokio::test]
async fn http_notifier_posts_the_jws() {
    let notifier = HttpNotifier::plain(Duration::from_secs(5));
    let (addr, server) = one_request_server("204 No Content").await;
    let url = format!("http://{addr}/cb/notify/token-updated");
    notifier.notify(&url, "aaa.bbb.ccc").await.unwrap();
    let got = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(
        got.starts_with("POST /cb/notify/token-updated HTTP/1.1\r\n"),
        "{got}"
    );
    assert!(got.contains("Content-Type: application/jose\r\n"));
    assert!(got.contains(&format!("Host: {addr}\r\n")));
    assert!(got.ends_with("\r\n\r\naaa.bbb.ccc"));

    let (addr, server) = one_request_server("500 Internal Server Error").await;
    let url = format!("http://{addr}/notify/token-updated");
    assert_eq!(
        notifier.notify(&url, "x.y.z").await,
        Err(NotifyError::Refused(500))
    );
    server.await.unwrap();
    // Nobody listening; not a URL; https without TLS configuration.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(matches!(
        notifier.notify(&format!("http://{closed}/"), "x").await,
        Err(NotifyError::Transport(_))
    ));
    assert_eq!(
        notifier.notify("mailto:wallet@example.com", "x").await,
        Err(NotifyError::BadUrl)
    );
    assert_eq!(
        notifier.notify("https://127.0.0.1:1/", "x").await,
        Err(NotifyError::TlsNotConfigured)
    );
}

#[tokio::test]
async fn http_notifier_speaks_tls() {
    use tokio_rustls::rustls::{self, pki_types};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key_der = pki_types::PrivateKeyDer::Pkcs8(pki_types::PrivatePkcs8KeyDer::from(
        cert.signing_key.serialize_der(),
    ));
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key_der)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(socket).await.unwrap();
        serve_one(tls, "200 OK").await
    });
    let notifier = HttpNotifier::with_tls(Arc::new(client_config), Duration::from_secs(5));
    notifier
        .notify(
            &format!("https://localhost:{port}/notify/token-updated"),
            "h.p.s",
        )
        .await
        .unwrap();
    let got = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(got.ends_with("\r\n\r\nh.p.s"));
}

// ---- host card emulation ------------------------------------------------------------------------

impl World {
    /// Tokenizes `card` for `device` as an HCE token; returns the answer.
    async fn tokenize_hce(&self, card: &TestCard, device: u8) -> Answer {
        let mut body = self.tokenize_body(card, card.cvv, device);
        body["token_type"] = json!("HCE");
        let a = self.send("POST", "/tsp/v1/tokenize", body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        a
    }

    /// `POST /tsp/v1/tokens/{tur}/keys` with `body`.
    async fn replenish(&self, tur: &str, body: Value) -> Answer {
        self.send("POST", &format!("/tsp/v1/tokens/{tur}/keys"), body)
            .await
    }

    /// Replenishes and opens the keys with device `device`'s key: the answer and the plaintext.
    async fn keys(&self, tur: &str, body: Value, device: u8) -> (Value, Value) {
        let a = self.replenish(tur, body).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.json["tur"], tur);
        let jwe = a.json["encrypted_keys"].as_str().unwrap();
        assert!(
            jwe::decrypt(jwe, &device_key(device + 1)).is_err(),
            "the device's only"
        );
        let (header, plain) = jwe::decrypt(jwe, &device_key(device)).unwrap();
        assert_eq!(header.alg(), "ECDH-ES+A256KW");
        assert_eq!(header.enc(), Some("A256GCM"));
        (a.json, serde_json::from_slice(&plain).unwrap())
    }
}

/// `(index, atc_from, atc_to)` of each key of a keys plaintext.
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

/// The HCE phone's card application running on limited-use key `n` of `keys` (the key
/// takes MK-AC's place), its counter just before the key's first ATC.
fn hce_card(payload: &Value, keys: &Value, n: usize) -> Card {
    let key = &keys["keys"][n];
    let luk = MasterKey::new(
        KeyAlgorithm::Tdes2,
        &hex_decode(key["key"].as_str().unwrap()),
    )
    .unwrap();
    let atc_from = u16::try_from(key["atc_from"].as_u64().unwrap()).unwrap();
    card_with(payload, luk, atc_from - 1)
}

/// The phone card of `payload` computing its cryptograms with `key`, counter at `atc`.
fn card_with(payload: &Value, key: MasterKey, atc: u16) -> Card {
    let pan = Pan::parse(payload["dpan"].as_str().unwrap()).unwrap();
    let expiry = mmyy(payload["expiry"].as_str().unwrap());
    let psn = u8::from_str_radix(payload["psn"].as_str().unwrap(), 16).unwrap();
    let profile = CardProfile::visa(pan, psn, expiry, Cvn::Visa18, key);
    let mut card = Card::new(
        profile,
        Counters {
            atc,
            ..Counters::default()
        },
    );
    card.set_cdcvm_verified(true);
    card
}

async fn hce_path(backend: Backend) {
    let w = world(&backend).await;
    let a = w.tokenize_hce(&VISA, 1).await;
    assert_eq!(a.json["decision"], "APPROVED");
    assert_eq!(a.json["token"]["token_type"], "HCE");
    let tur = a.json["token"]["tur"].as_str().unwrap().to_owned();
    assert_eq!(
        w.store
            .token_by_tur(&tur)
            .await
            .unwrap()
            .unwrap()
            .credential,
        "hce"
    );
    let view = w
        .send("GET", &format!("/tsp/v1/tokens/{tur}"), Value::Null)
        .await;
    assert_eq!(view.json["token_type"], "HCE");

    // The payload: the card without its key.
    let payload = w.payload(&tur, 1).await;
    assert_eq!(payload["credential"], "hce");
    assert!(payload.get("icc_master_key").is_none(), "{payload}");
    assert!(payload.get("key_algorithm").is_none(), "{payload}");
    assert_eq!(payload["scheme"], "visa");
    assert_eq!(payload["cvn"], 18);
    assert_eq!(payload["psn"], "01");
    let dpan = payload["dpan"].as_str().unwrap().to_owned();
    let token_mk = derive_icc_master_key(Cvn::Visa18, &tdes(&TOKEN_IMK), &dpan, 0x01).unwrap();
    let mk_hex: String = token_mk
        .expose_secret()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert!(!w.payload_text(&tur, 1).await.contains(&mk_hex));

    // The first batch: four keys of five ATCs from ATC 1, a week each, derived from MK-AC.
    let (answer, keys) = w.keys(&tur, json!({}), 1).await;
    assert_eq!(answer["count"], 4);
    assert_eq!(answer["expires_at"], NOW + 7 * 86_400);
    assert_eq!(keys["tur"], tur.as_str());
    assert_eq!(keys["key_algorithm"], "TDES2");
    assert_eq!(
        key_ranges(&keys),
        [(1, 1, 5), (2, 6, 10), (3, 11, 15), (4, 16, 20)]
    );
    for key in keys["keys"].as_array().unwrap() {
        let index = u32::try_from(key["index"].as_u64().unwrap()).unwrap();
        let expected = derive_limited_use_key(&token_mk, index).unwrap();
        assert_eq!(
            hex_decode(key["key"].as_str().unwrap()),
            expected.expose_secret(),
            "key {index}"
        );
        assert_eq!(key["expires_at"], NOW + 7 * 86_400);
    }
    assert!(!answer.to_string().contains(&dpan), "no DPAN in clear");

    // The phone pays with its limited-use keys, never with MK-AC.
    let mut card = hce_card(&payload, &keys, 0);
    assert_eq!(w.tap(&mut card, 1_250).await, approved());
    assert_eq!(w.tap(&mut card, 990).await, approved());
    let mut third = hce_card(&payload, &keys, 2);
    assert_eq!(w.tap(&mut third, 500).await, approved());
    let mut with_mk = card_with(&payload, token_mk, 5);
    assert_eq!(
        w.tap(&mut with_mk, 100).await,
        ResponseCode::DO_NOT_HONOUR,
        "MK-AC never verifies an HCE token"
    );

    // A second batch continues after the first and revokes it.
    let (answer, second) = w.keys(&tur, json!({ "count": 2 }), 1).await;
    assert_eq!(answer["count"], 2);
    assert_eq!(key_ranges(&second), [(5, 21, 25), (6, 26, 30)]);
    let stored = w.store.limited_use_keys(&tur).await.unwrap();
    assert_eq!(stored.len(), 6);
    assert!(stored[..4].iter().all(|k| k.revoked));
    assert!(stored[4..].iter().all(|k| !k.revoked));
    // A copy of the first batch pays no more; the new one does.
    assert_eq!(
        w.tap(&mut card, 100).await,
        ResponseCode::SECURITY_VIOLATION
    );
    let mut fresh = hce_card(&payload, &second, 0);
    assert_eq!(w.tap(&mut fresh, 100).await, approved());
    // An empty body is the default batch.
    let a = w
        .send_raw(
            "POST",
            &format!("/tsp/v1/tokens/{tur}/keys"),
            Vec::new(),
            Some(WALLET),
            NOW,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.json["count"], 4);

    // Deleting the token revokes its keys, and it gets no more.
    assert_eq!(w.lifecycle("delete", &[&tur]).await.status, StatusCode::OK);
    assert!(
        w.store
            .limited_use_keys(&tur)
            .await
            .unwrap()
            .iter()
            .all(|k| k.revoked)
    );
    let a = w.replenish(&tur, json!({})).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.json["type"], "urn:tapwallet:tsp:problem:token-not-active");
}

async fn keys_refused(backend: Backend) {
    let w = world(&backend).await;
    let problem = |a: &Answer, status: StatusCode, kind: &str| {
        assert_eq!(a.status, status, "{}", a.text);
        assert_eq!(a.content_type, "application/problem+json");
        assert_eq!(a.json["type"], format!("urn:tapwallet:tsp:problem:{kind}"));
    };
    // An SE token holds MK-AC: no limited-use keys.
    let se = w.tokenize_tur(&VISA, 1, "APPROVED").await;
    problem(
        &w.replenish(&se, json!({})).await,
        StatusCode::CONFLICT,
        "not-hce-token",
    );
    assert!(w.store.limited_use_keys(&se).await.unwrap().is_empty());

    let hce = w.tokenize_hce(&VISA, 2).await.json["token"]["tur"]
        .as_str()
        .unwrap()
        .to_owned();
    // Counts from 1 to 16.
    for bad in [
        json!(0),
        json!(17),
        json!("4"),
        json!(-1),
        json!(2.5),
        json!(true),
    ] {
        let a = w.replenish(&hce, json!({ "count": bad })).await;
        problem(&a, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed");
        assert_eq!(a.json["errors"][0]["field"], "count", "{bad}");
    }
    let (answer, keys) = w.keys(&hce, json!({ "count": 16 }), 2).await;
    assert_eq!(answer["count"], 16);
    assert_eq!(key_ranges(&keys)[15], (16, 76, 80));
    let (_, keys) = w.keys(&hce, json!({ "count": 1 }), 2).await;
    assert_eq!(key_ranges(&keys), [(17, 81, 85)]);
    // Not JSON, not an object.
    let a = w
        .send_raw(
            "POST",
            &format!("/tsp/v1/tokens/{hce}/keys"),
            b"{".to_vec(),
            Some(WALLET),
            NOW,
        )
        .await;
    problem(&a, StatusCode::BAD_REQUEST, "bad-request");
    problem(
        &w.replenish(&hce, json!([1])).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation-failed",
    );
    // Unknown, another requestor's, unsigned.
    problem(
        &w.replenish("DNITHE0000", json!({})).await,
        StatusCode::NOT_FOUND,
        "token-not-found",
    );
    let other = w
        .send_as(
            OTHER_WALLET,
            "POST",
            &format!("/tsp/v1/tokens/{hce}/keys"),
            json!({}),
        )
        .await;
    problem(&other, StatusCode::NOT_FOUND, "token-not-found");
    let unsigned = w
        .send_raw(
            "POST",
            &format!("/tsp/v1/tokens/{hce}/keys"),
            b"{}".to_vec(),
            None,
            NOW,
        )
        .await;
    problem(&unsigned, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(w.store.limited_use_keys(&hce).await.unwrap().len(), 17);

    // Suspended, and waiting for a step-up: not active.
    assert_eq!(w.lifecycle("suspend", &[&hce]).await.status, StatusCode::OK);
    let a = w.replenish(&hce, json!({})).await;
    problem(&a, StatusCode::CONFLICT, "token-not-active");
    assert!(a.json["detail"].as_str().unwrap().contains("SUSPENDED"));
    let pending = w.tokenize_hce(&MASTERCARD, 3).await;
    assert_eq!(
        pending.json["decision"],
        "REQUIRE_ADDITIONAL_AUTHENTICATION"
    );
    let pending = pending.json["token"]["tur"].as_str().unwrap().to_owned();
    problem(
        &w.replenish(&pending, json!({})).await,
        StatusCode::CONFLICT,
        "token-not-active",
    );

    // Tokenize names the credential by SECURE_ELEMENT or HCE only.
    for bad in [json!("hce"), json!("CLOUD"), json!(1)] {
        let mut body = w.tokenize_body(&VISA, VISA.cvv, 4);
        body["token_type"] = bad.clone();
        let a = w.send("POST", "/tsp/v1/tokenize", body).await;
        problem(&a, StatusCode::UNPROCESSABLE_ENTITY, "validation-failed");
        assert_eq!(a.json["errors"][0]["field"], "token_type", "{bad}");
    }
    let mut body = w.tokenize_body(&VISA, VISA.cvv, 4);
    body["token_type"] = json!("SECURE_ELEMENT");
    let a = w.send("POST", "/tsp/v1/tokenize", body).await;
    assert_eq!(a.json["token"]["token_type"], "SECURE_ELEMENT");
}

async fn keys_exhausted(backend: Backend) {
    let policy = LimitedUseKeyPolicy {
        atcs_per_key: 16_384,
        ttl_secs: 3_600,
        default_count: 3,
    };
    let w = world_with_keys(&backend, policy).await;
    assert_eq!(w.tsp.limited_use_key_policy(), policy);
    let tur = w.tokenize_hce(&VISA, 1).await.json["token"]["tur"]
        .as_str()
        .unwrap()
        .to_owned();
    let (answer, keys) = w.keys(&tur, json!({}), 1).await;
    assert_eq!(answer["expires_at"], NOW + 3_600);
    assert_eq!(
        key_ranges(&keys),
        [(1, 1, 16_384), (2, 16_385, 32_768), (3, 32_769, 49_152)]
    );
    // The last batch stops at ATC 65535: one key, shorter than the others.
    let (answer, keys) = w.keys(&tur, json!({ "count": 2 }), 1).await;
    assert_eq!(answer["count"], 1);
    assert_eq!(key_ranges(&keys), [(4, 49_153, 65_535)]);
    // Then the token has no ATC left: it must be provisioned again.
    let a = w.replenish(&tur, json!({})).await;
    assert_eq!(a.status, StatusCode::CONFLICT, "{}", a.text);
    assert_eq!(
        a.json["type"],
        "urn:tapwallet:tsp:problem:atc-space-exhausted"
    );
    assert!(a.json["detail"].as_str().unwrap().contains("provision"));
    // The last batch stands.
    let stored = w.store.limited_use_keys(&tur).await.unwrap();
    assert_eq!(stored.len(), 4);
    assert!(!stored[3].revoked);
}
