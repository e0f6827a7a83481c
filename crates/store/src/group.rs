//! Group commit for SQLite: many writers' transactions share one `COMMIT` (one fsync).
//!
//! SQLite has one writer at a time, and with `synchronous=FULL` every commit waits for the
//! disk. Committing each authorization alone caps a host at a few hundred writes a second
//! however fast the statements run. So writes join a *batch*: one transaction on the writer
//! connection, opened by the first write that finds none open. Each write runs inside its own
//! savepoint in that transaction: a write that fails rolls back to its savepoint and leaves the
//! others untouched, exactly as if it had run in a transaction of its own. A *committer* task
//! commits the batch as soon as it gets the connection: the writes that queued while the
//! previous commit was waiting for the disk form the next batch, so batches grow with the load
//! and cost nothing when it is light (a lone write is committed at once).
//!
//! A write's caller gets its result only after the batch holding it is committed: `Ok` means
//! on stable storage, the same guarantee as a transaction of its own. If the commit fails, every
//! write of that batch gets the error and none of them happened.
//!
//! For a file database the fsync is taken off the writer: the connection runs
//! `synchronous=NORMAL` (in WAL mode a commit then writes its frames to the WAL without
//! syncing), and after each `COMMIT` the committer releases the connection and syncs the WAL
//! file itself, acknowledging the batch's writes only when that returns. So the next batch runs
//! its statements while the previous one reaches the disk, and batches become durable in commit
//! order (each sync covers every frame written before it). Readers on other connections may see
//! a batch a few milliseconds before it is durable; every *write* (which may act on what it
//! reads) runs on the writer connection, in a later batch, and is acknowledged after a later
//! sync, so nothing acknowledged ever depends on something a crash could take back.
//!
//! The writes run in the caller's task (no `'static` closures, no extra thread hops): the
//! caller locks the writer state, runs its statements, releases its savepoint and unlocks. If
//! the caller's future is dropped half-way, the savepoint stays marked open and the next user
//! of the connection rolls it back first, so a cancelled write never leaks into a batch.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use sqlx::pool::PoolConnection;
use sqlx::{Executor as _, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, MutexGuard, Notify, watch};

use crate::StoreError;

/// Failed batch numbers remembered for late waiters (a failed commit is rare: disk full, I/O
/// error); far more than can be waiting at once.
const FAILED_REMEMBERED: usize = 1024;

/// The writer connection and the batch open on it.
struct State {
    /// The connection while it is held (always, for a file; only during a batch for an
    /// in-memory database, whose one connection readers share).
    conn: Option<PoolConnection<Sqlite>>,
    /// A batch (transaction) is open.
    open: bool,
    /// The open batch's number; batches are numbered from 1.
    batch: u64,
    /// A write's savepoint was left open by a cancelled caller.
    dirty: bool,
    /// The in-process write lock (shared with the fast writer), held while a batch is open.
    write_guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// What has been committed so far.
#[derive(Clone, Debug, Default)]
struct Committed {
    /// Every batch up to this number is settled (committed or failed).
    through: u64,
    /// Recently failed batches.
    failed: VecDeque<u64>,
}

/// The SQLite writer with group commit. Shared by the store's clones.
pub(crate) struct GroupWriter {
    pool: SqlitePool,
    /// The database's WAL file, synced by the committer after each commit (file databases);
    /// `None` for an in-memory database, which gives its one connection back between batches.
    wal: Option<std::path::PathBuf>,
    /// Taken while a batch is open, so this writer and the fast writer take turns.
    write_lock: Arc<Mutex<()>>,
    state: Mutex<State>,
    wake: Arc<Notify>,
    committed: watch::Sender<Committed>,
    /// Writes kept (their savepoint released) so far.
    writes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter").finish_non_exhaustive()
    }
}

fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    StoreError::db(op)
}

impl GroupWriter {
    /// A writer over `pool` (which must hand out the one writer connection) and its committer
    /// task, which ends when the last clone of the returned writer is dropped.
    pub(crate) fn start(
        pool: SqlitePool,
        wal: Option<std::path::PathBuf>,
        write_lock: Arc<Mutex<()>>,
    ) -> Arc<Self> {
        let wake = Arc::new(Notify::new());
        let writer = Arc::new(Self {
            pool,
            wal,
            write_lock,
            state: Mutex::new(State {
                conn: None,
                open: false,
                batch: 0,
                dirty: false,
                write_guard: None,
            }),
            wake: Arc::clone(&wake),
            committed: watch::Sender::new(Committed::default()),
            writes: std::sync::atomic::AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&writer);
        tokio::spawn(committer(weak, wake));
        writer
    }

    /// Joins the open batch (opening one if needed) inside a fresh savepoint. The caller runs
    /// its statements on [`Entry::conn`], then calls [`Entry::finish`].
    ///
    /// The state flags are set *before* each statement is sent, so a caller cancelled while a
    /// statement is in flight leaves flags that describe what the connection will be in.
    pub(crate) async fn enter(&self, op: &'static str) -> Result<Entry<'_>, StoreError> {
        let mut state = self.state.lock().await;
        if clean(&mut state, op).await.is_err() {
            self.abort_locked(&mut state).await;
        }
        if !state.open {
            if state.conn.is_none() {
                state.conn = Some(self.pool.acquire().await.map_err(db(op))?);
            }
            state.write_guard = Some(Arc::clone(&self.write_lock).lock_owned().await);
            state.open = true;
            state.batch += 1;
            if let Err(e) = connection(&mut state)?.execute("BEGIN IMMEDIATE").await {
                // Nothing joined this batch: it settles as failed, which nobody waits for.
                self.abort_locked(&mut state).await;
                return Err(db(op)(e));
            }
        }
        state.dirty = true;
        if let Err(e) = connection(&mut state)?.execute("SAVEPOINT w").await {
            state.dirty = false;
            return Err(db(op)(e));
        }
        Ok(Entry {
            writer: self,
            state,
            op,
        })
    }

    /// Rolls the open batch back: every write in it fails with [`StoreError::CommitFailed`].
    /// Used when the connection is in a state no savepoint can repair.
    async fn abort_locked(&self, state: &mut MutexGuard<'_, State>) {
        if let Some(conn) = state.conn.as_mut()
            && conn.execute("ROLLBACK").await.is_err()
        {
            state.conn = None;
        }
        state.dirty = false;
        state.write_guard = None;
        if state.open {
            state.open = false;
            self.settle(state.batch, false);
        }
    }

    fn settle(&self, batch: u64, ok: bool) {
        self.committed.send_modify(|c| {
            c.through = c.through.max(batch);
            if !ok {
                if c.failed.len() == FAILED_REMEMBERED {
                    c.failed.pop_front();
                }
                c.failed.push_back(batch);
            }
        });
    }

    /// Writes kept so far and batches settled so far (committed or failed).
    pub(crate) fn stats(&self) -> (u64, u64) {
        let writes = self.writes.load(std::sync::atomic::Ordering::Relaxed);
        (writes, self.committed.borrow().through)
    }

    /// Waits until `batch` is settled: `Ok` once it is committed.
    pub(crate) async fn committed(&self, batch: u64, op: &'static str) -> Result<(), StoreError> {
        let mut rx = self.committed.subscribe();
        let settled = rx
            .wait_for(|c| c.through >= batch)
            .await
            .map_err(|_| StoreError::Corrupt { column: "commit" })?;
        if settled.failed.contains(&batch) {
            return Err(StoreError::CommitFailed { op });
        }
        Ok(())
    }

    /// Commits the open batch, if any, and makes it durable now, then gives the connection
    /// back to its pool (used on close).
    pub(crate) async fn flush(&self) -> Result<(), StoreError> {
        let committed = {
            let mut state = self.state.lock().await;
            self.commit_locked(&mut state).await
        };
        let result = match committed {
            Ok(Some(batch)) => self.sync_and_settle(batch).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        self.state.lock().await.conn = None;
        result
    }

    /// Makes everything committed so far durable (after writes outside the group writer, such
    /// as migrations).
    pub(crate) async fn sync(&self) -> Result<(), StoreError> {
        match &self.wal {
            Some(wal) => sync_file(wal.clone()).await,
            None => Ok(()),
        }
    }

    /// Syncs the WAL, then settles `batch` (committed, not yet durable): its writes are
    /// acknowledged, or fail if the WAL cannot be synced and no checkpoint can stand in.
    async fn sync_and_settle(&self, batch: u64) -> Result<(), StoreError> {
        const OP: &str = "group commit sync";
        let mut result = self.sync().await;
        if let Err(e) = &result {
            // A full checkpoint syncs the WAL and the database through SQLite itself.
            tracing::warn!(error = %e, batch, "WAL sync failed; trying a full checkpoint");
            let mut state = self.state.lock().await;
            result = match state.conn.as_mut() {
                Some(conn) => conn
                    .execute("PRAGMA wal_checkpoint(FULL)")
                    .await
                    .map(|_| ())
                    .map_err(db(OP)),
                None => Err(StoreError::CommitFailed { op: OP }),
            };
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, batch, "batch committed but not durable; its writes are reported failed");
        }
        self.settle(batch, result.is_ok());
        result
    }

    /// Commits the open batch. `Ok(Some(batch))`: committed, and still to be synced and
    /// settled ([`GroupWriter::sync_and_settle`]) once the connection is released; `Ok(None)`:
    /// nothing to do, or settled already (in-memory).
    async fn commit_locked(
        &self,
        state: &mut MutexGuard<'_, State>,
    ) -> Result<Option<u64>, StoreError> {
        const OP: &str = "group commit";
        if clean(state, OP).await.is_err() {
            self.abort_locked(state).await;
            return Err(StoreError::CommitFailed { op: OP });
        }
        if !state.open {
            return Ok(None);
        }
        let batch = state.batch;
        let result = match state.conn.as_mut() {
            Some(conn) => conn.execute("COMMIT").await.map(|_| ()).map_err(db(OP)),
            None => Err(StoreError::CommitFailed { op: OP }),
        };
        let pending = match &result {
            Ok(()) => {
                state.open = false;
                state.write_guard = None;
                if self.wal.is_some() {
                    Some(batch)
                } else {
                    self.settle(batch, true);
                    None
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch, "group commit failed; its writes are rolled back");
                self.abort_locked(state).await;
                None
            }
        };
        if self.wal.is_none() {
            state.conn = None;
        }
        result.map(|()| pending)
    }
}

fn connection<'s>(
    state: &'s mut MutexGuard<'_, State>,
) -> Result<&'s mut SqliteConnection, StoreError> {
    match state.conn.as_mut() {
        Some(conn) => Ok(&mut **conn),
        None => Err(StoreError::Corrupt {
            column: "writer connection",
        }),
    }
}

/// Rolls back a savepoint a cancelled write left open.
async fn clean(state: &mut MutexGuard<'_, State>, op: &'static str) -> Result<(), StoreError> {
    if !state.dirty {
        return Ok(());
    }
    let conn = connection(state)?;
    conn.execute("ROLLBACK TO w").await.map_err(db(op))?;
    conn.execute("RELEASE w").await.map_err(db(op))?;
    state.dirty = false;
    Ok(())
}

/// A write inside the open batch, holding the writer connection.
pub(crate) struct Entry<'w> {
    writer: &'w GroupWriter,
    state: MutexGuard<'w, State>,
    op: &'static str,
}

impl Entry<'_> {
    /// The connection, inside the write's savepoint.
    pub(crate) fn conn(&mut self) -> Result<&mut SqliteConnection, StoreError> {
        connection(&mut self.state)
    }

    /// Ends the write: keeps its changes (`keep`) or rolls them back, lets the next write in,
    /// and returns the batch number to wait for.
    pub(crate) async fn finish(mut self, keep: bool) -> Result<u64, StoreError> {
        let op = self.op;
        let conn = connection(&mut self.state)?;
        if !keep {
            conn.execute("ROLLBACK TO w").await.map_err(db(op))?;
        }
        conn.execute("RELEASE w").await.map_err(db(op))?;
        self.state.dirty = false;
        if keep {
            self.writer
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let batch = self.state.batch;
        drop(self.state);
        self.writer.wake.notify_one();
        Ok(batch)
    }
}

/// Commits whatever batch is open each time a write ends; the writes that queued during a
/// commit get the connection before the committer does again (the lock is fair), so they form
/// the next batch.
async fn committer(writer: Weak<GroupWriter>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        let Some(writer) = writer.upgrade() else {
            return;
        };
        let committed = {
            let mut state = writer.state.lock().await;
            writer.commit_locked(&mut state).await
        };
        // The connection is free again: the next batch runs while this one is synced.
        if let Ok(Some(batch)) = committed {
            let _ = writer.sync_and_settle(batch).await;
        }
    }
}

/// `fsync`s (data only) the file at `path`, off the async executor.
async fn sync_file(path: std::path::PathBuf) -> Result<(), StoreError> {
    let synced =
        tokio::task::spawn_blocking(move || std::fs::File::open(&path).and_then(|f| f.sync_data()))
            .await;
    match synced {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StoreError::Sync { source: e }),
        Err(_) => Err(StoreError::CommitFailed {
            op: "group commit sync",
        }),
    }
}

impl Drop for GroupWriter {
    fn drop(&mut self) {
        // Lets the committer see it is the last one and end.
        self.wake.notify_one();
    }
}

/// Runs `$body` (an expression using the connection bound to `$conn`) as one write in the
/// group writer `$writer`, returning its value once committed.
macro_rules! group_write {
    ($writer:expr, $op:expr, |$conn:ident| $body:expr) => {{
        let writer: &$crate::group::GroupWriter = &$writer;
        let op: &'static str = $op;
        let mut entry = writer.enter(op).await?;
        let result = {
            let $conn = entry.conn()?;
            $body.await
        };
        let batch = entry.finish(result.is_ok()).await?;
        match result {
            Ok(value) => writer.committed(batch, op).await.map(|()| value),
            Err(e) => Err(e),
        }
    }};
}
pub(crate) use group_write;
