//! `tapwallet bench tap`: how long the phone takes at the terminal. Each tap runs the terminal
//! kernel from SELECT PPSE to the online request (every APDU, the cryptogram and the sealed ATC
//! write included) against a device's card: through a PC/SC reader (the phone served by
//! `tapwallet device nfc` behind vsmartcard's vpcd, or a real card on a real reader) or in
//! process (`--device-dir`), so the two can be compared. Nothing is sent online: each tap burns
//! an ATC, which the network accepts later (its window only refuses repeated or stale ATCs).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use cards::{Amount, Currency};
use clap::Args;
use emv_kernel::{Kernel, Outcome, TerminalConfig, Transaction, TransactionType};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::bench::{float, stopwatch};
use crate::env;

/// Flags of `tapwallet bench tap`.
#[derive(Debug, Args)]
pub(crate) struct TapArgs {
    /// Read through a PC/SC reader: `pcsc` or `pcsc:NAME` (e.g. `pcsc:Virtual PCD 00 00`).
    #[arg(
        long,
        value_name = "pcsc[:NAME]",
        required_unless_present = "device_dir"
    )]
    reader: Option<String>,
    /// Read the default card of this device directly, in process (no reader).
    #[arg(long, value_name = "DIR", conflicts_with = "reader")]
    device_dir: Option<PathBuf>,
    /// Where the device's unlock session lives (see `tapwallet device --help`).
    #[arg(long, value_name = "DIR", env = "TAPWALLET_RUNTIME_DIR")]
    runtime_dir: Option<PathBuf>,
    /// Taps to make.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    taps: u64,
    /// Amount of each tap, major units (at or under the CVM limit, 50.00, no verification is
    /// needed; above it the payment window must be open).
    #[arg(long, default_value = "12.00")]
    amount: String,
    /// Seconds to wait for a card on the reader.
    #[arg(long, default_value_t = 10)]
    present_secs: u64,
    /// One JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Runs the benchmark.
pub(crate) async fn run(args: &TapArgs) -> anyhow::Result<ExitCode> {
    let eur = Currency::lookup("EUR").context("EUR")?;
    let amount = Amount::parse(&args.amount, eur).map_err(|e| anyhow::anyhow!("--amount: {e}"))?;
    let mut source = match (&args.reader, &args.device_dir) {
        (Some(reader), _) => {
            let spec = reader.clone();
            let wait = args.present_secs;
            tokio::task::spawn_blocking(move || crate::pos::connect_reader(&spec, wait)).await??
        }
        (None, Some(dir)) => {
            let state = crate::device::DeviceState::open(Some(dir), args.runtime_dir.as_deref())?;
            let session = state.unlocked()?;
            crate::pos::CardSource::Device(Box::new(session.payment_card(None, env::now_unix()?)?))
        }
        (None, None) => bail!("give --reader pcsc[:NAME] or --device-dir DIR"),
    };
    let path = if args.reader.is_some() {
        "pcsc"
    } else {
        "in_process"
    };
    let progress = if args.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.taps).with_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} taps  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let mut tap_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
        .map_err(|e| anyhow::anyhow!("histogram: {e}"))?;
    let mut apdus = 0u64;
    let mut outcomes = std::collections::BTreeMap::<&'static str, u64>::new();
    let date = env::today()?;
    let started = stopwatch();
    for _ in 0..args.taps {
        let txn = Transaction {
            amount,
            amount_other_minor: 0,
            date,
            kind: TransactionType::PURCHASE,
        };
        let mut kernel = Kernel::new(TerminalConfig::default(), txn, &mut env::OsRng);
        let mut trace = Vec::new();
        let t0 = stopwatch();
        let first = kernel.start();
        let mut transceive = |cmd: &[u8]| -> anyhow::Result<Vec<u8>> { source.transmit(cmd) };
        let outcome =
            tokio::task::block_in_place(|| kernel.drive(first, &mut transceive, &mut trace))
                .context("reading the card")?;
        let took = t0.elapsed();
        tap_us.saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1));
        apdus += u64::try_from(trace.len()).unwrap_or(0);
        *outcomes.entry(outcome.name()).or_default() += 1;
        if !matches!(outcome, Outcome::OnlineRequest(_)) {
            progress.set_message(format!("last outcome: {}", outcome.name()));
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let elapsed = started.elapsed();
    let q = |p: f64| Duration::from_micros(tap_us.value_at_quantile(p));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let taps = tap_us.len();
    let apdus_per_tap = float(apdus) / float(taps.max(1));
    let rate = float(taps) / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "path": path,
                "taps": taps,
                "apdus_per_tap": apdus_per_tap,
                "tap_ms": {
                    "p50": ms(q(0.50)),
                    "p90": ms(q(0.90)),
                    "p99": ms(q(0.99)),
                    "max": ms(Duration::from_micros(tap_us.max())),
                },
                "taps_per_second": rate,
                "outcomes": outcomes,
            }))?
        );
    } else {
        println!(
            "{taps} taps {} ({apdus_per_tap:.1} APDUs each), card to online request:",
            if path == "pcsc" {
                "through PC/SC"
            } else {
                "in process"
            }
        );
        println!(
            "  p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms   max {:.2} ms   ({:.0} taps/s)",
            ms(q(0.50)),
            ms(q(0.90)),
            ms(q(0.99)),
            ms(Duration::from_micros(tap_us.max())),
            rate
        );
        let summary: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  outcomes: {}", summary.join(", "));
    }
    Ok(if outcomes.keys().all(|k| *k == "online_request") {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
