//! The SQLite hot path: the authorization writes (`issuer_authorize`, `token_update`, the
//! acquirer's journal) run on a dedicated thread over a rusqlite connection, in group-committed
//! batches.
//!
//! Why a second writer: through sqlx every statement is a round trip between the caller's task
//! and the connection's worker thread, then a wait in the async runtime's queue before the next
//! statement; an authorization's ten-odd statements spent far longer there than in SQLite (~40
//! us a statement against ~3 us here), all of it while holding the one write lock. Here a batch
//! runs start to finish on one thread, each write in its own savepoint, then commits once.
//!
//! The writer thread takes writes from a channel: it blocks for the first, takes whatever else
//! is queued (up to [`MAX_BATCH`]), opens `BEGIN IMMEDIATE`, runs each write inside `SAVEPOINT`
//! (released when it succeeds, rolled back when it fails or panics, so a write fails alone) and
//! commits. The connection runs `synchronous=NORMAL`, so `COMMIT` writes the batch to the WAL
//! without waiting for the disk; a second thread, the syncer, then syncs the WAL file once for
//! every batch committed since its last sync, and only then answers their writes. So the
//! writer runs the next batch while the previous ones reach the disk, batches become durable
//! in commit order (one sync covers every frame written before it), and no write is answered
//! before it is durable: the guarantee of `synchronous=FULL`, with the fsync shared.
//!
//! The rest of the store's writes keep going through the sqlx group writer ([`crate::group`]);
//! both writers take the same in-process write lock around a batch, so they take turns fairly
//! instead of meeting on SQLite's busy handler.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};

use crate::rows::{self, Get};
use crate::{
    AccountRow, AcquirerTxnRow, AuthDecision, AuthOutcome, AuthRequestRow, AuthState, AuthStatus,
    IssuerCardRow, Queue, StoreError, StoredAuth, TokenRow,
};

/// Writes in one batch at most.
pub(crate) const MAX_BATCH: usize = 512;

/// What a write hands back to the thread: keep its savepoint or not, and how to answer it
/// once the batch's commit is known.
type Completion = Box<dyn FnOnce(bool) + Send>;
/// A write: runs on the connection inside its savepoint (`None`: the batch could not begin, so
/// it must fail without running).
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Completion) + Send>;

/// The rusqlite writer thread's handle. Cheap to share; the thread ends when the last handle
/// is dropped.
pub(crate) struct FastWriter {
    jobs: mpsc::Sender<Job>,
    writes: Arc<AtomicU64>,
    batches: Arc<AtomicU64>,
}

impl std::fmt::Debug for FastWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastWriter").finish_non_exhaustive()
    }
}

/// Maps a rusqlite error raised by `op` as [`StoreError::db`] maps sqlx's: constraint
/// violations by kind, the rest by SQLite's result code (never a bound value).
fn lite(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    move |e| {
        let extended = match &e {
            rusqlite::Error::SqliteFailure(err, _) => Some(err.extended_code),
            _ => None,
        };
        match extended {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                StoreError::AlreadyExists { op }
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::Rejected {
                op,
                constraint: "foreign key",
            },
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => StoreError::Rejected {
                op,
                constraint: "check",
            },
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => StoreError::Rejected {
                op,
                constraint: "not null",
            },
            _ => StoreError::Engine {
                op,
                code: e
                    .sqlite_error_code()
                    .map_or_else(|| "not an SQLite error".to_owned(), |c| format!("{c:?}")),
            },
        }
    }
}

impl FastWriter {
    /// Opens a second connection to the database file at `path` (already migrated) and
    /// starts the writer thread. `lock` is the write lock shared with the sqlx group writer.
    pub(crate) fn start(
        path: &Path,
        lock: Arc<tokio::sync::Mutex<()>>,
    ) -> Result<Self, StoreError> {
        const OP: &str = "open fast writer";
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(lite(OP))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 10000;",
        )
        .map_err(lite(OP))?;
        conn.set_prepared_statement_cache_capacity(64);
        let (jobs, queue) = mpsc::channel::<Job>();
        let writes = Arc::new(AtomicU64::new(0));
        let batches = Arc::new(AtomicU64::new(0));
        let (w, b) = (Arc::clone(&writes), Arc::clone(&batches));
        let (committed, to_sync) = mpsc::channel::<Vec<Completion>>();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = std::path::PathBuf::from(wal);
        std::thread::Builder::new()
            .name("store-syncer".into())
            .spawn(move || syncer_thread(&wal, &to_sync))
            .map_err(|_| StoreError::CommitFailed { op: OP })?;
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_thread(&conn, &queue, &lock, &w, &b, &committed))
            .map_err(|_| StoreError::CommitFailed { op: OP })?;
        Ok(Self {
            jobs,
            writes,
            batches,
        })
    }

    /// Writes kept and batches committed so far.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.writes.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed),
        )
    }

    /// Runs `f` as one write in the next batch; its value once the batch is committed.
    pub(crate) async fn run<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => catch_unwind(AssertUnwindSafe(|| f(conn))).unwrap_or(Err(
                    StoreError::InvalidDecision {
                        reason: "the decision panicked",
                    },
                )),
                None => Err(StoreError::CommitFailed { op }),
            };
            let keep = result.is_ok();
            let completion: Completion = Box::new(move |committed| {
                let outcome = match result {
                    Ok(_) if !committed => Err(StoreError::CommitFailed { op }),
                    other => other,
                };
                // The caller may have gone away; its write stands or falls with the batch.
                let _ = answer.send(outcome);
            });
            (keep, completion)
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::CommitFailed { op })?;
        answered
            .await
            .map_err(|_| StoreError::CommitFailed { op })?
    }
}

/// Syncs the WAL for every committed batch queued since the last sync, then answers their
/// writes (failed if the sync fails: committed but not known durable, so not acknowledged).
fn syncer_thread(wal: &Path, committed: &mpsc::Receiver<Vec<Completion>>) {
    while let Ok(first) = committed.recv() {
        let mut batches = vec![first];
        while let Ok(more) = committed.try_recv() {
            batches.push(more);
        }
        let synced = std::fs::File::open(wal).and_then(|f| f.sync_data());
        if let Err(e) = &synced {
            tracing::error!(error = %e, "WAL sync failed; the batch's writes are reported failed");
        }
        for done in batches.into_iter().flatten() {
            done(synced.is_ok());
        }
    }
}

fn writer_thread(
    conn: &Connection,
    queue: &mpsc::Receiver<Job>,
    lock: &tokio::sync::Mutex<()>,
    writes: &AtomicU64,
    batches: &AtomicU64,
    to_sync: &mpsc::Sender<Vec<Completion>>,
) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let guard = lock.blocking_lock();
        let mut completions = Vec::with_capacity(jobs.len());
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "fast writer could not begin a batch; its writes fail");
            for job in jobs {
                completions.push(job(None).1);
            }
            drop(guard);
            for done in completions {
                done(false);
            }
            continue;
        }
        let mut kept = 0u64;
        for job in jobs {
            let savepoint = conn.execute_batch("SAVEPOINT w");
            let (keep, done) = job(savepoint.is_ok().then_some(conn));
            let closed = if keep {
                conn.execute_batch("RELEASE w")
            } else if savepoint.is_ok() {
                conn.execute_batch("ROLLBACK TO w; RELEASE w")
            } else {
                Ok(())
            };
            match closed {
                Ok(()) => kept += u64::from(keep),
                Err(e) => tracing::error!(error = %e, "fast writer savepoint failed"),
            }
            completions.push(done);
        }
        let committed = match conn.execute_batch("COMMIT") {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "fast writer commit failed; its writes are rolled back");
                let _ = conn.execute_batch("ROLLBACK");
                false
            }
        };
        drop(guard);
        batches.fetch_add(1, Ordering::Relaxed);
        if committed {
            writes.fetch_add(kept, Ordering::Relaxed);
            if let Err(mpsc::SendError(completions)) = to_sync.send(completions) {
                for done in completions {
                    done(false);
                }
            }
        } else {
            for done in completions {
                done(false);
            }
        }
    }
}

// ---- typed column access for rusqlite rows ---------------------------------------------------

impl Get for rusqlite::Row<'_> {
    fn i64(&self, col: &'static str) -> Result<i64, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
    fn i32(&self, col: &'static str) -> Result<i32, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
    fn text(&self, col: &'static str) -> Result<String, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
    fn opt_text(&self, col: &'static str) -> Result<Option<String>, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
    fn opt_i64(&self, col: &'static str) -> Result<Option<i64>, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
    fn bytes(&self, col: &'static str) -> Result<Vec<u8>, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
    fn opt_bytes(&self, col: &'static str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
    fn opt_i32(&self, col: &'static str) -> Result<Option<i32>, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
    fn boolean(&self, col: &'static str) -> Result<bool, StoreError> {
        self.get(col)
            .map_err(|_| StoreError::Corrupt { column: col })
    }
}

// ---- the hot operations, as in ops.rs (same SQL, same semantics) ------------------------------

fn auth_by_key(
    conn: &Connection,
    dedup_key: &str,
    op: &'static str,
) -> Result<Option<StoredAuth>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, dedup_key, pan_hash, kind, amount_minor, currency_numeric, at_unix, \
             status, response_code, auth_code, hold_minor, account_id, response_blob \
             FROM issuer_auths WHERE dedup_key = ?1",
        )
        .map_err(lite(op))?;
    let mut found = stmt.query(params![dedup_key]).map_err(lite(op))?;
    match found.next().map_err(lite(op))? {
        Some(row) => rows::stored_auth(row).map(Some),
        None => Ok(None),
    }
}

fn claim(
    conn: &Connection,
    req: &AuthRequestRow,
    kind: &str,
    op: &'static str,
) -> Result<Option<u64>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO issuer_auths (dedup_key, pan_hash, kind, amount_minor, \
             currency_numeric, at_unix, status, response_code, hold_minor, response_blob) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', '', 0, x'') \
             ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        )
        .map_err(lite(op))?;
    let id: Option<i64> = stmt
        .query_row(
            params![
                req.dedup_key,
                &req.pan_hash[..],
                kind,
                req.amount_minor,
                req.currency_numeric,
                req.at_unix
            ],
            |r| r.get(0),
        )
        .optional()
        .map_err(lite(op))?;
    id.map(|id| u64::try_from(id).map_err(|_| StoreError::Corrupt { column: "id" }))
        .transpose()
}

fn card_and_account(
    conn: &Connection,
    pan_hash: &[u8; 32],
    op: &'static str,
) -> Result<(Option<IssuerCardRow>, Option<AccountRow>), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT c.pan_hash, c.last4, c.expiry_yymm, c.psn, c.status, c.account_id, \
             a.id, a.kind, a.limit_minor, a.balance_minor, a.holds_minor, \
             a.currency_numeric, a.is_open \
             FROM issuer_cards c JOIN accounts a ON a.id = c.account_id \
             WHERE c.pan_hash = ?1",
        )
        .map_err(lite(op))?;
    let mut found = stmt.query(params![&pan_hash[..]]).map_err(lite(op))?;
    match found.next().map_err(lite(op))? {
        Some(row) => Ok((Some(rows::card(row)?), Some(rows::account(row)?))),
        None => Ok((None, None)),
    }
}

fn velocity(
    conn: &Connection,
    pan_hash: &[u8; 32],
    after_unix: i64,
    op: &'static str,
) -> Result<(u32, i64), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT COUNT(*), CAST(COALESCE(SUM(hold_minor), 0) AS BIGINT) \
             FROM issuer_auths WHERE pan_hash = ?1 AND at_unix > ?2 AND status = 'held'",
        )
        .map_err(lite(op))?;
    let (n, total): (i64, i64) = stmt
        .query_row(params![&pan_hash[..], after_unix], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(lite(op))?;
    Ok((u32::try_from(n).unwrap_or(u32::MAX), total))
}

fn settle(conn: &Connection, stored: &StoredAuth, op: &'static str) -> Result<(), StoreError> {
    let id = i64::try_from(stored.sequence).map_err(|_| StoreError::Corrupt { column: "id" })?;
    conn.prepare_cached(
        "UPDATE issuer_auths SET kind = ?2, status = ?3, response_code = ?4, auth_code = ?5, \
         hold_minor = ?6, account_id = ?7, response_blob = ?8 WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            id,
            stored.kind,
            stored.status.as_str(),
            stored.response_code,
            stored.auth_code,
            stored.hold_minor,
            stored.account_id,
            stored.response_blob
        ])
    })
    .map_err(lite(op))?;
    if stored.status == AuthStatus::Held {
        let Some(account_id) = stored.account_id else {
            return Err(StoreError::InvalidDecision {
                reason: "a hold needs an account",
            });
        };
        conn.prepare_cached("UPDATE accounts SET holds_minor = holds_minor + ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![account_id, stored.hold_minor]))
            .map_err(lite(op))?;
    }
    Ok(())
}

/// [`crate::Store::issuer_authorize`] on the writer thread.
pub(crate) fn issuer_authorize<F>(
    conn: &Connection,
    req: &AuthRequestRow,
    window_secs: i64,
    decide: F,
) -> Result<AuthOutcome, StoreError>
where
    F: FnOnce(AuthState) -> AuthDecision,
{
    const OP: &str = "issuer_authorize";
    let Some(sequence) = claim(conn, req, &req.kind, OP)? else {
        let original = auth_by_key(conn, &req.dedup_key, OP)?.ok_or(StoreError::Corrupt {
            column: "dedup_key",
        })?;
        return Ok(AuthOutcome::Duplicate(original));
    };
    let (card, account) = card_and_account(conn, &req.pan_hash, OP)?;
    let after_unix = req.at_unix.saturating_sub(window_secs);
    let (velocity_count, velocity_amount_minor) = velocity(conn, &req.pan_hash, after_unix, OP)?;
    let account_id = account.as_ref().map(|a| a.id);
    let decision = decide(AuthState {
        sequence,
        card,
        account,
        velocity_count,
        velocity_amount_minor,
    });
    if decision.hold_minor < 0 {
        return Err(StoreError::InvalidDecision {
            reason: "negative hold",
        });
    }
    let status = if decision.hold_minor > 0 {
        AuthStatus::Held
    } else {
        AuthStatus::Declined
    };
    let stored = StoredAuth {
        sequence,
        dedup_key: req.dedup_key.clone(),
        pan_hash: req.pan_hash,
        kind: req.kind.clone(),
        amount_minor: req.amount_minor,
        currency_numeric: req.currency_numeric,
        at_unix: req.at_unix,
        status,
        response_code: decision.response_code,
        auth_code: decision.auth_code,
        hold_minor: decision.hold_minor,
        account_id,
        response_blob: decision.response_blob,
    };
    settle(conn, &stored, OP)?;
    Ok(AuthOutcome::Fresh(stored))
}

fn enqueue(
    conn: &Connection,
    queue: Queue,
    payload: &[u8],
    op: &'static str,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO advice_outbox (queue, payload, attempts, delivered) \
         VALUES (?1, ?2, 0, FALSE) RETURNING id",
    )
    .and_then(|mut s| s.query_row(params![queue.as_str(), payload], |r| r.get(0)))
    .map_err(lite(op))
}

/// [`crate::Store::token_update_with_atc_uses`] (and the other token updates) on the writer
/// thread.
pub(crate) fn token_update<T, F>(
    conn: &Connection,
    dpan_hash: &[u8; 32],
    f: F,
) -> Result<Option<(T, Option<i64>)>, StoreError>
where
    F: FnOnce(&mut TokenRow, &mut Vec<u8>) -> (T, Option<Vec<u8>>),
{
    const OP: &str = "token_update";
    let (before, uses_before) = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT dpan_hash, dpan_last4, fpan_envelope, token_expiry_yymm, status, \
                 token_requestor_id, channels, device_id, psn, tur, par, atc_window, \
                 standin_count, created_at_unix, credential, atc_uses FROM tokens WHERE dpan_hash = ?1",
            )
            .map_err(lite(OP))?;
        let mut found = stmt.query(params![&dpan_hash[..]]).map_err(lite(OP))?;
        match found.next().map_err(lite(OP))? {
            Some(row) => (rows::token(row)?, row.bytes("atc_uses")?),
            None => return Ok(None),
        }
    };
    let mut after = before.clone();
    let mut uses = uses_before.clone();
    let (out, advice) = f(&mut after, &mut uses);
    if after.status != before.status
        || after.atc_window != before.atc_window
        || after.standin_count != before.standin_count
        || uses != uses_before
    {
        conn.prepare_cached(
            "UPDATE tokens SET status = ?2, atc_window = ?3, standin_count = ?4, \
             atc_uses = ?5 WHERE dpan_hash = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                &dpan_hash[..],
                after.status,
                after.atc_window,
                after.standin_count,
                uses
            ])
        })
        .map_err(lite(OP))?;
    }
    let advice_id = match advice {
        Some(payload) => Some(enqueue(conn, Queue::NetworkAdvices, &payload, OP)?),
        None => None,
    };
    Ok(Some((out, advice_id)))
}

/// [`crate::Store::record_acquirer_txn`] on the writer thread.
pub(crate) fn record_acquirer_txn(
    conn: &Connection,
    t: &AcquirerTxnRow,
    reversal: Option<&[u8]>,
) -> Result<i64, StoreError> {
    const OP: &str = "record_acquirer_txn";
    let id = conn
        .prepare_cached(
            "INSERT INTO acquirer_txns (terminal_id, stan, rrn, amount_minor, \
             currency_numeric, response_code, auth_code, at_unix) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )
        .and_then(|mut s| {
            s.query_row(
                params![
                    t.terminal_id,
                    t.stan,
                    t.rrn,
                    t.amount_minor,
                    t.currency_numeric,
                    t.response_code,
                    t.auth_code,
                    t.at_unix
                ],
                |r| r.get(0),
            )
        })
        .map_err(lite(OP))?;
    if let Some(payload) = reversal {
        enqueue(conn, Queue::AcquirerReversals, payload, OP)?;
    }
    Ok(id)
}
