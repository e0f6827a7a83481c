//! Harness integration tests: card <-> kernel <-> issuer simulations, and the three ISO 8583
//! hosts end to end over TCP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod hosts;
mod simulation;
