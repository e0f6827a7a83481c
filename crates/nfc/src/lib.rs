//! NFC over PC/SC: the platform's real card path.
//!
//! Two directions, one crate:
//!
//! * [`vpcd`] presents a card *to* the PC/SC stack. A [`Slot`] (the card in the field: the
//!   device wallet's card application, say) answers the APDUs that any PC/SC application (a
//!   terminal kernel, `pcsc_scan`, `opensc-tool`, pyscard) sends to the reader
//!   "Virtual PCD 00 00".
//! * [`pcsc`] talks *to* a card through the PC/SC stack: a real contactless reader with a real
//!   card, or the virtual reader with a [`Slot`] behind it. It is a small client for pcsc-lite's
//!   C API, loaded at run time.
//!
//! # The PC/SC model
//!
//! PC/SC is the smart-card stack of every desktop OS. On Linux, the daemon `pcscd` (pcsc-lite)
//! owns the readers through reader drivers; applications link `libpcsclite.so.1`, which talks
//! to the daemon over a UNIX socket. An application *establishes a context*
//! (`SCardEstablishContext`), *lists readers* (`SCardListReaders`), *waits* for a card
//! (`SCardGetStatusChange`), *connects* to the card in one reader (`SCardConnect`, shared or
//! exclusive, negotiating T=0 or T=1), *transmits* APDUs (`SCardTransmit`) and *disconnects*.
//! A contactless reader presents an ISO 14443-4 card as if it were a contact card, with an ATR
//! built as PC/SC Part 3 describes ([`CONTACTLESS_ATR`], [`contactless_atr`]).
//!
//! # The vpcd protocol
//!
//! vpcd (Debian package `vsmartcard-vpcd`) is a pcscd reader driver whose card lives on the
//! other end of a TCP connection. The driver is the TCP *server*: it listens on port 35963 for
//! the reader "Virtual PCD 00 00" and 35964 for "Virtual PCD 00 01", on all interfaces and
//! without authentication. The virtual card connects as the client ([`vpcd::connect`]). Every
//! frame, in both directions, is a 2-byte big-endian length and then that many bytes:
//!
//! | vpcd sends                | meaning   | the card answers           |
//! |---------------------------|-----------|----------------------------|
//! | `00 01` `00`              | power off | nothing                    |
//! | `00 01` `01`              | power on  | nothing                    |
//! | `00 01` `02`              | reset     | nothing                    |
//! | `00 01` `04`              | get ATR   | a frame holding the ATR    |
//! | `LL LL` C-APDU (≥ 2 bytes)| APDU      | a frame holding data, SW1 SW2 |
//!
//! pcscd asks for the ATR at every poll of the reader (every 400 ms in pcsc-lite 1.9.9) to
//! learn whether the card is still there, so a connected card is "inserted" and a closed
//! connection is "removed", each at the next poll. Two consequences:
//!
//! * Right after a bridge leaves, the reader still shows its card as present; an application
//!   that connects then gets `SCARD_E_NOT_TRANSACTED` on its first transmit. Wait for the new
//!   bridge's first [`vpcd::Event::AtrSent`] (the reader has seen *this* card) before
//!   connecting.
//! * The driver serves one card per port; a second client waits in the listen backlog until
//!   the first one leaves.
//!
//! vpcd (vsmartcard 3.3) writes a frame's length and its body in two `send` calls with Nagle's
//! algorithm on, so each body waits for the ACK of its length. With Linux's delayed ACK that
//! costs 40 ms per APDU; the bridge sets `TCP_QUICKACK` after each read, and a round trip
//! through pcscd and vpcd then takes about 0.1 ms.
//!
//! # Running pcscd and vpcd on Debian
//!
//! ```text
//! apt-get install -y --no-install-recommends pcscd vsmartcard-vpcd libpcsclite-dev
//! pcscd            # daemonizes; `pcscd -f -d` stays in the foreground and logs every call
//! ```
//!
//! Installing `vsmartcard-vpcd` drops `/etc/reader.conf.d/vpcd`, so pcscd loads the driver at
//! start-up and opens the two ports; restart pcscd after installing it. Without systemd, start
//! pcscd by hand as above (as root, or as a user that may create `/run/pcscd`). Then
//! `cargo run -p nfc --example vpcd_demo_card` serves a demo card and `pcsc_scan` (package
//! `pcsc-tools`) sees it in "Virtual PCD 00 00".
//!
//! # Architecture Invariant
//!
//! `nfc` is the only crate with unsafe code: the pcsc-lite FFI, loaded at run time
//! (`dlopen("libpcsclite.so.1")` through `libloading`), in one small private module. Nothing
//! links `-lpcsclite`, so `cargo build` and `cargo test` work on a machine without pcsc-lite;
//! there [`pcsc::Context::establish`] returns [`NfcError::LibraryMissing`]. The crate lints
//! deny unsafe code everywhere else.
//!
//! # Tests
//!
//! The bridge is tested against an in-test TCP listener that plays vpcd. The end-to-end test
//! (bridge → vpcd → pcscd → [`pcsc`]) runs when `TAPWALLET_TEST_PCSC` is set and pcscd runs
//! with the vpcd driver:
//!
//! ```text
//! pcscd && TAPWALLET_TEST_PCSC=1 cargo test -p nfc
//! ```

mod error;
pub mod pcsc;
pub mod vpcd;

use std::time::Instant;

pub use error::{FrameError, NfcError};

/// The card in the field, as the reader sees it.
///
/// The vpcd bridge calls these methods as the reader drives the card. None of them fails:
/// a card answers every command, so an implementor turns its own errors into a status word
/// (`6F 00` no precise diagnosis, `65 81` memory failure, `67 00` wrong length, ...).
pub trait Slot {
    /// The Answer To Reset: 1 to 33 bytes. For a contactless card, [`CONTACTLESS_ATR`] or
    /// [`contactless_atr`] with the card's historical bytes.
    fn atr(&self) -> Vec<u8>;

    /// The field came on: the card powers up and waits for its first command.
    fn power_on(&mut self);

    /// The field went off: the card loses its volatile state.
    fn power_off(&mut self);

    /// A warm reset: the card returns to its state after power-on.
    fn reset(&mut self);

    /// Processes one command APDU and returns the full response APDU: data, then SW1 SW2.
    fn transmit(&mut self, command: &[u8]) -> Vec<u8>;
}

/// The ATR that a PC/SC reader presents for an ISO 14443-4 (contactless) card without
/// historical bytes, built as the PC/SC specification describes (Part 3, Supplemental Document
/// for Contactless ICCs, revision 2.02.00, "ATR" for ISO/IEC 14443-4 cards):
///
/// | byte | value | meaning |
/// |------|-------|---------|
/// | TS   | `3B`  | direct convention |
/// | T0   | `80`  | TD1 follows; no historical bytes (low nibble 0) |
/// | TD1  | `80`  | TD2 follows; T=0 |
/// | TD2  | `01`  | nothing follows; T=1 |
/// | TCK  | `01`  | XOR of T0 to TD2: `80 ^ 80 ^ 01` |
///
/// pcscd negotiates T=1 with it.
pub const CONTACTLESS_ATR: [u8; 5] = [0x3B, 0x80, 0x80, 0x01, 0x01];

/// The most historical bytes an ATR can carry (the low nibble of T0).
pub const HISTORICAL_BYTES_MAX: usize = 15;

/// The PC/SC Part 3 ATR of an ISO 14443-4 card whose ATS (type A) or ATQB/ATTRIB (type B)
/// carries `historical_bytes`: `3B 8n 80 01`, the bytes, and TCK. Returns `None` for more
/// than [`HISTORICAL_BYTES_MAX`] bytes. `contactless_atr(&[])` is [`CONTACTLESS_ATR`].
pub fn contactless_atr(historical_bytes: &[u8]) -> Option<Vec<u8>> {
    let count = u8::try_from(historical_bytes.len())
        .ok()
        .filter(|&n| usize::from(n) <= HISTORICAL_BYTES_MAX)?;
    let mut atr = vec![0x3B, 0x80 | count, 0x80, 0x01];
    atr.extend_from_slice(historical_bytes);
    // TCK: the XOR of every byte from T0 to the last historical byte (ISO/IEC 7816-3 8.2.5).
    let tck = atr[1..].iter().fold(0, |acc, b| acc ^ b);
    atr.push(tck);
    Some(atr)
}

/// Monotonic time for I/O latency (the bridge's [`vpcd::Event::Apdu`] durations) and for
/// bounding waits on a device. No card or protocol decision depends on it.
#[allow(clippy::disallowed_methods)]
pub(crate) fn stopwatch() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contactless_atr_without_historical_bytes_is_the_constant() {
        assert_eq!(contactless_atr(&[]).unwrap(), CONTACTLESS_ATR);
    }

    #[test]
    fn contactless_atr_carries_historical_bytes_and_tck() {
        // Historical bytes of a typical JavaCard ATS.
        let historical = [0x80, 0x73, 0xC8, 0x21, 0x10];
        let atr = contactless_atr(&historical).unwrap();
        assert_eq!(atr[..4], [0x3B, 0x85, 0x80, 0x01]);
        assert_eq!(atr[4..9], historical);
        assert_eq!(atr[1..].iter().fold(0, |acc, b| acc ^ b), 0);
    }

    #[test]
    fn contactless_atr_rejects_more_than_fifteen_historical_bytes() {
        assert!(contactless_atr(&[0; HISTORICAL_BYTES_MAX]).is_some());
        assert!(contactless_atr(&[0; HISTORICAL_BYTES_MAX + 1]).is_none());
    }
}
