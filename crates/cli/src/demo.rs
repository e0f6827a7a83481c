//! Demo defaults: documented test material only, never production keys or real card numbers.
//!
//! * Issuer master key `0123456789ABCDEFFEDCBA9876543210`: the classic public test key of EMV
//!   and payment-HSM documentation.
//! * Visa PAN `4761739001010010`: Visa's published contactless test card number.
//! * Mastercard PAN `5413330089010012`: Mastercard's published M/Chip test card number.

use cards::{Expiry, Pan};
use emv_card::Scheme;

/// The demo issuer master key (hex): the same as the demo world's issuer.
pub(crate) const ISSUER_MASTER_KEY_HEX: &str = harness::demo::ISSUER_IMK_HEX;

/// The demo PAN for a scheme.
pub(crate) fn pan(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Visa => "4761739001010010",
        Scheme::Mastercard => "5413330089010012",
    }
}

/// The demo expiry, December 2030.
pub(crate) fn expiry() -> anyhow::Result<Expiry> {
    Ok(Expiry::new(2030, 12)?)
}

/// Parses the given PAN, or the scheme's demo PAN.
pub(crate) fn parse_pan(given: Option<&str>, scheme: Scheme) -> anyhow::Result<Pan> {
    let text = given.unwrap_or(pan(scheme));
    Pan::parse(text).map_err(|e| anyhow::anyhow!("--pan: {e}"))
}
