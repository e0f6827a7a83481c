//! Limited-use keys (LUKs) of host card emulation (HCE) tokens, as the vault records them:
//! which keys a token was issued, the ATCs each one covers, until when, and whether a newer
//! batch revoked it. Never the keys themselves: a LUK is derived from the token's ICC master key
//! and its index (`emv_crypto::derive_limited_use_key`) by whoever needs it, the token service
//! to send it to the device, the network to verify a cryptogram.
//!
//! The rules of a token's keys, checked by the store whatever the caller decides:
//!
//! - indexes are consecutive over the token's life, the first is 1;
//! - ATC ranges follow each other without gap or overlap over the token's life, the first
//!   starts at ATC 1, none goes past 65535 (so one ATC is covered by at most one key ever);
//! - issuing a batch revokes every earlier key of the token, in the same transaction;
//! - rows are never deleted, so the highest index and ATC ever issued stay known.
//!
//! [`crate::Store::tsp_issue_limited_use_keys`] issues a batch (the SQL lives with the token
//! service's in `tokenization.rs`); [`crate::Store::limited_use_key`] is the network's lookup
//! by ATC.

use crate::StoreError;
use crate::rows::Get;

/// The highest ATC: the counter is two bytes.
const ATC_MAX: u16 = u16::MAX;

/// One limited-use key of an HCE token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitedUseKeyRow {
    /// The token's unique reference.
    pub tur: String,
    /// The key's index: the LUK is `derive_limited_use_key(MK-AC, key_index)`. From 1,
    /// consecutive over the token's life.
    pub key_index: u32,
    /// The first ATC the key may be used with.
    pub atc_from: u16,
    /// The last ATC the key may be used with (`atc_from <= atc_to`).
    pub atc_to: u16,
    /// When it was issued, Unix seconds.
    pub issued_at_unix: i64,
    /// From this time on (Unix seconds) the key no longer verifies.
    pub expires_at_unix: i64,
    /// Superseded by a newer batch, or its token was deleted.
    pub revoked: bool,
}

impl LimitedUseKeyRow {
    /// True when `atc` is in the key's range.
    pub fn covers(&self, atc: u16) -> bool {
        (self.atc_from..=self.atc_to).contains(&atc)
    }

    /// True when the key may verify a cryptogram at `now_unix`: not revoked, not expired.
    pub fn usable_at(&self, now_unix: i64) -> bool {
        !self.revoked && now_unix < self.expires_at_unix
    }
}

/// Where a token's limited-use keys stand, loaded inside the transaction that issues the next
/// batch (the token's row is locked, so concurrent batches of one token see each other).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitedUseKeyState {
    /// The token's unique reference.
    pub tur: String,
    /// The highest index ever issued to the token; 0 before its first batch.
    pub last_index: u32,
    /// The highest ATC any of its keys ever covered; 0 before its first batch.
    pub last_atc: u16,
}

impl LimitedUseKeyState {
    /// ATCs no key has covered yet: the batches the token can still get before it must be
    /// provisioned again.
    pub fn atcs_left(&self) -> u16 {
        ATC_MAX - self.last_atc
    }

    /// The next batch: `count` keys of `atcs_per_key` ATCs each (0 counts as 1), indexes from
    /// `last_index + 1`, ranges from `last_atc + 1`, each key valid from `issued_at_unix` until
    /// `expires_at_unix`. Cut short at ATC 65535: the last key may cover fewer ATCs and the
    /// batch may hold fewer keys; empty once every ATC was issued ([`Self::atcs_left`] is 0).
    pub fn next_batch(
        &self,
        count: u32,
        atcs_per_key: u16,
        issued_at_unix: i64,
        expires_at_unix: i64,
    ) -> Vec<LimitedUseKeyRow> {
        let per_key = atcs_per_key.max(1);
        let mut batch = Vec::new();
        let mut index = self.last_index;
        let mut last_atc = self.last_atc;
        for _ in 0..count {
            let (Some(next_index), Some(atc_from)) =
                (index.checked_add(1), last_atc.checked_add(1))
            else {
                break;
            };
            let atc_to = atc_from.saturating_add(per_key - 1);
            batch.push(LimitedUseKeyRow {
                tur: self.tur.clone(),
                key_index: next_index,
                atc_from,
                atc_to,
                issued_at_unix,
                expires_at_unix,
                revoked: false,
            });
            index = next_index;
            last_atc = atc_to;
        }
        batch
    }

    /// Refuses a batch that does not continue the token's keys exactly (see the module docs):
    /// the store writes nothing for it.
    pub(crate) fn check(&self, batch: &[LimitedUseKeyRow]) -> Result<(), StoreError> {
        let refuse = |reason| Err(StoreError::InvalidDecision { reason });
        if batch.is_empty() {
            return refuse("an empty batch of limited-use keys");
        }
        let (mut index, mut last_atc) = (self.last_index, self.last_atc);
        for key in batch {
            if key.tur != self.tur {
                return refuse("a limited-use key of another token");
            }
            if Some(key.key_index) != index.checked_add(1) {
                return refuse("limited-use key indexes must follow the token's last one");
            }
            if Some(key.atc_from) != last_atc.checked_add(1) || key.atc_to < key.atc_from {
                return refuse("limited-use key ATC ranges must follow the token's last one");
            }
            if key.revoked {
                return refuse("a new limited-use key cannot be revoked");
            }
            (index, last_atc) = (key.key_index, key.atc_to);
        }
        Ok(())
    }
}

pub(crate) fn key_from<R: Get>(r: &R) -> Result<LimitedUseKeyRow, StoreError> {
    let atc = |col| u16::try_from(r.i32(col)?).map_err(|_| StoreError::Corrupt { column: col });
    Ok(LimitedUseKeyRow {
        tur: r.text("tur")?,
        key_index: u32::try_from(r.i32("key_index")?).map_err(|_| StoreError::Corrupt {
            column: "key_index",
        })?,
        atc_from: atc("atc_from")?,
        atc_to: atc("atc_to")?,
        issued_at_unix: r.i64("issued_at_unix")?,
        expires_at_unix: r.i64("expires_at_unix")?,
        revoked: r.boolean("revoked")?,
    })
}

pub(crate) fn state_from<R: Get>(tur: &str, r: &R) -> Result<LimitedUseKeyState, StoreError> {
    Ok(LimitedUseKeyState {
        tur: tur.to_owned(),
        last_index: u32::try_from(r.i32("last_index")?).map_err(|_| StoreError::Corrupt {
            column: "key_index",
        })?,
        last_atc: u16::try_from(r.i32("last_atc")?)
            .map_err(|_| StoreError::Corrupt { column: "atc_to" })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(last_index: u32, last_atc: u16) -> LimitedUseKeyState {
        LimitedUseKeyState {
            tur: "T".to_owned(),
            last_index,
            last_atc,
        }
    }

    #[test]
    fn batches_continue_indexes_and_ranges() {
        let batch = state(0, 0).next_batch(3, 5, 10, 20);
        let ranges: Vec<_> = batch
            .iter()
            .map(|k| (k.key_index, k.atc_from, k.atc_to))
            .collect();
        assert_eq!(ranges, [(1, 1, 5), (2, 6, 10), (3, 11, 15)]);
        assert!(state(0, 0).check(&batch).is_ok());
        let next = state(3, 15).next_batch(1, 5, 10, 20);
        assert_eq!((next[0].key_index, next[0].atc_from), (4, 16));
        // Zero ATCs a key is one.
        assert_eq!(state(0, 0).next_batch(1, 0, 0, 1)[0].atc_to, 1);
    }

    #[test]
    fn batches_stop_at_the_last_atc() {
        let batch = state(9, 65_530).next_batch(4, 4, 0, 1);
        let ranges: Vec<_> = batch.iter().map(|k| (k.atc_from, k.atc_to)).collect();
        assert_eq!(ranges, [(65_531, 65_534), (65_535, 65_535)]);
        assert_eq!(state(11, ATC_MAX).atcs_left(), 0);
        assert!(state(11, ATC_MAX).next_batch(4, 5, 0, 1).is_empty());
    }

    #[test]
    fn batches_that_do_not_continue_are_refused() {
        let good = state(2, 10).next_batch(2, 5, 0, 1);
        assert!(state(2, 10).check(&good).is_ok());
        assert!(state(2, 11).check(&good).is_err(), "ranges overlap");
        assert!(state(1, 10).check(&good).is_err(), "an index is skipped");
        assert!(state(2, 10).check(&[]).is_err());
        let mut gap = good.clone();
        gap[1].atc_from += 1;
        assert!(state(2, 10).check(&gap).is_err());
        let mut other = good.clone();
        other[0].tur = "U".to_owned();
        assert!(state(2, 10).check(&other).is_err());
        let mut backwards = good;
        backwards[0].atc_to = backwards[0].atc_from - 1;
        assert!(state(2, 10).check(&backwards).is_err());
    }

    #[test]
    fn keys_cover_their_range_until_they_expire() {
        let key = &state(0, 0).next_batch(1, 5, 100, 200)[0];
        assert!(key.covers(1) && key.covers(5) && !key.covers(6) && !key.covers(0));
        assert!(key.usable_at(199) && !key.usable_at(200));
        let revoked = LimitedUseKeyRow {
            revoked: true,
            ..key.clone()
        };
        assert!(!revoked.usable_at(150));
    }
}
