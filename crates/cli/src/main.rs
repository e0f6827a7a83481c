//! `tapwallet`: the one binary. This crate parses flags and wires the libraries together;
//! protocol logic lives in the library crates.

mod demo;
mod env;
mod tap;
mod trace;
mod verify;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tap(args) => tap::run(&args),
        Command::VerifyArqc(args) => verify::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
