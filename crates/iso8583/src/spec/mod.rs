//! Message specifications as data: one [`Spec`] per dialect, each a table of 129 [`FieldSpec`]s.
//!
//! A dialect is nothing but a `static` table (one file per dialect, as moov-io/iso8583's
//! `spec87*.go` and jPOS's `iso87*.xml` packagers): the codec in this crate reads the table and
//! never names a dialect.
//!
//! * [`ASCII87`]: every field as ASCII text, bitmaps as hex text, binary fields as hex text. Its
//!   lengths, length prefixes and encodings are pyiso8583 4.0.1's `default_ascii`, field by field
//!   (asserted against a dump of it in `tests/vectors/pyiso8583_default_ascii.json`).
//! * [`BINARY87`]: the same text fields, but 8-byte binary bitmaps and binary fields as raw bytes.
//!
//! **Lengths count bytes on the wire.** For text that is characters; for binary fields carried
//! as hex text ([`Encoding::BinaryHex`]) it is hex characters (two per byte: ASCII87's DE 55 holds
//! up to 510 characters, 255 bytes); for raw binary ([`Encoding::Binary`]) it is bytes. Length
//! prefixes are ASCII decimal digits in both dialects.

mod ascii87;
mod binary87;

pub use ascii87::ASCII87;
pub use binary87::BINARY87;

/// How a field's length is known, with its fixed length or maximum in bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LengthType {
    /// Always exactly this many bytes; no prefix.
    Fixed(usize),
    /// A two-digit ASCII length prefix (`LLVAR`), then at most this many bytes.
    LlVar(usize),
    /// A three-digit ASCII length prefix (`LLLVAR`), then at most this many bytes.
    LllVar(usize),
}

impl LengthType {
    /// The fixed length, or the maximum length of a variable field.
    pub const fn max(self) -> usize {
        match self {
            Self::Fixed(n) | Self::LlVar(n) | Self::LllVar(n) => n,
        }
    }

    /// Number of ASCII digits in the length prefix (0 for fixed fields).
    pub const fn prefix_digits(self) -> usize {
        match self {
            Self::Fixed(_) => 0,
            Self::LlVar(_) => 2,
            Self::LllVar(_) => 3,
        }
    }

    /// True for [`LengthType::Fixed`].
    pub const fn is_fixed(self) -> bool {
        matches!(self, Self::Fixed(_))
    }
}

/// What a field holds and how it travels (ISO 8583:1987 section 4.2 attribute notation).
///
/// Text encodings hold a [`FieldValue::Text`](crate::FieldValue::Text); binary ones a
/// [`FieldValue::Binary`](crate::FieldValue::Binary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `n`: ASCII decimal digits `0`-`9`.
    Numeric,
    /// `an`: ASCII letters and digits. A space is also accepted: 1987 implementations pad `an`
    /// fields (authorization code, retrieval reference number) with spaces on the right.
    AlphaNumeric,
    /// `ans`: printable ASCII, `0x20`-`0x7E`.
    AlphaNumericSpecial,
    /// `z`: track 2 or 3 data as ASCII: digits and the field separator `=` (or `D`).
    Track,
    /// `b` carried as hex text: two ASCII hex characters per byte (upper case on pack; either
    /// case on unpack), so the length counts characters and is even.
    BinaryHex,
    /// `b` carried as raw bytes.
    Binary,
    /// A bitmap (DE 1, DE 65), in the [`BitmapEncoding`] of the spec. Never a message value:
    /// bitmaps are computed from the fields present.
    Bitmap,
}

impl Encoding {
    /// The ISO attribute code: `n`, `an`, `ans`, `z` or `b`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Numeric => "n",
            Self::AlphaNumeric => "an",
            Self::AlphaNumericSpecial => "ans",
            Self::Track => "z",
            Self::BinaryHex | Self::Binary | Self::Bitmap => "b",
        }
    }

    /// True when the value is bytes ([`FieldValue::Binary`](crate::FieldValue::Binary)) rather
    /// than text.
    pub const fn is_binary(self) -> bool {
        matches!(self, Self::BinaryHex | Self::Binary | Self::Bitmap)
    }

    /// True when `byte` may appear in a text value (or, for [`Encoding::BinaryHex`], in the hex
    /// text on the wire). Raw binary allows every byte.
    pub const fn allows(self, byte: u8) -> bool {
        match self {
            Self::Numeric => byte.is_ascii_digit(),
            Self::AlphaNumeric => byte.is_ascii_alphanumeric() || byte == b' ',
            Self::AlphaNumericSpecial => matches!(byte, 0x20..=0x7E),
            Self::Track => byte.is_ascii_digit() || byte == b'=' || byte == b'D',
            Self::BinaryHex | Self::Bitmap => byte.is_ascii_hexdigit(),
            Self::Binary => true,
        }
    }
}

/// How [`Message::pack`](crate::Message::pack) fills a fixed-length text field given a shorter
/// value. Unpack keeps values exactly as they are on the wire (padding included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    /// A shorter value is an error.
    Unpadded,
    /// Pad on the left with this byte (numeric fields: `0`).
    Left(u8),
    /// Pad on the right with this byte (text fields: space).
    Right(u8),
}

/// One data element: number, name, length, encoding and padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    /// The data element number (0 is the MTI, 1 the secondary bitmap).
    pub number: u8,
    /// The spec's name for it.
    pub name: &'static str,
    /// Fixed or variable length, with the length or maximum in bytes on the wire.
    pub length: LengthType,
    /// What it holds and how it travels.
    pub encoding: Encoding,
    /// How pack fills a short fixed-length value.
    pub padding: Padding,
}

/// How the message type indicator travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MtiEncoding {
    /// Four ASCII digits.
    Ascii,
    /// Two bytes of packed BCD.
    Bcd,
}

/// How the primary and secondary bitmaps travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitmapEncoding {
    /// 16 ASCII hex characters per bitmap (upper case on pack; either case on unpack).
    HexText,
    /// 8 raw bytes per bitmap.
    Binary,
}

impl BitmapEncoding {
    /// Bytes one bitmap takes on the wire.
    pub const fn wire_len(self) -> usize {
        match self {
            Self::HexText => 16,
            Self::Binary => 8,
        }
    }
}

/// A dialect: its name, MTI and bitmap encodings, and the field table indexed by field number.
///
/// `fields[0]` describes the MTI and `fields[1]` the secondary bitmap (both for names and
/// documentation; the codec follows [`Spec::mti`] and [`Spec::bitmap`]). `None` marks a data
/// element the dialect does not define: a message with its bit set is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// A readable name.
    pub name: &'static str,
    /// How the MTI travels.
    pub mti: MtiEncoding,
    /// How the bitmaps travel.
    pub bitmap: BitmapEncoding,
    /// Field 0 to 128.
    pub fields: [Option<FieldSpec>; 129],
}

impl Spec {
    /// The specification of data element `number`, if the dialect defines it.
    pub fn field(&self, number: u8) -> Option<&FieldSpec> {
        self.fields.get(usize::from(number))?.as_ref()
    }

    /// The name of data element `number`, or `"(not in spec)"`.
    pub fn field_name(&self, number: u8) -> &'static str {
        self.field(number).map_or("(not in spec)", |f| f.name)
    }
}

/// A table row (used by the dialect files to keep each field on one line).
const fn de(
    number: u8,
    name: &'static str,
    length: LengthType,
    encoding: Encoding,
    padding: Padding,
) -> Option<FieldSpec> {
    Some(FieldSpec {
        number,
        name,
        length,
        encoding,
        padding,
    })
}

/// Short names for the table rows, in the ISO attribute notation.
mod notation {
    use super::{Encoding, Padding};

    pub(super) const N: Encoding = Encoding::Numeric;
    pub(super) const AN: Encoding = Encoding::AlphaNumeric;
    pub(super) const ANS: Encoding = Encoding::AlphaNumericSpecial;
    pub(super) const Z: Encoding = Encoding::Track;
    pub(super) const B_HEX: Encoding = Encoding::BinaryHex;
    pub(super) const B: Encoding = Encoding::Binary;
    pub(super) const BITMAP: Encoding = Encoding::Bitmap;

    pub(super) const NONE: Padding = Padding::Unpadded;
    pub(super) const ZEROS: Padding = Padding::Left(b'0');
    pub(super) const SPACES: Padding = Padding::Right(b' ');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invariants every dialect table must keep.
    fn check_table(spec: &Spec) {
        let bitmap_len = spec.bitmap.wire_len();
        for (i, f) in spec.fields.iter().enumerate() {
            let Some(f) = f else { continue };
            assert_eq!(
                usize::from(f.number),
                i,
                "{}: row {i} numbered {}",
                spec.name,
                f.number
            );
            assert!(!f.name.is_empty());
            // The maximum fits the prefix.
            match f.length {
                LengthType::Fixed(n) => assert!(n > 0, "DE {i}: fixed length 0"),
                LengthType::LlVar(n) => assert!(n <= 99, "DE {i}: LLVAR max {n}"),
                LengthType::LllVar(n) => assert!(n <= 999, "DE {i}: LLLVAR max {n}"),
            }
            // Hex text comes in pairs.
            if f.encoding == Encoding::BinaryHex && f.length.is_fixed() {
                assert_eq!(f.length.max() % 2, 0, "DE {i}: odd fixed hex length");
            }
            // Padding only on fixed text fields, with a byte the encoding allows.
            match f.padding {
                Padding::Unpadded => {}
                Padding::Left(c) | Padding::Right(c) => {
                    assert!(f.length.is_fixed(), "DE {i}: padding on a variable field");
                    assert!(!f.encoding.is_binary(), "DE {i}: padding on a binary field");
                    assert!(f.encoding.allows(c), "DE {i}: pad byte not allowed");
                }
            }
            if f.encoding == Encoding::Bitmap {
                assert!(i == 1 || i == 65, "DE {i}: bitmap encoding");
                assert_eq!(f.length, LengthType::Fixed(bitmap_len), "DE {i}");
            }
        }
        let mti = spec.field(0).unwrap();
        assert_eq!(mti.length, LengthType::Fixed(4));
        assert_eq!(mti.encoding, Encoding::Numeric);
        assert_eq!(spec.field(1).unwrap().encoding, Encoding::Bitmap);
    }

    #[test]
    fn dialect_tables_keep_their_invariants() {
        check_table(&ASCII87);
        check_table(&BINARY87);
    }

    #[test]
    fn dialects_differ_only_in_binary_fields_and_bitmaps() {
        for n in 0..=128u8 {
            let a = ASCII87.field(n).unwrap();
            let b = BINARY87.field(n).unwrap();
            assert_eq!(a.name, b.name, "DE {n}");
            match (a.encoding, b.encoding) {
                (Encoding::BinaryHex, Encoding::Binary) => {
                    assert_eq!(a.length.max(), 2 * b.length.max(), "DE {n}");
                    assert_eq!(a.length.prefix_digits(), b.length.prefix_digits(), "DE {n}");
                }
                (Encoding::Bitmap, Encoding::Bitmap) => {}
                _ => assert_eq!(a, b, "DE {n}"),
            }
        }
        assert_eq!(BINARY87.field(55).unwrap().length, LengthType::LllVar(255));
    }

    #[test]
    fn encodings_allow_what_iso_says() {
        assert!(Encoding::Numeric.allows(b'7') && !Encoding::Numeric.allows(b'A'));
        assert!(Encoding::AlphaNumeric.allows(b'z') && Encoding::AlphaNumeric.allows(b' '));
        assert!(!Encoding::AlphaNumeric.allows(b'-'));
        assert!(Encoding::AlphaNumericSpecial.allows(b'~'));
        assert!(!Encoding::AlphaNumericSpecial.allows(0x7F));
        assert!(!Encoding::AlphaNumericSpecial.allows(b'\n'));
        assert!(Encoding::Track.allows(b'=') && Encoding::Track.allows(b'D'));
        assert!(!Encoding::Track.allows(b'^'));
        assert!(Encoding::BinaryHex.allows(b'f') && !Encoding::BinaryHex.allows(b'g'));
        assert!(Encoding::Binary.allows(0xFF));
        assert_eq!(Encoding::BinaryHex.code(), "b");
        assert_eq!(Encoding::AlphaNumericSpecial.code(), "ans");
    }

    #[test]
    fn field_lookup_outside_the_table_is_none() {
        assert!(ASCII87.field(129).is_none());
        assert!(ASCII87.field(255).is_none());
        assert_eq!(ASCII87.field_name(200), "(not in spec)");
        assert_eq!(ASCII87.field_name(35), "Track 2 Data");
    }
}
