use proptest::prelude::*;

use super::*;

fn h(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn select_ppse_is_case_4_short() {
    let bytes = h("00A404000E325041592E5359532E444446303100");
    let cmd = CommandApdu::decode(&bytes).unwrap();
    assert_eq!(
        (cmd.cla, cmd.ins, cmd.p1, cmd.p2),
        (0x00, ins::SELECT, 0x04, 0x00)
    );
    assert_eq!(cmd.data, b"2PAY.SYS.DDF01");
    assert_eq!(cmd.le, Some(256));
    assert_eq!(cmd.case(), 4);
    assert_eq!(cmd.encode().unwrap(), bytes);
}

#[test]
fn all_cases_short_and_extended_round_trip() {
    let cases = [
        ("00B2010C", None, None, 1),                           // 1
        ("00B2010C00", None, Some(256), 2),                    // 2S, Le 00 = 256
        ("80CA9F1705", None, Some(5), 2),                      // 2S
        ("008200000A0102030405060708090A", Some(10), None, 3), // 3S
        ("80A8000002830000", Some(2), Some(256), 4),           // 4S
    ];
    for (hex, nc, ne, case) in cases {
        let bytes = h(hex);
        let cmd = CommandApdu::decode(&bytes).unwrap();
        assert_eq!(cmd.data.len(), nc.unwrap_or(0), "{hex}");
        assert_eq!(cmd.le, ne, "{hex}");
        assert_eq!(cmd.case(), case, "{hex}");
        assert_eq!(cmd.encode().unwrap(), bytes, "{hex}");
    }
    // 2E: Le = 0000 means 65536.
    let cmd = CommandApdu::decode(&h("00B00000000000")).unwrap();
    assert_eq!(cmd.le, Some(65536));
    assert_eq!(cmd.length_form(), LengthForm::Extended);
    assert_eq!(cmd.encode().unwrap(), h("00B00000000000"));
    // 3E and 4E with 300 bytes of data.
    let big = CommandApdu::new(0x80, 0xE8, 0, 0).with_data(vec![0x5A; 300]);
    let enc = big.encode().unwrap();
    assert_eq!(&enc[4..7], &h("00012C"));
    assert_eq!(CommandApdu::decode(&enc).unwrap(), big);
    let big = big.with_le(1000);
    let enc = big.encode().unwrap();
    assert_eq!(&enc[enc.len() - 2..], &h("03E8"));
    assert_eq!(CommandApdu::decode(&enc).unwrap(), big);
}

#[test]
fn inconsistent_lengths_are_rejected() {
    assert_eq!(
        CommandApdu::decode(&h("00A404")),
        Err(ApduError::TooShort { len: 3 })
    );
    // Lc says 5, 3 bytes follow.
    assert!(matches!(
        CommandApdu::decode(&h("00A4040005010203")),
        Err(ApduError::InconsistentLength { .. })
    ));
    // Lc says 2, 4 bytes follow (two extra).
    assert!(CommandApdu::decode(&h("00A40400020102030400")).is_err());
    // Extended Lc of zero.
    assert!(CommandApdu::decode(&h("00A40400000000AA")).is_err());
}

#[test]
fn status_words_are_named_and_unknowns_kept() {
    assert_eq!(StatusWord::SUCCESS.to_string(), "9000 (success)");
    assert_eq!(StatusWord(0x6A82).name(), "file or application not found");
    assert_eq!(
        StatusWord::bytes_available(0x10).name(),
        "more response data available"
    );
    assert_eq!(StatusWord::wrong_le(0x1C), StatusWord(0x6C1C));
    assert!(StatusWord::bytes_available(1).is_success());
    assert!(!StatusWord::CONDITIONS_OF_USE_NOT_SATISFIED.is_success());
    let unknown = StatusWord(0x9F42);
    assert_eq!(unknown.name(), "proprietary");
    assert_eq!(ResponseApdu::decode(&h("0102039F42")).unwrap().sw, unknown);
    assert_eq!(
        ResponseApdu::decode(&h("90")),
        Err(ApduError::ResponseTooShort)
    );
    for sw in [
        0x6700u16, 0x6982, 0x6983, 0x6984, 0x6985, 0x6A81, 0x6A82, 0x6A86, 0x6D00, 0x6E00,
    ] {
        assert_ne!(StatusWord(sw).name(), "unknown status", "{sw:04X}");
    }
}

#[test]
fn debug_never_shows_data() {
    let cmd = CommandApdu::new(0, 0xA8, 0, 0)
        .with_data(h("4761739001010010"))
        .with_le(256);
    assert!(!format!("{cmd:?}").contains("4761"));
    let rsp = ResponseApdu::ok(h("5A084761739001010010"));
    assert!(!format!("{rsp:?}").contains("4761"));
}

proptest! {
    #[test]
    fn decode_never_panics_and_reencodes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(cmd) = CommandApdu::decode(&bytes) {
            let enc = cmd.encode().unwrap();
            prop_assert_eq!(CommandApdu::decode(&enc).unwrap(), cmd);
        }
        let _ = ResponseApdu::decode(&bytes);
    }

    #[test]
    fn encode_decode_round_trip(cla: u8, ins: u8, p1: u8, p2: u8,
                                data in proptest::collection::vec(any::<u8>(), 0..400),
                                le in proptest::option::of(1u32..=65536)) {
        let mut cmd = CommandApdu::new(cla, ins, p1, p2).with_data(data);
        cmd.le = le;
        let enc = cmd.encode().unwrap();
        prop_assert_eq!(CommandApdu::decode(&enc).unwrap(), cmd);
    }
}
