//! The crate's errors: where the input was wrong, never which secret bytes were involved.

use core::fmt;

/// One dot-separated part of a compact serialization, in the order the RFCs list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// The protected header (JWE and JWS part 1).
    Header,
    /// The JWE encrypted key (part 2).
    EncryptedKey,
    /// The JWE initialization vector (part 3).
    Iv,
    /// The JWE ciphertext (part 4).
    Ciphertext,
    /// The JWE authentication tag (part 5).
    Tag,
    /// The JWS payload (part 2).
    Payload,
    /// The JWS signature (part 3).
    Signature,
}

impl Part {
    /// The RFC's name for the part, for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Header => "protected header",
            Self::EncryptedKey => "encrypted key",
            Self::Iv => "initialization vector",
            Self::Ciphertext => "ciphertext",
            Self::Tag => "authentication tag",
            Self::Payload => "payload",
            Self::Signature => "signature",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is wrong with a JSON Web Key (a [`crate::Jwk`] or a JWE `epk` header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The text is not JSON; the position is where the parser stopped.
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The JSON value is not an object.
    NotAnObject,
    /// A required member is absent.
    MissingMember {
        /// The member name (`kty`, `crv`, `x`, `y`).
        member: &'static str,
    },
    /// A member is not a string, or not unpadded base64url.
    InvalidMember {
        /// The member name.
        member: &'static str,
    },
    /// A coordinate or the private scalar decoded to the wrong number of bytes (RFC 7518
    /// section 6.2.1.2: P-256 members are exactly 32 bytes).
    Length {
        /// The member name (`x`, `y`, `d`).
        member: &'static str,
        /// The required length in bytes.
        expected: usize,
        /// The decoded length in bytes.
        found: usize,
    },
    /// `kty` is not `EC`.
    UnsupportedKeyType {
        /// The `kty` value, shortened to 64 characters.
        kty: String,
    },
    /// `crv` is not `P-256`.
    UnsupportedCurve {
        /// The `crv` value, shortened to 64 characters.
        crv: String,
    },
    /// `x` and `y` are not a point on P-256 (or a coordinate is not below the field prime).
    NotOnCurve,
    /// `d` is zero or not below the group order.
    InvalidPrivateKey,
    /// `d` is a valid scalar but its public key is not `(x, y)`.
    PrivateKeyMismatch,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json { line, column } => {
                write!(f, "JWK is not JSON (line {line}, column {column})")
            }
            Self::NotAnObject => f.write_str("JWK is not a JSON object"),
            Self::MissingMember { member } => write!(f, "JWK has no \"{member}\""),
            Self::InvalidMember { member } => {
                write!(f, "JWK \"{member}\" is not a base64url string")
            }
            Self::Length {
                member,
                expected,
                found,
            } => write!(f, "JWK \"{member}\" is {found} bytes, expected {expected}"),
            Self::UnsupportedKeyType { kty } => {
                write!(f, "JWK kty \"{kty}\" is not supported (only \"EC\")")
            }
            Self::UnsupportedCurve { crv } => {
                write!(f, "JWK crv \"{crv}\" is not supported (only \"P-256\")")
            }
            Self::NotOnCurve => f.write_str("JWK point (x, y) is not on P-256"),
            Self::InvalidPrivateKey => f.write_str("JWK \"d\" is not a valid P-256 private key"),
            Self::PrivateKeyMismatch => {
                f.write_str("JWK \"d\" does not belong to the public key (x, y)")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// Everything that can go wrong in this crate.
///
/// Variants name the part, header member or length at fault. None carries key material or
/// plaintext; values copied from the input (an unknown `alg`, say) are shortened to 64
/// characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoseError {
    /// The compact serialization does not have the expected number of `.`-separated parts
    /// (5 for JWE, 3 for JWS).
    PartCount {
        /// Parts required.
        expected: usize,
        /// Parts found.
        found: usize,
    },
    /// A part is not unpadded base64url.
    Base64 {
        /// The part at fault.
        part: Part,
    },
    /// A part decoded to the wrong number of bytes.
    Length {
        /// The part at fault.
        part: Part,
        /// The required length in bytes.
        expected: usize,
        /// The decoded length in bytes.
        found: usize,
    },
    /// The protected header is not JSON; the position is where the parser stopped.
    HeaderJson {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The protected header is JSON but not an object.
    HeaderNotAnObject,
    /// A required header member is absent.
    MissingHeader {
        /// The member name (`alg`, `enc`, `epk`).
        member: &'static str,
    },
    /// A header member has the wrong JSON type or encoding (`kid` not a string, `apu` not
    /// base64url, ...).
    InvalidHeader {
        /// The member name.
        member: &'static str,
    },
    /// A header member this profile refuses: `crit` (no extension is understood), `zip`
    /// (compression is not supported) or `b64` (unencoded payloads are not supported).
    UnsupportedHeader {
        /// The member name.
        member: &'static str,
    },
    /// The JWE `alg` is not `ECDH-ES+A128KW` or `ECDH-ES+A256KW`.
    UnsupportedAlgorithm {
        /// The `alg` value, shortened to 64 characters.
        alg: String,
    },
    /// The JWE `enc` is not `A128GCM` or `A256GCM`.
    UnsupportedEncryption {
        /// The `enc` value, shortened to 64 characters.
        enc: String,
    },
    /// The JWS `alg` is not the one algorithm the verification key allows (this includes
    /// `none`, and an `HS256` token presented to an EC key).
    AlgorithmMismatch {
        /// The algorithm the key allows.
        expected: &'static str,
        /// The token's `alg`, shortened to 64 characters.
        found: String,
    },
    /// [`crate::HeaderParams::custom`] was asked to set a member this crate writes or refuses
    /// itself (`alg`, `enc`, `epk`, `crit`, ...).
    ReservedHeader {
        /// The member name, shortened to 64 characters.
        member: String,
    },
    /// A key given by the caller is not a valid P-256 JWK.
    Key(KeyError),
    /// The JWE `epk` (ephemeral public key) header is not a valid P-256 JWK.
    Epk(KeyError),
    /// The operation needs a private key (`d`) and the JWK has only the public part.
    PrivateKeyRequired,
    /// The ephemeral secret passed to encryption is zero or not below the group order.
    InvalidEphemeralSecret,
    /// The content-encryption key passed to encryption has the wrong length for `enc`.
    CekLength {
        /// The length `enc` needs in bytes.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The plaintext is longer than AES-GCM can encrypt under one IV (about 64 GiB).
    PlaintextTooLong,
    /// A Concat KDF output length outside 1..=64 bytes was asked for.
    DerivedKeyLength {
        /// The length asked for, in bytes.
        found: usize,
    },
    /// An HMAC key shorter than the 32 bytes RFC 7518 section 3.2 requires for `HS256`.
    HmacKeyTooShort {
        /// The key length given, in bytes.
        found: usize,
    },
    /// The JWE is well formed but does not decrypt: wrong key, or a tampered encrypted key,
    /// IV, ciphertext, tag or header. Deliberately says no more.
    Decrypt,
    /// The JWS is well formed but its signature does not verify under the key.
    BadSignature,
}

impl JoseError {
    /// Copies a value taken from the input into an error, cut to 64 characters so a hostile
    /// header cannot make error messages arbitrarily long.
    pub(crate) fn echo(value: &str) -> String {
        value.chars().take(64).collect()
    }
}

impl fmt::Display for JoseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PartCount { expected, found } => {
                write!(
                    f,
                    "compact serialization has {found} parts, expected {expected}"
                )
            }
            Self::Base64 { part } => write!(f, "{part} is not unpadded base64url"),
            Self::Length {
                part,
                expected,
                found,
            } => {
                write!(f, "{part} is {found} bytes, expected {expected}")
            }
            Self::HeaderJson { line, column } => {
                write!(
                    f,
                    "protected header is not JSON (line {line}, column {column})"
                )
            }
            Self::HeaderNotAnObject => f.write_str("protected header is not a JSON object"),
            Self::MissingHeader { member } => {
                write!(f, "protected header has no \"{member}\"")
            }
            Self::InvalidHeader { member } => {
                write!(
                    f,
                    "protected header \"{member}\" has the wrong type or encoding"
                )
            }
            Self::UnsupportedHeader { member } => {
                write!(f, "protected header \"{member}\" is not supported")
            }
            Self::UnsupportedAlgorithm { alg } => write!(f, "alg \"{alg}\" is not supported"),
            Self::UnsupportedEncryption { enc } => write!(f, "enc \"{enc}\" is not supported"),
            Self::AlgorithmMismatch { expected, found } => {
                write!(
                    f,
                    "alg \"{found}\" is not accepted with this key (only \"{expected}\")"
                )
            }
            Self::ReservedHeader { member } => {
                write!(
                    f,
                    "header \"{member}\" is set by this crate, not by the caller"
                )
            }
            Self::Key(e) => write!(f, "key: {e}"),
            Self::Epk(e) => write!(f, "epk header: {e}"),
            Self::PrivateKeyRequired => f.write_str("a private key (with \"d\") is required"),
            Self::InvalidEphemeralSecret => {
                f.write_str("ephemeral secret is not a valid P-256 private key")
            }
            Self::CekLength { expected, found } => {
                write!(
                    f,
                    "content-encryption key is {found} bytes, expected {expected}"
                )
            }
            Self::PlaintextTooLong => f.write_str("plaintext is too long for AES-GCM"),
            Self::DerivedKeyLength { found } => {
                write!(f, "derived key length {found} is outside 1..=64 bytes")
            }
            Self::HmacKeyTooShort { found } => {
                write!(f, "HS256 key is {found} bytes, at least 32 are required")
            }
            Self::Decrypt => f.write_str("JWE does not decrypt"),
            Self::BadSignature => f.write_str("JWS signature does not verify"),
        }
    }
}

impl std::error::Error for JoseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Key(e) | Self::Epk(e) => Some(e),
            _ => None,
        }
    }
}

impl From<KeyError> for JoseError {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_values_are_cut_to_64_characters() {
        let long = "A".repeat(1000);
        assert_eq!(JoseError::echo(&long).len(), 64);
        assert_eq!(JoseError::echo("ES256"), "ES256");
    }

    #[test]
    fn messages_name_the_part() {
        let e = JoseError::Length {
            part: Part::Iv,
            expected: 12,
            found: 16,
        };
        assert_eq!(
            e.to_string(),
            "initialization vector is 16 bytes, expected 12"
        );
        let e = JoseError::Epk(KeyError::NotOnCurve);
        assert_eq!(
            e.to_string(),
            "epk header: JWK point (x, y) is not on P-256"
        );
    }
}
