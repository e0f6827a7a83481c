//! `tapwallet bench ...`: load generators.

use std::process::ExitCode;

use clap::{Args, Subcommand};

/// `tapwallet bench ...`
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Drive authorizations (each with a fresh valid cryptogram) through acquirer, network and
    /// issuer over TCP; report throughput and latency percentiles.
    Auth(AuthArgs),
}

/// Flags of `tapwallet bench auth`.
#[derive(Debug, Args)]
pub(crate) struct AuthArgs {
    /// Concurrent terminal connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
}

pub(crate) async fn run(cmd: &BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Auth(args) => {
            anyhow::bail!(
                "bench auth with {} connections for {} s is not built yet",
                args.connections,
                args.duration
            )
        }
    }
}
