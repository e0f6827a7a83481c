//! A PC/SC client: waits for a card in a reader and exchanges APDUs with it.
//!
//! pcsc-lite is loaded when the first [`Context`] is established, not linked, so this crate
//! builds and tests on machines without it; there [`Context::establish`] returns
//! [`NfcError::LibraryMissing`].
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), nfc::NfcError> {
//! let context = nfc::pcsc::Context::establish()?;
//! let mut card = context.connect(Some("Virtual PCD 00 00"), Duration::from_secs(10))?;
//! let response = card.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x00])?;
//! # Ok(())
//! # }
//! ```

mod ffi;

use std::ffi::CString;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::NfcError;
use crate::stopwatch;
use ffi::{Api, Dword, Long, ReaderState};

// Values from pcsclite.h.
const SCARD_E_TIMEOUT: u32 = 0x8010_000A;
const SCARD_E_SHARING_VIOLATION: u32 = 0x8010_000B;
const SCARD_E_NO_SMARTCARD: u32 = 0x8010_000C;
const SCARD_E_PROTO_MISMATCH: u32 = 0x8010_000F;
const SCARD_E_NO_SERVICE: u32 = 0x8010_001D;
const SCARD_E_SERVICE_STOPPED: u32 = 0x8010_001E;
const SCARD_E_NO_READERS_AVAILABLE: u32 = 0x8010_002E;
const SCARD_W_UNRESPONSIVE_CARD: u32 = 0x8010_0066;
const SCARD_W_UNPOWERED_CARD: u32 = 0x8010_0067;
const SCARD_W_RESET_CARD: u32 = 0x8010_0068;
const SCARD_W_REMOVED_CARD: u32 = 0x8010_0069;

const SCARD_SHARE_SHARED: Dword = 0x0002;
const SCARD_PROTOCOL_T0: Dword = 0x0001;
const SCARD_PROTOCOL_T1: Dword = 0x0002;
const SCARD_LEAVE_CARD: Dword = 0x0000;
const SCARD_STATE_UNAWARE: Dword = 0x0000;
const SCARD_STATE_CHANGED: Dword = 0x0002;
const SCARD_STATE_PRESENT: Dword = 0x0020;
const SCARD_STATE_MUTE: Dword = 0x0200;
/// The pseudo-reader whose state changes when a reader is added or removed.
const PNP_NOTIFICATION: &str = r"\\?PnP?\Notification";
/// The longest finite `SCardGetStatusChange` timeout (`INFINITE` is `0xFFFFFFFF`).
const TIMEOUT_MS_MAX: u32 = 0xFFFF_FFFE;

/// A connection to the PC/SC resource manager (pcscd). Released on drop, after the last
/// [`Card`] connected through it.
///
/// pcsc-lite serializes the calls made through one context, including a [`Context::connect`]
/// that waits for a card and the transmits of the cards connected through it: give each thread
/// that waits its own context.
#[derive(Debug)]
pub struct Context {
    handle: Arc<ContextHandle>,
}

struct ContextHandle {
    api: &'static Api,
    raw: Long,
}

/// The transmission protocol negotiated with a card.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Protocol {
    /// T=0, character-oriented (ISO/IEC 7816-3).
    T0,
    /// T=1, block-oriented; contactless readers present ISO 14443-4 cards as T=1.
    T1,
}

/// A card connected in shared mode. Disconnected on drop, leaving the card as it is.
#[derive(Debug)]
pub struct Card {
    context: Arc<ContextHandle>,
    raw: Long,
    protocol: Protocol,
    reader: String,
    atr: Vec<u8>,
    response: Vec<u8>,
}

impl Context {
    /// Loads pcsc-lite and connects to pcscd (system scope).
    ///
    /// Fails with [`NfcError::LibraryMissing`] without `libpcsclite.so.1` and
    /// [`NfcError::ServiceNotRunning`] without pcscd.
    pub fn establish() -> Result<Context, NfcError> {
        let api = ffi::api().map_err(|detail| NfcError::LibraryMissing { detail })?;
        let raw = api
            .establish_context(ffi::SCARD_SCOPE_SYSTEM)
            .map_err(|code| error("SCardEstablishContext", code))?;
        Ok(Context {
            handle: Arc::new(ContextHandle { api, raw }),
        })
    }

    /// The names of the readers pcscd knows, in its order; empty when there are none.
    pub fn readers(&self) -> Result<Vec<String>, NfcError> {
        match self.handle.api.list_readers(self.handle.raw) {
            Ok(multi) => Ok(split_multi_string(&multi)),
            Err(SCARD_E_NO_READERS_AVAILABLE) => Ok(Vec::new()),
            Err(code) => Err(error("SCardListReaders", code)),
        }
    }

    /// Connects (shared, T=0 or T=1) to the card in the first reader that has one, among all
    /// readers (`reader` is `None`) or those whose name contains `reader`. Waits up to `wait`
    /// for such a card to appear, and for such a reader to be plugged in.
    ///
    /// When the wait ends without a card: [`NfcError::NoMatchingReader`] if no reader name
    /// matched, [`NfcError::NoReaders`] if there was no reader at all, else
    /// [`NfcError::NoCard`].
    pub fn connect(&self, reader: Option<&str>, wait: Duration) -> Result<Card, NfcError> {
        let started = stopwatch();
        loop {
            let all = self.readers()?;
            let watched: Vec<String> = all
                .iter()
                .filter(|name| reader.is_none_or(|wanted| name.contains(wanted)))
                .cloned()
                .collect();
            let mut states: Vec<ReaderState> = watched
                .iter()
                .map(String::as_str)
                .chain([PNP_NOTIFICATION])
                .filter_map(|name| CString::new(name).ok())
                .map(|name| ReaderState {
                    name,
                    current: SCARD_STATE_UNAWARE,
                    event: 0,
                    atr: Vec::new(),
                })
                .collect();
            // A snapshot: with every state UNAWARE the call returns at once.
            self.status_change(0, &mut states)?;

            let mut transient = None;
            for state in &states {
                let present = state.event & SCARD_STATE_PRESENT != 0
                    && state.event & SCARD_STATE_MUTE == 0
                    && state.name.as_bytes() != PNP_NOTIFICATION.as_bytes();
                if !present {
                    continue;
                }
                match self.connect_reader(state) {
                    Ok(card) => return Ok(card),
                    // The card left or went mute between the snapshot and the connect.
                    Err(e @ (NfcError::CardRemoved { .. } | NfcError::CardUnresponsive { .. })) => {
                        transient = Some(e);
                    }
                    Err(e) => return Err(e),
                }
            }

            let remaining = wait.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return Err(transient.unwrap_or(match reader {
                    Some(wanted) if watched.is_empty() => NfcError::NoMatchingReader {
                        wanted: wanted.to_owned(),
                        available: all,
                    },
                    None if all.is_empty() => NfcError::NoReaders,
                    _ => NfcError::NoCard {
                        readers: watched,
                        waited: wait,
                    },
                }));
            }
            // Wait for any watched reader to change, or for a reader to come or go.
            for state in &mut states {
                state.current = state.event & !SCARD_STATE_CHANGED;
            }
            let timeout_ms = u32::try_from(remaining.as_millis())
                .unwrap_or(TIMEOUT_MS_MAX)
                .min(TIMEOUT_MS_MAX);
            self.status_change(timeout_ms, &mut states)?;
        }
    }

    /// `SCardGetStatusChange`, with a timeout counted as "nothing changed".
    fn status_change(&self, timeout_ms: u32, states: &mut [ReaderState]) -> Result<(), NfcError> {
        match self
            .handle
            .api
            .get_status_change(self.handle.raw, Dword::from(timeout_ms), states)
        {
            Ok(()) | Err(SCARD_E_TIMEOUT) => Ok(()),
            Err(code) => Err(error("SCardGetStatusChange", code)),
        }
    }

    fn connect_reader(&self, state: &ReaderState) -> Result<Card, NfcError> {
        let (raw, active) = self
            .handle
            .api
            .connect(
                self.handle.raw,
                &state.name,
                SCARD_SHARE_SHARED,
                SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
            )
            .map_err(|code| error("SCardConnect", code))?;
        let protocol = match active {
            SCARD_PROTOCOL_T0 => Protocol::T0,
            SCARD_PROTOCOL_T1 => Protocol::T1,
            // Only T=0 and T=1 were offered, so pcscd cannot choose anything else.
            _ => {
                let _ = self.handle.api.disconnect(raw, SCARD_LEAVE_CARD);
                return Err(NfcError::Pcsc {
                    function: "SCardConnect",
                    code: SCARD_E_PROTO_MISMATCH,
                });
            }
        };
        Ok(Card {
            context: Arc::clone(&self.handle),
            raw,
            protocol,
            reader: state.name.to_string_lossy().into_owned(),
            atr: state.atr.clone(),
            response: vec![0; ffi::MAX_BUFFER_SIZE_EXTENDED],
        })
    }
}

impl Card {
    /// Sends a command APDU and returns the full response APDU (data, SW1 SW2), using the
    /// protocol control information of the active protocol.
    ///
    /// With T=0, the caller handles `61 xx` (GET RESPONSE) and `6C xx` (resend with Le) itself.
    pub fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, NfcError> {
        let pci = match self.protocol {
            Protocol::T0 => SCARD_PROTOCOL_T0,
            Protocol::T1 => SCARD_PROTOCOL_T1,
        };
        let len = self
            .context
            .api
            .transmit(self.raw, pci, apdu, &mut self.response)
            .map_err(|code| error("SCardTransmit", code))?;
        Ok(self.response[..len].to_vec())
    }

    /// The full name of the card's reader.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The card's ATR, as its reader reported it before the connection.
    pub fn atr(&self) -> &[u8] {
        &self.atr
    }

    /// The protocol negotiated with the card.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        // Nothing to do about a failure here: the handle is gone either way.
        let _ = self.context.api.disconnect(self.raw, SCARD_LEAVE_CARD);
    }
}

impl Drop for ContextHandle {
    fn drop(&mut self) {
        let _ = self.api.release_context(self.raw);
    }
}

impl fmt::Debug for ContextHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextHandle")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

/// Maps a failed call's return code to an error that says what to do.
fn error(function: &'static str, code: u32) -> NfcError {
    match code {
        SCARD_E_NO_SERVICE | SCARD_E_SERVICE_STOPPED => NfcError::ServiceNotRunning,
        SCARD_E_NO_READERS_AVAILABLE => NfcError::NoReaders,
        SCARD_E_TIMEOUT => NfcError::Timeout { function },
        SCARD_W_REMOVED_CARD | SCARD_E_NO_SMARTCARD => NfcError::CardRemoved { function },
        SCARD_W_RESET_CARD => NfcError::CardReset { function },
        SCARD_W_UNRESPONSIVE_CARD | SCARD_W_UNPOWERED_CARD => {
            NfcError::CardUnresponsive { function }
        }
        SCARD_E_SHARING_VIOLATION => NfcError::SharingViolation,
        code => NfcError::Pcsc { function, code },
    }
}

/// Splits a PC/SC multi-string (`a\0b\0\0`) into its names.
fn split_multi_string(multi: &[u8]) -> Vec<String> {
    multi
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_reader_lists() {
        assert_eq!(
            split_multi_string(b"Virtual PCD 00 00\0Virtual PCD 00 01\0\0"),
            ["Virtual PCD 00 00", "Virtual PCD 00 01"]
        );
        assert!(split_multi_string(b"\0").is_empty());
        assert!(split_multi_string(b"").is_empty());
        // Unterminated (never sent by pcsc-lite, still no panic).
        assert_eq!(split_multi_string(b"ACR122U"), ["ACR122U"]);
    }

    #[test]
    fn maps_codes_to_errors_that_say_what_to_do() {
        assert!(matches!(
            error("SCardEstablishContext", 0x8010_001D),
            NfcError::ServiceNotRunning
        ));
        assert!(matches!(
            error("SCardListReaders", 0x8010_002E),
            NfcError::NoReaders
        ));
        assert!(matches!(
            error("SCardTransmit", 0x8010_0069),
            NfcError::CardRemoved {
                function: "SCardTransmit"
            }
        ));
        assert!(matches!(
            error("SCardConnect", 0x8010_000C),
            NfcError::CardRemoved { .. }
        ));
        assert!(matches!(
            error("SCardGetStatusChange", 0x8010_000A),
            NfcError::Timeout { .. }
        ));
        assert!(matches!(
            error("SCardConnect", 0x8010_0017),
            NfcError::Pcsc {
                code: 0x8010_0017,
                ..
            }
        ));
    }
}
