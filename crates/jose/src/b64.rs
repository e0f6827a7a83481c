//! Unpadded base64url (RFC 4648 section 5, as RFC 7515 section 2 uses it).
//!
//! Decoding is strict: no padding, no whitespace, no non-canonical trailing bits
//! (`base64ct` rejects all three), so every byte string has exactly one encoding and a tampered
//! character can never decode to the same bytes.

use base64ct::{Base64UrlUnpadded, Encoding};

/// Encodes bytes as unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Decodes unpadded base64url; `None` on any malformed input.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text).ok()
}

/// Decodes unpadded base64url into exactly `N` bytes.
///
/// `Err(None)` when the text is not base64url, `Err(Some(len))` when it decodes to `len` bytes.
pub(crate) fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], Option<usize>> {
    let bytes = decode(text).ok_or(None)?;
    let len = bytes.len();
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| Some(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_unpadded() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8"), Some(vec![0xfb, 0xff]));
    }

    #[test]
    fn rejects_padding_whitespace_standard_alphabet_and_non_canonical_tails() {
        assert_eq!(decode("-_8="), None);
        assert_eq!(decode("-_ 8"), None);
        assert_eq!(decode("+/8"), None);
        // "-_9" decodes to the same two bytes with a non-zero unused bit: a second spelling.
        assert_eq!(decode("-_9"), None);
        assert_eq!(decode("A"), None);
    }

    #[test]
    fn fixed_length_decode_reports_the_length_found() {
        assert_eq!(decode_array::<2>("-_8"), Ok([0xfb, 0xff]));
        assert_eq!(decode_array::<3>("-_8"), Err(Some(2)));
        assert_eq!(decode_array::<3>("*"), Err(None));
    }
}
