//! The network host end to end: a real issuer host behind it over TCP, requests as the
//! acquirer forwards them, and restarts (a new `Network` process on the same database, its
//! memory empty). Each test runs on a fresh SQLite file, and again on a fresh PostgreSQL schema
//! when `TAPWALLET_TEST_POSTGRES` names a server (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`).
// Test helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use cards::Pan;
use domain::{AtcWindow, BinKind, BinRange, BinTable, StandInRules, VelocityLimits};
use emv::tags;
use emv_crypto::{
    Cvn, KeyAlgorithm, MasterKey, derive_icc_master_key, derive_limited_use_key, generate_ac,
    verify_issuer_authentication_data,
};
use iso8583::{Message, Mti, ResponseCode, fields};
use iso8583_net::{Client, ClientConfig, IsoCodec, ServeReport};
use network::vault::VaultKeys;
use network::{Network, NetworkConfig, TransactionEvent};
use secret::Secret;
use store::{IssuerCardRow, LimitedUseKeyRow, NewAccount, Store, TokenRow, TspTokenRow};
use tlv::TagMap;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

const POSTGRES_ENV: &str = "TAPWALLET_TEST_POSTGRES";

/// The test clock starts at 2026-11-23 12:00 UTC.
const NOW: i64 = 1_795_435_200;

/// Demo keys (harness::demo's documented values, written out: the network cannot depend on
/// the harness).
const TOKEN_IMK: [u8; 16] = [
    0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x76, 0x54, 0x32, 0x10, 0xFE, 0xDC, 0xBA, 0x98,
];
const ISSUER_IMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];
const VAULT_KEY: [u8; 32] = [0x11; 32];
const VAULT_HASH_KEY: [u8; 32] = [0x22; 32];
const ISSUER_HASH_KEY: [u8; 32] = [0x33; 32];

/// The phone's token and the funding card behind it (published test numbers).
const DPAN: &str = "4761739001010010";
const FPAN: &str = "4111111111111111";
const TUR: &str = "DWSPMC000000000000000000000000001";
/// A second token of the same card, held by host card emulation (limited-use keys).
const HCE_DPAN: &str = "4761739001010028";
const HCE_TUR: &str = "DWSPMC000000000000000000000000002";
/// Limited-use keys live a week.
const LUK_TTL_SECS: i64 = 7 * 24 * 3600;
const TERMINAL: &str = "TWPOS001";
const MERCHANT: &str = "TW0000000000001";

// ---- backends ---------------------------------------------------------------------------------

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

/// Runs `case` with a database URL on each backend: a fresh SQLite file always, a fresh
/// PostgreSQL schema when one is named. Cleans up even when the case panics (it runs in its own
/// task), then re-raises the panic with the backend named.
async fn on_each_backend<F, Fut>(name: &str, case: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let n = DATABASES.fetch_add(1, Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!(
        "tapwallet-network-{name}-{}-{n}-{:016x}.db",
        std::process::id(),
        random_u64()
    ));
    let result = tokio::spawn(case(format!("sqlite://{}", path.display()))).await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    if let Err(e) = result {
        eprintln!("{name}: failed on SQLite");
        std::panic::resume_unwind(e.into_panic());
    }
    if let Some(base) = std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty()) {
        let schema_name = format!("tw_network_{}_{n}_{:08x}", std::process::id(), random_u64());
        let schema = store::PgSchema::create(&base, &schema_name).await.unwrap();
        let result = tokio::spawn(case(schema.url())).await;
        schema.drop_schema().await.unwrap();
        if let Err(e) = result {
            eprintln!("{name}: failed on PostgreSQL");
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

// ---- the world: an issuer host, a token, network processes -----------------------------------

fn vault() -> VaultKeys {
    VaultKeys::new(&VAULT_KEY, &VAULT_HASH_KEY).unwrap()
}

fn token_imk() -> MasterKey {
    MasterKey::new(KeyAlgorithm::Tdes2, &TOKEN_IMK).unwrap()
}

fn bins() -> BinTable {
    let range = |low, high, kind| BinRange {
        low,
        high,
        kind,
        owner: "test".to_owned(),
    };
    BinTable::new(vec![
        range(47_617_390, 47_617_399, BinKind::Token),
        range(40_000_000, 49_999_999, BinKind::Account),
    ])
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// An issuer host serving the funding card, and what network processes share: the database,
/// the clock and the transaction events' destination.
struct World {
    url: String,
    /// The issuer's store (also read by the assertions).
    store: Store,
    account_id: i64,
    issuer: SocketAddr,
    clock: Arc<AtomicI64>,
    events: mpsc::UnboundedSender<TransactionEvent>,
    events_seen: mpsc::UnboundedReceiver<TransactionEvent>,
    _issuer_stop: watch::Sender<bool>,
}

async fn world(url: &str) -> World {
    let store = Store::open(url).await.unwrap();
    let issuer = issuer::Issuer::new(
        store.clone(),
        issuer::IssuerConfig {
            keys: issuer::IssuerKeys::single(
                MasterKey::new(KeyAlgorithm::Tdes2, &ISSUER_IMK).unwrap(),
            ),
            pan_hash_key: Secret::new(ISSUER_HASH_KEY),
            velocity: VelocityLimits::default(),
        },
        Arc::new(|| NOW),
    );
    let account_id = store
        .create_account(&NewAccount {
            kind: "credit".into(),
            limit_minor: 500_000,
            balance_minor: 0,
            holds_minor: 0,
            currency_numeric: 978,
            open: true,
        })
        .await
        .unwrap();
    let fpan = Pan::parse(FPAN).unwrap();
    store
        .create_card(&IssuerCardRow {
            pan_hash: issuer.pan_hash(&fpan),
            last4: fpan.last4().to_owned(),
            expiry_yymm: "3012".into(),
            psn: 0x01,
            status: "active".into(),
            account_id,
        })
        .await
        .unwrap();
    let v = vault();
    let dpan = Pan::parse(DPAN).unwrap();
    let hash = v.pan_hash(&dpan);
    store
        .insert_token(&TokenRow {
            dpan_hash: hash,
            dpan_last4: dpan.last4().to_owned(),
            fpan_envelope: v
                .seal(&fpan, cards::Expiry::new(2030, 12).unwrap(), &hash)
                .unwrap(),
            token_expiry_yymm: "3012".into(),
            status: "active".into(),
            token_requestor_id: "50110030273".into(),
            channels: 7,
            device_id: None,
            psn: 0x01,
            tur: TUR.into(),
            par: "V0010013021234567890123456001".into(),
            atc_window: AtcWindow::new().to_bytes().to_vec(),
            standin_count: 0,
            created_at_unix: 0,
            credential: "se".into(),
        })
        .await
        .unwrap();
    // The HCE token: a vault row and the token service's row (limited-use keys are issued
    // through it).
    let hce_dpan = Pan::parse(HCE_DPAN).unwrap();
    let hce_hash = v.pan_hash(&hce_dpan);
    store
        .tsp_insert_token(
            &TokenRow {
                dpan_hash: hce_hash,
                dpan_last4: hce_dpan.last4().to_owned(),
                fpan_envelope: v
                    .seal(&fpan, cards::Expiry::new(2030, 12).unwrap(), &hce_hash)
                    .unwrap(),
                token_expiry_yymm: "3012".into(),
                status: "active".into(),
                token_requestor_id: "50110030273".into(),
                channels: 7,
                device_id: None,
                psn: 0x01,
                tur: HCE_TUR.into(),
                par: "V0010013021234567890123456001".into(),
                atc_window: AtcWindow::new().to_bytes().to_vec(),
                standin_count: 0,
                created_at_unix: 0,
                credential: "hce".into(),
            },
            &TspTokenRow {
                tur: HCE_TUR.into(),
                state: "active".into(),
                dpan_envelope: vec![0xDD; 40],
                se_public_key: "{}".into(),
                fpan_last4: fpan.last4().to_owned(),
                product_name: "Tapwallet Visa Credit".into(),
                updated_at_unix: 0,
            },
        )
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer_addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(issuer::run(listener, Arc::new(issuer), stopped(stop_rx)));
    let (events, events_seen) = mpsc::unbounded_channel();
    World {
        url: url.to_owned(),
        store,
        account_id,
        issuer: issuer_addr,
        clock: Arc::new(AtomicI64::new(NOW)),
        events,
        events_seen,
        _issuer_stop: stop,
    }
}

/// One network process: its own store on the world's database, its own (empty) memory.
struct NetworkProcess {
    store: Store,
    to_network: Client<IsoCodec>,
    stop: watch::Sender<bool>,
    served: JoinHandle<ServeReport>,
}

impl World {
    /// Starts a network process in front of the issuer, reporting to the world's events.
    async fn start_network(&self) -> NetworkProcess {
        let store = Store::open(&self.url).await.unwrap();
        let to_issuer = Client::connect(self.issuer, IsoCodec, ClientConfig::default())
            .await
            .unwrap();
        let clock = Arc::clone(&self.clock);
        let network = Network::new(
            store.clone(),
            NetworkConfig {
                vault: vault(),
                token_imk: token_imk(),
                bins: bins(),
                issuer_timeout: Duration::from_secs(10),
                stand_in: StandInRules::default(),
            },
            to_issuer,
            Arc::new(move || clock.load(Ordering::SeqCst)),
        )
        .with_transaction_events(self.events.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let served = tokio::spawn(network::run(
            listener,
            Arc::new(network),
            Duration::from_secs(3600),
            stopped(stop_rx),
        ));
        let to_network = Client::connect(addr, IsoCodec, ClientConfig::default())
            .await
            .unwrap();
        NetworkProcess {
            store,
            to_network,
            stop,
            served,
        }
    }

    /// The approvals held on the funding account, minor units.
    async fn holds(&self) -> i64 {
        self.store
            .account(self.account_id)
            .await
            .unwrap()
            .unwrap()
            .holds_minor
    }

    /// The transaction events reported since the last call.
    fn events(&mut self) -> Vec<TransactionEvent> {
        std::iter::from_fn(|| self.events_seen.try_recv().ok()).collect()
    }

    fn advance_clock(&self, secs: i64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    /// Issues the HCE token's next batch as the token service does: `count` keys of five ATCs,
    /// valid a week from the clock's time, the earlier keys revoked.
    async fn replenish(&self, count: u32) -> Vec<LimitedUseKeyRow> {
        let now = self.clock.load(Ordering::SeqCst);
        self.store
            .tsp_issue_limited_use_keys(HCE_TUR, move |token, state| {
                assert_eq!(token.unwrap().vault.credential, "hce");
                Ok::<_, ()>(state.next_batch(count, 5, now, now + LUK_TTL_SECS))
            })
            .await
            .unwrap()
            .unwrap()
    }
}

impl NetworkProcess {
    /// Sends `msg` as the acquirer does and waits for the answer.
    async fn send(&self, msg: Message) -> Message {
        self.to_network
            .request_with_timeout(msg, Duration::from_secs(10))
            .await
            .unwrap()
    }

    /// Stops the process as a restart does: it stops serving, the answers in flight go out,
    /// its store closes; everything it held in memory is gone.
    async fn stop(self) {
        drop(self.to_network);
        let _ = self.stop.send(true);
        self.served.await.unwrap();
        self.store.close().await;
    }
}

// ---- requests ---------------------------------------------------------------------------------

/// The ICC master key (MK-AC) of a token.
fn token_mk(dpan: &str) -> MasterKey {
    derive_icc_master_key(Cvn::Visa18, &token_imk(), dpan, 0x01).unwrap()
}

/// Limited-use key `index` of the HCE token.
fn luk(index: u32) -> MasterKey {
    derive_limited_use_key(&token_mk(HCE_DPAN), index).unwrap()
}

/// DE 55 of one tap of the phone holding [`DPAN`]: counter `atc`, `amount_minor` EUR, a valid
/// ARQC (Visa CVN 18, the token-level key).
fn chip_data(atc: u16, amount_minor: u64, un: [u8; 4]) -> TagMap {
    chip_data_with(&token_mk(DPAN), atc, amount_minor, un)
}

/// DE 55 of a tap whose card application computes its ARQC with `key` (the token's MK-AC,
/// or for an HCE phone the limited-use key of the ATC).
fn chip_data_with(key: &MasterKey, atc: u16, amount_minor: u64, un: [u8; 4]) -> TagMap {
    let mut icc = TagMap::new();
    icc.put(
        tags::AMOUNT_AUTHORISED,
        &cards::bcd::encode_n(amount_minor, 6).unwrap(),
    );
    icc.put(tags::AMOUNT_OTHER, &[0; 6]);
    icc.put(tags::TERMINAL_COUNTRY_CODE, &[0x02, 0x50]);
    icc.put(tags::TVR, &[0; 5]);
    icc.put(tags::TRANSACTION_CURRENCY_CODE, &[0x09, 0x78]);
    icc.put(tags::TRANSACTION_DATE, &[0x26, 0x11, 0x23]);
    icc.put(tags::TRANSACTION_TYPE, &[0x00]);
    icc.put(tags::UNPREDICTABLE_NUMBER, &un);
    icc.put(tags::AIP, &[0x20, 0x00]);
    icc.put(tags::ATC, &atc.to_be_bytes());
    icc.put(tags::IAD, &[0x06, 0x01, 0x12, 0x03, 0xA0, 0x00, 0x00]);
    let arqc = generate_ac(Cvn::Visa18, key, &|t| icc.get(t)).unwrap();
    icc.put(tags::APPLICATION_CRYPTOGRAM, &arqc);
    icc.put(tags::CID, &[0x80]);
    icc
}

/// The 0100 for `icc` as the acquirer forwards it (merchant fields added), identified by
/// `stan` (DE 11, and DE 37 derived from it) at the test terminal and merchant.
fn authorization(stan: u32, icc: &TagMap) -> Message {
    authorization_of(DPAN, stan, icc)
}

/// [`authorization`] of the token `dpan`.
fn authorization_of(dpan: &str, stan: u32, icc: &TagMap) -> Message {
    let amount_minor = cards::bcd::decode_n(icc.get(tags::AMOUNT_AUTHORISED).unwrap()).unwrap();
    let mut msg = Message::new(Mti::AUTHORIZATION_REQUEST);
    msg.set_pan(Secret::new(dpan.to_owned()))
        .set_processing_code("000000")
        .set_amount_minor(amount_minor)
        .set_transmission_date_time("1123120000")
        .set_stan(stan)
        .set_local_time("120000")
        .set_local_date("1123")
        .set_merchant_type("5814")
        .set_pos_entry_mode("071")
        .set_card_sequence_number("001")
        .set_rrn(&format!("{:012}", 600_000 + stan))
        .set_terminal_id(TERMINAL)
        .set_merchant_id(MERCHANT)
        .set_merchant_name_location("TAPWALLET CAFE         PARIS        FR")
        .set_currency_code("978")
        .set_icc_tlv(icc);
    msg
}

/// `msg` with one bit of its ARQC flipped: a cryptogram that does not verify.
fn forged(msg: &Message) -> Message {
    let mut icc = msg.icc_tlv().unwrap().unwrap();
    let mut ac = icc.get(tags::APPLICATION_CRYPTOGRAM).unwrap().to_vec();
    ac[0] ^= 0x01;
    icc.put(tags::APPLICATION_CRYPTOGRAM, &ac);
    let mut forged = msg.clone();
    forged.set_icc_tlv(&icc);
    forged
}

fn code(answer: &Message) -> ResponseCode {
    answer.response_code().unwrap()
}

// ---- tests ------------------------------------------------------------------------------------

/// The issue's regression: an approved authorization retransmitted after the network restarted
/// used to be declined 59 ("ATC replayed"), and the acquirer then reversed a good payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retransmission_after_a_network_restart_gets_the_original_answer() {
    on_each_backend("restart", |url| async move {
        let mut w = world(&url).await;
        let network = w.start_network().await;
        let msg = authorization(1, &chip_data(0x0011, 1_234, [1, 2, 3, 4]));
        let first = network.send(msg.clone()).await;
        assert_eq!(code(&first), ResponseCode::APPROVED);
        assert_eq!(first.auth_code().map(str::len), Some(6));
        assert_eq!(
            first.pan().unwrap().expose(),
            DPAN,
            "the token, never the FPAN"
        );
        assert_eq!(
            first.text(fields::ADDITIONAL_DATA_PRIVATE),
            Some(format!("TV=V;TUR={TUR}").as_str())
        );
        let arpc = first.icc_tlv().unwrap().unwrap();
        assert!(arpc.get(tags::ISSUER_AUTHENTICATION_DATA).is_some());
        let events = w.events();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].tur.as_str(), events[0].response_code.as_str()),
            (TUR, "00")
        );
        assert_eq!(w.holds().await, 1_234);

        // The network restarts: its memory of answers is gone. Half a minute later the
        // acquirer, which never got the answer, retransmits.
        network.stop().await;
        w.advance_clock(30);
        let network = w.start_network().await;
        let again = network.send(msg.clone()).await;
        assert_eq!(code(&again), code(&first));
        assert_eq!(again.auth_code(), first.auth_code());
        assert_eq!(
            again, first,
            "rebuilt as the first: token, ARPC, TV and TUR"
        );
        assert_eq!(w.holds().await, 1_234, "the issuer posted one hold");
        assert!(w.events().is_empty(), "no second transaction event");

        // Once answered, the new process answers from memory again.
        assert_eq!(network.send(msg).await, first);
        assert!(w.events().is_empty());
        network.stop().await;
    })
    .await;
}

/// A captured cryptogram replayed under another identity is still a replay after a restart,
/// as is a copy whose cryptogram does not verify (it is never taken for the retransmission),
/// and the original request itself once the duplicate window has passed. A cryptogram that
/// does not verify consumes no ATC either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_request_with_a_used_atc_is_still_declined_59_after_a_restart() {
    on_each_backend("replay", |url| async move {
        let mut w = world(&url).await;
        let network = w.start_network().await;
        let msg = authorization(11, &chip_data(0x0021, 700, [5, 6, 7, 8]));
        // A forged copy first, under its own identity: declined 05, its ATC not consumed.
        let attempt = forged(&authorization(10, &msg.icc_tlv().unwrap().unwrap()));
        assert_eq!(
            code(&network.send(attempt).await),
            ResponseCode::DO_NOT_HONOUR
        );
        let first = network.send(msg.clone()).await;
        assert_eq!(code(&first), ResponseCode::APPROVED);
        assert_eq!(w.events().len(), 1);
        network.stop().await;

        w.advance_clock(30);
        let network = w.start_network().await;
        // The captured cryptogram under a new STAN and RRN.
        let mut replay = msg.clone();
        replay.set_stan(12).set_rrn("000000600012");
        assert_eq!(
            code(&network.send(replay).await),
            ResponseCode::SUSPECTED_FRAUD
        );
        // The original identity with a cryptogram that does not verify.
        assert_eq!(
            code(&network.send(forged(&msg)).await),
            ResponseCode::DO_NOT_HONOUR
        );
        assert_eq!(w.holds().await, 700);
        assert!(w.events().is_empty());
        network.stop().await;

        // Past the duplicate window the identity's record is stale: a replay like any other.
        w.advance_clock(600);
        let network = w.start_network().await;
        assert_eq!(
            code(&network.send(msg).await),
            ResponseCode::SUSPECTED_FRAUD
        );
        assert_eq!(w.holds().await, 700);
        assert!(w.events().is_empty());
        network.stop().await;
    })
    .await;
}

/// Two network processes on one database (or one answering while the other restarts) get the
/// same request at once: whichever consumes the ATC first reports it, the other recognizes the
/// retransmission from the token row; both answer the same, the issuer posts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_on_two_network_processes_get_one_answer() {
    on_each_backend("two_processes", |url| async move {
        let mut w = world(&url).await;
        let (a, b) = (w.start_network().await, w.start_network().await);
        let msg = authorization(21, &chip_data(0x0031, 2_500, [9, 9, 9, 9]));
        let (from_a, from_b) = tokio::join!(a.send(msg.clone()), b.send(msg));
        assert_eq!(code(&from_a), ResponseCode::APPROVED);
        assert_eq!(from_a, from_b);
        assert_eq!(w.holds().await, 2_500);
        assert_eq!(w.events().len(), 1, "reported once");
        a.stop().await;
        b.stop().await;
    })
    .await;
}

// ---- host card emulation: limited-use keys ----------------------------------------------------

/// A tap of the HCE phone at `atc` with `key`, as the acquirer forwards it.
fn hce_tap(stan: u32, key: &MasterKey, atc: u16, amount_minor: u64) -> Message {
    let un = stan.to_be_bytes();
    authorization_of(HCE_DPAN, stan, &chip_data_with(key, atc, amount_minor, un))
}

/// The ARPC (tag 91) of an answer checks out with `key`, the way the phone checks it.
fn arpc_verifies(request: &Message, answer: &Message, key: &MasterKey) -> bool {
    let icc = request.icc_tlv().unwrap().unwrap();
    let arqc: [u8; 8] = icc
        .get(tags::APPLICATION_CRYPTOGRAM)
        .unwrap()
        .try_into()
        .unwrap();
    let data91 = answer.icc_tlv().unwrap().unwrap();
    let data91 = data91.get(tags::ISSUER_AUTHENTICATION_DATA).unwrap();
    verify_issuer_authentication_data(Cvn::Visa18, key, &|t| icc.get(t), &arqc, data91).is_ok()
}

/// A cryptogram made with the limited-use key of its ATC is approved, and the ARPC is made with
/// that key (not MK-AC); the same ATC again is a replay (59), the next ATC under the same key
/// pays, and so does an ATC of another key of the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hce_cryptogram_under_a_current_limited_use_key_is_approved() {
    on_each_backend("hce_approved", |url| async move {
        let mut w = world(&url).await;
        let keys = w.replenish(4).await;
        let ranges: Vec<_> = keys
            .iter()
            .map(|k| (k.key_index, k.atc_from, k.atc_to))
            .collect();
        assert_eq!(ranges, [(1, 1, 5), (2, 6, 10), (3, 11, 15), (4, 16, 20)]);
        let network = w.start_network().await;

        let msg = hce_tap(101, &luk(2), 7, 1_500);
        let answer = network.send(msg.clone()).await;
        assert_eq!(code(&answer), ResponseCode::APPROVED);
        assert_eq!(answer.pan().unwrap().expose(), HCE_DPAN);
        assert_eq!(
            answer.text(fields::ADDITIONAL_DATA_PRIVATE),
            Some(format!("TV=V;TUR={HCE_TUR}").as_str())
        );
        assert!(
            arpc_verifies(&msg, &answer, &luk(2)),
            "ARPC made with the LUK"
        );
        assert!(!arpc_verifies(&msg, &answer, &token_mk(HCE_DPAN)));
        assert!(!arpc_verifies(&msg, &answer, &luk(1)));
        let events = w.events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].tur, HCE_TUR);
        assert_eq!(w.holds().await, 1_500);

        // The same ATC under another identity: a replay.
        let replay = hce_tap(102, &luk(2), 7, 1_500);
        assert_eq!(
            code(&network.send(replay).await),
            ResponseCode::SUSPECTED_FRAUD
        );
        // The key's next ATC, and an ATC of another key of the batch, pay.
        let next = hce_tap(103, &luk(2), 8, 200);
        let answer = network.send(next.clone()).await;
        assert_eq!(code(&answer), ResponseCode::APPROVED);
        assert!(arpc_verifies(&next, &answer, &luk(2)));
        let later = hce_tap(104, &luk(4), 20, 300);
        let answer = network.send(later.clone()).await;
        assert_eq!(code(&answer), ResponseCode::APPROVED);
        assert!(arpc_verifies(&later, &answer, &luk(4)));
        assert_eq!(w.holds().await, 2_000);

        // SE tokens are as they were: their MK-AC cryptograms pay.
        let se = authorization(105, &chip_data(0x0041, 100, [1, 1, 1, 1]));
        assert_eq!(code(&network.send(se).await), ResponseCode::APPROVED);
        network.stop().await;
    })
    .await;
}

/// Without a valid limited-use key an HCE token does not pay: an ATC outside every range, a
/// cryptogram made with MK-AC (which the phone never holds), a key used outside its range, a
/// key revoked by the next batch and an expired key are all declined, and none consumes its
/// ATC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hce_cryptograms_without_a_valid_limited_use_key_are_declined() {
    on_each_backend("hce_declined", |url| async move {
        let mut w = world(&url).await;
        let first = w.replenish(2).await;
        assert_eq!(first[1].atc_to, 10);
        let network = w.start_network().await;
        let no_key = ResponseCode::SECURITY_VIOLATION;

        // Nothing was issued for ATC 11 (nor 0): 63, whatever key made it.
        for (stan, key, atc) in [(201, luk(2), 11), (202, luk(3), 11), (203, luk(1), 0)] {
            assert_eq!(
                code(&network.send(hce_tap(stan, &key, atc, 100)).await),
                no_key
            );
        }
        // MK-AC, and a LUK outside its range, do not verify: 05.
        let mk = hce_tap(204, &token_mk(HCE_DPAN), 3, 100);
        assert_eq!(code(&network.send(mk).await), ResponseCode::DO_NOT_HONOUR);
        let wrong = hce_tap(205, &luk(2), 3, 100);
        assert_eq!(
            code(&network.send(wrong).await),
            ResponseCode::DO_NOT_HONOUR
        );
        // ATC 3 was not consumed by those: the right key still pays with it.
        assert_eq!(
            code(&network.send(hce_tap(206, &luk(1), 3, 100)).await),
            ResponseCode::APPROVED
        );

        // A second batch revokes the first: a copy of the old batch is dead.
        let second = w.replenish(2).await;
        let ranges: Vec<_> = second
            .iter()
            .map(|k| (k.key_index, k.atc_from, k.atc_to))
            .collect();
        assert_eq!(ranges, [(3, 11, 15), (4, 16, 20)]);
        for (stan, key, atc) in [(207, luk(1), 4), (208, luk(2), 6)] {
            assert_eq!(
                code(&network.send(hce_tap(stan, &key, atc, 100)).await),
                no_key
            );
        }
        assert_eq!(
            code(&network.send(hce_tap(209, &luk(3), 11, 100)).await),
            ResponseCode::APPROVED
        );

        // A week later the batch has expired.
        w.advance_clock(LUK_TTL_SECS);
        assert_eq!(
            code(&network.send(hce_tap(210, &luk(3), 12, 100)).await),
            no_key
        );
        // A fresh batch pays again.
        w.replenish(1).await;
        assert_eq!(
            code(&network.send(hce_tap(211, &luk(5), 21, 100)).await),
            ResponseCode::APPROVED
        );
        assert_eq!(w.holds().await, 300, "three payments");
        assert_eq!(w.events().len(), 3, "declined cryptograms are not reported");

        // Deleted: the token is gone (14) and its keys are revoked.
        assert!(w.store.set_token_status(HCE_TUR, "deleted").await.unwrap());
        assert_eq!(
            code(&network.send(hce_tap(212, &luk(5), 22, 100)).await),
            ResponseCode::INVALID_CARD_NUMBER
        );
        let keys = w.store.limited_use_keys(HCE_TUR).await.unwrap();
        assert!(keys.iter().all(|k| k.revoked));
        network.stop().await;
    })
    .await;
}

/// A suspended HCE token is declined as any suspended token (62), and pays again with the same
/// keys once resumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_hce_token_is_declined_62() {
    on_each_backend("hce_suspended", |url| async move {
        let w = world(&url).await;
        w.replenish(1).await;
        let network = w.start_network().await;
        assert!(
            w.store
                .set_token_status(HCE_TUR, "suspended")
                .await
                .unwrap()
        );
        assert_eq!(
            code(&network.send(hce_tap(301, &luk(1), 1, 100)).await),
            ResponseCode::RESTRICTED_CARD
        );
        assert!(w.store.set_token_status(HCE_TUR, "active").await.unwrap());
        assert_eq!(
            code(&network.send(hce_tap(302, &luk(1), 1, 100)).await),
            ResponseCode::APPROVED
        );
        network.stop().await;
    })
    .await;
}

/// A payment the network approved with a limited-use key, retransmitted after a restart and
/// after the phone replenished (the key is now revoked), gets its original answer: the key no
/// longer pays, but what it paid is still recognized.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retransmission_under_a_since_revoked_key_gets_its_original_answer() {
    on_each_backend("hce_retransmission", |url| async move {
        let mut w = world(&url).await;
        w.replenish(1).await;
        let network = w.start_network().await;
        let msg = hce_tap(401, &luk(1), 2, 900);
        let first = network.send(msg.clone()).await;
        assert_eq!(code(&first), ResponseCode::APPROVED);
        assert_eq!(w.events().len(), 1);
        network.stop().await;

        w.replenish(1).await;
        w.advance_clock(20);
        let network = w.start_network().await;
        assert_eq!(network.send(msg.clone()).await, first);
        assert_eq!(w.holds().await, 900, "posted once");
        assert!(w.events().is_empty());
        // A new ATC under the revoked key does not pay.
        assert_eq!(
            code(&network.send(hce_tap(402, &luk(1), 3, 900)).await),
            ResponseCode::SECURITY_VIOLATION
        );
        network.stop().await;
    })
    .await;
}
