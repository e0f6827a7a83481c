//! Block-cipher compositions: ISO/IEC 9797-1 MAC algorithm 3 (the "retail MAC"), AES-CMAC,
//! key check values and DES parity. Built by hand on the RustCrypto `des` and `aes` block
//! ciphers and the `cmac` crate; the key schedules are computed once per key and kept.

use core::fmt;

use aes::{Aes128, Aes192, Aes256};
use cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use des::Des;
use secret::Secret;

/// ISO/IEC 9797-1 padding method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Method 1: append zero bytes up to a whole block (none when already whole; one zero block
    /// for empty data). Visa CVN 10 calls this "Visa padding".
    Method1,
    /// Method 2: append `80`, then zero bytes up to a whole block (always adds at least one
    /// byte). EMV Book 2 A1.2.1 uses it for cryptograms and ARPC method 2.
    Method2,
}

impl Padding {
    /// The other method (for diagnosis).
    pub const fn other(self) -> Self {
        match self {
            Self::Method1 => Self::Method2,
            Self::Method2 => Self::Method1,
        }
    }

    /// The method's number in ISO/IEC 9797-1.
    pub const fn number(self) -> u8 {
        match self {
            Self::Method1 => 1,
            Self::Method2 => 2,
        }
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "padding method {}", self.number())
    }
}

/// Sets the least significant bit of every byte so that each byte has an odd number of one bits
/// (the DES key parity convention; EMV Book 2 A1.4 and A1.3 apply it to derived keys).
pub fn adjust_odd_parity(key: &mut [u8]) {
    for b in key.iter_mut() {
        if b.count_ones() % 2 == 0 {
            *b ^= 1;
        }
    }
}

/// A key check value: the first three bytes of a check computation over zeros.
///
/// * double-length 3DES: 3DES-encrypt eight zero bytes, keep the first three bytes (the
///   convention of pyemv `key_check_digits`, Thales and GlobalPlatformPro);
/// * AES: AES-CMAC over sixteen zero bytes, keep the first three bytes (the "CMAC" KCV of ANSI
///   X9.24-1:2017 as AWS Payment Cryptography documents it). Some HSMs instead show the legacy
///   "encrypt sixteen zero bytes" value for AES keys; it is not what this type holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kcv(pub [u8; 3]);

impl Kcv {
    /// The three bytes.
    pub const fn as_bytes(&self) -> &[u8; 3] {
        &self.0
    }

    /// True when `prefix` (for example a two-byte KCV from an HSM printout) starts this KCV.
    pub fn starts_with(&self, prefix: &[u8]) -> bool {
        !prefix.is_empty() && self.0.starts_with(prefix)
    }
}

impl fmt::Display for Kcv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Kcv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kcv({self})")
    }
}

fn xor8(a: [u8; 8], b: &[u8; 8]) -> [u8; 8] {
    let v = u64::from_be_bytes(a) ^ u64::from_be_bytes(*b);
    v.to_be_bytes()
}

fn des_enc(d: &Des, block: [u8; 8]) -> [u8; 8] {
    let mut b = Array::from(block);
    d.encrypt_block(&mut b);
    b.into()
}

fn des_dec(d: &Des, block: [u8; 8]) -> [u8; 8] {
    let mut b = Array::from(block);
    d.decrypt_block(&mut b);
    b.into()
}

/// A double-length 3DES key (K1 || K2, EDE with K1 = K3) as two precomputed DES key schedules.
///
/// Both halves are kept separately because the retail MAC uses K1 alone for all blocks but the
/// last. The schedules are zeroized on drop (RustCrypto `des` with its `zeroize` feature).
#[derive(Clone)]
pub(crate) struct Tdes2 {
    k1: Des,
    k2: Des,
}

impl Tdes2 {
    pub(crate) fn new(key: &[u8; 16]) -> Self {
        let (halves, _) = key.as_chunks::<8>();
        let mut k1 = Array::default();
        let mut k2 = Array::default();
        if let [a, b] = halves {
            k1 = Array::from(*a);
            k2 = Array::from(*b);
        }
        let out = Self {
            k1: Des::new(&k1),
            k2: Des::new(&k2),
        };
        zeroize::Zeroize::zeroize(k1.as_mut_slice());
        zeroize::Zeroize::zeroize(k2.as_mut_slice());
        out
    }

    /// 3DES-EDE2 encryption of one block.
    pub(crate) fn encrypt(&self, block: [u8; 8]) -> [u8; 8] {
        des_enc(&self.k1, des_dec(&self.k2, des_enc(&self.k1, block)))
    }

    /// ISO/IEC 9797-1 MAC algorithm 3 with DES: CBC-MAC with K1 over every block, then the
    /// final block decrypted with K2 and encrypted with K1 (output transformation 3).
    pub(crate) fn retail_mac(&self, data: &[u8], padding: Padding) -> [u8; 8] {
        let (chunks, rest) = data.as_chunks::<8>();
        let mut tail = [0u8; 8];
        let tail_block = match padding {
            Padding::Method2 => {
                tail[..rest.len()].copy_from_slice(rest);
                // `rest` is shorter than a block, so the marker always fits.
                if let Some(m) = tail.get_mut(rest.len()) {
                    *m = 0x80;
                }
                Some(tail)
            }
            Padding::Method1 if !rest.is_empty() => {
                tail[..rest.len()].copy_from_slice(rest);
                Some(tail)
            }
            Padding::Method1 => None,
        };
        let (body, last) = match tail_block {
            Some(t) => (chunks, t),
            None => match chunks.split_last() {
                Some((last, body)) => (body, *last),
                // Method 1 pads empty data to one zero block.
                None => (chunks, [0u8; 8]),
            },
        };
        let mut h = [0u8; 8];
        for block in body {
            h = des_enc(&self.k1, xor8(h, block));
        }
        h = xor8(h, &last);
        self.encrypt(h)
    }
}

/// An AES key schedule of any of the three sizes.
#[derive(Clone)]
pub(crate) enum AesKey {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

impl AesKey {
    /// None when `key` is not 16, 24 or 32 bytes.
    pub(crate) fn new(key: &[u8]) -> Option<Self> {
        match key.len() {
            16 => Aes128::new_from_slice(key).ok().map(Self::A128),
            24 => Aes192::new_from_slice(key).ok().map(Self::A192),
            32 => Aes256::new_from_slice(key).ok().map(Self::A256),
            _ => None,
        }
    }

    pub(crate) fn algorithm(&self) -> crate::KeyAlgorithm {
        match self {
            Self::A128(_) => crate::KeyAlgorithm::Aes128,
            Self::A192(_) => crate::KeyAlgorithm::Aes192,
            Self::A256(_) => crate::KeyAlgorithm::Aes256,
        }
    }

    pub(crate) fn encrypt(&self, block: [u8; 16]) -> [u8; 16] {
        let mut b = Array::from(block);
        match self {
            Self::A128(c) => c.encrypt_block(&mut b),
            Self::A192(c) => c.encrypt_block(&mut b),
            Self::A256(c) => c.encrypt_block(&mut b),
        }
        b.into()
    }

    /// AES-CMAC (NIST SP 800-38B; ISO/IEC 9797-1 MAC algorithm 5) over `data`, composed by hand
    /// on the block cipher so that the precomputed schedule is used in place (the `cmac` crate
    /// would need its own copy of the schedule per message; the unit tests check this against it).
    pub(crate) fn cmac(&self, data: &[u8]) -> [u8; 16] {
        let k1 = dbl(self.encrypt([0; 16]));
        let (chunks, rest) = data.as_chunks::<16>();
        let (body, last) = match chunks.split_last() {
            // A whole final block is XORed with K1.
            Some((last, body)) if rest.is_empty() => (body, xor16(*last, &k1)),
            // A partial (or empty) final block is padded with 80 00.. and XORed with K2.
            _ => {
                let mut padded = [0u8; 16];
                padded[..rest.len()].copy_from_slice(rest);
                if let Some(m) = padded.get_mut(rest.len()) {
                    *m = 0x80;
                }
                (chunks, xor16(padded, &dbl(k1)))
            }
        };
        let mut x = [0u8; 16];
        for block in body {
            x = self.encrypt(xor16(x, block));
        }
        self.encrypt(xor16(x, &last))
    }
}

fn xor16(a: [u8; 16], b: &[u8; 16]) -> [u8; 16] {
    (u128::from_be_bytes(a) ^ u128::from_be_bytes(*b)).to_be_bytes()
}

/// Doubling in GF(2^128) (SP 800-38B subkey generation), without a secret-dependent branch.
fn dbl(block: [u8; 16]) -> [u8; 16] {
    let v = u128::from_be_bytes(block);
    let carry = 0u128.wrapping_sub(v >> 127);
    ((v << 1) ^ (carry & 0x87)).to_be_bytes()
}

/// A double-length 3DES key prepared for ISO/IEC 9797-1 MAC algorithm 3 (key schedules computed
/// once, zeroized on drop). `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct RetailMacKey(Tdes2);

impl RetailMacKey {
    /// Prepares the key K1 || K2.
    pub fn new(key: &Secret<[u8; 16]>) -> Self {
        Self(Tdes2::new(key.expose()))
    }

    /// The 8-byte MAC of `data` padded with `padding`.
    pub fn mac(&self, data: &[u8], padding: Padding) -> [u8; 8] {
        self.0.retail_mac(data, padding)
    }

    /// Constant-time check of a presented MAC, truncated or full (1 to 8 bytes).
    pub fn verify(&self, data: &[u8], padding: Padding, presented: &[u8]) -> bool {
        let mac = self.mac(data, padding);
        match mac.get(..presented.len()) {
            Some(expected) if !presented.is_empty() => secret::ct_eq(expected, presented),
            _ => false,
        }
    }
}

impl fmt::Debug for RetailMacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetailMacKey([REDACTED])")
    }
}

/// ISO/IEC 9797-1 MAC algorithm 3 (single-DES CBC with K1, final 3DES with K1 K2) over `data`.
/// Prepare a [`RetailMacKey`] instead when one key MACs many messages.
pub fn retail_mac(key: &Secret<[u8; 16]>, data: &[u8], padding: Padding) -> [u8; 8] {
    RetailMacKey::new(key).mac(data, padding)
}

/// 3DES-EDE2 encryption of one block (the raw operation, e.g. for benchmarks).
pub fn tdes_encrypt_block(key: &Secret<[u8; 16]>, block: [u8; 8]) -> [u8; 8] {
    Tdes2::new(key.expose()).encrypt(block)
}

/// AES-CMAC over `data` with a 16, 24 or 32-byte key (the full 16-byte tag).
pub fn aes_cmac(key: &Secret<Vec<u8>>, data: &[u8]) -> Result<[u8; 16], crate::CryptoError> {
    let aes = AesKey::new(key.expose()).ok_or(crate::CryptoError::BadKeyLength {
        algorithm: crate::KeyAlgorithm::Aes128,
        got: key.len(),
    })?;
    Ok(aes.cmac(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn k16(s: &str) -> Secret<[u8; 16]> {
        let mut k = [0u8; 16];
        k.copy_from_slice(&h(s));
        Secret::new(k)
    }

    #[test]
    fn parity_is_odd_after_adjustment() {
        let mut k = [0x00, 0x01, 0x02, 0x03, 0xFE, 0xFF];
        adjust_odd_parity(&mut k);
        assert_eq!(k, [0x01, 0x01, 0x02, 0x02, 0xFE, 0xFE]);
        assert!(k.iter().all(|b| b.count_ones() % 2 == 1));
    }

    #[test]
    fn padding_boundaries() {
        let key = k16("0123456789ABCDEFFEDCBA9876543210");
        // Method 1 of 8 bytes adds nothing; method 1 of 7 bytes pads to 8 with zeros.
        let m8 = retail_mac(&key, &[1, 2, 3, 4, 5, 6, 7, 0], Padding::Method1);
        let m7 = retail_mac(&key, &[1, 2, 3, 4, 5, 6, 7], Padding::Method1);
        assert_eq!(m8, m7);
        // Method 2 of 7 bytes equals method 1 of the same bytes followed by 80.
        let m2 = retail_mac(&key, &[1, 2, 3, 4, 5, 6, 7], Padding::Method2);
        let m1 = retail_mac(&key, &[1, 2, 3, 4, 5, 6, 7, 0x80], Padding::Method1);
        assert_eq!(m2, m1);
        // Empty data: method 1 is one zero block, method 2 one 80 00.. block.
        let e1 = retail_mac(&key, &[], Padding::Method1);
        let z = retail_mac(&key, &[0; 8], Padding::Method1);
        assert_eq!(e1, z);
        assert_ne!(retail_mac(&key, &[], Padding::Method2), e1);
    }

    #[test]
    fn single_block_retail_mac_is_3des() {
        let key = k16("0123456789ABCDEFFEDCBA9876543210");
        let block = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        assert_eq!(
            retail_mac(&key, &block, Padding::Method1),
            tdes_encrypt_block(&key, block)
        );
    }

    #[test]
    fn tdes_kcv_of_the_classic_test_key() {
        // 0123456789ABCDEFFEDCBA9876543210 has KCV 08D7 (pyemv tests/test_kd_hsm.py, HSM-checked).
        let key = k16("0123456789ABCDEFFEDCBA9876543210");
        assert_eq!(tdes_encrypt_block(&key, [0; 8])[..2], [0x08, 0xD7]);
    }

    #[test]
    fn mac_verify_accepts_truncation_and_rejects_flips() {
        let key = RetailMacKey::new(&k16("0123456789ABCDEFFEDCBA9876543210"));
        let data = b"forty bytes of data, more or less, ok...";
        let mac = key.mac(data, Padding::Method2);
        assert!(key.verify(data, Padding::Method2, &mac));
        assert!(key.verify(data, Padding::Method2, &mac[..4]));
        assert!(!key.verify(data, Padding::Method2, &[]));
        assert!(!key.verify(data, Padding::Method1, &mac));
        let mut bad = mac;
        bad[7] ^= 1;
        assert!(!key.verify(data, Padding::Method2, &bad));
        assert_eq!(format!("{key:?}"), "RetailMacKey([REDACTED])");
    }

    #[test]
    fn aes_cmac_rfc4493_example_2() {
        // RFC 4493 section 4, example 2 (16-byte message) -- a sanity check of the wiring only.
        let key = Secret::new(h("2b7e151628aed2a6abf7158809cf4f3c"));
        let tag = aes_cmac(&key, &h("6bc1bee22e409f96e93d7e117393172a")).unwrap();
        assert_eq!(hex::encode(tag), "070a16b46b4d4144f79bdd9dd04a287c");
        assert!(aes_cmac(&Secret::new(vec![0; 15]), b"").is_err());
    }

    #[test]
    fn hand_written_cmac_matches_the_cmac_crate() {
        use cmac::{Cmac, Mac};
        fn reference<C: cmac::block_api::CmacCipher + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8>
        where
            Cmac<C>: Mac + KeyInit,
        {
            let mut m = <Cmac<C> as KeyInit>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        let data: Vec<u8> = (0u8..=80).collect();
        for key_len in [16, 24, 32] {
            let key: Vec<u8> = (0..key_len).map(|i| 0xA5 ^ i).collect();
            let ours = AesKey::new(&key).unwrap();
            for len in 0..=data.len() {
                let expected = match key_len {
                    16 => reference::<Aes128>(&key, &data[..len]),
                    24 => reference::<Aes192>(&key, &data[..len]),
                    _ => reference::<Aes256>(&key, &data[..len]),
                };
                assert_eq!(
                    ours.cmac(&data[..len]).to_vec(),
                    expected,
                    "key {key_len}, len {len}"
                );
            }
        }
    }

    #[test]
    fn kcv_display_and_prefix() {
        let k = Kcv([0x08, 0xD7, 0xB4]);
        assert_eq!(k.to_string(), "08D7B4");
        assert!(k.starts_with(&[0x08, 0xD7]));
        assert!(!k.starts_with(&[]));
        assert!(!k.starts_with(&[0x08, 0xD7, 0xB4, 0x00]));
    }
}
