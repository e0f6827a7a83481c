//! ISO 8583 over TCP: 2-byte length framing, request/response matching, timeouts, network
//! management, graceful shutdown.
//!
//! This is the I/O adapter (layer 1) for ISO 8583 links, and it knows nothing about ISO 8583
//! fields: the host plugs its message format in through [`Codec`], which decodes and encodes
//! frame bodies and says which key (STAN, RRN and terminal ID, say) pairs a response with its
//! request. The parts:
//!
//! * [`FrameReader`] and [`FrameWriter`]: frames of a 2-byte big-endian length (not counting
//!   itself) followed by the message, over any `AsyncRead`/`AsyncWrite`. Reads are buffered (one
//!   read syscall may yield many frames), writes are batched (many frames per write syscall),
//!   zero-length and over-limit frames are a typed [`FrameError`].
//! * [`serve`]: a server with a task per connection, concurrent (pipelined) requests within a
//!   connection, a bound on requests in flight, error responses for undecodable frames, and
//!   graceful shutdown with a deadline. It returns a [`ServeReport`].
//! * [`Client`]: one link with requests matched to responses by key, a timeout per request, a
//!   bound on requests in flight, and an optional idle echo ([`Client::keep_alive`]).
//!
//! Logs (through `tracing`) carry peers, lengths and reasons, never message contents: hosts log
//! masked dumps themselves.
//!
//! ```
//! use iso8583_net::{Client, ClientConfig, Codec, DecodeFailure, EncodeFailure, handler_fn, serve};
//!
//! /// Frames of `key:payload` text; the key matches a response to its request.
//! struct Text;
//!
//! impl Codec for Text {
//!     type Message = (String, String);
//!     type Key = String;
//!
//!     fn decode(&self, frame: &[u8]) -> Result<Self::Message, DecodeFailure> {
//!         let text = std::str::from_utf8(frame).map_err(|_| DecodeFailure::new("not UTF-8"))?;
//!         let (key, payload) = text.split_once(':').ok_or_else(|| DecodeFailure::new("no key"))?;
//!         Ok((key.to_owned(), payload.to_owned()))
//!     }
//!
//!     fn encode(&self, (key, payload): &Self::Message) -> Result<Vec<u8>, EncodeFailure> {
//!         Ok(format!("{key}:{payload}").into_bytes())
//!     }
//!
//!     fn request_key(&self, (key, _): &Self::Message) -> Option<String> {
//!         Some(key.clone())
//!     }
//!
//!     fn response_key(&self, (key, _): &Self::Message) -> Option<String> {
//!         Some(key.clone())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let handler = handler_fn(|(key, payload): (String, String)| async move {
//!     Some((key, payload.to_uppercase()))
//! });
//! let server = tokio::spawn(serve(listener, Text, handler, stopped));
//!
//! let client = Client::connect(addr, Text, ClientConfig::default()).await?;
//! let response = client.request(("000001".into(), "echo".into())).await;
//! assert_eq!(response.ok(), Some(("000001".into(), "ECHO".into())));
//!
//! drop(client);
//! let _ = stop.send(());
//! let report = server.await?;
//! assert_eq!(report.requests, 1);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod codec;
mod frame;
mod iso;
mod server;

pub use client::{Client, ClientConfig, ClientError, KeepAlive};
pub use codec::{Codec, DecodeFailure, EncodeFailure};
pub use frame::{
    DEFAULT_MAX_FRAME_LEN, FrameError, FrameReader, FrameWriter, HEADER_LEN, MAX_FRAME_LEN,
    frame_header,
};
pub use iso::{IsoCodec, IsoKey};
pub use server::{
    Handler, HandlerFn, ServeReport, ServerConfig, handler_fn, serve, serve_with_config,
};
