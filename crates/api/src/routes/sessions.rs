//! `POST /v1/sessions` (login), `POST /v1/sessions/refresh`, `DELETE /v1/sessions/current`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use store::wallet::{NewSession, RefreshOutcome, normalize_email};
use utoipa::ToSchema;

use crate::auth::{
    AuthUser, Claims, PasswordHashing, blocking, new_refresh_token, presented_refresh_hash,
};
use crate::error::{ApiError, AuthFailure, FieldError};
use crate::extract::{ClientIp, Json};
use crate::routes::users::{MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS};
use crate::{AppState, random};

/// A login.
#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The email given at sign-up (any case).
    #[schema(min_length = 1, max_length = 254)]
    pub email: String,
    /// The password.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

/// A refresh.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh; it is used up by this request.
    #[schema(min_length = 1, max_length = 256)]
    pub refresh_token: String,
}

/// Tokens for a session.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// JWT (HS256) with claims `sub` (user id), `sid` (session id), `iat`, `exp`; send it as
    /// `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque (32 random bytes, base64url); trade it at `POST /v1/sessions/refresh` for new
    /// tokens. Each refresh token works once: presenting a used one again revokes the session.
    pub refresh_token: String,
}

impl core::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

fn tokens(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    now: i64,
    refresh_token: String,
) -> TokenResponse {
    let ttl = state.config().access_token_ttl_secs;
    let access_token = state.jwt().sign(&Claims {
        sub: user_id.to_owned(),
        sid: session_id.to_owned(),
        iat: now,
        exp: now.saturating_add(ttl),
    });
    TokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: ttl,
        refresh_token,
    }
}

/// Logs in: checks the password and opens a session.
#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "sessions",
    operation_id = "createSession",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Logged in.", body = TokenResponse),
        (status = 400, description = "Malformed JSON.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`"))),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts for this email or from this client.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    client: ClientIp,
    Json(req): Json<LoginRequest>,
) -> Result<(StatusCode, axum::Json<TokenResponse>), ApiError> {
    let mut errors = Vec::new();
    let email_chars = req.email.chars().count();
    if !(1..=MAX_EMAIL_CHARS).contains(&email_chars) {
        errors.push(FieldError::new(
            "email",
            format!("must be 1 to {MAX_EMAIL_CHARS} characters"),
        ));
    }
    let password_chars = req.password.chars().count();
    if !(1..=MAX_PASSWORD_CHARS).contains(&password_chars) {
        errors.push(FieldError::new(
            "password",
            format!("must be 1 to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = state.now();
    let limits = state.rate_limits();
    let limited = |r: crate::ratelimit::RetryAfter| ApiError::RateLimited {
        retry_after_secs: r.0,
    };
    limits
        .login_per_client
        .check(&client.0, now)
        .map_err(limited)?;
    limits
        .login_per_email
        .check(&normalize_email(&req.email), now)
        .map_err(limited)?;

    let user = state.store().user_by_email(&req.email).await?;
    // Unknown emails are checked against a dummy hash: the same work, the same answer.
    let phc = user.as_ref().map_or_else(
        || state.dummy_password_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let password = req.password;
    let matches = blocking(move || PasswordHashing::verify(&password, &phc)).await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(ApiError::Unauthorized(AuthFailure::BadCredentials));
    };

    let (refresh_token, refresh_hash) = new_refresh_token()?;
    let session = NewSession {
        id: random::id("ses").map_err(ApiError::internal)?,
        user_id: user.id.clone(),
        refresh_hash,
        created_at_unix: now,
        expires_at_unix: now.saturating_add(state.config().session_ttl_secs),
    };
    state.store().create_session(&session).await?;
    tracing::info!(user_id = %user.id, session_id = %session.id, "session opened");
    Ok((
        StatusCode::CREATED,
        axum::Json(tokens(&state, &user.id, &session.id, now, refresh_token)),
    ))
}

/// Trades a refresh token for new tokens (the presented one stops working).
#[utoipa::path(
    post,
    path = "/v1/sessions/refresh",
    tag = "sessions",
    operation_id = "refreshSession",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens; the presented refresh token is used up.", body = TokenResponse),
        (status = 400, description = "Malformed JSON.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, used, expired or revoked refresh token. A used one also revokes its session.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`"))),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> Result<axum::Json<TokenResponse>, ApiError> {
    let invalid = ApiError::Unauthorized(AuthFailure::InvalidRefreshToken);
    let Some(presented) = presented_refresh_hash(&req.refresh_token) else {
        return Err(invalid);
    };
    let now = state.now();
    let (refresh_token, next) = new_refresh_token()?;
    match state
        .store()
        .rotate_refresh_token(&presented, &next, now)
        .await?
    {
        RefreshOutcome::Rotated(session) => Ok(axum::Json(tokens(
            &state,
            &session.user_id,
            &session.id,
            now,
            refresh_token,
        ))),
        RefreshOutcome::Reused {
            session_id,
            user_id,
        } => {
            tracing::warn!(%user_id, %session_id, "refresh token reused: session revoked");
            Err(invalid)
        }
        RefreshOutcome::Invalid => Err(invalid),
    }
}

/// Logs out: revokes the caller's session; its access and refresh tokens stop working.
#[utoipa::path(
    delete,
    path = "/v1/sessions/current",
    tag = "sessions",
    operation_id = "deleteCurrentSession",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out."),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_current(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    state
        .store()
        .revoke_session(&user.session_id, "logout", state.now())
        .await?;
    tracing::info!(user_id = %user.user_id, session_id = %user.session_id, "session closed");
    Ok(StatusCode::NO_CONTENT)
}
