//! Cardholder verification: the CVM List (`8E`, Book 3 10.5 and Annex C3) and the CVM Results
//! (`9F34`, Book 4 Annex A4).

use core::fmt;

use crate::{EmvError, EmvErrorKind, hex};

/// A CVM code: the low six bits of a CV Rule's first byte (Book 3 Table 43).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CvmMethod(pub u8);

impl CvmMethod {
    /// `00`: fail CVM processing.
    pub const FAIL: Self = Self(0x00);
    /// `01`: plaintext PIN verification performed by ICC.
    pub const PLAINTEXT_PIN_BY_ICC: Self = Self(0x01);
    /// `02`: enciphered PIN verified online.
    pub const ENCIPHERED_PIN_ONLINE: Self = Self(0x02);
    /// `03`: plaintext PIN verification performed by ICC and signature (paper).
    pub const PLAINTEXT_PIN_BY_ICC_AND_SIGNATURE: Self = Self(0x03);
    /// `04`: enciphered PIN verification performed by ICC.
    pub const ENCIPHERED_PIN_BY_ICC: Self = Self(0x04);
    /// `05`: enciphered PIN verification performed by ICC and signature (paper).
    pub const ENCIPHERED_PIN_BY_ICC_AND_SIGNATURE: Self = Self(0x05);
    /// `1E`: signature (paper).
    pub const SIGNATURE: Self = Self(0x1E);
    /// `1F`: no CVM required.
    pub const NO_CVM_REQUIRED: Self = Self(0x1F);
    /// `3F`: no CVM performed (CVM Results only; not a valid CV Rule).
    pub const NOT_PERFORMED: Self = Self(0x3F);

    /// The spec's wording.
    pub const fn name(self) -> &'static str {
        match self.0 & 0x3F {
            0x00 => "Fail CVM processing",
            0x01 => "Plaintext PIN verification performed by ICC",
            0x02 => "Enciphered PIN verified online",
            0x03 => "Plaintext PIN verification performed by ICC and signature (paper)",
            0x04 => "Enciphered PIN verification performed by ICC",
            0x05 => "Enciphered PIN verification performed by ICC and signature (paper)",
            0x06..=0x0F => "Biometric (EMV 4.4)",
            0x1E => "Signature (paper)",
            0x1F => "No CVM required",
            0x20..=0x2F => "Payment system specific",
            0x30..=0x3E => "Issuer specific",
            0x3F => "No CVM performed",
            _ => "RFU",
        }
    }
}

impl fmt::Display for CvmMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A CVM Condition Code: the second byte of a CV Rule (Book 3 Table 44).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CvmCondition(pub u8);

impl CvmCondition {
    /// `00`: always.
    pub const ALWAYS: Self = Self(0x00);
    /// `01`: if unattended cash.
    pub const UNATTENDED_CASH: Self = Self(0x01);
    /// `02`: if not unattended cash and not manual cash and not purchase with cashback.
    pub const NOT_CASH_OR_CASHBACK: Self = Self(0x02);
    /// `03`: if terminal supports the CVM.
    pub const TERMINAL_SUPPORTS_CVM: Self = Self(0x03);
    /// `04`: if manual cash.
    pub const MANUAL_CASH: Self = Self(0x04);
    /// `05`: if purchase with cashback.
    pub const PURCHASE_WITH_CASHBACK: Self = Self(0x05);
    /// `06`: if transaction is in the application currency and is under X value.
    pub const UNDER_X: Self = Self(0x06);
    /// `07`: if transaction is in the application currency and is over X value.
    pub const OVER_X: Self = Self(0x07);
    /// `08`: if transaction is in the application currency and is under Y value.
    pub const UNDER_Y: Self = Self(0x08);
    /// `09`: if transaction is in the application currency and is over Y value.
    pub const OVER_Y: Self = Self(0x09);

    /// The spec's wording (`None` for RFU and proprietary codes).
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "Always",
            0x01 => "If unattended cash",
            0x02 => "If not unattended cash and not manual cash and not purchase with cashback",
            0x03 => "If terminal supports the CVM",
            0x04 => "If manual cash",
            0x05 => "If purchase with cashback",
            0x06 => "If transaction is in the application currency and is under X value",
            0x07 => "If transaction is in the application currency and is over X value",
            0x08 => "If transaction is in the application currency and is under Y value",
            0x09 => "If transaction is in the application currency and is over Y value",
            _ => return None,
        })
    }
}

impl fmt::Display for CvmCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "condition {:02X} (RFU or proprietary)", self.0),
        }
    }
}

/// One Cardholder Verification Rule (2 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CvmRule {
    /// The CVM (b6-b1 of byte 1).
    pub method: CvmMethod,
    /// When the rule applies (byte 2).
    pub condition: CvmCondition,
    /// Byte 1 b7: apply the next rule if this CVM is unsuccessful.
    pub apply_next_if_unsuccessful: bool,
}

impl CvmRule {
    const NEXT: u8 = 0x40;

    /// A rule from its parts.
    pub const fn new(method: CvmMethod, condition: CvmCondition, apply_next: bool) -> Self {
        Self {
            method,
            condition,
            apply_next_if_unsuccessful: apply_next,
        }
    }

    /// Decodes a rule (byte 1 b8, RFU, is dropped).
    pub const fn from_array(bytes: [u8; 2]) -> Self {
        Self {
            method: CvmMethod(bytes[0] & 0x3F),
            condition: CvmCondition(bytes[1]),
            apply_next_if_unsuccessful: bytes[0] & Self::NEXT != 0,
        }
    }

    /// The two wire bytes.
    pub const fn to_bytes(self) -> [u8; 2] {
        let next = if self.apply_next_if_unsuccessful {
            Self::NEXT
        } else {
            0
        };
        [(self.method.0 & 0x3F) | next, self.condition.0]
    }
}

impl fmt::Display for CvmRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.method, self.condition)?;
        if self.apply_next_if_unsuccessful {
            f.write_str(", else next rule")?;
        } else {
            f.write_str(", else fail")?;
        }
        Ok(())
    }
}

/// Cardholder Verification Method List (CVM List, tag `8E`): amounts X and Y, then CV Rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct CvmList {
    /// Amount X, in the application currency's minor units.
    pub amount_x: u32,
    /// Amount Y, in the application currency's minor units.
    pub amount_y: u32,
    /// The rules, in order.
    pub rules: Vec<CvmRule>,
}

impl CvmList {
    /// The element's name and tag, as errors print it.
    pub const ELEMENT: &'static str = "CVM List (8E)";
    /// Most value bytes (Book 3 Annex A).
    pub const MAX_LEN: usize = 252;

    /// A list from its parts.
    pub fn new(amount_x: u32, amount_y: u32, rules: Vec<CvmRule>) -> Self {
        Self {
            amount_x,
            amount_y,
            rules,
        }
    }

    /// Parses the value of `8E`: 8 bytes of amounts then 2-byte rules, at most 252 bytes.
    /// A list with no rules (8 bytes) is accepted; Book 3 10.5 treats it as an absent list.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EmvError> {
        if bytes.len() < 8 || bytes.len() > Self::MAX_LEN {
            return Err(EmvError::length(
                Self::ELEMENT,
                8,
                Self::MAX_LEN,
                bytes.len(),
            ));
        }
        let (amounts, rules) = bytes.split_at(8);
        if !rules.len().is_multiple_of(2) {
            return Err(EmvError::new(
                Self::ELEMENT,
                8,
                EmvErrorKind::NotMultiple {
                    unit: 2,
                    actual: rules.len(),
                },
            ));
        }
        let (x, y) = amounts.split_at(4);
        let amount = |b: &[u8]| b.iter().fold(0u32, |acc, &v| (acc << 8) | u32::from(v));
        Ok(Self {
            amount_x: amount(x),
            amount_y: amount(y),
            rules: rules
                .chunks_exact(2)
                .map(|c| CvmRule::from_array([c[0], c[1]]))
                .collect(),
        })
    }

    /// The wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 2 * self.rules.len());
        out.extend_from_slice(&self.amount_x.to_be_bytes());
        out.extend_from_slice(&self.amount_y.to_be_bytes());
        for r in &self.rules {
            out.extend_from_slice(&r.to_bytes());
        }
        out
    }

    /// One line for the amounts, then one per rule.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![format!("X={} Y={}", self.amount_x, self.amount_y)];
        out.extend(self.rules.iter().map(ToString::to_string));
        out
    }
}

impl fmt::Display for CvmList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().join("; "))
    }
}

impl TryFrom<&[u8]> for CvmList {
    type Error = EmvError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_bytes(bytes)
    }
}

/// The outcome byte of the CVM Results (Book 4 Table 33).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CvmResult(pub u8);

impl CvmResult {
    /// `00`: unknown (signature, for instance).
    pub const UNKNOWN: Self = Self(0x00);
    /// `01`: failed.
    pub const FAILED: Self = Self(0x01);
    /// `02`: successful.
    pub const SUCCESSFUL: Self = Self(0x02);

    /// The spec's wording.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0x00 => "Unknown",
            0x01 => "Failed",
            0x02 => "Successful",
            _ => "RFU",
        }
    }
}

impl fmt::Display for CvmResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Cardholder Verification Method Results (tag `9F34`, 3 bytes): the CVM performed, its
/// condition and the result.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CvmResults([u8; 3]);

impl CvmResults {
    /// The element's name and tag, as errors print it.
    pub const ELEMENT: &'static str = "CVM Results (9F34)";
    /// No CVM performed: `3F 00 00`.
    pub const NOT_PERFORMED: Self = Self([0x3F, 0x00, 0x00]);

    /// Results from their parts.
    pub const fn new(method: CvmMethod, condition: CvmCondition, result: CvmResult) -> Self {
        Self([method.0, condition.0, result.0])
    }

    /// Results for a CV Rule the terminal applied (byte 1 keeps the rule's b7).
    pub const fn from_rule(rule: CvmRule, result: CvmResult) -> Self {
        let bytes = rule.to_bytes();
        Self([bytes[0], bytes[1], result.0])
    }

    /// Wraps the wire bytes as they are.
    pub const fn from_array(bytes: [u8; 3]) -> Self {
        Self(bytes)
    }

    /// Parses the value of `9F34`, checking its length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EmvError> {
        <[u8; 3]>::try_from(bytes)
            .map(Self)
            .map_err(|_| EmvError::length(Self::ELEMENT, 3, 3, bytes.len()))
    }

    /// The wire bytes.
    pub const fn to_bytes(self) -> [u8; 3] {
        self.0
    }

    /// The wire bytes, borrowed.
    pub const fn as_bytes(&self) -> &[u8; 3] {
        &self.0
    }

    /// Byte 1 b6-b1: the CVM performed.
    pub const fn method(self) -> CvmMethod {
        CvmMethod(self.0[0] & 0x3F)
    }

    /// Byte 2: the condition of the rule applied.
    pub const fn condition(self) -> CvmCondition {
        CvmCondition(self.0[1])
    }

    /// Byte 3: the result.
    pub const fn result(self) -> CvmResult {
        CvmResult(self.0[2])
    }

    /// Method, condition and result in words.
    pub fn describe(self) -> Vec<String> {
        vec![
            self.method().to_string(),
            self.condition().to_string(),
            self.result().to_string(),
        ]
    }
}

impl fmt::Display for CvmResults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().join(", "))
    }
}

impl fmt::Debug for CvmResults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CvmResults({})", hex(&self.0))
    }
}

impl TryFrom<&[u8]> for CvmResults {
    type Error = EmvError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h;

    #[test]
    fn golden_cvm_list() {
        // X = 0, Y = 0; online PIN if supported (else next); signature if supported (else
        // next); no CVM always.
        let bytes = h("00000000 00000000 4203 5E03 1F00");
        let list = CvmList::from_bytes(&bytes).unwrap();
        assert_eq!((list.amount_x, list.amount_y), (0, 0));
        assert_eq!(
            list.rules,
            [
                CvmRule::new(
                    CvmMethod::ENCIPHERED_PIN_ONLINE,
                    CvmCondition::TERMINAL_SUPPORTS_CVM,
                    true
                ),
                CvmRule::new(
                    CvmMethod::SIGNATURE,
                    CvmCondition::TERMINAL_SUPPORTS_CVM,
                    true
                ),
                CvmRule::new(CvmMethod::NO_CVM_REQUIRED, CvmCondition::ALWAYS, false),
            ]
        );
        assert_eq!(list.to_bytes(), bytes);
        assert_eq!(
            list.describe()[1],
            "Enciphered PIN verified online, If terminal supports the CVM, else next rule"
        );
    }

    #[test]
    fn amounts_are_big_endian() {
        let list = CvmList::new(1000, 0x0102_0304, vec![]);
        assert_eq!(list.to_bytes(), h("000003E8 01020304"));
        assert_eq!(CvmList::from_bytes(&list.to_bytes()).unwrap(), list);
    }

    #[test]
    fn cvm_list_rejects_bad_lengths() {
        let short = CvmList::from_bytes(&h("00000000000000")).unwrap_err();
        assert_eq!(
            short.kind,
            EmvErrorKind::Length {
                min: 8,
                max: 252,
                actual: 7
            }
        );
        let odd = CvmList::from_bytes(&h("00000000 00000000 1F")).unwrap_err();
        assert_eq!(odd.kind, EmvErrorKind::NotMultiple { unit: 2, actual: 1 });
        assert_eq!(odd.offset, 8);
        assert!(CvmList::from_bytes(&[0; 254]).is_err());
        assert!(CvmList::from_bytes(&[0; 252]).is_ok());
    }

    #[test]
    fn golden_cvm_results() {
        let r = CvmResults::from_bytes(&h("420300")).unwrap();
        assert_eq!(r.method(), CvmMethod::ENCIPHERED_PIN_ONLINE);
        assert_eq!(r.condition(), CvmCondition::TERMINAL_SUPPORTS_CVM);
        assert_eq!(r.result(), CvmResult::UNKNOWN);
        let rule = CvmRule::new(
            CvmMethod::ENCIPHERED_PIN_ONLINE,
            CvmCondition::TERMINAL_SUPPORTS_CVM,
            true,
        );
        assert_eq!(CvmResults::from_rule(rule, CvmResult::UNKNOWN), r);
        assert_eq!(
            CvmResults::new(
                CvmMethod::NO_CVM_REQUIRED,
                CvmCondition::ALWAYS,
                CvmResult::SUCCESSFUL
            )
            .to_bytes(),
            [0x1F, 0x00, 0x02]
        );
        assert_eq!(
            CvmResults::NOT_PERFORMED.method().name(),
            "No CVM performed"
        );
        assert_eq!(
            CvmResults::from_array([0x1E, 0x03, 0x00]).to_string(),
            "Signature (paper), If terminal supports the CVM, Unknown"
        );
        assert!(CvmResults::from_bytes(&h("4203")).is_err());
    }
}
