//! The token service (at the card network) and the issuer's ID&V inside `tapwallet up`, and
//! the operator commands around them: `tapwallet outbox` (the simulated SMS/e-mail gateway) and
//! `tapwallet issuer approve` (the holder approving in the bank's app).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use serde_json::json;
use store::Store;
use tokio::net::TcpListener;

use crate::hosts::{StoreArgs, clock, open_store};
use harness::demo as seed;

/// How often the token service retries its notifications to token requestors.
const NOTIFY_INTERVAL: Duration = Duration::from_secs(2);

/// Where the token service listens and how it reaches the token requestor.
#[derive(Debug, Args, Clone)]
pub(crate) struct TspArgs {
    /// Where token requestors (the wallet backend) reach the token service (HTTP, loopback).
    #[arg(long, default_value = "127.0.0.1:8586")]
    pub(crate) tsp_listen: SocketAddr,
}

fn key32(hex_key: &str, what: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_key).with_context(|| format!("{what} is not hex"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow!("{what} must be 32 bytes"))
}

/// The issuer's ID&V service on `store` (cards indexed with `pan_hash_key`, the issuer's).
pub(crate) fn idv(
    store: &Store,
    pan_hash_key: secret::Secret<[u8; 32]>,
) -> anyhow::Result<issuer::idv::Idv> {
    Ok(issuer::idv::Idv::new(
        store.clone(),
        issuer::idv::IdvConfig {
            pan_hash_key,
            idv_key: seed::key32(seed::ISSUER_IDV_KEY_HEX, "issuer ID&V key")
                .map_err(anyhow::Error::msg)?,
            rules: issuer::idv::IdvRules::default(),
        },
        clock(),
    ))
}

/// The token service with the demo keys and the demo token requestor, whose notifications go
/// to `callback_url` (trusting `callback_ca` for HTTPS).
pub(crate) fn token_service(
    store: &Store,
    vault: network::vault::VaultKeys,
    token_imk: emv_crypto::MasterKey,
    issuer_hash_key: secret::Secret<[u8; 32]>,
    callback_url: Option<String>,
    callback_ca: Option<&Path>,
) -> anyhow::Result<Arc<tsp::Tsp>> {
    let idv: Arc<dyn issuer::idv::IssuerIdv> = Arc::new(idv(store, issuer_hash_key)?);
    token_service_with(store, vault, token_imk, idv, callback_url, callback_ca)
}

/// [`token_service`] asking `idv` for ID&V.
pub(crate) fn token_service_with(
    store: &Store,
    vault: network::vault::VaultKeys,
    token_imk: emv_crypto::MasterKey,
    idv: Arc<dyn issuer::idv::IssuerIdv>,
    callback_url: Option<String>,
    callback_ca: Option<&Path>,
) -> anyhow::Result<Arc<tsp::Tsp>> {
    let encryption_key =
        jose::Jwk::from_private_bytes(&key32(seed::TSP_ENCRYPTION_KEY_HEX, "TSP encryption key")?)
            .map_err(|e| anyhow!("TSP encryption key: {e}"))?
            .with_kid(seed::TSP_ENCRYPTION_KEY_ID);
    let signing_key =
        jose::Jwk::from_private_bytes(&key32(seed::TSP_SIGNING_KEY_HEX, "TSP signing key")?)
            .map_err(|e| anyhow!("TSP signing key: {e}"))?
            .with_kid(seed::TSP_SIGNING_KEY_ID);
    let config = tsp::TspConfig {
        vault,
        token_imk,
        par_key: seed::key32(seed::TSP_PAR_KEY_HEX, "PAR key").map_err(anyhow::Error::msg)?,
        encryption_key,
        signing_key,
        bins: seed::bin_table(),
        requestors: vec![tsp::TokenRequestor {
            id: seed::TOKEN_REQUESTOR_ID.to_owned(),
            api_key: secret::Secret::new(hex::decode(seed::TOKEN_REQUESTOR_API_KEY_HEX)?),
            callback_url,
        }],
        token_validity_years: 3,
    };
    let notifier: Arc<dyn tsp::Notifier> = match callback_ca {
        Some(ca) => Arc::new(tsp::HttpNotifier::with_tls(
            crate::http::trusting(ca)?,
            Duration::from_secs(5),
        )),
        None => Arc::new(tsp::HttpNotifier::plain(Duration::from_secs(5))),
    };
    let service = tsp::Tsp::new(store.clone(), config, idv, notifier, clock())
        .map_err(|e| anyhow!("token service: {e}"))?;
    Ok(Arc::new(service))
}

/// Serves the token service on `args.tsp_listen` until `shutdown` resolves.
pub(crate) async fn start(
    args: &TspArgs,
    service: Arc<tsp::Tsp>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = TcpListener::bind(args.tsp_listen)
        .await
        .with_context(|| format!("cannot listen on {} for the token service", args.tsp_listen))?;
    Ok(tokio::spawn(tsp::run(
        listener,
        service,
        NOTIFY_INTERVAL,
        shutdown,
    )))
}

/// Flags of `tapwallet outbox`.
#[derive(Debug, Args)]
pub(crate) struct OutboxArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Only messages after this outbox id.
    #[arg(long, default_value_t = 0)]
    after: i64,
    /// At most this many messages.
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// `tapwallet outbox`: the one-time passwords the issuer sent (the embedded SMS/e-mail
/// gateway, for demos and tests; a real provider plugs in behind `issuer::idv::OtpProvider`).
pub(crate) async fn outbox(args: &OutboxArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.store).await?;
    let rows = store
        .otp_outbox(args.after, args.limit)
        .await
        .map_err(|e| anyhow!("reading the OTP outbox: {e}"))?;
    for row in &rows {
        if args.json {
            println!(
                "{}",
                json!({
                    "id": row.id,
                    "channel": row.channel,
                    "destination": row.destination,
                    "code": row.code,
                    "created_at": row.created_at_unix,
                })
            );
        } else {
            println!(
                "#{:<4} {:<5} to {:<28} code {}",
                row.id, row.channel, row.destination, row.code
            );
        }
    }
    if rows.is_empty() && !args.json {
        println!("(no messages)");
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// `tapwallet issuer approve TUR`: the cardholder approves a pending token in the bank's app.
pub(crate) async fn approve(
    store_args: &StoreArgs,
    keys: &crate::hosts::KeyArgs,
    tur: &str,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_store(store_args).await?;
    let service = token_service(
        &store,
        crate::hosts::vault(keys)?,
        keys.token_imk()?,
        keys.issuer_hash_key()?,
        None,
        None,
    )?;
    let idv = idv(&store, keys.issuer_hash_key()?)?;
    idv.approve_in_app(tur, service.as_ref())
        .await
        .map_err(|e| anyhow!("cannot approve {tur}: {e}"))?;
    if json {
        println!("{}", json!({"tur": tur, "approved": true}));
    } else {
        println!("token {tur} approved in the bank's app: it is active");
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
