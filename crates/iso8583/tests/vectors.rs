//! Published vectors (tests/vectors/*.json, each with an `id` and a `source`).
//!
//! `pyiso8583_default_ascii.json` is pyiso8583 4.0.1's `iso8583.specs.default_ascii`, dumped
//! verbatim; ASCII87 must agree with it field by field: length type, maximum, data and length
//! encodings, and name.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code outside #[test] functions: a bad vector file must stop the run"
)]

use std::collections::BTreeMap;

use iso8583::spec::{ASCII87, BitmapEncoding, Encoding, LengthType, MtiEncoding};
use serde::Deserialize;

/// One field of a pyiso8583 spec dict.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PyField {
    data_enc: String,
    len_enc: String,
    len_type: usize,
    max_len: usize,
    desc: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PySpecVector {
    id: String,
    source: String,
    pyiso8583_version: String,
    spec: BTreeMap<String, PyField>,
}

fn load() -> PySpecVector {
    let path = format!(
        "{}/tests/vectors/pyiso8583_default_ascii.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whether an ASCII87 encoding travels as ASCII text, which is what pyiso8583's
/// `data_enc = "ascii"` means (binary data as hex text and hex-text bitmaps included).
fn travels_as_ascii(encoding: Encoding) -> bool {
    match encoding {
        Encoding::Numeric
        | Encoding::AlphaNumeric
        | Encoding::AlphaNumericSpecial
        | Encoding::Track
        | Encoding::BinaryHex => true,
        Encoding::Bitmap => ASCII87.bitmap == BitmapEncoding::HexText,
        Encoding::Binary => false,
    }
}

fn check(key: &str, py: &PyField) -> Result<(), String> {
    if py.len_enc != "ascii" {
        return Err(format!(
            "len_enc {:?}: ASCII87 length prefixes are ASCII",
            py.len_enc
        ));
    }
    match key {
        // No message header in ASCII87 (framing belongs to iso8583-net).
        "h" => (py.max_len == 0)
            .then_some(())
            .ok_or(format!("header of {} bytes", py.max_len)),
        "p" => {
            let ok = py.data_enc == "ascii"
                && py.len_type == 0
                && py.max_len == 16
                && ASCII87.bitmap == BitmapEncoding::HexText
                && ASCII87.bitmap.wire_len() == 16;
            ok.then_some(())
                .ok_or(format!("primary bitmap {py:?} vs {:?}", ASCII87.bitmap))
        }
        _ => {
            let number = if key == "t" {
                0
            } else {
                key.parse::<u8>().map_err(|e| format!("key {key:?}: {e}"))?
            };
            let ours = ASCII87
                .field(number)
                .ok_or(format!("DE {number} missing from ASCII87"))?;
            let expected_length = match py.len_type {
                0 => LengthType::Fixed(py.max_len),
                2 => LengthType::LlVar(py.max_len),
                3 => LengthType::LllVar(py.max_len),
                other => return Err(format!("len_type {other}")),
            };
            if ours.length != expected_length {
                return Err(format!(
                    "length {:?}, pyiso8583 {expected_length:?}",
                    ours.length
                ));
            }
            if (py.data_enc == "ascii") != travels_as_ascii(ours.encoding) {
                return Err(format!(
                    "encoding {:?}, pyiso8583 {}",
                    ours.encoding, py.data_enc
                ));
            }
            if ours.name != py.desc {
                return Err(format!("name {:?}, pyiso8583 {:?}", ours.name, py.desc));
            }
            if number == 0 && ASCII87.mti != MtiEncoding::Ascii {
                return Err("MTI is not ASCII".to_owned());
            }
            Ok(())
        }
    }
}

#[test]
fn ascii87_is_pyiso8583_default_ascii() {
    let vector = load();
    assert_eq!(vector.pyiso8583_version, "4.0.1");
    assert!(
        vector.source.contains("pyiso8583 4.0.1"),
        "{}",
        vector.source
    );
    // h, t, p and fields 1 to 128.
    assert_eq!(vector.spec.len(), 131, "{}", vector.id);
    let failures: Vec<String> = vector
        .spec
        .iter()
        .filter_map(|(key, py)| {
            check(key, py)
                .err()
                .map(|e| format!("{}/{key}: {e}", vector.id))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // And the other way round: ASCII87 defines nothing pyiso8583 does not.
    for n in 0..=128u8 {
        let key = if n == 0 {
            "t".to_owned()
        } else {
            n.to_string()
        };
        assert!(vector.spec.contains_key(&key), "DE {n} not in pyiso8583");
    }
    // The brief's spot checks.
    let de55 = ASCII87.field(55).unwrap();
    assert_eq!(
        (de55.length, de55.encoding),
        (LengthType::LllVar(510), Encoding::BinaryHex)
    );
    assert_eq!(ASCII87.field(35).unwrap().length, LengthType::LlVar(37));
}
