//! PAN and Track 2 decoding never panics, and decode -> encode -> decode is stable.
//!
//! * `Pan::parse` (text) -> `to_bcd` -> `Pan::from_bcd` gives the same PAN, and so does parsing
//!   its own digits; the masked form never shows more than the first six and last four digits.
//! * `Pan::from_bcd` (tag 5A) -> `to_bcd` -> `from_bcd` gives the same PAN.
//! * `Track2::decode` (tag 57) -> `encode` -> `decode` gives the same track; encoding is then a
//!   fixed point.
#![no_main]

use cards::{Pan, Track2};
use libfuzzer_sys::fuzz_target;

fn check_pan(pan: &Pan) {
    let bcd = pan.to_bcd();
    let back = Pan::from_bcd(bcd.expose()).expect("an encoded PAN decodes");
    assert_eq!(*pan, back, "PAN -> BCD -> PAN changed it");
    assert_eq!(
        back.to_bcd().expose(),
        bcd.expose(),
        "PAN BCD is not a fixed point"
    );
    assert_eq!(Pan::parse(pan.expose_digits()).as_ref(), Ok(pan));
    assert!((12..=19).contains(&pan.len()));

    let digits = pan.expose_digits();
    let masked = pan.masked();
    assert_eq!(masked.len(), digits.len(), "the mask changed the length");
    for (i, (m, d)) in masked.chars().zip(digits.chars()).enumerate() {
        let shown = i < 6 || i >= digits.len() - 4;
        assert!(
            m == d && shown || m == '*' && !shown,
            "mask shows digit {i}"
        );
    }
    assert!(!format!("{pan:?}").contains(digits), "Debug shows the PAN");
}

fn check_track2(data: &[u8]) {
    let Ok(track) = Track2::decode(data) else {
        return;
    };
    check_pan(&track.pan);
    let encoded = track.encode();
    let again = Track2::decode(encoded.expose()).expect("an encoded track 2 decodes");
    assert_eq!(
        track, again,
        "track 2 decode -> encode -> decode changed it"
    );
    assert_eq!(
        again.encode().expose(),
        encoded.expose(),
        "track 2 encoding is not a fixed point"
    );
    assert!(
        !format!("{track:?}").contains(track.pan.expose_digits()),
        "Debug shows the PAN"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(pan) = Pan::parse(text)
    {
        check_pan(&pan);
    }
    if let Ok(pan) = Pan::from_bcd(data) {
        check_pan(&pan);
    }
    check_track2(data);
});
