//! Times APDU round trips through pcscd and vpcd: our PC/SC client sends a command to
//! "Virtual PCD 00 00", pcscd hands it to the vpcd driver, the driver to our bridge (a thread
//! of this process, serving an echo card), and the answer comes back the same way.
//!
//! ```text
//! pcscd    # once, with vsmartcard-vpcd installed
//! cargo run --release -p nfc --example pcsc_roundtrip -- [COUNT] [DATA_LEN]
//! ```
//!
//! COUNT round trips (default 2000, after 50 warm-up ones) of a case 4 command carrying
//! DATA_LEN bytes (default 16, at most 255) that the card echoes. Prints the median and the
//! 99th percentile, and the share spent inside the bridge (slot and socket write).
#![allow(clippy::disallowed_methods)] // a benchmark reads the clock by definition

use std::env;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nfc::vpcd::{self, Event};
use nfc::{CONTACTLESS_ATR, Slot};

const READER: &str = "Virtual PCD 00 00";
const WARM_UP: usize = 50;

/// Echoes the data of a case 3 or 4 command, with 90 00.
struct Echo;

impl Slot for Echo {
    fn atr(&self) -> Vec<u8> {
        CONTACTLESS_ATR.to_vec()
    }
    fn power_on(&mut self) {}
    fn power_off(&mut self) {}
    fn reset(&mut self) {}
    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        let mut response = match command {
            [_, _, _, _, lc, rest @ ..] if usize::from(*lc) <= rest.len() => {
                rest[..usize::from(*lc)].to_vec()
            }
            _ => Vec::new(),
        };
        response.extend_from_slice(&[0x90, 0x00]);
        response
    }
}

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let data_len: u8 = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    match run(count.max(1), data_len) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pcsc_roundtrip: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(count: usize, data_len: u8) -> Result<(), Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut link = vpcd::connect(vpcd::READER_0)?;
    let (seen_tx, card_seen) = mpsc::channel();
    let bridge = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut inside = Vec::new();
            let end = link.serve(&mut Echo, &stop, &mut |event| match event {
                Event::Apdu { elapsed, .. } => inside.push(elapsed),
                Event::AtrSent => {
                    let _ = seen_tx.send(Instant::now());
                }
                _ => {}
            });
            (end, inside)
        })
    };

    // pcscd notices a card's arrival and removal at its next poll of the reader: until it has
    // read this card's ATR, the reader may still show a card that an earlier bridge served.
    let seen = card_seen
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "vpcd did not ask for the ATR within 30 s: is pcscd running?")?;
    let context = nfc::pcsc::Context::establish()?;
    let mut card = context.connect(Some(READER), Duration::from_secs(30))?;
    println!(
        "vpcd read the ATR {:.0} ms after the bridge connected; SCardConnect succeeded after \
         {:.0} ms (\"{}\", {:?})",
        ms(seen.duration_since(started)),
        ms(started.elapsed()),
        card.reader(),
        card.protocol()
    );

    let mut command = vec![0x80, 0x01, 0x00, 0x00, data_len];
    command.extend((0..data_len).map(|i| i ^ 0x5A));
    command.push(0x00);
    let mut round_trips = Vec::with_capacity(count);
    for i in 0..WARM_UP + count {
        let sent = Instant::now();
        let response = card.transmit(&command)?;
        let took = sent.elapsed();
        if response.len() != usize::from(data_len) + 2 || !response.ends_with(&[0x90, 0x00]) {
            return Err(format!("round trip {i}: unexpected response {response:02X?}").into());
        }
        if i >= WARM_UP {
            round_trips.push(took);
        }
    }
    drop(card);
    drop(context);
    stop.store(true, Ordering::Relaxed);
    let (end, mut inside) = bridge.join().map_err(|_| "the bridge thread panicked")?;
    end?;
    let inside = inside.split_off(WARM_UP.min(inside.len()));

    let total = summary(round_trips);
    let bridge = summary(inside);
    println!(
        "{count} round trips of {} command bytes: median {:.3} ms, p99 {:.3} ms, min {:.3} ms, \
         max {:.3} ms, {:.0} per second",
        command.len(),
        ms(total.median),
        ms(total.p99),
        ms(total.min),
        ms(total.max),
        1_000.0 / ms(total.mean)
    );
    println!(
        "  of which inside the bridge (slot + write): median {:.3} ms, p99 {:.3} ms",
        ms(bridge.median),
        ms(bridge.p99)
    );
    Ok(())
}

struct Summary {
    median: Duration,
    p99: Duration,
    min: Duration,
    max: Duration,
    mean: Duration,
}

fn summary(mut samples: Vec<Duration>) -> Summary {
    samples.sort_unstable();
    let n = samples.len();
    let at = |rank: usize| samples.get(rank).copied().unwrap_or_default();
    let sum: Duration = samples.iter().sum();
    Summary {
        median: at(n / 2),
        // The nearest-rank percentile: the smallest sample with 99% of them at or below it.
        p99: at((n * 99).div_ceil(100).saturating_sub(1)),
        min: at(0),
        max: at(n.saturating_sub(1)),
        mean: sum
            .checked_div(u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or_default(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}
