//! The store's tests. Each case is a function taking a `&Store`; [`store_test!`] runs it on
//! SQLite (a fresh temporary file, removed afterwards) always, and again on PostgreSQL when
//! `TAPWALLET_TEST_POSTGRES` names a server (e.g. `postgres://postgres@127.0.0.1:5432/test`),
//! inside a fresh schema `tw_test_<random>` that is dropped afterwards, so parallel runs never
//! share tables.
// Test helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, Executor, Row};
use store::{
    AcquirerTxnRow, AuthDecision, AuthOutcome, AuthRequestRow, AuthState, AuthStatus, Backend,
    IssuerCardRow, LimitedUseKeyRow, LimitedUseKeyState, MerchantRow, NewAccount, Queue,
    ReverseOutcome, Store, StoreError, TerminalRow, TokenRow, TspToken, TspTokenRow,
};

const POSTGRES_ENV: &str = "TAPWALLET_TEST_POSTGRES";

mod wallet;

// ---- harness ----------------------------------------------------------------------------------

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// A SQLite file under the temp dir, removed (with its WAL and shared-memory files) on drop.
struct TempSqlite {
    path: PathBuf,
}

impl TempSqlite {
    fn new(name: &str) -> Self {
        let file = format!(
            "tapwallet-store-{name}-{}-{:016x}.db",
            std::process::id(),
            random_u64()
        );
        Self {
            path: std::env::temp_dir().join(file),
        }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

impl Drop for TempSqlite {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A fresh PostgreSQL schema; [`PgSchema::url`] connects with it as the search path.
struct PgSchema {
    base_url: String,
    name: String,
}

impl PgSchema {
    async fn create(base_url: &str) -> Self {
        let name = format!("tw_test_{:016x}", random_u64());
        let mut conn = sqlx::PgConnection::connect(base_url).await.unwrap();
        conn.execute(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .await
            .unwrap();
        conn.close().await.unwrap();
        Self {
            base_url: base_url.to_owned(),
            name,
        }
    }

    fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base_url, self.name
        )
    }

    async fn drop_schema(self) {
        let mut conn = sqlx::PgConnection::connect(&self.base_url).await.unwrap();
        conn.execute(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
}

fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty())
}

/// Runs `case` with a store URL on each backend, cleaning up even when the case panics (it
/// runs in its own task), then re-raising the panic with the backend named.
async fn on_each_backend<F, Fut>(name: &str, case: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let sqlite = TempSqlite::new(name);
    let result = tokio::spawn(case(sqlite.url())).await;
    drop(sqlite);
    if let Err(e) = result {
        eprintln!("{name}: failed on SQLite");
        std::panic::resume_unwind(e.into_panic());
    }
    if let Some(base) = postgres_url() {
        let schema = PgSchema::create(&base).await;
        let result = tokio::spawn(case(schema.url())).await;
        schema.drop_schema().await;
        if let Err(e) = result {
            eprintln!("{name}: failed on PostgreSQL");
            std::panic::resume_unwind(e.into_panic());
        }
    }
}

/// Opens a store at `url`, runs the case on it and closes it.
macro_rules! store_test {
    ($($name:ident),* $(,)?) => {
        mod backends {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_each_backend(stringify!($name), |url| async move {
                        let store = store::Store::open(&url).await.unwrap();
                        super::$name(&store).await;
                        store.close().await;
                    })
                    .await;
                }
            )*
        }
    };
}

store_test!(
    approval_posts_a_hold,
    decline_posts_nothing,
    duplicate_returns_the_original_and_posts_nothing,
    concurrent_duplicates_post_once,
    concurrent_authorizations_see_each_other,
    velocity_counts_held_approvals_inside_the_window,
    reversal_releases_once,
    concurrent_reversals_release_once,
    advice_posts_once,
    invalid_decisions_write_nothing,
    cards_and_accounts,
    token_vault,
    token_update_serializes,
    token_update_with_advice_is_atomic,
    token_atc_uses_ride_on_the_token_update,
    limited_use_keys_follow_each_other_and_a_batch_revokes_the_last,
    concurrent_limited_use_batches_never_overlap,
    limited_use_keys_end_with_the_atc_space,
    deleting_a_token_revokes_its_limited_use_keys,
    advice_outbox_flow,
    acquirer_rows,
    unknown_rows_are_none,
    seeded_flag,
);

// ---- fixtures ---------------------------------------------------------------------------------

const EUR: i32 = 978;

fn hash(n: u8) -> [u8; 32] {
    [n; 32]
}

async fn card_on_credit_account(s: &Store, n: u8, limit_minor: i64) -> ([u8; 32], i64) {
    let account_id = s
        .create_account(&NewAccount {
            kind: "credit".into(),
            limit_minor,
            balance_minor: 0,
            holds_minor: 0,
            currency_numeric: EUR,
            open: true,
        })
        .await
        .unwrap();
    let pan_hash = hash(n);
    s.create_card(&IssuerCardRow {
        pan_hash,
        last4: "0010".into(),
        expiry_yymm: "3012".into(),
        psn: 1,
        status: "active".into(),
        account_id,
    })
    .await
    .unwrap();
    (pan_hash, account_id)
}

fn request(key: &str, pan_hash: [u8; 32], amount_minor: i64, at_unix: i64) -> AuthRequestRow {
    AuthRequestRow {
        dedup_key: key.into(),
        pan_hash,
        amount_minor,
        currency_numeric: EUR,
        at_unix,
        kind: "auth".into(),
    }
}

/// Approves the full amount, with an auth code and blob derived from the sequence.
fn approve(amount_minor: i64) -> impl FnOnce(AuthState) -> AuthDecision + Send {
    move |state| AuthDecision {
        response_code: "00".into(),
        auth_code: Some(format!("{:06}", state.sequence)),
        hold_minor: amount_minor,
        response_blob: state.sequence.to_be_bytes().to_vec(),
    }
}

fn decline(code: &str) -> impl FnOnce(AuthState) -> AuthDecision + Send {
    let code = code.to_owned();
    move |_| AuthDecision {
        response_code: code,
        auth_code: None,
        hold_minor: 0,
        response_blob: vec![0xD0],
    }
}

async fn holds(s: &Store, account_id: i64) -> i64 {
    s.account(account_id).await.unwrap().unwrap().holds_minor
}

fn token_row(n: u8, tur: &str, par: &str) -> TokenRow {
    TokenRow {
        dpan_hash: hash(n),
        dpan_last4: "0042".into(),
        fpan_envelope: vec![0xEE; 60],
        token_expiry_yymm: "2906".into(),
        status: "active".into(),
        token_requestor_id: "50110030273".into(),
        channels: 1,
        device_id: Some("device-1".into()),
        psn: 0,
        tur: tur.into(),
        par: par.into(),
        atc_window: vec![0; 11],
        standin_count: 0,
        created_at_unix: 1_700_000_000 + i64::from(n),
        credential: "se".into(),
    }
}

// ---- issuer -----------------------------------------------------------------------------------

async fn approval_posts_a_hold(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 1, 100_000).await;
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_in = Arc::clone(&seen);
    let outcome = s
        .issuer_authorize(&request("k1", pan, 1_234, 1_000), 86_400, move |state| {
            let decision = approve(1_234)(state.clone());
            *seen_in.lock().unwrap() = Some(state);
            decision
        })
        .await
        .unwrap();
    let state = seen.lock().unwrap().take().unwrap();
    assert_eq!(state.card.as_ref().map(|c| c.account_id), Some(account));
    assert_eq!(state.account.as_ref().map(|a| a.holds_minor), Some(0));
    assert_eq!((state.velocity_count, state.velocity_amount_minor), (0, 0));
    assert!(state.sequence > 0);

    let AuthOutcome::Fresh(stored) = outcome else {
        panic!("first request must be fresh")
    };
    assert_eq!(stored.status, AuthStatus::Held);
    assert_eq!(stored.sequence, state.sequence);
    assert_eq!(stored.hold_minor, 1_234);
    assert_eq!(stored.account_id, Some(account));
    assert_eq!(stored.response_code, "00");
    assert_eq!(holds(s, account).await, 1_234);
    assert_eq!(s.issuer_auth("k1").await.unwrap(), Some(stored.clone()));

    // A second approval on the same account adds up; sequences increase.
    let second = s
        .issuer_authorize(&request("k2", pan, 66, 1_001), 86_400, approve(66))
        .await
        .unwrap();
    assert!(second.is_fresh());
    assert!(second.stored().sequence > stored.sequence);
    assert_eq!(holds(s, account).await, 1_300);
}

async fn decline_posts_nothing(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 2, 1_000).await;
    let outcome = s
        .issuer_authorize(&request("d1", pan, 5_000, 1_000), 86_400, decline("51"))
        .await
        .unwrap();
    let stored = outcome.stored();
    assert!(outcome.is_fresh());
    assert_eq!(stored.status, AuthStatus::Declined);
    assert_eq!(stored.response_code, "51");
    assert_eq!(stored.hold_minor, 0);
    assert_eq!(stored.response_blob, vec![0xD0]);
    assert_eq!(holds(s, account).await, 0);

    // An unknown card is decided too (the closure sees no card) and recorded.
    let called = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&called);
    let outcome = s
        .issuer_authorize(&request("d2", hash(0xEE), 5, 1_000), 86_400, move |st| {
            assert!(st.card.is_none() && st.account.is_none());
            c.fetch_add(1, Ordering::SeqCst);
            decline("14")(st)
        })
        .await
        .unwrap();
    assert_eq!(called.load(Ordering::SeqCst), 1);
    assert_eq!(outcome.stored().response_code, "14");
    assert_eq!(outcome.stored().account_id, None);
}

async fn duplicate_returns_the_original_and_posts_nothing(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 3, 100_000).await;
    let req = request(
        "000001|123456789012|TERM0001|MERCHANT0000001",
        pan,
        500,
        1_000,
    );
    let first = s
        .issuer_authorize(&req, 86_400, approve(500))
        .await
        .unwrap();
    // The retransmission must not be decided again, even with another answer in hand.
    let again = s
        .issuer_authorize(&req, 86_400, |_| panic!("a duplicate must not be decided"))
        .await
        .unwrap();
    let AuthOutcome::Duplicate(original) = again else {
        panic!("the retransmission must be a duplicate")
    };
    assert_eq!(&original, first.stored());
    assert_eq!(holds(s, account).await, 500);

    // Also a duplicate of a decline, and with another amount: the key decides.
    let declined = request("dup-decline", pan, 100, 1_000);
    s.issuer_authorize(&declined, 86_400, decline("05"))
        .await
        .unwrap();
    let other_amount = AuthRequestRow {
        amount_minor: 99,
        ..declined
    };
    let again = s
        .issuer_authorize(&other_amount, 86_400, approve(99))
        .await
        .unwrap();
    assert!(!again.is_fresh());
    assert_eq!(again.stored().response_code, "05");
    assert_eq!(again.stored().amount_minor, 100);
    assert_eq!(holds(s, account).await, 500);
}

async fn concurrent_duplicates_post_once(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 4, 100_000).await;
    let req = request("same-key", pan, 700, 1_000);
    let decided = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (s, req, decided) = (s.clone(), req.clone(), Arc::clone(&decided));
        tasks.push(tokio::spawn(async move {
            s.issuer_authorize(&req, 86_400, move |st| {
                decided.fetch_add(1, Ordering::SeqCst);
                approve(700)(st)
            })
            .await
            .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let fresh: Vec<_> = outcomes.iter().filter(|o| o.is_fresh()).collect();
    assert_eq!(fresh.len(), 1, "exactly one request is fresh");
    assert_eq!(decided.load(Ordering::SeqCst), 1, "decided exactly once");
    for o in &outcomes {
        assert_eq!(o.stored(), fresh[0].stored());
    }
    assert_eq!(holds(s, account).await, 700);
}

/// Different requests on one card and account, at once: each decision sees every hold and
/// approval committed before it, so funds and velocity limits hold under concurrency.
async fn concurrent_authorizations_see_each_other(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 12, 1_000).await;
    let (busy, _) = card_on_credit_account(s, 13, 1_000_000).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            // Funds: 1,000 available, 100 each → exactly 10 approvals.
            let funds = s
                .issuer_authorize(&request(&format!("f{i}"), pan, 100, 1_000), 86_400, |st| {
                    let a = st.account.as_ref().unwrap();
                    if a.limit_minor - a.balance_minor - a.holds_minor >= 100 {
                        approve(100)(st)
                    } else {
                        decline("51")(st)
                    }
                })
                .await
                .unwrap();
            // Velocity: at most 5 approvals in the window → exactly 5.
            let velocity = s
                .issuer_authorize(&request(&format!("g{i}"), busy, 1, 1_000), 86_400, |st| {
                    if st.velocity_count < 5 {
                        approve(1)(st)
                    } else {
                        decline("65")(st)
                    }
                })
                .await
                .unwrap();
            (funds.stored().status, velocity.stored().status)
        }));
    }
    let (mut funded, mut within_velocity) = (0, 0);
    for t in tasks {
        let (f, v) = t.await.unwrap();
        funded += usize::from(f == AuthStatus::Held);
        within_velocity += usize::from(v == AuthStatus::Held);
    }
    assert_eq!((funded, within_velocity), (10, 5));
    assert_eq!(holds(s, account).await, 1_000);
}

async fn velocity_counts_held_approvals_inside_the_window(s: &Store) {
    let (pan, _) = card_on_credit_account(s, 5, 1_000_000).await;
    let (other, _) = card_on_credit_account(s, 6, 1_000_000).await;
    let approved = [("v1", 1_000, 10), ("v2", 2_000, 20), ("v3", 3_000, 30)];
    for (key, at, amount) in approved {
        s.issuer_authorize(&request(key, pan, amount, at), 0, approve(amount))
            .await
            .unwrap();
    }
    // Not counted: a decline, a reversed approval, another card's approval.
    s.issuer_authorize(&request("v4", pan, 40, 2_500), 0, decline("51"))
        .await
        .unwrap();
    s.issuer_authorize(&request("v5", pan, 50, 2_600), 0, approve(50))
        .await
        .unwrap();
    assert!(matches!(
        s.issuer_reverse(&request("v5", pan, 0, 1_000))
            .await
            .unwrap(),
        ReverseOutcome::Released { amount_minor: 50 }
    ));
    s.issuer_authorize(&request("v6", other, 60, 2_700), 0, approve(60))
        .await
        .unwrap();

    // Window 2000 s before t = 3600: strictly after 1600, so v2 and v3.
    let seen = Arc::new(std::sync::Mutex::new((0, 0)));
    let seen_in = Arc::clone(&seen);
    s.issuer_authorize(&request("v7", pan, 1, 3_600), 2_000, move |st| {
        *seen_in.lock().unwrap() = (st.velocity_count, st.velocity_amount_minor);
        decline("65")(st)
    })
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), (2, 50));

    // The boundary is exclusive: at = 4000, window 2000 → after 2000 → only v3.
    let seen_in = Arc::clone(&seen);
    s.issuer_authorize(&request("v8", pan, 1, 4_000), 2_000, move |st| {
        *seen_in.lock().unwrap() = (st.velocity_count, st.velocity_amount_minor);
        decline("65")(st)
    })
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), (1, 30));
}

async fn reversal_releases_once(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 7, 100_000).await;
    s.issuer_authorize(&request("r1", pan, 2_500, 1_000), 86_400, approve(2_500))
        .await
        .unwrap();
    assert_eq!(holds(s, account).await, 2_500);
    assert_eq!(
        s.issuer_reverse(&request("r1", pan, 0, 1_000))
            .await
            .unwrap(),
        ReverseOutcome::Released {
            amount_minor: 2_500
        }
    );
    assert_eq!(holds(s, account).await, 0);
    assert_eq!(
        s.issuer_reverse(&request("r1", pan, 0, 1_000))
            .await
            .unwrap(),
        ReverseOutcome::AlreadyReversed
    );
    assert_eq!(holds(s, account).await, 0);
    let stored = s.issuer_auth("r1").await.unwrap().unwrap();
    assert_eq!(stored.status, AuthStatus::Reversed);

    // A retransmitted original after its reversal is still a duplicate: nothing is re-held.
    let again = s
        .issuer_authorize(&request("r1", pan, 2_500, 1_000), 86_400, approve(2_500))
        .await
        .unwrap();
    assert!(!again.is_fresh());
    assert_eq!(holds(s, account).await, 0);

    // A reversal that overtakes its original records the key as reversed: the late
    // original is a duplicate of that record, holds nothing and has no answer to replay.
    assert_eq!(
        s.issuer_reverse(&request("ahead", pan, 700, 1_000))
            .await
            .unwrap(),
        ReverseOutcome::RecordedAhead
    );
    let late = s
        .issuer_authorize(&request("ahead", pan, 700, 1_000), 86_400, approve(700))
        .await
        .unwrap();
    assert!(!late.is_fresh());
    assert_eq!(late.stored().status, AuthStatus::Reversed);
    assert!(late.stored().response_blob.is_empty());
    assert_eq!(holds(s, account).await, 0);
    assert_eq!(
        s.issuer_reverse(&request("ahead", pan, 700, 1_000))
            .await
            .unwrap(),
        ReverseOutcome::AlreadyReversed
    );
    s.issuer_authorize(&request("r2", pan, 10, 1_000), 86_400, decline("51"))
        .await
        .unwrap();
    assert_eq!(
        s.issuer_reverse(&request("r2", pan, 0, 1_000))
            .await
            .unwrap(),
        ReverseOutcome::NothingHeld
    );
}

async fn concurrent_reversals_release_once(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 8, 100_000).await;
    s.issuer_authorize(&request("cr", pan, 900, 1_000), 86_400, approve(900))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.issuer_reverse(&request("cr", pan, 0, 1_000))
                .await
                .unwrap()
        }));
    }
    let mut released = 0;
    for t in tasks {
        match t.await.unwrap() {
            ReverseOutcome::Released { amount_minor } => {
                assert_eq!(amount_minor, 900);
                released += 1;
            }
            other => assert_eq!(other, ReverseOutcome::AlreadyReversed),
        }
    }
    assert_eq!(released, 1);
    assert_eq!(holds(s, account).await, 0);
}

async fn advice_posts_once(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 9, 100_000).await;
    let advice = AuthRequestRow {
        kind: "advice".into(),
        ..request("a1", pan, 3_000, 1_000)
    };
    let first = s
        .issuer_advice(&advice, Some("SI0001".into()), vec![1, 2])
        .await
        .unwrap();
    assert!(first.is_fresh());
    assert_eq!(first.stored().status, AuthStatus::Held);
    assert_eq!(first.stored().kind, "advice");
    assert_eq!(first.stored().auth_code.as_deref(), Some("SI0001"));
    assert_eq!(holds(s, account).await, 3_000);
    let again = s
        .issuer_advice(&advice, Some("SI0001".into()), vec![1, 2])
        .await
        .unwrap();
    assert_eq!(again, AuthOutcome::Duplicate(first.stored().clone()));
    assert_eq!(holds(s, account).await, 3_000);

    // The issuer approved the original itself: the advice posts nothing more.
    s.issuer_authorize(&request("a2", pan, 100, 1_000), 86_400, approve(100))
        .await
        .unwrap();
    let dup = s
        .issuer_advice(&request("a2", pan, 100, 1_000), None, vec![])
        .await;
    assert!(!dup.unwrap().is_fresh());
    assert_eq!(holds(s, account).await, 3_100);

    // The issuer declined it too late: the network's stand-in approval binds.
    s.issuer_authorize(&request("a3", pan, 200, 1_000), 86_400, decline("91"))
        .await
        .unwrap();
    let upgraded = s
        .issuer_advice(&request("a3", pan, 200, 1_000), None, vec![])
        .await
        .unwrap();
    assert!(upgraded.is_fresh());
    assert_eq!(upgraded.stored().status, AuthStatus::Held);
    assert_eq!(upgraded.stored().response_code, "00");
    assert_eq!(holds(s, account).await, 3_300);
    let again = s
        .issuer_advice(&request("a3", pan, 200, 1_000), None, vec![])
        .await;
    assert!(!again.unwrap().is_fresh());
    assert_eq!(holds(s, account).await, 3_300);
    assert_eq!(
        s.issuer_reverse(&request("a3", pan, 0, 1_000))
            .await
            .unwrap(),
        ReverseOutcome::Released { amount_minor: 200 }
    );

    // An advice for a card the issuer does not hold is recorded, nothing held.
    let unmatched = s
        .issuer_advice(&request("a4", hash(0xAB), 50, 1_000), None, vec![])
        .await
        .unwrap();
    assert_eq!(unmatched.stored().status, AuthStatus::Unmatched);
    assert_eq!(unmatched.stored().hold_minor, 0);

    assert!(matches!(
        s.issuer_advice(&request("a5", pan, 0, 1_000), None, vec![])
            .await,
        Err(StoreError::InvalidDecision { .. })
    ));
}

async fn invalid_decisions_write_nothing(s: &Store) {
    let (pan, account) = card_on_credit_account(s, 10, 100_000).await;
    // An approval for a card without an account cannot be posted.
    let err = s
        .issuer_authorize(&request("i1", hash(0xCC), 10, 1_000), 86_400, approve(10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidDecision { .. }), "{err}");
    assert_eq!(s.issuer_auth("i1").await.unwrap(), None, "rolled back");
    let err = s
        .issuer_authorize(&request("i2", pan, 10, 1_000), 86_400, approve(-10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidDecision { .. }), "{err}");
    assert_eq!(s.issuer_auth("i2").await.unwrap(), None);
    assert_eq!(holds(s, account).await, 0);
    // The key is free again: a later valid attempt is fresh.
    let retry = s
        .issuer_authorize(&request("i2", pan, 10, 1_000), 86_400, approve(10))
        .await
        .unwrap();
    assert!(retry.is_fresh());
    assert_eq!(holds(s, account).await, 10);
    // A kind the schema does not know is refused.
    let bad_kind = AuthRequestRow {
        kind: "refund".into(),
        ..request("i3", pan, 10, 1_000)
    };
    let err = s
        .issuer_authorize(&bad_kind, 86_400, approve(10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
}

async fn cards_and_accounts(s: &Store) {
    let account_id = s
        .create_account(&NewAccount {
            kind: "debit".into(),
            limit_minor: 0,
            balance_minor: 15_000,
            holds_minor: 300,
            currency_numeric: 840,
            open: false,
        })
        .await
        .unwrap();
    let account = s.account(account_id).await.unwrap().unwrap();
    assert_eq!(
        (
            account.kind.as_str(),
            account.balance_minor,
            account.holds_minor
        ),
        ("debit", 15_000, 300)
    );
    assert_eq!((account.currency_numeric, account.open), (840, false));

    let card = IssuerCardRow {
        pan_hash: hash(0x11),
        last4: "0043".into(),
        expiry_yymm: "2712".into(),
        psn: 255,
        status: "active".into(),
        account_id,
    };
    s.create_card(&card).await.unwrap();
    assert_eq!(s.card(&card.pan_hash).await.unwrap(), Some(card.clone()));
    let err = s.create_card(&card).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    // The message names the operation, not the row.
    assert!(err.to_string().contains("create_card") && !err.to_string().contains("0043"));

    assert!(
        s.set_card_status(&card.pan_hash, "lost_or_stolen")
            .await
            .unwrap()
    );
    assert_eq!(
        s.card(&card.pan_hash).await.unwrap().unwrap().status,
        "lost_or_stolen"
    );
    let err = s
        .set_card_status(&card.pan_hash, "melted")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");

    let orphan = IssuerCardRow {
        pan_hash: hash(0x12),
        account_id: 999_999,
        ..card
    };
    let err = s.create_card(&orphan).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Rejected {
                constraint: "foreign key",
                ..
            }
        ),
        "{err}"
    );
}

// ---- network ----------------------------------------------------------------------------------

async fn token_vault(s: &Store) {
    let t1 = token_row(
        0x21,
        "DNITHE000000000000000001",
        "PAR0000000000000000000000001",
    );
    let t2 = TokenRow {
        device_id: None,
        ..token_row(
            0x22,
            "DNITHE000000000000000002",
            "PAR0000000000000000000000001",
        )
    };
    s.insert_token(&t1).await.unwrap();
    s.insert_token(&t2).await.unwrap();
    assert_eq!(s.token(&t1.dpan_hash).await.unwrap(), Some(t1.clone()));
    assert_eq!(s.token_by_tur(&t2.tur).await.unwrap(), Some(t2.clone()));
    assert_eq!(
        s.tokens_by_par(&t1.par).await.unwrap(),
        vec![t1.clone(), t2.clone()]
    );
    let same_tur = TokenRow {
        dpan_hash: hash(0x23),
        ..t1.clone()
    };
    let err = s.insert_token(&same_tur).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");

    assert!(s.set_token_status(&t1.tur, "suspended").await.unwrap());
    assert_eq!(
        s.token(&t1.dpan_hash).await.unwrap().unwrap().status,
        "suspended"
    );
    let err = s.set_token_status(&t1.tur, "lost").await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
    // The envelope stays out of Debug output.
    assert!(!format!("{t1:?}").contains("238, 238"));
}

async fn token_update_serializes(s: &Store) {
    let t = token_row(0x31, "DNITHE000000000000000031", "PAR31");
    s.insert_token(&t).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.token_update(&hash(0x31), |row| {
                row.standin_count += 1;
                row.standin_count
            })
            .await
            .unwrap()
            .unwrap()
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=50).collect::<Vec<i32>>(),
        "each saw its own count"
    );
    let after = s.token(&t.dpan_hash).await.unwrap().unwrap();
    assert_eq!(after.standin_count, 50);

    // Mutable fields are written back; the others are not.
    let out = s
        .token_update(&t.dpan_hash, |row| {
            row.atc_window = vec![1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1];
            row.status = "suspended".into();
            row.standin_count = 0;
            row.dpan_last4 = "9999".into();
            row.fpan_envelope.clear();
            "done"
        })
        .await
        .unwrap();
    assert_eq!(out, Some("done"));
    let after = s.token(&t.dpan_hash).await.unwrap().unwrap();
    assert_eq!(after.atc_window, vec![1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert_eq!(
        (after.status.as_str(), after.standin_count),
        ("suspended", 0)
    );
    assert_eq!(
        (after.dpan_last4.as_str(), after.fpan_envelope.len()),
        ("0042", 60)
    );

    let none = s
        .token_update(&hash(0x39), |_| -> () { panic!("no token, no call") })
        .await
        .unwrap();
    assert_eq!(none, None);
}

async fn token_update_with_advice_is_atomic(s: &Store) {
    let t = token_row(0x41, "DNITHE000000000000000041", "PAR41");
    s.insert_token(&t).await.unwrap();
    let (approved, advice_id) = s
        .token_update_with_advice(&t.dpan_hash, |row| {
            row.standin_count += 1;
            (true, Some(b"0120 stand-in".to_vec()))
        })
        .await
        .unwrap()
        .unwrap();
    assert!(approved);
    let pending = s.pending_advices(Queue::NetworkAdvices, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(Some(pending[0].id), advice_id);
    assert_eq!(pending[0].payload, b"0120 stand-in");

    // A failing write rolls the advice back with it.
    let err = s
        .token_update_with_advice(&t.dpan_hash, |row| {
            row.status = "bogus".into();
            ((), Some(b"lost".to_vec()))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
    assert_eq!(
        s.pending_advices(Queue::NetworkAdvices, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        s.token(&t.dpan_hash).await.unwrap().unwrap().standin_count,
        1
    );
}

/// The token's ATC uses (column `atc_uses`, opaque to the store).
async fn atc_uses(s: &Store, dpan_hash: &[u8; 32]) -> Option<Vec<u8>> {
    s.token_update_with_atc_uses(dpan_hash, |_, uses| uses.clone())
        .await
        .unwrap()
}

async fn token_atc_uses_ride_on_the_token_update(s: &Store) {
    let t = token_row(0x51, "DNITHE000000000000000051", "PAR51");
    s.insert_token(&t).await.unwrap();
    assert_eq!(atc_uses(s, &t.dpan_hash).await, Some(vec![]), "none yet");

    // The update that consumes an ATC records its use in the same write.
    let window = vec![1, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0];
    let w = window.clone();
    let out = s
        .token_update_with_atc_uses(&t.dpan_hash, move |row, uses| {
            row.atc_window = w;
            *uses = vec![0x01, 0x00, 0x07, 0xAB];
            "consumed"
        })
        .await
        .unwrap();
    assert_eq!(out, Some("consumed"));
    let expected = TokenRow {
        atc_window: window.clone(),
        ..t.clone()
    };
    assert_eq!(s.token(&t.dpan_hash).await.unwrap(), Some(expected.clone()));
    assert_eq!(
        atc_uses(s, &t.dpan_hash).await,
        Some(vec![0x01, 0x00, 0x07, 0xAB])
    );

    // A change of the uses alone is written too.
    s.token_update_with_atc_uses(&t.dpan_hash, |_, uses| uses.push(0xCD))
        .await
        .unwrap()
        .unwrap();
    let recorded = vec![0x01, 0x00, 0x07, 0xAB, 0xCD];
    assert_eq!(atc_uses(s, &t.dpan_hash).await, Some(recorded.clone()));
    assert_eq!(s.token(&t.dpan_hash).await.unwrap(), Some(expected));

    // The other token updates keep them.
    s.token_update(&t.dpan_hash, |row| row.standin_count = 2)
        .await
        .unwrap()
        .unwrap();
    s.token_update_with_advice(&t.dpan_hash, |row| {
        row.standin_count = 3;
        ((), Some(b"0120".to_vec()))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(s.set_token_status(&t.tur, "suspended").await.unwrap());
    assert_eq!(atc_uses(s, &t.dpan_hash).await, Some(recorded.clone()));

    // A failing write rolls them back with the rest of the row.
    let err = s
        .token_update_with_atc_uses(&t.dpan_hash, |row, uses| {
            row.status = "bogus".into();
            uses.clear();
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
    assert_eq!(atc_uses(s, &t.dpan_hash).await, Some(recorded));
    let after = s.token(&t.dpan_hash).await.unwrap().unwrap();
    assert_eq!(
        (after.status.as_str(), after.standin_count),
        ("suspended", 3)
    );

    // No such token: the closure is not called.
    let none = s
        .token_update_with_atc_uses(&hash(0x59), |_, _| -> () { panic!("no token, no call") })
        .await
        .unwrap();
    assert_eq!(none, None);
}

async fn advice_outbox_flow(s: &Store) {
    let a = s
        .enqueue_advice(Queue::NetworkAdvices, b"first")
        .await
        .unwrap();
    let b = s
        .enqueue_advice(Queue::NetworkAdvices, b"second")
        .await
        .unwrap();
    let c = s
        .enqueue_advice(Queue::NetworkAdvices, b"third")
        .await
        .unwrap();
    assert!(a < b && b < c);
    let pending = s.pending_advices(Queue::NetworkAdvices, 10).await.unwrap();
    let ids: Vec<_> = pending.iter().map(|p| (p.id, p.attempts)).collect();
    assert_eq!(ids, vec![(a, 0), (b, 0), (c, 0)]);
    assert_eq!(pending[1].payload, b"second");

    assert_eq!(s.bump_advice_attempt(a).await.unwrap(), Some(1));
    assert_eq!(s.bump_advice_attempt(a).await.unwrap(), Some(2));
    assert_eq!(
        s.pending_advices(Queue::NetworkAdvices, 1).await.unwrap()[0].attempts,
        2
    );
    assert!(s.mark_advice_delivered(a).await.unwrap());
    assert!(
        !s.mark_advice_delivered(a).await.unwrap(),
        "already delivered"
    );
    assert_eq!(s.bump_advice_attempt(a).await.unwrap(), None);
    assert!(!s.mark_advice_delivered(9_999_999).await.unwrap());
    let left: Vec<_> = s
        .pending_advices(Queue::NetworkAdvices, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(left, vec![b, c]);
    assert_eq!(
        s.pending_advices(Queue::NetworkAdvices, 1)
            .await
            .unwrap()
            .len(),
        1
    );
}

// ---- acquirer and seeding ---------------------------------------------------------------------

async fn acquirer_rows(s: &Store) {
    let merchant = MerchantRow {
        merchant_id: "MERCHANT0000001".into(),
        name_location: "Corner Cafe            Berlin       DE".into(),
        mcc: "5812".into(),
    };
    s.insert_merchant(&merchant).await.unwrap();
    let terminal = TerminalRow {
        terminal_id: "TERM0001".into(),
        merchant_id: merchant.merchant_id.clone(),
    };
    s.insert_terminal(&terminal).await.unwrap();
    assert_eq!(
        s.terminal_with_merchant("TERM0001").await.unwrap(),
        Some((terminal.clone(), merchant.clone()))
    );
    let stray = TerminalRow {
        terminal_id: "TERM0002".into(),
        merchant_id: "NOSUCHMERCHANT1".into(),
    };
    let err = s.insert_terminal(&stray).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
    let short = MerchantRow {
        merchant_id: "SHORT".into(),
        ..merchant
    };
    let err = s.insert_merchant(&short).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Rejected {
                constraint: "check",
                ..
            }
        ),
        "{err}"
    );

    let line = |stan: &str, code: &str| AcquirerTxnRow {
        terminal_id: "TERM0001".into(),
        stan: stan.into(),
        rrn: format!("60010000{stan}"),
        amount_minor: 1_234,
        currency_numeric: EUR,
        response_code: code.into(),
        auth_code: (code == "00").then(|| "000042".into()),
        at_unix: 1_700_000_000,
    };
    let first = s
        .record_acquirer_txn(&line("0001", "00"), None)
        .await
        .unwrap();
    let second = s
        .record_acquirer_txn(&line("0002", "51"), None)
        .await
        .unwrap();
    assert!(first < second);
    // A timed-out authorization is journalled together with the reversal that cancels it,
    // on the acquirer's own queue.
    assert!(
        s.pending_advices(Queue::AcquirerReversals, 5)
            .await
            .unwrap()
            .is_empty()
    );
    s.record_acquirer_txn(&line("0003", "91"), Some(b"0400 for 0003"))
        .await
        .unwrap();
    let queued = s
        .pending_advices(Queue::AcquirerReversals, 5)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].payload, b"0400 for 0003");
    assert!(
        s.pending_advices(Queue::NetworkAdvices, 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.mark_advice_delivered(queued[0].id).await.unwrap());
    assert_eq!(
        s.acquirer_journal("TERM0001", 10).await.unwrap(),
        vec![line("0003", "91"), line("0002", "51"), line("0001", "00")]
    );
    assert_eq!(s.acquirer_journal("TERM0001", 1).await.unwrap().len(), 1);
}

async fn unknown_rows_are_none(s: &Store) {
    assert_eq!(s.card(&hash(0xF0)).await.unwrap(), None);
    assert_eq!(s.account(424_242).await.unwrap(), None);
    assert_eq!(s.token(&hash(0xF1)).await.unwrap(), None);
    assert_eq!(s.token_by_tur("nope").await.unwrap(), None);
    assert_eq!(s.tokens_by_par("nope").await.unwrap(), vec![]);
    assert_eq!(s.issuer_auth("nope").await.unwrap(), None);
    assert_eq!(s.terminal_with_merchant("NOPE0000").await.unwrap(), None);
    assert_eq!(s.acquirer_journal("NOPE0000", 5).await.unwrap(), vec![]);
    assert_eq!(
        s.pending_advices(Queue::NetworkAdvices, 5).await.unwrap(),
        vec![]
    );
    assert!(!s.set_card_status(&hash(0xF0), "blocked").await.unwrap());
    assert!(!s.set_token_status("nope", "deleted").await.unwrap());
}

async fn seeded_flag(s: &Store) {
    assert!(!s.seeded().await.unwrap());
    assert!(s.mark_seeded().await.unwrap());
    assert!(s.seeded().await.unwrap());
    assert!(!s.mark_seeded().await.unwrap(), "only the first marks");
}

// ---- limited-use keys (HCE) -------------------------------------------------------------------

/// An active HCE token of the token service: its vault row and service row.
async fn hce_token(s: &Store, n: u8) -> String {
    let tur = format!("DNITHE0000000000000000{n:02X}");
    let vault = TokenRow {
        credential: "hce".into(),
        ..token_row(n, &tur, "PARHCE")
    };
    let tsp = TspTokenRow {
        tur: tur.clone(),
        state: "active".into(),
        dpan_envelope: vec![0xDD; 40],
        se_public_key: "{}".into(),
        fpan_last4: "1111".into(),
        product_name: "Tapwallet Visa Credit".into(),
        updated_at_unix: 1_700_000_000,
    };
    s.tsp_insert_token(&vault, &tsp).await.unwrap();
    tur
}

/// Issues the token's next `count` keys of `per_key` ATCs at time `at` (valid for 100 s).
async fn issue(s: &Store, tur: &str, count: u32, per_key: u16, at: i64) -> Vec<LimitedUseKeyRow> {
    s.tsp_issue_limited_use_keys(tur, move |token, state| {
        assert!(token.is_some());
        Ok::<_, ()>(state.next_batch(count, per_key, at, at + 100))
    })
    .await
    .unwrap()
    .unwrap()
}

fn ranges(keys: &[LimitedUseKeyRow]) -> Vec<(u32, u16, u16, bool)> {
    keys.iter()
        .map(|k| (k.key_index, k.atc_from, k.atc_to, k.revoked))
        .collect()
}

async fn limited_use_keys_follow_each_other_and_a_batch_revokes_the_last(s: &Store) {
    let tur = hce_token(s, 0x91).await;
    assert_eq!(
        s.token_by_tur(&tur).await.unwrap().unwrap().credential,
        "hce"
    );
    assert!(s.limited_use_keys(&tur).await.unwrap().is_empty());
    assert_eq!(s.limited_use_key(&tur, 1).await.unwrap(), None);

    // The first batch starts at index 1 and ATC 1; the closure sees an empty history.
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen_in = Arc::clone(&seen);
    let first = s
        .tsp_issue_limited_use_keys(&tur, move |token, state| {
            *seen_in.lock().unwrap() = Some((token.map(|t| t.tsp.state.clone()), state.clone()));
            Ok::<_, ()>(state.next_batch(4, 5, 1_000, 2_000))
        })
        .await
        .unwrap()
        .unwrap();
    let (state_seen, history) = seen.lock().unwrap().take().unwrap();
    assert_eq!(state_seen.as_deref(), Some("active"));
    assert_eq!((history.last_index, history.last_atc), (0, 0));
    assert_eq!(
        ranges(&first),
        [
            (1, 1, 5, false),
            (2, 6, 10, false),
            (3, 11, 15, false),
            (4, 16, 20, false)
        ]
    );
    assert_eq!(s.limited_use_keys(&tur).await.unwrap(), first);
    assert!(first.iter().all(|k| k.expires_at_unix == 2_000));

    // Lookup by ATC: the key whose range holds it, none outside every range.
    assert_eq!(
        s.limited_use_key(&tur, 7).await.unwrap(),
        Some(first[1].clone())
    );
    assert_eq!(
        s.limited_use_key(&tur, 20).await.unwrap(),
        Some(first[3].clone())
    );
    assert_eq!(
        s.limited_use_key(&tur, 1).await.unwrap(),
        Some(first[0].clone())
    );
    assert_eq!(s.limited_use_key(&tur, 0).await.unwrap(), None);
    assert_eq!(s.limited_use_key(&tur, 21).await.unwrap(), None);
    assert_eq!(s.limited_use_key("DNITHEUNKNOWN", 7).await.unwrap(), None);

    // The next batch continues after the highest index and ATC and revokes the first.
    let second = issue(s, &tur, 2, 3, 1_500).await;
    assert_eq!(ranges(&second), [(5, 21, 23, false), (6, 24, 26, false)]);
    let all = s.limited_use_keys(&tur).await.unwrap();
    assert_eq!(all.len(), 6);
    assert!(all[..4].iter().all(|k| k.revoked), "superseded");
    assert!(all[4..].iter().all(|k| !k.revoked));
    let old = s.limited_use_key(&tur, 7).await.unwrap().unwrap();
    assert!(old.revoked && !old.usable_at(1_500));
    assert!(
        s.limited_use_key(&tur, 25)
            .await
            .unwrap()
            .unwrap()
            .usable_at(1_500)
    );

    // A refusal writes nothing.
    let refused = s
        .tsp_issue_limited_use_keys(&tur, |_, _| Err::<Vec<LimitedUseKeyRow>, _>("no"))
        .await
        .unwrap();
    assert_eq!(refused, Err("no"));
    assert_eq!(s.limited_use_keys(&tur).await.unwrap(), all);

    // A batch that does not continue the token's keys is refused, whatever the caller says.
    let overlapping = |_: Option<&TspToken>, state: &LimitedUseKeyState| {
        let rewound = LimitedUseKeyState {
            last_atc: state.last_atc - 1,
            ..state.clone()
        };
        Ok::<_, ()>(rewound.next_batch(1, 5, 0, 1))
    };
    let err = s
        .tsp_issue_limited_use_keys(&tur, overlapping)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidDecision { .. }), "{err}");
    let err = s
        .tsp_issue_limited_use_keys(&tur, |_, _| Ok::<_, ()>(Vec::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidDecision { .. }), "{err}");
    assert_eq!(
        s.limited_use_keys(&tur).await.unwrap(),
        all,
        "nothing written"
    );

    // An unknown token: the closure sees none, and keys for it are refused.
    let err = s
        .tsp_issue_limited_use_keys("DNITHEUNKNOWN", |token, state| {
            assert!(token.is_none());
            Ok::<_, ()>(state.next_batch(1, 5, 0, 1))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidDecision { .. }), "{err}");
}

async fn concurrent_limited_use_batches_never_overlap(s: &Store) {
    let tur = hce_token(s, 0x92).await;
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (s, tur) = (s.clone(), tur.clone());
        tasks.push(tokio::spawn(async move {
            issue(&s, &tur, 3, 5, 1_000 + i).await
        }));
    }
    let mut batches = Vec::new();
    for t in tasks {
        batches.push(t.await.unwrap());
    }
    let all = s.limited_use_keys(&tur).await.unwrap();
    assert_eq!(all.len(), 36);
    for (i, k) in all.iter().enumerate() {
        let n = u32::try_from(i).unwrap();
        assert_eq!(k.key_index, n + 1);
        assert_eq!(u32::from(k.atc_from), n * 5 + 1, "{k:?}");
        assert_eq!(u32::from(k.atc_to), n * 5 + 5, "{k:?}");
    }
    // Every batch came back as recorded, and only the last one written is still usable.
    let last = batches.iter().max_by_key(|b| b[0].key_index).unwrap();
    for b in &batches {
        assert_eq!(b.len(), 3);
        let recorded: Vec<_> = all
            .iter()
            .filter(|k| b.iter().any(|x| x.key_index == k.key_index))
            .collect();
        assert_eq!(recorded.len(), 3);
        assert!(recorded.iter().all(|k| k.revoked == (b != last)));
    }
}

async fn limited_use_keys_end_with_the_atc_space(s: &Store) {
    let tur = hce_token(s, 0x93).await;
    let keys = issue(s, &tur, 2, 40_000, 0).await;
    assert_eq!(
        ranges(&keys),
        [(1, 1, 40_000, false), (2, 40_001, 65_535, false)]
    );
    let left = s
        .tsp_issue_limited_use_keys(&tur, |_, state| {
            if state.atcs_left() == 0 {
                Err(state.last_atc)
            } else {
                Ok(state.next_batch(1, 5, 0, 1))
            }
        })
        .await
        .unwrap();
    assert_eq!(left, Err(65_535), "no ATC left to issue");
    assert_eq!(
        s.limited_use_key(&tur, 65_535)
            .await
            .unwrap()
            .unwrap()
            .key_index,
        2
    );
}

async fn deleting_a_token_revokes_its_limited_use_keys(s: &Store) {
    let (a, b) = (hce_token(s, 0x94).await, hce_token(s, 0x95).await);
    issue(s, &a, 2, 5, 0).await;
    issue(s, &b, 2, 5, 0).await;
    // Suspending keeps them.
    s.tsp_tokens_transition(std::slice::from_ref(&a), |_, t| {
        let t = t.unwrap();
        t.tsp.state = "suspended".into();
        t.vault.status = "suspended".into();
        Ok::<_, ()>(None)
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        s.limited_use_keys(&a)
            .await
            .unwrap()
            .iter()
            .all(|k| !k.revoked)
    );
    // Deleting, through the token service or the vault, revokes them.
    s.tsp_tokens_transition(std::slice::from_ref(&a), |_, t| {
        let t = t.unwrap();
        t.tsp.state = "deleted".into();
        t.vault.status = "deleted".into();
        Ok::<_, ()>(None)
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        s.limited_use_keys(&a)
            .await
            .unwrap()
            .iter()
            .all(|k| k.revoked)
    );
    assert!(
        s.limited_use_keys(&b)
            .await
            .unwrap()
            .iter()
            .all(|k| !k.revoked)
    );
    assert!(s.set_token_status(&b, "deleted").await.unwrap());
    assert!(
        s.limited_use_keys(&b)
            .await
            .unwrap()
            .iter()
            .all(|k| k.revoked)
    );
}

// ---- whole-store tests ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_data_survives_reopening() {
    on_each_backend("reopen", |url| async move {
        let first = Store::open(&url).await.unwrap();
        let (pan, account) = card_on_credit_account(&first, 1, 10_000).await;
        first
            .issuer_authorize(&request("keep", pan, 77, 1), 60, approve(77))
            .await
            .unwrap();
        first.mark_seeded().await.unwrap();
        first.close().await;
        for _ in 0..2 {
            let again = Store::open(&url).await.unwrap();
            assert!(again.seeded().await.unwrap());
            assert_eq!(holds(&again, account).await, 77);
            assert!(
                !again
                    .issuer_authorize(&request("keep", pan, 77, 1), 60, approve(77))
                    .await
                    .unwrap()
                    .is_fresh()
            );
            again.close().await;
        }
    })
    .await;
}

/// A token's ATC uses are as durable as its ATC window: a store opened again (a restarted
/// network) reads what the last one wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_atc_uses_survive_reopening() {
    on_each_backend("atc_uses_reopen", |url| async move {
        let t = token_row(0x71, "DNITHE000000000000000071", "PAR71");
        let first = Store::open(&url).await.unwrap();
        first.insert_token(&t).await.unwrap();
        first
            .token_update_with_atc_uses(&t.dpan_hash, |row, uses| {
                row.atc_window = vec![1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0];
                *uses = vec![0x01; 15];
            })
            .await
            .unwrap()
            .unwrap();
        first.close().await;
        let again = Store::open(&url).await.unwrap();
        assert_eq!(atc_uses(&again, &t.dpan_hash).await, Some(vec![0x01; 15]));
        assert_eq!(
            again.token(&t.dpan_hash).await.unwrap().unwrap().atc_window,
            vec![1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        again.close().await;
    })
    .await;
}

/// Inserts `t` with the SQL of migrations 0001-0004 (no `atc_uses` column yet).
macro_rules! insert_token_before_0005 {
    ($pool:expr, $t:expr) => {{
        let t = $t;
        sqlx::query(
            "INSERT INTO tokens (dpan_hash, dpan_last4, fpan_envelope, token_expiry_yymm, \
             status, token_requestor_id, channels, device_id, psn, tur, par, atc_window, \
             standin_count, created_at_unix) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&t.dpan_hash[..])
        .bind(&t.dpan_last4)
        .bind(&t.fpan_envelope)
        .bind(&t.token_expiry_yymm)
        .bind(&t.status)
        .bind(&t.token_requestor_id)
        .bind(t.channels)
        .bind(t.device_id.as_deref())
        .bind(i32::from(t.psn))
        .bind(&t.tur)
        .bind(&t.par)
        .bind(&t.atc_window)
        .bind(t.standin_count)
        .bind(t.created_at_unix)
        .execute($pool)
        .await
        .unwrap();
    }};
}

/// A vault from before migration 0005 upgrades in place: its tokens read as they were, have
/// no ATC uses, and take them from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_0005_gives_existing_tokens_empty_atc_uses() {
    on_each_backend("upgrade_0005", |url| async move {
        let dialect = if url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        };
        // The migrations as they were before 0005, applied by sqlx as `Store::open` applies
        // them (same files, same checksums).
        let from = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        let old = std::env::temp_dir().join(format!(
            "tapwallet-migrations-{dialect}-{}-{:016x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir(&old).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.as_str() < "0005" {
                std::fs::copy(from.join(&name), old.join(&name)).unwrap();
            }
        }
        let migrator = sqlx::migrate::Migrator::new(old.as_path()).await.unwrap();
        std::fs::remove_dir_all(&old).unwrap();
        assert_eq!(migrator.iter().count(), 4);
        let t = token_row(0x81, "DNITHE000000000000000081", "PAR81");
        if dialect == "sqlite" {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            migrator.run(&pool).await.unwrap();
            insert_token_before_0005!(&pool, &t);
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            insert_token_before_0005!(&pool, &t);
            pool.close().await;
        }

        let s = Store::open(&url).await.unwrap();
        assert_eq!(s.token(&t.dpan_hash).await.unwrap(), Some(t.clone()));
        assert_eq!(atc_uses(&s, &t.dpan_hash).await, Some(vec![]));
        s.token_update_with_atc_uses(&t.dpan_hash, |_, uses| *uses = vec![0x01, 0x02])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(atc_uses(&s, &t.dpan_hash).await, Some(vec![0x01, 0x02]));
        s.close().await;
    })
    .await;
}

/// A vault from before migration 0006 upgrades in place: its tokens read as SE tokens, with no
/// limited-use keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_0006_reads_existing_tokens_as_se() {
    on_each_backend("upgrade_0006", |url| async move {
        let dialect = if url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        };
        let from = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        let old = std::env::temp_dir().join(format!(
            "tapwallet-migrations-0006-{dialect}-{}-{:016x}",
            std::process::id(),
            random_u64()
        ));
        std::fs::create_dir(&old).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.as_str() < "0006" {
                std::fs::copy(from.join(&name), old.join(&name)).unwrap();
            }
        }
        let migrator = sqlx::migrate::Migrator::new(old.as_path()).await.unwrap();
        std::fs::remove_dir_all(&old).unwrap();
        assert_eq!(migrator.iter().count(), 5);
        let t = token_row(0x86, "DNITHE000000000000000086", "PAR86");
        if dialect == "sqlite" {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            migrator.run(&pool).await.unwrap();
            insert_token_before_0005!(&pool, &t);
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            insert_token_before_0005!(&pool, &t);
            pool.close().await;
        }

        let s = Store::open(&url).await.unwrap();
        let read = s.token(&t.dpan_hash).await.unwrap().unwrap();
        assert_eq!(read.credential, "se");
        assert_eq!(read, t);
        assert!(s.limited_use_keys(&t.tur).await.unwrap().is_empty());
        // The new column refuses anything but the two credentials.
        let hce = TokenRow {
            credential: "hce".into(),
            ..token_row(0x87, "DNITHE000000000000000087", "PAR87")
        };
        s.insert_token(&hce).await.unwrap();
        assert_eq!(s.token(&hce.dpan_hash).await.unwrap(), Some(hce));
        let bad = TokenRow {
            credential: "sim".into(),
            ..token_row(0x88, "DNITHE000000000000000088", "PAR88")
        };
        let err = s.insert_token(&bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
        s.close().await;
    })
    .await;
}

/// Two stores (two pools: on SQLite, two writers contending for the file's lock) on one
/// database still post a request once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_database_post_once() {
    on_each_backend("two_stores", |url| async move {
        let a = Store::open(&url).await.unwrap();
        let b = Store::open(&url).await.unwrap();
        let (pan, account) = card_on_credit_account(&a, 1, 100_000).await;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                s.issuer_authorize(&request("shared", pan, 40, 1), 60, approve(40))
                    .await
                    .unwrap()
                    .is_fresh()
            }));
        }
        let mut fresh = 0;
        for t in tasks {
            fresh += usize::from(t.await.unwrap());
        }
        assert_eq!(fresh, 1);
        assert_eq!(holds(&b, account).await, 40);
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_store_works() {
    let s = Store::open("sqlite::memory:").await.unwrap();
    assert_eq!(s.backend(), Backend::Sqlite);
    let (pan, account) = card_on_credit_account(&s, 1, 10_000).await;
    concurrent_duplicates_post_once(&s).await;
    s.issuer_authorize(&request("m1", pan, 5, 1), 60, approve(5))
        .await
        .unwrap();
    assert_eq!(holds(&s, account).await, 5);
    token_update_serializes(&s).await;
    token_atc_uses_ride_on_the_token_update(&s).await;
    s.close().await;
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in ["mysql://localhost/db", "", "file:/tmp/x.db"] {
        let err = Store::open(url).await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl), "{url}: {err}");
    }
}

// ---- group commit (SQLite) -------------------------------------------------------------------

/// Concurrent writes share commits; a failing write in a batch fails alone; everything
/// acknowledged is on disk when the database is opened again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits_and_a_failing_one_fails_alone() {
    let db = TempSqlite::new("group");
    let s = Store::open(&db.url()).await.unwrap();
    let (pan, account) = card_on_credit_account(&s, 1, 1_000_000_000).await;
    let before = s.write_stats().unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            // Every tenth request reuses a key: a duplicate, never posted twice.
            let key = if i % 10 == 9 {
                format!("g{}", i - 1)
            } else {
                format!("g{i}")
            };
            let fresh = s
                .issuer_authorize(&request(&key, pan, 100, 1_000), 0, approve(100))
                .await
                .unwrap()
                .is_fresh();
            // And a write that fails inside the same batches: a negative hold is refused.
            let refused = s
                .issuer_authorize(&request(&format!("bad{i}"), pan, 1, 1_000), 0, |st| {
                    AuthDecision {
                        hold_minor: -1,
                        ..approve(1)(st)
                    }
                })
                .await;
            assert!(matches!(refused, Err(StoreError::InvalidDecision { .. })));
            fresh
        }));
    }
    let mut fresh = 0;
    for t in tasks {
        fresh += usize::from(t.await.unwrap());
    }
    assert_eq!(fresh, 180);
    let after = s.write_stats().unwrap();
    let (writes, batches) = (after.writes - before.writes, after.batches - before.batches);
    assert_eq!(
        writes, 200,
        "the refused writes were rolled back, the duplicates kept"
    );
    assert!(batches < writes, "{batches} commits for {writes} writes");
    s.close().await;

    let again = Store::open(&db.url()).await.unwrap();
    assert_eq!(holds(&again, account).await, 18_000);
    assert!(again.issuer_auth("g0").await.unwrap().is_some());
    assert!(again.issuer_auth("bad0").await.unwrap().is_none());
}

/// A write whose caller gives up half-way (its future dropped) leaves nothing behind and does
/// not disturb the writes around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_writes_leave_nothing_half_done() {
    let db = TempSqlite::new("cancel");
    let s = Store::open(&db.url()).await.unwrap();
    let (pan, account) = card_on_credit_account(&s, 2, 1_000_000_000).await;
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let req = request(&format!("c{i}"), pan, 7, 1_000);
            let write = s.issuer_authorize(&req, 0, approve(7));
            if i % 3 == 0 {
                // Dropped after its first steps: at any point of enter, body or finish.
                let _ = tokio::time::timeout(Duration::from_micros(u64::from(i % 50)), write).await;
            } else {
                assert!(write.await.unwrap().is_fresh());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Settle whatever is open, then check the books: the account's holds are exactly the
    // held authorizations, each one whole.
    s.close().await;
    let again = Store::open(&db.url()).await.unwrap();
    let mut held = 0;
    for i in 0..300u32 {
        if let Some(a) = again.issuer_auth(&format!("c{i}")).await.unwrap() {
            assert_eq!(a.status, AuthStatus::Held, "c{i}");
            held += a.hold_minor;
        } else {
            assert_eq!(i % 3, 0, "only cancelled writes may be missing");
        }
    }
    assert_eq!(holds(&again, account).await, held);
    assert!(held >= 200 * 7);
}

// ---- schema parity ----------------------------------------------------------------------------

type Columns = Vec<(String, String)>;

/// Tables and columns declared by a migration directory (one column per line, as written),
/// following `ALTER TABLE ... ADD COLUMN`, `ALTER TABLE ... RENAME TO` and `DROP TABLE`.
fn declared_columns(dir: &str) -> (Vec<String>, Columns) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut columns = Vec::new();
    for file in &files {
        let sql = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut table: Option<String> = None;
        for line in sql.lines().map(str::trim) {
            let words: Vec<&str> = line.trim_end_matches(';').split_whitespace().collect();
            if let ["ALTER", "TABLE", t, "ADD", "COLUMN", column, ..] = words[..] {
                columns.push((t.to_owned(), column.to_owned()));
            } else if let ["ALTER", "TABLE", from, "RENAME", "TO", to] = words[..] {
                for (t, _) in columns.iter_mut().filter(|(t, _)| t == from) {
                    *t = to.to_owned();
                }
            } else if let ["DROP", "TABLE", t] = words[..] {
                columns.retain(|(table, _)| table != t);
            } else if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                table = rest.split_whitespace().next().map(str::to_owned);
            } else if line.starts_with(')') {
                table = None;
            } else if let Some(t) = &table {
                let word = line.split_whitespace().next().unwrap_or("");
                let constraint = ["PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT"];
                if !word.is_empty() && !constraint.contains(&word) && !word.starts_with("--") {
                    columns.push((t.clone(), word.to_owned()));
                }
            }
        }
    }
    columns.sort();
    (files, columns)
}

async fn live_sqlite_columns(url: &str) -> Columns {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut cols: Columns = rows
        .iter()
        .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c")))
        .collect();
    cols.sort();
    cols
}

async fn live_postgres_columns(url: &str) -> Columns {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name::text NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut cols: Columns = rows
        .iter()
        .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c")))
        .collect();
    cols.sort();
    cols
}

#[tokio::test]
async fn both_dialects_declare_the_same_schema() {
    let (sqlite_files, sqlite_cols) = declared_columns("sqlite");
    let (pg_files, pg_cols) = declared_columns("postgres");
    assert_eq!(sqlite_files, pg_files, "same numbered migration files");
    assert_eq!(sqlite_cols, pg_cols, "same tables and columns");
    assert!(sqlite_cols.len() > 40);

    // The parser above reads the files right: the live SQLite schema agrees with it.
    let db = TempSqlite::new("schema");
    let s = Store::open(&db.url()).await.unwrap();
    s.close().await;
    assert_eq!(live_sqlite_columns(&db.url()).await, sqlite_cols);

    // And so does a live PostgreSQL schema, when there is a server.
    if let Some(base) = postgres_url() {
        let schema = PgSchema::create(&base).await;
        let s = Store::open(&schema.url()).await.unwrap();
        assert_eq!(s.backend(), Backend::Postgres);
        s.close().await;
        let live = live_postgres_columns(&schema.url()).await;
        schema.drop_schema().await;
        assert_eq!(live, sqlite_cols);
    }
}
