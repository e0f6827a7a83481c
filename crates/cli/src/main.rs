//! `tapwallet`: the one binary. This crate parses flags and wires the libraries together;
//! protocol logic lives in the library crates.

mod backend;
mod bench;
mod bench_provision;
mod bench_tap;
mod demo;
mod device;
mod env;
mod hosts;
mod http;
mod phone;
mod pos;
mod tap;
mod tour;
mod trace;
mod tsp_host;
mod verify;

use std::future::Future;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tapwallet: an open-source digital wallet platform, every party in one binary.
#[derive(Debug, Parser)]
#[command(name = "tapwallet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a contactless tap between the terminal kernel and a card application, in process,
    /// and print every APDU, the outcome and the issuer's verdict.
    Tap(tap::TapArgs),
    /// Verify an ARQC from `tapwallet tap --json` output (read on stdin) with the issuer's key;
    /// explain any mismatch.
    VerifyArqc(verify::VerifyArgs),
    /// Run acquirer, card network and issuer in one process (embedded SQLite by default), seeded
    /// with demo cards, tokens and a terminal on first run.
    Up(hosts::UpArgs),
    /// Run the wallet backend (token requestor, HTTPS) alone.
    Serve(backend::ServeArgs),
    /// Run the issuer host alone.
    Issuer(hosts::IssuerArgs),
    /// Run the card network host alone (token vault, cryptogram and replay checks, stand-in).
    Network(hosts::NetworkArgs),
    /// Run the acquirer host alone.
    Acquirer(hosts::AcquirerArgs),
    /// A payment terminal.
    #[command(subcommand)]
    Pos(pos::PosCommand),
    /// Load generators.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// A device: account, enrollment and cards, through the wallet backend.
    Device(device::DeviceCommand),
    /// The one-time passwords the issuer sent (the embedded SMS/e-mail gateway).
    Outbox(tsp_host::OutboxArgs),
    /// The whole journey in one command: start the platform, make a device, add a card with
    /// the bank's one-time code, unlock, pay at the terminal, show the history.
    Demo(tour::DemoArgs),
}

/// Runs an async command on a multi-threaded runtime, with logs on stderr (`RUST_LOG`).
fn block_on<F: Future<Output = anyhow::Result<ExitCode>>>(f: F) -> anyhow::Result<ExitCode> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(f)
}

/// `tapwallet ... | head` closes stdout early: exit quietly as other Unix tools do, instead of
/// panicking with a trace (`println!` panics on a broken pipe, and forbidding unsafe code rules
/// out restoring the default SIGPIPE action).
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tap(args) => tap::run(&args),
        Command::VerifyArqc(args) => verify::run(&args),
        Command::Up(args) => block_on(hosts::up(&args)),
        Command::Serve(args) => block_on(backend::serve(&args)),
        Command::Issuer(args) => block_on(hosts::issuer_alone(&args)),
        Command::Network(args) => block_on(hosts::network_alone(&args)),
        Command::Acquirer(args) => block_on(hosts::acquirer_alone(&args)),
        Command::Pos(cmd) => block_on(pos::run(&cmd)),
        Command::Bench(cmd) => block_on(bench::run(&cmd)),
        Command::Device(cmd) => block_on(device::run(&cmd)),
        Command::Outbox(args) => block_on(tsp_host::outbox(&args)),
        Command::Demo(args) => tour::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
