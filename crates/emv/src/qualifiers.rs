//! Kernel 3 (Visa qVSDC) transaction qualifiers: the terminal's (`9F66`) and the card's
//! (`9F6C`).

bit_flags! {
    /// Terminal Transaction Qualifiers (TTQ, tag `9F66`, 4 bytes; Contactless Book A Table
    /// 5-4, Book C-3 Annex A).
    pub struct Ttq([u8; 4]);
    element = "TTQ (9F66)";
    empty = [0, 0, 0, 0];
    handled = [0, 0, 0, 0];
    (1, 8) magstripe_mode_supported, with_magstripe_mode_supported: "Mag-stripe mode supported";
    (1, 6) emv_mode_supported, with_emv_mode_supported: "EMV mode supported";
    (1, 5) emv_contact_chip_supported, with_emv_contact_chip_supported:
        "EMV contact chip supported";
    (1, 4) offline_only_reader, with_offline_only_reader: "Offline-only reader";
    (1, 3) online_pin_supported, with_online_pin_supported: "Online PIN supported";
    (1, 2) signature_supported, with_signature_supported: "Signature supported";
    (1, 1) oda_for_online_authorizations_supported, with_oda_for_online_authorizations_supported:
        "Offline Data Authentication for Online Authorizations supported";
    (2, 8) online_cryptogram_required, with_online_cryptogram_required:
        "Online cryptogram required";
    (2, 7) cvm_required, with_cvm_required: "CVM required";
    (2, 6) offline_pin_supported, with_offline_pin_supported:
        "(Contact Chip) Offline PIN supported";
    (3, 8) issuer_update_processing_supported, with_issuer_update_processing_supported:
        "Issuer Update Processing supported";
    (3, 7) consumer_device_cvm_supported, with_consumer_device_cvm_supported:
        "Consumer Device CVM supported";
}

bit_flags! {
    /// Card Transaction Qualifiers (CTQ, tag `9F6C`, 2 bytes; Book C-3 Annex A, VCPS).
    pub struct Ctq([u8; 2]);
    element = "CTQ (9F6C)";
    empty = [0, 0];
    handled = [0, 0];
    (1, 8) online_pin_required, with_online_pin_required: "Online PIN Required";
    (1, 7) signature_required, with_signature_required: "Signature Required";
    (1, 6) go_online_if_oda_fails, with_go_online_if_oda_fails:
        "Go Online if Offline Data Authentication Fails and Reader is online capable";
    (1, 5) switch_interface_if_oda_fails, with_switch_interface_if_oda_fails:
        "Switch Interface if Offline Data Authentication fails and Reader supports contact chip";
    (1, 4) go_online_if_application_expired, with_go_online_if_application_expired:
        "Go Online if Application Expired";
    (1, 3) switch_interface_for_cash, with_switch_interface_for_cash:
        "Switch Interface for Cash Transactions";
    (1, 2) switch_interface_for_cashback, with_switch_interface_for_cashback:
        "Switch Interface for Cashback Transactions";
    (1, 1) not_valid_for_contactless_atm, with_not_valid_for_contactless_atm:
        "Not valid for contactless ATM transactions";
    (2, 8) consumer_device_cvm_performed, with_consumer_device_cvm_performed:
        "Consumer Device CVM Performed";
    (2, 7) issuer_update_processing_supported, with_issuer_update_processing_supported:
        "Card supports Issuer Update Processing at the POS";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_ttq() {
        // 36 00 40 00: qVSDC, contact chip, online PIN, signature; CDCVM supported.
        let ttq = Ttq::from_bytes(&[0x36, 0x00, 0x40, 0x00]).unwrap();
        assert!(ttq.emv_mode_supported());
        assert!(ttq.emv_contact_chip_supported());
        assert!(ttq.online_pin_supported());
        assert!(ttq.signature_supported());
        assert!(ttq.consumer_device_cvm_supported());
        assert!(!ttq.magstripe_mode_supported());
        assert!(!ttq.cvm_required());
        let built = Ttq::EMPTY
            .with_emv_mode_supported(true)
            .with_emv_contact_chip_supported(true)
            .with_online_pin_supported(true)
            .with_signature_supported(true)
            .with_consumer_device_cvm_supported(true);
        assert_eq!(built.to_bytes(), [0x36, 0x00, 0x40, 0x00]);
        assert_eq!(
            built
                .with_online_cryptogram_required(true)
                .with_cvm_required(true)
                .to_bytes(),
            [0x36, 0xC0, 0x40, 0x00]
        );
        assert_eq!(ttq.describe().len(), 5);
        assert!(Ttq::from_bytes(&[0x36, 0x00, 0x40]).is_err());
    }

    #[test]
    fn golden_ctq() {
        // 00 80: CDCVM performed on the phone.
        let ctq = Ctq::from_bytes(&[0x00, 0x80]).unwrap();
        assert!(ctq.consumer_device_cvm_performed());
        assert!(!ctq.online_pin_required());
        assert_eq!(ctq.to_string(), "Consumer Device CVM Performed");
        let built = Ctq::EMPTY
            .with_online_pin_required(true)
            .with_go_online_if_oda_fails(true);
        assert_eq!(built.to_bytes(), [0xA0, 0x00]);
        assert_eq!(Ctq::from_bytes(&built.to_bytes()).unwrap(), built);
        assert!(Ctq::from_bytes(&[0x00]).is_err());
    }
}
