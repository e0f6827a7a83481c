//! The seam between this crate and the host's message format.

use std::error::Error;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use crate::frame::FrameError;

/// Turns frame bodies into the host's messages and back, and says how responses match requests.
///
/// This crate never looks inside a message: the host's implementation (for ISO 8583, on top of
/// the `iso8583` crate) does. Keys are how the [`Client`](crate::Client) pairs a response with
/// the request it answers, since responses may come back in any order; for ISO 8583 a key
/// built from STAN (DE 11), RRN (DE 37) and terminal ID (DE 41) fits. A request and its response
/// must produce equal keys, so a key leaves the MTI out. A key must not be reused while a late
/// response to its earlier use may still arrive (STANs cycle slowly enough for that): the late
/// response would be taken for the answer to the new request.
///
/// Failure reasons end up in logs: they must not quote message contents (PAN, track data, PIN
/// blocks). Hosts log masked dumps themselves where they need them.
pub trait Codec: Send + Sync + 'static {
    /// A decoded message.
    type Message: Send + 'static;
    /// What matches a response to its request.
    type Key: Eq + Hash + Clone + Send + Sync + 'static;

    /// Decodes one frame body (without the length header).
    fn decode(&self, frame: &[u8]) -> Result<Self::Message, DecodeFailure>;

    /// Encodes one message into a frame body (the length header is added by the framing).
    fn encode(&self, msg: &Self::Message) -> Result<Vec<u8>, EncodeFailure>;

    /// The key under which a response to this outgoing request is awaited, or `None` when the
    /// message cannot be matched (the client then refuses to send it as a request).
    fn request_key(&self, msg: &Self::Message) -> Option<Self::Key>;

    /// The key of an incoming response, or `None` when it has none (the client drops it).
    fn response_key(&self, msg: &Self::Message) -> Option<Self::Key>;

    /// An encoded response to send before the server closes a connection whose framing broke
    /// (a zero-length frame, or a length over the limit). `head` holds whatever had already
    /// arrived of the rejected frame's body, possibly nothing; nothing more is read.
    ///
    /// The default sends nothing.
    fn reject_frame(&self, error: &FrameError, head: &[u8]) -> Option<Vec<u8>> {
        let _ = (error, head);
        None
    }
}

impl<T: Codec> Codec for Arc<T> {
    type Message = T::Message;
    type Key = T::Key;

    fn decode(&self, frame: &[u8]) -> Result<Self::Message, DecodeFailure> {
        T::decode(self, frame)
    }

    fn encode(&self, msg: &Self::Message) -> Result<Vec<u8>, EncodeFailure> {
        T::encode(self, msg)
    }

    fn request_key(&self, msg: &Self::Message) -> Option<Self::Key> {
        T::request_key(self, msg)
    }

    fn response_key(&self, msg: &Self::Message) -> Option<Self::Key> {
        T::response_key(self, msg)
    }

    fn reject_frame(&self, error: &FrameError, head: &[u8]) -> Option<Vec<u8>> {
        T::reject_frame(self, error, head)
    }
}

/// A frame that did not decode, with an optional encoded answer for the peer.
///
/// With a response (for ISO 8583, the matching response MTI with DE 39 = 30, format error) the
/// server sends it and keeps serving the connection; without one it closes the connection, since
/// it cannot tell the peer anything useful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    reason: String,
    response: Option<Vec<u8>>,
}

impl DecodeFailure {
    /// A failure without an answer. `reason` is logged: say where decoding failed (field,
    /// offset), never what the message contained.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            response: None,
        }
    }

    /// Adds the encoded frame body to send back to the peer.
    #[must_use]
    pub fn with_response(mut self, response: Vec<u8>) -> Self {
        self.response = Some(response);
        self
    }

    /// Why decoding failed.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The encoded answer, if any.
    pub fn response(&self) -> Option<&[u8]> {
        self.response.as_deref()
    }

    /// Takes the encoded answer out.
    pub fn into_response(self) -> Option<Vec<u8>> {
        self.response
    }
}

impl fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable frame: {}", self.reason)
    }
}

impl Error for DecodeFailure {}

/// A message that could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeFailure {
    reason: String,
}

impl EncodeFailure {
    /// A failure; `reason` is logged, so it must not quote message contents.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// Why encoding failed.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for EncodeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unencodable message: {}", self.reason)
    }
}

impl Error for EncodeFailure {}
