//! The issuer host: it holds cardholders' accounts and cards, decides authorizations
//! (`domain::decide`), posts each approval durably as a hold in the same transaction that records
//! the response, answers duplicates with the original response, releases holds on reversals,
//! posts the network's stand-in advices, and returns the ARPC the card checks.
//!
//! It speaks ISO 8583 (the ASCII 1987 dialect) on one TCP listener: [`run`].
#![forbid(unsafe_code)]

mod host;
pub mod idv;

pub use host::{Clock, Issuer, IssuerConfig, IssuerKeys, run};
