//! `POST /v1/devices`, `GET /v1/devices`, `POST /v1/devices/{id}/lost`,
//! `POST /v1/devices/{id}/recovered`.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use store::StoreError;
use store::wallet::{DeviceCursor, DeviceRow};
use utoipa::ToSchema;

use crate::attestation::{self, PublicJwk};
use crate::auth::AuthUser;
use crate::error::{ApiError, FieldError};
use crate::extract::{Json, Path, Query};
use crate::pagination::{PageQuery, encode_cursor};
use crate::{AppState, random};

/// Longest device name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The kind of device wallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// An Android phone (HCE).
    Android,
    /// The command-line device wallet.
    Cli,
    /// An iPhone.
    Ios,
}

impl Platform {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Android => "android",
            Self::Cli => "cli",
            Self::Ios => "ios",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "android" => Some(Self::Android),
            "cli" => Some(Self::Cli),
            "ios" => Some(Self::Ios),
            _ => None,
        }
    }
}

/// Whether a device may pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// In use.
    Active,
    /// Reported lost: its tokens are suspended until it is recovered.
    Lost,
}

impl DeviceStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Lost => "lost",
        }
    }
}

/// A device registration.
#[derive(Deserialize, ToSchema)]
pub struct CreateDeviceRequest {
    /// Display name, 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64, example = "Ada's phone")]
    pub name: String,
    /// The kind of device.
    pub platform: Platform,
    /// The public key of the device's secure element (P-256 JWK, public members only).
    pub se_public_key: PublicJwk,
    /// ES256 signature by that key, base64url of the 64-byte `r || s`, over the UTF-8 string
    /// `tapwallet-device-attestation:v1:<user id>:<name>:<platform>:<thumbprint>`, where
    /// `<thumbprint>` is the key's RFC 7638 JWK thumbprint (base64url SHA-256).
    #[schema(min_length = 86, max_length = 86)]
    pub attestation: String,
}

/// A registered device.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Device {
    /// Opaque id.
    #[schema(example = "dev_Yc3EXAMPLEEXAMPLEEXAQ")]
    pub id: String,
    /// Display name.
    pub name: String,
    /// The kind of device.
    pub platform: Platform,
    /// Whether it may pay.
    pub status: DeviceStatus,
    /// The secure element's public key (its required members only).
    pub se_public_key: PublicJwk,
    /// RFC 7638 thumbprint of that key.
    pub se_key_thumbprint: String,
    /// Registration time, Unix seconds.
    pub created_at: i64,
    /// Time of the last status change (the registration time until then), Unix seconds.
    pub status_changed_at: i64,
}

/// A page of devices.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceList {
    /// The devices, oldest first.
    pub devices: Vec<Device>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl Device {
    fn from_row(row: DeviceRow) -> Result<Self, ApiError> {
        let corrupt = |what: &str| ApiError::internal(format!("stored device has a bad {what}"));
        let platform = Platform::parse(&row.platform).ok_or_else(|| corrupt("platform"))?;
        let status = match row.status.as_str() {
            "active" => DeviceStatus::Active,
            "lost" => DeviceStatus::Lost,
            _ => return Err(corrupt("status")),
        };
        let se_public_key: PublicJwk =
            serde_json::from_str(&row.se_public_jwk).map_err(|_| corrupt("key"))?;
        Ok(Self {
            id: row.id,
            name: row.name,
            platform,
            status,
            se_public_key,
            se_key_thumbprint: row.se_key_thumbprint,
            created_at: row.created_at_unix,
            status_changed_at: row.status_changed_at_unix,
        })
    }
}

/// Registers a device wallet and its secure element key.
#[utoipa::path(
    post,
    path = "/v1/devices",
    tag = "devices",
    operation_id = "createDevice",
    security(("bearer" = [])),
    params(crate::idempotency::IdempotencyKeyHeader),
    request_body = CreateDeviceRequest,
    responses(
        (status = 201, description = "Registered (or replayed, with `Idempotency-Replayed: true`).", body = Device),
        (status = 400, description = "Malformed JSON or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 409, description = "The key is already registered (`device-key-registered`), or a request with this Idempotency-Key is in flight (`idempotency-in-flight`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body not sent as application/json.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or attestation (`validation`, with `errors`), or the Idempotency-Key was used for another request (`idempotency-key-reused`).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateDeviceRequest>,
) -> Result<(StatusCode, axum::Json<Device>), ApiError> {
    let mut errors = Vec::new();
    let name_chars = req.name.chars().count();
    if !(1..=MAX_NAME_CHARS).contains(&name_chars) {
        errors.push(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let key = match req.se_public_key.verifying_key("se_public_key") {
        Ok(key) => Some(key),
        Err(mut e) => {
            errors.append(&mut e);
            None
        }
    };
    let thumbprint = req.se_public_key.thumbprint();
    if let Some(key) = key {
        let challenge =
            attestation::challenge(&user.user_id, &req.name, req.platform.as_str(), &thumbprint);
        if !attestation::verify(&key, &challenge, &req.attestation) {
            errors.push(FieldError::new(
                "attestation",
                "is not a valid ES256 signature by se_public_key over the registration challenge",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = state.now();
    let row = DeviceRow {
        id: random::id("dev").map_err(ApiError::internal)?,
        user_id: user.user_id.clone(),
        name: req.name,
        platform: req.platform.as_str().to_owned(),
        se_public_jwk: req.se_public_key.canonical_json(),
        se_key_thumbprint: thumbprint,
        status: DeviceStatus::Active.as_str().to_owned(),
        created_at_unix: now,
        status_changed_at_unix: now,
    };
    match state.store().create_device(&row).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists { .. }) => {
            return Err(ApiError::Conflict {
                problem: "device-key-registered",
                detail: "A device with this secure element key is already registered.",
            });
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %user.user_id, device_id = %row.id, "device registered");
    Ok((StatusCode::CREATED, axum::Json(Device::from_row(row)?)))
}

/// Lists the caller's devices, oldest first.
#[utoipa::path(
    get,
    path = "/v1/devices",
    tag = "devices",
    operation_id = "listDevices",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of devices.", body = DeviceList),
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
) -> Result<axum::Json<DeviceList>, ApiError> {
    let page = query.page()?;
    // One more than asked says whether there is a next page.
    let mut rows = state
        .store()
        .devices_of_user(
            &user.user_id,
            page.after.as_ref(),
            page.limit.saturating_add(1),
        )
        .await?;
    let more = rows.len() > usize::try_from(page.limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    let next_cursor = if more {
        rows.last().map(|last| {
            encode_cursor(&DeviceCursor {
                created_at_unix: last.created_at_unix,
                id: last.id.clone(),
            })
        })
    } else {
        None
    };
    let devices = rows
        .into_iter()
        .map(Device::from_row)
        .collect::<Result<_, _>>()?;
    Ok(axum::Json(DeviceList {
        devices,
        next_cursor,
    }))
}

/// Reports a device lost: its tokens are suspended until it is recovered.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/lost",
    tag = "devices",
    operation_id = "reportDeviceLost",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Device id."),
        crate::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 200, description = "The device, now lost, its active cards suspended at the token service (reporting it again changes nothing, but suspends any card a token service failure left active).", body = Device),
        (status = 400, description = "Malformed path or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such device.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is in flight.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB (with an Idempotency-Key, the body is read).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably: the device status is recorded; report it again to finish suspending or resuming its cards.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn lost(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Device>, ApiError> {
    set_status(&state, &user, &id, DeviceStatus::Lost).await
}

/// Reports a lost device recovered: its tokens are resumed.
#[utoipa::path(
    post,
    path = "/v1/devices/{id}/recovered",
    tag = "devices",
    operation_id = "reportDeviceRecovered",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Device id."),
        crate::idempotency::IdempotencyKeyHeader,
    ),
    responses(
        (status = 200, description = "The device, now active, the cards its loss suspended resumed (reporting it again changes nothing, but resumes any card a token service failure left suspended).", body = Device),
        (status = 400, description = "Malformed path or Idempotency-Key.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "The caller has no such device.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is in flight.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB (with an Idempotency-Key, the body is read).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key was used for another request.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The token service did not answer usably: the device status is recorded; report it again to finish suspending or resuming its cards.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn recovered(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<axum::Json<Device>, ApiError> {
    set_status(&state, &user, &id, DeviceStatus::Active).await
}

async fn set_status(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    status: DeviceStatus,
) -> Result<axum::Json<Device>, ApiError> {
    let change = state
        .store()
        .set_device_status(&user.user_id, id, status.as_str(), state.now())
        .await?
        .ok_or(ApiError::NotFound("device"))?;
    if change.changed {
        tracing::info!(user_id = %user.user_id, device_id = %id, status = status.as_str(), "device status changed");
    }
    // Every report, not only the one that changed the status, brings the device's cards in
    // line: a report retried after a token service failure finishes what the first began.
    match status {
        DeviceStatus::Lost => suspend_tokens_of_lost_device(state, &change.device).await?,
        DeviceStatus::Active => resume_tokens_of_recovered_device(state, &change.device).await?,
    }
    Ok(axum::Json(Device::from_row(change.device)?))
}

/// Suspends, at the token service, every active card of a device just reported lost; they are
/// recorded as suspended for the loss.
///
/// Idempotent: it acts on the cards still active, so calling it again (a retried report) only
/// finishes what a token service failure interrupted.
pub(crate) async fn suspend_tokens_of_lost_device(
    state: &AppState,
    device: &DeviceRow,
) -> Result<(), ApiError> {
    crate::routes::cards::suspend_cards_of_lost_device(state, device).await
}

/// Resumes, at the token service, the cards suspended when the device was reported lost (not
/// those the cardholder or the issuer suspended). Idempotent, as
/// [`suspend_tokens_of_lost_device`].
pub(crate) async fn resume_tokens_of_recovered_device(
    state: &AppState,
    device: &DeviceRow,
) -> Result<(), ApiError> {
    crate::routes::cards::resume_cards_of_recovered_device(state, device).await
}
