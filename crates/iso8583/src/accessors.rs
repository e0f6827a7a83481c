//! Accessors named by meaning (`pan()`, not `field_2()`), and their setters.
//!
//! Getters return `None` when the field is absent or does not have the shape its meaning needs
//! (a DE 11 that is not six digits has no `stan()`; [`Message::unpack`] already refuses
//! non-digits in numeric fields). Setters take values by meaning and format them (`set_stan(7)`
//! writes `000007`); a value the field cannot hold (an amount over twelve digits) is refused by
//! [`Message::pack`], which names the field.
//!
//! Sensitive fields (PAN, expiry, track 2) come back in a [`Secret`], and go in as one.

use core::fmt;

use secret::Secret;
use tlv::{Reader, TagMap, TlvError};

use crate::fields::{
    AMOUNT, AUTH_CODE, CARD_SEQUENCE_NUMBER, CURRENCY_CODE, EXPIRY, ICC_DATA, LOCAL_DATE,
    LOCAL_TIME, MERCHANT_ID, MERCHANT_NAME_LOCATION, MERCHANT_TYPE, NETWORK_MANAGEMENT_CODE,
    ORIGINAL_DATA_ELEMENTS, PAN, POS_ENTRY_MODE, PROCESSING_CODE, RESPONSE_CODE, RRN, STAN,
    TERMINAL_ID, TRACK2, TRANSMISSION_DATE_TIME,
};
use crate::{FieldValue, Message, Mti, NetworkManagementCode, ResponseCode};

/// Decimal value of a string of ASCII digits (`None` for anything else, or on overflow).
fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// DE 90, original data elements (n42): identifies the message a reversal or advice refers to.
#[derive(Clone, PartialEq, Eq)]
pub struct OriginalDataElements {
    /// The original message's MTI (positions 1-4).
    pub mti: Mti,
    /// The original STAN, DE 11 (positions 5-10).
    pub stan: u32,
    /// The original transmission date and time, DE 7, `MMDDhhmmss` (positions 11-20).
    pub transmission_date_time: String,
    /// The original acquiring institution ID, DE 32, right-justified with leading zeros to 11
    /// digits (positions 21-31).
    pub acquiring_institution_id: String,
    /// The original forwarding institution ID, DE 33, as above (positions 32-42).
    pub forwarding_institution_id: String,
}

impl OriginalDataElements {
    /// Splits the 42 digits of DE 90; `None` unless they are exactly 42 digits.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 42 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            mti: Mti::from_digits(text.get(0..4)?)?,
            stan: u32::try_from(parse_u64(text.get(4..10)?)?).ok()?,
            transmission_date_time: text.get(10..20)?.to_owned(),
            acquiring_institution_id: text.get(20..31)?.to_owned(),
            forwarding_institution_id: text.get(31..42)?.to_owned(),
        })
    }

    /// The 42 characters of DE 90. Each part is zero-filled on the left to its width; parts too
    /// long (or not digits) make a value that [`Message::pack`] refuses.
    pub fn encode(&self) -> String {
        format!(
            "{}{:06}{:0>10}{:0>11}{:0>11}",
            self.mti,
            self.stan,
            self.transmission_date_time,
            self.acquiring_institution_id,
            self.forwarding_institution_id
        )
    }
}

impl fmt::Debug for OriginalDataElements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OriginalDataElements({})", self.encode())
    }
}

impl Message {
    /// DE 2, primary account number.
    pub fn pan(&self) -> Option<Secret<String>> {
        self.text(PAN).map(|t| Secret::new(t.to_owned()))
    }

    /// Sets DE 2.
    pub fn set_pan(&mut self, pan: Secret<String>) -> &mut Self {
        self.set_field(PAN, FieldValue::Text(pan))
    }

    /// DE 3, processing code (six digits: transaction type, from and to account types).
    pub fn processing_code(&self) -> Option<&str> {
        self.text(PROCESSING_CODE)
    }

    /// Sets DE 3.
    pub fn set_processing_code(&mut self, code: &str) -> &mut Self {
        self.set_text(PROCESSING_CODE, code)
    }

    /// DE 4, transaction amount in minor units of the DE 49 currency.
    pub fn amount_minor(&self) -> Option<u64> {
        parse_u64(self.text(AMOUNT)?)
    }

    /// Sets DE 4 (twelve digits; larger amounts are refused by pack).
    pub fn set_amount_minor(&mut self, amount: u64) -> &mut Self {
        self.set_text(AMOUNT, &format!("{amount:012}"))
    }

    /// DE 7, transmission date and time, `MMDDhhmmss`.
    pub fn transmission_date_time(&self) -> Option<&str> {
        self.text(TRANSMISSION_DATE_TIME)
    }

    /// Sets DE 7.
    pub fn set_transmission_date_time(&mut self, mmddhhmmss: &str) -> &mut Self {
        self.set_text(TRANSMISSION_DATE_TIME, mmddhhmmss)
    }

    /// DE 11, systems trace audit number.
    pub fn stan(&self) -> Option<u32> {
        let text = self.text(STAN)?;
        if text.len() != 6 {
            return None;
        }
        u32::try_from(parse_u64(text)?).ok()
    }

    /// Sets DE 11 (six digits; values over 999 999 are refused by pack).
    pub fn set_stan(&mut self, stan: u32) -> &mut Self {
        self.set_text(STAN, &format!("{stan:06}"))
    }

    /// DE 12, local transaction time, `hhmmss`.
    pub fn local_time(&self) -> Option<&str> {
        self.text(LOCAL_TIME)
    }

    /// Sets DE 12.
    pub fn set_local_time(&mut self, hhmmss: &str) -> &mut Self {
        self.set_text(LOCAL_TIME, hhmmss)
    }

    /// DE 13, local transaction date, `MMDD`.
    pub fn local_date(&self) -> Option<&str> {
        self.text(LOCAL_DATE)
    }

    /// Sets DE 13.
    pub fn set_local_date(&mut self, mmdd: &str) -> &mut Self {
        self.set_text(LOCAL_DATE, mmdd)
    }

    /// DE 14, card expiry date, `YYMM`.
    pub fn expiry(&self) -> Option<Secret<String>> {
        self.text(EXPIRY).map(|t| Secret::new(t.to_owned()))
    }

    /// Sets DE 14 (`YYMM`).
    pub fn set_expiry(&mut self, yymm: Secret<String>) -> &mut Self {
        self.set_field(EXPIRY, FieldValue::Text(yymm))
    }

    /// DE 18, merchant type (merchant category code, four digits).
    pub fn merchant_type(&self) -> Option<&str> {
        self.text(MERCHANT_TYPE)
    }

    /// Sets DE 18.
    pub fn set_merchant_type(&mut self, mcc: &str) -> &mut Self {
        self.set_text(MERCHANT_TYPE, mcc)
    }

    /// DE 22, point-of-service entry mode (three digits: `071` contactless chip, `051` chip).
    pub fn pos_entry_mode(&self) -> Option<&str> {
        self.text(POS_ENTRY_MODE)
    }

    /// Sets DE 22.
    pub fn set_pos_entry_mode(&mut self, mode: &str) -> &mut Self {
        self.set_text(POS_ENTRY_MODE, mode)
    }

    /// DE 23, card sequence number (three digits).
    pub fn card_sequence_number(&self) -> Option<&str> {
        self.text(CARD_SEQUENCE_NUMBER)
    }

    /// Sets DE 23.
    pub fn set_card_sequence_number(&mut self, psn: &str) -> &mut Self {
        self.set_text(CARD_SEQUENCE_NUMBER, psn)
    }

    /// DE 35, track 2 data (`PAN=YYMMSSS...`).
    pub fn track2(&self) -> Option<Secret<String>> {
        self.text(TRACK2).map(|t| Secret::new(t.to_owned()))
    }

    /// Sets DE 35.
    pub fn set_track2(&mut self, track2: Secret<String>) -> &mut Self {
        self.set_field(TRACK2, FieldValue::Text(track2))
    }

    /// DE 37, retrieval reference number.
    pub fn rrn(&self) -> Option<&str> {
        self.text(RRN)
    }

    /// Sets DE 37.
    pub fn set_rrn(&mut self, rrn: &str) -> &mut Self {
        self.set_text(RRN, rrn)
    }

    /// DE 38, authorization identification response (approval code).
    pub fn auth_code(&self) -> Option<&str> {
        self.text(AUTH_CODE)
    }

    /// Sets DE 38.
    pub fn set_auth_code(&mut self, code: &str) -> &mut Self {
        self.set_text(AUTH_CODE, code)
    }

    /// DE 39, response code.
    pub fn response_code(&self) -> Option<ResponseCode> {
        ResponseCode::from_text(self.text(RESPONSE_CODE)?)
    }

    /// Sets DE 39.
    pub fn set_response_code(&mut self, code: ResponseCode) -> &mut Self {
        self.set_text(RESPONSE_CODE, code.as_str())
    }

    /// DE 41, card acceptor terminal identification.
    pub fn terminal_id(&self) -> Option<&str> {
        self.text(TERMINAL_ID)
    }

    /// Sets DE 41 (shorter values are padded with spaces by pack).
    pub fn set_terminal_id(&mut self, id: &str) -> &mut Self {
        self.set_text(TERMINAL_ID, id)
    }

    /// DE 42, card acceptor identification code (merchant ID).
    pub fn merchant_id(&self) -> Option<&str> {
        self.text(MERCHANT_ID)
    }

    /// Sets DE 42 (shorter values are padded with spaces by pack).
    pub fn set_merchant_id(&mut self, id: &str) -> &mut Self {
        self.set_text(MERCHANT_ID, id)
    }

    /// DE 43, card acceptor name and location.
    pub fn merchant_name_location(&self) -> Option<&str> {
        self.text(MERCHANT_NAME_LOCATION)
    }

    /// Sets DE 43 (shorter values are padded with spaces by pack).
    pub fn set_merchant_name_location(&mut self, text: &str) -> &mut Self {
        self.set_text(MERCHANT_NAME_LOCATION, text)
    }

    /// DE 49, transaction currency code (ISO 4217 numeric, three digits).
    pub fn currency_code(&self) -> Option<&str> {
        self.text(CURRENCY_CODE)
    }

    /// Sets DE 49.
    pub fn set_currency_code(&mut self, code: &str) -> &mut Self {
        self.set_text(CURRENCY_CODE, code)
    }

    /// DE 55, ICC data: the BER-TLV bytes (decoded from hex text in the ASCII dialect).
    pub fn icc_data(&self) -> Option<&[u8]> {
        self.binary(ICC_DATA)
    }

    /// Sets DE 55 from BER-TLV bytes.
    pub fn set_icc_data(&mut self, tlv: &[u8]) -> &mut Self {
        self.set_binary(ICC_DATA, tlv)
    }

    /// DE 55 as tag → value: each top-level object read with [`tlv::Reader`] (a constructed
    /// object keeps its encoded children as its value; a repeated tag keeps its last value).
    /// `Ok(None)` when DE 55 is absent, `Err` when it is not valid BER-TLV.
    pub fn icc_tlv(&self) -> Result<Option<TagMap>, TlvError> {
        let Some(bytes) = self.icc_data() else {
            return Ok(None);
        };
        let mut map = TagMap::new();
        for object in Reader::new(bytes) {
            let object = object?;
            map.put(object.tag, object.value);
        }
        Ok(Some(map))
    }

    /// Sets DE 55 to the BER-TLV encoding of `tags`, in their order.
    pub fn set_icc_tlv(&mut self, tags: &TagMap) -> &mut Self {
        self.set_binary(ICC_DATA, &tags.to_tlv())
    }

    /// DE 70, network management information code.
    pub fn network_management_code(&self) -> Option<NetworkManagementCode> {
        NetworkManagementCode::from_text(self.text(NETWORK_MANAGEMENT_CODE)?)
    }

    /// Sets DE 70.
    pub fn set_network_management_code(&mut self, code: NetworkManagementCode) -> &mut Self {
        self.set_text(NETWORK_MANAGEMENT_CODE, code.as_str())
    }

    /// DE 90, original data elements.
    pub fn original_data_elements(&self) -> Option<OriginalDataElements> {
        OriginalDataElements::parse(self.text(ORIGINAL_DATA_ELEMENTS)?)
    }

    /// Sets DE 90.
    pub fn set_original_data_elements(&mut self, original: &OriginalDataElements) -> &mut Self {
        self.set_text(ORIGINAL_DATA_ELEMENTS, &original.encode())
    }
}
