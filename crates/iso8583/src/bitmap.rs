//! The primary and secondary bitmaps (ISO 8583:1987 section 4.3): bit `n` set means data
//! element `n` is present; bit 1 means a secondary bitmap follows.

use core::fmt;

/// Bits 1 to 128, most significant bit of the first byte first. Bit 1 (the secondary bitmap
/// flag) is an ordinary bit here: [`Message::bitmap`](crate::Message::bitmap) sets it when a
/// field above 64 is present.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Bitmap([u8; 16]);

impl Bitmap {
    /// No bits set.
    pub const fn new() -> Self {
        Self([0; 16])
    }

    /// From the primary and secondary bitmap bytes.
    pub fn from_parts(primary: [u8; 8], secondary: [u8; 8]) -> Self {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&primary);
        bytes[8..].copy_from_slice(&secondary);
        Self(bytes)
    }

    /// Byte index and mask of bit `n`, for `n` in 1..=128.
    fn position(n: u8) -> Option<(usize, u8)> {
        let i = usize::from(n.checked_sub(1)?);
        (i < 128).then(|| (i / 8, 0x80 >> (i % 8)))
    }

    /// Sets bit `n`; returns false (and changes nothing) when `n` is not in 1..=128.
    pub fn set(&mut self, n: u8) -> bool {
        match Self::position(n).and_then(|(i, mask)| Some((self.0.get_mut(i)?, mask))) {
            Some((byte, mask)) => {
                *byte |= mask;
                true
            }
            None => false,
        }
    }

    /// Clears bit `n` (no effect outside 1..=128).
    pub fn clear(&mut self, n: u8) {
        if let Some((byte, mask)) =
            Self::position(n).and_then(|(i, mask)| Some((self.0.get_mut(i)?, mask)))
        {
            *byte &= !mask;
        }
    }

    /// True when bit `n` is set (false outside 1..=128).
    pub fn is_set(&self, n: u8) -> bool {
        Self::position(n)
            .and_then(|(i, mask)| Some(self.0.get(i)? & mask != 0))
            .unwrap_or(false)
    }

    /// True when bit 1 is set: a secondary bitmap follows the primary one.
    pub fn has_secondary(&self) -> bool {
        self.is_set(1)
    }

    /// The set bits, in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (1..=128u8).filter(|n| self.is_set(*n))
    }

    /// The primary bitmap (bits 1-64).
    pub fn primary(&self) -> [u8; 8] {
        let mut out = [0; 8];
        out.copy_from_slice(&self.0[..8]);
        out
    }

    /// The secondary bitmap (bits 65-128).
    pub fn secondary(&self) -> [u8; 8] {
        let mut out = [0; 8];
        out.copy_from_slice(&self.0[8..]);
        out
    }
}

impl FromIterator<u8> for Bitmap {
    /// Sets every bit named; numbers outside 1..=128 are ignored.
    fn from_iter<I: IntoIterator<Item = u8>>(iter: I) -> Self {
        let mut b = Bitmap::new();
        for n in iter {
            b.set(n);
        }
        b
    }
}

impl fmt::Display for Bitmap {
    /// Upper-case hex of the primary bitmap, and of the secondary one when bit 1 is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = if self.has_secondary() { 16 } else { 8 };
        for b in &self.0[..len] {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bitmap({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_count_from_the_most_significant() {
        let b: Bitmap = [2, 3, 4, 7, 11, 64].into_iter().collect();
        assert_eq!(b.primary(), [0x72, 0x20, 0, 0, 0, 0, 0, 0x01]);
        assert_eq!(b.to_string(), "7220000000000001");
        assert!(!b.has_secondary());
        let b: Bitmap = [1, 70, 128].into_iter().collect();
        assert_eq!(b.secondary(), [0x04, 0, 0, 0, 0, 0, 0, 0x01]);
        assert_eq!(b.to_string(), "80000000000000000400000000000001");
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![1, 70, 128]);
        assert_eq!(format!("{b:?}"), "Bitmap(80000000000000000400000000000001)");
    }

    #[test]
    fn out_of_range_bits_are_ignored() {
        let mut b = Bitmap::new();
        assert!(!b.set(0));
        assert!(!b.set(129));
        assert!(!b.is_set(0) && !b.is_set(200));
        assert!(b.set(128));
        assert!(b.is_set(128));
        b.clear(128);
        b.clear(0);
        assert_eq!(b, Bitmap::new());
        assert_eq!(Bitmap::from_parts([0x80; 8], [1; 8]).iter().count(), 16);
    }
}
