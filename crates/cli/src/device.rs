//! `tapwallet device ...`: the device wallet, as a phone would run it.
//!
//! The device keeps its state in a directory (`--device-dir`, default `~/.tapwallet/device`):
//! `secure-element/`, the software secure element (the `device` crate: a P-256 key pair made
//! inside it, every token and key sealed under the device secret and the passcode), and
//! `session.json`, who is logged in (user id, device id, access and refresh tokens; mode 0600).
//! `init` creates the secure element and sets the passcode; `unlock` checks it and opens the
//! payment window; the backend gets the public key and an attestation signed inside the
//! secure element (see the `api` crate's `attestation` module for the challenge). Token
//! payloads are fetched and installed into the secure element as soon as a card is active.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::http::{Answer, Client};

/// `tapwallet device ...`
#[derive(Debug, Args)]
pub(crate) struct DeviceCommand {
    #[command(flatten)]
    pub(crate) common: DeviceArgs,
    #[command(subcommand)]
    pub(crate) action: DeviceAction,
}

/// Where the device keeps its state and which backend it talks to.
#[derive(Debug, Args)]
pub(crate) struct DeviceArgs {
    /// The device's state directory (key and session).
    #[arg(long, global = true, env = "TAPWALLET_DEVICE_DIR")]
    pub(crate) device_dir: Option<PathBuf>,
    /// The wallet backend.
    #[arg(
        long,
        global = true,
        env = "TAPWALLET_BACKEND",
        default_value = "https://127.0.0.1:8443"
    )]
    pub(crate) backend: String,
    /// PEM certificate(s) to trust for the backend. Default: the development certificate
    /// `tapwallet up` made in its data directory
    /// (`./tapwallet-data/tls/tapwallet-dev-cert.pem`).
    #[arg(long, global = true, env = "TAPWALLET_CA_CERT")]
    pub(crate) ca_cert: Option<PathBuf>,
    /// Where unlock sessions live (memory-backed, emptied at reboot, never inside the device
    /// directory). Default: `$XDG_RUNTIME_DIR/tapwallet-UID`, else `/dev/shm/tapwallet-UID`.
    #[arg(long, global = true, env = "TAPWALLET_RUNTIME_DIR")]
    pub(crate) runtime_dir: Option<PathBuf>,
    /// One JSON object on stdout instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

/// How the passcode is given.
#[derive(Debug, Args)]
pub(crate) struct PasscodeArgs {
    /// Read the passcode from the first line of standard input (for scripts); otherwise it is
    /// taken from TAPWALLET_PASSCODE or asked for on the terminal.
    #[arg(long)]
    pub(crate) passcode_stdin: bool,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum DeviceAction {
    /// Create this device's secure element and set its passcode (at least 6 characters).
    Init {
        #[command(flatten)]
        passcode: PasscodeArgs,
        /// Wrong passcodes in a row that wipe the secure element's cards and keys (back-off
        /// starts at the fifth).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
        wipe_after: u32,
        /// Interop tests only: also write the secure element's private key, as a JWK, to FILE.
        #[arg(long, value_name = "FILE", hide = true)]
        danger_export_key: Option<PathBuf>,
    },
    /// Check the passcode: payments within the window count as verified on the phone.
    Unlock {
        #[command(flatten)]
        passcode: PasscodeArgs,
        /// How long the payment window stays open, in seconds.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=3600))]
        window_secs: i64,
    },
    /// Lock the device: no payments until the next unlock.
    Lock,
    /// Whether the device is locked, the payment window, and the cards in its secure element.
    Status,
    /// Fetch a new batch of limited-use payment keys for an HCE card (the previous batch is
    /// revoked).
    Replenish {
        /// The card's id.
        card: String,
        /// Keys in the batch (1-16; each is good for a few payments). Default: the token
        /// service's batch size.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
        count: Option<u8>,
    },
    /// Hold the phone to a reader: serve the default card to vsmartcard's virtual reader
    /// (vpcd), so that pcscd presents it as a contactless card to any PC/SC program. Runs until
    /// Ctrl-C.
    Nfc {
        /// vpcd's address (reader 0 listens on 35963, reader 1 on 35964).
        #[arg(long, default_value = "127.0.0.1:35963")]
        vpcd: std::net::SocketAddr,
    },
    /// Create an account, log in and enroll this device.
    Register(Credentials),
    /// Log in (enrolling this device if it is not yet).
    Login(Credentials),
    /// Log out: the session's tokens stop working.
    Logout,
    /// The account's devices.
    Devices,
    /// Report a device lost (from any device of the account): its tokens are suspended.
    Lost {
        /// The lost device's id.
        device: String,
    },
    /// Report a lost device found again.
    Recovered {
        /// The device's id.
        device: String,
    },
    /// Add a bank card to this device: the issuer verifies you, the network issues a token.
    AddCard(AddCard),
    /// Enter the one-time password the bank sent for a card waiting for verification.
    Verify {
        /// The card's id (from `add-card` or `cards`).
        card: String,
        /// The one-time password (six digits).
        #[arg(long)]
        otp: String,
    },
    /// The cards in the wallet.
    Cards,
    /// Fetch a card's token payload and open it with this device's key (shows the token
    /// masked: the device, not the backend, holds the token).
    Payload {
        /// The card's id.
        card: String,
    },
    /// Make a card the default for payments.
    Default {
        /// The card's id.
        card: String,
    },
    /// Suspend a card's token (payments are declined until resumed).
    Suspend {
        /// The card's id.
        card: String,
    },
    /// Resume a suspended card.
    Resume {
        /// The card's id.
        card: String,
    },
    /// Remove a card from the wallet (its token is deleted; the bank card lives on).
    Remove {
        /// The card's id.
        card: String,
    },
    /// Transaction history, newest first.
    History {
        /// Only this card's transactions.
        #[arg(long)]
        card: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// Card details, as printed on the card.
#[derive(Debug, Args)]
pub(crate) struct AddCard {
    /// The card number (digits; spaces allowed).
    #[arg(long, env = "TAPWALLET_CARD_PAN", hide_env_values = true)]
    pub(crate) pan: String,
    /// Expiry as printed, MM/YY.
    #[arg(long)]
    pub(crate) expiry: String,
    /// The 3 or 4 digits on the back.
    #[arg(long, env = "TAPWALLET_CARD_CVV", hide_env_values = true)]
    pub(crate) cvv: String,
    /// The cardholder's name as printed.
    #[arg(long, default_value = "CARDHOLDER")]
    pub(crate) name: String,
    /// Host card emulation: the phone keeps no long-lived token key, only batches of
    /// limited-use keys, replenished as they run low.
    #[arg(long)]
    pub(crate) hce: bool,
}

/// Email and password.
#[derive(Debug, Args)]
pub(crate) struct Credentials {
    /// The account's email address.
    #[arg(long)]
    pub(crate) email: String,
    /// The password (at least 10 characters); read from TAPWALLET_PASSWORD if not given.
    #[arg(long, env = "TAPWALLET_PASSWORD", hide_env_values = true)]
    pub(crate) password: String,
    /// This device's name, as the account lists it.
    #[arg(long, default_value = "tapwallet cli")]
    pub(crate) name: String,
}

const SESSION_FILE: &str = "session.json";

fn default_dir() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".tapwallet").join("device"),
        None => PathBuf::from(".tapwallet-device"),
    }
}

/// The device's state directory and what is in it.
pub(crate) struct DeviceState {
    dir: PathBuf,
    runtime_dir: PathBuf,
}

impl DeviceState {
    pub(crate) fn open(dir: Option<&Path>, runtime_dir: Option<&Path>) -> anyhow::Result<Self> {
        let dir = dir.map_or_else(default_dir, Path::to_path_buf);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the device directory {}", dir.display()))?;
        let runtime_dir = runtime_dir.map_or_else(device::default_runtime_dir, Path::to_path_buf);
        Ok(Self { dir, runtime_dir })
    }

    /// The secure element (closed).
    fn se(&self) -> anyhow::Result<device::SecureElement> {
        Ok(device::SecureElement::open(&self.dir)?)
    }

    /// The unlocked secure element.
    pub(crate) fn unlocked(&self) -> anyhow::Result<device::Session> {
        let se = self.se()?;
        Ok(se.session(&self.runtime_dir, crate::env::now_unix()?)?)
    }

    fn session(&self) -> anyhow::Result<Option<Value>> {
        let path = self.dir.join(SESSION_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)?;
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is corrupt; remove it and log in again", path.display())
        })?))
    }

    fn save_session(&self, session: &Value) -> anyhow::Result<()> {
        write_private(
            &self.dir.join(SESSION_FILE),
            serde_json::to_string_pretty(session)?.as_bytes(),
        )
    }

    /// Drops the tokens; the enrollment (user and device ids) stays, so logging in again
    /// reuses this device instead of enrolling its key twice.
    fn forget_session(&self) -> anyhow::Result<()> {
        if let Some(mut session) = self.session()? {
            session["access_token"] = Value::Null;
            session["refresh_token"] = Value::Null;
            self.save_session(&session)?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` readable by its owner only, atomically and durably (see
/// `device::write_atomic`).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(device::write_atomic(path, bytes)?)
}

/// The `sub` claim of a JWT, read without checking it (the backend checks it).
fn subject(access_token: &str) -> anyhow::Result<String> {
    let payload = access_token
        .split('.')
        .nth(1)
        .ok_or_else(|| anyhow!("the backend's access token is not a JWT"))?;
    let bytes = Base64UrlUnpadded::decode_vec(payload)
        .map_err(|_| anyhow!("the backend's access token is not base64url"))?;
    let claims: Value = serde_json::from_slice(&bytes)?;
    claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("the backend's access token has no subject"))
}

fn client(args: &DeviceArgs) -> anyhow::Result<Client> {
    let default_ca = PathBuf::from("tapwallet-data/tls").join(api::tls::DEV_CERT_FILE);
    let ca = args
        .ca_cert
        .clone()
        .or_else(|| default_ca.exists().then_some(default_ca));
    Client::new(&args.backend, ca.as_deref())
}

/// Prints `value` as JSON, or `text` for people.
fn show(args: &DeviceArgs, value: &Value, text: &str) {
    if args.json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

/// Runs a device command.
pub(crate) async fn run(cmd: &DeviceCommand) -> anyhow::Result<ExitCode> {
    let args = &cmd.common;
    let state = DeviceState::open(args.device_dir.as_deref(), args.runtime_dir.as_deref())?;
    let http = client(args)?;
    match &cmd.action {
        DeviceAction::Init {
            passcode,
            wipe_after,
            danger_export_key,
        } => {
            if device::SecureElement::exists(&state.dir) {
                bail!(
                    "{} already has a secure element; `tapwallet device unlock` opens it",
                    state.dir.display()
                );
            }
            let code = read_passcode(passcode, "Choose a passcode (at least 6 characters): ")?;
            let policy = device::Policy {
                max_failures: *wipe_after,
                ..device::Policy::default()
            };
            let now = crate::env::now_unix()?;
            let (se, session) = tokio::task::block_in_place(|| {
                device::SecureElement::init(&state.dir, &code, &policy, &state.runtime_dir, now)
            })?;
            if let Some(file) = danger_export_key {
                write_private(
                    file,
                    session.danger_export_private_jwk()?.expose().as_bytes(),
                )?;
            }
            let thumbprint = se.public_key()?.thumbprint();
            show(
                args,
                &json!({"device_dir": state.dir, "se_key_thumbprint": thumbprint, "unlocked": true}),
                &format!(
                    "secure element created in {} (key {thumbprint}); unlocked for {} s.\n\
                     next: `tapwallet device register --email ...`",
                    state.dir.display(),
                    policy.window_secs
                ),
            );
        }
        DeviceAction::Unlock {
            passcode,
            window_secs,
        } => {
            let se = state.se()?;
            let code = read_passcode(passcode, "Passcode: ")?;
            let policy = device::Policy {
                window_secs: *window_secs,
                ..device::Policy::default()
            };
            let now = crate::env::now_unix()?;
            let session =
                tokio::task::block_in_place(|| se.unlock(&code, &policy, &state.runtime_dir, now))?;
            // An HCE card running low gets new keys while the phone is online.
            let notes = if state
                .session()?
                .is_some_and(|s| s["access_token"].is_string())
            {
                replenish_low(&http, &state, &session).await
            } else {
                Vec::new()
            };
            let mut text = format!(
                "unlocked: hold the phone to the terminal within {window_secs} s \
                 (payments then count as verified on the phone)"
            );
            for n in &notes {
                text.push_str(&format!("\n  {n}"));
            }
            show(
                args,
                &json!({
                    "unlocked": true,
                    "payment_window_until": session.cdcvm_until_unix(),
                    "notes": notes,
                }),
                &text,
            );
        }
        DeviceAction::Lock => {
            state.se()?.lock(&state.runtime_dir)?;
            show(args, &json!({"locked": true}), "locked");
        }
        DeviceAction::Nfc { vpcd } => {
            let se = state.se()?;
            let runtime = state.runtime_dir.clone();
            let (vpcd, json) = (*vpcd, args.json);
            tokio::task::spawn_blocking(move || crate::phone::serve_vpcd(se, &runtime, vpcd, json))
                .await??;
        }
        DeviceAction::Replenish { card, count } => {
            let session = state.unlocked()?;
            let token = replenish(&http, &state, &session, card, *count).await?;
            show(
                args,
                &token_json(&token),
                &format!(
                    "card {card}: new payment keys installed, {} payments before the next batch",
                    token.payments_left.unwrap_or(0)
                ),
            );
        }
        DeviceAction::Status => {
            let se = state.se()?;
            let now = crate::env::now_unix()?;
            let failures = se.failures()?;
            let value = match se.session(&state.runtime_dir, now) {
                Ok(session) => {
                    let tokens = session.tokens(now)?;
                    json!({
                        "locked": false,
                        "payment_window_secs_left": (session.cdcvm_until_unix() - now).max(0),
                        "wrong_passcodes": failures,
                        "tokens": tokens.iter().map(token_json).collect::<Vec<_>>(),
                    })
                }
                Err(device::SeError::Locked) => {
                    json!({"locked": true, "wrong_passcodes": failures})
                }
                Err(e) => return Err(e.into()),
            };
            let mut text = if value["locked"] == true {
                "locked: `tapwallet device unlock` to pay".to_owned()
            } else {
                let left = value["payment_window_secs_left"].as_i64().unwrap_or(0);
                if left > 0 {
                    format!("unlocked; payment window open for {left} s more")
                } else {
                    "unlocked; payment window closed (small payments only; \
                     `tapwallet device unlock` to verify)"
                        .to_owned()
                }
            };
            for t in value["tokens"].as_array().into_iter().flatten() {
                let keys = match t["payments_left"].as_u64() {
                    Some(n) => format!("  HCE, {n} payments left in this key batch"),
                    None => String::new(),
                };
                text.push_str(&format!(
                    "\n  {}  token {}  ATC {}{keys}{}",
                    t["card_id"].as_str().unwrap_or("?"),
                    t["token"].as_str().unwrap_or("?"),
                    t["atc"],
                    if t["default"] == true {
                        "  (default)"
                    } else {
                        ""
                    }
                ));
            }
            show(args, &value, &text);
        }
        DeviceAction::Register(c) => {
            let created = http
                .send(
                    "POST",
                    "/v1/users",
                    None,
                    None,
                    Some(&json!({"email": c.email, "password": c.password})),
                )
                .await?
                .ok()?;
            let session = login(&http, &state, c).await?;
            show(
                args,
                &json!({"user": created, "device_id": session["device_id"]}),
                &format!(
                    "account {} created; this device is enrolled as {}",
                    c.email,
                    session["device_id"].as_str().unwrap_or("?")
                ),
            );
        }
        DeviceAction::Login(c) => {
            let session = login(&http, &state, c).await?;
            show(
                args,
                &json!({"user_id": session["user_id"], "device_id": session["device_id"]}),
                &format!(
                    "logged in as {}; device {}",
                    c.email,
                    session["device_id"].as_str().unwrap_or("?")
                ),
            );
        }
        DeviceAction::Logout => {
            if let Some(session) = state.session()?
                && let Some(token) = session["access_token"].as_str()
            {
                let answer = http
                    .send("DELETE", "/v1/sessions/current", Some(token), None, None)
                    .await?;
                // Already revoked or expired: the local session goes anyway.
                if answer.status != 401 {
                    answer.ok()?;
                }
            }
            state.forget_session()?;
            show(args, &json!({"logged_out": true}), "logged out");
        }
        DeviceAction::Devices => {
            let list = authed(&http, &state, "GET", "/v1/devices", None).await?;
            let mut text = String::new();
            for d in list["devices"].as_array().into_iter().flatten() {
                text.push_str(&format!(
                    "{}  {:<8} {:<7} {}\n",
                    d["id"].as_str().unwrap_or("?"),
                    d["status"].as_str().unwrap_or("?"),
                    d["platform"].as_str().unwrap_or("?"),
                    d["name"].as_str().unwrap_or("?"),
                ));
            }
            show(args, &list, text.trim_end());
        }
        DeviceAction::Lost { device } => {
            let path = format!("/v1/devices/{device}/lost");
            let d = authed(&http, &state, "POST", &path, None).await?;
            show(args, &d, &format!("device {device} reported lost"));
        }
        DeviceAction::Recovered { device } => {
            let path = format!("/v1/devices/{device}/recovered");
            let d = authed(&http, &state, "POST", &path, None).await?;
            show(args, &d, &format!("device {device} recovered"));
        }
        DeviceAction::AddCard(card) => {
            let device_id = state
                .session()?
                .and_then(|s| s["device_id"].as_str().map(str::to_owned))
                .ok_or_else(|| anyhow!("this device is not enrolled: log in first"))?;
            // The token lands in the secure element: it must be open before the card is sent.
            state.unlocked()?;
            let pan: String = card.pan.chars().filter(|c| !c.is_whitespace()).collect();
            let mut body = json!({
                "device_id": device_id,
                "pan": pan,
                "expiry": card.expiry,
                "cvv": card.cvv,
                "cardholder_name": card.name,
            });
            if card.hce {
                body["credential"] = json!("hce");
            }
            let mut added =
                authed(&http, &state, "POST", "/v1/cards/provision", Some(&body)).await?;
            // Step-up by one-time password: have the bank send the code now.
            let wants_otp = added["status"] == "pending_verification"
                && added["verification_methods"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m["type"].as_str().is_some_and(|t| t.starts_with("OTP")))
                && !added["verification_methods"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m["code_sent"] == true);
            if wants_otp {
                let id = added["id"].as_str().unwrap_or_default().to_owned();
                let path = format!("/v1/cards/{id}/otp");
                added = authed(&http, &state, "POST", &path, Some(&json!({}))).await?;
            }
            if added["status"] == "active"
                && let Some(id) = added["id"].as_str()
            {
                install_payload(&http, &state, &state.unlocked()?, id).await?;
            }
            show(args, &added, &describe_added(&added));
        }
        DeviceAction::Verify { card, otp } => {
            let path = format!("/v1/cards/{card}/verify");
            let c = authed(&http, &state, "POST", &path, Some(&json!({"otp": otp}))).await?;
            if c["status"] == "active" {
                install_payload(&http, &state, &state.unlocked()?, card).await?;
            }
            show(
                args,
                &c,
                &format!("card {card} verified: {}", card_line(&c)),
            );
        }
        DeviceAction::Cards => {
            let list = authed(&http, &state, "GET", "/v1/cards", None).await?;
            let lines: Vec<String> = list["cards"]
                .as_array()
                .into_iter()
                .flatten()
                .map(card_line)
                .collect();
            let text = if lines.is_empty() {
                "no cards yet: `tapwallet device add-card --pan ... --expiry MM/YY --cvv ...`"
                    .to_owned()
            } else {
                lines.join("\n")
            };
            show(args, &list, &text);
        }
        DeviceAction::Payload { card } => {
            let session = state.unlocked()?;
            let token = install_payload(&http, &state, &session, card).await?;
            show(
                args,
                &json!({"card_id": card, "installed": true, "token": token_json(&token)}),
                &format!(
                    "payload opened inside the secure element and installed: token {}, expiry {}, TUR {}",
                    token.token_masked, token.expiry, token.tur
                ),
            );
        }
        DeviceAction::Default { card } => {
            let path = format!("/v1/cards/{card}/default");
            let c = authed(&http, &state, "PUT", &path, None).await?;
            let session = state.unlocked()?;
            if session
                .tokens(crate::env::now_unix()?)?
                .iter()
                .any(|t| &t.card_id == card)
            {
                session.set_default(card)?;
            }
            show(args, &c, &format!("default card: {}", card_line(&c)));
        }
        DeviceAction::Suspend { card } => {
            let path = format!("/v1/cards/{card}/suspend");
            let c = authed(&http, &state, "POST", &path, None).await?;
            show(args, &c, &card_line(&c));
        }
        DeviceAction::Resume { card } => {
            let path = format!("/v1/cards/{card}/resume");
            let c = authed(&http, &state, "POST", &path, None).await?;
            show(args, &c, &card_line(&c));
        }
        DeviceAction::Remove { card } => {
            let path = format!("/v1/cards/{card}");
            let c = authed(&http, &state, "DELETE", &path, None).await?;
            // The token is deleted at the network; its keys leave the secure element too.
            if let Ok(session) = state.unlocked() {
                session.remove(card)?;
            }
            show(args, &c, &format!("card {card} removed"));
        }
        DeviceAction::History { card, limit } => {
            let mut path = format!("/v1/transactions?limit={limit}");
            if let Some(card) = card {
                path.push_str(&format!("&card_id={card}"));
            }
            let list = authed(&http, &state, "GET", &path, None).await?;
            let lines: Vec<String> = list["transactions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(transaction_line)
                .collect();
            let text = if lines.is_empty() {
                "no transactions yet".to_owned()
            } else {
                lines.join("\n")
            };
            show(args, &list, &text);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The passcode: from standard input, TAPWALLET_PASSCODE, or the terminal (not echoed).
fn read_passcode(args: &PasscodeArgs, prompt: &str) -> anyhow::Result<secret::Secret<String>> {
    use std::io::IsTerminal as _;
    if args.passcode_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let code = line.trim_end_matches(['\r', '\n']).to_owned();
        line.clear();
        return Ok(secret::Secret::new(code));
    }
    if let Ok(code) = std::env::var("TAPWALLET_PASSCODE") {
        return Ok(secret::Secret::new(code));
    }
    if std::io::stdin().is_terminal() {
        return Ok(secret::Secret::new(rpassword::prompt_password(prompt)?));
    }
    bail!("no passcode: give it with --passcode-stdin or TAPWALLET_PASSCODE")
}

/// A token in the secure element, for `--json`: masked, never its number or keys.
fn token_json(t: &device::TokenInfo) -> Value {
    json!({
        "card_id": t.card_id,
        "tur": t.tur,
        "token": t.token_masked,
        "fpan_last4": t.fpan_last4,
        "scheme": t.scheme,
        "product_name": t.product_name,
        "expiry": t.expiry,
        "atc": t.atc,
        "default": t.is_default,
        "credential": t.credential,
        "payments_left": t.payments_left,
    })
}

/// Fetches an active card's token payload and installs it into the secure element, which opens
/// it with its own key (idempotent: installing again keeps the token's counters).
pub(crate) async fn install_payload(
    http: &Client,
    state: &DeviceState,
    session: &device::Session,
    card: &str,
) -> anyhow::Result<device::TokenInfo> {
    let path = format!("/v1/cards/{card}/payload");
    let payload = authed(http, state, "GET", &path, None).await?;
    let jwe = payload["encrypted_payload"]
        .as_str()
        .ok_or_else(|| anyhow!("the backend sent no payload"))?;
    let now = crate::env::now_unix()?;
    let token = session.install(card, jwe, now)?;
    if token.credential == "hce" {
        return replenish(http, state, session, card, None).await;
    }
    Ok(token)
}

/// Fetches a new batch of limited-use keys for an HCE card and installs it (the token service
/// revokes the previous batch).
pub(crate) async fn replenish(
    http: &Client,
    state: &DeviceState,
    session: &device::Session,
    card: &str,
    count: Option<u8>,
) -> anyhow::Result<device::TokenInfo> {
    let path = format!("/v1/cards/{card}/keys");
    let body = match count {
        Some(n) => json!({ "count": n }),
        None => json!({}),
    };
    let batch = authed(http, state, "POST", &path, Some(&body)).await?;
    let jwe = batch["encrypted_keys"]
        .as_str()
        .ok_or_else(|| anyhow!("the backend sent no keys"))?;
    let now = crate::env::now_unix()?;
    Ok(session.install_keys(card, jwe, now)?)
}

/// Replenishes every HCE card running low; a failure (offline, say) is reported, not fatal:
/// the keys left still pay.
async fn replenish_low(
    http: &Client,
    state: &DeviceState,
    session: &device::Session,
) -> Vec<String> {
    let mut notes = Vec::new();
    let Ok(now) = crate::env::now_unix() else {
        return notes;
    };
    let Ok(tokens) = session.tokens(now) else {
        return notes;
    };
    for t in tokens {
        if t.payments_left
            .is_some_and(|left| left < device::REPLENISH_BELOW)
        {
            match replenish(http, state, session, &t.card_id, None).await {
                Ok(t2) => notes.push(format!(
                    "card {}: new payment keys ({} payments)",
                    t.card_id,
                    t2.payments_left.unwrap_or(0)
                )),
                Err(e) => notes.push(format!(
                    "card {}: {} payments left, and new keys could not be fetched ({e})",
                    t.card_id,
                    t.payments_left.unwrap_or(0)
                )),
            }
        }
    }
    notes
}

/// One line per card: id, status, network and last digits, default mark.
fn card_line(c: &Value) -> String {
    format!(
        "{}  {:<20} {:<10} ....{} {}{}",
        c["id"].as_str().unwrap_or("?"),
        c["status"].as_str().unwrap_or("?"),
        c["network"].as_str().unwrap_or("?"),
        c["fpan_last4"].as_str().unwrap_or("????"),
        c["product_name"].as_str().unwrap_or(""),
        if c["is_default"] == true {
            "  (default)"
        } else {
            ""
        },
    )
}

/// What `add-card` tells a person: the outcome and the next step.
fn describe_added(c: &Value) -> String {
    let id = c["id"].as_str().unwrap_or("?");
    match c["status"].as_str() {
        Some("active") => format!("card added and ready to pay: {}", card_line(c)),
        Some("pending_verification") => {
            let mut text = format!("your bank wants to verify it's you: card {id} is pending");
            for m in c["verification_methods"].as_array().into_iter().flatten() {
                let kind = m["type"].as_str().unwrap_or("?");
                match kind {
                    "ISSUER_APP" => text.push_str(&format!(
                        "\n  - approve in your bank's app (demo: `tapwallet issuer approve {}`)",
                        c["token_ref"].as_str().unwrap_or("TUR")
                    )),
                    _ => text.push_str(&format!(
                        "\n  - {kind}: a code {} {} (demo gateway: `tapwallet outbox`); then \
                         `tapwallet device verify {id} --otp CODE`",
                        if m["code_sent"] == true {
                            "was sent to"
                        } else {
                            "can be sent to"
                        },
                        m["destination"].as_str().unwrap_or("you"),
                    )),
                }
            }
            text
        }
        Some("declined") => format!(
            "your bank declined this card ({})",
            c["decline_reason"].as_str().unwrap_or("no reason given")
        ),
        _ => card_line(c),
    }
}

/// `YYYY-MM-DD HH:MM UTC` from Unix seconds.
fn when(unix: i64) -> String {
    let Ok(date) = cards::Date::from_unix_seconds(unix) else {
        return unix.to_string();
    };
    let minutes = unix.rem_euclid(86_400) / 60;
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        date.year(),
        date.month(),
        date.day(),
        minutes / 60,
        minutes % 60
    )
}

/// One line per transaction: when, amount, outcome, enriched merchant.
fn transaction_line(t: &Value) -> String {
    let minor = t["amount_minor"].as_i64().unwrap_or(0);
    let m = &t["merchant"];
    format!(
        "{}  {:>9} {}  {:<8} {} ({}{}) [{}]",
        when(t["occurred_at"].as_i64().unwrap_or(0)),
        format!("{}.{:02}", minor / 100, (minor % 100).abs()),
        t["currency"].as_str().unwrap_or(""),
        if t["approved"] == true {
            "approved"
        } else {
            "declined"
        },
        m["name"].as_str().unwrap_or("?"),
        m["city"].as_str().unwrap_or(""),
        m["country"]
            .as_str()
            .map(|c| format!(", {c}"))
            .unwrap_or_default(),
        m["category"].as_str().unwrap_or("other"),
    )
}

/// Logs in and enrolls this device if needed; saves and returns the session.
async fn login(http: &Client, state: &DeviceState, c: &Credentials) -> anyhow::Result<Value> {
    let tokens = http
        .send(
            "POST",
            "/v1/sessions",
            None,
            None,
            Some(&json!({"email": c.email, "password": c.password})),
        )
        .await?
        .ok()?;
    let access = tokens["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("the backend sent no access token"))?
        .to_owned();
    let user_id = subject(&access)?;
    let previous = state.session()?;
    let mut session = json!({
        "user_id": user_id,
        "email": c.email,
        "access_token": access,
        "refresh_token": tokens["refresh_token"],
        "device_id": Value::Null,
    });
    match previous {
        Some(p) if p["user_id"] == session["user_id"] => {
            session["device_id"] = p["device_id"].clone()
        }
        Some(p) if !p["device_id"].is_null() => bail!(
            "this device is enrolled to another account ({}); use another --device-dir",
            p["email"].as_str().unwrap_or("?")
        ),
        _ => {}
    }
    if session["device_id"].is_null() {
        let session_se = state
            .unlocked()
            .context("enrolling needs the secure element's key")?;
        let jwk = state.se()?.public_key()?;
        let challenge = format!(
            "tapwallet-device-attestation:v1:{user_id}:{}:cli:{}",
            c.name,
            jwk.thumbprint()
        );
        let signature = session_se.sign(challenge.as_bytes())?;
        let public: Value = serde_json::from_str(&jwk.to_public_json())?;
        let device = http
            .send(
                "POST",
                "/v1/devices",
                Some(session["access_token"].as_str().unwrap_or_default()),
                None,
                Some(&json!({
                    "name": c.name,
                    "platform": "cli",
                    "se_public_key": public,
                    "attestation": Base64UrlUnpadded::encode_string(&signature),
                })),
            )
            .await?
            .ok()?;
        session["device_id"] = device["id"].clone();
    }
    state.save_session(&session)?;
    Ok(session)
}

/// Sends an authenticated request, refreshing the access token once if it expired.
async fn authed(
    http: &Client,
    state: &DeviceState,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let Some(mut session) = state.session()?.filter(|s| s["access_token"].is_string()) else {
        bail!("not logged in: run `tapwallet device login --email ...` first");
    };
    let token = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let answer = http.send(method, path, Some(&token), None, body).await?;
    if answer.status != 401 {
        return answer.ok();
    }
    let refreshed: Answer = http
        .send(
            "POST",
            "/v1/sessions/refresh",
            None,
            None,
            Some(&json!({"refresh_token": session["refresh_token"]})),
        )
        .await?;
    if refreshed.status != 200 {
        state.forget_session()?;
        bail!("the session ended: run `tapwallet device login --email ...` again");
    }
    session["access_token"] = refreshed.body["access_token"].clone();
    session["refresh_token"] = refreshed.body["refresh_token"].clone();
    state.save_session(&session)?;
    let token = session["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    http.send(method, path, Some(&token), None, body)
        .await?
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_times_read_as_utc_dates() {
        assert_eq!(when(1_795_435_200), "2026-11-23 12:00 UTC");
        // Outside the calendar `cards::Date` supports (2000-2099): the raw seconds.
        assert_eq!(when(0), "0");
        let t = json!({
            "occurred_at": 1_795_452_941,
            "amount_minor": 750,
            "currency": "EUR",
            "approved": true,
            "merchant": {"name": "Tapwallet Cafe", "city": "Paris", "country": "FR",
                         "category": "food_and_drink"},
        });
        assert_eq!(
            transaction_line(&t),
            "2026-11-23 16:55 UTC       7.50 EUR  approved Tapwallet Cafe (Paris, FR) [food_and_drink]"
        );
    }
}
