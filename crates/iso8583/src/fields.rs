//! Data element numbers by meaning, and which ones are masked in logs.
//!
//! Code names fields by these constants (`fields::PAN`), never by bare numbers; the spec tables
//! keep each number's name and format.

/// DE 1: secondary bitmap (computed by pack, never set by hand).
pub const SECONDARY_BITMAP: u8 = 1;
/// DE 2: primary account number, n..19.
pub const PAN: u8 = 2;
/// DE 3: processing code, n6 (transaction type, from and to account types).
pub const PROCESSING_CODE: u8 = 3;
/// DE 4: amount, transaction, n12 in minor units of DE 49.
pub const AMOUNT: u8 = 4;
/// DE 7: transmission date and time, n10 `MMDDhhmmss` (UTC).
pub const TRANSMISSION_DATE_TIME: u8 = 7;
/// DE 11: systems trace audit number, n6.
pub const STAN: u8 = 11;
/// DE 12: time, local transaction, n6 `hhmmss`.
pub const LOCAL_TIME: u8 = 12;
/// DE 13: date, local transaction, n4 `MMDD`.
pub const LOCAL_DATE: u8 = 13;
/// DE 14: date, expiration, n4 `YYMM`.
pub const EXPIRY: u8 = 14;
/// DE 18: merchant type (MCC), n4.
pub const MERCHANT_TYPE: u8 = 18;
/// DE 22: point-of-service entry mode, n3.
pub const POS_ENTRY_MODE: u8 = 22;
/// DE 23: card sequence number (PAN sequence number), n3.
pub const CARD_SEQUENCE_NUMBER: u8 = 23;
/// DE 25: point-of-service condition code, n2.
pub const POS_CONDITION_CODE: u8 = 25;
/// DE 32: acquiring institution identification code, n..11.
pub const ACQUIRING_INSTITUTION_ID: u8 = 32;
/// DE 33: forwarding institution identification code, n..11.
pub const FORWARDING_INSTITUTION_ID: u8 = 33;
/// DE 34: primary account number, extended, ns..28.
pub const PAN_EXTENDED: u8 = 34;
/// DE 35: track 2 data, z..37.
pub const TRACK2: u8 = 35;
/// DE 36: track 3 data, z..104.
pub const TRACK3: u8 = 36;
/// DE 37: retrieval reference number, an12.
pub const RRN: u8 = 37;
/// DE 38: authorization identification response (approval code), an6.
pub const AUTH_CODE: u8 = 38;
/// DE 39: response code, an2.
pub const RESPONSE_CODE: u8 = 39;
/// DE 41: card acceptor terminal identification, ans8.
pub const TERMINAL_ID: u8 = 41;
/// DE 42: card acceptor identification code (merchant ID), ans15.
pub const MERCHANT_ID: u8 = 42;
/// DE 43: card acceptor name/location, ans40.
pub const MERCHANT_NAME_LOCATION: u8 = 43;
/// DE 45: track 1 data, ans..76.
pub const TRACK1: u8 = 45;
/// DE 48: additional data, private, ans..999.
pub const ADDITIONAL_DATA_PRIVATE: u8 = 48;
/// DE 49: currency code, transaction, n3 (ISO 4217 numeric).
pub const CURRENCY_CODE: u8 = 49;
/// DE 52: personal identification number data (PIN block), b64.
pub const PIN_BLOCK: u8 = 52;
/// DE 55: ICC data (EMV tags, BER-TLV), b..255.
pub const ICC_DATA: u8 = 55;
/// DE 64: message authentication code, b64.
pub const MAC: u8 = 64;
/// DE 65: tertiary bitmap flag ("Bitmap, Extended"); refused by this crate.
pub const TERTIARY_BITMAP: u8 = 65;
/// DE 70: network management information code, n3.
pub const NETWORK_MANAGEMENT_CODE: u8 = 70;
/// DE 90: original data elements, n42.
pub const ORIGINAL_DATA_ELEMENTS: u8 = 90;
/// DE 102: account identification 1, ans..28.
pub const ACCOUNT_ID_1: u8 = 102;
/// DE 103: account identification 2, ans..28.
pub const ACCOUNT_ID_2: u8 = 103;
/// DE 128: message authentication code (secondary), b64.
pub const MAC_SECONDARY: u8 = 128;

/// How a field's value is shown in `Debug` output, dumps and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mask {
    /// Shown as it is.
    Clear,
    /// Account numbers: at most the first 6 and last 4 digits ([`secret::mask_digits`]).
    Pan,
    /// Only `****`.
    Hidden,
    /// Only the length (`[37 chars]`, `[42 bytes]`).
    LengthOnly,
}

/// How data element `number` is masked: PANs and account numbers keep at most their first 6
/// and last 4 digits, the expiry date is `****`, and track data, the PIN block and ICC data
/// show only their length (moov-io/iso8583's filters; PCI DSS 3.3 and 3.4).
pub const fn mask(number: u8) -> Mask {
    match number {
        PAN | PAN_EXTENDED | ACCOUNT_ID_1 | ACCOUNT_ID_2 => Mask::Pan,
        EXPIRY => Mask::Hidden,
        TRACK2 | TRACK3 | TRACK1 | PIN_BLOCK | ICC_DATA => Mask::LengthOnly,
        _ => Mask::Clear,
    }
}
