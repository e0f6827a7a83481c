//! The payment domain, pure: what the issuer decides, what the network checks on a token, how
//! replays are recognised and when the network stands in for an issuer.
//!
//! Nothing here does I/O or reads a clock: hosts pass the facts (stored state, the date, the
//! cryptogram's verdict) and get decisions back as data. Declines are values of [`Decline`],
//! and [`Decline::response_code`] is the one place that maps a decision to ISO 8583 DE 39.
#![forbid(unsafe_code)]

/// The DE 48 (additional data) marker a card network adds when it validated a token's
/// cryptogram on the issuer's behalf: the issuer, which holds no token keys, then skips its own
/// cryptogram check.
pub const NETWORK_VALIDATED_MARKER: &str = "TV=V";

mod atc;
mod bins;
mod decision;
pub mod enrich;
mod issuer;
mod standin;
mod token;

pub use atc::{AtcVerdict, AtcWindow};
pub use bins::{BinKind, BinRange, BinTable, bin8};
pub use decision::{AuthCode, Decline};
pub use issuer::{
    Account, AccountKind, CardStatus, IssuerCard, IssuerFacts, Velocity, VelocityLimits, decide,
};
pub use standin::{StandInFacts, StandInRules, stand_in};
pub use token::{Channel, ChannelSet, TokenControls, TokenFacts, TokenStatus, check_token};
