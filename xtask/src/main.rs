//! Project automation, run as `cargo xtask <command>` (the alias is in `.cargo/config.toml`).
//!
//! * `cargo xtask ci` runs every check CI runs, in order, stopping at the first failure:
//!   `fmt`, `clippy`, `test`, `doc`, `tidy`, `fuzz` (smoke). `XTASK_SKIP=fuzz,doc` skips steps
//!   by name (comma-separated).
//! * `cargo xtask tidy` checks the architecture rules of STYLE.md from `cargo metadata` and the
//!   source tree: layering of the L0 crates, crate metadata, `#![forbid(unsafe_code)]`, no
//!   ignored or should-panic tests, no clock or RNG in L0 code.
//! * `cargo xtask fuzz [--smoke | --target NAME --seconds N]` builds the `fuzz/` targets with
//!   cargo-fuzz on the stable toolchain (`--sanitizer none`) and runs them.
//!
//! `cargo xtask help` prints the usage, including the environment knobs.

mod ci;
mod fuzz;
mod tidy;

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  ci                     run every CI step in order, stopping at the first failure:
                           fmt     cargo fmt --all -- --check (and the same for fuzz/)
                           clippy  cargo clippy --workspace --all-targets -- -D warnings
                           test    cargo test --workspace
                           doc     cargo doc --workspace --no-deps (RUSTDOCFLAGS=-D warnings)
                           tidy    cargo xtask tidy
                           fuzz    cargo xtask fuzz --smoke
  tidy                   check the architecture rules (layering, crate metadata, lints, tests)
  fuzz                   build every fuzz target (cargo-fuzz, --sanitizer none)
  fuzz --smoke           build, then run every target for 10 s
  fuzz --target NAME [--seconds N]
                         build, then run one target for N seconds (default 60)
  fuzz --seconds N       build, then run every target for N seconds each
  help                   print this message

environment:
  XTASK_SKIP=fuzz,doc    `ci` skips the named steps (comma-separated step names from above)
  CARGO                  the cargo binary to run (set by `cargo run`; defaults to `cargo`)

examples:
  cargo xtask ci
  XTASK_SKIP=fuzz cargo xtask ci
  cargo xtask fuzz --target tlv --seconds 600
";

fn main() -> ExitCode {
    match run_cli() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli() -> Result<()> {
    let mut args = env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    match command.as_deref() {
        Some("ci") => ci::run_ci(&rest),
        Some("tidy") => {
            no_args("tidy", &rest)?;
            tidy::run()
        }
        Some("fuzz") => fuzz::run_fuzz(&fuzz::Options::parse(&rest)?),
        Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        None => {
            eprint!("{USAGE}");
            bail!("no command given")
        }
        Some(other) => {
            eprint!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

/// Fails when a command that takes no options was given some.
fn no_args(command: &str, rest: &[String]) -> Result<()> {
    match rest.first().map(String::as_str) {
        None => Ok(()),
        Some("-h" | "--help") => {
            print!("{USAGE}");
            std::process::exit(0)
        }
        Some(arg) => bail!("`cargo xtask {command}` takes no arguments (got `{arg}`)"),
    }
}

/// The workspace root: the parent of this crate's folder.
fn project_root() -> Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .context("xtask's manifest folder has no parent")
}

/// A `cargo` command (the same cargo that runs xtask) in `dir`.
fn cargo(dir: &Path) -> Command {
    let program = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    cmd
}

/// The command as a person would type it: program file name, then the arguments.
fn display(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    let mut line: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .map(|kv| {
            if kv.contains(' ') {
                format!("'{kv}'")
            } else {
                kv
            }
        })
        .collect();
    line.push(program);
    line.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    line.join(" ")
}

/// Runs `cmd` with inherited stdio, failing with the command line when it does not succeed.
fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("$ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Measures elapsed wall time. xtask is tooling, not product code: it may read the clock.
struct Stopwatch(Instant);

impl Stopwatch {
    #[expect(
        clippy::disallowed_methods,
        reason = "xtask reports how long CI steps take; the Clock seam is for product code"
    )]
    fn start() -> Self {
        Self(Instant::now())
    }

    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// `12.3s` or `4m 05s`.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}
