//! Identification and verification (ID&V) of a cardholder who adds a card to a wallet: the
//! issuer's side of tokenization.
//!
//! The token service asks the issuer through [`IssuerIdv`] (in process here, through
//! [`Idv`]; a remote issuer can implement the same trait). For each request the issuer answers
//! green ([`IdvDecision::Approved`]), yellow ([`IdvDecision::StepUp`], with the methods it
//! offers) or red ([`IdvDecision::Declined`], with a [`TokenizationDecline`]). A yellow answer
//! opens a session for the token; the cardholder then proves who they are with a one-time
//! password ([`IssuerIdv::send_otp`], [`IssuerIdv::verify_otp`]) or by approving in the issuer's
//! app ([`Idv::approve_in_app`], which activates the token through [`TokenActivation`]).
//!
//! # The rules ([`decide`], pure; the first that applies is the answer)
//!
//! | # | Fact | Answer |
//! |---|------|--------|
//! | 1 | `max_attempts` (10) or more attempts on this card in the last `window_secs` (24 h), any outcome | red `TOO_MANY_ATTEMPTS` |
//! | 2 | the issuer holds no such card, or the card has no ID&V profile | red `CARD_NOT_ELIGIBLE` |
//! | 3 | the card is blocked / lost or stolen | red `CARD_BLOCKED` / `CARD_LOST_OR_STOLEN` |
//! | 4 | the card is past its expiry | red `CARD_EXPIRED` |
//! | 5 | the expiry given differs from the card's | red `EXPIRY_MISMATCH` |
//! | 6 | the CVV given does not match | red `CVV_MISMATCH` |
//! | 7 | the card already has an active token of this requestor on this device | green |
//! | 8 | the issuer marks the card low risk | green |
//! | 9 | the profile has a phone (`OTP_SMS`), an e-mail address (`OTP_EMAIL`) or the issuer app (`ISSUER_APP`) | yellow, offering those |
//! | 10 | otherwise | red `NO_AUTHENTICATION_METHOD` |
//!
//! Every attempt is recorded (with the TUR and the outcome) in the same transaction that counts
//! the earlier ones, so concurrent attempts cannot slip past rule 1, and rule 1 comes first so a
//! CVV cannot be guessed by repeating requests.
//!
//! # Secrets
//!
//! The issuer keeps no CVV and no one-time password: profiles hold `HMAC-SHA-256(cvv_key, PAN
//! ":" CVV)`, sessions `HMAC-SHA-256(otp_key, TUR ":" code)`, both subkeys derived from the
//! issuer's ID&V key ([`IdvConfig::idv_key`]) by HMAC with a fixed label. Comparisons are
//! constant time. Codes are 6 digits from the OS random source, valid `otp_ttl_secs` (5 min,
//! by the injected clock), with `otp_attempts` (5) wrong answers per session before it locks;
//! sending a new code does not restore attempts.
//!
//! # One-time password delivery
//!
//! Codes leave through an [`OtpProvider`]. The default, [`StoreOtpOutbox`], is a simulated
//! SMS/e-mail gateway: it queues the message, code in clear, in the store's `otp_outbox` table,
//! where the CLI prints it from. A deployment with a real gateway passes its own provider.
//!
//! # Demo rule for CVVs
//!
//! The demo cards' CVVs are constants in `harness::demo` (`DemoCard::cvv`); seeding enrolls
//! each card with [`Idv::enroll`], which stores only the keyed hash.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cards::{Date, Expiry, Pan};
use domain::CardStatus;
use hmac::{Hmac, KeyInit, Mac};
use secret::Secret;
use sha2::Sha256;
use store::{
    AttemptOutcome, IdvProfileRow, IdvSessionRow, IdvState, OtpOutboxRow, Store, StoreError,
    TokenizationAttemptRow,
};

use crate::Clock;

/// A boxed future, so the traits here can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// ---- vocabulary -------------------------------------------------------------------------------

/// A way the issuer can authenticate the cardholder (step-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethodKind {
    /// A one-time password by SMS.
    OtpSms,
    /// A one-time password by e-mail.
    OtpEmail,
    /// Approval in the issuer's mobile app.
    IssuerApp,
}

impl AuthMethodKind {
    /// The wire name (`OTP_SMS`, `OTP_EMAIL`, `ISSUER_APP`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OtpSms => "OTP_SMS",
            Self::OtpEmail => "OTP_EMAIL",
            Self::IssuerApp => "ISSUER_APP",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OTP_SMS" => Some(Self::OtpSms),
            "OTP_EMAIL" => Some(Self::OtpEmail),
            "ISSUER_APP" => Some(Self::IssuerApp),
            _ => None,
        }
    }

    /// The OTP channel of this method (`None` for the issuer app).
    pub const fn otp_channel(self) -> Option<OtpChannel> {
        match self {
            Self::OtpSms => Some(OtpChannel::Sms),
            Self::OtpEmail => Some(OtpChannel::Email),
            Self::IssuerApp => None,
        }
    }
}

/// A method offered, with its destination masked for display (`"+33 6** ** ** 78"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthMethod {
    /// The method.
    pub kind: AuthMethodKind,
    /// Masked phone number or e-mail address; `None` for the issuer app.
    pub destination: Option<String>,
}

/// Why the issuer refuses a tokenization (red).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenizationDecline {
    /// Too many attempts on this card in the window.
    TooManyAttempts,
    /// The issuer holds no such card, or it cannot be tokenized.
    CardNotEligible,
    /// The card is blocked.
    CardBlocked,
    /// The card was reported lost or stolen.
    CardLostOrStolen,
    /// The card is past its expiry.
    CardExpired,
    /// The expiry given is not the card's.
    ExpiryMismatch,
    /// The CVV given is not the card's.
    CvvMismatch,
    /// A step-up is needed but the issuer has no way to reach the cardholder.
    NoAuthenticationMethod,
}

impl TokenizationDecline {
    /// The reason code sent to the token requestor.
    pub const fn code(self) -> &'static str {
        match self {
            Self::TooManyAttempts => "TOO_MANY_ATTEMPTS",
            Self::CardNotEligible => "CARD_NOT_ELIGIBLE",
            Self::CardBlocked => "CARD_BLOCKED",
            Self::CardLostOrStolen => "CARD_LOST_OR_STOLEN",
            Self::CardExpired => "CARD_EXPIRED",
            Self::ExpiryMismatch => "EXPIRY_MISMATCH",
            Self::CvvMismatch => "CVV_MISMATCH",
            Self::NoAuthenticationMethod => "NO_AUTHENTICATION_METHOD",
        }
    }
}

/// The issuer's answer to a tokenization request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdvDecision {
    /// Green: tokenize and activate.
    Approved {
        /// The card's product name, for the wallet.
        product_name: String,
    },
    /// Yellow: tokenize, but activate only once the cardholder authenticates.
    StepUp {
        /// The card's product name, for the wallet.
        product_name: String,
        /// The methods offered, in the issuer's order of preference.
        methods: Vec<AuthMethod>,
    },
    /// Red: do not tokenize.
    Declined(TokenizationDecline),
}

/// A tokenization request, as the token service passes it to the issuer.
pub struct TokenizationRequest {
    /// The token unique reference the token service assigned to the would-be token.
    pub tur: String,
    /// The funding PAN.
    pub pan: Pan,
    /// The expiry the cardholder gave.
    pub expiry: Expiry,
    /// The CVV the cardholder gave (3 or 4 digits).
    pub cvv: Secret<String>,
    /// The token requestor (wallet) asking.
    pub token_requestor_id: String,
    /// The device the token would be bound to.
    pub device_id: String,
    /// Active tokens of this card, of this requestor, already on this device.
    pub active_tokens_on_device: u32,
}

impl core::fmt::Debug for TokenizationRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenizationRequest")
            .field("tur", &self.tur)
            .field("pan", &self.pan)
            .field("expiry", &self.expiry)
            .field("cvv", &self.cvv)
            .field("token_requestor_id", &self.token_requestor_id)
            .field("device_id", &self.device_id)
            .field("active_tokens_on_device", &self.active_tokens_on_device)
            .finish()
    }
}

/// A one-time password was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpSent {
    /// By which method.
    pub method: AuthMethodKind,
    /// To where, masked.
    pub destination: String,
    /// Until when it is valid, Unix seconds.
    pub expires_at_unix: i64,
}

/// The verdict on a one-time password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtpCheck {
    /// Right: the session is approved.
    Verified,
    /// Wrong; this many attempts are left before the session locks (at least 1).
    Incorrect {
        /// Attempts left.
        attempts_left: u32,
    },
    /// Too many wrong answers: the session is locked (this answer may be the one that locked
    /// it). No code will be accepted any more.
    Locked,
    /// The code expired: ask for a new one. No attempt was spent.
    Expired,
    /// No code was sent by this method (or a newer code replaced it): ask for one. No attempt
    /// was spent.
    NotSent,
}

/// Why an ID&V operation could not be carried out. Carries no card data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdvError {
    /// No step-up session exists for this token.
    NoSession,
    /// The method was not offered for this token (or cannot carry a code).
    MethodNotOffered,
    /// The session is locked after too many wrong codes.
    Locked,
    /// The session was already approved.
    AlreadyApproved,
    /// The CVV to enroll is not 3 or 4 digits.
    InvalidCvv,
    /// The issuer holds no card with this number.
    UnknownCard,
    /// The token service refused the activation.
    Activation(ActivationError),
    /// The store, the OTP provider or the random source failed.
    Unavailable,
}

impl core::fmt::Display for IdvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoSession => f.write_str("no authentication is pending for this token"),
            Self::MethodNotOffered => f.write_str("this method is not offered for this token"),
            Self::Locked => f.write_str("authentication is locked after too many wrong codes"),
            Self::AlreadyApproved => f.write_str("authentication was already completed"),
            Self::InvalidCvv => f.write_str("a CVV is 3 or 4 digits"),
            Self::UnknownCard => f.write_str("the issuer holds no such card"),
            Self::Activation(e) => write!(f, "the token service refused the activation: {e}"),
            Self::Unavailable => f.write_str("the issuer's ID&V service is unavailable"),
        }
    }
}

impl std::error::Error for IdvError {}

impl From<StoreError> for IdvError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "issuer ID&V store failure");
        Self::Unavailable
    }
}

/// Why the token service refused to activate a token for the issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationError {
    /// No such token.
    UnknownToken,
    /// The token is not waiting for activation (already active, suspended or deleted).
    NotInactive,
    /// The token service is unavailable.
    Unavailable,
}

impl core::fmt::Display for ActivationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnknownToken => "no such token",
            Self::NotInactive => "the token is not waiting for activation",
            Self::Unavailable => "the token service is unavailable",
        })
    }
}

// ---- ports ------------------------------------------------------------------------------------

/// The issuer's ID&V service as the token service uses it.
pub trait IssuerIdv: Send + Sync {
    /// Eligibility and ID&V decision for one tokenization request (recorded as an attempt;
    /// a step-up opens a session under `request.tur`).
    fn assess<'a>(
        &'a self,
        request: &'a TokenizationRequest,
    ) -> BoxFuture<'a, Result<IdvDecision, IdvError>>;

    /// Sends a new one-time password for a pending token by `method`.
    fn send_otp<'a>(
        &'a self,
        tur: &'a str,
        method: AuthMethodKind,
    ) -> BoxFuture<'a, Result<OtpSent, IdvError>>;

    /// Checks a one-time password; [`OtpCheck::Verified`] approves the session.
    fn verify_otp<'a>(
        &'a self,
        tur: &'a str,
        method: AuthMethodKind,
        code: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<OtpCheck, IdvError>>;
}

/// The token service as the issuer uses it: activating a token once the issuer authenticated
/// the cardholder itself (approval in its app). Implemented by the token service.
pub trait TokenActivation: Send + Sync {
    /// Activates a token waiting for authentication.
    fn activate<'a>(&'a self, tur: &'a str) -> BoxFuture<'a, Result<(), ActivationError>>;
}

/// A channel one-time passwords travel on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OtpChannel {
    /// SMS.
    Sms,
    /// E-mail.
    Email,
}

impl OtpChannel {
    /// Stored name (`sms`, `email`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

/// A one-time password on its way to the cardholder.
#[derive(Debug)]
pub struct OtpMessage {
    /// SMS or e-mail.
    pub channel: OtpChannel,
    /// The phone number or e-mail address, in clear.
    pub destination: String,
    /// The code.
    pub code: Secret<String>,
    /// When it was made, Unix seconds.
    pub created_at_unix: i64,
}

/// Delivers one-time passwords (an SMS or e-mail gateway).
pub trait OtpProvider: Send + Sync {
    /// Hands the message to the gateway.
    fn deliver<'a>(&'a self, message: &'a OtpMessage) -> BoxFuture<'a, Result<(), IdvError>>;
}

/// The simulated gateway: messages are queued in the store's `otp_outbox` table, code in clear,
/// for the CLI to print. Demo only: a real deployment passes a real gateway.
#[derive(Clone, Debug)]
pub struct StoreOtpOutbox {
    store: Store,
}

impl StoreOtpOutbox {
    /// A gateway queueing in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl OtpProvider for StoreOtpOutbox {
    fn deliver<'a>(&'a self, message: &'a OtpMessage) -> BoxFuture<'a, Result<(), IdvError>> {
        Box::pin(async move {
            self.store
                .enqueue_otp(&OtpOutboxRow {
                    id: 0,
                    destination: message.destination.clone(),
                    channel: message.channel.as_str().to_owned(),
                    code: message.code.expose().clone(),
                    created_at_unix: message.created_at_unix,
                })
                .await?;
            Ok(())
        })
    }
}

// ---- the rules --------------------------------------------------------------------------------

/// The issuer's tokenization limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdvRules {
    /// Attempts allowed per card in the window (the next is declined).
    pub max_attempts: u32,
    /// The attempt window, seconds.
    pub window_secs: i64,
    /// How long a one-time password is valid, seconds.
    pub otp_ttl_secs: i64,
    /// Wrong one-time passwords allowed per session before it locks.
    pub otp_attempts: u32,
}

impl Default for IdvRules {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            window_secs: 24 * 3600,
            otp_ttl_secs: 300,
            otp_attempts: 5,
        }
    }
}

/// What the issuer knows of an enrolled card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardFacts {
    /// Status.
    pub status: CardStatus,
    /// Expiry.
    pub expiry: Expiry,
    /// Marked low risk (no step-up).
    pub low_risk: bool,
    /// Step-up methods the profile allows, in order of preference.
    pub methods: Vec<AuthMethodKind>,
}

/// The facts of one tokenization request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizationFacts {
    /// The card, `None` when unknown or without an ID&V profile.
    pub card: Option<CardFacts>,
    /// The expiry given.
    pub expiry_given: Expiry,
    /// Whether the CVV given matches.
    pub cvv_matches: bool,
    /// Earlier attempts on this card in the window.
    pub attempts_in_window: u32,
    /// Active tokens of this card, of this requestor, on this device.
    pub active_tokens_on_device: u32,
    /// Today.
    pub date: Date,
}

/// Why a request was approved without a step-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GreenReason {
    /// The card already has an active token on this device.
    AlreadyOnDevice,
    /// The card is low risk.
    LowRisk,
}

/// The issuer's verdict, before it is dressed with product name and destinations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Approve.
    Green(GreenReason),
    /// Step up with these methods (never empty).
    Yellow(Vec<AuthMethodKind>),
    /// Decline.
    Red(TokenizationDecline),
}

/// The tokenization rules (see the module documentation), pure.
pub fn decide(facts: &TokenizationFacts, rules: &IdvRules) -> Verdict {
    use TokenizationDecline as D;
    if facts.attempts_in_window >= rules.max_attempts {
        return Verdict::Red(D::TooManyAttempts);
    }
    let Some(card) = &facts.card else {
        return Verdict::Red(D::CardNotEligible);
    };
    match card.status {
        CardStatus::Active => {}
        CardStatus::Blocked => return Verdict::Red(D::CardBlocked),
        CardStatus::LostOrStolen => return Verdict::Red(D::CardLostOrStolen),
    }
    if card.expiry.is_expired_on(facts.date) {
        return Verdict::Red(D::CardExpired);
    }
    if facts.expiry_given != card.expiry {
        return Verdict::Red(D::ExpiryMismatch);
    }
    if !facts.cvv_matches {
        return Verdict::Red(D::CvvMismatch);
    }
    if facts.active_tokens_on_device > 0 {
        return Verdict::Green(GreenReason::AlreadyOnDevice);
    }
    if card.low_risk {
        return Verdict::Green(GreenReason::LowRisk);
    }
    if card.methods.is_empty() {
        return Verdict::Red(D::NoAuthenticationMethod);
    }
    Verdict::Yellow(card.methods.clone())
}

// ---- masking ------------------------------------------------------------------------------------

/// Masks a phone number for display: the country code (a leading `+` group), the first digit
/// after it and the last two digits show; other digits become `*`; separators stay.
/// `"+33 612 34 56 78"` becomes `"+33 6** ** ** 78"`.
pub fn mask_phone(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let country = if phone.starts_with('+') {
        phone
            .chars()
            .skip(1)
            .take_while(char::is_ascii_digit)
            .count()
    } else {
        0
    };
    let mut seen = 0;
    phone
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen <= country + 1 || seen + 2 > digits {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Masks an e-mail address for display: the first character of the local part and the domain
/// show. `"camille.martin@example.com"` becomes `"c*************@example.com"`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let mut chars = local.chars();
            let first: String = chars.next().into_iter().collect();
            format!("{first}{}@{domain}", "*".repeat(chars.count()))
        }
        None => "*".repeat(email.chars().count()),
    }
}

// ---- the issuer's ID&V service ------------------------------------------------------------------

/// The ID&V service's keys and rules.
pub struct IdvConfig {
    /// The issuer's card-index key (the same as [`crate::IssuerConfig::pan_hash_key`]): cards
    /// are found by the keyed hash of their PAN.
    pub pan_hash_key: Secret<[u8; 32]>,
    /// The ID&V key: the CVV and OTP hash keys are derived from it.
    pub idv_key: Secret<[u8; 32]>,
    /// Limits.
    pub rules: IdvRules,
}

/// What the issuer enrolls for a card's ID&V.
#[derive(Debug)]
pub struct IdvProfile {
    /// The card's CVV (3 or 4 digits); only its keyed hash is stored.
    pub cvv: Secret<String>,
    /// Product name shown in the wallet.
    pub product_name: String,
    /// No step-up for this card.
    pub low_risk: bool,
    /// Phone number for SMS codes.
    pub phone: Option<String>,
    /// E-mail address for codes.
    pub email: Option<String>,
    /// The cardholder uses the issuer's app.
    pub issuer_app: bool,
}

/// The issuer's ID&V service on the issuer's store.
pub struct Idv {
    store: Store,
    pan_hash_key: Secret<[u8; 32]>,
    cvv_key: Secret<[u8; 32]>,
    otp_key: Secret<[u8; 32]>,
    rules: IdvRules,
    clock: Clock,
    otp: Arc<dyn OtpProvider>,
}

impl core::fmt::Debug for Idv {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Idv")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length: construction cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

const CVV_KEY_LABEL: &[u8] = b"tapwallet issuer idv: cvv hash key";
const OTP_KEY_LABEL: &[u8] = b"tapwallet issuer idv: otp hash key";

fn card_status(status: &str) -> CardStatus {
    match status {
        "active" => CardStatus::Active,
        "blocked" => CardStatus::Blocked,
        _ => CardStatus::LostOrStolen,
    }
}

fn methods_of(profile: &IdvProfileRow) -> Vec<AuthMethodKind> {
    let mut methods = Vec::with_capacity(3);
    if profile.phone.is_some() {
        methods.push(AuthMethodKind::OtpSms);
    }
    if profile.email.is_some() {
        methods.push(AuthMethodKind::OtpEmail);
    }
    if profile.issuer_app {
        methods.push(AuthMethodKind::IssuerApp);
    }
    methods
}

fn offered(session: &IdvSessionRow, method: AuthMethodKind) -> bool {
    session.methods.split(',').any(|m| m == method.as_str())
}

/// Six uniformly random digits from the OS random source.
fn random_code() -> Result<Secret<String>, IdvError> {
    // 4_294_000_000 is the largest multiple of 10^6 below 2^32: rejecting above it keeps every
    // code equally likely.
    const LIMIT: u32 = 4_294_000_000;
    loop {
        let mut bytes = Secret::new([0u8; 4]);
        getrandom::fill(bytes.expose_mut()).map_err(|_| IdvError::Unavailable)?;
        let n = u32::from_be_bytes(*bytes.expose());
        if n < LIMIT {
            return Ok(Secret::new(format!("{:06}", n % 1_000_000)));
        }
    }
}

fn is_digits(s: &str, lengths: core::ops::RangeInclusive<usize>) -> bool {
    lengths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl Idv {
    /// The service on `store`, delivering codes through the simulated gateway
    /// ([`StoreOtpOutbox`]).
    pub fn new(store: Store, config: IdvConfig, clock: Clock) -> Self {
        let cvv_key = Secret::new(hmac(config.idv_key.expose(), &[CVV_KEY_LABEL]));
        let otp_key = Secret::new(hmac(config.idv_key.expose(), &[OTP_KEY_LABEL]));
        Self {
            otp: Arc::new(StoreOtpOutbox::new(store.clone())),
            store,
            pan_hash_key: config.pan_hash_key,
            cvv_key,
            otp_key,
            rules: config.rules,
            clock,
        }
    }

    /// The same service delivering codes through `provider`.
    #[must_use]
    pub fn with_otp_provider(mut self, provider: Arc<dyn OtpProvider>) -> Self {
        self.otp = provider;
        self
    }

    /// The keyed hash under which the issuer stores a card.
    pub fn pan_hash(&self, pan: &Pan) -> [u8; 32] {
        hmac(
            self.pan_hash_key.expose(),
            &[pan.expose_digits().as_bytes()],
        )
    }

    fn cvv_hash(&self, pan: &Pan, cvv: &Secret<String>) -> [u8; 32] {
        hmac(
            self.cvv_key.expose(),
            &[
                pan.expose_digits().as_bytes(),
                b":",
                cvv.expose().as_bytes(),
            ],
        )
    }

    fn otp_hash(&self, tur: &str, code: &Secret<String>) -> [u8; 32] {
        hmac(
            self.otp_key.expose(),
            &[tur.as_bytes(), b":", code.expose().as_bytes()],
        )
    }

    /// Enrolls (or re-enrolls) a card of the issuer for ID&V.
    pub async fn enroll(&self, pan: &Pan, profile: &IdvProfile) -> Result<(), IdvError> {
        if !is_digits(profile.cvv.expose(), 3..=4) {
            return Err(IdvError::InvalidCvv);
        }
        let pan_hash = self.pan_hash(pan);
        let row = IdvProfileRow {
            pan_hash,
            cvv_hash: self.cvv_hash(pan, &profile.cvv),
            product_name: profile.product_name.clone(),
            low_risk: profile.low_risk,
            phone: profile.phone.clone(),
            email: profile.email.clone(),
            issuer_app: profile.issuer_app,
        };
        match self.store.upsert_idv_profile(&row).await {
            Ok(()) => Ok(()),
            Err(StoreError::Rejected { .. }) => Err(IdvError::UnknownCard),
            Err(e) => Err(e.into()),
        }
    }

    /// The cardholder approved the token in the issuer's app: checks that the token waits for
    /// a step-up that offered the app, has the token service activate it, then records the
    /// session as approved.
    pub async fn approve_in_app<A>(&self, tur: &str, token_service: &A) -> Result<(), IdvError>
    where
        A: TokenActivation + ?Sized,
    {
        let session = self
            .store
            .idv_session(tur)
            .await?
            .ok_or(IdvError::NoSession)?;
        check_pending(&session)?;
        if !offered(&session, AuthMethodKind::IssuerApp) {
            return Err(IdvError::MethodNotOffered);
        }
        token_service
            .activate(tur)
            .await
            .map_err(IdvError::Activation)?;
        self.store
            .idv_session_update(tur, |s| {
                if s.status == "pending" {
                    s.status = "approved".to_owned();
                    s.otp_hash.clear();
                }
            })
            .await?;
        tracing::info!(tur, "token approved in the issuer app");
        Ok(())
    }

    async fn assess_request(&self, request: &TokenizationRequest) -> Result<IdvDecision, IdvError> {
        let now = (self.clock)();
        let date = Date::from_unix_seconds(now).map_err(|_| IdvError::Unavailable)?;
        let pan_hash = self.pan_hash(&request.pan);
        let presented_cvv = self.cvv_hash(&request.pan, &request.cvv);
        let cvv_well_formed = is_digits(request.cvv.expose(), 3..=4);
        let rules = self.rules;
        let attempt = TokenizationAttemptRow {
            pan_hash,
            tur: request.tur.clone(),
            at_unix: now,
        };
        let decision = self
            .store
            .issuer_tokenization_attempt(&attempt, rules.window_secs, |state: &IdvState| {
                let card =
                    match (&state.card, &state.profile) {
                        (Some(card), Some(profile)) => Expiry::parse_yymm(&card.expiry_yymm)
                            .ok()
                            .map(|expiry| CardFacts {
                                status: card_status(&card.status),
                                expiry,
                                low_risk: profile.low_risk,
                                methods: methods_of(profile),
                            }),
                        _ => None,
                    };
                let cvv_matches = cvv_well_formed
                    && state
                        .profile
                        .as_ref()
                        .is_some_and(|p| secret::ct_eq(&p.cvv_hash, &presented_cvv));
                let facts = TokenizationFacts {
                    card,
                    expiry_given: request.expiry,
                    cvv_matches,
                    attempts_in_window: state.attempts_in_window,
                    active_tokens_on_device: request.active_tokens_on_device,
                    date,
                };
                let product_name = state
                    .profile
                    .as_ref()
                    .map(|p| p.product_name.clone())
                    .unwrap_or_default();
                match decide(&facts, &rules) {
                    Verdict::Green(_) => (
                        IdvDecision::Approved { product_name },
                        AttemptOutcome::Approved,
                        None,
                    ),
                    Verdict::Red(d) => (IdvDecision::Declined(d), AttemptOutcome::Declined, None),
                    Verdict::Yellow(methods) => {
                        let profile = state.profile.as_ref();
                        let offered: Vec<AuthMethod> = methods
                            .iter()
                            .map(|&kind| AuthMethod {
                                kind,
                                destination: match kind {
                                    AuthMethodKind::OtpSms => {
                                        profile.and_then(|p| p.phone.as_deref()).map(mask_phone)
                                    }
                                    AuthMethodKind::OtpEmail => {
                                        profile.and_then(|p| p.email.as_deref()).map(mask_email)
                                    }
                                    AuthMethodKind::IssuerApp => None,
                                },
                            })
                            .collect();
                        let names: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
                        let session = IdvSessionRow {
                            tur: request.tur.clone(),
                            pan_hash,
                            methods: names.join(","),
                            status: "pending".to_owned(),
                            otp_method: None,
                            otp_hash: Vec::new(),
                            otp_expires_at_unix: 0,
                            otp_attempts_left: i32::try_from(rules.otp_attempts)
                                .unwrap_or(i32::MAX),
                            created_at_unix: now,
                        };
                        (
                            IdvDecision::StepUp {
                                product_name,
                                methods: offered,
                            },
                            AttemptOutcome::StepUp,
                            Some(session),
                        )
                    }
                }
            })
            .await?;
        let outcome = match &decision {
            IdvDecision::Approved { .. } => "approved",
            IdvDecision::StepUp { .. } => "step_up",
            IdvDecision::Declined(d) => d.code(),
        };
        tracing::info!(tur = request.tur, outcome, "tokenization assessed");
        Ok(decision)
    }

    async fn send(&self, tur: &str, method: AuthMethodKind) -> Result<OtpSent, IdvError> {
        let channel = method.otp_channel().ok_or(IdvError::MethodNotOffered)?;
        let session = self
            .store
            .idv_session(tur)
            .await?
            .ok_or(IdvError::NoSession)?;
        check_pending(&session)?;
        if !offered(&session, method) {
            return Err(IdvError::MethodNotOffered);
        }
        let profile = self
            .store
            .idv_profile(&session.pan_hash)
            .await?
            .ok_or(IdvError::MethodNotOffered)?;
        let destination = match channel {
            OtpChannel::Sms => profile.phone,
            OtpChannel::Email => profile.email,
        }
        .ok_or(IdvError::MethodNotOffered)?;
        let code = random_code()?;
        let hash = self.otp_hash(tur, &code);
        let now = (self.clock)();
        let expires_at_unix = now.saturating_add(self.rules.otp_ttl_secs);
        let stored = self
            .store
            .idv_session_update(tur, |s| {
                check_pending(s)?;
                s.otp_method = Some(method.as_str().to_owned());
                s.otp_hash = hash.to_vec();
                s.otp_expires_at_unix = expires_at_unix;
                Ok::<(), IdvError>(())
            })
            .await?
            .ok_or(IdvError::NoSession)?;
        stored?;
        self.otp
            .deliver(&OtpMessage {
                channel,
                destination: destination.clone(),
                code,
                created_at_unix: now,
            })
            .await?;
        let masked = match channel {
            OtpChannel::Sms => mask_phone(&destination),
            OtpChannel::Email => mask_email(&destination),
        };
        tracing::info!(tur, method = method.as_str(), "one-time password sent");
        Ok(OtpSent {
            method,
            destination: masked,
            expires_at_unix,
        })
    }

    async fn verify(
        &self,
        tur: &str,
        method: AuthMethodKind,
        code: &Secret<String>,
    ) -> Result<OtpCheck, IdvError> {
        let presented = self.otp_hash(tur, code);
        let well_formed = is_digits(code.expose(), 6..=6);
        let now = (self.clock)();
        let check = self
            .store
            .idv_session_update(tur, |s| {
                match s.status.as_str() {
                    "pending" => {}
                    "approved" => return Err(IdvError::AlreadyApproved),
                    _ => return Ok(OtpCheck::Locked),
                }
                if s.otp_hash.is_empty() || s.otp_method.as_deref() != Some(method.as_str()) {
                    return Ok(OtpCheck::NotSent);
                }
                if now > s.otp_expires_at_unix {
                    return Ok(OtpCheck::Expired);
                }
                if well_formed && secret::ct_eq(&s.otp_hash, &presented) {
                    s.status = "approved".to_owned();
                    s.otp_hash.clear();
                    return Ok(OtpCheck::Verified);
                }
                s.otp_attempts_left = s.otp_attempts_left.saturating_sub(1).max(0);
                if s.otp_attempts_left == 0 {
                    s.status = "locked".to_owned();
                    s.otp_hash.clear();
                    return Ok(OtpCheck::Locked);
                }
                Ok(OtpCheck::Incorrect {
                    attempts_left: u32::try_from(s.otp_attempts_left).unwrap_or(0),
                })
            })
            .await?
            .ok_or(IdvError::NoSession)??;
        tracing::info!(tur, verdict = ?check, "one-time password checked");
        Ok(check)
    }
}

fn check_pending(session: &IdvSessionRow) -> Result<(), IdvError> {
    match session.status.as_str() {
        "pending" => Ok(()),
        "approved" => Err(IdvError::AlreadyApproved),
        _ => Err(IdvError::Locked),
    }
}

impl IssuerIdv for Idv {
    fn assess<'a>(
        &'a self,
        request: &'a TokenizationRequest,
    ) -> BoxFuture<'a, Result<IdvDecision, IdvError>> {
        Box::pin(self.assess_request(request))
    }

    fn send_otp<'a>(
        &'a self,
        tur: &'a str,
        method: AuthMethodKind,
    ) -> BoxFuture<'a, Result<OtpSent, IdvError>> {
        Box::pin(self.send(tur, method))
    }

    fn verify_otp<'a>(
        &'a self,
        tur: &'a str,
        method: AuthMethodKind,
        code: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<OtpCheck, IdvError>> {
        Box::pin(self.verify(tur, method, code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> TokenizationFacts {
        let expiry = Expiry::new(2030, 12).unwrap();
        TokenizationFacts {
            card: Some(CardFacts {
                status: CardStatus::Active,
                expiry,
                low_risk: false,
                methods: vec![AuthMethodKind::OtpSms, AuthMethodKind::IssuerApp],
            }),
            expiry_given: expiry,
            cvv_matches: true,
            attempts_in_window: 0,
            active_tokens_on_device: 0,
            date: Date::new(2026, 11, 23).unwrap(),
        }
    }

    fn with_card(f: impl FnOnce(&mut CardFacts)) -> TokenizationFacts {
        let mut facts = facts();
        if let Some(card) = facts.card.as_mut() {
            f(card);
        }
        facts
    }

    #[test]
    fn rules_in_order() {
        use TokenizationDecline as D;
        let rules = IdvRules::default();
        let d = |f: TokenizationFacts| decide(&f, &rules);
        assert_eq!(
            d(facts()),
            Verdict::Yellow(vec![AuthMethodKind::OtpSms, AuthMethodKind::IssuerApp])
        );
        assert_eq!(
            d(TokenizationFacts {
                attempts_in_window: 10,
                ..facts()
            }),
            Verdict::Red(D::TooManyAttempts)
        );
        // The attempt limit comes before everything, even an unknown card.
        assert_eq!(
            d(TokenizationFacts {
                attempts_in_window: 10,
                card: None,
                ..facts()
            }),
            Verdict::Red(D::TooManyAttempts)
        );
        assert_eq!(
            d(TokenizationFacts {
                attempts_in_window: 9,
                ..facts()
            }),
            d(facts())
        );
        assert_eq!(
            d(TokenizationFacts {
                card: None,
                ..facts()
            }),
            Verdict::Red(D::CardNotEligible)
        );
        assert_eq!(
            d(with_card(|c| c.status = CardStatus::Blocked)),
            Verdict::Red(D::CardBlocked)
        );
        assert_eq!(
            d(with_card(|c| c.status = CardStatus::LostOrStolen)),
            Verdict::Red(D::CardLostOrStolen)
        );
        assert_eq!(
            d(TokenizationFacts {
                date: Date::new(2031, 1, 1).unwrap(),
                ..facts()
            }),
            Verdict::Red(D::CardExpired)
        );
        assert_eq!(
            d(TokenizationFacts {
                expiry_given: Expiry::new(2030, 11).unwrap(),
                ..facts()
            }),
            Verdict::Red(D::ExpiryMismatch)
        );
        assert_eq!(
            d(TokenizationFacts {
                cvv_matches: false,
                ..facts()
            }),
            Verdict::Red(D::CvvMismatch)
        );
        // A wrong CVV is red even on a device that already holds a token of the card.
        assert_eq!(
            d(TokenizationFacts {
                cvv_matches: false,
                active_tokens_on_device: 1,
                ..facts()
            }),
            Verdict::Red(D::CvvMismatch)
        );
        assert_eq!(
            d(TokenizationFacts {
                active_tokens_on_device: 1,
                ..facts()
            }),
            Verdict::Green(GreenReason::AlreadyOnDevice)
        );
        assert_eq!(
            d(with_card(|c| c.low_risk = true)),
            Verdict::Green(GreenReason::LowRisk)
        );
        assert_eq!(
            d(with_card(|c| c.methods.clear())),
            Verdict::Red(D::NoAuthenticationMethod)
        );
    }

    #[test]
    fn destinations_are_masked() {
        assert_eq!(mask_phone("+33 612 34 56 78"), "+33 6** ** ** 78");
        assert_eq!(mask_phone("0612345678"), "0*******78");
        assert_eq!(
            mask_email("camille.martin@example.com"),
            "c*************@example.com"
        );
        assert_eq!(mask_email("nobody"), "******");
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..50 {
            let code = random_code().unwrap();
            assert!(is_digits(code.expose(), 6..=6));
        }
        let code = random_code().unwrap();
        assert!(!format!("{code:?}").contains(code.expose().as_str()));
    }

    #[test]
    fn method_names_round_trip() {
        for m in [
            AuthMethodKind::OtpSms,
            AuthMethodKind::OtpEmail,
            AuthMethodKind::IssuerApp,
        ] {
            assert_eq!(AuthMethodKind::parse(m.as_str()), Some(m));
        }
        assert_eq!(AuthMethodKind::parse("otp_sms"), None);
    }
}
