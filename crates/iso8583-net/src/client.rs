//! The client side of a link: send requests, match responses by key.
//!
//! One background task owns the connection: it writes the queued requests (batching those that
//! are ready together) and reads responses, handing each to the request waiting under its key.
//! A [`Client`] is a cheap handle to that task; clone it and share it between tasks.
//!
//! There is no reconnect: when the link drops, every waiting request fails with
//! [`ClientError::Disconnected`] and so does every later one. Hosts that keep a link up wait on
//! [`Client::closed`] and connect a new client.

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info_span, warn};

use crate::codec::{Codec, EncodeFailure};
use crate::frame::{
    DEFAULT_MAX_FRAME_LEN, FrameError, FrameReader, FrameWriter, frame_header, write_pump,
};

/// How a client treats its link.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// How long [`Client::request`] waits for its response, from the call (waiting for room
    /// under `max_in_flight` included).
    pub timeout: Duration,
    /// Requests awaiting a response at once; further calls wait for room.
    pub max_in_flight: usize,
    /// Longest frame body accepted or sent (clamped to 1..=65535).
    pub max_frame_len: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_in_flight: 256,
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }
}

/// Why a request got no response.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// No matching response arrived in time. A response that arrives later is dropped.
    Timeout,
    /// The link is closed, or closed while the request waited.
    Disconnected,
    /// A request with the same key is already waiting for its response.
    DuplicateKey,
    /// The codec gave the request no key, so its response could not be matched.
    MissingKey,
    /// The codec could not encode the message.
    Encode(EncodeFailure),
    /// The encoded message does not fit a frame (empty, or over the limit).
    Frame(FrameError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("no response within the timeout"),
            Self::Disconnected => f.write_str("link disconnected"),
            Self::DuplicateKey => f.write_str("a request with the same key is in flight"),
            Self::MissingKey => f.write_str("the request has no matching key"),
            Self::Encode(err) => err.fmt(f),
            Self::Frame(err) => write!(f, "request does not fit a frame: {err}"),
        }
    }
}

impl Error for ClientError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Encode(err) => Some(err),
            Self::Frame(err) => Some(err),
            _ => None,
        }
    }
}

/// A handle to one link; clones share it.
pub struct Client<C: Codec> {
    shared: Arc<Shared<C>>,
    tx: mpsc::Sender<Vec<u8>>,
}

impl<C: Codec> Clone for Client<C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            tx: self.tx.clone(),
        }
    }
}

impl<C: Codec> fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("closed", &self.is_closed())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl<C: Codec> Client<C> {
    /// Connects over TCP (with Nagle off: the client batches its own writes).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub async fn connect(
        addr: impl ToSocketAddrs,
        codec: C,
        config: ClientConfig,
    ) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let (reader, writer) = stream.into_split();
        Ok(Self::spawn(reader, writer, codec, config, peer.to_string()))
    }

    /// Runs a link over any transport given as read and write halves (TLS, an in-memory
    /// `tokio::io::duplex` pair).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn with_io<R, W>(reader: R, writer: W, codec: C, config: ClientConfig) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self::spawn(reader, writer, codec, config, String::from("io"))
    }

    fn spawn<R, W>(reader: R, writer: W, codec: C, config: ClientConfig, peer: String) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let max_in_flight = config.max_in_flight.max(1);
        let reader = FrameReader::new(reader, config.max_frame_len);
        let writer = FrameWriter::new(writer, config.max_frame_len);
        let (tx, rx) = mpsc::channel(max_in_flight);
        let (closed, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            codec,
            config,
            pending: Mutex::new(Pending {
                open: true,
                next_id: 0,
                waiters: HashMap::new(),
            }),
            permits: Semaphore::new(max_in_flight),
            closed,
            received: AtomicU64::new(0),
        });
        let link = drive(Arc::clone(&shared), reader, writer, rx);
        tokio::spawn(link.instrument(info_span!("link", %peer)));
        Self { shared, tx }
    }

    /// Sends a request and waits for the response with the same key, up to
    /// [`ClientConfig::timeout`].
    pub async fn request(&self, msg: C::Message) -> Result<C::Message, ClientError> {
        self.request_with_timeout(msg, self.shared.config.timeout)
            .await
    }

    /// [`Client::request`] with its own timeout (an echo test may want a short one).
    pub async fn request_with_timeout(
        &self,
        msg: C::Message,
        timeout: Duration,
    ) -> Result<C::Message, ClientError> {
        let key = self
            .shared
            .codec
            .request_key(&msg)
            .ok_or(ClientError::MissingKey)?;
        let body = self.encode(&msg)?;
        match tokio::time::timeout(timeout, self.exchange(key, body)).await {
            Ok(result) => result,
            Err(_elapsed) => {
                debug!("request timed out");
                Err(ClientError::Timeout)
            }
        }
    }

    /// Sends a message that expects no response, or whose response the host does not wait for
    /// (a response to an unsolicited request, an advice sent fire-and-forget).
    pub async fn send_only(&self, msg: C::Message) -> Result<(), ClientError> {
        let body = self.encode(&msg)?;
        if self.is_closed() {
            return Err(ClientError::Disconnected);
        }
        self.tx
            .send(body)
            .await
            .map_err(|_| ClientError::Disconnected)
    }

    /// True once the link is closed; every request then fails with
    /// [`ClientError::Disconnected`].
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().open
    }

    /// Completes when the link closes (the peer hung up, or a read or write failed).
    pub async fn closed(&self) {
        let mut closed = self.shared.closed.subscribe();
        while !*closed.borrow_and_update() {
            if closed.changed().await.is_err() {
                break;
            }
        }
    }

    /// Requests waiting for their responses.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().waiters.len()
    }

    /// The codec this client speaks.
    pub fn codec(&self) -> &C {
        &self.shared.codec
    }

    /// Sends `echo()` as a request whenever a whole `interval` passed without any frame from
    /// the peer (for ISO 8583, a network management 0800 echo test that the host builds with a
    /// fresh STAN). Failures are logged; the link is not closed for them.
    ///
    /// The task stops when the returned [`KeepAlive`] is dropped or the link closes. It does
    /// not keep the link open by itself.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as [`tokio::spawn`] does.
    pub fn keep_alive<F>(&self, interval: Duration, echo: F) -> KeepAlive
    where
        F: Fn() -> C::Message + Send + 'static,
    {
        let shared = Arc::downgrade(&self.shared);
        let tx = self.tx.downgrade();
        let mut seen = self.shared.received.load(Ordering::Relaxed);
        let task = tokio::spawn(
            async move {
                loop {
                    tokio::time::sleep(interval).await;
                    let Some(client) = upgrade(&shared, &tx) else {
                        break;
                    };
                    if client.is_closed() {
                        break;
                    }
                    if client.shared.received.load(Ordering::Relaxed) == seen {
                        match client.request(echo()).await {
                            Ok(_) => debug!("echo answered"),
                            Err(err) => warn!(%err, "echo failed"),
                        }
                    }
                    seen = client.shared.received.load(Ordering::Relaxed);
                }
            }
            .in_current_span(),
        );
        KeepAlive { task }
    }

    fn encode(&self, msg: &C::Message) -> Result<Vec<u8>, ClientError> {
        let body = self.shared.codec.encode(msg).map_err(ClientError::Encode)?;
        frame_header(body.len(), self.shared.config.max_frame_len).map_err(ClientError::Frame)?;
        Ok(body)
    }

    /// Registers the waiter, sends, waits. Dropping the future (a timeout) unregisters it.
    async fn exchange(&self, key: C::Key, body: Vec<u8>) -> Result<C::Message, ClientError> {
        let _permit = self
            .shared
            .permits
            .acquire()
            .await
            .map_err(|_| ClientError::Disconnected)?;
        let (tx, rx) = oneshot::channel();
        let mut registration = self.shared.register(key, tx)?;
        self.tx
            .send(body)
            .await
            .map_err(|_| ClientError::Disconnected)?;
        let response = rx.await.map_err(|_| ClientError::Disconnected)?;
        // The reader removed the waiter when it delivered the response.
        registration.done = true;
        Ok(response)
    }
}

fn upgrade<C: Codec>(
    shared: &Weak<Shared<C>>,
    tx: &mpsc::WeakSender<Vec<u8>>,
) -> Option<Client<C>> {
    Some(Client {
        shared: shared.upgrade()?,
        tx: tx.upgrade()?,
    })
}

/// The idle echo task started by [`Client::keep_alive`]; dropping it stops the task.
#[derive(Debug)]
pub struct KeepAlive {
    task: JoinHandle<()>,
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// State shared by the handles and the link task.
struct Shared<C: Codec> {
    codec: C,
    config: ClientConfig,
    pending: Mutex<Pending<C::Key, C::Message>>,
    permits: Semaphore,
    closed: watch::Sender<bool>,
    /// Frames received, for idle detection.
    received: AtomicU64,
}

struct Pending<K, M> {
    /// False once the link closed; nothing registers after that.
    open: bool,
    next_id: u64,
    waiters: HashMap<K, Waiter<M>>,
}

struct Waiter<M> {
    /// Tells this waiter from a later one under the same key.
    id: u64,
    tx: oneshot::Sender<M>,
}

impl<C: Codec> Shared<C> {
    fn lock(&self) -> MutexGuard<'_, Pending<C::Key, C::Message>> {
        // Nothing panics while holding the lock; a poisoned map is still consistent.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(
        &self,
        key: C::Key,
        tx: oneshot::Sender<C::Message>,
    ) -> Result<Registration<'_, C>, ClientError> {
        let mut pending = self.lock();
        if !pending.open {
            return Err(ClientError::Disconnected);
        }
        if pending.waiters.contains_key(&key) {
            return Err(ClientError::DuplicateKey);
        }
        let id = pending.next_id;
        pending.next_id = pending.next_id.wrapping_add(1);
        pending.waiters.insert(key.clone(), Waiter { id, tx });
        Ok(Registration {
            shared: self,
            key,
            id,
            done: false,
        })
    }

    /// Marks the link closed and fails every waiter.
    fn close(&self) {
        let waiters = {
            let mut pending = self.lock();
            pending.open = false;
            std::mem::take(&mut pending.waiters)
        };
        if !waiters.is_empty() {
            debug!(
                waiters = waiters.len(),
                "failing requests of the closed link"
            );
        }
        // Dropping the senders wakes each waiter with `Disconnected`.
        drop(waiters);
        self.permits.close();
        self.closed.send_replace(true);
    }
}

/// A waiter's entry; removed on drop unless the reader already took it.
struct Registration<'a, C: Codec> {
    shared: &'a Shared<C>,
    key: C::Key,
    id: u64,
    done: bool,
}

impl<C: Codec> Drop for Registration<'_, C> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut pending = self.shared.lock();
        if pending
            .waiters
            .get(&self.key)
            .is_some_and(|waiter| waiter.id == self.id)
        {
            pending.waiters.remove(&self.key);
        }
    }
}

/// The link task: write requests and read responses until either side ends, then fail the
/// remaining waiters.
async fn drive<C, R, W>(
    shared: Arc<Shared<C>>,
    reader: FrameReader<R>,
    writer: FrameWriter<W>,
    rx: mpsc::Receiver<Vec<u8>>,
) where
    C: Codec,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let written = AtomicU64::new(0);
    tokio::select! {
        () = read_responses(&shared, reader) => {}
        result = write_pump(writer, rx, &written) => match result {
            Ok(()) => debug!("every handle dropped: link closed"),
            Err(err) => warn!(%err, "link write failed"),
        },
    }
    shared.close();
}

/// Reads responses and hands each to its waiter, until the peer closes or a read fails.
async fn read_responses<C: Codec, R: AsyncRead + Unpin>(
    shared: &Shared<C>,
    mut reader: FrameReader<R>,
) {
    loop {
        let frame = match reader.read_frame().await {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                debug!("peer closed the link");
                return;
            }
            Err(err) => {
                warn!(%err, "link read failed");
                return;
            }
        };
        shared.received.fetch_add(1, Ordering::Relaxed);
        let msg = match shared.codec.decode(&frame) {
            Ok(msg) => msg,
            Err(failure) => {
                warn!(
                    len = frame.len(),
                    reason = failure.reason(),
                    "undecodable frame dropped"
                );
                continue;
            }
        };
        let Some(key) = shared.codec.response_key(&msg) else {
            warn!(len = frame.len(), "frame without a response key dropped");
            continue;
        };
        let waiter = shared.lock().waiters.remove(&key);
        match waiter {
            Some(waiter) => {
                if waiter.tx.send(msg).is_err() {
                    debug!("waiter gone: response dropped");
                }
            }
            None => warn!(
                len = frame.len(),
                "unmatched frame dropped (a late response after a timeout, or unsolicited)"
            ),
        }
    }
}
