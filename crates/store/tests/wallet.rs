//! The wallet store's tests, on the same harness as the hosts' store: each case runs on a fresh
//! SQLite file always, and in a fresh PostgreSQL schema when `TAPWALLET_TEST_POSTGRES` is set.

use store::wallet::{
    DeviceCursor, DeviceRow, IdempotencyBegin, IdempotencyClaim, NewSession, NewUser,
    RefreshOutcome, WalletStore, normalize_email,
};
use store::{Backend, Store, StoreError};

use super::{
    PgSchema, TempSqlite, declared_columns, live_postgres_columns, live_sqlite_columns,
    on_each_backend, postgres_url,
};

/// Opens a wallet store at each backend's URL, runs the case on it and closes it.
macro_rules! wallet_test {
    ($($name:ident),* $(,)?) => {
        mod backends {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::on_each_backend(concat!("wallet_", stringify!($name)), |url| async move {
                        let store = super::WalletStore::open(&url).await.unwrap();
                        super::$name(&store).await;
                        store.close().await;
                    })
                    .await;
                }
            )*
        }
    };
}

wallet_test!(
    users_are_unique_case_insensitively,
    refresh_tokens_rotate_and_a_replay_revokes_the_session,
    concurrent_refreshes_rotate_once,
    revoked_and_expired_sessions_refuse_refresh,
    sessions_need_a_user,
    devices_belong_to_their_user,
    device_keys_register_once,
    devices_page_in_registration_order,
    device_status_changes,
    idempotency_records_replay_and_detect_mismatch,
    idempotency_claims_expire,
    concurrent_idempotency_claims_start_once,
);

// ---- fixtures ---------------------------------------------------------------------------------

/// A syntactically valid Argon2id PHC string (the store checks only the prefix).
const PHC: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGg";

fn new_user(id: &str, email: &str) -> NewUser {
    NewUser {
        id: id.to_owned(),
        email: email.to_owned(),
        password_hash: PHC.to_owned(),
        created_at_unix: 1_000,
    }
}

fn h(n: u8) -> [u8; 32] {
    [n; 32]
}

async fn user_with_session(s: &WalletStore, n: u8, expires_at_unix: i64) -> (String, String) {
    let user = format!("usr_{n}");
    s.create_user(&new_user(&user, &format!("user{n}@example.test")))
        .await
        .unwrap();
    let session = format!("ses_{n}");
    s.create_session(&NewSession {
        id: session.clone(),
        user_id: user.clone(),
        refresh_hash: h(n),
        created_at_unix: 1_000,
        expires_at_unix,
    })
    .await
    .unwrap();
    (user, session)
}

fn device(id: &str, user_id: &str, created_at_unix: i64) -> DeviceRow {
    DeviceRow {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        name: format!("phone {id}"),
        platform: "ios".to_owned(),
        se_public_jwk: format!(r#"{{"kty":"EC","crv":"P-256","x":"{id}","y":"y"}}"#),
        se_key_thumbprint: format!("thumb-{id}"),
        status: "active".to_owned(),
        created_at_unix,
        status_changed_at_unix: created_at_unix,
    }
}

fn claim(key: &str, body: u8, now_unix: i64) -> IdempotencyClaim {
    IdempotencyClaim {
        scope: "user:usr_1".to_owned(),
        key: key.to_owned(),
        request_hash: h(body),
        now_unix,
        in_flight_timeout_secs: 60,
        retention_secs: 86_400,
    }
}

// ---- cases ------------------------------------------------------------------------------------

async fn users_are_unique_case_insensitively(s: &WalletStore) {
    s.create_user(&new_user("usr_a", "Alice@Example.Test"))
        .await
        .unwrap();
    let err = s
        .create_user(&new_user("usr_b", "alice@example.TEST"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    let found = s
        .user_by_email("ALICE@example.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "usr_a");
    assert_eq!(
        found.email, "Alice@Example.Test",
        "the email is kept as given"
    );
    assert_eq!(found.password_hash, PHC);
    assert!(
        !format!("{found:?}").contains("argon2"),
        "Debug hides the hash"
    );
    assert_eq!(
        s.user("usr_a").await.unwrap().unwrap().created_at_unix,
        1_000
    );
    assert!(s.user("usr_b").await.unwrap().is_none());
    assert!(s.user_by_email("bob@example.test").await.unwrap().is_none());
    assert_eq!(normalize_email("ÉLOÏSE@X.TEST"), "éloïse@x.test");

    let mut bad = new_user("usr_c", "c@example.test");
    bad.password_hash = "plaintext".to_owned();
    let err = s.create_user(&bad).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
}

async fn refresh_tokens_rotate_and_a_replay_revokes_the_session(s: &WalletStore) {
    let (user, session) = user_with_session(s, 1, 10_000).await;
    // First token (hash 1) -> 2 -> 3.
    let RefreshOutcome::Rotated(row) = s.rotate_refresh_token(&h(1), &h(2), 1_100).await.unwrap()
    else {
        panic!("the current token rotates");
    };
    assert_eq!(
        (row.id.as_str(), row.user_id.as_str()),
        (session.as_str(), user.as_str())
    );
    assert!(matches!(
        s.rotate_refresh_token(&h(2), &h(3), 1_200).await.unwrap(),
        RefreshOutcome::Rotated(_)
    ));
    // Token 1 again: a replay. The whole session goes, token 3 with it.
    assert_eq!(
        s.rotate_refresh_token(&h(1), &h(4), 1_300).await.unwrap(),
        RefreshOutcome::Reused {
            session_id: session.clone(),
            user_id: user.clone()
        }
    );
    let revoked = s.session(&session).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at_unix, Some(1_300));
    assert_eq!(revoked.revoked_reason.as_deref(), Some("refresh_reuse"));
    assert!(!revoked.is_active(1_301));
    assert_eq!(
        s.rotate_refresh_token(&h(3), &h(5), 1_400).await.unwrap(),
        RefreshOutcome::Invalid
    );
    // Unknown tokens are invalid and change nothing.
    assert_eq!(
        s.rotate_refresh_token(&h(99), &h(98), 1_400).await.unwrap(),
        RefreshOutcome::Invalid
    );
}

async fn concurrent_refreshes_rotate_once(s: &WalletStore) {
    let (_, session) = user_with_session(s, 7, 10_000).await;
    let mut tasks = Vec::new();
    for i in 0..12u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.rotate_refresh_token(&h(7), &h(100 + i), 1_100)
                .await
                .unwrap()
        }));
    }
    let mut rotated = 0;
    let mut reused = 0;
    for t in tasks {
        match t.await.unwrap() {
            RefreshOutcome::Rotated(_) => rotated += 1,
            RefreshOutcome::Reused { .. } => reused += 1,
            RefreshOutcome::Invalid => {}
        }
    }
    assert_eq!(rotated, 1, "one use of a token rotates it");
    assert!(reused >= 1, "the second use of the same token is a replay");
    assert!(!s.session(&session).await.unwrap().unwrap().is_active(1_100));
}

async fn revoked_and_expired_sessions_refuse_refresh(s: &WalletStore) {
    let (_, session) = user_with_session(s, 1, 5_000).await;
    assert!(s.session(&session).await.unwrap().unwrap().is_active(4_999));
    assert_eq!(
        s.rotate_refresh_token(&h(1), &h(2), 5_000).await.unwrap(),
        RefreshOutcome::Invalid,
        "expired at expires_at"
    );
    let (_, other) = user_with_session(s, 3, 50_000).await;
    assert!(s.revoke_session(&other, "logout", 2_000).await.unwrap());
    assert!(
        !s.revoke_session(&other, "logout", 2_001).await.unwrap(),
        "once"
    );
    assert!(!s.revoke_session("ses_none", "logout", 2_001).await.unwrap());
    let row = s.session(&other).await.unwrap().unwrap();
    assert_eq!(row.revoked_reason.as_deref(), Some("logout"));
    assert_eq!(
        s.rotate_refresh_token(&h(3), &h(4), 2_100).await.unwrap(),
        RefreshOutcome::Invalid
    );
    assert!(s.session("ses_none").await.unwrap().is_none());
}

async fn sessions_need_a_user(s: &WalletStore) {
    let err = s
        .create_session(&NewSession {
            id: "ses_x".to_owned(),
            user_id: "usr_none".to_owned(),
            refresh_hash: h(1),
            created_at_unix: 1,
            expires_at_unix: 2,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
    assert!(
        s.session("ses_x").await.unwrap().is_none(),
        "nothing half-written"
    );
}

async fn devices_belong_to_their_user(s: &WalletStore) {
    let (alice, _) = user_with_session(s, 1, 10_000).await;
    let (bob, _) = user_with_session(s, 2, 10_000).await;
    s.create_device(&device("dev_a", &alice, 10)).await.unwrap();
    assert_eq!(
        s.device(&alice, "dev_a").await.unwrap().unwrap(),
        device("dev_a", &alice, 10)
    );
    assert!(s.device(&bob, "dev_a").await.unwrap().is_none());
    assert!(s.devices_of_user(&bob, None, 10).await.unwrap().is_empty());
    assert!(
        s.set_device_status(&bob, "dev_a", "lost", 20)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.device(&alice, "dev_a").await.unwrap().unwrap().status,
        "active"
    );

    let err = s
        .create_device(&device("dev_b", "usr_none", 10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
    let mut bad = device("dev_c", &alice, 10);
    bad.platform = "windows".to_owned();
    let err = s.create_device(&bad).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
}

async fn device_keys_register_once(s: &WalletStore) {
    let (alice, _) = user_with_session(s, 1, 10_000).await;
    s.create_device(&device("dev_a", &alice, 10)).await.unwrap();
    let mut again = device("dev_b", &alice, 11);
    again.se_key_thumbprint = "thumb-dev_a".to_owned();
    let err = s.create_device(&again).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
}

async fn devices_page_in_registration_order(s: &WalletStore) {
    let (alice, _) = user_with_session(s, 1, 10_000).await;
    // Two devices share a timestamp: the id breaks the tie.
    for (id, at) in [("dev_c", 30), ("dev_a", 10), ("dev_b2", 20), ("dev_b1", 20)] {
        s.create_device(&device(id, &alice, at)).await.unwrap();
    }
    let first = s.devices_of_user(&alice, None, 2).await.unwrap();
    let ids: Vec<_> = first.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["dev_a", "dev_b1"]);
    let cursor = DeviceCursor {
        created_at_unix: first[1].created_at_unix,
        id: first[1].id.clone(),
    };
    let rest = s.devices_of_user(&alice, Some(&cursor), 10).await.unwrap();
    let ids: Vec<_> = rest.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["dev_b2", "dev_c"]);
    let end = DeviceCursor {
        created_at_unix: 30,
        id: "dev_c".to_owned(),
    };
    assert!(
        s.devices_of_user(&alice, Some(&end), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn device_status_changes(s: &WalletStore) {
    let (alice, _) = user_with_session(s, 1, 10_000).await;
    s.create_device(&device("dev_a", &alice, 10)).await.unwrap();
    let lost = s
        .set_device_status(&alice, "dev_a", "lost", 50)
        .await
        .unwrap()
        .unwrap();
    assert!(lost.changed);
    assert_eq!(lost.device.status, "lost");
    assert_eq!(lost.device.status_changed_at_unix, 50);
    let again = s
        .set_device_status(&alice, "dev_a", "lost", 60)
        .await
        .unwrap()
        .unwrap();
    assert!(!again.changed);
    assert_eq!(again.device.status_changed_at_unix, 50, "nothing written");
    assert_eq!(
        s.device(&alice, "dev_a").await.unwrap().unwrap(),
        lost.device
    );
    let back = s
        .set_device_status(&alice, "dev_a", "active", 70)
        .await
        .unwrap()
        .unwrap();
    assert!(back.changed);
    assert_eq!(back.device.status, "active");
    let err = s
        .set_device_status(&alice, "dev_a", "stolen", 80)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
}

async fn idempotency_records_replay_and_detect_mismatch(s: &WalletStore) {
    assert_eq!(
        s.idempotency_begin(&claim("k1", 1, 100)).await.unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(
        s.idempotency_begin(&claim("k1", 1, 101)).await.unwrap(),
        IdempotencyBegin::InFlight
    );
    assert_eq!(
        s.idempotency_begin(&claim("k1", 2, 101)).await.unwrap(),
        IdempotencyBegin::Mismatch
    );
    assert!(
        s.idempotency_complete("user:usr_1", "k1", 201, b"{\"id\":1}")
            .await
            .unwrap()
    );
    assert!(
        !s.idempotency_complete("user:usr_1", "k1", 200, b"other")
            .await
            .unwrap(),
        "completed once"
    );
    assert_eq!(
        s.idempotency_begin(&claim("k1", 1, 102)).await.unwrap(),
        IdempotencyBegin::Completed {
            status: 201,
            body: b"{\"id\":1}".to_vec()
        }
    );
    assert_eq!(
        s.idempotency_begin(&claim("k1", 2, 102)).await.unwrap(),
        IdempotencyBegin::Mismatch
    );
    assert!(
        !s.idempotency_release("user:usr_1", "k1").await.unwrap(),
        "completed stays"
    );

    // Scopes are separate key spaces.
    let mut other = claim("k1", 2, 103);
    other.scope = "ip:127.0.0.1".to_owned();
    assert_eq!(
        s.idempotency_begin(&other).await.unwrap(),
        IdempotencyBegin::Started
    );

    // A released claim starts afresh.
    assert_eq!(
        s.idempotency_begin(&claim("k2", 1, 100)).await.unwrap(),
        IdempotencyBegin::Started
    );
    assert!(s.idempotency_release("user:usr_1", "k2").await.unwrap());
    assert_eq!(
        s.idempotency_begin(&claim("k2", 3, 100)).await.unwrap(),
        IdempotencyBegin::Started
    );
}

async fn idempotency_claims_expire(s: &WalletStore) {
    // An abandoned claim is taken over after the in-flight timeout.
    s.idempotency_begin(&claim("k", 1, 100)).await.unwrap();
    assert_eq!(
        s.idempotency_begin(&claim("k", 1, 160)).await.unwrap(),
        IdempotencyBegin::InFlight
    );
    assert_eq!(
        s.idempotency_begin(&claim("k", 2, 161)).await.unwrap(),
        IdempotencyBegin::Started
    );
    // A completed record is kept for the retention period, then forgotten.
    s.idempotency_complete("user:usr_1", "k", 200, b"{}")
        .await
        .unwrap();
    assert!(matches!(
        s.idempotency_begin(&claim("k", 2, 161 + 86_400))
            .await
            .unwrap(),
        IdempotencyBegin::Completed { status: 200, .. }
    ));
    assert_eq!(
        s.idempotency_begin(&claim("k", 3, 162 + 86_400))
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // Purging drops old records.
    s.idempotency_begin(&claim("old", 1, 10)).await.unwrap();
    assert_eq!(s.purge_idempotency(100).await.unwrap(), 1);
    assert_eq!(
        s.idempotency_begin(&claim("old", 9, 11)).await.unwrap(),
        IdempotencyBegin::Started
    );
}

async fn concurrent_idempotency_claims_start_once(s: &WalletStore) {
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.idempotency_begin(&claim("race", 1, 100)).await.unwrap()
        }));
    }
    let mut started = 0;
    for t in tasks {
        match t.await.unwrap() {
            IdempotencyBegin::Started => started += 1,
            IdempotencyBegin::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
}

// ---- whole-store tests ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_data_survives_reopening() {
    on_each_backend("wallet_reopen", |url| async move {
        let first = WalletStore::open(&url).await.unwrap();
        user_with_session(&first, 1, 10_000).await;
        first.close().await;
        for _ in 0..2 {
            let again = WalletStore::open(&url).await.unwrap();
            assert!(again.user("usr_1").await.unwrap().is_some());
            again.ping().await.unwrap();
            again.close().await;
        }
    })
    .await;
}

/// The wallet's migrations are recorded apart from the hosts', so both stores can share one
/// database (a demo's single SQLite file) without either refusing the other's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_and_hosts_can_share_a_database() {
    on_each_backend("wallet_shared", |url| async move {
        let hosts = Store::open(&url).await.unwrap();
        let wallet = WalletStore::open(&url).await.unwrap();
        let hosts_again = Store::open(&url).await.unwrap();
        hosts_again.mark_seeded().await.unwrap();
        user_with_session(&wallet, 1, 10_000).await;
        assert!(hosts.seeded().await.unwrap());
        hosts.close().await;
        hosts_again.close().await;
        wallet.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_wallet_store_works() {
    let s = WalletStore::open("sqlite::memory:").await.unwrap();
    assert_eq!(s.backend(), Backend::Sqlite);
    refresh_tokens_rotate_and_a_replay_revokes_the_session(&s).await;
    concurrent_idempotency_claims_start_once(&s).await;
    s.close().await;
}

#[tokio::test]
async fn wallet_store_refuses_unsupported_urls() {
    for url in ["mysql://localhost/db", "", "file:/tmp/x.db"] {
        let err = WalletStore::open(url).await.unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl), "{url}: {err}");
    }
}

#[tokio::test]
async fn wallet_dialects_declare_the_same_schema() {
    let (sqlite_files, sqlite_cols) = declared_columns("wallet-sqlite");
    let (pg_files, pg_cols) = declared_columns("wallet-postgres");
    assert_eq!(sqlite_files, pg_files, "same numbered migration files");
    assert_eq!(sqlite_cols, pg_cols, "same tables and columns");
    assert!(sqlite_cols.len() > 25);
    for (table, column) in &sqlite_cols {
        for banned in ["pan", "dpan", "cvv", "cvc", "key"] {
            let words: Vec<_> = column.split('_').collect();
            assert!(
                !words.contains(&banned) || column == "idem_key" || column == "se_key_thumbprint",
                "{table}.{column}: the wallet stores no card numbers or keys"
            );
        }
    }

    let db = TempSqlite::new("wallet_schema");
    let s = WalletStore::open(&db.url()).await.unwrap();
    s.close().await;
    assert_eq!(live_sqlite_columns(&db.url()).await, sqlite_cols);

    if let Some(base) = postgres_url() {
        let schema = PgSchema::create(&base).await;
        let s = WalletStore::open(&schema.url()).await.unwrap();
        assert_eq!(s.backend(), Backend::Postgres);
        s.close().await;
        let live = live_postgres_columns(&schema.url()).await;
        schema.drop_schema().await;
        assert_eq!(live, sqlite_cols);
    }
}
