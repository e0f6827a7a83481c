//! `cargo xtask tidy`: the architecture rules of STYLE.md, checked from `cargo metadata` and the
//! source tree (as rust-analyzer keeps its invariants in tests).
//!
//! * L0 crates depend only on L0 crates and on [`L0_EXTERNAL`] (plus [`L0_DEV_ONLY`] for tests),
//!   and reach none of [`IO_STACKS`], even transitively. Only [`L2`] crates depend on L2 crates
//!   (other crates may as dev-dependencies).
//! * Every workspace crate has `publish = false`, version `0.0.0`, and its folder is named after
//!   its package.
//! * Every L0 crate's `lib.rs` says `#![forbid(unsafe_code)]`.
//! * No test is ignored or expected to panic anywhere in the tree.
//! * L0 sources read no clock, draw no random numbers and touch no filesystem or network
//!   ([`L0_BANNED_CALLS`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{cargo, project_root};

/// The pure, sans-I/O layer (STYLE.md section 1): no async, DB or HTTP crates, no clock, no RNG,
/// no filesystem.
const L0: &[&str] = &[
    "secret",
    "cards",
    "tlv",
    "apdu",
    "emv",
    "emv-crypto",
    "emv-card",
    "emv-kernel",
    "iso8583",
    "domain",
    "jose",
];

/// The top layer: the binary and the dev-only harness. Crates below it may use them only as
/// dev-dependencies (edges point down; L2 crates may use each other).
const L2: &[&str] = &["cli", "harness"];

/// External crates an L0 crate may depend on (normal and build dependencies), and why each one
/// is allowed: all are pure computation without I/O, clock or randomness. Add a crate here only
/// after reading what it pulls in.
const L0_EXTERNAL: &[(&str, &str)] = &[
    ("aes", "RustCrypto AES block cipher"),
    ("aes-gcm", "RustCrypto AES-GCM (JWE content encryption)"),
    ("aes-kw", "RustCrypto AES key wrap (JWE A256KW)"),
    ("base64ct", "constant-time base64url (JOSE)"),
    ("cipher", "RustCrypto block-cipher traits"),
    ("cmac", "RustCrypto CMAC (AES session keys, MACs)"),
    ("des", "RustCrypto DES / 3DES (EMV key derivation, ARQC)"),
    ("hex", "hex text codec"),
    ("hmac", "RustCrypto HMAC (JWS HS256)"),
    (
        "p256",
        "RustCrypto P-256 ECDH and ECDSA (JWE ECDH-ES, JWS ES256); randomness is passed in",
    ),
    ("serde", "JOSE headers and JWKs are JSON by definition"),
    ("serde_json", "JOSE headers and JWKs are JSON by definition"),
    ("sha1", "RustCrypto SHA-1 (EMV Book 2 A1.4.2 Option B)"),
    ("sha2", "RustCrypto SHA-2"),
    ("subtle", "constant-time comparison"),
    ("zeroize", "wipes secrets on drop"),
];

/// External crates an L0 crate may use only as dev-dependencies (tests, vectors, benches).
const L0_DEV_ONLY: &[(&str, &str)] = &[
    ("criterion", "benchmarks"),
    ("proptest", "property tests"),
    ("serde", "loading published test vectors"),
    ("serde_json", "loading published test vectors"),
];

/// Async, network, database and HTTP stacks: no L0 crate may reach one, directly or through
/// another crate, in any kind of dependency.
const IO_STACKS: &[&str] = &[
    "async-std",
    "axum",
    "diesel",
    "hyper",
    "mio",
    "postgres",
    "reqwest",
    "rusqlite",
    "smol",
    "sqlx",
    "tokio",
    "tokio-postgres",
    "tower",
    "ureq",
];

/// Calls that L0 sources must not contain: the clock and randomness arrive through the `Clock`
/// and `Rng` seams, files and sockets belong to L1.
const L0_BANNED_CALLS: &[(&str, &str)] = &[
    (
        "SystemTime::now",
        "reads the wall clock; take the time as an input",
    ),
    ("Instant::now", "reads the clock; take the time as an input"),
    ("thread_rng", "draws random numbers; take them as an input"),
    ("OsRng", "draws random numbers; take them as an input"),
    ("std::fs::", "touches the filesystem; L0 is sans-I/O"),
    ("std::net::", "touches the network; L0 is sans-I/O"),
];

/// Test attributes banned everywhere (rust-analyzer): a test runs and passes, or it is deleted.
/// Written in two halves so this file does not match itself.
const BANNED_ATTRIBUTES: &[(&str, &str, &str)] = &[
    (
        "#[",
        "ignore",
        "an ignored test never runs: fix it or delete it",
    ),
    (
        "#[",
        "should_panic",
        "test the error value instead of expecting a panic",
    ),
];

/// Folders the source scan never enters.
const SKIP_DIRS: &[&str] = &["target", "corpus", "artifacts", "node_modules"];

/// One broken rule, with where it is broken.
struct Violation {
    location: String,
    message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// What tidy needs of one workspace package.
struct Package {
    id: String,
    name: String,
    version: String,
    publish_false: bool,
    dir: PathBuf,
    lib_src: Option<PathBuf>,
    /// (package name, kind: `None` normal, `Some("dev")`, `Some("build")`).
    deps: Vec<(String, Option<String>)>,
}

/// Runs every check and fails when any rule is broken.
pub(crate) fn run() -> Result<()> {
    let root = project_root()?;
    let metadata = metadata(&root)?;
    let packages = workspace_packages(&metadata)?;
    let mut violations = Vec::new();

    check_layers(&packages, &metadata, &root, &mut violations)?;
    check_package_metadata(&packages, &root, &mut violations);
    check_forbid_unsafe(&packages, &root, &mut violations)?;
    check_test_attributes(&root, &mut violations)?;
    check_l0_calls(&packages, &root, &mut violations)?;

    if violations.is_empty() {
        println!(
            "tidy: ok ({} workspace crates, {} of them L0)",
            packages.len(),
            packages
                .iter()
                .filter(|p| L0.contains(&p.name.as_str()))
                .count()
        );
        return Ok(());
    }
    violations.sort_by(|a, b| a.location.cmp(&b.location));
    for v in &violations {
        eprintln!("tidy: {v}");
    }
    bail!("tidy found {} violation(s)", violations.len())
}

fn metadata(root: &Path) -> Result<Value> {
    let output = cargo(root)
        .args(["metadata", "--format-version", "1"])
        .output()
        .context("could not run `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata --format-version 1` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("`cargo metadata` printed invalid JSON")
}

fn str_field<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value[key]
        .as_str()
        .with_context(|| format!("`cargo metadata`: missing string field `{key}`"))
}

fn array_field<'a>(value: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    value[key]
        .as_array()
        .with_context(|| format!("`cargo metadata`: missing array field `{key}`"))
}

fn workspace_packages(metadata: &Value) -> Result<Vec<Package>> {
    let members: HashSet<&str> = array_field(metadata, "workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut packages = Vec::new();
    for p in array_field(metadata, "packages")? {
        let id = str_field(p, "id")?;
        if !members.contains(id) {
            continue;
        }
        let manifest = PathBuf::from(str_field(p, "manifest_path")?);
        let dir = manifest
            .parent()
            .map(Path::to_path_buf)
            .context("manifest path without a folder")?;
        let lib_src = array_field(p, "targets")?
            .iter()
            .find(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "lib"))
            })
            .and_then(|t| t["src_path"].as_str())
            .map(PathBuf::from);
        let deps = array_field(p, "dependencies")?
            .iter()
            .map(|d| {
                Ok((
                    str_field(d, "name")?.to_owned(),
                    d["kind"].as_str().map(str::to_owned),
                ))
            })
            .collect::<Result<_>>()?;
        packages.push(Package {
            id: id.to_owned(),
            name: str_field(p, "name")?.to_owned(),
            version: str_field(p, "version")?.to_owned(),
            // `publish = false` appears as an empty registry list.
            publish_false: p["publish"].as_array().is_some_and(Vec::is_empty),
            dir,
            lib_src,
            deps,
        });
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(packages)
}

/// (a) Dependency edges point down only.
fn check_layers(
    packages: &[Package],
    metadata: &Value,
    root: &Path,
    out: &mut Vec<Violation>,
) -> Result<()> {
    let internal: HashSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    for name in L0 {
        if !internal.contains(name) {
            out.push(Violation {
                location: format!("crate {name}"),
                message: "listed as L0 in xtask/src/tidy.rs but not a workspace member".into(),
            });
        }
    }
    let graph = resolve_graph(metadata)?;
    for p in packages {
        let is_l0 = L0.contains(&p.name.as_str());
        for (dep, kind) in &p.deps {
            let dep = dep.as_str();
            let kind_name = kind.as_deref().unwrap_or("normal");
            let location = format!(
                "crate {} ({})",
                p.name,
                rel_to(&p.dir.join("Cargo.toml"), root)
            );
            let is_l2 = L2.contains(&p.name.as_str());
            if L2.contains(&dep) && !is_l2 && kind.as_deref() != Some("dev") {
                out.push(Violation {
                    location: location.clone(),
                    message: format!("{kind_name} dependency on L2 crate `{dep}`"),
                });
            }
            if !is_l0 {
                continue;
            }
            let allowed = if internal.contains(dep) {
                L0.contains(&dep)
            } else {
                L0_EXTERNAL.iter().any(|(n, _)| *n == dep)
                    || (kind.as_deref() == Some("dev")
                        && L0_DEV_ONLY.iter().any(|(n, _)| *n == dep))
            };
            if !allowed || IO_STACKS.contains(&dep) {
                let why = if internal.contains(dep) {
                    "an L0 crate may depend only on L0 crates"
                } else {
                    "not in L0_EXTERNAL (or L0_DEV_ONLY for dev-dependencies) in xtask/src/tidy.rs"
                };
                out.push(Violation {
                    location,
                    message: format!("L0 crate has a {kind_name} dependency on `{dep}`: {why}"),
                });
            }
        }
        if is_l0 {
            for stack in reachable_io_stacks(&graph, &p.id) {
                out.push(Violation {
                    location: format!("crate {}", p.name),
                    message: format!("L0 crate reaches `{stack}` through its dependencies"),
                });
            }
        }
    }
    Ok(())
}

/// The resolved dependency graph: package id -> (package name, ids of its dependencies).
type Graph = HashMap<String, (String, Vec<String>)>;

fn resolve_graph(metadata: &Value) -> Result<Graph> {
    let names: HashMap<&str, &str> = array_field(metadata, "packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let mut graph = Graph::new();
    let resolve = &metadata["resolve"];
    for node in array_field(resolve, "nodes")? {
        let id = str_field(node, "id")?;
        let deps = array_field(node, "deps")?
            .iter()
            .filter_map(|d| d["pkg"].as_str().map(str::to_owned))
            .collect();
        let name = names.get(id).copied().unwrap_or(id).to_owned();
        graph.insert(id.to_owned(), (name, deps));
    }
    Ok(graph)
}

/// Names of [`IO_STACKS`] crates reachable from `start` through any dependency edge.
fn reachable_io_stacks(graph: &Graph, start: &str) -> BTreeSet<String> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack = vec![start];
    let mut found = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some((name, deps)) = graph.get(id) else {
            continue;
        };
        if IO_STACKS.contains(&name.as_str()) {
            found.insert(name.clone());
        }
        stack.extend(deps.iter().map(String::as_str));
    }
    found
}

/// (b) Internal crates: `publish = false`, version 0.0.0, folder named after the package.
fn check_package_metadata(packages: &[Package], root: &Path, out: &mut Vec<Violation>) {
    for p in packages {
        let location = format!(
            "crate {} ({})",
            p.name,
            rel_to(&p.dir.join("Cargo.toml"), root)
        );
        if !p.publish_false {
            out.push(Violation {
                location: location.clone(),
                message: "missing `publish = false` (or `publish.workspace = true`)".into(),
            });
        }
        if p.version != "0.0.0" {
            out.push(Violation {
                location: location.clone(),
                message: format!("version is {}, internal crates use 0.0.0", p.version),
            });
        }
        let folder = p.dir.file_name().map(|f| f.to_string_lossy().into_owned());
        if folder.as_deref() != Some(p.name.as_str()) {
            out.push(Violation {
                location,
                message: format!(
                    "folder `{}` differs from the package name",
                    folder.unwrap_or_default()
                ),
            });
        }
    }
}

/// (c) Every L0 lib.rs forbids unsafe code.
fn check_forbid_unsafe(packages: &[Package], root: &Path, out: &mut Vec<Violation>) -> Result<()> {
    for p in packages.iter().filter(|p| L0.contains(&p.name.as_str())) {
        let Some(lib) = &p.lib_src else {
            out.push(Violation {
                location: format!("crate {}", p.name),
                message: "L0 crate has no library target".into(),
            });
            continue;
        };
        let text =
            fs::read_to_string(lib).with_context(|| format!("could not read {}", lib.display()))?;
        let forbids = text.lines().any(|l| {
            let compact: String = l.chars().filter(|c| !c.is_whitespace()).collect();
            compact.starts_with("#![forbid(") && compact.contains("unsafe_code")
        });
        if !forbids {
            out.push(Violation {
                location: rel_to(lib, root),
                message: "L0 crate root lacks `#![forbid(unsafe_code)]`".into(),
            });
        }
    }
    Ok(())
}

/// (d) No ignored or should-panic tests anywhere in the tree.
fn check_test_attributes(root: &Path, out: &mut Vec<Violation>) -> Result<()> {
    let patterns: Vec<(String, &str)> = BANNED_ATTRIBUTES
        .iter()
        .map(|(open, name, why)| (format!("{open}{name}"), *why))
        .collect();
    for file in rust_files(root)? {
        let text = fs::read_to_string(&file)
            .with_context(|| format!("could not read {}", file.display()))?;
        for (n, line) in code_lines(&text) {
            for (pattern, why) in &patterns {
                if has_attribute(line, pattern) {
                    out.push(Violation {
                        location: format!("{}:{n}", rel_to(&file, root)),
                        message: format!("`{pattern}]`: {why}"),
                    });
                }
            }
        }
    }
    Ok(())
}

/// True when `line` holds the attribute `pattern` (e.g. `#[ignore`) followed by `]`, `=` or `(`,
/// so that `#[ignore_foo]` does not count.
fn has_attribute(line: &str, pattern: &str) -> bool {
    line.match_indices(pattern).any(|(i, _)| {
        let after = line.get(i + pattern.len()..).unwrap_or_default();
        matches!(after.trim_start().chars().next(), Some(']' | '=' | '('))
    })
}

/// (e) No clock, RNG, filesystem or network calls in L0 sources.
fn check_l0_calls(packages: &[Package], root: &Path, out: &mut Vec<Violation>) -> Result<()> {
    for p in packages.iter().filter(|p| L0.contains(&p.name.as_str())) {
        let src = p.dir.join("src");
        if !src.is_dir() {
            continue;
        }
        for file in rust_files(&src)? {
            let text = fs::read_to_string(&file)
                .with_context(|| format!("could not read {}", file.display()))?;
            for (n, line) in code_lines(&text) {
                for (call, why) in L0_BANNED_CALLS {
                    if line.contains(call) {
                        out.push(Violation {
                            location: format!("{}:{n}", rel_to(&file, root)),
                            message: format!("L0 crate {} uses `{call}`: {why}", p.name),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// Lines (1-based numbers) that are not wholly `//` comments.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

/// Every `.rs` file under `dir`, skipping build output, fuzz corpora and hidden folders.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries =
            fs::read_dir(&d).with_context(|| format!("could not list {}", d.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !name.starts_with('.') && !SKIP_DIRS.contains(&name.as_str()) {
                    pending.push(path);
                }
            } else if kind.is_file() && name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn rel_to(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn banned_attributes_are_found() {
        let ignore = concat!("#[", "ignore]");
        let ignore_reason = concat!("    #[", "ignore = \"slow\"]");
        let panics = concat!("#[", "should_panic(expected = \"boom\")]");
        assert!(has_attribute(ignore, "#[ignore"));
        assert!(has_attribute(ignore_reason, "#[ignore"));
        assert!(has_attribute(panics, "#[should_panic"));
        assert!(!has_attribute("#[ignore_me]", "#[ignore"));
        assert!(!has_attribute("#[test]", "#[ignore"));
    }

    #[test]
    fn comment_lines_are_skipped() {
        let text = "// Instant::now is banned\nlet t = Instant::now();\n";
        let lines: Vec<(usize, &str)> = code_lines(text).collect();
        assert_eq!(lines, [(2, "let t = Instant::now();")]);
    }

    fn package(name: &str, deps: &[(&str, Option<&str>)]) -> Package {
        Package {
            id: format!("{name}-id"),
            name: name.to_owned(),
            version: "0.0.0".to_owned(),
            publish_false: true,
            dir: PathBuf::from("/ws/crates").join(name),
            lib_src: None,
            deps: deps
                .iter()
                .map(|(d, k)| ((*d).to_owned(), k.map(str::to_owned)))
                .collect(),
        }
    }

    fn layer_violations(packages: &[Package], metadata: &Value) -> Vec<String> {
        let mut out = Vec::new();
        check_layers(packages, metadata, Path::new("/ws"), &mut out).unwrap();
        out.iter()
            .map(ToString::to_string)
            .filter(|v| !v.contains("not a workspace member"))
            .collect()
    }

    #[test]
    fn layering() {
        let empty = json!({ "packages": [], "resolve": { "nodes": [] } });
        let ok = [
            package("tlv", &[("proptest", Some("dev"))]),
            package(
                "emv-crypto",
                &[("tlv", None), ("des", None), ("serde", Some("dev"))],
            ),
            package(
                "store",
                &[("tokio", None), ("emv", None), ("harness", Some("dev"))],
            ),
        ];
        assert_eq!(layer_violations(&ok, &empty), Vec::<String>::new());

        let bad = [
            package("tlv", &[("regex", None), ("tokio", Some("dev"))]),
            package("cards", &[("store", None)]),
            package("store", &[("harness", None)]),
            package("harness", &[]),
        ];
        let v = layer_violations(&bad, &empty);
        assert_eq!(v.len(), 4, "{v:#?}");
        assert!(
            v[0].contains("crate tlv") && v[0].contains("`regex`"),
            "{v:#?}"
        );
        assert!(v[1].contains("crate tlv") && v[1].contains("dev dependency on `tokio`"));
        assert!(v[2].contains("crate cards") && v[2].contains("only on L0 crates"));
        assert!(v[3].contains("crate store") && v[3].contains("L2 crate `harness`"));
    }

    #[test]
    fn io_stacks_are_found_through_other_crates() {
        let metadata = json!({
            "packages": [
                { "id": "emv-id", "name": "emv" },
                { "id": "shim-id", "name": "shim" },
                { "id": "tokio-id", "name": "tokio" },
            ],
            "resolve": { "nodes": [
                { "id": "emv-id", "deps": [{ "pkg": "shim-id" }] },
                { "id": "shim-id", "deps": [{ "pkg": "tokio-id" }] },
                { "id": "tokio-id", "deps": [] },
            ] },
        });
        let v = layer_violations(&[package("emv", &[])], &metadata);
        assert_eq!(
            v,
            ["crate emv: L0 crate reaches `tokio` through its dependencies"]
        );
    }
}
