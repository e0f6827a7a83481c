//! Calendar dates as EMV codes them: transaction date `9A` (YYMMDD), expiry `5F24` (YYMMDD) and
//! the YYMM of Track 2. Two-digit years are 2000-2099.

use core::fmt;

use crate::bcd;

/// A calendar date (2000-01-01 to 2099-12-31).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

/// Why a date or expiry is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateError {
    /// Not of the form the function expects (its doc says which).
    Format,
    /// Month outside 1-12.
    Month,
    /// Day outside the month.
    Day,
    /// Year outside 2000-2099.
    Year,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Format => "date is malformed (expected YYMMDD, or MM/YY for an expiry)",
            Self::Month => "month must be 01 to 12",
            Self::Day => "day is not in that month",
            Self::Year => "year must be 2000 to 2099",
        })
    }
}

impl std::error::Error for DateError {}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

impl Date {
    /// A validated date.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Self, DateError> {
        if !(2000..=2099).contains(&year) {
            return Err(DateError::Year);
        }
        if !(1..=12).contains(&month) {
            return Err(DateError::Month);
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(DateError::Day);
        }
        Ok(Self { year, month, day })
    }

    /// Parses `YYMMDD` text.
    pub fn parse_yymmdd(s: &str) -> Result<Self, DateError> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DateError::Format);
        }
        let n = |r: core::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u8>().ok());
        let (yy, mm, dd) = (n(0..2), n(2..4), n(4..6));
        match (yy, mm, dd) {
            (Some(yy), Some(mm), Some(dd)) => Self::new(2000 + u16::from(yy), mm, dd),
            _ => Err(DateError::Format),
        }
    }

    /// Decodes the 3-byte `n6` YYMMDD coding (tags `9A`, `5F24`, `5F25`).
    pub fn from_n6(bytes: &[u8]) -> Result<Self, DateError> {
        let [yy, mm, dd] = bytes else {
            return Err(DateError::Format);
        };
        let part = |b: u8| bcd::decode_n(&[b]).and_then(|v| u8::try_from(v).ok());
        match (part(*yy), part(*mm), part(*dd)) {
            (Some(y), Some(m), Some(d)) => Self::new(2000 + u16::from(y), m, d),
            _ => Err(DateError::Format),
        }
    }

    /// Encodes as `n6` YYMMDD.
    pub fn to_n6(self) -> [u8; 3] {
        let b = |v: u8| ((v / 10) << 4) | (v % 10);
        // Invariant: year is 2000..=2099, so year - 2000 fits a u8.
        let yy = u8::try_from(self.year - 2000).unwrap_or(0);
        [b(yy), b(self.month), b(self.day)]
    }

    /// The UTC date of a Unix timestamp (seconds since 1970-01-01), for 2000-2099.
    pub fn from_unix_seconds(secs: i64) -> Result<Self, DateError> {
        // Civil date from days since the epoch (Howard Hinnant's days_from_civil inverse).
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let year = u16::try_from(year).map_err(|_| DateError::Year)?;
        let month = u8::try_from(month).map_err(|_| DateError::Month)?;
        let day = u8::try_from(day).map_err(|_| DateError::Day)?;
        Self::new(year, month, day)
    }

    /// The year (2000-2099).
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month (1-12).
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month.
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A card's expiry: the card is valid through the last day of this month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expiry {
    year: u16,
    month: u8,
}

impl Expiry {
    /// A validated expiry.
    pub fn new(year: u16, month: u8) -> Result<Self, DateError> {
        Date::new(year, month, 1).map(|_| Self { year, month })
    }

    /// Parses `MM/YY` or `MM/YYYY` (what a person types).
    pub fn parse_mm_yy(s: &str) -> Result<Self, DateError> {
        let (mm, yy) = s.trim().split_once('/').ok_or(DateError::Format)?;
        let month: u8 = mm.trim().parse().map_err(|_| DateError::Format)?;
        let yy = yy.trim();
        let year: u16 = match yy.len() {
            2 => 2000 + yy.parse::<u16>().map_err(|_| DateError::Format)?,
            4 => yy.parse().map_err(|_| DateError::Format)?,
            _ => return Err(DateError::Format),
        };
        Self::new(year, month)
    }

    /// Parses `YYMM` text (Track 2 order).
    pub fn parse_yymm(s: &str) -> Result<Self, DateError> {
        if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DateError::Format);
        }
        let yy: u16 = s
            .get(0..2)
            .and_then(|t| t.parse().ok())
            .ok_or(DateError::Format)?;
        let mm: u8 = s
            .get(2..4)
            .and_then(|t| t.parse().ok())
            .ok_or(DateError::Format)?;
        Self::new(2000 + yy, mm)
    }

    /// `YYMM` text.
    pub fn yymm(self) -> String {
        format!("{:02}{:02}", self.year % 100, self.month)
    }

    /// The last valid day.
    pub fn last_day(self) -> Date {
        let day = days_in_month(self.year, self.month);
        Date {
            year: self.year,
            month: self.month,
            day,
        }
    }

    /// Tag `5F24` (`n6`, the last day of the month).
    pub fn to_n6(self) -> [u8; 3] {
        self.last_day().to_n6()
    }

    /// From tag `5F24`.
    pub fn from_n6(bytes: &[u8]) -> Result<Self, DateError> {
        let d = Date::from_n6(bytes)?;
        Self::new(d.year, d.month)
    }

    /// True when `today` is after the last valid day.
    pub fn is_expired_on(self, today: Date) -> bool {
        today > self.last_day()
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month.
    pub fn month(self) -> u8 {
        self.month
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}/{:02}", self.month, self.year % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let d = Date::parse_yymmdd("261123").unwrap();
        assert_eq!(d.to_n6(), [0x26, 0x11, 0x23]);
        assert_eq!(Date::from_n6(&[0x26, 0x11, 0x23]).unwrap(), d);
        assert_eq!(Date::parse_yymmdd("240229").unwrap().day(), 29);
        assert_eq!(Date::parse_yymmdd("250229"), Err(DateError::Day));
        assert_eq!(Date::parse_yymmdd("251301"), Err(DateError::Month));
        assert_eq!(Date::parse_yymmdd("25130"), Err(DateError::Format));
        assert_eq!(Date::from_n6(&[0x26, 0x1A, 0x01]), Err(DateError::Format));
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(
            Date::from_unix_seconds(946_684_800),
            Ok(Date::new(2000, 1, 1).unwrap())
        );
        // 2026-11-23T13:00:00Z
        assert_eq!(
            Date::from_unix_seconds(1_795_438_800),
            Ok(Date::new(2026, 11, 23).unwrap())
        );
        assert_eq!(
            Date::from_unix_seconds(951_782_400),
            Ok(Date::new(2000, 2, 29).unwrap())
        );
        assert_eq!(Date::from_unix_seconds(0), Err(DateError::Year));
    }

    #[test]
    fn expiry() {
        let e = Expiry::parse_mm_yy("02/28").unwrap();
        assert_eq!(e.yymm(), "2802");
        assert_eq!(e.to_n6(), [0x28, 0x02, 0x29]);
        assert_eq!(Expiry::from_n6(&[0x28, 0x02, 0x29]).unwrap(), e);
        assert_eq!(Expiry::parse_yymm("2802").unwrap(), e);
        assert_eq!(Expiry::parse_mm_yy("2/2028").unwrap(), e);
        assert!(Expiry::parse_mm_yy("13/28").is_err());
        assert!(Expiry::parse_mm_yy("1228").is_err());
        assert!(!e.is_expired_on(Date::new(2028, 2, 29).unwrap()));
        assert!(e.is_expired_on(Date::new(2028, 3, 1).unwrap()));
        assert_eq!(e.to_string(), "02/28");
    }
}
