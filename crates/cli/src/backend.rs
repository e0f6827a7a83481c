//! The wallet backend (token requestor) inside `tapwallet up`, and alone as `tapwallet serve`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use clap::Args;
use tokio::net::TcpListener;

use crate::hosts::clock;

/// Where the wallet backend listens, what it keeps and how it proves who it is.
#[derive(Debug, Args, Clone)]
pub(crate) struct BackendArgs {
    /// Where devices connect to the wallet backend (HTTPS).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub(crate) backend_listen: SocketAddr,
    /// The wallet backend's own database (it keeps no card number): `sqlite://PATH` or
    /// `postgres://...` (add `?options=-c%20search_path%3Dwallet` to keep it in a schema).
    #[arg(
        long,
        env = "TAPWALLET_WALLET_DATABASE_URL",
        default_value = "sqlite://tapwallet-data/wallet.db"
    )]
    pub(crate) wallet_database_url: String,
    /// TLS certificate chain (PEM, leaf first). Without it, a self-signed development
    /// certificate is made in DATA_DIR/tls on first run (devices trust it with --ca-cert).
    #[arg(long, requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Serve plain HTTP (only behind a proxy that terminates TLS).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub(crate) plain_http: bool,
    /// Key that signs access tokens (hex, 32 bytes or more). Default: a random key kept in
    /// DATA_DIR/jwt.key (made on first run), so sessions survive a restart.
    #[arg(long, env = "TAPWALLET_JWT_KEY", hide_env_values = true)]
    pub(crate) jwt_key: Option<String>,
    /// The token service the backend requests tokens from (as token requestor).
    #[arg(
        long,
        env = "TAPWALLET_TSP_URL",
        default_value = "http://127.0.0.1:8586"
    )]
    pub(crate) tsp_url: String,
    /// The backend's token requestor id at the token service.
    #[arg(long, env = "TAPWALLET_TOKEN_REQUESTOR_ID", default_value = harness::demo::TOKEN_REQUESTOR_ID)]
    pub(crate) token_requestor_id: String,
    /// The key the backend signs its token service requests with (hex; demo key by default).
    #[arg(
        long,
        env = "TAPWALLET_TOKEN_REQUESTOR_API_KEY",
        default_value = harness::demo::TOKEN_REQUESTOR_API_KEY_HEX,
        hide_default_value = true,
        hide_env_values = true
    )]
    pub(crate) token_requestor_api_key: String,
    /// Where the development certificate and the generated keys live.
    #[arg(long, env = "TAPWALLET_DATA_DIR", default_value = "tapwallet-data")]
    pub(crate) data_dir: PathBuf,
}

fn jwt_key(args: &BackendArgs) -> anyhow::Result<Vec<u8>> {
    if let Some(hex_key) = &args.jwt_key {
        return hex::decode(hex_key.trim()).context("--jwt-key is not hex");
    }
    let path = args.data_dir.join("jwt.key");
    if !path.exists() {
        std::fs::create_dir_all(&args.data_dir)?;
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow!("no randomness: {e}"))?;
        crate::device::write_private(&path, hex::encode(key).as_bytes())?;
    }
    let text = std::fs::read_to_string(&path)?;
    hex::decode(text.trim()).with_context(|| format!("{} is not hex", path.display()))
}

/// The backend's TLS configuration and, for the development certificate, the file devices
/// should trust.
fn tls(args: &BackendArgs) -> anyhow::Result<(Option<Arc<rustls::ServerConfig>>, Option<PathBuf>)> {
    if args.plain_http {
        return Ok((None, None));
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let cert_pem =
            std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
        let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
        let config = api::tls::load(&cert_pem, &key_pem).map_err(|e| anyhow!("TLS: {e}"))?;
        return Ok((Some(config), None));
    }
    let dir = args.data_dir.join("tls");
    let config = api::tls::dev_certificate(&dir).map_err(|e| anyhow!("TLS: {e}"))?;
    Ok((Some(config), Some(dir.join(api::tls::DEV_CERT_FILE))))
}

fn create_parent(url: &str) -> anyhow::Result<()> {
    if let Some(path) = url.strip_prefix("sqlite://")
        && let Some(dir) = Path::new(path.split('?').next().unwrap_or(path)).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// A running wallet backend.
pub(crate) struct Running {
    /// `https://...` or `http://...`.
    pub(crate) url: String,
    /// The development certificate devices should trust, if one is in use.
    pub(crate) dev_cert: Option<PathBuf>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    store: api::WalletStore,
}

impl Running {
    /// Waits for the server to drain (after its shutdown future resolved) and closes its store.
    pub(crate) async fn finish(self) {
        let _ = self.task.await;
        self.store.close().await;
    }
}

/// Opens the backend's store and serves it until `shutdown` resolves.
pub(crate) async fn start(
    args: &BackendArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    start_with(args, shutdown, false).await
}

/// [`start`]; `lift_limits` raises every per-user and per-client rate limit out of the way
/// (load generators only: one bench user provisions far more often than a person).
pub(crate) async fn start_with(
    args: &BackendArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
    lift_limits: bool,
) -> anyhow::Result<Running> {
    create_parent(&args.wallet_database_url)?;
    let store = api::WalletStore::open(&args.wallet_database_url)
        .await
        .with_context(|| format!("opening the wallet database {}", args.wallet_database_url))?;
    let tsp = api::TspClient::new(
        api::TspClientConfig::new(
            args.tsp_url.clone(),
            args.token_requestor_id.clone(),
            hex::decode(&args.token_requestor_api_key)
                .context("--token-requestor-api-key is not hex")?,
        ),
        clock(),
    )
    .map_err(|e| anyhow!("token service client: {e}"))?;
    let mut config = api::Config::new(jwt_key(args)?)
        .map_err(|e| anyhow!("{e}"))?
        .with_token_service(Arc::new(tsp));
    if lift_limits {
        let lifted = || {
            api::ratelimit::RateLimiter::new(api::ratelimit::RateLimit {
                burst: 1_000_000_000,
                refill_every_secs: 1,
            })
        };
        config.rate_limits = api::ratelimit::RateLimits {
            login_per_email: lifted(),
            login_per_client: lifted(),
            signup_per_client: lifted(),
            provision_per_user: lifted(),
            otp_per_user: lifted(),
        };
    }
    let state = api::AppState::new(store.clone(), config, clock())
        .await
        .map_err(|e| anyhow!("starting the wallet backend: {e:?}"))?;
    let (tls, dev_cert) = tls(args)?;
    let listener = TcpListener::bind(args.backend_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for the wallet backend",
                args.backend_listen
            )
        })?;
    let addr = listener.local_addr()?;
    let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
    let router = api::app(state);
    let task = tokio::spawn(api::serve(listener, tls, router, shutdown));
    Ok(Running {
        url,
        dev_cert,
        task,
        store,
    })
}

/// Flags of `tapwallet serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    backend: BackendArgs,
}

/// `tapwallet serve`: the wallet backend alone.
pub(crate) async fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let running = start(&args.backend, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    })
    .await?;
    println!("Wallet backend on {}", running.url);
    if let Some(cert) = &running.dev_cert {
        println!(
            "  development certificate: {} (devices: --ca-cert)",
            cert.display()
        );
    }
    println!("  OpenAPI: {}/openapi.json", running.url);
    println!("Press Ctrl-C to stop.");
    crate::hosts::ctrl_c().await;
    println!("Stopping: finishing in-flight requests...");
    let _ = stop_tx.send(true);
    running.finish().await;
    Ok(ExitCode::SUCCESS)
}
