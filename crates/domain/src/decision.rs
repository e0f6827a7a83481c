//! Declines as data, and their one mapping to ISO 8583 DE 39 response codes.

use core::fmt;

/// Why an authorization is declined. Full-phrase variants, in the order the checks run; each
/// maps to exactly one DE 39 code in [`Decline::response_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decline {
    /// The message could not be understood (missing or malformed field).
    FormatError,
    /// The same request (STAN, RRN, terminal, merchant) was already processed.
    DuplicateTransmission,
    /// The acquirer reversed this authorization before it arrived (it timed out on its way).
    AlreadyReversed,
    /// No card or token with this number.
    CardNotFound,
    /// The card (FPAN) is blocked by its issuer.
    CardBlocked,
    /// The card was reported lost or stolen.
    CardLostOrStolen,
    /// The token is suspended (device lost, issuer or holder request).
    TokenSuspended,
    /// The token was deleted.
    TokenDeleted,
    /// The card or token is past its expiry date.
    CardExpired,
    /// The expiry date in the request does not match the card's.
    ExpiryMismatch,
    /// The token may not be used on this channel (contactless, in-app, e-commerce).
    ChannelNotAllowed,
    /// The token is bound to another device.
    DeviceMismatch,
    /// An HCE token's cryptogram has no limited-use key to verify with: no key was issued for
    /// its ATC, or the key was revoked (a newer batch superseded it, or the token was deleted)
    /// or has expired. The device must replenish its keys.
    LimitedUseKeyInvalid,
    /// The application cryptogram does not verify.
    CryptogramInvalid,
    /// The ATC was already used, or is too far behind the highest one seen: a replay.
    AtcReplayed,
    /// Chip data is required here but absent.
    ChipDataMissing,
    /// The amount is zero or not representable.
    InvalidAmount,
    /// The transaction currency is not the account's and no conversion applies.
    CurrencyNotSupported,
    /// Too many authorizations in the velocity window.
    VelocityCountExceeded,
    /// Too much spent in the velocity window.
    VelocityAmountExceeded,
    /// Not enough available balance or credit.
    InsufficientFunds,
    /// The account is closed.
    AccountClosed,
    /// The issuer did not answer and stand-in rules do not allow an approval.
    IssuerUnavailable,
    /// An internal failure; nothing was posted.
    SystemMalfunction,
}

impl Decline {
    /// The ISO 8583 (1987) DE 39 response code, two ASCII characters.
    pub const fn response_code(self) -> [u8; 2] {
        match self {
            Self::FormatError => *b"30",
            Self::DuplicateTransmission => *b"94",
            Self::AlreadyReversed => *b"12",
            Self::CardNotFound => *b"14",
            Self::CardBlocked
            | Self::CardLostOrStolen
            | Self::TokenSuspended
            | Self::AccountClosed => *b"62",
            Self::TokenDeleted => *b"14",
            Self::CardExpired | Self::ExpiryMismatch => *b"54",
            Self::ChannelNotAllowed | Self::DeviceMismatch => *b"57",
            Self::LimitedUseKeyInvalid => *b"63",
            Self::CryptogramInvalid | Self::ChipDataMissing => *b"05",
            Self::AtcReplayed => *b"59",
            Self::InvalidAmount => *b"13",
            Self::CurrencyNotSupported => *b"12",
            Self::VelocityCountExceeded => *b"65",
            Self::VelocityAmountExceeded => *b"61",
            Self::InsufficientFunds => *b"51",
            Self::IssuerUnavailable => *b"91",
            Self::SystemMalfunction => *b"96",
        }
    }

    /// A short reason for receipts, logs and the terminal's display.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::FormatError => "format error",
            Self::DuplicateTransmission => "duplicate transmission",
            Self::AlreadyReversed => "already reversed by the acquirer",
            Self::CardNotFound => "unknown card number",
            Self::CardBlocked => "card blocked by the issuer",
            Self::CardLostOrStolen => "card reported lost or stolen",
            Self::TokenSuspended => "token suspended",
            Self::TokenDeleted => "token deleted",
            Self::CardExpired => "card expired",
            Self::ExpiryMismatch => "expiry date does not match",
            Self::ChannelNotAllowed => "not allowed on this channel",
            Self::DeviceMismatch => "token bound to another device",
            Self::LimitedUseKeyInvalid => "no valid limited-use key for this transaction counter",
            Self::CryptogramInvalid => "cryptogram invalid",
            Self::AtcReplayed => "replayed transaction counter",
            Self::ChipDataMissing => "chip data missing",
            Self::InvalidAmount => "invalid amount",
            Self::CurrencyNotSupported => "currency not supported",
            Self::VelocityCountExceeded => "too many transactions",
            Self::VelocityAmountExceeded => "amount limit exceeded",
            Self::InsufficientFunds => "insufficient funds",
            Self::AccountClosed => "account closed",
            Self::IssuerUnavailable => "issuer unavailable",
            Self::SystemMalfunction => "system malfunction",
        }
    }

    /// Every decline, in declaration order.
    pub const ALL: [Decline; 24] = [
        Self::FormatError,
        Self::DuplicateTransmission,
        Self::AlreadyReversed,
        Self::CardNotFound,
        Self::CardBlocked,
        Self::CardLostOrStolen,
        Self::TokenSuspended,
        Self::TokenDeleted,
        Self::CardExpired,
        Self::ExpiryMismatch,
        Self::ChannelNotAllowed,
        Self::DeviceMismatch,
        Self::LimitedUseKeyInvalid,
        Self::CryptogramInvalid,
        Self::AtcReplayed,
        Self::ChipDataMissing,
        Self::InvalidAmount,
        Self::CurrencyNotSupported,
        Self::VelocityCountExceeded,
        Self::VelocityAmountExceeded,
        Self::InsufficientFunds,
        Self::AccountClosed,
        Self::IssuerUnavailable,
        Self::SystemMalfunction,
    ];
}

impl fmt::Display for Decline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.response_code();
        write!(
            f,
            "{} ({}{})",
            self.reason(),
            char::from(code[0]),
            char::from(code[1])
        )
    }
}

/// A six-character authorization code (DE 38), upper-case letters and digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuthCode(pub [u8; 6]);

impl AuthCode {
    /// The code for the `n`th approval: base-36, zero-padded, so codes are unique per issuer
    /// until 36^6 (2.2 billion) approvals.
    pub fn from_sequence(n: u64) -> Self {
        const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut out = [b'0'; 6];
        let mut v = n;
        for slot in out.iter_mut().rev() {
            let d = usize::try_from(v % 36).unwrap_or(0);
            *slot = DIGITS[d];
            v /= 36;
        }
        Self(out)
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("000000")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decline_has_a_two_digit_code_and_a_reason() {
        for d in Decline::ALL {
            let code = d.response_code();
            assert!(code.iter().all(u8::is_ascii_digit), "{d:?}");
            assert_ne!(&code, b"00", "{d:?} must not look approved");
            assert!(!d.reason().is_empty());
        }
        assert_eq!(
            Decline::InsufficientFunds.to_string(),
            "insufficient funds (51)"
        );
    }

    #[test]
    fn auth_codes_are_base36() {
        assert_eq!(AuthCode::from_sequence(0).as_str(), "000000");
        assert_eq!(AuthCode::from_sequence(35).as_str(), "00000Z");
        assert_eq!(AuthCode::from_sequence(36).as_str(), "000010");
        assert_ne!(AuthCode::from_sequence(1), AuthCode::from_sequence(2));
    }
}
