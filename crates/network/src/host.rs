//! The network host: authorizations, reversals, network management, stand-in and advices.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cards::{Amount, Currency, Date, Expiry, Pan};
use domain::{
    AtcVerdict, AtcWindow, AuthCode, BinKind, BinTable, Channel, ChannelSet, Decline, StandInFacts,
    StandInRules, TokenControls, TokenFacts, TokenStatus, check_token, stand_in,
};
use emv_crypto::{
    ArpcMethod, ArpcResponse, Cvn, MasterKey, derive_icc_master_key, derive_limited_use_key,
    issuer_authentication_data, verify_ac,
};
use iso8583::{Message, Mti, ResponseCode, fields, spec::ASCII87};
use iso8583_net::{Client, ClientError, IsoCodec, ServeReport};
use secret::Secret;
use store::{Store, TokenRow};
use tlv::{Tag, TagMap};
use tokio::net::TcpListener;

use crate::atc_uses::AtcUses;
use crate::vault::VaultKeys;

/// The wall clock, as Unix seconds (injected so tests control time).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// An authorization of a token the network passed its checks, reported to whoever keeps the
/// token requestor's history (the token service, which signs and queues it for the wallet).
#[derive(Clone, Debug)]
pub struct TransactionEvent {
    /// The token's unique reference.
    pub tur: String,
    /// The token requestor it belongs to.
    pub token_requestor_id: String,
    /// DE 4, minor units.
    pub amount_minor: u64,
    /// DE 49, ISO 4217 numeric.
    pub currency_numeric: u16,
    /// The answer's DE 39.
    pub response_code: String,
    /// DE 43 as the acquirer sent it (merchant name and location).
    pub merchant_name_location: String,
    /// DE 18, the merchant category code.
    pub mcc: String,
    /// When the network answered, Unix seconds.
    pub at_unix: i64,
}

/// The network's configuration.
pub struct NetworkConfig {
    /// Vault keys (FPAN envelopes, lookup hashes).
    pub vault: VaultKeys,
    /// The token service's master key for token-level card keys (3DES); a token's key is derived
    /// from it and the DPAN exactly as an issuer derives a card's. An HCE token's cryptograms
    /// verify with the limited-use key of their ATC, derived from that key and the index the
    /// vault records (`store::LimitedUseKeyRow`), never with the token's key itself.
    pub token_imk: MasterKey,
    /// Token and account BIN ranges.
    pub bins: BinTable,
    /// How long to wait for the issuer before standing in.
    pub issuer_timeout: Duration,
    /// Stand-in limits.
    pub stand_in: StandInRules,
}

/// The network host.
pub struct Network {
    store: Store,
    config: NetworkConfig,
    issuer: Client<IsoCodec>,
    clock: Clock,
    /// Where transaction events go (none: not reported).
    events: Option<tokio::sync::mpsc::UnboundedSender<TransactionEvent>>,
    /// Recent answers by request identity (STAN, RRN, terminal, merchant), so a retransmitted
    /// request gets its original answer rather than a replay decline: the fast path, in
    /// memory. The durable fallback, for a retransmission this memory no longer holds (after a
    /// restart, or on another network process) or not yet (a copy arriving while the first is
    /// in flight), is the token row's record of who consumed its recent ATCs (`AtcUses`): a
    /// request whose ATC was consumed by the same identity and cryptogram inside
    /// [`DUPLICATE_WINDOW_SECS`] goes to the issuer again, whose own durable duplicate check
    /// answers it with the original decision (nothing posted twice), and its answer is rebuilt
    /// as the first one was, without a second transaction event.
    recent: std::sync::Mutex<RecentAnswers>,
}

/// Answers by request identity in two generations: lookups read both, inserts go to the newer,
/// and when it fills (or ages past half the window) it becomes the older and the oldest is
/// dropped. O(1) per request whatever the load; an answer is kept between half a window (or
/// half the capacity) and a whole one.
#[derive(Default)]
struct RecentAnswers {
    current: std::collections::HashMap<String, (i64, Message)>,
    previous: std::collections::HashMap<String, (i64, Message)>,
    current_since: i64,
}

impl RecentAnswers {
    fn get(&self, id: &str, now: i64) -> Option<&Message> {
        self.current
            .get(id)
            .or_else(|| self.previous.get(id))
            .filter(|(at, _)| now - at <= DUPLICATE_WINDOW_SECS)
            .map(|(_, m)| m)
    }

    fn insert(&mut self, id: String, now: i64, answer: Message) {
        if self.current.len() >= DUPLICATE_CAPACITY / 2
            || now - self.current_since > DUPLICATE_WINDOW_SECS / 2
        {
            self.previous = std::mem::take(&mut self.current);
            self.current_since = now;
        }
        self.current.insert(id, (now, answer));
    }
}

/// How long a request identity is remembered for duplicate detection, in seconds (in memory,
/// and in the token row's ATC uses).
const DUPLICATE_WINDOW_SECS: i64 = 600;
/// Answers remembered at most.
const DUPLICATE_CAPACITY: usize = 100_000;

fn request_identity(msg: &Message) -> Option<String> {
    Some(format!(
        "{:06}|{}|{}|{}",
        msg.stan()?,
        msg.rrn()?,
        msg.terminal_id()?,
        msg.merchant_id().unwrap_or_default()
    ))
}

fn response(req: &Message, code: ResponseCode) -> Message {
    req.response_to(code)
}

fn declined(req: &Message, d: Decline) -> Message {
    response(req, ResponseCode(d.response_code()))
}

/// The channel a request comes from, by POS entry mode (DE 22 positions 1-2).
fn channel(msg: &Message) -> Channel {
    match msg.pos_entry_mode().and_then(|m| m.get(..2)) {
        Some("07") | Some("91") => Channel::Contactless,
        Some("81") | Some("01") => Channel::Ecommerce,
        _ => Channel::InApp,
    }
}

fn psn_of(msg: &Message, icc: &TagMap) -> u8 {
    if let Some(p) = icc
        .get(emv::tags::PAN_SEQUENCE_NUMBER)
        .and_then(|p| p.first())
    {
        return *p;
    }
    match msg
        .card_sequence_number()
        .and_then(|t| t.parse::<u8>().ok())
    {
        Some(n) => ((n / 10 % 10) << 4) | (n % 10),
        None => 0,
    }
}

/// What the token checks established, for the issuer leg and the answer.
struct TokenContext {
    dpan: Pan,
    hash: [u8; 32],
    cvn: Cvn,
    /// The key the cryptogram verified with, which makes the ARPC: the token's ICC master key
    /// (SE token) or the limited-use key of its ATC (HCE token).
    card_key: MasterKey,
    icc: TagMap,
    arqc: [u8; 8],
    row: TokenRow,
    /// The ATC was already consumed, by this same request: a retransmission, already
    /// reported (no second transaction event).
    retransmission: bool,
}

/// What the ATC check made of a request with a valid cryptogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AtcOutcome {
    /// A new ATC: consumed now, by this request.
    Fresh,
    /// Consumed before by this same request (identity and cryptogram): a retransmission.
    Retransmission,
    /// Consumed by another request, or older than the window: a replay.
    Replay,
    /// A new ATC under a limited-use key that is revoked or expired: not consumed.
    KeyUnusable,
}

/// How a token's card application holds its key (the vault row's `credential`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Credential {
    /// The secure element holds the token's ICC master key (MK-AC).
    SecureElement,
    /// Host card emulation: the phone holds limited-use keys derived from MK-AC, never MK-AC.
    Hce,
}

impl Credential {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "se" => Some(Self::SecureElement),
            "hce" => Some(Self::Hce),
            _ => None,
        }
    }
}

impl Network {
    /// A network on `store`, forwarding to the issuer through `issuer`.
    pub fn new(
        store: Store,
        config: NetworkConfig,
        issuer: Client<IsoCodec>,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            config,
            issuer,
            clock,
            events: None,
            recent: Default::default(),
        }
    }

    /// Reports every token authorization that passed the token checks to `events` (for the
    /// token requestor's transaction history), once: a retransmission is not reported again
    /// (the token service gives each event a fresh id, so a second one would show the payment
    /// twice). Best effort: an event still in the channel when the process stops is lost; the
    /// authorization itself is not.
    #[must_use]
    pub fn with_transaction_events(
        mut self,
        events: tokio::sync::mpsc::UnboundedSender<TransactionEvent>,
    ) -> Self {
        self.events = Some(events);
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// Answers one message.
    pub async fn handle(&self, msg: Message) -> Option<Message> {
        match msg.mti {
            Mti::AUTHORIZATION_REQUEST => Some(self.authorize(&msg).await),
            Mti::REVERSAL_REQUEST | Mti::REVERSAL_ADVICE => Some(self.reverse(&msg).await),
            Mti::NETWORK_MANAGEMENT_REQUEST => Some(msg.network_management_response()),
            other if other.is_request() => Some(response(&msg, ResponseCode::FORMAT_ERROR)),
            _ => None,
        }
    }

    fn today(&self) -> Result<Date, Decline> {
        Date::from_unix_seconds((self.clock)()).map_err(|_| Decline::SystemMalfunction)
    }

    async fn authorize(&self, msg: &Message) -> Message {
        let identity = request_identity(msg);
        let now = (self.clock)();
        if let Some(id) = &identity
            && let Ok(recent) = self.recent.lock()
            && let Some(answer) = recent.get(id, now)
        {
            return answer.clone();
        }
        let answer = self.authorize_once(msg).await;
        if let (Some(id), Ok(mut recent)) = (identity, self.recent.lock()) {
            recent.insert(id, now, answer.clone());
        }
        answer
    }

    async fn authorize_once(&self, msg: &Message) -> Message {
        let Some(pan) = msg.pan() else {
            return declined(msg, Decline::FormatError);
        };
        let Ok(pan) = Pan::parse(pan.expose()) else {
            return declined(msg, Decline::CardNotFound);
        };
        match self.config.bins.route(&pan).map(|r| r.kind) {
            Some(BinKind::Token) => self.authorize_token(msg, pan).await,
            Some(BinKind::Account) => match self.forward(msg.clone()).await {
                Ok(rsp) => rsp,
                Err(_) => declined(msg, Decline::IssuerUnavailable),
            },
            None => response(msg, ResponseCode::NO_SUCH_ISSUER),
        }
    }

    async fn forward(&self, msg: Message) -> Result<Message, ClientError> {
        self.issuer
            .request_with_timeout(msg, self.config.issuer_timeout)
            .await
    }

    /// Token checks, cryptogram, replay: `Err` is the decline to answer.
    async fn check(&self, msg: &Message, dpan: Pan) -> Result<TokenContext, Decline> {
        let hash = self.config.vault.pan_hash(&dpan);
        let row = self
            .store
            .token(&hash)
            .await
            .map_err(|_| Decline::SystemMalfunction)?
            .ok_or(Decline::CardNotFound)?;
        let status = TokenStatus::parse(&row.status).ok_or(Decline::SystemMalfunction)?;
        let credential = Credential::parse(&row.credential).ok_or(Decline::SystemMalfunction)?;
        let token_expiry =
            Expiry::parse_yymm(&row.token_expiry_yymm).map_err(|_| Decline::SystemMalfunction)?;
        let expiry_given = match msg.expiry() {
            Some(e) => Some(Expiry::parse_yymm(e.expose()).map_err(|_| Decline::FormatError)?),
            None => None,
        };
        let controls = TokenControls {
            channels: ChannelSet(u8::try_from(row.channels).unwrap_or(0)),
            device_id: row.device_id.clone(),
        };
        check_token(&TokenFacts {
            status,
            expiry: token_expiry,
            controls: &controls,
            channel: channel(msg),
            device_id: None,
            expiry_given,
            date: self.today()?,
        })?;
        let icc = msg
            .icc_tlv()
            .map_err(|_| Decline::FormatError)?
            .ok_or(Decline::ChipDataMissing)?;
        let iad = icc.get(emv::tags::IAD).ok_or(Decline::ChipDataMissing)?;
        let cvn = Cvn::from_iad(iad).map_err(|_| Decline::CryptogramInvalid)?;
        let psn = psn_of(msg, &icc);
        let token_mk =
            derive_icc_master_key(cvn, &self.config.token_imk, dpan.expose_digits(), psn)
                .map_err(|_| Decline::CryptogramInvalid)?;
        let arqc: [u8; 8] = icc
            .get(emv::tags::APPLICATION_CRYPTOGRAM)
            .and_then(|a| a.try_into().ok())
            .ok_or(Decline::ChipDataMissing)?;
        // The amount in DE 4 must be the one the cryptogram covers.
        let amount_tag = icc
            .get(emv::tags::AMOUNT_AUTHORISED)
            .ok_or(Decline::ChipDataMissing)?;
        let de4 = msg.amount_minor().ok_or(Decline::FormatError)?;
        if cards::bcd::decode_n(amount_tag) != Some(de4) {
            return Err(Decline::CryptogramInvalid);
        }
        let atc = icc
            .get(emv::tags::ATC)
            .and_then(|a| <[u8; 2]>::try_from(a).ok())
            .map(u16::from_be_bytes)
            .ok_or(Decline::ChipDataMissing)?;
        let now = (self.clock)();
        // The key the card application used. An SE token's is MK-AC itself (no extra query).
        // An HCE token's is the limited-use key whose range holds the ATC, derived from MK-AC
        // and the key's index: MK-AC itself never verifies an HCE token's cryptogram, since the
        // phone never holds it.
        let (card_key, key_usable) = match credential {
            Credential::SecureElement => (token_mk, true),
            Credential::Hce => self.limited_use_key(&row.tur, atc, &token_mk, now).await?,
        };
        let lookup = |t: Tag| icc.get(t);
        verify_ac(cvn, &card_key, &lookup, &arqc).map_err(|_| Decline::CryptogramInvalid)?;
        // Only a valid cryptogram consumes its ATC, so forged messages cannot burn counters;
        // and only a valid one is compared with the ATC's recorded use, so a forged copy is
        // never taken for a retransmission.
        let digest = request_identity(msg).map(|id| self.config.vault.request_digest(&id, &arqc));
        // One row update consumes the ATC and records who consumed it: no extra write.
        let used = self
            .store
            .token_update_with_atc_uses(&hash, move |row, uses| {
                let mut window = AtcWindow::from_bytes(&row.atc_window).unwrap_or_default();
                match window.check(atc) {
                    // A revoked or expired key pays no more: only a retransmission of what it
                    // paid before (below) gets through.
                    AtcVerdict::Fresh if !key_usable => AtcOutcome::KeyUnusable,
                    AtcVerdict::Fresh => {
                        window.record(atc);
                        row.atc_window = window.to_bytes().to_vec();
                        if let Some(digest) = digest {
                            let mut recorded = AtcUses::from_bytes(uses);
                            recorded.record(atc, digest, now, DUPLICATE_WINDOW_SECS);
                            *uses = recorded.to_bytes();
                        }
                        AtcOutcome::Fresh
                    }
                    AtcVerdict::Replayed
                        if digest.is_some_and(|d| {
                            AtcUses::from_bytes(uses).consumed_by(
                                atc,
                                &d,
                                now,
                                DUPLICATE_WINDOW_SECS,
                            )
                        }) =>
                    {
                        AtcOutcome::Retransmission
                    }
                    AtcVerdict::Replayed | AtcVerdict::Stale => AtcOutcome::Replay,
                }
            })
            .await
            .map_err(|_| Decline::SystemMalfunction)?
            .ok_or(Decline::CardNotFound)?;
        match used {
            AtcOutcome::Fresh => {}
            AtcOutcome::Retransmission => {
                tracing::info!("retransmission of an answered authorization; asked again");
            }
            AtcOutcome::Replay => return Err(Decline::AtcReplayed),
            AtcOutcome::KeyUnusable => return Err(Decline::LimitedUseKeyInvalid),
        }
        Ok(TokenContext {
            dpan,
            hash,
            cvn,
            card_key,
            icc,
            arqc,
            row,
            retransmission: used == AtcOutcome::Retransmission,
        })
    }

    /// The limited-use key of HCE token `tur` for `atc`, derived from the token's MK-AC and
    /// the index of the key whose range holds the ATC, and whether that key may still pay at
    /// `now` (neither revoked nor expired). No key for the ATC is a decline; an unusable key
    /// still verifies the cryptogram, so that a retransmission of what it paid before is
    /// recognized, but it consumes no new ATC.
    async fn limited_use_key(
        &self,
        tur: &str,
        atc: u16,
        token_mk: &MasterKey,
        now: i64,
    ) -> Result<(MasterKey, bool), Decline> {
        let key = self
            .store
            .limited_use_key(tur, atc)
            .await
            .map_err(|_| Decline::SystemMalfunction)?;
        let Some(key) = key else {
            tracing::info!(atc, "no limited-use key covers the ATC; declined");
            return Err(Decline::LimitedUseKeyInvalid);
        };
        let usable = key.usable_at(now);
        if !usable {
            tracing::info!(
                atc,
                key_index = key.key_index,
                revoked = key.revoked,
                expired = now >= key.expires_at_unix,
                "limited-use key no longer usable"
            );
        }
        let luk = derive_limited_use_key(token_mk, key.key_index)
            .map_err(|_| Decline::CryptogramInvalid)?;
        Ok((luk, usable))
    }

    async fn authorize_token(&self, msg: &Message, dpan: Pan) -> Message {
        let ctx = match self.check(msg, dpan).await {
            Ok(c) => c,
            Err(d) => return declined(msg, d),
        };
        let Ok((fpan, fpan_expiry)) = self.config.vault.open(&ctx.row.fpan_envelope, &ctx.hash)
        else {
            tracing::error!("vault envelope did not open; answered 96");
            return declined(msg, Decline::SystemMalfunction);
        };
        let mut to_issuer = msg.clone();
        to_issuer.set_pan(Secret::new(fpan.expose_digits().to_owned()));
        to_issuer.set_expiry(Secret::new(fpan_expiry.yymm()));
        to_issuer.remove_field(fields::TRACK2);
        to_issuer.set_text(
            fields::ADDITIONAL_DATA_PRIVATE,
            &format!(
                "{};TR={}",
                domain::NETWORK_VALIDATED_MARKER,
                ctx.row.token_requestor_id
            ),
        );
        // A retransmission goes the same way as its original: the issuer answers a duplicate
        // (DE 11/37/41/42) from its record of the original and posts nothing. If it is silent,
        // stand-in decides again, as for any request it did not answer; the advice carries the
        // same identity, so the issuer posts it at most once.
        let mut answer = match self.forward(to_issuer).await {
            Ok(rsp) => {
                if ctx.row.standin_count > 0 {
                    let _ = self
                        .store
                        .token_update(&ctx.hash, |row| row.standin_count = 0)
                        .await;
                }
                rsp
            }
            Err(e) => {
                tracing::warn!(error = %e, "issuer did not answer; stand-in");
                self.stand_in(msg, &ctx).await
            }
        };
        // Back to the token: the acquirer never sees the funding PAN.
        answer.set_pan(Secret::new(ctx.dpan.expose_digits().to_owned()));
        answer.remove_field(fields::EXPIRY);
        let code = answer
            .response_code()
            .unwrap_or(ResponseCode::DO_NOT_HONOUR);
        // The card checks an ARPC made with its token key: the network makes it on the issuer's
        // behalf.
        let lookup = |t: Tag| ctx.icc.get(t);
        let reply = match ctx.cvn.arpc_method() {
            ArpcMethod::Method1 => ArpcResponse::Arc(code.0),
            ArpcMethod::Method2 => {
                ArpcResponse::csu([0x00, if code.is_approval() { 0x80 } else { 0x00 }, 0, 0])
            }
        };
        match issuer_authentication_data(ctx.cvn, &ctx.card_key, &lookup, &ctx.arqc, reply) {
            Ok(data91) => {
                let mut tags = TagMap::new();
                tags.put(emv::tags::ISSUER_AUTHENTICATION_DATA, &data91);
                tags.put(emv::tags::AUTHORISATION_RESPONSE_CODE, &code.0);
                answer.set_icc_tlv(&tags);
            }
            Err(_) => {
                answer.remove_field(fields::ICC_DATA);
            }
        }
        answer.set_text(
            fields::ADDITIONAL_DATA_PRIVATE,
            &format!("TV=V;TUR={}", ctx.row.tur),
        );
        if let Some(events) = self.events.as_ref().filter(|_| !ctx.retransmission) {
            let _ = events.send(TransactionEvent {
                tur: ctx.row.tur.clone(),
                token_requestor_id: ctx.row.token_requestor_id.clone(),
                amount_minor: msg.amount_minor().unwrap_or(0),
                currency_numeric: msg
                    .currency_code()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0),
                response_code: code.as_str().to_owned(),
                merchant_name_location: msg
                    .text(fields::MERCHANT_NAME_LOCATION)
                    .unwrap_or_default()
                    .to_owned(),
                mcc: msg
                    .text(fields::MERCHANT_TYPE)
                    .unwrap_or_default()
                    .to_owned(),
                at_unix: (self.clock)(),
            });
        }
        answer
    }

    /// Stand-in: the issuer did not answer in time.
    async fn stand_in(&self, msg: &Message, ctx: &TokenContext) -> Message {
        let amount = msg
            .amount_minor()
            .zip(
                msg.currency_code()
                    .and_then(|c| c.parse::<u16>().ok())
                    .and_then(Currency::from_numeric),
            )
            .and_then(|(m, c)| Amount::from_minor(m, c).ok());
        let Some(amount) = amount else {
            return declined(msg, Decline::FormatError);
        };
        // The approval's code: clock and STAN, base 36 (unique enough for DE 38, which only
        // has to identify the approval to the merchant).
        let now = u64::try_from((self.clock)()).unwrap_or(0);
        let code = AuthCode::from_sequence(
            now.wrapping_mul(1_000_000) + u64::from(msg.stan().unwrap_or(0)),
        );
        // The advice keeps the token, never the funding PAN: it is detokenized when delivered.
        let mut advice = msg.clone();
        advice.mti = Mti::AUTHORIZATION_ADVICE;
        advice.set_auth_code(code.as_str());
        advice.set_response_code(ResponseCode::APPROVED);
        let Ok(advice) = advice.pack(&ASCII87) else {
            return declined(msg, Decline::IssuerUnavailable);
        };
        // Count the approval and queue its advice in one transaction, so concurrent stand-ins
        // respect the limit and no approval goes unreported.
        let rules = self.config.stand_in;
        let verdict = self
            .store
            .token_update_with_advice(&ctx.hash, move |row| {
                let facts = StandInFacts {
                    amount,
                    cryptogram_ok: true,
                    approvals_since_issuer: u32::try_from(row.standin_count).unwrap_or(u32::MAX),
                };
                let v = stand_in(&rules, &facts);
                if v.is_ok() {
                    row.standin_count = row.standin_count.saturating_add(1);
                    (v, Some(advice))
                } else {
                    (v, None)
                }
            })
            .await;
        match verdict {
            Ok(Some((Ok(()), _))) => {
                let mut rsp = response(msg, ResponseCode::APPROVED);
                rsp.set_auth_code(code.as_str());
                rsp
            }
            Ok(Some((Err(d), _))) => declined(msg, d),
            _ => declined(msg, Decline::IssuerUnavailable),
        }
    }

    /// Delivers queued stand-in advices to the issuer (detokenized); returns how many were
    /// acknowledged. The host runs this periodically.
    pub async fn deliver_advices(&self) -> usize {
        let Ok(pending) = self
            .store
            .pending_advices(store::Queue::NetworkAdvices, 100)
            .await
        else {
            return 0;
        };
        let mut delivered = 0;
        for advice in pending {
            let Ok(mut msg) = Message::unpack(&advice.payload, &ASCII87) else {
                let _ = self.store.mark_advice_delivered(advice.id).await;
                continue;
            };
            if let Some(dpan) = msg.pan().and_then(|p| Pan::parse(p.expose()).ok()) {
                let hash = self.config.vault.pan_hash(&dpan);
                if let Ok(Some(row)) = self.store.token(&hash).await
                    && let Ok((fpan, exp)) = self.config.vault.open(&row.fpan_envelope, &hash)
                {
                    msg.set_pan(Secret::new(fpan.expose_digits().to_owned()));
                    msg.set_expiry(Secret::new(exp.yymm()));
                    msg.set_text(
                        fields::ADDITIONAL_DATA_PRIVATE,
                        domain::NETWORK_VALIDATED_MARKER,
                    );
                }
            }
            msg.remove_field(fields::TRACK2);
            match self.forward(msg).await {
                Ok(rsp) if rsp.response_code().is_some_and(ResponseCode::is_approval) => {
                    if self
                        .store
                        .mark_advice_delivered(advice.id)
                        .await
                        .unwrap_or(false)
                    {
                        delivered += 1;
                    }
                }
                _ => {
                    let _ = self.store.bump_advice_attempt(advice.id).await;
                }
            }
        }
        delivered
    }

    async fn reverse(&self, msg: &Message) -> Message {
        let Some(pan) = msg.pan().and_then(|p| Pan::parse(p.expose()).ok()) else {
            return response(msg, ResponseCode::FORMAT_ERROR);
        };
        let mut to_issuer = msg.clone();
        if self.config.bins.route(&pan).map(|r| r.kind) == Some(BinKind::Token) {
            let hash = self.config.vault.pan_hash(&pan);
            let Ok(Some(row)) = self.store.token(&hash).await else {
                return response(msg, ResponseCode::INVALID_CARD_NUMBER);
            };
            let Ok((fpan, _)) = self.config.vault.open(&row.fpan_envelope, &hash) else {
                return declined(msg, Decline::SystemMalfunction);
            };
            to_issuer.set_pan(Secret::new(fpan.expose_digits().to_owned()));
            to_issuer.remove_field(fields::TRACK2);
        }
        match self.forward(to_issuer).await {
            Ok(mut rsp) => {
                rsp.set_pan(Secret::new(pan.expose_digits().to_owned()));
                rsp
            }
            Err(_) => declined(msg, Decline::IssuerUnavailable),
        }
    }
}

/// Serves the network on `listener` until `shutdown` resolves; delivers stand-in advices every
/// `advice_interval` meanwhile.
pub async fn run(
    listener: TcpListener,
    network: Arc<Network>,
    advice_interval: Duration,
    shutdown: impl Future<Output = ()> + Send,
) -> ServeReport {
    let courier = Arc::clone(&network);
    let advices = tokio::spawn(async move {
        let mut tick = tokio::time::interval(advice_interval);
        loop {
            tick.tick().await;
            courier.deliver_advices().await;
        }
    });
    let handler = iso8583_net::handler_fn(move |msg: Message| {
        let network = Arc::clone(&network);
        async move { network.handle(msg).await }
    });
    let report = iso8583_net::serve(listener, IsoCodec, handler, shutdown).await;
    advices.abort();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_answers_rotate_in_constant_time_and_expire() {
        let mut recent = RecentAnswers::default();
        let answer = Message::new(Mti::AUTHORIZATION_RESPONSE);
        recent.insert("a".into(), 0, answer.clone());
        assert!(recent.get("a", 10).is_some());
        assert!(
            recent.get("a", DUPLICATE_WINDOW_SECS + 1).is_none(),
            "expired"
        );
        // Fill well past the capacity: the newest half stays, the oldest goes.
        for i in 0..DUPLICATE_CAPACITY + 10 {
            recent.insert(format!("k{i}"), 1, answer.clone());
        }
        assert!(
            recent
                .get(&format!("k{}", DUPLICATE_CAPACITY + 9), 1)
                .is_some()
        );
        assert!(
            recent
                .get(&format!("k{}", DUPLICATE_CAPACITY / 2 + 10), 1)
                .is_some()
        );
        assert!(recent.get("k0", 1).is_none());
        assert!(recent.current.len() + recent.previous.len() <= DUPLICATE_CAPACITY);
    }
}
