//! Replay detection on the Application Transaction Counter.
//!
//! The network keeps, per token, the highest ATC it has accepted and a bitmap of the
//! [`AtcWindow::WIDTH`] counters below it. An ATC already accepted is a replay; one older than
//! the window is stale (declined as a replay too: the network cannot tell it apart). Counters may
//! arrive out of order inside the window (taps that went online late), and may jump forward
//! (taps declined before reaching the network still burnt their ATC).

/// Verdict on a presented ATC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtcVerdict {
    /// Never seen and inside (or above) the window: accept, then [`AtcWindow::record`] it.
    Fresh,
    /// Already accepted once.
    Replayed,
    /// Older than the window: cannot be checked, so refused.
    Stale,
}

/// The accepted-ATC window of one token. 11 bytes when stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AtcWindow {
    /// Highest ATC accepted, `None` before the first.
    highest: Option<u16>,
    /// Bit `i` set: ATC `highest - 1 - i` was accepted.
    below: u64,
}

impl AtcWindow {
    /// How many counters below the highest are remembered.
    pub const WIDTH: u16 = 64;

    /// An empty window (no ATC accepted yet).
    pub const fn new() -> Self {
        Self {
            highest: None,
            below: 0,
        }
    }

    /// The highest ATC accepted.
    pub const fn highest(&self) -> Option<u16> {
        self.highest
    }

    /// Judges `atc` without changing the window.
    pub fn check(&self, atc: u16) -> AtcVerdict {
        let Some(high) = self.highest else {
            return AtcVerdict::Fresh;
        };
        if atc > high {
            return AtcVerdict::Fresh;
        }
        if atc == high {
            return AtcVerdict::Replayed;
        }
        let distance = high - atc; // 1..=high
        if distance > Self::WIDTH {
            return AtcVerdict::Stale;
        }
        if self.below & (1u64 << (distance - 1)) != 0 {
            AtcVerdict::Replayed
        } else {
            AtcVerdict::Fresh
        }
    }

    /// Records an accepted ATC (call only after [`Self::check`] said [`AtcVerdict::Fresh`]).
    pub fn record(&mut self, atc: u16) {
        match self.highest {
            None => self.highest = Some(atc),
            Some(high) if atc > high => {
                let shift = u32::from(atc - high);
                // The old highest becomes bit (shift - 1); older bits move up by `shift`.
                let moved = match shift {
                    1..=63 => (self.below << shift) | (1u64 << (shift - 1)),
                    64 => 1u64 << 63,
                    _ => 0,
                };
                self.below = moved;
                self.highest = Some(atc);
            }
            Some(high) if atc < high && high - atc <= Self::WIDTH => {
                self.below |= 1u64 << (high - atc - 1);
            }
            Some(_) => {}
        }
    }

    /// The stored form: a flag byte (1 when an ATC was accepted), the highest, the bitmap.
    pub fn to_bytes(&self) -> [u8; 11] {
        let mut out = [0u8; 11];
        if let Some(h) = self.highest {
            out[0] = 1;
            out[1..3].copy_from_slice(&h.to_be_bytes());
        }
        out[3..].copy_from_slice(&self.below.to_be_bytes());
        out
    }

    /// From the stored form; `None` when malformed.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let [flag, h1, h2, rest @ ..] = bytes else {
            return None;
        };
        let below = u64::from_be_bytes(rest.try_into().ok()?);
        let highest = match flag {
            0 => None,
            1 => Some(u16::from_be_bytes([*h1, *h2])),
            _ => return None,
        };
        Some(Self { highest, below })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn replays_and_stale_counters_are_refused() {
        let mut w = AtcWindow::new();
        assert_eq!(w.check(5), AtcVerdict::Fresh);
        w.record(5);
        assert_eq!(w.check(5), AtcVerdict::Replayed);
        assert_eq!(w.check(4), AtcVerdict::Fresh, "late but never seen");
        w.record(4);
        assert_eq!(w.check(4), AtcVerdict::Replayed);
        w.record(200);
        assert_eq!(w.check(5), AtcVerdict::Stale);
        assert_eq!(w.check(136), AtcVerdict::Fresh);
        assert_eq!(w.check(135), AtcVerdict::Stale);
        assert_eq!(AtcWindow::from_bytes(&w.to_bytes()), Some(w));
        assert_eq!(AtcWindow::from_bytes(&[2; 11]), None);
        assert_eq!(AtcWindow::from_bytes(&[0; 3]), None);
    }

    proptest! {
        /// Against a model (the set of accepted counters), in any order: a counter is accepted
        /// at most once, and every fresh one inside the window is accepted.
        #[test]
        fn never_accepts_twice(atcs in proptest::collection::vec(0u16..300, 1..200)) {
            let mut w = AtcWindow::new();
            let mut accepted = std::collections::BTreeSet::new();
            for atc in atcs {
                let verdict = w.check(atc);
                let high = accepted.iter().next_back().copied();
                let expected = match high {
                    None => AtcVerdict::Fresh,
                    Some(h) if atc > h => AtcVerdict::Fresh,
                    Some(h) if h - atc > AtcWindow::WIDTH => AtcVerdict::Stale,
                    Some(_) if accepted.contains(&atc) => AtcVerdict::Replayed,
                    Some(_) => AtcVerdict::Fresh,
                };
                prop_assert_eq!(verdict, expected, "atc {}", atc);
                if verdict == AtcVerdict::Fresh {
                    w.record(atc);
                    accepted.insert(atc);
                }
                prop_assert_eq!(AtcWindow::from_bytes(&w.to_bytes()), Some(w));
            }
        }
    }
}
