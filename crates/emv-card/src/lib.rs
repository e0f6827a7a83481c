//! The EMV contactless card application, as a sans-I/O state machine.
//!
//! A [`Card`] takes command APDUs as bytes and returns response APDUs as bytes. It never does
//! I/O, never reads a clock and never draws random numbers: everything it needs arrives in the
//! command (the terminal's data) or was set by its owner (personalization, the consumer-device
//! CVM flag, the persistent counters).
//!
//! Paths:
//! * **Visa qVSDC** (Kernel 3): SELECT PPSE, SELECT AID (FCI with PDOL), GET PROCESSING OPTIONS
//!   (the cryptogram is in the format 2 response), READ RECORD per AFL, then optionally EXTERNAL
//!   AUTHENTICATE with the issuer's ARPC.
//! * **Mastercard M/Chip** (Kernel 2): SELECT PPSE, SELECT AID, GET PROCESSING OPTIONS (AIP and
//!   AFL), READ RECORD per AFL, GENERATE AC over CDOL1, then optionally EXTERNAL AUTHENTICATE.
//!
//! **Durability contract.** Whenever [`Output::persist`] is `Some`, the owner must store those
//! counters durably *before* releasing [`Output::response`] to the terminal. The ATC is
//! incremented before any cryptogram is computed, so a crash can burn an ATC but never reuse one.
//!
//! Every malformed or out-of-order command gets the status word ISO 7816-4 / EMV Book 3 name for
//! it; nothing here panics on terminal bytes.
#![forbid(unsafe_code)]

mod iad;
mod machine;
mod profile;
/// The tag dictionary names this crate uses (re-exported for its users and tests).
pub use emv::tags;

pub use machine::{Card, Counters, Output};
pub use profile::{AppState, CardProfile, Scheme, mastercard_cdol1, visa_pdol};

/// The PPSE directory name, `2PAY.SYS.DDF01`.
pub const PPSE: &[u8] = b"2PAY.SYS.DDF01";

#[cfg(test)]
mod tests;
