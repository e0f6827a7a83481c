//! `tapwallet pos charge`: a terminal. The kernel reads a card and sends the online request to
//! the acquirer over TCP. The card is, by choice: the demo token personalized in process; the
//! default card in a device's secure element (`--device-dir`), read in process; or whatever
//! card a PC/SC reader holds (`--reader pcsc[:NAME]`), such as a phone running
//! `tapwallet device nfc` behind vsmartcard's virtual reader, or a real card on a real reader.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use cards::{Amount, Currency, Pan};
use clap::{Args, Subcommand, ValueEnum};
use emv_card::{Card, CardProfile, Counters, Scheme};
use emv_crypto::{Cvn, derive_icc_master_key};
use emv_kernel::{
    ArpcCheck, Kernel, OnlineRequest, Outcome, TerminalConfig, Transaction, TransactionType,
};
use iso8583::{Message, Mti, ResponseCode, spec::ASCII87};
use iso8583_net::{Client, ClientConfig, IsoCodec};
use serde_json::json;

use crate::env;
use harness::demo as seed;

/// `tapwallet pos ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PosCommand {
    /// Charge an amount: tap the demo card, authorize online through the acquirer.
    Charge(ChargeArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum YesNo {
    Yes,
    No,
}

/// Flags of `tapwallet pos charge`.
#[derive(Debug, Args)]
pub(crate) struct ChargeArgs {
    /// Amount in major units, e.g. 12.34.
    #[arg(long)]
    amount: String,
    /// ISO 4217 currency.
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// The card on the phone: a demo token (see `tapwallet up`).
    #[arg(long, default_value = "4761739001010010")]
    card: String,
    /// The token's expiry, MMYY, as its payload says (demo tokens: 1230).
    #[arg(long, default_value = "1230")]
    card_expiry: String,
    /// Cryptogram version of the card: Visa 10, 18, 22; Mastercard 16, 17, 20, 21.
    #[arg(long)]
    cvn: Option<u8>,
    /// The acquirer's address.
    #[arg(long, default_value = "127.0.0.1:8583")]
    acquirer: SocketAddr,
    /// This terminal's id (DE 41), known to the acquirer.
    #[arg(long, default_value = seed::TERMINAL_ID)]
    terminal: String,
    /// Has the holder authenticated on the phone? (Demo token only: a device's secure element
    /// knows whether its payment window is open.)
    #[arg(long, value_enum, default_value_t = YesNo::Yes)]
    cdcvm: YesNo,
    /// Pay with the default card in this device's secure element (made by `tapwallet device`),
    /// read in process, instead of the demo token.
    #[arg(long, value_name = "DIR", conflicts_with = "reader")]
    device_dir: Option<PathBuf>,
    /// Where the device's unlock session lives (see `tapwallet device --help`).
    #[arg(
        long,
        value_name = "DIR",
        env = "TAPWALLET_RUNTIME_DIR",
        requires = "device_dir"
    )]
    runtime_dir: Option<PathBuf>,
    /// Read the card through a PC/SC reader: `pcsc` takes the first reader with a card in it,
    /// `pcsc:NAME` a reader whose name contains NAME (e.g. `pcsc:Virtual PCD`).
    #[arg(long, value_name = "pcsc[:NAME]")]
    reader: Option<String>,
    /// Seconds to wait for a card to be presented to the PC/SC reader.
    #[arg(long, default_value_t = 10)]
    present_secs: u64,
    /// Where the in-process card keeps its transaction counter between runs.
    #[arg(long, default_value = "tapwallet-data/cards")]
    card_dir: PathBuf,
    /// Write the framed 0100 sent (2-byte length + message) to this file.
    #[arg(long, value_name = "FILE")]
    dump_request: Option<PathBuf>,
    /// Build the 0100 (and write it with --dump-request) without sending it.
    #[arg(long, requires = "dump_request")]
    dry_run: bool,
    /// Seconds to wait for the answer before reversing.
    #[arg(long, default_value_t = 10)]
    timeout_secs: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(cmd: &PosCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PosCommand::Charge(args) => charge(args).await,
    }
}

/// The card's counters file (the in-process card's stand-in for a secure element's memory).
fn counters_path(dir: &Path, pan: &Pan) -> PathBuf {
    dir.join(format!("{}-{}.atc", pan.bin6(), pan.last4()))
}

fn load_counters(path: &Path) -> anyhow::Result<Counters> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let atc = text
                .trim()
                .parse::<u16>()
                .with_context(|| format!("{} is corrupt", path.display()))?;
            Ok(Counters {
                atc,
                ..Counters::default()
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Counters::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Stores the ATC durably (write, fsync, rename) before the card's answer is released.
fn store_counters(path: &Path, counters: Counters) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{}", counters.atc)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn now_fields() -> anyhow::Result<(String, String, String)> {
    let secs = env::now_unix()?;
    let date = cards::Date::from_unix_seconds(secs)?;
    let tod = secs.rem_euclid(86_400);
    let hhmmss = format!("{:02}{:02}{:02}", tod / 3600, tod / 60 % 60, tod % 60);
    let mmdd = format!("{:02}{:02}", date.month(), date.day());
    Ok((format!("{mmdd}{hhmmss}"), hhmmss, mmdd))
}

fn random_digits(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if getrandom::fill(&mut buf).is_err() {
        return "0".repeat(n);
    }
    buf.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

/// The 0100 for an online request, with fresh identifiers and the current time.
pub(crate) fn authorization_request(
    request: &OnlineRequest,
    amount: Amount,
    terminal: &str,
) -> anyhow::Result<Message> {
    let (transmission, _, _) = now_fields()?;
    let ids = harness::terminal::Ids {
        stan: random_digits(6).parse()?,
        rrn: random_digits(12),
        terminal: terminal.to_owned(),
        transmission,
    };
    Ok(harness::terminal::authorization_request(
        request, amount, &ids,
    ))
}

async fn charge(args: &ChargeArgs) -> anyhow::Result<ExitCode> {
    let currency = Currency::lookup(&args.currency)
        .with_context(|| format!("--currency {}: unknown ISO 4217 code", args.currency))?;
    let amount =
        Amount::parse(&args.amount, currency).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    let device_state = match &args.device_dir {
        Some(dir) => Some(crate::device::DeviceState::open(
            Some(dir),
            args.runtime_dir.as_deref(),
        )?),
        None => None,
    };
    let device_session = match &device_state {
        Some(state) => Some(state.unlocked()?),
        None => None,
    };
    let mut source = match (&device_session, &args.reader) {
        (Some(session), _) => {
            let card = session.payment_card(None, env::now_unix()?)?;
            CardSource::Device(Box::new(card))
        }
        (None, Some(reader)) => connect_reader(reader, args.present_secs)?,
        (None, None) => demo_card(args)?,
    };
    let txn = Transaction {
        amount,
        amount_other_minor: 0,
        date: env::today()?,
        kind: TransactionType::PURCHASE,
    };
    let mut kernel = Kernel::new(TerminalConfig::default(), txn, &mut env::OsRng);
    let mut transceive = |cmd: &[u8]| -> anyhow::Result<Vec<u8>> { source.transmit(cmd) };
    let mut trace = Vec::new();
    let first = kernel.start();
    let outcome = kernel
        .drive(first, &mut transceive, &mut trace)
        .context("reading the card")?;
    let Outcome::OnlineRequest(request) = outcome else {
        return report_offline(args, &outcome);
    };
    let msg = authorization_request(&request, amount, &args.terminal)?;
    if let Some(file) = &args.dump_request {
        let bytes = msg
            .pack(&ASCII87)
            .map_err(|e| anyhow::anyhow!("packing the 0100: {e}"))?;
        let len = u16::try_from(bytes.len())?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        std::fs::write(file, framed).with_context(|| format!("writing {}", file.display()))?;
        if args.dry_run {
            println!("Wrote the framed 0100 to {} (not sent).", file.display());
            return Ok(ExitCode::SUCCESS);
        }
    }
    let client = Client::connect(args.acquirer, IsoCodec, ClientConfig::default())
        .await
        .with_context(|| {
            format!(
                "cannot reach the acquirer at {}: start it with `tapwallet up`",
                args.acquirer
            )
        })?;
    let answer = match client
        .request_with_timeout(msg.clone(), Duration::from_secs(args.timeout_secs))
        .await
    {
        Ok(a) => a,
        Err(e) => {
            // No answer: reverse, so a late approval holds no funds.
            let mut reversal = msg.clone();
            reversal.mti = Mti::REVERSAL_REQUEST;
            let _ = client
                .request_with_timeout(reversal, Duration::from_secs(args.timeout_secs))
                .await;
            bail!("no answer from the acquirer ({e}); the authorization was reversed");
        }
    };
    let code = answer
        .response_code()
        .unwrap_or(ResponseCode::SYSTEM_MALFUNCTION);
    let step = kernel.complete(harness::terminal::issuer_response(&answer));
    let done = kernel
        .drive(step, &mut transceive, &mut trace)
        .context("sending the issuer's answer to the card")?;
    let arpc = match &done {
        Outcome::Completed(c) => c.arpc,
        _ => ArpcCheck::NotSent,
    };
    let approved = code.is_approval() && !matches!(arpc, ArpcCheck::Rejected(_));
    let arpc_text = match arpc {
        ArpcCheck::NotSent => "no ARPC",
        ArpcCheck::Accepted => "card accepted the ARPC",
        ArpcCheck::Rejected(_) => "card REJECTED the ARPC",
    };
    if args.json {
        let out = json!({
            "outcome": if approved { "approved" } else { "declined" },
            "response_code": code.as_str(),
            "reason": code.name(),
            "auth_code": answer.auth_code(),
            "arpc": match arpc { ArpcCheck::NotSent => "not_sent", ArpcCheck::Accepted => "accepted", ArpcCheck::Rejected(_) => "rejected" },
            "pan": request.card.pan.masked(),
            "amount_minor": amount.minor(),
            "currency": amount.currency().alpha,
            "stan": msg.stan(),
            "rrn": msg.rrn(),
            "terminal": args.terminal,
            "atc": request.data.get(emv::tags::ATC).map(hex::encode_upper),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let verdict = if approved { "APPROVED" } else { "DECLINED" };
        println!(
            "{verdict}: {} ({}), {arpc_text}",
            code.name(),
            code.as_str()
        );
        println!();
        println!(
            "  TAPWALLET CAFE, PARIS            terminal {}",
            args.terminal
        );
        println!(
            "  card     {}  {}",
            request.card.pan.masked(),
            request.card.label.as_deref().unwrap_or("")
        );
        println!("  amount   {amount}");
        println!("  auth     {}", answer.auth_code().unwrap_or("-"));
        println!(
            "  RRN      {}   STAN {:06}",
            msg.rrn().unwrap_or("-"),
            msg.stan().unwrap_or(0)
        );
        println!(
            "  verified {}",
            match request.cvm {
                emv_kernel::Cvm::ConsumerDevice => "on the phone",
                emv_kernel::Cvm::NoCvm => "no CVM (under the limit)",
                emv_kernel::Cvm::OnlinePin => "online PIN",
                emv_kernel::Cvm::Signature => "signature",
            }
        );
    }
    Ok(if approved {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where the terminal's commands go.
pub(crate) enum CardSource {
    /// The demo token, personalized in process, its counter in a file.
    Demo { card: Box<Card>, counters: PathBuf },
    /// A card in a device's secure element, read in process.
    Device(Box<device::PaymentCard>),
    /// A card on a PC/SC reader.
    Pcsc(nfc::pcsc::Card),
}

impl CardSource {
    pub(crate) fn transmit(&mut self, cmd: &[u8]) -> anyhow::Result<Vec<u8>> {
        match self {
            Self::Demo { card, counters } => {
                let out = card.process(cmd);
                if let Some(c) = out.persist {
                    store_counters(counters, c).context("saving the card's counter")?;
                }
                Ok(out.response.encode())
            }
            Self::Device(card) => Ok(card.transmit(cmd)),
            Self::Pcsc(card) => Ok(card.transmit(cmd)?),
        }
    }
}

/// Connects to a PC/SC reader named by `--reader pcsc[:NAME]` and waits for a card.
pub(crate) fn connect_reader(spec: &str, present_secs: u64) -> anyhow::Result<CardSource> {
    let name = match spec.split_once(':') {
        Some(("pcsc", name)) if !name.is_empty() => Some(name),
        None if spec == "pcsc" => None,
        _ => bail!("--reader {spec}: expected `pcsc` or `pcsc:NAME`"),
    };
    let context = nfc::pcsc::Context::establish()?;
    Ok(CardSource::Pcsc(
        context.connect(name, Duration::from_secs(present_secs))?,
    ))
}

/// The demo token, personalized in process with its token key.
fn demo_card(args: &ChargeArgs) -> anyhow::Result<CardSource> {
    let pan = Pan::parse(&args.card).map_err(|e| anyhow::anyhow!("--card: {e}"))?;
    let scheme = if pan.expose_digits().starts_with('5') {
        Scheme::Mastercard
    } else {
        Scheme::Visa
    };
    let cvn = match (scheme, args.cvn) {
        (Scheme::Visa, None) => Cvn::Visa18,
        (Scheme::Mastercard, None) => Cvn::Mastercard16,
        (_, Some(n)) => *Cvn::ALL
            .iter()
            .find(|c| c.number() == n && c.scheme().to_string().eq_ignore_ascii_case(scheme.name()))
            .with_context(|| format!("--cvn {n} is not a {} cryptogram version", scheme.name()))?,
    };
    let token_imk = seed::tdes_key(seed::TOKEN_IMK_HEX, "token key").map_err(anyhow::Error::msg)?;
    let token_mk = derive_icc_master_key(cvn, &token_imk, pan.expose_digits(), 0x01)
        .map_err(|e| anyhow::anyhow!("token key: {e}"))?;
    let expiry = match (
        args.card_expiry.get(..2).and_then(|m| m.parse::<u8>().ok()),
        args.card_expiry
            .get(2..4)
            .and_then(|y| y.parse::<u16>().ok()),
    ) {
        (Some(month), Some(year)) if args.card_expiry.len() == 4 => {
            cards::Expiry::new(2000 + year, month)?
        }
        _ => anyhow::bail!("--card-expiry must be MMYY, e.g. 1230"),
    };
    let profile = match scheme {
        Scheme::Visa => CardProfile::visa(pan.clone(), 0x01, expiry, cvn, token_mk),
        Scheme::Mastercard => CardProfile::mastercard(pan.clone(), 0x01, expiry, cvn, token_mk),
    };
    let path = counters_path(&args.card_dir, &pan);
    let mut card = Card::new(profile, load_counters(&path)?);
    card.set_cdcvm_verified(matches!(args.cdcvm, YesNo::Yes));
    Ok(CardSource::Demo {
        card: Box::new(card),
        counters: path,
    })
}

fn report_offline(args: &ChargeArgs, outcome: &Outcome) -> anyhow::Result<ExitCode> {
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "outcome": outcome.name() }))?
        );
    } else {
        crate::trace::print_outcome(outcome);
    }
    Ok(ExitCode::from(1))
}
