//! `tapwallet verify-arqc`: the issuer's check of a tap's cryptogram, with a diagnosis.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use emv_crypto::{Cvn, diagnose, verify_ac};
use harness::IssuerKey;
use serde_json::json;
use tlv::Tag;

use crate::tap::issuer_key;

/// Flags of `tapwallet verify-arqc`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Issuer master key (hex); the documented demo key by default.
    #[arg(long, value_name = "HEX")]
    issuer_master_key: Option<String>,
    /// The card's AES ICC master key (hex) instead of an issuer master key.
    #[arg(long, value_name = "HEX", conflicts_with = "issuer_master_key")]
    aes_card_key: Option<String>,
    /// The card number the cryptogram was made with; defaults to the demo PAN of the report's
    /// scheme.
    #[arg(long)]
    pan: Option<String>,
    /// PAN sequence number (two digits); defaults to the report's `psn`.
    #[arg(long, value_parser = crate::tap::parse_psn)]
    psn: Option<u8>,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the tap report on stdin")?;
    let report: serde_json::Value = serde_json::from_str(&input)
        .context("stdin is not JSON: pipe the output of `tapwallet tap --json`")?;
    let Some(tag_map) = report.get("tags").and_then(|t| t.as_object()) else {
        bail!(
            "the report has no \"tags\" object (the authorization data set): was the outcome an online request?"
        );
    };
    let mut tags: Vec<(Tag, Vec<u8>)> = Vec::with_capacity(tag_map.len());
    for (k, v) in tag_map {
        let tag: Tag = k
            .parse()
            .with_context(|| format!("tags: {k:?} is not a BER tag"))?;
        let hex_value = v
            .as_str()
            .with_context(|| format!("tags.{k}: value must be a hex string"))?;
        tags.push((
            tag,
            hex::decode(hex_value).with_context(|| format!("tags.{k}: not hex"))?,
        ));
    }
    let lookup = |t: Tag| {
        tags.iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    };
    let scheme = match report.get("scheme").and_then(|s| s.as_str()) {
        Some("mastercard") => emv_card::Scheme::Mastercard,
        _ => emv_card::Scheme::Visa,
    };
    let pan = crate::demo::parse_pan(args.pan.as_deref(), scheme)?;
    let psn = match args.psn {
        Some(p) => p,
        None => report
            .get("psn")
            .and_then(|p| p.as_str())
            .map(|p| u8::from_str_radix(p, 16))
            .transpose()
            .context("psn in the report is not hex")?
            .unwrap_or(0),
    };
    let arqc = lookup(emv::tags::APPLICATION_CRYPTOGRAM).context("tags has no 9F26 cryptogram")?;
    let iad = lookup(emv::tags::IAD).context("tags has no 9F10 IAD")?;
    let cvn = Cvn::from_iad(iad).map_err(|e| anyhow::anyhow!("9F10: {e}"))?;
    let key = issuer_key(
        args.issuer_master_key.as_deref(),
        args.aes_card_key.as_deref(),
    )?;
    let icc_mk = key
        .icc_key(cvn, pan.expose_digits(), psn)
        .map_err(|e| anyhow::anyhow!("deriving the card key: {e}"))?;
    let verified = verify_ac(cvn, &icc_mk, &lookup, arqc).is_ok();
    // The diagnosis varies the derivation, so it needs the issuer master key.
    let diagnosis = match (&key, verified) {
        (_, true) => None,
        (IssuerKey::Master(imk), false) => {
            Some(diagnose(imk, pan.expose_digits(), psn, Some(cvn), &lookup, arqc).to_string())
        }
        (IssuerKey::Card(_), false) => Some(
            "the cryptogram does not verify with this AES card key (no diagnosis without an \
             issuer master key)"
                .to_owned(),
        ),
    };
    if args.json {
        let out = json!({
            "verified": verified,
            "cvn": cvn.number(),
            "pan": pan.masked(),
            "psn": format!("{psn:02X}"),
            "arqc": hex::encode_upper(arqc),
            "diagnosis": diagnosis,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if verified {
        println!(
            "ARQC {} verified: CVN {}, PAN {}, PSN {psn:02X}.",
            hex::encode_upper(arqc),
            cvn.number(),
            pan.masked()
        );
    } else {
        println!(
            "ARQC {} does NOT verify (CVN {}, PAN {}, PSN {psn:02X}).",
            hex::encode_upper(arqc),
            cvn.number(),
            pan.masked()
        );
        if let Some(d) = &diagnosis {
            println!("Diagnosis: {d}");
        }
    }
    Ok(if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
