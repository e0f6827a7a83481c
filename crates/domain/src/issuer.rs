//! The issuer's authorization decision.
//!
//! Order of checks (each first failure is the answer): card status, expiry, cryptogram,
//! currency, amount, velocity, funds. The host loads the facts, calls [`decide`], and on
//! approval posts a hold of the amount in the same durable transaction that records the
//! response (so a duplicate is answered from the record and never posted twice).

use cards::{Amount, Currency, Date, Expiry};

use crate::Decline;

/// Life-cycle state of a card (FPAN) at its issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardStatus {
    /// Usable.
    Active,
    /// Blocked by the issuer.
    Blocked,
    /// Reported lost or stolen.
    LostOrStolen,
}

/// What the issuer knows of a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuerCard {
    /// Status.
    pub status: CardStatus,
    /// Expiry.
    pub expiry: Expiry,
}

/// Credit line or debit account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// A credit account with this limit; `balance_minor` is what is owed.
    Credit {
        /// Credit limit in minor units.
        limit_minor: u64,
    },
    /// A debit account; `balance_minor` is the money in it.
    Debit,
}

/// An account and what is already committed on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// Credit or debit.
    pub kind: AccountKind,
    /// Account currency.
    pub currency: Currency,
    /// Owed (credit) or held (debit) amount, in minor units of `currency`.
    pub balance_minor: u64,
    /// Sum of open holds (approved authorizations not yet cleared or reversed).
    pub holds_minor: u64,
    /// False once the account is closed.
    pub open: bool,
}

impl Account {
    /// Available to spend, in minor units.
    pub fn available_minor(&self) -> u64 {
        match self.kind {
            AccountKind::Credit { limit_minor } => limit_minor
                .saturating_sub(self.balance_minor)
                .saturating_sub(self.holds_minor),
            AccountKind::Debit => self.balance_minor.saturating_sub(self.holds_minor),
        }
    }
}

/// Recent approvals on the card, over the window of [`VelocityLimits`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Velocity {
    /// Approvals in the window.
    pub count: u32,
    /// Amount approved in the window, minor units of the account currency.
    pub amount_minor: u64,
}

/// Per-card velocity limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VelocityLimits {
    /// Window length in seconds (the host counts approvals inside it).
    pub window_secs: u64,
    /// At most this many approvals per window.
    pub max_count: u32,
    /// At most this much per window, minor units.
    pub max_amount_minor: u64,
}

impl Default for VelocityLimits {
    /// 20 approvals or 2 000.00 per 24 hours.
    fn default() -> Self {
        Self {
            window_secs: 86_400,
            max_count: 20,
            max_amount_minor: 200_000,
        }
    }
}

/// The request as the issuer sees it (after the network detokenized it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuerFacts {
    /// Amount and currency (DE 4, DE 49).
    pub amount: Amount,
    /// Expiry sent in the request (DE 14 or Track 2), if any.
    pub expiry_given: Option<Expiry>,
    /// The business date of the transaction.
    pub date: Date,
    /// The cryptogram's verdict: `Some(true)` verified, `Some(false)` failed, `None` when the
    /// network already validated it on the issuer's behalf (token cryptograms) or the channel
    /// has none.
    pub cryptogram_ok: Option<bool>,
}

/// The issuer's decision: `Ok(())` approves (the host then holds the amount).
pub fn decide(
    card: &IssuerCard,
    account: &Account,
    velocity: &Velocity,
    limits: &VelocityLimits,
    facts: &IssuerFacts,
) -> Result<(), Decline> {
    match card.status {
        CardStatus::Active => {}
        CardStatus::Blocked => return Err(Decline::CardBlocked),
        CardStatus::LostOrStolen => return Err(Decline::CardLostOrStolen),
    }
    if !account.open {
        return Err(Decline::AccountClosed);
    }
    if card.expiry.is_expired_on(facts.date) {
        return Err(Decline::CardExpired);
    }
    if facts.expiry_given.is_some_and(|e| e != card.expiry) {
        return Err(Decline::ExpiryMismatch);
    }
    if facts.cryptogram_ok == Some(false) {
        return Err(Decline::CryptogramInvalid);
    }
    if facts.amount.currency() != account.currency {
        return Err(Decline::CurrencyNotSupported);
    }
    let amount = facts.amount.minor();
    if amount == 0 {
        return Err(Decline::InvalidAmount);
    }
    if velocity.count >= limits.max_count {
        return Err(Decline::VelocityCountExceeded);
    }
    if velocity.amount_minor.saturating_add(amount) > limits.max_amount_minor {
        return Err(Decline::VelocityAmountExceeded);
    }
    if amount > account.available_minor() {
        return Err(Decline::InsufficientFunds);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::lookup("EUR").unwrap()
    }

    fn base() -> (IssuerCard, Account, Velocity, VelocityLimits, IssuerFacts) {
        let expiry = Expiry::new(2030, 12).unwrap();
        (
            IssuerCard {
                status: CardStatus::Active,
                expiry,
            },
            Account {
                kind: AccountKind::Credit {
                    limit_minor: 100_000,
                },
                currency: eur(),
                balance_minor: 20_000,
                holds_minor: 5_000,
                open: true,
            },
            Velocity::default(),
            VelocityLimits::default(),
            IssuerFacts {
                amount: Amount::from_minor(1_234, eur()).unwrap(),
                expiry_given: Some(expiry),
                date: Date::new(2026, 11, 23).unwrap(),
                cryptogram_ok: Some(true),
            },
        )
    }

    #[test]
    fn approves_within_means() {
        let (c, a, v, l, f) = base();
        assert_eq!(a.available_minor(), 75_000);
        assert_eq!(decide(&c, &a, &v, &l, &f), Ok(()));
    }

    #[test]
    fn each_rule_declines_in_order() {
        let (c, a, v, l, f) = base();
        let blocked = IssuerCard {
            status: CardStatus::Blocked,
            ..c
        };
        assert_eq!(decide(&blocked, &a, &v, &l, &f), Err(Decline::CardBlocked));
        let lost = IssuerCard {
            status: CardStatus::LostOrStolen,
            ..c
        };
        assert_eq!(
            decide(&lost, &a, &v, &l, &f),
            Err(Decline::CardLostOrStolen)
        );
        let closed = Account { open: false, ..a };
        assert_eq!(decide(&c, &closed, &v, &l, &f), Err(Decline::AccountClosed));
        let late = IssuerFacts {
            date: Date::new(2031, 1, 1).unwrap(),
            ..f
        };
        assert_eq!(decide(&c, &a, &v, &l, &late), Err(Decline::CardExpired));
        let wrong_expiry = IssuerFacts {
            expiry_given: Some(Expiry::new(2029, 1).unwrap()),
            ..f
        };
        assert_eq!(
            decide(&c, &a, &v, &l, &wrong_expiry),
            Err(Decline::ExpiryMismatch)
        );
        let bad_ac = IssuerFacts {
            cryptogram_ok: Some(false),
            ..f
        };
        assert_eq!(
            decide(&c, &a, &v, &l, &bad_ac),
            Err(Decline::CryptogramInvalid)
        );
        let usd = IssuerFacts {
            amount: Amount::from_minor(100, Currency::lookup("USD").unwrap()).unwrap(),
            ..f
        };
        assert_eq!(
            decide(&c, &a, &v, &l, &usd),
            Err(Decline::CurrencyNotSupported)
        );
        let zero = IssuerFacts {
            amount: Amount::from_minor(0, eur()).unwrap(),
            ..f
        };
        assert_eq!(decide(&c, &a, &v, &l, &zero), Err(Decline::InvalidAmount));
        let busy = Velocity {
            count: 20,
            amount_minor: 0,
        };
        assert_eq!(
            decide(&c, &a, &busy, &l, &f),
            Err(Decline::VelocityCountExceeded)
        );
        let spent = Velocity {
            count: 1,
            amount_minor: 199_000,
        };
        assert_eq!(
            decide(&c, &a, &spent, &l, &f),
            Err(Decline::VelocityAmountExceeded)
        );
        let big = IssuerFacts {
            amount: Amount::from_minor(75_001, eur()).unwrap(),
            ..f
        };
        let roomy = VelocityLimits {
            max_amount_minor: u64::MAX,
            ..l
        };
        assert_eq!(
            decide(&c, &a, &v, &roomy, &big),
            Err(Decline::InsufficientFunds)
        );
        let exact = IssuerFacts {
            amount: Amount::from_minor(75_000, eur()).unwrap(),
            ..f
        };
        assert_eq!(decide(&c, &a, &v, &roomy, &exact), Ok(()));
    }

    #[test]
    fn debit_accounts_spend_their_balance() {
        let (c, _, v, l, f) = base();
        let debit = Account {
            kind: AccountKind::Debit,
            currency: eur(),
            balance_minor: 1_500,
            holds_minor: 300,
            open: true,
        };
        assert_eq!(debit.available_minor(), 1_200);
        assert_eq!(
            decide(&c, &debit, &v, &l, &f),
            Err(Decline::InsufficientFunds)
        );
        let small = IssuerFacts {
            amount: Amount::from_minor(1_200, eur()).unwrap(),
            ..f
        };
        assert_eq!(decide(&c, &debit, &v, &l, &small), Ok(()));
    }
}
