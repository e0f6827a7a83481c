//! Passwords, access tokens and refresh tokens.
//!
//! # Why an HS256 access token plus a rotating refresh token
//!
//! The wallet backend both issues and checks its access tokens, so a MAC (HS256: HMAC-SHA-256
//! under a 32+ byte secret) is enough: there is no third party that would need a public key, and
//! checking one costs a fraction of a microsecond. Access tokens live 15 minutes and name their
//! session (`sid`); every authenticated request also checks that the session is still active
//! (one indexed read), so logout and reuse detection take effect at once instead of when the
//! token expires.
//!
//! The refresh token is 32 random bytes (base64url), opaque to the client. The database keeps
//! only its SHA-256, so a leaked database yields no usable token. Each refresh rotates it: the
//! presented token is marked used and a new one is returned. If a used token is ever presented
//! again, either the client or a thief holds a copy, and the store cannot tell which, so it
//! revokes the whole session (OAuth 2.0 Security BCP, refresh token rotation).
//!
//! The token header is fixed (`{"alg":"HS256","typ":"JWT"}`): a token with any other header is
//! refused before its signature is looked at, so no `alg` confusion is possible.
//!
//! # Passwords
//!
//! Argon2id, OWASP parameters (19 MiB, 2 passes, 1 lane), PHC strings; hashing and checking run
//! on the blocking pool (~23 ms each). A login for an unknown email checks the password against
//! a dummy hash, so response time does not reveal which emails exist.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64ct::{Base64UrlUnpadded, Encoding as _};
use hmac::{Hmac, KeyInit as _, Mac as _};
use secret::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::AppState;
use crate::error::{ApiError, AuthFailure};
use crate::random;

type HmacSha256 = Hmac<Sha256>;

/// base64url of `{"alg":"HS256","typ":"JWT"}`: the only header we issue or accept.
const JWT_HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Longest bearer token looked at (ours are about 200 characters).
const MAX_TOKEN_LEN: usize = 2048;

/// Minimum length of the JWT signing key.
pub const MIN_JWT_KEY_BYTES: usize = 32;

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds (the token is refused from this second on).
    pub exp: i64,
}

/// The HS256 key that signs and checks access tokens.
///
/// It holds the key only as a keyed HMAC state (cloned for each token); the bytes it was made
/// from are zeroized.
#[derive(Clone)]
pub struct JwtKey {
    mac: HmacSha256,
}

impl core::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("JwtKey([REDACTED])")
    }
}

impl JwtKey {
    /// A key of at least [`MIN_JWT_KEY_BYTES`] bytes; `None` if shorter.
    pub fn new(key: Vec<u8>) -> Option<Self> {
        let key = Secret::new(key);
        if key.len() < MIN_JWT_KEY_BYTES {
            return None;
        }
        let mac = HmacSha256::new_from_slice(key.expose()).ok()?;
        Some(Self { mac })
    }

    fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// HMAC-SHA-256 under this key of `label` and then each part, every one length-prefixed:
    /// a keyed digest for data that must not be hashed without a key (request bodies that carry
    /// card numbers). The label keeps it apart from token signatures, whose input starts with
    /// the fixed base64url header.
    pub(crate) fn keyed_digest(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac();
        for part in core::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Signs `claims` as a compact JWS (`header.payload.signature`).
    pub fn sign(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signing_input = format!(
            "{JWT_HEADER_B64}.{}",
            Base64UrlUnpadded::encode_string(&payload)
        );
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{signing_input}.{}", Base64UrlUnpadded::encode_string(&tag))
    }

    /// Checks a token's header, signature (constant time) and expiry; returns its claims.
    pub fn verify(&self, token: &str, now_unix: i64) -> Option<Claims> {
        if token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        if header != JWT_HEADER_B64 {
            return None;
        }
        let signature = Base64UrlUnpadded::decode_vec(signature).ok()?;
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&signature).ok()?;
        let claims: Claims =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).ok()?).ok()?;
        (now_unix < claims.exp).then_some(claims)
    }
}

/// SHA-256 of a refresh token's bytes: what the store keeps.
pub(crate) fn refresh_hash(token: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// A new refresh token: its text for the client and its hash for the store.
pub(crate) fn new_refresh_token() -> Result<(String, [u8; 32]), ApiError> {
    let raw = random::bytes::<32>().map_err(ApiError::internal)?;
    Ok((Base64UrlUnpadded::encode_string(&raw), refresh_hash(&raw)))
}

/// The hash of a refresh token the client presents; `None` if it is not one of ours in form.
pub(crate) fn presented_refresh_hash(token: &str) -> Option<[u8; 32]> {
    if token.len() != 43 {
        return None;
    }
    let raw: [u8; 32] = Base64UrlUnpadded::decode_vec(token).ok()?.try_into().ok()?;
    Some(refresh_hash(&raw))
}

/// Argon2id cost parameters for new password hashes.
#[derive(Clone, Debug)]
pub struct PasswordHashing {
    params: Params,
}

impl PasswordHashing {
    /// OWASP's recommended Argon2id parameters: 19 MiB, 2 passes, 1 lane.
    pub fn owasp() -> Self {
        Self {
            params: Params::default(),
        }
    }

    /// The cheapest parameters Argon2 allows (8 KiB, 1 pass): for tests only, never for real
    /// passwords.
    pub fn danger_minimal() -> Self {
        let params =
            Params::new(Params::MIN_M_COST, Params::MIN_T_COST, 1, None).unwrap_or_default();
        Self { params }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes a password to a PHC string (runs for tens of milliseconds: call it off the
    /// executor).
    pub(crate) fn hash(&self, password: &str) -> Result<String, ApiError> {
        let salt = random::bytes::<16>().map_err(ApiError::internal)?;
        self.argon2()
            .hash_password_with_salt(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    }

    /// Checks a password against a PHC string (the string's own parameters apply).
    pub(crate) fn verify(password: &str, phc: &str) -> bool {
        Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok()
    }
}

/// Runs a password hash or check on the blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// The authenticated caller of a request: a valid access token of an active session.
///
/// As an extractor it reads `Authorization: Bearer <token>`, checks the token (header, HS256
/// signature, expiry against the app's clock) and then its session in the store: a revoked or
/// expired session, or one of another user, is refused like a bad token (401 with
/// `WWW-Authenticate: Bearer ... error="invalid_token"`). Middleware that authenticated the
/// request first leaves an `AuthUser` in the extensions, which is reused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    /// The user id.
    pub user_id: String,
    /// The session the token belongs to.
    pub session_id: String,
}

impl AuthUser {
    /// Authenticates a request's parts (see the type's docs).
    pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(user) = parts.extensions.get::<Self>() {
            return Ok(user.clone());
        }
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized(AuthFailure::MissingToken))?;
        let now = state.now();
        let claims = state
            .jwt()
            .verify(token, now)
            .ok_or(ApiError::Unauthorized(AuthFailure::InvalidToken))?;
        let session = state.store().session(&claims.sid).await?;
        match session {
            Some(s) if s.is_active(now) && s.user_id == claims.sub => Ok(Self {
                user_id: claims.sub,
                session_id: claims.sid,
            }),
            _ => Err(ApiError::Unauthorized(AuthFailure::InvalidToken)),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = Self::authenticate(parts, state).await?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> JwtKey {
        JwtKey::new(vec![7; 32]).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            sub: "usr_1".to_owned(),
            sid: "ses_1".to_owned(),
            iat: 1_000,
            exp: 1_900,
        }
    }

    #[test]
    fn header_is_the_fixed_one() {
        assert_eq!(
            Base64UrlUnpadded::decode_vec(JWT_HEADER_B64).unwrap(),
            br#"{"alg":"HS256","typ":"JWT"}"#
        );
    }

    #[test]
    fn tokens_verify_until_they_expire() {
        let token = key().sign(&claims());
        assert_eq!(key().verify(&token, 1_000), Some(claims()));
        assert_eq!(key().verify(&token, 1_899), Some(claims()));
        assert_eq!(key().verify(&token, 1_900), None);
    }

    #[test]
    fn altered_tokens_fail() {
        let token = key().sign(&claims());
        let other = JwtKey::new(vec![8; 32]).unwrap();
        assert_eq!(other.verify(&token, 1_000), None, "other key");
        let (input, sig) = token.rsplit_once('.').unwrap();
        let (_, payload) = input.split_once('.').unwrap();
        let forged = Base64UrlUnpadded::encode_string(
            br#"{"sub":"usr_2","sid":"ses_1","iat":1000,"exp":1900}"#,
        );
        assert_eq!(key().verify(&token.replace(payload, &forged), 1_000), None);
        let none_alg = Base64UrlUnpadded::encode_string(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(key().verify(&format!("{none_alg}.{payload}."), 1_000), None);
        assert_eq!(
            key().verify(&format!("{none_alg}.{payload}.{sig}"), 1_000),
            None
        );
        for junk in ["", ".", "..", "a.b.c", "a.b", &"x".repeat(5000)] {
            assert_eq!(key().verify(junk, 1_000), None, "{junk:.20}");
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(JwtKey::new(vec![1; 31]).is_none());
        assert!(!format!("{:?}", key()).contains('7'));
    }

    #[test]
    fn refresh_tokens_round_trip() {
        let (text, hash) = new_refresh_token().unwrap();
        assert_eq!(text.len(), 43);
        assert_eq!(presented_refresh_hash(&text), Some(hash));
        assert_eq!(presented_refresh_hash("short"), None);
        assert_eq!(presented_refresh_hash(&"!".repeat(43)), None);
    }

    #[test]
    fn passwords_hash_and_verify() {
        let hashing = PasswordHashing::danger_minimal();
        let phc = hashing.hash("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$"));
        assert!(PasswordHashing::verify("correct horse battery", &phc));
        assert!(!PasswordHashing::verify("wrong horse battery", &phc));
        assert!(!PasswordHashing::verify("x", "not a phc string"));
    }
}
