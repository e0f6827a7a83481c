//! BER tags (EMV Book 3, B2): one to four bytes, kept as their big-endian value.

use core::fmt;
use core::str::FromStr;

use crate::TlvErrorKind;

/// A BER tag, stored as the big-endian integer of its encoded bytes (`9F02` is `Tag(0x9F02)`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(pub u32);

/// The class bits (b8-b7) of a tag's first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagClass {
    /// `00`: universal.
    Universal,
    /// `01`: application.
    Application,
    /// `10`: context-specific.
    ContextSpecific,
    /// `11`: private.
    Private,
}

impl Tag {
    /// A tag from its big-endian value, for constants: `Tag::new(0x9F02)`.
    pub const fn new(value: u32) -> Self {
        Self(value)
    }

    /// Number of bytes in the encoded tag.
    pub const fn encoded_len(self) -> usize {
        match self.0 {
            0..=0xFF => 1,
            0x100..=0xFFFF => 2,
            0x1_0000..=0xFF_FFFF => 3,
            _ => 4,
        }
    }

    /// The first encoded byte.
    pub const fn first_byte(self) -> u8 {
        self.0.to_be_bytes()[4 - self.encoded_len()]
    }

    /// True when bit b6 of the first byte is set (the value holds further objects).
    pub const fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// The tag's class.
    pub const fn class(self) -> TagClass {
        match self.first_byte() >> 6 {
            0 => TagClass::Universal,
            1 => TagClass::Application,
            2 => TagClass::ContextSpecific,
            _ => TagClass::Private,
        }
    }

    /// Appends the encoded tag.
    pub fn write(self, out: &mut Vec<u8>) {
        let be = self.0.to_be_bytes();
        out.extend_from_slice(&be[4 - self.encoded_len()..]);
    }

    /// The encoded bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4);
        self.write(&mut v);
        v
    }

    /// Reads a tag from the start of `input`, returning it and the number of bytes it used.
    pub fn read(input: &[u8]) -> Result<(Tag, usize), TlvErrorKind> {
        let first = *input.first().ok_or(TlvErrorKind::TruncatedTag)?;
        let mut value = u32::from(first);
        if first & 0x1F != 0x1F {
            return Ok((Tag(value), 1));
        }
        // Subsequent bytes follow while b8 is set (B2).
        for i in 1..4 {
            let b = *input.get(i).ok_or(TlvErrorKind::TruncatedTag)?;
            value = (value << 8) | u32::from(b);
            if b & 0x80 == 0 {
                return Ok((Tag(value), i + 1));
            }
        }
        Err(TlvErrorKind::TagTooLong)
    }

    /// Parses a whole encoded tag; every byte must be used.
    pub fn from_bytes(bytes: &[u8]) -> Option<Tag> {
        match Tag::read(bytes) {
            Ok((tag, n)) if n == bytes.len() => Some(tag),
            _ => None,
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.encoded_len() * 2;
        write!(f, "{:0width$X}", self.0)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

/// Error parsing a tag from hex text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseTagError;

impl fmt::Display for ParseTagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a BER tag in hex (expected e.g. 9F02)")
    }
}

impl std::error::Error for ParseTagError {}

impl FromStr for Tag {
    type Err = ParseTagError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 8 {
            return Err(ParseTagError);
        }
        let mut bytes = Vec::with_capacity(4);
        for i in (0..s.len()).step_by(2) {
            let pair = s.get(i..i + 2).ok_or(ParseTagError)?;
            bytes.push(u8::from_str_radix(pair, 16).map_err(|_| ParseTagError)?);
        }
        Tag::from_bytes(&bytes).ok_or(ParseTagError)
    }
}
