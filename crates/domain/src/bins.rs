//! The network's BIN table: which card numbers are tokens (swapped for an FPAN in the vault) and
//! which are accounts (routed straight to their issuer).

use cards::Pan;

/// What a BIN range holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinKind {
    /// Device tokens (DPANs), issued by the network's token service.
    Token,
    /// Funding accounts (FPANs), issued by a bank.
    Account,
}

/// One range of the table, on the first 8 digits of the PAN (ISO/IEC 7812-1:2017 BINs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinRange {
    /// Lowest 8-digit prefix in the range.
    pub low: u32,
    /// Highest 8-digit prefix in the range.
    pub high: u32,
    /// Tokens or accounts.
    pub kind: BinKind,
    /// The issuer (for accounts) or token service (for tokens) owning the range.
    pub owner: String,
}

/// The BIN table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BinTable {
    ranges: Vec<BinRange>,
}

/// The first 8 digits of a PAN as a number.
pub fn bin8(pan: &Pan) -> u32 {
    pan.expose_digits().bytes().take(8).fold(0u32, |n, d| {
        n.saturating_mul(10)
            .saturating_add(u32::from(d.saturating_sub(b'0')))
    })
}

impl BinTable {
    /// A table from ranges; the narrowest range wins where ranges nest.
    pub fn new(mut ranges: Vec<BinRange>) -> Self {
        ranges.sort_by_key(|r| r.high - r.low.min(r.high));
        Self { ranges }
    }

    /// The range holding `pan`, if any.
    pub fn route(&self, pan: &Pan) -> Option<&BinRange> {
        let b = bin8(pan);
        self.ranges.iter().find(|r| (r.low..=r.high).contains(&b))
    }

    /// Every range.
    pub fn ranges(&self) -> &[BinRange] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_eight_digit_prefix_narrowest_first() {
        let table = BinTable::new(vec![
            BinRange {
                low: 47_000_000,
                high: 47_999_999,
                kind: BinKind::Account,
                owner: "bank".into(),
            },
            BinRange {
                low: 47_617_390,
                high: 47_617_399,
                kind: BinKind::Token,
                owner: "tsp".into(),
            },
        ]);
        let token = Pan::parse("4761739001010010").unwrap();
        assert_eq!(bin8(&token), 47_617_390);
        assert_eq!(table.route(&token).map(|r| r.kind), Some(BinKind::Token));
        let account = Pan::parse("4761731000000043").unwrap();
        assert_eq!(
            table.route(&account).map(|r| r.kind),
            Some(BinKind::Account)
        );
        let other = Pan::parse("5413330089010012").unwrap();
        assert!(table.route(&other).is_none());
    }
}
