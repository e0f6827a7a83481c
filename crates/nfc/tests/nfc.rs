//! The nfc crate's integration tests.
//!
//! * The vpcd bridge against an in-test TCP listener that plays vpcd: control frames, APDUs,
//!   framing split and coalesced, malformed frames, the stop flag.
//! * The contactless ATR.
//! * With `TAPWALLET_TEST_PCSC` set: the whole path, bridge → vpcd → pcscd → our PC/SC client.
//!   It needs pcscd running with the vpcd driver (`apt-get install pcscd vsmartcard-vpcd`,
//!   then `pcscd`) and nothing else serving the card of "Virtual PCD 00 00".
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure must stop the test"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nfc::vpcd::{self, Event, ServeEnd};
use nfc::{CONTACTLESS_ATR, FrameError, NfcError, Slot};

/// A liveness bound, not a measurement: a broken bridge fails the test instead of hanging it.
const HANG: Duration = Duration::from_secs(30);

const SELECT_PPSE: &[u8] = &[
    0x00, 0xA4, 0x04, 0x00, 0x0E, 0x32, 0x50, 0x41, 0x59, 0x2E, 0x53, 0x59, 0x53, 0x2E, 0x44, 0x44,
    0x46, 0x30, 0x31, 0x00,
];

/// A test card: SELECT by name answers 90 00; any other case 3 or 4 command echoes its data;
/// a case 1 or 2 command answers 90 00; anything else 67 00.
#[derive(Default)]
struct EchoSlot {
    powered: bool,
}

impl Slot for EchoSlot {
    fn atr(&self) -> Vec<u8> {
        CONTACTLESS_ATR.to_vec()
    }

    fn power_on(&mut self) {
        self.powered = true;
    }

    fn power_off(&mut self) {
        self.powered = false;
    }

    fn reset(&mut self) {}

    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        match command {
            [_, 0xA4, 0x04, _, ..] => vec![0x90, 0x00],
            [_, _, _, _] | [_, _, _, _, _] => vec![0x90, 0x00],
            [_, _, _, _, lc, rest @ ..] if usize::from(*lc) <= rest.len() => {
                let mut response = rest[..usize::from(*lc)].to_vec();
                response.extend_from_slice(&[0x90, 0x00]);
                response
            }
            _ => vec![0x67, 0x00],
        }
    }
}

/// An event, owned, as a line of text.
fn describe(event: Event<'_>) -> String {
    match event {
        Event::Apdu {
            command, response, ..
        } => format!("apdu {} -> {}", hex(command), hex(response)),
        Event::AtrSent => "atr".into(),
        Event::PoweredOff => "power off".into(),
        Event::PoweredOn => "power on".into(),
        Event::Reset => "reset".into(),
        _ => "other".into(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Sets the stop flag when dropped, so a failing test never leaves a bridge running.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

type BridgeOutcome = (Result<ServeEnd, NfcError>, Vec<String>);

/// A running bridge: its outcome, and a message when vpcd first reads the ATR (the reader
/// sees the card).
struct Bridge {
    outcome: mpsc::Receiver<BridgeOutcome>,
    card_seen: mpsc::Receiver<()>,
}

/// Runs a bridge for `slot` against vpcd at `addr` on its own thread.
fn spawn_bridge(
    addr: SocketAddr,
    mut slot: impl Slot + Send + 'static,
    stop: Arc<AtomicBool>,
) -> Bridge {
    let (outcome_tx, outcome) = mpsc::channel();
    let (seen_tx, card_seen) = mpsc::channel();
    thread::spawn(move || {
        let mut events = Vec::new();
        let result = vpcd::connect(addr).and_then(|mut link| {
            link.serve(&mut slot, &stop, &mut |e| {
                if e == Event::AtrSent {
                    let _ = seen_tx.send(());
                }
                events.push(describe(e));
            })
        });
        let _ = outcome_tx.send((result, events));
    });
    Bridge { outcome, card_seen }
}

/// The vpcd side of a link: the test plays the reader driver.
struct FakeVpcd {
    stream: TcpStream,
}

impl FakeVpcd {
    /// Listens on a free loopback port and starts a bridge with `slot` against it.
    fn start(
        slot: impl Slot + Send + 'static,
    ) -> (FakeVpcd, mpsc::Receiver<BridgeOutcome>, StopOnDrop) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let outcome = spawn_bridge(listener.local_addr().unwrap(), slot, Arc::clone(&stop)).outcome;
        let (stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        (FakeVpcd { stream }, outcome, StopOnDrop(stop))
    }

    fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn send(&mut self, payload: &[u8]) {
        let len = u16::try_from(payload.len()).unwrap().to_be_bytes();
        self.write(&[&len[..], payload].concat());
    }

    fn recv(&mut self) -> Vec<u8> {
        let mut len = [0; 2];
        self.stream.read_exact(&mut len).unwrap();
        let mut payload = vec![0; usize::from(u16::from_be_bytes(len))];
        self.stream.read_exact(&mut payload).unwrap();
        payload
    }

    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.send(apdu);
        self.recv()
    }

    fn atr(&mut self) -> Vec<u8> {
        self.send(&[0x04]);
        self.recv()
    }

    /// Closes the connection (as pcscd does when it stops) and returns the bridge's outcome.
    fn close(self, outcome: &mpsc::Receiver<BridgeOutcome>) -> BridgeOutcome {
        drop(self.stream);
        outcome.recv_timeout(HANG).unwrap()
    }
}

#[test]
fn bridge_answers_control_frames_and_apdus_until_vpcd_closes() {
    let (mut vpcd, outcome, _stop) = FakeVpcd::start(EchoSlot::default());
    vpcd.send(&[0x01]);
    assert_eq!(vpcd.atr(), CONTACTLESS_ATR);
    assert_eq!(vpcd.transmit(SELECT_PPSE), [0x90, 0x00]);
    assert_eq!(
        vpcd.transmit(&[0x80, 0xCA, 0x9F, 0x36, 0x02, 0x12, 0x34, 0x00]),
        [0x12, 0x34, 0x90, 0x00]
    );
    assert_eq!(vpcd.transmit(&[0x00, 0xB2]), [0x67, 0x00]);
    vpcd.send(&[0x02]);
    vpcd.send(&[0x00]);
    let (result, events) = vpcd.close(&outcome);
    assert_eq!(result.unwrap(), ServeEnd::PeerClosed);
    assert_eq!(
        events,
        [
            "power on",
            "atr",
            "apdu 00A404000E325041592E5359532E444446303100 -> 9000",
            "apdu 80CA9F3602123400 -> 12349000",
            "apdu 00B2 -> 6700",
            "reset",
            "power off",
        ]
    );
}

#[test]
fn bridge_reads_frames_split_across_writes_and_coalesced_in_one() {
    let (mut vpcd, outcome, _stop) = FakeVpcd::start(EchoSlot::default());
    // Power on, get ATR and a case 1 APDU in one write.
    vpcd.write(&[
        0x00, 0x01, 0x01, 0x00, 0x01, 0x04, 0x00, 0x04, 0x00, 0x70, 0x00, 0x00,
    ]);
    assert_eq!(vpcd.recv(), CONTACTLESS_ATR);
    assert_eq!(vpcd.recv(), [0x90, 0x00]);
    // An echo command, one byte per write.
    for b in [0x00, 0x07, 0x80, 0x01, 0x00, 0x00, 0x02, 0xAB, 0xCD] {
        vpcd.write(&[b]);
        vpcd.stream.flush().unwrap();
    }
    assert_eq!(vpcd.recv(), [0xAB, 0xCD, 0x90, 0x00]);
    let (result, events) = vpcd.close(&outcome);
    assert_eq!(result.unwrap(), ServeEnd::PeerClosed);
    assert_eq!(events.len(), 4, "{events:?}");
}

#[test]
fn bridge_ends_the_session_on_a_zero_length_frame() {
    let (mut vpcd, outcome, _stop) = FakeVpcd::start(EchoSlot::default());
    vpcd.send(&[0x01]);
    vpcd.write(&[0x00, 0x00]);
    let (result, events) = outcome.recv_timeout(HANG).unwrap();
    assert!(
        matches!(result, Err(NfcError::Frame(FrameError::ZeroLength))),
        "{result:?}"
    );
    assert_eq!(events, ["power on"]);
}

#[test]
fn bridge_ends_the_session_on_a_truncated_length() {
    let (mut vpcd, outcome, _stop) = FakeVpcd::start(EchoSlot::default());
    vpcd.write(&[0x00]);
    let (result, _) = vpcd.close(&outcome);
    assert!(
        matches!(
            result,
            Err(NfcError::Frame(FrameError::Truncated {
                expected: 2,
                received: 1
            }))
        ),
        "{result:?}"
    );
}

#[test]
fn bridge_ends_the_session_on_a_truncated_apdu() {
    let (mut vpcd, outcome, _stop) = FakeVpcd::start(EchoSlot::default());
    vpcd.write(&[0x00, 0x14, 0x00, 0xA4, 0x04, 0x00, 0x0E]);
    let (result, events) = vpcd.close(&outcome);
    assert!(
        matches!(
            result,
            Err(NfcError::Frame(FrameError::Truncated {
                expected: 22,
                received: 7
            }))
        ),
        "{result:?}"
    );
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn bridge_ends_the_session_on_an_unknown_control_code() {
    let (mut vpcd, outcome, _stop) = FakeVpcd::start(EchoSlot::default());
    vpcd.send(&[0x03]);
    let (result, _) = outcome.recv_timeout(HANG).unwrap();
    let error = result.unwrap_err();
    assert!(
        matches!(
            error,
            NfcError::Frame(FrameError::UnknownControl { code: 0x03 })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("unknown control code 03"));
}

#[test]
fn bridge_stops_when_the_flag_is_set_while_idle() {
    let (mut vpcd, outcome, stop) = FakeVpcd::start(EchoSlot::default());
    vpcd.send(&[0x01]);
    assert_eq!(vpcd.atr(), CONTACTLESS_ATR);
    drop(stop);
    let (result, events) = outcome.recv_timeout(HANG).unwrap();
    assert_eq!(result.unwrap(), ServeEnd::Stopped);
    assert_eq!(events, ["power on", "atr"]);
}

#[test]
fn bridge_stops_when_the_flag_is_set_inside_a_frame() {
    let (mut vpcd, outcome, stop) = FakeVpcd::start(EchoSlot::default());
    vpcd.write(&[0x00, 0x05, 0x00]);
    drop(stop);
    let (result, _) = outcome.recv_timeout(HANG).unwrap();
    assert_eq!(result.unwrap(), ServeEnd::Stopped);
}

#[test]
fn bridge_can_serve_again_after_a_stop() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut link = vpcd::connect(listener.local_addr().unwrap()).unwrap();
    let (mut vpcd, _) = listener.accept().unwrap();
    let mut slot = EchoSlot::default();
    // Half a frame, then a stop.
    vpcd.write_all(&[0x00, 0x01]).unwrap();
    let stop = AtomicBool::new(true);
    let end = link.serve(&mut slot, &stop, &mut |_| {}).unwrap();
    assert_eq!(end, ServeEnd::Stopped);
    // The rest of the frame; the next session completes it.
    vpcd.write_all(&[0x01]).unwrap();
    drop(vpcd);
    stop.store(false, Ordering::Relaxed);
    let mut events = Vec::new();
    let end = link
        .serve(&mut slot, &stop, &mut |e| events.push(describe(e)))
        .unwrap();
    assert_eq!(end, ServeEnd::PeerClosed);
    assert_eq!(events, ["power on"]);
    assert!(slot.powered);
}

/// A slot with a broken ATR and broken responses: bugs in a card application, not in vpcd.
struct BrokenSlot {
    atr: Vec<u8>,
    response: Vec<u8>,
}

impl Slot for BrokenSlot {
    fn atr(&self) -> Vec<u8> {
        self.atr.clone()
    }
    fn power_on(&mut self) {}
    fn power_off(&mut self) {}
    fn reset(&mut self) {}
    fn transmit(&mut self, _: &[u8]) -> Vec<u8> {
        self.response.clone()
    }
}

#[test]
fn bridge_answers_6f00_for_responses_it_cannot_frame() {
    for response in [vec![], vec![0x90], vec![0x00; 0x1_0000]] {
        let len = response.len();
        let slot = BrokenSlot {
            atr: CONTACTLESS_ATR.to_vec(),
            response,
        };
        let (mut vpcd, outcome, _stop) = FakeVpcd::start(slot);
        assert_eq!(
            vpcd.transmit(&[0x00, 0xA4, 0x04, 0x00, 0x00]),
            [0x6F, 0x00],
            "slot response of {len} bytes"
        );
        let (result, _) = vpcd.close(&outcome);
        assert_eq!(result.unwrap(), ServeEnd::PeerClosed);
    }
}

#[test]
fn bridge_refuses_to_send_an_atr_of_no_bytes_or_over_33() {
    for atr in [vec![], vec![0x3B; 34]] {
        let len = atr.len();
        let slot = BrokenSlot {
            atr,
            response: vec![0x90, 0x00],
        };
        let (mut vpcd, outcome, _stop) = FakeVpcd::start(slot);
        vpcd.send(&[0x04]);
        let (result, _) = outcome.recv_timeout(HANG).unwrap();
        assert!(
            matches!(result, Err(NfcError::InvalidAtr { len: l }) if l == len),
            "{result:?}"
        );
    }
}

#[test]
fn connect_reports_a_closed_port() {
    let addr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let error = vpcd::connect(addr).unwrap_err();
    assert!(
        matches!(error, NfcError::Connect { addr: a, .. } if a == addr),
        "{error:?}"
    );
    assert!(error.to_string().contains("is pcscd running"), "{error}");
}

#[test]
fn connect_refuses_non_loopback_addresses() {
    let addr: SocketAddr = "198.51.100.7:35963".parse().unwrap();
    let error = vpcd::connect(addr).unwrap_err();
    assert!(matches!(error, NfcError::NotLoopback { .. }), "{error:?}");
    // IPv6 loopback and IPv4-mapped loopback are loopback.
    for addr in ["[::1]:1", "[::ffff:127.0.0.1]:1"] {
        let addr: SocketAddr = addr.parse().unwrap();
        assert!(
            !matches!(vpcd::connect(addr), Err(NfcError::NotLoopback { .. })),
            "{addr}"
        );
    }
}

#[test]
fn contactless_atr_has_a_valid_tck() {
    // ISO/IEC 7816-3: TCK makes the XOR of T0 to TCK zero.
    assert_eq!(CONTACTLESS_ATR[1..].iter().fold(0, |acc, b| acc ^ b), 0);
    // T0 = 8n: TD1 present, n historical bytes; TD1 = 80: TD2 present, T=0; TD2 = 01: T=1.
    let [ts, t0, td1, td2, tck] = CONTACTLESS_ATR;
    assert_eq!(ts, 0x3B);
    assert_eq!(t0 & 0xF0, 0x80);
    assert_eq!(usize::from(t0 & 0x0F), 0);
    assert_eq!(td1, 0x80);
    assert_eq!(td2, 0x01);
    assert_eq!(tck, t0 ^ td1 ^ td2);
}

/// bridge → vpcd → pcscd → our PC/SC client, through "Virtual PCD 00 00".
#[test]
fn pcsc_exchanges_apdus_with_a_slot_behind_vpcd() {
    if std::env::var_os("TAPWALLET_TEST_PCSC").is_none() {
        eprintln!(
            "skipped: set TAPWALLET_TEST_PCSC=1 with pcscd and vsmartcard-vpcd running to test \
             the bridge through pcscd"
        );
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_guard = StopOnDrop(Arc::clone(&stop));
    let bridge = spawn_bridge(vpcd::READER_0, EchoSlot::default(), Arc::clone(&stop));
    // Connect only once the reader has read *this* card's ATR: pcscd notices a card's removal
    // at its next poll, so right after an earlier bridge left, the reader still shows that
    // card as present and a transmit to it fails (SCARD_E_NOT_TRANSACTED).
    bridge.card_seen.recv_timeout(HANG).unwrap();

    let context = nfc::pcsc::Context::establish().unwrap();
    let readers = context.readers().unwrap();
    assert!(
        readers.iter().any(|r| r == "Virtual PCD 00 00"),
        "{readers:?}"
    );
    let mut card = context.connect(Some("Virtual PCD 00 00"), HANG).unwrap();
    assert_eq!(card.reader(), "Virtual PCD 00 00");
    assert_eq!(card.atr(), CONTACTLESS_ATR);
    // The ATR offers T=0 (TD1) and T=1 (TD2); pcscd prefers T=1.
    assert_eq!(card.protocol(), nfc::pcsc::Protocol::T1);

    assert_eq!(card.transmit(SELECT_PPSE).unwrap(), [0x90, 0x00]);
    let data: Vec<u8> = (0..=0xFE).collect();
    let mut echo = vec![0x80, 0x01, 0x00, 0x00, 0xFF];
    echo.extend_from_slice(&data);
    echo.push(0x00);
    let response = card.transmit(&echo).unwrap();
    assert_eq!(response[..response.len() - 2], data[..]);
    assert_eq!(response[response.len() - 2..], [0x90, 0x00]);
    assert_eq!(card.transmit(&[0x00, 0xB2, 0x01]).unwrap(), [0x67, 0x00]);
    drop(card);
    drop(context);

    stop.store(true, Ordering::Relaxed);
    let (result, events) = bridge.outcome.recv_timeout(HANG).unwrap();
    assert_eq!(result.unwrap(), ServeEnd::Stopped);
    assert!(events.iter().any(|e| e == "power on"), "{events:?}");
    let apdus: Vec<&String> = events.iter().filter(|e| e.starts_with("apdu")).collect();
    assert_eq!(apdus.len(), 3, "{events:?}");
    assert_eq!(
        apdus[0],
        "apdu 00A404000E325041592E5359532E444446303100 -> 9000"
    );
}
