//! Message handling.

use std::future::Future;
use std::sync::Arc;

use cards::{Amount, Currency, Date, Expiry, Pan};
use domain::{
    Account, AccountKind, AuthCode, CardStatus, Decline, IssuerCard, IssuerFacts, Velocity,
    VelocityLimits, decide,
};
use emv_crypto::{
    ArpcMethod, ArpcResponse, Cvn, MasterKey, derive_icc_master_key, issuer_authentication_data,
    verify_ac,
};
use hmac::{Hmac, KeyInit, Mac};
use iso8583::{Message, Mti, ResponseCode, fields, spec::ASCII87};
use iso8583_net::ServeReport;
use secret::Secret;
use sha2::Sha256;
use store::{
    AuthDecision, AuthOutcome, AuthRequestRow, AuthState, AuthStatus, ReverseOutcome, Store,
};
use tlv::{Tag, TagMap};
use tokio::net::TcpListener;

/// The wall clock, as Unix seconds (injected so tests control time).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Issuer master keys for application cryptograms (3DES) by BIN range: a card's key is derived
/// from the key of the narrowest range holding the first 8 digits of its PAN.
pub struct IssuerKeys {
    ranges: Vec<(u32, u32, MasterKey)>,
}

impl IssuerKeys {
    /// One key for every card.
    pub fn single(imk: MasterKey) -> Self {
        Self {
            ranges: vec![(0, 99_999_999, imk)],
        }
    }

    /// Keys by 8-digit BIN range (`low..=high`).
    pub fn new(mut ranges: Vec<(u32, u32, MasterKey)>) -> Self {
        ranges.sort_by_key(|(low, high, _)| high.saturating_sub(*low));
        Self { ranges }
    }

    /// The master key of the range holding `pan`.
    pub fn for_pan(&self, pan: &Pan) -> Option<&MasterKey> {
        let bin = domain::bin8(pan);
        self.ranges
            .iter()
            .find(|(low, high, _)| (*low..=*high).contains(&bin))
            .map(|(_, _, k)| k)
    }
}

/// The issuer's configuration.
pub struct IssuerConfig {
    /// Issuer master keys by BIN range.
    pub keys: IssuerKeys,
    /// Key of the HMAC that indexes cards by PAN (the issuer stores no card number in clear).
    pub pan_hash_key: Secret<[u8; 32]>,
    /// Velocity limits per card.
    pub velocity: VelocityLimits,
}

/// The issuer host.
pub struct Issuer {
    store: Store,
    config: IssuerConfig,
    clock: Clock,
}

fn response(req: &Message, code: ResponseCode) -> Message {
    req.response_to(code)
}

fn code_of(decline: Decline) -> ResponseCode {
    ResponseCode(decline.response_code())
}

/// The dedup key of a request: STAN, RRN, terminal, merchant (a reversal carries its original's).
fn dedup_key(msg: &Message) -> Option<String> {
    let stan = msg.stan()?;
    let rrn = msg.rrn()?;
    let terminal = msg.terminal_id()?;
    let merchant = msg.merchant_id().unwrap_or_default();
    Some(format!("{stan:06}|{rrn}|{terminal}|{merchant}"))
}

/// Makes the ARPC (issuer authentication data, tag 91) for a response code.
type ArpcFn<'a> = Box<dyn Fn(ResponseCode) -> Option<Vec<u8>> + Send + Sync + 'a>;

/// What a 0100 says, checked.
struct Request {
    pan: Pan,
    amount: Amount,
    expiry: Option<Expiry>,
    psn: u8,
    icc: Option<TagMap>,
    network_validated: bool,
    dedup_key: String,
}

fn parse_request(msg: &Message) -> Result<Request, Decline> {
    let pan = msg.pan().ok_or(Decline::FormatError)?;
    let pan = Pan::parse(pan.expose()).map_err(|_| Decline::CardNotFound)?;
    let currency = msg
        .currency_code()
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or(Decline::FormatError)?;
    let currency = Currency::from_numeric(currency).ok_or(Decline::CurrencyNotSupported)?;
    let amount = msg.amount_minor().ok_or(Decline::FormatError)?;
    let amount = Amount::from_minor(amount, currency).map_err(|_| Decline::InvalidAmount)?;
    let expiry = match msg.expiry() {
        Some(e) => Some(Expiry::parse_yymm(e.expose()).map_err(|_| Decline::FormatError)?),
        None => None,
    };
    let psn = match msg.card_sequence_number() {
        // DE 23 is n3 ("001"); the card's 5F34 byte is the last two digits in BCD.
        Some(text) => {
            let n: u8 = text.parse().map_err(|_| Decline::FormatError)?;
            ((n / 10 % 10) << 4) | (n % 10)
        }
        None => 0,
    };
    let icc = msg.icc_tlv().map_err(|_| Decline::FormatError)?;
    let network_validated = msg
        .text(fields::ADDITIONAL_DATA_PRIVATE)
        .is_some_and(|d| d.contains(domain::NETWORK_VALIDATED_MARKER));
    let dedup_key = dedup_key(msg).ok_or(Decline::FormatError)?;
    Ok(Request {
        pan,
        amount,
        expiry,
        psn,
        icc,
        network_validated,
        dedup_key,
    })
}

impl Issuer {
    /// An issuer on `store`.
    pub fn new(store: Store, config: IssuerConfig, clock: Clock) -> Self {
        Self {
            store,
            config,
            clock,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The keyed hash under which a card is stored.
    pub fn pan_hash(&self, pan: &Pan) -> [u8; 32] {
        let Ok(mut mac) =
            <Hmac<Sha256> as KeyInit>::new_from_slice(self.config.pan_hash_key.expose())
        else {
            return [0; 32];
        };
        mac.update(pan.expose_digits().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Answers one message (None: nothing to answer).
    pub async fn handle(&self, msg: Message) -> Option<Message> {
        match msg.mti {
            Mti::AUTHORIZATION_REQUEST => Some(self.authorize(&msg).await),
            Mti::AUTHORIZATION_ADVICE => Some(self.advice(&msg).await),
            Mti::REVERSAL_REQUEST | Mti::REVERSAL_ADVICE => Some(self.reverse(&msg).await),
            Mti::NETWORK_MANAGEMENT_REQUEST => Some(msg.network_management_response()),
            other if other.is_request() => Some(response(&msg, ResponseCode::FORMAT_ERROR)),
            _ => None,
        }
    }

    async fn authorize(&self, msg: &Message) -> Message {
        let req = match parse_request(msg) {
            Ok(r) => r,
            Err(decline) => return response(msg, code_of(decline)),
        };
        let now = (self.clock)();
        let Ok(date) = Date::from_unix_seconds(now) else {
            return response(
                msg,
                ResponseCode(Decline::SystemMalfunction.response_code()),
            );
        };
        let cryptogram = if req.network_validated {
            None
        } else {
            req.icc.as_ref().map(|icc| self.check_cryptogram(&req, icc))
        };
        let row = AuthRequestRow {
            dedup_key: req.dedup_key.clone(),
            pan_hash: self.pan_hash(&req.pan),
            amount_minor: i64::try_from(req.amount.minor()).unwrap_or(i64::MAX),
            currency_numeric: i32::from(req.amount.currency().numeric),
            at_unix: now,
            kind: "auth".to_owned(),
        };
        let limits = self.config.velocity;
        let window = i64::try_from(limits.window_secs).unwrap_or(i64::MAX);
        // The decision runs on the store's writer: it owns what it needs.
        let amount_minor = row.amount_minor;
        let request_msg = msg.clone();
        let outcome = self
            .store
            .issuer_authorize(&row, window, move |state| {
                let msg = &request_msg;
                let verdict = judge(
                    &state,
                    &req,
                    &limits,
                    date,
                    cryptogram.as_ref().map(|c| c.0),
                );
                let (code, auth_code, hold) = match verdict {
                    Ok(()) => {
                        let code = AuthCode::from_sequence(state.sequence);
                        (
                            ResponseCode::APPROVED,
                            Some(code.as_str().to_owned()),
                            amount_minor,
                        )
                    }
                    Err(d) => (code_of(d), None, 0),
                };
                let mut rsp = response(msg, code);
                if let Some(a) = &auth_code {
                    rsp.set_auth_code(a);
                }
                if let Some((_, Some(arpc))) = &cryptogram {
                    let data91 = arpc(code);
                    if let Some(d) = data91 {
                        let mut tags = TagMap::new();
                        tags.put(emv::tags::ISSUER_AUTHENTICATION_DATA, &d);
                        tags.put(emv::tags::AUTHORISATION_RESPONSE_CODE, &code.0);
                        rsp.set_icc_tlv(&tags);
                    }
                }
                let blob = rsp.pack(&ASCII87).unwrap_or_default();
                AuthDecision {
                    response_code: code.as_str().to_owned(),
                    auth_code,
                    hold_minor: hold,
                    response_blob: blob,
                }
            })
            .await;
        match outcome {
            Ok(AuthOutcome::Duplicate(stored))
                if stored.status == AuthStatus::Reversed && stored.response_blob.is_empty() =>
            {
                // Its reversal came first (the acquirer gave up waiting): never hold it now.
                tracing::info!("authorization arrived after its reversal; declined");
                response(msg, code_of(Decline::AlreadyReversed))
            }
            Ok(AuthOutcome::Fresh(stored) | AuthOutcome::Duplicate(stored)) => {
                Message::unpack(&stored.response_blob, &ASCII87).unwrap_or_else(|_| {
                    response(
                        msg,
                        ResponseCode(Decline::SystemMalfunction.response_code()),
                    )
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "issuer store failed; answered 96");
                response(
                    msg,
                    ResponseCode(Decline::SystemMalfunction.response_code()),
                )
            }
        }
    }

    /// Verifies the ARQC with the card's key derived from the issuer master key, and prepares
    /// the ARPC for whatever response code the decision gives.
    fn check_cryptogram(&self, req: &Request, icc: &TagMap) -> (bool, Option<ArpcFn<'static>>) {
        let lookup = |t: Tag| icc.get(t);
        let Some(iad) = icc.get(emv::tags::IAD) else {
            return (false, None);
        };
        let Ok(cvn) = Cvn::from_iad(iad) else {
            return (false, None);
        };
        let Some(imk) = self.config.keys.for_pan(&req.pan) else {
            return (false, None);
        };
        let Ok(icc_mk) = derive_icc_master_key(cvn, imk, req.pan.expose_digits(), req.psn) else {
            return (false, None);
        };
        let Some(arqc) = icc
            .get(emv::tags::APPLICATION_CRYPTOGRAM)
            .and_then(|a| <[u8; 8]>::try_from(a).ok())
        else {
            return (false, None);
        };
        let ok = verify_ac(cvn, &icc_mk, &lookup, &arqc).is_ok();
        let icc = icc.clone();
        let arpc = move |code: ResponseCode| {
            let lookup = |t: Tag| icc.get(t);
            let reply = match cvn.arpc_method() {
                ArpcMethod::Method1 => ArpcResponse::Arc(code.0),
                ArpcMethod::Method2 => {
                    ArpcResponse::csu([0x00, if code.is_approval() { 0x80 } else { 0x00 }, 0, 0])
                }
            };
            issuer_authentication_data(cvn, &icc_mk, &lookup, &arqc, reply).ok()
        };
        (ok, Some(Box::new(arpc)))
    }

    async fn reverse(&self, msg: &Message) -> Message {
        let req = match parse_request(msg) {
            Ok(r) => r,
            Err(_) => return response(msg, ResponseCode::FORMAT_ERROR),
        };
        let row = AuthRequestRow {
            dedup_key: req.dedup_key.clone(),
            pan_hash: self.pan_hash(&req.pan),
            amount_minor: i64::try_from(req.amount.minor()).unwrap_or(i64::MAX),
            currency_numeric: i32::from(req.amount.currency().numeric),
            at_unix: (self.clock)(),
            kind: "reversal".to_owned(),
        };
        match self.store.issuer_reverse(&row).await {
            Ok(ReverseOutcome::RecordedAhead) => {
                tracing::info!("reversal before its authorization; key recorded as reversed");
                response(msg, ResponseCode::APPROVED)
            }
            Ok(
                ReverseOutcome::Released { .. }
                | ReverseOutcome::AlreadyReversed
                | ReverseOutcome::NothingHeld,
            ) => response(msg, ResponseCode::APPROVED),
            Err(e) => {
                tracing::error!(error = %e, "issuer store failed on a reversal; answered 96");
                response(
                    msg,
                    ResponseCode(Decline::SystemMalfunction.response_code()),
                )
            }
        }
    }

    async fn advice(&self, msg: &Message) -> Message {
        let req = match parse_request(msg) {
            Ok(r) => r,
            Err(decline) => return response(msg, code_of(decline)),
        };
        let row = AuthRequestRow {
            dedup_key: req.dedup_key.clone(),
            pan_hash: self.pan_hash(&req.pan),
            amount_minor: i64::try_from(req.amount.minor()).unwrap_or(i64::MAX),
            currency_numeric: i32::from(req.amount.currency().numeric),
            at_unix: (self.clock)(),
            kind: "advice".to_owned(),
        };
        let rsp = response(msg, ResponseCode::APPROVED);
        let blob = rsp.pack(&ASCII87).unwrap_or_default();
        match self
            .store
            .issuer_advice(&row, msg.auth_code().map(str::to_owned), blob)
            .await
        {
            Ok(_) => rsp,
            Err(e) => {
                tracing::error!(error = %e, "issuer store failed on an advice; answered 96");
                response(
                    msg,
                    ResponseCode(Decline::SystemMalfunction.response_code()),
                )
            }
        }
    }
}

/// The issuer's rules over what the store loaded.
fn judge(
    state: &AuthState,
    req: &Request,
    limits: &VelocityLimits,
    date: Date,
    cryptogram_ok: Option<bool>,
) -> Result<(), Decline> {
    let card = state.card.as_ref().ok_or(Decline::CardNotFound)?;
    let account = state.account.as_ref().ok_or(Decline::CardNotFound)?;
    let status = match card.status.as_str() {
        "active" => CardStatus::Active,
        "blocked" => CardStatus::Blocked,
        _ => CardStatus::LostOrStolen,
    };
    let expiry = Expiry::parse_yymm(&card.expiry_yymm).map_err(|_| Decline::SystemMalfunction)?;
    let currency = u16::try_from(account.currency_numeric)
        .ok()
        .and_then(Currency::from_numeric)
        .ok_or(Decline::SystemMalfunction)?;
    let minor = |v: i64| u64::try_from(v).unwrap_or(0);
    let kind = if account.kind == "credit" {
        AccountKind::Credit {
            limit_minor: minor(account.limit_minor),
        }
    } else {
        AccountKind::Debit
    };
    let account = Account {
        kind,
        currency,
        balance_minor: minor(account.balance_minor),
        holds_minor: minor(account.holds_minor),
        open: account.open,
    };
    let velocity = Velocity {
        count: state.velocity_count,
        amount_minor: minor(state.velocity_amount_minor),
    };
    let facts = IssuerFacts {
        amount: req.amount,
        expiry_given: req.expiry,
        date,
        cryptogram_ok,
    };
    decide(
        &IssuerCard { status, expiry },
        &account,
        &velocity,
        limits,
        &facts,
    )
}

/// Serves the issuer on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    issuer: Arc<Issuer>,
    shutdown: impl Future<Output = ()> + Send,
) -> ServeReport {
    let handler = iso8583_net::handler_fn(move |msg: Message| {
        let issuer = Arc::clone(&issuer);
        async move { issuer.handle(msg).await }
    });
    iso8583_net::serve(listener, iso8583_net::IsoCodec, handler, shutdown).await
}

#[cfg(test)]
mod tests {
    use emv_crypto::KeyAlgorithm;

    use super::*;

    #[test]
    fn keys_by_bin_range_narrowest_first() {
        let key = |b: u8| MasterKey::new(KeyAlgorithm::Tdes2, &[b; 16]).unwrap();
        let keys = IssuerKeys::new(vec![
            (40_000_000, 49_999_999, key(1)),
            (41_111_111, 41_111_111, key(2)),
        ]);
        let kcv = |pan: &str| keys.for_pan(&Pan::parse(pan).unwrap()).map(|k| k.kcv());
        assert_eq!(kcv("4111111111111111"), Some(key(2).kcv()));
        assert_eq!(kcv("4012888888881881"), Some(key(1).kcv()));
        assert_eq!(kcv("5555555555554444"), None);
    }
}
