//! Application File Locator (`94`, Book 3 10.2): which records to read, and which of them feed
//! offline data authentication.

use core::fmt;
use core::ops::RangeInclusive;

use crate::{EmvError, EmvErrorKind};

/// One 4-byte AFL entry: records `first_record..=last_record` of file `sfi`, of which the first
/// `oda_records` take part in offline data authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AflEntry {
    sfi: u8,
    first_record: u8,
    last_record: u8,
    oda_records: u8,
}

impl AflEntry {
    /// An entry, validated as Book 3 10.2 requires: SFI 1 to 30, first record at least 1, last
    /// record at least the first, ODA records at most the number of records.
    pub fn new(
        sfi: u8,
        first_record: u8,
        last_record: u8,
        oda_records: u8,
    ) -> Result<Self, EmvError> {
        if !(1..=30).contains(&sfi) {
            let kind = EmvErrorKind::OutOfRange {
                what: "SFI",
                value: usize::from(sfi),
                min: 1,
                max: 30,
            };
            return Err(EmvError::new(Afl::ELEMENT, 0, kind));
        }
        Self::decode([sfi << 3, first_record, last_record, oda_records], 0)
    }

    /// Decodes one entry; `offset` is where it starts in the AFL, for errors.
    fn decode(bytes: [u8; 4], offset: usize) -> Result<Self, EmvError> {
        let [b1, first, last, oda] = bytes;
        let err = |at: usize, kind| EmvError::new(Afl::ELEMENT, offset + at, kind);
        let sfi = b1 >> 3;
        if b1 & 0x07 != 0 || sfi == 0 || sfi == 31 {
            return Err(err(0, EmvErrorKind::AflSfi { byte: b1 }));
        }
        if first == 0 {
            return Err(err(1, EmvErrorKind::AflFirstRecordZero));
        }
        if last < first {
            return Err(err(2, EmvErrorKind::AflLastBeforeFirst { first, last }));
        }
        let records = u16::from(last) - u16::from(first) + 1;
        if u16::from(oda) > records {
            return Err(err(3, EmvErrorKind::AflOdaRecords { oda, records }));
        }
        Ok(Self {
            sfi,
            first_record: first,
            last_record: last,
            oda_records: oda,
        })
    }

    /// The Short File Identifier (1 to 30).
    pub const fn sfi(self) -> u8 {
        self.sfi
    }

    /// The first record to read (at least 1).
    pub const fn first_record(self) -> u8 {
        self.first_record
    }

    /// The last record to read.
    pub const fn last_record(self) -> u8 {
        self.last_record
    }

    /// How many records, from the first, take part in offline data authentication.
    pub const fn oda_records(self) -> u8 {
        self.oda_records
    }

    /// The record numbers to read.
    pub const fn records(self) -> RangeInclusive<u8> {
        self.first_record..=self.last_record
    }

    /// True when `record` takes part in offline data authentication.
    pub fn is_oda_record(self, record: u8) -> bool {
        let first = u16::from(self.first_record);
        let r = u16::from(record);
        r >= first && r < first + u16::from(self.oda_records) && record <= self.last_record
    }

    /// The four wire bytes.
    pub const fn to_bytes(self) -> [u8; 4] {
        [
            self.sfi << 3,
            self.first_record,
            self.last_record,
            self.oda_records,
        ]
    }
}

impl fmt::Display for AflEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first_record == self.last_record {
            write!(f, "SFI {} record {}", self.sfi, self.first_record)?;
        } else {
            write!(
                f,
                "SFI {} records {}-{}",
                self.sfi, self.first_record, self.last_record
            )?;
        }
        write!(f, " ({} for ODA)", self.oda_records)
    }
}

/// Application File Locator (AFL, tag `94`): a list of [`AflEntry`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Afl {
    entries: Vec<AflEntry>,
}

impl Afl {
    /// The element's name and tag, as errors print it.
    pub const ELEMENT: &'static str = "AFL (94)";
    /// Most value bytes (Book 3 Annex A): 63 entries.
    pub const MAX_LEN: usize = 252;

    /// Parses the value of `94`: a whole number of valid 4-byte entries, at most 252 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EmvError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(EmvError::length(
                Self::ELEMENT,
                0,
                Self::MAX_LEN,
                bytes.len(),
            ));
        }
        if !bytes.len().is_multiple_of(4) {
            return Err(EmvError::new(
                Self::ELEMENT,
                0,
                EmvErrorKind::NotMultiple {
                    unit: 4,
                    actual: bytes.len(),
                },
            ));
        }
        let entries = bytes
            .chunks_exact(4)
            .enumerate()
            .map(|(i, c)| AflEntry::decode([c[0], c[1], c[2], c[3]], i * 4))
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// An AFL from validated entries (at most 63).
    pub fn from_entries(entries: Vec<AflEntry>) -> Result<Self, EmvError> {
        let len = entries.len() * 4;
        if len > Self::MAX_LEN {
            return Err(EmvError::length(Self::ELEMENT, 0, Self::MAX_LEN, len));
        }
        Ok(Self { entries })
    }

    /// The entries in order.
    pub fn entries(&self) -> &[AflEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the AFL has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every (SFI, record) to read, in order.
    pub fn records(&self) -> impl Iterator<Item = (u8, u8)> + '_ {
        self.entries
            .iter()
            .flat_map(|e| e.records().map(move |r| (e.sfi(), r)))
    }

    /// The wire bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.entries.iter().flat_map(|e| e.to_bytes()).collect()
    }

    /// One line per entry.
    pub fn describe(&self) -> Vec<String> {
        self.entries.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for Afl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().join("; "))
    }
}

impl TryFrom<&[u8]> for Afl {
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
    fn golden_afl() {
        // SFI 1 record 1 (1 for ODA); SFI 2 records 1-3 (2 for ODA).
        let bytes = h("08010101 10010302");
        let afl = Afl::from_bytes(&bytes).unwrap();
        assert_eq!(afl.len(), 2);
        let e = afl.entries()[1];
        assert_eq!(
            (e.sfi(), e.first_record(), e.last_record(), e.oda_records()),
            (2, 1, 3, 2)
        );
        assert!(e.is_oda_record(1) && e.is_oda_record(2) && !e.is_oda_record(3));
        assert_eq!(
            afl.records().collect::<Vec<_>>(),
            [(1, 1), (2, 1), (2, 2), (2, 3)]
        );
        assert_eq!(afl.to_bytes(), bytes);
        assert_eq!(
            afl.to_string(),
            "SFI 1 record 1 (1 for ODA); SFI 2 records 1-3 (2 for ODA)"
        );
        let built = Afl::from_entries(vec![
            AflEntry::new(1, 1, 1, 1).unwrap(),
            AflEntry::new(2, 1, 3, 2).unwrap(),
        ])
        .unwrap();
        assert_eq!(built, afl);
        assert!(Afl::from_bytes(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_invalid_entries_saying_where() {
        let cases: [(&str, usize, EmvErrorKind); 7] = [
            (
                "080101",
                0,
                EmvErrorKind::NotMultiple { unit: 4, actual: 3 },
            ),
            ("08010100 00010100", 4, EmvErrorKind::AflSfi { byte: 0x00 }),
            ("F8010100", 0, EmvErrorKind::AflSfi { byte: 0xF8 }),
            ("09010100", 0, EmvErrorKind::AflSfi { byte: 0x09 }),
            ("08000100", 1, EmvErrorKind::AflFirstRecordZero),
            (
                "08030200",
                2,
                EmvErrorKind::AflLastBeforeFirst { first: 3, last: 2 },
            ),
            (
                "08010203",
                3,
                EmvErrorKind::AflOdaRecords { oda: 3, records: 2 },
            ),
        ];
        for (hex, offset, kind) in cases {
            let err = Afl::from_bytes(&h(hex)).unwrap_err();
            assert_eq!((err.offset, err.kind), (offset, kind), "{hex}");
        }
        assert!(Afl::from_bytes(&[0x08, 1, 1, 0].repeat(64)).is_err());
        let e = Afl::from_bytes(&h("08030200")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "AFL (94) at offset 2: last record 2 is before first record 3"
        );
    }

    #[test]
    fn entry_constructor_validates() {
        assert!(AflEntry::new(0, 1, 1, 0).is_err());
        assert!(AflEntry::new(31, 1, 1, 0).is_err());
        assert!(AflEntry::new(200, 1, 1, 0).is_err());
        assert!(AflEntry::new(30, 1, 255, 255).is_ok());
        assert!(AflEntry::new(1, 0, 1, 0).is_err());
        assert!(AflEntry::new(1, 2, 1, 0).is_err());
        assert!(AflEntry::new(1, 1, 1, 2).is_err());
        assert_eq!(
            AflEntry::new(30, 1, 255, 255).unwrap().to_bytes(),
            [0xF0, 1, 255, 255]
        );
    }
}
