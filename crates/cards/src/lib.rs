//! Validated card data: [`Pan`] (Luhn-checked on construction, masked everywhere), [`Expiry`],
//! [`Track2`] (tag 57, Track 2 Equivalent Data), [`Amount`] and [`Currency`] (ISO 4217 minor
//! units), [`Date`] and the BCD codings EMV uses for them.
#![forbid(unsafe_code)]

mod amount;
pub mod bcd;
mod date;
mod pan;
mod track2;

pub use amount::{Amount, AmountError, Currency, MAX_MINOR};
pub use date::{Date, DateError, Expiry};
pub use pan::{Pan, PanError, luhn_check_digit, luhn_valid};
pub use track2::{Track2, Track2Error};
