//! Card <-> kernel <-> issuer simulations with random transactions.
//!
//! Every property runs over random amounts, currencies, unpredictable numbers, ATCs, schemes and
//! cryptogram versions; proptest prints the failing case (and its seed) when one fails.

use cards::{Amount, Currency, Date, Pan};
use emv_card::{Counters, Scheme};
use emv_crypto::Cvn;
use emv_kernel::{ArpcCheck, Cvm, Outcome, TerminalConfig, Transaction, TransactionType};
use harness::{SeededRng, card, demo_imk, issuer_response, tap};
use proptest::prelude::*;

const CVNS: [(Scheme, Cvn); 7] = [
    (Scheme::Visa, Cvn::Visa10),
    (Scheme::Visa, Cvn::Visa18),
    (Scheme::Visa, Cvn::Visa22),
    (Scheme::Mastercard, Cvn::Mastercard16),
    (Scheme::Mastercard, Cvn::Mastercard17),
    (Scheme::Mastercard, Cvn::Mastercard20),
    (Scheme::Mastercard, Cvn::Mastercard21),
];

/// A Luhn-valid test PAN of the scheme: 16 digits, or 19 for one seed in four (19-digit PANs
/// take another ICC master key derivation for Visa CVN 18/22).
fn pan_for(scheme: Scheme, seed: u64) -> Pan {
    let bin = match scheme {
        Scheme::Visa => "476173",
        Scheme::Mastercard => "541333",
    };
    let prefix = if seed.is_multiple_of(4) {
        format!("{bin}{:012}", seed % 1_000_000_000_000)
    } else {
        format!("{bin}{:09}", seed % 1_000_000_000)
    };
    let check = cards::luhn_check_digit(&prefix).unwrap();
    Pan::parse(&format!("{prefix}{check}")).unwrap()
}

fn txn(minor: u64, currency: Currency, day: u8) -> Transaction {
    Transaction {
        amount: Amount::from_minor(minor, currency).unwrap(),
        amount_other_minor: 0,
        date: Date::new(2026, 11, day).unwrap(),
        kind: TransactionType::PURCHASE,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every ARQC the card produces verifies with the issuer's key, the ARPC is accepted, and
    /// the whole authorization data set is what the cryptogram covers.
    #[test]
    fn every_arqc_verifies_and_every_arpc_is_accepted(
        which in 0usize..CVNS.len(),
        minor in 1u64..=99_999,
        currency_index in 0usize..53,
        seed in any::<u64>(),
        atc in 0u16..60_000,
        psn_decimal in 0u8..=99,
        day in 1u8..=30,
        cdcvm in any::<bool>(),
    ) {
        let (scheme, cvn) = CVNS[which];
        // Tag 5F34 is n2: the byte is two BCD digits.
        let psn = ((psn_decimal / 10) << 4) | (psn_decimal % 10);
        let currencies = Currency::all();
        let currency = currencies[currency_index % currencies.len()];
        let imk = demo_imk();
        let pan = pan_for(scheme, seed);
        let mut card = card(&imk, scheme, cvn, &pan, psn, Counters { atc, ..Counters::default() }).unwrap();
        card.set_cdcvm_verified(cdcvm);
        let config = TerminalConfig::default();
        let cvm_limit = config.limits.cvm_required_limit_minor;
        let (mut kernel, outcome, trace) = tap(&mut card, config, txn(minor, currency, day), &mut SeededRng(seed));
        if minor > cvm_limit && !cdcvm {
            prop_assert_eq!(outcome, Outcome::SeePhone, "seed {}", seed);
            return Ok(());
        }
        let Outcome::OnlineRequest(request) = outcome else {
            return Err(TestCaseError::fail(format!("seed {seed}: {outcome:?} after {} APDUs", trace.len())));
        };
        prop_assert_eq!(request.card.pan.clone(), pan);
        prop_assert_eq!(request.data.get(emv::tags::ATC), Some(&(atc + 1).to_be_bytes()[..]));
        // Kernel 3 reports the card's CDCVM at any amount; Kernel 2 asks for it only above the
        // CVM limit.
        if cdcvm && (scheme == Scheme::Visa || minor > cvm_limit) {
            prop_assert_eq!(request.cvm, Cvm::ConsumerDevice);
        } else if minor <= cvm_limit {
            prop_assert_eq!(request.cvm, Cvm::NoCvm);
        }
        let (verified, response) = issuer_response(&harness::IssuerKey::Master(demo_imk()), &request).unwrap();
        prop_assert!(verified, "seed {}: ARQC did not verify for {:?}", seed, cvn);
        let step = kernel.complete(response);
        let mut trace = Vec::new();
        let mut transceive = |c: &[u8]| -> Result<Vec<u8>, core::convert::Infallible> { Ok(card.process(c).response.encode()) };
        let Ok(done) = kernel.drive(step, &mut transceive, &mut trace);
        let Outcome::Completed(c) = done else { panic!("{done:?}") };
        prop_assert!(c.approved);
        prop_assert_eq!(c.arpc, ArpcCheck::Accepted);
        prop_assert_eq!(card.counters().last_online_atc, atc + 1);
    }

    /// An altered amount, unpredictable number or ATC in the authorization data never verifies.
    #[test]
    fn altered_authorization_data_never_verifies(
        which in 0usize..CVNS.len(),
        seed in any::<u64>(),
        field in 0usize..3,
        flip in 0u8..8,
    ) {
        let (scheme, cvn) = CVNS[which];
        let imk = demo_imk();
        let pan = pan_for(scheme, seed);
        let mut card = card(&imk, scheme, cvn, &pan, 1, Counters::default()).unwrap();
        card.set_cdcvm_verified(true);
        let eur = Currency::lookup("EUR").unwrap();
        let (_, outcome, _) = tap(&mut card, TerminalConfig::default(), txn(1234, eur, 23), &mut SeededRng(seed));
        let Outcome::OnlineRequest(mut request) = outcome else { panic!("{outcome:?}") };
        let tag = [emv::tags::AMOUNT_AUTHORISED, emv::tags::UNPREDICTABLE_NUMBER, emv::tags::ATC][field];
        let mut elements = request.data.elements().to_vec();
        let slot = elements.iter_mut().find(|(t, _)| *t == tag).unwrap();
        let last = slot.1.len() - 1;
        slot.1[last] ^= 1 << flip;
        request.data = emv_kernel::AuthorizationData::from_elements(elements);
        let (verified, _) = issuer_response(&harness::IssuerKey::Master(demo_imk()), &request).unwrap();
        prop_assert!(!verified);
    }
}

/// A run of taps on one card: ATCs strictly increase, so no two taps share one.
#[test]
fn no_two_taps_share_an_atc() {
    let imk = demo_imk();
    for (scheme, cvn) in CVNS {
        let pan = pan_for(scheme, 7);
        let mut card = card(&imk, scheme, cvn, &pan, 0, Counters::default()).unwrap();
        card.set_cdcvm_verified(true);
        let mut rng = SeededRng(42);
        let mut seen = std::collections::BTreeSet::new();
        let eur = Currency::lookup("EUR").unwrap();
        for i in 0..200u64 {
            let (_, outcome, _) = tap(
                &mut card,
                TerminalConfig::default(),
                txn(100 + i, eur, 23),
                &mut rng,
            );
            let Outcome::OnlineRequest(r) = outcome else {
                panic!("{outcome:?}")
            };
            let atc = r.data.get(emv::tags::ATC).unwrap().to_vec();
            assert!(seen.insert(atc.clone()), "{cvn:?}: ATC {atc:02X?} reused");
        }
        assert_eq!(card.counters().atc, 200);
    }
}

/// A suspended card is skipped by the kernel; a card whose ATC is exhausted stops paying.
#[test]
fn suspended_and_exhausted_cards_do_not_pay() {
    let imk = demo_imk();
    let eur = Currency::lookup("EUR").unwrap();
    let pan = pan_for(Scheme::Visa, 1);
    let mut c = card(
        &imk,
        Scheme::Visa,
        Cvn::Visa18,
        &pan,
        0,
        Counters::default(),
    )
    .unwrap();
    c.set_app_state(emv_card::AppState::Suspended);
    let (_, outcome, _) = tap(
        &mut c,
        TerminalConfig::default(),
        txn(100, eur, 23),
        &mut SeededRng(1),
    );
    assert!(matches!(outcome, Outcome::EndApplication(_)), "{outcome:?}");
    let mut c = card(
        &imk,
        Scheme::Visa,
        Cvn::Visa18,
        &pan,
        0,
        Counters {
            atc: u16::MAX,
            ..Counters::default()
        },
    )
    .unwrap();
    c.set_cdcvm_verified(true);
    let (_, outcome, _) = tap(
        &mut c,
        TerminalConfig::default(),
        txn(100, eur, 23),
        &mut SeededRng(1),
    );
    assert!(
        matches!(outcome, Outcome::TryAnotherInterface(_)),
        "{outcome:?}"
    );
}
