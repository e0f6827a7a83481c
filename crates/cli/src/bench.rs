//! `tapwallet bench ...`: load generators.
//!
//! `bench auth` starts acquirer, network and issuer in this process, wired as `tapwallet up`
//! wires them but on ports the OS picks on 127.0.0.1, seeds bench cards and tokens, and drives
//! authorizations at the acquirer over TCP from `--connections` terminal links with
//! `--in-flight` requests waiting on each. Every request is a real tap: the terminal kernel reads
//! an in-process card holding a bench token, the card computes a fresh ARQC with its token key,
//! and the 0100 is built from the kernel's online request as a terminal builds it. Each
//! connection owns its own cards, so every card's counter only goes up (the network declines a
//! replayed ATC).
//!
//! The load generator shares the machine (and the Tokio runtime) with the hosts, so the report
//! also says what generating the requests cost, next to the CPU the whole process used.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cards::{Amount, Currency};
use clap::{Args, Subcommand};
use domain::{AtcWindow, VelocityLimits};
use emv_card::{Card, Counters, Scheme};
use emv_crypto::Cvn;
use emv_kernel::{Outcome, TerminalConfig, Transaction, TransactionType};
use harness::SeededRng;
use harness::demo as seed;
use harness::terminal::{Ids, authorization_request};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use iso8583::ResponseCode;
use iso8583_net::{Client, ClientConfig, ClientError, IsoCodec};
use serde_json::json;
use store::{Backend, Store};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::env;
use crate::hosts::{self, KeyArgs};

/// `tapwallet bench ...`
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// Drive authorizations (each with a fresh valid cryptogram) through acquirer, network and
    /// issuer over TCP; report throughput and latency percentiles.
    Auth(AuthArgs),
    /// Many users provisioning cards at once over HTTPS (green and OTP paths) through the
    /// wallet backend, the token service and the issuer's ID&V; report throughput and latency.
    Provision(crate::bench_provision::ProvisionArgs),
    /// Taps against a device's card, through a PC/SC reader or in process: latency from SELECT
    /// PPSE to the online request, median and p99.
    Tap(crate::bench_tap::TapArgs),
}

/// Flags of `tapwallet bench auth`.
#[derive(Debug, Args)]
pub(crate) struct AuthArgs {
    /// Concurrent terminal connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Requests waiting for their answer at once, per connection.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Bench cards (tokens), shared out between the connections.
    #[arg(long, default_value_t = 64)]
    cards: usize,
    /// Database: `sqlite://PATH` or `postgres://USER@HOST:PORT/DB` (bench cards are added to
    /// it). Default: a new SQLite file in the temporary directory, removed afterwards.
    #[arg(long)]
    database_url: Option<String>,
    /// The issuer's velocity window, in seconds (the limits themselves are lifted). The issuer
    /// reads every approval of the card inside the window, and a bench card makes hundreds a
    /// second where a real card makes a few a day: a long window measures that scan.
    #[arg(long, default_value_t = 1)]
    velocity_window_secs: u64,
    /// One JSON object on stdout, no progress bar.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(cmd: &BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Auth(args) => auth(args).await,
        BenchCommand::Provision(args) => crate::bench_provision::run(args).await,
        BenchCommand::Tap(args) => crate::bench_tap::run(args).await,
    }
}

/// Credit limit of every bench account: the holds of a long run never reach it.
const BENCH_LIMIT_MINOR: i64 = 1_000_000_000_000;
/// What every bench authorization asks for: 12.34 EUR.
const BENCH_AMOUNT_MINOR: u64 = 1_234;
/// How long a terminal waits for an answer (the acquirer gives the network 5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the network waits for the issuer before standing in (as `tapwallet up`).
const ISSUER_TIMEOUT: Duration = Duration::from_millis(2_000);
/// How long the acquirer waits for the network (as `tapwallet up`).
const NETWORK_TIMEOUT: Duration = Duration::from_secs(5);
/// Latencies above this (microseconds) are recorded as this.
const LATENCY_MAX_US: u64 = 60_000_000;
/// Generation times above this (nanoseconds) are recorded as this.
const GENERATION_MAX_NS: u64 = 10_000_000_000;
/// Kernel ticks per second in `/proc/self/stat` (USER_HZ, 100 on every Linux architecture).
const USER_HZ: u64 = 100;

/// The bench's stopwatch. Monotonic time measures the run; it decides nothing in a
/// transaction, which read the wall clock through the hosts' clock seam.
#[allow(clippy::disallowed_methods)]
pub(crate) fn stopwatch() -> Instant {
    Instant::now()
}

async fn auth(args: &AuthArgs) -> anyhow::Result<ExitCode> {
    check(args)?;
    let temp = match &args.database_url {
        Some(_) => None,
        None => Some(TempDir::new()?),
    };
    let url = match (&args.database_url, &temp) {
        (Some(url), _) => url.clone(),
        (None, Some(dir)) => format!("sqlite://{}", dir.path.join("bench.db").display()),
        (None, None) => anyhow::bail!("no database"),
    };
    let result = bench(args, &url, temp.is_some()).await;
    drop(temp);
    result
}

fn check(args: &AuthArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.in_flight == 0 || args.duration == 0 {
        anyhow::bail!("--connections, --in-flight and --duration must be at least 1");
    }
    if args.cards < args.connections {
        anyhow::bail!(
            "--cards {} is fewer than --connections {}: each connection needs cards of its own \
             (a card's counter must only go up)",
            args.cards,
            args.connections
        );
    }
    if args.cards > seed::BENCH_CARDS_MAX {
        anyhow::bail!("--cards: at most {}", seed::BENCH_CARDS_MAX);
    }
    // Requests of one card may reach the network out of order; keep them well inside the
    // network's ATC replay window, or it would decline them as stale.
    let per_connection = args.cards / args.connections;
    let per_card = args.in_flight.div_ceil(per_connection);
    let window = usize::from(AtcWindow::WIDTH / 2);
    if per_card > window {
        anyhow::bail!(
            "--in-flight {} over {per_connection} cards a connection puts {per_card} requests \
             of one card in flight; at most {window}: raise --cards",
            args.in_flight
        );
    }
    Ok(())
}

/// A directory of its own under the temporary directory, removed on drop.
pub(crate) struct TempDir {
    pub(crate) path: PathBuf,
}

impl TempDir {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let mut salt = [0u8; 4];
        getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
        let name = format!(
            "tapwallet-bench-{}-{}",
            std::process::id(),
            hex::encode(salt)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The three hosts, running.
struct Hosts {
    acquirer: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<iso8583_net::ServeReport>>,
}

impl Hosts {
    /// Starts issuer, network and acquirer as `tapwallet up` does.
    async fn start(
        store: &Store,
        issuer: Arc<issuer::Issuer>,
        keys: &KeyArgs,
    ) -> anyhow::Result<Self> {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let issuer_listener = TcpListener::bind(any_port).await?;
        let network_listener = TcpListener::bind(any_port).await?;
        let acquirer_listener = TcpListener::bind(any_port).await?;
        let issuer_addr = issuer_listener.local_addr()?;
        let network_addr = network_listener.local_addr()?;
        let acquirer_addr = acquirer_listener.local_addr()?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut tasks = Vec::with_capacity(3);
        tasks.push(tokio::spawn(issuer::run(
            issuer_listener,
            issuer,
            stopped(stop_rx.clone()),
        )));
        let to_issuer = hosts::connect(issuer_addr, "issuer").await?;
        let network = Arc::new(network::Network::new(
            store.clone(),
            network::NetworkConfig {
                vault: hosts::vault(keys)?,
                token_imk: keys.token_imk()?,
                bins: seed::bin_table(),
                issuer_timeout: ISSUER_TIMEOUT,
                stand_in: domain::StandInRules::default(),
            },
            to_issuer,
            hosts::clock(),
        ));
        tasks.push(tokio::spawn(network::run(
            network_listener,
            network,
            Duration::from_secs(5),
            stopped(stop_rx.clone()),
        )));
        let to_network = hosts::connect(network_addr, "network").await?;
        let acquirer = Arc::new(acquirer::Acquirer::new(
            store.clone(),
            to_network,
            NETWORK_TIMEOUT,
            hosts::clock(),
        ));
        tasks.push(tokio::spawn(acquirer::run(
            acquirer_listener,
            acquirer,
            stopped(stop_rx),
        )));
        Ok(Self {
            acquirer: acquirer_addr,
            stop,
            tasks,
        })
    }

    /// Stops the hosts (acquirer first), letting in-flight requests finish.
    async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks.into_iter().rev() {
            let _ = task.await;
        }
    }
}

async fn bench(args: &AuthArgs, url: &str, temporary: bool) -> anyhow::Result<ExitCode> {
    let store = Store::open(url)
        .await
        .context("opening the database (check --database-url)")?;
    let result = bench_on(args, &store, temporary).await;
    store.close().await;
    result
}

async fn bench_on(args: &AuthArgs, store: &Store, temporary: bool) -> anyhow::Result<ExitCode> {
    let keys = KeyArgs::demo();
    let velocity = VelocityLimits {
        window_secs: args.velocity_window_secs,
        max_count: u32::MAX,
        max_amount_minor: u64::MAX,
    };
    let issuer = Arc::new(hosts::issuer_host_with_velocity(
        store.clone(),
        &keys,
        velocity,
    )?);
    let vault = hosts::vault(&keys)?;
    // The demo world brings the merchant and terminal the acquirer knows.
    seed::seed(store, &issuer, &vault)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the demo world: {e}"))?;
    let seeded = seed::seed_bench_cards(store, &issuer, &vault, args.cards, BENCH_LIMIT_MINOR)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the bench cards: {e}"))?;
    let token_imk = keys.token_imk()?;
    let mut wallets: Vec<Vec<Card>> = (0..args.connections).map(|_| Vec::new()).collect();
    for (i, bench_card) in seeded.iter().enumerate() {
        let counters = Counters {
            atc: bench_card.atc,
            ..Counters::default()
        };
        let mut card = harness::card(
            &token_imk,
            Scheme::Visa,
            Cvn::Visa18,
            &bench_card.dpan,
            0x01,
            counters,
        )
        .map_err(|e| anyhow::anyhow!("bench card key: {e}"))?;
        card.set_cdcvm_verified(true);
        if let Some(w) = wallets.get_mut(i % args.connections) {
            w.push(card);
        }
    }

    let hosts = Hosts::start(store, issuer, &keys).await?;
    let currency = Currency::lookup("EUR").context("EUR is ISO 4217")?;
    let txn = Transaction {
        amount: Amount::from_minor(BENCH_AMOUNT_MINOR, currency)?,
        amount_other_minor: 0,
        date: env::today()?,
        kind: TransactionType::PURCHASE,
    };
    let progress = progress_bar(args);
    let live = Arc::new(Live::default());
    let writes_before = store.write_stats();
    let cpu_before = process_cpu();
    let started = stopwatch();
    let mut terminals = JoinSet::new();
    for cards in wallets {
        terminals.spawn(terminal(
            hosts.acquirer,
            cards,
            args.in_flight,
            txn,
            Arc::clone(&live),
        ));
    }
    let watcher = tokio::spawn(watch(
        Duration::from_secs(args.duration),
        Arc::clone(&live),
        progress.clone(),
    ));
    let mut tally = Tally::new()?;
    let mut failure = None;
    while let Some(joined) = terminals.join_next().await {
        match joined {
            Ok(Ok(t)) => tally.merge(&t)?,
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(anyhow::anyhow!("a terminal task failed: {e}")),
        }
        // One terminal failing ends the run for all.
        if failure.is_some() {
            live.stop.store(true, Ordering::Relaxed);
        }
    }
    let elapsed = started.elapsed();
    let writes = store
        .write_stats()
        .zip(writes_before)
        .map(|(a, b)| store::WriteStats {
            writes: a.writes.saturating_sub(b.writes),
            batches: a.batches.saturating_sub(b.batches),
        });
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(b, a)| b.saturating_sub(a));
    watcher.abort();
    progress.finish_and_clear();
    hosts.stop().await;
    if let Some(e) = failure {
        return Err(e);
    }

    let report = Report {
        args,
        backend: store.backend(),
        temporary,
        elapsed,
        cpu,
        tally,
        writes,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        report.print();
    }
    Ok(
        if report.tally.approvals > 0 && report.tally.error_count() == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// What the terminals share while running.
#[derive(Default)]
struct Live {
    /// Requests answered (or failed) so far.
    done: AtomicU64,
    /// Set when the run is over: terminals send no more and drain what is in flight.
    stop: AtomicBool,
}

fn progress_bar(args: &AuthArgs) -> ProgressBar {
    if args.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} s  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(args.duration).with_style(style)
}

/// Ends the run after `duration` (or on Ctrl-C) and keeps the progress bar current.
async fn watch(duration: Duration, live: Arc<Live>, progress: ProgressBar) {
    const TICK: Duration = Duration::from_millis(250);
    let started = stopwatch();
    let mut last = (started, 0u64);
    let mut tick = tokio::time::interval(TICK);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut ctrl_c => break,
        }
        let now = stopwatch();
        let done = live.done.load(Ordering::Relaxed);
        let since = now.duration_since(last.0);
        if since >= Duration::from_secs(1) {
            let rate = per_second(done.saturating_sub(last.1), since);
            progress.set_message(format!("{rate:.0} auth/s  ({done} done)"));
            last = (now, done);
        }
        let elapsed = now.duration_since(started);
        progress.set_position(elapsed.as_secs());
        if elapsed >= duration {
            break;
        }
    }
    live.stop.store(true, Ordering::Relaxed);
}

/// What one terminal counted.
struct Tally {
    /// Request sent to answer received, microseconds.
    latency_us: Histogram<u64>,
    /// Kernel + card tap (ARQC included), nanoseconds.
    tap_ns: Histogram<u64>,
    /// Building the 0100 from the online request, nanoseconds.
    build_ns: Histogram<u64>,
    approvals: u64,
    declines: BTreeMap<String, u64>,
    errors: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        let histogram = |high| {
            Histogram::new_with_bounds(1, high, 3).map_err(|e| anyhow::anyhow!("histogram: {e}"))
        };
        Ok(Self {
            latency_us: histogram(LATENCY_MAX_US)?,
            tap_ns: histogram(GENERATION_MAX_NS)?,
            build_ns: histogram(GENERATION_MAX_NS)?,
            approvals: 0,
            declines: BTreeMap::new(),
            errors: BTreeMap::new(),
        })
    }

    fn merge(&mut self, other: &Self) -> anyhow::Result<()> {
        let add = |a: &mut Histogram<u64>, b: &Histogram<u64>| {
            a.add(b).map_err(|e| anyhow::anyhow!("histogram: {e}"))
        };
        add(&mut self.latency_us, &other.latency_us)?;
        add(&mut self.tap_ns, &other.tap_ns)?;
        add(&mut self.build_ns, &other.build_ns)?;
        self.approvals += other.approvals;
        for (code, n) in &other.declines {
            *self.declines.entry(code.clone()).or_default() += n;
        }
        for (kind, n) in &other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        Ok(())
    }

    fn decline_count(&self) -> u64 {
        self.declines.values().sum()
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn error(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_default() += 1;
    }

    fn answer(&mut self, answer: Result<iso8583::Message, ClientError>, took: Duration) {
        match answer {
            Ok(rsp) => {
                self.latency_us.saturating_record(micros(took).max(1));
                match rsp.response_code() {
                    Some(code) if code.is_approval() => self.approvals += 1,
                    Some(code) => *self.declines.entry(code.as_str().to_owned()).or_default() += 1,
                    None => self.error("no_response_code"),
                }
            }
            Err(ClientError::Timeout) => self.error("timeout"),
            Err(ClientError::Disconnected) => self.error("disconnected"),
            Err(ClientError::DuplicateKey) => self.error("duplicate_key"),
            Err(_) => self.error("request_failed"),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One terminal: a connection to the acquirer, its own cards, `in_flight` requests waiting.
async fn terminal(
    acquirer: SocketAddr,
    mut cards: Vec<Card>,
    in_flight: usize,
    txn: Transaction,
    live: Arc<Live>,
) -> anyhow::Result<Tally> {
    let config = ClientConfig {
        timeout: REQUEST_TIMEOUT,
        max_in_flight: in_flight,
        ..ClientConfig::default()
    };
    let client = Client::connect(acquirer, IsoCodec, config)
        .await
        .with_context(|| format!("cannot reach the acquirer at {acquirer}"))?;
    let mut ids = IdSource::new()?;
    let kernel_config = TerminalConfig::default();
    let mut rng = env::OsRng;
    let mut tally = Tally::new()?;
    let mut pending = JoinSet::new();
    let mut next = 0usize;
    loop {
        while pending.len() < in_flight && !live.stop.load(Ordering::Relaxed) && !cards.is_empty() {
            let i = next % cards.len();
            next = next.wrapping_add(1);
            let Some(card) = cards.get_mut(i) else { break };
            let t0 = stopwatch();
            // A new tap: the phone is presented afresh.
            card.reset();
            let (_, outcome, _) = harness::tap(card, kernel_config.clone(), txn, &mut rng);
            let t1 = stopwatch();
            let Outcome::OnlineRequest(request) = outcome else {
                // The card would not go online (its ATC is exhausted, say): retire it.
                cards.swap_remove(i);
                tally.error("card_went_offline");
                continue;
            };
            let msg = authorization_request(&request, txn.amount, &ids.next()?);
            let t2 = stopwatch();
            tally.tap_ns.saturating_record(nanos(t1 - t0).max(1));
            tally.build_ns.saturating_record(nanos(t2 - t1).max(1));
            let client = client.clone();
            pending.spawn(async move {
                let sent = stopwatch();
                let answer = client.request(msg).await;
                (answer, sent.elapsed())
            });
        }
        let Some(joined) = pending.join_next().await else {
            break;
        };
        live.done.fetch_add(1, Ordering::Relaxed);
        match joined {
            Ok((answer, took)) => tally.answer(answer, took),
            Err(_) => tally.error("request_task_failed"),
        }
    }
    Ok(tally)
}

/// STAN, RRN and DE 7 of each request: random, as a terminal's would be unique (they form the
/// hosts' duplicate key, also across runs on one database).
struct IdSource {
    rng: SeededRng,
}

impl IdSource {
    fn new() -> anyhow::Result<Self> {
        let mut seed_bytes = [0u8; 8];
        getrandom::fill(&mut seed_bytes).map_err(|e| anyhow::anyhow!("randomness: {e}"))?;
        Ok(Self {
            rng: SeededRng(u64::from_be_bytes(seed_bytes)),
        })
    }

    fn next(&mut self) -> anyhow::Result<Ids> {
        let stan = u32::try_from(self.rng.next_u64() % 999_999 + 1)?;
        let rrn = format!("{:012}", self.rng.next_u64() % 1_000_000_000_000);
        let secs = env::now_unix()?;
        let date = cards::Date::from_unix_seconds(secs)?;
        let tod = secs.rem_euclid(86_400);
        let transmission = format!(
            "{:02}{:02}{:02}{:02}{:02}",
            date.month(),
            date.day(),
            tod / 3600,
            tod / 60 % 60,
            tod % 60
        );
        Ok(Ids {
            stan,
            rrn,
            terminal: seed::TERMINAL_ID.to_owned(),
            transmission,
        })
    }
}

/// CPU time this process used so far (all threads, user + system), from `/proc/self/stat`;
/// `None` where that file does not exist.
pub(crate) fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at field 3, "state";
    // utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')?.checked_add(1)?..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime.checked_add(stime)?;
    Some(Duration::from_millis(ticks.checked_mul(1_000 / USER_HZ)?))
}

/// `n` as a float, without a lossy cast.
pub(crate) fn float(n: u64) -> f64 {
    let high = u32::try_from(n >> 32).unwrap_or(u32::MAX);
    let low = u32::try_from(n & 0xFFFF_FFFF).unwrap_or(u32::MAX);
    f64::from(high).mul_add(4_294_967_296.0, f64::from(low))
}

fn per_second(n: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs > 0.0 { float(n) / secs } else { 0.0 }
}

/// Microseconds from nanoseconds, one decimal.
fn us_of_ns(ns: f64) -> f64 {
    (ns / 100.0).round() / 10.0
}

struct Report<'a> {
    args: &'a AuthArgs,
    backend: Backend,
    temporary: bool,
    elapsed: Duration,
    cpu: Option<Duration>,
    tally: Tally,
    /// SQLite group commit during the run.
    writes: Option<store::WriteStats>,
}

impl Report<'_> {
    fn answered(&self) -> u64 {
        self.tally.approvals + self.tally.decline_count()
    }

    fn database(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    fn durability(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!(
                "SQLite, WAL with synchronous=FULL and group commit: every write (the \
                 issuer's authorization and hold, the network's ATC window, the acquirer's \
                 journal line) is committed and fsynced, in a batch with the writes that queued \
                 beside it, before the host answers, so an approval survives a crash and a \
                 power loss{}",
                if self.temporary {
                    " (on a temporary file, removed after the run)"
                } else {
                    ""
                }
            ),
            Backend::Postgres => "PostgreSQL with the server's synchronous_commit (on by \
                 default: the WAL is flushed before each commit returns, so an approval survives \
                 a crash and a power loss)"
                .to_owned(),
        }
    }

    /// Total time spent generating requests (tap + 0100), and its mean per request in ns.
    fn generation(&self) -> (Duration, f64, f64) {
        let t = &self.tally;
        let total_ns =
            t.tap_ns.mean() * float(t.tap_ns.len()) + t.build_ns.mean() * float(t.build_ns.len());
        let total = Duration::from_secs_f64(total_ns / 1e9);
        (total, t.tap_ns.mean(), t.build_ns.mean())
    }

    fn json(&self) -> serde_json::Value {
        let t = &self.tally;
        let l = &t.latency_us;
        let (generation, tap_mean, build_mean) = self.generation();
        let q = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
        json!({
            "database": self.database(),
            "durability": self.durability(),
            "connections": self.args.connections,
            "in_flight_per_connection": self.args.in_flight,
            "cards": self.args.cards,
            "duration_s": self.args.duration,
            "elapsed_s": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "authorizations": self.answered(),
            "approvals": t.approvals,
            "declines": t.decline_count(),
            "declines_by_code": t.declines,
            "errors": t.error_count(),
            "errors_by_kind": t.errors,
            "throughput_per_s": per_second(self.answered(), self.elapsed).round(),
            "group_commit": self.writes.map(|w| json!({
                "writes": w.writes,
                "commits": w.batches,
                "writes_per_commit": (float(w.writes) / float(w.batches.max(1)) * 10.0).round() / 10.0,
            })),
            "latency_us": {
                "p50": q(l, 0.5),
                "p90": q(l, 0.9),
                "p99": q(l, 0.99),
                "p99_9": q(l, 0.999),
                "max": l.max(),
                "mean": l.mean().round(),
            },
            "generation_us": {
                "tap_p50": us_of_ns(float(q(&t.tap_ns, 0.5))),
                "tap_p99": us_of_ns(float(q(&t.tap_ns, 0.99))),
                "tap_mean": us_of_ns(tap_mean),
                "build_mean": us_of_ns(build_mean),
                "per_request_mean": us_of_ns(tap_mean + build_mean),
            },
            "generation_cpu_s": (generation.as_secs_f64() * 1000.0).round() / 1000.0,
            "process_cpu_s": self.cpu.map(|c| (c.as_secs_f64() * 100.0).round() / 100.0),
            "process_cpu_cores": self.cpu.map(|c| {
                (c.as_secs_f64() / self.elapsed.as_secs_f64() * 100.0).round() / 100.0
            }),
        })
    }

    fn print(&self) {
        let t = &self.tally;
        let l = &t.latency_us;
        let secs = self.elapsed.as_secs_f64();
        println!(
            "bench auth: {} connections x {} in flight, {} cards, {:.1} s on {}",
            self.args.connections,
            self.args.in_flight,
            self.args.cards,
            secs,
            self.database()
        );
        println!();
        println!(
            "  authorizations  {:>10}   {:.0}/s",
            self.answered(),
            per_second(self.answered(), self.elapsed)
        );
        println!("  approved        {:>10}", t.approvals);
        let declines = t
            .declines
            .iter()
            .map(|(code, n)| {
                let name = code
                    .as_bytes()
                    .try_into()
                    .map(|c: [u8; 2]| ResponseCode(c).name())
                    .unwrap_or("?");
                format!("{code} {name}: {n}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "  declined        {:>10}   {}",
            t.decline_count(),
            if declines.is_empty() { "-" } else { &declines }
        );
        let errors = t
            .errors
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "  errors          {:>10}   {}",
            t.error_count(),
            if errors.is_empty() { "-" } else { &errors }
        );
        println!();
        println!("  latency (request sent -> answer, microseconds)");
        println!(
            "    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.0}",
            l.value_at_quantile(0.5),
            l.value_at_quantile(0.9),
            l.value_at_quantile(0.99),
            l.value_at_quantile(0.999),
            l.max(),
            l.mean()
        );
        println!();
        let (generation, tap_mean, build_mean) = self.generation();
        println!("  where the time goes");
        println!(
            "    generating one request (same process, same cores): {:.1} us \
             (kernel + card tap with ARQC {:.1} us, p99 {:.1}; 0100 {:.1} us)",
            us_of_ns(tap_mean + build_mean),
            us_of_ns(tap_mean),
            us_of_ns(float(t.tap_ns.value_at_quantile(0.99))),
            us_of_ns(build_mean),
        );
        match self.cpu {
            Some(cpu) => {
                let cpu_secs = cpu.as_secs_f64();
                let share = if cpu_secs > 0.0 {
                    generation.as_secs_f64() / cpu_secs * 100.0
                } else {
                    0.0
                };
                println!(
                    "    process CPU: {:.2} s = {:.2} cores busy; request generation {:.2} s \
                     ({share:.0}% of it); the rest is the three hosts, the store and the \
                     terminals' I/O",
                    cpu_secs,
                    cpu_secs / secs,
                    generation.as_secs_f64(),
                );
            }
            None => println!(
                "    request generation: {:.2} s of CPU",
                generation.as_secs_f64()
            ),
        }
        if let Some(w) = self.writes {
            println!(
                "    store: {} writes in {} fsynced commits ({:.1} writes per commit)",
                w.writes,
                w.batches,
                float(w.writes) / float(w.batches.max(1)),
            );
        }
        println!();
        println!("  durability: {}", self.durability());
    }
}
