//! ICC master key derivation from an issuer master key, EMV 4.3 Book 2 A1.4.

use core::fmt;

use sha1::{Digest, Sha1};
use zeroize::Zeroizing;

use crate::primitives::adjust_odd_parity;
use crate::{CryptoError, Cvn, KeyAlgorithm, MasterKey};

/// The ICC master key derivation option of EMV Book 2 A1.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MkDerivation {
    /// A1.4.1 Option A: the rightmost 16 digits of PAN || PSN.
    OptionA,
    /// A1.4.2 Option B: SHA-1 of PAN || PSN, decimalised to 16 digits. Only differs from
    /// option A for PANs longer than 16 digits.
    OptionB,
}

impl MkDerivation {
    /// The option EMV prescribes for a PAN of `pan_len` digits: B above 16 digits, else A.
    pub const fn for_pan_len(pan_len: usize) -> Self {
        if pan_len > 16 {
            Self::OptionB
        } else {
            Self::OptionA
        }
    }
}

impl fmt::Display for MkDerivation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OptionA => "option A",
            Self::OptionB => "option B",
        })
    }
}

/// Checks the PAN and PSN and returns PAN || PSN as ASCII digits (at most 21).
fn pan_psn_digits(pan_digits: &str, psn: u8) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let pan = pan_digits.as_bytes();
    if pan.is_empty() || pan.len() > 19 || !pan.iter().all(u8::is_ascii_digit) {
        return Err(CryptoError::BadPan {
            len: pan_digits.chars().count(),
        });
    }
    let (hi, lo) = (psn >> 4, psn & 0x0F);
    if hi > 9 || lo > 9 {
        return Err(CryptoError::BadPsn);
    }
    let mut x = Zeroizing::new(Vec::with_capacity(21));
    x.extend_from_slice(pan);
    x.push(b'0' + hi);
    x.push(b'0' + lo);
    Ok(x)
}

/// Packs 16 ASCII digits into 8 BCD bytes.
fn pack16(digits: &[u8]) -> [u8; 8] {
    let mut y = [0u8; 8];
    for (out, pair) in y.iter_mut().zip(digits.chunks(2)) {
        let hi = pair.first().map_or(0, |d| d.wrapping_sub(b'0'));
        let lo = pair.get(1).map_or(0, |d| d.wrapping_sub(b'0'));
        *out = (hi << 4) | (lo & 0x0F);
    }
    y
}

/// Y of option A: the rightmost 16 digits of X, left-padded with zeros when X is shorter.
fn option_a_y(x: &[u8]) -> [u8; 8] {
    let mut digits = [b'0'; 16];
    let take = x.len().min(16);
    digits[16 - take..].copy_from_slice(&x[x.len() - take..]);
    pack16(&digits)
}

/// Y of option B: SHA-1 over X (BCD, left-padded to whole bytes); the decimal digits of the hash
/// in order, then if fewer than 16, its hex letters a-f mapped to 0-5 in order.
fn option_b_y(x: &[u8]) -> [u8; 8] {
    let mut padded = Zeroizing::new(Vec::with_capacity(22));
    if x.len() % 2 == 1 {
        padded.push(b'0');
    }
    padded.extend_from_slice(x);
    let bcd: Zeroizing<Vec<u8>> = Zeroizing::new(
        padded
            .chunks(2)
            .map(|p| {
                let hi = p.first().map_or(0, |d| d.wrapping_sub(b'0'));
                let lo = p.get(1).map_or(0, |d| d.wrapping_sub(b'0'));
                (hi << 4) | (lo & 0x0F)
            })
            .collect(),
    );
    let hash = Sha1::digest(bcd.as_slice());
    let nibbles = hash.iter().flat_map(|b| [b >> 4, b & 0x0F]);
    let mut digits: Vec<u8> = nibbles
        .clone()
        .filter(|n| *n < 10)
        .map(|n| b'0' + n)
        .take(16)
        .collect();
    if digits.len() < 16 {
        let need = 16 - digits.len();
        digits.extend(
            nibbles
                .filter(|n| *n >= 10)
                .map(|n| b'0' + (n - 10))
                .take(need),
        );
    }
    pack16(&digits)
}

/// Z := 3DES(IMK)\[Y\] || 3DES(IMK)\[Y xor FF..FF\], with odd parity.
fn derive_from_y(imk: &MasterKey, y: [u8; 8]) -> Result<MasterKey, CryptoError> {
    let Some(t) = imk.0.schedule.tdes() else {
        return Err(CryptoError::UnsupportedAlgorithm {
            algorithm: imk.algorithm(),
            operation: "ICC master key derivation (EMV Book 2 A1.4, defined with 3DES)",
        });
    };
    let y_inv = (!u64::from_be_bytes(y)).to_be_bytes();
    let mut z = Zeroizing::new([0u8; 16]);
    z[..8].copy_from_slice(&t.encrypt(y));
    z[8..].copy_from_slice(&t.encrypt(y_inv));
    adjust_odd_parity(z.as_mut_slice());
    MasterKey::new(KeyAlgorithm::Tdes2, z.as_slice())
}

/// Derives the ICC master key from the issuer master key with the option cryptogram version
/// `cvn` uses ([`Cvn::mk_derivation`]): option B for Visa CVN 18 and '22' PANs longer than 16
/// digits, option A otherwise.
///
/// `pan_digits` is the PAN as decimal digits (no padding `F`); `psn` is the PAN Sequence Number
/// byte as on the card (tag 5F34, two BCD digits: `0x01` is "01"; use `0x00` when absent).
/// The issuer master key must be double-length 3DES: Book 2 A1.4 defines the derivation with
/// 3DES, and an AES issuer master key is answered with [`CryptoError::UnsupportedAlgorithm`].
pub fn derive_icc_master_key(
    cvn: Cvn,
    imk: &MasterKey,
    pan_digits: &str,
    psn: u8,
) -> Result<MasterKey, CryptoError> {
    derive_icc_master_key_with(imk, pan_digits, psn, cvn.mk_derivation(pan_digits.len()))
}

/// Derives the ICC master key with an explicit option (option B with a PAN of 16 digits or fewer
/// is option A, as Book 2 A1.4.2 says).
pub fn derive_icc_master_key_with(
    imk: &MasterKey,
    pan_digits: &str,
    psn: u8,
    option: MkDerivation,
) -> Result<MasterKey, CryptoError> {
    let x = pan_psn_digits(pan_digits, psn)?;
    let y = match option {
        MkDerivation::OptionB if pan_digits.len() > 16 => option_b_y(&x),
        _ => option_a_y(&x),
    };
    derive_from_y(imk, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imk() -> MasterKey {
        MasterKey::new(
            KeyAlgorithm::Tdes2,
            &hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn pyemv_doc_examples() {
        // pyemv kd.py docstrings.
        let a =
            derive_icc_master_key_with(&imk(), "12345678901234567", 0x01, MkDerivation::OptionA)
                .unwrap();
        assert_eq!(
            hex::encode_upper(a.expose_secret()),
            "73AD54688CEF2934B0979857E3C719F1"
        );
        // Visa CVN 18 uses option B above 16 digits; Mastercard and CVN 10 stay on option A.
        let b = derive_icc_master_key(Cvn::Visa18, &imk(), "12345678901234567", 0x01).unwrap();
        assert_eq!(
            hex::encode_upper(b.expose_secret()),
            "AD406D7F6D7570916D75E5DCAB8CF737"
        );
        for cvn in [Cvn::Visa10, Cvn::Mastercard16, Cvn::Mastercard21] {
            let k = derive_icc_master_key(cvn, &imk(), "12345678901234567", 0x01).unwrap();
            assert_eq!(k.expose_secret(), a.expose_secret(), "{cvn:?}");
        }
        let a2 =
            derive_icc_master_key_with(&imk(), "99012345678901234", 0x45, MkDerivation::OptionA)
                .unwrap();
        assert_eq!(
            hex::encode_upper(a2.expose_secret()),
            "67F8292358083E5EA7AB7FDA58D53B6B"
        );
    }

    #[test]
    fn option_b_equals_a_up_to_16_digits() {
        let a = derive_icc_master_key_with(&imk(), "1234567890123456", 0, MkDerivation::OptionA)
            .unwrap();
        let b = derive_icc_master_key_with(&imk(), "1234567890123456", 0, MkDerivation::OptionB)
            .unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.kcv().as_bytes()[..2], [0xBA, 0xB0]);
    }

    #[test]
    fn short_pans_are_left_padded() {
        assert_eq!(
            option_a_y(b"12345678"),
            [0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]
        );
        assert_eq!(
            option_a_y(b"123456789012345678"),
            pack16(b"3456789012345678")
        );
    }

    #[test]
    fn bad_inputs_are_rejected_without_echoing_them() {
        let e = derive_icc_master_key(Cvn::Visa18, &imk(), "4761 7390", 0).unwrap_err();
        assert_eq!(e, CryptoError::BadPan { len: 9 });
        assert!(!e.to_string().contains("4761"));
        assert!(derive_icc_master_key(Cvn::Visa18, &imk(), "", 0).is_err());
        assert!(derive_icc_master_key(Cvn::Visa18, &imk(), "12345678901234567890", 0).is_err());
        assert!(matches!(
            derive_icc_master_key(Cvn::Visa18, &imk(), "1234", 0x0A),
            Err(CryptoError::BadPsn)
        ));
    }

    #[test]
    fn aes_issuer_master_keys_are_not_derived() {
        let aes = MasterKey::new(KeyAlgorithm::Aes128, &[7; 16]).unwrap();
        assert!(matches!(
            derive_icc_master_key(Cvn::Visa18, &aes, "1234567890123456", 0),
            Err(CryptoError::UnsupportedAlgorithm {
                algorithm: KeyAlgorithm::Aes128,
                ..
            })
        ));
    }
}
