use apdu::StatusWord;
use cards::{Amount, Currency, Date};
use proptest::prelude::*;
use tlv::{Builder, Tag};

use crate::*;

fn h(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

struct Fixed([u8; 4]);

impl crate::Rng for Fixed {
    fn fill(&mut self, dest: &mut [u8]) {
        dest.copy_from_slice(&self.0[..dest.len()]);
    }
}

fn kernel(amount: &str) -> Kernel {
    let eur = Currency::lookup("EUR").unwrap();
    let txn = Transaction {
        amount: Amount::parse(amount, eur).unwrap(),
        amount_other_minor: 0,
        date: Date::new(2026, 11, 23).unwrap(),
        kind: TransactionType::PURCHASE,
    };
    Kernel::new(
        TerminalConfig::default(),
        txn,
        &mut Fixed([0x1A, 0x2B, 0x3C, 0x4D]),
    )
}

fn ok(data: Vec<u8>) -> Vec<u8> {
    let mut v = data;
    v.extend_from_slice(&[0x90, 0x00]);
    v
}

fn sw(sw: u16) -> Vec<u8> {
    sw.to_be_bytes().to_vec()
}

fn ppse(apps: &[(&str, u8)]) -> Vec<u8> {
    let mut b = Builder::new();
    b.template(Tag(0x6F), |b| {
        b.put(Tag(0x84), b"2PAY.SYS.DDF01");
        b.template(Tag(0xA5), |b| {
            b.template(Tag(0xBF0C), |b| {
                for (aid, prio) in apps {
                    b.template(Tag(0x61), |b| {
                        b.put(Tag(0x4F), &h(aid));
                        b.put(Tag(0x87), &[*prio]);
                    });
                }
            });
        });
    });
    ok(b.finish())
}

fn adf(aid: &str, pdol: &str) -> Vec<u8> {
    let mut b = Builder::new();
    b.template(Tag(0x6F), |b| {
        b.put(Tag(0x84), &h(aid));
        b.template(Tag(0xA5), |b| {
            b.put(Tag(0x50), b"TEST");
            if !pdol.is_empty() {
                b.put(Tag(0x9F38), &h(pdol));
            }
        });
    });
    ok(b.finish())
}

fn send_name(step: &Step) -> &'static str {
    match step {
        Step::Send(c) => c.name,
        Step::Done(o) => o.name(),
    }
}

fn apdu_of(step: &Step) -> Vec<u8> {
    match step {
        Step::Send(c) => c.apdu.clone(),
        Step::Done(o) => panic!("expected a command, got {o:?}"),
    }
}

const VISA: &str = "A0000000031010";
const MC: &str = "A0000000041010";
const VISA_PDOL: &str = "9F66049F02069F03069F1A0295055F2A029A039C019F3704";

#[test]
fn no_ppse_means_try_another_interface() {
    let mut k = kernel("1.00");
    assert_eq!(send_name(&k.start()), "SELECT PPSE");
    assert_eq!(
        k.handle(&sw(0x6A82)),
        Step::Done(Outcome::TryAnotherInterface(
            TryAnotherInterfaceReason::CardRequested
        ))
    );
}

#[test]
fn unsupported_applications_end_the_transaction() {
    let mut k = kernel("1.00");
    k.start();
    assert_eq!(
        k.handle(&ppse(&[("A0000000651010", 1)])),
        Step::Done(Outcome::EndApplication(EndReason::NoSupportedApplication))
    );
}

#[test]
fn candidates_are_tried_by_priority_then_next_on_failure() {
    let mut k = kernel("1.00");
    k.start();
    let step = k.handle(&ppse(&[(VISA, 2), (MC, 1)]));
    assert_eq!(apdu_of(&step), h(&format!("00A4040007{MC}00")));
    // The Mastercard application is blocked: the kernel moves to Visa.
    let step = k.handle(&sw(0x6A81));
    assert_eq!(apdu_of(&step), h(&format!("00A4040007{VISA}00")));
    // GPO carries the PDOL data: TTQ, amount 1.00, other, country 0250, TVR, EUR, date, type, UN.
    let step = k.handle(&adf(VISA, VISA_PDOL));
    assert_eq!(
        apdu_of(&step),
        h(concat!(
            "80A80000238321",
            "36804000",     // TTQ: online cryptogram required
            "000000000100", // amount 1.00
            "000000000000", // amount other
            "0250",         // country
            "0000008000",   // TVR: floor limit exceeded
            "0978",         // EUR
            "261123",       // date
            "00",           // purchase
            "1A2B3C4D",     // unpredictable number
            "00",           // Le
        ))
    );
}

#[test]
fn ttq_asks_for_cvm_above_the_cvm_limit() {
    let mut k = kernel("60.00");
    k.start();
    k.handle(&ppse(&[(VISA, 1)]));
    let gpo = apdu_of(&k.handle(&adf(VISA, VISA_PDOL)));
    // TTQ byte 2: online cryptogram required (b8) and CVM required (b7).
    assert_eq!(&gpo[7..11], &h("36C04000")[..]);
}

#[test]
fn gpo_6986_means_see_phone() {
    let mut k = kernel("60.00");
    k.start();
    k.handle(&ppse(&[(VISA, 1)]));
    k.handle(&adf(VISA, VISA_PDOL));
    assert_eq!(k.handle(&sw(0x6986)), Step::Done(Outcome::SeePhone));
}

#[test]
fn amounts_over_the_contactless_limit_use_another_interface() {
    let mut k = kernel("20000.00");
    assert_eq!(
        k.start(),
        Step::Done(Outcome::TryAnotherInterface(
            TryAnotherInterfaceReason::ContactlessLimitExceeded
        ))
    );
    // Visa: above the 1 000.00 contactless limit.
    let mut k = kernel("1500.00");
    k.start();
    k.handle(&ppse(&[(VISA, 1)]));
    assert_eq!(
        k.handle(&adf(VISA, VISA_PDOL)),
        Step::Done(Outcome::TryAnotherInterface(
            TryAnotherInterfaceReason::ContactlessLimitExceeded
        ))
    );
}

fn gpo_response(fields: &[(u32, &str)]) -> Vec<u8> {
    let mut b = Builder::new();
    b.template(Tag(0x77), |b| {
        for (t, v) in fields {
            b.put(Tag(*t), &h(v));
        }
    });
    ok(b.finish())
}

#[test]
fn qvsdc_without_cryptogram_is_missing_data() {
    let mut k = kernel("1.00");
    k.start();
    k.handle(&ppse(&[(VISA, 1)]));
    k.handle(&adf(VISA, VISA_PDOL));
    let step = k.handle(&gpo_response(&[
        (0x82, "2400"),
        (0x57, "4761739001010010D30122010000000000000F"),
    ]));
    assert_eq!(
        step,
        Step::Done(Outcome::EndApplication(EndReason::MissingData(Tag(0x9F26))))
    );
}

#[test]
fn qvsdc_arqc_becomes_an_online_request_with_de55() {
    let mut k = kernel("1.00");
    k.start();
    k.handle(&ppse(&[(VISA, 1)]));
    k.handle(&adf(VISA, VISA_PDOL));
    let step = k.handle(&gpo_response(&[
        (0x82, "2400"),
        (0x57, "4761739001010010D30122010000000000000F"),
        (0x5F34, "01"),
        (0x9F36, "0001"),
        (0x9F10, "06011203A00000"),
        (0x9F26, "1122334455667788"),
        (0x9F27, "80"),
        (0x9F6C, "0080"),
    ]));
    let Step::Done(Outcome::OnlineRequest(r)) = step else {
        panic!("{step:?}")
    };
    assert_eq!(r.kernel, KernelId::K3);
    assert_eq!(r.cvm, Cvm::ConsumerDevice);
    assert_eq!(r.card.pan.last4(), "0010");
    assert_eq!(r.card.psn, Some(1));
    assert_eq!(r.data.get(Tag(0x9F26)), Some(&h("1122334455667788")[..]));
    assert_eq!(r.data.get(Tag(0x9F37)), Some(&h("1A2B3C4D")[..]));
    assert_eq!(r.data.get(Tag(0x5A)), None, "the PAN never goes in DE 55");
    assert_eq!(r.data.get(Tag(0x57)), None, "nor does Track 2");
    // Completion without ARPC.
    let done = k.complete(IssuerResponse {
        approved: true,
        arc: *b"00",
        issuer_authentication_data: None,
    });
    assert_eq!(
        done,
        Step::Done(Outcome::Completed(Completion {
            approved: true,
            arc: *b"00",
            arpc: ArpcCheck::NotSent
        }))
    );
}

#[test]
fn completion_sends_the_arpc_and_reports_the_card_verdict() {
    let mut k = kernel("1.00");
    k.start();
    k.handle(&ppse(&[(VISA, 1)]));
    k.handle(&adf(VISA, VISA_PDOL));
    k.handle(&gpo_response(&[
        (0x82, "2400"),
        (0x57, "4761739001010010D30122010000000000000F"),
        (0x9F36, "0001"),
        (0x9F10, "06011203A00000"),
        (0x9F26, "1122334455667788"),
    ]));
    let step = k.complete(IssuerResponse {
        approved: true,
        arc: *b"00",
        issuer_authentication_data: Some(h("AABBCCDD00800000")),
    });
    assert_eq!(apdu_of(&step), h("0082000008AABBCCDD00800000"));
    let done = k.handle(&sw(0x6300));
    assert_eq!(
        done,
        Step::Done(Outcome::Completed(Completion {
            approved: true,
            arc: *b"00",
            arpc: ArpcCheck::Rejected(StatusWord(0x6300)),
        }))
    );
    // Nothing is outstanding any more.
    assert!(matches!(
        k.handle(&sw(0x9000)),
        Step::Done(Outcome::EndApplication(_))
    ));
    assert!(matches!(
        k.complete(IssuerResponse {
            approved: true,
            arc: *b"00",
            issuer_authentication_data: None
        }),
        Step::Done(Outcome::EndApplication(_))
    ));
}

#[test]
fn duplicate_card_data_is_refused() {
    let mut k = kernel("1.00");
    k.start();
    k.handle(&ppse(&[(MC, 1)]));
    k.handle(&adf(MC, ""));
    let step = k.handle(&gpo_response(&[(0x82, "2680"), (0x94, "08010100")]));
    assert_eq!(apdu_of(&step), h("00B2010C00"));
    let mut b = Builder::new();
    b.template(Tag(0x70), |b| {
        b.put(Tag(0x82), &h("2680"));
    });
    assert!(matches!(
        k.handle(&ok(b.finish())),
        Step::Done(Outcome::EndApplication(EndReason::MalformedResponse { .. }))
    ));
}

#[test]
fn kernel2_asks_for_odcvm_above_the_cvm_limit_and_honours_see_phone() {
    let mut k = kernel("60.00");
    k.start();
    k.handle(&ppse(&[(MC, 1)]));
    k.handle(&adf(MC, ""));
    k.handle(&gpo_response(&[(0x82, "2680"), (0x94, "08010100")]));
    let mut b = Builder::new();
    b.template(Tag(0x70), |b| {
        b.put(Tag(0x5A), &h("5413330089010012"));
        b.put(Tag(0x5F24), &h("301231"));
        b.put(
            Tag(0x8C),
            &h("9F02069F03069F1A0295055F2A029A039C019F37049F35019F3403"),
        );
    });
    let gac = apdu_of(&k.handle(&ok(b.finish())));
    assert_eq!(&gac[..5], &h("80AE800021")[..]);
    // CVM Results "confirmation code verified" at the end of the CDOL1 data.
    assert_eq!(&gac[gac.len() - 4..gac.len() - 1], &h("010002")[..]);
    // TVR: offline data authentication not performed, floor limit exceeded.
    assert_eq!(&gac[5 + 14..5 + 19], &h("8000008000")[..]);
    let see_phone = gpo_response(&[
        (0x9F27, "00"),
        (0x9F36, "0001"),
        (0x9F26, "0000000000000000"),
        (0xDF4B, "000100"),
    ]);
    assert_eq!(k.handle(&see_phone), Step::Done(Outcome::SeePhone));
}

#[test]
fn malformed_responses_end_cleanly() {
    for bad in [
        vec![],
        vec![0x90],
        h("6F"),
        h("6F059000"),
        h("6F02A5009000"),
    ] {
        let mut k = kernel("1.00");
        k.start();
        assert!(
            matches!(k.handle(&bad), Step::Done(Outcome::EndApplication(_))),
            "{bad:02X?}"
        );
    }
}

proptest! {
    #[test]
    fn random_card_responses_never_panic(
        responses in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8),
        use_visa in any::<bool>(),
    ) {
        let mut k = kernel("12.34");
        k.start();
        let aid = if use_visa { VISA } else { MC };
        let mut step = k.handle(&ppse(&[(aid, 1)]));
        if matches!(step, Step::Send(_)) {
            step = k.handle(&adf(aid, if use_visa { VISA_PDOL } else { "" }));
        }
        for r in responses {
            if let Step::Done(_) = step {
                break;
            }
            let mut r = r;
            r.extend_from_slice(&[0x90, 0x00]);
            step = k.handle(&r);
        }
    }
}
