//! `tapwallet device nfc`: the phone held to a reader. The secure element's default card
//! answers vsmartcard's virtual reader (vpcd), so pcscd presents it to every PC/SC program as a
//! contactless card.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use device::{PaymentCard, SecureElement};
use nfc::Slot;
use serde_json::json;

/// SW 6A82, "file or application not found": what a locked phone answers, so the terminal
/// moves on instead of waiting.
const SW_NOT_FOUND: [u8; 2] = [0x6A, 0x82];

/// The phone in the reader's field.
struct Phone<'a> {
    se: SecureElement,
    runtime_dir: &'a Path,
    card: Option<PaymentCard>,
    json: bool,
}

impl Phone<'_> {
    /// The phone wakes up in the field: the current unlock (and its payment window) and the
    /// current default card, read again every time, so `device unlock` or a new default in
    /// another process takes effect at the next tap.
    fn wake(&mut self) {
        let now = crate::env::now_unix().unwrap_or(0);
        self.card = match self
            .se
            .session(self.runtime_dir, now)
            .and_then(|s| s.payment_card(None, now))
        {
            Ok(card) => Some(card),
            Err(e) => {
                self.say(&format!("the phone does not pay: {e}"));
                None
            }
        };
    }

    fn say(&self, text: &str) {
        if self.json {
            println!("{}", json!({"event": "notice", "text": text}));
        } else {
            eprintln!("{text}");
        }
    }
}

impl Slot for Phone<'_> {
    fn atr(&self) -> Vec<u8> {
        nfc::CONTACTLESS_ATR.to_vec()
    }

    fn power_on(&mut self) {
        self.wake();
    }

    fn power_off(&mut self) {
        self.card = None;
    }

    fn reset(&mut self) {
        self.wake();
    }

    fn transmit(&mut self, command: &[u8]) -> Vec<u8> {
        if device::selects_ppse(command) {
            self.wake();
        }
        match &mut self.card {
            Some(card) => card.transmit(command),
            None => SW_NOT_FOUND.to_vec(),
        }
    }
}

/// Serves the device's default card to vpcd until Ctrl-C, reconnecting when pcscd restarts.
pub(crate) fn serve_vpcd(
    se: SecureElement,
    runtime_dir: &Path,
    vpcd: SocketAddr,
    json: bool,
) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let runtime = tokio::runtime::Handle::try_current().ok();
        if let Some(rt) = runtime {
            rt.spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                stop.store(true, Ordering::Relaxed);
            });
        }
    }
    let mut phone = Phone {
        se,
        runtime_dir,
        card: None,
        json,
    };
    phone.wake();
    let mut made = 0u64;
    let mut announced = false;
    while !stop.load(Ordering::Relaxed) {
        let mut link = match nfc::vpcd::connect(vpcd) {
            Ok(l) => l,
            Err(e) => {
                if !announced {
                    phone.say(&format!(
                        "waiting for vpcd at {vpcd} ({e}); is pcscd running with vsmartcard-vpcd?"
                    ));
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        phone.say(&format!(
            "the phone is on the reader (vpcd {vpcd}); Ctrl-C takes it away"
        ));
        announced = false;
        let mut ready = false;
        let mut events = |event: nfc::vpcd::Event<'_>| {
            // The reader read the ATR: pcscd sees the card; PC/SC programs can connect now.
            if matches!(event, nfc::vpcd::Event::AtrSent) && !ready {
                ready = true;
                if json {
                    println!("{}", json!({"event": "ready"}));
                } else {
                    eprintln!("the reader sees the phone: tap away");
                }
            }
            if let nfc::vpcd::Event::Apdu {
                command,
                response,
                elapsed,
            } = event
            {
                // A cryptogram went out: GET PROCESSING OPTIONS (Visa) or GENERATE AC.
                let ins = command.get(1).copied();
                let ok = response.ends_with(&[0x90, 0x00]);
                if ok && matches!(ins, Some(0xA8) | Some(0xAE)) && response.len() > 40 {
                    made += 1;
                    if json {
                        println!(
                            "{}",
                            json!({"event": "cryptogram", "count": made, "elapsed_us": elapsed.as_micros()})
                        );
                    } else {
                        eprintln!("tap {made}: cryptogram sent ({} us)", elapsed.as_micros());
                    }
                }
            }
        };
        match link.serve(&mut phone, &stop, &mut events) {
            Ok(_) => {}
            Err(e) => phone.say(&format!("the reader link failed ({e}); reconnecting")),
        }
    }
    Ok(())
}
