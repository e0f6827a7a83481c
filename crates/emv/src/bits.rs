//! The shape shared by bit-field data elements (AIP, TVR, TSI, TTQ, CTQ, CVRs): a newtype over
//! the wire bytes, one named accessor and one `with_*` setter per bit, and a `describe()` that
//! lists the set bits by name. Bits are numbered as the specs number them: byte 1 is the first
//! byte on the wire, b8 the most significant bit of a byte.

/// One named bit of a bit-field data element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedBit {
    /// Byte number as the specs count it (1 is the first byte on the wire).
    pub byte: usize,
    /// Bit number as the specs count it (8 is the most significant bit, 1 the least).
    pub bit: u8,
    /// The spec's wording for the bit when it is set.
    pub name: &'static str,
}

impl NamedBit {
    /// The bit's mask within its byte (0 for a bit number outside 1..=8).
    pub const fn mask(&self) -> u8 {
        mask(self.bit)
    }
}

/// Mask of bit `bit` (1..=8, as the specs number bits) within a byte; 0 otherwise.
pub(crate) const fn mask(bit: u8) -> u8 {
    match bit {
        1..=8 => 1 << (bit - 1),
        _ => 0,
    }
}

/// Appends the names of the set bits of `bytes` to `out`: named bits by name, bits covered by
/// a multi-bit field (set in `handled`) not at all, and any other set bit as "byte N bM (RFU)".
pub(crate) fn describe_bits(
    bytes: &[u8],
    named: &[NamedBit],
    handled: &[u8],
    out: &mut Vec<String>,
) {
    for (i, &byte) in bytes.iter().enumerate() {
        let handled = handled.get(i).copied().unwrap_or(0);
        for bit in (1..=8u8).rev() {
            let m = mask(bit);
            if byte & m == 0 || handled & m != 0 {
                continue;
            }
            match named.iter().find(|n| n.byte == i + 1 && n.bit == bit) {
                Some(n) => out.push(n.name.to_owned()),
                None => out.push(format!("byte {} b{bit} (RFU)", i + 1)),
            }
        }
    }
}

/// Defines a bit-field newtype. See the module documentation.
///
/// ```text
/// bit_flags! {
///     /// doc
///     pub struct Name([u8; N]);
///     element = "NAME (tag)";
///     empty = [..];                      // the value with no bit set
///     handled = [..];                    // per byte: bits described by `fields` instead
///     fields = path::to::fn;             // optional: fn(Self, &mut Vec<String>)
///     check = path::to::fn;              // optional: fn(&[u8; N]) -> Result<(), EmvError>
///     (byte, bit) getter, with_setter: "Spec wording";
///     ...
/// }
/// ```
macro_rules! bit_flags {
    (
        $(#[$meta:meta])*
        pub struct $name:ident([u8; $len:literal]);
        element = $element:literal;
        empty = [$($empty:expr),* $(,)?];
        handled = [$($handled:expr),* $(,)?];
        $(fields = $fields:path;)?
        $(check = $check:path;)?
        $(
            ($byte:literal, $bit:literal) $get:ident, $with:ident: $label:literal;
        )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length of the value on the wire, in bytes.
            pub const LEN: usize = $len;
            /// The element's name and tag, as errors print it.
            pub const ELEMENT: &'static str = $element;
            /// The value with no bit set.
            pub const EMPTY: Self = Self([$($empty),*]);
            /// Every named bit, in wire order.
            pub const BITS: &'static [$crate::bits::NamedBit] = &[
                $($crate::bits::NamedBit { byte: $byte, bit: $bit, name: $label },)*
            ];
            const HANDLED: [u8; $len] = [$($handled),*];

            /// Wraps wire bytes as they are (RFU bits are kept).
            pub const fn from_array(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Parses a value, checking its length (and any fixed byte).
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, $crate::EmvError> {
                let array = <[u8; $len]>::try_from(bytes).map_err(|_| {
                    $crate::EmvError::length(Self::ELEMENT, $len, $len, bytes.len())
                })?;
                $($check(&array)?;)?
                Ok(Self(array))
            }

            /// The wire bytes.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// The wire bytes, borrowed.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// True when `self` and `other` share at least one set bit (a TVR against an
            /// action code, for instance). Every bit counts, fields included.
            pub const fn intersects(self, other: Self) -> bool {
                let mut i = 0;
                while i < $len {
                    if self.0[i] & other.0[i] != 0 {
                        return true;
                    }
                    i += 1;
                }
                false
            }

            /// True when the value equals [`Self::EMPTY`].
            pub const fn is_empty(self) -> bool {
                let mut i = 0;
                while i < $len {
                    if self.0[i] != Self::EMPTY.0[i] {
                        return false;
                    }
                    i += 1;
                }
                true
            }

            $(
                #[doc = concat!("Byte ", stringify!($byte), " b", stringify!($bit), ": ", $label, ".")]
                pub const fn $get(self) -> bool {
                    self.0[$byte - 1] & $crate::bits::mask($bit) != 0
                }

                #[doc = concat!("A copy with \"", $label, "\" (byte ", stringify!($byte), " b",
                    stringify!($bit), ") set or cleared.")]
                #[must_use]
                pub const fn $with(self, on: bool) -> Self {
                    let mut b = self.0;
                    if on {
                        b[$byte - 1] |= $crate::bits::mask($bit);
                    } else {
                        b[$byte - 1] &= !$crate::bits::mask($bit);
                    }
                    Self(b)
                }
            )*

            /// The set bits by name, in wire order; multi-bit fields first, set RFU bits as
            /// "byte N bM (RFU)".
            pub fn describe(self) -> Vec<String> {
                let mut out = Vec::new();
                $($fields(self, &mut out);)?
                $crate::bits::describe_bits(&self.0, Self::BITS, &Self::HANDLED, &mut out);
                out
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::EMPTY
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({})", stringify!($name), $crate::hex(&self.0))
            }
        }

        /// The set bits by name, separated by commas (`none` when nothing is set).
        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let names = self.describe();
                if names.is_empty() {
                    f.write_str("none")
                } else {
                    f.write_str(&names.join(", "))
                }
            }
        }

        impl TryFrom<&[u8]> for $name {
            type Error = $crate::EmvError;

            fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
                Self::from_bytes(bytes)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; $len] {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl core::ops::BitOr for $name {
            type Output = Self;

            fn bitor(self, rhs: Self) -> Self {
                let mut b = self.0;
                for (x, y) in b.iter_mut().zip(rhs.0) {
                    *x |= y;
                }
                Self(b)
            }
        }

        impl core::ops::BitAnd for $name {
            type Output = Self;

            fn bitand(self, rhs: Self) -> Self {
                let mut b = self.0;
                for (x, y) in b.iter_mut().zip(rhs.0) {
                    *x &= y;
                }
                Self(b)
            }
        }
    };
}
