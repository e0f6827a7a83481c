//! The token service itself, independent of HTTP: tokenization, step-up, payloads, lifecycle
//! and notification delivery.

use core::fmt;
use std::sync::Arc;

use cards::{Date, Expiry, Pan};
use domain::{AtcWindow, BinKind, BinRange, BinTable, Channel, ChannelSet};
use emv_crypto::{Cvn, MasterKey, derive_icc_master_key, derive_limited_use_key};
use hmac::{Hmac, KeyInit, Mac};
use issuer::idv::{
    ActivationError, AuthMethodKind, IdvDecision, IdvError, IssuerIdv, OtpCheck, OtpSent,
    TokenActivation, TokenizationRequest,
};
use jose::{HeaderParams, JoseError, Jwk, jwe, jws};
use network::vault::VaultKeys;
use secret::Secret;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use store::{NewTspNotification, Store, StoreError, TokenRow, TspToken, TspTokenRow};

use crate::BoxFuture;
use crate::error::{FieldError, TspError};
use crate::notify::{Notifier, NotifyError};
use crate::time::rfc3339;

/// The wall clock, as Unix seconds (injected so tests control time).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The first four characters of every payment account reference (the BIN controller
/// identifier EMVCo assigns; `T001` is Tapwallet's own).
const PAR_PREFIX: &str = "T001";
/// Crockford's base 32: PAR characters.
const PAR_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Token unique references: this prefix and 26 hex digits.
const TUR_PREFIX: &str = "DNITHE";
/// PAN sequence number of every token.
const TOKEN_PSN: u8 = 0x01;
/// Most TURs per lifecycle request.
pub(crate) const MAX_TURS: usize = 10;
/// Most tokens a search returns.
const SEARCH_LIMIT: u32 = 100;
/// DPANs drawn before giving up (each collides with probability below 10^-3 until a range
/// holds millions of tokens).
const DPAN_TRIES: usize = 16;
/// Most limited-use keys in one batch.
pub const MAX_KEYS_PER_BATCH: u32 = 16;

/// A token requestor registered at the token service (a wallet backend).
pub struct TokenRequestor {
    /// Token requestor id (11 digits for the schemes; any text here).
    pub id: String,
    /// The key its requests are signed with (see [`crate::auth`]).
    pub api_key: Secret<Vec<u8>>,
    /// Base URL of its notification endpoint; notifications go to
    /// `{callback_url}/notify/token-updated`. `None`: they wait in the outbox.
    pub callback_url: Option<String>,
}

impl fmt::Debug for TokenRequestor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequestor")
            .field("id", &self.id)
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

/// The token service's keys and settings.
pub struct TspConfig {
    /// The vault's keys: the same as the network's, which opens the FPAN envelopes.
    pub vault: VaultKeys,
    /// The token master key (3DES): each token's ICC master key is derived from it and the DPAN,
    /// as the network derives it to check cryptograms.
    pub token_imk: MasterKey,
    /// Key of the HMAC that makes payment account references from FPANs.
    pub par_key: Secret<[u8; 32]>,
    /// The P-256 key funding accounts are encrypted to (private).
    pub encryption_key: Jwk,
    /// The P-256 key notifications are signed with (private; its `kid` goes in every JWS).
    pub signing_key: Jwk,
    /// The network's BIN table: DPANs are drawn in its token ranges.
    pub bins: BinTable,
    /// The registered token requestors.
    pub requestors: Vec<TokenRequestor>,
    /// Token validity, in years from the month of tokenization.
    pub token_validity_years: u16,
}

/// How an HCE token's limited-use keys are cut: see [`Tsp::with_limited_use_keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitedUseKeyPolicy {
    /// ATCs each key covers (the device pays that many times with it). Default 5.
    pub atcs_per_key: u16,
    /// How long a key pays after it is issued, seconds (by the network's clock). Default
    /// 7 days.
    pub ttl_secs: i64,
    /// Keys in a batch when the request names no count, 1 to [`MAX_KEYS_PER_BATCH`].
    /// Default 4.
    pub default_count: u32,
}

impl Default for LimitedUseKeyPolicy {
    fn default() -> Self {
        Self {
            atcs_per_key: 5,
            ttl_secs: 7 * 24 * 60 * 60,
            default_count: 4,
        }
    }
}

/// A batch of limited-use keys, as [`Tsp::replenish_keys`] answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBatch {
    /// Keys in the batch (fewer than asked only when the token's ATCs run out).
    pub count: u32,
    /// When the batch's keys expire, Unix seconds.
    pub expires_at_unix: i64,
    /// The keys: a compact JWE to the device's key of `{tur, key_algorithm, keys: [{index,
    /// key, atc_from, atc_to, expires_at}]}`.
    pub encrypted_keys: String,
}

/// How the device holds a token's credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    /// Host card emulation: the device holds limited-use keys, never the token's ICC master
    /// key; it replenishes them with [`Tsp::replenish_keys`].
    Hce,
    /// The device's secure element holds the token's ICC master key (the payload carries it).
    SecureElement,
}

impl Credential {
    /// The vault's name (`"hce"`, `"se"`), also the payload's `credential`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hce => "hce",
            Self::SecureElement => "se",
        }
    }

    /// The API's name (`HCE`, `SECURE_ELEMENT`: the `token_type` of tokenize and token views).
    pub const fn wire(self) -> &'static str {
        match self {
            Self::Hce => "HCE",
            Self::SecureElement => "SECURE_ELEMENT",
        }
    }

    /// From the API's name.
    pub fn parse_wire(s: &str) -> Option<Self> {
        match s {
            "HCE" => Some(Self::Hce),
            "SECURE_ELEMENT" => Some(Self::SecureElement),
            _ => None,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "hce" => Some(Self::Hce),
            "se" => Some(Self::SecureElement),
            _ => None,
        }
    }

    /// A token's credential, from its vault row.
    fn of(token: &TspToken) -> Result<Self, TspError> {
        Self::parse(&token.vault.credential).ok_or_else(|| {
            tracing::error!(
                tur = token.tsp.tur,
                "stored token has an unknown credential"
            );
            TspError::Unavailable
        })
    }
}

/// Why a configuration cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The encryption or signing key has no private part.
    PublicKeyGiven,
    /// The BIN table has no token range.
    NoTokenRange,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PublicKeyGiven => {
                "the token service's encryption and signing keys must be private"
            }
            Self::NoTokenRange => "the BIN table has no token range",
        })
    }
}

impl std::error::Error for ConfigError {}

/// A token's lifecycle state at the token service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum State {
    Inactive,
    Active,
    Suspended,
    Deleted,
}

impl State {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "inactive",
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "inactive" => Some(Self::Inactive),
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }

    /// The API's name.
    const fn wire(self) -> &'static str {
        match self {
            Self::Inactive => "INACTIVE",
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Deleted => "DELETED",
        }
    }

    /// The vault's status: a token waiting for authentication is suspended there, so the
    /// network declines it (62) until it is activated.
    const fn vault_status(self) -> &'static str {
        match self {
            Self::Inactive | Self::Suspended => "suspended",
            Self::Active => "active",
            Self::Deleted => "deleted",
        }
    }
}

/// A lifecycle request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifecycleAction {
    /// Active to suspended.
    Suspend,
    /// Suspended to active.
    Unsuspend,
    /// Any state but deleted to deleted (final).
    Delete,
}

/// A token as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenView {
    /// Token unique reference.
    pub tur: String,
    /// `INACTIVE`, `ACTIVE`, `SUSPENDED` or `DELETED`.
    pub status: &'static str,
    /// The token requestor.
    pub token_requestor_id: String,
    /// The device the token is bound to.
    pub device_id: Option<String>,
    /// Last four digits of the DPAN.
    pub dpan_last4: String,
    /// Last four digits of the funding PAN.
    pub fpan_last4: String,
    /// Token expiry, `MMYY`.
    pub token_expiry: String,
    /// Payment account reference (shared by every token of the card).
    pub par: String,
    /// Channels the token may be used on.
    pub channels: Vec<&'static str>,
    /// The issuer's product name.
    pub product_name: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last status change, RFC 3339.
    pub updated_at: String,
    /// How the device holds the credential: `SECURE_ELEMENT` or `HCE`.
    pub token_type: &'static str,
}

/// A step-up method offered to the cardholder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuthMethodView {
    /// `OTP_SMS`, `OTP_EMAIL` or `ISSUER_APP`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Masked destination (phone or e-mail), for OTP methods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// The answer to a tokenization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenizeOutcome {
    /// `APPROVED`, `REQUIRE_ADDITIONAL_AUTHENTICATION` or `DECLINED`.
    pub decision: &'static str,
    /// Why it was declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The token (not when declined).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenView>,
    /// The methods to authenticate with (step-up only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authentication_methods: Vec<AuthMethodView>,
}

impl TokenizeOutcome {
    fn declined(reason: &'static str) -> Self {
        Self {
            decision: "DECLINED",
            reason: Some(reason),
            token: None,
            authentication_methods: Vec::new(),
        }
    }
}

/// A tokenization request (the HTTP layer builds it from the JSON body).
#[derive(Clone, Debug)]
pub struct TokenizeRequest {
    /// The device the token is bound to.
    pub device_id: String,
    /// The device's secure element key (public): the payload is encrypted to it.
    pub se_public_key: Jwk,
    /// The funding account: a compact JWE (`ECDH-ES+A256KW`, `A256GCM`) to
    /// [`Tsp::encryption_public_key`] of `{pan, expiry (MMYY), cvv, cardholder_name}`.
    pub funding_account: String,
    /// Channels the token may be used on.
    pub channels: ChannelSet,
    /// How the device holds the credential (`token_type`; default secure element).
    pub credential: Credential,
}

/// What a new token is made of, once the issuer said yes.
struct Draft<'a> {
    requestor: &'a TokenRequestor,
    input: &'a TokenizeRequest,
    fpan: &'a Pan,
    fpan_expiry: Expiry,
    range: &'a BinRange,
    tur: String,
    par: String,
    state: State,
    product_name: String,
    now: i64,
}

/// The decrypted funding account.
struct FundingAccount {
    pan: Pan,
    expiry: Expiry,
    cvv: Secret<String>,
}

/// The plaintext of the funding account JWE, as sent.
#[derive(serde::Deserialize)]
struct FundingAccountPlain {
    #[serde(default)]
    pan: Option<String>,
    #[serde(default)]
    expiry: Option<String>,
    #[serde(default)]
    cvv: Option<String>,
    #[serde(default)]
    cardholder_name: Option<String>,
}

/// The plaintext of the provisioning payload (a JWE to the device).
#[derive(Serialize)]
struct ProvisioningPayload<'a> {
    tur: &'a str,
    dpan: &'a str,
    /// `MMYY`.
    expiry: String,
    /// Two hex digits (`01`).
    psn: String,
    /// `visa` or `mastercard`.
    scheme: &'static str,
    /// Cryptogram version number (Visa 18, Mastercard 16).
    cvn: u8,
    /// `se` or `hce`.
    credential: &'static str,
    /// The token's ICC master key (MK-AC), hex: SE tokens only.
    #[serde(skip_serializing_if = "Option::is_none")]
    icc_master_key: Option<&'a str>,
    /// Its algorithm (`TDES2`, `AES128`, ...): SE tokens only.
    #[serde(skip_serializing_if = "Option::is_none")]
    key_algorithm: Option<String>,
    fpan_last4: &'a str,
    product_name: &'a str,
}

/// The plaintext of a batch of limited-use keys (a JWE to the device).
#[derive(Serialize)]
struct KeysPlain<'a> {
    tur: &'a str,
    /// The keys' algorithm (`TDES2`, ...): MK-AC's.
    key_algorithm: String,
    keys: Vec<KeyPlain<'a>>,
}

/// One limited-use key in a batch.
#[derive(Serialize)]
struct KeyPlain<'a> {
    /// The key's index (the network derives the key from MK-AC and it).
    index: u32,
    /// The key, hex.
    key: &'a str,
    /// The ATCs it may be used with, both included.
    atc_from: u16,
    atc_to: u16,
    /// When it stops paying, Unix seconds.
    expires_at: i64,
}

/// A token's card as the device gets it, opened from the stores.
struct OpenCard {
    dpan: Pan,
    expiry: Expiry,
    scheme: &'static str,
    cvn_number: u8,
    /// The token's ICC master key (MK-AC).
    token_mk: MasterKey,
    device_key: Jwk,
}

/// The payload of a token-updated notification.
#[derive(Serialize)]
struct NotificationBody<'a> {
    tur: &'a str,
    status: &'static str,
    reason: &'a str,
    event_id: &'a str,
    occurred_at: String,
}

/// Why a transition was refused (inside the store's transaction).
enum Refusal {
    NotFound(String),
    WrongState(String, State),
    Failed(TspError),
}

impl Refusal {
    fn into_error(self, action: &str) -> TspError {
        match self {
            Self::NotFound(tur) => TspError::TokenNotFound(tur),
            Self::WrongState(tur, state) => TspError::Conflict {
                kind: "invalid-state",
                detail: format!("cannot {action} token {tur}: it is {}", state.wire()),
            },
            Self::Failed(e) => e,
        }
    }
}

/// The token service.
pub struct Tsp {
    store: Store,
    config: TspConfig,
    signing_kid: String,
    issuer: Arc<dyn IssuerIdv>,
    notifier: Arc<dyn Notifier>,
    clock: Clock,
    keys: LimitedUseKeyPolicy,
}

impl fmt::Debug for Tsp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tsp")
            .field("signing_kid", &self.signing_kid)
            .field("requestors", &self.config.requestors)
            .finish_non_exhaustive()
    }
}

fn hmac32(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length: construction cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn random<const N: usize>() -> Result<[u8; N], TspError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| {
        tracing::error!("the system random source failed");
        TspError::Unavailable
    })?;
    Ok(out)
}

/// A uniformly random number below `n` (`n >= 1`).
fn random_below(n: u32) -> Result<u32, TspError> {
    let n = n.max(1);
    let limit = u32::MAX - u32::MAX % n;
    loop {
        let r = u32::from_be_bytes(random::<4>()?);
        if r < limit {
            return Ok(r % n);
        }
    }
}

/// `YYMM` to `MMYY`.
fn mmyy(yymm: &str) -> String {
    match (yymm.get(..2), yymm.get(2..4)) {
        (Some(yy), Some(mm)) => format!("{mm}{yy}"),
        _ => String::new(),
    }
}

/// Parses `MMYY`.
pub(crate) fn parse_mmyy(text: &str) -> Option<Expiry> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let month: u8 = text.get(..2)?.parse().ok()?;
    let year: u16 = text.get(2..)?.parse().ok()?;
    Expiry::new(2000 + year, month).ok()
}

fn channel_names(channels: ChannelSet) -> Vec<&'static str> {
    [
        (Channel::Contactless, "CONTACTLESS"),
        (Channel::InApp, "IN_APP"),
        (Channel::Ecommerce, "ECOMMERCE"),
    ]
    .into_iter()
    .filter(|(c, _)| channels.allows(*c))
    .map(|(_, name)| name)
    .collect()
}

/// A channel by its API name.
pub(crate) fn parse_channel(name: &str) -> Option<Channel> {
    match name {
        "CONTACTLESS" => Some(Channel::Contactless),
        "IN_APP" => Some(Channel::InApp),
        "ECOMMERCE" => Some(Channel::Ecommerce),
        _ => None,
    }
}

fn view(token: &TspToken) -> TokenView {
    let state = State::parse(&token.tsp.state).unwrap_or(State::Suspended);
    TokenView {
        tur: token.tsp.tur.clone(),
        status: state.wire(),
        token_requestor_id: token.vault.token_requestor_id.clone(),
        device_id: token.vault.device_id.clone(),
        dpan_last4: token.vault.dpan_last4.clone(),
        fpan_last4: token.tsp.fpan_last4.clone(),
        token_expiry: mmyy(&token.vault.token_expiry_yymm),
        par: token.vault.par.clone(),
        channels: channel_names(ChannelSet(u8::try_from(token.vault.channels).unwrap_or(0))),
        product_name: token.tsp.product_name.clone(),
        created_at: rfc3339(token.vault.created_at_unix),
        updated_at: rfc3339(token.tsp.updated_at_unix),
        token_type: Credential::parse(&token.vault.credential)
            .unwrap_or(Credential::SecureElement)
            .wire(),
    }
}

/// The scheme of a DPAN and the cryptogram version its card application uses.
fn scheme_of(dpan: &Pan) -> (&'static str, Cvn, u8) {
    if dpan.expose_digits().starts_with('4') {
        ("visa", Cvn::Visa18, 18)
    } else {
        ("mastercard", Cvn::Mastercard16, 16)
    }
}

/// The additional data a DPAN envelope is bound to: distinct from the FPAN envelope's (the
/// vault row's hash), so one can never stand in for the other.
fn dpan_binding(dpan_hash: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tapwallet tsp: dpan envelope");
    h.update(dpan_hash);
    h.finalize().into()
}

/// A key algorithm's name in payloads (`TDES2`, `AES128`, ...).
fn algorithm_name(key: &MasterKey) -> String {
    format!("{:?}", key.algorithm()).to_uppercase()
}

/// Encrypts a plaintext for the device: a compact JWE (`ECDH-ES+A256KW`, `A256GCM`) to its
/// secure element key, named by `kid` (the key's own, else its thumbprint).
fn encrypt_to_device(plaintext: &[u8], device_key: &Jwk) -> Result<String, TspError> {
    let params = HeaderParams::new()
        .kid(
            device_key
                .kid()
                .map_or_else(|| device_key.thumbprint(), str::to_owned),
        )
        .cty("application/json");
    for _ in 0..4 {
        let ephemeral = Secret::new(random::<32>()?);
        let cek = Secret::new(random::<32>()?);
        let iv = random::<12>()?;
        match jwe::encrypt(
            plaintext,
            device_key,
            &params,
            ephemeral.expose(),
            cek.expose(),
            &iv,
        ) {
            Ok(jwe) => return Ok(jwe),
            // A scalar outside the group order: draw again (probability about 2^-32).
            Err(JoseError::InvalidEphemeralSecret) => continue,
            Err(e) => {
                tracing::error!(error = %e, "encryption to the device failed");
                return Err(TspError::Unavailable);
            }
        }
    }
    Err(TspError::Unavailable)
}

/// 409 unless the token is active; `what` names what was asked for.
fn require_active(token: &TspToken, what: &str) -> Result<(), TspError> {
    let state = State::parse(&token.tsp.state).unwrap_or(State::Suspended);
    if state == State::Active {
        Ok(())
    } else {
        Err(TspError::Conflict {
            kind: "token-not-active",
            detail: format!("{what} is for active tokens; this one is {}", state.wire()),
        })
    }
}

/// 409 unless the token is held by host card emulation.
fn require_hce(token: &TspToken) -> Result<(), TspError> {
    match Credential::of(token)? {
        Credential::Hce => Ok(()),
        Credential::SecureElement => Err(TspError::Conflict {
            kind: "not-hce-token",
            detail: "limited-use keys are for HCE tokens; this token's key is in the device's \
                     secure element"
                .to_owned(),
        }),
    }
}

fn idv_error(e: IdvError) -> TspError {
    match e {
        IdvError::NoSession => TspError::Conflict {
            kind: "no-authentication-pending",
            detail: "the issuer has no authentication pending for this token".to_owned(),
        },
        IdvError::MethodNotOffered => TspError::field(
            "method",
            "the issuer does not offer this method for this token",
        ),
        IdvError::Locked => TspError::OtpLocked,
        IdvError::AlreadyApproved => TspError::Conflict {
            kind: "already-authenticated",
            detail: "the cardholder was already authenticated for this token".to_owned(),
        },
        other => {
            tracing::error!(error = %other, "issuer ID&V failed");
            TspError::Unavailable
        }
    }
}

impl Tsp {
    /// A token service on `store`, asking `issuer` for ID&V and delivering notifications
    /// through `notifier`.
    pub fn new(
        store: Store,
        config: TspConfig,
        issuer: Arc<dyn IssuerIdv>,
        notifier: Arc<dyn Notifier>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        if !config.encryption_key.is_private() || !config.signing_key.is_private() {
            return Err(ConfigError::PublicKeyGiven);
        }
        if !config
            .bins
            .ranges()
            .iter()
            .any(|r| r.kind == BinKind::Token)
        {
            return Err(ConfigError::NoTokenRange);
        }
        let signing_kid = config
            .signing_key
            .kid()
            .map_or_else(|| config.signing_key.thumbprint(), str::to_owned);
        Ok(Self {
            store,
            config,
            signing_kid,
            issuer,
            notifier,
            clock,
            keys: LimitedUseKeyPolicy::default(),
        })
    }

    /// The same token service cutting HCE tokens' limited-use keys by `policy` (by default
    /// [`LimitedUseKeyPolicy::default`]: 4 keys of 5 ATCs, a week each). Zero ATCs per key or
    /// a TTL below a second are raised to 1; the default count is kept within 1 to
    /// [`MAX_KEYS_PER_BATCH`].
    #[must_use]
    pub fn with_limited_use_keys(mut self, policy: LimitedUseKeyPolicy) -> Self {
        self.keys = LimitedUseKeyPolicy {
            atcs_per_key: policy.atcs_per_key.max(1),
            ttl_secs: policy.ttl_secs.max(1),
            default_count: policy.default_count.clamp(1, MAX_KEYS_PER_BATCH),
        };
        self
    }

    /// How limited-use keys are cut.
    pub fn limited_use_key_policy(&self) -> LimitedUseKeyPolicy {
        self.keys
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The public key token requestors encrypt funding accounts to.
    pub fn encryption_public_key(&self) -> Jwk {
        self.config.encryption_key.to_public()
    }

    /// The public key notifications verify with (its `kid` is the JWS header's).
    pub fn signing_public_key(&self) -> Jwk {
        self.config
            .signing_key
            .to_public()
            .with_kid(self.signing_kid.clone())
    }

    /// The registered token requestor with this id.
    pub fn requestor(&self, id: &str) -> Option<&TokenRequestor> {
        self.config.requestors.iter().find(|r| r.id == id)
    }

    /// The payment account reference of a funding PAN: `T001` and 25 base-32 characters of
    /// `HMAC-SHA-256(par_key, PAN)`. Every token of a card shares it.
    pub fn par(&self, fpan: &Pan) -> String {
        let mac = hmac32(
            self.config.par_key.expose(),
            &[b"par:", fpan.expose_digits().as_bytes()],
        );
        let mut par = String::with_capacity(29);
        par.push_str(PAR_PREFIX);
        for b in mac.iter().take(25) {
            let c = PAR_ALPHABET
                .get(usize::from(b & 31))
                .copied()
                .unwrap_or(b'0');
            par.push(char::from(c));
        }
        par
    }

    pub(crate) fn now_unix(&self) -> i64 {
        (self.clock)()
    }

    fn new_tur() -> Result<String, TspError> {
        Ok(format!("{TUR_PREFIX}{}", hex_upper(&random::<13>()?)))
    }

    /// The token range for a funding PAN: the narrowest token range of its scheme (same major
    /// industry identifier, the first digit).
    fn token_range(&self, fpan: &Pan) -> Option<&BinRange> {
        let first = fpan.expose_digits().get(..1)?;
        self.config.bins.ranges().iter().find(|r| {
            r.kind == BinKind::Token
                && r.low <= r.high
                && format!("{:08}", r.low).get(..1) == Some(first)
        })
    }

    /// A random, Luhn-valid DPAN of 16 digits in `range` that routes to a token range.
    fn draw_dpan(&self, range: &BinRange) -> Result<Option<Pan>, TspError> {
        let prefix = range.low + random_below(range.high - range.low + 1)?;
        let mut digits = format!("{prefix:08}");
        for _ in 0..7 {
            // 250 is the largest multiple of 10 in a byte: rejecting above keeps digits uniform.
            let digit = loop {
                let [b] = random::<1>()?;
                if b < 250 {
                    break b % 10;
                }
            };
            digits.push(char::from(b'0' + digit));
        }
        let Some(check) = cards::luhn_check_digit(&digits) else {
            return Ok(None);
        };
        digits.push(char::from(b'0' + check));
        let digits = Secret::new(digits);
        let Ok(dpan) = Pan::parse(digits.expose()) else {
            return Ok(None);
        };
        // Never a number of an account range (a nested token range wins over its account range).
        let in_token_range = self
            .config
            .bins
            .route(&dpan)
            .is_some_and(|r| r.kind == BinKind::Token);
        Ok(in_token_range.then_some(dpan))
    }

    fn decrypt_funding_account(&self, jwe: &str) -> Result<FundingAccount, TspError> {
        const FIELD: &str = "funding_account";
        let (_, plain) = jwe::decrypt(jwe, &self.config.encryption_key).map_err(|e| {
            let message = match e {
                JoseError::Decrypt => "cannot be decrypted with the token service's key".to_owned(),
                other => format!("is not a usable JWE: {other}"),
            };
            TspError::field(FIELD, message)
        })?;
        let plain = Secret::new(plain);
        let parsed: FundingAccountPlain = serde_json::from_slice(plain.expose()).map_err(|_| {
            TspError::field(
                FIELD,
                "plaintext must be a JSON object with string members pan, expiry, cvv and \
                 cardholder_name",
            )
        })?;
        let pan = parsed.pan.map(Secret::new);
        let cvv = parsed.cvv.map(Secret::new);
        let mut errors = Vec::new();
        let pan = match pan.as_ref().map(|p| Pan::parse(p.expose())) {
            Some(Ok(pan)) => Some(pan),
            Some(Err(e)) => {
                errors.push(FieldError::new("funding_account.pan", e.to_string()));
                None
            }
            None => {
                errors.push(FieldError::new("funding_account.pan", "is required"));
                None
            }
        };
        let expiry = match parsed.expiry.as_deref().map(parse_mmyy) {
            Some(Some(e)) => Some(e),
            Some(None) => {
                errors.push(FieldError::new(
                    "funding_account.expiry",
                    "must be MMYY (month 01-12)",
                ));
                None
            }
            None => {
                errors.push(FieldError::new("funding_account.expiry", "is required"));
                None
            }
        };
        let cvv_ok = cvv.as_ref().is_some_and(|c| {
            (3..=4).contains(&c.expose().len()) && c.expose().bytes().all(|b| b.is_ascii_digit())
        });
        if !cvv_ok {
            errors.push(FieldError::new(
                "funding_account.cvv",
                "must be 3 or 4 digits",
            ));
        }
        if parsed
            .cardholder_name
            .as_deref()
            .is_some_and(|n| n.chars().count() > 26 || n.chars().any(char::is_control))
        {
            errors.push(FieldError::new(
                "funding_account.cardholder_name",
                "must be at most 26 printable characters",
            ));
        }
        match (pan, expiry, cvv) {
            (Some(pan), Some(expiry), Some(cvv)) if errors.is_empty() => {
                Ok(FundingAccount { pan, expiry, cvv })
            }
            _ => Err(TspError::Invalid(errors)),
        }
    }

    /// Tokenizes a funding account for `requestor` (`POST /tsp/v1/tokenize`).
    pub async fn tokenize(
        &self,
        requestor: &TokenRequestor,
        input: TokenizeRequest,
    ) -> Result<TokenizeOutcome, TspError> {
        let funding = self.decrypt_funding_account(&input.funding_account)?;
        let now = self.now_unix();
        let fpan_route = self.config.bins.route(&funding.pan).map(|r| r.kind);
        let range = match (fpan_route, self.token_range(&funding.pan)) {
            (Some(BinKind::Token), _) | (_, None) => {
                tracing::info!(
                    requestor = requestor.id,
                    "tokenization declined: no token range for this card"
                );
                return Ok(TokenizeOutcome::declined("CARD_NOT_ELIGIBLE"));
            }
            (_, Some(range)) => range.clone(),
        };
        let par = self.par(&funding.pan);
        let active_tokens_on_device = self
            .store
            .tsp_tokens_by_par(&par)
            .await?
            .iter()
            .filter(|t| {
                t.tsp.state == State::Active.as_str()
                    && t.vault.token_requestor_id == requestor.id
                    && t.vault.device_id.as_deref() == Some(input.device_id.as_str())
            })
            .count();
        let tur = Self::new_tur()?;
        let request = TokenizationRequest {
            tur: tur.clone(),
            pan: funding.pan.clone(),
            expiry: funding.expiry,
            cvv: funding.cvv,
            token_requestor_id: requestor.id.clone(),
            device_id: input.device_id.clone(),
            active_tokens_on_device: u32::try_from(active_tokens_on_device).unwrap_or(u32::MAX),
        };
        let decision = self.issuer.assess(&request).await.map_err(idv_error)?;
        let (state, product_name, methods) = match decision {
            IdvDecision::Approved { product_name } => (State::Active, product_name, Vec::new()),
            IdvDecision::StepUp {
                product_name,
                methods,
            } => (State::Inactive, product_name, methods),
            IdvDecision::Declined(reason) => {
                tracing::info!(
                    requestor = requestor.id,
                    tur,
                    reason = reason.code(),
                    "tokenization declined"
                );
                return Ok(TokenizeOutcome::declined(reason.code()));
            }
        };
        let token = self
            .create_token(Draft {
                requestor,
                input: &input,
                fpan: &funding.pan,
                fpan_expiry: funding.expiry,
                range: &range,
                tur,
                par,
                state,
                product_name,
                now,
            })
            .await?;
        tracing::info!(
            requestor = requestor.id,
            tur = token.tsp.tur,
            state = state.as_str(),
            credential = input.credential.as_str(),
            "token created"
        );
        Ok(TokenizeOutcome {
            decision: match state {
                State::Active => "APPROVED",
                _ => "REQUIRE_ADDITIONAL_AUTHENTICATION",
            },
            reason: None,
            token: Some(view(&token)),
            authentication_methods: methods
                .into_iter()
                .map(|m| AuthMethodView {
                    kind: m.kind.as_str(),
                    value: m.destination,
                })
                .collect(),
        })
    }

    async fn create_token(&self, draft: Draft<'_>) -> Result<TspToken, TspError> {
        let Draft {
            requestor,
            input,
            fpan,
            fpan_expiry,
            range,
            tur,
            par,
            state,
            product_name,
            now,
        } = draft;
        let today = Date::from_unix_seconds(now).map_err(|_| TspError::Unavailable)?;
        let years = self.config.token_validity_years.max(1);
        let token_expiry = Expiry::new(today.year().saturating_add(years), today.month())
            .map_err(|_| TspError::Unavailable)?;
        let vault_error = |e: network::vault::VaultError| {
            tracing::error!(error = %e, "vault sealing failed");
            TspError::Unavailable
        };
        for _ in 0..DPAN_TRIES {
            let Some(dpan) = self.draw_dpan(range)? else {
                continue;
            };
            let dpan_hash = self.config.vault.pan_hash(&dpan);
            let vault = TokenRow {
                dpan_hash,
                dpan_last4: dpan.last4().to_owned(),
                fpan_envelope: self
                    .config
                    .vault
                    .seal(fpan, fpan_expiry, &dpan_hash)
                    .map_err(vault_error)?,
                token_expiry_yymm: token_expiry.yymm(),
                status: state.vault_status().to_owned(),
                token_requestor_id: requestor.id.clone(),
                channels: i32::from(input.channels.0),
                device_id: Some(input.device_id.clone()),
                psn: TOKEN_PSN,
                tur: tur.clone(),
                par: par.clone(),
                atc_window: AtcWindow::new().to_bytes().to_vec(),
                standin_count: 0,
                created_at_unix: now,
                credential: input.credential.as_str().to_owned(),
            };
            let tsp = TspTokenRow {
                tur: tur.clone(),
                state: state.as_str().to_owned(),
                dpan_envelope: self
                    .config
                    .vault
                    .seal(&dpan, token_expiry, &dpan_binding(&dpan_hash))
                    .map_err(vault_error)?,
                se_public_key: input.se_public_key.to_public_json(),
                fpan_last4: fpan.last4().to_owned(),
                product_name: product_name.clone(),
                updated_at_unix: now,
            };
            match self.store.tsp_insert_token(&vault, &tsp).await {
                Ok(()) => return Ok(TspToken { vault, tsp }),
                // A DPAN already issued (or, astronomically unlikely, a TUR): draw again.
                Err(StoreError::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        tracing::error!(tur, "no free DPAN found in the token range");
        Err(TspError::Unavailable)
    }

    /// The token `tur` if it belongs to `requestor`.
    async fn owned_token(
        &self,
        requestor: &TokenRequestor,
        tur: &str,
    ) -> Result<TspToken, TspError> {
        if tur.is_empty() || tur.len() > 64 {
            return Err(TspError::TokenNotFound(String::new()));
        }
        match self.store.tsp_token(tur).await? {
            Some(t) if t.vault.token_requestor_id == requestor.id => Ok(t),
            _ => Err(TspError::TokenNotFound(tur.to_owned())),
        }
    }

    /// A token of `requestor`.
    pub async fn token(
        &self,
        requestor: &TokenRequestor,
        tur: &str,
    ) -> Result<TokenView, TspError> {
        Ok(view(&self.owned_token(requestor, tur).await?))
    }

    /// The tokens of `requestor`, on one device when given (oldest first, at most 100).
    pub async fn search(
        &self,
        requestor: &TokenRequestor,
        device_id: Option<&str>,
    ) -> Result<Vec<TokenView>, TspError> {
        let found = self
            .store
            .tsp_tokens_of_requestor(&requestor.id, device_id, SEARCH_LIMIT)
            .await?;
        Ok(found.iter().map(view).collect())
    }

    /// The provisioning payload of an active token: a JWE to the device's key. An SE token's
    /// holds its ICC master key; an HCE token's holds no key at all (the device gets limited-use
    /// keys from [`Tsp::replenish_keys`]).
    pub async fn payload(&self, requestor: &TokenRequestor, tur: &str) -> Result<String, TspError> {
        let token = self.owned_token(requestor, tur).await?;
        require_active(&token, "the payload")?;
        let card = self.open_card(&token)?;
        let credential = Credential::of(&token)?;
        let key = match credential {
            Credential::SecureElement => Some(&card.token_mk),
            Credential::Hce => None,
        };
        let key_hex = key.map(|k| Secret::new(hex_upper(k.expose_secret())));
        let plain = ProvisioningPayload {
            tur: &token.tsp.tur,
            dpan: card.dpan.expose_digits(),
            expiry: format!("{:02}{:02}", card.expiry.month(), card.expiry.year() % 100),
            psn: format!("{:02X}", token.vault.psn),
            scheme: card.scheme,
            cvn: card.cvn_number,
            credential: credential.as_str(),
            icc_master_key: key_hex.as_ref().map(|k| k.expose().as_str()),
            key_algorithm: key.map(algorithm_name),
            fpan_last4: &token.tsp.fpan_last4,
            product_name: &token.tsp.product_name,
        };
        let plaintext = Secret::new(serde_json::to_vec(&plain).map_err(|_| {
            tracing::error!(tur, "payload does not serialize");
            TspError::Unavailable
        })?);
        let jwe = encrypt_to_device(plaintext.expose(), &card.device_key)?;
        tracing::info!(
            requestor = requestor.id,
            tur,
            credential = credential.as_str(),
            "provisioning payload issued"
        );
        Ok(jwe)
    }

    /// Issues a new batch of `count` limited-use keys to an active HCE token of `requestor`
    /// (`POST /tsp/v1/tokens/{tur}/keys`). Indexes and ATC ranges continue after the highest
    /// ever issued to the token; each key covers [`LimitedUseKeyPolicy::atcs_per_key`] ATCs
    /// (the last batch stops at ATC 65535, so it may be shorter) and expires
    /// [`LimitedUseKeyPolicy::ttl_secs`] after now; every earlier key of the token is revoked.
    /// All in one store transaction. The keys go to the device as a JWE to its key (the
    /// payload's suite): `{tur, key_algorithm, keys: [{index, key, atc_from, atc_to,
    /// expires_at}]}`.
    pub async fn replenish_keys(
        &self,
        requestor: &TokenRequestor,
        tur: &str,
        count: u32,
    ) -> Result<KeyBatch, TspError> {
        // The checks run again inside the transaction; here they give a clean answer before
        // any work, and the immutable facts (DPAN, device key) are read once.
        let token = self.owned_token(requestor, tur).await?;
        require_hce(&token)?;
        require_active(&token, "a batch of limited-use keys")?;
        let card = self.open_card(&token)?;
        let policy = self.keys;
        let count = count.clamp(1, MAX_KEYS_PER_BATCH);
        let now = self.now_unix();
        let expires_at_unix = now.saturating_add(policy.ttl_secs);
        let issued = self
            .store
            .tsp_issue_limited_use_keys(tur, |token, state| {
                let Some(token) = token.filter(|t| t.vault.token_requestor_id == requestor.id)
                else {
                    return Err(TspError::TokenNotFound(tur.to_owned()));
                };
                require_hce(token)?;
                require_active(token, "a batch of limited-use keys")?;
                let batch = state.next_batch(count, policy.atcs_per_key, now, expires_at_unix);
                if batch.is_empty() {
                    return Err(TspError::Conflict {
                        kind: "atc-space-exhausted",
                        detail: "every transaction counter of this token has been issued: \
                                 provision the card again"
                            .to_owned(),
                    });
                }
                Ok(batch)
            })
            .await??;
        let corrupt = |what: &str| {
            tracing::error!(tur, what, "limited-use keys cannot be made");
            TspError::Unavailable
        };
        let mut hex_keys = Vec::with_capacity(issued.len());
        for key in &issued {
            let luk = derive_limited_use_key(&card.token_mk, key.key_index)
                .map_err(|_| corrupt("key derivation"))?;
            hex_keys.push(Secret::new(hex_upper(luk.expose_secret())));
        }
        let plain = KeysPlain {
            tur,
            key_algorithm: algorithm_name(&card.token_mk),
            keys: issued
                .iter()
                .zip(&hex_keys)
                .map(|(k, hex)| KeyPlain {
                    index: k.key_index,
                    key: hex.expose(),
                    atc_from: k.atc_from,
                    atc_to: k.atc_to,
                    expires_at: k.expires_at_unix,
                })
                .collect(),
        };
        let plaintext =
            Secret::new(serde_json::to_vec(&plain).map_err(|_| corrupt("serialization"))?);
        let encrypted_keys = encrypt_to_device(plaintext.expose(), &card.device_key)?;
        let (first, last) = (
            issued.first().map(|k| k.key_index),
            issued.last().map(|k| k.key_index),
        );
        tracing::info!(
            requestor = requestor.id,
            tur,
            first_index = ?first,
            last_index = ?last,
            "limited-use keys issued; earlier keys revoked"
        );
        Ok(KeyBatch {
            count: u32::try_from(issued.len()).unwrap_or(u32::MAX),
            expires_at_unix,
            encrypted_keys,
        })
    }

    /// What the device's card is made of: the DPAN and its expiry (opened from the token
    /// service's envelope, checked against the vault row), the scheme, the token's MK-AC and
    /// the device's key.
    fn open_card(&self, token: &TspToken) -> Result<OpenCard, TspError> {
        let tur = token.tsp.tur.as_str();
        let corrupt = |what: &str| {
            tracing::error!(tur, what, "stored token data unusable");
            TspError::Unavailable
        };
        let (dpan, expiry) = self
            .config
            .vault
            .open(
                &token.tsp.dpan_envelope,
                &dpan_binding(&token.vault.dpan_hash),
            )
            .map_err(|_| corrupt("dpan envelope"))?;
        if self.config.vault.pan_hash(&dpan) != token.vault.dpan_hash {
            return Err(corrupt("dpan hash"));
        }
        let device_key =
            Jwk::from_json(&token.tsp.se_public_key).map_err(|_| corrupt("device key"))?;
        let (scheme, cvn, cvn_number) = scheme_of(&dpan);
        let token_mk = derive_icc_master_key(
            cvn,
            &self.config.token_imk,
            dpan.expose_digits(),
            token.vault.psn,
        )
        .map_err(|_| corrupt("token key derivation"))?;
        Ok(OpenCard {
            dpan,
            expiry,
            scheme,
            cvn_number,
            token_mk,
            device_key,
        })
    }

    /// Builds the signed notification of a change of `token` to `to`, and applies the change.
    fn change(
        &self,
        token: &mut TspToken,
        to: State,
        reason: &str,
        now: i64,
    ) -> Result<NewTspNotification, TspError> {
        token.tsp.state = to.as_str().to_owned();
        token.tsp.updated_at_unix = now;
        token.vault.status = to.vault_status().to_owned();
        let event_id = format!("evt_{}", hex_upper(&random::<16>()?).to_lowercase());
        let body = NotificationBody {
            tur: &token.tsp.tur,
            status: to.wire(),
            reason,
            event_id: &event_id,
            occurred_at: rfc3339(now),
        };
        let payload = serde_json::to_vec(&body).map_err(|_| TspError::Unavailable)?;
        let params = HeaderParams::new()
            .kid(self.signing_kid.clone())
            .typ("JOSE");
        let jws = jws::sign_es256(&payload, &params, &self.config.signing_key).map_err(|e| {
            tracing::error!(error = %e, "notification signing failed");
            TspError::Unavailable
        })?;
        Ok(NewTspNotification {
            event_id,
            token_requestor_id: token.vault.token_requestor_id.clone(),
            tur: token.tsp.tur.clone(),
            jws,
            created_at_unix: now,
        })
    }

    /// Signs a payment of one of its tokens (`event`, from the network) and queues it for the
    /// token requestor, which keeps the wallet's transaction history. The body is the wallet
    /// backend's `kind: "transaction"` webhook: amount, currency, outcome, the merchant's DE 43
    /// and MCC, time.
    pub async fn record_transaction(
        &self,
        event: &network::TransactionEvent,
    ) -> Result<(), TspError> {
        let event_id = format!("evt_{}", hex_upper(&random::<16>()?).to_lowercase());
        let currency = cards::Currency::from_numeric(event.currency_numeric).map_or_else(
            || format!("{:03}", event.currency_numeric),
            |c| c.alpha.to_owned(),
        );
        let body = serde_json::json!({
            "event_id": event_id,
            "kind": "transaction",
            "tur": event.tur,
            "amount_minor": event.amount_minor,
            "currency": currency,
            "approved": event.response_code == "00",
            "response_code": event.response_code,
            "merchant": {
                "name_location": event.merchant_name_location,
                "mcc": event.mcc,
            },
            "occurred_at": rfc3339(event.at_unix),
        });
        let payload = serde_json::to_vec(&body).map_err(|_| TspError::Unavailable)?;
        let params = HeaderParams::new()
            .kid(self.signing_kid.clone())
            .typ("JOSE");
        let jws = jws::sign_es256(&payload, &params, &self.config.signing_key).map_err(|e| {
            tracing::error!(error = %e, "transaction event signing failed");
            TspError::Unavailable
        })?;
        self.store
            .tsp_enqueue_notification(&NewTspNotification {
                event_id,
                token_requestor_id: event.token_requestor_id.clone(),
                tur: event.tur.clone(),
                jws,
                created_at_unix: event.at_unix,
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot queue a transaction event");
                TspError::Unavailable
            })?;
        Ok(())
    }

    /// Suspends, resumes or deletes tokens of `requestor`, all or none.
    pub async fn lifecycle(
        &self,
        requestor: &TokenRequestor,
        action: LifecycleAction,
        turs: &[String],
        reason: &str,
    ) -> Result<Vec<TokenView>, TspError> {
        let now = self.now_unix();
        let verb = match action {
            LifecycleAction::Suspend => "suspend",
            LifecycleAction::Unsuspend => "unsuspend",
            LifecycleAction::Delete => "delete",
        };
        let changed = self
            .store
            .tsp_tokens_transition(turs, |tur, token| {
                let Some(token) = token.filter(|t| t.vault.token_requestor_id == requestor.id)
                else {
                    return Err(Refusal::NotFound(tur.to_owned()));
                };
                let from = State::parse(&token.tsp.state).unwrap_or(State::Suspended);
                let to = match (action, from) {
                    (LifecycleAction::Suspend, State::Active) => State::Suspended,
                    (LifecycleAction::Unsuspend, State::Suspended) => State::Active,
                    (
                        LifecycleAction::Delete,
                        State::Inactive | State::Active | State::Suspended,
                    ) => State::Deleted,
                    _ => return Err(Refusal::WrongState(tur.to_owned(), from)),
                };
                self.change(token, to, reason, now)
                    .map(Some)
                    .map_err(Refusal::Failed)
            })
            .await?
            .map_err(|r| r.into_error(verb))?;
        tracing::info!(
            requestor = requestor.id,
            action = verb,
            count = changed.len(),
            "lifecycle"
        );
        Ok(changed.iter().map(view).collect())
    }

    /// Activates an inactive token (the cardholder authenticated); `requestor` limits it to
    /// that requestor's tokens.
    async fn activate_token(
        &self,
        tur: &str,
        requestor: Option<&str>,
        reason: &str,
    ) -> Result<TspToken, ActivationRefusal> {
        let now = self.now_unix();
        let turs = [tur.to_owned()];
        let result = self
            .store
            .tsp_tokens_transition(&turs, |tur, token| {
                let Some(token) =
                    token.filter(|t| requestor.is_none_or(|r| t.vault.token_requestor_id == r))
                else {
                    return Err(Refusal::NotFound(tur.to_owned()));
                };
                let from = State::parse(&token.tsp.state).unwrap_or(State::Suspended);
                if from != State::Inactive {
                    return Err(Refusal::WrongState(tur.to_owned(), from));
                }
                self.change(token, State::Active, reason, now)
                    .map(Some)
                    .map_err(Refusal::Failed)
            })
            .await;
        match result {
            Ok(Ok(mut tokens)) => {
                tracing::info!(tur, reason, "token activated");
                tokens.pop().ok_or(ActivationRefusal::Unknown)
            }
            Ok(Err(Refusal::NotFound(_))) => Err(ActivationRefusal::Unknown),
            Ok(Err(Refusal::WrongState(_, state))) => Err(ActivationRefusal::State(state)),
            Ok(Err(Refusal::Failed(e))) => Err(ActivationRefusal::Failed(e)),
            Err(e) => Err(ActivationRefusal::Failed(e.into())),
        }
    }

    fn require_inactive(token: &TspToken) -> Result<(), TspError> {
        let state = State::parse(&token.tsp.state).unwrap_or(State::Suspended);
        if state == State::Inactive {
            Ok(())
        } else {
            Err(TspError::Conflict {
                kind: "token-not-inactive",
                detail: format!(
                    "the token is {}: there is no authentication to complete",
                    state.wire()
                ),
            })
        }
    }

    /// Has the issuer send a one-time password for an inactive token of `requestor`.
    pub async fn send_otp(
        &self,
        requestor: &TokenRequestor,
        tur: &str,
        method: AuthMethodKind,
    ) -> Result<OtpSent, TspError> {
        let token = self.owned_token(requestor, tur).await?;
        Self::require_inactive(&token)?;
        if method.otp_channel().is_none() {
            return Err(TspError::field(
                "method",
                "ISSUER_APP needs no code: the token activates when the cardholder approves it in the issuer's app",
            ));
        }
        self.issuer.send_otp(tur, method).await.map_err(idv_error)
    }

    /// Checks a one-time password for an inactive token of `requestor`; activates it when right.
    pub async fn authenticate(
        &self,
        requestor: &TokenRequestor,
        tur: &str,
        method: AuthMethodKind,
        otp: &Secret<String>,
    ) -> Result<TokenView, TspError> {
        let token = self.owned_token(requestor, tur).await?;
        Self::require_inactive(&token)?;
        if method.otp_channel().is_none() {
            return Err(TspError::field("method", "must be OTP_SMS or OTP_EMAIL"));
        }
        match self.issuer.verify_otp(tur, method, otp).await {
            // An approved session whose token is still inactive (a crash between the two):
            // the issuer's approval stands.
            Ok(OtpCheck::Verified) | Err(IdvError::AlreadyApproved) => {
                match self
                    .activate_token(tur, Some(&requestor.id), "OTP_VERIFIED")
                    .await
                {
                    Ok(token) => Ok(view(&token)),
                    Err(refusal) => Err(refusal.into_error(tur)),
                }
            }
            Ok(OtpCheck::Incorrect { attempts_left }) => {
                Err(TspError::IncorrectOtp { attempts_left })
            }
            Ok(OtpCheck::Locked) | Err(IdvError::Locked) => Err(TspError::OtpLocked),
            Ok(OtpCheck::Expired) => Err(TspError::Conflict {
                kind: "otp-expired",
                detail: "the one-time password expired: request a new one".to_owned(),
            }),
            Ok(OtpCheck::NotSent) => Err(TspError::Conflict {
                kind: "otp-not-sent",
                detail: "no one-time password was sent by this method: request one first"
                    .to_owned(),
            }),
            Err(e) => Err(idv_error(e)),
        }
    }

    /// Delivers the notifications that are due; returns how many the requestors acknowledged.
    /// The host runs this periodically ([`crate::run`]).
    pub async fn deliver_notifications(&self) -> usize {
        let now = self.now_unix();
        let due = match self.store.tsp_due_notifications(now, 100).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the notification outbox");
                return 0;
            }
        };
        let mut delivered = 0;
        for n in due {
            let url = self
                .requestor(&n.token_requestor_id)
                .and_then(|r| r.callback_url.as_deref())
                .map(|base| format!("{}/notify/token-updated", base.trim_end_matches('/')));
            let result = match &url {
                Some(url) => self.notifier.notify(url, &n.jws).await,
                None => Err(NotifyError::NoCallback),
            };
            match result {
                Ok(()) => {
                    if self
                        .store
                        .tsp_notification_delivered(n.id)
                        .await
                        .unwrap_or(false)
                    {
                        delivered += 1;
                    }
                }
                Err(e) => {
                    let delay = 30_i64 << n.attempts.clamp(0, 7);
                    let next = now.saturating_add(delay.min(3600));
                    tracing::warn!(
                        event_id = n.event_id,
                        attempts = n.attempts + 1,
                        error = %e,
                        "notification not delivered; will retry"
                    );
                    let _ = self.store.tsp_notification_failed(n.id, next).await;
                }
            }
        }
        delivered
    }
}

/// Why an activation did not happen.
enum ActivationRefusal {
    Unknown,
    State(State),
    Failed(TspError),
}

impl ActivationRefusal {
    fn into_error(self, tur: &str) -> TspError {
        match self {
            Self::Unknown => TspError::TokenNotFound(tur.to_owned()),
            Self::State(state) => TspError::Conflict {
                kind: "token-not-inactive",
                detail: format!("the token is {}: it cannot be activated", state.wire()),
            },
            Self::Failed(e) => e,
        }
    }
}

impl TokenActivation for Tsp {
    fn activate<'a>(&'a self, tur: &'a str) -> BoxFuture<'a, Result<(), ActivationError>> {
        Box::pin(async move {
            match self.activate_token(tur, None, "ISSUER_APP_APPROVED").await {
                Ok(_) => Ok(()),
                Err(ActivationRefusal::Unknown) => Err(ActivationError::UnknownToken),
                Err(ActivationRefusal::State(_)) => Err(ActivationError::NotInactive),
                Err(ActivationRefusal::Failed(_)) => Err(ActivationError::Unavailable),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_texts() {
        assert_eq!(mmyy("3012"), "1230");
        assert_eq!(parse_mmyy("1230"), Expiry::new(2030, 12).ok());
        assert_eq!(parse_mmyy("1330"), None);
        assert_eq!(parse_mmyy("0030"), None);
        assert_eq!(parse_mmyy("12/30"), None);
    }

    #[test]
    fn states_map_to_the_vault() {
        for s in [
            State::Inactive,
            State::Active,
            State::Suspended,
            State::Deleted,
        ] {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert!(domain::TokenStatus::parse(s.vault_status()).is_some());
        }
        assert_eq!(State::Inactive.vault_status(), "suspended");
    }

    #[test]
    fn random_numbers_stay_in_range() {
        for n in [1, 2, 10, 1000] {
            for _ in 0..50 {
                assert!(random_below(n).unwrap() < n);
            }
        }
        let tur = Tsp::new_tur().unwrap();
        assert_eq!(tur.len(), 32);
        assert!(tur.starts_with("DNITHE"));
        assert!(
            tur[6..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase())
        );
    }

    #[test]
    fn channel_names_round_trip() {
        assert_eq!(
            channel_names(ChannelSet::ALL),
            ["CONTACTLESS", "IN_APP", "ECOMMERCE"]
        );
        for name in channel_names(ChannelSet::ALL) {
            assert!(parse_channel(name).is_some());
        }
        assert_eq!(parse_channel("contactless"), None);
    }
}
