//! `tapwallet up` (every host in one process) and `tapwallet issuer|network|acquirer` (one each).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use iso8583_net::{Client, ClientConfig, IsoCodec};
use network::vault::VaultKeys;
use store::Store;
use tokio::net::TcpListener;

use crate::env;
use harness::demo as seed;

/// Where the hosts keep their state.
#[derive(Debug, Args, Clone)]
pub(crate) struct StoreArgs {
    /// Database: `sqlite://PATH` (created on first run) or `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "TAPWALLET_DATABASE_URL",
        default_value = "sqlite://tapwallet-data/tapwallet.db"
    )]
    database_url: String,
}

/// Keys of the hosts (demo keys by default; every one documented in seed.rs).
#[derive(Debug, Args, Clone)]
pub(crate) struct KeyArgs {
    /// Issuer master key for application cryptograms (3DES, hex).
    #[arg(long, env = "TAPWALLET_ISSUER_IMK", default_value = seed::ISSUER_IMK_HEX, hide_default_value = true)]
    issuer_imk: String,
    /// An issuer master key for one BIN range, `LOW-HIGH=HEX` on the first 8 PAN digits
    /// (repeatable; the narrowest range wins, `--issuer-imk` covers the rest).
    #[arg(long, value_name = "LOW-HIGH=HEX")]
    issuer_key_range: Vec<String>,
    /// Token service master key for token-level card keys (3DES, hex).
    #[arg(long, env = "TAPWALLET_TOKEN_IMK", default_value = seed::TOKEN_IMK_HEX, hide_default_value = true)]
    token_imk: String,
    /// Vault encryption key (AES-256, hex).
    #[arg(long, env = "TAPWALLET_VAULT_KEY", default_value = seed::VAULT_KEY_HEX, hide_default_value = true)]
    vault_key: String,
    /// Vault lookup-hash key (HMAC-SHA-256, hex).
    #[arg(long, env = "TAPWALLET_VAULT_HASH_KEY", default_value = seed::VAULT_HASH_KEY_HEX, hide_default_value = true)]
    vault_hash_key: String,
    /// Issuer card-index hash key (HMAC-SHA-256, hex).
    #[arg(long, env = "TAPWALLET_ISSUER_HASH_KEY", default_value = seed::ISSUER_HASH_KEY_HEX, hide_default_value = true)]
    issuer_hash_key: String,
}

impl KeyArgs {
    /// The documented demo keys (what the flags default to), for `tapwallet bench`, whose
    /// cards are personalized with them.
    pub(crate) fn demo() -> Self {
        Self {
            issuer_imk: seed::ISSUER_IMK_HEX.to_owned(),
            issuer_key_range: Vec::new(),
            token_imk: seed::TOKEN_IMK_HEX.to_owned(),
            vault_key: seed::VAULT_KEY_HEX.to_owned(),
            vault_hash_key: seed::VAULT_HASH_KEY_HEX.to_owned(),
            issuer_hash_key: seed::ISSUER_HASH_KEY_HEX.to_owned(),
        }
    }

    /// The token service master key (`--token-imk`).
    /// The issuer's card-index hash key (`--issuer-hash-key`).
    pub(crate) fn issuer_hash_key(&self) -> anyhow::Result<secret::Secret<[u8; 32]>> {
        seed::key32(&self.issuer_hash_key, "--issuer-hash-key").map_err(anyhow::Error::msg)
    }

    pub(crate) fn token_imk(&self) -> anyhow::Result<emv_crypto::MasterKey> {
        seed::tdes_key(&self.token_imk, "--token-imk").map_err(anyhow::Error::msg)
    }
}

/// Flags of `tapwallet up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Where terminals connect (the acquirer).
    #[arg(long, default_value = "127.0.0.1:8583")]
    acquirer_listen: SocketAddr,
    /// Where acquirers connect (the card network).
    #[arg(long, default_value = "127.0.0.1:8584")]
    network_listen: SocketAddr,
    /// Where the network connects (the issuer).
    #[arg(long, default_value = "127.0.0.1:8585")]
    issuer_listen: SocketAddr,
    /// How long the network waits for the issuer before standing in, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    issuer_timeout_ms: u64,
    #[command(flatten)]
    backend: crate::backend::BackendArgs,
    #[command(flatten)]
    tsp: crate::tsp_host::TspArgs,
}

pub(crate) async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    if let Some(path) = args.database_url.strip_prefix("sqlite://")
        && let Some(dir) = Path::new(path.split('?').next().unwrap_or(path)).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Store::open(&args.database_url)
        .await
        .with_context(|| "opening the database (check --database-url)".to_owned())
}

pub(crate) fn clock() -> Arc<dyn Fn() -> i64 + Send + Sync> {
    Arc::new(|| env::now_unix().unwrap_or(0))
}

pub(crate) fn issuer_host(store: Store, keys: &KeyArgs) -> anyhow::Result<issuer::Issuer> {
    issuer_host_with_velocity(store, keys, domain::VelocityLimits::default())
}

/// The issuer's keys: `--issuer-key-range` entries, then `--issuer-imk` for every other card.
fn issuer_keys(keys: &KeyArgs) -> anyhow::Result<issuer::IssuerKeys> {
    let mut ranges = Vec::new();
    for entry in &keys.issuer_key_range {
        let parse = || -> Option<(u32, u32, &str)> {
            let (range, hex_key) = entry.split_once('=')?;
            let (low, high) = range.split_once('-')?;
            Some((low.parse().ok()?, high.parse().ok()?, hex_key))
        };
        let (low, high, hex_key) = parse().with_context(|| {
            format!("--issuer-key-range {entry:?}: expected LOW-HIGH=HEX with 8-digit BINs")
        })?;
        let key = seed::tdes_key(hex_key, "--issuer-key-range").map_err(anyhow::Error::msg)?;
        ranges.push((low, high, key));
    }
    let default = seed::tdes_key(&keys.issuer_imk, "--issuer-imk").map_err(anyhow::Error::msg)?;
    ranges.push((0, 99_999_999, default));
    Ok(issuer::IssuerKeys::new(ranges))
}

/// [`issuer_host`] with other velocity limits (`tapwallet bench` lifts them).
pub(crate) fn issuer_host_with_velocity(
    store: Store,
    keys: &KeyArgs,
    velocity: domain::VelocityLimits,
) -> anyhow::Result<issuer::Issuer> {
    let config = issuer::IssuerConfig {
        keys: issuer_keys(keys)?,
        pan_hash_key: seed::key32(&keys.issuer_hash_key, "--issuer-hash-key")
            .map_err(anyhow::Error::msg)?,
        velocity,
    };
    Ok(issuer::Issuer::new(store, config, clock()))
}

pub(crate) fn vault(keys: &KeyArgs) -> anyhow::Result<VaultKeys> {
    let enc = seed::key32(&keys.vault_key, "--vault-key").map_err(anyhow::Error::msg)?;
    let hash = seed::key32(&keys.vault_hash_key, "--vault-hash-key").map_err(anyhow::Error::msg)?;
    VaultKeys::new(enc.expose(), hash.expose()).map_err(|e| anyhow::anyhow!("vault keys: {e}"))
}

async fn listen(addr: SocketAddr, who: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("{who} cannot listen on {addr}: is another tapwallet running? pick another port")
    })
}

pub(crate) async fn connect(addr: SocketAddr, who: &str) -> anyhow::Result<Client<IsoCodec>> {
    let config = ClientConfig::default();
    Client::connect(addr, IsoCodec, config)
        .await
        .with_context(|| format!("cannot reach the {who} at {addr}: is it running?"))
}

/// Ctrl-C, or SIGTERM from a service manager: both stop gracefully.
pub(crate) async fn ctrl_c() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

pub(crate) async fn up(args: &UpArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.store).await?;
    let issuer = Arc::new(issuer_host(store.clone(), &args.keys)?);
    let vault = vault(&args.keys)?;
    if seed::seed(&store, &issuer, &vault)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the demo world: {e}"))?
    {
        let idv = crate::tsp_host::idv(&store, args.keys.issuer_hash_key()?)?;
        seed::seed_idv(&idv)
            .await
            .map_err(|e| anyhow::anyhow!("seeding the demo cards' ID&V: {e}"))?;
        println!("Created the demo world in {}", args.store.database_url);
    }
    let issuer_listener = listen(args.issuer_listen, "the issuer").await?;
    let network_listener = listen(args.network_listen, "the network").await?;
    let acquirer_listener = listen(args.acquirer_listen, "the acquirer").await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let issuer_task = tokio::spawn(issuer::run(
        issuer_listener,
        issuer,
        stopped(stop_rx.clone()),
    ));
    let to_issuer = connect(args.issuer_listen, "issuer").await?;
    // The network reports token payments; the token service signs them for the wallet's history.
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let network = Arc::new(
        network::Network::new(
            store.clone(),
            network::NetworkConfig {
                vault,
                token_imk: seed::tdes_key(&args.keys.token_imk, "--token-imk")
                    .map_err(anyhow::Error::msg)?,
                bins: seed::bin_table(),
                issuer_timeout: Duration::from_millis(args.issuer_timeout_ms),
                stand_in: domain::StandInRules::default(),
            },
            to_issuer,
            clock(),
        )
        .with_transaction_events(events_tx),
    );
    let network_task = tokio::spawn(network::run(
        network_listener,
        network,
        Duration::from_secs(5),
        stopped(stop_rx.clone()),
    ));
    let to_network = connect(args.network_listen, "network").await?;
    let acquirer = Arc::new(acquirer::Acquirer::new(
        store.clone(),
        to_network,
        Duration::from_secs(5),
        clock(),
    ));
    let acquirer_task = tokio::spawn(acquirer::run(
        acquirer_listener,
        acquirer,
        stopped(stop_rx.clone()),
    ));
    let backend = crate::backend::start(&args.backend, stopped(stop_rx.clone())).await?;
    let token_service = crate::tsp_host::token_service(
        &store,
        crate::hosts::vault(&args.keys)?,
        args.keys.token_imk()?,
        args.keys.issuer_hash_key()?,
        Some(format!("{}/v1/webhooks/tsp", backend.url)),
        backend.dev_cert.as_deref(),
    )?;
    let recorder = Arc::clone(&token_service);
    tokio::spawn(async move {
        while let Some(event) = events_rx.recv().await {
            if let Err(e) = recorder.record_transaction(&event).await {
                tracing::warn!(error = %e, "transaction event not queued for the wallet");
            }
        }
    });
    let tsp_task = crate::tsp_host::start(&args.tsp, token_service, stopped(stop_rx)).await?;
    println!("Tapwallet is up:");
    println!(
        "  wallet backend  {} (devices: `tapwallet device register --email ...`; API: {}/openapi.json)",
        backend.url, backend.url
    );
    if let Some(cert) = &backend.dev_cert {
        println!("    development TLS certificate: {}", cert.display());
    }
    println!(
        "  acquirer        {} (terminals: `tapwallet pos charge --amount 12.34`)",
        args.acquirer_listen
    );
    println!("  network         {}", args.network_listen);
    println!(
        "  token service   http://{} (tokenize, ID&V, lifecycle; OTPs: `tapwallet outbox`)",
        args.tsp.tsp_listen
    );
    println!("  issuer          {}", args.issuer_listen);
    println!("Demo cards (tokens on the phone -> funding cards at the bank):");
    for card in seed::DEMO_CARDS {
        let dpan = cards::Pan::parse(card.dpan)?;
        println!("  {}  {}", dpan.masked(), card.purpose);
    }
    println!("Press Ctrl-C to stop.");
    ctrl_c().await;
    println!("Stopping: finishing in-flight requests...");
    let _ = stop_tx.send(true);
    backend.finish().await;
    let _ = tsp_task.await;
    let _ = acquirer_task.await;
    let _ = network_task.await;
    let _ = issuer_task.await;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `tapwallet issuer`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct IssuerArgs {
    /// Without a subcommand: run the issuer host.
    #[command(subcommand)]
    action: Option<IssuerAction>,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Where the network connects.
    #[arg(long, default_value = "127.0.0.1:8585")]
    listen: SocketAddr,
}

/// What the issuer's operator (or its cardholder, through the bank's app) does.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum IssuerAction {
    /// The cardholder approves a token waiting for step-up, in the bank's app.
    Approve {
        /// The token's unique reference (TUR), as `tapwallet device add-card` shows it.
        tur: String,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        keys: KeyArgs,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Flags of `tapwallet network`.
#[derive(Debug, Args)]
pub(crate) struct NetworkArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Where acquirers connect.
    #[arg(long, default_value = "127.0.0.1:8584")]
    listen: SocketAddr,
    /// The issuer's address.
    #[arg(long, default_value = "127.0.0.1:8585")]
    issuer: SocketAddr,
    /// How long to wait for the issuer before standing in, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    issuer_timeout_ms: u64,
}

/// Flags of `tapwallet acquirer`.
#[derive(Debug, Args)]
pub(crate) struct AcquirerArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Where terminals connect.
    #[arg(long, default_value = "127.0.0.1:8583")]
    listen: SocketAddr,
    /// The card network's address.
    #[arg(long, default_value = "127.0.0.1:8584")]
    network: SocketAddr,
}

/// Opens the store and seeds the demo world on first use (each party alone shares the database
/// with the others, or has its own: the seed is idempotent).
async fn seeded_store(store: &StoreArgs, keys: &KeyArgs) -> anyhow::Result<Store> {
    let s = open_store(store).await?;
    let issuer = issuer_host(s.clone(), keys)?;
    if seed::seed(&s, &issuer, &vault(keys)?)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the demo world: {e}"))?
    {
        println!("Created the demo world in {}", store.database_url);
    }
    Ok(s)
}

async fn until_ctrl_c() {
    ctrl_c().await;
    println!("Stopping: finishing in-flight requests...");
}

pub(crate) async fn issuer_alone(args: &IssuerArgs) -> anyhow::Result<ExitCode> {
    if let Some(IssuerAction::Approve {
        tur,
        store,
        keys,
        json,
    }) = &args.action
    {
        return crate::tsp_host::approve(store, keys, tur, *json).await;
    }
    let store = seeded_store(&args.store, &args.keys).await?;
    let listener = listen(args.listen, "the issuer").await?;
    let issuer = Arc::new(issuer_host(store.clone(), &args.keys)?);
    println!("Issuer listening on {} (Ctrl-C to stop)", args.listen);
    let report = issuer::run(listener, issuer, until_ctrl_c()).await;
    println!(
        "Served {} requests on {} connections.",
        report.requests, report.connections
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn network_alone(args: &NetworkArgs) -> anyhow::Result<ExitCode> {
    let store = seeded_store(&args.store, &args.keys).await?;
    let listener = listen(args.listen, "the network").await?;
    let to_issuer = connect(args.issuer, "issuer").await?;
    let network = Arc::new(network::Network::new(
        store.clone(),
        network::NetworkConfig {
            vault: vault(&args.keys)?,
            token_imk: seed::tdes_key(&args.keys.token_imk, "--token-imk")
                .map_err(anyhow::Error::msg)?,
            bins: seed::bin_table(),
            issuer_timeout: Duration::from_millis(args.issuer_timeout_ms),
            stand_in: domain::StandInRules::default(),
        },
        to_issuer,
        clock(),
    ));
    println!(
        "Network listening on {}, issuer at {} (Ctrl-C to stop)",
        args.listen, args.issuer
    );
    let report = network::run(listener, network, Duration::from_secs(5), until_ctrl_c()).await;
    println!(
        "Served {} requests on {} connections.",
        report.requests, report.connections
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn acquirer_alone(args: &AcquirerArgs) -> anyhow::Result<ExitCode> {
    let store = seeded_store(&args.store, &args.keys).await?;
    let listener = listen(args.listen, "the acquirer").await?;
    let to_network = connect(args.network, "network").await?;
    let acquirer = Arc::new(acquirer::Acquirer::new(
        store.clone(),
        to_network,
        Duration::from_secs(5),
        clock(),
    ));
    println!(
        "Acquirer listening on {}, network at {} (Ctrl-C to stop)",
        args.listen, args.network
    );
    let report = acquirer::run(listener, acquirer, until_ctrl_c()).await;
    println!(
        "Served {} requests on {} connections.",
        report.requests, report.connections
    );
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
