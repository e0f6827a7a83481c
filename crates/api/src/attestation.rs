//! Device attestation: proof that the registering client holds the secure element key it
//! registers.
//!
//! # The challenge
//!
//! The device signs, with ES256 (ECDSA P-256 over SHA-256), the UTF-8 string
//!
//! ```text
//! tapwallet-device-attestation:v1:<user id>:<name>:<platform>:<JWK thumbprint>
//! ```
//!
//! where `<user id>` is the `sub` of its access token, `<name>` and `<platform>` are exactly the
//! request's fields, and `<JWK thumbprint>` is the RFC 7638 thumbprint (base64url SHA-256 of
//! `{"crv":"P-256","kty":"EC","x":"...","y":"..."}`) of the key. The signature is sent as
//! base64url (no padding) of the 64-byte `r || s` (JWS form). Binding the user, the name, the
//! platform and the key means a captured registration cannot be replayed for another user or
//! with other details, and the thumbprint is unique, so the same key cannot be registered twice.
//! The name may contain `:`; the fields after it cannot, so the string parses from the right.
//!
//! This proves possession of the key, not that it lives in genuine hardware: platform
//! attestation (Apple App Attest, Android Key Attestation) would chain the key to a vendor
//! root, and a server nonce would bound the proof in time. Both slot in here.

use base64ct::{Base64UrlUnpadded, Encoding as _};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use utoipa::ToSchema;

use crate::error::FieldError;

/// The challenge's fixed prefix (versioned).
pub const CHALLENGE_PREFIX: &str = "tapwallet-device-attestation:v1:";

/// JWK key type: elliptic curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum KeyType {
    /// `EC`.
    #[serde(rename = "EC")]
    Ec,
}

/// JWK curve: P-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Curve {
    /// `P-256`.
    #[serde(rename = "P-256")]
    P256,
}

/// A P-256 public key as a JWK (RFC 7517/7518), public members only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PublicJwk {
    /// Always `EC`.
    pub kty: KeyType,
    /// Always `P-256`.
    pub crv: Curve,
    /// The point's x coordinate, base64url of 32 bytes.
    #[schema(min_length = 43, max_length = 43)]
    pub x: String,
    /// The point's y coordinate, base64url of 32 bytes.
    #[schema(min_length = 43, max_length = 43)]
    pub y: String,
    /// A private key member: refused if present (the private key never leaves the secure
    /// element).
    #[serde(default, skip_serializing)]
    #[schema(ignore)]
    pub d: Option<serde::de::IgnoredAny>,
}

impl PublicJwk {
    /// The JWK with only its required members, in RFC 7638 order: what is stored and hashed.
    pub fn canonical_json(&self) -> String {
        format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x, self.y
        )
    }

    /// The RFC 7638 thumbprint: base64url SHA-256 of [`Self::canonical_json`].
    pub fn thumbprint(&self) -> String {
        Base64UrlUnpadded::encode_string(&Sha256::digest(self.canonical_json().as_bytes()))
    }

    /// The verifying key, or the field errors that make it unusable (`field` is the JWK's path
    /// in the request).
    pub fn verifying_key(&self, field: &str) -> Result<VerifyingKey, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.d.is_some() {
            errors.push(FieldError::new(
                format!("{field}.d"),
                "must not be sent: the private key never leaves the secure element",
            ));
        }
        let x = coordinate(&self.x, &format!("{field}.x"), &mut errors);
        let y = coordinate(&self.y, &format!("{field}.y"), &mut errors);
        let (Some(x), Some(y)) = (x, y) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(&x);
        sec1[33..].copy_from_slice(&y);
        VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(|_| vec![FieldError::new(field, "is not a point on P-256")])
    }
}

fn coordinate(text: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<[u8; 32]> {
    let decoded = Base64UrlUnpadded::decode_vec(text)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v).ok());
    if decoded.is_none() {
        errors.push(FieldError::new(
            field,
            "must be base64url (no padding) of 32 bytes",
        ));
    }
    decoded
}

/// The string a device signs to register (see the module docs).
pub fn challenge(user_id: &str, name: &str, platform: &str, thumbprint: &str) -> String {
    format!("{CHALLENGE_PREFIX}{user_id}:{name}:{platform}:{thumbprint}")
}

/// Checks an ES256 signature (base64url of `r || s`) over `message`.
pub fn verify(key: &VerifyingKey, message: &str, signature_b64: &str) -> bool {
    let Ok(raw) = Base64UrlUnpadded::decode_vec(signature_b64) else {
        return false;
    };
    let Ok(signature) = Signature::from_slice(&raw) else {
        return false;
    };
    key.verify(message.as_bytes(), &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 section 3.1 uses an RSA key; this checks our EC layout against the same rule
    /// with the P-256 example key of RFC 7517 appendix A.1.
    #[test]
    fn thumbprint_hashes_the_required_members_in_order() {
        let jwk = PublicJwk {
            kty: KeyType::Ec,
            crv: Curve::P256,
            x: "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4".to_owned(),
            y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM".to_owned(),
            d: None,
        };
        assert_eq!(
            jwk.canonical_json(),
            r#"{"crv":"P-256","kty":"EC","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}"#
        );
        assert_eq!(jwk.thumbprint().len(), 43);
        assert!(jwk.verifying_key("k").is_ok());
    }

    #[test]
    fn bad_coordinates_name_their_field() {
        let jwk = PublicJwk {
            kty: KeyType::Ec,
            crv: Curve::P256,
            x: "short".to_owned(),
            y: "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM".to_owned(),
            d: None,
        };
        let errors = jwk.verifying_key("se_public_key").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "se_public_key.x");
        // A valid encoding that is not on the curve.
        let off_curve = PublicJwk {
            x: Base64UrlUnpadded::encode_string(&[1; 32]),
            y: Base64UrlUnpadded::encode_string(&[2; 32]),
            ..jwk
        };
        let errors = off_curve.verifying_key("se_public_key").unwrap_err();
        assert_eq!(errors[0].field, "se_public_key");
    }

    #[test]
    fn challenge_layout() {
        assert_eq!(
            challenge("usr_1", "My phone", "ios", "TP"),
            "tapwallet-device-attestation:v1:usr_1:My phone:ios:TP"
        );
    }
}
