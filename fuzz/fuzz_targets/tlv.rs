//! BER-TLV and DOL decoding never panics, and decode -> encode -> decode is stable.
//!
//! * `tlv::decode_tree`: every top-level object is re-encoded with `Builder::put`; decoding that
//!   gives the same tags and values at every depth, and encoding is then a fixed point.
//! * `Dol::parse` -> `encode` -> `parse` gives the same list; data built for it splits back into
//!   one value of the announced length per entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tlv::{Builder, Dol, DolFormat, Node, Tag, TagClass};

/// Tags and values of a tree, without offsets (re-encoding drops padding and long length forms,
/// so offsets may move while the content stays).
#[derive(Debug, PartialEq, Eq)]
struct Shape<'a> {
    tag: Tag,
    value: &'a [u8],
    children: Vec<Shape<'a>>,
}

fn shape<'a>(nodes: &[Node<'a>]) -> Vec<Shape<'a>> {
    nodes
        .iter()
        .map(|n| Shape {
            tag: n.tlv.tag,
            value: n.tlv.value,
            children: shape(&n.children),
        })
        .collect()
}

fn encode(nodes: &[Node<'_>]) -> Vec<u8> {
    let mut builder = Builder::new();
    for n in nodes {
        builder.put(n.tlv.tag, n.tlv.value);
    }
    builder.finish()
}

fn check_tree(data: &[u8]) {
    // The other readers must agree with decode_tree on success and never panic.
    let first_primitive = {
        let mut first = None;
        let visited = tlv::for_each_primitive(data, &mut |t| {
            if first.is_none() {
                first = Some(t.tag);
            }
        });
        visited.ok().and(first)
    };
    let Ok(nodes) = tlv::decode_tree(data) else {
        return;
    };
    if let Some(tag) = first_primitive {
        let found = tlv::find(data, tag).expect("find succeeds where decode_tree did");
        assert!(
            found.is_some(),
            "find misses a primitive tag the tree holds"
        );
    }

    let encoded = encode(&nodes);
    let again = tlv::decode_tree(&encoded).expect("a re-encoded tree decodes");
    assert_eq!(
        shape(&nodes),
        shape(&again),
        "decode -> encode -> decode changed the tree"
    );
    assert_eq!(encode(&again), encoded, "encoding is not a fixed point");
}

fn check_dol(data: &[u8]) {
    let Ok(dol) = Dol::parse(data) else {
        return;
    };
    let encoded = dol.encode();
    let again = Dol::parse(&encoded).expect("an encoded DOL parses");
    assert_eq!(dol, again, "DOL parse -> encode -> parse changed the list");
    assert_eq!(again.encode(), encoded, "DOL encoding is not a fixed point");

    // Terminal side: build the data from the input bytes themselves, with a format per class.
    let built = dol.build(
        |tag| (tag.0 % 3 != 0).then_some(data),
        |tag| match tag.class() {
            TagClass::Universal => DolFormat::Numeric,
            TagClass::Application => DolFormat::CompressedNumeric,
            TagClass::ContextSpecific | TagClass::Private => DolFormat::Other,
        },
    );
    assert_eq!(
        built.len(),
        dol.data_len(),
        "built DOL data has the wrong length"
    );
    // Card side: split it back.
    let values = dol.split(&built).expect("built DOL data splits");
    assert_eq!(values.len(), dol.entries().len());
    for ((tag, value), entry) in values.iter().zip(dol.entries()) {
        assert_eq!(*tag, entry.tag);
        assert_eq!(value.len(), entry.len);
    }
}

fuzz_target!(|data: &[u8]| {
    check_tree(data);
    check_dol(data);
});
