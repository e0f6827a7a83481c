//! Binary-coded decimal as EMV uses it: `n` (right-justified, leading zeros) and `cn`
//! (left-justified, trailing `F`).

/// Encodes `value` as `n` BCD in exactly `len` bytes; `None` if it does not fit.
pub fn encode_n(value: u64, len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    let mut v = value;
    for byte in out.iter_mut().rev() {
        let lo = u8::try_from(v % 10).ok()?;
        v /= 10;
        let hi = u8::try_from(v % 10).ok()?;
        v /= 10;
        *byte = (hi << 4) | lo;
    }
    (v == 0).then_some(out)
}

/// Decodes `n` BCD; `None` if a nibble is not a decimal digit or the value overflows.
pub fn decode_n(bytes: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            if nibble > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(u64::from(nibble))?;
        }
    }
    Some(v)
}

/// Encodes a string of digits as `cn` (trailing `F` pad to a whole byte). `None` on a non-digit.
pub fn encode_cn(digits: &str) -> Option<Vec<u8>> {
    let mut nibbles: Vec<u8> = digits
        .bytes()
        .map(|c| c.is_ascii_digit().then(|| c - b'0'))
        .collect::<Option<_>>()?;
    if nibbles.len() % 2 == 1 {
        nibbles.push(0x0F);
    }
    Some(
        nibbles
            .chunks(2)
            .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0x0F))
            .collect(),
    )
}

/// Decodes `cn`: digits until the first `F` nibble; `None` on any other non-digit nibble or on a
/// digit after the padding.
pub fn decode_cn(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len() * 2);
    let mut padded = false;
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            match nibble {
                0..=9 if !padded => out.push(char::from(b'0' + nibble)),
                0x0F => padded = true,
                _ => return None,
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_and_cn() {
        assert_eq!(encode_n(1234, 6).unwrap(), vec![0, 0, 0, 0, 0x12, 0x34]);
        assert_eq!(encode_n(978, 2).unwrap(), vec![0x09, 0x78]);
        assert_eq!(encode_n(100, 1), None);
        assert_eq!(decode_n(&[0x09, 0x78]), Some(978));
        assert_eq!(decode_n(&[0x0A]), None);
        assert_eq!(encode_cn("12345").unwrap(), vec![0x12, 0x34, 0x5F]);
        assert_eq!(decode_cn(&[0x12, 0x34, 0x5F, 0xFF]).unwrap(), "12345");
        assert_eq!(decode_cn(&[0x1F, 0x23]), None);
        assert_eq!(encode_cn("12a"), None);
    }
}
