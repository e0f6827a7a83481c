//! The payment domain, pure: what the issuer decides, what the network checks on a token, how
//! replays are recognised and when the network stands in for an issuer.
//!
//! Nothing here does I/O or reads a clock: hosts pass the facts (stored state, the date, the
//! cryptogram's verdict) and get decisions back as data. Declines are values of [`Decline`],
//! and [`Decline::response_code`] is the one place that maps a decision to ISO 8583 DE 39.
#![forbid(unsafe_code)]

mod atc;
mod bins;
mod decision;
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
