//! Tokenization state: the issuer's ID&V data (profiles, attempts, step-up sessions, the
//! simulated OTP gateway) and the token service's view of the tokens it put in the vault (its
//! lifecycle state, the token-updated notification outbox, and the limited-use keys of HCE
//! tokens, see `limited_use.rs`).
//!
//! Like the rest of the store, nothing here sees a card number: cards are keyed by the issuer's
//! keyed hash, the CVV is a keyed hash, the DPAN is an envelope sealed by the token service.
//! The one exception is deliberate and documented: `otp_outbox` is the demo SMS/e-mail gateway
//! queue, so it holds one-time passwords in clear until a real provider replaces it.
//!
//! Operations that decide take a closure run inside the transaction, as
//! [`Store::issuer_authorize`] does: [`Store::issuer_tokenization_attempt`] counts, decides
//! and records one attempt atomically; [`Store::idv_session_update`] checks and spends OTP
//! attempts one at a time; [`Store::tsp_tokens_transition`] moves tokens between lifecycle
//! states, keeps the vault's status in step and queues the notifications, all or nothing;
//! [`Store::tsp_issue_limited_use_keys`] allocates an HCE token's next batch of keys and
//! revokes the previous one.

use core::fmt;

use crate::rows;
use crate::{Db, LimitedUseKeyRow, LimitedUseKeyState, Store, StoreError, TokenRow, group};

// ---- rows ---------------------------------------------------------------------------------------

/// The issuer's ID&V data for one card.
#[derive(Clone, PartialEq, Eq)]
pub struct IdvProfileRow {
    /// Keyed hash of the PAN (the card's key at the issuer).
    pub pan_hash: [u8; 32],
    /// Keyed hash of the card's CVV (the issuer's ID&V key; never the CVV).
    pub cvv_hash: [u8; 32],
    /// Product name shown in the wallet, e.g. `"Tapwallet Visa Credit"`.
    pub product_name: String,
    /// Tokenized without a step-up when true.
    pub low_risk: bool,
    /// Phone number for SMS one-time passwords, if any.
    pub phone: Option<String>,
    /// E-mail address for one-time passwords, if any.
    pub email: Option<String>,
    /// The cardholder uses the issuer's mobile app (approval in the app is offered).
    pub issuer_app: bool,
}

impl fmt::Debug for IdvProfileRow {
    /// Shows neither the CVV hash nor the contact points.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdvProfileRow")
            .field("pan_hash", &self.pan_hash)
            .field("product_name", &self.product_name)
            .field("low_risk", &self.low_risk)
            .field("phone", &self.phone.as_ref().map(|_| "[REDACTED]"))
            .field("email", &self.email.as_ref().map(|_| "[REDACTED]"))
            .field("issuer_app", &self.issuer_app)
            .finish()
    }
}

/// One tokenization request as the issuer records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizationAttemptRow {
    /// Keyed hash of the PAN.
    pub pan_hash: [u8; 32],
    /// The token unique reference the token service assigned.
    pub tur: String,
    /// Time of the request, Unix seconds.
    pub at_unix: i64,
}

/// What the decision closure of [`Store::issuer_tokenization_attempt`] sees, loaded inside the
/// transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdvState {
    /// The card, if the issuer holds it.
    pub card: Option<crate::IssuerCardRow>,
    /// Its ID&V profile, if it has one.
    pub profile: Option<IdvProfileRow>,
    /// Attempts on this card (any outcome) after `at_unix - window_secs`, this one excluded.
    pub attempts_in_window: u32,
}

/// How an attempt ended, as recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// Approved without a step-up.
    Approved,
    /// Approved subject to a step-up: a session is opened.
    StepUp,
    /// Declined.
    Declined,
}

impl AttemptOutcome {
    /// Stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::StepUp => "step_up",
            Self::Declined => "declined",
        }
    }
}

/// A step-up (ID&V) session of one token at its issuer.
#[derive(Clone, PartialEq, Eq)]
pub struct IdvSessionRow {
    /// Token unique reference (key).
    pub tur: String,
    /// Keyed hash of the card's PAN.
    pub pan_hash: [u8; 32],
    /// Methods offered, comma-separated names (`OTP_SMS,OTP_EMAIL,ISSUER_APP`).
    pub methods: String,
    /// `"pending"`, `"approved"` or `"locked"`. Mutable through [`Store::idv_session_update`].
    pub status: String,
    /// The method of the last one-time password sent. Mutable.
    pub otp_method: Option<String>,
    /// Keyed hash of the last one-time password; empty when none was sent. Mutable.
    pub otp_hash: Vec<u8>,
    /// When that password expires, Unix seconds. Mutable.
    pub otp_expires_at_unix: i64,
    /// Verification attempts left before the session locks. Mutable.
    pub otp_attempts_left: i32,
    /// Creation time, Unix seconds.
    pub created_at_unix: i64,
}

impl fmt::Debug for IdvSessionRow {
    /// Shows the OTP hash's length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdvSessionRow")
            .field("tur", &self.tur)
            .field("methods", &self.methods)
            .field("status", &self.status)
            .field("otp_method", &self.otp_method)
            .field("otp_hash_len", &self.otp_hash.len())
            .field("otp_expires_at_unix", &self.otp_expires_at_unix)
            .field("otp_attempts_left", &self.otp_attempts_left)
            .field("created_at_unix", &self.created_at_unix)
            .finish()
    }
}

/// A message of the simulated OTP gateway (`otp_outbox`): the code is in clear by design.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpOutboxRow {
    /// Outbox id (0 when inserting: the database assigns it).
    pub id: i64,
    /// Phone number or e-mail address.
    pub destination: String,
    /// `"sms"` or `"email"`.
    pub channel: String,
    /// The one-time password.
    pub code: String,
    /// Time queued, Unix seconds.
    pub created_at_unix: i64,
}

impl fmt::Debug for OtpOutboxRow {
    /// Hides the code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtpOutboxRow")
            .field("id", &self.id)
            .field("channel", &self.channel)
            .field("code", &"[REDACTED]")
            .field("created_at_unix", &self.created_at_unix)
            .finish()
    }
}

/// The token service's own data about a token of the vault.
#[derive(Clone, PartialEq, Eq)]
pub struct TspTokenRow {
    /// Token unique reference (the vault row's `tur`).
    pub tur: String,
    /// `"inactive"`, `"active"`, `"suspended"` or `"deleted"`. Mutable through
    /// [`Store::tsp_tokens_transition`].
    pub state: String,
    /// The DPAN and token expiry, sealed by the token service; opaque here.
    pub dpan_envelope: Vec<u8>,
    /// The device's secure element public key (JWK JSON) the payload is encrypted to.
    pub se_public_key: String,
    /// Last four digits of the funding PAN.
    pub fpan_last4: String,
    /// The issuer's product name.
    pub product_name: String,
    /// Last change, Unix seconds. Mutable.
    pub updated_at_unix: i64,
}

impl fmt::Debug for TspTokenRow {
    /// Shows the envelope's length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TspTokenRow")
            .field("tur", &self.tur)
            .field("state", &self.state)
            .field("dpan_envelope_len", &self.dpan_envelope.len())
            .field("fpan_last4", &self.fpan_last4)
            .field("product_name", &self.product_name)
            .field("updated_at_unix", &self.updated_at_unix)
            .finish()
    }
}

/// A token as the token service sees it: the vault row and its own row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TspToken {
    /// The network's vault row. Only `status` is written back by
    /// [`Store::tsp_tokens_transition`].
    pub vault: TokenRow,
    /// The token service's row.
    pub tsp: TspTokenRow,
}

/// A token-updated notification to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTspNotification {
    /// Unique event id.
    pub event_id: String,
    /// The token requestor to notify.
    pub token_requestor_id: String,
    /// The token.
    pub tur: String,
    /// The signed notification (JWS compact serialization).
    pub jws: String,
    /// Time of the change, Unix seconds (also the first delivery time).
    pub created_at_unix: i64,
}

/// A queued token-updated notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TspNotificationRow {
    /// Outbox id (increasing).
    pub id: i64,
    /// Unique event id.
    pub event_id: String,
    /// The token requestor to notify.
    pub token_requestor_id: String,
    /// The token.
    pub tur: String,
    /// The signed notification (JWS compact serialization).
    pub jws: String,
    /// Failed delivery attempts so far.
    pub attempts: i32,
    /// Not to be tried again before this time, Unix seconds.
    pub next_attempt_at_unix: i64,
    /// True once the token requestor acknowledged it.
    pub delivered: bool,
    /// Time of the change, Unix seconds.
    pub created_at_unix: i64,
}

fn profile_from<R: rows::Get>(r: &R) -> Result<IdvProfileRow, StoreError> {
    Ok(IdvProfileRow {
        pan_hash: r.hash("pan_hash")?,
        cvv_hash: r.hash("cvv_hash")?,
        product_name: r.text("product_name")?,
        low_risk: r.boolean("low_risk")?,
        phone: r.opt_text("phone")?,
        email: r.opt_text("email")?,
        issuer_app: r.boolean("issuer_app")?,
    })
}

fn session_from<R: rows::Get>(r: &R) -> Result<IdvSessionRow, StoreError> {
    Ok(IdvSessionRow {
        tur: r.text("tur")?,
        pan_hash: r.hash("pan_hash")?,
        methods: r.text("methods")?,
        status: r.text("status")?,
        otp_method: r.opt_text("otp_method")?,
        otp_hash: r.bytes("otp_hash")?,
        otp_expires_at_unix: r.i64("otp_expires_at_unix")?,
        otp_attempts_left: r.i32("otp_attempts_left")?,
        created_at_unix: r.i64("created_at_unix")?,
    })
}

fn otp_from<R: rows::Get>(r: &R) -> Result<OtpOutboxRow, StoreError> {
    Ok(OtpOutboxRow {
        id: r.i64("id")?,
        destination: r.text("destination")?,
        channel: r.text("channel")?,
        code: r.text("code")?,
        created_at_unix: r.i64("created_at_unix")?,
    })
}

fn tsp_token_from<R: rows::Get>(r: &R) -> Result<TspToken, StoreError> {
    let vault = rows::token(r)?;
    Ok(TspToken {
        tsp: TspTokenRow {
            tur: vault.tur.clone(),
            state: r.text("state")?,
            dpan_envelope: r.bytes("dpan_envelope")?,
            se_public_key: r.text("se_public_key")?,
            fpan_last4: r.text("fpan_last4")?,
            product_name: r.text("product_name")?,
            updated_at_unix: r.i64("updated_at_unix")?,
        },
        vault,
    })
}

fn notification_from<R: rows::Get>(r: &R) -> Result<TspNotificationRow, StoreError> {
    Ok(TspNotificationRow {
        id: r.i64("id")?,
        event_id: r.text("event_id")?,
        token_requestor_id: r.text("token_requestor_id")?,
        tur: r.text("tur")?,
        jws: r.text("jws")?,
        attempts: r.i32("attempts")?,
        next_attempt_at_unix: r.i64("next_attempt_at_unix")?,
        delivered: r.boolean("delivered")?,
        created_at_unix: r.i64("created_at_unix")?,
    })
}

// ---- SQL, once per backend ----------------------------------------------------------------------

/// The columns of a [`TspToken`]: the vault row, then the token service's.
macro_rules! tsp_token_columns {
    () => {
        "SELECT k.dpan_hash, k.dpan_last4, k.fpan_envelope, k.token_expiry_yymm, k.status, \
         k.token_requestor_id, k.channels, k.device_id, k.psn, k.tur, k.par, k.atc_window, \
         k.standin_count, k.created_at_unix, k.credential, t.state, t.dpan_envelope, \
         t.se_public_key, t.fpan_last4, t.product_name, t.updated_at_unix \
         FROM tsp_tokens t JOIN tokens k ON k.tur = t.tur "
    };
}

/// The columns of an [`IdvSessionRow`].
macro_rules! session_columns {
    () => {
        "SELECT tur, pan_hash, methods, status, otp_method, otp_hash, otp_expires_at_unix, \
         otp_attempts_left, created_at_unix FROM issuer_idv_sessions "
    };
}

/// The columns of a [`TspNotificationRow`].
macro_rules! notification_columns {
    () => {
        "SELECT id, event_id, token_requestor_id, tur, jws, attempts, next_attempt_at_unix, \
         delivered, created_at_unix FROM tsp_notifications "
    };
}

/// Like `ops.rs`'s `backend!`: the functions over one sqlx database type, from one SQL text.
/// Reads take a pool; writes take a connection already inside the caller's transaction.
macro_rules! tokenization_backend {
    (db = $db:ty, lock = $lock:literal) => {
        use crate::StoreError;
        use crate::rows::{self, Get as _};
        use crate::tokenization::{
            AttemptOutcome, IdvProfileRow, IdvSessionRow, IdvState, NewTspNotification,
            OtpOutboxRow, TokenizationAttemptRow, TspNotificationRow, TspToken, TspTokenRow,
            notification_from, otp_from, profile_from, session_from, tsp_token_from,
        };
        use crate::limited_use::{LimitedUseKeyRow, LimitedUseKeyState, key_from, state_from};
        use crate::TokenRow;

        type Pool = sqlx::Pool<$db>;
        type Conn = <$db as sqlx::Database>::Connection;

        // ---- issuer: ID&V -------------------------------------------------------------------

        pub(crate) async fn upsert_idv_profile(
            conn: &mut Conn,
            p: &IdvProfileRow,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO issuer_idv_profiles (pan_hash, cvv_hash, product_name, low_risk, \
                 phone, email, issuer_app) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (pan_hash) DO UPDATE SET cvv_hash = excluded.cvv_hash, \
                 product_name = excluded.product_name, low_risk = excluded.low_risk, \
                 phone = excluded.phone, email = excluded.email, \
                 issuer_app = excluded.issuer_app",
            )
            .bind(&p.pan_hash[..])
            .bind(&p.cvv_hash[..])
            .bind(&p.product_name)
            .bind(p.low_risk)
            .bind(p.phone.as_deref())
            .bind(p.email.as_deref())
            .bind(p.issuer_app)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db("upsert_idv_profile"))?;
            Ok(())
        }

        pub(crate) async fn idv_profile(
            pool: &Pool,
            pan_hash: &[u8; 32],
        ) -> Result<Option<IdvProfileRow>, StoreError> {
            let row = sqlx::query(
                "SELECT pan_hash, cvv_hash, product_name, low_risk, phone, email, issuer_app \
                 FROM issuer_idv_profiles WHERE pan_hash = $1",
            )
            .bind(&pan_hash[..])
            .fetch_optional(pool)
            .await
            .map_err(StoreError::db("idv_profile"))?;
            row.as_ref().map(profile_from).transpose()
        }

        pub(crate) async fn issuer_tokenization_attempt<T, F>(
            conn: &mut Conn,
            attempt: &TokenizationAttemptRow,
            window_secs: i64,
            decide: F,
        ) -> Result<T, StoreError>
        where
            F: FnOnce(&IdvState) -> (T, AttemptOutcome, Option<IdvSessionRow>),
        {
            const OP: &str = "issuer_tokenization_attempt";
            // The card row is locked first: concurrent attempts on one card take turns, so
            // each sees the others in its count.
            let card = sqlx::query(concat!(
                "SELECT pan_hash, last4, expiry_yymm, psn, status, account_id FROM issuer_cards \
                 WHERE pan_hash = $1",
                $lock
            ))
            .bind(&attempt.pan_hash[..])
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            let card = card.as_ref().map(rows::card).transpose()?;
            let profile = sqlx::query(
                "SELECT pan_hash, cvv_hash, product_name, low_risk, phone, email, issuer_app \
                 FROM issuer_idv_profiles WHERE pan_hash = $1",
            )
            .bind(&attempt.pan_hash[..])
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            let profile = profile.as_ref().map(profile_from).transpose()?;
            let count = sqlx::query(
                "SELECT COUNT(*) AS n FROM issuer_tokenization_attempts \
                 WHERE pan_hash = $1 AND at_unix > $2",
            )
            .bind(&attempt.pan_hash[..])
            .bind(attempt.at_unix.saturating_sub(window_secs))
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            let attempts_in_window = u32::try_from(count.i64("n")?).unwrap_or(u32::MAX);
            let (value, outcome, session) = decide(&IdvState {
                card,
                profile,
                attempts_in_window,
            });
            sqlx::query(
                "INSERT INTO issuer_tokenization_attempts (pan_hash, tur, outcome, at_unix) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&attempt.pan_hash[..])
            .bind(&attempt.tur)
            .bind(outcome.as_str())
            .bind(attempt.at_unix)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            if let Some(s) = session {
                sqlx::query(
                    "INSERT INTO issuer_idv_sessions (tur, pan_hash, methods, status, \
                     otp_method, otp_hash, otp_expires_at_unix, otp_attempts_left, \
                     created_at_unix) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&s.tur)
                .bind(&s.pan_hash[..])
                .bind(&s.methods)
                .bind(&s.status)
                .bind(s.otp_method.as_deref())
                .bind(&s.otp_hash)
                .bind(s.otp_expires_at_unix)
                .bind(s.otp_attempts_left)
                .bind(s.created_at_unix)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            }
            Ok(value)
        }

        pub(crate) async fn idv_session_by_tur(
            pool: &Pool,
            tur: &str,
        ) -> Result<Option<IdvSessionRow>, StoreError> {
            let row = sqlx::query(concat!(session_columns!(), "WHERE tur = $1"))
                .bind(tur)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::db("idv_session"))?;
            row.as_ref().map(session_from).transpose()
        }

        pub(crate) async fn idv_session_update<T, F>(
            conn: &mut Conn,
            tur: &str,
            f: F,
        ) -> Result<Option<T>, StoreError>
        where
            F: FnOnce(&mut IdvSessionRow) -> T,
        {
            const OP: &str = "idv_session_update";
            let row = sqlx::query(concat!(session_columns!(), "WHERE tur = $1", $lock))
                .bind(tur)
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            let Some(before) = row.as_ref().map(session_from).transpose()? else {
                return Ok(None);
            };
            let mut after = before.clone();
            let value = f(&mut after);
            if after != before {
                sqlx::query(
                    "UPDATE issuer_idv_sessions SET status = $2, otp_method = $3, \
                     otp_hash = $4, otp_expires_at_unix = $5, otp_attempts_left = $6 \
                     WHERE tur = $1",
                )
                .bind(tur)
                .bind(&after.status)
                .bind(after.otp_method.as_deref())
                .bind(&after.otp_hash)
                .bind(after.otp_expires_at_unix)
                .bind(after.otp_attempts_left)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            }
            Ok(Some(value))
        }

        pub(crate) async fn enqueue_otp(
            conn: &mut Conn,
            m: &OtpOutboxRow,
        ) -> Result<i64, StoreError> {
            let row = sqlx::query(
                "INSERT INTO otp_outbox (destination, channel, code, created_at_unix) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(&m.destination)
            .bind(&m.channel)
            .bind(&m.code)
            .bind(m.created_at_unix)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db("enqueue_otp"))?;
            row.i64("id")
        }

        pub(crate) async fn otp_outbox(
            pool: &Pool,
            after_id: i64,
            limit: u32,
        ) -> Result<Vec<OtpOutboxRow>, StoreError> {
            let found = sqlx::query(
                "SELECT id, destination, channel, code, created_at_unix FROM otp_outbox \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("otp_outbox"))?;
            found.iter().map(otp_from).collect()
        }

        // ---- token service ------------------------------------------------------------------

        pub(crate) async fn tsp_insert_token(
            conn: &mut Conn,
            vault: &TokenRow,
            tsp: &TspTokenRow,
        ) -> Result<(), StoreError> {
            const OP: &str = "tsp_insert_token";
            sqlx::query(
                "INSERT INTO tokens (dpan_hash, dpan_last4, fpan_envelope, token_expiry_yymm, \
                 status, token_requestor_id, channels, device_id, psn, tur, par, atc_window, \
                 standin_count, created_at_unix, credential) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            )
            .bind(&vault.dpan_hash[..])
            .bind(&vault.dpan_last4)
            .bind(&vault.fpan_envelope)
            .bind(&vault.token_expiry_yymm)
            .bind(&vault.status)
            .bind(&vault.token_requestor_id)
            .bind(vault.channels)
            .bind(vault.device_id.as_deref())
            .bind(i32::from(vault.psn))
            .bind(&vault.tur)
            .bind(&vault.par)
            .bind(&vault.atc_window)
            .bind(vault.standin_count)
            .bind(vault.created_at_unix)
            .bind(&vault.credential)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            sqlx::query(
                "INSERT INTO tsp_tokens (tur, state, dpan_envelope, se_public_key, fpan_last4, \
                 product_name, updated_at_unix) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&tsp.tur)
            .bind(&tsp.state)
            .bind(&tsp.dpan_envelope)
            .bind(&tsp.se_public_key)
            .bind(&tsp.fpan_last4)
            .bind(&tsp.product_name)
            .bind(tsp.updated_at_unix)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            Ok(())
        }

        pub(crate) async fn tsp_token_by_tur(
            pool: &Pool,
            tur: &str,
        ) -> Result<Option<TspToken>, StoreError> {
            let row = sqlx::query(concat!(tsp_token_columns!(), "WHERE t.tur = $1"))
                .bind(tur)
                .fetch_optional(pool)
                .await
                .map_err(StoreError::db("tsp_token"))?;
            row.as_ref().map(tsp_token_from).transpose()
        }

        pub(crate) async fn tsp_tokens_by_par(
            pool: &Pool,
            par: &str,
        ) -> Result<Vec<TspToken>, StoreError> {
            let found = sqlx::query(concat!(
                tsp_token_columns!(),
                "WHERE k.par = $1 ORDER BY k.created_at_unix, k.tur"
            ))
            .bind(par)
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("tsp_tokens_by_par"))?;
            found.iter().map(tsp_token_from).collect()
        }

        pub(crate) async fn tsp_tokens_of_requestor(
            pool: &Pool,
            token_requestor_id: &str,
            device_id: Option<&str>,
            limit: u32,
        ) -> Result<Vec<TspToken>, StoreError> {
            let found = sqlx::query(concat!(
                tsp_token_columns!(),
                "WHERE k.token_requestor_id = $1 AND ($2 IS NULL OR k.device_id = $2) \
                 ORDER BY k.created_at_unix, k.tur LIMIT $3"
            ))
            .bind(token_requestor_id)
            .bind(device_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("tsp_tokens_of_requestor"))?;
            found.iter().map(tsp_token_from).collect()
        }

        pub(crate) async fn tsp_tokens_transition<E, F>(
            conn: &mut Conn,
            turs: &[String],
            mut f: F,
        ) -> Result<Result<Vec<TspToken>, E>, StoreError>
        where
            F: FnMut(&str, Option<&mut TspToken>) -> Result<Option<NewTspNotification>, E>,
        {
            const OP: &str = "tsp_tokens_transition";
            // Sorted and without repeats: concurrent batches lock rows in one order.
            let mut turs: Vec<&str> = turs.iter().map(String::as_str).collect();
            turs.sort_unstable();
            turs.dedup();
            let mut loaded = Vec::with_capacity(turs.len());
            for tur in &turs {
                let row = sqlx::query(concat!(tsp_token_columns!(), "WHERE t.tur = $1", $lock))
                    .bind(*tur)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(StoreError::db(OP))?;
                loaded.push(row.as_ref().map(tsp_token_from).transpose()?);
            }
            // Every decision first, so a refusal leaves every token as it was.
            let mut changes = Vec::with_capacity(turs.len());
            for (tur, before) in turs.iter().zip(loaded) {
                let mut after = before.clone();
                let notification = match f(tur, after.as_mut()) {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(e)),
                };
                changes.push((before, after, notification));
            }
            let mut updated = Vec::with_capacity(changes.len());
            for (before, after, notification) in changes {
                let (Some(before), Some(after)) = (before, after) else {
                    continue;
                };
                if after.tsp.state != before.tsp.state
                    || after.tsp.updated_at_unix != before.tsp.updated_at_unix
                {
                    sqlx::query(
                        "UPDATE tsp_tokens SET state = $2, updated_at_unix = $3 WHERE tur = $1",
                    )
                    .bind(&after.tsp.tur)
                    .bind(&after.tsp.state)
                    .bind(after.tsp.updated_at_unix)
                    .execute(&mut *conn)
                    .await
                    .map_err(StoreError::db(OP))?;
                }
                if after.vault.status != before.vault.status {
                    sqlx::query("UPDATE tokens SET status = $2 WHERE tur = $1")
                        .bind(&after.vault.tur)
                        .bind(&after.vault.status)
                        .execute(&mut *conn)
                        .await
                        .map_err(StoreError::db(OP))?;
                    if after.vault.status == "deleted" {
                        // A deleted token's limited-use keys die with it, in the same write.
                        sqlx::query(
                            "UPDATE token_limited_use_keys SET revoked = TRUE \
                             WHERE tur = $1 AND revoked = FALSE",
                        )
                        .bind(&after.vault.tur)
                        .execute(&mut *conn)
                        .await
                        .map_err(StoreError::db(OP))?;
                    }
                }
                if let Some(n) = notification {
                    insert_notification(conn, &n, OP).await?;
                }
                updated.push(after);
            }
            Ok(Ok(updated))
        }

        async fn insert_notification(
            conn: &mut Conn,
            n: &NewTspNotification,
            op: &'static str,
        ) -> Result<i64, StoreError> {
            let row = sqlx::query(
                "INSERT INTO tsp_notifications (event_id, token_requestor_id, tur, jws, \
                 attempts, next_attempt_at_unix, delivered, created_at_unix) \
                 VALUES ($1, $2, $3, $4, 0, $5, FALSE, $5) RETURNING id",
            )
            .bind(&n.event_id)
            .bind(&n.token_requestor_id)
            .bind(&n.tur)
            .bind(&n.jws)
            .bind(n.created_at_unix)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db(op))?;
            row.i64("id")
        }

        // ---- token service: limited-use keys of HCE tokens ----------------------------------

        /// The columns of a [`LimitedUseKeyRow`].
        const KEY_COLUMNS: &str = "SELECT tur, key_index, atc_from, atc_to, issued_at_unix, \
             expires_at_unix, revoked FROM token_limited_use_keys ";

        pub(crate) async fn tsp_issue_limited_use_keys<E, F>(
            conn: &mut Conn,
            tur: &str,
            f: F,
        ) -> Result<Result<Vec<LimitedUseKeyRow>, E>, StoreError>
        where
            F: FnOnce(Option<&TspToken>, &LimitedUseKeyState) -> Result<Vec<LimitedUseKeyRow>, E>,
        {
            const OP: &str = "tsp_issue_limited_use_keys";
            // The token first, locked: concurrent batches of one token run one after the other,
            // and the second sees the first's keys in the state below.
            let row = sqlx::query(concat!(tsp_token_columns!(), "WHERE t.tur = $1", $lock))
                .bind(tur)
                .fetch_optional(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            let token = row.as_ref().map(tsp_token_from).transpose()?;
            let last = sqlx::query(
                "SELECT COALESCE(MAX(key_index), 0) AS last_index, \
                 COALESCE(MAX(atc_to), 0) AS last_atc FROM token_limited_use_keys WHERE tur = $1",
            )
            .bind(tur)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            let state = state_from(tur, &last)?;
            let batch = match f(token.as_ref(), &state) {
                Ok(batch) => batch,
                Err(e) => return Ok(Err(e)),
            };
            if token.is_none() {
                return Err(StoreError::InvalidDecision {
                    reason: "limited-use keys for an unknown token",
                });
            }
            state.check(&batch)?;
            sqlx::query(
                "UPDATE token_limited_use_keys SET revoked = TRUE \
                 WHERE tur = $1 AND revoked = FALSE",
            )
            .bind(tur)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db(OP))?;
            for key in &batch {
                let index = i32::try_from(key.key_index).map_err(|_| StoreError::InvalidDecision {
                    reason: "limited-use key index out of range",
                })?;
                sqlx::query(
                    "INSERT INTO token_limited_use_keys (tur, key_index, atc_from, atc_to, \
                     issued_at_unix, expires_at_unix, revoked) \
                     VALUES ($1, $2, $3, $4, $5, $6, FALSE)",
                )
                .bind(&key.tur)
                .bind(index)
                .bind(i32::from(key.atc_from))
                .bind(i32::from(key.atc_to))
                .bind(key.issued_at_unix)
                .bind(key.expires_at_unix)
                .execute(&mut *conn)
                .await
                .map_err(StoreError::db(OP))?;
            }
            Ok(Ok(batch))
        }

        pub(crate) async fn limited_use_key(
            pool: &Pool,
            tur: &str,
            atc: u16,
        ) -> Result<Option<LimitedUseKeyRow>, StoreError> {
            // Ranges never overlap: the key with the highest start at or below the ATC is the
            // only one that can cover it (one index probe, however many keys the token had).
            let sql = format!(
                "{KEY_COLUMNS}WHERE tur = $1 AND atc_from <= $2 ORDER BY atc_from DESC LIMIT 1"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tur)
                .bind(i32::from(atc))
                .fetch_optional(pool)
                .await
                .map_err(StoreError::db("limited_use_key"))?;
            let key = row.as_ref().map(key_from).transpose()?;
            Ok(key.filter(|k| k.covers(atc)))
        }

        pub(crate) async fn limited_use_keys(
            pool: &Pool,
            tur: &str,
        ) -> Result<Vec<LimitedUseKeyRow>, StoreError> {
            let sql = format!("{KEY_COLUMNS}WHERE tur = $1 ORDER BY key_index");
            let found = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tur)
                .fetch_all(pool)
                .await
                .map_err(StoreError::db("limited_use_keys"))?;
            found.iter().map(key_from).collect()
        }

        pub(crate) async fn tsp_due_notifications(
            pool: &Pool,
            now_unix: i64,
            limit: u32,
        ) -> Result<Vec<TspNotificationRow>, StoreError> {
            let found = sqlx::query(concat!(
                notification_columns!(),
                "WHERE delivered = FALSE AND next_attempt_at_unix <= $1 \
                 ORDER BY next_attempt_at_unix, id LIMIT $2"
            ))
            .bind(now_unix)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("tsp_due_notifications"))?;
            found.iter().map(notification_from).collect()
        }

        pub(crate) async fn tsp_enqueue_notification(
            conn: &mut Conn,
            n: &NewTspNotification,
        ) -> Result<i64, StoreError> {
            insert_notification(conn, n, "tsp_enqueue_notification").await
        }

        pub(crate) async fn tsp_notifications_of(
            pool: &Pool,
            tur: &str,
        ) -> Result<Vec<TspNotificationRow>, StoreError> {
            let found = sqlx::query(concat!(notification_columns!(), "WHERE tur = $1 ORDER BY id"))
            .bind(tur)
            .fetch_all(pool)
            .await
            .map_err(StoreError::db("tsp_notifications_of"))?;
            found.iter().map(notification_from).collect()
        }

        pub(crate) async fn tsp_notification_delivered(
            conn: &mut Conn,
            id: i64,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE tsp_notifications SET delivered = TRUE WHERE id = $1 AND delivered = FALSE",
            )
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(StoreError::db("tsp_notification_delivered"))?;
            Ok(done.rows_affected() > 0)
        }

        pub(crate) async fn tsp_notification_failed(
            conn: &mut Conn,
            id: i64,
            next_attempt_at_unix: i64,
        ) -> Result<Option<i32>, StoreError> {
            let row = sqlx::query(
                "UPDATE tsp_notifications SET attempts = attempts + 1, \
                 next_attempt_at_unix = $2 WHERE id = $1 AND delivered = FALSE \
                 RETURNING attempts",
            )
            .bind(id)
            .bind(next_attempt_at_unix)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::db("tsp_notification_failed"))?;
            row.map(|r| r.i32("attempts")).transpose()
        }
    };
}

/// SQLite: the group writer's `BEGIN IMMEDIATE` batch excludes other writers; no row locks.
mod lite {
    tokenization_backend!(db = sqlx::Sqlite, lock = "");
}

/// PostgreSQL: `SELECT ... FOR UPDATE` locks the rows a decision reads before it writes them.
mod pg {
    tokenization_backend!(db = sqlx::Postgres, lock = " FOR UPDATE");
}

// ---- operations ---------------------------------------------------------------------------------

impl Store {
    // ---- issuer: ID&V ---------------------------------------------------------------------------

    /// Creates or replaces a card's ID&V profile; [`StoreError::Rejected`] if the issuer has no
    /// card with this hash.
    pub async fn upsert_idv_profile(&self, profile: &IdvProfileRow) -> Result<(), StoreError> {
        dispatch!(self.writer => upsert_idv_profile(profile))
    }

    /// The ID&V profile of the card with this PAN hash.
    pub async fn idv_profile(
        &self,
        pan_hash: &[u8; 32],
    ) -> Result<Option<IdvProfileRow>, StoreError> {
        dispatch!(self.reader => idv_profile(pan_hash))
    }

    /// Assesses one tokenization attempt in one transaction: loads the card (locked), its
    /// profile and the card's attempts after `attempt.at_unix - window_secs`, calls `decide`,
    /// records the attempt with the outcome `decide` returned and, when it returns a session,
    /// opens it. Concurrent attempts on one card see each other in their counts. Returns what
    /// `decide` returned first; [`StoreError::AlreadyExists`] if a session with the same TUR
    /// exists.
    pub async fn issuer_tokenization_attempt<T, F>(
        &self,
        attempt: &TokenizationAttemptRow,
        window_secs: i64,
        decide: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(&IdvState) -> (T, AttemptOutcome, Option<IdvSessionRow>) + Send,
        T: Send,
    {
        dispatch!(self.writer => issuer_tokenization_attempt(attempt, window_secs, decide))
    }

    /// The ID&V session of a token.
    pub async fn idv_session(&self, tur: &str) -> Result<Option<IdvSessionRow>, StoreError> {
        dispatch!(self.reader => idv_session_by_tur(tur))
    }

    /// Loads a token's ID&V session locked, runs `f` on it and writes back its mutable fields
    /// (status and the OTP fields) if `f` changed them, in one transaction. `None` if there is
    /// no such session (`f` is not called).
    pub async fn idv_session_update<T, F>(&self, tur: &str, f: F) -> Result<Option<T>, StoreError>
    where
        F: FnOnce(&mut IdvSessionRow) -> T + Send,
        T: Send,
    {
        dispatch!(self.writer => idv_session_update(tur, f))
    }

    /// Queues a message on the simulated OTP gateway; returns its id.
    pub async fn enqueue_otp(&self, message: &OtpOutboxRow) -> Result<i64, StoreError> {
        dispatch!(self.writer => enqueue_otp(message))
    }

    /// Up to `limit` messages of the simulated OTP gateway with an id above `after_id`, oldest
    /// first.
    pub async fn otp_outbox(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<OtpOutboxRow>, StoreError> {
        dispatch!(self.reader => otp_outbox(after_id, limit))
    }

    // ---- token service --------------------------------------------------------------------------

    /// Adds a token to the vault and the token service's row for it, together;
    /// [`StoreError::AlreadyExists`] if its DPAN hash or TUR is taken (nothing is written).
    pub async fn tsp_insert_token(
        &self,
        vault: &TokenRow,
        tsp: &TspTokenRow,
    ) -> Result<(), StoreError> {
        dispatch!(self.writer => tsp_insert_token(vault, tsp))
    }

    /// The token service's token with this TUR (tokens it did not issue are `None`).
    pub async fn tsp_token(&self, tur: &str) -> Result<Option<TspToken>, StoreError> {
        dispatch!(self.reader => tsp_token_by_tur(tur))
    }

    /// The token service's tokens of a payment account reference, oldest first.
    pub async fn tsp_tokens_by_par(&self, par: &str) -> Result<Vec<TspToken>, StoreError> {
        dispatch!(self.reader => tsp_tokens_by_par(par))
    }

    /// Up to `limit` tokens of a token requestor, on one device when `device_id` is given,
    /// oldest first.
    pub async fn tsp_tokens_of_requestor(
        &self,
        token_requestor_id: &str,
        device_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TspToken>, StoreError> {
        dispatch!(self.reader => tsp_tokens_of_requestor(token_requestor_id, device_id, limit))
    }

    /// Changes tokens together, all or nothing. Loads each token of `turs` (sorted, repeats
    /// dropped) locked, calls `f` with its TUR and the token (`None` if unknown), and, once `f`
    /// accepted every one, writes back what it changed (the service's `state` and
    /// `updated_at_unix`, the vault's `status`) and queues the notifications it returned, in one
    /// transaction; a token whose vault status becomes `"deleted"` has its limited-use keys
    /// revoked in it too. The first `Err` from `f` is returned as `Ok(Err(_))` and nothing is
    /// written. Returns the tokens as written (unknown ones left out).
    pub async fn tsp_tokens_transition<E, F>(
        &self,
        turs: &[String],
        f: F,
    ) -> Result<Result<Vec<TspToken>, E>, StoreError>
    where
        F: FnMut(&str, Option<&mut TspToken>) -> Result<Option<NewTspNotification>, E> + Send,
        E: Send,
    {
        dispatch!(self.writer => tsp_tokens_transition(turs, f))
    }

    /// Issues a batch of limited-use keys to an HCE token, in one transaction: loads the token
    /// (locked; `None` if unknown) and where its keys stand, and calls `f`, which decides
    /// (the token's state, owner and credential) and returns the batch, usually
    /// [`LimitedUseKeyState::next_batch`]. Then revokes every earlier key of the token and
    /// records the batch. The first `Err` from `f` is returned as `Ok(Err(_))` and nothing is
    /// written; a batch that does not continue the token's indexes and ATC ranges exactly (see
    /// [`LimitedUseKeyRow`]), is empty, or is for an unknown token is refused with
    /// [`StoreError::InvalidDecision`]. Concurrent batches of one token run one after the other
    /// and never overlap. Returns the batch as recorded.
    pub async fn tsp_issue_limited_use_keys<E, F>(
        &self,
        tur: &str,
        f: F,
    ) -> Result<Result<Vec<LimitedUseKeyRow>, E>, StoreError>
    where
        F: FnOnce(Option<&TspToken>, &LimitedUseKeyState) -> Result<Vec<LimitedUseKeyRow>, E>
            + Send,
        E: Send,
    {
        dispatch!(self.writer => tsp_issue_limited_use_keys(tur, f))
    }

    /// The limited-use key of token `tur` whose range covers `atc` (revoked and expired ones
    /// included: the caller decides), if any. The network's lookup for an HCE token's
    /// cryptogram: one indexed read.
    pub async fn limited_use_key(
        &self,
        tur: &str,
        atc: u16,
    ) -> Result<Option<LimitedUseKeyRow>, StoreError> {
        dispatch!(self.reader => limited_use_key(tur, atc))
    }

    /// Every limited-use key ever issued to token `tur`, by index.
    pub async fn limited_use_keys(&self, tur: &str) -> Result<Vec<LimitedUseKeyRow>, StoreError> {
        dispatch!(self.reader => limited_use_keys(tur))
    }

    /// Up to `limit` undelivered notifications due at `now_unix`, oldest due first.
    pub async fn tsp_due_notifications(
        &self,
        now_unix: i64,
        limit: u32,
    ) -> Result<Vec<TspNotificationRow>, StoreError> {
        dispatch!(self.reader => tsp_due_notifications(now_unix, limit))
    }

    /// Queues a notification on its own (e.g. a transaction event); returns its outbox id.
    pub async fn tsp_enqueue_notification(
        &self,
        n: &NewTspNotification,
    ) -> Result<i64, StoreError> {
        dispatch!(self.writer => tsp_enqueue_notification(n))
    }

    /// Every notification about a token, oldest first.
    pub async fn tsp_notifications_of(
        &self,
        tur: &str,
    ) -> Result<Vec<TspNotificationRow>, StoreError> {
        dispatch!(self.reader => tsp_notifications_of(tur))
    }

    /// Marks a notification delivered; false if unknown or already delivered.
    pub async fn tsp_notification_delivered(&self, id: i64) -> Result<bool, StoreError> {
        dispatch!(self.writer => tsp_notification_delivered(id))
    }

    /// Counts a failed delivery and sets the next attempt time; returns the new count, `None`
    /// if unknown or already delivered.
    pub async fn tsp_notification_failed(
        &self,
        id: i64,
        next_attempt_at_unix: i64,
    ) -> Result<Option<i32>, StoreError> {
        dispatch!(self.writer => tsp_notification_failed(id, next_attempt_at_unix))
    }
}
