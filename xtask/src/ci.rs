//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.
//!
//! CI calls only this (through `scripts/test`), so a developer runs exactly what CI runs.
//! `XTASK_SKIP` names steps to skip, comma-separated: `XTASK_SKIP=fuzz,doc cargo xtask ci`.

use std::env;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::{Stopwatch, cargo, fuzz, human, run, tidy};

/// One CI step: a name for `XTASK_SKIP`, the command line to show, and what it does.
struct Step {
    name: &'static str,
    command: &'static str,
    action: fn(&Path) -> Result<()>,
}

/// The steps, cheapest and most common failures first.
const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        command: "cargo fmt --all -- --check",
        action: fmt,
    },
    Step {
        name: "clippy",
        command: "cargo clippy --workspace --all-targets -- -D warnings",
        action: clippy,
    },
    Step {
        name: "test",
        command: "cargo test --workspace",
        action: test,
    },
    Step {
        name: "doc",
        command: "RUSTDOCFLAGS='-D warnings' cargo doc --workspace --no-deps",
        action: doc,
    },
    Step {
        name: "tidy",
        command: "cargo xtask tidy",
        action: tidy_step,
    },
    Step {
        name: "interop",
        command: "python3 scripts/interop/*_check.py",
        action: interop,
    },
    Step {
        name: "fuzz",
        command: "cargo xtask fuzz --smoke",
        action: fuzz_smoke,
    },
];

fn fmt(root: &Path) -> Result<()> {
    run(cargo(root).args(["fmt", "--all", "--", "--check"]))?;
    // fuzz/ is its own workspace, so `--all` above does not reach it; without `--all` this
    // checks the fuzz package alone, not its path dependencies again.
    run(cargo(root).args(["fmt", "--manifest-path", "fuzz/Cargo.toml", "--", "--check"]))
}

fn clippy(root: &Path) -> Result<()> {
    run(cargo(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}

fn test(root: &Path) -> Result<()> {
    run(cargo(root).args(["test", "--workspace"]))
}

fn doc(root: &Path) -> Result<()> {
    run(cargo(root)
        .env("RUSTDOCFLAGS", "-D warnings")
        .args(["doc", "--workspace", "--no-deps"]))
}

/// Third-party checks: pyemv recomputes the cryptograms and ARPCs that `tapwallet tap` produces;
/// pyiso8583 encodes and decodes the same ISO 8583 messages as the `iso8583` crate; jwcrypto
/// decrypts and verifies what the `jose` crate produces, and the other way round; schemathesis
/// fuzzes the wallet backend against its OpenAPI document; jwcrypto opens a real token payload
/// with the device's key.
/// Needs python3 with pyemv, pyiso8583 4.0.1, jwcrypto and schemathesis (`scripts/test`
/// installs them).
fn interop(root: &Path) -> Result<()> {
    run(cargo(root).args(["build", "-p", "cli"]))?;
    // The binary cargo just built, wherever CARGO_TARGET_DIR puts it.
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug").join("tapwallet");
    let bin = bin.to_string_lossy().into_owned();
    for script in [
        vec!["scripts/interop/pyemv_check.py", bin.as_str()],
        vec!["scripts/interop/pyiso8583_check.py"],
        vec!["scripts/interop/acquirer_check.py", bin.as_str()],
        vec!["scripts/interop/jose_check.py"],
        vec!["scripts/interop/schemathesis_check.py", bin.as_str()],
        vec!["scripts/interop/payload_check.py", bin.as_str()],
        // The device wallet end to end; through PC/SC (pcscd, vpcd, pyscard) when
        // TAPWALLET_TEST_PCSC is set, as scripts/test sets it.
        vec!["scripts/interop/device_check.py", bin.as_str()],
    ] {
        run(std::process::Command::new("python3")
            .current_dir(root)
            .args(script))?;
    }
    Ok(())
}

fn tidy_step(_root: &Path) -> Result<()> {
    tidy::run()
}

fn fuzz_smoke(_root: &Path) -> Result<()> {
    fuzz::run_fuzz(&fuzz::Options::smoke())
}

/// How a step ended, for the summary.
enum Outcome {
    Passed(Duration),
    Failed(Duration),
    Skipped,
    NotRun,
}

/// Runs the CI steps. `args` may only ask for help.
pub(crate) fn run_ci(args: &[String]) -> Result<()> {
    crate::no_args("ci", args)?;
    let root = crate::project_root()?;
    let skip = skipped_steps()?;
    let total = Stopwatch::start();
    let mut outcomes: Vec<Outcome> = Vec::with_capacity(STEPS.len());
    let mut failure = None;

    for (i, step) in STEPS.iter().enumerate() {
        let position = format!("[{}/{}]", i + 1, STEPS.len());
        if failure.is_some() {
            outcomes.push(Outcome::NotRun);
            continue;
        }
        if skip.contains(&step.name) {
            println!("\n==> {position} {}: skipped (XTASK_SKIP)", step.name);
            outcomes.push(Outcome::Skipped);
            continue;
        }
        println!("\n==> {position} {}: {}", step.name, step.command);
        let watch = Stopwatch::start();
        let result = (step.action)(&root);
        let took = watch.elapsed();
        match result {
            Ok(()) => {
                println!("<== {} ok in {}", step.name, human(took));
                outcomes.push(Outcome::Passed(took));
            }
            Err(e) => {
                println!("<== {} FAILED in {}", step.name, human(took));
                outcomes.push(Outcome::Failed(took));
                failure = Some((step, e));
            }
        }
    }

    summary(&outcomes, total.elapsed());
    if let Some((step, e)) = failure {
        bail!(
            "ci stopped at step `{}`: {e:#}\n  \
             fix it, then rerun `{}` alone or `cargo xtask ci` (XTASK_SKIP skips earlier steps)",
            step.name,
            step.command
        );
    }
    Ok(())
}

fn summary(outcomes: &[Outcome], total: Duration) {
    println!("\n==> ci summary");
    let mut passed = 0;
    let mut skipped = 0;
    let mut failed = 0;
    for (step, outcome) in STEPS.iter().zip(outcomes) {
        let (status, took) = match outcome {
            Outcome::Passed(d) => {
                passed += 1;
                ("ok", human(*d))
            }
            Outcome::Failed(d) => {
                failed += 1;
                ("FAILED", human(*d))
            }
            Outcome::Skipped => {
                skipped += 1;
                ("skipped", String::new())
            }
            Outcome::NotRun => ("not run", String::new()),
        };
        let line = format!("    {:<8} {:<8} {:>9}", step.name, status, took);
        println!("{}", line.trim_end());
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!(
        "ci {verdict}: {passed} of {} steps ok, {skipped} skipped, in {}",
        STEPS.len(),
        human(total)
    );
}

/// The step names in `XTASK_SKIP`; an unknown name is an error, so a typo cannot skip nothing.
fn skipped_steps() -> Result<Vec<&'static str>> {
    match env::var("XTASK_SKIP") {
        Ok(value) => parse_skip(&value),
        Err(_) => Ok(Vec::new()),
    }
}

/// Parses a comma-separated list of step names.
fn parse_skip(value: &str) -> Result<Vec<&'static str>> {
    let mut names = Vec::new();
    for raw in value.split(',') {
        let name = raw.trim();
        if name.is_empty() {
            continue;
        }
        match STEPS.iter().find(|s| s.name.eq_ignore_ascii_case(name)) {
            Some(step) => names.push(step.name),
            None => {
                let known: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
                bail!(
                    "XTASK_SKIP names unknown step `{name}`; steps are: {}",
                    known.join(", ")
                );
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_list_names_steps() {
        assert_eq!(parse_skip("").unwrap(), Vec::<&str>::new());
        assert_eq!(parse_skip("fuzz,doc").unwrap(), ["fuzz", "doc"]);
        assert_eq!(parse_skip(" Fuzz , ,tidy").unwrap(), ["fuzz", "tidy"]);
        let err = parse_skip("fuzz,docs").unwrap_err().to_string();
        assert!(
            err.contains("`docs`") && err.contains("fmt, clippy"),
            "{err}"
        );
    }

    #[test]
    fn step_names_are_unique() {
        let mut names: Vec<&str> = STEPS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
    }
}
