//! Durable state of the hosts: SQLite (embedded default) and PostgreSQL.
//!
//! One [`Store`] serves the three hosts of the card network: the issuer (accounts, cards,
//! authorizations and their holds), the network (the token vault and the advice outbox) and the
//! acquirer (merchants, terminals, a journal). Only this crate knows SQL. Card numbers never
//! reach it: hosts pass 32-byte keyed hashes for lookups and encrypted envelopes for storage, and
//! nothing here logs a bound value.
//!
//! # Backends
//!
//! [`Store::open`] takes a URL:
//!
//! - `sqlite://PATH`: a file, created if missing, in WAL mode and with a 10 s
//!   busy timeout. Writes go through one writer connection with group commit (so writers queue
//!   in the process instead of spinning on `SQLITE_BUSY`, and share fsyncs): each write is a
//!   savepoint inside a batch transaction opened with `BEGIN IMMEDIATE`, and the batch commits
//!   as soon as the connection is free (see `group.rs`). Reads use a pool of four connections,
//!   which WAL lets run beside the writer.
//! - `sqlite::memory:`: a private in-memory database on a single connection, for tests and demos.
//! - `postgres://...` (or `postgresql://`): a pool of 16 connections. Connect options in the URL
//!   are honoured, e.g. `?options=-c%20search_path%3Dmy_schema` to work inside a schema.
//!
//! Both run two concrete sqlx pools, not the `Any` driver: the SQL is written once (in
//! `ops.rs`) and compiled once per backend by a macro, with `$n` parameters that both engines
//! accept.
//!
//! # Durability
//!
//! When a write returns `Ok`, it is committed and on stable storage, and survives a process
//! crash *and* a power loss (as far as the disk honours `fsync`). On SQLite (WAL mode) the group
//! writer commits a batch of writes, syncs the WAL file, and only then answers the batch's
//! writes; a failed commit or sync fails every write in the batch. This is the guarantee of
//! `synchronous=FULL` with the fsync shared and moved off the writer connection (`group.rs`
//! explains why that is safe: batches become durable in commit order). PostgreSQL commits with the
//! server's `synchronous_commit` (on by default, with the same guarantee). An approval the
//! issuer sends is therefore never forgotten after a crash. `sqlite::memory:` keeps nothing.
//!
//! # Migrations
//!
//! Two directories with the same numbered files, `migrations/sqlite` and `migrations/postgres`,
//! differing only in types (`BLOB`/`BYTEA`, `INTEGER PRIMARY KEY AUTOINCREMENT`/`BIGINT
//! GENERATED ALWAYS AS IDENTITY`) and `length`/`octet_length`. They are embedded at build time
//! and applied by [`Store::open`] (idempotently: sqlx records what ran). The integration tests
//! assert both directories declare the same tables and columns, and, when PostgreSQL is
//! available, that both live schemas agree.
//!
//! # Decisions inside transactions
//!
//! Operations that must be atomic take a synchronous closure: the store opens one transaction,
//! loads the state (locking it), hands it to the closure, writes what the closure decided and
//! commits. SQLite gets the exclusion from its single writer (a batch is one `BEGIN IMMEDIATE`
//! transaction and its writes run one after the other), PostgreSQL from the dedup key's
//! unique index and `SELECT ... FOR UPDATE` on the card, account, authorization or token rows.
//! So a duplicate authorization is answered from the record and never posted twice, a reversal
//! releases its hold once, concurrent updates of a token's ATC window serialize, and concurrent
//! batches of an HCE token's limited-use keys never overlap (`limited_use.rs`). Closures
//! run while those locks are held: they must be quick and must not block.
#![forbid(unsafe_code)]

mod error;
mod fast;
mod group;
mod limited_use;
mod ops;
mod rows;
pub mod wallet;

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use error::StoreError;
use group::GroupWriter;
pub use limited_use::{LimitedUseKeyRow, LimitedUseKeyState};
use ops::{lite, pg};
pub use rows::{
    AccountRow, AcquirerTxnRow, AuthDecision, AuthOutcome, AuthRequestRow, AuthState, AuthStatus,
    IssuerCardRow, MerchantRow, NewAccount, PendingAdvice, Queue, ReverseOutcome, StoredAuth,
    TerminalRow, TokenRow,
};
pub use tokenization::*;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Connections in the SQLite read pool.
const SQLITE_READERS: u32 = 4;
/// Connections in the PostgreSQL pool.
const POSTGRES_CONNECTIONS: u32 = 16;
/// How long SQLite waits for another process's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// A PostgreSQL connection idle longer than this is pinged before use (a ping on every
/// acquire would cost a round trip per transaction).
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// Writes and the commits they took (SQLite group commit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteStats {
    /// Writes made (and kept) so far.
    pub writes: u64,
    /// Batches committed (or failed) so far: each is one transaction, one fsync.
    pub batches: u64,
}

/// Which database a [`Store`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite (file or memory).
    Sqlite,
}

/// The hosts' durable state. Cheap to clone: clones share the pools.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite(Sqlite),
    Postgres(PgPool),
}

#[derive(Clone, Debug)]
struct Sqlite {
    /// Every write goes through it (but the hot ones, on a file): one connection, group commit.
    writer: Arc<GroupWriter>,
    /// The authorization hot path on a file database: a rusqlite writer thread, group commit
    /// (`fast.rs`); it takes turns with `writer` through a shared write lock.
    fast: Option<Arc<fast::FastWriter>>,
    /// The writer's pool (one connection), closed on [`Store::close`].
    writer_pool: SqlitePool,
    /// Readers (the same pool as the writer's for an in-memory database).
    reader: SqlitePool,
}

/// Calls the backend's function: a read with the pool (`reader`), a write (`writer`) on a
/// connection inside a transaction, committed before the call returns: on SQLite a savepoint
/// in the group writer's batch, on PostgreSQL a transaction of its own.
macro_rules! dispatch {
    ($self:ident . reader => $f:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.db {
            Db::Sqlite(s) => lite::$f(&s.reader, $($arg),*).await,
            Db::Postgres(p) => pg::$f(p, $($arg),*).await,
        }
    };
    ($self:ident . writer => $f:ident ( $($arg:expr),* $(,)? )) => {
        match &$self.db {
            Db::Sqlite(s) => {
                group::group_write!(s.writer, stringify!($f), |conn| lite::$f(conn, $($arg),*))
            }
            Db::Postgres(p) => {
                const OP: &str = stringify!($f);
                let mut tx = p.begin().await.map_err(StoreError::db(OP))?;
                let value = pg::$f(&mut tx, $($arg),*).await?;
                tx.commit().await.map_err(StoreError::db(OP))?;
                Ok(value)
            }
        }
    };
}

mod tokenization;

impl Store {
    /// Opens (creating if needed) the store at `url` and applies the migrations.
    ///
    /// `url` is `sqlite://PATH`, `sqlite::memory:` or `postgres://...`; see the crate docs.
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
        let write_lock = Arc::new(tokio::sync::Mutex::new(()));
        let mut file: Option<std::path::PathBuf> = None;
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect)?
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let sqlite = if in_memory {
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
            Sqlite {
                writer: GroupWriter::start(pool.clone(), None, Arc::default()),
                fast: None,
                writer_pool: pool.clone(),
                reader: pool,
            }
        } else {
            // NORMAL: a commit writes the WAL without syncing it; the group writer syncs the
            // WAL itself before it acknowledges any write (see `group.rs`).
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
            let mut wal = options.get_filename().as_os_str().to_owned();
            wal.push("-wal");
            file = Some(options.get_filename().to_path_buf());
            // A local file's connection cannot go stale: no ping before each use.
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
            Sqlite {
                writer: GroupWriter::start(
                    writer.clone(),
                    Some(wal.into()),
                    Arc::clone(&write_lock),
                ),
                fast: None,
                writer_pool: writer,
                reader,
            }
        };
        SQLITE_MIGRATIONS
            .run(&sqlite.writer_pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: BACKEND,
                source,
            })?;
        sqlite.writer.sync().await?;
        let mut sqlite = sqlite;
        if let Some(path) = file {
            sqlite.fast = Some(Arc::new(fast::FastWriter::start(&path, write_lock)?));
        }
        tracing::info!(backend = BACKEND, in_memory, "store opened");
        Ok(Self {
            db: Db::Sqlite(sqlite),
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
        POSTGRES_MIGRATIONS
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                backend: BACKEND,
                source,
            })?;
        tracing::info!(backend = BACKEND, "store opened");
        Ok(Self {
            db: Db::Postgres(pool),
        })
    }

    /// On SQLite, how well group commit is batching: the writes made so far and the batches
    /// (fsynced commits) they took. `None` on PostgreSQL, where each write commits alone.
    pub fn write_stats(&self) -> Option<WriteStats> {
        match &self.db {
            Db::Sqlite(s) => {
                let (writes, batches) = s.writer.stats();
                let (fast_writes, fast_batches) = s.fast.as_ref().map_or((0, 0), |f| f.stats());
                Some(WriteStats {
                    writes: writes + fast_writes,
                    batches: batches + fast_batches,
                })
            }
            Db::Postgres(_) => None,
        }
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(s) => {
                if let Err(e) = s.writer.flush().await {
                    tracing::error!(error = %e, "last batch not committed on close");
                }
                s.reader.close().await;
                s.writer_pool.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }

    // ---- issuer ---------------------------------------------------------------------------

    /// Creates an account and returns its id.
    pub async fn create_account(&self, account: &NewAccount) -> Result<i64, StoreError> {
        dispatch!(self.writer => create_account(account))
    }

    /// The account with this id.
    pub async fn account(&self, id: i64) -> Result<Option<AccountRow>, StoreError> {
        dispatch!(self.reader => account(id))
    }

    /// Adds a card; [`StoreError::AlreadyExists`] if its hash is taken,
    /// [`StoreError::Rejected`] if its account does not exist.
    pub async fn create_card(&self, card: &IssuerCardRow) -> Result<(), StoreError> {
        dispatch!(self.writer => create_card(card))
    }

    /// The card with this PAN hash.
    pub async fn card(&self, pan_hash: &[u8; 32]) -> Result<Option<IssuerCardRow>, StoreError> {
        dispatch!(self.reader => card(pan_hash))
    }

    /// Sets a card's status (`"active"`, `"blocked"`, `"lost_or_stolen"`); false if no such card.
    pub async fn set_card_status(
        &self,
        pan_hash: &[u8; 32],
        status: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self.writer => set_card_status(pan_hash, status))
    }

    /// Authorizes `req` in one transaction, exactly once per dedup key.
    ///
    /// If the dedup key is already stored, returns [`AuthOutcome::Duplicate`] with the original
    /// record and posts nothing (`decide` is not called). Otherwise loads the card, its account
    /// (both locked) and the card's velocity (approvals still held with `at_unix` greater than
    /// `req.at_unix - window_secs`), calls `decide`, records the decision and, when
    /// `hold_minor > 0` (an approval), adds the hold to the account, then commits and returns
    /// [`AuthOutcome::Fresh`]. An approval without an account, or a negative hold, is refused
    /// with [`StoreError::InvalidDecision`] and nothing is written.
    pub async fn issuer_authorize<F>(
        &self,
        req: &AuthRequestRow,
        window_secs: i64,
        decide: F,
    ) -> Result<AuthOutcome, StoreError>
    where
        F: FnOnce(AuthState) -> AuthDecision + Send + 'static,
    {
        if let Db::Sqlite(Sqlite {
            fast: Some(fast), ..
        }) = &self.db
        {
            let req = req.clone();
            return fast
                .run("issuer_authorize", move |conn| {
                    fast::issuer_authorize(conn, &req, window_secs, decide)
                })
                .await;
        }
        dispatch!(self.writer => issuer_authorize(req, window_secs, decide))
    }

    /// Posts a stand-in approval the network reports in an advice (0120), once per dedup key.
    ///
    /// New key: records it as approved (`"00"`) and holds `req.amount_minor` on the card's
    /// account; a card or account the issuer does not hold is recorded as
    /// [`AuthStatus::Unmatched`] with nothing held. Known key: returns
    /// [`AuthOutcome::Duplicate`], except when the issuer had declined it (answering too late
    /// for the network): the network's approval binds, so the record becomes the advice's
    /// approval, the hold is posted, and the outcome is [`AuthOutcome::Fresh`].
    pub async fn issuer_advice(
        &self,
        req: &AuthRequestRow,
        auth_code: Option<String>,
        response_blob: Vec<u8>,
    ) -> Result<AuthOutcome, StoreError> {
        dispatch!(self.writer => issuer_advice(req, auth_code, response_blob))
    }

    /// Reverses the authorization stored under `req.dedup_key`, releasing its hold exactly
    /// once. When no authorization has that key, records the key as reversed (from `req`) and
    /// returns [`ReverseOutcome::RecordedAhead`], so that a late original is never held.
    pub async fn issuer_reverse(&self, req: &AuthRequestRow) -> Result<ReverseOutcome, StoreError> {
        dispatch!(self.writer => issuer_reverse(req))
    }

    /// The authorization stored under `dedup_key`.
    pub async fn issuer_auth(&self, dedup_key: &str) -> Result<Option<StoredAuth>, StoreError> {
        dispatch!(self.reader => issuer_auth(dedup_key))
    }

    // ---- network ---------------------------------------------------------------------------

    /// Adds a token to the vault; [`StoreError::AlreadyExists`] if its hash or TUR is taken.
    pub async fn insert_token(&self, token: &TokenRow) -> Result<(), StoreError> {
        dispatch!(self.writer => insert_token(token))
    }

    /// The token with this DPAN hash.
    pub async fn token(&self, dpan_hash: &[u8; 32]) -> Result<Option<TokenRow>, StoreError> {
        dispatch!(self.reader => token(dpan_hash))
    }

    /// The token with this token unique reference.
    pub async fn token_by_tur(&self, tur: &str) -> Result<Option<TokenRow>, StoreError> {
        dispatch!(self.reader => token_by_tur(tur))
    }

    /// Every token of a payment account reference, oldest first.
    pub async fn tokens_by_par(&self, par: &str) -> Result<Vec<TokenRow>, StoreError> {
        dispatch!(self.reader => tokens_by_par(par))
    }

    /// Sets a token's status (`"active"`, `"suspended"`, `"deleted"`); false if no such TUR.
    /// Deleting a token revokes its limited-use keys in the same transaction.
    pub async fn set_token_status(&self, tur: &str, status: &str) -> Result<bool, StoreError> {
        dispatch!(self.writer => set_token_status(tur, status))
    }

    /// Loads the token locked, runs `f` on it and writes back its mutable fields (`atc_window`,
    /// `standin_count`, `status`) if `f` changed them, in one transaction. Other fields changed
    /// by `f` are ignored, and the token's ATC uses are kept as they are. `None` if there is no
    /// such token (`f` is not called). Concurrent updates of one token run one after the other.
    pub async fn token_update<T, F>(
        &self,
        dpan_hash: &[u8; 32],
        f: F,
    ) -> Result<Option<T>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut TokenRow) -> T + Send + 'static,
    {
        let updated = self
            .token_write(dpan_hash, move |t, _| (f(t), None))
            .await?;
        Ok(updated.map(|(out, _)| out))
    }

    /// [`Store::token_update`] for the ATC check: `f` also gets the token's ATC uses, the
    /// network's record of which request consumed each of its last few ATCs (column
    /// `atc_uses`: opaque here, empty until the network writes one), and what it leaves there
    /// is written back with the row's mutable fields, in the same transaction. So the row that
    /// consumes an ATC also says who consumed it, at no extra write.
    pub async fn token_update_with_atc_uses<T, F>(
        &self,
        dpan_hash: &[u8; 32],
        f: F,
    ) -> Result<Option<T>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut TokenRow, &mut Vec<u8>) -> T + Send + 'static,
    {
        let updated = self
            .token_write(dpan_hash, move |t, uses| (f(t, uses), None))
            .await?;
        Ok(updated.map(|(out, _)| out))
    }

    /// [`Store::token_update`] whose closure may also return an advice payload, enqueued in
    /// the outbox in the same transaction (e.g. a stand-in approval and its 0120, which then
    /// exist together or not at all). Returns the closure's value and the advice's outbox id.
    pub async fn token_update_with_advice<T, F>(
        &self,
        dpan_hash: &[u8; 32],
        f: F,
    ) -> Result<Option<(T, Option<i64>)>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut TokenRow) -> (T, Option<Vec<u8>>) + Send + 'static,
    {
        self.token_write(dpan_hash, move |t, _| f(t)).await
    }

    /// The one token write behind the three above: on a SQLite file, on the fast writer (the
    /// authorization hot path); elsewhere through sqlx.
    async fn token_write<T, F>(
        &self,
        dpan_hash: &[u8; 32],
        f: F,
    ) -> Result<Option<(T, Option<i64>)>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut TokenRow, &mut Vec<u8>) -> (T, Option<Vec<u8>>) + Send + 'static,
    {
        if let Db::Sqlite(Sqlite {
            fast: Some(fast), ..
        }) = &self.db
        {
            let hash = *dpan_hash;
            return fast
                .run("token_update", move |conn| {
                    fast::token_update(conn, &hash, f)
                })
                .await;
        }
        dispatch!(self.writer => token_update(dpan_hash, f))
    }

    /// Queues a message on an outbox `queue`; returns its outbox id.
    pub async fn enqueue_advice(&self, queue: Queue, payload: &[u8]) -> Result<i64, StoreError> {
        dispatch!(self.writer => enqueue_advice(queue, payload))
    }

    /// Up to `limit` undelivered messages of `queue`, oldest first.
    pub async fn pending_advices(
        &self,
        queue: Queue,
        limit: u32,
    ) -> Result<Vec<PendingAdvice>, StoreError> {
        dispatch!(self.reader => pending_advices(queue, limit))
    }

    /// Marks an advice delivered; false if it was unknown or already delivered.
    pub async fn mark_advice_delivered(&self, id: i64) -> Result<bool, StoreError> {
        dispatch!(self.writer => mark_advice_delivered(id))
    }

    /// Counts a failed delivery attempt; returns the new count, `None` if the advice is unknown
    /// or already delivered.
    pub async fn bump_advice_attempt(&self, id: i64) -> Result<Option<i32>, StoreError> {
        dispatch!(self.writer => bump_advice_attempt(id))
    }

    // ---- acquirer --------------------------------------------------------------------------

    /// Adds a merchant; DE 42 must be 15 characters, DE 43 at most 40, the MCC 4.
    pub async fn insert_merchant(&self, merchant: &MerchantRow) -> Result<(), StoreError> {
        dispatch!(self.writer => insert_merchant(merchant))
    }

    /// Adds a terminal (DE 41, 8 characters) of an existing merchant.
    pub async fn insert_terminal(&self, terminal: &TerminalRow) -> Result<(), StoreError> {
        dispatch!(self.writer => insert_terminal(terminal))
    }

    /// The terminal and its merchant.
    pub async fn terminal_with_merchant(
        &self,
        terminal_id: &str,
    ) -> Result<Option<(TerminalRow, MerchantRow)>, StoreError> {
        dispatch!(self.reader => terminal_with_merchant(terminal_id))
    }

    /// Appends a line to the acquirer's journal; returns its id. With `reversal`, queues that
    /// message on [`Queue::AcquirerReversals`] in the same transaction, so a timed-out
    /// authorization and the reversal that cancels it are recorded together or not at all.
    pub async fn record_acquirer_txn(
        &self,
        txn: &AcquirerTxnRow,
        reversal: Option<&[u8]>,
    ) -> Result<i64, StoreError> {
        if let Db::Sqlite(Sqlite {
            fast: Some(fast), ..
        }) = &self.db
        {
            let (txn, reversal) = (txn.clone(), reversal.map(<[u8]>::to_vec));
            return fast
                .run("record_acquirer_txn", move |conn| {
                    fast::record_acquirer_txn(conn, &txn, reversal.as_deref())
                })
                .await;
        }
        dispatch!(self.writer => record_acquirer_txn(txn, reversal))
    }

    /// The terminal's last `limit` journal lines, newest first.
    pub async fn acquirer_journal(
        &self,
        terminal_id: &str,
        limit: u32,
    ) -> Result<Vec<AcquirerTxnRow>, StoreError> {
        dispatch!(self.reader => acquirer_journal(terminal_id, limit))
    }

    // ---- seeding ---------------------------------------------------------------------------

    /// True once [`Store::mark_seeded`] ran: the host seeds demo data only when this is false.
    pub async fn seeded(&self) -> Result<bool, StoreError> {
        dispatch!(self.reader => seeded())
    }

    /// Records that demo data was seeded; false if it already was.
    pub async fn mark_seeded(&self) -> Result<bool, StoreError> {
        dispatch!(self.writer => mark_seeded())
    }
}

/// A PostgreSQL schema to isolate one run (a test, a benchmark) inside a shared database.
#[derive(Debug)]
pub struct PgSchema {
    base_url: String,
    name: String,
}

impl PgSchema {
    /// Creates schema `name` (letters, digits and `_` only) in the database at `base_url`.
    pub async fn create(base_url: &str, name: &str) -> Result<Self, StoreError> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::UnsupportedUrl);
        }
        let mut conn = sqlx::PgConnection::connect(base_url)
            .await
            .map_err(|source| StoreError::Connect {
                backend: "postgres",
                source,
            })?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {name}"
        )))
        .execute(&mut conn)
        .await
        .map_err(|source| StoreError::Connect {
            backend: "postgres",
            source,
        })?;
        let _ = conn.close().await;
        Ok(Self {
            base_url: base_url.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The URL that connects with this schema as the search path.
    pub fn url(&self) -> String {
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

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) -> Result<(), StoreError> {
        let mut conn = sqlx::PgConnection::connect(&self.base_url)
            .await
            .map_err(|source| StoreError::Connect {
                backend: "postgres",
                source,
            })?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .execute(&mut conn)
        .await
        .map_err(|source| StoreError::Connect {
            backend: "postgres",
            source,
        })?;
        let _ = conn.close().await;
        Ok(())
    }
}
