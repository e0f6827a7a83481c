//! Tokens inside the secure element: installing a provisioning payload, listing, removing, and
//! the card application that pays with them.

use cards::{Expiry, Pan};
use emv_card::{Card, CardProfile, Counters, Scheme};
use emv_crypto::{Cvn, KeyAlgorithm, MasterKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::SeError;
use crate::element::Session;

/// A token and its keys, as the secure element keeps them (sealed).
#[derive(Clone, Serialize, Deserialize, Zeroize)]
pub(crate) struct TokenRecord {
    /// The wallet's card id (the backend's token id).
    card_id: String,
    tur: String,
    dpan: String,
    /// `MMYY`.
    expiry: String,
    psn: u8,
    /// `visa` or `mastercard`.
    scheme: String,
    cvn: u8,
    /// The token's ICC master key (MK-AC), hex.
    key: String,
    key_algorithm: String,
    fpan_last4: String,
    product_name: String,
    atc: u16,
    last_online_atc: u16,
    issuer_auth_failed_last: bool,
    online_pending: bool,
    installed_unix: i64,
}

/// The provisioning payload's plaintext, as the token service writes it.
#[derive(Deserialize, Zeroize)]
struct Payload {
    tur: String,
    dpan: String,
    expiry: String,
    psn: String,
    scheme: String,
    cvn: u8,
    icc_master_key: String,
    key_algorithm: String,
    #[serde(default)]
    fpan_last4: String,
    #[serde(default)]
    product_name: String,
}

/// What the wallet may show of a token: never its number or keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// The wallet's card id.
    pub card_id: String,
    /// The Token Unique Reference.
    pub tur: String,
    /// The token, masked (first 6, last 4).
    pub token_masked: String,
    /// The funding card's last 4 digits.
    pub fpan_last4: String,
    /// `visa` or `mastercard`.
    pub scheme: String,
    /// The product's name.
    pub product_name: String,
    /// `MMYY`.
    pub expiry: String,
    /// The application transaction counter of the last cryptogram made.
    pub atc: u16,
    /// The default card for payments.
    pub is_default: bool,
}

impl TokenRecord {
    fn info(&self, default: Option<&str>) -> TokenInfo {
        TokenInfo {
            card_id: self.card_id.clone(),
            tur: self.tur.clone(),
            token_masked: Pan::parse(&self.dpan).map_or_else(|_| "?".to_owned(), |p| p.masked()),
            fpan_last4: self.fpan_last4.clone(),
            scheme: self.scheme.clone(),
            product_name: self.product_name.clone(),
            expiry: self.expiry.clone(),
            atc: self.atc,
            is_default: default == Some(self.card_id.as_str()),
        }
    }

    fn counters(&self) -> Counters {
        Counters {
            atc: self.atc,
            last_online_atc: self.last_online_atc,
            issuer_auth_failed_last: self.issuer_auth_failed_last,
            online_pending: self.online_pending,
        }
    }

    fn profile(&self) -> Result<CardProfile, SeError> {
        let pan = Pan::parse(&self.dpan).map_err(|_| SeError::Corrupt("token number"))?;
        let expiry = parse_mmyy(&self.expiry).ok_or(SeError::Corrupt("token expiry"))?;
        let scheme = match self.scheme.as_str() {
            "visa" => Scheme::Visa,
            "mastercard" => Scheme::Mastercard,
            _ => return Err(SeError::Corrupt("token scheme")),
        };
        let cvn = Cvn::ALL
            .into_iter()
            .find(|c| {
                c.number() == self.cvn && c.scheme().to_string().eq_ignore_ascii_case(scheme.name())
            })
            .ok_or(SeError::Corrupt("token cryptogram version"))?;
        let algorithm = match self.key_algorithm.as_str() {
            "TDES2" => KeyAlgorithm::Tdes2,
            "AES128" => KeyAlgorithm::Aes128,
            "AES192" => KeyAlgorithm::Aes192,
            "AES256" => KeyAlgorithm::Aes256,
            _ => return Err(SeError::Corrupt("token key algorithm")),
        };
        let key = Zeroizing::new(hex::decode(&self.key).map_err(|_| SeError::Corrupt("key"))?);
        let key = MasterKey::new(algorithm, &key).map_err(|_| SeError::Corrupt("token key"))?;
        Ok(match scheme {
            Scheme::Visa => CardProfile::visa(pan, self.psn, expiry, cvn, key),
            Scheme::Mastercard => CardProfile::mastercard(pan, self.psn, expiry, cvn, key),
        })
    }
}

fn parse_mmyy(text: &str) -> Option<Expiry> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month = text.get(..2)?.parse::<u8>().ok()?;
    let year = text.get(2..)?.parse::<u16>().ok()?;
    Expiry::new(2000 + year, month).ok()
}

impl Session {
    /// Opens a provisioning payload (a JWE to this secure element's key) inside the secure
    /// element and installs the token under `card_id`. Installing the same token again keeps
    /// its counters (a retried install never rewinds the ATC).
    pub fn install(&self, card_id: &str, jwe: &str, now_unix: i64) -> Result<TokenInfo, SeError> {
        self.update(|state| {
            let jwk = Session::jwk(state)?;
            let (_, plain) = jose::jwe::decrypt(jwe, &jwk).map_err(|_| SeError::PayloadRejected)?;
            let plain = Zeroizing::new(plain);
            let payload: Payload =
                serde_json::from_slice(&plain).map_err(|_| SeError::PayloadRejected)?;
            let psn = u8::from_str_radix(&payload.psn, 16).map_err(|_| SeError::PayloadRejected)?;
            let mut record = TokenRecord {
                card_id: card_id.to_owned(),
                tur: payload.tur.clone(),
                dpan: payload.dpan.clone(),
                expiry: payload.expiry.clone(),
                psn,
                scheme: payload.scheme.clone(),
                cvn: payload.cvn,
                key: payload.icc_master_key.clone(),
                key_algorithm: payload.key_algorithm.clone(),
                fpan_last4: payload.fpan_last4.clone(),
                product_name: payload.product_name.clone(),
                atc: 0,
                last_online_atc: 0,
                issuer_auth_failed_last: false,
                online_pending: false,
                installed_unix: now_unix,
            };
            // A payload that does not make a working card is refused before it is kept.
            record.profile().map_err(|_| SeError::PayloadRejected)?;
            if let Some(old) = state.tokens.iter_mut().find(|t| t.tur == record.tur) {
                record.atc = old.atc;
                record.last_online_atc = old.last_online_atc;
                *old = record.clone();
            } else {
                state.tokens.push(record.clone());
            }
            if state.default_card.is_none() {
                state.default_card = Some(card_id.to_owned());
            }
            Ok(record.info(state.default_card.as_deref()))
        })
    }

    /// The installed tokens.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, SeError> {
        let state = self.read_state()?;
        Ok(state
            .tokens
            .iter()
            .map(|t| t.info(state.default_card.as_deref()))
            .collect())
    }

    /// Removes a token and its keys; false when it was not installed.
    pub fn remove(&self, card_id: &str) -> Result<bool, SeError> {
        self.update(|state| {
            let before = state.tokens.len();
            state.tokens.retain(|t| t.card_id != card_id);
            if state.default_card.as_deref() == Some(card_id) {
                state.default_card = state.tokens.first().map(|t| t.card_id.clone());
            }
            Ok(state.tokens.len() != before)
        })
    }

    /// Makes an installed token the default for payments.
    pub fn set_default(&self, card_id: &str) -> Result<(), SeError> {
        self.update(|state| {
            if !state.tokens.iter().any(|t| t.card_id == card_id) {
                return Err(SeError::NoSuchCard(card_id.to_owned()));
            }
            state.default_card = Some(card_id.to_owned());
            Ok(())
        })
    }

    /// The card application for a token (`None`: the default one), ready for a tap. The holder
    /// counts as verified on the device (CDCVM) when the payment window is open at `now_unix`.
    pub fn payment_card(
        &self,
        card_id: Option<&str>,
        now_unix: i64,
    ) -> Result<PaymentCard<'_>, SeError> {
        let state = self.read_state()?;
        let wanted = card_id.or(state.default_card.as_deref());
        let record = match wanted {
            Some(id) => state.tokens.iter().find(|t| t.card_id == id),
            None => state.tokens.first(),
        }
        .ok_or_else(|| SeError::NoSuchCard(wanted.unwrap_or("(none installed)").to_owned()))?;
        let mut card = Card::new(record.profile()?, record.counters());
        card.set_cdcvm_verified(self.cdcvm_active(now_unix));
        Ok(PaymentCard {
            session: self,
            card_id: record.card_id.clone(),
            info: record.info(state.default_card.as_deref()),
            card,
            stored_atc: record.atc,
        })
    }
}

/// A token's card application, answering a terminal's APDUs. Every counter change is sealed
/// to disk before the answer that reveals it leaves ([`PaymentCard::transmit`]).
pub struct PaymentCard<'s> {
    session: &'s Session,
    card_id: String,
    info: TokenInfo,
    card: Card,
    /// The ATC stored when this card was loaded or last wrote.
    stored_atc: u16,
}

impl std::fmt::Debug for PaymentCard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentCard")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// SW 6581: memory failure (ISO 7816-4), the answer when a counter cannot be stored.
pub const SW_MEMORY_FAILURE: [u8; 2] = [0x65, 0x81];

impl PaymentCard<'_> {
    /// What the wallet shows of this card.
    pub fn info(&self) -> &TokenInfo {
        &self.info
    }

    /// The card enters the field (or is reset): a new transaction starts, and its counters are
    /// read again from the secure element so that another process's taps are never repeated.
    pub fn reset(&mut self, now_unix: i64) -> Result<(), SeError> {
        let state = self.session.read_state()?;
        let record = state
            .tokens
            .iter()
            .find(|t| t.card_id == self.card_id)
            .ok_or_else(|| SeError::NoSuchCard(self.card_id.clone()))?;
        let mut card = Card::new(record.profile()?, record.counters());
        card.set_cdcvm_verified(self.session.cdcvm_active(now_unix));
        self.card = card;
        self.stored_atc = record.atc;
        self.info.atc = record.atc;
        Ok(())
    }

    /// Answers one command APDU. When the answer changes a counter (a cryptogram was made),
    /// the counter is sealed durably first; if that fails the answer is withheld and the
    /// terminal gets 6581, so no ATC ever goes out that a crash could hand out again.
    pub fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        let out = self.card.process(command);
        if let Some(counters) = out.persist
            && self.persist(counters).is_err()
        {
            // The card in memory moved on; it reloads what is stored at the next reset.
            self.card.reset();
            return SW_MEMORY_FAILURE.to_vec();
        }
        out.response.encode()
    }

    fn persist(&mut self, counters: Counters) -> Result<(), SeError> {
        let card_id = self.card_id.clone();
        let stored_atc = self.stored_atc;
        self.session.update(|state| {
            let record = state
                .tokens
                .iter_mut()
                .find(|t| t.card_id == card_id)
                .ok_or_else(|| SeError::NoSuchCard(card_id.clone()))?;
            // A new cryptogram's ATC must be above every ATC stored; a later write of the same
            // transaction (the issuer authentication result) must find its own ATC still
            // there. Otherwise another process tapped with this token since this card was
            // loaded: this ATC may have gone out already, so this answer must not.
            let fresh = counters.atc > stored_atc && record.atc == stored_atc;
            let same = counters.atc == stored_atc && record.atc == stored_atc;
            if !(fresh || same) {
                return Err(SeError::CounterConflict);
            }
            record.atc = counters.atc;
            record.last_online_atc = counters.last_online_atc;
            record.issuer_auth_failed_last = counters.issuer_auth_failed_last;
            record.online_pending = counters.online_pending;
            Ok(())
        })?;
        self.stored_atc = counters.atc;
        self.info.atc = counters.atc;
        Ok(())
    }
}
