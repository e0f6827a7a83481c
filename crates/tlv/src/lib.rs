//! BER-TLV as EMV uses it (EMV 4.4 Book 3, Annex B) and Data Object Lists (Book 3, 5.4).
//!
//! * Tags of one to four bytes ([`Tag`]), short and long-form lengths (up to four length bytes).
//! * `00` and `FF` padding before, between and after objects is skipped (Book 3, B1).
//! * Decoding borrows: [`Reader`] yields [`TlvRef`]s over the input without copying; [`Node`]
//!   is the recursive tree of a constructed template (for traces and lookups).
//! * Encoding goes through [`Builder`], which computes lengths for nested templates.
//! * Errors say where: byte offset from the start of the input and, once known, the tag.
//!
//! Nothing here panics on input bytes: every index is checked.
#![forbid(unsafe_code)]

mod dol;
mod map;
mod tag;

use core::fmt;

pub use dol::{Dol, DolEntry, DolFormat};
pub use map::TagMap;
pub use tag::{Tag, TagClass};

/// Nested templates deeper than this are refused (EMV nests at most three or four levels).
pub const MAX_DEPTH: usize = 16;

/// What went wrong while decoding, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlvError {
    /// Byte offset (from the start of the outermost input) at which the problem was found.
    pub offset: usize,
    /// The tag being decoded, when it was already read.
    pub tag: Option<Tag>,
    /// The kind of problem.
    pub kind: TlvErrorKind,
}

/// The kinds of decoding failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlvErrorKind {
    /// The input ends inside a tag.
    TruncatedTag,
    /// A tag is longer than four bytes.
    TagTooLong,
    /// The input ends inside a length field.
    TruncatedLength,
    /// The indefinite length form (`80`) is not allowed in EMV.
    IndefiniteLength,
    /// A length field of more than four bytes (`85`..`FF`).
    LengthTooLong,
    /// The value needs more bytes than remain.
    ValueOverrun {
        /// Bytes the length field announced.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// Constructed templates nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A DOL entry's length is missing.
    TruncatedDol,
    /// Data given for a DOL is shorter than the DOL's total length.
    DolDataTooShort {
        /// Bytes the DOL describes.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
}

impl fmt::Display for TlvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TlvErrorKind::TruncatedTag => write!(f, "input ends inside a tag")?,
            TlvErrorKind::TagTooLong => write!(f, "tag longer than 4 bytes")?,
            TlvErrorKind::TruncatedLength => write!(f, "input ends inside a length field")?,
            TlvErrorKind::IndefiniteLength => write!(f, "indefinite length (80) is not allowed")?,
            TlvErrorKind::LengthTooLong => write!(f, "length field longer than 4 bytes")?,
            TlvErrorKind::ValueOverrun { needed, available } => {
                write!(f, "value needs {needed} bytes but only {available} remain")?
            }
            TlvErrorKind::TooDeep => write!(f, "templates nested deeper than {MAX_DEPTH}")?,
            TlvErrorKind::TruncatedDol => write!(f, "DOL ends inside an entry")?,
            TlvErrorKind::DolDataTooShort { needed, available } => write!(
                f,
                "DOL needs {needed} bytes of data but {available} were given"
            )?,
        }
        write!(f, " at offset {}", self.offset)?;
        if let Some(tag) = self.tag {
            write!(f, " (tag {tag})")?;
        }
        Ok(())
    }
}

impl std::error::Error for TlvError {}

/// One decoded data object, borrowing its value from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlvRef<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value bytes (for a constructed tag, the encoded children).
    pub value: &'a [u8],
    /// Offset of the tag's first byte in the outermost input.
    pub offset: usize,
}

impl<'a> TlvRef<'a> {
    /// The children of a constructed object (empty reader for a primitive one).
    pub fn children(&self) -> Reader<'a> {
        if self.tag.is_constructed() {
            Reader::with_base(self.value, self.offset + self.header_len())
        } else {
            Reader::with_base(&[], self.offset)
        }
    }

    /// Length of tag plus length field, recomputed from the value length.
    fn header_len(&self) -> usize {
        self.tag.encoded_len() + length_len(self.value.len())
    }
}

/// A cursor over a sequence of BER-TLV objects, skipping `00`/`FF` padding.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

impl<'a> Reader<'a> {
    /// Reads objects from `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self::with_base(input, 0)
    }

    /// Reads objects from `input`, reporting offsets relative to `base`.
    pub fn with_base(input: &'a [u8], base: usize) -> Self {
        Self {
            input,
            pos: 0,
            base,
            failed: false,
        }
    }

    fn err(&mut self, at: usize, tag: Option<Tag>, kind: TlvErrorKind) -> TlvError {
        self.failed = true;
        TlvError {
            offset: self.base + at,
            tag,
            kind,
        }
    }

    fn next_object(&mut self) -> Option<Result<TlvRef<'a>, TlvError>> {
        // Book 3 B1: 00 and FF may precede, separate or follow objects.
        while let Some(&b) = self.input.get(self.pos) {
            if b == 0x00 || b == 0xFF {
                self.pos += 1;
            } else {
                break;
            }
        }
        let start = self.pos;
        let rest = self.input.get(start..)?;
        if rest.is_empty() {
            return None;
        }
        let (tag, tag_len) = match Tag::read(rest) {
            Ok(t) => t,
            Err(kind) => return Some(Err(self.err(start, None, kind))),
        };
        let after_tag = rest.get(tag_len..).unwrap_or_default();
        let (len, len_len) = match read_length(after_tag) {
            Ok(l) => l,
            Err(kind) => return Some(Err(self.err(start + tag_len, Some(tag), kind))),
        };
        let value_start = start + tag_len + len_len;
        let available = self.input.len().saturating_sub(value_start);
        if len > available {
            let kind = TlvErrorKind::ValueOverrun {
                needed: len,
                available,
            };
            return Some(Err(self.err(start + tag_len, Some(tag), kind)));
        }
        let value = self.input.get(value_start..value_start + len)?;
        self.pos = value_start + len;
        Some(Ok(TlvRef {
            tag,
            value,
            offset: self.base + start,
        }))
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<TlvRef<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        self.next_object()
    }
}

/// Reads a BER length field, returning (length, bytes used).
fn read_length(input: &[u8]) -> Result<(usize, usize), TlvErrorKind> {
    let first = *input.first().ok_or(TlvErrorKind::TruncatedLength)?;
    if first < 0x80 {
        return Ok((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 {
        return Err(TlvErrorKind::IndefiniteLength);
    }
    if n > 4 {
        return Err(TlvErrorKind::LengthTooLong);
    }
    let bytes = input.get(1..=n).ok_or(TlvErrorKind::TruncatedLength)?;
    let len = bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
    Ok((len, 1 + n))
}

/// Number of bytes the length field of a value of `len` bytes takes.
fn length_len(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 5,
    }
}

/// Appends a BER length field (shortest form) for a value of `len` bytes.
pub fn write_length(len: usize, out: &mut Vec<u8>) {
    let n = length_len(len);
    if n == 1 {
        out.push(len.to_be_bytes()[size_of::<usize>() - 1]);
        return;
    }
    let be = len.to_be_bytes();
    let significant = &be[be.len() - (n - 1)..];
    // n - 1 is at most 4 here, so the 0x80 | n - 1 value fits a byte.
    out.push(0x80 | u8::try_from(n - 1).unwrap_or(4));
    out.extend_from_slice(significant);
}

/// A decoded object and, for a constructed one, its decoded children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    /// The object itself.
    pub tlv: TlvRef<'a>,
    /// Decoded children when the tag is constructed, empty otherwise.
    pub children: Vec<Node<'a>>,
}

impl<'a> Node<'a> {
    /// Depth-first search for the first object with `tag`, this node included.
    pub fn find(&self, tag: Tag) -> Option<&TlvRef<'a>> {
        if self.tlv.tag == tag {
            return Some(&self.tlv);
        }
        self.children.iter().find_map(|c| c.find(tag))
    }
}

/// Decodes a whole sequence of objects, recursing into constructed templates.
pub fn decode_tree(input: &[u8]) -> Result<Vec<Node<'_>>, TlvError> {
    decode_level(Reader::new(input), 0)
}

fn decode_level(reader: Reader<'_>, depth: usize) -> Result<Vec<Node<'_>>, TlvError> {
    let mut nodes = Vec::new();
    for item in reader {
        let tlv = item?;
        if depth >= MAX_DEPTH {
            return Err(TlvError {
                offset: tlv.offset,
                tag: Some(tlv.tag),
                kind: TlvErrorKind::TooDeep,
            });
        }
        let children = if tlv.tag.is_constructed() {
            decode_level(tlv.children(), depth + 1)?
        } else {
            Vec::new()
        };
        nodes.push(Node { tlv, children });
    }
    Ok(nodes)
}

/// Depth-first search of `input` for the first object with `tag`, descending into templates.
pub fn find(input: &[u8], tag: Tag) -> Result<Option<&[u8]>, TlvError> {
    find_in(Reader::new(input), tag, 0)
}

fn find_in<'a>(reader: Reader<'a>, tag: Tag, depth: usize) -> Result<Option<&'a [u8]>, TlvError> {
    for item in reader {
        let tlv = item?;
        if tlv.tag == tag {
            return Ok(Some(tlv.value));
        }
        if tlv.tag.is_constructed() {
            if depth >= MAX_DEPTH {
                return Err(TlvError {
                    offset: tlv.offset,
                    tag: Some(tlv.tag),
                    kind: TlvErrorKind::TooDeep,
                });
            }
            if let Some(v) = find_in(tlv.children(), tag, depth + 1)? {
                return Ok(Some(v));
            }
        }
    }
    Ok(None)
}

/// Visits every primitive object in `input` (descending into templates), in order.
pub fn for_each_primitive<'a>(
    input: &'a [u8],
    f: &mut dyn FnMut(TlvRef<'a>),
) -> Result<(), TlvError> {
    visit(Reader::new(input), f, 0)
}

fn visit<'a>(
    reader: Reader<'a>,
    f: &mut dyn FnMut(TlvRef<'a>),
    depth: usize,
) -> Result<(), TlvError> {
    for item in reader {
        let tlv = item?;
        if tlv.tag.is_constructed() {
            if depth >= MAX_DEPTH {
                return Err(TlvError {
                    offset: tlv.offset,
                    tag: Some(tlv.tag),
                    kind: TlvErrorKind::TooDeep,
                });
            }
            visit(tlv.children(), f, depth + 1)?;
        } else {
            f(tlv);
        }
    }
    Ok(())
}

/// Builds BER-TLV encodings; nested templates get their lengths computed on close.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    out: Vec<u8>,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one primitive (or pre-encoded constructed) object.
    pub fn put(&mut self, tag: Tag, value: &[u8]) -> &mut Self {
        tag.write(&mut self.out);
        write_length(value.len(), &mut self.out);
        self.out.extend_from_slice(value);
        self
    }

    /// Appends a constructed object whose children `f` writes.
    pub fn template(&mut self, tag: Tag, f: impl FnOnce(&mut Builder)) -> &mut Self {
        let mut inner = Builder::new();
        f(&mut inner);
        self.put(tag, &inner.out)
    }

    /// Appends bytes that are already TLV-encoded.
    pub fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.out.extend_from_slice(encoded);
        self
    }

    /// The encoding so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// Finishes and returns the encoding.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// Encodes one object.
pub fn encode(tag: Tag, value: &[u8]) -> Vec<u8> {
    let mut b = Builder::new();
    b.put(tag, value);
    b.finish()
}

#[cfg(test)]
mod tests;
