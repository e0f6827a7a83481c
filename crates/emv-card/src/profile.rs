//! The card's personalization: what an issuer (or, for a token, the token service) writes into
//! the application before it is used, and the records and lists derived from it.

use cards::{Currency, Expiry, Pan, Track2};
use emv_crypto::{Cvn, MasterKey};
use secret::Secret;
use tlv::{Builder, Dol, DolEntry, Tag};

use emv::tags;

/// The payment scheme, which decides the contactless path the card follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Mastercard M/Chip: GPO returns AIP/AFL, records are read, GENERATE AC over CDOL1
    /// (Kernel 2 on the terminal).
    Mastercard,
    /// Visa qVSDC: the cryptogram is in the GPO response (Kernel 3 on the terminal).
    Visa,
}

impl Scheme {
    /// The registered application identifier of the scheme's credit/debit application.
    pub fn default_aid(self) -> &'static [u8] {
        match self {
            Self::Mastercard => &[0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10],
            Self::Visa => &[0xA0, 0x00, 0x00, 0x00, 0x03, 0x10, 0x10],
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mastercard => "mastercard",
            Self::Visa => "visa",
        }
    }
}

/// Life-cycle state of the application, as the issuer or token service set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppState {
    /// Usable.
    Active,
    /// Temporarily blocked (device reported lost, issuer hold): SELECT answers `6A81`.
    Suspended,
    /// Removed: not listed in the PPSE, SELECT answers `6A82`.
    Deleted,
}

/// Personalization data of one contactless payment application.
#[derive(Debug)]
pub struct CardProfile {
    /// Scheme and therefore transaction path.
    pub scheme: Scheme,
    /// Application identifier (`4F`).
    pub aid: Vec<u8>,
    /// Application label (`50`), printable ASCII.
    pub label: String,
    /// Application priority indicator (`87`), 1 = highest.
    pub priority: u8,
    /// The PAN (for a wallet token, the DPAN).
    pub pan: Pan,
    /// PAN sequence number (`5F34`).
    pub psn: u8,
    /// Expiry (`5F24`).
    pub expiry: Expiry,
    /// Cardholder name (`5F20`), as on the card.
    pub cardholder_name: String,
    /// Service code on Track 2, e.g. `201`.
    pub service_code: [u8; 3],
    /// Issuer country code (`5F28`, ISO 3166 numeric).
    pub issuer_country: u16,
    /// Application currency (`9F42`).
    pub currency: Currency,
    /// Cryptogram version (decides session keys, data set, IAD layout and ARPC method).
    pub cvn: Cvn,
    /// Derivation key index written into the IAD.
    pub dki: u8,
    /// ICC master key for application cryptograms (MK-AC), derived by the issuer from its IMK.
    pub icc_master_key: MasterKey,
    /// When true the card never approves offline: a TC request is answered with an ARQC.
    pub online_only: bool,
    /// The card honours a consumer-device CVM (passcode or biometrics on the phone).
    pub cdcvm_supported: bool,
    /// The card refuses to transact once its ATC reaches this value.
    pub atc_max: u16,
}

/// The PDOL a Visa qVSDC card sends (the data Kernel 3 must supply in GET PROCESSING OPTIONS).
pub fn visa_pdol() -> Dol {
    dol(&[
        (tags::TTQ, 4),
        (tags::AMOUNT_AUTHORISED, 6),
        (tags::AMOUNT_OTHER, 6),
        (tags::TERMINAL_COUNTRY_CODE, 2),
        (tags::TVR, 5),
        (tags::TRANSACTION_CURRENCY_CODE, 2),
        (tags::TRANSACTION_DATE, 3),
        (tags::TRANSACTION_TYPE, 1),
        (tags::UNPREDICTABLE_NUMBER, 4),
    ])
}

/// CDOL1 of the Mastercard application (the data Kernel 2 supplies in GENERATE AC).
pub fn mastercard_cdol1() -> Dol {
    dol(&[
        (tags::AMOUNT_AUTHORISED, 6),
        (tags::AMOUNT_OTHER, 6),
        (tags::TERMINAL_COUNTRY_CODE, 2),
        (tags::TVR, 5),
        (tags::TRANSACTION_CURRENCY_CODE, 2),
        (tags::TRANSACTION_DATE, 3),
        (tags::TRANSACTION_TYPE, 1),
        (tags::UNPREDICTABLE_NUMBER, 4),
        (tags::TERMINAL_TYPE, 1),
        (tags::CVM_RESULTS, 3),
    ])
}

fn dol(entries: &[(Tag, usize)]) -> Dol {
    Dol::from_entries(
        entries
            .iter()
            .map(|&(tag, len)| DolEntry { tag, len })
            .collect(),
    )
}

/// One record of a file, addressed by SFI and record number.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) sfi: u8,
    pub(crate) number: u8,
    /// The record template `70`, encoded. Holds card data: kept secret.
    pub(crate) body: Secret<Vec<u8>>,
}

impl CardProfile {
    /// A Visa qVSDC profile with the usual defaults (online only, CDCVM supported).
    pub fn visa(pan: Pan, psn: u8, expiry: Expiry, cvn: Cvn, icc_master_key: MasterKey) -> Self {
        Self::new(Scheme::Visa, pan, psn, expiry, cvn, icc_master_key)
    }

    /// A Mastercard M/Chip profile with the usual defaults (online only, CDCVM supported).
    pub fn mastercard(
        pan: Pan,
        psn: u8,
        expiry: Expiry,
        cvn: Cvn,
        icc_master_key: MasterKey,
    ) -> Self {
        Self::new(Scheme::Mastercard, pan, psn, expiry, cvn, icc_master_key)
    }

    fn new(
        scheme: Scheme,
        pan: Pan,
        psn: u8,
        expiry: Expiry,
        cvn: Cvn,
        icc_master_key: MasterKey,
    ) -> Self {
        let (label, currency) = match scheme {
            Scheme::Mastercard => ("MASTERCARD", Currency::lookup("EUR")),
            Scheme::Visa => ("VISA CREDIT", Currency::lookup("EUR")),
        };
        Self {
            scheme,
            aid: scheme.default_aid().to_vec(),
            label: label.to_owned(),
            priority: 1,
            pan,
            psn,
            expiry,
            cardholder_name: "TAPWALLET/DEMO".to_owned(),
            service_code: [2, 0, 1],
            issuer_country: 250,
            // Invariant: EUR is in the currency table.
            currency: currency.unwrap_or(Currency {
                alpha: "EUR",
                numeric: 978,
                exponent: 2,
            }),
            cvn,
            dki: 1,
            icc_master_key,
            online_only: true,
            cdcvm_supported: true,
            atc_max: u16::MAX,
        }
    }

    /// Application Interchange Profile (`82`).
    ///
    /// Byte 1: b5 (`10`) cardholder verification supported, b3 (`04`) issuer authentication
    /// supported, and for Mastercard b2 (`02`) on-device cardholder verification supported.
    /// Byte 2 b8 (`80`): EMV mode supported (Kernel 2). No offline data authentication: these
    /// applications are online only.
    pub fn aip(&self) -> [u8; 2] {
        let odcvm = if self.cdcvm_supported { 0x02 } else { 0x00 };
        match self.scheme {
            Scheme::Mastercard => [0x10 | 0x04 | odcvm, 0x80],
            Scheme::Visa => [0x10 | 0x04, 0x00],
        }
    }

    /// Track 2 equivalent data (`57`).
    pub fn track2(&self) -> Track2 {
        Track2 {
            pan: self.pan.clone(),
            expiry: self.expiry,
            service_code: self.service_code,
            discretionary: Secret::new("00000000000".to_owned()),
        }
    }

    /// The records of the application, in AFL order.
    pub(crate) fn records(&self) -> Vec<Record> {
        let track2 = self.track2().encode();
        let pan = self.pan.to_bcd();
        let country = cards::bcd::encode_n(u64::from(self.issuer_country), 2).unwrap_or_default();
        let mut r1 = Builder::new();
        let mut r2 = Builder::new();
        match self.scheme {
            Scheme::Visa => {
                r1.template(tags::RECORD_TEMPLATE, |b| {
                    b.put(tags::PAN, pan.expose());
                    b.put(tags::EXPIRATION_DATE, &self.expiry.to_n6());
                    b.put(tags::CARDHOLDER_NAME, self.cardholder_name.as_bytes());
                    b.put(tags::ISSUER_COUNTRY_CODE, &country);
                    b.put(tags::APPLICATION_USAGE_CONTROL, &[0xFF, 0x00]);
                });
                vec![Record {
                    sfi: 3,
                    number: 1,
                    body: Secret::new(r1.finish()),
                }]
            }
            Scheme::Mastercard => {
                r1.template(tags::RECORD_TEMPLATE, |b| {
                    b.put(tags::TRACK2_EQUIVALENT_DATA, track2.expose());
                    b.put(tags::CARDHOLDER_NAME, self.cardholder_name.as_bytes());
                });
                r2.template(tags::RECORD_TEMPLATE, |b| {
                    b.put(tags::PAN, pan.expose());
                    b.put(tags::EXPIRATION_DATE, &self.expiry.to_n6());
                    b.put(tags::PAN_SEQUENCE_NUMBER, &[self.psn]);
                    b.put(tags::ISSUER_COUNTRY_CODE, &country);
                    b.put(tags::APPLICATION_CURRENCY_CODE, &self.currency.to_n3());
                    b.put(tags::APPLICATION_USAGE_CONTROL, &[0xFF, 0x00]);
                    b.put(tags::CDOL1, &mastercard_cdol1().encode());
                    // CVM list: amounts X = Y = 0; on-device CVM is negotiated outside the list
                    // (Kernel 2), then "no CVM required" if the terminal supports it.
                    b.put(tags::CVM_LIST, &[0, 0, 0, 0, 0, 0, 0, 0, 0x1F, 0x03]);
                    b.put(tags::IAC_DEFAULT, &[0; 5]);
                    b.put(tags::IAC_DENIAL, &[0; 5]);
                    b.put(tags::IAC_ONLINE, &[0xFC, 0x50, 0xBC, 0xF8, 0x00]);
                });
                vec![
                    Record {
                        sfi: 1,
                        number: 1,
                        body: Secret::new(r1.finish()),
                    },
                    Record {
                        sfi: 2,
                        number: 1,
                        body: Secret::new(r2.finish()),
                    },
                ]
            }
        }
    }

    /// Application File Locator (`94`) covering the application's records: one entry per record, no
    /// records for offline data authentication.
    pub fn afl(&self) -> Vec<u8> {
        self.records()
            .iter()
            .flat_map(|r| [r.sfi << 3, r.number, r.number, 0])
            .collect()
    }
}
