//! JWS compact serialization (RFC 7515) with `ES256` and `HS256` (RFC 7518 sections 3.2 and
//! 3.4).
//!
//! The verifier decides the algorithm: [`verify`] takes a [`VerifyKey`], whose variant is the
//! one `alg` accepted. The token's `alg` is compared with it and never used to choose a
//! verification routine, so `none` and key-confusion tokens (`HS256` "signed" with an EC public
//! key as the HMAC secret) fail with [`JoseError::AlgorithmMismatch`].
//!
//! ```
//! use jose::{jws, HeaderParams, Jwk};
//!
//! let key = Jwk::from_private_bytes(&[0x42; 32])?.with_kid("attestation-1");
//! let token = jws::sign_es256(b"{\"nonce\":\"abc\"}", &HeaderParams::new().kid("attestation-1"), &key)?;
//! let (header, payload) = jws::verify(&token, jws::VerifyKey::Es256(&key.to_public()))?;
//! assert_eq!(header.alg(), "ES256");
//! assert_eq!(payload, b"{\"nonce\":\"abc\"}");
//! # Ok::<(), jose::JoseError>(())
//! ```

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use secret::Secret;
use sha2::Sha256;

use crate::b64;
use crate::error::{JoseError, KeyError, Part};
use crate::header::{Header, HeaderParams, JsonObject};
use crate::jwk::Jwk;

/// `ES256` signatures are `r || s`, 32 bytes each (RFC 7518 section 3.4).
const ES256_SIGNATURE_LEN: usize = 64;
/// `HS256` MACs are a full SHA-256 output.
const HS256_MAC_LEN: usize = 32;
/// RFC 7518 section 3.2: an `HS256` key must be at least as long as the hash output.
const HS256_MIN_KEY_LEN: usize = 32;

/// A shared secret for `HS256`, at least 32 bytes (RFC 7518 section 3.2). `Debug` hides it.
#[derive(Clone)]
pub struct HmacKey(Secret<Vec<u8>>);

impl HmacKey {
    /// Wraps a copy of the key bytes.
    ///
    /// # Errors
    /// [`JoseError::HmacKeyTooShort`] for keys under 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self, JoseError> {
        if key.len() < HS256_MIN_KEY_LEN {
            return Err(JoseError::HmacKeyTooShort { found: key.len() });
        }
        Ok(Self(Secret::new(key.to_vec())))
    }

    fn mac(&self) -> Result<Hmac<Sha256>, JoseError> {
        // HMAC takes keys of any length; the error arm is unreachable but typed, not a panic.
        <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose()).map_err(|_| {
            JoseError::HmacKeyTooShort {
                found: self.0.len(),
            }
        })
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey([REDACTED])")
    }
}

/// The key a JWS is verified with; its variant is the only `alg` accepted.
#[derive(Clone, Copy, Debug)]
pub enum VerifyKey<'a> {
    /// Accept `ES256` only, verified with this P-256 public key (a private JWK works too; only
    /// its public half is used).
    Es256(&'a Jwk),
    /// Accept `HS256` only, verified with this shared secret.
    Hs256(&'a HmacKey),
}

impl VerifyKey<'_> {
    /// The one `alg` value this key accepts.
    pub const fn alg(self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Hs256(_) => "HS256",
        }
    }
}

/// Signs `payload` with ECDSA P-256 SHA-256 and returns the JWS compact serialization.
///
/// The protected header holds `alg` and then the caller's `params` in order. Signing is
/// deterministic (RFC 6979): the same key, header and payload always give the same token.
///
/// # Errors
/// [`JoseError::PrivateKeyRequired`] when `key` has no `d`.
pub fn sign_es256(payload: &[u8], params: &HeaderParams, key: &Jwk) -> Result<String, JoseError> {
    let signing_key = SigningKey::from(key.secret_key()?);
    let signing_input = signing_input("ES256", params, payload);
    // RFC 6979 signing fails only for a zero or out-of-range scalar, which `Jwk` never holds.
    let signature: Signature = signing_key
        .try_sign(signing_input.as_bytes())
        .map_err(|_| JoseError::Key(KeyError::InvalidPrivateKey))?;
    Ok(format!(
        "{signing_input}.{}",
        b64::encode(&signature.to_bytes())
    ))
}

/// Authenticates `payload` with HMAC-SHA-256 and returns the JWS compact serialization.
///
/// The protected header holds `alg` and then the caller's `params` in order.
///
/// # Errors
/// None in practice: an [`HmacKey`] is always usable. The `Result` keeps the signature of both
/// signing functions alike.
pub fn sign_hs256(
    payload: &[u8],
    params: &HeaderParams,
    key: &HmacKey,
) -> Result<String, JoseError> {
    let signing_input = signing_input("HS256", params, payload);
    let mut mac = key.mac()?;
    mac.update(signing_input.as_bytes());
    let tag = mac.finalize().into_bytes();
    Ok(format!("{signing_input}.{}", b64::encode(tag.as_slice())))
}

/// Verifies a JWS compact serialization and returns its checked protected header and decoded
/// payload.
///
/// Checks, in order: three parts; the header (base64url JSON object, string `alg`, no `crit`, no
/// `b64`); `alg` equal to [`VerifyKey::alg`]; the payload and signature are base64url, the
/// signature of the right length; then the signature over the signing input exactly as
/// received. `HS256` MACs are compared in constant time. `ES256` accepts both low-S and high-S
/// signatures, as other P-256 signers produce either.
///
/// # Errors
/// A precise [`JoseError`] for every format problem, [`JoseError::AlgorithmMismatch`] when the
/// token's `alg` is not the key's, and [`JoseError::BadSignature`] when the signature does not
/// verify.
pub fn verify(compact: &str, key: VerifyKey<'_>) -> Result<(Header, Vec<u8>), JoseError> {
    let parts: Vec<&str> = compact.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts.as_slice() else {
        return Err(JoseError::PartCount {
            expected: 3,
            found: parts.len(),
        });
    };
    let header = Header::parse(header_b64, &["b64"])?;
    if header.alg() != key.alg() {
        return Err(JoseError::AlgorithmMismatch {
            expected: key.alg(),
            found: JoseError::echo(header.alg()),
        });
    }
    let payload = b64::decode(payload_b64).ok_or(JoseError::Base64 {
        part: Part::Payload,
    })?;
    let signature = b64::decode(signature_b64).ok_or(JoseError::Base64 {
        part: Part::Signature,
    })?;
    let expected_len = match key {
        VerifyKey::Es256(_) => ES256_SIGNATURE_LEN,
        VerifyKey::Hs256(_) => HS256_MAC_LEN,
    };
    if signature.len() != expected_len {
        return Err(JoseError::Length {
            part: Part::Signature,
            expected: expected_len,
            found: signature.len(),
        });
    }

    // The signing input is the first two parts exactly as received (RFC 7515 section 5.2).
    let signing_input = format!("{header_b64}.{payload_b64}");
    match key {
        VerifyKey::Es256(jwk) => {
            let signature =
                Signature::from_slice(&signature).map_err(|_| JoseError::BadSignature)?;
            VerifyingKey::from(jwk.public_key())
                .verify(signing_input.as_bytes(), &signature)
                .map_err(|_| JoseError::BadSignature)?;
        }
        VerifyKey::Hs256(secret) => {
            let mut mac = secret.mac()?;
            mac.update(signing_input.as_bytes());
            mac.verify_slice(&signature)
                .map_err(|_| JoseError::BadSignature)?;
        }
    }
    Ok((header, payload))
}

/// `BASE64URL(header) || '.' || BASE64URL(payload)` for a header of `alg` then `params`.
fn signing_input(alg: &str, params: &HeaderParams, payload: &[u8]) -> String {
    let mut header = JsonObject::new();
    header.string("alg", alg);
    params.write_into(&mut header);
    format!(
        "{}.{}",
        b64::encode(header.finish().as_bytes()),
        b64::encode(payload)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es_key() -> Jwk {
        Jwk::from_private_bytes(&[0x42; 32]).unwrap()
    }

    #[test]
    fn es256_is_deterministic_and_round_trips() {
        let params = HeaderParams::new().typ("JWT");
        let a = sign_es256(b"payload", &params, &es_key()).unwrap();
        let b = sign_es256(b"payload", &params, &es_key()).unwrap();
        assert_eq!(a, b);
        assert!(a.starts_with(&b64::encode(br#"{"alg":"ES256","typ":"JWT"}"#)));
        let (header, payload) = verify(&a, VerifyKey::Es256(&es_key().to_public())).unwrap();
        assert_eq!(header.typ(), Some("JWT"));
        assert_eq!(payload, b"payload");
    }

    #[test]
    fn signing_needs_a_private_key() {
        assert_eq!(
            sign_es256(b"p", &HeaderParams::new(), &es_key().to_public()).unwrap_err(),
            JoseError::PrivateKeyRequired
        );
    }

    #[test]
    fn hmac_keys_are_at_least_32_bytes_and_hidden() {
        assert_eq!(
            HmacKey::new(&[1; 31]).unwrap_err(),
            JoseError::HmacKeyTooShort { found: 31 }
        );
        let key = HmacKey::new(&[0xab; 32]).unwrap();
        assert_eq!(format!("{key:?}"), "HmacKey([REDACTED])");
    }

    #[test]
    fn signature_length_is_checked_before_verifying() {
        let token = sign_es256(b"p", &HeaderParams::new(), &es_key()).unwrap();
        let (input, _) = token.rsplit_once('.').unwrap();
        let short = format!("{input}.{}", b64::encode(&[0; 63]));
        assert_eq!(
            verify(&short, VerifyKey::Es256(&es_key())).unwrap_err(),
            JoseError::Length {
                part: Part::Signature,
                expected: 64,
                found: 63
            }
        );
        // r = 0 is never a valid signature.
        let zero = format!("{input}.{}", b64::encode(&[0; 64]));
        assert_eq!(
            verify(&zero, VerifyKey::Es256(&es_key())).unwrap_err(),
            JoseError::BadSignature
        );
    }

    #[test]
    fn b64_false_is_refused() {
        let header = b64::encode(br#"{"alg":"HS256","b64":false}"#);
        let token = format!("{header}.cA.{}", b64::encode(&[0; 32]));
        let key = HmacKey::new(&[1; 32]).unwrap();
        assert_eq!(
            verify(&token, VerifyKey::Hs256(&key)).unwrap_err(),
            JoseError::UnsupportedHeader { member: "b64" }
        );
    }
}
