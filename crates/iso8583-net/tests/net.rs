//! Server and client over loopback TCP (port 0 on 127.0.0.1) and in-memory pipes, with a toy
//! codec: frames of `key:payload` text.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers and handlers outside #[test] functions: a failure must stop the test"
)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use iso8583_net::{
    Client, ClientConfig, ClientError, Codec, DecodeFailure, EncodeFailure, FrameError,
    FrameReader, FrameWriter, Handler, ServeReport, ServerConfig, serve_with_config,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// The toy codec

#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    key: String,
    payload: String,
}

fn msg(key: &str, payload: &str) -> Msg {
    Msg {
        key: key.to_owned(),
        payload: payload.to_owned(),
    }
}

/// `key:payload`. Text without `:` is answered with `?:30` (a format error); bytes that are not
/// UTF-8 get no answer. An empty key cannot be matched.
#[derive(Debug, Default, Clone)]
struct Toy {
    /// Answer broken framing with `!:empty` or `!:too-long`.
    answer_rejects: bool,
}

impl Codec for Toy {
    type Message = Msg;
    type Key = String;

    fn decode(&self, frame: &[u8]) -> Result<Msg, DecodeFailure> {
        let text = std::str::from_utf8(frame).map_err(|_| DecodeFailure::new("not UTF-8"))?;
        let (key, payload) = text.split_once(':').ok_or_else(|| {
            DecodeFailure::new("no key separator").with_response(b"?:30".to_vec())
        })?;
        Ok(msg(key, payload))
    }

    fn encode(&self, msg: &Msg) -> Result<Vec<u8>, EncodeFailure> {
        Ok(format!("{}:{}", msg.key, msg.payload).into_bytes())
    }

    fn request_key(&self, msg: &Msg) -> Option<String> {
        (!msg.key.is_empty()).then(|| msg.key.clone())
    }

    fn response_key(&self, msg: &Msg) -> Option<String> {
        (!msg.key.is_empty()).then(|| msg.key.clone())
    }

    fn reject_frame(&self, error: &FrameError, _head: &[u8]) -> Option<Vec<u8>> {
        if !self.answer_rejects {
            return None;
        }
        match error {
            FrameError::Empty => Some(b"!:empty".to_vec()),
            FrameError::TooLong { .. } => Some(b"!:too-long".to_vec()),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test handler

/// Upper-cases payloads, and obeys a few commands: `gate` waits until the test releases it,
/// `sleep N` sleeps N ms, `none` answers nothing, `panic` panics. Tracks concurrency.
#[derive(Clone, Default)]
struct TestHandler {
    state: Arc<HandlerState>,
}

struct HandlerState {
    gate: Semaphore,
    gated: AtomicUsize,
    active: AtomicUsize,
    max_active: AtomicUsize,
}

impl Default for HandlerState {
    fn default() -> Self {
        Self {
            gate: Semaphore::new(0),
            gated: AtomicUsize::new(0),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
        }
    }
}

impl TestHandler {
    fn release(&self, n: usize) {
        self.state.gate.add_permits(n);
    }

    fn max_active(&self) -> usize {
        self.state.max_active.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests sit at the gate.
    async fn gated(&self, n: usize) {
        within(async {
            while self.state.gated.load(Ordering::SeqCst) < n {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
}

impl Handler<Msg> for TestHandler {
    async fn handle(&self, msg: Msg) -> Option<Msg> {
        let state = &self.state;
        let now = state.active.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_active.fetch_max(now, Ordering::SeqCst);
        let payload = match msg.payload.as_str() {
            "gate" => {
                state.gated.fetch_add(1, Ordering::SeqCst);
                state.gate.acquire().await.unwrap().forget();
                Some("released".to_owned())
            }
            "none" => None,
            "panic" => panic!("test handler told to panic"),
            other => match other.strip_prefix("sleep ") {
                Some(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
                    Some(format!("slept {ms}"))
                }
                None => Some(other.to_uppercase()),
            },
        };
        state.active.fetch_sub(1, Ordering::SeqCst);
        payload.map(|payload| Msg {
            key: msg.key,
            payload,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A hang guard for waits on real sockets: generous, and never an assertion about speed.
async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .expect("test step hung")
}

struct TestServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<ServeReport>,
}

impl TestServer {
    async fn start(codec: Toy, handler: TestHandler, config: ServerConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_config(listener, codec, handler, config, stopped));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).unwrap();
        }
    }

    async fn stop(mut self) -> ServeReport {
        self.signal_stop();
        within(self.task).await.unwrap()
    }

    async fn client(&self, config: ClientConfig) -> Client<Toy> {
        Client::connect(self.addr, Toy::default(), config)
            .await
            .unwrap()
    }

    async fn raw(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }
}

fn frames(bodies: &[&[u8]]) -> Vec<u8> {
    let mut wire = Vec::new();
    for body in bodies {
        wire.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
        wire.extend_from_slice(body);
    }
    wire
}

async fn send_raw(stream: &mut TcpStream, bodies: &[&[u8]]) {
    stream.write_all(&frames(bodies)).await.unwrap();
}

/// The next frame body, or `None` at end of stream.
async fn recv_raw(stream: &mut TcpStream) -> Option<Vec<u8>> {
    within(async {
        let mut header = [0; 2];
        match stream.read_exact(&mut header).await {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return None,
            Err(err) => panic!("read failed: {err}"),
        }
        let mut body = vec![0; usize::from(u16::from_be_bytes(header))];
        stream.read_exact(&mut body).await.unwrap();
        Some(body)
    })
    .await
}

/// A client over an in-memory pipe, and the framed peer end for the test to play the server.
fn piped_client(
    config: ClientConfig,
) -> (
    Client<Toy>,
    FrameReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>,
    FrameWriter<tokio::io::WriteHalf<tokio::io::DuplexStream>>,
) {
    let (near, far) = tokio::io::duplex(64 * 1024);
    let (near_read, near_write) = tokio::io::split(near);
    let (far_read, far_write) = tokio::io::split(far);
    let client = Client::with_io(near_read, near_write, Toy::default(), config);
    (
        client,
        FrameReader::new(far_read, 1_024),
        FrameWriter::new(far_write, 1_024),
    )
}

fn quick_close() -> ServerConfig {
    ServerConfig {
        linger: Duration::from_millis(500),
        ..ServerConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Server and client together

#[tokio::test]
async fn request_round_trip() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let client = server.client(ClientConfig::default()).await;
    let response = within(client.request(msg("000001", "echo"))).await.unwrap();
    assert_eq!(response, msg("000001", "ECHO"));
    assert_eq!(client.in_flight(), 0);
    drop(client);
    let report = server.stop().await;
    assert_eq!(report.connections, 1);
    assert_eq!(report.requests, 1);
    assert_eq!(report.responses, 1);
    assert_eq!(report.rejected, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_clients_hundred_pipelined_requests_each() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let mut requests = tokio::task::JoinSet::new();
    for c in 0..100 {
        let client = server
            .client(ClientConfig {
                max_in_flight: 100,
                ..ClientConfig::default()
            })
            .await;
        for r in 0..100 {
            let client = client.clone();
            requests.spawn(async move {
                let key = format!("{c:03}{r:03}");
                // Some requests sleep so that responses overtake each other.
                let payload = if r % 7 == 0 {
                    String::from("sleep 1")
                } else {
                    format!("p{c}-{r}")
                };
                let response = client.request(msg(&key, &payload)).await.unwrap();
                let expected = if r % 7 == 0 {
                    String::from("slept 1")
                } else {
                    format!("P{c}-{r}")
                };
                assert_eq!(response, msg(&key, &expected));
            });
        }
    }
    let mut done = 0;
    while let Some(joined) = within(requests.join_next()).await {
        joined.unwrap();
        done += 1;
    }
    assert_eq!(done, 10_000);
    let report = server.stop().await;
    assert_eq!(report.connections, 100);
    assert_eq!(report.requests, 10_000);
    assert_eq!(report.responses, 10_000);
    assert_eq!(report.aborted, 0);
}

#[tokio::test]
async fn server_pipelines_and_answers_in_completion_order() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let mut stream = server.raw().await;
    send_raw(&mut stream, &[b"slow:sleep 50", b"fast:go"]).await;
    assert_eq!(recv_raw(&mut stream).await.unwrap(), b"fast:GO");
    assert_eq!(recv_raw(&mut stream).await.unwrap(), b"slow:slept 50");
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn requests_in_flight_per_connection_are_bounded() {
    let handler = TestHandler::default();
    let config = ServerConfig {
        max_in_flight: 4,
        ..quick_close()
    };
    let server = TestServer::start(Toy::default(), handler.clone(), config).await;
    let mut stream = server.raw().await;
    let bodies: Vec<Vec<u8>> = (0..40)
        .map(|i| format!("{i}:sleep 2").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    send_raw(&mut stream, &refs).await;
    let mut keys = Vec::new();
    for _ in 0..40 {
        let body = recv_raw(&mut stream).await.unwrap();
        let text = String::from_utf8(body).unwrap();
        keys.push(text.split_once(':').unwrap().0.parse::<u32>().unwrap());
    }
    keys.sort_unstable();
    assert_eq!(keys, (0..40).collect::<Vec<_>>());
    assert!(handler.max_active() <= 4, "max {}", handler.max_active());
    assert!(handler.max_active() >= 2, "requests were not pipelined");
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn client_bounds_its_requests_in_flight() {
    let handler = TestHandler::default();
    let server = TestServer::start(Toy::default(), handler.clone(), quick_close()).await;
    let client = server
        .client(ClientConfig {
            max_in_flight: 3,
            ..ClientConfig::default()
        })
        .await;
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..30 {
        let client = client.clone();
        requests.spawn(async move { client.request(msg(&i.to_string(), "sleep 2")).await });
    }
    while let Some(joined) = within(requests.join_next()).await {
        joined.unwrap().unwrap();
    }
    assert!(handler.max_active() <= 3, "max {}", handler.max_active());
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn no_response_when_the_handler_returns_none() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let mut stream = server.raw().await;
    send_raw(&mut stream, &[b"advice:none", b"next:x"]).await;
    assert_eq!(recv_raw(&mut stream).await.unwrap(), b"next:X");
    drop(stream);
    let report = server.stop().await;
    assert_eq!(report.requests, 2);
    assert_eq!(report.responses, 1);
}

#[tokio::test]
async fn handler_panic_loses_only_its_request() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let client = server
        .client(ClientConfig {
            timeout: Duration::from_millis(200),
            ..ClientConfig::default()
        })
        .await;
    let lost = within(client.request(msg("boom", "panic"))).await;
    assert!(matches!(lost, Err(ClientError::Timeout)), "{lost:?}");
    let response = within(client.request(msg("after", "x"))).await.unwrap();
    assert_eq!(response, msg("after", "X"));
    drop(client);
    let report = server.stop().await;
    assert_eq!(report.handler_panics, 1);
}

// ---------------------------------------------------------------------------------------------
// Malformed input

#[tokio::test]
async fn undecodable_frame_is_answered_and_the_connection_goes_on() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let mut stream = server.raw().await;
    send_raw(&mut stream, &[b"no separator"]).await;
    assert_eq!(recv_raw(&mut stream).await.unwrap(), b"?:30");
    send_raw(&mut stream, &[b"k:still here"]).await;
    assert_eq!(recv_raw(&mut stream).await.unwrap(), b"k:STILL HERE");
    drop(stream);
    let report = server.stop().await;
    assert_eq!(report.rejected, 1);
    assert_eq!(report.requests, 1);
    assert_eq!(report.responses, 2);
}

#[tokio::test]
async fn undecodable_frame_without_answer_closes_after_earlier_requests() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let mut stream = server.raw().await;
    send_raw(&mut stream, &[b"k:first", &[0xFF, 0xFE], b"k2:never read"]).await;
    assert_eq!(recv_raw(&mut stream).await.unwrap(), b"k:FIRST");
    assert_eq!(recv_raw(&mut stream).await, None, "connection closed");
    drop(stream);
    let report = server.stop().await;
    assert_eq!(report.rejected, 1);
    assert_eq!(report.requests, 1);
}

#[tokio::test]
async fn zero_length_frame_closes_the_connection() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let mut stream = server.raw().await;
    stream.write_all(&[0x00, 0x00]).await.unwrap();
    assert_eq!(recv_raw(&mut stream).await, None);
    drop(stream);
    assert_eq!(server.stop().await.rejected, 1);
}

#[tokio::test]
async fn zero_length_frame_is_answered_when_the_codec_can() {
    let codec = Toy {
        answer_rejects: true,
    };
    let server = TestServer::start(codec, TestHandler::default(), quick_close()).await;
    let mut stream = server.raw().await;
    stream.write_all(&[0x00, 0x00]).await.unwrap();
    assert_eq!(recv_raw(&mut stream).await.unwrap(), b"!:empty");
    assert_eq!(recv_raw(&mut stream).await, None);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn over_max_frame_closes_the_connection() {
    let config = ServerConfig {
        max_frame_len: 64,
        ..quick_close()
    };
    let server = TestServer::start(Toy::default(), TestHandler::default(), config).await;
    let mut stream = server.raw().await;
    send_raw(&mut stream, &[&[b'x'; 64]]).await;
    assert_eq!(
        recv_raw(&mut stream).await.unwrap(),
        b"?:30",
        "64 bytes fit"
    );
    send_raw(&mut stream, &[&[b'x'; 65]]).await;
    assert_eq!(recv_raw(&mut stream).await, None);
    drop(stream);
    assert_eq!(server.stop().await.rejected, 2);
}

#[tokio::test]
async fn over_max_frame_is_answered_when_the_codec_can() {
    let codec = Toy {
        answer_rejects: true,
    };
    let config = ServerConfig {
        max_frame_len: 64,
        ..quick_close()
    };
    let server = TestServer::start(codec, TestHandler::default(), config).await;
    let mut stream = server.raw().await;
    // Only the header and a little of the body: the server must not wait for the rest.
    stream.write_all(&[0x10, 0x00, b'k', b':']).await.unwrap();
    assert_eq!(recv_raw(&mut stream).await.unwrap(), b"!:too-long");
    assert_eq!(recv_raw(&mut stream).await, None);
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_peer_does_not_disturb_the_others() {
    let server = TestServer::start(Toy::default(), TestHandler::default(), quick_close()).await;
    let client = server.client(ClientConfig::default()).await;
    assert_eq!(
        within(client.request(msg("a", "before"))).await.unwrap(),
        msg("a", "BEFORE")
    );
    let mut bad = server.raw().await;
    bad.write_all(&[0x00, 0x00]).await.unwrap();
    assert_eq!(recv_raw(&mut bad).await, None);
    // A peer that vanishes in the middle of a frame.
    let mut gone = server.raw().await;
    gone.write_all(&[0x00, 0x20, b'h']).await.unwrap();
    drop(gone);
    assert_eq!(
        within(client.request(msg("b", "after"))).await.unwrap(),
        msg("b", "AFTER")
    );
    assert!(!client.is_closed());
    drop(client);
    server.stop().await;
}

#[tokio::test]
async fn a_client_vanishing_mid_request_does_not_disturb_the_others() {
    let handler = TestHandler::default();
    let server = TestServer::start(Toy::default(), handler.clone(), quick_close()).await;
    let mut vanishing = server.raw().await;
    send_raw(&mut vanishing, &[b"v:gate"]).await;
    handler.gated(1).await;
    drop(vanishing);
    let client = server.client(ClientConfig::default()).await;
    assert_eq!(
        within(client.request(msg("k", "x"))).await.unwrap(),
        msg("k", "X")
    );
    handler.release(1);
    drop(client);
    let report = server.stop().await;
    assert_eq!(report.requests, 2);
    assert_eq!(report.aborted, 0);
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    let handler = TestHandler::default();
    let mut server = TestServer::start(Toy::default(), handler.clone(), quick_close()).await;
    let client = server.client(ClientConfig::default()).await;
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.request(msg("slow", "gate")).await })
    };
    handler.gated(1).await;

    server.signal_stop();
    // The listener closes while the request is still in the handler.
    within(async {
        while TcpStream::connect(server.addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(!pending.is_finished());

    handler.release(1);
    let response = within(pending).await.unwrap().unwrap();
    assert_eq!(response, msg("slow", "released"));
    // The server closes the connection once its responses are out.
    within(client.closed()).await;
    let report = within(server.task).await.unwrap();
    assert_eq!(report.requests, 1);
    assert_eq!(report.responses, 1);
    assert_eq!(report.aborted, 0);
}

#[tokio::test]
async fn shutdown_cuts_connections_still_busy_at_the_deadline() {
    let handler = TestHandler::default();
    let config = ServerConfig {
        drain_timeout: Duration::from_millis(100),
        ..quick_close()
    };
    let mut server = TestServer::start(Toy::default(), handler.clone(), config).await;
    let client = server.client(ClientConfig::default()).await;
    let pending = {
        let client = client.clone();
        tokio::spawn(async move { client.request(msg("stuck", "gate")).await })
    };
    handler.gated(1).await;
    server.signal_stop();
    let report = within(server.task).await.unwrap();
    assert_eq!(report.aborted, 1);
    assert_eq!(report.responses, 0);
    let result = within(pending).await.unwrap();
    assert!(
        matches!(result, Err(ClientError::Disconnected)),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The client against a scripted peer

#[tokio::test]
async fn responses_out_of_order_are_matched() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        for _ in 0..3 {
            received.push(recv_raw(&mut stream).await.unwrap());
        }
        received.sort();
        // Answer in the reverse of key order, whatever order the requests came in.
        for body in received.iter().rev() {
            let text = String::from_utf8(body.clone()).unwrap();
            let (key, payload) = text.split_once(':').unwrap();
            let answer = format!("{key}:re {payload}");
            send_raw(&mut stream, &[answer.as_bytes()]).await;
        }
        stream
    });
    let client = Client::connect(addr, Toy::default(), ClientConfig::default())
        .await
        .unwrap();
    let (a, b, c) = within(async {
        tokio::join!(
            client.request(msg("a", "1")),
            client.request(msg("b", "2")),
            client.request(msg("c", "3")),
        )
    })
    .await;
    assert_eq!(a.unwrap(), msg("a", "re 1"));
    assert_eq!(b.unwrap(), msg("b", "re 2"));
    assert_eq!(c.unwrap(), msg("c", "re 3"));
    drop(peer.await.unwrap());
}

#[tokio::test]
async fn a_peer_disconnect_fails_only_that_clients_waiters() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let one = Client::connect(addr, Toy::default(), ClientConfig::default())
        .await
        .unwrap();
    let (mut one_peer, _) = listener.accept().await.unwrap();
    let two = Client::connect(addr, Toy::default(), ClientConfig::default())
        .await
        .unwrap();
    let (mut two_peer, _) = listener.accept().await.unwrap();

    let waiting_one = {
        let one = one.clone();
        tokio::spawn(async move {
            tokio::join!(one.request(msg("1a", "x")), one.request(msg("1b", "y")))
        })
    };
    let waiting_two = {
        let two = two.clone();
        tokio::spawn(async move { two.request(msg("2a", "z")).await })
    };
    recv_raw(&mut one_peer).await.unwrap();
    recv_raw(&mut one_peer).await.unwrap();
    assert_eq!(recv_raw(&mut two_peer).await.unwrap(), b"2a:z");

    drop(one_peer);
    let (a, b) = within(waiting_one).await.unwrap();
    assert!(matches!(a, Err(ClientError::Disconnected)), "{a:?}");
    assert!(matches!(b, Err(ClientError::Disconnected)), "{b:?}");
    assert!(one.is_closed());
    let again = one.request(msg("1c", "late")).await;
    assert!(matches!(again, Err(ClientError::Disconnected)), "{again:?}");
    within(one.closed()).await;

    assert!(!two.is_closed());
    send_raw(&mut two_peer, &[b"2a:Z"]).await;
    assert_eq!(within(waiting_two).await.unwrap().unwrap(), msg("2a", "Z"));
}

#[tokio::test(start_paused = true)]
async fn request_times_out_and_the_late_response_is_dropped() {
    let config = ClientConfig {
        timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    };
    let (client, mut peer_reader, mut peer_writer) = piped_client(config);
    let result = client.request(msg("slow", "x")).await;
    assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
    assert_eq!(client.in_flight(), 0, "the waiter was removed");

    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"slow:x"[..]
    );
    peer_writer.write_frame(b"slow:late").await.unwrap();
    // The next request gets its own response, not the late one.
    let next = {
        let client = client.clone();
        tokio::spawn(async move { client.request(msg("next", "y")).await })
    };
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"next:y"[..]
    );
    peer_writer.write_frame(b"next:Y").await.unwrap();
    assert_eq!(next.await.unwrap().unwrap(), msg("next", "Y"));
    assert!(!client.is_closed());
}

#[tokio::test(start_paused = true)]
async fn duplicate_and_missing_keys_are_refused() {
    let (client, mut peer_reader, mut peer_writer) = piped_client(ClientConfig::default());
    let first = {
        let client = client.clone();
        tokio::spawn(async move { client.request(msg("same", "1")).await })
    };
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"same:1"[..]
    );
    let second = client.request(msg("same", "2")).await;
    assert!(
        matches!(second, Err(ClientError::DuplicateKey)),
        "{second:?}"
    );
    let keyless = client.request(msg("", "3")).await;
    assert!(
        matches!(keyless, Err(ClientError::MissingKey)),
        "{keyless:?}"
    );
    peer_writer.write_frame(b"same:one").await.unwrap();
    assert_eq!(first.await.unwrap().unwrap(), msg("same", "one"));
    // Once answered, the key is free again.
    let again = {
        let client = client.clone();
        tokio::spawn(async move { client.request(msg("same", "4")).await })
    };
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"same:4"[..]
    );
    peer_writer.write_frame(b"same:four").await.unwrap();
    assert_eq!(again.await.unwrap().unwrap(), msg("same", "four"));
}

#[tokio::test(start_paused = true)]
async fn oversized_request_is_refused_before_sending() {
    let config = ClientConfig {
        max_frame_len: 8,
        ..ClientConfig::default()
    };
    let (client, _peer_reader, _peer_writer) = piped_client(config);
    let result = client.request(msg("k", "too long")).await;
    assert!(
        matches!(
            result,
            Err(ClientError::Frame(FrameError::TooLong { len: 10, max: 8 }))
        ),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn send_only_writes_without_waiting() {
    let (client, mut peer_reader, _peer_writer) = piped_client(ClientConfig::default());
    client.send_only(msg("advice", "0120")).await.unwrap();
    client.send_only(msg("", "no key needed")).await.unwrap();
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"advice:0120"[..]
    );
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b":no key needed"[..]
    );
    assert_eq!(client.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_closes_the_link() {
    let (client, mut peer_reader, _peer_writer) = piped_client(ClientConfig::default());
    client.send_only(msg("last", "words")).await.unwrap();
    drop(client);
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"last:words"[..]
    );
    assert!(peer_reader.read_frame().await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn keep_alive_echoes_only_when_idle() {
    let (client, mut peer_reader, mut peer_writer) = piped_client(ClientConfig::default());
    let stan = Arc::new(AtomicUsize::new(0));
    let echo = {
        let stan = Arc::clone(&stan);
        move || {
            msg(
                &format!("{:06}", stan.fetch_add(1, Ordering::SeqCst)),
                "0800 echo",
            )
        }
    };
    let keep_alive = client.keep_alive(Duration::from_secs(60), echo);

    // Idle: an echo after one interval; the peer answers it.
    let start = tokio::time::Instant::now();
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"000000:0800 echo"[..]
    );
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    peer_writer.write_frame(b"000000:0810 echo").await.unwrap();

    // Still idle after that: another echo one interval later.
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"000001:0800 echo"[..]
    );
    assert_eq!(start.elapsed(), Duration::from_secs(120));
    peer_writer.write_frame(b"000001:0810 echo").await.unwrap();

    // Traffic from the peer within an interval (here an unmatched frame) holds the echo back.
    tokio::time::sleep_until(start + Duration::from_secs(150)).await;
    peer_writer.write_frame(b"other:traffic").await.unwrap();
    assert_eq!(
        peer_reader.read_frame().await.unwrap().unwrap(),
        &b"000002:0800 echo"[..]
    );
    assert_eq!(start.elapsed(), Duration::from_secs(240));

    // Stopping the keep-alive stops the echoes.
    drop(keep_alive);
    let (tx, mut rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let frame = peer_reader.read_frame().await;
        let _ = tx.send(frame.map(|f| f.map(|f| f.to_vec()))).await;
    });
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(
        rx.try_recv().is_err(),
        "no echo after the keep-alive was dropped"
    );
    drop(client);
}
