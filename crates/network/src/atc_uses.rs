//! Which request consumed each of a token's last few ATCs: the durable half of duplicate
//! detection.
//!
//! The network answers a retransmitted authorization (same DE 11, 37, 41 and 42) with its
//! original answer. Its memory of recent answers (`RecentAnswers`) is the fast path, but a
//! restart empties it, and the ATC window alone cannot tell a retransmission from a replay:
//! both present an ATC already consumed. So the token row update that consumes an ATC also
//! records who consumed it: the request's digest (its identity and cryptogram, keyed:
//! `VaultKeys::request_digest`) and when. A request whose ATC was consumed by a request with
//! the same digest, inside the duplicate window, is a retransmission; any other request with a
//! consumed ATC is a replay.
//!
//! Stored form (column `tokens.atc_uses`, opaque to the store): empty when nothing is recorded
//! (a token from before migration 0005, or never used); otherwise a version byte `01` and at
//! most [`AtcUses::MAX`] entries of 14 bytes, oldest first: the ATC (2 bytes, big-endian), the
//! time it was consumed (Unix seconds, 4 bytes, big-endian) and the digest (8 bytes). A
//! malformed value reads as empty, which recognizes no retransmission: it fails closed (59).

use crate::vault::REQUEST_DIGEST_LEN;

/// A request's digest (`VaultKeys::request_digest`).
pub(crate) type RequestDigest = [u8; REQUEST_DIGEST_LEN];

/// One consumed ATC and the request that consumed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AtcUse {
    atc: u16,
    at_unix: u32,
    digest: RequestDigest,
}

/// The uses of one token's last few ATCs, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AtcUses {
    entries: Vec<AtcUse>,
}

const VERSION: u8 = 1;
const ENTRY_LEN: usize = 2 + 4 + REQUEST_DIGEST_LEN;

/// Seconds since the epoch as stored (4 bytes: until 2106; earlier than 1970 reads as 0).
fn stored_seconds(now_unix: i64) -> u32 {
    u32::try_from(now_unix.max(0)).unwrap_or(u32::MAX)
}

impl AtcUses {
    /// Uses kept at most. A retransmission comes within seconds or minutes, and older uses age
    /// out of the window anyway: a token rarely has more than one use to keep.
    pub(crate) const MAX: usize = 4;

    /// From the stored form; empty when it is empty or malformed.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        let Some((&VERSION, body)) = bytes.split_first() else {
            return Self::default();
        };
        if body.len() % ENTRY_LEN != 0 || body.len() / ENTRY_LEN > Self::MAX {
            return Self::default();
        }
        let entries = body
            .chunks_exact(ENTRY_LEN)
            .filter_map(|e| {
                let [a0, a1, t0, t1, t2, t3, digest @ ..] = e else {
                    return None;
                };
                Some(AtcUse {
                    atc: u16::from_be_bytes([*a0, *a1]),
                    at_unix: u32::from_be_bytes([*t0, *t1, *t2, *t3]),
                    digest: digest.try_into().ok()?,
                })
            })
            .collect();
        Self { entries }
    }

    /// The stored form: empty when there is no use.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(1 + ENTRY_LEN * self.entries.len());
        out.push(VERSION);
        for u in &self.entries {
            out.extend_from_slice(&u.atc.to_be_bytes());
            out.extend_from_slice(&u.at_unix.to_be_bytes());
            out.extend_from_slice(&u.digest);
        }
        out
    }

    /// True when `atc` was consumed by the request with `digest` at most `window_secs` before
    /// `now_unix`.
    pub(crate) fn consumed_by(
        &self,
        atc: u16,
        digest: &RequestDigest,
        now_unix: i64,
        window_secs: i64,
    ) -> bool {
        self.entries.iter().any(|u| {
            u.atc == atc
                && now_unix.saturating_sub(i64::from(u.at_unix)) <= window_secs
                && secret::ct_eq(&u.digest, digest)
        })
    }

    /// Records that the request with `digest` consumed `atc` at `now_unix`. Uses older than
    /// `window_secs` are dropped, then the oldest beyond [`Self::MAX`].
    pub(crate) fn record(
        &mut self,
        atc: u16,
        digest: RequestDigest,
        now_unix: i64,
        window_secs: i64,
    ) {
        self.entries.retain(|u| {
            u.atc != atc && now_unix.saturating_sub(i64::from(u.at_unix)) <= window_secs
        });
        self.entries.push(AtcUse {
            atc,
            at_unix: stored_seconds(now_unix),
            digest,
        });
        let excess = self.entries.len().saturating_sub(Self::MAX);
        self.entries.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_435_200;
    const WINDOW: i64 = 600;

    #[test]
    fn a_use_is_matched_by_its_atc_digest_and_time_only() {
        let mut uses = AtcUses::default();
        uses.record(7, [1; 8], NOW, WINDOW);
        assert!(uses.consumed_by(7, &[1; 8], NOW + WINDOW, WINDOW));
        assert!(
            !uses.consumed_by(7, &[2; 8], NOW, WINDOW),
            "another request"
        );
        assert!(!uses.consumed_by(8, &[1; 8], NOW, WINDOW), "another ATC");
        assert!(
            !uses.consumed_by(7, &[1; 8], NOW + WINDOW + 1, WINDOW),
            "past the window"
        );
    }

    #[test]
    fn stored_form_round_trips_and_golden_bytes() {
        let mut uses = AtcUses::default();
        assert_eq!(uses.to_bytes(), Vec::<u8>::new());
        uses.record(0x0102, [0xAA; 8], 0x0A0B_0C0D, WINDOW);
        let bytes = uses.to_bytes();
        assert_eq!(
            bytes,
            [
                &[0x01, 0x01, 0x02, 0x0A, 0x0B, 0x0C, 0x0D][..],
                &[0xAA; 8][..]
            ]
            .concat()
        );
        assert_eq!(AtcUses::from_bytes(&bytes), uses);
        uses.record(0x0103, [0xBB; 8], 0x0A0B_0C0E, WINDOW);
        assert_eq!(uses.to_bytes().len(), 1 + 2 * ENTRY_LEN);
        assert_eq!(AtcUses::from_bytes(&uses.to_bytes()), uses);
    }

    #[test]
    fn malformed_stored_forms_read_as_empty() {
        let mut one = AtcUses::default();
        one.record(1, [1; 8], NOW, WINDOW);
        let good = one.to_bytes();
        let mut wrong_version = good.clone();
        wrong_version[0] = 2;
        let too_many = [&[VERSION][..], &[0; ENTRY_LEN * (AtcUses::MAX + 1)][..]].concat();
        for bad in [
            &[][..],
            &[VERSION][..],
            &good[..good.len() - 1],
            &wrong_version,
            &too_many,
        ] {
            let read = AtcUses::from_bytes(bad);
            assert!(!read.consumed_by(1, &[1; 8], NOW, WINDOW), "{bad:02X?}");
        }
    }

    #[test]
    fn old_uses_age_out_and_at_most_max_are_kept() {
        let mut uses = AtcUses::default();
        uses.record(1, [1; 8], NOW, WINDOW);
        uses.record(2, [2; 8], NOW + WINDOW + 1, WINDOW);
        assert_eq!(uses.entries.len(), 1, "the first aged out");
        for atc in 3..10u16 {
            uses.record(atc, [3; 8], NOW + WINDOW + 2, WINDOW);
        }
        assert_eq!(uses.entries.len(), AtcUses::MAX);
        assert!(uses.consumed_by(9, &[3; 8], NOW + WINDOW + 2, WINDOW));
        assert!(uses.consumed_by(6, &[3; 8], NOW + WINDOW + 2, WINDOW));
        assert!(
            !uses.consumed_by(5, &[3; 8], NOW + WINDOW + 2, WINDOW),
            "oldest dropped"
        );
        assert_eq!(
            uses.to_bytes().len(),
            1 + ENTRY_LEN * AtcUses::MAX,
            "the largest stored form"
        );
    }

    #[test]
    fn times_outside_four_bytes_are_clamped() {
        let mut uses = AtcUses::default();
        uses.record(1, [1; 8], -5, WINDOW);
        assert!(uses.consumed_by(1, &[1; 8], 0, WINDOW));
        uses.record(2, [2; 8], i64::MAX, WINDOW);
        assert_eq!(AtcUses::from_bytes(&uses.to_bytes()), uses);
    }
}
