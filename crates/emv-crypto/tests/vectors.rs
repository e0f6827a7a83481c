//! Published and generated vectors (tests/vectors/*.json, each with an `id` and a `source`), and
//! negative tests: bit flips, tampered ARPCs, and diagnosis of deliberately wrong cryptograms.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code outside #[test] functions: a bad vector file must stop the run"
)]

use std::collections::BTreeMap;
use std::str::FromStr;

use emv_crypto::{
    ArpcResponse, AtcScope, CryptoError, CryptogramMismatch, Cvn, Diagnosis, KeyAlgorithm,
    MasterKey, MkDerivation, Padding, RetailMacKey, SessionKeyMethod, ac_data,
    derive_ac_session_key, derive_common_session_key, derive_icc_master_key,
    derive_icc_master_key_with, derive_mastercard_session_key, diagnose, generate_ac,
    issuer_authentication_data, retail_mac, tdes_encrypt_block, verify_ac,
    verify_issuer_authentication_data,
};
use secret::Secret;
use serde::Deserialize;
use tlv::Tag;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> Vec<T> {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs `check` on every vector and fails once at the end, naming each failing vector's id.
fn run_all<T>(
    name: &str,
    vectors: &[T],
    id: impl Fn(&T) -> &str,
    check: impl Fn(&T) -> Result<(), String>,
) {
    assert!(!vectors.is_empty(), "{name} holds no vectors");
    let failures: Vec<String> = vectors
        .iter()
        .filter_map(|v| check(v).err().map(|e| format!("{}: {e}", id(v))))
        .collect();
    assert!(
        failures.is_empty(),
        "{name}: {} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(msg()) }
}

fn cvn_of(number: u8) -> Result<Cvn, String> {
    Cvn::ALL
        .into_iter()
        .find(|c| c.number() == number)
        .ok_or(format!("unknown CVN {number}"))
}

fn option_of(s: &str) -> MkDerivation {
    if s == "B" {
        MkDerivation::OptionB
    } else {
        MkDerivation::OptionA
    }
}

fn psn_of(s: &str) -> u8 {
    u8::from_str_radix(s, 16).unwrap_or_else(|e| panic!("PSN {s:?}: {e}"))
}

fn check_kcv(what: &str, kcv: emv_crypto::Kcv, expected: &Option<String>) -> Result<(), String> {
    match expected {
        Some(x) => ensure(kcv.starts_with(&unhex(x)), || {
            format!("{what} KCV {kcv}, expected {x}")
        }),
        None => Ok(()),
    }
}

#[derive(Deserialize, Clone, Debug, PartialEq)]
struct ArpcIn {
    arc: Option<String>,
    csu: Option<String>,
    proprietary: Option<String>,
}

impl ArpcIn {
    fn response(&self) -> ArpcResponse {
        match (&self.arc, &self.csu) {
            (Some(arc), _) => ArpcResponse::Arc(unhex(arc).try_into().unwrap()),
            (None, Some(csu)) => ArpcResponse::Csu {
                csu: unhex(csu).try_into().unwrap(),
                proprietary: self.proprietary.as_deref().map(unhex).unwrap_or_default(),
            },
            (None, None) => panic!("arpc_response holds neither arc nor csu"),
        }
    }
}

/// A transaction's data elements by tag.
#[derive(Clone, Debug)]
struct Tags(BTreeMap<Tag, Vec<u8>>);

impl Tags {
    fn from_json(map: &BTreeMap<String, String>) -> Self {
        Self(
            map.iter()
                .map(|(k, v)| (Tag::from_str(k).unwrap(), unhex(v)))
                .collect(),
        )
    }

    fn get(&self, tag: Tag) -> Option<&[u8]> {
        self.0.get(&tag).map(Vec::as_slice)
    }

    fn with(&self, tag: u32, value: &[u8]) -> Self {
        let mut t = self.clone();
        t.0.insert(Tag(tag), value.to_vec());
        t
    }
}

#[derive(Deserialize, Debug)]
struct CvnVector {
    id: String,
    #[expect(dead_code, reason = "provenance, read by people")]
    source: String,
    cvn: u8,
    imk: Option<String>,
    imk_kcv: Option<String>,
    pan: Option<String>,
    psn: Option<String>,
    mk_derivation: Option<String>,
    icc_mk: Option<String>,
    icc_mk_kcv: Option<String>,
    session_key: Option<String>,
    session_key_kcv: Option<String>,
    arpc_key_kcv: Option<String>,
    tags: BTreeMap<String, String>,
    arqc: String,
    arpc_response: ArpcIn,
    issuer_authentication_data: String,
}

impl CvnVector {
    fn icc_mk(&self) -> Result<MasterKey, String> {
        let Some(imk_hex) = &self.imk else {
            // AES vectors give the ICC master key itself.
            let bytes = unhex(self.icc_mk.as_deref().ok_or("no imk and no icc_mk")?);
            let alg = match bytes.len() {
                16 => KeyAlgorithm::Aes128,
                24 => KeyAlgorithm::Aes192,
                _ => KeyAlgorithm::Aes256,
            };
            let mk = MasterKey::new(alg, &bytes).map_err(|e| e.to_string())?;
            check_kcv("ICC MK", mk.kcv(), &self.icc_mk_kcv)?;
            return Ok(mk);
        };
        let imk =
            MasterKey::new(KeyAlgorithm::Tdes2, &unhex(imk_hex)).map_err(|e| e.to_string())?;
        check_kcv("IMK", imk.kcv(), &self.imk_kcv)?;
        let pan = self.pan.as_deref().ok_or("no pan")?;
        let psn = psn_of(self.psn.as_deref().unwrap_or("00"));
        let option = option_of(self.mk_derivation.as_deref().unwrap_or("A"));
        let mk = derive_icc_master_key_with(&imk, pan, psn, option).map_err(|e| e.to_string())?;
        // The option each version prescribes is the one its vectors were made with.
        if let Some(cvn) = Cvn::ALL.into_iter().find(|c| c.number() == self.cvn) {
            ensure(cvn.mk_derivation(pan.len()) == option, || {
                format!(
                    "CVN {} prescribes {} for {} digits",
                    self.cvn,
                    cvn.mk_derivation(pan.len()),
                    pan.len()
                )
            })?;
            let auto = derive_icc_master_key(cvn, &imk, pan, psn).map_err(|e| e.to_string())?;
            ensure(auto.expose_secret() == mk.expose_secret(), || {
                "per-CVN derivation differs".into()
            })?;
        }
        if let Some(x) = &self.icc_mk {
            ensure(hex::encode_upper(mk.expose_secret()) == *x, || {
                "ICC MK differs".into()
            })?;
        }
        check_kcv("ICC MK", mk.kcv(), &self.icc_mk_kcv)?;
        Ok(mk)
    }

    fn check(&self) -> Result<(), String> {
        let cvn = cvn_of(self.cvn)?;
        let mk = self.icc_mk()?;
        let tags = Tags::from_json(&self.tags);
        let lookup = |t: Tag| tags.get(t);
        let iad = tags.get(Tag(0x9F10)).ok_or("no 9F10")?;
        ensure(Cvn::from_iad(iad) == Ok(cvn), || {
            format!("IAD reads as {:?}", Cvn::from_iad(iad))
        })?;

        // Session keys and their KCVs.
        let atc: [u8; 2] = tags
            .get(Tag(0x9F36))
            .ok_or("no ATC")?
            .try_into()
            .map_err(|_| "ATC")?;
        let un: [u8; 4] = tags
            .get(Tag(0x9F37))
            .ok_or("no UN")?
            .try_into()
            .map_err(|_| "UN")?;
        let common = derive_ac_session_key(&mk, atc).map_err(|e| e.to_string())?;
        let ac_key = match cvn.session_key_method() {
            SessionKeyMethod::None => None,
            SessionKeyMethod::Common => {
                Some(derive_ac_session_key(&mk, atc).map_err(|e| e.to_string())?)
            }
            SessionKeyMethod::Mastercard => {
                Some(derive_mastercard_session_key(&mk, atc, un).map_err(|e| e.to_string())?)
            }
        };
        let ac_kcv = ac_key.as_ref().map_or(mk.kcv(), |k| k.kcv());
        check_kcv("AC session key", ac_kcv, &self.session_key_kcv)?;
        if let (Some(x), Some(k)) = (&self.session_key, &ac_key) {
            ensure(hex::encode_upper(k.expose_secret()) == *x, || {
                "session key differs".into()
            })?;
        }
        let arpc_kcv = match cvn.arpc_key_method() {
            SessionKeyMethod::None => mk.kcv(),
            _ => common.kcv(),
        };
        check_kcv("ARPC key", arpc_kcv, &self.arpc_key_kcv)?;

        // The cryptogram, both ways.
        let arqc = generate_ac(cvn, &mk, &lookup).map_err(|e| e.to_string())?;
        ensure(hex::encode_upper(arqc) == self.arqc, || {
            format!("ARQC {} expected {}", hex::encode_upper(arqc), self.arqc)
        })?;
        ensure(
            verify_ac(cvn, &mk, &lookup, &unhex(&self.arqc)).is_ok(),
            || "verify_ac failed".into(),
        )?;
        let mut bad = arqc;
        bad[7] ^= 0x01;
        ensure(
            verify_ac(cvn, &mk, &lookup, &bad) == Err(CryptogramMismatch),
            || "flipped ARQC verified".into(),
        )?;
        // The data set is what the session key MACs.
        let data = ac_data(cvn, &lookup).map_err(|e| e.to_string())?;
        let mac = ac_key.as_ref().map_or_else(
            || mk.mac(&data, cvn.padding()),
            |k| k.mac(&data, cvn.padding()),
        );
        ensure(mac == arqc, || {
            "ac_data + MAC differs from generate_ac".into()
        })?;

        // The ARPC, both ways.
        let response = self.arpc_response.response();
        let d91 = issuer_authentication_data(cvn, &mk, &lookup, &arqc, response.clone())
            .map_err(|e| e.to_string())?;
        ensure(
            hex::encode_upper(&d91) == self.issuer_authentication_data,
            || {
                format!(
                    "91 = {} expected {}",
                    hex::encode_upper(&d91),
                    self.issuer_authentication_data
                )
            },
        )?;
        let back = verify_issuer_authentication_data(cvn, &mk, &lookup, &arqc, &d91)
            .map_err(|_| "verify_issuer_authentication_data failed".to_string())?;
        ensure(back == response, || "returned response differs".into())
    }
}

#[test]
fn cvn_hsm_vectors() {
    let v: Vec<CvnVector> = load("cvn_hsm.json");
    assert_eq!(v.len(), 6);
    run_all("cvn_hsm.json", &v, |v| &v.id, CvnVector::check);
}

#[test]
fn cvn_pyemv_vectors() {
    let v: Vec<CvnVector> = load("cvn_pyemv.json");
    assert!(v.len() >= 40);
    for cvn in Cvn::ALL {
        assert!(
            v.iter().any(|x| x.cvn == cvn.number()),
            "no vector for {cvn}"
        );
    }
    assert!(
        v.iter()
            .any(|x| x.pan.as_ref().is_some_and(|p| p.len() == 19))
    );
    run_all("cvn_pyemv.json", &v, |v| &v.id, CvnVector::check);
}

#[test]
fn aes_book2_vectors() {
    let v: Vec<CvnVector> = load("aes_book2.json");
    run_all("aes_book2.json", &v, |v| &v.id, CvnVector::check);
}

#[derive(Deserialize, Debug)]
struct KdVector {
    id: String,
    #[expect(dead_code, reason = "provenance, read by people")]
    source: String,
    imk: String,
    imk_kcv: Option<String>,
    pan: String,
    psn: String,
    mk_derivation: String,
    icc_mk_kcv: Option<String>,
    r: String,
    session_key_kcv: Option<String>,
    data: String,
    padding: u8,
    ac: String,
    arpc_key: String,
    arpc_response: ArpcIn,
    arpc: String,
}

impl KdVector {
    fn check(&self) -> Result<(), String> {
        let imk =
            MasterKey::new(KeyAlgorithm::Tdes2, &unhex(&self.imk)).map_err(|e| e.to_string())?;
        check_kcv("IMK", imk.kcv(), &self.imk_kcv)?;
        let mk = derive_icc_master_key_with(
            &imk,
            &self.pan,
            psn_of(&self.psn),
            option_of(&self.mk_derivation),
        )
        .map_err(|e| e.to_string())?;
        check_kcv("ICC MK", mk.kcv(), &self.icc_mk_kcv)?;
        let sk = derive_common_session_key(&mk, &unhex(&self.r)).map_err(|e| e.to_string())?;
        check_kcv("session key", sk.kcv(), &self.session_key_kcv)?;
        let padding = if self.padding == 1 {
            Padding::Method1
        } else {
            Padding::Method2
        };
        let ac = sk.mac(&unhex(&self.data), padding);
        ensure(hex::encode_upper(ac) == self.ac, || {
            format!("AC {}", hex::encode_upper(ac))
        })?;
        let response = self.arpc_response.response();
        let arpc = match self.arpc_key.as_str() {
            "icc_mk" => mk.arpc(&ac, &response),
            _ => sk.arpc(&ac, &response),
        }
        .map_err(|e| e.to_string())?;
        ensure(hex::encode_upper(&arpc) == self.arpc, || {
            format!("ARPC {}", hex::encode_upper(&arpc))
        })
    }
}

#[test]
fn kd_hsm_vectors() {
    let v: Vec<KdVector> = load("kd_hsm.json");
    run_all("kd_hsm.json", &v, |v| &v.id, KdVector::check);
}

#[derive(Deserialize, Debug)]
struct MacVector {
    id: String,
    #[expect(dead_code, reason = "provenance, read by people")]
    source: String,
    key: String,
    key_kcv: String,
    data: String,
    padding: u8,
    mac: String,
}

impl MacVector {
    fn check(&self) -> Result<(), String> {
        let key: [u8; 16] = unhex(&self.key).try_into().map_err(|_| "key length")?;
        let key = Secret::new(key);
        let padding = if self.padding == 1 {
            Padding::Method1
        } else {
            Padding::Method2
        };
        let data = unhex(&self.data);
        let prepared = RetailMacKey::new(&key);
        let mac = prepared.mac(&data, padding);
        ensure(hex::encode_upper(mac) == self.mac, || {
            format!("MAC {}", hex::encode_upper(mac))
        })?;
        ensure(retail_mac(&key, &data, padding) == mac, || {
            "one-shot MAC differs".into()
        })?;
        ensure(prepared.verify(&data, padding, &mac), || {
            "verify failed".into()
        })?;
        let kcv = hex::encode_upper(&tdes_encrypt_block(&key, [0; 8])[..3]);
        ensure(kcv == self.key_kcv, || format!("KCV {kcv}"))?;
        let mk = MasterKey::new(KeyAlgorithm::Tdes2, key.expose()).map_err(|e| e.to_string())?;
        ensure(mk.kcv().to_string() == self.key_kcv, || {
            "MasterKey KCV differs".into()
        })
    }
}

#[test]
fn retail_mac_vectors() {
    let v: Vec<MacVector> = load("mac_pyemv.json");
    run_all("mac_pyemv.json", &v, |v| &v.id, MacVector::check);
}

// --- Negative space ---------------------------------------------------------------------------

fn hsm(id: &str) -> (CvnVector, MasterKey, Tags) {
    let v: Vec<CvnVector> = load("cvn_hsm.json");
    let v = v.into_iter().find(|v| v.id == id).unwrap();
    let mk = v.icc_mk().unwrap();
    let tags = Tags::from_json(&v.tags);
    (v, mk, tags)
}

/// The IAD bytes a version MACs (the DKI, CVN and DAC bytes are not in the data set).
fn covered_iad_bytes(cvn: Cvn, len: usize) -> Vec<usize> {
    match cvn {
        Cvn::Visa10 => (3..7).collect(),
        Cvn::Visa18 | Cvn::Visa22 => (0..len).collect(),
        Cvn::Mastercard16 | Cvn::Mastercard20 => (2..8).collect(),
        Cvn::Mastercard17 | Cvn::Mastercard21 => (2..8).chain(10..18).collect(),
    }
}

#[test]
fn every_bit_flip_in_amount_un_atc_iad_fails_verification() {
    for id in [
        "hsm-visa10",
        "hsm-visa18",
        "hsm-mastercard16",
        "hsm-mastercard17",
        "hsm-mastercard20",
        "hsm-mastercard21",
    ] {
        let (v, mk, tags) = hsm(id);
        let cvn = cvn_of(v.cvn).unwrap();
        let arqc = unhex(&v.arqc);
        assert_eq!(verify_ac(cvn, &mk, &|t| tags.get(t), &arqc), Ok(()), "{id}");
        for tag in [0x9F02u32, 0x9F37, 0x9F36, 0x9F10] {
            let value = tags.get(Tag(tag)).unwrap().to_vec();
            let bytes: Vec<usize> = if tag == 0x9F10 {
                covered_iad_bytes(cvn, value.len())
            } else {
                (0..value.len()).collect()
            };
            for byte in bytes {
                for bit in 0..8 {
                    let mut flipped = value.clone();
                    flipped[byte] ^= 1 << bit;
                    let t = tags.with(tag, &flipped);
                    assert_eq!(
                        verify_ac(cvn, &mk, &|x| t.get(x), &arqc),
                        Err(CryptogramMismatch),
                        "{id}: flipping bit {bit} of byte {byte} of {tag:X} still verifies"
                    );
                }
            }
        }
    }
}

#[test]
fn every_bit_flip_in_issuer_authentication_data_fails() {
    for id in [
        "hsm-visa10",
        "hsm-visa18",
        "hsm-mastercard16",
        "hsm-mastercard21",
    ] {
        let (v, mk, tags) = hsm(id);
        let cvn = cvn_of(v.cvn).unwrap();
        let arqc: [u8; 8] = unhex(&v.arqc).try_into().unwrap();
        let d91 = unhex(&v.issuer_authentication_data);
        for i in 0..d91.len() * 8 {
            let mut bad = d91.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                verify_issuer_authentication_data(cvn, &mk, &|t| tags.get(t), &arqc, &bad),
                Err(CryptogramMismatch),
                "{id}: bit {i}"
            );
        }
        let mut other_arqc = arqc;
        other_arqc[0] ^= 0x80;
        assert!(
            verify_issuer_authentication_data(cvn, &mk, &|t| tags.get(t), &other_arqc, &d91)
                .is_err()
        );
    }
}

// --- Diagnosis --------------------------------------------------------------------------------

const IMK: &str = "0123456789ABCDEFFEDCBA9876543210";

fn imk() -> MasterKey {
    MasterKey::new(KeyAlgorithm::Tdes2, &unhex(IMK)).unwrap()
}

fn assert_no_key_material(d: &Diagnosis, keys: &[&MasterKey]) {
    let shown = format!("{d} {d:?}");
    let mut secrets = vec![IMK.to_string()];
    secrets.extend(keys.iter().map(|k| hex::encode_upper(k.expose_secret())));
    for s in secrets {
        for window in s.as_bytes().chunks(8) {
            let w = std::str::from_utf8(window).unwrap();
            assert!(
                !shown.to_uppercase().contains(w),
                "{shown:?} shows key material {w}"
            );
        }
    }
}

#[test]
fn diagnose_accepts_a_good_cryptogram() {
    let (v, mk, tags) = hsm("hsm-visa18");
    let d = diagnose(
        &imk(),
        "1234567890123456",
        0,
        None,
        &|t| tags.get(t),
        &unhex(&v.arqc),
    );
    assert_eq!(d, Diagnosis::Verifies { cvn: Cvn::Visa18 });
    assert!(d.verifies());
    assert_no_key_material(&d, &[&mk]);
}

#[test]
fn diagnose_finds_a_padding_swap() {
    let (_, mk, tags) = hsm("hsm-visa18");
    let lookup = |t| tags.get(t);
    // A card that pads with method 1 where CVN 18 says method 2.
    let data = ac_data(Cvn::Visa18, &lookup).unwrap();
    let sk = derive_ac_session_key(&mk, [0x00, 0x1C]).unwrap();
    let ac = sk.mac(&data, Padding::Method1);
    assert!(verify_ac(Cvn::Visa18, &mk, &lookup, &ac).is_err());
    let d = diagnose(&imk(), "1234567890123456", 0, None, &lookup, &ac);
    assert_eq!(
        d,
        Diagnosis::Padding {
            cvn: Cvn::Visa18,
            expected: Padding::Method2,
            actual: Padding::Method1
        }
    );
    assert!(
        d.to_string()
            .contains("verifies with padding method 1 instead of 2"),
        "{d}"
    );
    assert_no_key_material(&d, &[&mk]);
}

#[test]
fn diagnose_finds_an_altered_atc() {
    for id in ["hsm-visa18", "hsm-mastercard16", "hsm-visa10"] {
        let (v, mk, tags) = hsm(id);
        let cvn = cvn_of(v.cvn).unwrap();
        let card = tags.with(0x9F36, &[0x00, 0x11]);
        let ac = generate_ac(cvn, &mk, &|t| card.get(t)).unwrap();
        let host = tags.with(0x9F36, &[0x00, 0x12]);
        let d = diagnose(&imk(), "1234567890123456", 0, None, &|t| host.get(t), &ac);
        assert_eq!(
            d,
            Diagnosis::Atc {
                presented: 0x12,
                actual: 0x11,
                scope: AtcScope::Both
            },
            "{id}"
        );
        assert_eq!(
            d.to_string(),
            "verifies with ATC 0x0011 instead of 0x0012: the ATC in the data set was altered"
        );
        assert_no_key_material(&d, &[&mk]);
    }
}

#[test]
fn diagnose_finds_an_atc_altered_only_in_the_data_set() {
    let (_, mk, tags) = hsm("hsm-mastercard20");
    // The card derived its session key from ATC 001C but the data set says 001D.
    let data = ac_data(Cvn::Mastercard20, &|t| tags.get(t)).unwrap();
    let sk = derive_ac_session_key(&mk, [0x00, 0x1C]).unwrap();
    let ac = sk.mac(&data, Padding::Method2);
    let host = tags.with(0x9F36, &[0x00, 0x1D]);
    let mut host_data = data.clone();
    host_data[31..33].copy_from_slice(&[0x00, 0x1D]);
    assert_eq!(
        ac_data(Cvn::Mastercard20, &|t| host.get(t)).unwrap(),
        host_data
    );
    let d = diagnose(&imk(), "1234567890123456", 0, None, &|t| host.get(t), &ac);
    assert_eq!(
        d,
        Diagnosis::Atc {
            presented: 0x1D,
            actual: 0x1C,
            scope: AtcScope::Both
        }
    );
    // Now only the session key used another ATC.
    let sk_other = derive_ac_session_key(&mk, [0x00, 0x1B]).unwrap();
    let ac = sk_other.mac(&data, Padding::Method2);
    let d = diagnose(&imk(), "1234567890123456", 0, None, &|t| tags.get(t), &ac);
    assert_eq!(
        d,
        Diagnosis::Atc {
            presented: 0x1C,
            actual: 0x1B,
            scope: AtcScope::SessionKeyOnly
        }
    );
}

#[test]
fn diagnose_finds_a_wrong_cvn() {
    // The card computes CVN 17 (counters included); the host is configured for CVN 16.
    let (v, mk, tags) = hsm("hsm-mastercard17");
    let d = diagnose(
        &imk(),
        "1234567890123456",
        0,
        Some(Cvn::Mastercard16),
        &|t| tags.get(t),
        &unhex(&v.arqc),
    );
    assert_eq!(
        d,
        Diagnosis::OtherCvn {
            expected: Cvn::Mastercard16,
            actual: Cvn::Mastercard17
        }
    );
    let text = d.to_string();
    assert!(
        text.starts_with("cryptogram verifies as Mastercard CVN 17 instead of Mastercard CVN 16"),
        "{text}"
    );
    assert!(text.contains("counters"), "{text}");
    assert_no_key_material(&d, &[&mk]);

    // The IAD claims CVN 20 but the card used CVN 21; no hint.
    let lying = tags.with(0x9F10, &unhex("0114A00003220000000000000000000322FF"));
    let ac = generate_ac(Cvn::Mastercard21, &mk, &|t| lying.get(t)).unwrap();
    let d = diagnose(&imk(), "1234567890123456", 0, None, &|t| lying.get(t), &ac);
    assert_eq!(
        d,
        Diagnosis::OtherCvn {
            expected: Cvn::Mastercard20,
            actual: Cvn::Mastercard21
        }
    );
}

#[test]
fn diagnose_finds_a_session_key_method() {
    // Mastercard CVN 16's data and padding, but the common session key.
    let (_, mk, tags) = hsm("hsm-mastercard16");
    let data = ac_data(Cvn::Mastercard16, &|t| tags.get(t)).unwrap();
    let ac = derive_ac_session_key(&mk, [0x00, 0x1C])
        .unwrap()
        .mac(&data, Padding::Method2);
    // CVN 20 has exactly that shape, so the version is named first.
    let d = diagnose(&imk(), "1234567890123456", 0, None, &|t| tags.get(t), &ac);
    assert_eq!(
        d,
        Diagnosis::OtherCvn {
            expected: Cvn::Mastercard16,
            actual: Cvn::Mastercard20
        }
    );
    assert!(
        d.to_string()
            .contains("session key: the EMV common session key"),
        "{d}"
    );
    // With the ICC master key directly there is no such version.
    let ac = mk.mac(&data, Padding::Method2);
    let d = diagnose(&imk(), "1234567890123456", 0, None, &|t| tags.get(t), &ac);
    assert_eq!(
        d,
        Diagnosis::SessionKey {
            cvn: Cvn::Mastercard16,
            expected: SessionKeyMethod::Mastercard,
            actual: SessionKeyMethod::None
        }
    );
}

#[test]
fn diagnose_finds_psn_and_derivation_option() {
    let (_, _, tags) = hsm("hsm-visa18");
    let lookup = |t| tags.get(t);
    // The card's key was derived without the PSN.
    let card = derive_icc_master_key(Cvn::Visa18, &imk(), "1234567890123456", 0x00).unwrap();
    let ac = generate_ac(Cvn::Visa18, &card, &lookup).unwrap();
    let d = diagnose(&imk(), "1234567890123456", 0x01, None, &lookup, &ac);
    assert_eq!(
        d,
        Diagnosis::Psn {
            given: 0x01,
            actual: 0x00
        }
    );
    assert!(d.to_string().contains("PSN 00 instead of 01"), "{d}");
    assert_no_key_material(&d, &[&card]);
    // A 19-digit PAN personalised with option A.
    let pan = "4761739001010010123";
    let card = derive_icc_master_key_with(&imk(), pan, 0x01, MkDerivation::OptionA).unwrap();
    let ac = generate_ac(Cvn::Visa18, &card, &lookup).unwrap();
    let d = diagnose(&imk(), pan, 0x01, None, &lookup, &ac);
    assert_eq!(
        d,
        Diagnosis::KeyDerivation {
            expected: MkDerivation::OptionB,
            actual: MkDerivation::OptionA
        }
    );
    assert!(!d.to_string().contains("4761739"), "{d}");
}

#[test]
fn diagnose_finds_a_truncated_iad() {
    let (_, mk, tags) = hsm("hsm-visa18");
    // The card MACs its 7-byte IAD; the host received the IAD with 25 bytes of IDD appended.
    let ac = generate_ac(Cvn::Visa18, &mk, &|t| tags.get(t)).unwrap();
    let mut long = unhex("06011203A0B800");
    long.extend_from_slice(&[0x18; 25]);
    let host = tags.with(0x9F10, &long);
    let d = diagnose(&imk(), "1234567890123456", 0, None, &|t| host.get(t), &ac);
    assert_eq!(
        d,
        Diagnosis::IadTruncated {
            cvn: Cvn::Visa18,
            used: 7,
            presented: 32
        }
    );
    assert!(d.to_string().contains("first 7 of the 32 IAD bytes"), "{d}");
}

#[test]
fn diagnose_gives_up_on_an_altered_amount() {
    let (v, mk, tags) = hsm("hsm-visa18");
    let host = tags.with(0x9F02, &unhex("000000004001"));
    let d = diagnose(
        &imk(),
        "1234567890123456",
        0,
        None,
        &|t| host.get(t),
        &unhex(&v.arqc),
    );
    assert_eq!(d, Diagnosis::NoSingleComponent);
    assert_eq!(
        d.to_string(),
        "no single-component change explains the mismatch: wrong issuer master key, PAN/PSN, or \
         an altered amount/UN/data element"
    );
    assert_no_key_material(&d, &[&mk]);
}

#[test]
fn diagnose_reports_what_it_cannot_check() {
    let (v, _, tags) = hsm("hsm-visa18");
    let mut missing = tags.clone();
    missing.0.remove(&Tag(0x9F37));
    let d = diagnose(
        &imk(),
        "1234567890123456",
        0,
        None,
        &|t| missing.get(t),
        &unhex(&v.arqc),
    );
    assert_eq!(
        d,
        Diagnosis::CannotCheck(CryptoError::MissingTag(Tag(0x9F37)))
    );
    assert_eq!(
        d.to_string(),
        "cannot check the cryptogram: data element 9F37 is missing"
    );
    let unknown = tags.with(0x9F10, &unhex("06013303A0B800"));
    let d = diagnose(
        &imk(),
        "1234567890123456",
        0,
        None,
        &|t| unknown.get(t),
        &unhex(&v.arqc),
    );
    assert_eq!(
        d,
        Diagnosis::CannotCheck(CryptoError::UnknownCvn { value: Some(0x33) })
    );
}

#[test]
fn keys_debug_shows_only_algorithm_and_kcv() {
    let (_, mk, _) = hsm("hsm-visa10");
    let shown = format!("{mk:?} {:?}", imk());
    assert_eq!(
        shown,
        format!(
            "MasterKey {{ algorithm: Tdes2, kcv: Kcv({}) }} MasterKey {{ algorithm: Tdes2, kcv: Kcv(08D7B4) }}",
            mk.kcv()
        )
    );
}

/// `luk_pyemv.json`: limited-use keys for HCE (generated with pyemv).
#[derive(Deserialize)]
struct LukVector {
    id: String,
    #[allow(dead_code)]
    source: String,
    cvn: u8,
    token_mk: String,
    token_mk_kcv: String,
    key_index: u32,
    r: String,
    luk: String,
    luk_kcv: String,
    tags: BTreeMap<String, String>,
    arqc: String,
}

impl LukVector {
    fn check(&self) -> Result<(), String> {
        let mk = MasterKey::new(KeyAlgorithm::Tdes2, &unhex(&self.token_mk))
            .map_err(|e| e.to_string())?;
        check_kcv("token MK", mk.kcv(), &Some(self.token_mk_kcv.clone()))?;
        let r = emv_crypto::limited_use_key_r(self.key_index);
        ensure(hex::encode_upper(&r[..8]) == self.r, || {
            format!("R {} differs", hex::encode_upper(&r[..8]))
        })?;
        let luk =
            emv_crypto::derive_limited_use_key(&mk, self.key_index).map_err(|e| e.to_string())?;
        ensure(hex::encode_upper(luk.expose_secret()) == self.luk, || {
            "LUK differs".into()
        })?;
        check_kcv("LUK", luk.kcv(), &Some(self.luk_kcv.clone()))?;
        // The LUK in MK-AC's place makes pyemv's cryptogram.
        let cvn = cvn_of(self.cvn)?;
        let tags = Tags::from_json(&self.tags);
        let lookup = |t: Tag| tags.get(t);
        let arqc = generate_ac(cvn, &luk, &lookup).map_err(|e| e.to_string())?;
        ensure(hex::encode_upper(arqc) == self.arqc, || {
            format!("ARQC {} differs", hex::encode_upper(arqc))
        })?;
        // Another index's key does not.
        let other = emv_crypto::derive_limited_use_key(&mk, self.key_index.wrapping_add(1))
            .map_err(|e| e.to_string())?;
        ensure(
            verify_ac(cvn, &other, &lookup, &unhex(&self.arqc)).is_err(),
            || "the next key verifies too".into(),
        )
    }
}

#[test]
fn luk_pyemv_vectors() {
    let vectors: Vec<LukVector> = load("luk_pyemv.json");
    run_all("luk_pyemv.json", &vectors, |v| &v.id, LukVector::check);
}
