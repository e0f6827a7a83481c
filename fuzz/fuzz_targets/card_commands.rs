//! The card application never panics on any sequence of commands; every response carries a
//! valid status word, successful responses are BER-TLV, and the ATC never decreases.
//!
//! Input layout:
//! * byte 0, flags: b1 scheme (0 Visa, 1 Mastercard); b2 start with a valid SELECT PPSE and
//!   SELECT AID; b3 (with b2) then a valid GET PROCESSING OPTIONS; b4 the holder has verified on
//!   the device (CDCVM); b5-b7 the cryptogram version; b8 AES-128 instead of 3DES keys.
//! * byte 1: the starting ATC is `byte1 byte1` (so `FF` starts at the ATC limit).
//! * then commands, each as one length byte and that many bytes; length `FF` is a field reset.
#![no_main]

use apdu::ResponseApdu;
use cards::{Expiry, Pan};
use emv_card::{Card, CardProfile, Counters};
use emv_crypto::{Cvn, KeyAlgorithm, MasterKey};
use libfuzzer_sys::fuzz_target;

/// Commands per run, so that one input stays fast.
const MAX_COMMANDS: usize = 64;

const CVNS: [Cvn; 7] = [
    Cvn::Visa10,
    Cvn::Visa18,
    Cvn::Visa22,
    Cvn::Mastercard16,
    Cvn::Mastercard17,
    Cvn::Mastercard20,
    Cvn::Mastercard21,
];

/// `00 A4 04 00 0E "2PAY.SYS.DDF01" 00`.
const SELECT_PPSE: &[u8] = &[
    0x00, 0xA4, 0x04, 0x00, 0x0E, 0x32, 0x50, 0x41, 0x59, 0x2E, 0x53, 0x59, 0x53, 0x2E, 0x44, 0x44,
    0x46, 0x30, 0x31, 0x00,
];
const SELECT_VISA: &[u8] = &[
    0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10, 0x00,
];
const SELECT_MASTERCARD: &[u8] = &[
    0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10, 0x00,
];
/// GPO with the Visa PDOL data: TTQ 36004000, amount 10.00, other 0, country 0250, TVR 0,
/// currency 0978, date 26-11-23, type 00, UN 12345678.
const GPO_VISA: &[u8] = &[
    0x80, 0xA8, 0x00, 0x00, 0x23, 0x83, 0x21, 0x36, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x78,
    0x26, 0x11, 0x23, 0x00, 0x12, 0x34, 0x56, 0x78, 0x00,
];
/// GPO with an empty PDOL data template.
const GPO_MASTERCARD: &[u8] = &[0x80, 0xA8, 0x00, 0x00, 0x02, 0x83, 0x00, 0x00];

const ICC_MASTER_KEY: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];

fn card(flags: u8, atc: u16) -> Card {
    let mastercard = flags & 0x01 != 0;
    let cvn = CVNS[usize::from((flags >> 4) & 0x07) % CVNS.len()];
    let algorithm = if flags & 0x80 != 0 {
        KeyAlgorithm::Aes128
    } else {
        KeyAlgorithm::Tdes2
    };
    let key = MasterKey::new(algorithm, &ICC_MASTER_KEY).expect("a 16-byte key is valid");
    let pan = Pan::parse(if mastercard {
        "5413330089010434"
    } else {
        "4761739001010010"
    })
    .expect("test PAN passes Luhn");
    let expiry = Expiry::new(2030, 12).expect("valid expiry");
    let profile = if mastercard {
        CardProfile::mastercard(pan, 1, expiry, cvn, key)
    } else {
        CardProfile::visa(pan, 1, expiry, cvn, key)
    };
    let mut card = Card::new(
        profile,
        Counters {
            atc,
            ..Counters::default()
        },
    );
    card.set_cdcvm_verified(flags & 0x08 != 0);
    card
}

/// Sends one command and checks the properties that hold for every response.
fn send(card: &mut Card, command: &[u8]) {
    let before = card.counters();
    let out = card.process(command);
    let after = card.counters();

    let sw1 = out.response.sw.sw1();
    assert!(
        matches!(sw1, 0x61..=0x6F | 0x90..=0x9F),
        "status word {} is not an ISO 7816-4 status word",
        out.response.sw
    );
    let encoded = out.response.encode();
    assert_eq!(ResponseApdu::decode(&encoded).as_ref(), Ok(&out.response));
    if out.response.sw.is_success() && !out.response.data.is_empty() {
        assert!(
            tlv::decode_tree(&out.response.data).is_ok(),
            "a successful response is not BER-TLV"
        );
    }

    assert!(
        after.atc >= before.atc,
        "ATC went down: {} -> {}",
        before.atc,
        after.atc
    );
    assert!(
        after.atc - before.atc <= 1,
        "ATC moved by more than one in one command"
    );
    match out.persist {
        Some(persist) => {
            assert_eq!(persist, after, "persisted counters differ from the card's");
            assert_ne!(
                persist, before,
                "nothing changed but counters were to be persisted"
            );
        }
        None => assert_eq!(
            before, after,
            "counters changed without asking to persist them"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, atc, commands @ ..] = data else {
        return;
    };
    let (flags, mut rest) = (*flags, commands);
    let mut card = card(flags, u16::from_be_bytes([*atc, *atc]));
    if flags & 0x02 != 0 {
        let mastercard = flags & 0x01 != 0;
        send(&mut card, SELECT_PPSE);
        send(
            &mut card,
            if mastercard {
                SELECT_MASTERCARD
            } else {
                SELECT_VISA
            },
        );
        if flags & 0x04 != 0 {
            send(
                &mut card,
                if mastercard { GPO_MASTERCARD } else { GPO_VISA },
            );
        }
    }
    for _ in 0..MAX_COMMANDS {
        let [len, tail @ ..] = rest else {
            break;
        };
        if *len == 0xFF {
            card.reset();
            rest = tail;
            continue;
        }
        let n = usize::from(*len).min(tail.len());
        let (command, next) = tail.split_at(n);
        send(&mut card, command);
        rest = next;
    }
});
