//! The device wallet's software secure element.
//!
//! A phone keeps payment tokens in a secure element (SE) or, for host card emulation, in the
//! operating system's keystore. This crate is that part as software, as safe as software can
//! be, in a device directory:
//!
//! * `secure-element/identity.json`: the public half: the SE's P-256 public key, the passcode's
//!   Argon2id salt and cost, and the *data key* sealed (AES-256-GCM) under the *passcode key*.
//! * `secure-element/device.secret`: 32 random bytes standing for the key a phone's hardware
//!   holds. The passcode key is HMAC-SHA256(device secret, Argon2id(passcode)): the passcode
//!   alone opens nothing, and the files alone open nothing.
//! * `secure-element/sealed.json`: every secret (the SE's private key, each token's number,
//!   keys and counters), sealed under the data key. Rewritten atomically (write, fsync, rename,
//!   fsync the folder) under an exclusive file lock, so the wallet CLI and the NFC bridge can
//!   run at once.
//! * `secure-element/attempts.json`: wrong passcodes in a row; after 5 each try waits longer,
//!   after 10 (configurable) the sealed state and the device secret are wiped.
//!
//! **Unlocking** ([`SecureElement::unlock`]) opens a [`Session`]: the data key sealed under a
//! key derived from the device secret, in a file in the *runtime directory* (memory-backed,
//! emptied at reboot, never inside the device directory) named after the device directory's
//! real path. So a copy of the device directory, elsewhere or on another machine, has no
//! session and pays nothing without the passcode. The unlock also opens the *payment window*
//! ([`Policy::window_secs`], 60 s by default): a tap inside it counts as verified on the device
//! (consumer-device CVM); after it the card still pays where its profile needs no verification
//! (below the terminal's CVM limit) and answers "see phone" above.
//!
//! **HCE.** A token provisioned for host card emulation arrives without its long-lived key; the
//! secure element holds a batch of limited-use keys instead ([`Session::install_keys`]), each
//! good for a range of ATCs and until it expires. A tap uses the first unexpired key with ATCs
//! left and never an ATC beyond its range (6985); with none left the card refuses until the
//! batch is replenished (the token service revokes the previous batch when it makes a new one).
//! A copy of the device directory holds the same batch, and the network refuses every ATC used
//! twice, so the original and its copies together pay at most what is left in the batch.
//!
//! **Counters.** [`PaymentCard::transmit`] seals a changed ATC to disk before the answer that
//! carries it is released; if that fails the terminal gets 6581 and nothing leaves. The card
//! increments the ATC before computing a cryptogram, so a crash can burn an ATC, never reuse
//! one, and a card loaded before another process tapped refuses to answer with a stale ATC.
//!
//! Architecture Invariant: keys and token numbers leave this crate only inside a sealed box or
//! an APDU answer; [`Session::danger_export_private_jwk`] exists for interoperability tests.
//! The clock is an input (`now_unix`); randomness comes from the operating system.
#![forbid(unsafe_code)]

mod element;
mod error;
mod seal;
mod wallet;

pub use element::{Policy, SE_DIR, SecureElement, Session, back_off_secs};
pub use error::SeError;
pub use seal::{Argon2Cost, write_atomic};
pub use wallet::{
    PaymentCard, REPLENISH_BELOW, SW_CONDITIONS_NOT_SATISFIED, SW_MEMORY_FAILURE, TokenInfo,
    selects_ppse,
};

/// Where unlock sessions live when the caller names no runtime directory: `$XDG_RUNTIME_DIR`,
/// else `/dev/shm` (both memory-backed), else the temporary directory; in a `tapwallet`
/// subfolder readable by its owner only.
pub fn default_runtime_dir() -> std::path::PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|p| p.is_dir())
        .or_else(|| {
            let shm = std::path::PathBuf::from("/dev/shm");
            shm.is_dir().then_some(shm)
        })
        .unwrap_or_else(std::env::temp_dir);
    // The owner of /proc/self is this process's user.
    let uid = std::fs::metadata("/proc/self").map_or(0, |m| {
        use std::os::unix::fs::MetadataExt as _;
        m.uid()
    });
    base.join(format!("tapwallet-{uid}"))
}
