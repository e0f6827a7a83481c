//! Issuer Application Data (`9F10`) and Card Verification Results as this application writes them.
//!
//! * Visa CVN 10 and 18, IAD format 0: `06 DKI CVN 03 CVR(3)`; CVR byte 2 b8-7 is the second
//!   GENERATE AC (`10`: not requested, the contactless case) and b6-5 the first (`00` AAC, `01` TC,
//!   `10` ARQC), so an ARQC gives `03 A0 ..` as in Visa's examples.
//! * Visa CVN 22, IAD format 2 (32 bytes): `1F 22 DKI CVR(5) IDD(24)`; CVR byte 5 b8 records a
//!   consumer-device CVM.
//! * Mastercard M/Chip: `DKI CVN CVR(6) DAC(2) counters(8)` (18 bytes); CVR byte 1 b6-5 carries
//!   the first GENERATE AC type, byte 4 b1 (proprietary to this application) a consumer-device
//!   CVM.

use emv_crypto::Cvn;

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
        match self {
            Self::Aac => 0x00,
            Self::Tc => 0x40,
            Self::Arqc => 0x80,
        }
    }

    /// The CVR byte holding the GENERATE AC types: b8-7 second GENERATE AC "not requested"
    /// (`10`), b6-5 this cryptogram (`00` AAC, `01` TC, `10` ARQC).
    fn cvr_bits(self) -> u8 {
        let first = match self {
            Self::Aac => 0b00,
            Self::Tc => 0b01,
            Self::Arqc => 0b10,
        };
        (0b10 << 6) | (first << 4)
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

/// Builds the IAD for `cvn`.
pub(crate) fn build(cvn: Cvn, dki: u8, cvr: CvrInput) -> Vec<u8> {
    let prior = |b: &mut u8| {
        if cvr.last_online_incomplete {
            *b |= 0x80;
        }
        if cvr.issuer_auth_failed_last {
            *b |= 0x08;
        }
    };
    match cvn {
        Cvn::Visa10 | Cvn::Visa18 => {
            let mut byte3 = 0u8;
            prior(&mut byte3);
            vec![
                0x06,
                dki,
                cvn.iad_value(),
                0x03,
                cvr.ac.cvr_bits(),
                byte3,
                0x00,
            ]
        }
        Cvn::Visa22 => {
            let mut iad = vec![0u8; 32];
            iad[0] = 0x1F;
            iad[1] = cvn.iad_value();
            iad[2] = dki;
            iad[3] = cvr.ac.cvr_bits();
            prior(&mut iad[4]);
            if cvr.cdcvm {
                iad[7] |= 0x80;
            }
            iad
        }
        _ => {
            // Mastercard M/Chip.
            let mut iad = vec![0u8; 18];
            iad[0] = dki;
            iad[1] = cvn.iad_value();
            iad[2] = cvr.ac.cvr_bits();
            prior(&mut iad[4]);
            if cvr.cdcvm {
                iad[5] |= 0x01;
            }
            iad
        }
    }
}
