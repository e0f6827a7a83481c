//! [`Message`]: an MTI and its data elements, independent of any dialect.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use secret::{Secret, mask_digits};

use crate::fields::{self, Mask};
use crate::{Bitmap, Mti, Spec};

/// One data element's value. Text fields (`n`, `an`, `ans`, `z`) hold text; binary fields
/// (`b`) hold bytes, whatever the dialect carries them as (hex text or raw bytes).
///
/// Every value lives in a [`Secret`]: zeroized on drop and never shown by `Debug` (which gives
/// the length only). [`Message`]'s `Debug` and [`Message::dump`] show values, masked by
/// [`fields::mask`].
#[derive(Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// A text value (ASCII once validated by pack or unpack).
    Text(Secret<String>),
    /// A binary value.
    Binary(Secret<Vec<u8>>),
}

impl FieldValue {
    /// A text value.
    pub fn text(value: impl Into<String>) -> Self {
        Self::Text(Secret::new(value.into()))
    }

    /// A binary value.
    pub fn binary(value: impl Into<Vec<u8>>) -> Self {
        Self::Binary(Secret::new(value.into()))
    }

    /// The text, for a text value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t.expose()),
            Self::Binary(_) => None,
        }
    }

    /// The bytes of either kind (a text value's UTF-8 bytes).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.expose().as_bytes(),
            Self::Binary(b) => b.expose(),
        }
    }

    /// The length of the value in bytes (not its length on the wire, which doubles for binary
    /// data carried as hex text).
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True for an empty value.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// True for a binary value.
    pub fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    /// The value as data element `number` is shown in logs: masked by [`fields::mask`], binary
    /// data in upper-case hex, text with control characters escaped.
    pub fn masked(&self, number: u8) -> String {
        match (fields::mask(number), self) {
            (Mask::Hidden, _) => "****".to_owned(),
            (Mask::Pan, Self::Text(t)) => mask_digits(t.expose()).escape_debug().to_string(),
            (Mask::Pan | Mask::LengthOnly, Self::Binary(b)) => format!("[{} bytes]", b.len()),
            (Mask::LengthOnly, Self::Text(t)) => format!("[{} chars]", t.expose().len()),
            (Mask::Clear, Self::Text(t)) => t.expose().escape_debug().to_string(),
            (Mask::Clear, Self::Binary(b)) => upper_hex(b.expose()),
        }
    }
}

impl fmt::Debug for FieldValue {
    /// The kind and length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => write!(f, "Text([{} chars])", t.expose().len()),
            Self::Binary(b) => write!(f, "Binary([{} bytes])", b.len()),
        }
    }
}

/// Upper-case hex of `bytes`.
pub(crate) fn upper_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// An ISO 8583 message: the MTI and the data elements present, by number (2 to 128).
///
/// The bitmaps are not stored: [`Message::bitmap`] computes them from the fields present.
/// [`Message::pack`] and [`Message::unpack`] translate to and from a dialect's bytes; accessors
/// named by meaning (`pan()`, `stan()`, `response_code()`, ...) read and write single fields.
///
/// `Debug` masks sensitive fields (see [`fields::mask`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The message type indicator.
    pub mti: Mti,
    /// The data elements present, by number.
    pub fields: BTreeMap<u8, FieldValue>,
}

impl Message {
    /// The fields a response echoes from its request: PAN, processing code, amount,
    /// transmission time, STAN, local time and date, card sequence number, RRN, terminal,
    /// merchant and currency.
    pub const ECHOED: [u8; 12] = [2, 3, 4, 7, 11, 12, 13, 23, 37, 41, 42, 49];

    /// The response to this request: the response MTI (`0100` gives `0110`), the
    /// [`Self::ECHOED`] fields present here, and `code` in DE 39. A message without a response
    /// MTI is answered as an authorization.
    pub fn response_to(&self, code: crate::ResponseCode) -> Message {
        let mti = self
            .mti
            .response_mti()
            .unwrap_or(Mti::AUTHORIZATION_RESPONSE);
        let mut rsp = Message::new(mti);
        for n in Self::ECHOED {
            if let Some(v) = self.field(n) {
                rsp.set_field(n, v.clone());
            }
        }
        rsp.set_response_code(code);
        rsp
    }

    /// The answer to a network management request (0800 sign-on, sign-off, echo test): a 0810
    /// echoing DE 7, DE 11 and DE 70 (echo test when absent), approved.
    pub fn network_management_response(&self) -> Message {
        let mut rsp = Message::new(Mti::NETWORK_MANAGEMENT_RESPONSE);
        for n in [7, 11] {
            if let Some(v) = self.field(n) {
                rsp.set_field(n, v.clone());
            }
        }
        rsp.set_network_management_code(
            self.network_management_code()
                .unwrap_or(crate::NetworkManagementCode::ECHO_TEST),
        );
        rsp.set_response_code(crate::ResponseCode::APPROVED);
        rsp
    }

    /// An empty message of type `mti`.
    pub fn new(mti: Mti) -> Self {
        Self {
            mti,
            fields: BTreeMap::new(),
        }
    }

    /// The value of data element `number`.
    pub fn field(&self, number: u8) -> Option<&FieldValue> {
        self.fields.get(&number)
    }

    /// True when data element `number` is present.
    pub fn has_field(&self, number: u8) -> bool {
        self.fields.contains_key(&number)
    }

    /// Sets data element `number`, replacing any earlier value.
    pub fn set_field(&mut self, number: u8, value: FieldValue) -> &mut Self {
        self.fields.insert(number, value);
        self
    }

    /// Sets data element `number` to a text value.
    pub fn set_text(&mut self, number: u8, value: &str) -> &mut Self {
        self.set_field(number, FieldValue::text(value))
    }

    /// Sets data element `number` to a binary value.
    pub fn set_binary(&mut self, number: u8, value: &[u8]) -> &mut Self {
        self.set_field(number, FieldValue::binary(value))
    }

    /// Removes data element `number`, returning its value.
    pub fn remove_field(&mut self, number: u8) -> Option<FieldValue> {
        self.fields.remove(&number)
    }

    /// The text of data element `number`, when present and text.
    pub fn text(&self, number: u8) -> Option<&str> {
        self.field(number)?.as_text()
    }

    /// The bytes of data element `number`, when present and binary.
    pub fn binary(&self, number: u8) -> Option<&[u8]> {
        match self.field(number)? {
            FieldValue::Binary(b) => Some(b.expose()),
            FieldValue::Text(_) => None,
        }
    }

    /// The bitmap of the fields present, with bit 1 set when any field above 64 is.
    pub fn bitmap(&self) -> Bitmap {
        let mut bitmap: Bitmap = self.fields.keys().copied().collect();
        if self.fields.keys().any(|n| *n > 64) {
            bitmap.set(fields::SECONDARY_BITMAP);
        }
        bitmap
    }

    /// A multi-line listing for logs: the MTI, then one line per field with its number, the
    /// spec's name and the value masked by [`fields::mask`].
    pub fn dump(&self, spec: &Spec) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "MTI {} ({})", self.mti, self.mti.name());
        let _ = writeln!(out, "    Bitmap {}", self.bitmap());
        for (n, value) in &self.fields {
            let _ = writeln!(
                out,
                "DE {n:>3} {}: {}",
                spec.field_name(*n),
                value.masked(*n)
            );
        }
        out
    }
}

impl fmt::Debug for Message {
    /// `Message { mti: 0100, fields: {2: 476173******0010, 3: 000000, 35: [37 chars], ...} }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Shows a masked value without quotes.
        struct Shown(String);
        impl fmt::Debug for Shown {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        let fields: BTreeMap<u8, Shown> = self
            .fields
            .iter()
            .map(|(n, v)| (*n, Shown(v.masked(*n))))
            .collect();
        f.debug_struct("Message")
            .field("mti", &Shown(self.mti.to_string()))
            .field("fields", &fields)
            .finish()
    }
}
