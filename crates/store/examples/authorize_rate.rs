//! Measures `Store::issuer_authorize` throughput, sequential and with 8 concurrent tasks.
//!
//! ```text
//! cargo run --release -p store --example authorize_rate -- sqlite:///tmp/rate.db 20000
//! cargo run --release -p store --example authorize_rate -- \
//!     'postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dscratch' 20000
//! ```
//!
//! It writes accounts, cards and authorizations: point it at a scratch file or schema. Every
//! call is a fresh approval (unique dedup key) on one of 1,000 cards, so each one claims its
//! key, locks a card and an account, counts the card's velocity, posts a hold and commits.
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock by definition

use std::error::Error;
use std::time::Instant;

use store::{AuthDecision, AuthRequestRow, IssuerCardRow, NewAccount, Store, StoreError};

const CARDS: u32 = 1_000;
const TASKS: u32 = 8;

fn pan_hash(card: u32) -> [u8; 32] {
    let mut h = [0x5A; 32];
    h[..4].copy_from_slice(&card.to_be_bytes());
    h
}

async fn authorize(store: &Store, run: &str, n: u32) -> Result<(), StoreError> {
    let req = AuthRequestRow {
        dedup_key: format!("{run}|{n}"),
        pan_hash: pan_hash(n % CARDS),
        amount_minor: 1,
        currency_numeric: 978,
        at_unix: 1_700_000_000 + i64::from(n),
        kind: "auth".into(),
    };
    store
        .issuer_authorize(&req, 86_400, |state| AuthDecision {
            response_code: "00".into(),
            auth_code: Some(format!("{:06}", state.sequence % 1_000_000)),
            hold_minor: 1,
            response_blob: vec![0; 8],
        })
        .await?;
    Ok(())
}

fn rate(n: u32, started: Instant) -> f64 {
    f64::from(n) / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: authorize_rate URL [N]")?;
    let n: u32 = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let store = Store::open(&url).await?;
    for card in 0..CARDS {
        if store.card(&pan_hash(card)).await?.is_some() {
            continue;
        }
        let account_id = store
            .create_account(&NewAccount {
                kind: "credit".into(),
                limit_minor: i64::MAX / 2,
                balance_minor: 0,
                holds_minor: 0,
                currency_numeric: 978,
                open: true,
            })
            .await?;
        store
            .create_card(&IssuerCardRow {
                pan_hash: pan_hash(card),
                last4: "0000".into(),
                expiry_yymm: "3012".into(),
                psn: 0,
                status: "active".into(),
                account_id,
            })
            .await?;
    }
    let run = format!("{:?}", Instant::now());

    let started = Instant::now();
    for i in 0..n {
        authorize(&store, &format!("{run}|seq"), i).await?;
    }
    println!(
        "sequential: {n} in {:?}, {:.0}/s",
        started.elapsed(),
        rate(n, started)
    );

    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, run) = (store.clone(), format!("{run}|par{t}"));
        tasks.push(tokio::spawn(async move {
            for i in 0..n / TASKS {
                authorize(&store, &run, i * TASKS + t).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let done = n / TASKS * TASKS;
    println!(
        "{TASKS} tasks: {done} in {:?}, {:.0}/s",
        started.elapsed(),
        rate(done, started)
    );
    store.close().await;
    Ok(())
}
