//! The rows the store reads and writes, and their decoding from either backend.
//!
//! Names (`status`, `kind`) are the hosts' vocabulary, stored as text and checked by the schema;
//! only the store's own states ([`AuthStatus`]) are enums here.

use core::fmt;

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::StoreError;

/// A new issuer account (the database assigns its id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    /// `"credit"` or `"debit"`.
    pub kind: String,
    /// Credit limit in minor units (0 for debit accounts).
    pub limit_minor: i64,
    /// Owed (credit) or held (debit) amount, minor units.
    pub balance_minor: i64,
    /// Sum of open holds, minor units.
    pub holds_minor: i64,
    /// ISO 4217 numeric currency code.
    pub currency_numeric: i32,
    /// False once closed.
    pub open: bool,
}

/// An issuer account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    /// Account id.
    pub id: i64,
    /// `"credit"` or `"debit"`.
    pub kind: String,
    /// Credit limit in minor units (0 for debit accounts).
    pub limit_minor: i64,
    /// Owed (credit) or held (debit) amount, minor units.
    pub balance_minor: i64,
    /// Sum of open holds, minor units.
    pub holds_minor: i64,
    /// ISO 4217 numeric currency code.
    pub currency_numeric: i32,
    /// False once closed.
    pub open: bool,
}

/// A card (FPAN) at its issuer, keyed by the keyed hash of its number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerCardRow {
    /// Keyed hash of the PAN (the host computes it; the store never sees the number).
    pub pan_hash: [u8; 32],
    /// Last four digits, for display.
    pub last4: String,
    /// Expiry as `YYMM`.
    pub expiry_yymm: String,
    /// PAN sequence number.
    pub psn: u8,
    /// `"active"`, `"blocked"` or `"lost_or_stolen"`.
    pub status: String,
    /// The account the card draws on.
    pub account_id: i64,
}

/// An authorization request (0100) or a stand-in advice (0120) as the issuer records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequestRow {
    /// What makes two requests the same transmission, e.g. `STAN|RRN|terminal|merchant`.
    /// Unique forever: a second request with the same key is a duplicate.
    pub dedup_key: String,
    /// Keyed hash of the PAN.
    pub pan_hash: [u8; 32],
    /// Amount in minor units of `currency_numeric`.
    pub amount_minor: i64,
    /// ISO 4217 numeric currency code.
    pub currency_numeric: i32,
    /// Transmission time, Unix seconds (from the host's clock).
    pub at_unix: i64,
    /// `"auth"` or `"advice"`.
    pub kind: String,
}

/// What the decision closure of [`crate::Store::issuer_authorize`] sees, loaded inside the
/// transaction (the card and account rows are locked until it commits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthState {
    /// Unique, increasing number of this authorization (the row id): feed it to
    /// `AuthCode::from_sequence` for a unique DE 38 code.
    pub sequence: u64,
    /// The card, if known.
    pub card: Option<IssuerCardRow>,
    /// The card's account, if the card is known.
    pub account: Option<AccountRow>,
    /// Approvals of this card still held (not reversed) with `at_unix` inside the window.
    pub velocity_count: u32,
    /// Sum of their holds, minor units.
    pub velocity_amount_minor: i64,
}

/// The issuer's answer, computed by the host from an [`AuthState`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthDecision {
    /// DE 39, e.g. `"00"` or `"51"`.
    pub response_code: String,
    /// DE 38, on approvals.
    pub auth_code: Option<String>,
    /// Amount to hold on the account, minor units; greater than 0 means approved.
    pub hold_minor: i64,
    /// The host's other response fields (e.g. the ARPC), opaque to the store, returned as they
    /// are to a duplicate.
    pub response_blob: Vec<u8>,
}

/// Where a stored authorization stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthStatus {
    /// Declined: nothing held.
    Declined,
    /// Approved: `hold_minor` is held on the account.
    Held,
    /// Approved, then reversed: the hold was released.
    Reversed,
    /// An advice for a card or account the issuer does not hold: recorded, nothing held.
    Unmatched,
}

impl AuthStatus {
    /// Stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Declined => "declined",
            Self::Held => "held",
            Self::Reversed => "reversed",
            Self::Unmatched => "unmatched",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "declined" => Some(Self::Declined),
            "held" => Some(Self::Held),
            "reversed" => Some(Self::Reversed),
            "unmatched" => Some(Self::Unmatched),
            _ => None,
        }
    }
}

/// An authorization as recorded: the request, the decision and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAuth {
    /// Unique, increasing number (the row id), as given to the decision closure.
    pub sequence: u64,
    /// The request's dedup key.
    pub dedup_key: String,
    /// Keyed hash of the PAN.
    pub pan_hash: [u8; 32],
    /// `"auth"` or `"advice"`.
    pub kind: String,
    /// Requested amount, minor units.
    pub amount_minor: i64,
    /// ISO 4217 numeric currency code.
    pub currency_numeric: i32,
    /// Transmission time, Unix seconds.
    pub at_unix: i64,
    /// Where it stands.
    pub status: AuthStatus,
    /// DE 39.
    pub response_code: String,
    /// DE 38.
    pub auth_code: Option<String>,
    /// Amount held (or, once reversed, that was held), minor units.
    pub hold_minor: i64,
    /// The account the hold is on.
    pub account_id: Option<i64>,
    /// The host's opaque response fields.
    pub response_blob: Vec<u8>,
}

/// Result of [`crate::Store::issuer_authorize`] and [`crate::Store::issuer_advice`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// First time this dedup key was seen: the decision was recorded (and any hold posted).
    Fresh(StoredAuth),
    /// The dedup key was already stored: this is the original record; nothing was posted.
    Duplicate(StoredAuth),
}

impl AuthOutcome {
    /// The stored authorization, fresh or original.
    pub fn stored(&self) -> &StoredAuth {
        match self {
            Self::Fresh(s) | Self::Duplicate(s) => s,
        }
    }

    /// True for [`AuthOutcome::Fresh`].
    pub fn is_fresh(&self) -> bool {
        matches!(self, Self::Fresh(_))
    }
}

/// Result of [`crate::Store::issuer_reverse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReverseOutcome {
    /// The hold was released now.
    Released {
        /// The amount released, minor units.
        amount_minor: i64,
    },
    /// It was already reversed: nothing changed.
    AlreadyReversed,
    /// The original was declined (or unmatched): there was nothing to release.
    NothingHeld,
    /// No authorization with this dedup key yet: the key is now recorded as reversed, so an
    /// original arriving later is refused ([`AuthOutcome::Duplicate`] of a reversed record
    /// with an empty response) and never held.
    RecordedAhead,
}

/// The outbox queues: messages a host must deliver to another, kept until acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Queue {
    /// The acquirer's reversals (0400) of authorizations the network did not answer in time.
    AcquirerReversals,
    /// The network's stand-in advices (0120) to issuers.
    NetworkAdvices,
}

impl Queue {
    /// The name stored in the outbox's `queue` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AcquirerReversals => "acquirer-reversals",
            Self::NetworkAdvices => "network-advices",
        }
    }
}

/// A token (DPAN) in the network's vault.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Keyed hash of the DPAN (primary key).
    pub dpan_hash: [u8; 32],
    /// Last four digits of the DPAN.
    pub dpan_last4: String,
    /// The funding PAN, encrypted by the host (AES-GCM); opaque here.
    pub fpan_envelope: Vec<u8>,
    /// Token expiry, `YYMM`.
    pub token_expiry_yymm: String,
    /// `"active"`, `"suspended"` or `"deleted"`. Mutable through [`crate::Store::token_update`].
    pub status: String,
    /// Token requestor id.
    pub token_requestor_id: String,
    /// Allowed channels, a bitmask (contactless 1, in-app 2, e-commerce 4).
    pub channels: i32,
    /// The device the token is bound to, if any.
    pub device_id: Option<String>,
    /// PAN sequence number of the token.
    pub psn: u8,
    /// Token unique reference (unique).
    pub tur: String,
    /// Payment account reference.
    pub par: String,
    /// The ATC replay window, stored form (11 bytes); opaque here. Mutable through
    /// [`crate::Store::token_update`].
    pub atc_window: Vec<u8>,
    /// Stand-in approvals since the issuer last answered. Mutable through
    /// [`crate::Store::token_update`].
    pub standin_count: i32,
    /// Creation time, Unix seconds.
    pub created_at_unix: i64,
    /// How the device holds the token's credential: `"se"` (its secure element holds the
    /// token's ICC master key) or `"hce"` (host card emulation: it holds limited-use keys, see
    /// [`crate::LimitedUseKeyRow`]). Set when the token is created; never changes.
    pub credential: String,
}

impl fmt::Debug for TokenRow {
    /// Shows the envelope's length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRow")
            .field("dpan_hash", &self.dpan_hash)
            .field("dpan_last4", &self.dpan_last4)
            .field("fpan_envelope_len", &self.fpan_envelope.len())
            .field("token_expiry_yymm", &self.token_expiry_yymm)
            .field("status", &self.status)
            .field("token_requestor_id", &self.token_requestor_id)
            .field("channels", &self.channels)
            .field("device_id", &self.device_id)
            .field("psn", &self.psn)
            .field("tur", &self.tur)
            .field("par", &self.par)
            .field("atc_window", &self.atc_window)
            .field("standin_count", &self.standin_count)
            .field("created_at_unix", &self.created_at_unix)
            .field("credential", &self.credential)
            .finish()
    }
}

/// An advice waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingAdvice {
    /// Outbox id (increasing: deliver in this order).
    pub id: i64,
    /// The host's encoded message.
    pub payload: Vec<u8>,
    /// Delivery attempts so far.
    pub attempts: i32,
}

/// A merchant of the acquirer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerchantRow {
    /// Card acceptor id code, DE 42 (15 characters).
    pub merchant_id: String,
    /// Card acceptor name/location, DE 43 (at most 40 characters).
    pub name_location: String,
    /// Merchant category code, DE 18 (4 digits).
    pub mcc: String,
}

/// A terminal of the acquirer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalRow {
    /// Card acceptor terminal id, DE 41 (8 characters).
    pub terminal_id: String,
    /// Its merchant, DE 42.
    pub merchant_id: String,
}

/// One line of the acquirer's journal (what a receipt shows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquirerTxnRow {
    /// DE 41.
    pub terminal_id: String,
    /// DE 11.
    pub stan: String,
    /// DE 37.
    pub rrn: String,
    /// DE 4, minor units.
    pub amount_minor: i64,
    /// DE 49, ISO 4217 numeric.
    pub currency_numeric: i32,
    /// DE 39.
    pub response_code: String,
    /// DE 38, on approvals.
    pub auth_code: Option<String>,
    /// Time, Unix seconds.
    pub at_unix: i64,
}

/// Typed column access shared by both backends' rows; errors name the column only.
pub(crate) trait Get {
    fn i64(&self, col: &'static str) -> Result<i64, StoreError>;
    fn i32(&self, col: &'static str) -> Result<i32, StoreError>;
    fn text(&self, col: &'static str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &'static str) -> Result<Option<String>, StoreError>;
    fn opt_i64(&self, col: &'static str) -> Result<Option<i64>, StoreError>;
    fn bytes(&self, col: &'static str) -> Result<Vec<u8>, StoreError>;
    fn opt_bytes(&self, col: &'static str) -> Result<Option<Vec<u8>>, StoreError>;
    fn opt_i32(&self, col: &'static str) -> Result<Option<i32>, StoreError>;
    fn boolean(&self, col: &'static str) -> Result<bool, StoreError>;

    fn hash(&self, col: &'static str) -> Result<[u8; 32], StoreError> {
        self.bytes(col)?
            .try_into()
            .map_err(|_| StoreError::Corrupt { column: col })
    }

    fn byte(&self, col: &'static str) -> Result<u8, StoreError> {
        u8::try_from(self.i32(col)?).map_err(|_| StoreError::Corrupt { column: col })
    }
}

macro_rules! impl_get {
    ($row:ty) => {
        impl Get for $row {
            fn i64(&self, col: &'static str) -> Result<i64, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
            fn i32(&self, col: &'static str) -> Result<i32, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
            fn text(&self, col: &'static str) -> Result<String, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
            fn opt_text(&self, col: &'static str) -> Result<Option<String>, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
            fn opt_i64(&self, col: &'static str) -> Result<Option<i64>, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
            fn bytes(&self, col: &'static str) -> Result<Vec<u8>, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
            fn opt_bytes(&self, col: &'static str) -> Result<Option<Vec<u8>>, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
            fn opt_i32(&self, col: &'static str) -> Result<Option<i32>, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
            fn boolean(&self, col: &'static str) -> Result<bool, StoreError> {
                self.try_get(col)
                    .map_err(|_| StoreError::Corrupt { column: col })
            }
        }
    };
}

impl_get!(SqliteRow);
impl_get!(PgRow);

pub(crate) fn account<R: Get>(r: &R) -> Result<AccountRow, StoreError> {
    Ok(AccountRow {
        id: r.i64("id")?,
        kind: r.text("kind")?,
        limit_minor: r.i64("limit_minor")?,
        balance_minor: r.i64("balance_minor")?,
        holds_minor: r.i64("holds_minor")?,
        currency_numeric: r.i32("currency_numeric")?,
        open: r.boolean("is_open")?,
    })
}

pub(crate) fn card<R: Get>(r: &R) -> Result<IssuerCardRow, StoreError> {
    Ok(IssuerCardRow {
        pan_hash: r.hash("pan_hash")?,
        last4: r.text("last4")?,
        expiry_yymm: r.text("expiry_yymm")?,
        psn: r.byte("psn")?,
        status: r.text("status")?,
        account_id: r.i64("account_id")?,
    })
}

pub(crate) fn stored_auth<R: Get>(r: &R) -> Result<StoredAuth, StoreError> {
    let status = r.text("status")?;
    Ok(StoredAuth {
        sequence: u64::try_from(r.i64("id")?).map_err(|_| StoreError::Corrupt { column: "id" })?,
        dedup_key: r.text("dedup_key")?,
        pan_hash: r.hash("pan_hash")?,
        kind: r.text("kind")?,
        amount_minor: r.i64("amount_minor")?,
        currency_numeric: r.i32("currency_numeric")?,
        at_unix: r.i64("at_unix")?,
        status: AuthStatus::parse(&status).ok_or(StoreError::Corrupt { column: "status" })?,
        response_code: r.text("response_code")?,
        auth_code: r.opt_text("auth_code")?,
        hold_minor: r.i64("hold_minor")?,
        account_id: r.opt_i64("account_id")?,
        response_blob: r.bytes("response_blob")?,
    })
}

pub(crate) fn token<R: Get>(r: &R) -> Result<TokenRow, StoreError> {
    Ok(TokenRow {
        dpan_hash: r.hash("dpan_hash")?,
        dpan_last4: r.text("dpan_last4")?,
        fpan_envelope: r.bytes("fpan_envelope")?,
        token_expiry_yymm: r.text("token_expiry_yymm")?,
        status: r.text("status")?,
        token_requestor_id: r.text("token_requestor_id")?,
        channels: r.i32("channels")?,
        device_id: r.opt_text("device_id")?,
        psn: r.byte("psn")?,
        tur: r.text("tur")?,
        par: r.text("par")?,
        atc_window: r.bytes("atc_window")?,
        standin_count: r.i32("standin_count")?,
        created_at_unix: r.i64("created_at_unix")?,
        credential: r.text("credential")?,
    })
}

pub(crate) fn pending_advice<R: Get>(r: &R) -> Result<PendingAdvice, StoreError> {
    Ok(PendingAdvice {
        id: r.i64("id")?,
        payload: r.bytes("payload")?,
        attempts: r.i32("attempts")?,
    })
}

pub(crate) fn merchant<R: Get>(r: &R) -> Result<MerchantRow, StoreError> {
    Ok(MerchantRow {
        merchant_id: r.text("merchant_id")?,
        name_location: r.text("name_location")?,
        mcc: r.text("mcc")?,
    })
}

pub(crate) fn acquirer_txn<R: Get>(r: &R) -> Result<AcquirerTxnRow, StoreError> {
    Ok(AcquirerTxnRow {
        terminal_id: r.text("terminal_id")?,
        stan: r.text("stan")?,
        rrn: r.text("rrn")?,
        amount_minor: r.i64("amount_minor")?,
        currency_numeric: r.i32("currency_numeric")?,
        response_code: r.text("response_code")?,
        auth_code: r.opt_text("auth_code")?,
        at_unix: r.i64("at_unix")?,
    })
}
