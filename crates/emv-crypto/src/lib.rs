//! EMV cryptography: ICC master key and session key derivation, application cryptograms
//! (ARQC/TC/AAC) and ARPCs for Visa CVN 10/18/22 and Mastercard M/Chip CVN 16/17/20/21, the
//! ISO/IEC 9797-1 retail MAC, AES-CMAC, key check values, and an operator-side [`diagnose`].
//!
//! Pure computation: no I/O, clock or randomness. Keys live in [`MasterKey`] and [`SessionKey`],
//! which carry their [`KeyAlgorithm`], zeroize on drop and show only their KCV in `Debug`.
//! Cryptograms and ARPCs are compared in constant time, and a failed comparison is the opaque
//! [`CryptogramMismatch`].
//!
//! Issuer and card use the same functions: [`ac_data`] composes the data set from a tag lookup,
//! [`generate_ac`] and [`verify_ac`] derive the session key the [`Cvn`] requires from the ICC
//! master key and the ATC (and UN) found through that lookup.
//!
//! ```
//! use emv_crypto::{Cvn, KeyAlgorithm, MasterKey, derive_icc_master_key, generate_ac, verify_ac};
//! use tlv::Tag;
//!
//! let imk = MasterKey::new(KeyAlgorithm::Tdes2, &[0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
//!     0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10])?;
//! let icc_mk = derive_icc_master_key(Cvn::Visa18, &imk, "1234567890123456", 0x00)?;
//! let data: [(u32, &[u8]); 11] = [
//!     (0x9F02, &[0, 0, 0, 0, 0x40, 0]), (0x9F03, &[0; 6]), (0x9F1A, &[0x01, 0x24]),
//!     (0x95, &[0x80, 0, 0x04, 0x80, 0]), (0x5F2A, &[0x01, 0x24]), (0x9A, &[0x19, 0x11, 0x05]),
//!     (0x9C, &[0x01]), (0x9F37, &[0x52, 0xBF, 0x45, 0x85]), (0x82, &[0x18, 0]),
//!     (0x9F36, &[0, 0x1C]), (0x9F10, &[0x06, 0x01, 0x12, 0x03, 0xA0, 0xB8, 0x00]),
//! ];
//! let tags = |t: Tag| data.iter().find(|(k, _)| Tag(*k) == t).map(|(_, v)| *v);
//! let cvn = Cvn::from_iad(tags(Tag(0x9F10)).unwrap_or_default())?;
//! let arqc = generate_ac(cvn, &icc_mk, &tags)?;
//! assert_eq!(arqc, [0x7A, 0x78, 0x8E, 0xA6, 0xB8, 0xA3, 0xE7, 0x33]);
//! assert!(verify_ac(cvn, &icc_mk, &tags, &arqc).is_ok());
//! # Ok::<(), emv_crypto::CryptoError>(())
//! ```
#![forbid(unsafe_code)]

mod ac;
mod arpc;
mod cvn;
mod diagnose;
mod error;
mod kd;
mod keys;
mod primitives;

pub use ac::{TagLookup, ac_data, generate_ac, verify_ac};
pub use arpc::{
    ArpcMethod, ArpcResponse, issuer_authentication_data, verify_issuer_authentication_data,
};
pub use cvn::{Cvn, IadPart, Scheme};
pub use diagnose::{AtcScope, Diagnosis, diagnose};
pub use error::{CryptoError, CryptogramMismatch, ExpectedLen};
pub use kd::{MkDerivation, derive_icc_master_key, derive_icc_master_key_with};
pub use keys::{
    KeyAlgorithm, MasterKey, SessionKey, SessionKeyMethod, derive_ac_session_key,
    derive_common_session_key, derive_limited_use_key, derive_mastercard_session_key,
    limited_use_key_r,
};
pub use primitives::{
    Kcv, Padding, RetailMacKey, adjust_odd_parity, aes_cmac, retail_mac, tdes_encrypt_block,
};

/// The data elements the cryptograms read, named as in EMV Book 3 Annex A.
pub mod tags {
    use tlv::Tag;

    /// 9F02 Amount, Authorised (n12, 6 bytes).
    pub const AMOUNT_AUTHORISED: Tag = Tag::new(0x9F02);
    /// 9F03 Amount, Other (n12, 6 bytes).
    pub const AMOUNT_OTHER: Tag = Tag::new(0x9F03);
    /// 9F1A Terminal Country Code (n3, 2 bytes).
    pub const TERMINAL_COUNTRY_CODE: Tag = Tag::new(0x9F1A);
    /// 95 Terminal Verification Results (5 bytes).
    pub const TVR: Tag = Tag::new(0x95);
    /// 5F2A Transaction Currency Code (n3, 2 bytes).
    pub const TRANSACTION_CURRENCY_CODE: Tag = Tag::new(0x5F2A);
    /// 9A Transaction Date (YYMMDD, 3 bytes).
    pub const TRANSACTION_DATE: Tag = Tag::new(0x9A);
    /// 9C Transaction Type (n2, 1 byte).
    pub const TRANSACTION_TYPE: Tag = Tag::new(0x9C);
    /// 5F34 PAN Sequence Number (n2, 1 byte).
    pub const PAN_SEQUENCE_NUMBER: Tag = Tag::new(0x5F34);
    /// 9F37 Unpredictable Number (4 bytes).
    pub const UNPREDICTABLE_NUMBER: Tag = Tag::new(0x9F37);
    /// 82 Application Interchange Profile (2 bytes).
    pub const AIP: Tag = Tag::new(0x82);
    /// 9F36 Application Transaction Counter (2 bytes).
    pub const ATC: Tag = Tag::new(0x9F36);
    /// 9F10 Issuer Application Data (up to 32 bytes).
    pub const IAD: Tag = Tag::new(0x9F10);
    /// 9F26 Application Cryptogram (8 bytes).
    pub const APPLICATION_CRYPTOGRAM: Tag = Tag::new(0x9F26);
    /// 91 Issuer Authentication Data.
    pub const ISSUER_AUTHENTICATION_DATA: Tag = Tag::new(0x91);
}
