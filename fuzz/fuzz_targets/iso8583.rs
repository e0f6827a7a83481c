//! ISO 8583 unpacking never panics, and unpack -> pack -> unpack is stable, in both dialects.
//!
//! * `Message::unpack` on arbitrary bytes returns `Ok` or `Err`, never panics.
//! * A message that unpacks packs again (the bitmap is recomputed, hex comes out upper case), and
//!   the packed bytes unpack to the same message; packing that is a fixed point.
//! * `Debug` and `dump` of any unpacked message, and `Display`/`Debug` of any error, never panic.
#![no_main]

use iso8583::Message;
use iso8583::spec::{ASCII87, BINARY87};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for spec in [&ASCII87, &BINARY87] {
        let message = match Message::unpack(data, spec) {
            Ok(m) => m,
            Err(e) => {
                let _ = format!("{e} {e:?}");
                continue;
            }
        };
        let _ = format!("{message:?}");
        let _ = message.dump(spec);
        let _ = message.icc_tlv();
        let packed = message.pack(spec).expect("an unpacked message packs again");
        let again = Message::unpack(&packed, spec).expect("a packed message unpacks");
        assert_eq!(
            again, message,
            "unpack -> pack -> unpack changed the message"
        );
        assert_eq!(
            again.pack(spec).expect("packs"),
            packed,
            "packing is not a fixed point"
        );
        // The other dialect carries the same message.
        let other = if std::ptr::eq(spec, &ASCII87) {
            &BINARY87
        } else {
            &ASCII87
        };
        if let Ok(bytes) = message.pack(other) {
            let across = Message::unpack(&bytes, other).expect("a packed message unpacks");
            assert_eq!(across, message, "the dialects disagree");
        }
    }
});
