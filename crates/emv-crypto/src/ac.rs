//! Application cryptograms (ARQC, TC, AAC): one data-set composition shared by the card and the
//! issuer, and generation and constant-time verification.

use tlv::Tag;

use crate::keys::{Schedule, ac_diversifier, mastercard_diversifier, session_schedule};
use crate::{
    CryptoError, CryptogramMismatch, Cvn, ExpectedLen, IadPart, MasterKey, Padding,
    SessionKeyMethod, tags,
};

/// Looks a data element up by tag: the card's or the issuer's view of the transaction.
pub type TagLookup<'t, 'a> = &'t dyn Fn(Tag) -> Option<&'a [u8]>;

/// The elements every data set starts with, in order, with their lengths (EMV Book 2 8.1.1).
const COMMON: [(Tag, usize); 10] = [
    (tags::AMOUNT_AUTHORISED, 6),
    (tags::AMOUNT_OTHER, 6),
    (tags::TERMINAL_COUNTRY_CODE, 2),
    (tags::TVR, 5),
    (tags::TRANSACTION_CURRENCY_CODE, 2),
    (tags::TRANSACTION_DATE, 3),
    (tags::TRANSACTION_TYPE, 1),
    (tags::UNPREDICTABLE_NUMBER, 4),
    (tags::AIP, 2),
    (tags::ATC, 2),
];

/// Length of the common elements.
const COMMON_LEN: usize = 33;
/// The longest data set: the common elements and a whole 32-byte IAD.
const MAX_DATA_LEN: usize = COMMON_LEN + 32;

/// A data set on the stack (no allocation on the verification path).
pub(crate) struct AcBuf {
    buf: [u8; MAX_DATA_LEN],
    len: usize,
}

impl AcBuf {
    fn new() -> Self {
        Self {
            buf: [0; MAX_DATA_LEN],
            len: 0,
        }
    }

    /// Appends `bytes`; None when they do not fit (never for validated inputs).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn lookup<'a>(
    tags: TagLookup<'_, 'a>,
    tag: Tag,
    expected: ExpectedLen,
) -> Result<&'a [u8], CryptoError> {
    let v = tags(tag).ok_or(CryptoError::MissingTag(tag))?;
    if expected.admits(v.len()) {
        Ok(v)
    } else {
        Err(CryptoError::BadLength {
            tag,
            expected,
            got: v.len(),
        })
    }
}

/// The transaction's data elements, read and length-checked once.
pub(crate) struct TxnFields<'a> {
    common: [&'a [u8]; 10],
    pub(crate) iad: &'a [u8],
}

impl<'a> TxnFields<'a> {
    pub(crate) fn read(tags: TagLookup<'_, 'a>, iad_len: ExpectedLen) -> Result<Self, CryptoError> {
        let mut common: [&'a [u8]; 10] = [&[]; 10];
        for (slot, (tag, len)) in common.iter_mut().zip(COMMON) {
            *slot = lookup(tags, tag, ExpectedLen::Exactly(len))?;
        }
        let iad = lookup(tags, tags::IAD, iad_len)?;
        Ok(Self { common, iad })
    }

    pub(crate) fn atc(&self) -> [u8; 2] {
        let mut atc = [0u8; 2];
        atc.copy_from_slice(self.common[9]);
        atc
    }

    pub(crate) fn un(&self) -> [u8; 4] {
        let mut un = [0u8; 4];
        un.copy_from_slice(self.common[7]);
        un
    }
}

/// Everything that decides a cryptogram, so that diagnosis can vary one component at a time.
#[derive(Clone, Copy)]
pub(crate) struct AcSpec<'a> {
    pub(crate) session_key: SessionKeyMethod,
    pub(crate) padding: Padding,
    pub(crate) iad_part: IadPart,
    /// The ATC the session key is derived from.
    pub(crate) key_atc: [u8; 2],
    /// The ATC written into the data set.
    pub(crate) data_atc: [u8; 2],
    /// The IAD the data set takes its tail from.
    pub(crate) iad: &'a [u8],
}

impl<'a> AcSpec<'a> {
    pub(crate) fn of(cvn: Cvn, fields: &TxnFields<'a>) -> Self {
        Self {
            session_key: cvn.session_key_method(),
            padding: cvn.padding(),
            iad_part: cvn.iad_part(),
            key_atc: fields.atc(),
            data_atc: fields.atc(),
            iad: fields.iad,
        }
    }
}

/// Runs `f` with the key schedule `method` calls for: the master key's own, or that of a session
/// key derived for this call only (its schedule is zeroized when `f` returns).
pub(crate) fn with_key<T>(
    mk: &Schedule,
    method: SessionKeyMethod,
    atc: [u8; 2],
    un: [u8; 4],
    f: impl FnOnce(&Schedule) -> T,
) -> Result<T, CryptoError> {
    let n = mk.algorithm().block_len();
    match method {
        SessionKeyMethod::None => Ok(f(mk)),
        SessionKeyMethod::Common => Ok(f(&session_schedule(mk, &ac_diversifier(atc)[..n])?)),
        SessionKeyMethod::Mastercard => {
            let r = mastercard_diversifier(mk.algorithm(), atc, un)?;
            Ok(f(&session_schedule(mk, &r)?))
        }
    }
}

fn build(fields: &TxnFields<'_>, spec: &AcSpec<'_>) -> Result<AcBuf, CryptoError> {
    let mut out = AcBuf::new();
    let too_long = || CryptoError::BadLength {
        tag: tags::IAD,
        expected: spec.iad_part.iad_len(),
        got: spec.iad.len(),
    };
    for v in &fields.common[..9] {
        out.push(v).ok_or_else(too_long)?;
    }
    out.push(&spec.data_atc).ok_or_else(too_long)?;
    spec.iad_part
        .extend(spec.iad, &mut out)
        .ok_or_else(too_long)?;
    Ok(out)
}

/// Computes the cryptogram for one specification (the single path behind generation,
/// verification and diagnosis).
pub(crate) fn compute(
    mk: &MasterKey,
    fields: &TxnFields<'_>,
    spec: &AcSpec<'_>,
) -> Result<[u8; 8], CryptoError> {
    let data = build(fields, spec)?;
    with_key(
        &mk.0.schedule,
        spec.session_key,
        spec.key_atc,
        fields.un(),
        |key| key.mac8(data.as_slice(), spec.padding),
    )
}

/// The data set a cryptogram version MACs: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36, then the
/// version's part of the IAD (9F10), every element length-checked. The card and the issuer call
/// the same function with their own lookups, so they cannot disagree on the composition.
pub fn ac_data<'a>(
    cvn: Cvn,
    tags: &dyn Fn(Tag) -> Option<&'a [u8]>,
) -> Result<Vec<u8>, CryptoError> {
    let fields = TxnFields::read(tags, cvn.iad_part().iad_len())?;
    let data = build(&fields, &AcSpec::of(cvn, &fields))?;
    Ok(data.as_slice().to_vec())
}

/// Generates the application cryptogram (ARQC, TC or AAC: the same computation) from the ICC
/// master key, deriving the session key the version requires from the ATC (9F36) and, for
/// Mastercard CVN 16/17, the unpredictable number (9F37) found through `tags`.
pub fn generate_ac<'a>(
    cvn: Cvn,
    icc_mk: &MasterKey,
    tags: &dyn Fn(Tag) -> Option<&'a [u8]>,
) -> Result<[u8; 8], CryptoError> {
    cvn.check_supported(icc_mk.algorithm())?;
    let fields = TxnFields::read(tags, cvn.iad_part().iad_len())?;
    compute(icc_mk, &fields, &AcSpec::of(cvn, &fields))
}

/// Verifies a presented cryptogram in constant time. Any failure, including a missing or
/// malformed data element, is the same opaque [`CryptogramMismatch`]; [`crate::diagnose`] tells
/// the operator why.
pub fn verify_ac<'a>(
    cvn: Cvn,
    icc_mk: &MasterKey,
    tags: &dyn Fn(Tag) -> Option<&'a [u8]>,
    presented: &[u8],
) -> Result<(), CryptogramMismatch> {
    let expected = generate_ac(cvn, icc_mk, tags).map_err(|_| CryptogramMismatch)?;
    if secret::ct_eq(&expected, presented) {
        Ok(())
    } else {
        Err(CryptogramMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    struct Txn(Vec<(Tag, Vec<u8>)>);

    impl Txn {
        fn visa18() -> Self {
            Self(vec![
                (tags::AMOUNT_AUTHORISED, h("000000004000")),
                (tags::AMOUNT_OTHER, h("000000000000")),
                (tags::TERMINAL_COUNTRY_CODE, h("0124")),
                (tags::TVR, h("8000048000")),
                (tags::TRANSACTION_CURRENCY_CODE, h("0124")),
                (tags::TRANSACTION_DATE, h("191105")),
                (tags::TRANSACTION_TYPE, h("01")),
                (tags::UNPREDICTABLE_NUMBER, h("52BF4585")),
                (tags::AIP, h("1800")),
                (tags::ATC, h("001C")),
                (tags::IAD, h("06011203A0B800")),
            ])
        }

        fn get(&self, tag: Tag) -> Option<&[u8]> {
            self.0
                .iter()
                .find(|(t, _)| *t == tag)
                .map(|(_, v)| v.as_slice())
        }
    }

    fn icc_mk() -> MasterKey {
        // ICC MK of PAN 1234567890123456 / PSN 00 under IMK 0123..3210 (KCV BAB0).
        let imk =
            MasterKey::new(KeyAlgorithm::Tdes2, &h("0123456789ABCDEFFEDCBA9876543210")).unwrap();
        crate::derive_icc_master_key(Cvn::Visa18, &imk, "1234567890123456", 0).unwrap()
    }

    #[test]
    fn data_set_composition() {
        let t = Txn::visa18();
        let data = ac_data(Cvn::Visa18, &|tag| t.get(tag)).unwrap();
        // The HSM-checked data of pyemv tests/test_kd_hsm.py test_derive_icc_mk_b_sha_pad.
        assert_eq!(
            hex::encode_upper(&data),
            "0000000040000000000000000124800004800001241911050152BF45851800001C06011203A0B800"
        );
        let cvr = ac_data(Cvn::Visa10, &|tag| t.get(tag)).unwrap();
        assert_eq!(hex::encode_upper(&cvr[33..]), "03A0B800");
    }

    #[test]
    fn errors_name_the_tag() {
        let mut t = Txn::visa18();
        t.0.retain(|(tag, _)| *tag != tags::UNPREDICTABLE_NUMBER);
        assert_eq!(
            ac_data(Cvn::Visa18, &|tag| t.get(tag)),
            Err(CryptoError::MissingTag(tags::UNPREDICTABLE_NUMBER))
        );
        let mut t = Txn::visa18();
        t.0[0].1.pop();
        let e = ac_data(Cvn::Visa18, &|tag| t.get(tag)).unwrap_err();
        assert_eq!(
            e,
            CryptoError::BadLength {
                tag: tags::AMOUNT_AUTHORISED,
                expected: ExpectedLen::Exactly(6),
                got: 5
            }
        );
        assert_eq!(e.to_string(), "data element 9F02 has 5 bytes, expected 6");
        // A 7-byte IAD holds no M/Chip counters.
        let t = Txn::visa18();
        assert!(matches!(
            ac_data(Cvn::Mastercard17, &|tag| t.get(tag)),
            Err(CryptoError::BadLength { tag: tags::IAD, .. })
        ));
    }

    #[test]
    fn generate_and_verify() {
        let t = Txn::visa18();
        let mk = icc_mk();
        let ac = generate_ac(Cvn::Visa18, &mk, &|tag| t.get(tag)).unwrap();
        assert_eq!(hex::encode_upper(ac), "7A788EA6B8A3E733");
        assert_eq!(verify_ac(Cvn::Visa18, &mk, &|tag| t.get(tag), &ac), Ok(()));
        assert_eq!(
            verify_ac(Cvn::Visa18, &mk, &|tag| t.get(tag), &ac[..7]),
            Err(CryptogramMismatch)
        );
        assert_eq!(
            verify_ac(Cvn::Visa10, &mk, &|tag| t.get(tag), &ac),
            Err(CryptogramMismatch)
        );
        assert_eq!(
            verify_ac(Cvn::Visa18, &mk, &|_| None, &ac),
            Err(CryptogramMismatch)
        );
    }

    #[test]
    fn aes_keys_only_where_defined() {
        let t = Txn::visa18();
        let mk = MasterKey::new(KeyAlgorithm::Aes128, &[0x11; 16]).unwrap();
        assert!(generate_ac(Cvn::Visa18, &mk, &|tag| t.get(tag)).is_ok());
        assert!(matches!(
            generate_ac(Cvn::Visa10, &mk, &|tag| t.get(tag)),
            Err(CryptoError::UnsupportedAlgorithm { .. })
        ));
    }
}
