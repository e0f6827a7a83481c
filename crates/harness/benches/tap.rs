//! Criterion benchmarks: a whole contactless tap in process, and the issuer's ARQC check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cards::{Amount, Currency, Date, Pan};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use emv_card::{Counters, Scheme};
use emv_crypto::{Cvn, derive_icc_master_key, verify_ac};
use emv_kernel::{Outcome, TerminalConfig, Transaction, TransactionType};
use harness::{SeededRng, card, demo_imk, tap};
use tlv::Tag;

fn txn() -> Transaction {
    Transaction {
        amount: Amount::from_minor(1234, Currency::lookup("EUR").unwrap()).unwrap(),
        amount_other_minor: 0,
        date: Date::new(2026, 11, 23).unwrap(),
        kind: TransactionType::PURCHASE,
    }
}

fn benches(c: &mut Criterion) {
    let imk = demo_imk();
    let mut group = c.benchmark_group("tap");
    for (name, scheme, cvn, pan) in [
        ("visa_cvn18", Scheme::Visa, Cvn::Visa18, "4761739001010010"),
        (
            "mastercard_cvn16",
            Scheme::Mastercard,
            Cvn::Mastercard16,
            "5413330089010012",
        ),
    ] {
        let pan = Pan::parse(pan).unwrap();
        let config = TerminalConfig::default();
        let mut rng = SeededRng(1);
        // A fresh card per batch keeps the ATC far from exhaustion however long the run.
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    let mut c = card(&imk, scheme, cvn, &pan, 1, Counters::default()).unwrap();
                    c.set_cdcvm_verified(true);
                    c
                },
                |c| {
                    let (_, outcome, _) = tap(c, config.clone(), txn(), &mut rng);
                    assert!(matches!(outcome, Outcome::OnlineRequest(_)));
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    // The issuer's check: ICC key derivation from the IMK plus the ARQC verification.
    let mut group = c.benchmark_group("issuer");
    let pan = Pan::parse("4761739001010010").unwrap();
    let mut card = card(
        &imk,
        Scheme::Visa,
        Cvn::Visa18,
        &pan,
        1,
        Counters::default(),
    )
    .unwrap();
    card.set_cdcvm_verified(true);
    let (_, outcome, _) = tap(
        &mut card,
        TerminalConfig::default(),
        txn(),
        &mut SeededRng(2),
    );
    let Outcome::OnlineRequest(request) = outcome else {
        panic!("{outcome:?}")
    };
    let data = request.data.clone();
    let lookup = |t: Tag| data.get(t);
    let arqc = request
        .data
        .get(emv::tags::APPLICATION_CRYPTOGRAM)
        .unwrap()
        .to_vec();
    let icc_mk = derive_icc_master_key(Cvn::Visa18, &imk, pan.expose_digits(), 1).unwrap();
    group.bench_function("verify_arqc_cvn18", |b| {
        b.iter(|| verify_ac(Cvn::Visa18, &icc_mk, &lookup, &arqc).unwrap());
    });
    group.bench_function("derive_icc_mk_and_verify_arqc_cvn18", |b| {
        b.iter(|| {
            let k = derive_icc_master_key(Cvn::Visa18, &imk, pan.expose_digits(), 1).unwrap();
            verify_ac(Cvn::Visa18, &k, &lookup, &arqc).unwrap()
        });
    });
    group.finish();
}

criterion_group!(tap_benches, benches);
criterion_main!(tap_benches);
