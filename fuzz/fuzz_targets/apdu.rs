//! APDU decoding never panics, and decode -> encode -> decode is stable.
//!
//! * `CommandApdu::decode` -> `encode` -> `decode` gives the same command (cases 1-4, short and
//!   extended); encoding is then a fixed point (the shortest form).
//! * `ResponseApdu::decode` -> `encode` gives back the input bytes exactly.
#![no_main]

use apdu::{CommandApdu, ResponseApdu};
use libfuzzer_sys::fuzz_target;

fn check_command(data: &[u8]) {
    let Ok(command) = CommandApdu::decode(data) else {
        return;
    };
    let encoded = command.encode().expect("a decoded command encodes");
    let again = CommandApdu::decode(&encoded).expect("an encoded command decodes");
    assert_eq!(
        command, again,
        "decode -> encode -> decode changed the command"
    );
    assert_eq!(
        again.encode(),
        Ok(encoded.clone()),
        "encoding is not a fixed point"
    );
    assert!(
        encoded.len() <= data.len(),
        "the shortest form is longer than the input"
    );
    assert!((1..=4).contains(&command.case()));
    let _ = format!("{command:?}");
}

fn check_response(data: &[u8]) {
    let Ok(response) = ResponseApdu::decode(data) else {
        assert!(
            data.len() < 2,
            "a response of two bytes or more must decode"
        );
        return;
    };
    let encoded = response.encode();
    assert_eq!(
        encoded, data,
        "response encode is not the exact inverse of decode"
    );
    let again = ResponseApdu::decode(&encoded).expect("an encoded response decodes");
    assert_eq!(response, again);
    let _ = (
        response.sw.name(),
        format!("{response:?}"),
        response.sw.is_success(),
    );
}

fuzz_target!(|data: &[u8]| {
    check_command(data);
    check_response(data);
});
