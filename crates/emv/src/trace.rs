//! Human-readable traces of TLV data: one line per object, indented by depth, with the tag's
//! name, its value and, where this crate knows the element, what the value means.
//!
//! ```text
//! 77  Response Message Template Format 2  (14 bytes)
//!   82  Application Interchange Profile (AIP)  1980  [Cardholder verification is supported, ...]
//!   9F27  Cryptogram Information Data (CID)  80  [ARQC]
//!   5A  Application Primary Account Number (PAN)  476173******0010
//! ```
//!
//! Card data never appears in full: the dictionary's [`Sensitivity`] drives the masking. A PAN
//! shows at most its first 6 and last 4 digits ([`secret::mask_digits`]); track data shows only
//! that masked PAN; cardholder names, discretionary track data and PIN data show only their
//! length. Templates show no value bytes of their own (their children follow, masked).
//!
//! Tags the kernels define differently are named for the scheme of the AID found in the input
//! (`4F`, `84` or `9F06`), or as [`describe_tlv_in`] is told; otherwise by their default row.

use core::fmt;

use tlv::{Dol, Node, Tag, TlvError};

use crate::dictionary::{self, Format, Scope, Sensitivity, TagInfo};
use crate::{
    Afl, Aip, Cid, Ctq, CvmList, CvmResults, EmvError, Iad, TransactionType, Tsi, Ttq, Tvr, hex,
};

/// Name shown for tags the dictionary does not know.
pub const UNKNOWN_TAG: &str = "Unknown tag";

/// One object of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    /// Nesting depth (0 for top-level objects).
    pub depth: usize,
    /// The tag.
    pub tag: Tag,
    /// The tag's name ([`UNKNOWN_TAG`] when the dictionary does not know it).
    pub name: &'static str,
    /// Length of the value in bytes.
    pub len: usize,
    /// True for a template; its children are the lines that follow, one level deeper.
    pub constructed: bool,
    /// The value as shown: hex, or masked for sensitive tags; empty for templates.
    pub value: String,
    /// The decoded meaning, when the element is one this crate decodes.
    pub meaning: Option<String>,
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for _ in 0..self.depth {
            f.write_str("  ")?;
        }
        write!(f, "{}  {}  ", self.tag, self.name)?;
        if self.constructed {
            write!(f, "({} bytes)", self.len)?;
        } else if self.value.is_empty() {
            f.write_str("(empty)")?;
        } else {
            f.write_str(&self.value)?;
        }
        if let Some(m) = &self.meaning {
            write!(f, "  [{m}]")?;
        }
        Ok(())
    }
}

/// Walks `bytes` (a sequence of BER-TLV objects) and returns one line per object, depth first.
/// Kernel-specific tags are named for the scheme of the first AID in the input, if any.
pub fn describe_tlv(bytes: &[u8]) -> Result<Vec<TraceLine>, TlvError> {
    let tree = tlv::decode_tree(bytes)?;
    let scope = find_scope(&tree);
    let mut out = Vec::new();
    walk(&tree, 0, scope, &mut out);
    Ok(out)
}

/// As [`describe_tlv`], naming kernel-specific tags as `scope` defines them.
pub fn describe_tlv_in(bytes: &[u8], scope: Scope) -> Result<Vec<TraceLine>, TlvError> {
    let tree = tlv::decode_tree(bytes)?;
    let mut out = Vec::new();
    walk(&tree, 0, Some(scope), &mut out);
    Ok(out)
}

/// The lines of [`describe_tlv`], joined with newlines.
pub fn trace_text(bytes: &[u8]) -> Result<String, TlvError> {
    let lines = describe_tlv(bytes)?;
    Ok(lines
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n"))
}

fn find_scope(nodes: &[Node<'_>]) -> Option<Scope> {
    nodes.iter().find_map(|n| {
        let own = match n.tlv.tag.0 {
            0x4F | 0x84 | 0x9F06 => Scope::from_aid(n.tlv.value),
            _ => None,
        };
        own.or_else(|| find_scope(&n.children))
    })
}

fn info(tag: Tag, scope: Option<Scope>) -> Option<&'static TagInfo> {
    match scope {
        Some(s) => dictionary::lookup_in(tag, s),
        None => dictionary::lookup(tag),
    }
}

fn walk(nodes: &[Node<'_>], depth: usize, scope: Option<Scope>, out: &mut Vec<TraceLine>) {
    for node in nodes {
        let tag = node.tlv.tag;
        let value = node.tlv.value;
        let row = info(tag, scope);
        let constructed = tag.is_constructed();
        let sensitivity = row.map_or(Sensitivity::Public, |r| r.sensitivity);
        let (shown, meaning) = if constructed {
            (String::new(), None)
        } else {
            match sensitivity {
                Sensitivity::Public => (hex(value), row.and_then(|r| meaning(r, value, scope))),
                Sensitivity::Pan => (mask_pan(value), Some("PAN, masked".to_owned())),
                Sensitivity::Track if tag.0 == 0x56 => {
                    (mask_track1(value), Some("track data, masked".to_owned()))
                }
                Sensitivity::Track => (mask_track2(value), Some("track data, masked".to_owned())),
                Sensitivity::Redact => (format!("[REDACTED {} bytes]", value.len()), None),
            }
        };
        out.push(TraceLine {
            depth,
            tag,
            name: row.map_or(UNKNOWN_TAG, |r| r.name),
            len: value.len(),
            constructed,
            value: shown,
            meaning,
        });
        walk(&node.children, depth + 1, scope, out);
    }
}

/// What a public value means, for the elements this crate decodes.
fn meaning(row: &TagInfo, value: &[u8], scope: Option<Scope>) -> Option<String> {
    let words = |r: Result<Vec<String>, EmvError>| match r {
        Ok(w) if w.is_empty() => "none".to_owned(),
        Ok(w) => w.join(", "),
        Err(e) => format!("invalid: {}", e.kind),
    };
    let lines = |r: Result<Vec<String>, EmvError>| match r {
        Ok(w) => w.join("; "),
        Err(e) => format!("invalid: {}", e.kind),
    };
    let s = match (row.tag.0, row.scope) {
        (0x82, _) => words(Aip::from_bytes(value).map(Aip::describe)),
        (0x94, _) => lines(Afl::from_bytes(value).map(|a| a.describe())),
        (0x8E, _) => lines(CvmList::from_bytes(value).map(|l| l.describe())),
        (0x95 | 0x9F0D | 0x9F0E | 0x9F0F | 0xDF8120 | 0xDF8121 | 0xDF8122, _) => {
            words(Tvr::from_bytes(value).map(Tvr::describe))
        }
        (0x9B, _) => words(Tsi::from_bytes(value).map(Tsi::describe)),
        (0x9C, _) => match TransactionType::from_bytes(value) {
            Ok(t) => t.to_string(),
            Err(e) => format!("invalid: {}", e.kind),
        },
        (0x9F10, _) => words(Iad::from_bytes(value).map(|i| i.describe())),
        (0x9F27, _) => words(Cid::from_bytes(value).map(Cid::describe)),
        (0x9F34, _) => words(CvmResults::from_bytes(value).map(CvmResults::describe)),
        (0x9F66, Scope::Emv) => words(Ttq::from_bytes(value).map(Ttq::describe)),
        (0x9F6C, Scope::Visa) => words(Ctq::from_bytes(value).map(Ctq::describe)),
        (0x8C | 0x8D | 0x97 | 0x9F38 | 0x9F49 | 0x9F4F, _)
        | (0x9F51 | 0x9F5B | 0x9F69 | 0xDF811A, Scope::Mastercard) => describe_dol(value, scope),
        (0x9F4A, _) | (0xDF8106 | 0xDF8112, Scope::Mastercard) => describe_tag_list(value, scope),
        (0x5F24 | 0x5F25 | 0x9A, _) => date(value)?,
        (0x9F21, _) => time(value)?,
        _ => match row.format {
            f if f.is_text() => text(value),
            Format::N => number(value)?,
            Format::Cn => hex(value).trim_end_matches('F').to_owned(),
            _ => return None,
        },
    };
    Some(s)
}

/// "9F02 Amount, Authorised (Numeric) (6); ..." for the entries of a DOL.
fn describe_dol(value: &[u8], scope: Option<Scope>) -> String {
    match Dol::parse(value) {
        Ok(dol) => dol
            .entries()
            .iter()
            .map(|e| {
                let name = info(e.tag, scope).map_or(UNKNOWN_TAG, |r| r.name);
                format!("{} {name} ({})", e.tag, e.len)
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(e) => format!("invalid DOL: {e}"),
    }
}

/// "9F02 Amount, Authorised (Numeric); ..." for a list of tags without lengths.
fn describe_tag_list(value: &[u8], scope: Option<Scope>) -> String {
    let mut names = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        match Tag::read(rest) {
            Ok((tag, n)) => {
                let name = info(tag, scope).map_or(UNKNOWN_TAG, |r| r.name);
                names.push(format!("{tag} {name}"));
                rest = rest.get(n..).unwrap_or_default();
            }
            Err(_) => {
                names.push(format!(
                    "invalid tag at offset {}",
                    value.len() - rest.len()
                ));
                break;
            }
        }
    }
    names.join("; ")
}

/// Printable ASCII as is, anything else as `\xNN`, in quotes.
fn text(value: &[u8]) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for &b in value {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(char::from(b));
            }
            0x20..=0x7E => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02X}")),
        }
    }
    s.push('"');
    s
}

/// The decimal digits of a BCD value; `None` when a nibble is not decimal.
fn bcd_digits(value: &[u8]) -> Option<String> {
    let s = hex(value);
    s.bytes().all(|b| b.is_ascii_digit()).then_some(s)
}

/// A numeric (`n`) value without its leading zeros, or a note that it is not BCD.
fn number(value: &[u8]) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    Some(match bcd_digits(value) {
        Some(d) => match d.trim_start_matches('0') {
            "" => "0".to_owned(),
            n => n.to_owned(),
        },
        None => "invalid: not BCD".to_owned(),
    })
}

/// `YYMMDD` as `YYYY-MM-DD` (years 50-99 are 19xx, as Book 4 reads them).
fn date(value: &[u8]) -> Option<String> {
    let d = bcd_digits(value).filter(|d| d.len() == 6)?;
    let century = if d.get(..2)? >= "50" { "19" } else { "20" };
    Some(format!(
        "{century}{}-{}-{}",
        d.get(..2)?,
        d.get(2..4)?,
        d.get(4..6)?
    ))
}

/// `HHMMSS` as `HH:MM:SS`.
fn time(value: &[u8]) -> Option<String> {
    let t = bcd_digits(value).filter(|t| t.len() == 6)?;
    Some(format!("{}:{}:{}", t.get(..2)?, t.get(2..4)?, t.get(4..6)?))
}

/// A PAN (cn, padded with `F`s), at most its first 6 and last 4 digits shown.
fn mask_pan(value: &[u8]) -> String {
    let nibbles = hex(value);
    secret::mask_digits(nibbles.trim_end_matches('F'))
}

/// Track 2 data (`57`, `9F6B`): the PAN masked, everything after the separator starred.
fn mask_track2(value: &[u8]) -> String {
    let nibbles = hex(value);
    let nibbles = nibbles.trim_end_matches('F');
    match nibbles.split_once('D') {
        Some((pan, rest)) => format!("{}D{}", secret::mask_digits(pan), "*".repeat(rest.len())),
        None => secret::mask_digits(nibbles),
    }
}

/// Track 1 data (`56`): `B`, the PAN masked, then only stars.
fn mask_track1(value: &[u8]) -> String {
    let text: String = value.iter().map(|&b| char::from(b)).collect();
    match text.strip_prefix('B').and_then(|t| t.split_once('^')) {
        Some((pan, rest)) if pan.chars().all(|c| c.is_ascii_digit()) => {
            format!(
                "B{}^{}",
                secret::mask_digits(pan),
                "*".repeat(rest.chars().count())
            )
        }
        _ => format!("[REDACTED {} bytes]", value.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h;

    const PAN: &str = "5413330089010012";

    fn record_with_card_data() -> Vec<u8> {
        let mut b = tlv::Builder::new();
        b.template(Tag(0x70), |r| {
            r.put(Tag(0x5A), &h(PAN))
                .put(Tag(0x57), &h("5413330089010012D25122010000000000000F"))
                .put(Tag(0x56), b"B5413330089010012^SMITH/JOHN^2512201000000000")
                .put(Tag(0x5F20), b"SMITH/JOHN")
                .put(Tag(0x9F1F), b"000000000000")
                .put(Tag(0x9F6B), &h("5413330089010012D251220100000F"))
                .put(Tag(0x5F24), &h("251231"))
                .put(Tag(0x99), &h("1234"));
        });
        b.finish()
    }

    #[test]
    fn card_data_is_masked() {
        let text = trace_text(&record_with_card_data()).unwrap();
        assert!(!text.contains(PAN), "{text}");
        assert!(!text.contains("33300890"), "{text}");
        assert!(!text.contains("SMITH"), "{text}");
        assert!(!text.contains("D2512"), "{text}");
        assert!(!text.contains("1234"), "{text}");
        assert!(text.contains("541333******0012"), "{text}");
        assert!(
            text.contains("541333******0012D********************  [track"),
            "{text}"
        );
        assert!(text.contains("B541333******0012^"), "{text}");
        assert!(
            text.contains("5F20  Cardholder Name  [REDACTED 10 bytes]"),
            "{text}"
        );
        // Expiry on its own is not sensitive.
        assert!(
            text.contains("5F24  Application Expiration Date  251231  [2025-12-31]"),
            "{text}"
        );
    }

    #[test]
    fn gpo_response_is_decoded() {
        let bytes = h("771D 8202 1980 9404 08010100 9F27 0180 9F36 02002A 9F10 07 06011203A0B800");
        let lines = describe_tlv(&bytes).unwrap();
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert_eq!(
            text[0],
            "77  Response Message Template Format 2  (29 bytes)"
        );
        assert_eq!(
            text[1],
            "  82  Application Interchange Profile (AIP)  1980  [Cardholder verification is \
             supported, Terminal risk management is to be performed, CDA supported, EMV mode is \
             supported]"
        );
        assert_eq!(
            text[2],
            "  94  Application File Locator (AFL)  08010100  [SFI 1 record 1 (0 for ODA)]"
        );
        assert_eq!(
            text[3],
            "  9F27  Cryptogram Information Data (CID)  80  [ARQC]"
        );
        assert_eq!(
            text[4],
            "  9F36  Application Transaction Counter (ATC)  002A"
        );
        assert!(text[5].starts_with(
            "  9F10  Issuer Application Data (IAD)  06011203A0B800  [Visa format 1, DKI 01, CVN 18 (12)"
        ));
        assert_eq!(lines[1].depth, 1);
        assert_eq!(lines[0].value, "");
    }

    #[test]
    fn dols_text_and_qualifiers() {
        let bytes = h("6F1A 8407A0000000031010 A50F 5004 56495341 9F38 06 9F66049F0206");
        let text = trace_text(&bytes).unwrap();
        assert!(
            text.contains("50  Application Label  56495341  [\"VISA\"]"),
            "{text}"
        );
        assert!(
            text.contains(
                "[9F66 Terminal Transaction Qualifiers (TTQ) (4); 9F02 Amount, Authorised (Numeric) (6)]"
            ),
            "{text}"
        );
        let ttq = trace_text(&h("9F6604 36004000")).unwrap();
        assert!(
            ttq.contains("[EMV mode supported, EMV contact chip supported,"),
            "{ttq}"
        );
        // With a Visa AID in the input, 9F6C is the CTQ; with a Mastercard one, not decoded.
        let visa = trace_text(&h("4F07A0000000031010 9F6C020080")).unwrap();
        assert!(
            visa.contains(
                "Card Transaction Qualifiers (CTQ)  0080  [Consumer Device CVM Performed]"
            ),
            "{visa}"
        );
        let mc = trace_text(&h("4F07A0000000041010 9F6C020001")).unwrap();
        assert!(
            mc.contains("9F6C  Mag-stripe Application Version Number (Card)  0001"),
            "{mc}"
        );
        let forced = describe_tlv_in(&h("9F6E0420700000"), Scope::Visa).unwrap();
        assert_eq!(forced[0].name, "Form Factor Indicator (FFI)");
    }

    #[test]
    fn invalid_values_and_unknown_tags() {
        let text = trace_text(&h("8203 198000 9F7B01AA 9404 00010100")).unwrap();
        assert!(
            text.contains("[invalid: length 3, expected 2 bytes]"),
            "{text}"
        );
        assert!(text.contains("9F7B  Unknown tag  AA"), "{text}");
        assert!(
            text.contains("[invalid: byte 1 is 00: SFI must be"),
            "{text}"
        );
        assert!(describe_tlv(&h("9F02")).is_err());
        assert!(describe_tlv(&[]).unwrap().is_empty());
    }

    #[test]
    fn numbers_dates_and_times() {
        let text = trace_text(&h(
            "9F0206000000001000 9A03991231 9F2103235959 5F2A020978 9F02021A00",
        ))
        .unwrap();
        assert!(
            text.contains("9F02  Amount, Authorised (Numeric)  000000001000  [1000]"),
            "{text}"
        );
        assert!(
            text.contains("9A  Transaction Date  991231  [1999-12-31]"),
            "{text}"
        );
        assert!(
            text.contains("9F21  Transaction Time  235959  [23:59:59]"),
            "{text}"
        );
        assert!(
            text.contains("5F2A  Transaction Currency Code  0978  [978]"),
            "{text}"
        );
        assert!(text.contains("1A00  [invalid: not BCD]"), "{text}");
        assert_eq!(number(&[0, 0]), Some("0".to_owned()));
        assert_eq!(date(&h("2512")), None);
    }

    #[test]
    fn masking_helpers() {
        assert_eq!(mask_pan(&h("4761739001010010")), "476173******0010");
        assert_eq!(mask_pan(&h("541333008901001234FF")), "541333********1234");
        assert_eq!(
            mask_track2(&h("4761739001010010D2212F")),
            "476173******0010D****"
        );
        assert_eq!(mask_track2(&h("47617390")), "****7390");
        assert_eq!(mask_track1(b"garbage"), "[REDACTED 7 bytes]");
    }
}
