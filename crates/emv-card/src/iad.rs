//! Issuer Application Data (`9F10`) and Card Verification Results as this application writes
//! them, built with the `emv` crate's typed CVRs and IAD builders.
//!
//! * Visa CVN 10 and 18, IAD format 0: `06 DKI CVN 03 CVR(3)`. CVR byte 2: second GENERATE AC
//!   "not requested" (the contactless case), first = the cryptogram returned, so an ARQC gives
//!   `03 A0 ..` as in Visa's examples; byte 2 b3 records a consumer-device CVM (see
//!   `emv::VisaCvr`). For CVN 10 the CVR is inside the cryptogram's data set, so the CDCVM claim
//!   is protected by the ARQC.
//! * Visa CVN 22, IAD format 2 (32 bytes): `1F 22 DKI CVR(5) ...`, same bit positions.
//! * Mastercard M/Chip: `DKI CVN CVR(6) DAC(2) counters(8)` (18 bytes). M/Chip's CVR has no
//!   CDCVM bit: Kernel 2 learns it from CVM Results (`9F34` = `01 00 02`) and the card confirms
//!   it in `DF4B`.

use apdu::StatusWord;
use emv::{CryptogramType, Iad, MchipCvr, VisaCvr};
use emv_crypto::{Cvn, Scheme};

/// Type of cryptogram returned, as the CID and CVR code it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcType {
    /// Application Authentication Cryptogram: declined.
    Aac,
    /// Transaction Certificate: approved offline.
    Tc,
    /// Authorisation Request Cryptogram: go online.
    Arqc,
}

impl AcType {
    /// Cryptogram Information Data (`9F27`).
    pub(crate) fn cid(self) -> u8 {
        self.cryptogram_type().0
    }

    fn cryptogram_type(self) -> CryptogramType {
        match self {
            Self::Aac => CryptogramType::AAC,
            Self::Tc => CryptogramType::TC,
            Self::Arqc => CryptogramType::ARQC,
        }
    }
}

/// What the card records about this transaction in its CVR.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CvrInput {
    pub(crate) ac: AcType,
    pub(crate) cdcvm: bool,
    pub(crate) issuer_auth_failed_last: bool,
    pub(crate) last_online_incomplete: bool,
}

/// Builds the IAD for `cvn`. Fails only if the personalization is inconsistent (a CVN the IAD
/// builders refuse), which the card reports as `6F00`.
pub(crate) fn build(cvn: Cvn, dki: u8, cvr: CvrInput) -> Result<Vec<u8>, StatusWord> {
    let first = cvr.ac.cryptogram_type();
    let iad_cvn = emv::Cvn(cvn.iad_value());
    let visa_cvr = VisaCvr::EMPTY
        .with_first_ac(first)
        .with_second_ac(None)
        .with_cdcvm_performed(cvr.cdcvm)
        .with_last_online_transaction_not_completed(cvr.last_online_incomplete)
        .with_issuer_authentication_failed_last_online(cvr.issuer_auth_failed_last);
    let iad = match (cvn.scheme(), cvn) {
        (Scheme::Visa, Cvn::Visa22) => {
            // Format 2's 5-byte CVR keeps the format 0 layout of bytes 2-4 after its own byte 1.
            let b = visa_cvr.to_bytes();
            Iad::visa_format2(iad_cvn, dki, [b[1], b[2], b[3], 0x00, 0x00], 0, &[])
        }
        (Scheme::Visa, _) => Iad::visa(dki, iad_cvn, visa_cvr, &[]),
        (Scheme::Mastercard, _) => {
            let cvr = MchipCvr::EMPTY
                .with_first_ac(first)
                .with_second_ac(None)
                .with_last_online_transaction_not_completed(cvr.last_online_incomplete)
                .with_issuer_authentication_failed(cvr.issuer_auth_failed_last);
            Iad::mchip(dki, iad_cvn, cvr, [0x00, 0x00], [0x00; 8])
        }
    };
    iad.map(|i| i.to_bytes())
        .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)
}
