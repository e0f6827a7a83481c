//! Errors. None of them ever carries key bytes, PAN digits or cryptogram values.

use core::fmt;

use tlv::Tag;

use crate::{ArpcMethod, Cvn, KeyAlgorithm};

/// What a data element's length should have been.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedLen {
    /// Exactly this many bytes.
    Exactly(usize),
    /// Between these lengths, both included.
    Between(usize, usize),
}

impl ExpectedLen {
    /// True when `len` satisfies the rule.
    pub const fn admits(self, len: usize) -> bool {
        match self {
            Self::Exactly(n) => len == n,
            Self::Between(min, max) => len >= min && len <= max,
        }
    }
}

impl fmt::Display for ExpectedLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exactly(n) => write!(f, "{n}"),
            Self::Between(min, max) => write!(f, "{min} to {max}"),
        }
    }
}

/// Why a cryptographic operation could not be carried out.
///
/// These are precise so that the operator's log says *which* input is wrong; a failed check of a
/// cryptogram is [`CryptogramMismatch`] instead, which says nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// A data element the cryptogram version needs was not supplied.
    MissingTag(Tag),
    /// A data element has the wrong length.
    BadLength {
        /// The data element.
        tag: Tag,
        /// The length it must have.
        expected: ExpectedLen,
        /// The length it had.
        got: usize,
    },
    /// The Issuer Application Data does not name a cryptogram version this crate knows.
    UnknownCvn {
        /// The IAD byte read as the CVN (None when the IAD is too short to hold one).
        value: Option<u8>,
    },
    /// Key bytes of the wrong length for the algorithm.
    BadKeyLength {
        /// The algorithm the key was declared for.
        algorithm: KeyAlgorithm,
        /// The number of bytes supplied.
        got: usize,
    },
    /// A session key diversification value R that is not one block long.
    BadDiversificationValue {
        /// The block length of the master key's algorithm.
        expected: usize,
        /// The length supplied.
        got: usize,
    },
    /// The PAN is not 1 to 19 decimal digits (its digits are never repeated here).
    BadPan {
        /// Number of characters supplied.
        len: usize,
    },
    /// The PAN Sequence Number byte is not two BCD digits.
    BadPsn,
    /// The key's algorithm is not defined for this operation.
    UnsupportedAlgorithm {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// The operation attempted.
        operation: &'static str,
    },
    /// The ARPC response (ARC or CSU) does not fit the ARPC method of the cryptogram version.
    WrongArpcResponse {
        /// The cryptogram version.
        cvn: Cvn,
        /// The ARPC method that version uses.
        expected: ArpcMethod,
    },
    /// Proprietary Authentication Data longer than the 8 bytes ARPC method 2 allows.
    ProprietaryDataTooLong {
        /// Its length.
        got: usize,
    },
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingTag(tag) => write!(f, "data element {tag} is missing"),
            Self::BadLength { tag, expected, got } => {
                write!(f, "data element {tag} has {got} bytes, expected {expected}")
            }
            Self::UnknownCvn { value: Some(v) } => {
                write!(
                    f,
                    "the Issuer Application Data names an unknown CVN ({v:02X})"
                )
            }
            Self::UnknownCvn { value: None } => {
                f.write_str("the Issuer Application Data is too short to name a CVN")
            }
            Self::BadKeyLength { algorithm, got } => {
                write!(
                    f,
                    "a {algorithm} key has {} bytes, not {got}",
                    algorithm.key_len()
                )
            }
            Self::BadDiversificationValue { expected, got } => write!(
                f,
                "the diversification value R has {got} bytes; it must be one block ({expected})"
            ),
            Self::BadPan { len } => {
                write!(
                    f,
                    "the PAN must be 1 to 19 decimal digits (got {len} characters)"
                )
            }
            Self::BadPsn => f.write_str("the PAN Sequence Number must be two BCD digits"),
            Self::UnsupportedAlgorithm {
                algorithm,
                operation,
            } => {
                write!(f, "{operation} is not defined for {algorithm} keys")
            }
            Self::WrongArpcResponse { cvn, expected } => {
                let what = match expected {
                    ArpcMethod::Method1 => "an Authorisation Response Code",
                    ArpcMethod::Method2 => "a Card Status Update",
                };
                write!(f, "{cvn} uses ARPC {expected}, which takes {what}")
            }
            Self::ProprietaryDataTooLong { got } => write!(
                f,
                "Proprietary Authentication Data has {got} bytes; ARPC method 2 allows 0 to 8"
            ),
        }
    }
}

impl std::error::Error for CryptoError {}

/// A cryptogram, MAC or ARPC did not verify. Deliberately says nothing more: the peer learns no
/// detail. Use [`crate::diagnose`] on the operator side to find out which input disagrees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CryptogramMismatch;

impl fmt::Display for CryptogramMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cryptogram mismatch")
    }
}

impl std::error::Error for CryptogramMismatch {}
