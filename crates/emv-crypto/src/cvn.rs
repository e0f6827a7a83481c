//! Cryptogram version numbers: which session key, data set, padding and ARPC method each uses.
//!
//! The table follows pyemv 1.5.0 `cvn.py` (whose HSM-checked tests cover CVN 10, 18 and
//! Mastercard 16, 17, 20, 21):
//!
//! | CVN | session key (AC) | data after the ATC | padding | ARPC method, key |
//! |---|---|---|---|---|
//! | Visa 10 | none (ICC MK) | CVR: IAD bytes 4-7 | method 1 | 1, ICC MK |
//! | Visa 18 | common | whole IAD | method 2 | 2, session key |
//! | Visa 22 | common | whole IAD | method 2 | 2, session key |
//! | Mastercard 16 | Mastercard (ATC, UN) | CVR: IAD bytes 3-8 | method 2 | 1, ICC MK |
//! | Mastercard 17 | Mastercard (ATC, UN) | CVR, counters: IAD bytes 11-18 | method 2 | 1, ICC MK |
//! | Mastercard 20 | common | CVR: IAD bytes 3-8 | method 2 | 1, session key |
//! | Mastercard 21 | common | CVR, counters: IAD bytes 11-18 | method 2 | 1, session key |
//!
//! Every version's data set starts with 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36.

use core::fmt;

use crate::{
    ArpcMethod, CryptoError, ExpectedLen, KeyAlgorithm, MkDerivation, Padding, SessionKeyMethod,
    tags,
};

/// The payment scheme that defines a cryptogram version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Visa (VIS, VCPS).
    Visa,
    /// Mastercard (M/Chip).
    Mastercard,
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Visa => "Visa",
            Self::Mastercard => "Mastercard",
        })
    }
}

/// A cryptogram version (the Cryptogram Version Number carried in the Issuer Application Data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cvn {
    /// Visa CVN 10 (IAD value `0A`).
    Visa10,
    /// Visa CVN 18 (IAD value `12`).
    Visa18,
    /// Visa CVN '22' (IAD value `22`, IAD format 2).
    Visa22,
    /// Mastercard M/Chip CVN 16 (IAD value `10`).
    Mastercard16,
    /// Mastercard M/Chip CVN 17 (IAD value `11`).
    Mastercard17,
    /// Mastercard M/Chip CVN 20 (IAD value `14`).
    Mastercard20,
    /// Mastercard M/Chip CVN 21 (IAD value `15`).
    Mastercard21,
}

/// Which bytes of the Issuer Application Data follow the ATC in the data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IadPart {
    /// The 4-byte Visa CVR: IAD bytes 4-7 (length byte included).
    VisaCvr,
    /// The whole IAD.
    Whole,
    /// The 6-byte M/Chip CVR: IAD bytes 3-8.
    MchipCvr,
    /// The M/Chip CVR, then the 8 bytes of counters at IAD bytes 11-18.
    MchipCvrCounters,
}

impl IadPart {
    /// The IAD lengths this part can be taken from (9F10 is at most 32 bytes).
    pub const fn iad_len(self) -> ExpectedLen {
        match self {
            Self::VisaCvr | Self::Whole => ExpectedLen::Between(7, 32),
            Self::MchipCvr => ExpectedLen::Between(8, 32),
            Self::MchipCvrCounters => ExpectedLen::Between(18, 32),
        }
    }

    /// Appends the part of `iad` to `out`; None when `iad` is too short.
    pub(crate) fn extend(self, iad: &[u8], out: &mut crate::ac::AcBuf) -> Option<()> {
        match self {
            Self::VisaCvr => out.push(iad.get(3..7)?),
            Self::Whole => out.push(iad),
            Self::MchipCvr => out.push(iad.get(2..8)?),
            Self::MchipCvrCounters => {
                out.push(iad.get(2..8)?)?;
                out.push(iad.get(10..18)?)
            }
        }
    }
}

impl fmt::Display for IadPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::VisaCvr => "the Visa CVR (IAD bytes 4-7)",
            Self::Whole => "the whole IAD",
            Self::MchipCvr => "the M/Chip CVR (IAD bytes 3-8)",
            Self::MchipCvrCounters => "the M/Chip CVR and counters (IAD bytes 3-8, 11-18)",
        })
    }
}

impl Cvn {
    /// Every version, in declaration (spec) order.
    pub const ALL: [Cvn; 7] = [
        Self::Visa10,
        Self::Visa18,
        Self::Visa22,
        Self::Mastercard16,
        Self::Mastercard17,
        Self::Mastercard20,
        Self::Mastercard21,
    ];

    /// Reads the CVN from Issuer Application Data (9F10):
    ///
    /// * Visa IAD formats 0, 1 and 3 start with the length `06`; byte 3 is the CVN
    ///   (`06 01 12 03 A0 B8 00` is CVN 18);
    /// * Visa IAD formats 2 and 4 start with the length `1F` (32 bytes); byte 2 is the CVN, whose
    ///   upper nibble is the format (`1F 22 ..` is CVN '22');
    /// * otherwise M/Chip: byte 1 is the key derivation index and byte 2 the CVN (`01 10 ..` is
    ///   CVN 16, `11` 17, `14` 20, `15` 21).
    pub fn from_iad(iad: &[u8]) -> Result<Cvn, CryptoError> {
        let visa = match iad.first() {
            None => {
                return Err(CryptoError::BadLength {
                    tag: tags::IAD,
                    expected: ExpectedLen::Between(1, 32),
                    got: 0,
                });
            }
            Some(0x06) => iad.get(2).and_then(|v| match v {
                0x0A => Some(Self::Visa10),
                0x12 => Some(Self::Visa18),
                _ => None,
            }),
            Some(0x1F) => iad
                .get(1)
                .and_then(|v| (*v == 0x22).then_some(Self::Visa22)),
            Some(_) => None,
        };
        if let Some(cvn) = visa {
            return Ok(cvn);
        }
        let mchip = iad.get(1).and_then(|v| match v {
            0x10 => Some(Self::Mastercard16),
            0x11 => Some(Self::Mastercard17),
            0x14 => Some(Self::Mastercard20),
            0x15 => Some(Self::Mastercard21),
            _ => None,
        });
        if let Some(cvn) = mchip {
            return Ok(cvn);
        }
        let value = match iad.first() {
            Some(0x06) => iad.get(2),
            _ => iad.get(1),
        };
        Err(CryptoError::UnknownCvn {
            value: value.copied(),
        })
    }

    /// The version's number as the schemes name it (`10`, `18`, `22`, `16`, ...).
    pub const fn number(self) -> u8 {
        match self {
            Self::Visa10 => 10,
            Self::Visa18 => 18,
            Self::Visa22 => 22,
            Self::Mastercard16 => 16,
            Self::Mastercard17 => 17,
            Self::Mastercard20 => 20,
            Self::Mastercard21 => 21,
        }
    }

    /// The byte that stands for this version in the IAD. Visa and Mastercard write their CVNs in
    /// decimal except Visa's '22', which is hex `22`.
    pub const fn iad_value(self) -> u8 {
        match self {
            Self::Visa10 => 0x0A,
            Self::Visa18 => 0x12,
            Self::Visa22 => 0x22,
            Self::Mastercard16 => 0x10,
            Self::Mastercard17 => 0x11,
            Self::Mastercard20 => 0x14,
            Self::Mastercard21 => 0x15,
        }
    }

    /// The scheme that defines the version.
    pub const fn scheme(self) -> Scheme {
        match self {
            Self::Visa10 | Self::Visa18 | Self::Visa22 => Scheme::Visa,
            _ => Scheme::Mastercard,
        }
    }

    /// The ICC master key derivation (EMV Book 2 A1.4) this version uses for a PAN of
    /// `pan_len` digits. Visa CVN 18 and '22' use option B, which is option A up to 16 digits;
    /// Visa CVN 10 and the Mastercard versions use option A at every length (the rightmost 16
    /// digits of PAN || PSN), as pyemv's classes and the schemes' host specifications do.
    pub const fn mk_derivation(self, pan_len: usize) -> MkDerivation {
        match self {
            Self::Visa18 | Self::Visa22 => MkDerivation::for_pan_len(pan_len),
            _ => MkDerivation::OptionA,
        }
    }

    /// How the application cryptogram session key is derived.
    pub const fn session_key_method(self) -> SessionKeyMethod {
        match self {
            Self::Visa10 => SessionKeyMethod::None,
            Self::Visa18 | Self::Visa22 | Self::Mastercard20 | Self::Mastercard21 => {
                SessionKeyMethod::Common
            }
            Self::Mastercard16 | Self::Mastercard17 => SessionKeyMethod::Mastercard,
        }
    }

    /// The key of the ARPC: Mastercard CVN 16 and 17 use the ICC master key although their
    /// cryptograms use a session key.
    pub const fn arpc_key_method(self) -> SessionKeyMethod {
        match self {
            Self::Visa10 | Self::Mastercard16 | Self::Mastercard17 => SessionKeyMethod::None,
            _ => SessionKeyMethod::Common,
        }
    }

    /// The ISO/IEC 9797-1 padding of the cryptogram data.
    pub const fn padding(self) -> Padding {
        match self {
            Self::Visa10 => Padding::Method1,
            _ => Padding::Method2,
        }
    }

    /// The IAD bytes that close the data set.
    pub const fn iad_part(self) -> IadPart {
        match self {
            Self::Visa10 => IadPart::VisaCvr,
            Self::Visa18 | Self::Visa22 => IadPart::Whole,
            Self::Mastercard16 | Self::Mastercard20 => IadPart::MchipCvr,
            Self::Mastercard17 | Self::Mastercard21 => IadPart::MchipCvrCounters,
        }
    }

    /// The ARPC method (EMV Book 2 8.2).
    pub const fn arpc_method(self) -> ArpcMethod {
        match self {
            Self::Visa18 | Self::Visa22 => ArpcMethod::Method2,
            _ => ArpcMethod::Method1,
        }
    }

    /// True when keys of `algorithm` are defined for this version here. Everything is defined
    /// for double-length 3DES. AES is defined only where EMV Book 2 defines each step with a
    /// generic block cipher: the common session key (A1.3.1), the AES-CMAC cryptogram (A1.2.2)
    /// and ARPC method 2, i.e. Visa CVN 18 and '22'; there are no scheme or pyemv vectors for it.
    pub const fn supports(self, algorithm: KeyAlgorithm) -> bool {
        match algorithm {
            KeyAlgorithm::Tdes2 => true,
            _ => matches!(self, Self::Visa18 | Self::Visa22),
        }
    }

    pub(crate) fn check_supported(self, algorithm: KeyAlgorithm) -> Result<(), CryptoError> {
        if self.supports(algorithm) {
            Ok(())
        } else {
            Err(CryptoError::UnsupportedAlgorithm {
                algorithm,
                operation: self.operation_name(),
            })
        }
    }

    const fn operation_name(self) -> &'static str {
        match self {
            Self::Visa10 => "Visa CVN 10",
            Self::Visa18 => "Visa CVN 18",
            Self::Visa22 => "Visa CVN 22",
            Self::Mastercard16 => "Mastercard CVN 16",
            Self::Mastercard17 => "Mastercard CVN 17",
            Self::Mastercard20 => "Mastercard CVN 20",
            Self::Mastercard21 => "Mastercard CVN 21",
        }
    }
}

impl fmt::Display for Cvn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.operation_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn reads_the_cvn_from_each_iad_format() {
        assert_eq!(Cvn::from_iad(&h("06011203A0B800")), Ok(Cvn::Visa18));
        assert_eq!(Cvn::from_iad(&h("06010A03A06010")), Ok(Cvn::Visa10));
        let mut f2 = vec![0x1F, 0x22, 0x01];
        f2.resize(32, 0);
        assert_eq!(Cvn::from_iad(&f2), Ok(Cvn::Visa22));
        assert_eq!(
            Cvn::from_iad(&h("0110A00003220000000000000000000000FF")),
            Ok(Cvn::Mastercard16)
        );
        assert_eq!(
            Cvn::from_iad(&h("0111A00003220000000000000000000322FF")),
            Ok(Cvn::Mastercard17)
        );
        assert_eq!(
            Cvn::from_iad(&h("0114A00003220000000000000000000000FF")),
            Ok(Cvn::Mastercard20)
        );
        assert_eq!(
            Cvn::from_iad(&h("0115A00003220000000000000000000322FF")),
            Ok(Cvn::Mastercard21)
        );
    }

    #[test]
    fn unknown_and_short_iads_are_errors() {
        assert_eq!(
            Cvn::from_iad(&h("06011103A0B800")),
            Err(CryptoError::UnknownCvn { value: Some(0x11) })
        );
        assert_eq!(
            Cvn::from_iad(&h("0199")),
            Err(CryptoError::UnknownCvn { value: Some(0x99) })
        );
        assert_eq!(
            Cvn::from_iad(&h("01")),
            Err(CryptoError::UnknownCvn { value: None })
        );
        assert!(matches!(
            Cvn::from_iad(&[]),
            Err(CryptoError::BadLength { .. })
        ));
    }

    #[test]
    fn numbers_values_and_schemes() {
        for cvn in Cvn::ALL {
            let mut iad = match cvn.scheme() {
                Scheme::Visa if cvn == Cvn::Visa22 => vec![0x1F, cvn.iad_value()],
                Scheme::Visa => vec![0x06, 0x01, cvn.iad_value(), 0x03, 0, 0, 0],
                Scheme::Mastercard => vec![0x01, cvn.iad_value()],
            };
            iad.resize(18, 0);
            assert_eq!(Cvn::from_iad(&iad), Ok(cvn), "{cvn}");
            assert!(cvn.to_string().ends_with(&cvn.number().to_string()));
        }
        assert_eq!(Cvn::Visa18.number(), 18);
        assert_eq!(Cvn::Mastercard21.scheme(), Scheme::Mastercard);
    }
}
