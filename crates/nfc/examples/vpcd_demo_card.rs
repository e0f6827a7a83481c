//! Serves a demo contactless card to "Virtual PCD 00 00" through vpcd, printing each
//! exchange, until pcscd closes the connection or the process is interrupted.
//!
//! ```text
//! pcscd    # once, with vsmartcard-vpcd installed
//! cargo run -p nfc --example vpcd_demo_card [-- 127.0.0.1:35964]
//! python3 scripts/interop/pcsc_check.py      # in another terminal, or pcsc_scan
//! ```
//!
//! The card answers SELECT of the PPSE (`2PAY.SYS.DDF01`) with a canned FCI listing one
//! application, SELECT of that application with 90 00, and anything else with 6D 00.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use nfc::vpcd::{self, Event};
use nfc::{CONTACTLESS_ATR, Slot};

const PPSE: &[u8] = b"2PAY.SYS.DDF01";
/// The demo application's AID (a Mastercard-style RID and PIX).
const AID: &[u8] = &[0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];

/// A BER-TLV with a one-byte length (values under 128 bytes, which is all this card needs).
fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let len = u8::try_from(value.len())
        .ok()
        .filter(|&l| l < 0x80)
        .unwrap_or(0);
    [tag, &[len], value].concat()
}

/// The PPSE's FCI: 6F { 84 name, A5 { BF0C { 61 { 4F AID, 87 priority } } } }.
fn ppse_fci() -> Vec<u8> {
    let entry = tlv(
        &[0x61],
        &[tlv(&[0x4F], AID), tlv(&[0x87], &[0x01])].concat(),
    );
    let proprietary = tlv(&[0xA5], &tlv(&[0xBF, 0x0C], &entry));
    tlv(&[0x6F], &[tlv(&[0x84], PPSE), proprietary].concat())
}

struct DemoCard;

impl Slot for DemoCard {
    fn atr(&self) -> Vec<u8> {
        CONTACTLESS_ATR.to_vec()
    }
    fn power_on(&mut self) {}
    fn power_off(&mut self) {}
    fn reset(&mut self) {}
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        let name = match command {
            [0x00, 0xA4, 0x04, 0x00, lc, rest @ ..] if usize::from(*lc) <= rest.len() => {
                &rest[..usize::from(*lc)]
            }
            _ => return vec![0x6D, 0x00],
        };
        let mut response = if name == PPSE {
            ppse_fci()
        } else if name == AID {
            Vec::new()
        } else {
            return vec![0x6A, 0x82];
        };
        response.extend_from_slice(&[0x90, 0x00]);
        response
    }
}

fn main() -> ExitCode {
    let addr = match std::env::args().nth(1).map(|a| a.parse::<SocketAddr>()) {
        None => vpcd::READER_0,
        Some(Ok(addr)) => addr,
        Some(Err(e)) => {
            eprintln!("vpcd_demo_card: bad address: {e}");
            return ExitCode::FAILURE;
        }
    };
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02X}")).collect::<String>();
    let mut atr_seen = false;
    let result = vpcd::connect(addr).and_then(|mut link| {
        println!("connected to vpcd at {addr}; waiting for the reader");
        link.serve(
            &mut DemoCard,
            &AtomicBool::new(false),
            &mut |event| match event {
                Event::Apdu {
                    command,
                    response,
                    elapsed,
                } => println!("{} -> {} ({elapsed:?})", hex(command), hex(response)),
                Event::AtrSent if !atr_seen => {
                    atr_seen = true;
                    println!("the reader sees the card");
                }
                Event::AtrSent => {}
                other => println!("{other:?}"),
            },
        )
    });
    match result {
        Ok(end) => {
            println!("session over: {end:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vpcd_demo_card: {e}");
            ExitCode::FAILURE
        }
    }
}
