//! The software secure element, end to end: init, unlock, payloads, taps through the terminal
//! kernel, counters across crashes, copies and the passcode.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use cards::{Amount, Currency, Date};
use device::{Argon2Cost, Policy, SW_MEMORY_FAILURE, SeError, SecureElement, Session};
use emv_kernel::{Cvm, Kernel, Outcome, TerminalConfig, Transaction, TransactionType};
use jose::{HeaderParams, Jwk, jwe};
use secret::Secret;

const NOW: i64 = 1_800_000_000;
/// The demo token key's issuer master key, as in the rest of the workspace.
const TOKEN_IMK: &str = "0123456789ABCDEFFEDCBA9876543210";

fn policy() -> Policy {
    Policy {
        max_failures: 10,
        window_secs: 60,
        session_secs: 3600,
        cost: Argon2Cost::DANGER_MINIMAL,
    }
}

fn passcode(text: &str) -> Secret<String> {
    Secret::new(text.to_owned())
}

/// A fresh folder under the target directory's tmp (no system temp dir needed).
fn scratch(name: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("device-tests");
    let dir = base.join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Fixture {
    dir: PathBuf,
    runtime: PathBuf,
}

fn fixture(name: &str) -> (Fixture, SecureElement, Session) {
    let root = scratch(name);
    let f = Fixture {
        dir: root.join("device"),
        runtime: root.join("run"),
    };
    std::fs::create_dir_all(&f.dir).unwrap();
    let (se, session) =
        SecureElement::init(&f.dir, &passcode("246810"), &policy(), &f.runtime, NOW).unwrap();
    (f, se, session)
}

/// The token payload the token service would send for `dpan`, encrypted to `recipient`.
fn payload(recipient: &Jwk, dpan: &str, cvn: u8) -> String {
    let (scheme, cvn_enum) = if dpan.starts_with('5') {
        (
            "mastercard",
            emv_crypto::Cvn::ALL
                .into_iter()
                .find(|c| c.number() == cvn && c.scheme().to_string() == "Mastercard")
                .unwrap(),
        )
    } else {
        (
            "visa",
            emv_crypto::Cvn::ALL
                .into_iter()
                .find(|c| c.number() == cvn && c.scheme().to_string() == "Visa")
                .unwrap(),
        )
    };
    let imk = emv_crypto::MasterKey::new(
        emv_crypto::KeyAlgorithm::Tdes2,
        &hex::decode(TOKEN_IMK).unwrap(),
    )
    .unwrap();
    let mk = emv_crypto::derive_icc_master_key(cvn_enum, &imk, dpan, 0x01).unwrap();
    let plain = serde_json::json!({
        "tur": format!("DWSPMC0000000000000000{}", &dpan[12..]),
        "dpan": dpan,
        "expiry": "1230",
        "psn": "01",
        "scheme": scheme,
        "cvn": cvn,
        "icc_master_key": hex::encode_upper(mk.expose_secret()),
        "key_algorithm": "TDES2",
        "fpan_last4": "1111",
        "product_name": "Demo Bank Visa",
    });
    jwe::encrypt(
        plain.to_string().as_bytes(),
        recipient,
        &HeaderParams::new().cty("application/json"),
        &[0x11; 32],
        &[0x22; 32],
        &[0x33; 12],
    )
    .unwrap()
}

struct CountingRng(u8);
impl emv_kernel::Rng for CountingRng {
    fn fill(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self.0.wrapping_add(37);
            *b = self.0;
        }
    }
}

/// Taps the session's default card for `amount` at `now`: the kernel's outcome and the ATC the
/// card used (from the online request).
fn tap(session: &Session, amount: &str, now: i64) -> (Outcome, Option<u16>) {
    let mut card = session.payment_card(None, now).unwrap();
    tap_card(&mut card, amount)
}

fn tap_card(card: &mut device::PaymentCard, amount: &str) -> (Outcome, Option<u16>) {
    let eur = Currency::lookup("EUR").unwrap();
    let txn = Transaction {
        amount: Amount::parse(amount, eur).unwrap(),
        amount_other_minor: 0,
        date: Date::new(2027, 1, 15).unwrap(),
        kind: TransactionType::PURCHASE,
    };
    let mut kernel = Kernel::new(TerminalConfig::default(), txn, &mut CountingRng(1));
    let mut trace = Vec::new();
    let first = kernel.start();
    let mut transceive =
        |cmd: &[u8]| -> Result<Vec<u8>, std::convert::Infallible> { Ok(card.transmit(cmd)) };
    let outcome = kernel.drive(first, &mut transceive, &mut trace).unwrap();
    let atc = match &outcome {
        Outcome::OnlineRequest(r) => r
            .data
            .get(emv::tags::ATC)
            .map(|a| u16::from_be_bytes([a[0], a[1]])),
        _ => None,
    };
    (outcome, atc)
}

#[test]
fn a_new_device_is_unlocked_once_and_opens_only_its_own_payloads() {
    let (f, se, session) = fixture("install");
    let public = se.public_key().unwrap();
    assert!(
        public.private_bytes().is_none(),
        "the public key file holds no private key"
    );
    let installed = session
        .install("card-1", &payload(&public, "4761739001010010", 18), NOW)
        .unwrap();
    assert_eq!(installed.token_masked, "476173******0010");
    assert!(installed.is_default);
    assert_eq!(installed.atc, 0);

    // A payload made for another device is refused and leaves nothing behind.
    let other = Jwk::from_private_bytes(&[0x42; 32]).unwrap().to_public();
    assert_eq!(
        session.install("card-2", &payload(&other, "4761739001010028", 18), NOW),
        Err(SeError::PayloadRejected)
    );
    assert_eq!(session.tokens(NOW).unwrap().len(), 1);

    // The device directory never holds the token number, its key or the SE key in clear.
    let se_key = session.danger_export_private_jwk().unwrap();
    let d: serde_json::Value = serde_json::from_str(se_key.expose()).unwrap();
    let d = d["d"].as_str().unwrap().to_owned();
    for entry in walk(&f.dir) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("4761739001010010"), "{}", entry.display());
        assert!(!text.contains(&d), "{}", entry.display());
    }

    // Signatures verify with the public key.
    let signature = session.sign(b"challenge").unwrap();
    use p256::ecdsa::signature::Verifier as _;
    let jwk: serde_json::Value = serde_json::from_str(&public.to_public_json()).unwrap();
    use base64ct::Encoding as _;
    let mut sec1 = vec![0x04];
    for c in ["x", "y"] {
        sec1.extend(base64ct::Base64UrlUnpadded::decode_vec(jwk[c].as_str().unwrap()).unwrap());
    }
    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
    verifying
        .verify(
            b"challenge",
            &p256::ecdsa::Signature::from_slice(&signature).unwrap(),
        )
        .unwrap();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_payment_window_decides_between_cdcvm_see_phone_and_no_cvm() {
    let (_f, se, session) = fixture("window");
    let public = se.public_key().unwrap();
    session
        .install("card-1", &payload(&public, "4761739001010010", 18), NOW)
        .unwrap();
    // Inside the window, above the CVM limit: verified on the phone.
    let (outcome, atc) = tap(&session, "80.00", NOW + 10);
    let Outcome::OnlineRequest(r) = outcome else {
        panic!("expected an online request, got {outcome:?}")
    };
    assert_eq!(r.cvm, Cvm::ConsumerDevice);
    assert_eq!(atc, Some(1));
    // After the window, above the limit: "see phone".
    let (outcome, _) = tap(&session, "80.00", NOW + 61);
    assert_eq!(outcome, Outcome::SeePhone);
    // After the window, below the limit: pays without verification.
    let (outcome, atc) = tap(&session, "5.00", NOW + 61);
    let Outcome::OnlineRequest(r) = outcome else {
        panic!("expected an online request, got {outcome:?}")
    };
    assert_eq!(r.cvm, Cvm::NoCvm);
    assert!(atc > Some(1), "every tap uses a new ATC: {atc:?}");
}

#[test]
fn a_crash_mid_payment_never_reuses_an_atc() {
    let (f, se, session) = fixture("crash");
    let public = se.public_key().unwrap();
    session
        .install("card-1", &payload(&public, "4761739001010010", 18), NOW)
        .unwrap();
    let (_, first) = tap(&session, "12.00", NOW);
    assert_eq!(first, Some(1));
    // The process dies right after the card answered (the terminal has the cryptogram, the
    // issuer never heard of it): everything in memory is gone.
    drop(session);
    drop(se);
    let se = SecureElement::open(&f.dir).unwrap();
    let session = se.session(&f.runtime, NOW + 1).unwrap();
    let (_, second) = tap(&session, "12.00", NOW + 1);
    assert_eq!(second, Some(2), "the stored ATC survived the crash");

    // A crash while the counter is being written: the write fails, so the answer with the
    // new ATC never leaves; the next tap still gets an ATC never seen.
    let blocker = f.dir.join(device::SE_DIR).join("sealed.tmp");
    std::fs::create_dir_all(&blocker).unwrap();
    let mut card = session.payment_card(None, NOW + 2).unwrap();
    let (outcome, atc) = tap_card(&mut card, "12.00");
    assert_eq!(atc, None, "no cryptogram left the card: {outcome:?}");
    std::fs::remove_dir(&blocker).unwrap();
    let (_, third) = tap(&session, "12.00", NOW + 3);
    assert!(third > second, "{third:?} after {second:?}");
    assert_eq!(session.tokens(NOW).unwrap()[0].atc, third.unwrap());
}

#[test]
fn a_card_loaded_before_another_tap_refuses_to_repeat_its_atc() {
    let (_f, se, session) = fixture("conflict");
    let public = se.public_key().unwrap();
    session
        .install("card-1", &payload(&public, "5413330089010012", 16), NOW)
        .unwrap();
    // Another process taps with the same token between this transaction's SELECT PPSE (where
    // the card loaded its counter) and its cryptogram.
    let mut stale = session.payment_card(None, NOW).unwrap();
    let mut other = session.payment_card(None, NOW).unwrap();
    let eur = Currency::lookup("EUR").unwrap();
    let txn = Transaction {
        amount: Amount::parse("12.00", eur).unwrap(),
        amount_other_minor: 0,
        date: Date::new(2027, 1, 15).unwrap(),
        kind: TransactionType::PURCHASE,
    };
    let mut kernel = Kernel::new(TerminalConfig::default(), txn, &mut CountingRng(9));
    let mut sent = 0;
    let mut interfering = None;
    let mut transceive = |cmd: &[u8]| -> Result<Vec<u8>, std::convert::Infallible> {
        sent += 1;
        if sent == 2 {
            interfering = tap_card(&mut other, "12.00").1;
        }
        Ok(stale.transmit(cmd))
    };
    let first = kernel.start();
    let outcome = kernel
        .drive(first, &mut transceive, &mut Vec::new())
        .unwrap();
    assert_eq!(interfering, Some(1));
    // The stale card would make ATC 1 again: it answers 6581 instead, and no cryptogram goes.
    assert!(!matches!(outcome, Outcome::OnlineRequest(_)), "{outcome:?}");
    // The next transaction reloads the counter at SELECT PPSE.
    let (_, atc) = tap_card(&mut stale, "12.00");
    assert_eq!(atc, Some(2));
    assert_eq!(SW_MEMORY_FAILURE, [0x65, 0x81]);
}

#[test]
fn a_copied_device_directory_without_the_passcode_cannot_pay() {
    let (f, se, session) = fixture("copy");
    let public = se.public_key().unwrap();
    session
        .install("card-1", &payload(&public, "4761739001010010", 18), NOW)
        .unwrap();
    let copy = f.dir.parent().unwrap().join("copied-device");
    copy_dir(&f.dir, &copy);
    let copied = SecureElement::open(&copy).unwrap();
    // The same machine, the same runtime directory: the original's unlock does not open the
    // copy.
    assert_eq!(
        copied.session(&f.runtime, NOW).unwrap_err(),
        SeError::Locked
    );
    // Another machine: no session at all.
    let elsewhere = f.dir.parent().unwrap().join("other-machine-run");
    assert_eq!(
        copied.session(&elsewhere, NOW).unwrap_err(),
        SeError::Locked
    );
    // Guessing is counted.
    let err = copied
        .unlock(&passcode("000000"), &policy(), &elsewhere, NOW)
        .unwrap_err();
    assert!(
        matches!(err, SeError::WrongPasscode { tries_left: 9, .. }),
        "{err:?}"
    );
    // With the passcode, the copy is the same device (a phone's hardware key would stop even
    // this; the device secret file stands in for it).
    assert!(
        copied
            .unlock(&passcode("246810"), &policy(), &elsewhere, NOW)
            .is_ok()
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn wrong_passcodes_back_off_and_then_wipe_the_secrets() {
    let (f, se, session) = fixture("passcode");
    session
        .install(
            "card-1",
            &payload(&se.public_key().unwrap(), "4761739001010010", 18),
            NOW,
        )
        .unwrap();
    se.lock(&f.runtime).unwrap();
    assert_eq!(se.session(&f.runtime, NOW).unwrap_err(), SeError::Locked);
    let p = policy();
    let mut now = NOW;
    for failures in 1..=4 {
        let err = se
            .unlock(&passcode("111111"), &p, &f.runtime, now)
            .unwrap_err();
        assert_eq!(
            err,
            SeError::WrongPasscode {
                tries_left: 10 - failures,
                wait_secs: device::back_off_secs(failures),
            }
        );
    }
    // The fifth wrong one starts the back-off; trying during it is refused without counting.
    let err = se
        .unlock(&passcode("111111"), &p, &f.runtime, now)
        .unwrap_err();
    assert_eq!(
        err,
        SeError::WrongPasscode {
            tries_left: 5,
            wait_secs: 60
        }
    );
    assert_eq!(
        se.unlock(&passcode("246810"), &p, &f.runtime, now + 30)
            .unwrap_err(),
        SeError::BackOff { wait_secs: 30 }
    );
    assert_eq!(se.failures().unwrap(), 5);
    // The right passcode after the wait unlocks and clears the count.
    now += 60;
    let session = se.unlock(&passcode("246810"), &p, &f.runtime, now).unwrap();
    assert!(session.cdcvm_active(now));
    assert_eq!(se.failures().unwrap(), 0);
    assert_eq!(session.tokens(NOW).unwrap().len(), 1);

    // The limit is the one set at init: a caller asking for more tries gets none.
    let lenient = Policy {
        max_failures: 1000,
        ..p
    };
    // Ten wrong ones in a row (waiting out each back-off) wipe the secrets.
    let mut last = None;
    for _ in 0..10 {
        now += 3600;
        last = Some(
            se.unlock(&passcode("999999"), &lenient, &f.runtime, now)
                .unwrap_err(),
        );
    }
    assert_eq!(last, Some(SeError::Wiped));
    now += 3600;
    assert_eq!(
        se.unlock(&passcode("246810"), &p, &f.runtime, now)
            .unwrap_err(),
        SeError::Wiped
    );
    assert!(!f.dir.join(device::SE_DIR).join("sealed.json").exists());
    assert!(!f.dir.join(device::SE_DIR).join("device.secret").exists());
    // The session opened before the wipe opens nothing any more.
    assert_eq!(session.tokens(NOW).unwrap_err(), SeError::Wiped);
}

#[test]
fn a_session_ends_with_lock_and_after_its_time() {
    let (f, se, _session) = fixture("session");
    assert!(se.session(&f.runtime, NOW + 10).is_ok());
    assert_eq!(
        se.session(&f.runtime, NOW + 3600).unwrap_err(),
        SeError::Locked
    );
    let session = se
        .unlock(&passcode("246810"), &policy(), &f.runtime, NOW + 4000)
        .unwrap();
    assert!(session.cdcvm_active(NOW + 4000));
    assert!(!session.cdcvm_active(NOW + 4060));
    se.lock(&f.runtime).unwrap();
    assert_eq!(
        se.session(&f.runtime, NOW + 4001).unwrap_err(),
        SeError::Locked
    );
    assert_eq!(
        SecureElement::init(&f.dir, &passcode("246810"), &policy(), &f.runtime, NOW).unwrap_err(),
        SeError::AlreadyInitialized(f.dir.display().to_string())
    );
    assert_eq!(
        SecureElement::init(
            &f.dir.join("x"),
            &passcode("123"),
            &policy(),
            &f.runtime,
            NOW
        )
        .unwrap_err(),
        SeError::WeakPasscode
    );
}

/// An HCE payload (no token key) for `dpan`, and a batch of `keys` limited-use keys of `uses`
/// ATCs each, starting at `first_index` / `first_atc`, expiring at `expires`.
fn hce_payload(recipient: &Jwk, dpan: &str) -> String {
    let plain = serde_json::json!({
        "tur": format!("DWSPMC0000000000000000{}", &dpan[12..]),
        "dpan": dpan,
        "expiry": "1230",
        "psn": "01",
        "scheme": "visa",
        "cvn": 18,
        "credential": "hce",
        "fpan_last4": "1111",
        "product_name": "Demo Bank Visa",
    });
    jwe::encrypt(
        plain.to_string().as_bytes(),
        recipient,
        &HeaderParams::new().cty("application/json"),
        &[0x11; 32],
        &[0x22; 32],
        &[0x33; 12],
    )
    .unwrap()
}

fn token_mk(dpan: &str) -> emv_crypto::MasterKey {
    let imk = emv_crypto::MasterKey::new(
        emv_crypto::KeyAlgorithm::Tdes2,
        &hex::decode(TOKEN_IMK).unwrap(),
    )
    .unwrap();
    emv_crypto::derive_icc_master_key(emv_crypto::Cvn::Visa18, &imk, dpan, 0x01).unwrap()
}

fn key_batch(
    recipient: &Jwk,
    dpan: &str,
    keys: &[(u32, u16, u16, i64)], // (index, atc_from, atc_to, expires)
) -> String {
    let mk = token_mk(dpan);
    let keys: Vec<_> = keys
        .iter()
        .map(|&(index, atc_from, atc_to, expires_at)| {
            let luk = emv_crypto::derive_limited_use_key(&mk, index).unwrap();
            serde_json::json!({
                "index": index,
                "key": hex::encode_upper(luk.expose_secret()),
                "atc_from": atc_from,
                "atc_to": atc_to,
                "expires_at": expires_at,
            })
        })
        .collect();
    let plain = serde_json::json!({
        "tur": format!("DWSPMC0000000000000000{}", &dpan[12..]),
        "key_algorithm": "TDES2",
        "keys": keys,
    });
    jwe::encrypt(
        plain.to_string().as_bytes(),
        recipient,
        &HeaderParams::new().cty("application/json"),
        &[0x44; 32],
        &[0x55; 32],
        &[0x66; 12],
    )
    .unwrap()
}

/// Taps once; the ATC and whether the ARQC verifies under limited-use key `index`.
fn tap_with_luk(session: &Session, dpan: &str, now: i64) -> Result<(u16, u32), String> {
    let mut card = session.payment_card(None, now).map_err(|e| e.to_string())?;
    let (outcome, atc) = tap_card(&mut card, "12.00");
    let Outcome::OnlineRequest(r) = outcome else {
        return Err(format!("{outcome:?}"));
    };
    let atc = atc.unwrap();
    let arqc = r
        .data
        .get(emv::tags::APPLICATION_CRYPTOGRAM)
        .unwrap()
        .to_vec();
    let lookup = |t: tlv::Tag| r.data.get(t);
    let mk = token_mk(dpan);
    for index in 1..=8 {
        let luk = emv_crypto::derive_limited_use_key(&mk, index).unwrap();
        if emv_crypto::verify_ac(emv_crypto::Cvn::Visa18, &luk, &lookup, &arqc).is_ok() {
            return Ok((atc, index));
        }
    }
    assert!(
        emv_crypto::verify_ac(emv_crypto::Cvn::Visa18, &mk, &lookup, &arqc).is_err(),
        "an HCE card never uses the token's long-lived key"
    );
    Err("no limited-use key verifies the cryptogram".into())
}

#[test]
fn an_hce_token_pays_only_with_its_limited_use_keys_within_their_ranges() {
    let (_f, se, session) = fixture("hce");
    let public = se.public_key().unwrap();
    let dpan = "4761739001010010";
    let installed = session
        .install("card-1", &hce_payload(&public, dpan), NOW)
        .unwrap();
    assert_eq!(installed.credential, "hce");
    assert_eq!(installed.payments_left, Some(0));
    assert_eq!(
        session.payment_card(None, NOW).unwrap_err(),
        SeError::KeysExhausted("card-1".into())
    );
    // Key 1 has expired already; keys 2 and 3 cover ATCs 4-6 and 7-8.
    let batch = key_batch(
        &public,
        dpan,
        &[
            (1, 1, 3, NOW - 1),
            (2, 4, 6, NOW + 3600),
            (3, 7, 8, NOW + 3600),
        ],
    );
    let info = session.install_keys("card-1", &batch, NOW).unwrap();
    assert_eq!(info.payments_left, Some(5));
    let taps: Vec<(u16, u32)> = (0..5)
        .map(|i| tap_with_luk(&session, dpan, NOW + i).unwrap())
        .collect();
    assert_eq!(taps, [(4, 2), (5, 2), (6, 2), (7, 3), (8, 3)]);
    assert_eq!(
        session.payment_card(None, NOW + 10).unwrap_err(),
        SeError::KeysExhausted("card-1".into())
    );
    assert_eq!(session.tokens(NOW + 10).unwrap()[0].payments_left, Some(0));

    // Replenished: the new batch replaces the old one and the counter goes on.
    let batch = key_batch(&public, dpan, &[(4, 9, 10, NOW + 3600)]);
    session.install_keys("card-1", &batch, NOW + 20).unwrap();
    assert_eq!(tap_with_luk(&session, dpan, NOW + 21).unwrap(), (9, 4));
    // Keys expire: an hour later nothing pays.
    assert_eq!(
        session.payment_card(None, NOW + 3600).unwrap_err(),
        SeError::KeysExhausted("card-1".into())
    );

    // A batch for another token, or made for another device, is refused.
    let other = Jwk::from_private_bytes(&[0x42; 32]).unwrap().to_public();
    assert_eq!(
        session.install_keys(
            "card-1",
            &key_batch(&other, dpan, &[(5, 11, 12, NOW + 3600)]),
            NOW
        ),
        Err(SeError::PayloadRejected)
    );
    assert_eq!(
        session.install_keys(
            "card-1",
            &key_batch(&public, "4761739001010028", &[(5, 11, 12, NOW + 3600)]),
            NOW
        ),
        Err(SeError::PayloadRejected)
    );
}

#[test]
fn a_card_reused_across_taps_reloads_at_select_ppse_and_never_leaves_its_key_range() {
    let (_f, se, session) = fixture("hce-reuse");
    let public = se.public_key().unwrap();
    let dpan = "4761739001010010";
    session
        .install("card-1", &hce_payload(&public, dpan), NOW)
        .unwrap();
    session
        .install_keys(
            "card-1",
            &key_batch(
                &public,
                dpan,
                &[(1, 1, 2, NOW + 3600), (2, 3, 4, NOW + 3600)],
            ),
            NOW,
        )
        .unwrap();
    // One card object for many taps (a terminal that keeps the phone in its field).
    let mut card = session.payment_card(None, NOW).unwrap();
    let atcs: Vec<Option<u16>> = (0..5).map(|_| tap_card(&mut card, "12.00").1).collect();
    assert_eq!(atcs, [Some(1), Some(2), Some(3), Some(4), None]);
}
