use proptest::prelude::*;

use super::*;

fn h(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn decodes_a_gpo_format2_response_template() {
    // 77 template with AIP, AFL and a two-byte tag.
    let bytes = h("770F820200809404080101009F3602002A");
    let tree = decode_tree(&bytes).unwrap();
    assert_eq!(tree.len(), 1);
    assert_eq!(tree[0].tlv.tag, Tag(0x77));
    let kids: Vec<_> = tree[0]
        .children
        .iter()
        .map(|n| (n.tlv.tag, n.tlv.value.to_vec()))
        .collect();
    assert_eq!(
        kids,
        vec![
            (Tag(0x82), h("0080")),
            (Tag(0x94), h("08010100")),
            (Tag(0x9F36), h("002A")),
        ]
    );
    assert_eq!(find(&bytes, Tag(0x9F36)).unwrap(), Some(&h("002A")[..]));
    assert_eq!(find(&bytes, Tag(0x9F26)).unwrap(), None);
    // Offsets point into the outer input.
    assert_eq!(tree[0].children[2].tlv.offset, 12);
}

#[test]
fn multi_byte_tags_and_classes() {
    assert_eq!(Tag::read(&h("9F02")).unwrap(), (Tag(0x9F02), 2));
    assert_eq!(Tag::read(&h("DF8101")).unwrap(), (Tag(0xDF8101), 3));
    assert_eq!(Tag::read(&h("5F2A")).unwrap(), (Tag(0x5F2A), 2));
    assert_eq!(Tag::read(&h("9F")), Err(TlvErrorKind::TruncatedTag));
    assert_eq!(Tag::read(&h("9F818181")), Err(TlvErrorKind::TagTooLong));
    assert!(Tag(0x70).is_constructed());
    assert!(Tag(0xBF0C).is_constructed());
    assert!(!Tag(0x9F02).is_constructed());
    assert_eq!(Tag(0x9F02).class(), TagClass::ContextSpecific);
    assert_eq!(Tag(0x5F2A).class(), TagClass::Application);
    assert_eq!(Tag(0xDF8101).to_string(), "DF8101");
    assert_eq!(Tag(0x5A).to_string(), "5A");
    assert_eq!("9F02".parse::<Tag>(), Ok(Tag(0x9F02)));
    assert!("9F".parse::<Tag>().is_err());
    assert!("XYZ1".parse::<Tag>().is_err());
}

#[test]
fn long_form_lengths_round_trip() {
    for len in [0usize, 1, 0x7F, 0x80, 0xFF, 0x100, 0x1234, 0x1_0000] {
        let value = vec![0xAB; len];
        let enc = encode(Tag(0x9F10), &value);
        let got: Vec<_> = Reader::new(&enc).collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 1, "len {len}");
        assert_eq!(got[0].value.len(), len);
    }
    let mut out = Vec::new();
    write_length(0x80, &mut out);
    assert_eq!(out, h("8180"));
    out.clear();
    write_length(0x1234, &mut out);
    assert_eq!(out, h("821234"));
}

#[test]
fn padding_between_objects_is_skipped() {
    let bytes = h("00005A084111111111111111FF5F340101FFFF");
    let got: Vec<_> = Reader::new(&bytes).collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(
        got.iter().map(|t| t.tag).collect::<Vec<_>>(),
        vec![Tag(0x5A), Tag(0x5F34)]
    );
}

#[test]
fn malformed_input_says_where() {
    // Value overruns.
    let e = decode_tree(&h("9F02060000")).unwrap_err();
    assert_eq!(e.offset, 2);
    assert_eq!(e.tag, Some(Tag(0x9F02)));
    assert_eq!(
        e.kind,
        TlvErrorKind::ValueOverrun {
            needed: 6,
            available: 2
        }
    );
    // Indefinite length.
    assert_eq!(
        decode_tree(&h("708000")).unwrap_err().kind,
        TlvErrorKind::IndefiniteLength
    );
    // Too many length bytes.
    assert_eq!(
        decode_tree(&h("5A850000000001")).unwrap_err().kind,
        TlvErrorKind::LengthTooLong
    );
    // Truncated length.
    assert_eq!(
        decode_tree(&h("5A82")).unwrap_err().kind,
        TlvErrorKind::TruncatedLength
    );
}

#[test]
fn nested_error_offset_is_absolute() {
    let bytes = h("70049F020500");
    let e = decode_tree(&bytes).unwrap_err();
    assert_eq!(e.offset, 4);
    assert_eq!(e.tag, Some(Tag(0x9F02)));
    assert!(e.to_string().contains("offset 4"), "{e}");
}

#[test]
fn nesting_is_bounded() {
    let mut bytes = vec![0x5A, 0x00];
    for _ in 0..40 {
        bytes = encode(Tag(0x70), &bytes);
    }
    assert_eq!(decode_tree(&bytes).unwrap_err().kind, TlvErrorKind::TooDeep);
    assert_eq!(
        find(&bytes, Tag(0x9F02)).unwrap_err().kind,
        TlvErrorKind::TooDeep
    );
}

#[test]
fn builder_nests_templates() {
    let mut b = Builder::new();
    b.template(Tag(0x6F), |b| {
        b.put(Tag(0x84), &h("325041592E5359532E4444463031"));
        b.template(Tag(0xA5), |b| {
            b.put(Tag(0x88), &[0x01]);
        });
    });
    assert_eq!(
        b.finish(),
        h("6F15840E325041592E5359532E4444463031A503880101")
    );
}

#[test]
fn dol_parse_build_split() {
    // A typical Visa PDOL: TTQ, amount, other amount, country, TVR, currency, date, type, UN.
    let pdol = Dol::parse(&h("9F66049F02069F03069F1A0295055F2A029A039C019F3704")).unwrap();
    assert_eq!(pdol.entries().len(), 9);
    assert_eq!(pdol.data_len(), 33);
    assert_eq!(
        pdol.encode(),
        h("9F66049F02069F03069F1A0295055F2A029A039C019F3704")
    );
    let values = [
        (Tag(0x9F02), h("000000001234")),
        (Tag(0x9F37), h("11223344")),
    ];
    let lookup = |t: Tag| {
        values
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    };
    let data = pdol.build(lookup, |_| DolFormat::Other);
    assert_eq!(data.len(), 33);
    let split = pdol.split(&data).unwrap();
    assert_eq!(split[1], (Tag(0x9F02), &h("000000001234")[..]));
    assert_eq!(split[8], (Tag(0x9F37), &h("11223344")[..]));
    assert_eq!(split[0], (Tag(0x9F66), &[0u8; 4][..]));
    assert!(pdol.split(&data[..10]).is_err());
    assert!(Dol::parse(&h("9F66")).is_err());
}

#[test]
fn dol_truncates_and_pads_by_format() {
    let dol = Dol::parse(&h("9F0204")).unwrap();
    let v = h("000000001234");
    // n: keep the rightmost bytes.
    assert_eq!(
        dol.build(|_| Some(&v[..]), |_| DolFormat::Numeric),
        h("00001234")
    );
    // b: keep the leftmost bytes.
    assert_eq!(
        dol.build(|_| Some(&v[..]), |_| DolFormat::Other),
        h("00000000")
    );
    let dol = Dol::parse(&h("5A08")).unwrap();
    let pan = h("4761739001");
    assert_eq!(
        dol.build(|_| Some(&pan[..]), |_| DolFormat::CompressedNumeric),
        h("4761739001FFFFFF")
    );
    assert_eq!(
        dol.build(|_| Some(&pan[..]), |_| DolFormat::Numeric),
        h("0000004761739001")
    );
    assert_eq!(
        dol.build(|_| Some(&pan[..]), |_| DolFormat::Other),
        h("4761739001000000")
    );
    // Constructed tags are always zero-filled.
    let dol = Dol::parse(&h("7002")).unwrap();
    assert_eq!(
        dol.build(|_| Some(&pan[..]), |_| DolFormat::Other),
        h("0000")
    );
}

fn arb_tag() -> impl Strategy<Value = Tag> {
    prop_oneof![
        // one-byte tags that are neither padding nor multi-byte markers, primitive
        (0x41u32..=0x5E)
            .prop_filter("not 1F class marker", |t| t & 0x1F != 0x1F)
            .prop_map(Tag),
        (0x9F01u32..=0x9F7F).prop_map(Tag),
        (0xDF8101u32..=0xDF817F).prop_map(Tag),
    ]
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_tree(&bytes);
        let _ = find(&bytes, Tag(0x9F26));
        let _ = Dol::parse(&bytes);
    }

    #[test]
    fn encode_decode_round_trip(items in proptest::collection::vec((arb_tag(), proptest::collection::vec(any::<u8>(), 0..300)), 0..8)) {
        let mut b = Builder::new();
        for (t, v) in &items {
            b.put(*t, v);
        }
        let enc = encode(Tag(0x70), b.as_bytes());
        let tree = decode_tree(&enc).unwrap();
        prop_assert_eq!(tree.len(), 1);
        let got: Vec<_> = tree[0].children.iter().map(|n| (n.tlv.tag, n.tlv.value.to_vec())).collect();
        prop_assert_eq!(got, items);
    }
}
