//! The vault's cryptography: card numbers are stored only as an AES-256-GCM envelope, and looked
//! up by a keyed hash (HMAC-SHA-256), so the database alone reveals no PAN. The same hash key,
//! under its own label, digests the requests that consumed a token's ATCs
//! (`VaultKeys::request_digest`).
//!
//! Envelope: `01` (version) `||` 12-byte random nonce `||` ciphertext `||` 16-byte tag, where the
//! plaintext is the funding account as `PAN=YYMM`. The additional authenticated data is the
//! row's lookup hash, so an envelope moved to another row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use cards::{Expiry, Pan};
use core::fmt;
use hmac::{Hmac, Mac};
use secret::Secret;
use sha2::Sha256;

const VERSION: u8 = 1;

/// Length of a [`VaultKeys::request_digest`].
pub(crate) const REQUEST_DIGEST_LEN: usize = 8;

/// The vault's two keys, from configuration.
pub struct VaultKeys {
    cipher: Aes256Gcm,
    hash_key: Secret<[u8; 32]>,
}

/// Why an envelope could not be opened or keys could not be loaded. Carries no key or PAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VaultError {
    /// A key is not 32 bytes of hex.
    BadKey,
    /// Unknown envelope version or too short.
    Malformed,
    /// The tag does not verify: wrong key, altered envelope, or envelope of another row.
    Tampered,
    /// The plaintext is not a valid PAN.
    NotAPan,
    /// The operating system's random source failed.
    Random,
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadKey => "vault key must be 32 bytes (64 hex digits)",
            Self::Malformed => "vault envelope is malformed",
            Self::Tampered => "vault envelope does not authenticate (wrong key or altered data)",
            Self::NotAPan => "vault envelope does not hold a card number",
            Self::Random => "the system random source failed",
        })
    }
}

impl std::error::Error for VaultError {}

impl fmt::Debug for VaultKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKeys([REDACTED])")
    }
}

impl VaultKeys {
    /// Keys from 32-byte values (encryption key, hash key).
    pub fn new(encryption_key: &[u8], hash_key: &[u8]) -> Result<Self, VaultError> {
        let cipher = Aes256Gcm::new_from_slice(encryption_key).map_err(|_| VaultError::BadKey)?;
        let hash_key: [u8; 32] = hash_key.try_into().map_err(|_| VaultError::BadKey)?;
        Ok(Self {
            cipher,
            hash_key: Secret::new(hash_key),
        })
    }

    /// The lookup hash of a PAN: HMAC-SHA-256 under the hash key.
    pub fn pan_hash(&self, pan: &Pan) -> [u8; 32] {
        // HMAC accepts keys of any length: construction cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(self.hash_key.expose()) else {
            return [0; 32];
        };
        mac.update(pan.expose_digits().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The digest under which a token row records the request that consumed one of its ATCs
    /// (`crate::atc_uses`): HMAC-SHA-256 under the hash key of a label, the request's identity
    /// (DE 11, 37, 41, 42, fixed-length fields) and its cryptogram (9F26), cut to
    /// [`REQUEST_DIGEST_LEN`] bytes. Keyed, so nobody can search offline for another identity
    /// with the same digest: a forger's only way is to guess online, 2^-64 a try. The label
    /// keeps it apart from PAN hashes (a PAN is digits only).
    pub(crate) fn request_digest(
        &self,
        identity: &str,
        arqc: &[u8; 8],
    ) -> [u8; REQUEST_DIGEST_LEN] {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(self.hash_key.expose()) else {
            return [0; REQUEST_DIGEST_LEN];
        };
        mac.update(b"tapwallet atc use v1\0");
        mac.update(identity.as_bytes());
        mac.update(b"\0");
        mac.update(arqc);
        let full = mac.finalize().into_bytes();
        full.first_chunk::<REQUEST_DIGEST_LEN>()
            .copied()
            .unwrap_or([0; REQUEST_DIGEST_LEN])
    }

    /// Seals the funding account (`pan`, `expiry`) for the row whose lookup hash is `row_hash`.
    pub fn seal(
        &self,
        pan: &Pan,
        expiry: Expiry,
        row_hash: &[u8; 32],
    ) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let plain = Secret::new(format!("{}={}", pan.expose_digits(), expiry.yymm()));
        let payload = Payload {
            msg: plain.expose().as_bytes(),
            aad: row_hash,
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| VaultError::Malformed)?;
        let mut out = Vec::with_capacity(1 + 12 + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens an envelope of the row whose lookup hash is `row_hash`: the funding PAN and expiry.
    pub fn open(&self, envelope: &[u8], row_hash: &[u8; 32]) -> Result<(Pan, Expiry), VaultError> {
        let [version, rest @ ..] = envelope else {
            return Err(VaultError::Malformed);
        };
        if *version != VERSION || rest.len() < 12 + 16 {
            return Err(VaultError::Malformed);
        }
        let (nonce, sealed) = rest.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| VaultError::Malformed)?;
        let plain = Secret::new(
            self.cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: sealed,
                        aad: row_hash,
                    },
                )
                .map_err(|_| VaultError::Tampered)?,
        );
        let text = core::str::from_utf8(plain.expose()).map_err(|_| VaultError::NotAPan)?;
        let (digits, yymm) = text.split_once('=').ok_or(VaultError::NotAPan)?;
        let pan = Pan::parse(digits).map_err(|_| VaultError::NotAPan)?;
        let expiry = Expiry::parse_yymm(yymm).map_err(|_| VaultError::NotAPan)?;
        Ok((pan, expiry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> VaultKeys {
        VaultKeys::new(&[7; 32], &[9; 32]).unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = keys();
        let pan = Pan::parse("5413330089010012").unwrap();
        let hash = k.pan_hash(&pan);
        let expiry = Expiry::new(2031, 7).unwrap();
        let env = k.seal(&pan, expiry, &hash).unwrap();
        assert_eq!(k.open(&env, &hash).unwrap(), (pan.clone(), expiry));
        // Nonces differ: two seals of one PAN differ.
        assert_ne!(k.seal(&pan, expiry, &hash).unwrap(), env);
        // The envelope holds no digits in clear.
        assert!(!env.windows(4).any(|w| w == b"5413" || w == b"0012"));
        // Bound to its row.
        assert_eq!(k.open(&env, &[0; 32]), Err(VaultError::Tampered));
        let mut bad = env.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(k.open(&bad, &hash), Err(VaultError::Tampered));
        assert_eq!(k.open(&env[..10], &hash), Err(VaultError::Malformed));
        // Another key cannot open it.
        let other = VaultKeys::new(&[8; 32], &[9; 32]).unwrap();
        assert_eq!(other.open(&env, &hash), Err(VaultError::Tampered));
        assert!(!format!("{k:?}").contains('7'));
    }

    #[test]
    fn request_digests_are_keyed_and_cover_identity_and_cryptogram() {
        let id = "000123|000000100123|TWPOS001|TW0000000000001";
        let d = keys().request_digest(id, &[1; 8]);
        assert_eq!(d, keys().request_digest(id, &[1; 8]), "deterministic");
        assert_ne!(d, keys().request_digest(id, &[2; 8]), "another cryptogram");
        let other_id = "000124|000000100123|TWPOS001|TW0000000000001";
        assert_ne!(d, keys().request_digest(other_id, &[1; 8]), "another STAN");
        let other_key = VaultKeys::new(&[7; 32], &[1; 32]).unwrap();
        assert_ne!(d, other_key.request_digest(id, &[1; 8]), "another key");
    }

    #[test]
    fn hashes_are_keyed() {
        let pan = Pan::parse("5413330089010012").unwrap();
        let a = keys().pan_hash(&pan);
        let b = VaultKeys::new(&[7; 32], &[1; 32]).unwrap().pan_hash(&pan);
        assert_ne!(a, b);
        assert_eq!(
            VaultKeys::new(&[7; 31], &[9; 32]).err(),
            Some(VaultError::BadKey)
        );
    }
}
