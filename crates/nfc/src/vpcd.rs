//! The vpcd bridge: presents a [`Slot`] to pcscd as the card in a virtual reader.
//!
//! vpcd, the pcscd driver, listens; the bridge connects ([`connect`]) and then answers vpcd's
//! frames ([`VpcdLink::serve`]) until vpcd closes the connection or the caller raises a stop
//! flag. The wire format is in the [crate documentation](crate#the-vpcd-protocol).
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//!
//! use nfc::vpcd::{self, Event};
//! # fn serve(slot: &mut dyn nfc::Slot) -> Result<(), nfc::NfcError> {
//! let mut link = vpcd::connect(vpcd::READER_0)?;
//! let stop = AtomicBool::new(false); // set it from another thread to end the session
//! let end = link.serve(slot, &stop, &mut |event| {
//!     if let Event::Apdu { command, response, elapsed } = event {
//!         eprintln!("{} -> {} bytes in {elapsed:?}", command.len(), response.len());
//!     }
//! })?;
//! eprintln!("session over: {end:?}");
//! # Ok(())
//! # }
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{FrameError, NfcError, Slot, stopwatch};

/// Where vpcd listens for the card of the reader "Virtual PCD 00 00".
pub const READER_0: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 35963));

/// Where vpcd listens for the card of the reader "Virtual PCD 00 01".
pub const READER_1: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 35964));

/// How long [`connect`] waits for the TCP handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How often [`VpcdLink::serve`] looks at its stop flag while no frame arrives.
pub const STOP_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long writing one answer to vpcd may block before the session fails.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes a frame can carry (its length is a `u16`).
pub const FRAME_LEN_MAX: usize = 0xFFFF;

/// The longest ATR (ISO/IEC 7816-3).
pub const ATR_LEN_MAX: usize = 33;

/// The answer sent for a slot response that cannot be framed (shorter than SW1 SW2 or longer
/// than [`FRAME_LEN_MAX`]): `6F 00`, no precise diagnosis.
pub const SW_NO_PRECISE_DIAGNOSIS: [u8; 2] = [0x6F, 0x00];

/// A one-byte control frame from vpcd: a newtype over the wire value, unknown codes preserved.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Control(pub u8);

impl Control {
    /// `00`: the field goes off.
    pub const POWER_OFF: Self = Self(0x00);
    /// `01`: the field comes on.
    pub const POWER_ON: Self = Self(0x01);
    /// `02`: a warm reset.
    pub const RESET: Self = Self(0x02);
    /// `04`: the reader asks for the ATR (pcscd's presence poll, every half second or so).
    pub const GET_ATR: Self = Self(0x04);
}

/// What happened on the link, for a progress display.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// An APDU was exchanged.
    Apdu {
        /// The command APDU from the reader.
        command: &'a [u8],
        /// The response APDU sent back: data, SW1 SW2.
        response: &'a [u8],
        /// From the command's arrival to the response's write.
        elapsed: Duration,
    },
    /// The reader read the ATR. pcscd polls it about every half second; the first one means
    /// the reader sees the card.
    AtrSent,
    /// The field went off.
    PoweredOff,
    /// The field came on.
    PoweredOn,
    /// The card was reset.
    Reset,
}

/// Why [`VpcdLink::serve`] returned without an error.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ServeEnd {
    /// vpcd closed the connection between frames (pcscd stopped, or it dropped the card).
    PeerClosed,
    /// The stop flag was set. The link stays usable: `serve` may be called again.
    Stopped,
}

/// A connection to vpcd, from the card's side.
#[derive(Debug)]
pub struct VpcdLink {
    stream: TcpStream,
    peer: SocketAddr,
    decoder: FrameDecoder,
    closed: bool,
}

/// Connects to vpcd at `addr` (usually [`READER_0`]) as the card. Refuses any address but a
/// loopback one, since vpcd authenticates nothing; see [`danger_connect_any`].
pub fn connect(addr: SocketAddr) -> Result<VpcdLink, NfcError> {
    if !addr.ip().to_canonical().is_loopback() {
        return Err(NfcError::NotLoopback { addr });
    }
    danger_connect_any(addr)
}

/// Connects to vpcd at any address. vpcd has no authentication and the link is plain TCP:
/// anyone on the path sees and can alter every APDU. Use it only on a network you control.
pub fn danger_connect_any(addr: SocketAddr) -> Result<VpcdLink, NfcError> {
    let connect_error = |source| NfcError::Connect { addr, source };
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(connect_error)?;
    // Frames are small and strictly request/response: send each one at once.
    stream.set_nodelay(true).map_err(connect_error)?;
    stream
        .set_read_timeout(Some(STOP_POLL_INTERVAL))
        .map_err(connect_error)?;
    stream
        .set_write_timeout(Some(WRITE_TIMEOUT))
        .map_err(connect_error)?;
    quick_ack(&stream);
    Ok(VpcdLink {
        stream,
        peer: addr,
        decoder: FrameDecoder::default(),
        closed: false,
    })
}

impl VpcdLink {
    /// The vpcd address this link is connected to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Answers vpcd with `slot` until vpcd closes the connection ([`ServeEnd::PeerClosed`]) or
    /// `stop` is set ([`ServeEnd::Stopped`], noticed within [`STOP_POLL_INTERVAL`] when idle),
    /// reporting each exchange to `events`.
    ///
    /// A malformed frame ([`NfcError::Frame`]), an ATR the slot cannot send
    /// ([`NfcError::InvalidAtr`]) or an I/O failure ([`NfcError::Io`]) ends the session with an
    /// error. A slot response that cannot be framed is replaced by
    /// [`SW_NO_PRECISE_DIAGNOSIS`].
    pub fn serve(
        &mut self,
        slot: &mut dyn Slot,
        stop: &AtomicBool,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<ServeEnd, NfcError> {
        let mut chunk = [0u8; 4096];
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(ServeEnd::Stopped);
            }
            if let Some(frame) = self.decoder.next_frame()? {
                self.answer(&frame, slot, events)?;
                continue;
            }
            if self.closed {
                self.decoder.finish()?;
                return Ok(ServeEnd::PeerClosed);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    quick_ack(&self.stream);
                    self.decoder.push(&chunk[..n]);
                }
                // The read timeout: time to look at the stop flag again.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(NfcError::Io(e)),
            }
        }
    }

    fn answer(
        &mut self,
        frame: &Frame,
        slot: &mut dyn Slot,
        events: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), NfcError> {
        match frame {
            Frame::Control(Control::POWER_OFF) => {
                slot.power_off();
                events(Event::PoweredOff);
            }
            Frame::Control(Control::POWER_ON) => {
                slot.power_on();
                events(Event::PoweredOn);
            }
            Frame::Control(Control::RESET) => {
                slot.reset();
                events(Event::Reset);
            }
            Frame::Control(Control::GET_ATR) => {
                let atr = slot.atr();
                // vpcd takes an empty answer for a vanished card and drops the connection.
                if atr.is_empty() || atr.len() > ATR_LEN_MAX {
                    return Err(NfcError::InvalidAtr { len: atr.len() });
                }
                self.send(&atr)?;
                events(Event::AtrSent);
            }
            Frame::Control(Control(code)) => {
                return Err(FrameError::UnknownControl { code: *code }.into());
            }
            Frame::Apdu(command) => {
                let started = stopwatch();
                let mut response = slot.transmit(command);
                if response.len() < 2 || response.len() > FRAME_LEN_MAX {
                    response = SW_NO_PRECISE_DIAGNOSIS.to_vec();
                }
                self.send(&response)?;
                events(Event::Apdu {
                    command,
                    response: &response,
                    elapsed: started.elapsed(),
                });
            }
        }
        Ok(())
    }

    fn send(&mut self, payload: &[u8]) -> Result<(), NfcError> {
        // Invariant: callers send 1 to FRAME_LEN_MAX bytes (an ATR, or a checked response).
        let len = u16::try_from(payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame over 65535 bytes"))
            .map_err(NfcError::Io)?;
        let mut frame = Vec::with_capacity(2 + payload.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).map_err(NfcError::Io)
    }
}

/// Asks the kernel to acknowledge received segments at once (`TCP_QUICKACK`, Linux).
///
/// vpcd (vsmartcard 3.3, Debian 12) sends a frame's length and its body in two `send` calls
/// on a socket with Nagle's algorithm on, so the body waits for the length's ACK; a delayed
/// ACK (40 ms on Linux) then costs every APDU 40 ms. The kernel leaves quick-ACK mode on its
/// own, so this is set again after every read. Failing to set it only costs latency.
fn quick_ack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::TcpStreamExt;
        let _ = stream.set_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

/// A frame from vpcd.
#[derive(Debug, Eq, PartialEq)]
enum Frame {
    Apdu(Vec<u8>),
    Control(Control),
}

/// Splits the byte stream from vpcd into frames; holds at most one partial frame.
#[derive(Debug, Default)]
struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if the buffer holds one.
    fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let [hi, lo, ..] = self.buf[..] else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len == 0 {
            return Err(FrameError::ZeroLength);
        }
        if self.buf.len() < 2 + len {
            return Ok(None);
        }
        let body: Vec<u8> = self.buf.drain(..2 + len).skip(2).collect();
        Ok(Some(match body[..] {
            [code] => Frame::Control(Control(code)),
            _ => Frame::Apdu(body),
        }))
    }

    /// At end of stream: fails if a frame was cut off.
    fn finish(&self) -> Result<(), FrameError> {
        match self.buf[..] {
            [] => Ok(()),
            [_] => Err(FrameError::Truncated {
                expected: 2,
                received: 1,
            }),
            [hi, lo, ..] => Err(FrameError::Truncated {
                expected: 2 + usize::from(u16::from_be_bytes([hi, lo])),
                received: self.buf.len(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, FrameError> {
        let mut decoder = FrameDecoder::default();
        decoder.push(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = decoder.next_frame()? {
            frames.push(frame);
        }
        decoder.finish()?;
        Ok(frames)
    }

    #[test]
    fn decodes_control_and_apdu_frames() {
        let bytes = [
            0x00, 0x01, 0x01, // power on
            0x00, 0x01, 0x04, // get ATR
            0x00, 0x05, 0x00, 0xB0, 0x00, 0x00, 0x10, // READ BINARY
            0x00, 0x01, 0x03, // unknown control, preserved
        ];
        assert_eq!(
            decode_all(&bytes).unwrap(),
            [
                Frame::Control(Control::POWER_ON),
                Frame::Control(Control::GET_ATR),
                Frame::Apdu(vec![0x00, 0xB0, 0x00, 0x00, 0x10]),
                Frame::Control(Control(0x03)),
            ]
        );
    }

    #[test]
    fn decodes_a_frame_delivered_byte_by_byte() {
        let bytes = [0x00, 0x04, 0x00, 0xA4, 0x04, 0x00];
        let mut decoder = FrameDecoder::default();
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(decoder.next_frame().unwrap(), None, "after {i} bytes");
            decoder.push(&[*b]);
        }
        assert_eq!(
            decoder.next_frame().unwrap(),
            Some(Frame::Apdu(vec![0x00, 0xA4, 0x04, 0x00]))
        );
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn decodes_a_frame_of_the_largest_length() {
        let mut bytes = vec![0xFF, 0xFF];
        bytes.extend(std::iter::repeat_n(0x5A, FRAME_LEN_MAX));
        let frames = decode_all(&bytes).unwrap();
        assert!(matches!(&frames[..], [Frame::Apdu(body)] if body.len() == FRAME_LEN_MAX));
    }

    #[test]
    fn rejects_a_zero_length_frame() {
        assert_eq!(decode_all(&[0x00, 0x00]), Err(FrameError::ZeroLength));
        // Even after a good frame.
        assert_eq!(
            decode_all(&[0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01]),
            Err(FrameError::ZeroLength)
        );
    }

    #[test]
    fn rejects_truncated_frames_at_end_of_stream() {
        assert_eq!(
            decode_all(&[0x00]),
            Err(FrameError::Truncated {
                expected: 2,
                received: 1
            })
        );
        assert_eq!(
            decode_all(&[0x00, 0x0A, 0x00, 0xA4, 0x04]),
            Err(FrameError::Truncated {
                expected: 12,
                received: 5
            })
        );
        assert_eq!(
            decode_all(&[0xFF, 0xFF]),
            Err(FrameError::Truncated {
                expected: 65_537,
                received: 2
            })
        );
    }

    #[test]
    fn refuses_non_loopback_addresses_before_connecting() {
        // TEST-NET-1 (RFC 5737): never routed, and never dialled here.
        let addr: SocketAddr = "192.0.2.1:35963".parse().unwrap();
        assert!(matches!(connect(addr), Err(NfcError::NotLoopback { addr: a }) if a == addr));
        let addr: SocketAddr = "[2001:db8::1]:35963".parse().unwrap();
        assert!(matches!(connect(addr), Err(NfcError::NotLoopback { .. })));
    }
}
