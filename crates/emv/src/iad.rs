//! Issuer Application Data (`9F10`): the card's proprietary data for the issuer, in one of the
//! layouts below (recognised by length, fixed bytes and the CVN).
//!
//! | Format | Layout |
//! |---|---|
//! | Visa 0, 1, 3 (CVN `0x`, `1x`, `3x`) | `06` DKI CVN CVR(4, first byte `03`) \[IDD length, IDD\] |
//! | Visa 2 (CVN `2x`), 32 bytes | `1F` CVN DKI CVR(5) IDD-option-ID IDD(23) |
//! | M/Chip 4 / Advance (CVN `1x`), 18/20/26/28 bytes | DKI CVN CVR(6) DAC/IDN(2) counters(8) \[more\] |
//! | EMV CCD (Book 3 C9), 32 bytes | `0F` CCI DKI CVR(5) counters(8) `0F` IDD(15) |
//!
//! Sources: VCPS 2.2 Appendix M (Visa), M/Chip Requirements Appendix B (Mastercard), EMV 4.4
//! Book 3 Annex C9 (CCD). Anything else is [`IadFormat::Unknown`] and kept as bytes.

use core::fmt;

use crate::{EmvError, EmvErrorKind, MchipCvr, VisaCvr, hex};

/// Cryptogram Version Number, as its wire byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cvn(pub u8);

impl Cvn {
    /// Visa CVN 10 (`0A`, IAD format 0).
    pub const VISA_10: Self = Self(0x0A);
    /// Visa CVN 17 (`11`, IAD format 1).
    pub const VISA_17: Self = Self(0x11);
    /// Visa CVN 18 (`12`, IAD format 1).
    pub const VISA_18: Self = Self(0x12);
    /// Visa CVN `22` (IAD format 2).
    pub const VISA_22: Self = Self(0x22);
    /// Mastercard CVN 16 (`10`): Mastercard session key derivation.
    pub const MCHIP_16: Self = Self(0x10);
    /// Mastercard CVN 17 (`11`): as CVN 16, counters in the cryptogram data.
    pub const MCHIP_17: Self = Self(0x11);
    /// Mastercard CVN 20 (`14`): EMV common session key derivation.
    pub const MCHIP_20: Self = Self(0x14);
    /// Mastercard CVN 21 (`15`): as CVN 20, counters in the cryptogram data.
    pub const MCHIP_21: Self = Self(0x15);

    /// The high nibble, which Visa uses as the IAD format number.
    pub const fn visa_format(self) -> u8 {
        self.0 >> 4
    }

    /// True when the byte fits an M/Chip CVN (`0001 0x0x`).
    pub const fn is_mchip(self) -> bool {
        self.0 & 0xF0 == 0x10 && self.0 & 0x0A == 0
    }
}

/// The layouts [`Iad`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IadFormat {
    /// Visa IAD format 0 (CVN `0x`, e.g. CVN 10).
    Visa0,
    /// Visa IAD format 1 (CVN `1x`, e.g. CVN 17, 18).
    Visa1,
    /// Visa IAD format 2 (CVN `2x`, 32 bytes).
    Visa2,
    /// Visa IAD format 3 (CVN `3x`).
    Visa3,
    /// Mastercard M/Chip 4 or M/Chip Advance.
    Mchip,
    /// EMV Common Core Definitions (Book 3 Annex C9).
    Ccd,
    /// Not recognised: the bytes are kept, no field is decoded.
    Unknown,
}

impl IadFormat {
    /// A short human name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Visa0 => "Visa format 0",
            Self::Visa1 => "Visa format 1",
            Self::Visa2 => "Visa format 2",
            Self::Visa3 => "Visa format 3",
            Self::Mchip => "M/Chip",
            Self::Ccd => "EMV CCD",
            Self::Unknown => "unrecognised format",
        }
    }

    const fn is_visa_013(self) -> bool {
        matches!(self, Self::Visa0 | Self::Visa1 | Self::Visa3)
    }
}

/// Issuer Application Data (IAD, tag `9F10`, up to 32 bytes).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Iad {
    bytes: Vec<u8>,
    format: IadFormat,
}

impl Iad {
    /// The element's name and tag, as errors print it.
    pub const ELEMENT: &'static str = "IAD (9F10)";
    /// Most value bytes (Book 3 Annex A).
    pub const MAX_LEN: usize = 32;
    /// Most IDD bytes in a Visa format 0/1/3 IAD (32 minus the 8 bytes before the IDD).
    pub const VISA_IDD_MAX_LEN: usize = 24;
    /// IDD bytes in a Visa format 2 IAD (after the option ID).
    pub const VISA2_IDD_LEN: usize = 23;

    /// Parses the value of `9F10`. Up to 32 bytes are accepted; an unrecognised layout is
    /// [`IadFormat::Unknown`]. A Visa format 0/1/3 IAD whose IDD length byte runs past the end
    /// is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EmvError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(EmvError::length(
                Self::ELEMENT,
                0,
                Self::MAX_LEN,
                bytes.len(),
            ));
        }
        let format = Self::recognise(bytes);
        if let (true, Some(&n)) = (format.is_visa_013(), bytes.get(7)) {
            let available = bytes.len() - 8;
            if usize::from(n) > available {
                let kind = EmvErrorKind::InnerLength {
                    what: "IDD length byte",
                    announced: usize::from(n),
                    available,
                };
                return Err(EmvError::new(Self::ELEMENT, 7, kind));
            }
        }
        Ok(Self {
            bytes: bytes.to_vec(),
            format,
        })
    }

    fn recognise(b: &[u8]) -> IadFormat {
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        let len = b.len();
        if len == 32 && at(0) == 0x0F && at(16) == 0x0F && matches!(at(1), 0xA5 | 0xA6) {
            return IadFormat::Ccd;
        }
        let visa = if len >= 7 && at(0) == 0x06 && at(3) == 0x03 {
            match Cvn(at(2)).visa_format() {
                0 => Some(IadFormat::Visa0),
                1 => Some(IadFormat::Visa1),
                3 => Some(IadFormat::Visa3),
                _ => None,
            }
        } else {
            None
        };
        // A Visa layout whose IDD length accounts for every byte wins over M/Chip; M/Chip wins
        // over a Visa layout with bytes to spare or missing.
        let visa_exact = len == 7 || len == 8 + usize::from(at(7));
        if let (Some(format), true) = (visa, visa_exact) {
            return format;
        }
        if matches!(len, 18 | 20 | 26 | 28) && Cvn(at(1)).is_mchip() {
            return IadFormat::Mchip;
        }
        if let Some(format) = visa {
            return format;
        }
        if len == 32 && at(0) == 0x1F && Cvn(at(1)).visa_format() == 2 && at(8) & 0xF0 == 0 {
            return IadFormat::Visa2;
        }
        IadFormat::Unknown
    }

    /// A Visa format 0/1/3 IAD: `06` DKI CVN CVR, then the IDD length and the IDD when `idd` is
    /// not empty. `06 01 12 03 A0 B8 00` is `Iad::visa(0x01, Cvn::VISA_18, cvr, &[])`.
    pub fn visa(dki: u8, cvn: Cvn, cvr: VisaCvr, idd: &[u8]) -> Result<Self, EmvError> {
        if !matches!(cvn.visa_format(), 0 | 1 | 3) {
            return Err(EmvError::new(
                Self::ELEMENT,
                2,
                EmvErrorKind::CvnFormat { cvn: cvn.0 },
            ));
        }
        let idd_len = u8::try_from(idd.len())
            .ok()
            .filter(|&n| usize::from(n) <= Self::VISA_IDD_MAX_LEN)
            .ok_or_else(|| {
                Self::out_of_range("IDD length", idd.len(), 0, Self::VISA_IDD_MAX_LEN)
            })?;
        let mut bytes = Vec::with_capacity(8 + idd.len());
        bytes.extend_from_slice(&[0x06, dki, cvn.0]);
        bytes.extend_from_slice(cvr.as_bytes());
        if !idd.is_empty() {
            bytes.push(idd_len);
            bytes.extend_from_slice(idd);
        }
        Self::built(&bytes, IadFormat::is_visa_013)
    }

    /// A Visa format 2 IAD (32 bytes): `1F` CVN DKI CVR(5) option ID, then `idd` padded with
    /// zeros to 23 bytes. The option ID is 0 to 15.
    pub fn visa_format2(
        cvn: Cvn,
        dki: u8,
        cvr: [u8; 5],
        idd_option_id: u8,
        idd: &[u8],
    ) -> Result<Self, EmvError> {
        if cvn.visa_format() != 2 {
            return Err(EmvError::new(
                Self::ELEMENT,
                1,
                EmvErrorKind::CvnFormat { cvn: cvn.0 },
            ));
        }
        if idd_option_id > 0x0F {
            return Err(Self::out_of_range(
                "IDD option ID",
                usize::from(idd_option_id),
                0,
                15,
            ));
        }
        if idd.len() > Self::VISA2_IDD_LEN {
            return Err(Self::out_of_range(
                "IDD length",
                idd.len(),
                0,
                Self::VISA2_IDD_LEN,
            ));
        }
        let mut bytes = Vec::with_capacity(Self::MAX_LEN);
        bytes.extend_from_slice(&[0x1F, cvn.0, dki]);
        bytes.extend_from_slice(&cvr);
        bytes.push(idd_option_id);
        bytes.extend_from_slice(idd);
        bytes.resize(Self::MAX_LEN, 0x00);
        Self::built(&bytes, |f| f == IadFormat::Visa2)
    }

    /// An M/Chip 4 IAD (18 bytes): DKI CVN CVR(6) DAC/IDN(2) counters(8). The CVN must be an
    /// M/Chip one (`10`, `11`, `14`, `15`).
    pub fn mchip(
        dki: u8,
        cvn: Cvn,
        cvr: MchipCvr,
        dac_idn: [u8; 2],
        counters: [u8; 8],
    ) -> Result<Self, EmvError> {
        if !cvn.is_mchip() {
            return Err(EmvError::new(
                Self::ELEMENT,
                1,
                EmvErrorKind::CvnFormat { cvn: cvn.0 },
            ));
        }
        let mut bytes = Vec::with_capacity(18);
        bytes.extend_from_slice(&[dki, cvn.0]);
        bytes.extend_from_slice(cvr.as_bytes());
        bytes.extend_from_slice(&dac_idn);
        bytes.extend_from_slice(&counters);
        Self::built(&bytes, |f| f == IadFormat::Mchip)
    }

    /// Parses what a builder made, refusing parts that read back as another layout.
    fn built(bytes: &[u8], expected: fn(IadFormat) -> bool) -> Result<Self, EmvError> {
        let iad = Self::from_bytes(bytes)?;
        if expected(iad.format) {
            Ok(iad)
        } else {
            let kind = EmvErrorKind::Ambiguous {
                read_as: iad.format.name(),
            };
            Err(EmvError::new(Self::ELEMENT, 0, kind))
        }
    }

    fn out_of_range(what: &'static str, value: usize, min: usize, max: usize) -> EmvError {
        EmvError::new(
            Self::ELEMENT,
            0,
            EmvErrorKind::OutOfRange {
                what,
                value,
                min,
                max,
            },
        )
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    /// The recognised layout.
    pub const fn format(&self) -> IadFormat {
        self.format
    }

    /// The wire bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The wire bytes, owned.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The Cryptogram Version Number (for CCD, the Common Core Identifier).
    pub fn cvn(&self) -> Option<Cvn> {
        match self.format {
            IadFormat::Visa0 | IadFormat::Visa1 | IadFormat::Visa3 => self.at(2).map(Cvn),
            IadFormat::Visa2 | IadFormat::Mchip | IadFormat::Ccd => self.at(1).map(Cvn),
            IadFormat::Unknown => None,
        }
    }

    /// The Derivation Key Index.
    pub fn dki(&self) -> Option<u8> {
        match self.format {
            IadFormat::Visa0 | IadFormat::Visa1 | IadFormat::Visa3 => self.at(1),
            IadFormat::Visa2 | IadFormat::Ccd => self.at(2),
            IadFormat::Mchip => self.at(0),
            IadFormat::Unknown => None,
        }
    }

    /// The Card Verification Results as they sit in the IAD (Visa 0/1/3: 4 bytes with the
    /// length byte; Visa 2 and CCD: 5 bytes; M/Chip: 6 bytes).
    pub fn cvr_bytes(&self) -> Option<&[u8]> {
        let range = match self.format {
            IadFormat::Visa0 | IadFormat::Visa1 | IadFormat::Visa3 => 3..7,
            IadFormat::Visa2 | IadFormat::Ccd => 3..8,
            IadFormat::Mchip => 2..8,
            IadFormat::Unknown => return None,
        };
        self.bytes.get(range)
    }

    /// The Visa CVR of a format 0/1/3 IAD.
    pub fn visa_cvr(&self) -> Option<VisaCvr> {
        if !self.format.is_visa_013() {
            return None;
        }
        self.cvr_bytes().and_then(|b| VisaCvr::from_bytes(b).ok())
    }

    /// The M/Chip CVR.
    pub fn mchip_cvr(&self) -> Option<MchipCvr> {
        if self.format != IadFormat::Mchip {
            return None;
        }
        self.cvr_bytes().and_then(|b| MchipCvr::from_bytes(b).ok())
    }

    /// Issuer Discretionary Data: Visa 0/1/3 the bytes the IDD length announces (none when the
    /// IAD stops after the CVR); Visa 2 the 23 bytes after the option ID; CCD bytes 18-32.
    pub fn idd(&self) -> Option<&[u8]> {
        match self.format {
            IadFormat::Visa0 | IadFormat::Visa1 | IadFormat::Visa3 => {
                let n = usize::from(self.at(7)?);
                self.bytes.get(8..8 + n)
            }
            IadFormat::Visa2 => self.bytes.get(9..),
            IadFormat::Ccd => self.bytes.get(17..),
            IadFormat::Mchip | IadFormat::Unknown => None,
        }
    }

    /// The IDD option ID of a Visa format 2 IAD (byte 9, low nibble).
    pub fn idd_option_id(&self) -> Option<u8> {
        match self.format {
            IadFormat::Visa2 => self.at(8).map(|b| b & 0x0F),
            _ => None,
        }
    }

    /// The DAC/IDN (bytes 9-10) of an M/Chip IAD.
    pub fn mchip_dac_idn(&self) -> Option<[u8; 2]> {
        match self.format {
            IadFormat::Mchip => self.bytes.get(8..10).and_then(|b| b.try_into().ok()),
            _ => None,
        }
    }

    /// The counters (bytes 11-18) of an M/Chip IAD, or (bytes 9-16) of a CCD one.
    pub fn counters(&self) -> Option<&[u8]> {
        match self.format {
            IadFormat::Mchip => self.bytes.get(10..18),
            IadFormat::Ccd => self.bytes.get(8..16),
            _ => None,
        }
    }

    /// The format, DKI, CVN and CVR (decoded where the type is known), in words.
    pub fn describe(&self) -> Vec<String> {
        let mut out = vec![self.format.name().to_owned()];
        if let Some(dki) = self.dki() {
            out.push(format!("DKI {dki:02X}"));
        }
        if let Some(cvn) = self.cvn() {
            // The schemes name their CVNs in decimal (byte 12 is CVN 18), except Visa's format 2
            // versions, named by their hex value ('22').
            let name = match self.format {
                IadFormat::Visa2 => format!("CVN '{:02X}'", cvn.0),
                _ => format!("CVN {} ({:02X})", cvn.0, cvn.0),
            };
            out.push(name);
        }
        if let Some(cvr) = self.cvr_bytes() {
            let words = self
                .visa_cvr()
                .map(VisaCvr::describe)
                .or_else(|| self.mchip_cvr().map(MchipCvr::describe));
            match words {
                Some(w) if !w.is_empty() => {
                    out.push(format!("CVR {} ({})", hex(cvr), w.join(", ")))
                }
                _ => out.push(format!("CVR {}", hex(cvr))),
            }
        }
        if let Some(idd) = self.idd().filter(|i| !i.is_empty()) {
            out.push(format!("IDD {}", hex(idd)));
        }
        out
    }
}

impl fmt::Display for Iad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().join(", "))
    }
}

impl fmt::Debug for Iad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iad({:?}, {})", self.format, hex(&self.bytes))
    }
}

impl TryFrom<&[u8]> for Iad {
    type Error = EmvError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CryptogramType, h};

    fn arqc_cvr() -> VisaCvr {
        VisaCvr::EMPTY
            .with_second_ac(None)
            .with_first_ac(CryptogramType::ARQC)
            .with_last_online_transaction_not_completed(true)
            .with_velocity_counters_exceeded(true)
            .with_new_card(true)
            .with_issuer_authentication_failed_last_online(true)
    }

    #[test]
    fn golden_visa_cvn18() {
        let iad = Iad::visa(0x01, Cvn::VISA_18, arqc_cvr(), &[]).unwrap();
        assert_eq!(iad.as_bytes(), h("06011203A0B800"));
        let parsed = Iad::from_bytes(&h("06011203A0B800")).unwrap();
        assert_eq!(parsed, iad);
        assert_eq!(parsed.format(), IadFormat::Visa1);
        assert_eq!(parsed.cvn(), Some(Cvn::VISA_18));
        assert_eq!(parsed.dki(), Some(0x01));
        assert_eq!(parsed.cvr_bytes(), Some(&h("03A0B800")[..]));
        assert_eq!(parsed.visa_cvr(), Some(arqc_cvr()));
        assert_eq!(parsed.idd(), None);
        assert!(
            parsed
                .to_string()
                .starts_with("Visa format 1, DKI 01, CVN 18 (12), CVR 03A0B800 (")
        );
    }

    #[test]
    fn golden_visa_cvn10_with_idd() {
        let idd = h("0300001030800000046920AE952C48");
        let iad = Iad::visa(0x01, Cvn::VISA_10, arqc_cvr(), &idd).unwrap();
        assert_eq!(
            iad.as_bytes(),
            h("06010A03A0B8000F0300001030800000046920AE952C48")
        );
        assert_eq!(iad.format(), IadFormat::Visa0);
        assert_eq!(iad.idd(), Some(&idd[..]));
        assert!(Iad::visa(0x01, Cvn::VISA_22, arqc_cvr(), &[]).is_err());
        assert!(Iad::visa(0x01, Cvn::VISA_18, arqc_cvr(), &[0; 25]).is_err());
        assert_eq!(
            Iad::visa(0x01, Cvn::VISA_18, arqc_cvr(), &[0; 24])
                .unwrap()
                .as_bytes()
                .len(),
            32
        );
    }

    #[test]
    fn golden_visa_cvn22() {
        let iad = Iad::visa_format2(
            Cvn::VISA_22,
            0x01,
            h("00A0000000").try_into().unwrap(),
            0x02,
            &h("1122"),
        )
        .unwrap();
        let bytes = iad.to_bytes();
        assert_eq!(bytes.len(), 32);
        assert_eq!(bytes[..11], h("1F220100A0000000021122")[..]);
        assert!(bytes[11..].iter().all(|&b| b == 0));
        let parsed = Iad::from_bytes(&bytes).unwrap();
        assert_eq!(parsed.format(), IadFormat::Visa2);
        assert_eq!(parsed.cvn(), Some(Cvn::VISA_22));
        assert_eq!(parsed.dki(), Some(0x01));
        assert_eq!(parsed.cvr_bytes(), Some(&h("00A0000000")[..]));
        assert_eq!(parsed.idd_option_id(), Some(2));
        assert_eq!(parsed.idd().map(<[u8]>::len), Some(23));
        assert_eq!(parsed.visa_cvr(), None);
        assert!(Iad::visa_format2(Cvn::VISA_18, 1, [0; 5], 0, &[]).is_err());
        assert!(Iad::visa_format2(Cvn::VISA_22, 1, [0; 5], 0x10, &[]).is_err());
        assert!(Iad::visa_format2(Cvn::VISA_22, 1, [0; 5], 0, &[0; 24]).is_err());
    }

    #[test]
    fn golden_mchip() {
        let cvr = MchipCvr::EMPTY
            .with_second_ac(None)
            .with_first_ac(CryptogramType::ARQC);
        let iad = Iad::mchip(0x01, Cvn::MCHIP_20, cvr, [0x00, 0x00], [0; 8]).unwrap();
        let bytes = h("0114 A00000000000 0000 0000000000000000");
        assert_eq!(iad.as_bytes(), bytes);
        let parsed = Iad::from_bytes(&bytes).unwrap();
        assert_eq!(parsed.format(), IadFormat::Mchip);
        assert_eq!(parsed.cvn(), Some(Cvn::MCHIP_20));
        assert_eq!(parsed.dki(), Some(1));
        assert_eq!(parsed.mchip_cvr(), Some(cvr));
        assert_eq!(parsed.mchip_dac_idn(), Some([0, 0]));
        assert_eq!(parsed.counters(), Some(&[0u8; 8][..]));
        assert!(Iad::mchip(0x01, Cvn::VISA_18, cvr, [0; 2], [0; 8]).is_err());
        // M/Chip Advance lengths.
        let mut advance = bytes.clone();
        advance.extend_from_slice(&[0; 2]);
        assert_eq!(
            Iad::from_bytes(&advance).unwrap().format(),
            IadFormat::Mchip
        );
    }

    #[test]
    fn golden_ccd() {
        let bytes = h("0FA501 A000000000 0000000000000000 0F 000000000000000000000000000000");
        let iad = Iad::from_bytes(&bytes).unwrap();
        assert_eq!(iad.format(), IadFormat::Ccd);
        assert_eq!(iad.cvn(), Some(Cvn(0xA5)));
        assert_eq!(iad.dki(), Some(1));
        assert_eq!(iad.cvr_bytes(), Some(&h("A000000000")[..]));
        assert_eq!(iad.idd().map(<[u8]>::len), Some(15));
    }

    #[test]
    fn unknown_and_invalid() {
        let iad = Iad::from_bytes(&h("0102")).unwrap();
        assert_eq!(iad.format(), IadFormat::Unknown);
        assert_eq!((iad.cvn(), iad.dki(), iad.cvr_bytes()), (None, None, None));
        assert_eq!(iad.as_bytes(), h("0102"));
        assert!(Iad::from_bytes(&[]).unwrap().format() == IadFormat::Unknown);
        let err = Iad::from_bytes(&[0; 33]).unwrap_err();
        assert_eq!(
            err.kind,
            EmvErrorKind::Length {
                min: 0,
                max: 32,
                actual: 33
            }
        );
        let err = Iad::from_bytes(&h("06011203A0B8000F0102")).unwrap_err();
        assert_eq!(
            (err.offset, err.kind),
            (
                7,
                EmvErrorKind::InnerLength {
                    what: "IDD length byte",
                    announced: 15,
                    available: 2
                }
            )
        );
        // An M/Chip IAD whose bytes also fit the Visa layout exactly is refused by the builder.
        let visa_like = MchipCvr::from_array([0x00, 0x03, 0x00, 0x00, 0x00, 0x0A]);
        let err = Iad::mchip(0x06, Cvn::MCHIP_16, visa_like, [0; 2], [0; 8]).unwrap_err();
        assert_eq!(
            err.kind,
            EmvErrorKind::Ambiguous {
                read_as: "Visa format 0"
            }
        );
        // A Visa IAD with DKI 10 and 10 IDD bytes (18 bytes) stays Visa.
        let iad = Iad::visa(0x10, Cvn::VISA_10, VisaCvr::EMPTY, &[0; 10]).unwrap();
        assert_eq!(iad.format(), IadFormat::Visa0);
        // Format nibble 2 with the 0/1/3 layout is not Visa.
        assert_eq!(
            Iad::from_bytes(&h("06012203A0B800")).unwrap().format(),
            IadFormat::Unknown
        );
    }
}
