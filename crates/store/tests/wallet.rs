//! The wallet store's tests, on the same harness as the hosts' store: each case runs on a fresh
//! SQLite file always, and in a fresh PostgreSQL schema when `TAPWALLET_TEST_POSTGRES` is set.

use store::wallet::{
    Cursor, DeviceCursor, DeviceRow, IdempotencyBegin, IdempotencyClaim, NewSession, NewUser,
    ProvisionedTokenRow, RefreshOutcome, SetDefault, TransactionRow, WalletStore, WebhookEvent,
    WebhookOutcome, normalize_email,
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
    cards_belong_to_their_user,
    card_rows_are_checked,
    cards_page_in_creation_order_without_ended_ones,
    card_updates_read_decide_and_write,
    one_default_card_per_device,
    token_events_apply_once,
    concurrent_token_events_apply_once,
    transactions_record_once_and_page_newest_first,
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

fn card(id: &str, user_id: &str, device_id: &str, created_at_unix: i64) -> ProvisionedTokenRow {
    ProvisionedTokenRow {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        device_id: device_id.to_owned(),
        tur: Some(format!("DNITHE{id}")),
        network: "visa".to_owned(),
        fpan_last4: "1111".to_owned(),
        status: "active".to_owned(),
        suspended_by: None,
        decline_reason: None,
        product_name: Some("Tapwallet Visa Credit".to_owned()),
        card_art: Some("visa-default".to_owned()),
        verification_methods: None,
        otp_method: None,
        is_default: false,
        tsp_updated_at_unix: Some(created_at_unix),
        created_at_unix,
        updated_at_unix: created_at_unix,
        credential: "se".to_owned(),
    }
}

fn declined(id: &str, user_id: &str, device_id: &str) -> ProvisionedTokenRow {
    ProvisionedTokenRow {
        tur: None,
        status: "declined".to_owned(),
        decline_reason: Some("CVV_MISMATCH".to_owned()),
        product_name: None,
        tsp_updated_at_unix: None,
        ..card(id, user_id, device_id, 10)
    }
}

/// Alice (`usr_1`) with device `dev_a`, Bob (`usr_2`) with device `dev_b`.
async fn two_wallets(s: &WalletStore) -> (String, String) {
    let (alice, _) = user_with_session(s, 1, 10_000).await;
    let (bob, _) = user_with_session(s, 2, 10_000).await;
    s.create_device(&device("dev_a", &alice, 1)).await.unwrap();
    s.create_device(&device("dev_b", &bob, 1)).await.unwrap();
    (alice, bob)
}

fn event(id: &str, kind: &str, at: i64) -> WebhookEvent {
    WebhookEvent {
        event_id: id.to_owned(),
        kind: kind.to_owned(),
        received_at_unix: at,
    }
}

fn txn(id: &str, user_id: &str, token_id: &str, occurred_at_unix: i64) -> TransactionRow {
    TransactionRow {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        token_id: token_id.to_owned(),
        event_id: format!("evt_{id}"),
        amount_minor: 450,
        currency: "EUR".to_owned(),
        approved: true,
        response_code: "00".to_owned(),
        merchant_name: "Tapwallet Cafe".to_owned(),
        merchant_city: Some("Paris".to_owned()),
        merchant_country: Some("FR".to_owned()),
        category: "food_and_drink".to_owned(),
        mcc: "5814".to_owned(),
        occurred_at_unix,
        received_at_unix: occurred_at_unix + 1,
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

async fn cards_belong_to_their_user(s: &WalletStore) {
    let (alice, bob) = two_wallets(s).await;
    let c = card("crd_1", &alice, "dev_a", 10);
    s.insert_provisioned_token(&c).await.unwrap();
    assert_eq!(
        s.provisioned_token(&alice, "crd_1").await.unwrap(),
        Some(c.clone())
    );
    assert!(s.provisioned_token(&bob, "crd_1").await.unwrap().is_none());
    assert_eq!(
        s.provisioned_token_by_tur("DNITHEcrd_1").await.unwrap(),
        Some(c.clone())
    );
    assert!(
        s.provisioned_token_by_tur("DNITHEnone")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.provisioned_tokens_of_user(&bob, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.provisioned_tokens_of_device(&bob, "dev_a")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.provisioned_tokens_of_device(&alice, "dev_a")
            .await
            .unwrap(),
        vec![c.clone()]
    );
    let untouched = s
        .update_provisioned_token(&bob, "crd_1", |t| "suspended".clone_into(&mut t.status))
        .await
        .unwrap();
    assert!(untouched.is_none(), "Bob cannot change Alice's card");
    assert!(
        s.set_default_token(&bob, "crd_1", 20)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.provisioned_token(&alice, "crd_1").await.unwrap(),
        Some(c),
        "unchanged"
    );
}

async fn card_rows_are_checked(s: &WalletStore) {
    let (alice, _) = two_wallets(s).await;
    s.insert_provisioned_token(&card("crd_1", &alice, "dev_a", 10))
        .await
        .unwrap();
    let err = s
        .insert_provisioned_token(&card("crd_1", &alice, "dev_a", 10))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    let mut same_tur = card("crd_2", &alice, "dev_a", 10);
    same_tur.tur = Some("DNITHEcrd_1".to_owned());
    let err = s.insert_provisioned_token(&same_tur).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    // Declined attempts have no TUR, so several coexist.
    s.insert_provisioned_token(&declined("crd_d1", &alice, "dev_a"))
        .await
        .unwrap();
    s.insert_provisioned_token(&declined("crd_d2", &alice, "dev_a"))
        .await
        .unwrap();
    // An HCE card keeps its credential.
    let hce = ProvisionedTokenRow {
        credential: "hce".to_owned(),
        ..card("crd_h", &alice, "dev_a", 10)
    };
    s.insert_provisioned_token(&hce).await.unwrap();
    assert_eq!(
        s.provisioned_token(&alice, "crd_h").await.unwrap(),
        Some(hce)
    );

    type Change = Box<dyn Fn(&mut ProvisionedTokenRow) + Send + Sync>;
    let bad: Vec<(&str, Change)> = vec![
        (
            "unknown device",
            Box::new(|t| "dev_none".clone_into(&mut t.device_id)),
        ),
        (
            "another user's device",
            Box::new(|t| "dev_b".clone_into(&mut t.device_id)),
        ),
        (
            "unknown status",
            Box::new(|t| "frozen".clone_into(&mut t.status)),
        ),
        (
            "unknown network",
            Box::new(|t| "amex!".clone_into(&mut t.network)),
        ),
        (
            "five digits",
            Box::new(|t| "11111".clone_into(&mut t.fpan_last4)),
        ),
        (
            "declined with a TUR",
            Box::new(|t| {
                "declined".clone_into(&mut t.status);
                t.decline_reason = Some("CARD_BLOCKED".to_owned());
            }),
        ),
        ("active without a TUR", Box::new(|t| t.tur = None)),
        (
            "suspended without who",
            Box::new(|t| "suspended".clone_into(&mut t.status)),
        ),
        (
            "active with who",
            Box::new(|t| t.suspended_by = Some("user".to_owned())),
        ),
        (
            "unknown suspender",
            Box::new(|t| {
                "suspended".clone_into(&mut t.status);
                t.suspended_by = Some("cat".to_owned());
            }),
        ),
        (
            "deleted default",
            Box::new(|t| {
                "deleted".clone_into(&mut t.status);
                t.is_default = true;
            }),
        ),
        (
            "unknown OTP method",
            Box::new(|t| t.otp_method = Some("PIGEON".to_owned())),
        ),
        (
            "unknown credential",
            Box::new(|t| "sim".clone_into(&mut t.credential)),
        ),
    ];
    for (i, (what, change)) in bad.iter().enumerate() {
        let mut row = card(&format!("crd_bad{i}"), &alice, "dev_a", 10);
        change(&mut row);
        let err = s.insert_provisioned_token(&row).await.unwrap_err();
        assert!(matches!(err, StoreError::Rejected { .. }), "{what}: {err}");
    }
}

async fn cards_page_in_creation_order_without_ended_ones(s: &WalletStore) {
    let (alice, _) = two_wallets(s).await;
    for (id, at) in [("crd_c", 30), ("crd_a", 10), ("crd_b2", 20), ("crd_b1", 20)] {
        s.insert_provisioned_token(&card(id, &alice, "dev_a", at))
            .await
            .unwrap();
    }
    s.insert_provisioned_token(&declined("crd_x", &alice, "dev_a"))
        .await
        .unwrap();
    let mut deleted = card("crd_y", &alice, "dev_a", 15);
    "deleted".clone_into(&mut deleted.status);
    s.insert_provisioned_token(&deleted).await.unwrap();
    let mut pending = card("crd_p", &alice, "dev_a", 40);
    "pending".clone_into(&mut pending.status);
    s.insert_provisioned_token(&pending).await.unwrap();

    let first = s.provisioned_tokens_of_user(&alice, None, 2).await.unwrap();
    let ids: Vec<_> = first.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["crd_a", "crd_b1"]);
    let cursor = Cursor {
        at_unix: first[1].created_at_unix,
        id: first[1].id.clone(),
    };
    let rest = s
        .provisioned_tokens_of_user(&alice, Some(&cursor), 10)
        .await
        .unwrap();
    let ids: Vec<_> = rest.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["crd_b2", "crd_c", "crd_p"]);
    assert_eq!(
        s.provisioned_tokens_of_device(&alice, "dev_a")
            .await
            .unwrap()
            .len(),
        7,
        "the device's list holds every status"
    );
}

async fn card_updates_read_decide_and_write(s: &WalletStore) {
    let (alice, _) = two_wallets(s).await;
    s.insert_provisioned_token(&card("crd_1", &alice, "dev_a", 10))
        .await
        .unwrap();
    let update = s
        .update_provisioned_token(&alice, "crd_1", |t| {
            "suspended".clone_into(&mut t.status);
            t.suspended_by = Some("device_lost".to_owned());
            t.updated_at_unix = 50;
        })
        .await
        .unwrap()
        .unwrap();
    assert!(update.changed);
    assert_eq!(update.token.status, "suspended");
    assert_eq!(
        s.provisioned_token(&alice, "crd_1").await.unwrap(),
        Some(update.token.clone())
    );
    let same = s
        .update_provisioned_token(&alice, "crd_1", |_| {})
        .await
        .unwrap()
        .unwrap();
    assert!(!same.changed);
    assert_eq!(same.token, update.token);

    let err = s
        .update_provisioned_token(&alice, "crd_1", |t| {
            "9999".clone_into(&mut t.fpan_last4);
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidDecision { .. }), "{err}");
    let err = s
        .update_provisioned_token(&alice, "crd_1", |t| {
            "hce".clone_into(&mut t.credential);
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidDecision { .. }),
        "the credential never changes: {err}"
    );
    let err = s
        .update_provisioned_token(&alice, "crd_1", |t| {
            "active".clone_into(&mut t.status);
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Rejected { .. }),
        "active while suspended_by is set breaks a check: {err}"
    );
    assert_eq!(
        s.provisioned_token(&alice, "crd_1").await.unwrap(),
        Some(update.token),
        "refused decisions write nothing"
    );
    assert!(
        s.update_provisioned_token(&alice, "crd_none", |_| {})
            .await
            .unwrap()
            .is_none()
    );
}

async fn one_default_card_per_device(s: &WalletStore) {
    let (alice, _) = two_wallets(s).await;
    s.create_device(&device("dev_a2", &alice, 2)).await.unwrap();
    for (id, dev) in [("crd_1", "dev_a"), ("crd_2", "dev_a"), ("crd_3", "dev_a2")] {
        s.insert_provisioned_token(&card(id, &alice, dev, 10))
            .await
            .unwrap();
    }
    let is_default = |id: &'static str| {
        let alice = alice.clone();
        async move {
            s.provisioned_token(&alice, id)
                .await
                .unwrap()
                .unwrap()
                .is_default
        }
    };
    let Some(SetDefault::Done(one)) = s.set_default_token(&alice, "crd_1", 20).await.unwrap()
    else {
        panic!("an active card can be the default");
    };
    assert!(one.is_default);
    assert_eq!(one.updated_at_unix, 20);
    assert!(matches!(
        s.set_default_token(&alice, "crd_3", 21).await.unwrap(),
        Some(SetDefault::Done(_))
    ));
    assert!(is_default("crd_1").await, "devices have their own default");
    assert!(matches!(
        s.set_default_token(&alice, "crd_2", 22).await.unwrap(),
        Some(SetDefault::Done(_))
    ));
    assert!(
        !is_default("crd_1").await,
        "the previous default is cleared"
    );
    assert!(is_default("crd_2").await);
    assert!(is_default("crd_3").await);
    // Again: nothing changes.
    let Some(SetDefault::Done(again)) = s.set_default_token(&alice, "crd_2", 99).await.unwrap()
    else {
        panic!("still eligible");
    };
    assert_eq!(again.updated_at_unix, 22);

    s.insert_provisioned_token(&declined("crd_d", &alice, "dev_a"))
        .await
        .unwrap();
    assert!(matches!(
        s.set_default_token(&alice, "crd_d", 23).await.unwrap(),
        Some(SetDefault::NotEligible(_))
    ));
    assert!(
        is_default("crd_2").await,
        "a refused default changes nothing"
    );
    // Two defaults on one device cannot be written, even by a careless decision.
    let err = s
        .update_provisioned_token(&alice, "crd_1", |t| t.is_default = true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
}

async fn token_events_apply_once(s: &WalletStore) {
    let (alice, _) = two_wallets(s).await;
    s.insert_provisioned_token(&card("crd_1", &alice, "dev_a", 10))
        .await
        .unwrap();
    let suspend = |t: &mut ProvisionedTokenRow| {
        "suspended".clone_into(&mut t.status);
        t.suspended_by = Some("token_service".to_owned());
        t.updated_at_unix = 30;
    };
    let WebhookOutcome::Applied(update) = s
        .record_token_event(&event("evt_1", "token_updated", 30), "DNITHEcrd_1", suspend)
        .await
        .unwrap()
    else {
        panic!("a new event applies");
    };
    assert!(update.changed);
    assert_eq!(update.token.suspended_by.as_deref(), Some("token_service"));
    // The same event again: acknowledged, its decision never runs.
    assert_eq!(
        s.record_token_event(&event("evt_1", "token_updated", 31), "DNITHEcrd_1", |_| {
            panic!("a replay must not decide again")
        })
        .await
        .unwrap(),
        WebhookOutcome::Replayed
    );
    // An unknown token records nothing, so a redelivery is processed afresh.
    assert_eq!(
        s.record_token_event(&event("evt_2", "token_updated", 32), "DNITHEcrd_9", |_| {})
            .await
            .unwrap(),
        WebhookOutcome::UnknownToken
    );
    s.insert_provisioned_token(&card("crd_9", &alice, "dev_a", 33))
        .await
        .unwrap();
    assert!(matches!(
        s.record_token_event(&event("evt_2", "token_updated", 34), "DNITHEcrd_9", |_| {})
            .await
            .unwrap(),
        WebhookOutcome::Applied(_)
    ));
    // A refused decision rolls the event back with it.
    let err = s
        .record_token_event(&event("evt_3", "token_updated", 35), "DNITHEcrd_1", |t| {
            t.tur = None;
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidDecision { .. }), "{err}");
    assert!(matches!(
        s.record_token_event(&event("evt_3", "token_updated", 36), "DNITHEcrd_1", |_| {})
            .await
            .unwrap(),
        WebhookOutcome::Applied(_)
    ));
}

async fn concurrent_token_events_apply_once(s: &WalletStore) {
    let (alice, _) = two_wallets(s).await;
    s.insert_provisioned_token(&card("crd_1", &alice, "dev_a", 10))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.record_token_event(
                &event("evt_race", "token_updated", 20),
                "DNITHEcrd_1",
                |t| {
                    t.updated_at_unix += 1;
                },
            )
            .await
            .unwrap()
        }));
    }
    let mut applied = 0;
    for t in tasks {
        match t.await.unwrap() {
            WebhookOutcome::Applied(_) => applied += 1,
            WebhookOutcome::Replayed => {}
            WebhookOutcome::UnknownToken => panic!("the token exists"),
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(
        s.provisioned_token(&alice, "crd_1")
            .await
            .unwrap()
            .unwrap()
            .updated_at_unix,
        11,
        "applied exactly once"
    );
}

async fn transactions_record_once_and_page_newest_first(s: &WalletStore) {
    let (alice, bob) = two_wallets(s).await;
    s.insert_provisioned_token(&card("crd_1", &alice, "dev_a", 10))
        .await
        .unwrap();
    s.insert_provisioned_token(&card("crd_2", &alice, "dev_a", 10))
        .await
        .unwrap();
    s.insert_provisioned_token(&card("crd_b", &bob, "dev_b", 10))
        .await
        .unwrap();
    // Two share a time: the id breaks the tie (descending).
    for (id, token, at) in [
        ("txn_1", "crd_1", 100),
        ("txn_2", "crd_2", 200),
        ("txn_3a", "crd_1", 300),
        ("txn_3b", "crd_1", 300),
    ] {
        assert_eq!(
            s.record_transaction(
                &event(&format!("evt_{id}"), "transaction", at),
                &txn(id, &alice, token, at)
            )
            .await
            .unwrap(),
            WebhookOutcome::Applied(())
        );
    }
    s.record_transaction(
        &event("evt_txn_b", "transaction", 400),
        &txn("txn_b", &bob, "crd_b", 400),
    )
    .await
    .unwrap();
    // A redelivered event adds nothing, even under another transaction id.
    assert_eq!(
        s.record_transaction(
            &event("evt_txn_1", "transaction", 500),
            &txn("txn_1bis", &alice, "crd_1", 100)
        )
        .await
        .unwrap(),
        WebhookOutcome::Replayed
    );

    let ids = |rows: &[TransactionRow]| rows.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    let all = s
        .transactions_of_user(&alice, None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&all), ["txn_3b", "txn_3a", "txn_2", "txn_1"]);
    assert_eq!(all[3], txn("txn_1", &alice, "crd_1", 100));
    let page = s.transactions_of_user(&alice, None, None, 2).await.unwrap();
    let cursor = Cursor {
        at_unix: page[1].occurred_at_unix,
        id: page[1].id.clone(),
    };
    let rest = s
        .transactions_of_user(&alice, None, Some(&cursor), 10)
        .await
        .unwrap();
    assert_eq!(ids(&rest), ["txn_2", "txn_1"]);
    let one_card = s
        .transactions_of_user(&alice, Some("crd_1"), None, 10)
        .await
        .unwrap();
    assert_eq!(ids(&one_card), ["txn_3b", "txn_3a", "txn_1"]);
    let after = s
        .transactions_of_user(&alice, Some("crd_1"), Some(&cursor), 10)
        .await
        .unwrap();
    assert_eq!(ids(&after), ["txn_1"]);
    assert!(
        s.transactions_of_user(&alice, Some("crd_b"), None, 10)
            .await
            .unwrap()
            .is_empty(),
        "Bob's card is not in Alice's history"
    );
    assert_eq!(
        ids(&s.transactions_of_user(&bob, None, None, 10).await.unwrap()),
        ["txn_b"]
    );

    for (user, token) in [(&alice, "crd_none"), (&alice, "crd_b"), (&bob, "crd_1")] {
        let err = s
            .record_transaction(
                &event("evt_x", "transaction", 600),
                &txn("txn_x", user, token, 600),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Rejected { .. }),
            "{user} {token}: {err}"
        );
    }
    let mut bad = txn("txn_y", &alice, "crd_1", 600);
    "EURO".clone_into(&mut bad.currency);
    let err = s
        .record_transaction(&event("evt_y", "transaction", 600), &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected { .. }), "{err}");
    assert_eq!(
        s.record_transaction(
            &event("evt_y", "transaction", 601),
            &txn("txn_y", &alice, "crd_1", 600)
        )
        .await
        .unwrap(),
        WebhookOutcome::Applied(()),
        "a refused event is not recorded"
    );
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
