use apdu::StatusWord;
use cards::{Expiry, Pan};
use emv_crypto::{
    ArpcResponse, Cvn, KeyAlgorithm, MasterKey, derive_icc_master_key, issuer_authentication_data,
    verify_ac,
};
use proptest::prelude::*;
use tlv::Tag;

use crate::*;

const IMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];
const VISA_PAN: &str = "4761739001010010";
const MC_PAN: &str = "5413330089010012";

fn h(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn icc_key(pan: &str, psn: u8) -> MasterKey {
    icc_key_for(Cvn::Visa18, pan, psn)
}

fn icc_key_for(cvn: Cvn, pan: &str, psn: u8) -> MasterKey {
    let imk = MasterKey::new(KeyAlgorithm::Tdes2, &IMK).unwrap();
    derive_icc_master_key(cvn, &imk, pan, psn).unwrap()
}

fn visa(cvn: Cvn) -> Card {
    let profile = CardProfile::visa(
        Pan::parse(VISA_PAN).unwrap(),
        1,
        Expiry::new(2030, 12).unwrap(),
        cvn,
        icc_key(VISA_PAN, 1),
    );
    Card::new(profile, Counters::default())
}

fn mastercard(cvn: Cvn) -> Card {
    let profile = CardProfile::mastercard(
        Pan::parse(MC_PAN).unwrap(),
        0,
        Expiry::new(2030, 12).unwrap(),
        cvn,
        icc_key(MC_PAN, 0),
    );
    Card::new(profile, Counters::default())
}

fn send(card: &mut Card, hex: &str) -> (Vec<u8>, StatusWord) {
    let out = card.process(&h(hex));
    (out.response.data, out.response.sw)
}

fn select_ppse(card: &mut Card) -> Vec<u8> {
    let (data, sw) = send(card, "00A404000E325041592E5359532E444446303100");
    assert_eq!(sw, StatusWord::SUCCESS);
    data
}

/// PDOL data: TTQ, amount 12.34, other 0, country 0250, TVR 0, EUR, 2026-11-23, purchase, UN.
fn visa_gpo(ttq: &str) -> String {
    let data = format!("{ttq}000000001234000000000000025000000000000978261123001A2B3C4D");
    format!("80A8000023{}{}00", "8321", data)
}

fn lookup<'a>(values: &'a [(Tag, Vec<u8>)]) -> impl Fn(Tag) -> Option<&'a [u8]> {
    move |t| {
        values
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    }
}

fn primitives(bytes: &[u8]) -> Vec<(Tag, Vec<u8>)> {
    let mut out = Vec::new();
    tlv::for_each_primitive(bytes, &mut |t| out.push((t.tag, t.value.to_vec()))).unwrap();
    out
}

#[test]
fn ppse_lists_the_application() {
    let mut card = visa(Cvn::Visa18);
    let fci = select_ppse(&mut card);
    let tree = tlv::decode_tree(&fci).unwrap();
    assert_eq!(
        tree[0].find(tags::AID).unwrap().value,
        &h("A0000000031010")[..]
    );
    assert_eq!(
        tree[0]
            .find(tags::APPLICATION_PRIORITY_INDICATOR)
            .unwrap()
            .value,
        &[1][..]
    );
    assert_eq!(
        tree[0].find(tags::APPLICATION_LABEL).unwrap().value,
        b"VISA CREDIT"
    );
}

#[test]
fn visa_qvsdc_arqc_verifies_and_atc_increments() {
    for cvn in [Cvn::Visa10, Cvn::Visa18, Cvn::Visa22] {
        let mut card = visa(cvn);
        card.set_cdcvm_verified(true);
        select_ppse(&mut card);
        let (fci, sw) = send(&mut card, "00A4040007A000000003101000");
        assert_eq!(sw, StatusWord::SUCCESS);
        assert_eq!(
            tlv::find(&fci, tags::PDOL).unwrap().unwrap(),
            &visa_pdol().encode()[..]
        );
        let out = card.process(&h(&visa_gpo("36004040")));
        assert_eq!(out.response.sw, StatusWord::SUCCESS, "{cvn:?}");
        // The ATC is persisted before the response is released.
        assert_eq!(out.persist.map(|c| c.atc), Some(1));
        let mut values = primitives(&out.response.data);
        assert_eq!(lookup(&values)(tags::CID), Some(&[0x80][..]));
        assert_eq!(
            lookup(&values)(tags::CTQ),
            Some(&[0x00, 0x80][..]),
            "CDCVM performed"
        );
        let iad = lookup(&values)(tags::IAD).unwrap().to_vec();
        match cvn {
            // 06 DKI CVN 03 A4 ..: second GENERATE AC not requested, first returned an ARQC,
            // consumer-device CVM performed.
            Cvn::Visa10 | Cvn::Visa18 => {
                assert_eq!(&iad[..5], &[0x06, 0x01, cvn.iad_value(), 0x03, 0xA4])
            }
            _ => assert_eq!(&iad[..4], &[0x1F, 0x22, 0x01, 0xA4]),
        }
        assert_eq!(lookup(&values)(tags::AIP), Some(&[0x14, 0x00][..]));
        let ac = lookup(&values)(tags::APPLICATION_CRYPTOGRAM)
            .unwrap()
            .to_vec();
        // Issuer side: the data the terminal sent plus what the card returned.
        let terminal = h("000000001234000000000000025000000000000978261123001A2B3C4D");
        for (tag, v) in visa_pdol()
            .split(&h(&format!("36004040{}", hex(&terminal))))
            .unwrap()
        {
            values.push((tag, v.to_vec()));
        }
        verify_ac(cvn, &icc_key(VISA_PAN, 1), &lookup(&values), &ac).unwrap();
        // Changing the amount breaks it.
        let i = values
            .iter()
            .position(|(t, _)| *t == tags::AMOUNT_AUTHORISED)
            .unwrap();
        values[i].1 = h("000000001235");
        assert!(verify_ac(cvn, &icc_key(VISA_PAN, 1), &lookup(&values), &ac).is_err());
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

#[test]
fn visa_cvm_required_without_cdcvm_says_see_phone() {
    let mut card = visa(Cvn::Visa18);
    select_ppse(&mut card);
    send(&mut card, "00A4040007A000000003101000");
    // TTQ byte 2 b7: CVM required; byte 3 b7: reader supports CDCVM.
    let out = card.process(&h(&visa_gpo("36404000")));
    assert_eq!(out.response.sw, StatusWord::COMMAND_NOT_ALLOWED);
    assert_eq!(out.persist, None, "no ATC burnt");
    // Below the CVM limit the same card pays without CDCVM.
    let mut card = visa(Cvn::Visa18);
    select_ppse(&mut card);
    send(&mut card, "00A4040007A000000003101000");
    let out = card.process(&h(&visa_gpo("36004000")));
    assert_eq!(out.response.sw, StatusWord::SUCCESS);
    assert_eq!(
        tlv::find(&out.response.data, tags::CTQ).unwrap(),
        Some(&[0u8, 0][..])
    );
}

#[test]
fn visa_reader_without_cdcvm_gets_online_pin() {
    let mut card = visa(Cvn::Visa18);
    select_ppse(&mut card);
    send(&mut card, "00A4040007A000000003101000");
    let out = card.process(&h(&visa_gpo("36400000")));
    assert_eq!(out.response.sw, StatusWord::SUCCESS);
    assert_eq!(
        tlv::find(&out.response.data, tags::CTQ).unwrap(),
        Some(&[0x80u8, 0][..])
    );
}

fn mc_to_gac(card: &mut Card) {
    select_ppse(card);
    let (fci, sw) = send(card, "00A4040007A000000004101000");
    assert_eq!(sw, StatusWord::SUCCESS);
    assert_eq!(tlv::find(&fci, tags::PDOL).unwrap(), None);
    let (gpo, sw) = send(card, "80A80000028300");
    assert_eq!(sw, StatusWord::SUCCESS);
    let afl = tlv::find(&gpo, tags::AFL).unwrap().unwrap().to_vec();
    assert_eq!(afl, h("0801010010010100"));
    let (r1, sw) = send(card, "00B2010C00");
    assert_eq!(sw, StatusWord::SUCCESS);
    assert!(
        tlv::find(&r1, tags::TRACK2_EQUIVALENT_DATA)
            .unwrap()
            .is_some()
    );
    let (r2, sw) = send(card, "00B2011400");
    assert_eq!(sw, StatusWord::SUCCESS);
    assert_eq!(
        tlv::find(&r2, tags::CDOL1).unwrap().unwrap(),
        &mastercard_cdol1().encode()[..]
    );
    assert_eq!(send(card, "00B2021400").1, StatusWord::RECORD_NOT_FOUND);
}

/// CDOL1 data: amount 60.00, other 0, country, TVR, EUR, date, purchase, UN, terminal type, CVM.
fn mc_gac(p1: &str, cvm_results: &str) -> String {
    format!(
        "80AE{p1}0021000000006000000000000000025080000000000978261123001A2B3C4D22{cvm_results}00"
    )
}

#[test]
fn mastercard_generate_ac_arqc_verifies() {
    for cvn in [
        Cvn::Mastercard16,
        Cvn::Mastercard17,
        Cvn::Mastercard20,
        Cvn::Mastercard21,
    ] {
        let mut card = mastercard(cvn);
        card.set_cdcvm_verified(true);
        mc_to_gac(&mut card);
        let out = card.process(&h(&mc_gac("80", "010002")));
        assert_eq!(out.response.sw, StatusWord::SUCCESS, "{cvn:?}");
        assert_eq!(out.persist.map(|c| c.atc), Some(1));
        let mut values = primitives(&out.response.data);
        assert_eq!(lookup(&values)(tags::CID), Some(&[0x80][..]));
        assert_eq!(
            lookup(&values)(tags::POS_CARDHOLDER_INTERACTION_INFORMATION),
            Some(&[0, 0x10, 0][..])
        );
        let ac = lookup(&values)(tags::APPLICATION_CRYPTOGRAM)
            .unwrap()
            .to_vec();
        let cdol = h("000000006000000000000000025080000000000978261123001A2B3C4D22010002");
        for (tag, v) in mastercard_cdol1().split(&cdol).unwrap() {
            values.push((tag, v.to_vec()));
        }
        values.push((tags::AIP, card.profile().aip().to_vec()));
        verify_ac(cvn, &icc_key(MC_PAN, 0), &lookup(&values), &ac).unwrap();
    }
}

#[test]
fn mastercard_odcvm_requested_without_cdcvm_declines_with_see_phone() {
    let mut card = mastercard(Cvn::Mastercard16);
    mc_to_gac(&mut card);
    let (data, sw) = send(&mut card, &mc_gac("80", "010002"));
    assert_eq!(sw, StatusWord::SUCCESS);
    assert_eq!(tlv::find(&data, tags::CID).unwrap(), Some(&[0x00u8][..]));
    assert_eq!(
        tlv::find(&data, tags::POS_CARDHOLDER_INTERACTION_INFORMATION).unwrap(),
        Some(&[0u8, 1, 0][..])
    );
}

#[test]
fn online_only_card_never_returns_a_tc() {
    let mut card = mastercard(Cvn::Mastercard16);
    mc_to_gac(&mut card);
    let (data, _) = send(&mut card, &mc_gac("40", "3F0000"));
    assert_eq!(tlv::find(&data, tags::CID).unwrap(), Some(&[0x80u8][..]));
    let mut card = mastercard(Cvn::Mastercard16);
    mc_to_gac(&mut card);
    let (data, _) = send(&mut card, &mc_gac("00", "3F0000"));
    assert_eq!(tlv::find(&data, tags::CID).unwrap(), Some(&[0x00u8][..]));
}

#[test]
fn external_authenticate_checks_the_arpc_once() {
    for (cvn, response) in [
        (Cvn::Visa18, ArpcResponse::csu([0x00, 0x80, 0x00, 0x00])),
        (Cvn::Visa10, ArpcResponse::Arc(*b"00")),
    ] {
        let mut card = visa(cvn);
        card.set_cdcvm_verified(true);
        select_ppse(&mut card);
        send(&mut card, "00A4040007A000000003101000");
        let (gpo, _) = send(&mut card, &visa_gpo("36004040"));
        let values = primitives(&gpo);
        let arqc: [u8; 8] = lookup(&values)(tags::APPLICATION_CRYPTOGRAM)
            .unwrap()
            .try_into()
            .unwrap();
        let iad91 = issuer_authentication_data(
            cvn,
            &icc_key(VISA_PAN, 1),
            &lookup(&values),
            &arqc,
            response.clone(),
        )
        .unwrap();
        // A tampered ARPC is refused and remembered.
        let mut bad = iad91.clone();
        bad[0] ^= 1;
        let mut good_card = visa(cvn);
        good_card.set_cdcvm_verified(true);
        let out = card.process(&h(&format!("00820000{:02X}{}", bad.len(), hex(&bad))));
        assert_eq!(out.response.sw, StatusWord(0x6300), "{cvn:?}");
        assert!(out.persist.unwrap().issuer_auth_failed_last);
        // Only one EXTERNAL AUTHENTICATE per transaction.
        let out = card.process(&h(&format!("00820000{:02X}{}", iad91.len(), hex(&iad91))));
        assert_eq!(out.response.sw, StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED);
        // A fresh transaction with the genuine ARPC is accepted.
        select_ppse(&mut good_card);
        send(&mut good_card, "00A4040007A000000003101000");
        let (gpo, _) = send(&mut good_card, &visa_gpo("36004040"));
        let values = primitives(&gpo);
        let arqc: [u8; 8] = lookup(&values)(tags::APPLICATION_CRYPTOGRAM)
            .unwrap()
            .try_into()
            .unwrap();
        let iad91 = issuer_authentication_data(
            cvn,
            &icc_key(VISA_PAN, 1),
            &lookup(&values),
            &arqc,
            response,
        )
        .unwrap();
        let out = good_card.process(&h(&format!("00820000{:02X}{}", iad91.len(), hex(&iad91))));
        assert_eq!(out.response.sw, StatusWord::SUCCESS, "{cvn:?}");
        let c = out.persist.unwrap();
        assert_eq!(c.last_online_atc, 1);
        assert!(!c.online_pending);
    }
}

#[test]
fn atc_exhausted_card_refuses() {
    let mut card = visa(Cvn::Visa18);
    card.set_cdcvm_verified(true);
    let profile = CardProfile {
        atc_max: 2,
        ..CardProfile::visa(
            Pan::parse(VISA_PAN).unwrap(),
            1,
            Expiry::new(2030, 12).unwrap(),
            Cvn::Visa18,
            icc_key(VISA_PAN, 1),
        )
    };
    card = Card::new(
        profile,
        Counters {
            atc: 1,
            ..Counters::default()
        },
    );
    card.set_cdcvm_verified(true);
    for expected in [
        StatusWord::SUCCESS,
        StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED,
    ] {
        select_ppse(&mut card);
        send(&mut card, "00A4040007A000000003101000");
        assert_eq!(send(&mut card, &visa_gpo("36004040")).1, expected);
    }
    assert_eq!(card.counters().atc, 2);
}

#[test]
fn life_cycle_states_are_enforced() {
    let mut card = visa(Cvn::Visa18);
    card.set_app_state(AppState::Suspended);
    assert_eq!(
        send(&mut card, "00A4040007A000000003101000").1,
        StatusWord::FUNCTION_NOT_SUPPORTED
    );
    assert!(
        tlv::find(&select_ppse(&mut card), tags::AID)
            .unwrap()
            .is_none()
    );
    card.set_app_state(AppState::Deleted);
    assert_eq!(
        send(&mut card, "00A4040007A000000003101000").1,
        StatusWord::FILE_NOT_FOUND
    );
    card.set_app_state(AppState::Active);
    assert_eq!(
        send(&mut card, "00A4040007A000000003101000").1,
        StatusWord::SUCCESS
    );
}

#[test]
fn malformed_commands_get_the_right_status_word() {
    let mut card = visa(Cvn::Visa18);
    let cases = [
        (
            "A0A404000E325041592E5359532E444446303100",
            StatusWord::CLA_NOT_SUPPORTED,
        ),
        ("0001000000", StatusWord::INS_NOT_SUPPORTED),
        (
            "80A8000002830000",
            StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED,
        ), // GPO before SELECT
        (
            "00A400000E325041592E5359532E444446303100",
            StatusWord::INCORRECT_P1_P2,
        ),
        ("00A4040007A000000099999900", StatusWord::FILE_NOT_FOUND),
        ("00A40400", StatusWord::FILE_NOT_FOUND),
        ("00A4040005A0000000", StatusWord::WRONG_LENGTH), // Lc says 5, 3 bytes
        ("00B2010C00", StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED), // READ RECORD before GPO
        (
            "80AE8000020000",
            StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED,
        ),
        (
            "0082000008000000000000000000",
            StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED,
        ),
        ("80CA9F9900", StatusWord::REFERENCED_DATA_NOT_FOUND),
        ("00", StatusWord::WRONG_LENGTH),
    ];
    for (cmd, sw) in cases {
        assert_eq!(send(&mut card, cmd).1, sw, "{cmd}");
    }
    send(&mut card, "00A4040007A000000003101000");
    assert_eq!(
        send(&mut card, "80A8010002830000").1,
        StatusWord::INCORRECT_P1_P2
    );
    assert_eq!(
        send(&mut card, "80A8000002830000").1,
        StatusWord::WRONG_LENGTH,
        "PDOL data missing"
    );
    assert_eq!(
        send(&mut card, "80A80000039F660000").1,
        StatusWord::WRONG_LENGTH,
        "not tag 83"
    );
    // Wrong Le on GET DATA: the card tells the exact length.
    assert_eq!(send(&mut card, "80CA9F3602").1, StatusWord::wrong_le(5));
    assert_eq!(
        send(&mut card, "80CA9F3600"),
        (h("9F36020000"), StatusWord::SUCCESS)
    );
    // After a bad command the selection still holds.
    card.set_cdcvm_verified(true);
    assert_eq!(
        send(&mut card, &visa_gpo("36004040")).1,
        StatusWord::SUCCESS
    );
    assert_eq!(
        send(&mut card, "00B2010C00").1,
        StatusWord::RECORD_NOT_FOUND
    );
    assert_eq!(send(&mut card, "00B2011C00").1, StatusWord::SUCCESS);
    assert_eq!(send(&mut card, "00B2011800").1, StatusWord::INCORRECT_P1_P2);
    assert_eq!(
        send(&mut card, "80AE8000020000").1,
        StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED
    );
}

#[test]
fn debug_output_never_shows_the_pan() {
    let card = visa(Cvn::Visa18);
    let dbg = format!("{card:?}");
    assert!(!dbg.contains(VISA_PAN), "{dbg}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_command_sequences_never_panic(
        cmds in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..12),
        mc in any::<bool>(),
    ) {
        let mut card = if mc { mastercard(Cvn::Mastercard16) } else { visa(Cvn::Visa18) };
        select_ppse(&mut card);
        let aid = if mc { "00A4040007A000000004101000" } else { "00A4040007A000000003101000" };
        send(&mut card, aid);
        let mut atc = 0;
        for c in cmds {
            let out = card.process(&c);
            prop_assert!(card.counters().atc >= atc);
            atc = card.counters().atc;
            let _ = out.response.encode();
        }
    }
}
