//! Money in minor units with its ISO 4217 currency.

use core::fmt;

use crate::bcd;

/// An ISO 4217 currency: alphabetic code, numeric code and minor-unit exponent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    /// Alphabetic code, e.g. `EUR`.
    pub alpha: &'static str,
    /// Numeric code, e.g. 978 (tag `5F2A` carries it as `n3` in two bytes).
    pub numeric: u16,
    /// Digits after the decimal point (EUR 2, JPY 0, KWD 3).
    pub exponent: u8,
}

/// ISO 4217 currencies, sorted by alphabetic code (a subset: the currencies of the world's
/// larger card markets, and examples of each exponent).
static CURRENCIES: &[Currency] = &[
    c("AED", 784, 2),
    c("ARS", 32, 2),
    c("AUD", 36, 2),
    c("BGN", 975, 2),
    c("BHD", 48, 3),
    c("BRL", 986, 2),
    c("CAD", 124, 2),
    c("CHF", 756, 2),
    c("CLP", 152, 0),
    c("CNY", 156, 2),
    c("COP", 170, 2),
    c("CZK", 203, 2),
    c("DKK", 208, 2),
    c("EGP", 818, 2),
    c("EUR", 978, 2),
    c("GBP", 826, 2),
    c("HKD", 344, 2),
    c("HUF", 348, 2),
    c("IDR", 360, 2),
    c("ILS", 376, 2),
    c("INR", 356, 2),
    c("ISK", 352, 0),
    c("JOD", 400, 3),
    c("JPY", 392, 0),
    c("KES", 404, 2),
    c("KRW", 410, 0),
    c("KWD", 414, 3),
    c("MAD", 504, 2),
    c("MXN", 484, 2),
    c("MYR", 458, 2),
    c("NGN", 566, 2),
    c("NOK", 578, 2),
    c("NZD", 554, 2),
    c("OMR", 512, 3),
    c("PEN", 604, 2),
    c("PHP", 608, 2),
    c("PKR", 586, 2),
    c("PLN", 985, 2),
    c("QAR", 634, 2),
    c("RON", 946, 2),
    c("RSD", 941, 2),
    c("SAR", 682, 2),
    c("SEK", 752, 2),
    c("SGD", 702, 2),
    c("THB", 764, 2),
    c("TND", 788, 3),
    c("TRY", 949, 2),
    c("TWD", 901, 2),
    c("UAH", 980, 2),
    c("USD", 840, 2),
    c("VND", 704, 0),
    c("XOF", 952, 0),
    c("ZAR", 710, 2),
];

const fn c(alpha: &'static str, numeric: u16, exponent: u8) -> Currency {
    Currency {
        alpha,
        numeric,
        exponent,
    }
}

impl Currency {
    /// Looks a currency up by alphabetic (`EUR`, any case) or numeric (`978`) code.
    pub fn lookup(code: &str) -> Option<Currency> {
        let code = code.trim();
        if let Ok(n) = code.parse::<u16>() {
            return Self::from_numeric(n);
        }
        CURRENCIES
            .iter()
            .find(|c| c.alpha.eq_ignore_ascii_case(code))
            .copied()
    }

    /// Looks a currency up by numeric code.
    pub fn from_numeric(numeric: u16) -> Option<Currency> {
        CURRENCIES.iter().find(|c| c.numeric == numeric).copied()
    }

    /// The two-byte `n3` coding of tag `5F2A` / `9F42`.
    pub fn to_n3(self) -> [u8; 2] {
        let v = bcd::encode_n(u64::from(self.numeric), 2).unwrap_or_default();
        [
            v.first().copied().unwrap_or(0),
            v.get(1).copied().unwrap_or(0),
        ]
    }

    /// Every known currency.
    pub fn all() -> &'static [Currency] {
        CURRENCIES
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alpha)
    }
}

/// An amount of money: a count of minor units of a currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Amount {
    minor: u64,
    currency: Currency,
}

/// Why an amount is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountError {
    /// Not a decimal number.
    Format,
    /// More decimal places than the currency has minor units.
    TooPrecise {
        /// The currency's exponent.
        exponent: u8,
    },
    /// More than the 12 digits that `n12` (tag `9F02`) can carry.
    TooLarge,
    /// Unknown currency code.
    UnknownCurrency,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format => f.write_str("amount must be a positive decimal number like 12.34"),
            Self::TooPrecise { exponent } => {
                write!(
                    f,
                    "amount has more than {exponent} decimal places for its currency"
                )
            }
            Self::TooLarge => f.write_str("amount exceeds 12 digits of minor units"),
            Self::UnknownCurrency => f.write_str("unknown ISO 4217 currency code"),
        }
    }
}

impl std::error::Error for AmountError {}

/// Largest amount tag `9F02` (`n12`) can carry.
pub const MAX_MINOR: u64 = 999_999_999_999;

impl Amount {
    /// An amount from minor units.
    pub fn from_minor(minor: u64, currency: Currency) -> Result<Self, AmountError> {
        if minor > MAX_MINOR {
            return Err(AmountError::TooLarge);
        }
        Ok(Self { minor, currency })
    }

    /// Parses a decimal amount (`12.34`, `12`, `0.5`) in `currency`'s major units.
    pub fn parse(s: &str, currency: Currency) -> Result<Self, AmountError> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
            return Err(AmountError::Format);
        }
        if s.ends_with('.') {
            return Err(AmountError::Format);
        }
        let exp = usize::from(currency.exponent);
        if frac.len() > exp {
            return Err(AmountError::TooPrecise {
                exponent: currency.exponent,
            });
        }
        let mut text = String::with_capacity(int.len() + exp);
        text.push_str(int);
        text.push_str(frac);
        text.extend(core::iter::repeat_n('0', exp - frac.len()));
        let text = text.trim_start_matches('0');
        if text.len() > 12 {
            return Err(AmountError::TooLarge);
        }
        let minor = if text.is_empty() {
            0
        } else {
            text.parse().map_err(|_| AmountError::TooLarge)?
        };
        Self::from_minor(minor, currency)
    }

    /// Minor units.
    pub fn minor(self) -> u64 {
        self.minor
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// Tag `9F02`/`9F03` coding: `n12` in six bytes.
    pub fn to_n12(self) -> [u8; 6] {
        let mut out = [0u8; 6];
        // Invariant: minor <= MAX_MINOR, so 12 digits always fit.
        if let Some(v) = bcd::encode_n(self.minor, 6) {
            out.copy_from_slice(&v);
        }
        out
    }

    /// From an `n12` value and a currency.
    pub fn from_n12(bytes: &[u8], currency: Currency) -> Result<Self, AmountError> {
        if bytes.len() != 6 {
            return Err(AmountError::Format);
        }
        let minor = bcd::decode_n(bytes).ok_or(AmountError::Format)?;
        Self::from_minor(minor, currency)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent);
        if exp == 0 {
            return write!(f, "{} {}", self.minor, self.currency.alpha);
        }
        let div = 10u64.pow(exp);
        let width = usize::from(self.currency.exponent);
        write!(
            f,
            "{}.{:0width$} {}",
            self.minor / div,
            self.minor % div,
            self.currency.alpha
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(code: &str) -> Currency {
        Currency::lookup(code).unwrap()
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].alpha < w[1].alpha));
        let mut nums: Vec<_> = CURRENCIES.iter().map(|c| c.numeric).collect();
        nums.sort_unstable();
        nums.dedup();
        assert_eq!(nums.len(), CURRENCIES.len());
    }

    #[test]
    fn parses_by_exponent() {
        let eur = cur("eur");
        assert_eq!(eur.numeric, 978);
        assert_eq!(eur.to_n3(), [0x09, 0x78]);
        assert_eq!(cur("978"), eur);
        assert_eq!(Amount::parse("12.34", eur).unwrap().minor(), 1234);
        assert_eq!(Amount::parse("12.3", eur).unwrap().minor(), 1230);
        assert_eq!(Amount::parse("12", eur).unwrap().minor(), 1200);
        assert_eq!(Amount::parse("0.05", eur).unwrap().minor(), 5);
        assert_eq!(
            Amount::parse("12.345", eur),
            Err(AmountError::TooPrecise { exponent: 2 })
        );
        assert_eq!(Amount::parse("1200", cur("JPY")).unwrap().minor(), 1200);
        assert!(Amount::parse("12.5", cur("JPY")).is_err());
        assert_eq!(Amount::parse("1.234", cur("KWD")).unwrap().minor(), 1234);
        assert_eq!(Amount::parse("-1", eur), Err(AmountError::Format));
        assert_eq!(Amount::parse("1e3", eur), Err(AmountError::Format));
        assert_eq!(Amount::parse("12.", eur), Err(AmountError::Format));
        assert_eq!(Amount::parse("", eur), Err(AmountError::Format));
        assert_eq!(
            Amount::parse("9999999999.99", eur).unwrap().minor(),
            MAX_MINOR
        );
        assert_eq!(
            Amount::parse("10000000000.00", eur),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn n12_and_display() {
        let a = Amount::parse("12.34", cur("EUR")).unwrap();
        assert_eq!(a.to_n12(), [0, 0, 0, 0, 0x12, 0x34]);
        assert_eq!(Amount::from_n12(&a.to_n12(), cur("EUR")).unwrap(), a);
        assert_eq!(a.to_string(), "12.34 EUR");
        assert_eq!(
            Amount::parse("0.05", cur("USD")).unwrap().to_string(),
            "0.05 USD"
        );
        assert_eq!(
            Amount::parse("500", cur("JPY")).unwrap().to_string(),
            "500 JPY"
        );
        assert_eq!(
            Amount::parse("1.005", cur("BHD")).unwrap().to_string(),
            "1.005 BHD"
        );
    }
}
