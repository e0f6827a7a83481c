//! `cargo xtask fuzz`: builds and runs the cargo-fuzz targets in `fuzz/`.
//!
//! cargo-fuzz works on the stable toolchain only with `--sanitizer none` (ENGINEERING.md), so
//! every invocation passes it. Before a run, the seed inputs committed in `fuzz/seeds/<target>/`
//! are copied into the (gitignored) corpus `fuzz/corpus/<target>/`.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::{Stopwatch, cargo, human, project_root, run};

/// Seconds per target for `--smoke`.
const SMOKE_SECONDS: u32 = 10;
/// Seconds for `--target NAME` without `--seconds`.
const DEFAULT_SECONDS: u32 = 60;
/// libFuzzer's memory ceiling per run.
const RSS_LIMIT_MB: u32 = 2048;

/// What to do after building.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// Run only this target (all targets when `None`).
    target: Option<String>,
    /// Seconds per target; `None` builds only.
    seconds: Option<u32>,
}

impl Options {
    /// Every target for [`SMOKE_SECONDS`].
    pub(crate) fn smoke() -> Self {
        Self {
            target: None,
            seconds: Some(SMOKE_SECONDS),
        }
    }

    /// Parses `[--smoke | --target NAME [--seconds N] | --seconds N]`.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut smoke = false;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--smoke" => smoke = true,
                "--target" => {
                    let name = it.next().context("--target needs a target name")?;
                    options.target = Some(name.clone());
                }
                "--seconds" => {
                    let n = it.next().context("--seconds needs a number")?;
                    let n: u32 = n
                        .parse()
                        .with_context(|| format!("--seconds {n}: not a whole number"))?;
                    if n == 0 {
                        bail!("--seconds must be at least 1");
                    }
                    options.seconds = Some(n);
                }
                "-h" | "--help" => {
                    print!("{}", crate::USAGE);
                    std::process::exit(0)
                }
                other => bail!("unknown option `{other}` for `cargo xtask fuzz`"),
            }
        }
        if smoke {
            if options.target.is_some() || options.seconds.is_some() {
                bail!("--smoke runs every target for {SMOKE_SECONDS} s; it takes no other option");
            }
            return Ok(Self::smoke());
        }
        if options.target.is_some() && options.seconds.is_none() {
            options.seconds = Some(DEFAULT_SECONDS);
        }
        Ok(options)
    }
}

/// Installs cargo-fuzz if needed, builds every target, then runs what `options` asks for.
pub(crate) fn run_fuzz(options: &Options) -> Result<()> {
    let root = project_root()?;
    let fuzz_dir = root.join("fuzz");
    ensure_cargo_fuzz(&root)?;

    let targets = list_targets(&fuzz_dir)?;
    if let Some(t) = &options.target
        && !targets.contains(t)
    {
        bail!("no fuzz target `{t}`; targets are: {}", targets.join(", "));
    }

    let watch = Stopwatch::start();
    run(cargo(&fuzz_dir).args(["fuzz", "build", "--sanitizer", "none"]))?;
    println!(
        "fuzz: built {} targets in {}",
        targets.len(),
        human(watch.elapsed())
    );

    let Some(seconds) = options.seconds else {
        return Ok(());
    };
    let chosen: Vec<&String> = match &options.target {
        Some(t) => targets.iter().filter(|name| *name == t).collect(),
        None => targets.iter().collect(),
    };
    for target in chosen {
        let seeded = seed_corpus(&fuzz_dir, target)?;
        println!("fuzz: {target}: {seeded} seed input(s), {seconds} s");
        let artifacts = fuzz_dir.join("artifacts").join(target);
        let known = files_in(&artifacts)?;
        let watch = Stopwatch::start();
        let result = run(cargo(&fuzz_dir).args([
            "fuzz",
            "run",
            "--sanitizer",
            "none",
            target,
            "--",
            &format!("-max_total_time={seconds}"),
            &format!("-rss_limit_mb={RSS_LIMIT_MB}"),
        ]));
        if let Err(e) = result {
            let found: Vec<String> = files_in(&artifacts)?
                .into_iter()
                .filter(|f| !known.contains(f))
                .map(|f| format!("fuzz/artifacts/{target}/{f}"))
                .collect();
            match found.first() {
                Some(first) => bail!(
                    "fuzz target `{target}` found failing input(s): {}\n  \
                     reproduce with `cd fuzz && cargo fuzz run --sanitizer none {target} ../{first}`",
                    found.join(", ")
                ),
                None => return Err(e.context(format!("fuzz target `{target}` did not run"))),
            }
        }
        println!("fuzz: {target}: ok in {}", human(watch.elapsed()));
    }
    Ok(())
}

/// Installs cargo-fuzz when `cargo fuzz --version` fails.
fn ensure_cargo_fuzz(root: &Path) -> Result<()> {
    let present = cargo(root)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    println!("fuzz: cargo-fuzz is missing; installing it");
    run(cargo(root).args(["install", "cargo-fuzz", "--locked"]))
}

/// The target names, from `cargo fuzz list`.
fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let output = cargo(fuzz_dir)
        .args(["fuzz", "list"])
        .output()
        .context("could not run `cargo fuzz list`")?;
    if !output.status.success() {
        bail!(
            "`cargo fuzz list` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let targets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        bail!(
            "`cargo fuzz list` found no targets in {}",
            fuzz_dir.display()
        );
    }
    Ok(targets)
}

/// Copies `fuzz/seeds/<target>/*` into `fuzz/corpus/<target>/`; returns how many seeds exist.
fn seed_corpus(fuzz_dir: &Path, target: &str) -> Result<usize> {
    let seeds = fuzz_dir.join("seeds").join(target);
    let corpus = fuzz_dir.join("corpus").join(target);
    fs::create_dir_all(&corpus)
        .with_context(|| format!("could not create {}", corpus.display()))?;
    if !seeds.is_dir() {
        return Ok(0);
    }
    let mut count = 0;
    for entry in
        fs::read_dir(&seeds).with_context(|| format!("could not list {}", seeds.display()))?
    {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let to = corpus.join(entry.file_name());
            fs::copy(entry.path(), &to)
                .with_context(|| format!("could not copy a seed to {}", to.display()))?;
            count += 1;
        }
    }
    Ok(count)
}

/// Names of the files in `dir` (none when it does not exist).
fn files_in(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))? {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        Options::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn options() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.target, o.seconds), (None, None));
        let o = parse(&["--smoke"]).unwrap();
        assert_eq!((o.target, o.seconds), (None, Some(SMOKE_SECONDS)));
        let o = parse(&["--target", "tlv", "--seconds", "600"]).unwrap();
        assert_eq!((o.target.as_deref(), o.seconds), (Some("tlv"), Some(600)));
        let o = parse(&["--target", "apdu"]).unwrap();
        assert_eq!(
            (o.target.as_deref(), o.seconds),
            (Some("apdu"), Some(DEFAULT_SECONDS))
        );
        let o = parse(&["--seconds", "5"]).unwrap();
        assert_eq!((o.target, o.seconds), (None, Some(5)));
    }

    #[test]
    fn bad_options() {
        assert!(parse(&["--smoke", "--target", "tlv"]).is_err());
        assert!(parse(&["--target"]).is_err());
        assert!(parse(&["--seconds", "ten"]).is_err());
        assert!(parse(&["--seconds", "0"]).is_err());
        assert!(parse(&["--jobs", "2"]).is_err());
    }
}
