//! The card network host: routes by BIN, swaps tokens for card numbers through its vault,
//! validates token cryptograms (with the token's key, or for a host card emulation token with
//! the limited-use key of the cryptogram's ATC), blocks replays, and stands in for issuers that
//! do not answer.
#![forbid(unsafe_code)]

mod atc_uses;
mod host;
pub mod vault;

pub use host::{Clock, Network, NetworkConfig, TransactionEvent, run};
