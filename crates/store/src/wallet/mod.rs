//! The wallet backend's own database: users, login sessions, devices and idempotency records.
//!
//! The wallet backend (the token requestor, `crates/api`) is a different party from the card
//! network, so it keeps its state in its own [`WalletStore`], with its own migrations
//! (`migrations/wallet-sqlite`, `migrations/wallet-postgres`: the same numbered files, differing
//! only in types as the hosts' do). It never holds a full PAN, a DPAN, a CVV or a key: passwords
//! are Argon2id PHC strings, refresh tokens are stored as SHA-256 digests, and a device's secure
//! element key is stored as its public JWK.
//!
//! # Backends
//!
//! [`WalletStore::open`] takes the same URLs as [`Store::open`](crate::Store::open), with the
//! same pools and durability:
//!
//! - `sqlite://PATH`: a file in WAL mode with `synchronous=FULL`; writes go through one writer
//!   connection and start with `BEGIN IMMEDIATE`, reads use a pool of readers.
//! - `sqlite::memory:`: a private in-memory database on one connection (tests, demos).
//! - `postgres://...`: a connection pool. To keep the wallet's tables apart from other data in
//!   one database, give it a schema of its own: create it once (`CREATE SCHEMA wallet`, or
//!   [`PgSchema::create`](crate::PgSchema::create)) and connect with it as the search path,
//!   `postgres://host/db?options=-c%20search_path%3Dwallet` ([`PgSchema::url`](crate::PgSchema::url)
//!   builds that URL).
//!
//! The migrations are recorded in their own table, `_sqlx_wallet_migrations`, and no table name
//! collides with the hosts' schema, so a wallet store may also share a database (or a SQLite
//! file) with a [`Store`](crate::Store) in a demo; production keeps them apart.
//!
//! # Tables
//!
//! - `users`: id, email (unique case-insensitively through `email_normalized`, see
//!   [`normalize_email`]), Argon2id PHC hash, creation time.
//! - `sessions` and `refresh_tokens`: a login and every refresh token it was given, by SHA-256;
//!   the current token has `rotated_at` NULL (a partial unique index keeps one per session).
//!   [`WalletStore::rotate_refresh_token`] rotates in one transaction and revokes the session
//!   when a rotated token comes back.
//! - `devices`: owner, name, platform, the secure element's public JWK and its RFC 7638
//!   thumbprint (unique), status `active`/`lost`.
//! - `idempotency_records`: per scope and key, the request's hash and, once done, the response's
//!   status and body.
//!
//! Migration `0002_cards` adds the wallet's view of its tokens:
//!
//! - `provisioned_tokens`: a card in a device wallet, one tokenization attempt at the token
//!   service: its token unique reference (TUR, unique; none for a declined attempt), device,
//!   network, the last four digits of the funding PAN, status
//!   (`active`/`pending`/`suspended`/`deleted`/`declined`), who suspended it, the issuer's
//!   product name and decline reason, card art, the verification methods offered, and
//!   `is_default` (a partial unique index keeps one default per device).
//! - `transactions`: payments reported by the token service, by its event id (unique), with the
//!   merchant enriched (clean name, city, country, category, MCC).
//! - `webhook_events`: every webhook event applied, by event id, recorded in the same
//!   transaction as its effect ([`WalletStore::record_token_event`],
//!   [`WalletStore::record_transaction`]), so a redelivery is acknowledged and ignored.
//!
//! Like everything here, they hold references and display data, never a card number (FPAN or
//! DPAN), a CVV or a key.
//!
//! # Concurrency
//!
//! Read-decide-write operations ([`WalletStore::rotate_refresh_token`],
//! [`WalletStore::set_device_status`], [`WalletStore::idempotency_begin`],
//! [`WalletStore::update_provisioned_token`], [`WalletStore::set_default_token`], the webhook
//! recorders) run in one transaction: SQLite's `BEGIN IMMEDIATE` excludes other writers, PostgreSQL locks the rows read
//! with `FOR UPDATE` and serializes inserts on unique keys.

mod ops;
mod rows;

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use rows::{
    Cursor, DeviceCursor, DeviceRow, DeviceStatusChange, IdempotencyBegin, IdempotencyClaim,
    NewSession, NewUser, ProvisionedTokenRow, RefreshOutcome, SessionRow, SetDefault, TokenUpdate,
    TransactionRow, UserRow, WebhookEvent, WebhookOutcome, normalize_email,
};

use crate::{Backend, StoreError};
use ops::{lite, pg};

/// The table where the wallet's applied migrations are recorded (apart from the hosts').
const MIGRATIONS_TABLE: &str = "_sqlx_wallet_migrations";
/// Connections in the SQLite read pool.
const SQLITE_READERS: u32 = 4;
/// Connections in the PostgreSQL pool.
const POSTGRES_CONNECTIONS: u32 = 16;
/// How long SQLite waits for another process's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// A PostgreSQL connection idle longer than this is pinged before use.
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(30);

fn sqlite_migrator() -> Migrator {
    let mut m = sqlx::migrate!("migrations/wallet-sqlite");
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

fn postgres_migrator() -> Migrator {
    let mut m = sqlx::migrate!("migrations/wallet-postgres");
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

/// The wallet backend's durable state. Cheap to clone: clones share the pools.
#[derive(Clone, Debug)]
pub struct WalletStore {
    db: Db,
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite {
        /// One connection: every write goes through it.
        writer: SqlitePool,
        /// Readers (the same pool as `writer` for an in-memory database).
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// Calls the backend's function with the pool for `$role` (`reader` or `writer`; PostgreSQL
/// has one pool for both).
macro_rules! dispatch {
    ($self:ident . $role:ident => $f:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.db {
            Db::Sqlite { $role, .. } => lite::$f($role, $($arg),*).await,
            Db::Postgres(p) => pg::$f(p, $($arg),*).await,
        }
    };
}

impl WalletStore {
    /// Opens (creating if needed) the wallet database at `url` and applies its migrations.
    ///
    /// `url` is `sqlite://PATH`, `sqlite::memory:` or `postgres://...`; see the module docs.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Self::open_sqlite(url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url).await
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    async fn open_sqlite(url: &str) -> Result<Self, StoreError> {
        const BACKEND: &str = "sqlite";
        let connect = |source| StoreError::Connect {
            backend: BACKEND,
            source,
        };
        let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
        let in_memory = rest.starts_with(":memory:") || rest.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect)?
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let (writer, reader) = if in_memory {
            // The database lives as long as its one connection: never let the pool close it.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .test_before_acquire(false)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(connect)?;
            (pool.clone(), pool)
        } else {
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full);
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await
                .map_err(connect)?;
            let reader = SqlitePoolOptions::new()
                .max_connections(SQLITE_READERS)
                .test_before_acquire(false)
                .connect_lazy_with(options);
            (writer, reader)
        };
        sqlite_migrator()
            .run(&writer)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: BACKEND,
                source,
            })?;
        tracing::info!(backend = BACKEND, in_memory, "wallet store opened");
        Ok(Self {
            db: Db::Sqlite { writer, reader },
        })
    }

    async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        const BACKEND: &str = "postgres";
        let connect = |source| StoreError::Connect {
            backend: BACKEND,
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(connect)?;
        let pool = PgPoolOptions::new()
            .max_connections(POSTGRES_CONNECTIONS)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > POSTGRES_PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(connect)?;
        postgres_migrator()
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: BACKEND,
                source,
            })?;
        tracing::info!(backend = BACKEND, "wallet store opened");
        Ok(Self {
            db: Db::Postgres(pool),
        })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Runs a trivial query: `Ok` when the database answers (readiness checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self.reader => ping())
    }

    // ---- users --------------------------------------------------------------------------------

    /// Adds a user; [`StoreError::AlreadyExists`] if the email (compared case-insensitively,
    /// see [`normalize_email`]) or the id is taken.
    pub async fn create_user(&self, user: &NewUser) -> Result<(), StoreError> {
        dispatch!(self.writer => create_user(user))
    }

    /// The user with this email, compared case-insensitively.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        dispatch!(self.reader => user_by_email(email))
    }

    /// The user with this id.
    pub async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        dispatch!(self.reader => user(id))
    }

    // ---- sessions -----------------------------------------------------------------------------

    /// Adds a session with its first refresh token (by hash), in one transaction;
    /// [`StoreError::Rejected`] if the user does not exist.
    pub async fn create_session(&self, session: &NewSession) -> Result<(), StoreError> {
        dispatch!(self.writer => create_session(session))
    }

    /// The session with this id (revoked and expired ones included: see
    /// [`SessionRow::is_active`]).
    pub async fn session(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        dispatch!(self.reader => session(id))
    }

    /// Revokes a session (`reason` is `"logout"` or `"refresh_reuse"`); false if it is unknown or
    /// already revoked. Its refresh tokens stop working with it.
    pub async fn revoke_session(
        &self,
        id: &str,
        reason: &str,
        now_unix: i64,
    ) -> Result<bool, StoreError> {
        dispatch!(self.writer => revoke_session(id, reason, now_unix))
    }

    /// Trades the refresh token whose SHA-256 is `presented` for the one whose SHA-256 is `next`,
    /// in one transaction.
    ///
    /// - The session's current token, session active: the presented token is marked rotated and
    ///   `next` becomes current ([`RefreshOutcome::Rotated`]).
    /// - A token that was already rotated, session active: a replay (a stolen token, or a
    ///   client that lost the rotated answer), so the whole session is revoked
    ///   ([`RefreshOutcome::Reused`]). Two concurrent uses of one token end the same way.
    /// - Unknown token, or revoked or expired session: [`RefreshOutcome::Invalid`], nothing
    ///   written.
    pub async fn rotate_refresh_token(
        &self,
        presented: &[u8; 32],
        next: &[u8; 32],
        now_unix: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        dispatch!(self.writer => rotate_refresh_token(presented, next, now_unix))
    }

    // ---- devices ------------------------------------------------------------------------------

    /// Adds a device; [`StoreError::AlreadyExists`] if its key thumbprint (or id) is taken,
    /// [`StoreError::Rejected`] if its user does not exist or a value breaks the schema's checks
    /// (name of 1 to 64 characters, known platform and status).
    pub async fn create_device(&self, device: &DeviceRow) -> Result<(), StoreError> {
        dispatch!(self.writer => create_device(device))
    }

    /// The device `id` if it belongs to `user_id` (another user's device is `None`).
    pub async fn device(&self, user_id: &str, id: &str) -> Result<Option<DeviceRow>, StoreError> {
        dispatch!(self.reader => device(user_id, id))
    }

    /// Up to `limit` of the user's devices in registration order (`created_at`, then id),
    /// starting after `after`.
    pub async fn devices_of_user(
        &self,
        user_id: &str,
        after: Option<&DeviceCursor>,
        limit: u32,
    ) -> Result<Vec<DeviceRow>, StoreError> {
        dispatch!(self.reader => devices_of_user(user_id, after, limit))
    }

    /// Sets the status (`"active"` or `"lost"`) of the user's device `id`, in one transaction;
    /// `None` if the user has no such device. Setting the status it already has writes nothing
    /// and reports `changed: false`.
    pub async fn set_device_status(
        &self,
        user_id: &str,
        id: &str,
        status: &str,
        now_unix: i64,
    ) -> Result<Option<DeviceStatusChange>, StoreError> {
        dispatch!(self.writer => set_device_status(user_id, id, status, now_unix))
    }

    // ---- cards (provisioned tokens) -----------------------------------------------------------

    /// Adds a card; [`StoreError::AlreadyExists`] if its id or TUR is taken,
    /// [`StoreError::Rejected`] if its user or device does not exist or a value breaks the
    /// schema's checks (known network and status, four digits, a TUR exactly when not declined,
    /// a reason exactly when declined, `suspended_by` exactly when suspended, one default per
    /// device and never a declined or deleted one).
    pub async fn insert_provisioned_token(
        &self,
        token: &ProvisionedTokenRow,
    ) -> Result<(), StoreError> {
        dispatch!(self.writer => insert_provisioned_token(token))
    }

    /// The card `id` if it belongs to `user_id` (another user's card is `None`).
    pub async fn provisioned_token(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Option<ProvisionedTokenRow>, StoreError> {
        dispatch!(self.reader => provisioned_token(user_id, id))
    }

    /// The card holding the token `tur`, whoever owns it (for the token service's events).
    pub async fn provisioned_token_by_tur(
        &self,
        tur: &str,
    ) -> Result<Option<ProvisionedTokenRow>, StoreError> {
        dispatch!(self.reader => provisioned_token_by_tur(tur))
    }

    /// Up to `limit` of the user's cards in the wallet (active, pending or suspended: declined
    /// attempts and deleted cards are left out), in creation order (`created_at`, then id),
    /// starting after `after`.
    pub async fn provisioned_tokens_of_user(
        &self,
        user_id: &str,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<ProvisionedTokenRow>, StoreError> {
        dispatch!(self.reader => provisioned_tokens_of_user(user_id, after, limit))
    }

    /// Every card (any status) of the user's device, in creation order.
    pub async fn provisioned_tokens_of_device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Vec<ProvisionedTokenRow>, StoreError> {
        dispatch!(self.reader => provisioned_tokens_of_device(user_id, device_id))
    }

    /// Changes the user's card `id` in one transaction: `decide` gets the locked row and
    /// changes what it wants; the changed columns are written. `None` if the user has no such
    /// card. A decision that leaves the row as it was writes nothing (`changed: false`); one
    /// that touches a column fixed at insertion (id, owner, device, TUR, network, digits,
    /// creation time) is refused with [`StoreError::InvalidDecision`] and writes nothing.
    pub async fn update_provisioned_token<F>(
        &self,
        user_id: &str,
        id: &str,
        decide: F,
    ) -> Result<Option<TokenUpdate>, StoreError>
    where
        F: FnOnce(&mut ProvisionedTokenRow) + Send,
    {
        dispatch!(self.writer => update_provisioned_token(user_id, id, decide))
    }

    /// Makes the user's card `id` its device's default, clearing the device's previous default,
    /// in one transaction. `None` if the user has no such card; [`SetDefault::NotEligible`] for
    /// a declined or deleted card.
    pub async fn set_default_token(
        &self,
        user_id: &str,
        id: &str,
        now_unix: i64,
    ) -> Result<Option<SetDefault>, StoreError> {
        dispatch!(self.writer => set_default_token(user_id, id, now_unix))
    }

    // ---- webhooks and transactions ------------------------------------------------------------

    /// Records a token event and applies it to the card holding `tur`, in one transaction: an
    /// event recorded before is [`WebhookOutcome::Replayed`] (nothing runs); an unknown TUR is
    /// [`WebhookOutcome::UnknownToken`] and records nothing; otherwise `decide` changes the
    /// locked row as in [`WalletStore::update_provisioned_token`].
    pub async fn record_token_event<F>(
        &self,
        event: &WebhookEvent,
        tur: &str,
        decide: F,
    ) -> Result<WebhookOutcome<TokenUpdate>, StoreError>
    where
        F: FnOnce(&mut ProvisionedTokenRow) + Send,
    {
        dispatch!(self.writer => record_token_event(event, tur, decide))
    }

    /// Records a transaction event and its history entry in one transaction; an event recorded
    /// before is [`WebhookOutcome::Replayed`]. [`StoreError::Rejected`] if the card or user does
    /// not exist.
    pub async fn record_transaction(
        &self,
        event: &WebhookEvent,
        transaction: &TransactionRow,
    ) -> Result<WebhookOutcome<()>, StoreError> {
        dispatch!(self.writer => record_transaction(event, transaction))
    }

    /// Up to `limit` of the user's transactions, newest first (`occurred_at`, then id, both
    /// descending), of one card when `token_id` is given, starting before `before`.
    pub async fn transactions_of_user(
        &self,
        user_id: &str,
        token_id: Option<&str>,
        before: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<TransactionRow>, StoreError> {
        dispatch!(self.reader => transactions_of_user(user_id, token_id, before, limit))
    }

    // ---- idempotency --------------------------------------------------------------------------

    /// Claims `(scope, key)` for a request, or says what an earlier request with that key left.
    ///
    /// A new key is recorded as in flight ([`IdempotencyBegin::Started`]). An existing one
    /// answers [`IdempotencyBegin::Mismatch`] when its request hash differs,
    /// [`IdempotencyBegin::InFlight`] while its first request runs, and
    /// [`IdempotencyBegin::Completed`] with the stored response afterwards. A claim in flight
    /// longer than `in_flight_timeout_secs` (its request died) or a completed record older than
    /// `retention_secs` is taken over as if new. Concurrent claims of one key: exactly one is
    /// `Started`.
    pub async fn idempotency_begin(
        &self,
        claim: &IdempotencyClaim,
    ) -> Result<IdempotencyBegin, StoreError> {
        dispatch!(self.writer => idempotency_begin(claim))
    }

    /// Stores the response of the claim `(scope, key)`; false if there is no claim in flight.
    pub async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &[u8],
    ) -> Result<bool, StoreError> {
        dispatch!(self.writer => idempotency_complete(scope, key, status, body))
    }

    /// Drops the claim `(scope, key)` while it is in flight (the request failed and may be
    /// retried with the same key); false if there was none. Completed records stay.
    pub async fn idempotency_release(&self, scope: &str, key: &str) -> Result<bool, StoreError> {
        dispatch!(self.writer => idempotency_release(scope, key))
    }

    /// Deletes every idempotency record created before `created_before_unix`; returns how many.
    pub async fn purge_idempotency(&self, created_before_unix: i64) -> Result<u64, StoreError> {
        dispatch!(self.writer => purge_idempotency(created_before_unix))
    }
}
