//! Keyset pagination: `?limit=&cursor=` in, `next_cursor` out.
//!
//! A cursor is opaque to clients: base64url of `v1:<time>:<id>` of the last item of the page
//! (its creation time, or for transactions the time they happened), so the next page starts
//! strictly after it in `(time, id)` order (before it, for lists read newest first), stable
//! however many items are added meanwhile. `next_cursor` is null on the last page.

use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde::Deserialize;
use store::wallet::{Cursor, DeviceCursor};
use utoipa::IntoParams;

use crate::error::{ApiError, FieldError};

/// Items per page when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest `limit`.
pub const MAX_LIMIT: u32 = 100;

const CURSOR_VERSION: &str = "v1";

/// The query parameters of a paginated list (raw; see [`PageQuery::page`]).
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page; absent for the first page.
    #[param(
        value_type = Option<String>,
        min_length = 1,
        max_length = 256,
        pattern = "^[A-Za-z0-9_-]+$"
    )]
    pub cursor: Option<String>,
}

/// The query of `GET /v1/transactions`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransactionQuery {
    /// Only this card's transactions (one of the caller's cards, any status).
    #[param(value_type = Option<String>, min_length = 1, max_length = 64)]
    pub card_id: Option<String>,
    /// Items per page, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page; absent for the first page.
    #[param(
        value_type = Option<String>,
        min_length = 1,
        max_length = 256,
        pattern = "^[A-Za-z0-9_-]+$"
    )]
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// Items per page.
    pub limit: u32,
    /// Start after this item.
    pub after: Option<DeviceCursor>,
}

impl Page {
    /// Where the page starts, as a store cursor over `(time, id)`.
    pub fn cursor(&self) -> Option<Cursor> {
        self.after.as_ref().map(|c| Cursor {
            at_unix: c.created_at_unix,
            id: c.id.clone(),
        })
    }

    /// The page's length as a `usize`.
    pub fn len(&self) -> usize {
        usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    /// Always false: a page holds at least one item.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Cuts `rows` (read with one more than the page's limit) to the page, and makes the cursor
/// of the next page from the last row kept when there is a next page.
pub(crate) fn paginate<T>(
    page: &Page,
    mut rows: Vec<T>,
    position: impl Fn(&T) -> (i64, &str),
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > page.len();
    rows.truncate(page.len());
    let next = if more {
        rows.last().map(|last| {
            let (at_unix, id) = position(last);
            encode_position(at_unix, id)
        })
    } else {
        None
    };
    (rows, next)
}

impl PageQuery {
    /// Validates the parameters: a bad `limit` or `cursor` is a 422 naming it.
    pub fn page(&self) -> Result<Page, ApiError> {
        let mut errors = Vec::new();
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    errors.push(FieldError::new(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        let after = match self.cursor.as_deref() {
            None => None,
            Some(text) => {
                let decoded = decode_cursor(text);
                if decoded.is_none() {
                    errors.push(FieldError::new("cursor", "is not a cursor this API issued"));
                }
                decoded
            }
        };
        if errors.is_empty() {
            Ok(Page { limit, after })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// The opaque form of a position.
pub fn encode_cursor(position: &DeviceCursor) -> String {
    encode_position(position.created_at_unix, &position.id)
}

/// The opaque form of the position `(at_unix, id)`.
pub fn encode_position(at_unix: i64, id: &str) -> String {
    Base64UrlUnpadded::encode_string(format!("{CURSOR_VERSION}:{at_unix}:{id}").as_bytes())
}

/// The position an opaque cursor names, if it is well formed.
pub fn decode_cursor(text: &str) -> Option<DeviceCursor> {
    if text.len() > 256 {
        return None;
    }
    let raw = String::from_utf8(Base64UrlUnpadded::decode_vec(text).ok()?).ok()?;
    let mut parts = raw.splitn(3, ':');
    if parts.next()? != CURSOR_VERSION {
        return None;
    }
    let created_at_unix = parts.next()?.parse().ok()?;
    let id = parts.next()?.to_owned();
    (!id.is_empty()).then_some(DeviceCursor {
        created_at_unix,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = DeviceCursor {
            created_at_unix: 1_700_000_000,
            id: "dev_x:y".to_owned(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&c)), Some(c));
        for junk in [
            "",
            "!!",
            "djE6",
            &Base64UrlUnpadded::encode_string(b"v2:1:a"),
        ] {
            assert_eq!(decode_cursor(junk), None, "{junk}");
        }
    }

    #[test]
    fn limits_are_checked() {
        let q = |limit: &str| PageQuery {
            limit: Some(limit.to_owned()),
            cursor: None,
        };
        assert_eq!(q("5").page().unwrap().limit, 5);
        assert_eq!(PageQuery::default().page().unwrap().limit, DEFAULT_LIMIT);
        for bad in ["0", "101", "-1", "x", ""] {
            assert!(q(bad).page().is_err(), "{bad}");
        }
    }
}
