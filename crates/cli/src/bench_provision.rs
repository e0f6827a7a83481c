//! `tapwallet bench provision`: many users provisioning cards at once, over HTTPS, through the
//! wallet backend, the token service and the issuer's ID&V, on SQLite or PostgreSQL.
//!
//! Setup (not timed): a temporary world (the hosts' store with one bench card per user, each
//! enrolled for ID&V with its own phone number; every `--otp-every`-th card needs a one-time
//! password, the others are low risk), the token service on a loopback port, the backend over
//! HTTPS with a fresh development certificate, and the users, each with an enrolled device
//! (Argon2id sign-up, login, attested P-256 key). The issuer's attempt cap and the backend's
//! per-user rate limits are lifted: a bench user provisions hundreds of times a minute where a
//! person does it a few times a year.
//!
//! Timed: each user, on a kept-alive HTTPS connection, provisions its card (the backend
//! JWE-encrypts it to the token service, which asks the issuer and creates the token), reads
//! the code the issuer "texted" (an in-process gateway standing in for the SMS provider) and
//! verifies it when asked, fetches the token payload for its device, then removes the card
//! (which deletes the token) so the next round starts again. A flow is the provisioning up to
//! an active card; its latency is what a person waits.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use clap::Args;
use hdrhistogram::Histogram;
use p256::ecdsa::signature::Signer as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::bench::{TempDir, float, process_cpu, stopwatch};
use crate::hosts::{KeyArgs, clock, issuer_host, vault};
use crate::http::{Client, Conn};
use harness::demo as seed;

/// Flags of `tapwallet bench provision`.
#[derive(Debug, Args)]
pub(crate) struct ProvisionArgs {
    /// Concurrent users (each with its own device and card).
    #[arg(long, default_value_t = 32)]
    users: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Every N-th card needs a one-time password (the others are green); 1: all of them.
    #[arg(long, default_value_t = 2)]
    otp_every: usize,
    /// The hosts' database (`sqlite://PATH` or `postgres://...`). Default: a temporary SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// The backend's database. Default: a temporary SQLite file.
    #[arg(long)]
    wallet_database_url: Option<String>,
    /// One JSON object on stdout, no progress bar.
    #[arg(long)]
    json: bool,
}

/// Latencies above this (microseconds) are recorded as this.
const LATENCY_MAX_US: u64 = 60_000_000;

/// The in-process SMS gateway: the last code sent to each phone number.
#[derive(Default)]
struct Gateway {
    codes: Mutex<HashMap<String, String>>,
}

impl issuer::idv::OtpProvider for Gateway {
    fn deliver<'a>(
        &'a self,
        message: &'a issuer::idv::OtpMessage,
    ) -> issuer::idv::BoxFuture<'a, Result<(), issuer::idv::IdvError>> {
        Box::pin(async move {
            if let Ok(mut codes) = self.codes.lock() {
                codes.insert(message.destination.clone(), message.code.expose().clone());
            }
            Ok(())
        })
    }
}

impl Gateway {
    fn take(&self, phone: &str) -> Option<String> {
        self.codes.lock().ok()?.remove(phone)
    }
}

/// One bench user: its session, device and card.
struct User {
    token: String,
    device_id: String,
    pan: String,
    phone: String,
}

struct Tally {
    flows: Histogram<u64>,
    requests: Histogram<u64>,
    green: u64,
    otp: u64,
    errors: HashMap<String, u64>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            flows: Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)?,
            requests: Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)?,
            green: 0,
            otp: 0,
            errors: HashMap::new(),
        })
    }

    fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        self.flows.add(&other.flows)?;
        self.requests.add(&other.requests)?;
        self.green += other.green;
        self.otp += other.otp;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        Ok(())
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, LATENCY_MAX_US)
}

/// Sends one request, timing it; a non-2xx answer is an error named by its status.
async fn call(
    conn: &mut Conn,
    tally: &mut Tally,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let started = stopwatch();
    let answer = conn.send(method, path, Some(token), body).await?;
    tally.requests.saturating_record(micros(started.elapsed()));
    if !(200..300).contains(&answer.status) {
        bail!("{method} {} -> {}", route_of(path), answer.status);
    }
    Ok(answer.body)
}

/// The route template of a path, for error counts ("/v1/cards/{id}/verify").
fn route_of(path: &str) -> String {
    path.split('/')
        .map(|p| if p.starts_with("crd_") { "{id}" } else { p })
        .collect::<Vec<_>>()
        .join("/")
}

async fn one_flow(
    conn: &mut Conn,
    user: &User,
    gateway: &Gateway,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let started = stopwatch();
    let body = json!({
        "device_id": user.device_id,
        "pan": user.pan,
        "expiry": "12/30",
        "cvv": "123",
        "cardholder_name": "BENCH USER",
    });
    let card = call(
        conn,
        tally,
        "POST",
        "/v1/cards/provision",
        &user.token,
        Some(&body),
    )
    .await?;
    let id = card["id"].as_str().unwrap_or_default().to_owned();
    let active = match card["status"].as_str() {
        Some("active") => {
            tally.green += 1;
            card
        }
        Some("pending_verification") => {
            let code = gateway
                .take(&user.phone)
                .ok_or_else(|| anyhow!("no code was texted"))?;
            let path = format!("/v1/cards/{id}/verify");
            let verified = call(
                conn,
                tally,
                "POST",
                &path,
                &user.token,
                Some(&json!({"otp": code})),
            )
            .await?;
            tally.otp += 1;
            verified
        }
        other => bail!("provisioning answered {other:?}"),
    };
    if active["status"] != "active" {
        bail!("card not active after the flow");
    }
    let path = format!("/v1/cards/{id}/payload");
    call(conn, tally, "GET", &path, &user.token, None).await?;
    tally.flows.saturating_record(micros(started.elapsed()));
    // Reset for the next round (not part of the flow's latency).
    let path = format!("/v1/cards/{id}");
    let removed = conn.send("DELETE", &path, Some(&user.token), None).await?;
    if removed.status != 204 {
        bail!("DELETE /v1/cards/{{id}} -> {}", removed.status);
    }
    Ok(())
}

/// Signs up, logs in and enrolls a device; returns the user.
async fn make_user(http: &Client, i: usize, pan: String, phone: String) -> anyhow::Result<User> {
    let email = format!("bench{i}@example.com");
    let password = "bench password 1";
    let creds = json!({"email": email, "password": password});
    http.send("POST", "/v1/users", None, None, Some(&creds))
        .await?
        .ok()?;
    let tokens = http
        .send("POST", "/v1/sessions", None, None, Some(&creds))
        .await?
        .ok()?;
    let token = tokens["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no access token"))?
        .to_owned();
    let payload = token.split('.').nth(1).unwrap_or_default();
    let claims: Value = serde_json::from_slice(
        &Base64UrlUnpadded::decode_vec(payload).map_err(|_| anyhow!("bad JWT"))?,
    )?;
    let sub = claims["sub"].as_str().unwrap_or_default();
    let mut d = [0u8; 32];
    let key = loop {
        getrandom::fill(&mut d).map_err(|e| anyhow!("randomness: {e}"))?;
        if let Ok(k) = p256::SecretKey::from_slice(&d) {
            break k;
        }
    };
    let jwk = jose::Jwk::from_private_bytes(&d)
        .map_err(|e| anyhow!("{e}"))?
        .to_public();
    let name = format!("bench device {i}");
    let challenge = format!(
        "tapwallet-device-attestation:v1:{sub}:{name}:cli:{}",
        jwk.thumbprint()
    );
    let signature: p256::ecdsa::Signature =
        p256::ecdsa::SigningKey::from(&key).sign(challenge.as_bytes());
    let device = http
        .send(
            "POST",
            "/v1/devices",
            Some(&token),
            None,
            Some(&json!({
                "name": name,
                "platform": "cli",
                "se_public_key": serde_json::from_str::<Value>(&jwk.to_public_json())?,
                "attestation": Base64UrlUnpadded::encode_string(&signature.to_bytes()),
            })),
        )
        .await?
        .ok()?;
    Ok(User {
        token,
        device_id: device["id"].as_str().unwrap_or_default().to_owned(),
        pan,
        phone,
    })
}

/// `tapwallet bench provision`.
pub(crate) async fn run(args: &ProvisionArgs) -> anyhow::Result<ExitCode> {
    if args.users == 0 || args.otp_every == 0 {
        bail!("--users and --otp-every must be at least 1");
    }
    let tmp = TempDir::new()?;
    let hosts_url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/hosts.db", tmp.path.display()));
    let wallet_url = args
        .wallet_database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/wallet.db", tmp.path.display()));
    let keys = KeyArgs::demo();
    let store = store::Store::open(&hosts_url)
        .await
        .with_context(|| format!("opening {hosts_url}"))?;
    let issuer = issuer_host(store.clone(), &keys)?;
    let vault_keys = vault(&keys)?;
    seed::seed(&store, &issuer, &vault_keys)
        .await
        .map_err(|e| anyhow!("seeding: {e}"))?;
    seed::seed_bench_cards(&store, &issuer, &vault_keys, args.users, 1_000_000_000_000)
        .await
        .map_err(|e| anyhow!("bench cards: {e}"))?;
    let gateway = Arc::new(Gateway::default());
    let idv = issuer::idv::Idv::new(
        store.clone(),
        issuer::idv::IdvConfig {
            pan_hash_key: keys.issuer_hash_key()?,
            idv_key: seed::key32(seed::ISSUER_IDV_KEY_HEX, "ID&V key")
                .map_err(anyhow::Error::msg)?,
            rules: issuer::idv::IdvRules {
                max_attempts: u32::MAX,
                ..issuer::idv::IdvRules::default()
            },
        },
        clock(),
    )
    .with_otp_provider({
        let provider: Arc<dyn issuer::idv::OtpProvider> = gateway.clone();
        provider
    });
    let mut cards = Vec::with_capacity(args.users);
    for i in 0..args.users {
        let pan = seed::bench_pan("49999990", i).map_err(|e| anyhow!("{e}"))?;
        let phone = format!("+33 7{i:08}");
        let profile = issuer::idv::IdvProfile {
            cvv: secret::Secret::new("123".to_owned()),
            product_name: "Bench Visa".to_owned(),
            low_risk: i % args.otp_every != 0,
            phone: Some(phone.clone()),
            email: None,
            issuer_app: false,
        };
        // Already enrolled on a reused database: keep it.
        let _ = idv.enroll(&pan, &profile).await;
        cards.push((pan.expose_digits().to_owned(), phone));
    }
    let service = crate::tsp_host::token_service_with(
        &store,
        vault(&keys)?,
        keys.token_imk()?,
        Arc::new(idv),
        None,
        None,
    )?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let tsp_listener = TcpListener::bind("127.0.0.1:0").await?;
    let tsp_addr = tsp_listener.local_addr()?;
    let tsp_task = tokio::spawn(tsp::run(
        tsp_listener,
        service,
        Duration::from_secs(3600),
        stopped(stop_rx.clone()),
    ));
    let backend_args = crate::backend::BackendArgs {
        backend_listen: "127.0.0.1:0".parse()?,
        wallet_database_url: wallet_url,
        tls_cert: None,
        tls_key: None,
        plain_http: false,
        jwt_key: Some(hex::encode([7u8; 32])),
        data_dir: tmp.path.clone(),
        tsp_url: format!("http://{tsp_addr}"),
        token_requestor_id: seed::TOKEN_REQUESTOR_ID.to_owned(),
        token_requestor_api_key: seed::TOKEN_REQUESTOR_API_KEY_HEX.to_owned(),
    };
    let backend = crate::backend::start_with(&backend_args, stopped(stop_rx), true).await?;
    let cert = backend
        .dev_cert
        .clone()
        .ok_or_else(|| anyhow!("the bench backend has no development certificate"))?;
    let http = Client::new(&backend.url, Some(&cert))?;

    let progress = (!args.json).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!(
            "enrolling {} users (Argon2id sign-up, attested devices)",
            args.users
        ));
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut users = Vec::with_capacity(args.users);
    for (i, (pan, phone)) in cards.into_iter().enumerate() {
        users.push(make_user(&http, i, pan, phone).await?);
    }

    let done = Arc::new(AtomicU64::new(0));
    let over = Arc::new(AtomicBool::new(false));
    let cpu_before = process_cpu();
    let started = stopwatch();
    let mut workers = JoinSet::new();
    for user in users {
        let (http, gateway, done, over) = (
            http.clone(),
            Arc::clone(&gateway),
            Arc::clone(&done),
            Arc::clone(&over),
        );
        workers.spawn(async move {
            let mut tally = Tally::new()?;
            let mut conn = http.keep_alive();
            while !over.load(Ordering::Relaxed) {
                if let Err(e) = one_flow(&mut conn, &user, &gateway, &mut tally).await {
                    *tally.errors.entry(e.to_string()).or_default() += 1;
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(tally)
        });
    }
    let deadline = started + Duration::from_secs(args.duration);
    while stopwatch() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(bar) = &progress {
            let n = done.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{n} provisioning flows, {:.0}/s, {:.0} s left",
                float(n) / secs,
                deadline
                    .saturating_duration_since(stopwatch())
                    .as_secs_f64()
            ));
        }
    }
    over.store(true, Ordering::Relaxed);
    let mut tally = Tally::new()?;
    while let Some(joined) = workers.join_next().await {
        tally.merge(&joined.map_err(|e| anyhow!("a worker failed: {e}"))??)?;
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(a, b)| a.saturating_sub(b));
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let _ = stop_tx.send(true);
    backend.finish().await;
    let _ = tsp_task.await;
    store.close().await;

    let flows = tally.flows.len();
    let per_s = float(flows) / elapsed.as_secs_f64().max(0.001);
    let q = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
    let report = json!({
        "database": if hosts_url.starts_with("postgres") { "postgres" } else { "sqlite" },
        "users": args.users,
        "otp_every": args.otp_every,
        "duration_s": args.duration,
        "flows": flows,
        "green": tally.green,
        "otp": tally.otp,
        "errors": tally.errors,
        "flows_per_s": per_s.round(),
        "flow_latency_us": {
            "p50": q(&tally.flows, 0.5), "p90": q(&tally.flows, 0.9),
            "p99": q(&tally.flows, 0.99), "max": tally.flows.max(),
        },
        "request_latency_us": {
            "requests": tally.requests.len(),
            "p50": q(&tally.requests, 0.5), "p90": q(&tally.requests, 0.9),
            "p99": q(&tally.requests, 0.99), "max": tally.requests.max(),
        },
        "process_cpu_cores": cpu.map(|c| (c.as_secs_f64() / elapsed.as_secs_f64() * 100.0).round() / 100.0),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "tapwallet bench provision: {} users, {} s, every {} card(s) with an OTP",
            args.users, args.duration, args.otp_every
        );
        println!(
            "  {flows} flows to an active card ({} green, {} with OTP): {per_s:.0}/s",
            tally.green, tally.otp
        );
        println!(
            "  flow latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms (provision [+ verify] + payload)",
            float(q(&tally.flows, 0.5)) / 1000.0,
            float(q(&tally.flows, 0.9)) / 1000.0,
            float(q(&tally.flows, 0.99)) / 1000.0,
        );
        println!(
            "  request latency: p50 {:.1} ms, p99 {:.1} ms over {} HTTPS requests",
            float(q(&tally.requests, 0.5)) / 1000.0,
            float(q(&tally.requests, 0.99)) / 1000.0,
            tally.requests.len()
        );
        if let Some(c) = cpu {
            println!(
                "  process CPU: {:.2} cores busy",
                c.as_secs_f64() / elapsed.as_secs_f64()
            );
        }
        for (e, n) in &tally.errors {
            println!("  error x{n}: {e}");
        }
    }
    Ok(if flows > 0 && tally.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
