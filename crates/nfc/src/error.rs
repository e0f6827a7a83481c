//! The crate's errors. Each message says what went wrong and, where the operator can fix it,
//! what to do.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// An error of the vpcd bridge or of the PC/SC client.
#[derive(Debug)]
#[non_exhaustive]
pub enum NfcError {
    /// The card left the reader (`SCARD_W_REMOVED_CARD`, `SCARD_E_NO_SMARTCARD`).
    CardRemoved {
        /// The PC/SC function that reported it.
        function: &'static str,
    },
    /// Another application reset the card, so its state is lost (`SCARD_W_RESET_CARD`).
    CardReset {
        /// The PC/SC function that reported it.
        function: &'static str,
    },
    /// The card does not answer the reader (`SCARD_W_UNRESPONSIVE_CARD`,
    /// `SCARD_W_UNPOWERED_CARD`).
    CardUnresponsive {
        /// The PC/SC function that reported it.
        function: &'static str,
    },
    /// The TCP connection to vpcd failed.
    Connect {
        /// Where vpcd was expected.
        addr: SocketAddr,
        /// Why the connection failed.
        source: io::Error,
    },
    /// vpcd sent a frame the bridge cannot accept; the session ends.
    Frame(FrameError),
    /// The slot's ATR cannot be sent: an ATR has 1 to 33 bytes.
    InvalidAtr {
        /// The length the slot returned.
        len: usize,
    },
    /// Reading from or writing to vpcd failed.
    Io(io::Error),
    /// `libpcsclite.so.1` could not be loaded, or lacks a function.
    LibraryMissing {
        /// The loader's message.
        detail: String,
    },
    /// No card appeared in the chosen readers within the wait.
    NoCard {
        /// The readers that were watched.
        readers: Vec<String>,
        /// How long the client waited.
        waited: Duration,
    },
    /// A reader was named, but no reader's name contains it.
    NoMatchingReader {
        /// The part of a name that was asked for.
        wanted: String,
        /// The readers pcscd knows.
        available: Vec<String>,
    },
    /// pcscd knows no reader (`SCARD_E_NO_READERS_AVAILABLE`).
    NoReaders,
    /// The bridge refuses to connect to a non-loopback address: vpcd has no authentication.
    NotLoopback {
        /// The refused address.
        addr: SocketAddr,
    },
    /// Any other PC/SC failure.
    Pcsc {
        /// The PC/SC function that failed.
        function: &'static str,
        /// Its return code (`SCARD_E_*`, `SCARD_W_*`, `SCARD_F_*`).
        code: u32,
    },
    /// pcscd is not running (`SCARD_E_NO_SERVICE`, `SCARD_E_SERVICE_STOPPED`).
    ServiceNotRunning,
    /// Another application holds the card exclusively (`SCARD_E_SHARING_VIOLATION`).
    SharingViolation,
    /// A PC/SC call timed out (`SCARD_E_TIMEOUT`).
    Timeout {
        /// The PC/SC function that timed out.
        function: &'static str,
    },
}

/// A malformed frame from vpcd. None is sent by a working vpcd; each one ends the session.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum FrameError {
    /// The connection closed inside a frame.
    Truncated {
        /// The bytes the frame needed (2 for the length itself).
        expected: usize,
        /// The bytes that arrived.
        received: usize,
    },
    /// A one-byte control frame with a code vpcd does not define (it defines 00, 01, 02, 04).
    UnknownControl {
        /// The code.
        code: u8,
    },
    /// A frame of length zero.
    ZeroLength,
}

impl fmt::Display for NfcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CardRemoved { function } => write!(
                f,
                "{function}: the card left the reader; present it again (for vpcd: reconnect \
                 the bridge) and reconnect"
            ),
            Self::CardReset { function } => write!(
                f,
                "{function}: another application reset the card; reconnect and select the \
                 application again"
            ),
            Self::CardUnresponsive { function } => write!(
                f,
                "{function}: the card does not answer the reader; present it again"
            ),
            Self::Connect { addr, source } => write!(
                f,
                "cannot connect to vpcd at {addr}: {source}; is pcscd running with the vpcd \
                 driver? (`apt-get install pcscd vsmartcard-vpcd`, then start `pcscd`)"
            ),
            Self::Frame(e) => write!(f, "malformed frame from vpcd: {e}"),
            Self::InvalidAtr { len } => write!(
                f,
                "the slot's ATR has {len} bytes; an ATR has 1 to 33 (ISO/IEC 7816-3)"
            ),
            Self::Io(e) => write!(f, "vpcd link: {e}"),
            Self::LibraryMissing { detail } => write!(
                f,
                "libpcsclite.so.1 not found or unusable ({detail}): apt-get install libpcsclite1"
            ),
            Self::NoCard { readers, waited } => write!(
                f,
                "no card in {} after {} ms: present a card, or start the virtual card (a vpcd \
                 bridge connected to 127.0.0.1:35963 for \"Virtual PCD 00 00\")",
                if readers.is_empty() {
                    "any reader".to_owned()
                } else {
                    quoted(readers)
                },
                waited.as_millis()
            ),
            Self::NoMatchingReader { wanted, available } => write!(
                f,
                "no reader name contains \"{wanted}\"; pcscd knows {}",
                if available.is_empty() {
                    "no reader".to_owned()
                } else {
                    quoted(available)
                }
            ),
            Self::NoReaders => write!(
                f,
                "pcscd knows no reader: plug one in, or for the virtual reader `apt-get install \
                 vsmartcard-vpcd` and restart pcscd"
            ),
            Self::NotLoopback { addr } => write!(
                f,
                "refusing to connect to vpcd at {addr}: vpcd has no authentication, so the \
                 bridge connects only to loopback addresses (vpcd::danger_connect_any overrides)"
            ),
            Self::Pcsc { function, code } => {
                write!(f, "{function} failed: {} (0x{code:08X})", code_name(*code))
            }
            Self::ServiceNotRunning => write!(
                f,
                "pcscd is not running: start it with `pcscd` (Debian package pcscd; `pcscd -f \
                 -d` runs it in the foreground with a debug log)"
            ),
            Self::SharingViolation => write!(
                f,
                "another application holds the card exclusively (SCARD_E_SHARING_VIOLATION); \
                 close it and retry"
            ),
            Self::Timeout { function } => write!(f, "{function} timed out (SCARD_E_TIMEOUT)"),
        }
    }
}

impl std::error::Error for NfcError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect { source, .. } => Some(source),
            Self::Frame(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<FrameError> for NfcError {
    fn from(e: FrameError) -> Self {
        Self::Frame(e)
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { expected, received } => write!(
                f,
                "the connection closed inside a frame ({received} of {expected} bytes)"
            ),
            Self::UnknownControl { code } => write!(
                f,
                "unknown control code {code:02X} (vpcd defines 00 power off, 01 power on, \
                 02 reset, 04 get ATR)"
            ),
            Self::ZeroLength => write!(f, "a frame of length zero"),
        }
    }
}

impl std::error::Error for FrameError {}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name of a PC/SC return code, as pcsclite.h spells it.
pub(crate) fn code_name(code: u32) -> &'static str {
    match code {
        0x0000_0000 => "SCARD_S_SUCCESS",
        0x8010_0001 => "SCARD_F_INTERNAL_ERROR",
        0x8010_0002 => "SCARD_E_CANCELLED",
        0x8010_0003 => "SCARD_E_INVALID_HANDLE",
        0x8010_0004 => "SCARD_E_INVALID_PARAMETER",
        0x8010_0005 => "SCARD_E_INVALID_TARGET",
        0x8010_0006 => "SCARD_E_NO_MEMORY",
        0x8010_0007 => "SCARD_F_WAITED_TOO_LONG",
        0x8010_0008 => "SCARD_E_INSUFFICIENT_BUFFER",
        0x8010_0009 => "SCARD_E_UNKNOWN_READER",
        0x8010_000A => "SCARD_E_TIMEOUT",
        0x8010_000B => "SCARD_E_SHARING_VIOLATION",
        0x8010_000C => "SCARD_E_NO_SMARTCARD",
        0x8010_000D => "SCARD_E_UNKNOWN_CARD",
        0x8010_000E => "SCARD_E_CANT_DISPOSE",
        0x8010_000F => "SCARD_E_PROTO_MISMATCH",
        0x8010_0010 => "SCARD_E_NOT_READY",
        0x8010_0011 => "SCARD_E_INVALID_VALUE",
        0x8010_0012 => "SCARD_E_SYSTEM_CANCELLED",
        0x8010_0013 => "SCARD_F_COMM_ERROR",
        0x8010_0014 => "SCARD_F_UNKNOWN_ERROR",
        0x8010_0015 => "SCARD_E_INVALID_ATR",
        0x8010_0016 => "SCARD_E_NOT_TRANSACTED",
        0x8010_0017 => "SCARD_E_READER_UNAVAILABLE",
        0x8010_0019 => "SCARD_E_PCI_TOO_SMALL",
        0x8010_001A => "SCARD_E_READER_UNSUPPORTED",
        0x8010_001B => "SCARD_E_DUPLICATE_READER",
        0x8010_001C => "SCARD_E_CARD_UNSUPPORTED",
        0x8010_001D => "SCARD_E_NO_SERVICE",
        0x8010_001E => "SCARD_E_SERVICE_STOPPED",
        0x8010_001F => "SCARD_E_UNSUPPORTED_FEATURE",
        0x8010_002E => "SCARD_E_NO_READERS_AVAILABLE",
        0x8010_002F => "SCARD_E_COMM_DATA_LOST",
        0x8010_0031 => "SCARD_E_SERVER_TOO_BUSY",
        0x8010_0065 => "SCARD_W_UNSUPPORTED_CARD",
        0x8010_0066 => "SCARD_W_UNRESPONSIVE_CARD",
        0x8010_0067 => "SCARD_W_UNPOWERED_CARD",
        0x8010_0068 => "SCARD_W_RESET_CARD",
        0x8010_0069 => "SCARD_W_REMOVED_CARD",
        _ => "an unknown PC/SC code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcsc_codes_display_with_their_names() {
        let e = NfcError::Pcsc {
            function: "SCardTransmit",
            code: 0x8010_0017,
        };
        assert_eq!(
            e.to_string(),
            "SCardTransmit failed: SCARD_E_READER_UNAVAILABLE (0x80100017)"
        );
    }

    #[test]
    fn operator_errors_say_what_to_do() {
        assert!(
            NfcError::ServiceNotRunning
                .to_string()
                .contains("start it with `pcscd`")
        );
        let missing = NfcError::LibraryMissing {
            detail: "cannot open shared object file".into(),
        };
        assert!(missing.to_string().contains("apt-get install libpcsclite1"));
        let no_match = NfcError::NoMatchingReader {
            wanted: "ACR122".into(),
            available: vec!["Virtual PCD 00 00".into()],
        };
        assert_eq!(
            no_match.to_string(),
            "no reader name contains \"ACR122\"; pcscd knows \"Virtual PCD 00 00\""
        );
    }
}
