//! `Secret<T>`: the one container for PANs, keys, PIN blocks and track data.
//!
//! * `Debug` and `Display` never show the contents (`Secret([REDACTED 16 bytes])`).
//! * The value is zeroized when dropped.
//! * Reading the value is explicit: [`Secret::expose`]. Grep for `expose(` to audit every place a
//!   secret leaves its box.
//! * Equality is constant time ([`Secret::ct_eq`]), so comparing MACs or keys never leaks where
//!   they differ.
#![forbid(unsafe_code)]

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A value that must never be printed, logged or left in memory after use.
#[derive(Clone, Default)]
pub struct Secret<T: Zeroize>(T);

impl<T: Zeroize> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// Borrows the secret value. Every call site is a place where the secret leaves the box.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Borrows the secret value mutably (to fill a key buffer in place).
    pub fn expose_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: Zeroize + AsRef<[u8]>> Secret<T> {
    /// Constant-time equality of the exposed bytes.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        ct_eq(self.0.as_ref(), other)
    }

    /// Length in bytes of the secret value (not secret itself).
    pub fn len(&self) -> usize {
        self.0.as_ref().len()
    }

    /// True when the secret value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_empty()
    }
}

impl<T: Zeroize> Drop for Secret<T> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<T: Zeroize> ZeroizeOnDrop for Secret<T> {}

impl<T: Zeroize> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<T: Zeroize + AsRef<[u8]>> PartialEq for Secret<T> {
    /// Constant time in the length of the shorter value.
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.0.as_ref(), other.0.as_ref())
    }
}

impl<T: Zeroize + AsRef<[u8]>> Eq for Secret<T> {}

/// Constant-time comparison of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Masks a string of digits for display: at most the first 6 and the last 4 digits show, the rest
/// become `*`. Strings of 10 digits or fewer show only their last 4 (or nothing when shorter).
pub fn mask_digits(digits: &str) -> String {
    let n = digits.chars().count();
    let (head, tail) = match n {
        0..=4 => (0, 0),
        5..=10 => (0, 4),
        _ => (6, 4),
    };
    digits
        .chars()
        .enumerate()
        .map(|(i, c)| if i < head || i >= n - tail { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new(b"0123456789ABCDEF".to_vec());
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert!(!format!("{s:#?}").contains("0123"));
    }

    #[test]
    fn equality_is_by_value() {
        let a = Secret::new(vec![1u8, 2, 3]);
        assert_eq!(a, Secret::new(vec![1, 2, 3]));
        assert_ne!(a, Secret::new(vec![1, 2, 4]));
        assert_ne!(a, Secret::new(vec![1, 2]));
        assert!(a.ct_eq(&[1, 2, 3]));
        assert!(!a.ct_eq(&[1, 2, 3, 4]));
    }

    #[test]
    fn masks_keep_at_most_six_and_four() {
        assert_eq!(mask_digits("4761739001010010"), "476173******0010");
        assert_eq!(mask_digits("5413330089010012345"), "541333*********2345");
        assert_eq!(mask_digits("1234567890"), "******7890");
        assert_eq!(mask_digits("1234"), "****");
        assert_eq!(mask_digits(""), "");
    }
}
