//! Dev-only: in-process simulations and cross-crate property tests (card <-> kernel <-> issuer crypto)
#![forbid(unsafe_code)]
