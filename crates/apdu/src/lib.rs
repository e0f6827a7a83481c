//! ISO/IEC 7816-4 APDUs: commands in cases 1 to 4 with short and extended lengths, responses, and
//! status words.
//!
//! Decoding is total: every byte string either parses into a [`CommandApdu`] or yields an
//! [`ApduError`] that says what is wrong; nothing panics on peer bytes.
#![forbid(unsafe_code)]

mod status;

use core::fmt;

pub use status::StatusWord;

/// Instruction bytes used by EMV contactless (EMV Book 3, 6.5; ISO 7816-4).
pub mod ins {
    /// EXTERNAL AUTHENTICATE.
    pub const EXTERNAL_AUTHENTICATE: u8 = 0x82;
    /// GET CHALLENGE.
    pub const GET_CHALLENGE: u8 = 0x84;
    /// INTERNAL AUTHENTICATE.
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// GET PROCESSING OPTIONS.
    pub const GET_PROCESSING_OPTIONS: u8 = 0xA8;
    /// GENERATE APPLICATION CRYPTOGRAM.
    pub const GENERATE_AC: u8 = 0xAE;
    /// READ RECORD.
    pub const READ_RECORD: u8 = 0xB2;
    /// GET RESPONSE.
    pub const GET_RESPONSE: u8 = 0xC0;
    /// GET DATA.
    pub const GET_DATA: u8 = 0xCA;
}

/// Short (Lc/Le one byte) or extended (Lc/Le up to three bytes) length encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthForm {
    /// Nc <= 255, Ne <= 256.
    Short,
    /// Nc <= 65535, Ne <= 65536.
    Extended,
}

/// A command APDU.
#[derive(Clone, PartialEq, Eq)]
pub struct CommandApdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Nc bytes; empty in cases 1 and 2).
    pub data: Vec<u8>,
    /// Ne, the maximum number of response bytes expected (None in cases 1 and 3). `Some(256)`
    /// is short `Le = 00`; `Some(65536)` is extended `Le = 0000`.
    pub le: Option<u32>,
}

/// Why a command APDU could not be decoded or encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApduError {
    /// Fewer than the four header bytes.
    TooShort {
        /// Bytes given.
        len: usize,
    },
    /// The body's length does not match any of cases 2S-4E (ISO 7816-3, 12.1.3).
    InconsistentLength {
        /// Bytes after the header.
        body_len: usize,
    },
    /// Lc is zero in a short case-3/4 encoding, or Nc/Ne exceed what the length form can carry.
    InvalidLength,
    /// A response shorter than its two status bytes.
    ResponseTooShort,
}

impl fmt::Display for ApduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "command APDU of {len} bytes: the header needs 4"),
            Self::InconsistentLength { body_len } => {
                write!(
                    f,
                    "{body_len} body bytes match no APDU case (Lc/Le inconsistent)"
                )
            }
            Self::InvalidLength => f.write_str("Lc or Le out of range for its length form"),
            Self::ResponseTooShort => f.write_str("response APDU without its two status bytes"),
        }
    }
}

impl std::error::Error for ApduError {}

impl CommandApdu {
    /// A command with no data and no Le (case 1).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// Sets the command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets Ne (use 256 for short `Le = 00`).
    pub fn with_le(mut self, ne: u32) -> Self {
        self.le = Some(ne);
        self
    }

    /// The ISO case number (1-4) of this command.
    pub fn case(&self) -> u8 {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => 1,
            (true, true) => 2,
            (false, false) => 3,
            (false, true) => 4,
        }
    }

    /// The length form this command needs: extended when Nc > 255 or Ne > 256.
    pub fn length_form(&self) -> LengthForm {
        if self.data.len() > 255 || self.le.is_some_and(|ne| ne > 256) {
            LengthForm::Extended
        } else {
            LengthForm::Short
        }
    }

    /// Encodes in the shortest form able to carry the lengths.
    pub fn encode(&self) -> Result<Vec<u8>, ApduError> {
        let mut out = Vec::with_capacity(4 + 3 + self.data.len() + 3);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let nc = self.data.len();
        match self.length_form() {
            LengthForm::Short => {
                if nc > 0 {
                    out.push(u8::try_from(nc).map_err(|_| ApduError::InvalidLength)?);
                    out.extend_from_slice(&self.data);
                }
                if let Some(ne) = self.le {
                    // Ne = 256 is encoded as 00.
                    let le = match ne {
                        1..=255 => u8::try_from(ne).map_err(|_| ApduError::InvalidLength)?,
                        256 | 0 => 0,
                        _ => return Err(ApduError::InvalidLength),
                    };
                    out.push(le);
                }
            }
            LengthForm::Extended => {
                if nc > 65535 {
                    return Err(ApduError::InvalidLength);
                }
                out.push(0x00);
                if nc > 0 {
                    let lc = u16::try_from(nc).map_err(|_| ApduError::InvalidLength)?;
                    out.extend_from_slice(&lc.to_be_bytes());
                    out.extend_from_slice(&self.data);
                }
                if let Some(ne) = self.le {
                    let le: u16 = match ne {
                        65536 | 0 => 0,
                        1..=65535 => u16::try_from(ne).map_err(|_| ApduError::InvalidLength)?,
                        _ => return Err(ApduError::InvalidLength),
                    };
                    out.extend_from_slice(&le.to_be_bytes());
                }
            }
        }
        Ok(out)
    }

    /// Decodes a command APDU, recognising cases 1, 2S, 3S, 4S, 2E, 3E and 4E (ISO 7816-3 12.1.3).
    pub fn decode(bytes: &[u8]) -> Result<Self, ApduError> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(ApduError::TooShort { len: bytes.len() });
        };
        let mut cmd = CommandApdu::new(*cla, *ins, *p1, *p2);
        let bad = ApduError::InconsistentLength {
            body_len: body.len(),
        };
        match body {
            // Case 1.
            [] => {}
            // Case 2S.
            [le] => cmd.le = Some(short_ne(*le)),
            // Extended forms start with 00 followed by at least two bytes.
            [0x00, b1, b2, rest @ ..] => {
                let n = u32::from(u16::from_be_bytes([*b1, *b2]));
                if rest.is_empty() {
                    // Case 2E.
                    cmd.le = Some(if n == 0 { 65536 } else { n });
                } else {
                    // Cases 3E and 4E: Lc = n (must be non-zero).
                    let nc = usize::from(u16::from_be_bytes([*b1, *b2]));
                    if nc == 0 {
                        return Err(bad);
                    }
                    match rest.len().checked_sub(nc) {
                        Some(0) => cmd.data = rest.to_vec(),
                        Some(2) => {
                            let (data, le) = rest.split_at(nc);
                            cmd.data = data.to_vec();
                            let ne = match le {
                                [a, b] => u32::from(u16::from_be_bytes([*a, *b])),
                                _ => return Err(bad),
                            };
                            cmd.le = Some(if ne == 0 { 65536 } else { ne });
                        }
                        _ => return Err(bad),
                    }
                }
            }
            // Cases 3S and 4S: Lc (1..=255), data, optional Le.
            [lc, rest @ ..] => {
                let nc = usize::from(*lc);
                if nc == 0 {
                    return Err(bad);
                }
                match rest.len().checked_sub(nc) {
                    Some(0) => cmd.data = rest.to_vec(),
                    Some(1) => {
                        let (data, le) = rest.split_at(nc);
                        cmd.data = data.to_vec();
                        cmd.le = le.first().map(|b| short_ne(*b));
                    }
                    _ => return Err(bad),
                }
            }
        }
        Ok(cmd)
    }
}

fn short_ne(le: u8) -> u32 {
    if le == 0 { 256 } else { u32::from(le) }
}

impl fmt::Debug for CommandApdu {
    /// Shows the header and the data length only: command data may carry card data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CommandApdu {{ cla: {:02X}, ins: {:02X}, p1: {:02X}, p2: {:02X}, nc: {}, ne: {:?} }}",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

/// A response APDU: data and the status word.
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// Response data (may be empty).
    pub data: Vec<u8>,
    /// SW1 SW2.
    pub sw: StatusWord,
}

impl ResponseApdu {
    /// A response carrying data and `9000`.
    pub fn ok(data: Vec<u8>) -> Self {
        Self {
            data,
            sw: StatusWord::SUCCESS,
        }
    }

    /// A response with no data.
    pub fn status(sw: StatusWord) -> Self {
        Self {
            data: Vec::new(),
            sw,
        }
    }

    /// Encodes data followed by SW1 SW2.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }

    /// Decodes a response: the last two bytes are the status word.
    pub fn decode(bytes: &[u8]) -> Result<Self, ApduError> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Self {
                data: data.to_vec(),
                sw: StatusWord::from_bytes(*sw1, *sw2),
            }),
            _ => Err(ApduError::ResponseTooShort),
        }
    }
}

impl fmt::Debug for ResponseApdu {
    /// Shows the status and the data length only: response data may carry card data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResponseApdu {{ len: {}, sw: {} }}",
            self.data.len(),
            self.sw
        )
    }
}

#[cfg(test)]
mod tests;
