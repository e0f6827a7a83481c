//! `GET /v1/transactions`: the caller's payment history, newest first.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use store::wallet::TransactionRow;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::extract::Query;
use crate::pagination::{PageQuery, TransactionQuery, paginate};

/// The merchant of a transaction, cleaned up from what the authorization carried (DE 43 and
/// the MCC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransactionMerchant {
    /// Readable name ("Tapwallet Cafe").
    pub name: String,
    /// City, when known.
    pub city: Option<String>,
    /// ISO 3166 alpha-2 country, when known.
    pub country: Option<String>,
    /// Spending category (`food_and_drink`, `groceries`, `transport`, ... or `other`).
    #[schema(example = "food_and_drink")]
    pub category: String,
    /// Merchant category code (ISO 18245).
    #[schema(example = "5814")]
    pub mcc: String,
}

/// A payment made with one of the caller's cards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Transaction {
    /// Opaque id.
    pub id: String,
    /// The card paid with.
    pub card_id: String,
    /// Amount in minor units of `currency` (cents for EUR).
    pub amount_minor: i64,
    /// ISO 4217 alphabetic currency code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// True when the issuer approved it.
    pub approved: bool,
    /// The authorization's response code (ISO 8583 DE 39): `00` approved, `51` insufficient
    /// funds, ...
    #[schema(example = "00")]
    pub response_code: String,
    /// Where.
    pub merchant: TransactionMerchant,
    /// When it happened, Unix seconds.
    pub occurred_at: i64,
}

/// A page of transactions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionList {
    /// Newest first.
    pub transactions: Vec<Transaction>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

impl Transaction {
    fn from_row(row: TransactionRow) -> Self {
        Self {
            id: row.id,
            card_id: row.token_id,
            amount_minor: row.amount_minor,
            currency: row.currency,
            approved: row.approved,
            response_code: row.response_code,
            merchant: TransactionMerchant {
                name: row.merchant_name,
                city: row.merchant_city,
                country: row.merchant_country,
                category: row.category,
                mcc: row.mcc,
            },
            occurred_at: row.occurred_at_unix,
        }
    }
}

/// Lists the caller's transactions, newest first, of all cards or of one.
#[utoipa::path(
    get,
    path = "/v1/transactions",
    tag = "transactions",
    operation_id = "listTransactions",
    security(("bearer" = [])),
    params(TransactionQuery),
    responses(
        (status = 200, description = "A page of transactions, newest first.", body = TransactionList),
        (status = 400, description = "Malformed query string (e.g. a repeated parameter).", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, invalid, expired or revoked access token.", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"tapwallet\"`, with `error=\"invalid_token\"` for a bad token."))),
        (status = 404, description = "`card_id` is not one of the caller's cards.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `limit` or `cursor`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 500, description = "Internal error.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    Query(query): Query<TransactionQuery>,
) -> Result<axum::Json<TransactionList>, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .page()?;
    if let Some(card_id) = &query.card_id {
        state
            .store()
            .provisioned_token(&user.user_id, card_id)
            .await?
            .ok_or(ApiError::NotFound("card"))?;
    }
    let rows = state
        .store()
        .transactions_of_user(
            &user.user_id,
            query.card_id.as_deref(),
            page.cursor().as_ref(),
            page.limit.saturating_add(1),
        )
        .await?;
    let (rows, next_cursor) = paginate(&page, rows, |r| (r.occurred_at_unix, r.id.as_str()));
    Ok(axum::Json(TransactionList {
        transactions: rows.into_iter().map(Transaction::from_row).collect(),
        next_cursor,
    }))
}
