//! ARQC generation and verification per CVN (from the ICC master key), session key derivation,
//! the retail MAC alone, and the raw block operations they are built from.
//!
//! `cargo bench -p emv-crypto -- --quick`
#![allow(
    clippy::unwrap_used,
    reason = "benchmark set-up on fixed, valid inputs"
)]

use std::hint::black_box;

use cipher::{Array, BlockCipherEncrypt, KeyInit};
use criterion::{Criterion, criterion_group, criterion_main};
use emv_crypto::{
    Cvn, KeyAlgorithm, MasterKey, Padding, RetailMacKey, derive_ac_session_key,
    derive_icc_master_key, derive_mastercard_session_key, generate_ac, verify_ac,
};
use secret::Secret;
use tlv::Tag;

const IMK: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
];

fn iad_for(cvn: Cvn) -> Vec<u8> {
    match cvn {
        Cvn::Visa10 => vec![0x06, 0x01, 0x0A, 0x03, 0xA0, 0x60, 0x10],
        Cvn::Visa18 => vec![0x06, 0x01, 0x12, 0x03, 0xA0, 0xB8, 0x00],
        Cvn::Visa22 => {
            let mut v = vec![0x1F, 0x22, 0x01, 0x03, 0xA0, 0x00, 0x00, 0x00];
            v.resize(32, 0);
            v
        }
        _ => {
            let mut v = vec![0x01, cvn.iad_value(), 0xA0, 0x00, 0x03, 0x22, 0x00, 0x00];
            v.resize(17, 0);
            v.push(0xFF);
            v
        }
    }
}

fn txn(cvn: Cvn) -> Vec<(Tag, Vec<u8>)> {
    vec![
        (Tag(0x9F02), vec![0, 0, 0, 0, 0x40, 0]),
        (Tag(0x9F03), vec![0; 6]),
        (Tag(0x9F1A), vec![0x01, 0x24]),
        (Tag(0x95), vec![0x80, 0, 0x04, 0x80, 0]),
        (Tag(0x5F2A), vec![0x01, 0x24]),
        (Tag(0x9A), vec![0x19, 0x11, 0x05]),
        (Tag(0x9C), vec![0x01]),
        (Tag(0x9F37), vec![0x52, 0xBF, 0x45, 0x85]),
        (Tag(0x82), vec![0x18, 0x00]),
        (Tag(0x9F36), vec![0x00, 0x1C]),
        (Tag(0x9F10), iad_for(cvn)),
    ]
}

fn bench(c: &mut Criterion) {
    let imk = MasterKey::new(KeyAlgorithm::Tdes2, &IMK).unwrap();
    let icc_mk = derive_icc_master_key(Cvn::Visa18, &imk, "1234567890123456", 0).unwrap();
    let aes_mk = MasterKey::new(KeyAlgorithm::Aes128, &IMK).unwrap();

    // Raw block operations.
    let des = des::Des::new(&Array::from([
        0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
    ]));
    let tdes = des::TdesEde2::new(&Array::from(IMK));
    let aes = aes::Aes128::new(&Array::from(IMK));
    c.bench_function("raw/des_block", |b| {
        let mut block = Array::from([0u8; 8]);
        b.iter(|| des.encrypt_block(black_box(&mut block)))
    });
    c.bench_function("raw/des_key_schedule", |b| {
        b.iter(|| des::Des::new(black_box(&Array::from([7u8; 8]))))
    });
    c.bench_function("raw/tdes_block", |b| {
        let mut block = Array::from([0u8; 8]);
        b.iter(|| tdes.encrypt_block(black_box(&mut block)))
    });
    c.bench_function("raw/aes128_block", |b| {
        let mut block = Array::from([0u8; 16]);
        b.iter(|| aes.encrypt_block(black_box(&mut block)))
    });
    c.bench_function("raw/aes128_key_schedule", |b| {
        b.iter(|| aes::Aes128::new(black_box(&Array::from([7u8; 16]))))
    });

    // Retail MAC alone over 40 bytes, key schedule precomputed.
    let mac_key = RetailMacKey::new(&Secret::new(IMK));
    let data = [0x5Au8; 40];
    c.bench_function("retail_mac/40_bytes_method2", |b| {
        b.iter(|| mac_key.mac(black_box(&data), Padding::Method2))
    });

    // Session key derivation alone.
    c.bench_function("session_key/common_3des", |b| {
        b.iter(|| derive_ac_session_key(&icc_mk, black_box([0x00, 0x1C])))
    });
    c.bench_function("session_key/mastercard_3des", |b| {
        b.iter(|| derive_mastercard_session_key(&icc_mk, black_box([0x00, 0x1C]), [1, 2, 3, 4]))
    });
    c.bench_function("session_key/common_aes128", |b| {
        b.iter(|| derive_ac_session_key(&aes_mk, black_box([0x00, 0x1C])))
    });

    // ARQC generation and verification from the ICC master key, per CVN.
    for cvn in Cvn::ALL {
        let t = txn(cvn);
        let lookup = |tag: Tag| t.iter().find(|(k, _)| *k == tag).map(|(_, v)| v.as_slice());
        let arqc = generate_ac(cvn, &icc_mk, &lookup).unwrap();
        c.bench_function(&format!("arqc/generate/cvn{}", cvn.number()), |b| {
            b.iter(|| generate_ac(cvn, black_box(&icc_mk), &lookup))
        });
        c.bench_function(&format!("arqc/verify/cvn{}", cvn.number()), |b| {
            b.iter(|| verify_ac(cvn, black_box(&icc_mk), &lookup, black_box(&arqc)))
        });
    }
    let t = txn(Cvn::Visa18);
    let lookup = |tag: Tag| t.iter().find(|(k, _)| *k == tag).map(|(_, v)| v.as_slice());
    let arqc = generate_ac(Cvn::Visa18, &aes_mk, &lookup).unwrap();
    c.bench_function("arqc/verify/cvn18_aes128", |b| {
        b.iter(|| verify_ac(Cvn::Visa18, black_box(&aes_mk), &lookup, black_box(&arqc)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
