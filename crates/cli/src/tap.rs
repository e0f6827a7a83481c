//! `tapwallet tap`: kernel and card in one process.

use std::process::ExitCode;

use anyhow::{Context, bail};
use cards::{Amount, Currency, Date};
use clap::{Args, ValueEnum};
use emv_card::{Card, CardProfile, Counters, Scheme};
use emv_crypto::{Cvn, KeyAlgorithm, MasterKey};
use emv_kernel::{
    ArpcCheck, Exchange, IssuerResponse, Kernel, OnlineRequest, Outcome, TerminalConfig,
    Transaction, TransactionType,
};
use harness::IssuerKey;
use serde_json::{Map, Value, json};
use tlv::Tag;

use crate::{demo, env, trace};

/// Flags of `tapwallet tap`.
#[derive(Debug, Args)]
pub(crate) struct TapArgs {
    /// Amount in major units, e.g. 12.34.
    #[arg(long, default_value = "12.34")]
    amount: String,
    /// ISO 4217 currency, alphabetic or numeric.
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// Card scheme, which decides the kernel (Visa: Kernel 3 qVSDC; Mastercard: Kernel 2).
    #[arg(long, value_enum, default_value_t = SchemeArg::Visa)]
    scheme: SchemeArg,
    /// Cryptogram version: 10, 18 or 22 for Visa (default 18); 16, 17, 20 or 21 for Mastercard
    /// (default 16).
    #[arg(long)]
    cvn: Option<u8>,
    /// Card number (a test PAN); defaults to the scheme's demo PAN.
    #[arg(long)]
    pan: Option<String>,
    /// PAN sequence number, two digits (tag 5F34).
    #[arg(long, default_value = "01", value_parser = parse_psn)]
    psn: u8,
    /// Issuer master key for application cryptograms (3DES, 16 bytes hex); each card's key is
    /// derived from it. Defaults to the documented demo key 0123456789ABCDEFFEDCBA9876543210.
    #[arg(long, value_name = "HEX")]
    issuer_master_key: Option<String>,
    /// Use an AES card key instead (Visa CVN 18 or 22): HEX is the card's AES ICC master key
    /// (16, 24 or 32 bytes), used as is by card and issuer; EMV defines no AES derivation.
    #[arg(long, value_name = "HEX", conflicts_with = "issuer_master_key")]
    aes_card_key: Option<String>,
    /// Unpredictable number (4 bytes hex); random by default.
    #[arg(long, value_name = "HEX")]
    unpredictable_number: Option<String>,
    /// Transaction date YYMMDD; today by default.
    #[arg(long, value_name = "YYMMDD")]
    date: Option<String>,
    /// The ATC this tap uses (1-65535): the card's counter before the tap is N-1.
    #[arg(long, default_value_t = 1)]
    atc: u16,
    /// Has the holder authenticated on the device (consumer-device CVM)?
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    cdcvm: YesNo,
    /// One JSON object on stdout instead of the trace.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SchemeArg {
    Visa,
    Mastercard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum YesNo {
    Yes,
    No,
}

/// Parses a two-digit PAN sequence number into its BCD byte (`12` becomes `0x12`).
pub(crate) fn parse_psn(text: &str) -> Result<u8, String> {
    match text.as_bytes() {
        [d] if d.is_ascii_digit() => Ok(d - b'0'),
        [h, l] if h.is_ascii_digit() && l.is_ascii_digit() => Ok(((h - b'0') << 4) | (l - b'0')),
        _ => Err("a PAN sequence number is one or two digits, e.g. 01".to_owned()),
    }
}

fn cvn_for(scheme: Scheme, cvn: Option<u8>) -> anyhow::Result<Cvn> {
    Ok(match (scheme, cvn) {
        (Scheme::Visa, None | Some(18)) => Cvn::Visa18,
        (Scheme::Visa, Some(10)) => Cvn::Visa10,
        (Scheme::Visa, Some(22)) => Cvn::Visa22,
        (Scheme::Mastercard, None | Some(16)) => Cvn::Mastercard16,
        (Scheme::Mastercard, Some(17)) => Cvn::Mastercard17,
        (Scheme::Mastercard, Some(20)) => Cvn::Mastercard20,
        (Scheme::Mastercard, Some(21)) => Cvn::Mastercard21,
        (s, Some(n)) => bail!(
            "--cvn {n} is not a {} cryptogram version (Visa: 10, 18, 22; Mastercard: 16, 17, 20, 21)",
            s.name()
        ),
    })
}

/// The issuer's key from the flags: an AES card key, or a 3DES issuer master key (the demo
/// key when none is given).
pub(crate) fn issuer_key(
    imk_hex: Option<&str>,
    aes_hex: Option<&str>,
) -> anyhow::Result<IssuerKey> {
    if let Some(text) = aes_hex {
        let bytes =
            secret::Secret::new(hex::decode(text.trim()).context("--aes-card-key must be hex")?);
        let algorithm = match bytes.len() {
            16 => KeyAlgorithm::Aes128,
            24 => KeyAlgorithm::Aes192,
            32 => KeyAlgorithm::Aes256,
            n => bail!("--aes-card-key has {n} bytes; AES keys have 16, 24 or 32"),
        };
        let key = MasterKey::new(algorithm, bytes.expose())
            .map_err(|e| anyhow::anyhow!("--aes-card-key: {e}"))?;
        return Ok(IssuerKey::Card(key));
    }
    let text = imk_hex.unwrap_or(demo::ISSUER_MASTER_KEY_HEX);
    let bytes =
        secret::Secret::new(hex::decode(text.trim()).context("--issuer-master-key must be hex")?);
    if bytes.len() != 16 {
        bail!(
            "--issuer-master-key has {} bytes; a double-length 3DES key has 16",
            bytes.len()
        );
    }
    let key = MasterKey::new(KeyAlgorithm::Tdes2, bytes.expose())
        .map_err(|e| anyhow::anyhow!("--issuer-master-key: {e}"))?;
    Ok(IssuerKey::Master(key))
}

pub(crate) fn run(args: &TapArgs) -> anyhow::Result<ExitCode> {
    let scheme = match args.scheme {
        SchemeArg::Visa => Scheme::Visa,
        SchemeArg::Mastercard => Scheme::Mastercard,
    };
    let cvn = cvn_for(scheme, args.cvn)?;
    let pan = demo::parse_pan(args.pan.as_deref(), scheme)?;
    let key = issuer_key(
        args.issuer_master_key.as_deref(),
        args.aes_card_key.as_deref(),
    )?;
    let icc_mk = key
        .icc_key(cvn, pan.expose_digits(), args.psn)
        .map_err(|e| anyhow::anyhow!("deriving the card key: {e}"))?;
    if !cvn.supports(icc_mk.algorithm()) {
        bail!(
            "CVN {} is not defined with {:?} keys (AES: Visa CVN 18 and 22)",
            cvn.number(),
            icc_mk.algorithm()
        );
    }
    let currency = Currency::lookup(&args.currency)
        .with_context(|| format!("--currency {}: unknown ISO 4217 code", args.currency))?;
    let amount =
        Amount::parse(&args.amount, currency).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    let date = match &args.date {
        Some(d) => Date::parse_yymmdd(d).map_err(|e| anyhow::anyhow!("--date: {e}"))?,
        None => env::today()?,
    };
    if args.atc == 0 {
        bail!("--atc must be 1 or more: it is the counter value this tap uses");
    }
    let expiry = demo::expiry()?;
    let profile = match scheme {
        Scheme::Visa => CardProfile::visa(pan.clone(), args.psn, expiry, cvn, icc_mk),
        Scheme::Mastercard => CardProfile::mastercard(pan.clone(), args.psn, expiry, cvn, icc_mk),
    };
    let mut card = Card::new(
        profile,
        Counters {
            atc: args.atc - 1,
            ..Counters::default()
        },
    );
    card.set_cdcvm_verified(args.cdcvm == YesNo::Yes);

    let txn = Transaction {
        amount,
        amount_other_minor: 0,
        date,
        kind: TransactionType::PURCHASE,
    };
    let mut kernel = match &args.unpredictable_number {
        Some(un) => {
            let un = hex::decode(un).context("--unpredictable-number must be hex")?;
            if un.len() != 4 {
                bail!("--unpredictable-number must be 4 bytes (8 hex digits)");
            }
            Kernel::new(TerminalConfig::default(), txn, &mut env::FixedRng(un))
        }
        None => Kernel::new(TerminalConfig::default(), txn, &mut env::OsRng),
    };
    let mut transceive = |cmd: &[u8]| -> Result<Vec<u8>, std::convert::Infallible> {
        Ok(card.process(cmd).response.encode())
    };
    let mut exchanges = Vec::new();
    let first = kernel.start();
    let Ok(outcome) = kernel.drive(first, &mut transceive, &mut exchanges);
    let online_exchanges = exchanges.len();

    // The issuer's part, in process: verify the ARQC with the issuer master key, answer with an
    // ARPC, and let the kernel hand it to the card.
    let mut issuer = None;
    let mut completion = None;
    if let Outcome::OnlineRequest(request) = &outcome {
        let verdict = authorize(&key, request)?;
        let step = kernel.complete(verdict.response.clone());
        let Ok(done) = kernel.drive(step, &mut transceive, &mut exchanges);
        issuer = Some(verdict);
        completion = Some(done);
    }

    if args.json {
        let report = json_report(
            scheme,
            cvn,
            &outcome,
            issuer.as_ref(),
            completion.as_ref(),
            &exchanges,
        );
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        trace::print_exchanges(&exchanges[..online_exchanges]);
        trace::print_outcome(&outcome);
        if let (Some(verdict), Some(done)) = (&issuer, &completion) {
            trace::print_issuer(verdict.arqc_verified, &verdict.response);
            trace::print_exchanges(&exchanges[online_exchanges..]);
            trace::print_outcome(done);
        }
    }
    let approved = matches!(
        &completion,
        Some(Outcome::Completed(c)) if c.approved && !matches!(c.arpc, ArpcCheck::Rejected(_))
    );
    Ok(if approved {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the in-process issuer decided.
pub(crate) struct Verdict {
    pub(crate) arqc_verified: bool,
    pub(crate) response: IssuerResponse,
}

/// The in-process issuer: approves when the ARQC verifies, declines (`05`) otherwise, and
/// returns the ARPC the cryptogram version calls for.
fn authorize(key: &IssuerKey, request: &OnlineRequest) -> anyhow::Result<Verdict> {
    let (arqc_verified, response) =
        harness::issuer_response(key, request).map_err(|e| anyhow::anyhow!("issuer: {e}"))?;
    Ok(Verdict {
        arqc_verified,
        response,
    })
}

fn json_report(
    scheme: Scheme,
    cvn: Cvn,
    outcome: &Outcome,
    issuer: Option<&Verdict>,
    completion: Option<&Outcome>,
    exchanges: &[Exchange],
) -> Value {
    let mut report = Map::new();
    report.insert("scheme".into(), json!(scheme.name()));
    report.insert("cvn".into(), json!(cvn.number()));
    report.insert("outcome".into(), json!(outcome.name()));
    let request = match outcome {
        Outcome::OnlineRequest(r) | Outcome::ApprovedOffline(r) => Some(r),
        _ => None,
    };
    if let Some(r) = request {
        let d = &r.data;
        let hex_of = |t: Tag| d.get(t).map(hex::encode_upper);
        report.insert("kernel".into(), json!(r.kernel.number()));
        report.insert("pan".into(), json!(r.card.pan.masked()));
        report.insert("psn".into(), json!(r.card.psn.map(|p| format!("{p:02X}"))));
        let atc = d
            .get(emv::tags::ATC)
            .map(|a| a.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)));
        report.insert("atc".into(), json!(atc));
        report.insert(
            "arqc".into(),
            json!(hex_of(emv::tags::APPLICATION_CRYPTOGRAM)),
        );
        report.insert("cid".into(), json!(hex_of(emv::tags::CID)));
        report.insert("iad".into(), json!(hex_of(emv::tags::IAD)));
        report.insert(
            "unpredictable_number".into(),
            json!(hex_of(emv::tags::UNPREDICTABLE_NUMBER)),
        );
        report.insert("cvm".into(), json!(format!("{:?}", r.cvm)));
        let tags: Map<String, Value> = d
            .elements()
            .iter()
            .map(|(t, v)| (t.to_string(), json!(hex::encode_upper(v))))
            .collect();
        report.insert("tags".into(), Value::Object(tags));
    }
    if let Some(v) = issuer {
        report.insert(
            "issuer".into(),
            json!({
                "arqc_verified": v.arqc_verified,
                "approved": v.response.approved,
                "arc": String::from_utf8_lossy(&v.response.arc),
                "issuer_authentication_data": v.response.issuer_authentication_data.as_ref().map(hex::encode_upper),
            }),
        );
    }
    if let Some(Outcome::Completed(c)) = completion {
        let arpc = match c.arpc {
            ArpcCheck::NotSent => "not_sent".to_owned(),
            ArpcCheck::Accepted => "accepted".to_owned(),
            ArpcCheck::Rejected(sw) => format!("rejected {:04X}", sw.0),
        };
        report.insert("completion".into(), json!({ "approved": c.approved, "arpc": arpc, "outcome": completion.map(Outcome::name) }));
    }
    let apdus: Vec<Value> = exchanges
        .iter()
        .map(|e| {
            let sw = e
                .response
                .len()
                .checked_sub(2)
                .and_then(|i| e.response.get(i..))
                .map(hex::encode_upper);
            json!({ "command": e.name, "sw": sw })
        })
        .collect();
    report.insert("apdus".into(), Value::Array(apdus));
    Value::Object(report)
}
