//! The wallet backend's rows and their decoding from either backend.
//!
//! As in the hosts' rows, names (`platform`, `status`) are the backend's vocabulary, stored as
//! text and checked by the schema; only the store's own outcomes are enums here.

use crate::StoreError;

/// A new wallet user (the backend makes the id and the password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    /// Opaque id, e.g. `usr_` and 22 base64url characters.
    pub id: String,
    /// The email as given; uniqueness is case-insensitive (see [`normalize_email`]).
    pub email: String,
    /// Argon2id PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// Creation time, Unix seconds.
    pub created_at_unix: i64,
}

/// A wallet user.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Opaque id.
    pub id: String,
    /// The email as first given.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Creation time, Unix seconds.
    pub created_at_unix: i64,
}

impl core::fmt::Debug for UserRow {
    /// Leaves out the password hash (an offline-guessable secret).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("created_at_unix", &self.created_at_unix)
            .finish_non_exhaustive()
    }
}

/// The key under which emails are unique: Unicode lowercase of the whole address.
pub fn normalize_email(email: &str) -> String {
    email.to_lowercase()
}

/// A new login session and its first refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// Opaque id (the access token's `sid` claim).
    pub id: String,
    /// Whose session.
    pub user_id: String,
    /// SHA-256 of the first refresh token (the token itself is never stored).
    pub refresh_hash: [u8; 32],
    /// Creation time, Unix seconds.
    pub created_at_unix: i64,
    /// After this time no refresh token of the session is accepted.
    pub expires_at_unix: i64,
}

/// A login session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// Opaque id.
    pub id: String,
    /// Whose session.
    pub user_id: String,
    /// Creation time, Unix seconds.
    pub created_at_unix: i64,
    /// End of the session, Unix seconds.
    pub expires_at_unix: i64,
    /// When it was revoked, if it was.
    pub revoked_at_unix: Option<i64>,
    /// Why: `"logout"` or `"refresh_reuse"`.
    pub revoked_reason: Option<String>,
}

impl SessionRow {
    /// True when the session is neither revoked nor expired at `now_unix`.
    pub fn is_active(&self, now_unix: i64) -> bool {
        self.revoked_at_unix.is_none() && now_unix < self.expires_at_unix
    }
}

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was the session's current one: it is now rotated and the new hash is current.
    Rotated(SessionRow),
    /// The token had already been rotated: someone replayed it, so the whole session is now
    /// revoked (reason `"refresh_reuse"`).
    Reused {
        /// The revoked session.
        session_id: String,
        /// Its user.
        user_id: String,
    },
    /// Unknown token, or its session is revoked or expired. Nothing changed.
    Invalid,
}

/// A registered device wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRow {
    /// Opaque id, e.g. `dev_` and 22 base64url characters.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Display name, 1 to 64 characters.
    pub name: String,
    /// `"android"`, `"cli"` or `"ios"`.
    pub platform: String,
    /// The secure element's public key, a P-256 JWK with public members only (JSON text).
    pub se_public_jwk: String,
    /// RFC 7638 thumbprint of that key (base64url SHA-256); unique across devices.
    pub se_key_thumbprint: String,
    /// `"active"` or `"lost"`.
    pub status: String,
    /// Registration time, Unix seconds.
    pub created_at_unix: i64,
    /// Last status change (the registration time until the first), Unix seconds.
    pub status_changed_at_unix: i64,
}

/// Where a page of a user's devices starts: after this device, in `(created_at, id)` order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceCursor {
    /// The last listed device's registration time.
    pub created_at_unix: i64,
    /// The last listed device's id.
    pub id: String,
}

/// The result of [`WalletStore::set_device_status`](super::WalletStore::set_device_status).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceStatusChange {
    /// The device after the update.
    pub device: DeviceRow,
    /// False when the device already had that status (nothing was written).
    pub changed: bool,
}

/// A request to start an idempotent operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Whose key: `user:<id>` or `ip:<address>`.
    pub scope: String,
    /// The `Idempotency-Key` header.
    pub key: String,
    /// SHA-256 over what makes two requests the same (method, path, body).
    pub request_hash: [u8; 32],
    /// Now, Unix seconds.
    pub now_unix: i64,
    /// A claim still in flight after this many seconds is presumed abandoned and may be taken
    /// over.
    pub in_flight_timeout_secs: i64,
    /// A completed record older than this is forgotten: the key may be used afresh.
    pub retention_secs: i64,
}

/// What [`WalletStore::idempotency_begin`](super::WalletStore::idempotency_begin) found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// The key is now claimed by this request: run it, then complete or release the claim.
    Started,
    /// The same request completed before: replay this response.
    Completed {
        /// The stored HTTP status.
        status: u16,
        /// The stored body.
        body: Vec<u8>,
    },
    /// A request with this key is still running.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

/// A card in a device wallet: the wallet's view of one token at the token service.
///
/// Names are the store's vocabulary, checked by the schema: `network` is `"visa"`,
/// `"mastercard"` or `"other"`; `status` is `"active"`, `"pending"` (waiting for the cardholder's
/// verification), `"suspended"`, `"deleted"` or `"declined"`; `suspended_by` is
/// `"user"`, `"device_lost"` or `"token_service"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionedTokenRow {
    /// Opaque id, e.g. `crd_` and 22 base64url characters.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The device the token is bound to.
    pub device_id: String,
    /// The token service's token unique reference; `None` for a declined attempt.
    pub tur: Option<String>,
    /// Card network.
    pub network: String,
    /// Last four digits of the funding PAN (not secret; never more).
    pub fpan_last4: String,
    /// Lifecycle status.
    pub status: String,
    /// Who suspended it, while suspended.
    pub suspended_by: Option<String>,
    /// The issuer's reason, for a declined attempt.
    pub decline_reason: Option<String>,
    /// The issuer's product name.
    pub product_name: Option<String>,
    /// Card art the client shows (an identifier).
    pub card_art: Option<String>,
    /// The verification methods offered for a pending token (JSON text written by the API).
    pub verification_methods: Option<String>,
    /// The method (`"OTP_SMS"`, `"OTP_EMAIL"`) of the last one-time password sent.
    pub otp_method: Option<String>,
    /// The device's default card (at most one per device).
    pub is_default: bool,
    /// The token service's time of the status held here, Unix seconds.
    pub tsp_updated_at_unix: Option<i64>,
    /// Creation time, Unix seconds.
    pub created_at_unix: i64,
    /// Last change, Unix seconds.
    pub updated_at_unix: i64,
    /// How the device holds the card's credential: `"se"` (its secure element holds the card
    /// key) or `"hce"` (limited-use keys, replenished through the backend). Never changes.
    pub credential: String,
}

impl ProvisionedTokenRow {
    /// True when the columns that never change after insertion (id, owner, device, TUR,
    /// network, FPAN digits, credential, creation time) are the same in both rows.
    pub(super) fn same_identity(&self, other: &Self) -> bool {
        self.id == other.id
            && self.user_id == other.user_id
            && self.device_id == other.device_id
            && self.tur == other.tur
            && self.network == other.network
            && self.fpan_last4 == other.fpan_last4
            && self.created_at_unix == other.created_at_unix
            && self.credential == other.credential
    }
}

/// The result of a read-decide-write on a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUpdate {
    /// The card after the update.
    pub token: ProvisionedTokenRow,
    /// False when the decision left the card as it was (nothing was written).
    pub changed: bool,
}

/// What [`WalletStore::set_default_token`](super::WalletStore::set_default_token) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetDefault {
    /// The card is now its device's default (any other default of the device was cleared).
    Done(ProvisionedTokenRow),
    /// The card is declined or deleted and cannot be a default; nothing changed.
    NotEligible(ProvisionedTokenRow),
}

/// A position in a list ordered by a time and then an id: a page starts after it (or before
/// it, for lists read newest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The listed item's time (creation for cards, `occurred_at` for transactions).
    pub at_unix: i64,
    /// The listed item's id.
    pub id: String,
}

/// A payment in a card's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionRow {
    /// Opaque id, e.g. `txn_` and 22 base64url characters.
    pub id: String,
    /// The card's owner.
    pub user_id: String,
    /// The card ([`ProvisionedTokenRow::id`]).
    pub token_id: String,
    /// The token service's event id (unique).
    pub event_id: String,
    /// Amount in minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217 alphabetic code.
    pub currency: String,
    /// True when the issuer approved it.
    pub approved: bool,
    /// The authorization's response code (DE 39), two characters.
    pub response_code: String,
    /// Cleaned merchant name.
    pub merchant_name: String,
    /// Merchant city, when known.
    pub merchant_city: Option<String>,
    /// Merchant country (ISO 3166 alpha-2), when known.
    pub merchant_country: Option<String>,
    /// Spending category (`domain::enrich::Category` name).
    pub category: String,
    /// Merchant category code as received.
    pub mcc: String,
    /// When the payment happened (the token service's clock), Unix seconds.
    pub occurred_at_unix: i64,
    /// When the event arrived, Unix seconds.
    pub received_at_unix: i64,
}

/// A webhook event, recorded once by its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The sender's event id.
    pub event_id: String,
    /// `"token_updated"` or `"transaction"`.
    pub kind: String,
    /// Arrival time, Unix seconds.
    pub received_at_unix: i64,
}

/// What recording a webhook event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookOutcome<T> {
    /// The event was new: it is recorded and its effect applied, in one transaction.
    Applied(T),
    /// The event was recorded before: nothing was done again.
    Replayed,
    /// The event names a token this wallet does not hold: nothing was recorded, so a
    /// redelivery is processed afresh.
    UnknownToken,
}

// ---- decoding ---------------------------------------------------------------------------------

/// Column access: the store's one [`crate::rows::Get`], shared with the hosts' rows.
pub(super) use crate::rows::Get as Col;

pub(super) fn user<R: Col>(r: &R) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: r.text("id")?,
        email: r.text("email")?,
        password_hash: r.text("password_hash")?,
        created_at_unix: r.i64("created_at")?,
    })
}

pub(super) fn session<R: Col>(r: &R) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: r.text("id")?,
        user_id: r.text("user_id")?,
        created_at_unix: r.i64("created_at")?,
        expires_at_unix: r.i64("expires_at")?,
        revoked_at_unix: r.opt_i64("revoked_at")?,
        revoked_reason: r.opt_text("revoked_reason")?,
    })
}

pub(super) fn device<R: Col>(r: &R) -> Result<DeviceRow, StoreError> {
    Ok(DeviceRow {
        id: r.text("id")?,
        user_id: r.text("user_id")?,
        name: r.text("name")?,
        platform: r.text("platform")?,
        se_public_jwk: r.text("se_public_jwk")?,
        se_key_thumbprint: r.text("se_key_thumbprint")?,
        status: r.text("status")?,
        created_at_unix: r.i64("created_at")?,
        status_changed_at_unix: r.i64("status_changed_at")?,
    })
}

/// The stored outcome of an idempotency record: `None` while in flight.
pub(super) fn idempotency_response<R: Col>(r: &R) -> Result<Option<(u16, Vec<u8>)>, StoreError> {
    let status = r.opt_i32("response_status")?;
    let body = r.opt_bytes("response_body")?;
    match (status, body) {
        (None, None) => Ok(None),
        (Some(status), Some(body)) => {
            u16::try_from(status)
                .map(|s| Some((s, body)))
                .map_err(|_| StoreError::Corrupt {
                    column: "response_status",
                })
        }
        _ => Err(StoreError::Corrupt {
            column: "response_body",
        }),
    }
}

pub(super) fn hash<R: Col>(r: &R, col: &'static str) -> Result<[u8; 32], StoreError> {
    r.bytes(col)?
        .try_into()
        .map_err(|_| StoreError::Corrupt { column: col })
}

pub(super) fn provisioned_token<R: Col>(r: &R) -> Result<ProvisionedTokenRow, StoreError> {
    Ok(ProvisionedTokenRow {
        id: r.text("id")?,
        user_id: r.text("user_id")?,
        device_id: r.text("device_id")?,
        tur: r.opt_text("tur")?,
        network: r.text("network")?,
        fpan_last4: r.text("fpan_last4")?,
        status: r.text("status")?,
        suspended_by: r.opt_text("suspended_by")?,
        decline_reason: r.opt_text("decline_reason")?,
        product_name: r.opt_text("product_name")?,
        card_art: r.opt_text("card_art")?,
        verification_methods: r.opt_text("verification_methods")?,
        otp_method: r.opt_text("otp_method")?,
        is_default: r.boolean("is_default")?,
        tsp_updated_at_unix: r.opt_i64("tsp_updated_at")?,
        created_at_unix: r.i64("created_at")?,
        updated_at_unix: r.i64("updated_at")?,
        credential: r.text("credential")?,
    })
}

pub(super) fn transaction<R: Col>(r: &R) -> Result<TransactionRow, StoreError> {
    Ok(TransactionRow {
        id: r.text("id")?,
        user_id: r.text("user_id")?,
        token_id: r.text("token_id")?,
        event_id: r.text("event_id")?,
        amount_minor: r.i64("amount_minor")?,
        currency: r.text("currency")?,
        approved: r.boolean("approved")?,
        response_code: r.text("response_code")?,
        merchant_name: r.text("merchant_name")?,
        merchant_city: r.opt_text("merchant_city")?,
        merchant_country: r.opt_text("merchant_country")?,
        category: r.text("category")?,
        mcc: r.text("mcc")?,
        occurred_at_unix: r.i64("occurred_at")?,
        received_at_unix: r.i64("received_at")?,
    })
}
