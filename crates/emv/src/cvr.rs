//! Card Verification Results: the card's own view of the transaction, carried to the issuer
//! inside the Issuer Application Data (`9F10`). Visa's (VIS / VCPS, IAD formats 0, 1 and 3) and
//! Mastercard's (M/Chip 4 and M/Chip Advance).
//!
//! Both encode the cryptograms returned by the first and second GENERATE AC in two-bit codes:
//! `00` AAC, `01` TC, `10` ARQC (first) or "not requested" (second), `11` RFU. The accessors map
//! them to [`CryptogramType`]; a second GENERATE AC that was not requested is `None`.

use crate::{CryptogramType, EmvError, EmvErrorKind};

/// The two-bit CVR code of a first GENERATE AC (or qVSDC GPO) cryptogram.
const fn first_ac_from_code(code: u8) -> CryptogramType {
    match code & 0b11 {
        0b00 => CryptogramType::AAC,
        0b01 => CryptogramType::TC,
        0b10 => CryptogramType::ARQC,
        _ => CryptogramType::AAR,
    }
}

const fn first_ac_to_code(t: CryptogramType) -> u8 {
    match t.0 & 0xC0 {
        0x00 => 0b00,
        0x40 => 0b01,
        0x80 => 0b10,
        _ => 0b11,
    }
}

const fn second_ac_from_code(code: u8) -> Option<CryptogramType> {
    match code & 0b11 {
        0b00 => Some(CryptogramType::AAC),
        0b01 => Some(CryptogramType::TC),
        0b10 => None,
        _ => Some(CryptogramType::AAR),
    }
}

const fn second_ac_to_code(t: Option<CryptogramType>) -> u8 {
    match t {
        None => 0b10,
        Some(t) => match t.0 & 0xC0 {
            0x00 => 0b00,
            0x40 => 0b01,
            _ => 0b11,
        },
    }
}

/// Pushes "first GENERATE AC: X" and "second GENERATE AC: Y" for the AC codes in `byte`.
fn describe_acs(byte: u8, out: &mut Vec<String>) {
    match second_ac_from_code(byte >> 6) {
        None => out.push("Second GENERATE AC not requested".to_owned()),
        Some(t) if byte >> 6 == 0b11 => {
            out.push(format!("Second GENERATE AC returned RFU code ({t})"))
        }
        Some(t) => out.push(format!("Second GENERATE AC returned {t}")),
    }
    let code = (byte >> 4) & 0b11;
    let first = first_ac_from_code(code);
    if code == 0b11 {
        out.push("First GENERATE AC returned RFU code".to_owned());
    } else {
        out.push(format!("First GENERATE AC returned {first}"));
    }
}

fn check_visa_cvr(bytes: &[u8; 4]) -> Result<(), EmvError> {
    if bytes[0] == 0x03 {
        Ok(())
    } else {
        Err(EmvError::new(
            VisaCvr::ELEMENT,
            0,
            EmvErrorKind::FixedByte {
                what: "CVR length byte",
                expected: 0x03,
                found: bytes[0],
            },
        ))
    }
}

bit_flags! {
    /// Visa Card Verification Results: the 4-byte CVR of IAD formats 0, 1 and 3 (VIS 1.5 /
    /// VCPS; byte 1 is the CVR length, `03`). Bytes are numbered as Visa numbers them.
    ///
    /// **Consumer device CVM.** Visa's format-0/1/3 CVR has no bit of its own for CDCVM. IAD
    /// format 2 (CVN `22`) assigns byte 2 b3 to "CDCVM performed" where format 0/1/3 has
    /// "offline PIN verification performed"; a contactless mobile application never performs
    /// offline PIN, so Tapwallet's card application sets byte 2 b3 for a successful CDCVM in every
    /// format, and [`VisaCvr::cdcvm_performed`] names that reading. The terminal learns the same
    /// fact from CTQ byte 2 b8. An issuer reads the bit as CDCVM when the PAN is a device token.
    pub struct VisaCvr([u8; 4]);
    element = "Visa CVR (9F10)";
    empty = [0x03, 0x00, 0x00, 0x00];
    handled = [0xFF, 0xF0, 0x00, 0xF0];
    fields = VisaCvr::describe_fields;
    check = check_visa_cvr;
    (2, 4) issuer_authentication_failed, with_issuer_authentication_failed:
        "Issuer Authentication performed and failed";
    (2, 3) offline_pin_performed, with_offline_pin_performed:
        "Offline PIN verification performed (CDCVM performed, on a mobile device)";
    (2, 2) offline_pin_failed, with_offline_pin_failed: "Offline PIN verification failed";
    (2, 1) unable_to_go_online, with_unable_to_go_online: "Unable to go online";
    (3, 8) last_online_transaction_not_completed, with_last_online_transaction_not_completed:
        "Last online transaction not completed";
    (3, 7) pin_try_limit_exceeded, with_pin_try_limit_exceeded: "PIN Try Limit exceeded";
    (3, 6) velocity_counters_exceeded, with_velocity_counters_exceeded:
        "Exceeded velocity checking counters";
    (3, 5) new_card, with_new_card: "New card";
    (3, 4) issuer_authentication_failed_last_online, with_issuer_authentication_failed_last_online:
        "Issuer Authentication failure on last online transaction";
    (3, 3) issuer_authentication_not_performed, with_issuer_authentication_not_performed:
        "Issuer Authentication not performed after online authorization";
    (3, 2) application_blocked, with_application_blocked:
        "Application blocked by card because PIN Try Limit exceeded";
    (3, 1) sda_failed_last_transaction, with_sda_failed_last_transaction:
        "Offline static data authentication failed on last transaction and transaction declined offline";
    (4, 4) issuer_script_processing_failed, with_issuer_script_processing_failed:
        "Issuer Script processing failed";
    (4, 3) dda_failed_last_transaction, with_dda_failed_last_transaction:
        "Offline dynamic data authentication failed on last transaction and transaction declined offline";
    (4, 2) dda_performed, with_dda_performed: "Offline dynamic data authentication performed";
}

impl VisaCvr {
    /// Byte 2 b6-b5: the cryptogram the first GENERATE AC (contact) or GPO (qVSDC) returned.
    pub const fn first_ac(self) -> CryptogramType {
        first_ac_from_code(self.0[1] >> 4)
    }

    /// A copy with byte 2 b6-b5 set for `t` (a type other than AAC, TC or ARQC sets `11`).
    #[must_use]
    pub const fn with_first_ac(self, t: CryptogramType) -> Self {
        let mut b = self.0;
        b[1] = (b[1] & !0x30) | (first_ac_to_code(t) << 4);
        Self(b)
    }

    /// Byte 2 b8-b7: the cryptogram the second GENERATE AC returned; `None` when it was not
    /// requested.
    pub const fn second_ac(self) -> Option<CryptogramType> {
        second_ac_from_code(self.0[1] >> 6)
    }

    /// A copy with byte 2 b8-b7 set for `t` (`None`: not requested).
    #[must_use]
    pub const fn with_second_ac(self, t: Option<CryptogramType>) -> Self {
        let mut b = self.0;
        b[1] = (b[1] & !0xC0) | (second_ac_to_code(t) << 6);
        Self(b)
    }

    /// Byte 4 b8-b5: number of issuer script commands containing secure messaging processed.
    pub const fn script_commands(self) -> u8 {
        self.0[3] >> 4
    }

    /// A copy with byte 4 b8-b5 set to `count` (values above 15 saturate at 15).
    #[must_use]
    pub const fn with_script_commands(self, count: u8) -> Self {
        let count = if count > 0x0F { 0x0F } else { count };
        let mut b = self.0;
        b[3] = (b[3] & 0x0F) | (count << 4);
        Self(b)
    }

    /// Byte 2 b3 read as "consumer device CVM performed" (see the type's documentation).
    pub const fn cdcvm_performed(self) -> bool {
        self.offline_pin_performed()
    }

    /// A copy with byte 2 b3 set or cleared as "consumer device CVM performed".
    #[must_use]
    pub const fn with_cdcvm_performed(self, on: bool) -> Self {
        self.with_offline_pin_performed(on)
    }

    fn describe_fields(self, out: &mut Vec<String>) {
        describe_acs(self.0[1], out);
        if self.script_commands() != 0 {
            out.push(format!(
                "{} issuer script commands processed",
                self.script_commands()
            ));
        }
    }
}

bit_flags! {
    /// Mastercard Card Verification Results: the 6-byte CVR of M/Chip 4 and M/Chip Advance
    /// (M/Chip Requirements, Issuer Application Data). Bits that only M/Chip Advance defines
    /// are named as M/Chip Advance names them.
    pub struct MchipCvr([u8; 6]);
    element = "M/Chip CVR (9F10)";
    empty = [0, 0, 0, 0, 0, 0];
    handled = [0xF0, 0x00, 0xFF, 0x00, 0x00, 0x00];
    fields = MchipCvr::describe_fields;
    (1, 4) date_check_failed, with_date_check_failed: "Date Check Failed";
    (1, 3) offline_pin_performed, with_offline_pin_performed:
        "Offline PIN Verification Performed";
    (1, 2) offline_encrypted_pin_performed, with_offline_encrypted_pin_performed:
        "Offline Encrypted PIN Verification Performed";
    (1, 1) offline_pin_successful, with_offline_pin_successful:
        "Offline PIN Verification Successful";
    (2, 8) dda_returned, with_dda_returned: "DDA Returned";
    (2, 7) cda_in_first_gen_ac, with_cda_in_first_gen_ac:
        "Combined DDA/AC Generation Returned in First GENERATE AC";
    (2, 6) cda_in_second_gen_ac, with_cda_in_second_gen_ac:
        "Combined DDA/AC Generation Returned in Second GENERATE AC";
    (2, 5) issuer_authentication_performed, with_issuer_authentication_performed:
        "Issuer Authentication Performed";
    (2, 4) ciac_default_skipped_on_cat3, with_ciac_default_skipped_on_cat3:
        "CIAC-Default Skipped on CAT3";
    (2, 3) offline_change_pin_successful, with_offline_change_pin_successful:
        "Offline Change PIN Result Successful";
    (2, 2) issuer_discretionary_2, with_issuer_discretionary_2: "Issuer Discretionary (byte 2 b2)";
    (2, 1) issuer_discretionary_1, with_issuer_discretionary_1: "Issuer Discretionary (byte 2 b1)";
    (4, 8) last_online_transaction_not_completed, with_last_online_transaction_not_completed:
        "Last Online Transaction Not Completed";
    (4, 7) unable_to_go_online, with_unable_to_go_online: "Unable To Go Online";
    (4, 6) offline_pin_not_performed, with_offline_pin_not_performed:
        "Offline PIN Verification Not Performed";
    (4, 5) offline_pin_failed, with_offline_pin_failed: "Offline PIN Verification Failed";
    (4, 4) pin_try_limit_exceeded, with_pin_try_limit_exceeded: "PTL Exceeded";
    (4, 3) international_transaction, with_international_transaction: "International Transaction";
    (4, 2) domestic_transaction, with_domestic_transaction: "Domestic Transaction";
    (4, 1) terminal_erroneously_considers_offline_pin_ok,
        with_terminal_erroneously_considers_offline_pin_ok:
        "Terminal Erroneously Considers Offline PIN OK";
    (5, 8) lower_consecutive_offline_limit_exceeded, with_lower_consecutive_offline_limit_exceeded:
        "Lower Consecutive Offline Limit Exceeded";
    (5, 7) upper_consecutive_offline_limit_exceeded, with_upper_consecutive_offline_limit_exceeded:
        "Upper Consecutive Offline Limit Exceeded";
    (5, 6) lower_cumulative_offline_limit_exceeded, with_lower_cumulative_offline_limit_exceeded:
        "Lower Cumulative Offline Limit Exceeded";
    (5, 5) upper_cumulative_offline_limit_exceeded, with_upper_cumulative_offline_limit_exceeded:
        "Upper Cumulative Offline Limit Exceeded";
    (5, 4) go_online_on_next_transaction, with_go_online_on_next_transaction:
        "Go Online On Next Transaction Was Set";
    (5, 3) issuer_authentication_failed, with_issuer_authentication_failed:
        "Issuer Authentication Failed";
    (5, 2) script_received, with_script_received: "Script Received";
    (5, 1) script_failed, with_script_failed: "Script Failed";
    (6, 8) lower_consecutive_counter_2_limit_exceeded, with_lower_consecutive_counter_2_limit_exceeded:
        "Lower Consecutive Counter 2 Limit Exceeded";
    (6, 7) upper_consecutive_counter_2_limit_exceeded, with_upper_consecutive_counter_2_limit_exceeded:
        "Upper Consecutive Counter 2 Limit Exceeded";
    (6, 6) lower_cumulative_accumulator_2_limit_exceeded,
        with_lower_cumulative_accumulator_2_limit_exceeded:
        "Lower Cumulative Accumulator 2 Limit Exceeded";
    (6, 5) upper_cumulative_accumulator_2_limit_exceeded,
        with_upper_cumulative_accumulator_2_limit_exceeded:
        "Upper Cumulative Accumulator 2 Limit Exceeded";
    (6, 4) mta_limit_exceeded, with_mta_limit_exceeded: "MTA Limit Exceeded";
    (6, 3) number_of_days_offline_limit_exceeded, with_number_of_days_offline_limit_exceeded:
        "Number Of Days Offline Limit Exceeded";
    (6, 2) match_found_in_additional_check_table, with_match_found_in_additional_check_table:
        "Match Found In Additional Check Table";
    (6, 1) no_match_found_in_additional_check_table, with_no_match_found_in_additional_check_table:
        "No Match Found In Additional Check Table";
}

impl MchipCvr {
    /// Byte 1 b6-b5: the cryptogram the first GENERATE AC returned.
    pub const fn first_ac(self) -> CryptogramType {
        first_ac_from_code(self.0[0] >> 4)
    }

    /// A copy with byte 1 b6-b5 set for `t`.
    #[must_use]
    pub const fn with_first_ac(self, t: CryptogramType) -> Self {
        let mut b = self.0;
        b[0] = (b[0] & !0x30) | (first_ac_to_code(t) << 4);
        Self(b)
    }

    /// Byte 1 b8-b7: the cryptogram the second GENERATE AC returned; `None` when not
    /// requested.
    pub const fn second_ac(self) -> Option<CryptogramType> {
        second_ac_from_code(self.0[0] >> 6)
    }

    /// A copy with byte 1 b8-b7 set for `t` (`None`: not requested).
    #[must_use]
    pub const fn with_second_ac(self, t: Option<CryptogramType>) -> Self {
        let mut b = self.0;
        b[0] = (b[0] & !0xC0) | (second_ac_to_code(t) << 6);
        Self(b)
    }

    /// Byte 3 b8-b5: right nibble of the script counter.
    pub const fn script_counter(self) -> u8 {
        self.0[2] >> 4
    }

    /// Byte 3 b4-b1: right nibble of the PIN try counter.
    pub const fn pin_try_counter(self) -> u8 {
        self.0[2] & 0x0F
    }

    /// A copy with byte 3 set from the two counters (each reduced to its right nibble).
    #[must_use]
    pub const fn with_counters(self, script_counter: u8, pin_try_counter: u8) -> Self {
        let mut b = self.0;
        b[2] = ((script_counter & 0x0F) << 4) | (pin_try_counter & 0x0F);
        Self(b)
    }

    fn describe_fields(self, out: &mut Vec<String>) {
        describe_acs(self.0[0], out);
        out.push(format!(
            "Script counter {}, PIN try counter {}",
            self.script_counter(),
            self.pin_try_counter()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_visa_cvr() {
        // 03 A0 B8 00: second GEN AC not requested, first ARQC; byte 3 B8.
        let cvr = VisaCvr::from_bytes(&[0x03, 0xA0, 0xB8, 0x00]).unwrap();
        assert_eq!(cvr.first_ac(), CryptogramType::ARQC);
        assert_eq!(cvr.second_ac(), None);
        assert!(cvr.last_online_transaction_not_completed());
        assert!(cvr.velocity_counters_exceeded());
        assert!(cvr.new_card());
        assert!(cvr.issuer_authentication_failed_last_online());
        assert!(!cvr.pin_try_limit_exceeded());
        assert_eq!(
            cvr.describe(),
            [
                "Second GENERATE AC not requested",
                "First GENERATE AC returned ARQC",
                "Last online transaction not completed",
                "Exceeded velocity checking counters",
                "New card",
                "Issuer Authentication failure on last online transaction",
            ]
        );
        let built = VisaCvr::EMPTY
            .with_second_ac(None)
            .with_first_ac(CryptogramType::ARQC)
            .with_last_online_transaction_not_completed(true)
            .with_velocity_counters_exceeded(true)
            .with_new_card(true)
            .with_issuer_authentication_failed_last_online(true);
        assert_eq!(built.to_bytes(), [0x03, 0xA0, 0xB8, 0x00]);
        assert_eq!(VisaCvr::default().to_bytes(), [0x03, 0, 0, 0]);
    }

    #[test]
    fn visa_cvr_fields() {
        let cvr = VisaCvr::EMPTY
            .with_second_ac(Some(CryptogramType::TC))
            .with_first_ac(CryptogramType::TC)
            .with_script_commands(3)
            .with_cdcvm_performed(true);
        assert_eq!(cvr.to_bytes(), [0x03, 0x54, 0x00, 0x30]);
        assert!(cvr.cdcvm_performed());
        assert!(cvr.offline_pin_performed());
        assert_eq!(cvr.script_commands(), 3);
        assert_eq!(cvr.with_script_commands(200).script_commands(), 15);
        assert_eq!(
            cvr.with_second_ac(Some(CryptogramType::ARQC)).to_bytes()[1] >> 6,
            0b11
        );
    }

    #[test]
    fn visa_cvr_rejects_bad_length_and_length_byte() {
        assert!(VisaCvr::from_bytes(&[0x03, 0xA0, 0xB8]).is_err());
        let err = VisaCvr::from_bytes(&[0x04, 0xA0, 0xB8, 0x00]).unwrap_err();
        assert_eq!(
            err.kind,
            EmvErrorKind::FixedByte {
                what: "CVR length byte",
                expected: 3,
                found: 4
            }
        );
    }

    #[test]
    fn golden_mchip_cvr() {
        // A0 00 00 00 00 00 plus counters: second not requested, first ARQC.
        let cvr = MchipCvr::from_bytes(&[0xA0, 0x40, 0x23, 0x02, 0x00, 0x00]).unwrap();
        assert_eq!(cvr.first_ac(), CryptogramType::ARQC);
        assert_eq!(cvr.second_ac(), None);
        assert!(cvr.cda_in_first_gen_ac());
        assert!(cvr.domestic_transaction());
        assert_eq!((cvr.script_counter(), cvr.pin_try_counter()), (2, 3));
        assert_eq!(
            cvr.describe(),
            [
                "Second GENERATE AC not requested",
                "First GENERATE AC returned ARQC",
                "Script counter 2, PIN try counter 3",
                "Combined DDA/AC Generation Returned in First GENERATE AC",
                "Domestic Transaction",
            ]
        );
        let built = MchipCvr::EMPTY
            .with_second_ac(None)
            .with_first_ac(CryptogramType::ARQC)
            .with_cda_in_first_gen_ac(true)
            .with_counters(2, 3)
            .with_domestic_transaction(true);
        assert_eq!(built, cvr);
        assert!(MchipCvr::from_bytes(&[0; 5]).is_err());
    }
}
