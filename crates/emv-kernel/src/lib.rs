//! The EMV contactless terminal kernel, as a sans-I/O state machine: Entry Point (PPSE,
//! candidate list by priority, kernel choice by AID), then Kernel 2 (Mastercard) or Kernel 3
//! (Visa qVSDC), then completion with the issuer's response and ARPC.
//!
//! The kernel emits command APDUs ([`Step::Send`]) and consumes response APDUs
//! ([`Kernel::handle`]); it never touches a reader, a socket or a clock. The transaction date
//! comes in the [`Transaction`], the unpredictable number from an injected [`Rng`].
//!
//! ```text
//! start ─► SELECT PPSE ─► SELECT AID ─► GPO ─► READ RECORD* ─┬─(K3: cryptogram in GPO)─► outcome
//!                                                            └─(K2) GENERATE AC ─────────► outcome
//! outcome = OnlineRequest ─► complete(issuer response) ─► [EXTERNAL AUTHENTICATE] ─► Completed
//! ```
#![forbid(unsafe_code)]

mod config;
mod machine;
mod outcome;

pub use config::{
    AidConfig, KernelId, ReaderLimits, Rng, TerminalConfig, Transaction, TransactionType,
};
pub use machine::{Command, Exchange, Kernel, Step, Transceive};
pub use outcome::{
    ArpcCheck, AuthorizationData, CardData, Completion, Cvm, EndReason, IssuerResponse,
    OnlineRequest, Outcome, TryAnotherInterfaceReason,
};

#[cfg(test)]
mod tests;
