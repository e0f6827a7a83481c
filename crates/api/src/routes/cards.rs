//! Cards in device wallets: `POST /v1/cards/provision`, `GET /v1/cards`,
//! `GET|DELETE /v1/cards/{id}`, `POST /v1/cards/{id}/verify`, `/otp`, `/suspend`, `/resume`,
//! `GET /v1/cards/{id}/payload`, `POST /v1/cards/{id}/keys` (HCE cards' limited-use keys),
//! `PUT /v1/cards/{id}/default`, and the token side of a device reported lost or recovered.
//!
//! The backend is the token requestor: the card number, expiry, CVV and name come in once,
//! are checked, and go to the token service encrypted ([`TokenService::tokenize`]); the
//! backend keeps the token service's TUR, the last four digits, the status and display data.
//! Every lifecycle change goes to the token service first and is recorded locally from its
//! answer; a conflict (the token service holds another status than ours) re-reads the token
//! there, records what it says and answers 409.

use axum::extract::State;
use axum::http::StatusCode;
use cards::{Date, Expiry, Pan, PanError};
use jose::Jwk;
use secret::Secret;
use serde::{Deserialize, Deserializer, Serialize};
use store::wallet::{DeviceRow, ProvisionedTokenRow, SetDefault};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::error::{ApiError, FieldError};
use crate::extract::{Json, OptionalJson, Path, Query};
use crate::pagination::{PageQuery, paginate};
use crate::ratelimit::{RateLimiter, RetryAfter};
use crate::token_service::{
    Credential, FundingAccount, LifecycleAction, MethodKind, TokenInfo, TokenServiceError,
    TokenState, TokenizeOutcome, TokenizeRequest, VerificationMethod,
};
use crate::{AppState, random};

/// Longest cardholder name, in characters (the embossing limit, as the token service checks).
pub const MAX_CARDHOLDER_NAME_CHARS: usize = 26;
/// Shortest and longest funding PAN accepted, in digits.
pub const PAN_DIGITS: core::ops::RangeInclusive<usize> = 13..=19;
/// Digits in a one-time password.
pub const OTP_DIGITS: usize = 6;
/// Most limited-use keys asked for at once (the token service's limit).
pub const MAX_KEYS_PER_BATCH: u32 = 16;

/// Reasons recorded at the token service for the wallet's lifecycle calls.
const REASON_CARDHOLDER: &str = "CARDHOLDER_REQUEST";
const REASON_DEVICE_LOST: &str = "DEVICE_LOST";
const REASON_DEVICE_RECOVERED: &str = "DEVICE_RECOVERED";

// ---- DTOs ---------------------------------------------------------------------------------------

/// Where a card stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    /// Usable for payments; its payload can be fetched.
    Active,
    /// The issuer refused it (see `decline_reason`); no token exists.
    Declined,
    /// Removed from the wallet (final).
    Deleted,
    /// Waiting for the cardholder's verification (see `verification_methods`).
    PendingVerification,
    /// Temporarily unusable (see `suspended_by`).
    Suspended,
}

impl CardStatus {
    fn from_store(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "declined" => Some(Self::Declined),
            "deleted" => Some(Self::Deleted),
            "pending" => Some(Self::PendingVerification),
            "suspended" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// The card network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Mastercard.
    Mastercard,
    /// Any other network.
    Other,
    /// Visa.
    Visa,
}

impl Network {
    fn as_str(self) -> &'static str {
        match self {
            Self::Mastercard => "mastercard",
            Self::Other => "other",
            Self::Visa => "visa",
        }
    }

    fn from_store(s: &str) -> Option<Self> {
        match s {
            "mastercard" => Some(Self::Mastercard),
            "other" => Some(Self::Other),
            "visa" => Some(Self::Visa),
            _ => None,
        }
    }

    /// The network of a PAN by its leading digits (Visa 4; Mastercard 51-55 and 2221-2720).
    fn of(pan: &Pan) -> Self {
        let bin: u32 = pan
            .bin6()
            .get(..4)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        match bin {
            4000..=4999 => Self::Visa,
            5100..=5599 | 2221..=2720 => Self::Mastercard,
            _ => Self::Other,
        }
    }
}

/// How the device holds a card's credential.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CardCredential {
    /// Host card emulation: the device never receives the card key, only batches of
    /// limited-use keys, each good for a few payments and a limited time, replenished with
    /// `POST /v1/cards/{id}/keys`.
    Hce,
    /// The device's secure element holds the card key (in the provisioning payload).
    #[default]
    Se,
}

impl CardCredential {
    fn as_str(self) -> &'static str {
        self.token_service().as_str()
    }

    fn from_store(s: &str) -> Option<Self> {
        match s {
            "hce" => Some(Self::Hce),
            "se" => Some(Self::Se),
            _ => None,
        }
    }

    fn token_service(self) -> Credential {
        match self {
            Self::Hce => Credential::Hce,
            Self::Se => Credential::SecureElement,
        }
    }
}

/// Who suspended a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuspendedBy {
    /// Its device was reported lost; recovering the device resumes it.
    DeviceLost,
    /// The token service or the issuer; only they can resume it.
    TokenService,
    /// The cardholder (`POST /v1/cards/{id}/suspend`).
    User,
}

impl SuspendedBy {
    fn from_store(s: &str) -> Option<Self> {
        match s {
            "device_lost" => Some(Self::DeviceLost),
            "token_service" => Some(Self::TokenService),
            "user" => Some(Self::User),
            _ => None,
        }
    }
}

/// A way to verify the cardholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum VerificationMethodType {
    /// Approve in the issuer's app: the card turns active by itself (poll `GET /v1/cards/{id}`).
    #[serde(rename = "ISSUER_APP")]
    IssuerApp,
    /// A 6-digit code by e-mail.
    #[serde(rename = "OTP_EMAIL")]
    OtpEmail,
    /// A 6-digit code by SMS.
    #[serde(rename = "OTP_SMS")]
    OtpSms,
}

impl From<MethodKind> for VerificationMethodType {
    fn from(kind: MethodKind) -> Self {
        match kind {
            MethodKind::IssuerApp => Self::IssuerApp,
            MethodKind::OtpEmail => Self::OtpEmail,
            MethodKind::OtpSms => Self::OtpSms,
        }
    }
}

impl From<VerificationMethodType> for MethodKind {
    fn from(kind: VerificationMethodType) -> Self {
        match kind {
            VerificationMethodType::IssuerApp => Self::IssuerApp,
            VerificationMethodType::OtpEmail => Self::OtpEmail,
            VerificationMethodType::OtpSms => Self::OtpSms,
        }
    }
}

/// A verification method offered for a pending card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerificationMethodView {
    /// The method.
    #[serde(rename = "type")]
    pub kind: VerificationMethodType,
    /// Where the code goes, masked by the issuer; absent for the issuer's app.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "+33 6** ** ** 78")]
    pub destination: Option<String>,
    /// True for the method the current code was sent by.
    pub code_sent: bool,
}

/// A card in a device wallet. It never carries a card number: only the last four digits of the
/// funding PAN.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Card {
    /// Opaque id.
    #[schema(example = "crd_Yc3EXAMPLEEXAMPLEEXAQ")]
    pub id: String,
    /// The device wallet it was added to (the payload is encrypted to its key).
    pub device_id: String,
    /// Where it stands.
    pub status: CardStatus,
    /// The card network.
    pub network: Network,
    /// How the device holds the card's credential: `se` (its secure element holds the card
    /// key) or `hce` (limited-use keys from `POST /v1/cards/{id}/keys`).
    pub credential: CardCredential,
    /// The token's unique reference at the token service (not a card number): what the
    /// issuer's app and support refer to. Absent for declined cards (no token exists).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "DNITHE0123456789ABCDEF0123456789AB")]
    pub token_ref: Option<String>,
    /// Last four digits of the card number.
    #[schema(example = "1111", min_length = 4, max_length = 4)]
    pub fpan_last4: String,
    /// The issuer's product name.
    pub product_name: Option<String>,
    /// Card art identifier for the client to draw the card with.
    #[schema(example = "visa-default")]
    pub card_art: Option<String>,
    /// The device's default card for payments.
    pub is_default: bool,
    /// Who suspended it (suspended cards only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_by: Option<SuspendedBy>,
    /// The issuer's reason (declined cards only), e.g. `CVV_MISMATCH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "CVV_MISMATCH")]
    pub decline_reason: Option<String>,
    /// The ways to verify (pending cards only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_methods: Option<Vec<VerificationMethodView>>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last change, Unix seconds.
    pub updated_at: i64,
}

/// A page of cards.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CardList {
    /// The cards in the wallet (active, pending or suspended), oldest first.
    pub cards: Vec<Card>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn secret_string<'de, D: Deserializer<'de>>(d: D) -> Result<Secret<String>, D::Error> {
    String::deserialize(d).map(Secret::new)
}

/// A card to add to a device wallet.
///
/// The card number, CVV and name go to the token service encrypted and are never stored or
/// logged by the wallet.
#[derive(Deserialize, ToSchema)]
pub struct ProvisionRequest {
    /// The device wallet (one of the caller's active devices).
    pub device_id: String,
    /// The card number: 13 to 19 digits (spaces allowed) with a valid Luhn check digit.
    #[serde(deserialize_with = "secret_string")]
    #[schema(value_type = String, min_length = 13, max_length = 40)]
    pub pan: Secret<String>,
    /// Expiry as printed, `MM/YY`; not in the past.
    #[schema(example = "12/30", pattern = "^[0-9]{2}/[0-9]{2}$")]
    pub expiry: String,
    /// The 3 or 4 digits on the card.
    #[serde(deserialize_with = "secret_string")]
    #[schema(value_type = String, pattern = "^[0-9]{3,4}$")]
    pub cvv: Secret<String>,
    /// The name on the card, 1 to 26 characters.
    #[serde(deserialize_with = "secret_string")]
    #[schema(value_type = String, min_length = 1, max_length = 26, example = "ADA LOVELACE")]
    pub cardholder_name: Secret<String>,
    /// How the device will hold the card's credential: `se` (default) or `hce`.
    #[serde(default)]
    pub credential: Option<CardCredential>,
}

impl core::fmt::Debug for ProvisionRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProvisionRequest")
            .field("device_id", &self.device_id)
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

/// A one-time password to check.
#[derive(Deserialize, ToSchema)]
pub struct VerifyRequest {
    /// The 6-digit code the issuer sent.
    #[serde(deserialize_with = "secret_string")]
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub otp: Secret<String>,
}

impl core::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("VerifyRequest([REDACTED])")
    }
}

/// Which way to send a new code.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct SendOtpRequest {
    /// `OTP_SMS` or `OTP_EMAIL`, one of the card's methods; default: the method of the last
    /// code, else the first code method offered.
    #[serde(default)]
    pub method: Option<VerificationMethodType>,
}

/// The provisioning payload of an active card.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CardPayload {
    /// The card.
    pub card_id: String,
    /// The device whose secure element key the payload is encrypted to.
    pub device_id: String,
    /// Compact JWE (`ECDH-ES+A256KW`, `A256GCM`) to the device's secure element key, from the
    /// token service: the device token (DPAN), its expiry, PSN, scheme, cryptogram version and
    /// card key. Only that device can open it.
    pub encrypted_payload: String,
}

/// How many limited-use keys to issue.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct ReplenishKeysRequest {
    /// Keys in the batch, 1 to 16; default 4.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 16)]
    pub count: Option<u32>,
}

/// A new batch of limited-use keys for an HCE card.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CardKeys {
    /// The card.
    pub card_id: String,
    /// Keys in the batch (fewer than asked only when the card's transaction counters run out).
    pub count: u32,
    /// When the batch's keys expire, Unix seconds.
    pub expires_at: i64,
    /// Compact JWE (`ECDH-ES+A256KW`, `A256GCM`) to the device's secure element key, from the
    /// token service: `{tur, key_algorithm, keys: [{index, key, atc_from, atc_to,
    /// expires_at}]}`. Each key pays for the ATCs `atc_from` to `atc_to` until `expires_at`;
    /// the batch supersedes every earlier one.
    pub encrypted_keys: String,
}

/// A verification method as stored with a pending card (JSON text in the store).
#[derive(Serialize, Deserialize)]
struct StoredMethod {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    destination: Option<String>,
}

fn stored_methods(methods: &[VerificationMethod]) -> Option<String> {
    let stored: Vec<StoredMethod> = methods
        .iter()
        .map(|m| StoredMethod {
            kind: m.kind.as_str().to_owned(),
            destination: m.destination.clone(),
        })
        .collect();
    serde_json::to_string(&stored).ok()
}

fn methods_of(row: &ProvisionedTokenRow) -> Vec<VerificationMethod> {
    let stored: Vec<StoredMethod> = row
        .verification_methods
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    stored
        .into_iter()
        .filter_map(|m| {
            MethodKind::parse(&m.kind).map(|kind| VerificationMethod {
                kind,
                destination: m.destination,
            })
        })
        .collect()
}

impl Card {
    pub(crate) fn from_row(row: ProvisionedTokenRow) -> Result<Self, ApiError> {
        let corrupt = |what: &str| ApiError::internal(format!("stored card has a bad {what}"));
        let status = CardStatus::from_store(&row.status).ok_or_else(|| corrupt("status"))?;
        let network = Network::from_store(&row.network).ok_or_else(|| corrupt("network"))?;
        let credential =
            CardCredential::from_store(&row.credential).ok_or_else(|| corrupt("credential"))?;
        let suspended_by = match row.suspended_by.as_deref() {
            None => None,
            Some(s) => Some(SuspendedBy::from_store(s).ok_or_else(|| corrupt("suspended_by"))?),
        };
        let verification_methods = (status == CardStatus::PendingVerification).then(|| {
            methods_of(&row)
                .into_iter()
                .map(|m| VerificationMethodView {
                    kind: m.kind.into(),
                    destination: m.destination,
                    code_sent: row.otp_method.as_deref() == Some(m.kind.as_str()),
                })
                .collect()
        });
        Ok(Self {
            id: row.id,
            device_id: row.device_id,
            status,
            network,
            credential,
            token_ref: row.tur,
            fpan_last4: row.fpan_last4,
            product_name: row.product_name,
            card_art: row.card_art,
            is_default: row.is_default,
            suspended_by,
            decline_reason: row.decline_reason,
            verification_methods,
            created_at: row.created_at_unix,
            updated_at: row.updated_at_unix,
        })
    }
}

// ---- shared logic -------------------------------------------------------------------------------

/// The store's status for a token service state.
fn store_status(state: TokenState) -> &'static str {
    match state {
        TokenState::Active => "active",
        TokenState::Deleted => "deleted",
        TokenState::Inactive => "pending",
        TokenState::Suspended => "suspended",
    }
}

/// Records in `row` that the token service holds the token in `state` since `tsp_at`.
///
/// `suspended_by` is who to record when the token is suspended: the wallet's own reason for
/// its own calls; `None` keeps the row's (a suspension the wallet already knows of), else
/// `token_service`. A state older than the one recorded (a late webhook) changes nothing.
pub(crate) fn apply_state(
    row: &mut ProvisionedTokenRow,
    state: TokenState,
    tsp_at: Option<i64>,
    suspended_by: Option<&str>,
    now: i64,
) {
    if let (Some(at), Some(held)) = (tsp_at, row.tsp_updated_at_unix)
        && at < held
    {
        return;
    }
    if row.status == "declined" {
        // Invariant: a declined attempt has no token, so the token service has no state for it.
        return;
    }
    let status = store_status(state);
    let mut next = row.clone();
    next.suspended_by = (status == "suspended").then(|| {
        suspended_by
            .map(str::to_owned)
            .or_else(|| {
                (row.status == "suspended")
                    .then(|| row.suspended_by.clone())
                    .flatten()
            })
            .unwrap_or_else(|| "token_service".to_owned())
    });
    status.clone_into(&mut next.status);
    if status != "pending" {
        next.verification_methods = None;
        next.otp_method = None;
    }
    if status == "deleted" {
        next.is_default = false;
    }
    if let Some(at) = tsp_at {
        next.tsp_updated_at_unix = Some(row.tsp_updated_at_unix.map_or(at, |held| held.max(at)));
    }
    if next != *row {
        next.updated_at_unix = now;
        *row = next;
    }
}

/// The caller's card `id` (another user's is a 404, as an unknown one).
async fn owned_card(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> Result<ProvisionedTokenRow, ApiError> {
    state
        .store()
        .provisioned_token(&user.user_id, id)
        .await?
        .ok_or(ApiError::NotFound("card"))
}

/// The TUR of a card that has a token (every status but declined).
fn tur_of(row: &ProvisionedTokenRow) -> Result<String, ApiError> {
    row.tur
        .clone()
        .ok_or_else(|| ApiError::internal("a card with a token has no TUR"))
}

/// Records the token service's view of a card's token.
async fn record(
    state: &AppState,
    row: &ProvisionedTokenRow,
    info: &TokenInfo,
    suspended_by: Option<&'static str>,
) -> Result<ProvisionedTokenRow, ApiError> {
    let now = state.now();
    let (token_state, at) = (info.state, info.updated_at_unix);
    let update = state
        .store()
        .update_provisioned_token(&row.user_id, &row.id, move |t| {
            apply_state(t, token_state, at, suspended_by, now);
        })
        .await?
        .ok_or(ApiError::NotFound("card"))?;
    if update.changed {
        tracing::info!(
            user_id = %row.user_id,
            card_id = %row.id,
            status = %update.token.status,
            "card status changed"
        );
    }
    Ok(update.token)
}

/// After a conflict: reads the token at the token service and records what it says.
async fn resync(state: &AppState, row: &ProvisionedTokenRow) -> Result<(), ApiError> {
    let tur = tur_of(row)?;
    let info = match state.token_service().token(&tur).await {
        Ok(info) => info,
        // The token service no longer knows the token: it is gone.
        Err(TokenServiceError::NotFound) => TokenInfo {
            tur: tur.clone(),
            state: TokenState::Deleted,
            fpan_last4: row.fpan_last4.clone(),
            product_name: String::new(),
            updated_at_unix: None,
        },
        Err(e) => return Err(token_service_error(e)),
    };
    record(state, row, &info, None).await.map(|_| ())
}

/// The answer for a token service failure the route has no better answer for.
fn token_service_error(e: TokenServiceError) -> ApiError {
    match e {
        TokenServiceError::IncorrectOtp { attempts_left } => {
            ApiError::IncorrectOtp { attempts_left }
        }
        TokenServiceError::OtpLocked => ApiError::OtpLocked,
        TokenServiceError::OtpExpired => ApiError::Conflict {
            problem: "otp-expired",
            detail: "The one-time password expired: request a new one with \
                     POST /v1/cards/{id}/otp.",
        },
        TokenServiceError::OtpNotSent => OTP_NOT_SENT,
        TokenServiceError::InvalidState { .. } => STATE_CHANGED,
        TokenServiceError::NotFound
        | TokenServiceError::Invalid(_)
        | TokenServiceError::Unavailable(_) => ApiError::TokenService(e.to_string()),
    }
}

const OTP_NOT_SENT: ApiError = ApiError::Conflict {
    problem: "otp-not-sent",
    detail: "No one-time password is pending for this card: request one with \
             POST /v1/cards/{id}/otp.",
};

const STATE_CHANGED: ApiError = ApiError::Conflict {
    problem: "card-state-changed",
    detail: "The card's status changed at the token service; read the card again.",
};

fn not_in_status(problem: &'static str, detail: &'static str) -> ApiError {
    ApiError::Conflict { problem, detail }
}

fn limited(limiter: &RateLimiter, key: &str, now: i64) -> Result<(), ApiError> {
    limiter
        .check(key, now)
        .map_err(|RetryAfter(retry_after_secs)| ApiError::RateLimited { retry_after_secs })
}

fn valid_tur(tur: &str) -> bool {
    !tur.is_empty() && tur.len() <= 64 && tur.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The card art the client draws until issuers provide their own: one per network.
fn card_art(network: Network) -> String {
    format!("{}-default", network.as_str())
}

// ---- validation ---------------------------------------------------------------------------------

/// The checked funding account of a provisioning request, or the field errors.
fn check_card(
    req: ProvisionRequest,
    today: Date,
    errors: &mut Vec<FieldError>,
) -> Option<FundingAccount> {
    let pan = match Pan::parse(req.pan.expose()) {
        Ok(pan) if PAN_DIGITS.contains(&pan.len()) => Some(pan),
        Ok(_) | Err(PanError::Length { .. }) => {
            errors.push(FieldError::new("pan", "must be 13 to 19 digits"));
            None
        }
        Err(PanError::Luhn) => {
            errors.push(FieldError::new(
                "pan",
                "is not a valid card number (check digit): check for a typo",
            ));
            None
        }
        Err(_) => {
            errors.push(FieldError::new("pan", "must hold only digits (and spaces)"));
            None
        }
    };
    let expiry = check_expiry(&req.expiry, today, errors);
    let cvv = req.cvv.expose();
    if !((3..=4).contains(&cvv.len()) && cvv.bytes().all(|b| b.is_ascii_digit())) {
        errors.push(FieldError::new("cvv", "must be 3 or 4 digits"));
    }
    let name = req.cardholder_name.expose();
    let chars = name.chars().count();
    if !(1..=MAX_CARDHOLDER_NAME_CHARS).contains(&chars)
        || name.chars().any(char::is_control)
        || name.trim().is_empty()
    {
        errors.push(FieldError::new(
            "cardholder_name",
            format!("must be 1 to {MAX_CARDHOLDER_NAME_CHARS} printable characters"),
        ));
    }
    let (pan, expiry) = (pan?, expiry?);
    errors.is_empty().then_some(FundingAccount {
        pan,
        expiry,
        cvv: req.cvv,
        cardholder_name: req.cardholder_name,
    })
}

fn check_expiry(text: &str, today: Date, errors: &mut Vec<FieldError>) -> Option<Expiry> {
    let well_formed = text.len() == 5
        && text.as_bytes().get(2) == Some(&b'/')
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 2 || b.is_ascii_digit());
    let parsed = if well_formed {
        let month = text.get(..2).and_then(|m| m.parse::<u8>().ok());
        let year = text.get(3..).and_then(|y| y.parse::<u16>().ok());
        month
            .zip(year)
            .and_then(|(m, y)| Expiry::new(2000 + y, m).ok())
    } else {
        None
    };
    match parsed {
        None if well_formed => {
            errors.push(FieldError::new("expiry", "month must be 01 to 12"));
            None
        }
        None => {
            errors.push(FieldError::new("expiry", "must be MM/YY"));
            None
        }
        Some(expiry) if expiry.is_expired_on(today) => {
            errors.push(FieldError::new("expiry", "the card has expired"));
            None
        }
        Some(expiry) => Some(expiry),
    }
}

/// The caller's device for a new card, or why it cannot take one.
async fn check_device(
    state: &AppState,
    user: &AuthUser,
    device_id: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<DeviceRow>, ApiError> {
    if device_id.is_empty() || device_id.len() > 64 {
        errors.push(FieldError::new("device_id", "is not one of your devices"));
        return Ok(None);
    }
    match state.store().device(&user.user_id, device_id).await? {
        None => {
            errors.push(FieldError::new("device_id", "is not one of your devices"));
            Ok(None)
        }
        Some(device) if device.status != "active" => {
            errors.push(FieldError::new(
                "device_id",
                "is reported lost: recover it before adding cards",
            ));
            Ok(None)
        }
        Some(device) => Ok(Some(device)),
    }
}

/// The token service's field names in our request's terms.
fn request_field(field: &str) -> String {
    match field.strip_prefix("funding_account.") {
        Some(rest) => rest.to_owned(),
        None if field.starts_with("device") => "device_id".to_owned(),
        None => field.to_owned(),
    }
}

// ---- handlers -----------------------------------------------------------------------------------

/// Adds a card to one of the caller's device wallets.
///
/// The card is checked here (Luhn, expiry against today, CVV, name, device), then tokenized by
/// the token service with the issuer's decision: `active` (green), `pending_verification`
/// with the methods offered (yellow: a code is sent at once by the first code method; verify
/// it with `POST /v1/cards/{id}/verify`, or approve in the issuer's app), or `declined` with
/// the issuer's reason (red). Every outcome is a new card resource (201).
///
/// `credential` chooses how the device holds the card: `se` (default), its secure element gets
/// the card key in the payload; `hce` (host card emulation), the payload carries no key and the
/// device pays with limited-use keys from `POST /v1/cards/{id}/keys`.
#[utoipa::path(
    post,
    path = "/v1/cards/provision",
    tag = "cards",
    operation_id = "provisionCard",
    security(("bearer" = [])),
    params(crate::idempotency::IdempotencyKeyHeader),
    request_body = ProvisionRequest,
    responses(
        (status = 201, description = "Tokenized: `active`, `pending_verification` (with `verification_methods`) or `declined` (with `decline_reason`); or replayed, with `Idempotency-Replayed: true`.", body = Card),
        (status = 400, description = "Malformed JSON or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 409, description = "A request with this Idempotency-Key is in flight.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (`validation`, with `errors`: `pan`, `expiry`, `cvv`, `cardholder_name`, `device_id`, `credential`), or the Idempotency-Key was used for another request.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many provisioning attempts by this user.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until a retry can succeed."))),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn provision(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<ProvisionRequest>,
) -> Result<(StatusCode, axum::Json<Card>), ApiError> {
    let now = state.now();
    let today = Date::from_unix_seconds(now).map_err(ApiError::internal)?;
    let mut errors = Vec::new();
    let device_id = req.device_id.clone();
    let credential = req.credential.unwrap_or_default();
    let device = check_device(&state, &user, &device_id, &mut errors).await?;
    let funding = check_card(req, today, &mut errors);
    let (Some(device), Some(funding)) = (device, funding) else {
        return Err(ApiError::Validation(errors));
    };
    limited(&state.rate_limits().provision_per_user, &user.user_id, now)?;
    let device_key = Jwk::from_json(&device.se_public_jwk)
        .map_err(|_| ApiError::internal("stored device key is not a JWK"))?;
    let fpan_last4 = funding.pan.last4().to_owned();
    let network = Network::of(&funding.pan);
    let outcome = state
        .token_service()
        .tokenize(TokenizeRequest {
            device_id: device.id.clone(),
            device_key,
            funding,
            credential: credential.token_service(),
        })
        .await
        .map_err(|e| match e {
            TokenServiceError::Invalid(fields) => ApiError::Validation(
                fields
                    .into_iter()
                    .map(|f| FieldError::new(request_field(&f.field), f.message))
                    .collect(),
            ),
            other => token_service_error(other),
        })?;

    let mut row = ProvisionedTokenRow {
        id: random::id("crd").map_err(ApiError::internal)?,
        user_id: user.user_id.clone(),
        device_id: device.id.clone(),
        tur: None,
        network: network.as_str().to_owned(),
        fpan_last4,
        status: "declined".to_owned(),
        suspended_by: None,
        decline_reason: None,
        product_name: None,
        card_art: Some(card_art(network)),
        verification_methods: None,
        otp_method: None,
        is_default: false,
        tsp_updated_at_unix: None,
        created_at_unix: now,
        updated_at_unix: now,
        credential: credential.as_str().to_owned(),
    };
    let tur_ok = match &outcome {
        TokenizeOutcome::Approved(token) | TokenizeOutcome::StepUp { token, .. } => {
            valid_tur(&token.tur)
        }
        TokenizeOutcome::Declined { .. } => true,
    };
    if !tur_ok {
        return Err(ApiError::TokenService(
            "the token service sent a malformed TUR".to_owned(),
        ));
    }
    let mut code_method = None;
    match outcome {
        TokenizeOutcome::Approved(token) => {
            row.tur = Some(token.tur);
            store_status(token.state).clone_into(&mut row.status);
            row.product_name = Some(token.product_name);
            row.tsp_updated_at_unix = token.updated_at_unix;
        }
        TokenizeOutcome::StepUp { token, methods } => {
            row.tur = Some(token.tur);
            store_status(token.state).clone_into(&mut row.status);
            row.product_name = Some(token.product_name);
            row.tsp_updated_at_unix = token.updated_at_unix;
            row.verification_methods = stored_methods(&methods);
            code_method = methods.iter().map(|m| m.kind).find(|k| k.is_otp());
        }
        TokenizeOutcome::Declined { reason } => {
            row.decline_reason = Some(reason.chars().take(64).collect());
        }
    }
    if row.status == "suspended" {
        // Invariant of the schema: a suspended card says by whom.
        row.suspended_by = Some("token_service".to_owned());
    }
    state.store().insert_provisioned_token(&row).await?;
    tracing::info!(
        user_id = %user.user_id,
        card_id = %row.id,
        device_id = %row.device_id,
        status = %row.status,
        credential = %row.credential,
        "card provisioned"
    );
    if let (Some(method), "pending") = (code_method, row.status.as_str()) {
        // The card exists either way; the cardholder can ask for a code again.
        row = match send_code(&state, row.clone(), method).await {
            Ok(sent) => sent,
            Err(CodeError::TokenService(unsent, e)) => {
                tracing::warn!(error = %e, "the first one-time password could not be sent");
                *unsent
            }
            Err(CodeError::Store(e)) => {
                tracing::warn!(error = %e, "the first one-time password's method was not recorded");
                row
            }
        };
    }
    Ok((StatusCode::CREATED, axum::Json(Card::from_row(row)?)))
}

/// Why a code was not sent.
enum CodeError {
    /// The token service refused or failed; the card is as it was.
    TokenService(Box<ProvisionedTokenRow>, TokenServiceError),
    /// The code went out but recording its method failed.
    Store(ApiError),
}

/// Has the token service send a code for a pending card by `method` and records the method.
async fn send_code(
    state: &AppState,
    row: ProvisionedTokenRow,
    method: MethodKind,
) -> Result<ProvisionedTokenRow, CodeError> {
    let Some(tur) = row.tur.clone() else {
        return Ok(row);
    };
    if let Err(e) = state.token_service().send_otp(&tur, method).await {
        return Err(CodeError::TokenService(Box::new(row), e));
    }
    let now = state.now();
    let updated = state
        .store()
        .update_provisioned_token(&row.user_id, &row.id, move |t| {
            if t.status == "pending" {
                t.otp_method = Some(method.as_str().to_owned());
                t.updated_at_unix = now;
            }
        })
        .await
        .map_err(|e| CodeError::Store(e.into()))?;
    Ok(updated.map_or(row, |update| update.token))
}

/// Lists the caller's cards in the wallet (active, pending or suspended), oldest first.
#[utoipa::path(
    get,
    path = "/v1/cards",
    tag = "cards",
    operation_id = "listCards",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of cards.", body = CardList),
        (status = 400, description = "Malformed query string (e.g. a repeated parameter).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 422, description = "Invalid `limit` or `cursor`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<PageQuery>,
) -> Result<axum::Json<CardList>, ApiError> {
    let page = query.page()?;
    let rows = state
        .store()
        .provisioned_tokens_of_user(
            &user.user_id,
            page.cursor().as_ref(),
            page.limit.saturating_add(1),
        )
        .await?;
    let (rows, next_cursor) = paginate(&page, rows, |r| (r.created_at_unix, r.id.as_str()));
    let cards = rows
        .into_iter()
        .map(Card::from_row)
        .collect::<Result<_, _>>()?;
    Ok(axum::Json(CardList { cards, next_cursor }))
}

/// One of the caller's cards, whatever its status (poll it while the issuer's app approves).
#[utoipa::path(
    get,
    path = "/v1/cards/{id}",
    tag = "cards",
    operation_id = "getCard",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Card id.")),
    responses(
        (status = 200, description = "The card.", body = Card),
        (status = 400, description = "Malformed path.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Card>, ApiError> {
    Ok(axum::Json(Card::from_row(
        owned_card(&state, &user, &id).await?,
    )?))
}

/// Checks the one-time password of a pending card; right, the card turns active.
///
/// The code is the last one sent (at provisioning, or by `POST /v1/cards/{id}/otp`). A wrong
/// code is a 422 saying how many attempts are left; after 5 wrong codes verification by code
/// is locked for the card: 423 `otp-locked` (the card's state, not a rate: waiting does not
/// unlock it). Checks are also rate-limited per user (429).
#[utoipa::path(
    post,
    path = "/v1/cards/{id}/verify",
    tag = "cards",
    operation_id = "verifyCard",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Card id."),
        crate::idempotency::IdempotencyKeyHeader,
    ),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "Verified: the card, now active.", body = Card),
        (status = 400, description = "Malformed path, JSON or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The card is not waiting for verification (`card-not-pending`, `card-state-changed`), no code is pending (`otp-not-sent`), the code expired (`otp-expired`), or a request with this Idempotency-Key is in flight.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The code is not 6 digits (`validation`), is wrong (`incorrect-otp`, with `attempts_left`), or the Idempotency-Key was used for another request.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 423, description = "Too many wrong codes: verification by code is locked for this card (`otp-locked`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many code checks or sends by this user.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until a retry can succeed."))),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<VerifyRequest>,
) -> Result<axum::Json<Card>, ApiError> {
    let otp = req.otp;
    let code = otp.expose();
    if !(code.len() == OTP_DIGITS && code.bytes().all(|b| b.is_ascii_digit())) {
        return Err(ApiError::invalid("otp", "must be 6 digits"));
    }
    let row = owned_card(&state, &user, &id).await?;
    limited(
        &state.rate_limits().otp_per_user,
        &user.user_id,
        state.now(),
    )?;
    if row.status != "pending" {
        return Err(not_in_status(
            "card-not-pending",
            "Only a card waiting for verification can be verified.",
        ));
    }
    let method = row
        .otp_method
        .as_deref()
        .and_then(MethodKind::parse)
        .ok_or(OTP_NOT_SENT)?;
    let tur = tur_of(&row)?;
    match state.token_service().authenticate(&tur, method, &otp).await {
        Ok(info) => {
            let row = record(&state, &row, &info, None).await?;
            tracing::info!(user_id = %user.user_id, card_id = %row.id, "card verified");
            Ok(axum::Json(Card::from_row(row)?))
        }
        Err(TokenServiceError::IncorrectOtp { attempts_left }) => {
            tracing::info!(user_id = %user.user_id, card_id = %row.id, attempts_left, "wrong one-time password");
            Err(ApiError::IncorrectOtp { attempts_left })
        }
        Err(TokenServiceError::InvalidState { .. }) => {
            resync(&state, &row).await?;
            Err(STATE_CHANGED)
        }
        Err(e) => Err(token_service_error(e)),
    }
}

/// Sends a new one-time password for a pending card (codes are valid for 5 minutes; a new
/// one replaces the last and does not restore attempts).
#[utoipa::path(
    post,
    path = "/v1/cards/{id}/otp",
    tag = "cards",
    operation_id = "sendCardOtp",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Card id."),
        crate::idempotency::IdempotencyKeyHeader,
    ),
    request_body = SendOtpRequest,
    responses(
        (status = 200, description = "Sent: the card, its method marked `code_sent`.", body = Card),
        (status = 400, description = "Malformed path, JSON or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The card is not waiting for verification (`card-not-pending`, `card-state-changed`), or a request with this Idempotency-Key is in flight.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`method` is not a code method offered for this card (`validation`), or the Idempotency-Key was used for another request.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 423, description = "Verification by code is locked for this card (`otp-locked`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many code checks or sends by this user.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until a retry can succeed."))),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn send_otp(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(req): Json<SendOtpRequest>,
) -> Result<axum::Json<Card>, ApiError> {
    let row = owned_card(&state, &user, &id).await?;
    if row.status != "pending" {
        return Err(not_in_status(
            "card-not-pending",
            "Only a card waiting for verification gets codes.",
        ));
    }
    let offered: Vec<MethodKind> = methods_of(&row)
        .into_iter()
        .map(|m| m.kind)
        .filter(|k| k.is_otp())
        .collect();
    let method = match req.method.map(MethodKind::from) {
        Some(method) if offered.contains(&method) => method,
        Some(_) => {
            return Err(ApiError::invalid(
                "method",
                "is not a code method offered for this card",
            ));
        }
        None => row
            .otp_method
            .as_deref()
            .and_then(MethodKind::parse)
            .or_else(|| offered.first().copied())
            .ok_or_else(|| {
                ApiError::invalid(
                    "method",
                    "no code method is offered for this card: approve it in the issuer's app",
                )
            })?,
    };
    limited(
        &state.rate_limits().otp_per_user,
        &user.user_id,
        state.now(),
    )?;
    match send_code(&state, row, method).await {
        Ok(row) => Ok(axum::Json(Card::from_row(row)?)),
        Err(CodeError::TokenService(row, TokenServiceError::InvalidState { .. })) => {
            resync(&state, &row).await?;
            Err(STATE_CHANGED)
        }
        Err(CodeError::TokenService(_, e)) => Err(token_service_error(e)),
        Err(CodeError::Store(e)) => Err(e),
    }
}

/// The provisioning payload of an active card: a JWE from the token service, encrypted to the
/// secure element key of the device the card was added to (only that device can open it).
#[utoipa::path(
    get,
    path = "/v1/cards/{id}/payload",
    tag = "cards",
    operation_id = "getCardPayload",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Card id.")),
    responses(
        (status = 200, description = "The payload.", body = CardPayload),
        (status = 400, description = "Malformed path.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The card is not active (`card-not-active`, `card-state-changed`) or its device is reported lost (`device-lost`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn payload(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<CardPayload>, ApiError> {
    let row = owned_card(&state, &user, &id).await?;
    if row.status != "active" {
        return Err(not_in_status(
            "card-not-active",
            "The payload is for active cards only.",
        ));
    }
    let device = state
        .store()
        .device(&user.user_id, &row.device_id)
        .await?
        .ok_or_else(|| ApiError::internal("a card's device is missing"))?;
    if device.status != "active" {
        return Err(not_in_status(
            "device-lost",
            "The card's device is reported lost: recover it first.",
        ));
    }
    let tur = tur_of(&row)?;
    match state.token_service().payload(&tur).await {
        Ok(encrypted_payload) => {
            tracing::info!(user_id = %user.user_id, card_id = %row.id, "payload delivered");
            Ok(axum::Json(CardPayload {
                card_id: row.id,
                device_id: row.device_id,
                encrypted_payload,
            }))
        }
        Err(TokenServiceError::InvalidState { .. }) => {
            resync(&state, &row).await?;
            Err(STATE_CHANGED)
        }
        Err(e) => Err(token_service_error(e)),
    }
}

/// Issues a new batch of limited-use keys to an active HCE card: a JWE from the token service,
/// encrypted to the secure element key of the card's device.
///
/// Each key pays for a small range of transaction counters (ATCs) until it expires; ranges
/// follow each other from batch to batch, and a new batch revokes every earlier key of the
/// card (a copy of an old batch no longer pays). Ask for a new batch when the current one runs
/// low or nears its expiry. The body is optional (`{}`, or `{"count": N}` with N from 1 to
/// 16; default 4).
///
/// `Idempotency-Key` is ignored here: the answer is key material (encrypted to the device) and
/// the backend stores none; a retry simply issues another batch, which supersedes the one
/// whose answer was lost. The backend keeps no key, only forwards the token service's JWE.
#[utoipa::path(
    post,
    path = "/v1/cards/{id}/keys",
    tag = "cards",
    operation_id = "replenishCardKeys",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Card id.")),
    request_body(content = Option<ReplenishKeysRequest>, description = "Optional: how many keys.", content_type = "application/json"),
    responses(
        (status = 200, description = "A new batch; every earlier key of the card is revoked.", body = CardKeys),
        (status = 400, description = "Malformed path or JSON.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The card is not active (`card-not-active`, `card-state-changed`), holds its key in a secure element (`card-not-hce`), has used every transaction counter it can and must be added again (`keys-exhausted`), or its device is reported lost (`device-lost`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body not sent as application/json.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`count` is not an integer from 1 to 16 (`validation`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many batches for this card.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until a retry can succeed."))),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn replenish_keys(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    OptionalJson(req): OptionalJson<ReplenishKeysRequest>,
) -> Result<axum::Json<CardKeys>, ApiError> {
    if req
        .count
        .is_some_and(|n| !(1..=MAX_KEYS_PER_BATCH).contains(&n))
    {
        return Err(ApiError::invalid(
            "count",
            format!("must be an integer from 1 to {MAX_KEYS_PER_BATCH}"),
        ));
    }
    let row = owned_card(&state, &user, &id).await?;
    if row.status != "active" {
        return Err(not_in_status(
            "card-not-active",
            "Limited-use keys are for active cards only.",
        ));
    }
    if row.credential != CardCredential::Hce.as_str() {
        return Err(NOT_HCE);
    }
    let device = state
        .store()
        .device(&user.user_id, &row.device_id)
        .await?
        .ok_or_else(|| ApiError::internal("a card's device is missing"))?;
    if device.status != "active" {
        return Err(not_in_status(
            "device-lost",
            "The card's device is reported lost: recover it first.",
        ));
    }
    // Only a call that would issue a batch counts against the card's limit.
    limited(&state.config().key_replenish_per_card, &row.id, state.now())?;
    let tur = tur_of(&row)?;
    match state.token_service().replenish_keys(&tur, req.count).await {
        Ok(batch) => {
            tracing::info!(
                user_id = %user.user_id,
                card_id = %row.id,
                count = batch.count,
                "limited-use keys delivered"
            );
            Ok(axum::Json(CardKeys {
                card_id: row.id,
                count: batch.count,
                expires_at: batch.expires_at_unix,
                encrypted_keys: batch.encrypted_keys,
            }))
        }
        Err(TokenServiceError::InvalidState { kind }) => match kind.as_str() {
            "atc-space-exhausted" => Err(not_in_status(
                "keys-exhausted",
                "This card has used every transaction counter it can: remove it and add it \
                 again.",
            )),
            "not-hce-token" => Err(NOT_HCE),
            _ => {
                resync(&state, &row).await?;
                Err(STATE_CHANGED)
            }
        },
        Err(e) => Err(token_service_error(e)),
    }
}

const NOT_HCE: ApiError = ApiError::Conflict {
    problem: "card-not-hce",
    detail: "This card's key is in the device's secure element: it has no limited-use keys.",
};

/// Suspends an active card at the token service (payments with it are declined until it is
/// resumed).
#[utoipa::path(
    post,
    path = "/v1/cards/{id}/suspend",
    tag = "cards",
    operation_id = "suspendCard",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Card id."),
        crate::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 200, description = "The card, now suspended (suspending it again changes nothing; a card suspended for its lost device is then kept suspended when the device is recovered).", body = Card),
        (status = 400, description = "Malformed path or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The card is not active (`card-not-active`, `card-state-changed`), or a request with this Idempotency-Key is in flight.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB (with an Idempotency-Key, the body is read).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn suspend(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Card>, ApiError> {
    let row = owned_card(&state, &user, &id).await?;
    let row = match (row.status.as_str(), row.suspended_by.as_deref()) {
        ("active", _) => lifecycle(&state, &row, LifecycleAction::Suspend, "user").await?,
        ("suspended", Some("device_lost")) => {
            // Already suspended at the token service: the cardholder now wants it to stay so.
            let now = state.now();
            state
                .store()
                .update_provisioned_token(&user.user_id, &id, move |t| {
                    if t.suspended_by.as_deref() == Some("device_lost") {
                        t.suspended_by = Some("user".to_owned());
                        t.updated_at_unix = now;
                    }
                })
                .await?
                .ok_or(ApiError::NotFound("card"))?
                .token
        }
        ("suspended", _) => row,
        _ => {
            return Err(not_in_status(
                "card-not-active",
                "Only an active card can be suspended.",
            ));
        }
    };
    Ok(axum::Json(Card::from_row(row)?))
}

/// Resumes a card the cardholder suspended (or one suspended for a lost device that has
/// been recovered).
#[utoipa::path(
    post,
    path = "/v1/cards/{id}/resume",
    tag = "cards",
    operation_id = "resumeCard",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Card id."),
        crate::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 200, description = "The card, now active (resuming an active card changes nothing).", body = Card),
        (status = 400, description = "Malformed path or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The card is not suspended (`card-not-suspended`, `card-state-changed`), was suspended by the issuer or token service (`suspended-by-issuer`), its device is still lost (`device-lost`), or a request with this Idempotency-Key is in flight.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB (with an Idempotency-Key, the body is read).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn resume(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Card>, ApiError> {
    let row = owned_card(&state, &user, &id).await?;
    let row = match (row.status.as_str(), row.suspended_by.as_deref()) {
        ("active", _) => row,
        ("suspended", Some("token_service")) => {
            return Err(not_in_status(
                "suspended-by-issuer",
                "The issuer or the token service suspended this card; only they can resume it.",
            ));
        }
        ("suspended", by) => {
            if by == Some("device_lost") {
                let device = state.store().device(&user.user_id, &row.device_id).await?;
                if device.is_none_or(|d| d.status != "active") {
                    return Err(not_in_status(
                        "device-lost",
                        "The card's device is reported lost: recover it first.",
                    ));
                }
            }
            lifecycle(&state, &row, LifecycleAction::Resume, "user").await?
        }
        _ => {
            return Err(not_in_status(
                "card-not-suspended",
                "Only a suspended card can be resumed.",
            ));
        }
    };
    Ok(axum::Json(Card::from_row(row)?))
}

/// Deletes a card: its token is deleted at the token service (final) and it leaves the wallet.
#[utoipa::path(
    delete,
    path = "/v1/cards/{id}",
    tag = "cards",
    operation_id = "deleteCard",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Card id.")),
    responses(
        (status = 204, description = "Deleted (deleting it again, or deleting a declined card, changes nothing)."),
        (status = 400, description = "Malformed path.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The token service holds the token in a state that cannot be deleted (`card-state-changed`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let row = owned_card(&state, &user, &id).await?;
    if matches!(row.status.as_str(), "deleted" | "declined") {
        return Ok(StatusCode::NO_CONTENT);
    }
    let row = match lifecycle(&state, &row, LifecycleAction::Delete, "user").await {
        Ok(row) => row,
        Err(e) => {
            // A conflict re-read the token: it may have been deleted meanwhile, which is fine.
            let now = owned_card(&state, &user, &id).await?;
            if now.status != "deleted" {
                return Err(e);
            }
            now
        }
    };
    if row.status != "deleted" {
        return Err(STATE_CHANGED);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a card its device's default for payments (the device's previous default is
/// cleared).
#[utoipa::path(
    put,
    path = "/v1/cards/{id}/default",
    tag = "cards",
    operation_id = "setDefaultCard",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Card id.")),
    responses(
        (status = 200, description = "The card, now its device's default.", body = Card),
        (status = 400, description = "Malformed path.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such card.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The card is declined or deleted (`card-not-in-wallet`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn set_default(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Card>, ApiError> {
    match state
        .store()
        .set_default_token(&user.user_id, &id, state.now())
        .await?
    {
        None => Err(ApiError::NotFound("card")),
        Some(SetDefault::NotEligible(_)) => Err(not_in_status(
            "card-not-in-wallet",
            "A declined or deleted card cannot be the default.",
        )),
        Some(SetDefault::Done(row)) => Ok(axum::Json(Card::from_row(row)?)),
    }
}

/// Runs a lifecycle call at the token service and records its answer; on a conflict, records
/// the token service's state and answers 409.
async fn lifecycle(
    state: &AppState,
    row: &ProvisionedTokenRow,
    action: LifecycleAction,
    suspended_by: &'static str,
) -> Result<ProvisionedTokenRow, ApiError> {
    let tur = tur_of(row)?;
    let reason = match (action, suspended_by) {
        (LifecycleAction::Suspend, "device_lost") => REASON_DEVICE_LOST,
        (LifecycleAction::Resume, "device_lost") => REASON_DEVICE_RECOVERED,
        _ => REASON_CARDHOLDER,
    };
    match state.token_service().lifecycle(action, &tur, reason).await {
        Ok(info) => record(state, row, &info, Some(suspended_by)).await,
        Err(TokenServiceError::InvalidState { .. }) => {
            resync(state, row).await?;
            Err(STATE_CHANGED)
        }
        Err(TokenServiceError::NotFound) if action == LifecycleAction::Delete => {
            // The token service holds no such token any more: it is gone.
            let gone = TokenInfo {
                tur,
                state: TokenState::Deleted,
                fpan_last4: row.fpan_last4.clone(),
                product_name: String::new(),
                updated_at_unix: None,
            };
            record(state, row, &gone, None).await
        }
        Err(e) => Err(token_service_error(e)),
    }
}

// ---- device hooks -------------------------------------------------------------------------------

/// Suspends, at the token service, every active card of a device reported lost (recorded as
/// suspended for the loss).
///
/// It converges rather than reacting once: it looks for active cards each time the device is
/// reported lost, so a report retried after a token service failure finishes the job.
pub(crate) async fn suspend_cards_of_lost_device(
    state: &AppState,
    device: &DeviceRow,
) -> Result<(), ApiError> {
    let cards = state
        .store()
        .provisioned_tokens_of_device(&device.user_id, &device.id)
        .await?;
    for row in cards.iter().filter(|c| c.status == "active") {
        match lifecycle(state, row, LifecycleAction::Suspend, "device_lost").await {
            // The token was no longer active there: its state is recorded; nothing to suspend.
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Resumes, at the token service, the cards suspended because their device was lost (and
/// only those: cards the cardholder or the issuer suspended stay suspended). Converges like
/// [`suspend_cards_of_lost_device`].
pub(crate) async fn resume_cards_of_recovered_device(
    state: &AppState,
    device: &DeviceRow,
) -> Result<(), ApiError> {
    let cards = state
        .store()
        .provisioned_tokens_of_device(&device.user_id, &device.id)
        .await?;
    let lost = cards
        .iter()
        .filter(|c| c.status == "suspended" && c.suspended_by.as_deref() == Some("device_lost"));
    for row in lost {
        match lifecycle(state, row, LifecycleAction::Resume, "device_lost").await {
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str) -> ProvisionedTokenRow {
        ProvisionedTokenRow {
            id: "crd_1".to_owned(),
            user_id: "usr_1".to_owned(),
            device_id: "dev_1".to_owned(),
            tur: Some("DNITHE01".to_owned()),
            network: "visa".to_owned(),
            fpan_last4: "1111".to_owned(),
            status: status.to_owned(),
            suspended_by: (status == "suspended").then(|| "device_lost".to_owned()),
            decline_reason: None,
            product_name: None,
            card_art: None,
            verification_methods: (status == "pending").then(|| "[]".to_owned()),
            otp_method: (status == "pending").then(|| "OTP_SMS".to_owned()),
            is_default: true,
            tsp_updated_at_unix: Some(100),
            created_at_unix: 10,
            updated_at_unix: 10,
            credential: "se".to_owned(),
        }
    }

    #[test]
    fn states_apply_in_order() {
        let mut r = row("pending");
        apply_state(&mut r, TokenState::Active, Some(150), None, 200);
        assert_eq!(r.status, "active");
        assert_eq!(
            (r.verification_methods.as_deref(), r.otp_method.as_deref()),
            (None, None)
        );
        assert_eq!((r.tsp_updated_at_unix, r.updated_at_unix), (Some(150), 200));
        // An older event changes nothing.
        apply_state(&mut r, TokenState::Suspended, Some(120), None, 300);
        assert_eq!((r.status.as_str(), r.updated_at_unix), ("active", 200));
        // A newer suspension the wallet did not ask for is the token service's.
        apply_state(&mut r, TokenState::Suspended, Some(160), None, 300);
        assert_eq!(r.suspended_by.as_deref(), Some("token_service"));
        // The same state again keeps who suspended it.
        let mut lost = row("suspended");
        apply_state(&mut lost, TokenState::Suspended, Some(100), None, 300);
        assert_eq!(lost.suspended_by.as_deref(), Some("device_lost"));
        assert_eq!(lost.updated_at_unix, 10, "nothing changed");
        // The wallet's own calls say who.
        apply_state(
            &mut lost,
            TokenState::Suspended,
            Some(100),
            Some("user"),
            300,
        );
        assert_eq!(lost.suspended_by.as_deref(), Some("user"));
        // Deleted cards are never the default.
        apply_state(&mut lost, TokenState::Deleted, None, None, 400);
        assert_eq!(
            (
                lost.status.as_str(),
                lost.is_default,
                lost.suspended_by.as_deref()
            ),
            ("deleted", false, None)
        );
    }

    #[test]
    fn expiries_are_checked_against_today() {
        let today = Date::new(2024, 1, 15).unwrap();
        let check = |text: &str| {
            let mut errors = Vec::new();
            let found = check_expiry(text, today, &mut errors);
            (found.is_some(), errors.first().map(|e| e.message.clone()))
        };
        assert_eq!(check("01/24"), (true, None), "valid through January");
        assert_eq!(check("12/30"), (true, None));
        assert_eq!(check("12/23").1.as_deref(), Some("the card has expired"));
        assert_eq!(check("13/30").1.as_deref(), Some("month must be 01 to 12"));
        assert_eq!(check("00/30").1.as_deref(), Some("month must be 01 to 12"));
        for bad in ["1230", "12/2030", "1/30", "ab/cd", "", "12-30", "١٢/٣٠"] {
            assert_eq!(check(bad).1.as_deref(), Some("must be MM/YY"), "{bad}");
        }
    }

    #[test]
    fn networks_by_bin() {
        let network = |pan: &str| Network::of(&Pan::parse(pan).unwrap());
        assert_eq!(network("4111111111111111"), Network::Visa);
        assert_eq!(network("5555555555554444"), Network::Mastercard);
        assert_eq!(network("2223003122003222"), Network::Mastercard);
        assert_eq!(network("378282246310005"), Network::Other);
    }

    #[test]
    fn token_service_fields_are_renamed() {
        assert_eq!(request_field("funding_account.cvv"), "cvv");
        assert_eq!(request_field("device.se_public_key"), "device_id");
        assert_eq!(request_field("channels"), "channels");
    }
}
