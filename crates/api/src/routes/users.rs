//! `POST /v1/users`: sign-up.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use store::StoreError;
use store::wallet::NewUser;
use utoipa::ToSchema;

use crate::auth::{PasswordHashing, blocking};
use crate::error::{ApiError, FieldError};
use crate::extract::{ClientIp, Json};
use crate::{AppState, random};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted (bounds hashing work).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// A sign-up.
#[derive(Deserialize, ToSchema)]
pub struct CreateUserRequest {
    /// The user's email: one `@` with something on each side, at most 254 characters. Unique,
    /// compared case-insensitively.
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = "^[^@]+@[^@]+$",
        example = "ada@example.com"
    )]
    pub email: String,
    /// At least 10 and at most 1024 characters.
    #[schema(
        min_length = 10,
        max_length = 1024,
        example = "correct horse battery staple"
    )]
    pub password: String,
}

/// A user.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// Opaque id.
    #[schema(example = "usr_3q2-7wEXAMPLEEXAMPLEw")]
    pub id: String,
    /// The email as given at sign-up.
    pub email: String,
    /// Sign-up time, Unix seconds.
    pub created_at: i64,
}

/// Checks an email the way the schema describes it: 3 to 254 characters, exactly one `@`,
/// something on each side.
pub(crate) fn email_errors(email: &str, errors: &mut Vec<FieldError>) {
    let chars = email.chars().count();
    let mut halves = email.split('@');
    let shaped = matches!(
        (halves.next(), halves.next(), halves.next()),
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty()
    );
    if !(3..=MAX_EMAIL_CHARS).contains(&chars) || !shaped {
        errors.push(FieldError::new(
            "email",
            format!("must be an email address (one @) of at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
}

/// Creates a user.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    operation_id = "createUser",
    params(crate::idempotency::IdempotencyKeyHeader),
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created (or replayed, with `Idempotency-Replayed: true`).", body = User),
        (status = 400, description = "Malformed JSON or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email is taken (`email-taken`), or a request with this Idempotency-Key is in flight (`idempotency-in-flight`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (`validation`, with `errors`), or the Idempotency-Key was used for another request (`idempotency-key-reused`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ups from this client.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    client: ClientIp,
    Json(req): Json<CreateUserRequest>,
) -> Result<(StatusCode, axum::Json<User>), ApiError> {
    let mut errors = Vec::new();
    email_errors(&req.email, &mut errors);
    let password_chars = req.password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password_chars) {
        errors.push(FieldError::new(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = state.now();
    state
        .rate_limits()
        .signup_per_client
        .check(&client.0, now)
        .map_err(|r| ApiError::RateLimited {
            retry_after_secs: r.0,
        })?;
    if state.store().user_by_email(&req.email).await?.is_some() {
        return Err(email_taken());
    }
    let hashing: PasswordHashing = state.config().password_hashing.clone();
    let password = req.password;
    let password_hash = blocking(move || hashing.hash(&password)).await??;
    let user = NewUser {
        id: random::id("usr").map_err(ApiError::internal)?,
        email: req.email,
        password_hash,
        created_at_unix: now,
    };
    match state.store().create_user(&user).await {
        Ok(()) => {}
        // Lost a race with a concurrent sign-up of the same email.
        Err(StoreError::AlreadyExists { .. }) => return Err(email_taken()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %user.id, "user created");
    Ok((
        StatusCode::CREATED,
        axum::Json(User {
            id: user.id,
            email: user.email,
            created_at: user.created_at_unix,
        }),
    ))
}

fn email_taken() -> ApiError {
    ApiError::Conflict {
        problem: "email-taken",
        detail: "A user with this email already exists.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_follow_the_documented_shape() {
        for (email, ok) in [
            ("a@b", true),
            ("ada@example.com", true),
            ("a b@c d", true),
            ("ab", false),
            ("@bc", false),
            ("ab@", false),
            ("a@b@c", false),
            ("no-at-sign", false),
        ] {
            let mut errors = Vec::new();
            email_errors(email, &mut errors);
            assert_eq!(errors.is_empty(), ok, "{email}");
        }
        let mut errors = Vec::new();
        email_errors(&format!("a@{}", "b".repeat(253)), &mut errors);
        assert_eq!(errors.len(), 1, "255 characters");
    }
}
