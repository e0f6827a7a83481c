//! The network's checks on a token (DPAN) before it is swapped for the card number.

use cards::{Date, Expiry};

use crate::Decline;

/// Life-cycle state of a token in the vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenStatus {
    /// Usable.
    Active,
    /// Temporarily unusable (device lost, issuer or holder request); can be resumed.
    Suspended,
    /// Permanently removed.
    Deleted,
}

impl TokenStatus {
    /// Stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// Where a payment was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// At a contactless terminal (POS entry mode 07).
    Contactless,
    /// In a merchant's app, with an in-app cryptogram.
    InApp,
    /// On the web (card not present).
    Ecommerce,
}

impl Channel {
    const fn bit(self) -> u8 {
        match self {
            Self::Contactless => 1,
            Self::InApp => 2,
            Self::Ecommerce => 4,
        }
    }
}

/// A set of channels, stored as a bitmask (contactless 1, in-app 2, e-commerce 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelSet(pub u8);

impl ChannelSet {
    /// Every channel.
    pub const ALL: Self = Self(7);

    /// Only these channels.
    pub fn of(channels: &[Channel]) -> Self {
        Self(channels.iter().fold(0, |m, c| m | c.bit()))
    }

    /// True when `channel` is in the set.
    pub const fn allows(self, channel: Channel) -> bool {
        self.0 & channel.bit() != 0
    }
}

/// Token domain restriction controls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenControls {
    /// Channels the token may be used on.
    pub channels: ChannelSet,
    /// The device the token is bound to, when bound.
    pub device_id: Option<String>,
}

/// What the network knows of the token and the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFacts<'a> {
    /// Vault status.
    pub status: TokenStatus,
    /// Token expiry.
    pub expiry: Expiry,
    /// Controls.
    pub controls: &'a TokenControls,
    /// The channel of this request.
    pub channel: Channel,
    /// The device the request says it came from (in-app), if any.
    pub device_id: Option<&'a str>,
    /// Expiry in the request, if any.
    pub expiry_given: Option<Expiry>,
    /// Business date.
    pub date: Date,
}

/// The network's token checks: status, expiry, domain controls. `Ok(())` lets the request go on
/// to cryptogram validation and detokenization.
pub fn check_token(facts: &TokenFacts<'_>) -> Result<(), Decline> {
    match facts.status {
        TokenStatus::Active => {}
        TokenStatus::Suspended => return Err(Decline::TokenSuspended),
        TokenStatus::Deleted => return Err(Decline::TokenDeleted),
    }
    if facts.expiry.is_expired_on(facts.date) {
        return Err(Decline::CardExpired);
    }
    if facts.expiry_given.is_some_and(|e| e != facts.expiry) {
        return Err(Decline::ExpiryMismatch);
    }
    if !facts.controls.channels.allows(facts.channel) {
        return Err(Decline::ChannelNotAllowed);
    }
    if let (Some(bound), Some(given)) = (&facts.controls.device_id, facts.device_id)
        && bound != given
    {
        return Err(Decline::DeviceMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rules() {
        let controls = TokenControls {
            channels: ChannelSet::of(&[Channel::Contactless]),
            device_id: Some("d1".into()),
        };
        let expiry = Expiry::new(2029, 6).unwrap();
        let ok = TokenFacts {
            status: TokenStatus::Active,
            expiry,
            controls: &controls,
            channel: Channel::Contactless,
            device_id: None,
            expiry_given: Some(expiry),
            date: Date::new(2026, 11, 23).unwrap(),
        };
        assert_eq!(check_token(&ok), Ok(()));
        let t = |f: TokenFacts<'_>| check_token(&f);
        assert_eq!(
            t(TokenFacts {
                status: TokenStatus::Suspended,
                ..ok.clone()
            }),
            Err(Decline::TokenSuspended)
        );
        assert_eq!(
            t(TokenFacts {
                status: TokenStatus::Deleted,
                ..ok.clone()
            }),
            Err(Decline::TokenDeleted)
        );
        assert_eq!(
            t(TokenFacts {
                date: Date::new(2029, 7, 1).unwrap(),
                ..ok.clone()
            }),
            Err(Decline::CardExpired)
        );
        assert_eq!(
            t(TokenFacts {
                channel: Channel::Ecommerce,
                ..ok.clone()
            }),
            Err(Decline::ChannelNotAllowed)
        );
        assert_eq!(
            t(TokenFacts {
                device_id: Some("d2"),
                ..ok.clone()
            }),
            Err(Decline::DeviceMismatch)
        );
        assert_eq!(
            t(TokenFacts {
                device_id: Some("d1"),
                ..ok.clone()
            }),
            Ok(())
        );
        assert_eq!(
            TokenStatus::parse(TokenStatus::Suspended.as_str()),
            Some(TokenStatus::Suspended)
        );
        assert!(ChannelSet::ALL.allows(Channel::InApp));
    }
}
