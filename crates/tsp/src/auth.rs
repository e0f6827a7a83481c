//! How token requestors authenticate their requests: an HMAC-SHA-256 signature of the request
//! under the requestor's API key.
//!
//! ```text
//! X-Tsp-Requestor-Id: 50110030273
//! X-Tsp-Timestamp:    1795435200
//! X-Tsp-Signature:    v1=<64 hex digits>
//!
//! signature = HMAC-SHA-256(api_key, "v1\n" || timestamp || "\n" || METHOD || "\n" || path || "\n" || body)
//! ```
//!
//! The path is the request's path as sent (no query string: the API has none). The timestamp
//! must be within [`MAX_SKEW_SECS`] of the service's clock, which bounds replays to that window;
//! lifecycle calls are idempotent in effect (a repeated suspend is refused with 409), and a
//! replayed tokenization only creates another inactive or declined attempt, counted by the
//! issuer's attempt limit. Every failure is the same 401 to the caller; the log says which check
//! failed.

use hmac::{Hmac, KeyInit, Mac};
use secret::Secret;
use sha2::Sha256;

/// Header naming the token requestor.
pub const REQUESTOR_HEADER: &str = "x-tsp-requestor-id";
/// Header with the Unix time the request was signed at.
pub const TIMESTAMP_HEADER: &str = "x-tsp-timestamp";
/// Header with the signature, `v1=` and 64 hex digits.
pub const SIGNATURE_HEADER: &str = "x-tsp-signature";
/// Largest accepted difference between the request's timestamp and the clock, seconds.
pub const MAX_SKEW_SECS: i64 = 300;

fn mac(key: &[u8], timestamp: &str, method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: construction cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        return [0; 32];
    };
    for part in [
        b"v1\n".as_slice(),
        timestamp.as_bytes(),
        b"\n",
        method.as_bytes(),
        b"\n",
        path.as_bytes(),
        b"\n",
        body,
    ] {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `X-Tsp-Signature` value of a request: `v1=` and the hex HMAC.
pub fn sign(api_key: &[u8], timestamp: i64, method: &str, path: &str, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex(&mac(api_key, &timestamp.to_string(), method, path, body))
    )
}

/// Why a request did not authenticate (for the operator's log; the caller only sees 401).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    MissingHeader,
    UnknownRequestor,
    BadTimestamp,
    StaleTimestamp,
    BadSignature,
}

/// Checks a signature made by [`sign`], in constant time.
pub(crate) fn verify(
    api_key: &Secret<Vec<u8>>,
    timestamp: &str,
    signature: &str,
    method: &str,
    path: &str,
    body: &[u8],
    now: i64,
) -> Result<(), AuthFailure> {
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(AuthFailure::BadTimestamp);
    }
    let at: i64 = timestamp.parse().map_err(|_| AuthFailure::BadTimestamp)?;
    if (now - at).abs() > MAX_SKEW_SECS {
        return Err(AuthFailure::StaleTimestamp);
    }
    let expected = hex(&mac(api_key.expose(), timestamp, method, path, body));
    let given = signature.strip_prefix("v1=").unwrap_or_default();
    if secret::ct_eq(expected.as_bytes(), given.to_ascii_lowercase().as_bytes()) {
        Ok(())
    } else {
        Err(AuthFailure::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_bind_every_part() {
        let key = Secret::new(vec![7u8; 32]);
        let now = 1_795_435_200;
        let sig = sign(key.expose(), now, "POST", "/tsp/v1/tokenize", b"{}");
        assert!(sig.starts_with("v1=") && sig.len() == 67);
        let ts = now.to_string();
        let ok = |ts: &str, sig: &str, m: &str, p: &str, b: &[u8], at: i64| {
            verify(&key, ts, sig, m, p, b, at)
        };
        assert_eq!(
            ok(&ts, &sig, "POST", "/tsp/v1/tokenize", b"{}", now),
            Ok(())
        );
        assert_eq!(
            ok(
                &ts,
                &sig.to_uppercase().replace("V1=", "v1="),
                "POST",
                "/tsp/v1/tokenize",
                b"{}",
                now
            ),
            Ok(())
        );
        let bad = Err(AuthFailure::BadSignature);
        assert_eq!(ok(&ts, &sig, "GET", "/tsp/v1/tokenize", b"{}", now), bad);
        assert_eq!(ok(&ts, &sig, "POST", "/tsp/v1/tokens/x", b"{}", now), bad);
        assert_eq!(ok(&ts, &sig, "POST", "/tsp/v1/tokenize", b"{ }", now), bad);
        assert_eq!(
            ok(&ts, "v1=00", "POST", "/tsp/v1/tokenize", b"{}", now),
            bad
        );
        assert_eq!(
            ok(
                &ts,
                &sig,
                "POST",
                "/tsp/v1/tokenize",
                b"{}",
                now + MAX_SKEW_SECS + 1
            ),
            Err(AuthFailure::StaleTimestamp)
        );
        assert_eq!(
            ok("-1", &sig, "POST", "/tsp/v1/tokenize", b"{}", now),
            Err(AuthFailure::BadTimestamp)
        );
    }
}
