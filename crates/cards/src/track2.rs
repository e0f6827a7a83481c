//! Track 2 Equivalent Data (tag 57): PAN, separator `D`, expiry YYMM, service code,
//! discretionary data, `F` padding to a whole byte (EMV Book 3, Annex A).

use core::fmt;

use secret::Secret;

use crate::{Expiry, Pan, PanError};

/// Decoded Track 2 equivalent data. Debug shows only the masked PAN.
#[derive(Clone, PartialEq, Eq)]
pub struct Track2 {
    /// The PAN.
    pub pan: Pan,
    /// Expiry (YYMM on the track).
    pub expiry: Expiry,
    /// Three-digit service code, e.g. `201` (international, IC, normal authorization).
    pub service_code: [u8; 3],
    /// Discretionary data digits (may hold PVKI, PVV, CVV or dCVV, ATC): secret.
    pub discretionary: Secret<String>,
}

/// Why tag 57 data is malformed. Never carries the digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track2Error {
    /// No `D` field separator.
    NoSeparator,
    /// A nibble that is not a digit where a digit belongs, or padding in the middle.
    BadNibble {
        /// Nibble position.
        position: usize,
    },
    /// Fewer than 7 digits after the separator (expiry and service code).
    TooShort,
    /// The PAN is invalid.
    Pan(PanError),
    /// The expiry is invalid.
    Expiry,
    /// More than 19 bytes (37 digits) of track data.
    TooLong,
}

impl fmt::Display for Track2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSeparator => f.write_str("track 2 data has no field separator"),
            Self::BadNibble { position } => {
                write!(f, "track 2 data has a bad nibble at {position}")
            }
            Self::TooShort => f.write_str("track 2 data is too short for expiry and service code"),
            Self::Pan(e) => write!(f, "track 2 data: {e}"),
            Self::Expiry => f.write_str("track 2 data has an invalid expiry"),
            Self::TooLong => f.write_str("track 2 data exceeds 19 bytes"),
        }
    }
}

impl std::error::Error for Track2Error {}

impl Track2 {
    /// Decodes tag 57.
    pub fn decode(bytes: &[u8]) -> Result<Self, Track2Error> {
        if bytes.len() > 19 {
            return Err(Track2Error::TooLong);
        }
        let mut digits = Secret::new(String::with_capacity(bytes.len() * 2));
        let mut sep = None;
        let mut padded = false;
        for (position, nibble) in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]).enumerate() {
            match nibble {
                0..=9 if !padded => digits.expose_mut().push(char::from(b'0' + nibble)),
                0x0D if sep.is_none() && !padded => {
                    sep = Some(digits.expose().len());
                }
                0x0F => padded = true,
                _ => return Err(Track2Error::BadNibble { position }),
            }
        }
        let sep = sep.ok_or(Track2Error::NoSeparator)?;
        let all = digits.expose();
        let (pan, rest) = all.split_at(sep);
        if rest.len() < 7 {
            return Err(Track2Error::TooShort);
        }
        let pan = Pan::parse(pan).map_err(Track2Error::Pan)?;
        let expiry = Expiry::parse_yymm(rest.get(..4).unwrap_or_default())
            .map_err(|_| Track2Error::Expiry)?;
        let mut service_code = [0u8; 3];
        for (slot, c) in service_code.iter_mut().zip(rest.bytes().skip(4)) {
            *slot = c - b'0';
        }
        let discretionary = Secret::new(rest.get(7..).unwrap_or_default().to_owned());
        Ok(Self {
            pan,
            expiry,
            service_code,
            discretionary,
        })
    }

    /// Encodes as tag 57.
    pub fn encode(&self) -> Secret<Vec<u8>> {
        let mut nibbles = Secret::new(Vec::with_capacity(40));
        let n = nibbles.expose_mut();
        n.extend(self.pan.expose_digits().bytes().map(|c| c - b'0'));
        n.push(0x0D);
        n.extend(self.expiry.yymm().bytes().map(|c| c - b'0'));
        n.extend_from_slice(&self.service_code);
        n.extend(
            self.discretionary
                .expose()
                .bytes()
                .filter(u8::is_ascii_digit)
                .map(|c| c - b'0'),
        );
        if n.len() % 2 == 1 {
            n.push(0x0F);
        }
        Secret::new(
            n.chunks(2)
                .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0x0F))
                .collect(),
        )
    }

    /// The service code as text, e.g. `201`.
    pub fn service_code_text(&self) -> String {
        self.service_code
            .iter()
            .map(|d| char::from(b'0' + d))
            .collect()
    }
}

impl fmt::Debug for Track2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Track2 {{ pan: {}, expiry: {}, service_code: {}, discretionary: [REDACTED] }}",
            self.pan.masked(),
            self.expiry,
            self.service_code_text()
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn round_trip_and_mask() {
        let t2 = Track2 {
            pan: Pan::parse("4761739001010010").unwrap(),
            expiry: Expiry::new(2028, 12).unwrap(),
            service_code: [2, 0, 1],
            discretionary: Secret::new("0000012345".into()),
        };
        let enc = t2.encode();
        assert_eq!(
            enc.expose(),
            &vec![
                0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, 0x10, 0xD2, 0x81, 0x22, 0x01, 0x00, 0x00,
                0x01, 0x23, 0x45
            ]
        );
        let back = Track2::decode(enc.expose()).unwrap();
        assert_eq!(back, t2);
        let dbg = format!("{back:?}");
        assert!(
            dbg.contains("476173******0010") && !dbg.contains("12345"),
            "{dbg}"
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Track2::decode(&[0x47, 0x61]), Err(Track2Error::NoSeparator));
        assert_eq!(
            Track2::decode(&[0x4A]),
            Err(Track2Error::BadNibble { position: 1 })
        );
        assert_eq!(
            Track2::decode(&[0x47, 0x61, 0xD2, 0x81]),
            Err(Track2Error::TooShort)
        );
        assert!(matches!(
            Track2::decode(&[
                0x47, 0x61, 0x73, 0x90, 0x01, 0x01, 0x00, 0x11, 0xD2, 0x81, 0x22, 0x01
            ]),
            Err(Track2Error::Pan(PanError::Luhn))
        ));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
            let _ = Track2::decode(&bytes);
        }
    }
}
