//! ISO 8583 (1987) messages: field specifications as data (an ASCII and a binary-bitmap
//! dialect), MTI, bitmap, pack and unpack, response codes.
//!
//! * **Dialects are data.** A [`Spec`] is a static table of 129 [`FieldSpec`]s (length type,
//!   maximum, encoding, padding, name); [`spec::ASCII87`] is pyiso8583's `default_ascii` field by
//!   field, [`spec::BINARY87`] the same with binary bitmaps and raw binary fields. The codec
//!   never names a dialect.
//! * **Full recognition before processing.** [`Message::unpack`] parses the whole input and
//!   refuses anything the spec does not allow (see [`UnpackErrorKind`]); it never panics. Errors
//!   name the field (`DE 35 Track 2 Data: length 40 exceeds max 37 (offset 57)`) and the byte
//!   offset.
//! * **Accessors by meaning.** [`Message::pan`], [`Message::stan`], [`Message::response_code`],
//!   [`Message::icc_tlv`], ...; field numbers live in [`fields`].
//! * **Wire enums keep unknown values.** [`Mti`], [`ResponseCode`] and
//!   [`NetworkManagementCode`] are newtypes over the wire bytes with named constants.
//! * **Secrets stay masked.** Field values live in [`secret::Secret`]; `Debug` of a [`Message`]
//!   and [`Message::dump`] mask DE 2 (first 6 and last 4 digits), DE 14 (`****`) and show only
//!   the length of DE 35, 45, 52 and 55 ([`fields::mask`]). Errors never hold values.
//!
//! Framing (length headers, TPDU) belongs to `iso8583-net`, not here.
//!
//! ```
//! use iso8583::{Message, Mti, ResponseCode, spec::ASCII87};
//!
//! let mut request = Message::new(Mti::AUTHORIZATION_REQUEST);
//! request.set_processing_code("000000").set_amount_minor(1_250).set_stan(42);
//! let bytes = request.pack(&ASCII87)?;
//! assert_eq!(bytes, b"01003020000000000000000000000000001250000042");
//!
//! let back = Message::unpack(&bytes, &ASCII87)?;
//! assert_eq!(back.amount_minor(), Some(1_250));
//!
//! let mut response = Message::new(back.mti.response_mti().unwrap_or(Mti::AUTHORIZATION_RESPONSE));
//! response.set_response_code(ResponseCode::INSUFFICIENT_FUNDS);
//! assert!(!response.response_code().is_some_and(ResponseCode::is_approval));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accessors;
mod bitmap;
mod codec;
mod codes;
mod error;
pub mod fields;
mod message;
mod mti;
pub mod spec;

pub use accessors::OriginalDataElements;
pub use bitmap::Bitmap;
pub use codes::{NetworkManagementCode, ResponseCode};
pub use error::{BITMAP_FIELD, MTI_FIELD, PackError, PackErrorKind, UnpackError, UnpackErrorKind};
pub use message::{FieldValue, Message};
pub use mti::{Mti, ParseMtiError};
pub use spec::{FieldSpec, Spec};

#[cfg(test)]
mod tests;
