//! `tapwallet demo`: the whole journey in one command, each step explained in a line.
//!
//! Every step runs the same `tapwallet` subcommand a person would type (shown with
//! `--show-commands`), so the demo is also a walkthrough of the CLI: it starts the platform
//! (or uses a running one), makes a device with a software secure element, registers, adds a
//! card with the bank's one-time-password step, unlocks, pays at the terminal through PC/SC when
//! pcscd and vsmartcard's virtual reader run (in process otherwise), and shows the approval and
//! the enriched history entry.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

/// The documented demo passcode.
const PASSCODE: &str = "246810";
/// The demo account's password.
const PASSWORD: &str = "correct horse battery";
/// vsmartcard's virtual reader: its TCP port and the name pcscd gives it.
const VPCD: &str = "127.0.0.1:35963";
const VPCD_READER: &str = "Virtual PCD";

/// Flags of `tapwallet demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Amount to pay, in major units.
    #[arg(long, default_value = "23.40")]
    amount: String,
    /// How the terminal reads the phone: through PC/SC when pcscd and vpcd run (`auto`),
    /// always through PC/SC, or in process.
    #[arg(long, value_enum, default_value_t = Path_::Auto)]
    path: Path_,
    /// Leave the platform the demo started running afterwards.
    #[arg(long)]
    keep_running: bool,
    /// Print each `tapwallet` command the demo runs.
    #[arg(long)]
    show_commands: bool,
    /// One JSON summary on stdout instead of the story.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Path_ {
    Auto,
    Pcsc,
    InProcess,
}

/// A child process stopped when dropped.
struct Guard(Option<Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Tour<'a> {
    args: &'a DemoArgs,
    exe: PathBuf,
    device_dir: PathBuf,
    step: usize,
}

const STEPS: usize = 8;

impl Tour<'_> {
    fn say(&mut self, text: &str) {
        self.step += 1;
        if !self.args.json {
            println!("[{}/{STEPS}] {text}", self.step);
        }
    }

    fn note(&self, text: &str) {
        if !self.args.json {
            println!("      {text}");
        }
    }

    /// Runs `tapwallet ARGS --json` and returns its JSON answer.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Value> {
        if self.args.show_commands && !self.args.json {
            let shown: Vec<String> = args
                .iter()
                .map(|a| {
                    if a.contains(' ') {
                        format!("'{a}'")
                    } else {
                        (*a).to_owned()
                    }
                })
                .collect();
            println!("      $ tapwallet {}", shown.join(" "));
        }
        self.run_quietly(args, stdin)
    }

    /// [`Tour::run`] without showing the command (for polling).
    fn run_quietly(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Value> {
        let mut cmd = Command::new(&self.exe);
        cmd.args(args)
            .arg("--json")
            .env("TAPWALLET_DEVICE_DIR", &self.device_dir)
            .env("TAPWALLET_PASSWORD", PASSWORD)
            .env_remove("TAPWALLET_PASSCODE")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().context("running tapwallet")?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            use std::io::Write as _;
            pipe.write_all(text.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        // `pos charge` exits 1 on a decline but still answers in JSON.
        let parsed = serde_json::from_str::<Value>(stdout.trim())
            .or_else(|_| {
                stdout
                    .lines()
                    .last()
                    .map_or(Err(()), |l| serde_json::from_str(l).map_err(|_| ()))
            })
            .ok();
        match parsed {
            Some(v) if out.status.success() || v.get("outcome").is_some() => Ok(v),
            _ => bail!(
                "`tapwallet {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }
}

/// Reads `tapwallet device nfc --json` events until `ready` (at most 15 s).
fn wait_ready(out: std::process::ChildStdout) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if line.contains("\"ready\"") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(15))
        .map_err(|_| anyhow!("the virtual reader did not see the phone within 15 s"))
}

fn port_open(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok())
}

fn wait_for(addrs: &[&str], child: &mut Child, secs: u64) -> anyhow::Result<()> {
    for _ in 0..secs * 10 {
        if addrs.iter().all(|a| port_open(a)) {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("`tapwallet up` stopped ({status}); run it alone to see why");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the platform did not start within {secs} s")
}

/// True when pcscd answers and lists vsmartcard's virtual reader.
fn pcsc_available() -> bool {
    nfc::pcsc::Context::establish()
        .and_then(|c| c.readers())
        .is_ok_and(|readers| readers.iter().any(|r| r.contains(VPCD_READER)))
}

fn random_suffix() -> anyhow::Result<String> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(b))
}

/// Runs the demo.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the tapwallet binary")?;
    let suffix = random_suffix()?;
    let device_dir = Path::new("tapwallet-data")
        .join("demo")
        .join(format!("device-{suffix}"));
    let mut tour = Tour {
        args,
        exe,
        device_dir,
        step: 0,
    };
    let endpoints = ["127.0.0.1:8443", "127.0.0.1:8583", "127.0.0.1:8586"];

    // 1. The platform.
    let mut platform = Guard(None);
    if endpoints.iter().all(|a| port_open(a)) {
        tour.say("Platform: using the one already running (`tapwallet up`).");
    } else {
        std::fs::create_dir_all("tapwallet-data")?;
        let log = std::fs::File::create("tapwallet-data/demo-up.log")?;
        let mut child = Command::new(&tour.exe)
            .arg("up")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting `tapwallet up`")?;
        wait_for(&endpoints, &mut child, 60)?;
        platform.0 = Some(child);
        tour.say(
            "Platform: started `tapwallet up`: issuer, card network with its token service, \
             acquirer and the wallet backend, on embedded SQLite in ./tapwallet-data.",
        );
    }

    // 2. The device and its secure element.
    std::fs::create_dir_all(&tour.device_dir)?;
    let dir = tour.device_dir.display().to_string();
    tour.run(&["device", "init", "--passcode-stdin"], Some(PASSCODE))?;
    tour.say(&format!(
        "Device: made a software secure element in {dir}: its key pair was generated inside \
         it, and everything it keeps is sealed under the device secret and your passcode \
         (demo passcode {PASSCODE})."
    ));

    // 3. The account.
    let email = format!("demo-{suffix}@example.com");
    let registered = tour.run(&["device", "register", "--email", &email], None)?;
    tour.say(&format!(
        "Account: registered {email}; the backend enrolled this device ({}) after checking an \
         attestation signed inside the secure element.",
        registered["device_id"].as_str().unwrap_or("?")
    ));

    // 4. The card, and the bank's step-up.
    let before = last_outbox_id(&tour)?;
    let added = tour.run(
        &[
            "device",
            "add-card",
            "--pan",
            "5555555555554444",
            "--expiry",
            "12/30",
            "--cvv",
            "456",
            "--name",
            "DEMO HOLDER",
        ],
        None,
    )?;
    let card_id = added["id"].as_str().unwrap_or_default().to_owned();
    let sent_to = added["verification_methods"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["code_sent"] == true)
        .and_then(|m| m["destination"].as_str())
        .unwrap_or("you")
        .to_owned();
    tour.say(&format!(
        "Card: asked to add Mastercard ....4444 (a test card). The issuer wants to be sure it's \
         you: it sent a one-time code to {sent_to}."
    ));

    // 5. The code, and the token.
    let code = otp_after(&tour, before)?;
    let verified = tour.run(&["device", "verify", &card_id, "--otp", &code], None)?;
    if verified["status"] != "active" {
        bail!("the card did not become active: {verified}");
    }
    let status = tour.run(&["device", "status"], None)?;
    let token = status["tokens"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["card_id"] == card_id.as_str())
        .cloned()
        .unwrap_or_default();
    tour.say(&format!(
        "Verified: entered code {code} (read from the demo SMS gateway, `tapwallet outbox`). The \
         network issued the token {}; only this device's secure element could open it. The card \
         number never reached the phone or the wallet's database.",
        token["token"].as_str().unwrap_or("?")
    ));

    // 6. Unlock.
    tour.run(
        &[
            "device",
            "unlock",
            "--passcode-stdin",
            "--window-secs",
            "60",
        ],
        Some(PASSCODE),
    )?;
    tour.say(
        "Unlock: passcode accepted; for 60 s a tap counts as verified on the phone \
         (consumer-device CVM), so no PIN at the terminal.",
    );

    // 7. The tap.
    let use_pcsc = match args.path {
        Path_::Auto => pcsc_available(),
        Path_::Pcsc => {
            if !pcsc_available() {
                bail!(
                    "--path pcsc: pcscd or vsmartcard's vpcd is not running (Debian: apt-get \
                     install pcscd vsmartcard-vpcd, then `pcscd`)"
                );
            }
            true
        }
        Path_::InProcess => false,
    };
    let paid = if use_pcsc {
        let mut bridge = Command::new(&tour.exe)
            .args(["device", "nfc", "--json", "--vpcd", VPCD])
            .env("TAPWALLET_DEVICE_DIR", &tour.device_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting `tapwallet device nfc`")?;
        let stdout = bridge.stdout.take();
        let _bridge = Guard(Some(bridge));
        // Wait until pcscd has read the phone's ATR: before that a PC/SC program may still see
        // the previous card on the reader.
        if let Some(out) = stdout {
            wait_ready(out)?;
        }
        let reader = format!("pcsc:{VPCD_READER}");
        tour.run(
            &[
                "pos",
                "charge",
                "--amount",
                &args.amount,
                "--reader",
                &reader,
                "--present-secs",
                "15",
            ],
            None,
        )?
    } else {
        tour.run(
            &[
                "pos",
                "charge",
                "--amount",
                &args.amount,
                "--device-dir",
                &dir,
            ],
            None,
        )?
    };
    let approved = paid["outcome"] == "approved";
    tour.say(&format!(
        "Tap: paid {} EUR at the demo terminal {}: {} ({} {}), {}.",
        args.amount,
        if use_pcsc {
            "through PC/SC (pcscd and vsmartcard's virtual reader, as a real NFC reader would)"
        } else {
            "in process (pcscd and vpcd are not running)"
        },
        if approved { "APPROVED" } else { "DECLINED" },
        paid["response_code"].as_str().unwrap_or("?"),
        paid["reason"].as_str().unwrap_or(""),
        match paid["arpc"].as_str() {
            Some("accepted") => "the phone accepted the issuer's answer (ARPC)",
            Some("rejected") => "the phone REJECTED the issuer's answer",
            _ => "no issuer answer for the phone",
        }
    ));
    tour.note(&format!(
        "the terminal saw {} and ATC {}; the network swapped the token for the card number \
         only between itself and the issuer.",
        paid["pan"].as_str().unwrap_or("?"),
        paid["atc"].as_str().unwrap_or("?")
    ));

    // 8. History.
    let mut entry = Value::Null;
    for attempt in 0..50 {
        let history_args = ["device", "history", "--card", &card_id];
        let history = if attempt == 0 {
            tour.run(&history_args, None)?
        } else {
            tour.run_quietly(&history_args, None)?
        };
        if let Some(t) = history["transactions"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
        {
            entry = t;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = &entry["merchant"];
    tour.say(&if entry.is_null() {
        "History: the network's transaction event has not reached the wallet yet; \
         `tapwallet device history` shows it when it does."
            .to_owned()
    } else {
        format!(
            "History: the wallet shows {}.{:02} {} at {} ({}, {}), category {}: the network \
             reported the payment, the backend cleaned up the merchant's name and location.",
            entry["amount_minor"].as_i64().unwrap_or(0) / 100,
            entry["amount_minor"].as_i64().unwrap_or(0) % 100,
            entry["currency"].as_str().unwrap_or(""),
            m["name"].as_str().unwrap_or("?"),
            m["city"].as_str().unwrap_or("?"),
            m["country"].as_str().unwrap_or("?"),
            m["category"].as_str().unwrap_or("other"),
        )
    });
    if args.keep_running
        && let Some(child) = platform.0.take()
    {
        tour.note(&format!(
            "the platform keeps running (pid {}); stop it with `kill {}`.",
            child.id(),
            child.id()
        ));
    }
    if args.json {
        println!(
            "{}",
            json!({
                "approved": approved,
                "path": if use_pcsc { "pcsc" } else { "in_process" },
                "device_dir": dir,
                "email": email,
                "card_id": card_id,
                "token": token["token"],
                "payment": paid,
                "history_entry": entry,
            })
        );
    } else {
        println!();
        let platform_note = if platform.0.is_some() && !args.keep_running {
            "the demo stopped the platform it started; `tapwallet up` runs it again, then "
        } else {
            ""
        };
        println!(
            "Next: {platform_note}`tapwallet device --device-dir {dir} status` (or `history`, \
             `cards`); `tapwallet device --help` lists the rest."
        );
    }
    Ok(if approved {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The id of the newest message in the demo outbox (0 when empty).
fn last_outbox_id(tour: &Tour<'_>) -> anyhow::Result<i64> {
    let mut last = 0;
    loop {
        let page = outbox(tour, last)?;
        match page.iter().filter_map(|m| m["id"].as_i64()).max() {
            Some(id) if id > last => last = id,
            _ => return Ok(last),
        }
    }
}

/// Outbox messages after id `after`, oldest first, a page at a time.
fn outbox(tour: &Tour<'_>, after: i64) -> anyhow::Result<Vec<Value>> {
    let out = Command::new(&tour.exe)
        .args(["outbox", "--json", "--limit", "1000", "--after"])
        .arg(after.to_string())
        .output()
        .context("running `tapwallet outbox`")?;
    if !out.status.success() {
        bail!(
            "`tapwallet outbox` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The newest one-time code sent after outbox id `after`.
fn otp_after(tour: &Tour<'_>, after: i64) -> anyhow::Result<String> {
    for _ in 0..50 {
        if let Some(code) = outbox(tour, after)?
            .iter()
            .max_by_key(|m| m["id"].as_i64())
            .and_then(|m| m["code"].as_str())
        {
            return Ok(code.to_owned());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("no one-time code arrived in the demo outbox (`tapwallet outbox`)")
}
