//! Keys that carry their algorithm, and session key derivation (EMV Book 2 A1.3).

use core::fmt;

use secret::Secret;
use zeroize::Zeroizing;

use crate::arpc::arpc_with;
use crate::primitives::{AesKey, Kcv, Padding, Tdes2, adjust_odd_parity};
use crate::{ArpcResponse, CryptoError};

/// The block cipher and key length of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// Double-length (16-byte, two-key EDE) Triple DES.
    Tdes2,
    /// AES with a 16-byte key.
    Aes128,
    /// AES with a 24-byte key.
    Aes192,
    /// AES with a 32-byte key.
    Aes256,
}

impl KeyAlgorithm {
    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Tdes2 | Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
        }
    }

    /// Block length in bytes (n in EMV Book 2).
    pub const fn block_len(self) -> usize {
        match self {
            Self::Tdes2 => 8,
            Self::Aes128 | Self::Aes192 | Self::Aes256 => 16,
        }
    }

    /// True for the AES variants.
    pub const fn is_aes(self) -> bool {
        !matches!(self, Self::Tdes2)
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tdes2 => "double-length 3DES",
            Self::Aes128 => "AES-128",
            Self::Aes192 => "AES-192",
            Self::Aes256 => "AES-256",
        })
    }
}

/// A precomputed key schedule (no key bytes kept beside it). Unboxed on purpose: session key
/// schedules are made per transaction and must not allocate.
#[expect(
    clippy::large_enum_variant,
    reason = "unboxed on purpose: session keys are made per transaction and must not allocate"
)]
pub(crate) enum Schedule {
    Tdes(Tdes2),
    Aes(AesKey),
}

impl Schedule {
    pub(crate) fn new(algorithm: KeyAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        let bad = CryptoError::BadKeyLength {
            algorithm,
            got: key.len(),
        };
        if key.len() != algorithm.key_len() {
            return Err(bad);
        }
        Ok(match algorithm {
            KeyAlgorithm::Tdes2 => {
                let mut k = Zeroizing::new([0u8; 16]);
                k.copy_from_slice(key);
                Self::Tdes(Tdes2::new(&k))
            }
            _ => Self::Aes(AesKey::new(key).ok_or(bad)?),
        })
    }

    pub(crate) fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Tdes(_) => KeyAlgorithm::Tdes2,
            Self::Aes(a) => a.algorithm(),
        }
    }

    pub(crate) fn tdes(&self) -> Option<&Tdes2> {
        match self {
            Self::Tdes(t) => Some(t),
            Self::Aes(_) => None,
        }
    }

    pub(crate) fn kcv(&self) -> Kcv {
        let mut out = [0u8; 3];
        match self {
            Self::Tdes(t) => out.copy_from_slice(&t.encrypt([0; 8])[..3]),
            Self::Aes(a) => out.copy_from_slice(&a.cmac(&[0; 16])[..3]),
        }
        Kcv(out)
    }

    /// The MAC used for application cryptograms and ARPC method 2 (EMV Book 2 A1.2): ISO/IEC
    /// 9797-1 MAC algorithm 3 with `padding` for 3DES, AES-CMAC for AES (which pads internally,
    /// so `padding` does not apply).
    pub(crate) fn mac8(&self, data: &[u8], padding: Padding) -> [u8; 8] {
        let mut out = [0u8; 8];
        match self {
            Self::Tdes(t) => out = t.retail_mac(data, padding),
            Self::Aes(a) => out.copy_from_slice(&a.cmac(data)[..8]),
        }
        out
    }
}

/// Key bytes (zeroized on drop) with their precomputed key schedule.
pub(crate) struct KeyMaterial {
    bytes: Secret<[u8; 32]>,
    pub(crate) schedule: Schedule,
}

impl KeyMaterial {
    fn new(algorithm: KeyAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        let schedule = Schedule::new(algorithm, key)?;
        let mut bytes = Secret::new([0u8; 32]);
        bytes.expose_mut()[..key.len()].copy_from_slice(key);
        Ok(Self { bytes, schedule })
    }

    pub(crate) fn algorithm(&self) -> KeyAlgorithm {
        self.schedule.algorithm()
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.bytes.expose()[..self.algorithm().key_len()]
    }

    pub(crate) fn kcv(&self) -> Kcv {
        self.schedule.kcv()
    }

    pub(crate) fn mac8(&self, data: &[u8], padding: Padding) -> [u8; 8] {
        self.schedule.mac8(data, padding)
    }
}

/// An issuer master key or an ICC master key, with its algorithm.
///
/// `Debug` shows the algorithm and the key check value only; the bytes are zeroized on drop and
/// leave only through [`MasterKey::expose_secret`].
pub struct MasterKey(pub(crate) KeyMaterial);

impl MasterKey {
    /// A key from its bytes: 16 for [`KeyAlgorithm::Tdes2`] and [`KeyAlgorithm::Aes128`], 24 for
    /// AES-192, 32 for AES-256. DES parity bits are taken as given (DES ignores them).
    pub fn new(algorithm: KeyAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        KeyMaterial::new(algorithm, key).map(Self)
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.0.algorithm()
    }

    /// The key check value (see [`Kcv`] for the convention per algorithm).
    pub fn kcv(&self) -> Kcv {
        self.0.kcv()
    }

    /// The key bytes. Every call site is a place where key material leaves the box (card
    /// personalisation, key export under a KEK).
    pub fn expose_secret(&self) -> &[u8] {
        self.0.expose()
    }

    /// The cryptogram MAC of EMV Book 2 A1.2 with this key: ISO/IEC 9797-1 MAC algorithm 3 with
    /// `padding` for 3DES, the first 8 bytes of AES-CMAC for AES (`padding` does not apply).
    pub fn mac(&self, data: &[u8], padding: Padding) -> [u8; 8] {
        self.0.mac8(data, padding)
    }

    /// The ARPC alone (EMV Book 2 8.2) computed with this key: 8 bytes for method 1 (3DES only),
    /// 4 bytes for method 2.
    pub fn arpc(&self, arqc: &[u8; 8], response: &ArpcResponse) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(8);
        arpc_with(&self.0.schedule, arqc, response, &mut out)?;
        Ok(out)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("algorithm", &self.algorithm())
            .field("kcv", &self.kcv())
            .finish()
    }
}

/// A session key derived from an ICC master key. `Debug` shows the algorithm and KCV only.
pub struct SessionKey(pub(crate) KeyMaterial);

impl SessionKey {
    /// The key's algorithm (that of its master key).
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.0.algorithm()
    }

    /// The key check value.
    pub fn kcv(&self) -> Kcv {
        self.0.kcv()
    }

    /// The key bytes (for tests and for handing the key to a card simulator).
    pub fn expose_secret(&self) -> &[u8] {
        self.0.expose()
    }

    /// The cryptogram MAC of EMV Book 2 A1.2 with this key: ISO/IEC 9797-1 MAC algorithm 3 with
    /// `padding` for 3DES, the first 8 bytes of AES-CMAC for AES (`padding` does not apply).
    pub fn mac(&self, data: &[u8], padding: Padding) -> [u8; 8] {
        self.0.mac8(data, padding)
    }

    /// The ARPC alone (EMV Book 2 8.2) computed with this key: 8 bytes for method 1 (3DES only),
    /// 4 bytes for method 2.
    pub fn arpc(&self, arqc: &[u8; 8], response: &ArpcResponse) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(8);
        arpc_with(&self.0.schedule, arqc, response, &mut out)?;
        Ok(out)
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKey")
            .field("algorithm", &self.algorithm())
            .field("kcv", &self.kcv())
            .finish()
    }
}

/// How a cryptogram version derives its application cryptogram session key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionKeyMethod {
    /// No session key: the ICC master key is used directly (Visa CVN 10).
    None,
    /// EMV common session key derivation (Book 2 A1.3.1) with R = ATC || 00 .. 00.
    Common,
    /// The Mastercard derivation: the common derivation with R = ATC || 00 00 || UN.
    Mastercard,
}

impl fmt::Display for SessionKeyMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "no session key (the ICC master key)",
            Self::Common => "the EMV common session key (R = ATC || 00..00)",
            Self::Mastercard => "the Mastercard session key (R = ATC || 00 00 || UN)",
        })
    }
}

/// EMV common session key derivation, EMV 4.3 Book 2 A1.3.1, for a diversification value `r` of
/// one block (8 bytes for 3DES, 16 for AES):
///
/// * k = n (AES-128): SK := AES(MK)\[R\];
/// * k > n (3DES-112, AES-192, AES-256): SK := leftmost k bytes of ALG(MK)\[F1\] || ALG(MK)\[F2\]
///   with F1 := R0 || R1 || F0 || R3 .. and F2 := R0 || R1 || 0F || R3 ..;
///
/// 3DES session keys get odd DES parity, as pyemv and HSMs produce them.
pub fn derive_common_session_key(mk: &MasterKey, r: &[u8]) -> Result<SessionKey, CryptoError> {
    common_session_key(&mk.0, r).map(SessionKey)
}

/// The diversification value of limited-use key number `key_index`: `"LU"`, a byte the common
/// session key derivation overwrites (F0 / 0F), the index big-endian, then zeros to one block.
pub fn limited_use_key_r(key_index: u32) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[0] = b'L';
    r[1] = b'U';
    r[3..7].copy_from_slice(&key_index.to_be_bytes());
    r
}

/// A limited-use key (LUK) for host card emulation: key number `key_index` of a token, derived
/// from the token's ICC master key (MK-AC) with the EMV common session key derivation (EMV 4.3
/// Book 2 A1.3.1) over [`limited_use_key_r`] (its first block-length bytes).
///
/// A LUK takes the master key's place in the phone's card application: session keys and
/// cryptograms are derived from it exactly as from MK-AC, so the network verifies a cryptogram
/// by deriving the LUK the ATC belongs to. The phone never holds MK-AC, only a batch of LUKs,
/// each good for a range of ATCs and until it expires. (The schemes' own LUK derivations are
/// not public; this one composes a published derivation, checked against pyemv's
/// `kd.derive_common_sk`.)
pub fn derive_limited_use_key(mk: &MasterKey, key_index: u32) -> Result<MasterKey, CryptoError> {
    let r = limited_use_key_r(key_index);
    common_session_key(&mk.0, &r[..mk.algorithm().block_len()]).map(MasterKey)
}

pub(crate) fn common_session_key(mk: &KeyMaterial, r: &[u8]) -> Result<KeyMaterial, CryptoError> {
    let bytes = session_key_bytes(&mk.schedule, r)?;
    KeyMaterial::new(mk.algorithm(), &bytes[..mk.algorithm().key_len()])
}

/// The session key's schedule alone (the verification path needs no key bytes kept).
pub(crate) fn session_schedule(mk: &Schedule, r: &[u8]) -> Result<Schedule, CryptoError> {
    let bytes = session_key_bytes(mk, r)?;
    Schedule::new(mk.algorithm(), &bytes[..mk.algorithm().key_len()])
}

/// The common session key derivation itself; the key is the first k bytes of the result.
fn session_key_bytes(mk: &Schedule, r: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let alg = mk.algorithm();
    let n = alg.block_len();
    if r.len() != n {
        return Err(CryptoError::BadDiversificationValue {
            expected: n,
            got: r.len(),
        });
    }
    let mut sk = Zeroizing::new([0u8; 32]);
    match mk {
        Schedule::Tdes(t) => {
            let mut f1 = [0u8; 8];
            f1.copy_from_slice(r);
            let mut f2 = f1;
            f1[2] = 0xF0;
            f2[2] = 0x0F;
            sk[..8].copy_from_slice(&t.encrypt(f1));
            sk[8..16].copy_from_slice(&t.encrypt(f2));
            adjust_odd_parity(&mut sk[..16]);
        }
        Schedule::Aes(a) => {
            let mut f1 = [0u8; 16];
            f1.copy_from_slice(r);
            if alg == KeyAlgorithm::Aes128 {
                sk[..16].copy_from_slice(&a.encrypt(f1));
            } else {
                let mut f2 = f1;
                f1[2] = 0xF0;
                f2[2] = 0x0F;
                sk[..16].copy_from_slice(&a.encrypt(f1));
                sk[16..].copy_from_slice(&a.encrypt(f2));
            }
        }
    }
    Ok(sk)
}

/// R for the application cryptogram session key: ATC || 00 .. 00 (one block).
pub(crate) fn ac_diversifier(atc: [u8; 2]) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[..2].copy_from_slice(&atc);
    r
}

/// R for the Mastercard session key: ATC || 00 00 || UN (3DES only).
pub(crate) fn mastercard_diversifier(
    algorithm: KeyAlgorithm,
    atc: [u8; 2],
    un: [u8; 4],
) -> Result<[u8; 8], CryptoError> {
    if algorithm != KeyAlgorithm::Tdes2 {
        return Err(CryptoError::UnsupportedAlgorithm {
            algorithm,
            operation: "Mastercard session key derivation",
        });
    }
    let mut r = [0u8; 8];
    r[..2].copy_from_slice(&atc);
    r[4..].copy_from_slice(&un);
    Ok(r)
}

/// The application cryptogram session key of EMV Book 2 8.1.2 / A1.3.1: the common derivation
/// with R = ATC || 00 .. 00 (n - 2 zero bytes).
pub fn derive_ac_session_key(mk: &MasterKey, atc: [u8; 2]) -> Result<SessionKey, CryptoError> {
    ac_session_key(&mk.0, atc).map(SessionKey)
}

fn ac_session_key(mk: &KeyMaterial, atc: [u8; 2]) -> Result<KeyMaterial, CryptoError> {
    common_session_key(mk, &ac_diversifier(atc)[..mk.algorithm().block_len()])
}

/// The Mastercard session key (M/Chip CVN 16/17, as pyemv's Mastercard derivation): the common
/// derivation with R = ATC || 00 00 || UN. Double-length 3DES only.
pub fn derive_mastercard_session_key(
    mk: &MasterKey,
    atc: [u8; 2],
    un: [u8; 4],
) -> Result<SessionKey, CryptoError> {
    let r = mastercard_diversifier(mk.algorithm(), atc, un)?;
    common_session_key(&mk.0, &r).map(SessionKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn key_lengths_are_checked() {
        assert!(MasterKey::new(KeyAlgorithm::Tdes2, &[0; 16]).is_ok());
        assert!(MasterKey::new(KeyAlgorithm::Aes192, &[0; 24]).is_ok());
        let e = MasterKey::new(KeyAlgorithm::Aes256, &[0; 16]).unwrap_err();
        assert_eq!(
            e,
            CryptoError::BadKeyLength {
                algorithm: KeyAlgorithm::Aes256,
                got: 16
            }
        );
        assert!(!e.to_string().contains("00"));
    }

    #[test]
    fn debug_shows_algorithm_and_kcv_only() {
        let k =
            MasterKey::new(KeyAlgorithm::Tdes2, &h("0123456789ABCDEFFEDCBA9876543210")).unwrap();
        let d = format!("{k:?}");
        assert!(
            d.starts_with("MasterKey { algorithm: Tdes2, kcv: Kcv(08D7"),
            "{d}"
        );
        assert!(
            !d.contains("0123") && !d.contains("FEDC") && !d.contains("[1"),
            "{d}"
        );
        let sk = derive_ac_session_key(&k, [0x00, 0x1C]).unwrap();
        assert!(!format!("{sk:?}").contains(&hex::encode_upper(&sk.expose_secret()[..4])));
    }

    #[test]
    fn pyemv_common_session_key_doc_example() {
        // pyemv kd.derive_common_sk docstring: MK 0123..3210, R 001C000000000000.
        let mk =
            MasterKey::new(KeyAlgorithm::Tdes2, &h("0123456789ABCDEFFEDCBA9876543210")).unwrap();
        let sk = derive_common_session_key(&mk, &h("001C000000000000")).unwrap();
        assert_eq!(
            hex::encode_upper(sk.expose_secret()),
            "E9FB384AF807B940FEDCEA613461B0C4"
        );
        assert_eq!(
            derive_ac_session_key(&mk, [0x00, 0x1C])
                .unwrap()
                .expose_secret(),
            sk.expose_secret()
        );
        assert!(derive_common_session_key(&mk, &[0; 16]).is_err());
    }

    #[test]
    fn aes_session_keys_have_the_master_key_length() {
        for (alg, len) in [
            (KeyAlgorithm::Aes128, 16),
            (KeyAlgorithm::Aes192, 24),
            (KeyAlgorithm::Aes256, 32),
        ] {
            let mk = MasterKey::new(alg, &vec![0x5A; len]).unwrap();
            let sk = derive_ac_session_key(&mk, [0, 1]).unwrap();
            assert_eq!(sk.algorithm(), alg);
            assert_eq!(sk.expose_secret().len(), len);
            assert!(derive_mastercard_session_key(&mk, [0, 1], [1, 2, 3, 4]).is_err());
        }
    }
}
