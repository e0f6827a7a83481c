//! Transaction Type (`9C`): the first two digits of ISO 8583 processing code (DE 3).

use core::fmt;

use crate::EmvError;

/// Transaction Type (tag `9C`, `n 2`, 1 byte), kept as its wire byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransactionType(pub u8);

impl TransactionType {
    /// The element's name and tag, as errors print it.
    pub const ELEMENT: &'static str = "Transaction Type (9C)";
    /// `00`: purchase of goods or services.
    pub const PURCHASE: Self = Self(0x00);
    /// `01`: cash (withdrawal, advance).
    pub const CASH: Self = Self(0x01);
    /// `09`: purchase with cashback.
    pub const PURCHASE_WITH_CASHBACK: Self = Self(0x09);
    /// `20`: refund.
    pub const REFUND: Self = Self(0x20);
    /// `30`: balance inquiry.
    pub const INQUIRY: Self = Self(0x30);

    /// Parses the value of `9C`, checking its length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EmvError> {
        match bytes {
            [b] => Ok(Self(*b)),
            _ => Err(EmvError::length(Self::ELEMENT, 1, 1, bytes.len())),
        }
    }

    /// The wire bytes.
    pub const fn to_bytes(self) -> [u8; 1] {
        [self.0]
    }

    /// The name of a known type.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0x00 => Some("Purchase"),
            0x01 => Some("Cash"),
            0x09 => Some("Purchase with cashback"),
            0x20 => Some("Refund"),
            0x30 => Some("Inquiry"),
            _ => None,
        }
    }

    /// True for cash (`01`).
    pub const fn is_cash(self) -> bool {
        self.0 == Self::CASH.0
    }
}

impl fmt::Display for TransactionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "type {:02X}", self.0),
        }
    }
}

impl TryFrom<&[u8]> for TransactionType {
    type Error = EmvError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_types() {
        assert_eq!(
            TransactionType::from_bytes(&[0x09]).unwrap(),
            TransactionType::PURCHASE_WITH_CASHBACK
        );
        assert_eq!(TransactionType::REFUND.to_bytes(), [0x20]);
        assert_eq!(TransactionType::PURCHASE.to_string(), "Purchase");
        assert_eq!(TransactionType(0x17).to_string(), "type 17");
        assert!(TransactionType::CASH.is_cash());
        assert!(TransactionType::from_bytes(&[]).is_err());
        assert!(TransactionType::from_bytes(&[0, 0]).is_err());
    }
}
