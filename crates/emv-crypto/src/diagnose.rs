//! Operator-side diagnosis of a cryptogram that does not verify: which single component
//! (cryptogram version, padding, session key, master key derivation, PSN, ATC, IAD length)
//! would make it verify.

use core::fmt;

use tlv::Tag;

use crate::ac::{AcSpec, TxnFields, compute};
use crate::{
    CryptoError, Cvn, ExpectedLen, IadPart, MasterKey, MkDerivation, Padding, SessionKeyMethod,
    derive_icc_master_key_with, tags,
};

/// Where a different ATC makes the cryptogram verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtcScope {
    /// Both in the session key and in the data set: the ATC sent is not the card's.
    Both,
    /// Only in the data set (the session key uses the ATC sent).
    DataOnly,
    /// Only in the session key derivation (the data set carries the ATC sent).
    SessionKeyOnly,
}

/// The outcome of [`diagnose`]. `Display` is a sentence for the operator; it never contains key
/// bytes (nor PAN digits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Diagnosis {
    /// The cryptogram verifies as presented.
    Verifies {
        /// The version it verifies with.
        cvn: Cvn,
    },
    /// It verifies with another cryptogram version (data set, padding or session key method).
    OtherCvn {
        /// The version the host used (the hint, else the IAD's).
        expected: Cvn,
        /// The version that verifies.
        actual: Cvn,
    },
    /// It verifies with the other ISO/IEC 9797-1 padding method.
    Padding {
        /// The version checked.
        cvn: Cvn,
        /// The version's padding.
        expected: Padding,
        /// The padding that verifies.
        actual: Padding,
    },
    /// It verifies with another session key derivation.
    SessionKey {
        /// The version checked.
        cvn: Cvn,
        /// The version's derivation.
        expected: SessionKeyMethod,
        /// The derivation that verifies.
        actual: SessionKeyMethod,
    },
    /// It verifies with the other ICC master key derivation option.
    KeyDerivation {
        /// The option the PAN length prescribes.
        expected: MkDerivation,
        /// The option that verifies.
        actual: MkDerivation,
    },
    /// It verifies with another PAN Sequence Number in the master key derivation.
    Psn {
        /// The PSN given (5F34 byte).
        given: u8,
        /// The PSN that verifies.
        actual: u8,
    },
    /// It verifies with a nearby ATC.
    Atc {
        /// The ATC in the transaction data.
        presented: u16,
        /// The ATC that verifies.
        actual: u16,
        /// Where the other ATC goes.
        scope: AtcScope,
    },
    /// It verifies over a prefix of the IAD.
    IadTruncated {
        /// The version checked.
        cvn: Cvn,
        /// The number of leading IAD bytes that verify.
        used: usize,
        /// The IAD length presented.
        presented: usize,
    },
    /// No single change explains the mismatch.
    NoSingleComponent,
    /// The check could not be made (a data element is missing or malformed, no CVN is known,
    /// or the key cannot be derived).
    CannotCheck(CryptoError),
}

impl Diagnosis {
    /// True when the cryptogram verified as presented.
    pub fn verifies(&self) -> bool {
        matches!(self, Self::Verifies { .. })
    }
}

fn differences(expected: Cvn, actual: Cvn) -> String {
    let mut parts = Vec::new();
    if expected.session_key_method() != actual.session_key_method() {
        parts.push(format!(
            "session key: {} instead of {}",
            actual.session_key_method(),
            expected.session_key_method()
        ));
    }
    if expected.iad_part() != actual.iad_part() {
        parts.push(format!(
            "data set ends with {} instead of {}",
            actual.iad_part(),
            expected.iad_part()
        ));
    }
    if expected.padding() != actual.padding() {
        parts.push(format!(
            "{} instead of {}",
            actual.padding(),
            expected.padding()
        ));
    }
    parts.join("; ")
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verifies { cvn } => write!(f, "cryptogram verifies ({cvn})"),
            Self::OtherCvn { expected, actual } => write!(
                f,
                "cryptogram verifies as {actual} instead of {expected} ({}): the card and the \
                 host disagree on the cryptogram version",
                differences(*expected, *actual)
            ),
            Self::Padding {
                cvn,
                expected,
                actual,
            } => write!(
                f,
                "cryptogram verifies with padding method {} instead of {} ({cvn})",
                actual.number(),
                expected.number()
            ),
            Self::SessionKey {
                cvn,
                expected,
                actual,
            } => write!(
                f,
                "cryptogram verifies with {actual} instead of {expected} ({cvn})"
            ),
            Self::KeyDerivation { expected, actual } => write!(
                f,
                "cryptogram verifies with ICC master key derivation {actual} instead of \
                 {expected}: the card was personalised with the other option"
            ),
            Self::Psn { given, actual } => write!(
                f,
                "cryptogram verifies with PSN {actual:02X} instead of {given:02X}: the card's \
                 master key was derived with another PAN sequence number"
            ),
            Self::Atc {
                presented,
                actual,
                scope: AtcScope::Both,
            } => write!(
                f,
                "verifies with ATC 0x{actual:04X} instead of 0x{presented:04X}: the ATC in the \
                 data set was altered"
            ),
            Self::Atc {
                presented,
                actual,
                scope: AtcScope::DataOnly,
            } => write!(
                f,
                "verifies when the data set carries ATC 0x{actual:04X} while the session key \
                 uses 0x{presented:04X}: the ATC in the data set was altered after the card \
                 computed the cryptogram"
            ),
            Self::Atc {
                presented,
                actual,
                scope: AtcScope::SessionKeyOnly,
            } => write!(
                f,
                "verifies when the session key is derived from ATC 0x{actual:04X} while the \
                 data set carries 0x{presented:04X}: the card derives its session key from \
                 another counter"
            ),
            Self::IadTruncated {
                cvn,
                used,
                presented,
            } => write!(
                f,
                "cryptogram verifies over the first {used} of the {presented} IAD bytes \
                 ({cvn}): the IAD was extended or truncated between card and host"
            ),
            Self::NoSingleComponent => f.write_str(
                "no single-component change explains the mismatch: wrong issuer master key, \
                 PAN/PSN, or an altered amount/UN/data element",
            ),
            Self::CannotCheck(e) => write!(f, "cannot check the cryptogram: {e}"),
        }
    }
}

/// Finds which component disagrees when a cryptogram does not verify.
///
/// Derives the ICC master key from `imk` (the option the PAN length prescribes), checks the
/// cryptogram with `cvn_hint` (else the CVN the IAD names), and if it fails tries, one at a time:
/// the IAD's CVN and every other version, the other padding, the other session key methods, the
/// other master key derivation option, PSN 00, ATCs within 16 of the presented one (in the data
/// set, the session key or both) and every shorter prefix of the IAD. The first change that
/// verifies is returned. Meant for the operator's log and tools, not for the wire, and not
/// constant time.
pub fn diagnose<'a>(
    imk: &MasterKey,
    pan_digits: &str,
    psn: u8,
    cvn_hint: Option<Cvn>,
    tags: &dyn Fn(Tag) -> Option<&'a [u8]>,
    presented_ac: &[u8],
) -> Diagnosis {
    match run(imk, pan_digits, psn, cvn_hint, tags, presented_ac) {
        Ok(d) => d,
        Err(e) => Diagnosis::CannotCheck(e),
    }
}

fn run<'a>(
    imk: &MasterKey,
    pan_digits: &str,
    psn: u8,
    cvn_hint: Option<Cvn>,
    tags: &dyn Fn(Tag) -> Option<&'a [u8]>,
    presented: &[u8],
) -> Result<Diagnosis, CryptoError> {
    let iad_cvn = tags(tags::IAD).map(Cvn::from_iad).and_then(Result::ok);
    let primary = match (cvn_hint, iad_cvn) {
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => match tags(tags::IAD) {
            Some(iad) => {
                return Err(Cvn::from_iad(iad)
                    .err()
                    .unwrap_or(CryptoError::MissingTag(tags::IAD)));
            }
            None => return Err(CryptoError::MissingTag(tags::IAD)),
        },
    };
    let option = primary.mk_derivation(pan_digits.len());
    let icc_mk = derive_icc_master_key_with(imk, pan_digits, psn, option)?;
    primary.check_supported(icc_mk.algorithm())?;
    // Every IAD length is accepted here; each trial checks the bytes its version needs.
    let fields = TxnFields::read(tags, ExpectedLen::Between(1, 32))?;
    let base = AcSpec::of(primary, &fields);
    // The presented version must at least be computable, or nothing can be compared.
    compute(&icc_mk, &fields, &base)?;

    let ok = |mk: &MasterKey, spec: &AcSpec<'_>| {
        compute(mk, &fields, spec).is_ok_and(|ac| secret::ct_eq(&ac, presented))
    };
    if ok(&icc_mk, &base) {
        return Ok(Diagnosis::Verifies { cvn: primary });
    }

    // The cryptogram version: the IAD's first, then every other one.
    let others = iad_cvn.into_iter().chain(Cvn::ALL);
    for cvn in others.filter(|c| *c != primary && c.supports(icc_mk.algorithm())) {
        if ok(&icc_mk, &AcSpec::of(cvn, &fields)) {
            return Ok(Diagnosis::OtherCvn {
                expected: primary,
                actual: cvn,
            });
        }
    }

    // The padding.
    let padding = primary.padding().other();
    if ok(&icc_mk, &AcSpec { padding, ..base }) {
        return Ok(Diagnosis::Padding {
            cvn: primary,
            expected: primary.padding(),
            actual: padding,
        });
    }

    // The session key method.
    for method in [
        SessionKeyMethod::None,
        SessionKeyMethod::Common,
        SessionKeyMethod::Mastercard,
    ] {
        if method != base.session_key
            && ok(
                &icc_mk,
                &AcSpec {
                    session_key: method,
                    ..base
                },
            )
        {
            return Ok(Diagnosis::SessionKey {
                cvn: primary,
                expected: base.session_key,
                actual: method,
            });
        }
    }

    // The master key derivation option (only differs above 16 digits).
    if pan_digits.len() > 16 {
        let other = match option {
            MkDerivation::OptionA => MkDerivation::OptionB,
            MkDerivation::OptionB => MkDerivation::OptionA,
        };
        let mk = derive_icc_master_key_with(imk, pan_digits, psn, other)?;
        if ok(&mk, &base) {
            return Ok(Diagnosis::KeyDerivation {
                expected: option,
                actual: other,
            });
        }
    }

    // The PSN: the one the card reported in the data (5F34), then 00 (PSN absent).
    let card_psn = tags(tags::PAN_SEQUENCE_NUMBER).and_then(|p| p.first().copied());
    let mut candidates = [card_psn, Some(0)];
    if candidates[0] == Some(0) {
        candidates[1] = None;
    }
    for candidate in candidates.into_iter().flatten().filter(|&c| c != psn) {
        let Ok(mk) = derive_icc_master_key_with(imk, pan_digits, candidate, option) else {
            continue;
        };
        if ok(&mk, &base) {
            return Ok(Diagnosis::Psn {
                given: psn,
                actual: candidate,
            });
        }
    }

    // Nearby ATCs, nearest first.
    let atc = u16::from_be_bytes(fields.atc());
    for delta in 1..=16u16 {
        for candidate in [atc.checked_sub(delta), atc.checked_add(delta)]
            .into_iter()
            .flatten()
        {
            let c = candidate.to_be_bytes();
            let trials = [
                (
                    AtcScope::Both,
                    AcSpec {
                        key_atc: c,
                        data_atc: c,
                        ..base
                    },
                ),
                (
                    AtcScope::DataOnly,
                    AcSpec {
                        data_atc: c,
                        ..base
                    },
                ),
                (AtcScope::SessionKeyOnly, AcSpec { key_atc: c, ..base }),
            ];
            for (scope, spec) in trials {
                // Without a session key the ATC only enters the data set.
                let meaningful =
                    base.session_key != SessionKeyMethod::None || scope != AtcScope::SessionKeyOnly;
                if meaningful && ok(&icc_mk, &spec) {
                    return Ok(Diagnosis::Atc {
                        presented: atc,
                        actual: candidate,
                        scope,
                    });
                }
            }
        }
    }

    // A shorter IAD (only where the whole IAD is in the data set).
    if base.iad_part == IadPart::Whole {
        for used in (1..fields.iad.len()).rev() {
            if let Some(prefix) = fields.iad.get(..used)
                && ok(
                    &icc_mk,
                    &AcSpec {
                        iad: prefix,
                        ..base
                    },
                )
            {
                return Ok(Diagnosis::IadTruncated {
                    cvn: primary,
                    used,
                    presented: fields.iad.len(),
                });
            }
        }
    }

    Ok(Diagnosis::NoSingleComponent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;

    #[test]
    fn sentences() {
        let d = Diagnosis::Padding {
            cvn: Cvn::Visa18,
            expected: Padding::Method2,
            actual: Padding::Method1,
        };
        assert_eq!(
            d.to_string(),
            "cryptogram verifies with padding method 1 instead of 2 (Visa CVN 18)"
        );
        let d = Diagnosis::OtherCvn {
            expected: Cvn::Visa10,
            actual: Cvn::Visa18,
        };
        let s = d.to_string();
        assert!(s.contains("session key: the EMV common session key"), "{s}");
        assert!(
            s.contains("data set ends with the whole IAD instead of the Visa CVR"),
            "{s}"
        );
        assert!(
            s.contains("padding method 2 instead of padding method 1"),
            "{s}"
        );
        let d = Diagnosis::Atc {
            presented: 0x12,
            actual: 0x11,
            scope: AtcScope::Both,
        };
        assert_eq!(
            d.to_string(),
            "verifies with ATC 0x0011 instead of 0x0012: the ATC in the data set was altered"
        );
        assert!(!Diagnosis::NoSingleComponent.verifies());
    }

    #[test]
    fn aes_issuer_keys_cannot_be_checked() {
        let imk = MasterKey::new(KeyAlgorithm::Aes128, &[1; 16]).unwrap();
        let iad = [0x06, 0x01, 0x12, 0x03, 0xA0, 0xB8, 0x00];
        let d = diagnose(
            &imk,
            "1234567890123456",
            0,
            None,
            &|t| (t == tags::IAD).then_some(&iad[..]),
            &[0; 8],
        );
        assert!(
            matches!(
                d,
                Diagnosis::CannotCheck(CryptoError::UnsupportedAlgorithm { .. })
            ),
            "{d:?}"
        );
        let d = diagnose(&imk, "1234567890123456", 0, None, &|_| None, &[0; 8]);
        assert_eq!(
            d,
            Diagnosis::CannotCheck(CryptoError::MissingTag(tags::IAD))
        );
    }
}
