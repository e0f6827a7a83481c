//! JOSE for the wallet: P-256 JSON Web Keys, JWE and JWS in compact serialization.
//!
//! This is a deliberately small profile of RFC 7515 (JWS), RFC 7516 (JWE), RFC 7517 (JWK),
//! RFC 7518 (JWA) and RFC 7638 (thumbprints), not a general JOSE library.
//!
//! # What is supported, and why
//!
//! * **JWE to a device key** ([`jwe`]). The token service encrypts payloads (provisioning data,
//!   keys for the software secure element) to a key the device generated in its secure element.
//!   Such keys are P-256 key-agreement keys, so the one key-management family is
//!   `ECDH-ES+A256KW` (ephemeral-static ECDH, Concat KDF, AES key wrap) with `A256GCM` content
//!   encryption. `ECDH-ES+A128KW` and `A128GCM` are also accepted so published vectors and peers
//!   on the 128-bit profile can be read. Direct `ECDH-ES` (no key wrap) is not accepted; its key
//!   agreement is exposed as [`jwe::derive_key_ecdh_es`].
//! * **JWS for webhooks and attestation** ([`jws`]). `ES256` (ECDSA P-256 with SHA-256, the raw
//!   64-byte `r || s` signature of RFC 7518 section 3.4) signs attestations and notifications
//!   that third parties verify with a public JWK; `HS256` (HMAC-SHA-256) authenticates webhooks
//!   between parties that share a secret.
//! * **JWK** ([`Jwk`]): P-256 public and private keys, validated on parse (the point must be on
//!   the curve; a private `d` must match `x` and `y`), with their RFC 7638 thumbprint.
//!
//! Everything else is rejected with a [`JoseError`] that names what was wrong: other `alg` and
//! `enc` values (including `none`), `zip` (compression before encryption leaks plaintext length
//! patterns), any `crit` header (no extension is understood, so none may be critical), unencoded
//! payloads (`b64`), the JSON serializations, other curves and key types.
//!
//! # Security properties
//!
//! * **The caller picks the JWS algorithm, not the token.** [`jws::verify`] takes a
//!   [`jws::VerifyKey`], and the key's type fixes the one `alg` accepted: an `HS256` token never
//!   verifies against an EC key (the classic key-confusion attack) and `none` never verifies.
//! * **Opaque decryption failures.** Once a JWE is well formed, every cryptographic failure (key
//!   unwrap, authentication tag) is the single [`JoseError::Decrypt`], so the error does not tell
//!   an attacker which step failed. Format errors (part count, base64, lengths, headers) are
//!   precise, because they reveal nothing the attacker did not send.
//! * **No secrets in errors or `Debug`.** Private keys live in [`secret::Secret`] and show as
//!   `[REDACTED]`; errors carry part names, lengths and header names, never key or plaintext
//!   bytes.
//! * **Constant-time HMAC verification**, through [`hmac::Mac::verify_slice`].
//!
//! # No I/O, no clock, no randomness
//!
//! This is an L0 crate: it never reads the clock, the file system or a random number generator.
//! Encryption takes the ephemeral private key, the content-encryption key and the IV as
//! arguments, so the caller's `Rng` seam supplies them and tests can pin them. ECDSA signing is
//! deterministic (RFC 6979), so it needs no randomness at all.
//!
//! Protocol enums here ([`jwe::KeyAlg`], [`jwe::Enc`]) are closed, unlike the newtype wire enums
//! elsewhere in the workspace: an unknown algorithm is an error, never a value to carry along.
#![forbid(unsafe_code)]

mod b64;
mod error;
mod header;
pub mod jwe;
mod jwk;
pub mod jws;

pub use error::{JoseError, KeyError, Part};
pub use header::{Header, HeaderParams};
pub use jwk::Jwk;
