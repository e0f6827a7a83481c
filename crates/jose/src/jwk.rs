//! P-256 JSON Web Keys (RFC 7517, RFC 7518 section 6.2) and their thumbprints (RFC 7638).

use core::fmt;

use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use secret::Secret;
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::b64;
use crate::error::{JoseError, KeyError};

/// Bytes in a P-256 coordinate or private scalar.
const FIELD_LEN: usize = 32;

/// A P-256 elliptic-curve JSON Web Key: a public key, optionally with its private scalar `d`.
///
/// Construction validates everything: `kty` is `EC`, `crv` is `P-256`, `x` and `y` are 32 bytes
/// each and a point on the curve, and `d` (when present) is a valid scalar whose public key is
/// `(x, y)`. Other members (`use`, `alg`, `key_ops`, ...) are accepted and ignored, as RFC 7517
/// section 4 asks; only `kid` is kept.
///
/// * `Debug` never shows `d`; the scalar is kept in a [`Secret`] and zeroized on drop.
/// * [`Serialize`] writes the **public** key only. Writing the private key is a separate, explicit
///   call ([`Jwk::to_private_json`]), so a private key cannot leave through a log line or an API
///   response by accident.
/// * [`Deserialize`] reads either form (same rules as [`Jwk::from_json`]).
#[derive(Clone)]
pub struct Jwk {
    kid: Option<String>,
    x: [u8; FIELD_LEN],
    y: [u8; FIELD_LEN],
    public: PublicKey,
    d: Option<Secret<[u8; FIELD_LEN]>>,
}

impl Jwk {
    /// Parses a JWK from JSON text (public or private form).
    ///
    /// # Errors
    /// A [`KeyError`] naming the member at fault.
    pub fn from_json(json: &str) -> Result<Self, KeyError> {
        let value: Value = serde_json::from_str(json).map_err(|e| KeyError::Json {
            line: e.line(),
            column: e.column(),
        })?;
        match value {
            Value::Object(map) => Self::from_map(map),
            _ => Err(KeyError::NotAnObject),
        }
    }

    /// Builds a public key from its affine coordinates (big-endian, 32 bytes each).
    ///
    /// # Errors
    /// [`KeyError::NotOnCurve`] when `(x, y)` is not a point on P-256.
    pub fn from_public_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Result<Self, KeyError> {
        let public = public_key_from_coordinates(x, y)?;
        Ok(Self {
            kid: None,
            x: *x,
            y: *y,
            public,
            d: None,
        })
    }

    /// Builds a private key from its scalar `d` (big-endian, 32 bytes), computing `x` and `y`.
    ///
    /// This is how a key pair is made here: the caller draws 32 random bytes through its `Rng`
    /// seam (this crate has no randomness) and passes them in. The caller's copy of `d` stays the
    /// caller's to zeroize.
    ///
    /// # Errors
    /// [`KeyError::InvalidPrivateKey`] when `d` is zero or not below the group order.
    pub fn from_private_bytes(d: &[u8; 32]) -> Result<Self, KeyError> {
        let secret = SecretKey::from_slice(d).map_err(|_| KeyError::InvalidPrivateKey)?;
        let public = secret.public_key();
        let (x, y) = coordinates(&public);
        Ok(Self {
            kid: None,
            x,
            y,
            public,
            d: Some(Secret::new(*d)),
        })
    }

    /// Returns the key with its key ID (`kid`) set.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key ID (`kid`), when the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The affine x coordinate, big-endian.
    pub fn x(&self) -> &[u8; 32] {
        &self.x
    }

    /// The affine y coordinate, big-endian.
    pub fn y(&self) -> &[u8; 32] {
        &self.y
    }

    /// True when the key holds its private scalar `d`.
    pub fn is_private(&self) -> bool {
        self.d.is_some()
    }

    /// The private scalar `d` (big-endian), for a key holder that signs or agrees keys itself
    /// (a device's secure element); `None` for a public key.
    pub fn private_bytes(&self) -> Option<&Secret<[u8; FIELD_LEN]>> {
        self.d.as_ref()
    }

    /// The public half of this key (same `kid`, no `d`).
    #[must_use]
    pub fn to_public(&self) -> Self {
        Self {
            kid: self.kid.clone(),
            x: self.x,
            y: self.y,
            public: self.public,
            d: None,
        }
    }

    /// The RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order
    /// (`{"crv":"P-256","kty":"EC","x":"…","y":"…"}`, no whitespace), base64url-encoded.
    ///
    /// It identifies the public key whatever `kid` or other members a JWK carries, so it is the
    /// stable name of a device key.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64::encode(&self.x),
            b64::encode(&self.y)
        );
        b64::encode(Sha256::digest(canonical.as_bytes()).as_slice())
    }

    /// The public key as compact JSON: `kty`, `crv`, `x`, `y` and `kid` when set. Same text as
    /// the [`Serialize`] implementation.
    pub fn to_public_json(&self) -> String {
        self.json(false)
    }

    /// The private key as compact JSON (the public members plus `d`), kept in a [`Secret`].
    ///
    /// # Errors
    /// [`JoseError::PrivateKeyRequired`] when the key has no `d`.
    pub fn to_private_json(&self) -> Result<Secret<String>, JoseError> {
        if self.d.is_none() {
            return Err(JoseError::PrivateKeyRequired);
        }
        Ok(Secret::new(self.json(true)))
    }

    /// Parses a JWK from a JSON object, consuming it so the text of `d` can be zeroized.
    pub(crate) fn from_map(mut map: Map<String, Value>) -> Result<Self, KeyError> {
        let mut d_text = match map.remove("d") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(KeyError::InvalidMember { member: "d" }),
        };
        let result = Self::from_members(&map, d_text.as_deref());
        if let Some(text) = d_text.as_mut() {
            text.zeroize();
        }
        result
    }

    fn from_members(map: &Map<String, Value>, d_text: Option<&str>) -> Result<Self, KeyError> {
        let kty = required_str(map, "kty")?;
        if kty != "EC" {
            return Err(KeyError::UnsupportedKeyType {
                kty: JoseError::echo(kty),
            });
        }
        let crv = required_str(map, "crv")?;
        if crv != "P-256" {
            return Err(KeyError::UnsupportedCurve {
                crv: JoseError::echo(crv),
            });
        }
        let x = field_member(required_str(map, "x")?, "x")?;
        let y = field_member(required_str(map, "y")?, "y")?;
        let kid = match map.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(KeyError::InvalidMember { member: "kid" }),
        };
        let public = public_key_from_coordinates(&x, &y)?;
        let d = match d_text {
            None => None,
            Some(text) => {
                let d = Secret::new(field_member(text, "d")?);
                let secret =
                    SecretKey::from_slice(d.expose()).map_err(|_| KeyError::InvalidPrivateKey)?;
                if secret.public_key() != public {
                    return Err(KeyError::PrivateKeyMismatch);
                }
                Some(d)
            }
        };
        Ok(Self {
            kid,
            x,
            y,
            public,
            d,
        })
    }

    /// The validated public key.
    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The private key, for ECDH and signing.
    pub(crate) fn secret_key(&self) -> Result<SecretKey, JoseError> {
        let d = self.d.as_ref().ok_or(JoseError::PrivateKeyRequired)?;
        // Invariant: `d` was checked to be a valid scalar when the key was built.
        SecretKey::from_slice(d.expose()).map_err(|_| JoseError::Key(KeyError::InvalidPrivateKey))
    }

    /// Writes the JWK members in a fixed order (`kty`, `crv`, `x`, `y`, then `d`, `kid`).
    fn json(&self, private: bool) -> String {
        let mut out = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}""#,
            b64::encode(&self.x),
            b64::encode(&self.y)
        );
        if let (true, Some(d)) = (private, self.d.as_ref()) {
            let mut d_text = b64::encode(d.expose());
            out.push_str(r#","d":""#);
            out.push_str(&d_text);
            out.push('"');
            d_text.zeroize();
        }
        if let Some(kid) = &self.kid {
            out.push_str(r#","kid":"#);
            out.push_str(&Value::String(kid.clone()).to_string());
        }
        out.push('}');
        out
    }
}

/// The `epk` member of a JWE header as this crate writes it.
pub(crate) fn epk_json(x: &[u8; 32], y: &[u8; 32]) -> String {
    format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
        b64::encode(x),
        b64::encode(y)
    )
}

/// The big-endian affine coordinates of a public key.
pub(crate) fn coordinates(public: &PublicKey) -> ([u8; 32], [u8; 32]) {
    let point = public.to_sec1_point(false);
    let mut x = [0u8; FIELD_LEN];
    let mut y = [0u8; FIELD_LEN];
    // Invariant: an uncompressed SEC1 point of a valid (non-identity) P-256 public key always
    // has both coordinates, 32 bytes each.
    if let (Some(px), Some(py)) = (point.x(), point.y()) {
        x.copy_from_slice(px);
        y.copy_from_slice(py);
    }
    (x, y)
}

fn public_key_from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Result<PublicKey, KeyError> {
    let mut sec1 = [0u8; 1 + 2 * FIELD_LEN];
    sec1[0] = 0x04;
    sec1[1..=FIELD_LEN].copy_from_slice(x);
    sec1[1 + FIELD_LEN..].copy_from_slice(y);
    // `from_sec1_bytes` checks both coordinates are below p and y^2 = x^3 - 3x + b.
    PublicKey::from_sec1_bytes(&sec1).map_err(|_| KeyError::NotOnCurve)
}

fn required_str<'a>(
    map: &'a Map<String, Value>,
    member: &'static str,
) -> Result<&'a str, KeyError> {
    match map.get(member) {
        None => Err(KeyError::MissingMember { member }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(KeyError::InvalidMember { member }),
    }
}

fn field_member(text: &str, member: &'static str) -> Result<[u8; FIELD_LEN], KeyError> {
    b64::decode_array::<FIELD_LEN>(text).map_err(|found| match found {
        None => KeyError::InvalidMember { member },
        Some(found) => KeyError::Length {
            member,
            expected: FIELD_LEN,
            found,
        },
    })
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("crv", &"P-256")
            .field("x", &b64::encode(&self.x))
            .field("y", &b64::encode(&self.y))
            .field("d", &self.d)
            .finish()
    }
}

impl Serialize for Jwk {
    /// Writes the public key only; see [`Jwk::to_private_json`] for the private form.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kty", "EC")?;
        map.serialize_entry("crv", "P-256")?;
        map.serialize_entry("x", &b64::encode(&self.x))?;
        map.serialize_entry("y", &b64::encode(&self.y))?;
        if let Some(kid) = &self.kid {
            map.serialize_entry("kid", kid)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_map(map).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7517 Appendix A.2, first key.
    const RFC7517_PRIVATE: &str = r#"{"kty":"EC","crv":"P-256",
        "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
        "d":"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE","use":"enc","kid":"1"}"#;

    #[test]
    fn debug_never_shows_d() {
        let key = Jwk::from_json(RFC7517_PRIVATE).unwrap();
        let debug = format!("{key:?} {key:#?}");
        assert!(!debug.contains("870MB6"), "{debug}");
        assert!(debug.contains("REDACTED"));
        assert!(debug.contains("MKBCTNIc"));
    }

    #[test]
    fn serialize_writes_the_public_key_only() {
        let key = Jwk::from_json(RFC7517_PRIVATE).unwrap();
        let json = serde_json::to_string(&key).unwrap();
        assert!(!json.contains("\"d\""));
        assert_eq!(json, key.to_public_json());
        let private = key.to_private_json().unwrap();
        assert!(
            private
                .expose()
                .contains(r#""d":"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE""#)
        );
        let back = Jwk::from_json(private.expose()).unwrap();
        assert!(back.is_private());
        assert_eq!(back.kid(), Some("1"));
        assert_eq!(
            Jwk::from_json(&json)
                .unwrap()
                .to_private_json()
                .unwrap_err(),
            JoseError::PrivateKeyRequired
        );
    }

    #[test]
    fn private_bytes_give_the_published_public_key() {
        let d: [u8; 32] = b64::decode_array("870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE").unwrap();
        let key = Jwk::from_private_bytes(&d).unwrap();
        assert_eq!(
            b64::encode(key.x()),
            "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
        );
        assert_eq!(
            b64::encode(key.y()),
            "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
        );
        assert_eq!(
            Jwk::from_private_bytes(&[0; 32]).unwrap_err(),
            KeyError::InvalidPrivateKey
        );
        assert_eq!(
            Jwk::from_private_bytes(&[0xff; 32]).unwrap_err(),
            KeyError::InvalidPrivateKey
        );
    }

    #[test]
    fn rejects_malformed_keys_naming_the_member() {
        let cases: &[(&str, KeyError)] = &[
            ("[1]", KeyError::NotAnObject),
            (
                r#"{"crv":"P-256"}"#,
                KeyError::MissingMember { member: "kty" },
            ),
            (
                r#"{"kty":"RSA"}"#,
                KeyError::UnsupportedKeyType { kty: "RSA".into() },
            ),
            (
                r#"{"kty":"EC","crv":"P-384"}"#,
                KeyError::UnsupportedCurve {
                    crv: "P-384".into(),
                },
            ),
            (
                r#"{"kty":"EC","crv":"P-256","y":"AA"}"#,
                KeyError::MissingMember { member: "x" },
            ),
            (
                r#"{"kty":"EC","crv":"P-256","x":1,"y":"AA"}"#,
                KeyError::InvalidMember { member: "x" },
            ),
            (
                r#"{"kty":"EC","crv":"P-256","x":"AA==","y":"AA"}"#,
                KeyError::InvalidMember { member: "x" },
            ),
            (
                r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#,
                KeyError::Length {
                    member: "x",
                    expected: 32,
                    found: 1,
                },
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(&Jwk::from_json(json).unwrap_err(), expected, "{json}");
        }
        assert!(matches!(Jwk::from_json("{"), Err(KeyError::Json { .. })));
    }

    #[test]
    fn rejects_a_point_off_the_curve_and_a_foreign_d() {
        let key = Jwk::from_json(RFC7517_PRIVATE).unwrap();
        let mut y = *key.y();
        y[31] ^= 1;
        assert_eq!(
            Jwk::from_public_coordinates(key.x(), &y).unwrap_err(),
            KeyError::NotOnCurve
        );
        // A coordinate equal to the field prime is not a field element.
        let p = b64::decode_array::<32>("_____wAAAAEAAAAAAAAAAAAAAAD_______________8").unwrap();
        assert_eq!(
            Jwk::from_public_coordinates(&p, key.y()).unwrap_err(),
            KeyError::NotOnCurve
        );

        let other = Jwk::from_private_bytes(&[7; 32]).unwrap();
        let forged = format!(
            r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}","d":"870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"}}"#,
            b64::encode(other.x()),
            b64::encode(other.y())
        );
        assert_eq!(
            Jwk::from_json(&forged).unwrap_err(),
            KeyError::PrivateKeyMismatch
        );
    }

    #[test]
    fn thumbprint_hashes_the_canonical_members_only() {
        let key = Jwk::from_json(RFC7517_PRIVATE).unwrap();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
            "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
        );
        let expected = b64::encode(Sha256::digest(canonical.as_bytes()).as_slice());
        assert_eq!(key.thumbprint(), expected);
        assert_eq!(key.to_public().with_kid("another").thumbprint(), expected);
    }
}
