//! ISO 8583 ⇄ JSON in pyiso8583's decoded-dict shape, one message per line: a test tool for
//! `scripts/interop/pyiso8583_check.py`.
//!
//! ```text
//! cargo run -q -p iso8583 --example iso8583_json [--pack] [--binary] < lines
//! ```
//!
//! * Default: each stdin line is a packed message in hex (ASCII87, or BINARY87 with
//!   `--binary`); each stdout line is `{"t": "0100", "p": "7234...", "2": "4761...", ...}`: the
//!   MTI, the primary bitmap, the secondary bitmap as `"1"` when present, and every field by
//!   number. Text fields are given as they are; binary fields (DE 52, 55, ...) as upper-case hex,
//!   as pyiso8583 shows them.
//! * `--pack`: the reverse. Each stdin line is such a JSON object (`"p"` and `"1"` are ignored:
//!   bitmaps are computed, as pyiso8583's `encode` does); each stdout line is the packed
//!   message in upper-case hex.
//!
//! A line that fails becomes `error: <message>` and the tool exits with status 1 at the end.
//!
//! **This prints PANs and track data in clear.** It exists to compare our codec with pyiso8583
//! on generated test data; never point it at real card data.

use std::error::Error;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use iso8583::spec::{ASCII87, BINARY87};
use iso8583::{FieldValue, Message, Mti, Spec};
use serde_json::{Map, Value};

const USAGE: &str =
    "usage: iso8583_json [--pack] [--binary] < lines (hex in, JSON out; --pack: JSON in, hex out)";

/// A packed message (hex) to a pyiso8583-shaped JSON object.
fn unpack_line(line: &str, spec: &Spec) -> Result<String, Box<dyn Error>> {
    let bytes = hex::decode(line).map_err(|e| format!("not hex: {e}"))?;
    let message = Message::unpack(&bytes, spec)?;
    let bitmap = message.bitmap();
    let mut doc = Map::new();
    doc.insert("t".to_owned(), Value::from(message.mti.as_str()));
    doc.insert(
        "p".to_owned(),
        Value::from(hex::encode_upper(bitmap.primary())),
    );
    if bitmap.has_secondary() {
        doc.insert(
            "1".to_owned(),
            Value::from(hex::encode_upper(bitmap.secondary())),
        );
    }
    for (number, value) in &message.fields {
        let shown = match value.as_text() {
            Some(text) => text.to_owned(),
            None => hex::encode_upper(value.as_bytes()),
        };
        doc.insert(number.to_string(), Value::from(shown));
    }
    Ok(Value::Object(doc).to_string())
}

/// A pyiso8583-shaped JSON object to a packed message (hex).
fn pack_line(line: &str, spec: &Spec) -> Result<String, Box<dyn Error>> {
    let doc: Map<String, Value> = serde_json::from_str(line)?;
    let mti = doc
        .get("t")
        .and_then(Value::as_str)
        .and_then(Mti::from_digits)
        .ok_or("\"t\" must be four digits")?;
    let mut message = Message::new(mti);
    for (key, value) in &doc {
        let value = value
            .as_str()
            .ok_or_else(|| format!("field {key:?}: values are strings"))?;
        match key.as_str() {
            "t" | "p" | "1" => continue,
            "h" if value.is_empty() => continue,
            "h" => return Err("message headers are not supported".into()),
            _ => {}
        }
        let number: u8 = key.parse().map_err(|_| format!("unknown key {key:?}"))?;
        let binary = spec.field(number).is_some_and(|f| f.encoding.is_binary());
        let value = if binary {
            FieldValue::binary(hex::decode(value).map_err(|e| format!("field {key}: {e}"))?)
        } else {
            FieldValue::text(value)
        };
        message.set_field(number, value);
    }
    Ok(hex::encode_upper(message.pack(spec)?))
}

fn main() -> Result<ExitCode, Box<dyn Error>> {
    let mut pack = false;
    let mut spec = &ASCII87;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--pack" => pack = true,
            "--binary" => spec = &BINARY87,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}").into()),
        }
    }
    let mut out = io::stdout().lock();
    let mut failures = 0usize;
    for line in io::stdin().lock().lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let result = if pack {
            pack_line(line, spec)
        } else {
            unpack_line(line, spec)
        };
        match result {
            Ok(text) => writeln!(out, "{text}")?,
            Err(e) => {
                failures += 1;
                writeln!(out, "error: {e}")?;
            }
        }
    }
    out.flush()?;
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
