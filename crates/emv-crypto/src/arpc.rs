//! Authorisation Response Cryptograms (EMV Book 2 8.2) and Issuer Authentication Data (tag 91).

use core::fmt;

use tlv::Tag;

use crate::ac::with_key;
use crate::keys::Schedule;
use crate::{CryptoError, CryptogramMismatch, Cvn, ExpectedLen, MasterKey, Padding, tags};

/// The ARPC method of EMV Book 2 8.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArpcMethod {
    /// 8.2.1: ARPC := 3DES(K)\[ARQC xor (ARC || 00 00 00 00 00 00)\] (8 bytes); tag 91 holds
    /// ARPC || ARC.
    Method1,
    /// 8.2.2: ARPC := MAC(K)\[ARQC || CSU || Proprietary Authentication Data\] (4 bytes, padding
    /// method 2); tag 91 holds ARPC || CSU || Proprietary Authentication Data.
    Method2,
}

impl fmt::Display for ArpcMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Method1 => "method 1",
            Self::Method2 => "method 2",
        })
    }
}

/// What the issuer tells the card alongside the ARPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArpcResponse {
    /// ARPC method 1: the 2-byte Authorisation Response Code (often the ASCII response code,
    /// `b"00"` = `30 30`).
    Arc([u8; 2]),
    /// ARPC method 2: the 4-byte Card Status Update and 0 to 8 bytes of Proprietary
    /// Authentication Data.
    Csu {
        /// The Card Status Update.
        csu: [u8; 4],
        /// Proprietary Authentication Data (0 to 8 bytes).
        proprietary: Vec<u8>,
    },
}

impl ArpcResponse {
    /// A method 2 response without proprietary data.
    pub fn csu(csu: [u8; 4]) -> Self {
        Self::Csu {
            csu,
            proprietary: Vec::new(),
        }
    }

    /// The ARPC method this response belongs to.
    pub fn method(&self) -> ArpcMethod {
        match self {
            Self::Arc(_) => ArpcMethod::Method1,
            Self::Csu { .. } => ArpcMethod::Method2,
        }
    }
}

fn arpc_into(
    cvn: Cvn,
    icc_mk: &MasterKey,
    atc: [u8; 2],
    arqc: &[u8; 8],
    response: &ArpcResponse,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    cvn.check_supported(icc_mk.algorithm())?;
    if response.method() != cvn.arpc_method() {
        return Err(CryptoError::WrongArpcResponse {
            cvn,
            expected: cvn.arpc_method(),
        });
    }
    // The ARPC session key never needs the UN (pyemv: none, or the common session key).
    with_key(
        &icc_mk.0.schedule,
        cvn.arpc_key_method(),
        atc,
        [0; 4],
        |key| arpc_with(key, arqc, response, out),
    )??;
    match response {
        ArpcResponse::Arc(arc) => out.extend_from_slice(arc),
        ArpcResponse::Csu { csu, proprietary } => {
            out.extend_from_slice(csu);
            out.extend_from_slice(proprietary);
        }
    }
    Ok(())
}

/// Appends the ARPC alone (8 bytes for method 1, 4 for method 2) computed with `key`.
pub(crate) fn arpc_with(
    key: &Schedule,
    arqc: &[u8; 8],
    response: &ArpcResponse,
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    match response {
        ArpcResponse::Arc(arc) => {
            let tdes = key.tdes().ok_or(CryptoError::UnsupportedAlgorithm {
                algorithm: key.algorithm(),
                operation: "ARPC method 1",
            })?;
            let mut y = *arqc;
            y[0] ^= arc[0];
            y[1] ^= arc[1];
            out.extend_from_slice(&tdes.encrypt(y));
        }
        ArpcResponse::Csu { csu, proprietary } => {
            if proprietary.len() > 8 {
                return Err(CryptoError::ProprietaryDataTooLong {
                    got: proprietary.len(),
                });
            }
            let mut data = [0u8; 20];
            data[..8].copy_from_slice(arqc);
            data[8..12].copy_from_slice(csu);
            let end = 12 + proprietary.len();
            data[12..end].copy_from_slice(proprietary);
            let mac = key.mac8(&data[..end], Padding::Method2);
            out.extend_from_slice(&mac[..4]);
        }
    }
    Ok(())
}

fn read_atc<'a>(tags: &dyn Fn(Tag) -> Option<&'a [u8]>) -> Result<[u8; 2], CryptoError> {
    let v = tags(tags::ATC).ok_or(CryptoError::MissingTag(tags::ATC))?;
    let mut atc = [0u8; 2];
    if v.len() != 2 {
        return Err(CryptoError::BadLength {
            tag: tags::ATC,
            expected: ExpectedLen::Exactly(2),
            got: v.len(),
        });
    }
    atc.copy_from_slice(v);
    Ok(atc)
}

/// The Issuer Authentication Data (the value of tag 91) for an ARQC: the ARPC computed with the
/// method and key the cryptogram version uses, followed by the ARC (method 1) or the CSU and
/// proprietary data (method 2). Only the ATC (9F36) is read through `tags`.
pub fn issuer_authentication_data<'a>(
    cvn: Cvn,
    icc_mk: &MasterKey,
    tags: &dyn Fn(Tag) -> Option<&'a [u8]>,
    arqc: &[u8; 8],
    response: ArpcResponse,
) -> Result<Vec<u8>, CryptoError> {
    let atc = read_atc(tags)?;
    let mut out = Vec::with_capacity(16);
    arpc_into(cvn, icc_mk, atc, arqc, &response, &mut out)?;
    Ok(out)
}

/// The card's check of Issuer Authentication Data (tag 91): splits it as the version's ARPC
/// method lays it out, recomputes the ARPC and compares in constant time. Returns the ARC or CSU
/// the issuer sent; any failure is the opaque [`CryptogramMismatch`].
pub fn verify_issuer_authentication_data<'a>(
    cvn: Cvn,
    icc_mk: &MasterKey,
    tags: &dyn Fn(Tag) -> Option<&'a [u8]>,
    arqc: &[u8; 8],
    data_91: &[u8],
) -> Result<ArpcResponse, CryptogramMismatch> {
    let response = match cvn.arpc_method() {
        ArpcMethod::Method1 => match data_91 {
            [_, _, _, _, _, _, _, _, a, b] => ArpcResponse::Arc([*a, *b]),
            _ => return Err(CryptogramMismatch),
        },
        ArpcMethod::Method2 => {
            let (Some(csu), Some(proprietary)) = (data_91.get(4..8), data_91.get(8..)) else {
                return Err(CryptogramMismatch);
            };
            let mut c = [0u8; 4];
            c.copy_from_slice(csu);
            ArpcResponse::Csu {
                csu: c,
                proprietary: proprietary.to_vec(),
            }
        }
    };
    let atc = read_atc(tags).map_err(|_| CryptogramMismatch)?;
    let mut expected = Vec::with_capacity(16);
    arpc_into(cvn, icc_mk, atc, arqc, &response, &mut expected).map_err(|_| CryptogramMismatch)?;
    if secret::ct_eq(&expected, data_91) {
        Ok(response)
    } else {
        Err(CryptogramMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;

    fn icc_mk() -> MasterKey {
        let imk = MasterKey::new(
            KeyAlgorithm::Tdes2,
            &hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap(),
        )
        .unwrap();
        crate::derive_icc_master_key(Cvn::Visa18, &imk, "1234567890123456", 0).unwrap()
    }

    fn atc(tag: Tag) -> Option<&'static [u8]> {
        (tag == tags::ATC).then_some(&[0x00, 0x1C][..])
    }

    #[test]
    fn method_1_and_2_round_trip() {
        let mk = icc_mk();
        let arqc = [0x29, 0xCC, 0xA1, 0x5A, 0xE6, 0x65, 0xFA, 0x2E];
        let d =
            issuer_authentication_data(Cvn::Visa10, &mk, &atc, &arqc, ArpcResponse::Arc(*b"00"))
                .unwrap();
        // pyemv tests/test_cvn_hsm.py test_visa_cvn10 (HSM-checked).
        assert_eq!(hex::encode_upper(&d), "28993816AFAE4AEB3030");
        assert_eq!(
            verify_issuer_authentication_data(Cvn::Visa10, &mk, &atc, &arqc, &d),
            Ok(ArpcResponse::Arc(*b"00"))
        );
        let arqc = [0x7A, 0x78, 0x8E, 0xA6, 0xB8, 0xA3, 0xE7, 0x33];
        let d =
            issuer_authentication_data(Cvn::Visa18, &mk, &atc, &arqc, ArpcResponse::csu([0; 4]))
                .unwrap();
        assert_eq!(hex::encode_upper(&d), "9AF514C100000000");
        assert_eq!(
            verify_issuer_authentication_data(Cvn::Visa18, &mk, &atc, &arqc, &d),
            Ok(ArpcResponse::csu([0; 4]))
        );
    }

    #[test]
    fn tampering_and_wrong_responses_fail() {
        let mk = icc_mk();
        let arqc = [1, 2, 3, 4, 5, 6, 7, 8];
        let d =
            issuer_authentication_data(Cvn::Visa18, &mk, &atc, &arqc, ArpcResponse::csu([0; 4]))
                .unwrap();
        for i in 0..d.len() * 8 {
            let mut bad = d.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                verify_issuer_authentication_data(Cvn::Visa18, &mk, &atc, &arqc, &bad),
                Err(CryptogramMismatch)
            );
        }
        assert_eq!(
            verify_issuer_authentication_data(Cvn::Visa18, &mk, &atc, &arqc, &d[..7]),
            Err(CryptogramMismatch)
        );
        assert_eq!(
            issuer_authentication_data(Cvn::Visa18, &mk, &atc, &arqc, ArpcResponse::Arc(*b"00")),
            Err(CryptoError::WrongArpcResponse {
                cvn: Cvn::Visa18,
                expected: ArpcMethod::Method2
            })
        );
        let long = ArpcResponse::Csu {
            csu: [0; 4],
            proprietary: vec![0; 9],
        };
        assert_eq!(
            issuer_authentication_data(Cvn::Visa18, &mk, &atc, &arqc, long),
            Err(CryptoError::ProprietaryDataTooLong { got: 9 })
        );
        assert_eq!(
            issuer_authentication_data(
                Cvn::Visa18,
                &mk,
                &|_| None,
                &arqc,
                ArpcResponse::csu([0; 4])
            ),
            Err(CryptoError::MissingTag(tags::ATC))
        );
    }
}
