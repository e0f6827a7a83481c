//! Application Interchange Profile (`82`): what the card supports and wants the terminal to do.

bit_flags! {
    /// Application Interchange Profile (AIP, tag `82`, 2 bytes; EMV 4.4 Book 3 Annex C1, with
    /// byte 1 b2 and byte 2 as Contactless Book C-2 Annex A defines them).
    pub struct Aip([u8; 2]);
    element = "AIP (82)";
    empty = [0x00, 0x00];
    handled = [0x00, 0x00];
    (1, 8) xda_supported, with_xda_supported: "XDA supported";
    (1, 7) sda_supported, with_sda_supported: "SDA supported";
    (1, 6) dda_supported, with_dda_supported: "DDA supported";
    (1, 5) cardholder_verification_supported, with_cardholder_verification_supported:
        "Cardholder verification is supported";
    (1, 4) terminal_risk_management_required, with_terminal_risk_management_required:
        "Terminal risk management is to be performed";
    (1, 3) issuer_authentication_supported, with_issuer_authentication_supported:
        "Issuer authentication is supported";
    (1, 2) on_device_cvm_supported, with_on_device_cvm_supported:
        "On device cardholder verification is supported";
    (1, 1) cda_supported, with_cda_supported: "CDA supported";
    (2, 8) emv_mode_supported, with_emv_mode_supported: "EMV mode is supported";
    (2, 1) relay_resistance_supported, with_relay_resistance_supported:
        "Relay resistance protocol is supported";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmvErrorKind;

    #[test]
    fn golden_contactless_aip() {
        // 1980: SDA, CVM, TRM, CDA; EMV mode. A typical Kernel 2 card.
        let aip = Aip::from_bytes(&[0x19, 0x80]).unwrap();
        assert!(aip.cardholder_verification_supported());
        assert!(aip.terminal_risk_management_required());
        assert!(aip.cda_supported());
        assert!(aip.emv_mode_supported());
        assert!(!aip.dda_supported());
        assert!(!aip.relay_resistance_supported());
        assert_eq!(
            aip.describe(),
            [
                "Cardholder verification is supported",
                "Terminal risk management is to be performed",
                "CDA supported",
                "EMV mode is supported",
            ]
        );
        let built = Aip::EMPTY
            .with_cardholder_verification_supported(true)
            .with_terminal_risk_management_required(true)
            .with_cda_supported(true)
            .with_emv_mode_supported(true);
        assert_eq!(built, aip);
        assert_eq!(built.to_bytes(), [0x19, 0x80]);
        assert_eq!(format!("{built:?}"), "Aip(1980)");
        assert_eq!(built.with_cda_supported(false).to_bytes(), [0x18, 0x80]);
    }

    #[test]
    fn rfu_bits_are_kept_and_shown() {
        let aip = Aip::from_array([0x00, 0x02]);
        assert_eq!(aip.describe(), ["byte 2 b2 (RFU)"]);
        assert_eq!(aip.to_bytes(), [0x00, 0x02]);
        assert_eq!(Aip::EMPTY.to_string(), "none");
    }

    #[test]
    fn rejects_wrong_lengths() {
        for len in [0, 1, 3] {
            let err = Aip::from_bytes(&vec![0; len]).unwrap_err();
            assert_eq!(
                err.kind,
                EmvErrorKind::Length {
                    min: 2,
                    max: 2,
                    actual: len
                }
            );
            assert_eq!(err.element, "AIP (82)");
        }
        assert!(Aip::try_from(&[0x40u8, 0x00][..]).is_ok());
    }
}
