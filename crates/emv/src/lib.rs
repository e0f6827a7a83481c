//! EMV data: the tag dictionary as data, and typed views of the data elements the kernels and
//! the card application reason about.
//!
//! * [`dictionary`]: every tag of EMV 4.4 Book 3 Annex A, Book A/B, Contactless Kernel 2
//!   (Mastercard) and Kernel 3 (Visa) as one static, sorted table of [`TagInfo`] rows.
//! * Bit-field elements as newtypes over their wire bytes, each bit a named accessor and a
//!   `with_*` setter: [`Aip`] (82), [`Tvr`] (95), [`Tsi`] (9B), [`Ttq`] (9F66), [`Ctq`] (9F6C),
//!   [`VisaCvr`] and [`MchipCvr`] (inside 9F10).
//! * Structured elements: [`Afl`] (94), [`CvmList`] (8E), [`CvmResults`] (9F34), [`Cid`] (9F27),
//!   [`Iad`] (9F10), [`TransactionType`] (9C).
//! * [`trace`]: a human-readable walk of a TLV tree that names every tag, decodes the values
//!   above and masks card data (PAN, tracks, cardholder name, PIN data).
//!
//! Pure data: no I/O, no clock, no randomness. Parsers never panic; their errors
//! ([`EmvError`]) name the element, the byte offset and the problem.
#![forbid(unsafe_code)]

#[macro_use]
mod bits;

mod afl;
mod aip;
mod cid;
mod cvm;
mod cvr;
pub mod dictionary;
mod error;
mod iad;
#[cfg(test)]
mod proptests;
mod qualifiers;
pub mod tags;
pub mod trace;
mod tvr;
mod txn;

pub use afl::{Afl, AflEntry};
pub use aip::Aip;
pub use bits::NamedBit;
pub use cid::{Cid, CidReason, CryptogramType};
pub use cvm::{CvmCondition, CvmList, CvmMethod, CvmResult, CvmResults, CvmRule};
pub use cvr::{MchipCvr, VisaCvr};
pub use dictionary::{Format, Scope, Sensitivity, Source, TagInfo, dol_format, lookup};
pub use error::{EmvError, EmvErrorKind};
pub use iad::{Cvn, Iad, IadFormat};
pub use qualifiers::{Ctq, Ttq};
pub use trace::{TraceLine, describe_tlv};
pub use tvr::{RelayResistance, Tsi, Tvr};
pub use txn::TransactionType;

/// Upper-case hex of `bytes`, no separators.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02X}");
    }
    s
}

#[cfg(test)]
pub(crate) fn h(s: &str) -> Vec<u8> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
