//! Acquirer, network and issuer over TCP on a fresh SQLite database (and on PostgreSQL when
//! `TAPWALLET_TEST_POSTGRES` names one), driven by a terminal kernel tapping in-process cards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cards::{Amount, Currency, Date, Pan};
use emv_card::{Card, CardProfile, Counters, Scheme};
use emv_crypto::{Cvn, derive_icc_master_key};
use emv_kernel::{ArpcCheck, Outcome, TerminalConfig, Transaction, TransactionType};
use harness::demo::{self, DEMO_CARDS};
use harness::terminal::{Ids, authorization_request, issuer_response};
use harness::{SeededRng, tap};
use iso8583::{Message, Mti, ResponseCode};
use iso8583_net::{Client, ClientConfig, IsoCodec};
use network::vault::VaultKeys;
use store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The test clock: 2026-11-23 12:00 UTC.
const NOW: i64 = 1_795_435_200;

fn clock() -> Arc<dyn Fn() -> i64 + Send + Sync> {
    Arc::new(|| NOW)
}

struct World {
    acquirer: SocketAddr,
    network: SocketAddr,
    store: Store,
    stop: watch::Sender<bool>,
    _db: TempDb,
}

/// Where a world keeps its state: a fresh SQLite file, or a fresh PostgreSQL schema.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite,
    Postgres(String),
}

/// The PostgreSQL server the tests also run on, when named (CI names the local one).
fn postgres_url() -> Option<String> {
    std::env::var("TAPWALLET_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Runs a test body on SQLite, then on PostgreSQL when one is named.
macro_rules! on_every_backend {
    ($($name:ident => $body:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $body(Backend::Sqlite).await;
            if let Some(url) = postgres_url() {
                $body(Backend::Postgres(url)).await;
            }
        }
    )*};
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

fn vault() -> VaultKeys {
    let enc = demo::key32(demo::VAULT_KEY_HEX, "vault").unwrap();
    let hash = demo::key32(demo::VAULT_HASH_KEY_HEX, "hash").unwrap();
    VaultKeys::new(enc.expose(), hash.expose()).unwrap()
}

/// Starts the three hosts on port 0. `issuer_answers = false` puts a silent issuer behind the
/// network (accepts connections, never answers) to exercise stand-in.
async fn world(backend: &Backend, issuer_answers: bool) -> World {
    let n = WORLDS.fetch_add(1, Ordering::SeqCst);
    let (db, url) = match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("tw-hosts-{}-{n}.db", std::process::id()));
            let url = format!("sqlite://{}", path.display());
            (TempDb::File(path), url)
        }
        Backend::Postgres(base) => {
            let name = format!("tw_hosts_{}_{n}", std::process::id());
            let schema = store::PgSchema::create(base, &name).await.unwrap();
            let url = schema.url();
            (TempDb::Schema(Some(schema)), url)
        }
    };
    let store = Store::open(&url).await.unwrap();
    let issuer = Arc::new(issuer::Issuer::new(
        store.clone(),
        issuer::IssuerConfig {
            keys: issuer::IssuerKeys::single(demo::tdes_key(demo::ISSUER_IMK_HEX, "imk").unwrap()),
            pan_hash_key: demo::key32(demo::ISSUER_HASH_KEY_HEX, "hash").unwrap(),
            velocity: domain::VelocityLimits::default(),
        },
        clock(),
    ));
    assert!(demo::seed(&store, &issuer, &vault()).await.unwrap());
    let (stop, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let issuer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer_addr = issuer_listener.local_addr().unwrap();
    if issuer_answers {
        tokio::spawn(issuer::run(
            issuer_listener,
            Arc::clone(&issuer),
            stopped(stop_rx.clone()),
        ));
    } else {
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = issuer_listener.accept().await {
                held.push(socket);
            }
        });
    }
    let to_issuer = Client::connect(issuer_addr, IsoCodec, ClientConfig::default())
        .await
        .unwrap();
    let network = Arc::new(network::Network::new(
        store.clone(),
        network::NetworkConfig {
            vault: vault(),
            token_imk: demo::tdes_key(demo::TOKEN_IMK_HEX, "token").unwrap(),
            bins: demo::bin_table(),
            // Short only where the issuer is silent on purpose: elsewhere a slow machine must
            // not turn a late issuer answer into a stand-in.
            issuer_timeout: if issuer_answers {
                Duration::from_secs(10)
            } else {
                Duration::from_millis(300)
            },
            stand_in: domain::StandInRules::default(),
        },
        to_issuer,
        clock(),
    ));
    let network_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let network_addr = network_listener.local_addr().unwrap();
    tokio::spawn(network::run(
        network_listener,
        network,
        Duration::from_secs(3600),
        stopped(stop_rx.clone()),
    ));
    let to_network = Client::connect(network_addr, IsoCodec, ClientConfig::default())
        .await
        .unwrap();
    // Reversals are delivered by the tests themselves (`deliver_reversals`), not in the
    // background, so each test sees the queue it built.
    let acquirer = Arc::new(
        acquirer::Acquirer::new(store.clone(), to_network, Duration::from_secs(5), clock())
            .with_reversal_interval(Duration::from_secs(3600)),
    );
    let acquirer_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let acquirer_addr = acquirer_listener.local_addr().unwrap();
    tokio::spawn(acquirer::run(acquirer_listener, acquirer, stopped(stop_rx)));
    World {
        acquirer: acquirer_addr,
        network: network_addr,
        store,
        stop,
        _db: db,
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A plastic card (funding PAN) keyed by the issuer's own master key: the issuer validates its
/// cryptogram and makes its ARPC.
fn plastic(fpan: &str, imk_hex: &str) -> Card {
    let pan = Pan::parse(fpan).unwrap();
    let imk = demo::tdes_key(imk_hex, "imk").unwrap();
    let key = derive_icc_master_key(Cvn::Visa18, &imk, pan.expose_digits(), 0x01).unwrap();
    let profile = CardProfile::visa(
        pan,
        0x01,
        cards::Expiry::new(2030, 12).unwrap(),
        Cvn::Visa18,
        key,
    );
    let mut card = Card::new(profile, Counters::default());
    card.set_cdcvm_verified(true);
    card
}

/// The phone holding a demo token.
fn phone(dpan: &str) -> Card {
    let pan = Pan::parse(dpan).unwrap();
    let scheme = if dpan.starts_with('5') {
        Scheme::Mastercard
    } else {
        Scheme::Visa
    };
    let cvn = if scheme == Scheme::Visa {
        Cvn::Visa18
    } else {
        Cvn::Mastercard16
    };
    let token_imk = demo::tdes_key(demo::TOKEN_IMK_HEX, "token").unwrap();
    let key = derive_icc_master_key(cvn, &token_imk, pan.expose_digits(), 0x01).unwrap();
    let expiry = cards::Expiry::new(2030, 12).unwrap();
    let profile = match scheme {
        Scheme::Visa => CardProfile::visa(pan, 0x01, expiry, cvn, key),
        Scheme::Mastercard => CardProfile::mastercard(pan, 0x01, expiry, cvn, key),
    };
    let mut card = Card::new(profile, Counters::default());
    card.set_cdcvm_verified(true);
    card
}

static STAN: AtomicU32 = AtomicU32::new(1);

fn ids() -> Ids {
    let stan = STAN.fetch_add(1, Ordering::SeqCst);
    Ids {
        stan,
        rrn: format!("{:012}", 100_000 + stan),
        terminal: demo::TERMINAL_ID.to_owned(),
        transmission: "1123120000".to_owned(),
    }
}

fn eur(minor: u64) -> Amount {
    Amount::from_minor(minor, Currency::lookup("EUR").unwrap()).unwrap()
}

/// Taps `card` for `amount` and returns the 0100 and the kernel waiting for completion.
fn tap_request(card: &mut Card, amount: Amount, seed: u64) -> (Message, emv_kernel::Kernel) {
    let txn = Transaction {
        amount,
        amount_other_minor: 0,
        date: Date::new(2026, 11, 23).unwrap(),
        kind: TransactionType::PURCHASE,
    };
    let (kernel, outcome, _) = tap(card, TerminalConfig::default(), txn, &mut SeededRng(seed));
    let Outcome::OnlineRequest(request) = outcome else {
        panic!("{outcome:?}")
    };
    (authorization_request(&request, amount, &ids()), kernel)
}

async fn send(world: &World, msg: Message) -> Message {
    let client = Client::connect(world.acquirer, IsoCodec, ClientConfig::default())
        .await
        .unwrap();
    client
        .request_with_timeout(msg, Duration::from_secs(10))
        .await
        .unwrap()
}

fn code(answer: &Message) -> ResponseCode {
    answer.response_code().unwrap()
}

async fn approved_and_the_card_accepts_the_arpc_on(backend: Backend) {
    let w = world(&backend, true).await;
    for dpan in [DEMO_CARDS[0].dpan, DEMO_CARDS[1].dpan] {
        let mut card = phone(dpan);
        let (msg, mut kernel) = tap_request(&mut card, eur(1_234), 1);
        let answer = send(&w, msg).await;
        assert_eq!(code(&answer), ResponseCode::APPROVED, "{dpan}");
        assert_eq!(answer.auth_code().map(str::len), Some(6));
        // The acquirer sees the token, never the funding PAN.
        assert_eq!(answer.pan().unwrap().expose(), dpan);
        let step = kernel.complete(issuer_response(&answer));
        let mut transceive = |c: &[u8]| -> Result<Vec<u8>, std::convert::Infallible> {
            Ok(card.process(c).response.encode())
        };
        let Ok(Outcome::Completed(done)) = kernel.drive(step, &mut transceive, &mut Vec::new())
        else {
            panic!()
        };
        assert!(done.approved);
        assert_eq!(
            done.arpc,
            ArpcCheck::Accepted,
            "{dpan}: the network's ARPC on behalf"
        );
    }
    // The approval is held on the funding account (card 0: credit, account 1).
    let account = w.store.account(1).await.unwrap().unwrap();
    assert_eq!(account.holds_minor, 1_234);
}

async fn account_cards_are_checked_by_the_issuer_on(backend: Backend) {
    let w = world(&backend, true).await;
    // The funding card itself (account BIN range): the network routes it untouched.
    let mut card = plastic(DEMO_CARDS[0].fpan, demo::ISSUER_IMK_HEX);
    let (msg, mut kernel) = tap_request(&mut card, eur(900), 14);
    let answer = send(&w, msg).await;
    assert_eq!(code(&answer), ResponseCode::APPROVED);
    let step = kernel.complete(issuer_response(&answer));
    let mut transceive = |c: &[u8]| -> Result<Vec<u8>, std::convert::Infallible> {
        Ok(card.process(c).response.encode())
    };
    let Ok(Outcome::Completed(done)) = kernel.drive(step, &mut transceive, &mut Vec::new()) else {
        panic!()
    };
    assert_eq!(done.arpc, ArpcCheck::Accepted, "the issuer's own ARPC");
    // A card keyed by another issuer key: the issuer's ARQC check fails (05).
    let mut forged = plastic(DEMO_CARDS[0].fpan, demo::TOKEN_IMK_HEX);
    let (msg, _) = tap_request(&mut forged, eur(900), 15);
    assert_eq!(code(&send(&w, msg).await), ResponseCode::DO_NOT_HONOUR);
    assert_eq!(w.store.account(1).await.unwrap().unwrap().holds_minor, 900);
}

async fn declines_carry_their_codes_on(backend: Backend) {
    let w = world(&backend, true).await;
    // Insufficient funds (10.00 debit).
    let (msg, _) = tap_request(&mut phone(DEMO_CARDS[2].dpan), eur(2_000), 2);
    assert_eq!(code(&send(&w, msg).await), ResponseCode::INSUFFICIENT_FUNDS);
    // Suspended token.
    let (msg, _) = tap_request(&mut phone(DEMO_CARDS[3].dpan), eur(500), 3);
    assert_eq!(code(&send(&w, msg).await), ResponseCode::RESTRICTED_CARD);
    // Token restricted to e-commerce, used at a terminal.
    let (msg, _) = tap_request(&mut phone(DEMO_CARDS[4].dpan), eur(500), 4);
    assert_eq!(
        code(&send(&w, msg).await),
        ResponseCode::NOT_PERMITTED_TO_CARDHOLDER
    );
    // Wrong cryptogram: one bit of 9F26 flipped.
    let (mut msg, _) = tap_request(&mut phone(DEMO_CARDS[0].dpan), eur(500), 5);
    let mut icc = msg.icc_tlv().unwrap().unwrap();
    let mut ac = icc.get(emv::tags::APPLICATION_CRYPTOGRAM).unwrap().to_vec();
    ac[0] ^= 0x01;
    icc.put(emv::tags::APPLICATION_CRYPTOGRAM, &ac);
    msg.set_icc_tlv(&icc);
    assert_eq!(code(&send(&w, msg).await), ResponseCode::DO_NOT_HONOUR);
    // Altered amount: DE 4 no longer matches what the cryptogram covers.
    let (mut msg, _) = tap_request(&mut phone(DEMO_CARDS[1].dpan), eur(500), 6);
    msg.set_amount_minor(50);
    assert_eq!(code(&send(&w, msg).await), ResponseCode::DO_NOT_HONOUR);
    // Unknown terminal.
    let (mut msg, _) = tap_request(&mut phone(DEMO_CARDS[0].dpan), eur(500), 7);
    msg.set_terminal_id("NOSUCH01");
    assert_eq!(
        code(&send(&w, msg).await),
        ResponseCode::NOT_PERMITTED_TO_TERMINAL
    );
    // Nothing was held by any of these.
    for id in 1..=5 {
        assert_eq!(
            w.store.account(id).await.unwrap().unwrap().holds_minor,
            0,
            "account {id}"
        );
    }
}

async fn expired_token_is_declined_on(backend: Backend) {
    let w = world(&backend, true).await;
    // Re-seal the first demo token with a past expiry under another number in the token range.
    let v = vault();
    let dpan = Pan::parse("4761739001010051").unwrap();
    let fpan = Pan::parse(DEMO_CARDS[0].fpan).unwrap();
    let hash = v.pan_hash(&dpan);
    w.store
        .insert_token(&store::TokenRow {
            dpan_hash: hash,
            dpan_last4: "0051".into(),
            fpan_envelope: v
                .seal(&fpan, cards::Expiry::new(2030, 12).unwrap(), &hash)
                .unwrap(),
            token_expiry_yymm: "2510".into(),
            status: "active".into(),
            token_requestor_id: "50110030273".into(),
            channels: 7,
            device_id: None,
            psn: 1,
            tur: "DWSPMC-expired".into(),
            par: "V001-expired".into(),
            atc_window: domain::AtcWindow::new().to_bytes().to_vec(),
            standin_count: 0,
            created_at_unix: 0,
            credential: "se".into(),
        })
        .await
        .unwrap();
    let (mut msg, _) = tap_request(&mut phone("4761739001010051"), eur(500), 8);
    msg.set_expiry(secret::Secret::new("2510".to_owned()));
    assert_eq!(code(&send(&w, msg).await), ResponseCode::EXPIRED_CARD);
}

async fn replays_are_declined_and_duplicates_get_the_original_answer_on(backend: Backend) {
    let w = world(&backend, true).await;
    let mut card = phone(DEMO_CARDS[0].dpan);
    let (msg, _) = tap_request(&mut card, eur(700), 9);
    let first = send(&w, msg.clone()).await;
    assert_eq!(code(&first), ResponseCode::APPROVED);
    // The acquirer retransmits the same request: the same answer, nothing posted twice.
    let again = send(&w, msg.clone()).await;
    assert_eq!(again, first);
    assert_eq!(w.store.account(1).await.unwrap().unwrap().holds_minor, 700);
    // A captured cryptogram replayed under new identifiers: declined as a replay.
    let mut replay = msg.clone();
    let fresh = ids();
    replay.set_stan(fresh.stan).set_rrn(&fresh.rrn);
    assert_eq!(code(&send(&w, replay).await), ResponseCode::SUSPECTED_FRAUD);
    assert_eq!(w.store.account(1).await.unwrap().unwrap().holds_minor, 700);
}

async fn reversal_releases_the_hold_once_on(backend: Backend) {
    let w = world(&backend, true).await;
    let (msg, _) = tap_request(&mut phone(DEMO_CARDS[1].dpan), eur(2_500), 10);
    assert_eq!(code(&send(&w, msg.clone()).await), ResponseCode::APPROVED);
    assert_eq!(
        w.store.account(2).await.unwrap().unwrap().holds_minor,
        2_500
    );
    let mut reversal = msg.clone();
    reversal.mti = Mti::REVERSAL_REQUEST;
    for _ in 0..2 {
        let answer = send(&w, reversal.clone()).await;
        assert_eq!(answer.mti, Mti::REVERSAL_RESPONSE);
        assert_eq!(code(&answer), ResponseCode::APPROVED);
        assert_eq!(w.store.account(2).await.unwrap().unwrap().holds_minor, 0);
    }
}

async fn silent_issuer_means_stand_in_within_limits_and_an_advice_on(backend: Backend) {
    let w = world(&backend, false).await;
    let (msg, _) = tap_request(&mut phone(DEMO_CARDS[0].dpan), eur(1_500), 11);
    let answer = send(&w, msg).await;
    assert_eq!(code(&answer), ResponseCode::APPROVED, "stand-in approval");
    assert!(answer.auth_code().is_some());
    let pending = w
        .store
        .pending_advices(store::Queue::NetworkAdvices, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "an advice for the issuer");
    let advice = Message::unpack(&pending[0].payload, &iso8583::spec::ASCII87).unwrap();
    assert_eq!(advice.mti, Mti::AUTHORIZATION_ADVICE);
    // The queued advice keeps the token, never the funding PAN.
    assert_eq!(advice.pan().unwrap().expose(), DEMO_CARDS[0].dpan);
    // The issuer is back: the advice goes to it detokenized, it posts the hold, once.
    let issuer = Arc::new(issuer::Issuer::new(
        w.store.clone(),
        issuer::IssuerConfig {
            keys: issuer::IssuerKeys::single(demo::tdes_key(demo::ISSUER_IMK_HEX, "imk").unwrap()),
            pan_hash_key: demo::key32(demo::ISSUER_HASH_KEY_HEX, "hash").unwrap(),
            velocity: domain::VelocityLimits::default(),
        },
        clock(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stop_rx) = watch::channel(false);
    tokio::spawn(issuer::run(listener, issuer, async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    }));
    let courier = network::Network::new(
        w.store.clone(),
        network::NetworkConfig {
            vault: vault(),
            token_imk: demo::tdes_key(demo::TOKEN_IMK_HEX, "token").unwrap(),
            bins: demo::bin_table(),
            issuer_timeout: Duration::from_secs(5),
            stand_in: domain::StandInRules::default(),
        },
        Client::connect(addr, IsoCodec, ClientConfig::default())
            .await
            .unwrap(),
        clock(),
    );
    assert_eq!(courier.deliver_advices().await, 1);
    assert_eq!(courier.deliver_advices().await, 0, "delivered once");
    assert!(
        w.store
            .pending_advices(store::Queue::NetworkAdvices, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        w.store.account(1).await.unwrap().unwrap().holds_minor,
        1_500
    );
    // Above the stand-in limit (50.00): 91.
    let (msg, _) = tap_request(&mut phone(DEMO_CARDS[1].dpan), eur(6_000), 12);
    assert_eq!(
        code(&send(&w, msg).await),
        ResponseCode::ISSUER_OR_SWITCH_INOPERATIVE
    );
}

/// An acquirer in front of a network that accepts connections and never answers.
async fn acquirer_facing_a_silent_network(w: &World) -> acquirer::Acquirer {
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    acquirer::Acquirer::new(
        w.store.clone(),
        Client::connect(silent_addr, IsoCodec, ClientConfig::default())
            .await
            .unwrap(),
        Duration::from_millis(200),
        clock(),
    )
}

/// The same acquirer's courier, now reaching the real network.
async fn courier_to_the_network(w: &World) -> acquirer::Acquirer {
    acquirer::Acquirer::new(
        w.store.clone(),
        Client::connect(w.network, IsoCodec, ClientConfig::default())
            .await
            .unwrap(),
        Duration::from_secs(5),
        clock(),
    )
}

async fn to_network(w: &World, msg: Message) -> Message {
    let client = Client::connect(w.network, IsoCodec, ClientConfig::default())
        .await
        .unwrap();
    client
        .request_with_timeout(msg, Duration::from_secs(10))
        .await
        .unwrap()
}

async fn a_timed_out_authorization_is_reversed_whichever_arrives_first_on(backend: Backend) {
    let w = world(&backend, true).await;
    let holds = |w: &World| {
        let store = w.store.clone();
        async move { store.account(1).await.unwrap().unwrap().holds_minor }
    };
    let queued = |w: &World| {
        let store = w.store.clone();
        async move {
            store
                .pending_advices(store::Queue::AcquirerReversals, 10)
                .await
                .unwrap()
                .len()
        }
    };
    let slow = acquirer_facing_a_silent_network(&w).await;
    let courier = courier_to_the_network(&w).await;
    let mut card = phone(DEMO_CARDS[0].dpan);

    // 1. The original got through and was approved, but its answer never reached the
    //    acquirer: the terminal hears 91, the reversal releases the hold.
    let (msg, _) = tap_request(&mut card, eur(1_800), 21);
    let answer = slow.handle(msg.clone()).await.unwrap();
    assert_eq!(code(&answer), ResponseCode::ISSUER_OR_SWITCH_INOPERATIVE);
    assert_eq!(queued(&w).await, 1, "reversal queued with the 91");
    let mut routed = msg.clone();
    routed.set_merchant_id(demo::MERCHANT_ID);
    assert_eq!(code(&to_network(&w, routed).await), ResponseCode::APPROVED);
    assert_eq!(holds(&w).await, 1_800);
    assert_eq!(courier.deliver_reversals().await, 1);
    assert_eq!(holds(&w).await, 0, "the reversal released the hold");
    assert_eq!(queued(&w).await, 0);
    assert_eq!(courier.deliver_reversals().await, 0, "delivered once");

    // 2. The reversal overtakes its original: the original, arriving late, is refused (12)
    //    and holds nothing.
    let (msg, _) = tap_request(&mut card, eur(900), 22);
    let answer = slow.handle(msg.clone()).await.unwrap();
    assert_eq!(code(&answer), ResponseCode::ISSUER_OR_SWITCH_INOPERATIVE);
    assert_eq!(courier.deliver_reversals().await, 1);
    let mut routed = msg.clone();
    routed.set_merchant_id(demo::MERCHANT_ID);
    let late = to_network(&w, routed).await;
    assert_eq!(
        code(&late),
        ResponseCode(*b"12"),
        "refused after its reversal"
    );
    assert_eq!(holds(&w).await, 0);

    // 3. While the network stays silent the reversal stays queued, its attempts counted.
    let (msg, _) = tap_request(&mut card, eur(500), 23);
    slow.handle(msg).await.unwrap();
    assert_eq!(slow.deliver_reversals().await, 0);
    let pending = w
        .store
        .pending_advices(store::Queue::AcquirerReversals, 10)
        .await
        .unwrap();
    assert_eq!((pending.len(), pending[0].attempts), (1, 1));
    let reversal = Message::unpack(&pending[0].payload, &iso8583::spec::ASCII87).unwrap();
    assert_eq!(reversal.mti, Mti::REVERSAL_REQUEST);
    assert_eq!(reversal.response_code(), Some(ResponseCode(*b"68")));
    assert!(
        reversal
            .text(iso8583::fields::ORIGINAL_DATA_ELEMENTS)
            .is_some_and(|d| d.starts_with("0100"))
    );
    assert!(
        reversal.icc_tlv().unwrap().is_none(),
        "no chip data repeated"
    );
    assert_eq!(courier.deliver_reversals().await, 1);
}

async fn malformed_frames_get_a_format_error_and_the_link_stays_up_on(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let w = world(&backend, true).await;
    let mut raw = tokio::net::TcpStream::connect(w.acquirer).await.unwrap();
    raw.write_all(b"\x00\x080100zzzz").await.unwrap();
    let mut len = [0u8; 2];
    raw.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    raw.read_exact(&mut body).await.unwrap();
    let answer = Message::unpack(&body, &iso8583::spec::ASCII87).unwrap();
    assert_eq!(code(&answer), ResponseCode::FORMAT_ERROR);
    // Missing mandatory fields: 30 too.
    let mut bare = Message::new(Mti::AUTHORIZATION_REQUEST);
    let i = ids();
    bare.set_stan(i.stan)
        .set_rrn(&i.rrn)
        .set_terminal_id(&i.terminal);
    assert_eq!(code(&send(&w, bare).await), ResponseCode::FORMAT_ERROR);
    // Others are still served.
    let (msg, _) = tap_request(&mut phone(DEMO_CARDS[0].dpan), eur(100), 13);
    assert_eq!(code(&send(&w, msg).await), ResponseCode::APPROVED);
}

on_every_backend! {
    account_cards_are_checked_by_the_issuer => account_cards_are_checked_by_the_issuer_on;
    approved_and_the_card_accepts_the_arpc => approved_and_the_card_accepts_the_arpc_on;
    declines_carry_their_codes => declines_carry_their_codes_on;
    expired_token_is_declined => expired_token_is_declined_on;
    replays_are_declined_and_duplicates_get_the_original_answer => replays_are_declined_and_duplicates_get_the_original_answer_on;
    reversal_releases_the_hold_once => reversal_releases_the_hold_once_on;
    a_timed_out_authorization_is_reversed_whichever_arrives_first => a_timed_out_authorization_is_reversed_whichever_arrives_first_on;
    silent_issuer_means_stand_in_within_limits_and_an_advice => silent_issuer_means_stand_in_within_limits_and_an_advice_on;
    malformed_frames_get_a_format_error_and_the_link_stays_up => malformed_frames_get_a_format_error_and_the_link_stays_up_on;
}
