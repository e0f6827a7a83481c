//! Primary Account Number: 12 to 19 digits with a valid Luhn check digit (ISO/IEC 7812-1).

use core::fmt;

use secret::{Secret, mask_digits};

use crate::bcd;

/// A validated PAN. Its digits stay in a [`Secret`]; `Debug` and `Display` show at most the first
/// six and last four digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan {
    digits: Secret<String>,
}

/// Why a string is not a PAN. Never carries the digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanError {
    /// A character other than a digit, space or hyphen, at this position.
    NotADigit {
        /// Zero-based character position.
        position: usize,
    },
    /// Fewer than 12 or more than 19 digits.
    Length {
        /// Digits found.
        len: usize,
    },
    /// The check digit does not match (ISO/IEC 7812-1 Luhn).
    Luhn,
    /// The BCD (`cn`) encoding is malformed.
    Encoding,
}

impl fmt::Display for PanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotADigit { position } => {
                write!(
                    f,
                    "card number has a non-digit at position {}",
                    position + 1
                )
            }
            Self::Length { len } => write!(f, "card number has {len} digits; expected 12 to 19"),
            Self::Luhn => f.write_str("card number check digit is wrong (Luhn): check for a typo"),
            Self::Encoding => f.write_str("card number encoding is malformed"),
        }
    }
}

impl std::error::Error for PanError {}

/// True when the digit string passes the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    luhn_sum(digits, false).is_some_and(|s| s % 10 == 0)
}

/// The check digit to append to `partial` so that the whole passes Luhn (`None` on a non-digit).
pub fn luhn_check_digit(partial: &str) -> Option<u8> {
    let sum = luhn_sum(partial, true)?;
    u8::try_from((10 - sum % 10) % 10).ok()
}

/// Luhn sum; when `for_check_digit`, the rightmost digit of `digits` is doubled (it will sit
/// left of the check digit).
fn luhn_sum(digits: &str, for_check_digit: bool) -> Option<u32> {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = u32::from(c - b'0');
        let double = (i % 2 == 1) != for_check_digit;
        sum += if double {
            if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
        } else {
            d
        };
    }
    Some(sum)
}

impl Pan {
    /// Parses a PAN typed by a person: spaces and hyphens are ignored.
    pub fn parse(input: &str) -> Result<Self, PanError> {
        let mut digits = String::with_capacity(19);
        for (position, c) in input.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(PanError::NotADigit { position }),
            }
        }
        Self::from_digits(digits)
    }

    fn from_digits(digits: String) -> Result<Self, PanError> {
        let digits = Secret::new(digits);
        let len = digits.expose().len();
        if !(12..=19).contains(&len) {
            return Err(PanError::Length { len });
        }
        if !luhn_valid(digits.expose()) {
            return Err(PanError::Luhn);
        }
        Ok(Self { digits })
    }

    /// Decodes tag 5A (`cn`, `F`-padded).
    pub fn from_bcd(bytes: &[u8]) -> Result<Self, PanError> {
        let digits = bcd::decode_cn(bytes).ok_or(PanError::Encoding)?;
        Self::from_digits(digits)
    }

    /// Encodes as tag 5A (`cn`, `F`-padded).
    pub fn to_bcd(&self) -> Secret<Vec<u8>> {
        // Invariant: a Pan holds only ASCII digits, so encoding cannot fail.
        Secret::new(bcd::encode_cn(self.digits.expose()).unwrap_or_default())
    }

    /// The digits. Every caller is a place where the PAN leaves its box.
    pub fn expose_digits(&self) -> &str {
        self.digits.expose()
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.digits.expose().len()
    }

    /// Always false: a PAN has at least 12 digits.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The first six digits (the BIN / IIN), which are not secret.
    pub fn bin6(&self) -> &str {
        self.digits.expose().get(..6).unwrap_or_default()
    }

    /// The last four digits, which are not secret.
    pub fn last4(&self) -> &str {
        let d = self.digits.expose();
        d.get(d.len().saturating_sub(4)..).unwrap_or_default()
    }

    /// First six, last four, the rest as `*`.
    pub fn masked(&self) -> String {
        mask_digits(self.digits.expose())
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl core::str::FromStr for Pan {
    type Err = PanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn parses_and_masks() {
        let pan = Pan::parse("4761 7390 0101 0010").unwrap();
        assert_eq!(pan.len(), 16);
        assert_eq!(pan.masked(), "476173******0010");
        assert_eq!(format!("{pan:?}"), "Pan(476173******0010)");
        assert_eq!(pan.to_string(), "476173******0010");
        assert_eq!(pan.bin6(), "476173");
        assert_eq!(pan.last4(), "0010");
        assert_eq!(
            pan.to_bcd().expose(),
            &vec![0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, 0x10]
        );
        assert_eq!(
            Pan::from_bcd(&[0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, 0x10]).unwrap(),
            pan
        );
    }

    #[test]
    fn rejects_bad_pans_without_echoing_them() {
        assert_eq!(Pan::parse("4761739001010011"), Err(PanError::Luhn));
        assert_eq!(Pan::parse("47617390010"), Err(PanError::Length { len: 11 }));
        assert_eq!(
            Pan::parse("47617390010100100000"),
            Err(PanError::Length { len: 20 })
        );
        assert_eq!(
            Pan::parse("4761x39001010010"),
            Err(PanError::NotADigit { position: 4 })
        );
        let msg = Pan::parse("4761739001010011").unwrap_err().to_string();
        assert!(!msg.contains("4761739001010011"));
        // 19-digit PAN with an odd number of digits round-trips through cn.
        let long = format!(
            "541333008901234567{}",
            luhn_check_digit("541333008901234567").unwrap()
        );
        let pan = Pan::parse(&long).unwrap();
        assert_eq!(Pan::from_bcd(pan.to_bcd().expose()).unwrap(), pan);
        assert_eq!(
            pan.masked(),
            "541333*********4567".replacen("4567", &long[15..], 1)
        );
    }

    proptest! {
        #[test]
        fn check_digit_makes_valid(prefix in "[0-9]{11,18}") {
            let d = luhn_check_digit(&prefix).unwrap();
            let full = format!("{prefix}{d}");
            prop_assert!(luhn_valid(&full));
            prop_assert!(Pan::parse(&full).is_ok());
            // Any single-digit change breaks it.
            let mut bytes = full.clone().into_bytes();
            let last = bytes.len() - 1;
            bytes[last] = b'0' + (d + 1) % 10;
            prop_assert!(!luhn_valid(core::str::from_utf8(&bytes).unwrap()));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = Pan::parse(&s);
        }
    }
}
