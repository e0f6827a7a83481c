//! Golden bytes, round trips, masking and the negative space of pack and unpack.
//!
//! The golden messages were encoded independently by pyiso8583 4.0.1: `default_ascii` for
//! ASCII87, and for BINARY87 a copy of it with `data_enc = "b"` on the bitmaps and on DE 52, 55,
//! 64, 96 and 128 (maxima halved, DE 55 at 255).

use proptest::prelude::*;
use secret::Secret;
use tlv::Tag;

use crate::spec::{ASCII87, BINARY87, BitmapEncoding, Encoding, LengthType, MtiEncoding};
use crate::*;

const ICC: &str = "9F02060000000012509F26080123456789ABCDEF820219809F3602002A9F37047977E41F";
const PAN: &str = "4761739001010010";
const TRACK2: &str = "4761739001010010=2812201000001230";

const REQUEST_ASCII: &str = concat!(
    "0100723C460028E08200",
    "164761739001010010",
    "000000",
    "000000001250",
    "0614123456",
    "000042",
    "143456",
    "0614",
    "2812",
    "5411",
    "071",
    "001",
    "334761739001010010=2812201000001230",
    "516512000042",
    "TERM0001",
    "MERCHANT0000001",
    "TAPWALLET DEMO STORE    BERLIN       DE ",
    "978",
    "072",
    "9F02060000000012509F26080123456789ABCDEF820219809F3602002A9F37047977E41F",
);

const REQUEST_BINARY_HEX: &str = concat!(
    "30313030723C460028E082003136343736313733393030313031303031303030303030303030303030303030",
    "3132353030363134313233343536303030303432313433343536303631343238313235343131303731303031",
    "3333343736313733393030313031303031303D32383132323031303030303031323330353136353132303030",
    "3034325445524D303030314D45524348414E543030303030303154415057414C4C45542044454D4F2053544F",
    "5245202020204245524C494E202020202020204445203937383033369F02060000000012509F260801234567",
    "89ABCDEF820219809F3602002A9F37047977E41F",
);

const RESPONSE_ASCII: &str = concat!(
    "0110723800000EC08200",
    "164761739001010010",
    "000000",
    "000000001250",
    "0614123456",
    "000042",
    "143456",
    "0614",
    "516512000042",
    "A1B2C3",
    "00",
    "TERM0001",
    "MERCHANT0000001",
    "978",
    "024910A11223344556677880012",
);

const RESPONSE_BINARY_HEX: &str = concat!(
    "30313130723800000EC082003136343736313733393030313031303031303030303030303030303030303030",
    "3132353030363134313233343536303030303432313433343536303631343531363531323030303034324131",
    "4232433330305445524D303030314D45524348414E5430303030303031393738303132910A11223344556677",
    "880012",
);

const ECHO_ASCII: &str = "0800822000000000000004000000000000000614123456000043301";
const ECHO_BINARY_HEX: &str =
    "303830308220000000000000040000000000000030363134313233343536303030303433333031";

const REVERSAL_ASCII: &str = concat!(
    "0400F220000008C080000000004000000000",
    "164761739001010010",
    "000000",
    "000000001250",
    "0614123500",
    "000044",
    "516512000042",
    "TERM0001",
    "MERCHANT0000001",
    "978",
    "010000004206141234560000000000000000000000",
);

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn authorization_request() -> Message {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_pan(Secret::new(PAN.to_owned()))
        .set_processing_code("000000")
        .set_amount_minor(1_250)
        .set_transmission_date_time("0614123456")
        .set_stan(42)
        .set_local_time("143456")
        .set_local_date("0614")
        .set_expiry(Secret::new("2812".to_owned()))
        .set_merchant_type("5411")
        .set_pos_entry_mode("071")
        .set_card_sequence_number("001")
        .set_track2(Secret::new(TRACK2.to_owned()))
        .set_rrn("516512000042")
        .set_terminal_id("TERM0001")
        .set_merchant_id("MERCHANT0000001")
        .set_merchant_name_location("TAPWALLET DEMO STORE    BERLIN       DE ")
        .set_currency_code("978")
        .set_icc_data(&unhex(ICC));
    m
}

fn authorization_response() -> Message {
    let mut m = Message::new(Mti::AUTHORIZATION_RESPONSE);
    m.set_pan(Secret::new(PAN.to_owned()))
        .set_processing_code("000000")
        .set_amount_minor(1_250)
        .set_transmission_date_time("0614123456")
        .set_stan(42)
        .set_local_time("143456")
        .set_local_date("0614")
        .set_rrn("516512000042")
        .set_auth_code("A1B2C3")
        .set_response_code(ResponseCode::APPROVED)
        .set_terminal_id("TERM0001")
        .set_merchant_id("MERCHANT0000001")
        .set_currency_code("978")
        .set_icc_data(&unhex("910A11223344556677880012"));
    m
}

fn echo_test() -> Message {
    let mut m = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST);
    m.set_transmission_date_time("0614123456")
        .set_stan(43)
        .set_network_management_code(NetworkManagementCode::ECHO_TEST);
    m
}

fn reversal() -> Message {
    let mut m = Message::new(Mti::REVERSAL_REQUEST);
    m.set_pan(Secret::new(PAN.to_owned()))
        .set_processing_code("000000")
        .set_amount_minor(1_250)
        .set_transmission_date_time("0614123500")
        .set_stan(44)
        .set_rrn("516512000042")
        .set_terminal_id("TERM0001")
        .set_merchant_id("MERCHANT0000001")
        .set_currency_code("978")
        .set_original_data_elements(&OriginalDataElements {
            mti: Mti::AUTHORIZATION_REQUEST,
            stan: 42,
            transmission_date_time: "0614123456".to_owned(),
            acquiring_institution_id: String::new(),
            forwarding_institution_id: String::new(),
        });
    m
}

/// A golden message: the message, its ASCII87 bytes and (when pinned) its BINARY87 bytes.
struct Golden {
    id: &'static str,
    message: Message,
    ascii: Vec<u8>,
    binary: Option<Vec<u8>>,
}

fn goldens() -> Vec<Golden> {
    vec![
        Golden {
            id: "0100",
            message: authorization_request(),
            ascii: REQUEST_ASCII.as_bytes().to_vec(),
            binary: Some(unhex(REQUEST_BINARY_HEX)),
        },
        Golden {
            id: "0110",
            message: authorization_response(),
            ascii: RESPONSE_ASCII.as_bytes().to_vec(),
            binary: Some(unhex(RESPONSE_BINARY_HEX)),
        },
        Golden {
            id: "0800",
            message: echo_test(),
            ascii: ECHO_ASCII.as_bytes().to_vec(),
            binary: Some(unhex(ECHO_BINARY_HEX)),
        },
        Golden {
            id: "0400",
            message: reversal(),
            ascii: REVERSAL_ASCII.as_bytes().to_vec(),
            binary: None,
        },
    ]
}

#[test]
fn golden_messages_pack_and_unpack_in_both_dialects() {
    for Golden {
        id,
        message,
        ascii,
        binary,
    } in goldens()
    {
        assert_eq!(
            String::from_utf8_lossy(&message.pack(&ASCII87).unwrap()),
            String::from_utf8_lossy(&ascii),
            "{id} ASCII87 pack"
        );
        assert_eq!(
            Message::unpack(&ascii, &ASCII87).unwrap(),
            message,
            "{id} ASCII87 unpack"
        );
        let packed = message.pack(&BINARY87).unwrap();
        if let Some(binary) = binary {
            assert_eq!(
                hex::encode_upper(&packed),
                hex::encode_upper(&binary),
                "{id} BINARY87"
            );
        }
        assert_eq!(
            Message::unpack(&packed, &BINARY87).unwrap(),
            message,
            "{id} BINARY87 unpack"
        );
    }
}

#[test]
fn golden_request_reads_by_meaning() {
    let m = Message::unpack(REQUEST_ASCII.as_bytes(), &ASCII87).unwrap();
    assert_eq!(m.mti, Mti::AUTHORIZATION_REQUEST);
    assert_eq!(m.pan().unwrap().expose(), PAN);
    assert_eq!(m.processing_code(), Some("000000"));
    assert_eq!(m.amount_minor(), Some(1_250));
    assert_eq!(m.transmission_date_time(), Some("0614123456"));
    assert_eq!(m.stan(), Some(42));
    assert_eq!(m.local_time(), Some("143456"));
    assert_eq!(m.local_date(), Some("0614"));
    assert_eq!(m.expiry().unwrap().expose(), "2812");
    assert_eq!(m.merchant_type(), Some("5411"));
    assert_eq!(m.pos_entry_mode(), Some("071"));
    assert_eq!(m.card_sequence_number(), Some("001"));
    assert_eq!(m.track2().unwrap().expose(), TRACK2);
    assert_eq!(m.rrn(), Some("516512000042"));
    assert_eq!(m.terminal_id(), Some("TERM0001"));
    assert_eq!(m.merchant_id(), Some("MERCHANT0000001"));
    assert_eq!(
        m.merchant_name_location().map(str::trim_end),
        Some("TAPWALLET DEMO STORE    BERLIN       DE")
    );
    assert_eq!(m.currency_code(), Some("978"));
    assert_eq!(m.icc_data(), Some(&unhex(ICC)[..]));
    let tags = m.icc_tlv().unwrap().unwrap();
    assert_eq!(tags.len(), 5);
    assert_eq!(tags.get(Tag(0x9F36)), Some(&[0x00, 0x2A][..]));
    assert_eq!(tags.get(Tag(0x9F26)), Some(&unhex("0123456789ABCDEF")[..]));
    assert_eq!(m.auth_code(), None);
    assert_eq!(m.response_code(), None);
    assert_eq!(m.network_management_code(), None);
    assert_eq!(m.original_data_elements(), None);
    assert!(m.mti.is_request());
}

#[test]
fn golden_response_and_network_and_reversal_read_by_meaning() {
    let r = Message::unpack(RESPONSE_ASCII.as_bytes(), &ASCII87).unwrap();
    assert_eq!(r.response_code(), Some(ResponseCode::APPROVED));
    assert!(r.response_code().unwrap().is_approval());
    assert_eq!(r.auth_code(), Some("A1B2C3"));
    assert_eq!(
        r.icc_tlv().unwrap().unwrap().get(Tag(0x91)),
        Some(&unhex("11223344556677880012")[..])
    );

    let e = Message::unpack(ECHO_ASCII.as_bytes(), &ASCII87).unwrap();
    assert_eq!(
        e.network_management_code(),
        Some(NetworkManagementCode::ECHO_TEST)
    );
    assert!(e.bitmap().has_secondary());
    assert_eq!(e.icc_tlv(), Ok(None));

    let v = Message::unpack(REVERSAL_ASCII.as_bytes(), &ASCII87).unwrap();
    let original = v.original_data_elements().unwrap();
    assert_eq!(original.mti, Mti::AUTHORIZATION_REQUEST);
    assert_eq!(original.stan, 42);
    assert_eq!(original.transmission_date_time, "0614123456");
    assert_eq!(original.acquiring_institution_id, "00000000000");
    assert_eq!(
        original.encode(),
        "010000004206141234560000000000000000000000"
    );
}

#[test]
fn accessors_reject_misshapen_values() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_text(fields::STAN, "12345");
    assert_eq!(m.stan(), None);
    m.set_text(fields::STAN, "12A456");
    assert_eq!(m.stan(), None);
    m.set_text(fields::AMOUNT, "");
    assert_eq!(m.amount_minor(), None);
    m.set_text(fields::AMOUNT, "99999999999999999999999");
    assert_eq!(m.amount_minor(), None);
    m.set_text(fields::RESPONSE_CODE, "000");
    assert_eq!(m.response_code(), None);
    m.set_binary(fields::RESPONSE_CODE, b"00");
    assert_eq!(m.response_code(), None);
    m.set_text(fields::ORIGINAL_DATA_ELEMENTS, "0100");
    assert_eq!(m.original_data_elements(), None);
    m.set_text(fields::ICC_DATA, "9F02");
    assert_eq!(m.icc_data(), None);
    m.set_icc_data(&[0x9F, 0x02, 0x06, 0x00]);
    let err = m.icc_tlv().unwrap_err();
    assert_eq!(err.tag, Some(Tag(0x9F02)));
    let mut tags = tlv::TagMap::new();
    tags.put(Tag(0x9F36), &[0, 1]);
    m.set_icc_tlv(&tags);
    assert_eq!(m.icc_data(), Some(&[0x9F, 0x36, 0x02, 0x00, 0x01][..]));
    assert_eq!(m.remove_field(fields::ICC_DATA).map(|v| v.len()), Some(5));
    assert!(!m.has_field(fields::ICC_DATA));
}

#[test]
fn pack_pads_short_fixed_text_fields() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_text(fields::AMOUNT, "125")
        .set_terminal_id("T1")
        .set_rrn("R1");
    let bytes = m.pack(&ASCII87).unwrap();
    assert_eq!(
        bytes,
        raw("0100", &[4, 37, 41], b"000000000125R1          T1      ")
    );
    let back = Message::unpack(&bytes, &ASCII87).unwrap();
    // Unpack keeps the padding.
    assert_eq!(back.terminal_id(), Some("T1      "));
    assert_eq!(back.amount_minor(), Some(125));
}

#[test]
fn empty_variable_fields_travel() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_text(fields::PAN, "").set_icc_data(&[]);
    for spec in [&ASCII87, &BINARY87] {
        let bytes = m.pack(spec).unwrap();
        assert_eq!(Message::unpack(&bytes, spec).unwrap(), m);
    }
    assert!(m.pack(&ASCII87).unwrap().ends_with(b"00000"));
}

#[test]
fn lower_case_hex_and_an_empty_secondary_bitmap_are_accepted() {
    // pyiso8583 accepts both; pack emits the canonical form.
    let input = concat!("0100", "c000000000000000", "0000000000000000", "00").as_bytes();
    assert_eq!(input.len(), 4 + 16 + 16 + 2);
    let m = Message::unpack(input, &ASCII87).unwrap();
    assert_eq!(m.pan().unwrap().expose(), "");
    assert_eq!(
        m.pack(&ASCII87).unwrap(),
        b"0100400000000000000000".to_vec()
    );
    let input = concat!("0100", "0000000000000200", "018", "9f0206000000000125").as_bytes();
    let m = Message::unpack(input, &ASCII87).unwrap();
    assert_eq!(m.icc_data(), Some(&unhex("9F0206000000000125")[..]));
}

#[test]
fn bcd_mti_specs_work() {
    let mut spec = ASCII87.clone();
    spec.mti = MtiEncoding::Bcd;
    spec.bitmap = BitmapEncoding::Binary;
    let m = echo_test();
    let bytes = m.pack(&spec).unwrap();
    assert_eq!(&bytes[..2], &[0x08, 0x00]);
    assert_eq!(Message::unpack(&bytes, &spec).unwrap(), m);
    let err = Message::unpack(&[0x0A, 0x00, 0, 0, 0, 0, 0, 0, 0, 0], &spec).unwrap_err();
    assert_eq!(
        (err.field, err.offset, err.kind),
        (0, 0, UnpackErrorKind::InvalidMti)
    );
}

// ---- negative space: unpack -------------------------------------------------------------

/// An ASCII87 message by hand: MTI, hex bitmaps for `bits` (the secondary one when bit 1 is
/// listed), then `body` as given.
fn raw(mti: &str, bits: &[u8], body: &[u8]) -> Vec<u8> {
    let bitmap: Bitmap = bits.iter().copied().collect();
    let mut out = format!("{mti}{bitmap}").into_bytes();
    out.extend_from_slice(body);
    out
}

#[test]
fn raw_helper_matches_hand_written_bitmaps() {
    assert_eq!(
        raw("0100", &[2, 3], b"X"),
        b"01006000000000000000X".to_vec()
    );
    assert_eq!(
        raw("0800", &[1, 7, 11, 70], b""),
        b"080082200000000000000400000000000000".to_vec()
    );
}

fn unpack_err(input: &[u8]) -> UnpackError {
    Message::unpack(input, &ASCII87).unwrap_err()
}

#[test]
fn unpack_refuses_truncation_everywhere() {
    let full = REQUEST_ASCII.as_bytes();
    for cut in 0..full.len() {
        let err = unpack_err(&full[..cut]);
        assert!(
            matches!(err.kind, UnpackErrorKind::Truncated { .. }),
            "cut {cut}: {err}"
        );
        assert!(err.offset <= cut, "cut {cut}: {err}");
    }
    assert_eq!(
        unpack_err(b""),
        UnpackError {
            field: 0,
            name: "Message Type",
            offset: 0,
            kind: UnpackErrorKind::Truncated {
                needed: 4,
                available: 0
            }
        }
    );
}

#[test]
fn unpack_refuses_a_secondary_bitmap_flag_without_data() {
    // Bit 1 set, then the input ends.
    let err = unpack_err(b"08008220000000000000");
    assert_eq!(err.field, 1);
    assert_eq!(err.name, "Bitmap, Secondary");
    assert_eq!(err.offset, 20);
    assert_eq!(
        err.kind,
        UnpackErrorKind::Truncated {
            needed: 16,
            available: 0
        }
    );
    assert_eq!(
        err.to_string(),
        "DE 1 Bitmap, Secondary: needs 16 bytes but only 0 remain (offset 20)"
    );
}

#[test]
fn unpack_refuses_a_bad_mti() {
    let err = unpack_err(b"01A0000000000000000");
    assert_eq!(
        (err.field, err.offset, err.kind),
        (0, 0, UnpackErrorKind::InvalidMti)
    );
    assert_eq!(err.to_string(), "MTI: not four decimal digits (offset 0)");
}

#[test]
fn unpack_refuses_a_bad_bitmap() {
    let err = unpack_err(b"01004000000000000G00");
    assert_eq!(
        (err.field, err.name, err.offset),
        (1, "Bitmap, Primary", 17)
    );
    assert_eq!(err.kind, UnpackErrorKind::InvalidBitmap);
    let err = unpack_err(b"08008000000000000000 400000000000000");
    assert_eq!(
        (err.field, err.name, err.offset),
        (1, "Bitmap, Secondary", 20)
    );
}

#[test]
fn unpack_refuses_bits_for_fields_absent_from_the_spec() {
    let mut spec = ASCII87.clone();
    spec.fields[50] = None;
    spec.fields[100] = None;
    let err = Message::unpack(&raw("0100", &[50], b"978"), &spec).unwrap_err();
    assert_eq!(
        (err.field, err.offset, err.kind),
        (50, 4, UnpackErrorKind::FieldNotInSpec)
    );
    assert_eq!(err.name, "(not in spec)");
    let err = Message::unpack(&raw("0800", &[1, 100], b"00"), &spec).unwrap_err();
    assert_eq!(
        (err.field, err.offset, err.kind),
        (100, 20, UnpackErrorKind::FieldNotInSpec)
    );
    // Checked before any field is read: DE 2 is broken too, but the bitmap is refused first.
    let err = Message::unpack(&raw("0100", &[1, 2, 100], b"XX"), &spec).unwrap_err();
    assert_eq!(err.kind, UnpackErrorKind::FieldNotInSpec);
}

#[test]
fn unpack_refuses_a_tertiary_bitmap() {
    let err = unpack_err(&raw("0800", &[1, 65], b"0000000000000000"));
    assert_eq!(
        (err.field, err.offset, err.kind),
        (65, 20, UnpackErrorKind::TertiaryBitmap)
    );
    assert_eq!(err.name, "Bitmap, Extended");
}

#[test]
fn unpack_refuses_bad_length_prefixes() {
    let err = unpack_err(&raw("0100", &[2], b"1A4761739001010010"));
    assert_eq!(
        (err.field, err.offset, err.kind),
        (2, 20, UnpackErrorKind::InvalidLengthPrefix)
    );
    let err = unpack_err(&raw("0100", &[2], b" 4476173900101"));
    assert_eq!(err.kind, UnpackErrorKind::InvalidLengthPrefix);
    let err = unpack_err(&raw("0100", &[2], b"2047617390010100100001"));
    assert_eq!((err.field, err.offset), (2, 20));
    assert_eq!(
        err.kind,
        UnpackErrorKind::LengthOverMax {
            length: 20,
            max: 19
        }
    );
}

#[test]
fn unpack_error_names_field_and_offset() {
    // The brief's example: DE 35 of 40 characters.
    let track = "4761739001010010=28122010000012300000000";
    let err = unpack_err(&raw(
        "0100",
        &[35],
        format!("{}{track}", track.len()).as_bytes(),
    ));
    assert_eq!(err.field, 35);
    assert_eq!(err.offset, 20);
    assert_eq!(
        err.kind,
        UnpackErrorKind::LengthOverMax {
            length: 40,
            max: 37
        }
    );
    assert_eq!(
        err.to_string(),
        "DE 35 Track 2 Data: length 40 exceeds max 37 (offset 20)"
    );
}

#[test]
fn unpack_refuses_characters_the_encoding_forbids() {
    // A letter in DE 4 (n12).
    let err = unpack_err(&raw("0100", &[4], b"00000000125X"));
    assert_eq!((err.field, err.offset), (4, 31));
    assert_eq!(
        err.kind,
        UnpackErrorKind::InvalidCharacter {
            index: 11,
            encoding: Encoding::Numeric
        }
    );
    assert_eq!(
        err.to_string(),
        "DE 4 Amount, Transaction: byte 11 of the value is not allowed in n (digits) (offset 31)"
    );
    // '^' in track 2, a control character in DE 43, '-' in DE 39 (an), non-hex in DE 55.
    let cases: [(&[u8], u8, Encoding); 4] = [
        (b"05123^5", 35, Encoding::Track),
        (
            b"AB\nDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCD",
            43,
            Encoding::AlphaNumericSpecial,
        ),
        (b"-0", 39, Encoding::AlphaNumeric),
        (b"0049F0G", 55, Encoding::BinaryHex),
    ];
    for (body, field, encoding) in cases {
        let err = unpack_err(&raw("0100", &[field], body));
        assert_eq!(err.field, field, "{err}");
        assert!(
            matches!(err.kind, UnpackErrorKind::InvalidCharacter { encoding: e, .. } if e == encoding),
            "{err}"
        );
    }
    // Non-ASCII bytes anywhere in a text field.
    let err = unpack_err(&raw("0100", &[2], b"02\xC3\xA9"));
    assert!(matches!(
        err.kind,
        UnpackErrorKind::InvalidCharacter { index: 0, .. }
    ));
}

#[test]
fn unpack_refuses_odd_length_hex() {
    let err = unpack_err(&raw("0100", &[55], b"003ABC"));
    assert_eq!((err.field, err.offset), (55, 23));
    assert_eq!(err.kind, UnpackErrorKind::OddHexLength { length: 3 });
}

#[test]
fn unpack_refuses_trailing_bytes() {
    let mut input = REQUEST_ASCII.as_bytes().to_vec();
    input.extend_from_slice(b"00");
    let err = unpack_err(&input);
    assert_eq!((err.field, err.offset), (55, REQUEST_ASCII.len()));
    assert_eq!(err.kind, UnpackErrorKind::TrailingBytes { count: 2 });
    // A bitmap with no fields and a stray byte.
    let err = unpack_err(&raw("0100", &[], b"X"));
    assert_eq!(
        (err.field, err.kind),
        (1, UnpackErrorKind::TrailingBytes { count: 1 })
    );
    let mut binary = unhex(ECHO_BINARY_HEX);
    binary.push(0);
    let err = Message::unpack(&binary, &BINARY87).unwrap_err();
    assert_eq!(
        (err.field, err.kind),
        (70, UnpackErrorKind::TrailingBytes { count: 1 })
    );
}

// ---- negative space: pack ---------------------------------------------------------------

fn pack_err(m: &Message) -> PackError {
    m.pack(&ASCII87).unwrap_err()
}

#[test]
fn pack_refuses_a_bad_mti() {
    let err = pack_err(&Message::new(Mti(*b"01X0")));
    assert_eq!((err.field, err.kind), (0, PackErrorKind::InvalidMti));
    assert_eq!(err.to_string(), "MTI: not four decimal digits (offset 0)");
}

#[test]
fn pack_refuses_fields_outside_the_spec_and_bitmaps() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_text(0, "0100");
    assert_eq!(pack_err(&m).kind, PackErrorKind::FieldNotInSpec);
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_text(129, "x");
    let err = pack_err(&m);
    assert_eq!(
        (err.field, err.name, err.kind),
        (129, "(not in spec)", PackErrorKind::FieldNotInSpec)
    );
    let mut spec = ASCII87.clone();
    spec.fields[48] = None;
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_text(48, "x");
    assert_eq!(
        m.pack(&spec).unwrap_err().kind,
        PackErrorKind::FieldNotInSpec
    );
    for n in [1, 65] {
        let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
        m.set_binary(n, &[0; 8]);
        assert_eq!(pack_err(&m).kind, PackErrorKind::BitmapField);
    }
}

#[test]
fn pack_refuses_the_wrong_kind_of_value() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_text(fields::ICC_DATA, "9F0206000000000125");
    let err = pack_err(&m);
    assert_eq!((err.field, err.kind), (55, PackErrorKind::ExpectedBinary));
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_binary(fields::STAN, b"000001");
    assert_eq!(pack_err(&m).kind, PackErrorKind::ExpectedText);
}

#[test]
fn pack_refuses_lengths_the_spec_does_not_allow() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_pan(Secret::new("47617390010100100000".to_owned()));
    let err = pack_err(&m);
    assert_eq!((err.field, err.offset), (2, 20));
    assert_eq!(
        err.kind,
        PackErrorKind::LengthOverMax {
            length: 20,
            max: 19
        }
    );
    assert!(!err.to_string().contains("4761739001"));

    // 256 bytes of ICC data are 512 hex characters in ASCII87, and over 255 bytes in BINARY87.
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_icc_data(&[0x5A; 256]);
    assert_eq!(
        pack_err(&m).kind,
        PackErrorKind::LengthOverMax {
            length: 512,
            max: 510
        }
    );
    assert_eq!(
        m.pack(&BINARY87).unwrap_err().kind,
        PackErrorKind::LengthOverMax {
            length: 256,
            max: 255
        }
    );
    m.set_icc_data(&[0x5A; 255]);
    assert!(m.pack(&ASCII87).is_ok() && m.pack(&BINARY87).is_ok());

    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_amount_minor(1_000_000_000_000);
    let err = pack_err(&m);
    assert_eq!(
        (err.field, err.kind),
        (
            4,
            PackErrorKind::LengthMismatch {
                length: 13,
                expected: 12
            }
        )
    );
    assert_eq!(
        err.to_string(),
        "DE 4 Amount, Transaction: length 13 differs from the fixed length 12 (offset 20)"
    );
    // Binary fixed fields are not padded.
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_binary(fields::PIN_BLOCK, &[0x12; 7]);
    assert_eq!(
        pack_err(&m).kind,
        PackErrorKind::LengthMismatch {
            length: 14,
            expected: 16
        }
    );
    // Track 2 has no padding either.
    let mut spec = ASCII87.clone();
    spec.fields[35] = Some(FieldSpec {
        length: LengthType::Fixed(37),
        ..*ASCII87.field(35).unwrap()
    });
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_track2(Secret::new(TRACK2.to_owned()));
    assert_eq!(
        m.pack(&spec).unwrap_err().kind,
        PackErrorKind::LengthMismatch {
            length: 33,
            expected: 37
        }
    );
}

#[test]
fn pack_refuses_characters_the_encoding_forbids() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_stan(42).set_text(fields::PAN, "4761 7390");
    let err = pack_err(&m);
    assert_eq!((err.field, err.offset), (2, 20));
    assert_eq!(
        err.kind,
        PackErrorKind::InvalidCharacter {
            index: 4,
            encoding: Encoding::Numeric
        }
    );
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_merchant_name_location("CAFÉ");
    assert!(matches!(
        pack_err(&m).kind,
        PackErrorKind::InvalidCharacter { index: 3, .. }
    ));
}

// ---- masking ----------------------------------------------------------------------------

/// Every rendering of `m` and of errors about it, for leak checks.
fn renderings(m: &Message) -> Vec<String> {
    let mut out = vec![
        format!("{m:?}"),
        format!("{m:#?}"),
        m.dump(&ASCII87),
        m.dump(&BINARY87),
    ];
    for v in m.fields.values() {
        out.push(format!("{v:?}"));
    }
    out
}

#[test]
fn debug_and_dump_mask_sensitive_fields() {
    let mut m = authorization_request();
    m.set_binary(fields::PIN_BLOCK, &unhex("0412AC89ABCDEF67"));
    let debug = format!("{m:?}");
    assert!(
        debug.starts_with("Message { mti: 0100, fields: {2: 476173******0010, 3: 000000,"),
        "{debug}"
    );
    assert!(debug.contains("14: ****"), "{debug}");
    assert!(debug.contains("35: [33 chars]"), "{debug}");
    assert!(debug.contains("52: [8 bytes]"), "{debug}");
    assert!(debug.contains("55: [36 bytes]"), "{debug}");
    assert!(debug.contains("41: TERM0001"), "{debug}");
    let dump = m.dump(&ASCII87);
    assert!(
        dump.starts_with("MTI 0100 (authorization request)\n    Bitmap 723C460028E09200\n"),
        "{dump}"
    );
    assert!(
        dump.contains("DE   2 Primary Account Number (PAN): 476173******0010\n"),
        "{dump}"
    );
    assert!(dump.contains("DE  14 Date, Expiration: ****\n"), "{dump}");
    assert!(dump.contains("DE  35 Track 2 Data: [33 chars]\n"), "{dump}");
    assert!(dump.contains("DE  55 ICC data: [36 bytes]\n"), "{dump}");
    let mut m2 = Message::new(Mti::AUTHORIZATION_REQUEST);
    m2.set_text(fields::TRACK1, "B4761739001010010^DOE/JANE^2812201")
        .set_binary(fields::MAC, &[0xAB; 8]);
    let debug = format!("{m2:?}");
    assert!(
        debug.contains("45: [34 chars]") && debug.contains("64: ABABABABABABABAB"),
        "{debug}"
    );
    for text in renderings(&m).into_iter().chain(renderings(&m2)) {
        assert!(!text.contains(PAN), "PAN leaked: {text}");
        assert!(!text.contains("2812"), "expiry leaked: {text}");
        assert!(!text.contains("0412AC"), "PIN block leaked: {text}");
        assert!(!text.contains("9F2608"), "ICC data leaked: {text}");
    }
}

#[test]
fn no_error_shows_a_pan() {
    // Break a message carrying the PAN in every way, and look at every error.
    let base = REQUEST_ASCII.as_bytes();
    let mut errors = Vec::new();
    for i in 0..base.len() {
        for replacement in [b'X', b'9', b'\n', 0xFF] {
            let mut broken = base.to_vec();
            broken[i] = replacement;
            if let Err(e) = Message::unpack(&broken, &ASCII87) {
                errors.push(format!("{e} {e:?}"));
            }
        }
        if let Err(e) = Message::unpack(&base[..i], &ASCII87) {
            errors.push(format!("{e} {e:?}"));
        }
    }
    let mut m = authorization_request();
    m.set_pan(Secret::new(format!("{PAN}0000")));
    let e = pack_err(&m);
    errors.push(format!("{e} {e:?}"));
    m.set_pan(Secret::new(format!("{PAN}X")));
    let e = pack_err(&m);
    errors.push(format!("{e} {e:?}"));
    assert!(errors.len() > base.len());
    for e in errors {
        assert!(!e.contains(PAN) && !e.contains("476173900"), "{e}");
    }
}

// ---- properties -------------------------------------------------------------------------

/// A small deterministic stream (splitmix64) so one `u64` from proptest makes one field value.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
}

/// A valid value for `field`: full length when fixed (so no padding happens), any length up to
/// the maximum otherwise.
fn value_for(field: &FieldSpec, seed: u64) -> FieldValue {
    let mut s = Stream(seed);
    let max = field.length.max();
    let wire_len = if field.length.is_fixed() {
        max
    } else {
        s.below(max + 1)
    };
    let alphabet: &[u8] = match field.encoding {
        Encoding::Numeric => b"0123456789",
        Encoding::AlphaNumeric => {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 "
        }
        Encoding::AlphaNumericSpecial => b" !\"#$%&'()*+,-./0123456789:;<=>?@AZaz[\\]^_`{|}~",
        Encoding::Track => b"0123456789=D",
        Encoding::BinaryHex => {
            return FieldValue::binary(
                (0..wire_len / 2)
                    .map(|_| s.next().to_le_bytes()[0])
                    .collect::<Vec<_>>(),
            );
        }
        Encoding::Binary | Encoding::Bitmap => {
            return FieldValue::binary(
                (0..wire_len)
                    .map(|_| s.next().to_le_bytes()[0])
                    .collect::<Vec<_>>(),
            );
        }
    };
    FieldValue::text(
        (0..wire_len)
            .map(|_| char::from(alphabet[s.below(alphabet.len())]))
            .collect::<String>(),
    )
}

fn arb_message() -> impl Strategy<Value = Message> {
    (
        prop::array::uniform4(0u8..10),
        prop::collection::btree_map(2u8..=128, any::<u64>(), 0..24),
    )
        .prop_map(|(digits, seeds)| {
            let mut m = Message::new(Mti(digits.map(|d| b'0' + d)));
            for (n, seed) in seeds.into_iter().filter(|(n, _)| *n != 65) {
                m.set_field(n, value_for(ASCII87.field(n).unwrap(), seed));
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_messages_round_trip_in_both_dialects(m in arb_message()) {
        for spec in [&ASCII87, &BINARY87] {
            let bytes = m.pack(spec).unwrap();
            let back = Message::unpack(&bytes, spec).unwrap();
            prop_assert_eq!(&back, &m);
            prop_assert_eq!(back.pack(spec).unwrap(), bytes);
        }
    }

    #[test]
    fn unpack_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        for spec in [&ASCII87, &BINARY87] {
            if let Ok(m) = Message::unpack(&bytes, spec) {
                let again = Message::unpack(&m.pack(spec).unwrap(), spec).unwrap();
                prop_assert_eq!(again, m);
            }
        }
    }

    #[test]
    fn unpack_never_panics_on_mutated_messages(
        m in arb_message(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        for spec in [&ASCII87, &BINARY87] {
            let mut bytes = m.pack(spec).unwrap();
            for (at, b) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
            let _ = format!("{:?}", Message::unpack(&bytes, spec));
            let end = cut.index(bytes.len() + 1);
            if let Ok(m) = Message::unpack(&bytes[..end], spec) {
                let again = Message::unpack(&m.pack(spec).unwrap(), spec).unwrap();
                prop_assert_eq!(again, m);
            }
        }
    }

    #[test]
    fn ascii_messages_fed_to_random_printable_bytes_never_panic(
        text in "[0-9A-Fa-f]{0,60}",
    ) {
        // Mostly valid MTI-and-bitmap shaped text reaches deeper into the decoder.
        let input = format!("0100{text}");
        let _ = Message::unpack(input.as_bytes(), &ASCII87);
    }
}

#[test]
fn network_management_answers_echo_their_identifiers() {
    let mut echo = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST);
    echo.set_transmission_date_time("1123120000").set_stan(777);
    echo.set_network_management_code(NetworkManagementCode::SIGN_ON);
    let rsp = echo.network_management_response();
    assert_eq!(rsp.mti, Mti::NETWORK_MANAGEMENT_RESPONSE);
    assert_eq!(rsp.stan(), Some(777));
    assert_eq!(rsp.transmission_date_time(), Some("1123120000"));
    assert_eq!(
        rsp.network_management_code(),
        Some(NetworkManagementCode::SIGN_ON)
    );
    assert_eq!(rsp.response_code(), Some(ResponseCode::APPROVED));
    let bare = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST).network_management_response();
    assert_eq!(
        bare.network_management_code(),
        Some(NetworkManagementCode::ECHO_TEST)
    );
}
