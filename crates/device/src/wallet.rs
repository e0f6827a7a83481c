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
    /// `se` (the token's long-lived key is here) or `hce` (limited-use keys only).
    #[serde(default = "se")]
    credential: String,
    /// The token's ICC master key (MK-AC), hex: SE tokens only.
    #[serde(default)]
    key: String,
    key_algorithm: String,
    /// HCE: the current batch of limited-use keys.
    #[serde(default)]
    luks: Vec<Luk>,
    fpan_last4: String,
    product_name: String,
    atc: u16,
    last_online_atc: u16,
    issuer_auth_failed_last: bool,
    online_pending: bool,
    installed_unix: i64,
}

fn se() -> String {
    "se".to_owned()
}

/// A limited-use key: good for the ATCs `atc_from..=atc_to`, until `expires_unix`.
#[derive(Clone, Serialize, Deserialize, Zeroize)]
pub(crate) struct Luk {
    index: u32,
    /// The key, hex.
    key: String,
    atc_from: u16,
    atc_to: u16,
    expires_unix: i64,
}

/// A batch of limited-use keys as the token service sends it (inside a JWE).
#[derive(Deserialize, Zeroize)]
struct KeyBatch {
    tur: String,
    key_algorithm: String,
    keys: Vec<BatchKey>,
}

#[derive(Deserialize, Zeroize)]
struct BatchKey {
    index: u32,
    key: String,
    atc_from: u16,
    atc_to: u16,
    expires_at: i64,
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
    #[serde(default = "se")]
    credential: String,
    #[serde(default)]
    icc_master_key: String,
    #[serde(default)]
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
    /// `se` or `hce`.
    pub credential: String,
    /// HCE: payments left in the current batch of limited-use keys at the time asked
    /// (unexpired keys, ATCs not yet used); `None` for SE tokens.
    pub payments_left: Option<u32>,
}

/// Below this many payments left, an HCE token should be replenished.
pub const REPLENISH_BELOW: u32 = 3;

impl TokenRecord {
    fn info(&self, default: Option<&str>, now_unix: i64) -> TokenInfo {
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
            credential: self.credential.clone(),
            payments_left: self.is_hce().then(|| self.payments_left(now_unix)),
        }
    }

    fn is_hce(&self) -> bool {
        self.credential == "hce"
    }

    /// HCE: ATCs still usable under unexpired keys.
    fn payments_left(&self, now_unix: i64) -> u32 {
        self.luks
            .iter()
            .filter(|k| k.expires_unix > now_unix)
            .map(|k| {
                let first = k.atc_from.max(self.atc.saturating_add(1));
                u32::from(k.atc_to.saturating_add(1).saturating_sub(first))
            })
            .sum()
    }

    /// HCE: the key the next cryptogram uses, and the counter value to start from.
    fn current_luk(&self, now_unix: i64) -> Option<(&Luk, u16)> {
        self.luks
            .iter()
            .filter(|k| k.expires_unix > now_unix && k.atc_to > self.atc)
            .min_by_key(|k| k.atc_from)
            .map(|k| (k, self.atc.max(k.atc_from.saturating_sub(1))))
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
        self.profile_with(&self.key)
    }

    /// The card profile with `key_hex` as its MK-AC (the token key, or a limited-use key).
    fn profile_with(&self, key_hex: &str) -> Result<CardProfile, SeError> {
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
        let key = Zeroizing::new(hex::decode(key_hex).map_err(|_| SeError::Corrupt("key"))?);
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
                credential: payload.credential.clone(),
                key: payload.icc_master_key.clone(),
                key_algorithm: payload.key_algorithm.clone(),
                luks: Vec::new(),
                fpan_last4: payload.fpan_last4.clone(),
                product_name: payload.product_name.clone(),
                atc: 0,
                last_online_atc: 0,
                issuer_auth_failed_last: false,
                online_pending: false,
                installed_unix: now_unix,
            };
            // A payload that does not make a working card is refused before it is kept.
            match record.credential.as_str() {
                "se" => {
                    record.profile().map_err(|_| SeError::PayloadRejected)?;
                }
                "hce" if record.key.is_empty() => {}
                _ => return Err(SeError::PayloadRejected),
            }
            if let Some(old) = state.tokens.iter_mut().find(|t| t.tur == record.tur) {
                record.atc = old.atc;
                record.last_online_atc = old.last_online_atc;
                record.luks = std::mem::take(&mut old.luks);
                *old = record.clone();
            } else {
                state.tokens.push(record.clone());
            }
            if state.default_card.is_none() {
                state.default_card = Some(card_id.to_owned());
            }
            Ok(record.info(state.default_card.as_deref(), now_unix))
        })
    }

    /// Installs a batch of limited-use keys (a JWE to this secure element's key) for an HCE
    /// token. The batch replaces the previous one (the token service revoked it when it made
    /// this one); keys whose ATCs were already used stay unusable.
    pub fn install_keys(
        &self,
        card_id: &str,
        jwe: &str,
        now_unix: i64,
    ) -> Result<TokenInfo, SeError> {
        self.update(|state| {
            let jwk = Session::jwk(state)?;
            let (_, plain) = jose::jwe::decrypt(jwe, &jwk).map_err(|_| SeError::PayloadRejected)?;
            let plain = Zeroizing::new(plain);
            let batch: KeyBatch =
                serde_json::from_slice(&plain).map_err(|_| SeError::PayloadRejected)?;
            let default = state.default_card.clone();
            let record = state
                .tokens
                .iter_mut()
                .find(|t| t.card_id == card_id)
                .ok_or_else(|| SeError::NoSuchCard(card_id.to_owned()))?;
            if !record.is_hce() || batch.tur != record.tur || batch.keys.is_empty() {
                return Err(SeError::PayloadRejected);
            }
            let mut luks = Vec::with_capacity(batch.keys.len());
            for k in &batch.keys {
                if k.atc_from == 0 || k.atc_to < k.atc_from {
                    return Err(SeError::PayloadRejected);
                }
                luks.push(Luk {
                    index: k.index,
                    key: k.key.clone(),
                    atc_from: k.atc_from,
                    atc_to: k.atc_to,
                    expires_unix: k.expires_at,
                });
            }
            record.key_algorithm = batch.key_algorithm.clone();
            // Every key must make a working card before the batch is kept.
            for luk in &luks {
                record
                    .profile_with(&luk.key)
                    .map_err(|_| SeError::PayloadRejected)?;
            }
            record.luks = luks;
            Ok(record.info(default.as_deref(), now_unix))
        })
    }

    /// The installed tokens.
    pub fn tokens(&self, now_unix: i64) -> Result<Vec<TokenInfo>, SeError> {
        let state = self.read_state()?;
        Ok(state
            .tokens
            .iter()
            .map(|t| t.info(state.default_card.as_deref(), now_unix))
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
    /// The card keeps its own handle on this session (its window included).
    ///
    /// An HCE token pays with the first unexpired limited-use key that has ATCs left; with none
    /// left it refuses ([`SeError::KeysExhausted`]) until the batch is replenished.
    pub fn payment_card(
        &self,
        card_id: Option<&str>,
        now_unix: i64,
    ) -> Result<PaymentCard, SeError> {
        let state = self.read_state()?;
        let wanted = card_id.or(state.default_card.as_deref());
        let record = match wanted {
            Some(id) => state.tokens.iter().find(|t| t.card_id == id),
            None => state.tokens.first(),
        }
        .ok_or_else(|| SeError::NoSuchCard(wanted.unwrap_or("(none installed)").to_owned()))?;
        let loaded = Loaded::from(record, self, state.default_card.as_deref(), now_unix)?;
        Ok(PaymentCard {
            session: self.clone(),
            card_id: record.card_id.clone(),
            info: loaded.info,
            card: loaded.card,
            stored_atc: loaded.stored_atc,
            atc_limit: loaded.atc_limit,
            now_unix,
        })
    }
}

/// A token record made into a card application.
struct Loaded {
    card: Card,
    info: TokenInfo,
    stored_atc: u16,
    /// HCE: the last ATC the current limited-use key covers.
    atc_limit: u16,
}

impl Loaded {
    fn from(
        record: &TokenRecord,
        session: &Session,
        default: Option<&str>,
        now_unix: i64,
    ) -> Result<Self, SeError> {
        let info = record.info(default, now_unix);
        let (profile, counters, atc_limit) = if record.is_hce() {
            let (luk, start) = record
                .current_luk(now_unix)
                .ok_or_else(|| SeError::KeysExhausted(record.card_id.clone()))?;
            let mut counters = record.counters();
            counters.atc = start;
            (record.profile_with(&luk.key)?, counters, luk.atc_to)
        } else {
            (record.profile()?, record.counters(), u16::MAX)
        };
        let mut card = Card::new(profile, counters);
        card.set_cdcvm_verified(session.cdcvm_active(now_unix));
        Ok(Self {
            card,
            info,
            stored_atc: record.atc,
            atc_limit,
        })
    }
}

/// A token's card application, answering a terminal's APDUs. Every counter change is sealed
/// to disk before the answer that reveals it leaves ([`PaymentCard::transmit`]).
pub struct PaymentCard {
    session: Session,
    card_id: String,
    info: TokenInfo,
    card: Card,
    /// The ATC stored when this card was loaded or last wrote.
    stored_atc: u16,
    /// The highest ATC this card may use (HCE: its limited-use key's last ATC).
    atc_limit: u16,
    /// The time the card was loaded at (a transaction's time, for the payment window).
    now_unix: i64,
}

impl std::fmt::Debug for PaymentCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentCard")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// SW 6581: memory failure (ISO 7816-4), the answer when a counter cannot be stored.
pub const SW_MEMORY_FAILURE: [u8; 2] = [0x65, 0x81];
/// SW 6985: conditions of use not satisfied, the answer when no key may make the cryptogram
/// (an HCE token whose limited-use keys are used up or expired).
pub const SW_CONDITIONS_NOT_SATISFIED: [u8; 2] = [0x69, 0x85];

impl PaymentCard {
    /// What the wallet shows of this card.
    pub fn info(&self) -> &TokenInfo {
        &self.info
    }

    /// The card enters the field (or is reset): a new transaction starts; its counters and
    /// (HCE) its key are read again from the secure element, so that another process's taps
    /// are never repeated and a used-up key is never used again.
    pub fn reset(&mut self, now_unix: i64) -> Result<(), SeError> {
        let state = self.session.read_state()?;
        let record = state
            .tokens
            .iter()
            .find(|t| t.card_id == self.card_id)
            .ok_or_else(|| SeError::NoSuchCard(self.card_id.clone()))?;
        let loaded = Loaded::from(
            record,
            &self.session,
            state.default_card.as_deref(),
            now_unix,
        )?;
        self.card = loaded.card;
        self.info = loaded.info;
        self.stored_atc = loaded.stored_atc;
        self.atc_limit = loaded.atc_limit;
        self.now_unix = now_unix;
        Ok(())
    }

    /// Answers one command APDU. SELECT PPSE starts a transaction: the card is reloaded
    /// first. When the answer changes a counter (a cryptogram was made), the counter is sealed
    /// durably first; if that fails the answer is withheld and the terminal gets 6581, so no
    /// ATC ever goes out that a crash could hand out again. An ATC beyond the current key's
    /// range is never used (6985).
    pub fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        if selects_ppse(command) && self.reset(self.now_unix).is_err() {
            return SW_CONDITIONS_NOT_SATISFIED.to_vec();
        }
        let out = self.card.process(command);
        if let Some(counters) = out.persist {
            if counters.atc > self.atc_limit {
                self.card.reset();
                return SW_CONDITIONS_NOT_SATISFIED.to_vec();
            }
            if self.persist(counters).is_err() {
                // The card in memory moved on; it reloads what is stored at the next reset.
                self.card.reset();
                return SW_MEMORY_FAILURE.to_vec();
            }
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

/// True for SELECT by name of the PPSE (`2PAY.SYS.DDF01`): a terminal starting a transaction.
pub fn selects_ppse(command: &[u8]) -> bool {
    let name = emv_card::PPSE;
    command.len() >= 5 + name.len()
        && command[..4] == [0x00, 0xA4, 0x04, 0x00]
        && usize::from(command[4]) == name.len()
        && command.get(5..5 + name.len()) == Some(name)
}
