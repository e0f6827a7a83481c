//! Data Object Lists (EMV 4.4 Book 3, 5.4): PDOL (`9F38`), CDOL1 (`8C`), CDOL2 (`8D`), DDOL.

use crate::{Tag, TlvError, TlvErrorKind};

/// How a data element is padded or truncated to fit a DOL entry (Book 3, 5.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DolFormat {
    /// `n`: right-justified; truncated on the left, padded with leading `00`.
    Numeric,
    /// `cn`: left-justified; truncated on the right, padded with trailing `FF`.
    CompressedNumeric,
    /// Everything else (`b`, `an`, `ans`): truncated on the right, padded with trailing `00`.
    Other,
}

/// One DOL entry: a tag and the number of value bytes the card wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DolEntry {
    /// The requested data element.
    pub tag: Tag,
    /// Bytes the element occupies in the concatenated DOL data.
    pub len: usize,
}

/// A parsed Data Object List.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dol {
    entries: Vec<DolEntry>,
}

impl Dol {
    /// A DOL from entries (card side: the list it will send).
    pub fn from_entries(entries: Vec<DolEntry>) -> Self {
        Self { entries }
    }

    /// Parses the value of a DOL data object (tag followed by a one-byte length, repeated).
    pub fn parse(value: &[u8]) -> Result<Self, TlvError> {
        let mut entries = Vec::new();
        let mut pos = 0;
        while pos < value.len() {
            let rest = value.get(pos..).unwrap_or_default();
            let (tag, n) = Tag::read(rest).map_err(|kind| TlvError {
                offset: pos,
                tag: None,
                kind,
            })?;
            let len = *rest.get(n).ok_or(TlvError {
                offset: pos + n,
                tag: Some(tag),
                kind: TlvErrorKind::TruncatedDol,
            })?;
            entries.push(DolEntry {
                tag,
                len: usize::from(len),
            });
            pos += n + 1;
        }
        Ok(Self { entries })
    }

    /// The entries in order.
    pub fn entries(&self) -> &[DolEntry] {
        &self.entries
    }

    /// Total length of the data this DOL describes.
    pub fn data_len(&self) -> usize {
        self.entries.iter().map(|e| e.len).sum()
    }

    /// True when the DOL asks for `tag`.
    pub fn contains(&self, tag: Tag) -> bool {
        self.entries.iter().any(|e| e.tag == tag)
    }

    /// Encodes the DOL itself (the value of `9F38` or `8C`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 3);
        for e in &self.entries {
            e.tag.write(&mut out);
            // DOL lengths are one byte by definition; entries over 255 cannot be built.
            out.push(u8::try_from(e.len).unwrap_or(u8::MAX));
        }
        out
    }

    /// Builds the DOL-related data (terminal side), applying Book 3's rules to each entry:
    /// values too long are truncated and values too short padded according to their format;
    /// unknown or absent elements, and constructed ones, are filled with `00`.
    pub fn build<'v>(
        &self,
        lookup: impl Fn(Tag) -> Option<&'v [u8]>,
        format: impl Fn(Tag) -> DolFormat,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data_len());
        for e in &self.entries {
            let value = if e.tag.is_constructed() {
                None
            } else {
                lookup(e.tag)
            };
            match value {
                None => out.resize(out.len() + e.len, 0x00),
                Some(v) => fit(v, e.len, format(e.tag), &mut out),
            }
        }
        out
    }

    /// Splits DOL-related data (card side) back into one value per entry, in order.
    pub fn split<'d>(&self, data: &'d [u8]) -> Result<Vec<(Tag, &'d [u8])>, TlvError> {
        let needed = self.data_len();
        if data.len() < needed {
            return Err(TlvError {
                offset: 0,
                tag: None,
                kind: TlvErrorKind::DolDataTooShort {
                    needed,
                    available: data.len(),
                },
            });
        }
        let mut pos = 0;
        let mut out = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let v = data.get(pos..pos + e.len).unwrap_or_default();
            out.push((e.tag, v));
            pos += e.len;
        }
        Ok(out)
    }
}

fn fit(v: &[u8], len: usize, format: DolFormat, out: &mut Vec<u8>) {
    use core::cmp::Ordering;
    match (v.len().cmp(&len), format) {
        (Ordering::Equal, _) => out.extend_from_slice(v),
        (Ordering::Greater, DolFormat::Numeric) => out.extend_from_slice(&v[v.len() - len..]),
        (Ordering::Greater, _) => out.extend_from_slice(&v[..len]),
        (Ordering::Less, DolFormat::Numeric) => {
            out.resize(out.len() + (len - v.len()), 0x00);
            out.extend_from_slice(v);
        }
        (Ordering::Less, DolFormat::CompressedNumeric) => {
            out.extend_from_slice(v);
            out.resize(out.len() + (len - v.len()), 0xFF);
        }
        (Ordering::Less, DolFormat::Other) => {
            out.extend_from_slice(v);
            out.resize(out.len() + (len - v.len()), 0x00);
        }
    }
}
