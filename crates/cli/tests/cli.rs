//! The `tapwallet` binary end to end: flags, outputs, exit codes, masking.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_tapwallet");
const VISA_PAN: &str = "4761739001010010";

fn tapwallet(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn fixed(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "tap",
        "--date",
        "261123",
        "--unpredictable-number",
        "1A2B3C4D",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn tap_json(extra: &[&str]) -> (serde_json::Value, Output) {
    let mut args = fixed(extra);
    args.push("--json".into());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tapwallet(&refs, None);
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (json, out)
}

#[test]
fn tap_json_has_the_documented_fields_and_verifies() {
    for (scheme, cvn) in [
        ("visa", "10"),
        ("visa", "18"),
        ("visa", "22"),
        ("mastercard", "16"),
        ("mastercard", "21"),
    ] {
        let (json, out) = tap_json(&["--scheme", scheme, "--cvn", cvn, "--atc", "7"]);
        assert!(
            out.status.success(),
            "{scheme} {cvn}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for key in [
            "scheme", "cvn", "psn", "atc", "arqc", "iad", "outcome", "tags",
        ] {
            assert!(
                json.get(key).is_some(),
                "{scheme} {cvn}: no {key} in {json}"
            );
        }
        assert_eq!(json["outcome"], "online_request");
        assert_eq!(json["atc"], 7);
        assert_eq!(json["completion"]["arpc"], "accepted");
        assert_eq!(json["tags"]["9F37"], "1A2B3C4D");
        let verified = tapwallet(&["verify-arqc"], Some(&out.stdout));
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stdout)
        );
        assert!(String::from_utf8_lossy(&verified.stdout).contains("verified"));
    }
}

#[test]
fn verify_arqc_explains_mismatches() {
    let (json, _) = tap_json(&[]);
    // An altered ATC is named as such.
    let mut altered = json.clone();
    altered["tags"]["9F36"] = "0002".into();
    let out = tapwallet(
        &["verify-arqc", "--json"],
        Some(altered.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["verified"], false);
    assert!(
        verdict["diagnosis"].as_str().unwrap().contains("ATC"),
        "{verdict}"
    );
    // A wrong card number does not verify and is never echoed in full.
    let out = tapwallet(
        &["verify-arqc", "--pan", "4761739001010028"],
        Some(json.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("does NOT verify") && !text.contains("4761739001010028"),
        "{text}"
    );
    // A wrong PSN is named, with the card's own.
    let out = tapwallet(
        &["verify-arqc", "--psn", "02"],
        Some(json.to_string().as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("PSN 01 instead of 02"));
    // Not JSON: a clear error and exit code 2.
    let out = tapwallet(&["verify-arqc"], Some(b"hello"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tapwallet tap --json"));
}

#[test]
fn see_phone_above_the_cvm_limit_without_cdcvm() {
    for scheme in ["visa", "mastercard"] {
        let (json, out) = tap_json(&["--scheme", scheme, "--amount", "60", "--cdcvm", "no"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(json["outcome"], "see_phone", "{scheme}");
    }
    // Below the limit the same holder pays without authenticating.
    let (json, out) = tap_json(&["--amount", "20", "--cdcvm", "no"]);
    assert!(out.status.success());
    assert_eq!(json["completion"]["approved"], true);
}

#[test]
fn trace_names_tags_and_masks_the_pan() {
    let args = fixed(&[]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tapwallet(&refs, None);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "SELECT PPSE",
        "GET PROCESSING OPTIONS",
        "Application Cryptogram",
        "476173******0010",
        "APPROVED",
        "card accepted the ARPC",
    ] {
        assert!(text.contains(needle), "no {needle:?} in trace");
    }
    assert!(!text.contains(VISA_PAN), "full PAN in the trace");
    assert!(
        !text.contains("TAPWALLET/DEMO"),
        "cardholder name in the trace"
    );
}

#[test]
fn bad_flags_say_what_to_do() {
    for (args, needle) in [
        (vec!["tap", "--amount", "12.345"], "decimal places"),
        (vec!["tap", "--currency", "XYZ"], "ISO 4217"),
        (vec!["tap", "--pan", "4761739001010011"], "Luhn"),
        (vec!["tap", "--cvn", "16"], "Mastercard: 16"),
        (vec!["tap", "--issuer-master-key", "0011"], "16"),
        (vec!["tap", "--date", "261332"], "month"),
        (vec!["tap", "--atc", "0"], "--atc"),
    ] {
        let out = tapwallet(&args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn aes_card_keys_pay_and_verify_for_cvn_18_and_22() {
    let key = "000102030405060708090A0B0C0D0E0F1011121314151617";
    for cvn in ["18", "22"] {
        let (json, out) = tap_json(&["--cvn", cvn, "--aes-card-key", key]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json["completion"]["arpc"], "accepted");
        let ok = tapwallet(&["verify-arqc", "--aes-card-key", key], Some(&out.stdout));
        assert!(ok.status.success());
        // The demo 3DES issuer key does not verify an AES cryptogram.
        let bad = tapwallet(&["verify-arqc"], Some(&out.stdout));
        assert_eq!(bad.status.code(), Some(1));
    }
    let out = tapwallet(&["tap", "--cvn", "10", "--aes-card-key", key], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AES: Visa CVN 18 and 22"));
}

#[test]
fn bench_auth_approves_every_authorization_over_tcp() {
    let out = tapwallet(
        &[
            "bench",
            "auth",
            "--connections",
            "2",
            "--duration",
            "2",
            "--cards",
            "4",
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let approvals = json["approvals"].as_u64().unwrap();
    assert!(approvals > 0, "{json}");
    assert_eq!(json["declines"].as_u64(), Some(0), "{json}");
    assert_eq!(json["errors"].as_u64(), Some(0), "{json}");
    assert_eq!(json["authorizations"].as_u64(), Some(approvals), "{json}");
    assert_eq!(json["database"], "sqlite");
    assert!(json["latency_us"]["p50"].as_u64().unwrap() > 0, "{json}");
    assert!(
        json["generation_us"]["tap_mean"].as_f64().unwrap() > 0.0,
        "{json}"
    );
}
