//! The crate's one error type: which element, where in it, and what was wrong.

use core::fmt;

/// A data element's value could not be parsed or built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmvError {
    /// The element, as its name and tag, e.g. `"AFL (94)"`.
    pub element: &'static str,
    /// Byte offset inside the element's value where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: EmvErrorKind,
}

/// The kinds of problem a data element can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmvErrorKind {
    /// The value has a length outside `min..=max`.
    Length {
        /// Fewest bytes allowed.
        min: usize,
        /// Most bytes allowed.
        max: usize,
        /// Bytes given.
        actual: usize,
    },
    /// The value (or its list part) must be a whole number of `unit`-byte entries.
    NotMultiple {
        /// Size of one entry.
        unit: usize,
        /// Bytes given for the list.
        actual: usize,
    },
    /// A fixed byte has the wrong value (a length byte inside a CVR or IAD, for instance).
    FixedByte {
        /// What the byte is.
        what: &'static str,
        /// The value the format requires.
        expected: u8,
        /// The value found.
        found: u8,
    },
    /// AFL byte 1 must be an SFI of 1 to 30 shifted left three bits, low bits zero.
    AflSfi {
        /// The byte found.
        byte: u8,
    },
    /// AFL byte 2 (first record) must not be zero.
    AflFirstRecordZero,
    /// AFL byte 3 (last record) is below byte 2 (first record).
    AflLastBeforeFirst {
        /// First record number.
        first: u8,
        /// Last record number.
        last: u8,
    },
    /// AFL byte 4 counts more records for offline data authentication than the entry has.
    AflOdaRecords {
        /// Records named for offline data authentication.
        oda: u8,
        /// Records in the entry.
        records: u16,
    },
    /// A length byte inside the value announces more bytes than remain.
    InnerLength {
        /// What the length byte measures.
        what: &'static str,
        /// Bytes announced.
        announced: usize,
        /// Bytes remaining.
        available: usize,
    },
    /// A field is out of the range its format allows (building values).
    OutOfRange {
        /// The field.
        what: &'static str,
        /// The value given.
        value: usize,
        /// The smallest value allowed.
        min: usize,
        /// The largest value allowed.
        max: usize,
    },
    /// Built from these parts, the value would read back as another layout.
    Ambiguous {
        /// The layout it would be read as.
        read_as: &'static str,
    },
    /// The Cryptogram Version Number does not belong to the format being built.
    CvnFormat {
        /// The CVN given.
        cvn: u8,
    },
}

impl EmvError {
    pub(crate) fn new(element: &'static str, offset: usize, kind: EmvErrorKind) -> Self {
        Self {
            element,
            offset,
            kind,
        }
    }

    pub(crate) fn length(element: &'static str, min: usize, max: usize, actual: usize) -> Self {
        Self::new(element, 0, EmvErrorKind::Length { min, max, actual })
    }
}

impl fmt::Display for EmvErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Length { min, max, actual } if min == max => {
                write!(f, "length {actual}, expected {min} bytes")
            }
            Self::Length { min, max, actual } => {
                write!(f, "length {actual}, expected {min} to {max} bytes")
            }
            Self::NotMultiple { unit, actual } => {
                write!(
                    f,
                    "{actual} bytes is not a whole number of {unit}-byte entries"
                )
            }
            Self::FixedByte {
                what,
                expected,
                found,
            } => write!(f, "{what} is {found:02X}, expected {expected:02X}"),
            Self::AflSfi { byte } => write!(
                f,
                "byte 1 is {byte:02X}: SFI must be 1 to 30 with the three low bits zero"
            ),
            Self::AflFirstRecordZero => f.write_str("first record number is 0"),
            Self::AflLastBeforeFirst { first, last } => {
                write!(f, "last record {last} is before first record {first}")
            }
            Self::AflOdaRecords { oda, records } => write!(
                f,
                "{oda} records for offline data authentication, but the entry has {records}"
            ),
            Self::InnerLength {
                what,
                announced,
                available,
            } => write!(
                f,
                "{what} announces {announced} bytes but {available} remain"
            ),
            Self::OutOfRange {
                what,
                value,
                min,
                max,
            } => write!(f, "{what} is {value}, allowed {min} to {max}"),
            Self::Ambiguous { read_as } => {
                write!(f, "these parts would read back as {read_as}")
            }
            Self::CvnFormat { cvn } => {
                write!(f, "CVN {cvn:02X} does not belong to this IAD format")
            }
        }
    }
}

impl fmt::Display for EmvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at offset {}: {}",
            self.element, self.offset, self.kind
        )
    }
}

impl std::error::Error for EmvError {}
