//! Terminal Verification Results (`95`) and Transaction Status Information (`9B`).

use core::fmt;

bit_flags! {
    /// Terminal Verification Results (TVR, tag `95`, 5 bytes; EMV 4.4 Book 3 Annex C5).
    ///
    /// Byte 5 b4 to b1 follow Contactless Book C-2 (relay resistance), where Book 3 leaves them
    /// to the contactless specifications. The same layout serves the Issuer and Terminal Action
    /// Codes (`9F0D`..`9F0F`, `DF8120`..`DF8122`); compare with [`Tvr::intersects`].
    pub struct Tvr([u8; 5]);
    element = "TVR (95)";
    empty = [0, 0, 0, 0, 0];
    handled = [0, 0, 0, 0, 0x03];
    fields = Tvr::describe_fields;
    (1, 8) offline_data_authentication_not_performed, with_offline_data_authentication_not_performed:
        "Offline data authentication was not performed";
    (1, 7) sda_failed, with_sda_failed: "SDA failed";
    (1, 6) icc_data_missing, with_icc_data_missing: "ICC data missing";
    (1, 5) card_on_exception_file, with_card_on_exception_file:
        "Card appears on terminal exception file";
    (1, 4) dda_failed, with_dda_failed: "DDA failed";
    (1, 3) cda_failed, with_cda_failed: "CDA failed";
    (1, 2) sda_selected, with_sda_selected: "SDA selected";
    (1, 1) xda_selected, with_xda_selected: "XDA selected";
    (2, 8) different_application_versions, with_different_application_versions:
        "ICC and terminal have different application versions";
    (2, 7) expired_application, with_expired_application: "Expired application";
    (2, 6) application_not_yet_effective, with_application_not_yet_effective:
        "Application not yet effective";
    (2, 5) service_not_allowed, with_service_not_allowed:
        "Requested service not allowed for card product";
    (2, 4) new_card, with_new_card: "New card";
    (2, 2) biometric_performed_successful, with_biometric_performed_successful:
        "Biometric performed and successful";
    (2, 1) biometric_template_format_not_supported, with_biometric_template_format_not_supported:
        "Biometric template format not supported";
    (3, 8) cardholder_verification_failed, with_cardholder_verification_failed:
        "Cardholder verification was not successful";
    (3, 7) unrecognised_cvm, with_unrecognised_cvm: "Unrecognised CVM";
    (3, 6) pin_try_limit_exceeded, with_pin_try_limit_exceeded: "PIN Try Limit exceeded";
    (3, 5) pin_pad_not_working, with_pin_pad_not_working:
        "PIN entry required and PIN pad not present or not working";
    (3, 4) pin_not_entered, with_pin_not_entered:
        "PIN entry required, PIN pad present, but PIN was not entered";
    (3, 3) online_cvm_captured, with_online_cvm_captured: "Online CVM captured (online PIN entered)";
    (3, 2) biometric_capture_device_not_working, with_biometric_capture_device_not_working:
        "Biometric required but Biometric capture device not working";
    (3, 1) biometric_subtype_bypassed, with_biometric_subtype_bypassed:
        "Biometric required, Biometric capture device present, but Biometric Subtype entry was bypassed";
    (4, 8) floor_limit_exceeded, with_floor_limit_exceeded: "Transaction exceeds floor limit";
    (4, 7) lower_consecutive_offline_limit_exceeded, with_lower_consecutive_offline_limit_exceeded:
        "Lower consecutive offline limit exceeded";
    (4, 6) upper_consecutive_offline_limit_exceeded, with_upper_consecutive_offline_limit_exceeded:
        "Upper consecutive offline limit exceeded";
    (4, 5) random_online_selection, with_random_online_selection:
        "Transaction selected randomly for online processing";
    (4, 4) merchant_forced_online, with_merchant_forced_online: "Merchant forced transaction online";
    (4, 3) biometric_try_limit_exceeded, with_biometric_try_limit_exceeded:
        "Biometric Try Limit exceeded";
    (4, 2) biometric_type_not_supported, with_biometric_type_not_supported:
        "A selected Biometric Type not supported";
    (4, 1) xda_signature_failed, with_xda_signature_failed: "XDA signature verification failed";
    (5, 8) default_tdol_used, with_default_tdol_used: "Default TDOL used";
    (5, 7) issuer_authentication_failed, with_issuer_authentication_failed:
        "Issuer authentication failed";
    (5, 6) script_failed_before_final_gen_ac, with_script_failed_before_final_gen_ac:
        "Script processing failed before final GENERATE AC";
    (5, 5) script_failed_after_final_gen_ac, with_script_failed_after_final_gen_ac:
        "Script processing failed after final GENERATE AC";
    (5, 4) relay_resistance_threshold_exceeded, with_relay_resistance_threshold_exceeded:
        "Relay resistance threshold exceeded";
    (5, 3) relay_resistance_time_limits_exceeded, with_relay_resistance_time_limits_exceeded:
        "Relay resistance time limits exceeded";
}

/// TVR byte 5 b2-b1 (Book C-2): whether the relay resistance protocol ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RelayResistance(pub u8);

impl RelayResistance {
    /// `00`: the card does not support RRP.
    pub const NOT_SUPPORTED: Self = Self(0b00);
    /// `01`: supported but not performed.
    pub const NOT_PERFORMED: Self = Self(0b01);
    /// `10`: performed.
    pub const PERFORMED: Self = Self(0b10);

    /// The spec's wording.
    pub const fn name(self) -> &'static str {
        match self.0 & 0b11 {
            0b00 => "RRP not supported",
            0b01 => "RRP not performed",
            0b10 => "RRP performed",
            _ => "RRP (RFU value 11)",
        }
    }
}

impl fmt::Display for RelayResistance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Tvr {
    /// Byte 5 b2-b1: relay resistance protocol status (Book C-2).
    pub const fn relay_resistance(self) -> RelayResistance {
        RelayResistance(self.0[4] & 0x03)
    }

    /// A copy with byte 5 b2-b1 set to `value`.
    #[must_use]
    pub const fn with_relay_resistance(self, value: RelayResistance) -> Self {
        let mut b = self.0;
        b[4] = (b[4] & !0x03) | (value.0 & 0x03);
        Self(b)
    }

    fn describe_fields(self, out: &mut Vec<String>) {
        let rrp = self.relay_resistance();
        if rrp != RelayResistance::NOT_SUPPORTED {
            out.push(rrp.name().to_owned());
        }
    }
}

bit_flags! {
    /// Transaction Status Information (TSI, tag `9B`, 2 bytes; EMV 4.4 Book 3 Annex C6).
    pub struct Tsi([u8; 2]);
    element = "TSI (9B)";
    empty = [0, 0];
    handled = [0, 0];
    (1, 8) offline_data_authentication_performed, with_offline_data_authentication_performed:
        "Offline data authentication was performed";
    (1, 7) cardholder_verification_performed, with_cardholder_verification_performed:
        "Cardholder verification was performed";
    (1, 6) card_risk_management_performed, with_card_risk_management_performed:
        "Card risk management was performed";
    (1, 5) issuer_authentication_performed, with_issuer_authentication_performed:
        "Issuer authentication was performed";
    (1, 4) terminal_risk_management_performed, with_terminal_risk_management_performed:
        "Terminal risk management was performed";
    (1, 3) script_processing_performed, with_script_processing_performed:
        "Script processing was performed";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmvErrorKind;

    #[test]
    fn golden_tvr() {
        // 80 00 00 80 00 plus RRP performed: ODA not performed, floor limit exceeded.
        let tvr = Tvr::from_bytes(&[0x80, 0x00, 0x00, 0x80, 0x02]).unwrap();
        assert!(tvr.offline_data_authentication_not_performed());
        assert!(tvr.floor_limit_exceeded());
        assert!(!tvr.cda_failed());
        assert_eq!(tvr.relay_resistance(), RelayResistance::PERFORMED);
        assert_eq!(
            tvr.describe(),
            [
                "RRP performed",
                "Offline data authentication was not performed",
                "Transaction exceeds floor limit",
            ]
        );
        let built = Tvr::EMPTY
            .with_offline_data_authentication_not_performed(true)
            .with_floor_limit_exceeded(true)
            .with_relay_resistance(RelayResistance::PERFORMED);
        assert_eq!(built.to_bytes(), [0x80, 0x00, 0x00, 0x80, 0x02]);
        assert_eq!(built, tvr);
    }

    #[test]
    fn every_bit_is_named_once() {
        // 40 bits: 37 named, 2 in the RRP field, 1 RFU (byte 2 b3).
        assert_eq!(Tvr::BITS.len(), 37);
        let all = Tvr::from_array([0xFF; 5]);
        let names = all.describe();
        assert_eq!(names.len(), 1 + 37 + 1);
        assert!(names.contains(&"byte 2 b3 (RFU)".to_owned()));
        for bit in Tvr::BITS {
            let one = Tvr::EMPTY.with_bit_for_test(bit);
            assert_eq!(one.describe(), [bit.name]);
        }
    }

    #[test]
    fn action_code_matching() {
        let tvr = Tvr::EMPTY.with_cda_failed(true);
        let denial = Tvr::EMPTY
            .with_cda_failed(true)
            .with_expired_application(true);
        let online = Tvr::EMPTY.with_floor_limit_exceeded(true);
        assert!(tvr.intersects(denial));
        assert!(!tvr.intersects(online));
        assert_eq!((tvr | online).to_bytes(), [0x04, 0, 0, 0x80, 0]);
        assert_eq!(tvr & denial, tvr);
        assert!(Tvr::EMPTY.is_empty());
        assert!(!tvr.is_empty());
    }

    #[test]
    fn rejects_wrong_lengths() {
        let err = Tvr::from_bytes(&[0; 4]).unwrap_err();
        assert_eq!(
            err.kind,
            EmvErrorKind::Length {
                min: 5,
                max: 5,
                actual: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "TVR (95) at offset 0: length 4, expected 5 bytes"
        );
        assert!(Tsi::from_bytes(&[0; 3]).is_err());
    }

    #[test]
    fn golden_tsi() {
        let tsi = Tsi::from_bytes(&[0xE8, 0x00]).unwrap();
        assert!(tsi.offline_data_authentication_performed());
        assert!(tsi.cardholder_verification_performed());
        assert!(tsi.card_risk_management_performed());
        assert!(tsi.terminal_risk_management_performed());
        assert!(!tsi.script_processing_performed());
        assert_eq!(tsi.describe().len(), 4);
    }

    impl Tvr {
        fn with_bit_for_test(self, bit: &crate::NamedBit) -> Self {
            let mut b = self.0;
            b[bit.byte - 1] |= bit.mask();
            Self(b)
        }
    }
}
