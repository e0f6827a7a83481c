//! The card network host: routes by BIN, swaps tokens for card numbers through its vault,
//! validates token cryptograms, blocks replays, and stands in for issuers that do not answer.
#![forbid(unsafe_code)]

mod atc_uses;
mod host;
pub mod vault;

pub use host::{Clock, Network, NetworkConfig, TransactionEvent, run};
