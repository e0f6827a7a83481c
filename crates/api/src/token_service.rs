//! The token service (TSP) as the wallet backend uses it: the [`TokenService`] port.
//!
//! The backend is the *token requestor*: it never keeps a card number. It hands the funding
//! account to the token service once ([`TokenService::tokenize`], encrypted to the token
//! service's key by the implementation), and from then on names the card by the token unique
//! reference (TUR) the token service returns. Step-up verification, the provisioning payload
//! (a JWE only the device can open), the limited-use keys of HCE cards (another such JWE),
//! lifecycle changes and the key that signs the token service's webhooks all go through this
//! trait.
//!
//! [`TspClient`](crate::tsp_client::TspClient) implements it over the token service's HTTP API;
//! tests and other deployments can pass their own implementation to
//! [`Config::with_token_service`](crate::Config::with_token_service). Without one, every card
//! route answers 502 ([`NoTokenService`]).
//!
//! The trait is object-safe: its methods return boxed futures, so the app holds an
//! `Arc<dyn TokenService>`.

use core::fmt;
use std::future::Future;
use std::pin::Pin;

use cards::{Expiry, Pan};
use jose::Jwk;
use secret::Secret;

use crate::error::FieldError;

/// A boxed, sendable future: what the [`TokenService`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The card being added, as the cardholder typed it. It lives only in memory, for the one
/// tokenization call: the PAN in a [`Pan`] and the rest in [`Secret`]s, zeroized when dropped.
pub struct FundingAccount {
    /// The funding PAN (Luhn-checked).
    pub pan: Pan,
    /// The card's expiry.
    pub expiry: Expiry,
    /// The card verification value (3 or 4 digits).
    pub cvv: Secret<String>,
    /// The name on the card.
    pub cardholder_name: Secret<String>,
}

impl fmt::Debug for FundingAccount {
    /// The masked PAN only (first six, last four); never the CVV or the name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FundingAccount")
            .field("pan", &self.pan)
            .finish_non_exhaustive()
    }
}

/// How the device holds a token's credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Credential {
    /// Host card emulation: the device never gets the token's card key, only batches of
    /// limited-use keys ([`TokenService::replenish_keys`]).
    Hce,
    /// The device's secure element holds the token's card key (in the payload).
    SecureElement,
}

impl Credential {
    /// The token service's name (`token_type`: `HCE`, `SECURE_ELEMENT`).
    pub const fn token_type(self) -> &'static str {
        match self {
            Self::Hce => "HCE",
            Self::SecureElement => "SECURE_ELEMENT",
        }
    }

    /// The wallet database's name (`hce`, `se`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hce => "hce",
            Self::SecureElement => "se",
        }
    }
}

/// A tokenization request: a card for one device.
#[derive(Debug)]
pub struct TokenizeRequest {
    /// The device the token is for (the backend's device id).
    pub device_id: String,
    /// The public key of the device's secure element: the provisioning payload is encrypted
    /// to it.
    pub device_key: Jwk,
    /// The card. Consumed by the call, so it is dropped (and zeroized) when the call ends.
    pub funding: FundingAccount,
    /// How the device will hold the token's credential.
    pub credential: Credential,
}

/// A batch of limited-use keys for an HCE token, from [`TokenService::replenish_keys`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBatch {
    /// Keys in the batch.
    pub count: u32,
    /// When they expire, Unix seconds.
    pub expires_at_unix: i64,
    /// The keys: a compact JWE to the device's key, opaque to the backend.
    pub encrypted_keys: String,
}

/// A token's lifecycle state at the token service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenState {
    /// In use.
    Active,
    /// Deleted (final).
    Deleted,
    /// Waiting for the cardholder's verification.
    Inactive,
    /// Suspended: the network declines it until it is resumed.
    Suspended,
}

impl TokenState {
    /// The token service's name (`ACTIVE`, `DELETED`, `INACTIVE`, `SUSPENDED`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Deleted => "DELETED",
            Self::Inactive => "INACTIVE",
            Self::Suspended => "SUSPENDED",
        }
    }

    /// From the token service's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "DELETED" => Some(Self::Deleted),
            "INACTIVE" => Some(Self::Inactive),
            "SUSPENDED" => Some(Self::Suspended),
            _ => None,
        }
    }
}

/// A token as the token service describes it (display data only: no DPAN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// Token unique reference.
    pub tur: String,
    /// Lifecycle state.
    pub state: TokenState,
    /// Last four digits of the funding PAN.
    pub fpan_last4: String,
    /// The issuer's product name.
    pub product_name: String,
    /// The token service's time of its last status change, Unix seconds (when it said).
    pub updated_at_unix: Option<i64>,
}

/// A way the issuer can verify the cardholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// Approval in the issuer's app (the token service then activates the token and says so
    /// by webhook).
    IssuerApp,
    /// A one-time password by e-mail.
    OtpEmail,
    /// A one-time password by SMS.
    OtpSms,
}

impl MethodKind {
    /// The wire name (`ISSUER_APP`, `OTP_EMAIL`, `OTP_SMS`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::IssuerApp => "ISSUER_APP",
            Self::OtpEmail => "OTP_EMAIL",
            Self::OtpSms => "OTP_SMS",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ISSUER_APP" => Some(Self::IssuerApp),
            "OTP_EMAIL" => Some(Self::OtpEmail),
            "OTP_SMS" => Some(Self::OtpSms),
            _ => None,
        }
    }

    /// True for the methods that send a code.
    pub const fn is_otp(self) -> bool {
        matches!(self, Self::OtpEmail | Self::OtpSms)
    }
}

/// A verification method offered for a pending token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerificationMethod {
    /// The method.
    pub kind: MethodKind,
    /// Where the code goes, masked by the issuer (`+33 6** ** ** 78`); none for the app.
    pub destination: Option<String>,
}

/// The token service's answer to a tokenization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenizeOutcome {
    /// Green: the token is active.
    Approved(TokenInfo),
    /// Red: no token was made.
    Declined {
        /// The issuer's reason (`CVV_MISMATCH`, `CARD_BLOCKED`, ...).
        reason: String,
    },
    /// Yellow: the token waits for the cardholder's verification by one of `methods`.
    StepUp {
        /// The inactive token.
        token: TokenInfo,
        /// The methods offered, in the issuer's order.
        methods: Vec<VerificationMethod>,
    },
}

/// A one-time password is on its way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtpSent {
    /// By which method.
    pub method: MethodKind,
    /// To where, masked.
    pub destination: String,
}

/// A lifecycle change requested by the wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifecycleAction {
    /// Any state but deleted to deleted (final).
    Delete,
    /// Suspended to active (the token service's "unsuspend").
    Resume,
    /// Active to suspended.
    Suspend,
}

/// Why a token service call did not do what was asked. Carries no card data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenServiceError {
    /// The one-time password is wrong; this many attempts are left.
    IncorrectOtp {
        /// Attempts left before verification by code locks.
        attempts_left: u32,
    },
    /// The token service refused fields of the request (names as the token service gives
    /// them, e.g. `funding_account.pan`).
    Invalid(Vec<FieldError>),
    /// The token is not in a state that allows this (`kind` is the token service's name for
    /// the conflict, e.g. `invalid-state`, `token-not-active`).
    InvalidState {
        /// The token service's name of the conflict.
        kind: String,
    },
    /// The token service holds no such token for this requestor.
    NotFound,
    /// The one-time password expired: a new one must be sent.
    OtpExpired,
    /// Too many wrong one-time passwords: verification by code is locked for this token.
    OtpLocked,
    /// No one-time password was sent by this method (or a newer one replaced it).
    OtpNotSent,
    /// The token service is unreachable, refused our credentials, or answered something
    /// unusable; the text is for the operator's log.
    Unavailable(String),
}

impl fmt::Display for TokenServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IncorrectOtp { attempts_left } => {
                write!(
                    f,
                    "wrong one-time password; {attempts_left} attempt(s) left"
                )
            }
            Self::Invalid(errors) => write!(f, "{} field(s) refused", errors.len()),
            Self::InvalidState { kind } => write!(f, "token state conflict: {kind}"),
            Self::NotFound => f.write_str("no such token at the token service"),
            Self::OtpExpired => f.write_str("the one-time password expired"),
            Self::OtpLocked => f.write_str("verification by code is locked"),
            Self::OtpNotSent => f.write_str("no one-time password was sent by this method"),
            Self::Unavailable(why) => write!(f, "token service unavailable: {why}"),
        }
    }
}

impl std::error::Error for TokenServiceError {}

/// The token service, as the wallet backend calls it (see the module docs).
pub trait TokenService: Send + Sync + fmt::Debug {
    /// Tokenizes a card for a device. The funding account is consumed: it never outlives the
    /// call.
    fn tokenize(
        &self,
        request: TokenizeRequest,
    ) -> BoxFuture<'_, Result<TokenizeOutcome, TokenServiceError>>;

    /// Has the issuer send a (new) one-time password for an inactive token.
    fn send_otp<'a>(
        &'a self,
        tur: &'a str,
        method: MethodKind,
    ) -> BoxFuture<'a, Result<OtpSent, TokenServiceError>>;

    /// Checks a one-time password; the token is active when it is right.
    fn authenticate<'a>(
        &'a self,
        tur: &'a str,
        method: MethodKind,
        otp: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>>;

    /// The provisioning payload of an active token: a compact JWE to the device's key.
    fn payload<'a>(&'a self, tur: &'a str) -> BoxFuture<'a, Result<String, TokenServiceError>>;

    /// The token as the token service holds it now.
    fn token<'a>(&'a self, tur: &'a str) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>>;

    /// Issues a new batch of limited-use keys to an active HCE token (`count` keys, or the
    /// token service's default), revoking the previous batch. Implementations without HCE
    /// support keep this default: unavailable.
    fn replenish_keys<'a>(
        &'a self,
        _tur: &'a str,
        _count: Option<u32>,
    ) -> BoxFuture<'a, Result<KeyBatch, TokenServiceError>> {
        Box::pin(async {
            Err(TokenServiceError::Unavailable(
                "this token service issues no limited-use keys".to_owned(),
            ))
        })
    }

    /// Suspends, resumes or deletes a token; `reason` is recorded by the token service.
    fn lifecycle<'a>(
        &'a self,
        action: LifecycleAction,
        tur: &'a str,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>>;

    /// The public key that verifies the token service's webhooks (ES256), for the JWS header's
    /// `kid` when it has one. An implementation may fetch it and cache it.
    fn notification_key<'a>(
        &'a self,
        kid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Jwk, TokenServiceError>>;
}

/// The token service of an app configured without one: every call is
/// [`TokenServiceError::Unavailable`], so the card routes answer 502 and webhooks 401.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTokenService;

const NOT_CONFIGURED: &str = "no token service is configured";

fn unavailable<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, TokenServiceError>> {
    Box::pin(async { Err(TokenServiceError::Unavailable(NOT_CONFIGURED.to_owned())) })
}

impl TokenService for NoTokenService {
    fn tokenize(
        &self,
        _request: TokenizeRequest,
    ) -> BoxFuture<'_, Result<TokenizeOutcome, TokenServiceError>> {
        unavailable()
    }

    fn send_otp<'a>(
        &'a self,
        _tur: &'a str,
        _method: MethodKind,
    ) -> BoxFuture<'a, Result<OtpSent, TokenServiceError>> {
        unavailable()
    }

    fn authenticate<'a>(
        &'a self,
        _tur: &'a str,
        _method: MethodKind,
        _otp: &'a Secret<String>,
    ) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>> {
        unavailable()
    }

    fn payload<'a>(&'a self, _tur: &'a str) -> BoxFuture<'a, Result<String, TokenServiceError>> {
        unavailable()
    }

    fn token<'a>(&'a self, _tur: &'a str) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>> {
        unavailable()
    }

    fn lifecycle<'a>(
        &'a self,
        _action: LifecycleAction,
        _tur: &'a str,
        _reason: &'a str,
    ) -> BoxFuture<'a, Result<TokenInfo, TokenServiceError>> {
        unavailable()
    }

    fn notification_key<'a>(
        &'a self,
        _kid: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Jwk, TokenServiceError>> {
        unavailable()
    }
}

/// Parses an RFC 3339 time (`2026-11-23T12:00:00Z`, optional fraction, `Z` or `±HH:MM`) to
/// Unix seconds (the fraction is dropped). `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !text.is_ascii() {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let sep = |at: usize, allowed: &[u8]| bytes.get(at).is_some_and(|b| allowed.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = text.get(19..)?;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = fraction.get(digits..)?;
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let (sign, hh_mm) = match rest.split_at_checked(1)? {
                ("+", hh_mm) => (1, hh_mm),
                ("-", hh_mm) => (-1, hh_mm),
                _ => return None,
            };
            let (hh, mm) = hh_mm.split_once(':')?;
            if hh.len() != 2 || mm.len() != 2 {
                return None;
            }
            let (hh, mm): (i64, i64) = (hh.parse().ok()?, mm.parse().ok()?);
            if hh > 23 || mm > 59 {
                return None;
            }
            sign * (hh * 3600 + mm * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-23T12:00:00Z"), Some(1_795_435_200));
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00.250Z"),
            Some(1_709_164_800)
        );
        assert_eq!(
            parse_rfc3339("2026-11-23T13:00:00+01:00"),
            Some(1_795_435_200)
        );
        assert_eq!(
            parse_rfc3339("2026-11-23T11:30:00-00:30"),
            Some(1_795_435_200)
        );
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23 12:00:00Z",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T12:00:00",
            "2026-11-23T12:00:00.Z",
            "2026-11-23T12:00:00+1:00",
            "2026-11-23T12:00:00Zjunk",
            "2026-11-2éT12:00:00Z",
            "+026-11-23T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in [
            TokenState::Active,
            TokenState::Deleted,
            TokenState::Inactive,
            TokenState::Suspended,
        ] {
            assert_eq!(TokenState::parse(s.as_str()), Some(s));
        }
        for m in [
            MethodKind::IssuerApp,
            MethodKind::OtpEmail,
            MethodKind::OtpSms,
        ] {
            assert_eq!(MethodKind::parse(m.as_str()), Some(m));
        }
        assert_eq!(MethodKind::parse("otp_sms"), None);
    }

    #[test]
    fn funding_accounts_never_print_their_secrets() {
        let funding = FundingAccount {
            pan: Pan::parse("4111111111111111").unwrap(),
            expiry: Expiry::new(2030, 12).unwrap(),
            cvv: Secret::new("987".to_owned()),
            cardholder_name: Secret::new("Ada Lovelace".to_owned()),
        };
        let text = format!("{funding:?}");
        assert!(!text.contains("4111111111111111") && !text.contains("987"));
        assert!(!text.contains("Ada"));
    }
}
