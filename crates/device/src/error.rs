//! What can go wrong in the secure element, each with what to do about it.

use std::fmt;

/// A secure element error. No variant carries a key, a token number or a passcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeError {
    /// The device directory already has a secure element.
    AlreadyInitialized(String),
    /// Waiting is required before the next passcode try.
    BackOff {
        /// Seconds left.
        wait_secs: i64,
    },
    /// Another process made a cryptogram with this token since the card was loaded.
    CounterConflict,
    /// A file of the secure element is damaged or was altered (names the part).
    Corrupt(&'static str),
    /// A file could not be read or written.
    Io(String),
    /// An HCE token has no unexpired limited-use key with ATCs left (names the card).
    KeysExhausted(String),
    /// The secure element is locked: unlock it with the passcode.
    Locked,
    /// The operating system gave no random bytes.
    NoRandomness,
    /// No token with this card id is installed.
    NoSuchCard(String),
    /// The directory has no secure element yet.
    NotInitialized(String),
    /// The provisioning payload does not open with this secure element's key, or is not a
    /// token payload.
    PayloadRejected,
    /// The passcode is too short.
    WeakPasscode,
    /// Too many wrong passcodes: the secrets were wiped.
    Wiped,
    /// Wrong passcode.
    WrongPasscode {
        /// Tries left before the secrets are wiped.
        tries_left: u32,
        /// Seconds to wait before the next try.
        wait_secs: i64,
    },
}

impl fmt::Display for SeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyInitialized(dir) => write!(
                f,
                "{dir} already has a secure element; use another --device-dir to make a new one"
            ),
            Self::BackOff { wait_secs } => write!(
                f,
                "too many wrong passcodes: try again in {wait_secs} s"
            ),
            Self::CounterConflict => f.write_str(
                "this token paid in another process meanwhile; tap again",
            ),
            Self::Corrupt(what) => write!(
                f,
                "the secure element is damaged ({what}); remove the device directory and set the device up again"
            ),
            Self::Io(what) => write!(f, "secure element storage: {what}"),
            Self::KeysExhausted(id) => write!(
                f,
                "card {id} has no payment keys left: `tapwallet device replenish {id}` fetches a new batch"
            ),
            Self::Locked => f.write_str(
                "the device is locked: run `tapwallet device unlock` and enter the passcode",
            ),
            Self::NoRandomness => f.write_str("the operating system gave no random bytes"),
            Self::NoSuchCard(id) => write!(
                f,
                "no token for card {id} in this device: `tapwallet device cards` lists them"
            ),
            Self::NotInitialized(dir) => write!(
                f,
                "{dir} has no secure element: run `tapwallet device init` first"
            ),
            Self::PayloadRejected => f.write_str(
                "the token payload does not open with this device's key (was it made for another device?)",
            ),
            Self::WeakPasscode => f.write_str("the passcode needs at least 6 characters"),
            Self::Wiped => f.write_str(
                "the secure element was wiped after too many wrong passcodes: run `tapwallet device init` in a new directory and add the cards again",
            ),
            Self::WrongPasscode {
                tries_left,
                wait_secs,
            } => {
                write!(f, "wrong passcode: {tries_left} tries left before the device wipes its cards")?;
                if *wait_secs > 0 {
                    write!(f, "; next try in {wait_secs} s")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SeError {}
