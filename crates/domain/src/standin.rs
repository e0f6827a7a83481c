//! Stand-in processing: what the network does when the issuer does not answer in time.
//!
//! The rule (documented in ARCHITECTURE.md): approve on the issuer's behalf only when the token
//! checks and the cryptogram passed, the amount is at most the stand-in limit for the
//! transaction's currency, and the card has not used up its stand-in allowance since the issuer
//! last answered; otherwise decline with 91 (issuer unavailable). Every stand-in decision is sent
//! to the issuer afterwards as an advice (0120), which the issuer posts idempotently.

use cards::Amount;

use crate::Decline;

/// Stand-in limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StandInRules {
    /// Largest amount approved in stand-in, in minor units of the transaction currency.
    pub max_amount_minor: u64,
    /// Stand-in approvals allowed per card before the issuer answers again.
    pub max_count: u32,
}

impl Default for StandInRules {
    /// 50.00 per transaction, 3 transactions.
    fn default() -> Self {
        Self {
            max_amount_minor: 5_000,
            max_count: 3,
        }
    }
}

/// The facts of a stand-in decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StandInFacts {
    /// The amount.
    pub amount: Amount,
    /// The network validated the cryptogram.
    pub cryptogram_ok: bool,
    /// Stand-in approvals for this card since the issuer last answered.
    pub approvals_since_issuer: u32,
}

/// Approve (`Ok`) or decline in stand-in.
pub fn stand_in(rules: &StandInRules, facts: &StandInFacts) -> Result<(), Decline> {
    if !facts.cryptogram_ok {
        return Err(Decline::CryptogramInvalid);
    }
    if facts.amount.minor() == 0
        || facts.amount.minor() > rules.max_amount_minor
        || facts.approvals_since_issuer >= rules.max_count
    {
        return Err(Decline::IssuerUnavailable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use cards::Currency;

    use super::*;

    #[test]
    fn stand_in_limits() {
        let eur = Currency::lookup("EUR").unwrap();
        let facts = StandInFacts {
            amount: Amount::from_minor(1_000, eur).unwrap(),
            cryptogram_ok: true,
            approvals_since_issuer: 0,
        };
        let rules = StandInRules::default();
        assert_eq!(stand_in(&rules, &facts), Ok(()));
        let big = StandInFacts {
            amount: Amount::from_minor(5_001, eur).unwrap(),
            ..facts
        };
        assert_eq!(stand_in(&rules, &big), Err(Decline::IssuerUnavailable));
        let many = StandInFacts {
            approvals_since_issuer: 3,
            ..facts
        };
        assert_eq!(stand_in(&rules, &many), Err(Decline::IssuerUnavailable));
        let bad = StandInFacts {
            cryptogram_ok: false,
            ..facts
        };
        assert_eq!(stand_in(&rules, &bad), Err(Decline::CryptogramInvalid));
    }
}
