//! Randomness from the operating system: ids, refresh tokens, salts.

use base64ct::{Base64UrlUnpadded, Encoding as _};

/// The OS random generator failed (it does not, on any supported platform, once booted).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RandomUnavailable;

impl core::fmt::Display for RandomUnavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the operating system's random generator failed")
    }
}

/// `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| RandomUnavailable)?;
    Ok(buf)
}

/// `n` random bytes as unpadded base64url.
pub(crate) fn token(n: usize) -> Result<String, RandomUnavailable> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|_| RandomUnavailable)?;
    Ok(Base64UrlUnpadded::encode_string(&buf))
}

/// An opaque resource id: `prefix`, `_`, and 128 random bits in base64url (22 characters).
pub(crate) fn id(prefix: &str) -> Result<String, RandomUnavailable> {
    Ok(format!("{prefix}_{}", token(16)?))
}
