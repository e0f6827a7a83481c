//! Pack and unpack errors. Each names the data element (number and spec name) and the byte
//! offset, and never carries field values, so printing one cannot leak a PAN.

use core::fmt;

use crate::spec::Encoding;

/// Field number used for problems with the MTI.
pub const MTI_FIELD: u8 = 0;
/// Field number used for problems with either bitmap.
pub const BITMAP_FIELD: u8 = 1;

/// Why a message could not be unpacked, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpackError {
    /// The data element being read: 0 for the MTI, 1 for a bitmap, else the field number (for
    /// [`UnpackErrorKind::TrailingBytes`], the last field read).
    pub field: u8,
    /// The spec's name for it (`"Bitmap, Primary"` for the primary bitmap).
    pub name: &'static str,
    /// Byte offset of the problem from the start of the message.
    pub offset: usize,
    /// What is wrong.
    pub kind: UnpackErrorKind,
}

/// The ways unpacking fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnpackErrorKind {
    /// The input ends inside the MTI, a bitmap, a length prefix or a value (including a
    /// secondary bitmap announced by bit 1 but missing).
    Truncated {
        /// Bytes the element needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The MTI is not four decimal digits (or, in BCD, not four BCD digits).
    InvalidMti,
    /// A hex-text bitmap holds a character that is not a hex digit.
    InvalidBitmap,
    /// The bitmap announces a data element the spec does not define.
    FieldNotInSpec,
    /// Bit 65 is set: a tertiary bitmap, which this crate does not support.
    TertiaryBitmap,
    /// A length prefix holds something other than decimal digits.
    InvalidLengthPrefix,
    /// A length prefix announces more than the field's maximum.
    LengthOverMax {
        /// The announced length.
        length: usize,
        /// The spec's maximum.
        max: usize,
    },
    /// A byte the field's encoding does not allow (a letter in an `n` field, a non-hex digit in
    /// hex text).
    InvalidCharacter {
        /// Position of the byte within the value.
        index: usize,
        /// The field's encoding.
        encoding: Encoding,
    },
    /// Binary data as hex text with an odd number of characters.
    OddHexLength {
        /// The length in characters.
        length: usize,
    },
    /// Bytes remain after the last field the bitmap announces.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// Why a message could not be packed, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackError {
    /// The data element: 0 for the MTI, else the field number.
    pub field: u8,
    /// The spec's name for it (`"(not in spec)"` when the spec has none).
    pub name: &'static str,
    /// Offset in the output at which the element would have started.
    pub offset: usize,
    /// What is wrong.
    pub kind: PackErrorKind,
}

/// The ways packing fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackErrorKind {
    /// The MTI is not four decimal digits.
    InvalidMti,
    /// The message holds a field the spec does not define (or a number above 128, or 0).
    FieldNotInSpec,
    /// The message holds DE 1 or DE 65: bitmaps are computed, and tertiary bitmaps are not
    /// supported.
    BitmapField,
    /// A text value for a binary field.
    ExpectedBinary,
    /// A binary value for a text field.
    ExpectedText,
    /// A variable-length value longer than the maximum.
    LengthOverMax {
        /// The value's length on the wire.
        length: usize,
        /// The spec's maximum.
        max: usize,
    },
    /// A fixed-length value of the wrong length (longer, or shorter with no padding).
    LengthMismatch {
        /// The value's length on the wire.
        length: usize,
        /// The spec's fixed length.
        expected: usize,
    },
    /// A byte the field's encoding does not allow.
    InvalidCharacter {
        /// Position of the byte within the value.
        index: usize,
        /// The field's encoding.
        encoding: Encoding,
    },
}

/// Writes "MTI" or "DE 35 Track 2 Data".
fn write_place(f: &mut fmt::Formatter<'_>, field: u8, name: &str) -> fmt::Result {
    if field == MTI_FIELD {
        f.write_str("MTI")
    } else {
        write!(f, "DE {field} {name}")
    }
}

fn write_invalid_character(
    f: &mut fmt::Formatter<'_>,
    index: usize,
    encoding: Encoding,
) -> fmt::Result {
    let what = match encoding {
        Encoding::Numeric => "digits",
        Encoding::AlphaNumeric => "letters, digits and spaces",
        Encoding::AlphaNumericSpecial => "printable ASCII",
        Encoding::Track => "digits and '='",
        Encoding::BinaryHex | Encoding::Bitmap => "hex digits",
        Encoding::Binary => "bytes",
    };
    write!(
        f,
        "byte {index} of the value is not allowed in {} ({what})",
        encoding.code()
    )
}

impl fmt::Display for UnpackErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { needed, available } => {
                write!(f, "needs {needed} bytes but only {available} remain")
            }
            Self::InvalidMti => f.write_str("not four decimal digits"),
            Self::InvalidBitmap => f.write_str("not hex digits"),
            Self::FieldNotInSpec => {
                f.write_str("bitmap announces a field the spec does not define")
            }
            Self::TertiaryBitmap => f.write_str("tertiary bitmap (bit 65) is not supported"),
            Self::InvalidLengthPrefix => f.write_str("length prefix is not decimal digits"),
            Self::LengthOverMax { length, max } => write!(f, "length {length} exceeds max {max}"),
            Self::InvalidCharacter { index, encoding } => {
                write_invalid_character(f, index, encoding)
            }
            Self::OddHexLength { length } => write!(f, "hex text of odd length {length}"),
            Self::TrailingBytes { count } => write!(f, "{count} bytes after the last field"),
        }
    }
}

impl fmt::Display for UnpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_place(f, self.field, self.name)?;
        write!(f, ": {} (offset {})", self.kind, self.offset)
    }
}

impl std::error::Error for UnpackError {}

impl fmt::Display for PackErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::InvalidMti => f.write_str("not four decimal digits"),
            Self::FieldNotInSpec => f.write_str("the spec does not define this field"),
            Self::BitmapField => f.write_str("bitmaps are computed, not set"),
            Self::ExpectedBinary => f.write_str("binary field given a text value"),
            Self::ExpectedText => f.write_str("text field given a binary value"),
            Self::LengthOverMax { length, max } => write!(f, "length {length} exceeds max {max}"),
            Self::LengthMismatch { length, expected } => {
                write!(
                    f,
                    "length {length} differs from the fixed length {expected}"
                )
            }
            Self::InvalidCharacter { index, encoding } => {
                write_invalid_character(f, index, encoding)
            }
        }
    }
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_place(f, self.field, self.name)?;
        write!(f, ": {} (offset {})", self.kind, self.offset)
    }
}

impl std::error::Error for PackError {}
