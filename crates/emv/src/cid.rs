//! Cryptogram Information Data (`9F27`, Book 3 Table 15): which cryptogram the card returned,
//! whether it wants an advice, and why.

use core::fmt;

use crate::{EmvError, hex};

/// The cryptogram type, as the value of CID bits b8-b7 (`00`, `40`, `80`, `C0`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CryptogramType(pub u8);

impl CryptogramType {
    /// `00`: Application Authentication Cryptogram (decline).
    pub const AAC: Self = Self(0x00);
    /// `40`: Transaction Certificate (approve offline).
    pub const TC: Self = Self(0x40);
    /// `80`: Authorisation Request Cryptogram (go online).
    pub const ARQC: Self = Self(0x80);
    /// `C0`: Application Authorisation Referral (EMV 3.1; RFU since EMV 4.0).
    pub const AAR: Self = Self(0xC0);

    /// The cryptogram's abbreviation.
    pub const fn name(self) -> &'static str {
        match self.0 & 0xC0 {
            0x00 => "AAC",
            0x40 => "TC",
            0x80 => "ARQC",
            _ => "AAR",
        }
    }
}

impl fmt::Display for CryptogramType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Debug for CryptogramType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CryptogramType({})", self.name())
    }
}

/// The reason/advice code, CID bits b3-b1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CidReason(pub u8);

impl CidReason {
    /// `000`: no information given.
    pub const NO_INFORMATION: Self = Self(0b000);
    /// `001`: service not allowed.
    pub const SERVICE_NOT_ALLOWED: Self = Self(0b001);
    /// `010`: PIN Try Limit exceeded.
    pub const PIN_TRY_LIMIT_EXCEEDED: Self = Self(0b010);
    /// `011`: issuer authentication failed.
    pub const ISSUER_AUTHENTICATION_FAILED: Self = Self(0b011);

    /// The spec's wording (`None` for RFU codes).
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0b000 => Some("No information given"),
            0b001 => Some("Service not allowed"),
            0b010 => Some("PIN Try Limit exceeded"),
            0b011 => Some("Issuer authentication failed"),
            _ => None,
        }
    }
}

/// Cryptogram Information Data (CID, tag `9F27`, 1 byte).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cid(u8);

impl Cid {
    /// The element's name and tag, as errors print it.
    pub const ELEMENT: &'static str = "CID (9F27)";
    /// An AAC, nothing else set.
    pub const AAC: Self = Self(0x00);
    /// A TC, nothing else set.
    pub const TC: Self = Self(0x40);
    /// An ARQC, nothing else set.
    pub const ARQC: Self = Self(0x80);

    const ADVICE: u8 = 0x08;

    /// A CID from its parts (payment-system bits b6-b5 clear).
    pub const fn new(cryptogram: CryptogramType, advice_required: bool, reason: CidReason) -> Self {
        let advice = if advice_required { Self::ADVICE } else { 0 };
        Self((cryptogram.0 & 0xC0) | advice | (reason.0 & 0x07))
    }

    /// Wraps the wire byte as it is.
    pub const fn from_byte(byte: u8) -> Self {
        Self(byte)
    }

    /// Parses the value of `9F27`, checking its length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EmvError> {
        match bytes {
            [b] => Ok(Self(*b)),
            _ => Err(EmvError::length(Self::ELEMENT, 1, 1, bytes.len())),
        }
    }

    /// The wire byte.
    pub const fn to_byte(self) -> u8 {
        self.0
    }

    /// The wire bytes.
    pub const fn to_bytes(self) -> [u8; 1] {
        [self.0]
    }

    /// b8-b7: the cryptogram type.
    pub const fn cryptogram_type(self) -> CryptogramType {
        CryptogramType(self.0 & 0xC0)
    }

    /// A copy with b8-b7 set to `cryptogram`.
    #[must_use]
    pub const fn with_cryptogram_type(self, cryptogram: CryptogramType) -> Self {
        Self((self.0 & !0xC0) | (cryptogram.0 & 0xC0))
    }

    /// b6-b5: payment-system-specific cryptogram bits.
    pub const fn payment_system_bits(self) -> u8 {
        (self.0 >> 4) & 0x03
    }

    /// b4: advice required.
    pub const fn advice_required(self) -> bool {
        self.0 & Self::ADVICE != 0
    }

    /// A copy with b4 (advice required) set or cleared.
    #[must_use]
    pub const fn with_advice_required(self, on: bool) -> Self {
        if on {
            Self(self.0 | Self::ADVICE)
        } else {
            Self(self.0 & !Self::ADVICE)
        }
    }

    /// b3-b1: reason/advice code.
    pub const fn reason(self) -> CidReason {
        CidReason(self.0 & 0x07)
    }

    /// A copy with b3-b1 set to `reason`.
    #[must_use]
    pub const fn with_reason(self, reason: CidReason) -> Self {
        Self((self.0 & !0x07) | (reason.0 & 0x07))
    }

    /// The cryptogram type, then any advice, reason and payment-system bits.
    pub fn describe(self) -> Vec<String> {
        let mut out = vec![self.cryptogram_type().name().to_owned()];
        if self.payment_system_bits() != 0 {
            out.push(format!(
                "payment-system bits {:02b}",
                self.payment_system_bits()
            ));
        }
        if self.advice_required() {
            out.push("Advice required".to_owned());
        }
        match (self.reason(), self.reason().name()) {
            (CidReason::NO_INFORMATION, _) => {}
            (_, Some(name)) => out.push(name.to_owned()),
            (r, None) => out.push(format!("reason {:03b} (RFU)", r.0)),
        }
        out
    }
}

impl fmt::Display for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().join(", "))
    }
}

impl fmt::Debug for Cid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cid({})", hex(&[self.0]))
    }
}

impl TryFrom<&[u8]> for Cid {
    type Error = EmvError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_cids() {
        assert_eq!(Cid::from_bytes(&[0x80]).unwrap(), Cid::ARQC);
        assert_eq!(Cid::ARQC.cryptogram_type(), CryptogramType::ARQC);
        assert_eq!(Cid::TC.cryptogram_type(), CryptogramType::TC);
        assert_eq!(Cid::AAC.cryptogram_type(), CryptogramType::AAC);
        assert_eq!(Cid::from_byte(0xC0).cryptogram_type(), CryptogramType::AAR);
        let advice = Cid::new(CryptogramType::AAC, true, CidReason::PIN_TRY_LIMIT_EXCEEDED);
        assert_eq!(advice.to_bytes(), [0x0A]);
        assert!(advice.advice_required());
        assert_eq!(advice.reason(), CidReason::PIN_TRY_LIMIT_EXCEEDED);
        assert_eq!(
            advice.to_string(),
            "AAC, Advice required, PIN Try Limit exceeded"
        );
        assert_eq!(Cid::ARQC.to_string(), "ARQC");
        assert_eq!(
            Cid::AAC
                .with_cryptogram_type(CryptogramType::TC)
                .with_advice_required(true),
            Cid::from_byte(0x48)
        );
        assert_eq!(Cid::from_byte(0x48).with_advice_required(false), Cid::TC);
        assert_eq!(Cid::from_byte(0x07).describe(), ["AAC", "reason 111 (RFU)"]);
        assert_eq!(format!("{:?}", Cid::ARQC), "Cid(80)");
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert!(Cid::from_bytes(&[]).is_err());
        assert!(Cid::from_bytes(&[0x80, 0x00]).is_err());
    }
}
