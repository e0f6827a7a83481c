//! The server side of a link: accept connections, answer requests, shut down gracefully.
//!
//! Each connection runs in its own task with a reader, a write pump and one task per request,
//! so the requests of one connection are handled concurrently (pipelining) and their responses
//! leave in completion order, batched into as few writes as possible. The peer matches
//! responses to requests by key, as ISO 8583 links do.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::codec::Codec;
use crate::frame::{
    DEFAULT_MAX_FRAME_LEN, FrameError, FrameReader, FrameWriter, frame_header, write_pump,
};

/// Answers requests. The host's business logic (issuer decisions, routing) sits behind it.
///
/// `handle` returns the response to send, or `None` when nothing goes back (for instance an
/// advice repeat already answered, or a message that is itself a response). Implement it with
/// an `async fn`, or wrap a closure with [`handler_fn`].
pub trait Handler<M>: Send + Sync + 'static {
    /// Handles one decoded request.
    fn handle(&self, msg: M) -> impl Future<Output = Option<M>> + Send;
}

/// A [`Handler`] made from a closure returning a future; see [`handler_fn`].
#[derive(Debug, Clone, Copy)]
pub struct HandlerFn<F>(F);

/// Wraps `f` (`Fn(M) -> impl Future<Output = Option<M>>`) as a [`Handler`].
pub fn handler_fn<F>(f: F) -> HandlerFn<F> {
    HandlerFn(f)
}

impl<M, F, Fut> Handler<M> for HandlerFn<F>
where
    F: Fn(M) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<M>> + Send,
{
    fn handle(&self, msg: M) -> impl Future<Output = Option<M>> + Send {
        (self.0)(msg)
    }
}

/// How a server treats its connections.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Longest frame body accepted or sent (clamped to 1..=65535).
    pub max_frame_len: usize,
    /// Requests one connection may have in the handler at once. When reached, the server stops
    /// reading that connection until one completes, and TCP pushes back on the peer.
    pub max_in_flight: usize,
    /// Connections served at once; further peers wait in the listen backlog.
    pub max_connections: usize,
    /// After the shutdown signal, how long in-flight requests have to finish and their
    /// responses to be written before the remaining connections are cut.
    pub drain_timeout: Duration,
    /// After the server has closed its side of a connection, how long it keeps reading (and
    /// discarding) so the peer can close first and the last responses are not lost to a reset.
    pub linger: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_in_flight: 64,
            max_connections: 1_024,
            drain_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(1),
        }
    }
}

/// What a server did, returned when it has shut down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// Connections accepted.
    pub connections: u64,
    /// Frames decoded and handed to the handler.
    pub requests: u64,
    /// Frames written to peers (responses and error responses).
    pub responses: u64,
    /// Frames refused: undecodable, zero-length or over the limit.
    pub rejected: u64,
    /// Requests whose handler panicked (no response was sent).
    pub handler_panics: u64,
    /// Connections still busy at the drain deadline and cut.
    pub aborted: u64,
}

/// Most bytes read and thrown away while lingering on a closing connection.
const LINGER_MAX_BYTES: usize = 1 << 20;
/// First pause after an accept error that is not about a single connection (e.g. out of file
/// descriptors); it doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause between accept attempts.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves `listener` with [`ServerConfig::default`] until `shutdown` completes; see
/// [`serve_with_config`].
pub async fn serve<C, H>(
    listener: TcpListener,
    codec: C,
    handler: H,
    shutdown: impl Future,
) -> ServeReport
where
    C: Codec,
    H: Handler<C::Message>,
{
    serve_with_config(listener, codec, handler, ServerConfig::default(), shutdown).await
}

/// Serves `listener` until `shutdown` completes, then shuts down gracefully.
///
/// Every connection gets a task. A frame that does not decode is answered with the codec's
/// error response when it has one (and the connection goes on), otherwise the connection is
/// closed; a zero-length or over-limit frame closes the connection, after the answer from
/// [`Codec::reject_frame`] if any. Logs name the peer, lengths and reasons, never contents.
/// Other connections are not affected.
///
/// Shutdown: stop accepting (the listener is closed, so new connections are refused), stop
/// reading requests, let in-flight requests finish and their responses be written, close each
/// connection; connections still busy after [`ServerConfig::drain_timeout`] are cut.
///
/// Accept errors never end the server: they are logged, and retried after a growing pause
/// when they are not about a single connection. Stop it with `shutdown`, for instance
/// `tokio::signal::ctrl_c()` or a `oneshot` receiver.
pub async fn serve_with_config<C, H>(
    listener: TcpListener,
    codec: C,
    handler: H,
    config: ServerConfig,
    shutdown: impl Future,
) -> ServeReport
where
    C: Codec,
    H: Handler<C::Message>,
{
    let drain_timeout = config.drain_timeout;
    let shared = Arc::new(Shared {
        codec,
        handler,
        config,
        stats: Stats::default(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let limit = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut shutdown = std::pin::pin!(shutdown);
    info!(addr = ?listener.local_addr().ok(), "accepting connections");

    loop {
        let accepted = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = accept(&listener, &limit) => accepted,
        };
        while let Some(done) = connections.try_join_next() {
            log_connection_end(done);
        }
        match accepted {
            Ok((stream, peer, permit)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                if let Err(err) = stream.set_nodelay(true) {
                    debug!(%peer, %err, "could not disable Nagle");
                }
                let task = connection(stream, Arc::clone(&shared), stop_rx.clone(), permit);
                connections.spawn(task.instrument(info_span!("connection", %peer)));
            }
            Err(err) if is_per_connection(&err) => debug!(%err, "accept failed for one peer"),
            Err(err) => {
                error!(%err, pause_ms = backoff.as_millis(), "accept failed");
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }

    drop(listener);
    stop_tx.send_replace(true);
    info!(connections = connections.len(), "shutting down: draining");
    let drained = tokio::time::timeout(drain_timeout, async {
        while let Some(done) = connections.join_next().await {
            log_connection_end(done);
        }
    })
    .await
    .is_ok();
    let aborted = if drained {
        0
    } else {
        let left = connections.len();
        warn!(
            connections = left,
            "drain deadline passed: cutting connections"
        );
        connections.shutdown().await;
        u64::try_from(left).unwrap_or(u64::MAX)
    };
    let report = shared.stats.report(aborted);
    info!(?report, "server stopped");
    report
}

/// Everything the connection tasks share.
struct Shared<C, H> {
    codec: C,
    handler: H,
    config: ServerConfig,
    stats: Stats,
}

/// Counters behind [`ServeReport`].
#[derive(Debug, Default)]
struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
    responses: AtomicU64,
    rejected: AtomicU64,
    handler_panics: AtomicU64,
}

impl Stats {
    fn report(&self, aborted: u64) -> ServeReport {
        ServeReport {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            responses: self.responses.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            handler_panics: self.handler_panics.load(Ordering::Relaxed),
            aborted,
        }
    }
}

/// Waits for room under the connection limit, then for a peer.
async fn accept(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    // The semaphore is never closed; a closed one is reported rather than assumed away.
    let permit = Arc::clone(limit)
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("connection limit closed"))?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, permit))
}

/// Accept errors that concern one peer only: retry at once.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn log_connection_end(done: Result<(), JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        error!("connection task panicked");
    }
}

/// Serves one TCP connection; the permit holds its place under the connection limit.
async fn connection<C, H>(
    stream: TcpStream,
    shared: Arc<Shared<C, H>>,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) where
    C: Codec,
    H: Handler<C::Message>,
{
    debug!("connection opened");
    let (reader, writer) = stream.into_split();
    serve_io(reader, writer, &shared, stop).await;
    debug!("connection closed");
}

/// Serves one connection given as read and write halves.
async fn serve_io<C, H, R, W>(
    reader: R,
    writer: W,
    shared: &Arc<Shared<C, H>>,
    stop: watch::Receiver<bool>,
) where
    C: Codec,
    H: Handler<C::Message>,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let max_frame_len = shared.config.max_frame_len;
    let reader = FrameReader::new(reader, max_frame_len);
    let writer = FrameWriter::new(writer, max_frame_len);
    // Each request sends at most one response, plus an error response from the reader.
    let (tx, rx) = mpsc::channel(shared.config.max_in_flight.max(1) + 1);
    let (mut reader, written) = tokio::join!(
        read_requests(reader, tx, shared, stop),
        write_pump(writer, rx, &shared.stats.responses),
    );
    match written {
        Ok(()) => {
            // Our side is closed; wait for the peer to close its side before dropping the
            // socket, so unread input does not turn the close into a reset.
            let linger = reader.discard_until_eof(LINGER_MAX_BYTES);
            if tokio::time::timeout(shared.config.linger, linger)
                .await
                .is_err()
            {
                debug!("peer did not close within the linger time");
            }
        }
        Err(err) => debug!(%err, "write failed"),
    }
}

/// Reads requests and hands each to a task, until the peer closes, the framing breaks, the
/// writer fails or the server stops; then waits for the tasks still running. Returns the reader
/// for the linger phase; dropping `tx` (with the last task) lets the write pump finish.
async fn read_requests<C, H, R>(
    mut reader: FrameReader<R>,
    tx: mpsc::Sender<Vec<u8>>,
    shared: &Arc<Shared<C, H>>,
    mut stop: watch::Receiver<bool>,
) -> FrameReader<R>
where
    C: Codec,
    H: Handler<C::Message>,
    R: AsyncRead + Unpin,
{
    let max_in_flight = shared.config.max_in_flight.max(1);
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            // Only `true` is ever sent; a dropped sender means the server is gone as well.
            _ = stop.changed() => {
                debug!(in_flight = tasks.len(), "server stopping: no more requests");
                break;
            }
            () = tx.closed() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => note_task(shared, done),
            read = reader.read_frame(), if tasks.len() < max_in_flight => match read {
                Ok(Some(frame)) => {
                    if !dispatch(shared, &frame, &tx, &mut tasks).await {
                        break;
                    }
                }
                Ok(None) => {
                    debug!("peer closed the connection");
                    break;
                }
                Err(err) => {
                    reject(shared, &err, reader.buffered_body(), &tx).await;
                    break;
                }
            },
        }
    }
    while let Some(done) = tasks.join_next().await {
        note_task(shared, done);
    }
    reader
}

/// Decodes one frame and starts its request task. Returns false when the connection must
/// close (an undecodable frame the codec has no answer for).
async fn dispatch<C, H>(
    shared: &Arc<Shared<C, H>>,
    frame: &[u8],
    tx: &mpsc::Sender<Vec<u8>>,
    tasks: &mut JoinSet<()>,
) -> bool
where
    C: Codec,
    H: Handler<C::Message>,
{
    match shared.codec.decode(frame) {
        Ok(msg) => {
            shared.stats.requests.fetch_add(1, Ordering::Relaxed);
            let task = handle_request(Arc::clone(shared), msg, tx.clone());
            tasks.spawn(task.in_current_span());
            true
        }
        Err(failure) => {
            shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
            let reason = failure.reason().to_owned();
            match failure.into_response() {
                Some(response) => {
                    warn!(len = frame.len(), %reason, "undecodable frame: answered");
                    send_checked(shared, response, tx).await;
                    true
                }
                None => {
                    warn!(len = frame.len(), %reason, "undecodable frame: closing");
                    false
                }
            }
        }
    }
}

/// Logs a read that ended the connection, answering a framing violation if the codec can.
async fn reject<C, H>(
    shared: &Shared<C, H>,
    err: &FrameError,
    head: &[u8],
    tx: &mpsc::Sender<Vec<u8>>,
) where
    C: Codec,
{
    if !err.is_protocol() {
        debug!(%err, "read failed");
        return;
    }
    if matches!(err, FrameError::Truncated { .. }) {
        debug!(%err, "peer closed inside a frame");
        return;
    }
    shared.stats.rejected.fetch_add(1, Ordering::Relaxed);
    match shared.codec.reject_frame(err, head) {
        Some(response) => {
            warn!(%err, "framing broken: answered, closing");
            send_checked(shared, response, tx).await;
        }
        None => warn!(%err, "framing broken: closing"),
    }
}

/// Runs the handler for one request and queues its response.
async fn handle_request<C, H>(shared: Arc<Shared<C, H>>, msg: C::Message, tx: mpsc::Sender<Vec<u8>>)
where
    C: Codec,
    H: Handler<C::Message>,
{
    let Some(response) = shared.handler.handle(msg).await else {
        return;
    };
    match shared.codec.encode(&response) {
        Ok(body) => send_checked(&shared, body, &tx).await,
        Err(err) => error!(reason = err.reason(), "response not encodable: dropped"),
    }
}

/// Queues a frame body for the write pump after checking that it fits a frame.
async fn send_checked<C, H>(shared: &Shared<C, H>, body: Vec<u8>, tx: &mpsc::Sender<Vec<u8>>) {
    if let Err(err) = frame_header(body.len(), shared.config.max_frame_len) {
        error!(%err, "response does not fit a frame: dropped");
        return;
    }
    if tx.send(body).await.is_err() {
        debug!("connection closed before the response could be written");
    }
}

fn note_task<C, H>(shared: &Shared<C, H>, done: Result<(), JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        shared.stats.handler_panics.fetch_add(1, Ordering::Relaxed);
        error!("handler panicked: request dropped");
    }
}
