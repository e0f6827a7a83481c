//! The jose crate's integration tests: published vectors (with provenance, in `tests/vectors/`),
//! round trips, tampering, algorithm confusion, and the two hooks the jwcrypto interop script
//! (`scripts/interop/jose_check.py`) drives.
//!
//! No clock, no network, no RNG: every "random" byte here is fixed or derived from a seed.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a bad vector file or key must stop the run"
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64ct::{Base64UrlUnpadded, Encoding};
use jose::jwe::{self, Enc, KeyAlg, Suite};
use jose::jws::{self, HmacKey, VerifyKey};
use jose::{HeaderParams, JoseError, Jwk, KeyError, Part};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Helpers

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(text).unwrap()
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

fn load<T: for<'de> Deserialize<'de>>(name: &str) -> T {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where a vector comes from. Every vector file entry carries one.
#[derive(Deserialize, Debug)]
struct Source {
    document: String,
    section: String,
    url: String,
}

impl Source {
    /// Every vector names its document, section and URL.
    fn check(&self, id: &str) {
        assert!(!self.document.is_empty(), "{id}: source has no document");
        assert!(!self.section.is_empty(), "{id}: source has no section");
        assert!(self.url.starts_with("https://"), "{id}: source has no URL");
    }
}

fn jwk(value: &Value) -> Jwk {
    Jwk::from_json(&value.to_string()).unwrap()
}

/// The recipient key used by the hand-written tests below.
fn recipient() -> Jwk {
    Jwk::from_private_bytes(&[0x5a; 32])
        .unwrap()
        .with_kid("device-se-1")
}

const EPHEMERAL: [u8; 32] = [0x17; 32];
const CEK_256: [u8; 32] = [0x3c; 32];
const CEK_128: [u8; 16] = [0x3c; 16];
const IV: [u8; 12] = [0x09; 12];

fn wallet_jwe(plaintext: &[u8]) -> String {
    jwe::encrypt(
        plaintext,
        &recipient().to_public(),
        &HeaderParams::new().kid("device-se-1").cty("json"),
        &EPHEMERAL,
        &CEK_256,
        &IV,
    )
    .unwrap()
}

/// Replaces part `index` of a compact serialization.
fn with_part(compact: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = compact.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

/// Decodes part `index`, flips one bit of byte `byte`, re-encodes.
fn flip_bit(compact: &str, index: usize, byte: usize) -> String {
    let mut bytes = unb64(compact.split('.').nth(index).unwrap());
    bytes[byte] ^= 0x01;
    with_part(compact, index, &b64(&bytes))
}

/// Rewrites the protected header JSON (part 0) with `edit`.
fn edit_header(compact: &str, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    let mut header: serde_json::Map<String, Value> =
        serde_json::from_slice(&unb64(compact.split('.').next().unwrap())).unwrap();
    edit(&mut header);
    with_part(
        compact,
        0,
        &b64(Value::Object(header).to_string().as_bytes()),
    )
}

// ---------------------------------------------------------------------------------------------
// Published vectors

#[derive(Deserialize)]
struct KdfFile {
    vectors: Vec<KdfVector>,
}

#[derive(Deserialize)]
struct KdfVector {
    id: String,
    source: Source,
    alice_ephemeral: Value,
    bob: Value,
    algorithm_id: String,
    apu: String,
    apv: String,
    key_len: usize,
    derived_key: String,
}

/// RFC 7518 Appendix C: both parties derive the published key from the published keys.
#[test]
fn rfc7518_appendix_c_ecdh_es_key_agreement() {
    let file: KdfFile = load("ecdh_es_kdf.json");
    for v in &file.vectors {
        v.source.check(&v.id);
        let alice = jwk(&v.alice_ephemeral);
        let bob = jwk(&v.bob);
        let (apu, apv) = (unb64(&v.apu), unb64(&v.apv));
        let sender = jwe::derive_key_ecdh_es(
            &alice,
            &bob.to_public(),
            &v.algorithm_id,
            &apu,
            &apv,
            v.key_len,
        )
        .unwrap();
        let receiver = jwe::derive_key_ecdh_es(
            &bob,
            &alice.to_public(),
            &v.algorithm_id,
            &apu,
            &apv,
            v.key_len,
        )
        .unwrap();
        assert_eq!(b64(sender.expose()), v.derived_key, "{}", v.id);
        assert_eq!(b64(receiver.expose()), v.derived_key, "{}", v.id);
        assert_eq!(
            jwe::derive_key_ecdh_es(&alice.to_public(), &bob, &v.algorithm_id, &apu, &apv, 16)
                .unwrap_err(),
            JoseError::PrivateKeyRequired,
            "{}",
            v.id
        );
    }
}

#[derive(Deserialize)]
struct JweFile {
    vectors: Vec<JweVector>,
}

#[derive(Deserialize)]
struct JweVector {
    id: String,
    source: Source,
    recipient_key: Value,
    compact: String,
}

/// RFC 7520 section 5.4 is on P-384: the recipient key and the whole JWE are refused with an
/// error that names the curve (its content layer is replayed by a unit test in `jwe.rs`).
#[test]
fn rfc7520_section_5_4_is_refused_for_its_p384_keys() {
    let file: JweFile = load("jwe_published.json");
    for v in &file.vectors {
        v.source.check(&v.id);
        assert_eq!(
            Jwk::from_json(&v.recipient_key.to_string()).unwrap_err(),
            KeyError::UnsupportedCurve {
                crv: "P-384".into()
            },
            "{}",
            v.id
        );
        assert_eq!(
            jwe::decrypt(&v.compact, &recipient()).unwrap_err(),
            JoseError::Epk(KeyError::UnsupportedCurve {
                crv: "P-384".into()
            }),
            "{}",
            v.id
        );
    }
}

#[derive(Deserialize)]
struct JwsFile {
    vectors: Vec<JwsVector>,
}

#[derive(Deserialize)]
struct JwsVector {
    id: String,
    source: Source,
    alg: String,
    key: Value,
    compact: String,
    payload: String,
    reproducible: bool,
}

enum AnyKey {
    Ec(Jwk),
    Hmac(HmacKey),
}

impl AnyKey {
    fn from_jwk(value: &Value) -> Self {
        match value["kty"].as_str().unwrap() {
            "EC" => Self::Ec(jwk(value)),
            "oct" => Self::Hmac(HmacKey::new(&unb64(value["k"].as_str().unwrap())).unwrap()),
            other => panic!("unexpected kty {other}"),
        }
    }

    fn verify_key(&self) -> VerifyKey<'_> {
        match self {
            Self::Ec(key) => VerifyKey::Es256(key),
            Self::Hmac(key) => VerifyKey::Hs256(key),
        }
    }
}

/// RFC 7515 Appendix A.1 (HS256), A.3 (ES256) and RFC 7520 section 4.4 (HS256 with a kid).
#[test]
fn published_jws_vectors_verify() {
    let file: JwsFile = load("jws_published.json");
    for v in &file.vectors {
        v.source.check(&v.id);
        let key = AnyKey::from_jwk(&v.key);
        let (header, payload) = jws::verify(&v.compact, key.verify_key()).unwrap();
        assert_eq!(header.alg(), v.alg, "{}", v.id);
        assert_eq!(payload, v.payload.as_bytes(), "{}", v.id);

        let (input, _) = v.compact.rsplit_once('.').unwrap();
        match &key {
            AnyKey::Hmac(hmac) if v.reproducible => {
                let params = HeaderParams::new().kid(header.kid().unwrap());
                let ours = jws::sign_hs256(v.payload.as_bytes(), &params, hmac).unwrap();
                assert_eq!(
                    ours, v.compact,
                    "{}: signing must reproduce the vector",
                    v.id
                );
            }
            AnyKey::Ec(ec) => {
                // Our deterministic signature over the same signing input differs from the
                // RFC's (random nonce) but must verify, and the first two parts must match.
                let ours = jws::sign_es256(v.payload.as_bytes(), &HeaderParams::new(), ec).unwrap();
                assert!(ours.starts_with(input), "{}: {ours}", v.id);
                assert_ne!(ours, v.compact, "{}", v.id);
                jws::verify(&ours, VerifyKey::Es256(&ec.to_public())).unwrap();
            }
            AnyKey::Hmac(_) => {}
        }

        // One flipped payload bit and the vector no longer verifies.
        let tampered = flip_bit(&v.compact, 1, 0);
        assert_eq!(
            jws::verify(&tampered, key.verify_key()).unwrap_err(),
            JoseError::BadSignature,
            "{}",
            v.id
        );
    }
}

#[derive(Deserialize)]
struct JwkFile {
    vectors: Vec<JwkVector>,
}

#[derive(Deserialize)]
struct JwkVector {
    id: String,
    source: Source,
    jwk: Value,
    expect: String,
    thumbprint: Option<String>,
}

/// RFC 7517 Appendix A.1/A.2 keys parse (and their thumbprint matches jwcrypto's); RFC 7520's
/// P-521 and symmetric keys are refused with errors that say why.
#[test]
fn published_jwk_vectors() {
    let file: JwkFile = load("jwk_published.json");
    for v in &file.vectors {
        v.source.check(&v.id);
        let parsed = Jwk::from_json(&v.jwk.to_string());
        match v.expect.as_str() {
            "public" | "private" => {
                let key = parsed.unwrap();
                assert_eq!(key.is_private(), v.expect == "private", "{}", v.id);
                assert_eq!(key.kid(), v.jwk["kid"].as_str(), "{}", v.id);
                assert_eq!(Some(key.thumbprint()), v.thumbprint, "{}", v.id);
                // serde path: the same key, and serialization drops `d`.
                let via_serde: Jwk = serde_json::from_value(v.jwk.clone()).unwrap();
                let written = serde_json::to_value(&via_serde).unwrap();
                assert_eq!(written.get("d"), None, "{}", v.id);
                assert_eq!(written["x"], v.jwk["x"], "{}", v.id);
            }
            "unsupported_curve" => assert_eq!(
                parsed.unwrap_err(),
                KeyError::UnsupportedCurve {
                    crv: v.jwk["crv"].as_str().unwrap().into()
                },
                "{}",
                v.id
            ),
            "unsupported_key_type" => assert_eq!(
                parsed.unwrap_err(),
                KeyError::UnsupportedKeyType {
                    kty: v.jwk["kty"].as_str().unwrap().into()
                },
                "{}",
                v.id
            ),
            other => panic!("{}: unknown expectation {other}", v.id),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JWE: round trips

#[test]
fn jwe_round_trips_for_both_suites_and_all_sizes() {
    let suites = [
        (Suite::WALLET, &CEK_256[..]),
        (
            Suite {
                alg: KeyAlg::EcdhEsA128Kw,
                enc: Enc::A128Gcm,
            },
            &CEK_128[..],
        ),
        (
            Suite {
                alg: KeyAlg::EcdhEsA128Kw,
                enc: Enc::A256Gcm,
            },
            &CEK_256[..],
        ),
        (
            Suite {
                alg: KeyAlg::EcdhEsA256Kw,
                enc: Enc::A128Gcm,
            },
            &CEK_128[..],
        ),
    ];
    for (suite, cek) in suites {
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let plaintext: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let params = HeaderParams::new()
                .kid("device-se-1")
                .typ("JOSE")
                .apu(b"tsp")
                .apv(b"dev");
            let token = jwe::encrypt_with(
                suite,
                &plaintext,
                &recipient().to_public(),
                &params,
                &EPHEMERAL,
                cek,
                &IV,
            )
            .unwrap();
            let (header, decrypted) = jwe::decrypt(&token, &recipient()).unwrap();
            assert_eq!(decrypted, plaintext, "{suite:?} {len}");
            assert_eq!(header.alg(), suite.alg.name());
            assert_eq!(header.enc(), Some(suite.enc.name()));
            assert_eq!(header.kid(), Some("device-se-1"));
            assert_eq!(header.typ(), Some("JOSE"));
            assert_eq!(header.get("apu"), Some(&json!("dHNw")));
            assert_eq!(
                header.epk().unwrap().to_public_json(),
                Jwk::from_private_bytes(&EPHEMERAL)
                    .unwrap()
                    .to_public_json()
            );
            assert!(!header.epk().unwrap().is_private());
        }
    }
}

#[test]
fn jwe_output_is_a_function_of_its_inputs() {
    let token = wallet_jwe(b"hello");
    assert_eq!(token, wallet_jwe(b"hello"));
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 5);
    let header: Value = serde_json::from_slice(&unb64(parts[0])).unwrap();
    // alg, enc and epk first, then the caller's members in order.
    let keys: Vec<&str> = header
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 5);
    assert_eq!(header["alg"], "ECDH-ES+A256KW");
    assert_eq!(header["enc"], "A256GCM");
    assert_eq!(header["kid"], "device-se-1");
    assert_eq!(header["cty"], "json");
    assert!(unb64(parts[0]).starts_with(
        br#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"kty":"EC","crv":"P-256","x":""#
    ));
    assert_eq!(unb64(parts[1]).len(), 40);
    assert_eq!(unb64(parts[2]), IV);
    assert_eq!(unb64(parts[3]).len(), 5);
    assert_eq!(unb64(parts[4]).len(), 16);
}

#[test]
fn jwe_encrypt_checks_its_random_inputs() {
    let to = recipient().to_public();
    let params = HeaderParams::new();
    assert_eq!(
        jwe::encrypt(b"x", &to, &params, &EPHEMERAL, &CEK_128, &IV).unwrap_err(),
        JoseError::CekLength {
            expected: 32,
            found: 16
        }
    );
    assert_eq!(
        jwe::encrypt(b"x", &to, &params, &[0; 32], &CEK_256, &IV).unwrap_err(),
        JoseError::InvalidEphemeralSecret
    );
    assert_eq!(
        jwe::encrypt(b"x", &to, &params, &[0xff; 32], &CEK_256, &IV).unwrap_err(),
        JoseError::InvalidEphemeralSecret
    );
}

// ---------------------------------------------------------------------------------------------
// JWE: rejection

#[test]
fn jwe_each_tampered_part_is_refused() {
    let token = wallet_jwe(b"a secret for the secure element");
    // Part 0: a header that is still valid JSON with a valid alg, but different bytes (AAD).
    let header_changed = edit_header(&token, |h| {
        h.insert("kid".into(), json!("someone-else"));
    });
    assert_eq!(
        jwe::decrypt(&header_changed, &recipient()).unwrap_err(),
        JoseError::Decrypt
    );
    // Part 0: a flipped bit in the header bytes.
    assert!(jwe::decrypt(&flip_bit(&token, 0, 5), &recipient()).is_err());
    // Parts 1-4: encrypted key, IV, ciphertext, tag.
    for (index, part) in [
        (1, "encrypted key"),
        (2, "iv"),
        (3, "ciphertext"),
        (4, "tag"),
    ] {
        for byte in [0, 7] {
            assert_eq!(
                jwe::decrypt(&flip_bit(&token, index, byte), &recipient()).unwrap_err(),
                JoseError::Decrypt,
                "{part} byte {byte}"
            );
        }
    }
    // And the untouched token still decrypts.
    assert_eq!(
        jwe::decrypt(&token, &recipient()).unwrap().1,
        b"a secret for the secure element"
    );
}

#[test]
fn jwe_swapped_algorithms_are_refused() {
    let token = wallet_jwe(b"payload");
    let alg_swapped = edit_header(&token, |h| {
        h.insert("alg".into(), json!("ECDH-ES+A128KW"));
    });
    assert_eq!(
        jwe::decrypt(&alg_swapped, &recipient()).unwrap_err(),
        JoseError::Decrypt
    );
    let enc_swapped = edit_header(&token, |h| {
        h.insert("enc".into(), json!("A128GCM"));
    });
    assert_eq!(
        jwe::decrypt(&enc_swapped, &recipient()).unwrap_err(),
        JoseError::Length {
            part: Part::EncryptedKey,
            expected: 24,
            found: 40
        }
    );
    for alg in [
        "ECDH-ES",
        "ECDH-ES+A192KW",
        "RSA-OAEP",
        "dir",
        "none",
        "ecdh-es+a256kw",
    ] {
        let edited = edit_header(&token, |h| {
            h.insert("alg".into(), json!(alg));
        });
        assert_eq!(
            jwe::decrypt(&edited, &recipient()).unwrap_err(),
            JoseError::UnsupportedAlgorithm { alg: alg.into() }
        );
    }
    for enc in ["A128CBC-HS256", "A192GCM", "a256gcm"] {
        let edited = edit_header(&token, |h| {
            h.insert("enc".into(), json!(enc));
        });
        assert_eq!(
            jwe::decrypt(&edited, &recipient()).unwrap_err(),
            JoseError::UnsupportedEncryption { enc: enc.into() }
        );
    }
}

#[test]
fn jwe_refused_headers() {
    let token = wallet_jwe(b"payload");
    let cases: Vec<(&str, Value, JoseError)> = vec![
        (
            "zip",
            json!("DEF"),
            JoseError::UnsupportedHeader { member: "zip" },
        ),
        (
            "crit",
            json!(["exp"]),
            JoseError::UnsupportedHeader { member: "crit" },
        ),
        (
            "crit",
            json!([]),
            JoseError::UnsupportedHeader { member: "crit" },
        ),
        (
            "apu",
            json!("not base64!"),
            JoseError::InvalidHeader { member: "apu" },
        ),
        ("apv", json!(12), JoseError::InvalidHeader { member: "apv" }),
        (
            "epk",
            json!("key"),
            JoseError::InvalidHeader { member: "epk" },
        ),
        (
            "enc",
            json!(256),
            JoseError::InvalidHeader { member: "enc" },
        ),
    ];
    for (member, value, expected) in cases {
        let edited = edit_header(&token, |h| {
            h.insert(member.into(), value.clone());
        });
        assert_eq!(
            jwe::decrypt(&edited, &recipient()).unwrap_err(),
            expected,
            "{member}: {value}"
        );
    }
    for member in ["alg", "enc", "epk"] {
        let edited = edit_header(&token, |h| {
            h.remove(member);
        });
        assert_eq!(
            jwe::decrypt(&edited, &recipient()).unwrap_err(),
            JoseError::MissingHeader { member },
        );
    }
}

#[test]
fn jwe_epk_off_the_curve_is_refused() {
    let token = wallet_jwe(b"payload");
    // (x, y + 1): not on P-256. Invalid-curve attacks send exactly such points.
    let edited = edit_header(&token, |h| {
        let epk = h.get_mut("epk").unwrap().as_object_mut().unwrap();
        let mut y = unb64(epk["y"].as_str().unwrap());
        y[31] = y[31].wrapping_add(1);
        epk.insert("y".into(), json!(b64(&y)));
    });
    assert_eq!(
        jwe::decrypt(&edited, &recipient()).unwrap_err(),
        JoseError::Epk(KeyError::NotOnCurve)
    );
    // The point at x = 0 with a made-up y, and an epk on another curve.
    let zero = edit_header(&token, |h| {
        h.insert(
            "epk".into(),
            json!({"kty": "EC", "crv": "P-256", "x": b64(&[0; 32]), "y": b64(&[0; 32])}),
        );
    });
    assert_eq!(
        jwe::decrypt(&zero, &recipient()).unwrap_err(),
        JoseError::Epk(KeyError::NotOnCurve)
    );
    let other_curve = edit_header(&token, |h| {
        h["epk"]["crv"] = json!("secp256k1");
    });
    assert_eq!(
        jwe::decrypt(&other_curve, &recipient()).unwrap_err(),
        JoseError::Epk(KeyError::UnsupportedCurve {
            crv: "secp256k1".into()
        })
    );
}

#[test]
fn jwe_format_errors_name_the_part() {
    let token = wallet_jwe(b"payload");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(
        jwe::decrypt(&parts[..4].join("."), &recipient()).unwrap_err(),
        JoseError::PartCount {
            expected: 5,
            found: 4
        }
    );
    assert_eq!(
        jwe::decrypt(&format!("{token}.x"), &recipient()).unwrap_err(),
        JoseError::PartCount {
            expected: 5,
            found: 6
        }
    );
    assert_eq!(
        jwe::decrypt("", &recipient()).unwrap_err(),
        JoseError::PartCount {
            expected: 5,
            found: 1
        }
    );
    for (index, part) in [
        (0, Part::Header),
        (1, Part::EncryptedKey),
        (2, Part::Iv),
        (3, Part::Ciphertext),
        (4, Part::Tag),
    ] {
        let bad = with_part(&token, index, &format!("{}=", parts[index]));
        assert_eq!(
            jwe::decrypt(&bad, &recipient()).unwrap_err(),
            JoseError::Base64 { part }
        );
    }
    assert_eq!(
        jwe::decrypt(&with_part(&token, 2, &b64(&[0; 16])), &recipient()).unwrap_err(),
        JoseError::Length {
            part: Part::Iv,
            expected: 12,
            found: 16
        }
    );
    assert_eq!(
        jwe::decrypt(&with_part(&token, 4, &b64(&[0; 12])), &recipient()).unwrap_err(),
        JoseError::Length {
            part: Part::Tag,
            expected: 16,
            found: 12
        }
    );
    assert_eq!(
        jwe::decrypt(&with_part(&token, 1, ""), &recipient()).unwrap_err(),
        JoseError::Length {
            part: Part::EncryptedKey,
            expected: 40,
            found: 0
        }
    );
    assert_eq!(
        jwe::decrypt(&with_part(&token, 0, &b64(b"[1]")), &recipient()).unwrap_err(),
        JoseError::HeaderNotAnObject
    );
}

#[test]
fn jwe_wrong_key_is_opaque_and_public_key_is_a_caller_error() {
    let token = wallet_jwe(b"payload");
    let stranger = Jwk::from_private_bytes(&[0x66; 32]).unwrap();
    assert_eq!(
        jwe::decrypt(&token, &stranger).unwrap_err(),
        JoseError::Decrypt
    );
    assert_eq!(
        jwe::decrypt(&token, &recipient().to_public()).unwrap_err(),
        JoseError::PrivateKeyRequired
    );
}

#[test]
fn errors_and_debug_never_show_secrets() {
    let key = recipient();
    let d_text = b64(&[0x5a; 32]);
    assert!(!format!("{key:?}").contains(&d_text));
    let token = wallet_jwe(b"TOP-SECRET-PLAINTEXT");
    let stranger = Jwk::from_private_bytes(&[0x66; 32]).unwrap();
    let error = jwe::decrypt(&token, &stranger).unwrap_err();
    for text in [format!("{error}"), format!("{error:?}")] {
        assert!(!text.contains("TOP-SECRET"), "{text}");
        assert!(!text.contains(&d_text), "{text}");
    }
    assert_eq!(error.to_string(), "JWE does not decrypt");
}

// ---------------------------------------------------------------------------------------------
// JWS

fn signer() -> Jwk {
    Jwk::from_private_bytes(&[0x21; 32])
        .unwrap()
        .with_kid("attestation-1")
}

fn hmac_key() -> HmacKey {
    HmacKey::new(&[0x77; 32]).unwrap()
}

#[test]
fn jws_round_trips() {
    let params = HeaderParams::new().kid("attestation-1").typ("JWT");
    let es = jws::sign_es256(b"{\"n\":1}", &params, &signer()).unwrap();
    let (header, payload) = jws::verify(&es, VerifyKey::Es256(&signer().to_public())).unwrap();
    assert_eq!(
        (header.alg(), header.kid(), payload.as_slice()),
        ("ES256", Some("attestation-1"), &b"{\"n\":1}"[..])
    );
    assert_eq!(unb64(es.rsplit('.').next().unwrap()).len(), 64);

    let hs = jws::sign_hs256(b"", &params, &hmac_key()).unwrap();
    let (header, payload) = jws::verify(&hs, VerifyKey::Hs256(&hmac_key())).unwrap();
    assert_eq!((header.alg(), payload.len()), ("HS256", 0));
}

#[test]
fn jws_alg_none_is_never_accepted() {
    let none_header = b64(br#"{"alg":"none"}"#);
    for token in [
        format!("{none_header}.{}.", b64(b"{}")),
        format!("{none_header}.{}.{}", b64(b"{}"), b64(&[0; 64])),
    ] {
        for key in [VerifyKey::Es256(&signer()), VerifyKey::Hs256(&hmac_key())] {
            assert_eq!(
                jws::verify(&token, key).unwrap_err(),
                JoseError::AlgorithmMismatch {
                    expected: key.alg(),
                    found: "none".into()
                }
            );
        }
    }
    let missing = format!("{}.{}.", b64(br#"{"typ":"JWT"}"#), b64(b"{}"));
    assert_eq!(
        jws::verify(&missing, VerifyKey::Es256(&signer())).unwrap_err(),
        JoseError::MissingHeader { member: "alg" }
    );
}

/// The classic confusion: an attacker "signs" HS256 with the verifier's EC public key as the
/// HMAC secret. Passing the EC key fixes ES256, so the token is refused before any MAC.
#[test]
fn jws_hs256_token_does_not_verify_against_an_ec_key() {
    let public = signer().to_public();
    let attacker_secret = HmacKey::new(public.to_public_json().as_bytes()).unwrap();
    let forged =
        jws::sign_hs256(b"{\"admin\":true}", &HeaderParams::new(), &attacker_secret).unwrap();
    assert_eq!(
        jws::verify(&forged, VerifyKey::Es256(&public)).unwrap_err(),
        JoseError::AlgorithmMismatch {
            expected: "ES256",
            found: "HS256".into()
        }
    );
    let es = jws::sign_es256(b"{}", &HeaderParams::new(), &signer()).unwrap();
    assert_eq!(
        jws::verify(&es, VerifyKey::Hs256(&hmac_key())).unwrap_err(),
        JoseError::AlgorithmMismatch {
            expected: "HS256",
            found: "ES256".into()
        }
    );
}

#[test]
fn jws_tampering_and_wrong_keys_are_refused() {
    let es = jws::sign_es256(
        b"{\"amount\":100}",
        &HeaderParams::new().kid("k"),
        &signer(),
    )
    .unwrap();
    let hs = jws::sign_hs256(
        b"{\"amount\":100}",
        &HeaderParams::new().kid("k"),
        &hmac_key(),
    )
    .unwrap();
    let other_ec = Jwk::from_private_bytes(&[0x22; 32]).unwrap();
    let other_hmac = HmacKey::new(&[0x78; 32]).unwrap();
    let cases: [(&str, VerifyKey<'_>, VerifyKey<'_>); 2] = [
        (
            &es,
            VerifyKey::Es256(&signer()),
            VerifyKey::Es256(&other_ec),
        ),
        (
            &hs,
            VerifyKey::Hs256(&hmac_key()),
            VerifyKey::Hs256(&other_hmac),
        ),
    ];
    for (token, right, wrong) in cases {
        assert!(jws::verify(token, right).is_ok());
        assert_eq!(
            jws::verify(token, wrong).unwrap_err(),
            JoseError::BadSignature
        );
        for (index, byte) in [(1, 0), (1, 5), (2, 0), (2, 31)] {
            assert_eq!(
                jws::verify(&flip_bit(token, index, byte), right).unwrap_err(),
                JoseError::BadSignature,
                "part {index} byte {byte}"
            );
        }
        let header_changed = edit_header(token, |h| {
            h.insert("kid".into(), json!("k2"));
        });
        assert_eq!(
            jws::verify(&header_changed, right).unwrap_err(),
            JoseError::BadSignature
        );
        let crit = edit_header(token, |h| {
            h.insert("crit".into(), json!(["exp"]));
        });
        assert_eq!(
            jws::verify(&crit, right).unwrap_err(),
            JoseError::UnsupportedHeader { member: "crit" }
        );
        assert_eq!(
            jws::verify(&format!("{token}.x"), right).unwrap_err(),
            JoseError::PartCount {
                expected: 3,
                found: 4
            }
        );
        assert_eq!(
            jws::verify(&with_part(token, 1, "a+b"), right).unwrap_err(),
            JoseError::Base64 {
                part: Part::Payload
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Interop with jwcrypto (scripts/interop/jose_check.py)

#[derive(Deserialize)]
struct JwcryptoFile {
    vectors: Vec<JwcryptoVector>,
}

#[derive(Deserialize)]
struct JwcryptoVector {
    id: String,
    source: Source,
    kind: String,
    alg: Option<String>,
    key: Value,
    thumbprint: Option<String>,
    compact: String,
    plaintext_hex: Option<String>,
    payload_hex: Option<String>,
    expect: String,
}

/// Checks one jwcrypto-made object; `Err` says what went wrong.
fn check_jwcrypto(v: &JwcryptoVector) -> Result<(), String> {
    match v.kind.as_str() {
        "jwe" => {
            let key = Jwk::from_json(&v.key.to_string()).map_err(|e| e.to_string())?;
            if let Some(expected) = &v.thumbprint
                && &key.thumbprint() != expected
            {
                return Err(format!(
                    "thumbprint {} != jwcrypto's {expected}",
                    key.thumbprint()
                ));
            }
            let result = jwe::decrypt(&v.compact, &key);
            match (v.expect.as_str(), result) {
                ("ok", Ok((header, plaintext))) => {
                    let expected = hex::decode(v.plaintext_hex.as_deref().unwrap_or_default())
                        .map_err(|e| e.to_string())?;
                    if plaintext != expected {
                        return Err("plaintext differs".into());
                    }
                    if header.epk().is_none() {
                        return Err("no epk".into());
                    }
                    Ok(())
                }
                ("unsupported_algorithm", Err(JoseError::UnsupportedAlgorithm { .. })) => Ok(()),
                (expect, other) => Err(format!("expected {expect}, got {other:?}")),
            }
        }
        "jws" => {
            let key = AnyKey::from_jwk(&v.key);
            if v.alg.as_deref() != Some(key.verify_key().alg()) {
                return Err(format!("alg {:?} does not match the key", v.alg));
            }
            let (_, payload) =
                jws::verify(&v.compact, key.verify_key()).map_err(|e| e.to_string())?;
            let expected = hex::decode(v.payload_hex.as_deref().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            if payload != expected {
                return Err("payload differs".into());
            }
            Ok(())
        }
        other => Err(format!("unknown kind {other}")),
    }
}

/// Replays the committed jwcrypto output, plus a fresh file when the interop script names one
/// (`JOSE_JWCRYPTO_VECTORS`); writes per-vector outcomes to `JOSE_IMPORT_RESULTS` when set.
#[test]
fn jwcrypto_vectors() {
    let mut files = vec![vectors_dir().join("jwcrypto_generated.json")];
    if let Some(fresh) = std::env::var_os("JOSE_JWCRYPTO_VECTORS") {
        files.push(PathBuf::from(fresh));
    }
    let mut outcomes = BTreeMap::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let file: JwcryptoFile = serde_json::from_str(&text).unwrap();
        assert!(!file.vectors.is_empty(), "{}", path.display());
        for v in &file.vectors {
            v.source.check(&v.id);
            let outcome = match check_jwcrypto(v) {
                Ok(()) => "ok".to_owned(),
                Err(why) => why,
            };
            outcomes.insert(v.id.clone(), outcome);
        }
    }
    if let Some(path) = std::env::var_os("JOSE_IMPORT_RESULTS") {
        std::fs::write(path, serde_json::to_string_pretty(&outcomes).unwrap()).unwrap();
    }
    let failures: Vec<_> = outcomes
        .iter()
        .filter(|(_, outcome)| *outcome != "ok")
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Deterministic "random" bytes for the export: SHA-256(seed || label || counter), so a run
/// with the same seed writes the same objects and the script can still vary them.
struct SeededBytes(String);

impl SeededBytes {
    fn bytes<const N: usize>(&self, label: &str) -> [u8; N] {
        let mut out = [0u8; N];
        let mut filled = 0;
        let mut counter = 0u32;
        while filled < N {
            let block = Sha256::new()
                .chain_update(self.0.as_bytes())
                .chain_update(label.as_bytes())
                .chain_update(counter.to_be_bytes())
                .finalize();
            let take = (N - filled).min(block.len());
            out[filled..filled + take].copy_from_slice(&block[..take]);
            filled += take;
            counter += 1;
        }
        out
    }

    fn vec(&self, label: &str, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        let mut i = 0;
        while out.len() < len {
            out.extend_from_slice(&self.bytes::<32>(&format!("{label}/{i}")));
            i += 1;
        }
        out.truncate(len);
        out
    }
}

/// Writes our JWEs and JWSs for jwcrypto to check (when `JOSE_EXPORT` names a file) and always
/// checks that they round-trip here.
#[test]
fn export_for_interop() {
    let seed = std::env::var("JOSE_EXPORT_SEED").unwrap_or_else(|_| "tapwallet-jose".into());
    let rng = SeededBytes(seed);
    let recipient = Jwk::from_private_bytes(&rng.bytes::<32>("recipient"))
        .unwrap()
        .with_kid("device-se-export");
    let signer = Jwk::from_private_bytes(&rng.bytes::<32>("signer"))
        .unwrap()
        .with_kid("attest-export");
    let hmac_bytes = rng.bytes::<32>("hmac");
    let hmac = HmacKey::new(&hmac_bytes).unwrap();

    let mut jwes = Vec::new();
    let suites = [
        (
            "jose-jwe-a256kw-a256gcm",
            Suite::WALLET,
            HeaderParams::new().kid("device-se-export").cty("json"),
        ),
        (
            "jose-jwe-a128kw-a128gcm-apu-apv",
            Suite {
                alg: KeyAlg::EcdhEsA128Kw,
                enc: Enc::A128Gcm,
            },
            HeaderParams::new()
                .typ("JOSE")
                .apu(b"tsp")
                .apv(&rng.bytes::<8>("apv")),
        ),
        (
            "jose-jwe-a256kw-a256gcm-custom-header",
            Suite::WALLET,
            HeaderParams::new()
                .custom("x-tapwallet-purpose", json!("provisioning"))
                .unwrap(),
        ),
    ];
    for (i, (id, suite, params)) in suites.into_iter().enumerate() {
        // Not 0 bytes: jwcrypto 1.6 reports an empty plaintext as "no recipient matched"
        // (it tests the plaintext for truthiness). Empty plaintexts round-trip in the tests above.
        let plaintext = rng.vec(&format!("plaintext/{i}"), [1, 33, 1000][i]);
        let cek = rng.bytes::<32>(&format!("cek/{i}"));
        let token = jwe::encrypt_with(
            suite,
            &plaintext,
            &recipient.to_public(),
            &params,
            &rng.bytes::<32>(&format!("ephemeral/{i}")),
            &cek[..suite.enc.key_len()],
            &rng.bytes::<12>(&format!("iv/{i}")),
        )
        .unwrap();
        let (header, decrypted) = jwe::decrypt(&token, &recipient).unwrap();
        assert_eq!(decrypted, plaintext, "{id}");
        let mut expected_header = serde_json::Map::new();
        for member in [
            "alg",
            "enc",
            "kid",
            "cty",
            "typ",
            "apu",
            "apv",
            "x-tapwallet-purpose",
        ] {
            if let Some(value) = header.get(member) {
                expected_header.insert(member.into(), value.clone());
            }
        }
        jwes.push(json!({
            "id": id,
            "compact": token,
            "plaintext_hex": hex::encode(&plaintext),
            "header": expected_header,
        }));
    }

    let payload = br#"{"event":"token.activated","tokenRef":"DWSPMC000000000132d72d4fcb2f4136a0532d3093ff1a45"}"#;
    let es = jws::sign_es256(
        payload,
        &HeaderParams::new().kid("attest-export").typ("JWT"),
        &signer,
    )
    .unwrap();
    let hs = jws::sign_hs256(payload, &HeaderParams::new().typ("JWT"), &hmac).unwrap();
    jws::verify(&es, VerifyKey::Es256(&signer.to_public())).unwrap();
    jws::verify(&hs, VerifyKey::Hs256(&hmac)).unwrap();
    let jwss = json!([
        {"id": "jose-jws-es256", "alg": "ES256", "key": serde_json::to_value(signer.to_public()).unwrap(),
         "compact": es, "payload_hex": hex::encode(payload)},
        {"id": "jose-jws-hs256", "alg": "HS256", "key": {"kty": "oct", "k": b64(&hmac_bytes)},
         "compact": hs, "payload_hex": hex::encode(payload)},
    ]);

    if let Some(path) = std::env::var_os("JOSE_EXPORT") {
        let private: Value =
            serde_json::from_str(recipient.to_private_json().unwrap().expose()).unwrap();
        let export = json!({
            "recipient_private_jwk": private,
            "recipient_thumbprint": recipient.thumbprint(),
            "jwe": jwes,
            "jws": jwss,
        });
        std::fs::write(path, serde_json::to_string_pretty(&export).unwrap()).unwrap();
    }
}
