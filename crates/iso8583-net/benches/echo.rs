//! Criterion benchmark: request/response round trips per second over loopback TCP, through the
//! whole stack (client framing and matching, server tasks, an echo handler), with N connections
//! and D requests in flight on each. Messages are 200 bytes, about an ISO 8583 0100.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iso8583_net::{
    Client, ClientConfig, Codec, DecodeFailure, EncodeFailure, ServerConfig, handler_fn,
    serve_with_config,
};
use tokio::runtime::Runtime;

const MESSAGE_LEN: usize = 200;
const KEY_LEN: usize = 12;

/// Opaque 200-byte messages whose first 12 bytes are the key (think STAN + RRN).
struct Opaque;

impl Codec for Opaque {
    type Message = Vec<u8>;
    type Key = [u8; KEY_LEN];

    fn decode(&self, frame: &[u8]) -> Result<Vec<u8>, DecodeFailure> {
        Ok(frame.to_vec())
    }

    fn encode(&self, msg: &Vec<u8>) -> Result<Vec<u8>, EncodeFailure> {
        Ok(msg.clone())
    }

    fn request_key(&self, msg: &Vec<u8>) -> Option<[u8; KEY_LEN]> {
        msg.get(..KEY_LEN)?.try_into().ok()
    }

    fn response_key(&self, msg: &Vec<u8>) -> Option<[u8; KEY_LEN]> {
        msg.get(..KEY_LEN)?.try_into().ok()
    }
}

fn message(n: u64) -> Vec<u8> {
    let mut msg = format!("{n:0KEY_LEN$}").into_bytes();
    msg.resize(MESSAGE_LEN, b'x');
    msg
}

/// Sends `depth` requests on each client at once and waits for every response.
async fn round(clients: &[Client<Opaque>], depth: usize, next: &Arc<AtomicU64>) {
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        for _ in 0..depth {
            let client = client.clone();
            let msg = message(next.fetch_add(1, Ordering::Relaxed));
            tasks.spawn(async move {
                let response = client.request(msg).await.unwrap();
                assert_eq!(response.len(), MESSAGE_LEN);
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

fn benches(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let (addr, stop, server) = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = ServerConfig {
            max_in_flight: 256,
            ..ServerConfig::default()
        };
        let echo = handler_fn(|msg: Vec<u8>| async move { Some(msg) });
        let server = tokio::spawn(serve_with_config(listener, Opaque, echo, config, stopped));
        (addr, stop, server)
    });
    let next = Arc::new(AtomicU64::new(0));

    let mut group = c.benchmark_group("round_trips");
    for (connections, depth) in [(1, 1), (1, 64), (16, 16), (64, 4)] {
        let clients: Vec<Client<Opaque>> = rt.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..connections {
                let config = ClientConfig {
                    max_in_flight: 256,
                    ..ClientConfig::default()
                };
                clients.push(Client::connect(addr, Opaque, config).await.unwrap());
            }
            clients
        });
        group.throughput(Throughput::Elements(
            u64::try_from(connections * depth).unwrap(),
        ));
        group.bench_function(format!("{connections}conn_x_{depth}inflight"), |b| {
            b.iter(|| rt.block_on(round(&clients, depth, &next)));
        });
    }
    group.finish();

    stop.send(()).unwrap();
    let report = rt.block_on(server).unwrap();
    assert_eq!(report.requests, report.responses);
    eprintln!("server: {report:?}");
}

criterion_group! {
    name = echo;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(echo);
