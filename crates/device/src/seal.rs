//! The sealing primitives: key derivation (Argon2id, HMAC-SHA256), AES-256-GCM boxes, and files
//! written so that a crash leaves the old version or the new one, never a mix.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, Payload};
use hmac::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::SeError;

/// A 256-bit key that is wiped when dropped.
pub(crate) type Key = Zeroizing<[u8; 32]>;

/// Argon2id cost, stored beside the salt so that a device made with other costs still opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Argon2Cost {
    /// OWASP's recommended Argon2id cost (19 MiB, 2 passes, 1 lane): about 23 ms here.
    pub const OWASP: Self = Self {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };

    /// The smallest cost Argon2 allows: for tests only, where hundreds of unlocks run.
    pub const DANGER_MINIMAL: Self = Self {
        m_kib: 8,
        t: 1,
        p: 1,
    };
}

/// `n` random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], SeError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| SeError::NoRandomness)?;
    Ok(out)
}

/// HMAC-SHA256(key, label || data): one HKDF-Expand block, enough for a 256-bit key.
pub(crate) fn kdf(key: &[u8], label: &str, data: &[u8]) -> Key {
    // Invariant: HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(label.as_bytes());
    mac.update(&[0]);
    mac.update(data);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// Argon2id of the passcode: the slow half of the passcode key.
pub(crate) fn stretch(passcode: &str, salt: &[u8], cost: Argon2Cost) -> Result<Key, SeError> {
    let params = argon2::Params::new(cost.m_kib, cost.t, cost.p, Some(32))
        .map_err(|_| SeError::Corrupt("the passcode's Argon2id cost"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passcode.as_bytes(), salt, out.as_mut())
        .map_err(|_| SeError::Corrupt("the passcode's salt"))?;
    Ok(out)
}

/// An AES-256-GCM box: nonce and ciphertext with its tag, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Sealed {
    /// 12 bytes, hex.
    nonce: String,
    /// Ciphertext then the 16-byte tag, hex.
    data: String,
}

impl Sealed {
    /// Encrypts `plain` under `key`, bound to `aad` (what the box is for).
    pub(crate) fn seal(key: &Key, aad: &[u8], plain: &[u8]) -> Result<Self, SeError> {
        let nonce = random::<12>()?;
        let cipher = Aes256Gcm::new(&(**key).into());
        let data = cipher
            .encrypt(&nonce.into(), Payload { msg: plain, aad })
            .map_err(|_| SeError::Corrupt("sealing"))?;
        Ok(Self {
            nonce: hex::encode(nonce),
            data: hex::encode(data),
        })
    }

    /// Decrypts; `None` when the key is wrong or the box was altered.
    pub(crate) fn open(&self, key: &Key, aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let nonce: [u8; 12] = hex::decode(&self.nonce).ok()?.try_into().ok()?;
        let data = hex::decode(&self.data).ok()?;
        let cipher = Aes256Gcm::new(&(**key).into());
        cipher
            .decrypt(&nonce.into(), Payload { msg: &data, aad })
            .ok()
            .map(Zeroizing::new)
    }
}

/// Writes `bytes` to `path`, readable by its owner only: written beside it, synced, renamed
/// over it, and the directory synced, so that after a crash `path` holds the old bytes or the
/// new ones and, once this returns, the new ones survive a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SeError> {
    let io = |e: std::io::Error| SeError::Io(format!("writing {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

/// Reads a file, `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, SeError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SeError::Io(format!("reading {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_box_opens_with_its_key_and_purpose_only() {
        let key = Zeroizing::new([7u8; 32]);
        let other = Zeroizing::new([8u8; 32]);
        let sealed = Sealed::seal(&key, b"state", b"token keys").unwrap();
        assert_eq!(
            sealed.open(&key, b"state").unwrap().as_slice(),
            b"token keys"
        );
        assert!(sealed.open(&other, b"state").is_none());
        assert!(sealed.open(&key, b"session").is_none());
        let mut altered = sealed.clone();
        altered.data.replace_range(0..2, "ff");
        if altered.data == sealed.data {
            altered.data.replace_range(0..2, "00");
        }
        assert!(altered.open(&key, b"state").is_none());
        let truncated = Sealed {
            nonce: sealed.nonce.clone(),
            data: "00".repeat(3),
        };
        assert!(truncated.open(&key, b"state").is_none());
    }

    #[test]
    fn the_kdf_separates_labels_and_inputs() {
        let a = kdf(b"k", "passcode", b"x");
        assert_ne!(*a, *kdf(b"k", "session", b"x"));
        assert_ne!(*a, *kdf(b"k", "passcode", b"y"));
        assert_ne!(*a, *kdf(b"j", "passcode", b"x"));
        assert_eq!(*a, *kdf(b"k", "passcode", b"x"));
    }
}
