//! Pack and unpack, driven entirely by a [`Spec`].
//!
//! Unpack recognises the whole message before returning anything ("full recognition before
//! processing"): MTI, bitmaps, every bit checked against the spec, every length prefix, every
//! value checked against its encoding, and no byte left over. Every read goes through
//! [`Cursor`], which checks bounds, so no input makes it panic.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::error::{BITMAP_FIELD, MTI_FIELD};
use crate::fields;
use crate::message::upper_hex;
use crate::spec::{BitmapEncoding, Encoding, FieldSpec, LengthType, MtiEncoding, Padding, Spec};
use crate::{
    Bitmap, FieldValue, Message, Mti, PackError, PackErrorKind, UnpackError, UnpackErrorKind,
};

const PRIMARY_BITMAP: &str = "Bitmap, Primary";
const MTI_NAME: &str = "Message Type";

/// A bounds-checked read position over the input (rustls `codec::Reader`).
struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes, or how many remain.
    fn take(&mut self, n: usize) -> Result<&'a [u8], UnpackErrorKind> {
        let available = self.remaining();
        let end = self.pos.checked_add(n).filter(|_| n <= available);
        match end.and_then(|end| self.input.get(self.pos..end)) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(UnpackErrorKind::Truncated {
                needed: n,
                available,
            }),
        }
    }
}

/// Decimal value of ASCII digits; `None` for anything else (or an empty slice).
fn parse_digits(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0usize, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

fn hex_nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Bytes from hex text of even length; on failure, the index of the first bad character.
fn from_hex(text: &[u8]) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(text.len() / 2);
    for (i, pair) in text.chunks(2).enumerate() {
        let hi = pair.first().copied().and_then(hex_nibble).ok_or(2 * i)?;
        let lo = pair.get(1).copied().and_then(hex_nibble).ok_or(2 * i + 1)?;
        out.push(hi << 4 | lo);
    }
    Ok(out)
}

/// Index of the first byte `encoding` does not allow.
fn first_invalid(encoding: Encoding, bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|b| !encoding.allows(*b))
}

impl Message {
    /// Parses a whole message in dialect `spec`. Never panics; refuses a truncated message,
    /// bitmap bits for fields the spec does not define (and bit 65), non-digit length prefixes,
    /// lengths over the maximum, bytes a field's encoding does not allow, odd-length hex, and
    /// trailing bytes. Values are kept exactly as sent (no padding is stripped); binary data
    /// sent as hex text is decoded to bytes.
    pub fn unpack(input: &[u8], spec: &Spec) -> Result<Message, UnpackError> {
        let mut cursor = Cursor { input, pos: 0 };
        let err = |field: u8, name: &'static str, offset: usize, kind| UnpackError {
            field,
            name,
            offset,
            kind,
        };

        let mti = read_mti(&mut cursor, spec.mti)
            .map_err(|(at, kind)| err(MTI_FIELD, MTI_NAME, at, kind))?;

        let primary_at = cursor.pos;
        let primary = read_bitmap(&mut cursor, spec.bitmap)
            .map_err(|(at, kind)| err(BITMAP_FIELD, PRIMARY_BITMAP, at, kind))?;
        let secondary_name = spec.field_name(BITMAP_FIELD);
        let mut secondary_at = primary_at;
        let mut bitmap = Bitmap::from_parts(primary, [0; 8]);
        if bitmap.has_secondary() {
            secondary_at = cursor.pos;
            let secondary = read_bitmap(&mut cursor, spec.bitmap)
                .map_err(|(at, kind)| err(BITMAP_FIELD, secondary_name, at, kind))?;
            bitmap = Bitmap::from_parts(primary, secondary);
        }

        // Every announced field must exist before any is read.
        for n in bitmap.iter().filter(|n| *n != fields::SECONDARY_BITMAP) {
            let at = if n > 64 { secondary_at } else { primary_at };
            if n == fields::TERTIARY_BITMAP {
                let name = spec.field_name(n);
                return Err(err(n, name, at, UnpackErrorKind::TertiaryBitmap));
            }
            if spec.field(n).is_none() {
                return Err(err(
                    n,
                    spec.field_name(n),
                    at,
                    UnpackErrorKind::FieldNotInSpec,
                ));
            }
        }

        let mut values = BTreeMap::new();
        let mut last = (BITMAP_FIELD, secondary_name);
        for n in bitmap.iter() {
            let Some(field) = spec.field(n).filter(|_| n != fields::SECONDARY_BITMAP) else {
                continue;
            };
            let value = read_field(&mut cursor, field)
                .map_err(|(at, kind)| err(n, field.name, at, kind))?;
            values.insert(n, value);
            last = (n, field.name);
        }

        let count = cursor.remaining();
        if count > 0 {
            let kind = UnpackErrorKind::TrailingBytes { count };
            return Err(err(last.0, last.1, cursor.pos, kind));
        }
        Ok(Message {
            mti,
            fields: values,
        })
    }

    /// Encodes the message in dialect `spec`: MTI, bitmaps computed from the fields present,
    /// then each field in number order. Fixed-length text fields shorter than their length are
    /// padded as the spec says; binary fields go out as hex text (upper case) or raw bytes.
    pub fn pack(&self, spec: &Spec) -> Result<Vec<u8>, PackError> {
        let mut out = Vec::with_capacity(256);
        let err = |field: u8, offset: usize, kind| PackError {
            field,
            name: spec.field_name(field),
            offset,
            kind,
        };

        if !self.mti.is_valid() {
            return Err(err(MTI_FIELD, 0, PackErrorKind::InvalidMti));
        }
        // Check the field set before writing anything.
        for n in self.fields.keys().copied() {
            if n == fields::SECONDARY_BITMAP || n == fields::TERTIARY_BITMAP {
                return Err(err(n, 0, PackErrorKind::BitmapField));
            }
            if n == MTI_FIELD || spec.field(n).is_none() {
                return Err(err(n, 0, PackErrorKind::FieldNotInSpec));
            }
        }

        write_mti(&mut out, self.mti, spec.mti);
        let bitmap = self.bitmap();
        write_bitmap(&mut out, bitmap.primary(), spec.bitmap);
        if bitmap.has_secondary() {
            write_bitmap(&mut out, bitmap.secondary(), spec.bitmap);
        }
        for (n, value) in &self.fields {
            let Some(field) = spec.field(*n) else {
                return Err(err(*n, out.len(), PackErrorKind::FieldNotInSpec));
            };
            let at = out.len();
            write_field(&mut out, field, value).map_err(|kind| err(*n, at, kind))?;
        }
        Ok(out)
    }
}

type Failure = (usize, UnpackErrorKind);

fn read_mti(cursor: &mut Cursor<'_>, encoding: MtiEncoding) -> Result<Mti, Failure> {
    let at = cursor.pos;
    let mti = match encoding {
        MtiEncoding::Ascii => {
            let bytes = cursor.take(4).map_err(|k| (at, k))?;
            let mut digits = [0; 4];
            digits.copy_from_slice(bytes);
            Mti(digits)
        }
        MtiEncoding::Bcd => {
            let bytes = cursor.take(2).map_err(|k| (at, k))?;
            let mut digits = [0; 4];
            for (i, b) in bytes.iter().enumerate() {
                digits[2 * i] = b'0'.wrapping_add(b >> 4);
                digits[2 * i + 1] = b'0'.wrapping_add(b & 0x0F);
            }
            Mti(digits)
        }
    };
    if mti.is_valid() {
        Ok(mti)
    } else {
        Err((at, UnpackErrorKind::InvalidMti))
    }
}

fn write_mti(out: &mut Vec<u8>, mti: Mti, encoding: MtiEncoding) {
    match encoding {
        MtiEncoding::Ascii => out.extend_from_slice(&mti.0),
        MtiEncoding::Bcd => {
            // Invariant: pack checked that the MTI is four ASCII digits.
            let d = mti.0.map(|c| c.wrapping_sub(b'0') & 0x0F);
            out.extend_from_slice(&[d[0] << 4 | d[1], d[2] << 4 | d[3]]);
        }
    }
}

fn read_bitmap(cursor: &mut Cursor<'_>, encoding: BitmapEncoding) -> Result<[u8; 8], Failure> {
    let at = cursor.pos;
    let bytes = cursor.take(encoding.wire_len()).map_err(|k| (at, k))?;
    let mut bitmap = [0; 8];
    match encoding {
        BitmapEncoding::Binary => bitmap.copy_from_slice(bytes),
        BitmapEncoding::HexText => {
            let decoded = from_hex(bytes).map_err(|i| (at + i, UnpackErrorKind::InvalidBitmap))?;
            bitmap.copy_from_slice(&decoded);
        }
    }
    Ok(bitmap)
}

fn write_bitmap(out: &mut Vec<u8>, bitmap: [u8; 8], encoding: BitmapEncoding) {
    match encoding {
        BitmapEncoding::Binary => out.extend_from_slice(&bitmap),
        BitmapEncoding::HexText => out.extend_from_slice(upper_hex(&bitmap).as_bytes()),
    }
}

fn read_field(cursor: &mut Cursor<'_>, field: &FieldSpec) -> Result<FieldValue, Failure> {
    let prefix_at = cursor.pos;
    let length = match field.length {
        LengthType::Fixed(n) => n,
        LengthType::LlVar(max) | LengthType::LllVar(max) => {
            let digits = cursor
                .take(field.length.prefix_digits())
                .map_err(|k| (prefix_at, k))?;
            let length =
                parse_digits(digits).ok_or((prefix_at, UnpackErrorKind::InvalidLengthPrefix))?;
            if length > max {
                return Err((prefix_at, UnpackErrorKind::LengthOverMax { length, max }));
            }
            length
        }
    };
    let at = cursor.pos;
    let bytes = cursor.take(length).map_err(|k| (at, k))?;
    let encoding = field.encoding;
    if let Some(index) = first_invalid(encoding, bytes) {
        return Err((
            at + index,
            UnpackErrorKind::InvalidCharacter { index, encoding },
        ));
    }
    match encoding {
        Encoding::Binary => Ok(FieldValue::binary(bytes)),
        Encoding::BinaryHex | Encoding::Bitmap => {
            if length % 2 != 0 {
                return Err((at, UnpackErrorKind::OddHexLength { length }));
            }
            // Every byte is a hex digit (checked above), so this cannot fail.
            from_hex(bytes).map(FieldValue::binary).map_err(|i| {
                (
                    at + i,
                    UnpackErrorKind::InvalidCharacter { index: i, encoding },
                )
            })
        }
        Encoding::Numeric
        | Encoding::AlphaNumeric
        | Encoding::AlphaNumericSpecial
        | Encoding::Track => {
            // Every byte is printable ASCII (checked above), so this is valid UTF-8.
            let text = String::from_utf8_lossy(bytes).into_owned();
            Ok(FieldValue::text(text))
        }
    }
}

fn write_field(
    out: &mut Vec<u8>,
    field: &FieldSpec,
    value: &FieldValue,
) -> Result<(), PackErrorKind> {
    let encoding = field.encoding;
    let wire: Cow<'_, [u8]> = match (encoding, value) {
        (Encoding::Bitmap, _) => return Err(PackErrorKind::BitmapField),
        (Encoding::Binary, FieldValue::Binary(b)) => Cow::Borrowed(b.expose()),
        (Encoding::BinaryHex, FieldValue::Binary(b)) => {
            Cow::Owned(upper_hex(b.expose()).into_bytes())
        }
        (Encoding::Binary | Encoding::BinaryHex, FieldValue::Text(_)) => {
            return Err(PackErrorKind::ExpectedBinary);
        }
        (_, FieldValue::Binary(_)) => return Err(PackErrorKind::ExpectedText),
        (_, FieldValue::Text(t)) => Cow::Borrowed(t.expose().as_bytes()),
    };
    if let Some(index) = first_invalid(encoding, &wire) {
        return Err(PackErrorKind::InvalidCharacter { index, encoding });
    }
    let length = wire.len();
    match field.length {
        LengthType::Fixed(expected) => match (expected.checked_sub(length), field.padding) {
            (Some(0), _) => out.extend_from_slice(&wire),
            (Some(n), Padding::Left(c)) => {
                out.resize(out.len() + n, c);
                out.extend_from_slice(&wire);
            }
            (Some(n), Padding::Right(c)) => {
                out.extend_from_slice(&wire);
                out.resize(out.len() + n, c);
            }
            (Some(_), Padding::Unpadded) | (None, _) => {
                return Err(PackErrorKind::LengthMismatch { length, expected });
            }
        },
        LengthType::LlVar(max) | LengthType::LllVar(max) => {
            let width = field.length.prefix_digits();
            // A custom spec's maximum may not fit its prefix; the prefix wins.
            let max = max.min(if width == 2 { 99 } else { 999 });
            if length > max {
                return Err(PackErrorKind::LengthOverMax { length, max });
            }
            out.extend_from_slice(format!("{length:0width$}").as_bytes());
            out.extend_from_slice(&wire);
        }
    }
    Ok(())
}
