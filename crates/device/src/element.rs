//! The software secure element: its files, the passcode, the unlock session and the CDCVM
//! payment window.

use std::fs::File;
use std::path::{Path, PathBuf};

use jose::Jwk;
use p256::ecdsa::signature::Signer as _;
use secret::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::SeError;
use crate::seal::{self, Argon2Cost, Key, Sealed};

/// The secure element's folder inside the device directory.
pub const SE_DIR: &str = "secure-element";
const IDENTITY_FILE: &str = "identity.json";
const DEVICE_SECRET_FILE: &str = "device.secret";
const STATE_FILE: &str = "sealed.json";
const ATTEMPTS_FILE: &str = "attempts.json";
const LOCK_FILE: &str = "lock";

const AAD_DEK: &[u8] = b"tapwallet-se:v1:data-key";
const AAD_STATE: &[u8] = b"tapwallet-se:v1:state";
const AAD_SESSION: &[u8] = b"tapwallet-se:v1:session";

/// How the secure element treats its passcode and its payment window.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Wrong passcodes in a row that wipe the secure element's secrets.
    pub max_failures: u32,
    /// How long a successful unlock counts as the holder's verification (CDCVM), in seconds.
    pub window_secs: i64,
    /// How long an unlock keeps the secure element open (no passcode needed for taps the card
    /// profile allows without verification), in seconds; a reboot also closes it.
    pub session_secs: i64,
    /// The passcode's Argon2id cost for a new secure element.
    pub cost: Argon2Cost,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window_secs: 60,
            session_secs: 12 * 3600,
            cost: Argon2Cost::OWASP,
        }
    }
}

/// Seconds to wait after `failures` wrong passcodes in a row before the next try, as phones do:
/// free tries first, then 1 minute, 5, 15, 15, 60.
pub fn back_off_secs(failures: u32) -> i64 {
    match failures {
        0..=4 => 0,
        5 => 60,
        6 => 5 * 60,
        7 | 8 => 15 * 60,
        _ => 60 * 60,
    }
}

/// The public half of the secure element, readable without the passcode.
#[derive(Debug, Serialize, Deserialize)]
struct Identity {
    version: u8,
    /// A random id of this secure element (it names the unlock session).
    se_id: String,
    /// The secure element's public key, a P-256 JWK.
    public_key: serde_json::Value,
    /// Argon2id salt, hex.
    salt: String,
    cost: Argon2Cost,
    /// Wrong passcodes in a row that wipe the secrets (set at init).
    #[serde(default = "default_max_failures")]
    max_failures: u32,
    /// The data key, sealed under the passcode key.
    data_key: Sealed,
    created_unix: i64,
}

fn default_max_failures() -> u32 {
    Policy::default().max_failures
}

/// Wrong passcodes in a row, and when the last one was entered.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Attempts {
    failures: u32,
    last_failure_unix: i64,
}

/// Everything the secure element keeps secret, as sealed on disk.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct State {
    /// The P-256 private scalar, hex.
    pub(crate) se_key: String,
    pub(crate) tokens: Vec<crate::wallet::TokenRecord>,
    pub(crate) default_card: Option<String>,
}

/// An unlock, kept in the runtime directory (memory-backed, gone at reboot), never in the
/// device directory: a copy of the device directory carries no unlock.
#[derive(Debug, Serialize, Deserialize)]
struct SessionFile {
    /// The device directory it opens (a copy elsewhere finds no session).
    dir: String,
    se_id: String,
    /// Salt of the session key, hex.
    salt: String,
    /// The data key, sealed under the session key.
    data_key: Sealed,
    opened_unix: i64,
    /// Until when a tap counts as verified on the device (CDCVM).
    cdcvm_until_unix: i64,
    /// Until when the session stays open.
    until_unix: i64,
}

/// A device directory with a secure element in it (closed: only public data is readable).
#[derive(Debug)]
pub struct SecureElement {
    dir: PathBuf,
    se_dir: PathBuf,
    identity: Identity,
}

/// The unlocked secure element: it can sign, open payloads and pay.
#[derive(Clone)]
pub struct Session {
    pub(crate) se_dir: PathBuf,
    data_key: Key,
    cdcvm_until_unix: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("se_dir", &self.se_dir)
            .field("cdcvm_until_unix", &self.cdcvm_until_unix)
            .finish_non_exhaustive()
    }
}

impl SecureElement {
    /// True when `dir` holds a secure element.
    pub fn exists(dir: &Path) -> bool {
        dir.join(SE_DIR).join(IDENTITY_FILE).exists()
    }

    /// Creates a secure element in `dir`: a P-256 key pair generated inside it, a random device
    /// secret, and sealed storage under a key derived from both the device secret and the
    /// passcode. Returns it unlocked (with an open payment window), the session written to
    /// `runtime_dir`.
    pub fn init(
        dir: &Path,
        passcode: &Secret<String>,
        policy: &Policy,
        runtime_dir: &Path,
        now_unix: i64,
    ) -> Result<(Self, Session), SeError> {
        check_passcode_rules(passcode.expose())?;
        if Self::exists(dir) {
            return Err(SeError::AlreadyInitialized(dir.display().to_string()));
        }
        let se_dir = dir.join(SE_DIR);
        std::fs::create_dir_all(&se_dir)
            .map_err(|e| SeError::Io(format!("creating {}: {e}", se_dir.display())))?;
        restrict(&se_dir)?;
        let device_secret = Zeroizing::new(seal::random::<32>()?);
        seal::write_atomic(&se_dir.join(DEVICE_SECRET_FILE), device_secret.as_ref())?;
        let (scalar, jwk) = loop {
            let d = Zeroizing::new(seal::random::<32>()?);
            if let Ok(jwk) = Jwk::from_private_bytes(&d) {
                break (d, jwk); // out of range has probability ~2^-128: draw again
            }
        };
        let salt = seal::random::<16>()?;
        let passcode_key = passcode_key(&device_secret, passcode.expose(), &salt, policy.cost)?;
        let data_key: Key = Zeroizing::new(seal::random::<32>()?);
        let identity = Identity {
            version: 1,
            se_id: hex::encode(seal::random::<16>()?),
            public_key: serde_json::from_str(&jwk.to_public().to_public_json())
                .map_err(|_| SeError::Corrupt("the new public key"))?,
            salt: hex::encode(salt),
            cost: policy.cost,
            max_failures: policy.max_failures.max(1),
            data_key: Sealed::seal(&passcode_key, AAD_DEK, data_key.as_ref())?,
            created_unix: now_unix,
        };
        let state = State {
            se_key: hex::encode(scalar.as_ref()),
            tokens: Vec::new(),
            default_card: None,
        };
        write_state(&se_dir, &data_key, &state)?;
        let json =
            serde_json::to_vec_pretty(&identity).map_err(|_| SeError::Corrupt("the identity"))?;
        // The identity is written last: until it exists, the folder is not a secure element.
        seal::write_atomic(&se_dir.join(IDENTITY_FILE), &json)?;
        let se = Self {
            dir: dir.to_path_buf(),
            se_dir,
            identity,
        };
        let session = se.start_session(data_key, &device_secret, policy, runtime_dir, now_unix)?;
        Ok((se, session))
    }

    /// Opens the secure element in `dir` (closed).
    pub fn open(dir: &Path) -> Result<Self, SeError> {
        let se_dir = dir.join(SE_DIR);
        let Some(bytes) = seal::read_optional(&se_dir.join(IDENTITY_FILE))? else {
            return Err(SeError::NotInitialized(dir.display().to_string()));
        };
        let identity: Identity =
            serde_json::from_slice(&bytes).map_err(|_| SeError::Corrupt("identity.json"))?;
        if identity.version != 1 {
            return Err(SeError::Corrupt("identity.json version"));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            se_dir,
            identity,
        })
    }

    /// The device directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The secure element's public key (P-256 JWK).
    pub fn public_key(&self) -> Result<Jwk, SeError> {
        Jwk::from_json(&self.identity.public_key.to_string())
            .map_err(|_| SeError::Corrupt("the public key"))
    }

    /// Wrong passcodes entered in a row so far.
    pub fn failures(&self) -> Result<u32, SeError> {
        Ok(self.attempts()?.failures)
    }

    fn attempts(&self) -> Result<Attempts, SeError> {
        match seal::read_optional(&self.se_dir.join(ATTEMPTS_FILE))? {
            Some(b) => serde_json::from_slice(&b).map_err(|_| SeError::Corrupt("attempts.json")),
            None => Ok(Attempts::default()),
        }
    }

    fn save_attempts(&self, a: &Attempts) -> Result<(), SeError> {
        let json = serde_json::to_vec(a).map_err(|_| SeError::Corrupt("attempts"))?;
        seal::write_atomic(&self.se_dir.join(ATTEMPTS_FILE), &json)
    }

    /// Checks the passcode and unlocks: the payment window (CDCVM) opens for
    /// `policy.window_secs`, and the session stays open for `policy.session_secs`.
    ///
    /// Wrong passcodes are counted (the count survives restarts); after 5 in a row each try
    /// waits longer ([`back_off_secs`]), and after the `max_failures` set at init the secrets
    /// are wiped. Only `policy.window_secs` and `policy.session_secs` are taken from `policy`.
    pub fn unlock(
        &self,
        passcode: &Secret<String>,
        policy: &Policy,
        runtime_dir: &Path,
        now_unix: i64,
    ) -> Result<Session, SeError> {
        let _guard = self.lock_files()?;
        if !self.se_dir.join(STATE_FILE).exists() {
            return Err(SeError::Wiped);
        }
        let mut attempts = self.attempts()?;
        let wait = attempts.last_failure_unix + back_off_secs(attempts.failures) - now_unix;
        if attempts.failures > 0 && wait > 0 {
            return Err(SeError::BackOff { wait_secs: wait });
        }
        let device_secret = self.device_secret()?;
        let salt = hex::decode(&self.identity.salt).map_err(|_| SeError::Corrupt("salt"))?;
        let key = passcode_key(&device_secret, passcode.expose(), &salt, self.identity.cost)?;
        let Some(plain) = self.identity.data_key.open(&key, AAD_DEK) else {
            attempts.failures += 1;
            attempts.last_failure_unix = now_unix;
            let max_failures = self.identity.max_failures;
            if attempts.failures >= max_failures {
                self.wipe()?;
                self.save_attempts(&attempts)?;
                return Err(SeError::Wiped);
            }
            self.save_attempts(&attempts)?;
            return Err(SeError::WrongPasscode {
                tries_left: max_failures - attempts.failures,
                wait_secs: back_off_secs(attempts.failures),
            });
        };
        let data_key: Key = Zeroizing::new(
            plain
                .as_slice()
                .try_into()
                .map_err(|_| SeError::Corrupt("data key"))?,
        );
        if attempts.failures > 0 {
            self.save_attempts(&Attempts::default())?;
        }
        self.start_session(data_key, &device_secret, policy, runtime_dir, now_unix)
    }

    /// The open session, if this device was unlocked and the session has not ended.
    pub fn session(&self, runtime_dir: &Path, now_unix: i64) -> Result<Session, SeError> {
        let path = self.session_path(runtime_dir)?;
        let Some(bytes) = seal::read_optional(&path)? else {
            return Err(SeError::Locked);
        };
        let file: SessionFile =
            serde_json::from_slice(&bytes).map_err(|_| SeError::Corrupt("the session file"))?;
        if file.se_id != self.identity.se_id || file.dir != canonical(&self.dir)? {
            return Err(SeError::Locked);
        }
        if now_unix >= file.until_unix || now_unix < file.opened_unix {
            let _ = std::fs::remove_file(&path);
            return Err(SeError::Locked);
        }
        let device_secret = self.device_secret()?;
        let salt = hex::decode(&file.salt).map_err(|_| SeError::Corrupt("session salt"))?;
        let key = seal::kdf(device_secret.as_ref(), "tapwallet-se:v1:session", &salt);
        let plain = file
            .data_key
            .open(&key, AAD_SESSION)
            .ok_or(SeError::Locked)?;
        let data_key: Key = Zeroizing::new(
            plain
                .as_slice()
                .try_into()
                .map_err(|_| SeError::Corrupt("session data key"))?,
        );
        Ok(Session {
            se_dir: self.se_dir.clone(),
            data_key,
            cdcvm_until_unix: file.cdcvm_until_unix,
        })
    }

    /// Locks: the session ends, taps stop until the next unlock.
    pub fn lock(&self, runtime_dir: &Path) -> Result<(), SeError> {
        match std::fs::remove_file(self.session_path(runtime_dir)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SeError::Io(format!("ending the session: {e}"))),
        }
    }

    fn start_session(
        &self,
        data_key: Key,
        device_secret: &Key,
        policy: &Policy,
        runtime_dir: &Path,
        now_unix: i64,
    ) -> Result<Session, SeError> {
        let salt = seal::random::<16>()?;
        let key = seal::kdf(device_secret.as_ref(), "tapwallet-se:v1:session", &salt);
        let cdcvm_until_unix = now_unix + policy.window_secs;
        let file = SessionFile {
            dir: canonical(&self.dir)?,
            se_id: self.identity.se_id.clone(),
            salt: hex::encode(salt),
            data_key: Sealed::seal(&key, AAD_SESSION, data_key.as_ref())?,
            opened_unix: now_unix,
            cdcvm_until_unix,
            until_unix: now_unix + policy.session_secs.max(policy.window_secs),
        };
        std::fs::create_dir_all(runtime_dir)
            .map_err(|e| SeError::Io(format!("creating {}: {e}", runtime_dir.display())))?;
        restrict(runtime_dir)?;
        let json = serde_json::to_vec(&file).map_err(|_| SeError::Corrupt("session"))?;
        seal::write_atomic(&self.session_path(runtime_dir)?, &json)?;
        Ok(Session {
            se_dir: self.se_dir.clone(),
            data_key,
            cdcvm_until_unix,
        })
    }

    /// Destroys the secrets: the sealed state and the device secret. The public identity stays
    /// so the device can say what happened.
    fn wipe(&self) -> Result<(), SeError> {
        for name in [STATE_FILE, DEVICE_SECRET_FILE] {
            let path = self.se_dir.join(name);
            if let Ok(meta) = std::fs::metadata(&path) {
                // Overwrite before unlinking (best effort on a journaling filesystem).
                let zeros = vec![0u8; usize::try_from(meta.len()).unwrap_or(0)];
                let _ = seal::write_atomic(&path, &zeros);
                std::fs::remove_file(&path)
                    .map_err(|e| SeError::Io(format!("wiping {}: {e}", path.display())))?;
            }
        }
        Ok(())
    }

    fn device_secret(&self) -> Result<Key, SeError> {
        let bytes =
            seal::read_optional(&self.se_dir.join(DEVICE_SECRET_FILE))?.ok_or(SeError::Wiped)?;
        let bytes = Zeroizing::new(bytes);
        Ok(Zeroizing::new(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| SeError::Corrupt("device.secret"))?,
        ))
    }

    fn session_path(&self, runtime_dir: &Path) -> Result<PathBuf, SeError> {
        let mut h = Sha256::new();
        h.update(canonical(&self.dir)?.as_bytes());
        h.update([0]);
        h.update(self.identity.se_id.as_bytes());
        let name = hex::encode(&h.finalize()[..12]);
        Ok(runtime_dir.join(format!("tapwallet-se-{name}.json")))
    }

    fn lock_files(&self) -> Result<FileLock, SeError> {
        FileLock::take(&self.se_dir)
    }
}

impl Session {
    /// True while the holder's verification on the device counts (the payment window).
    pub fn cdcvm_active(&self, now_unix: i64) -> bool {
        now_unix < self.cdcvm_until_unix
    }

    /// When the payment window closes, Unix seconds.
    pub fn cdcvm_until_unix(&self) -> i64 {
        self.cdcvm_until_unix
    }

    /// Signs `message` (ECDSA P-256 with SHA-256, RFC 6979) with the secure element's key; the
    /// key itself never leaves.
    pub fn sign(&self, message: &[u8]) -> Result<[u8; 64], SeError> {
        let state = self.read_state()?;
        let key = signing_key(&state)?;
        let signature: p256::ecdsa::Signature = key.sign(message);
        Ok(signature.to_bytes().into())
    }

    /// The private key as a JWK, for interoperability tests that must open a payload with a
    /// third-party library. Never call this in a product path.
    pub fn danger_export_private_jwk(&self) -> Result<Secret<String>, SeError> {
        let state = self.read_state()?;
        let d = Zeroizing::new(hex::decode(&state.se_key).map_err(|_| SeError::Corrupt("key"))?);
        let d: Zeroizing<[u8; 32]> = Zeroizing::new(
            d.as_slice()
                .try_into()
                .map_err(|_| SeError::Corrupt("key"))?,
        );
        let jwk = Jwk::from_private_bytes(&d).map_err(|_| SeError::Corrupt("key"))?;
        jwk.to_private_json().map_err(|_| SeError::Corrupt("key"))
    }

    /// The private key for ECDH (payload decryption) inside this crate.
    pub(crate) fn jwk(state: &State) -> Result<Jwk, SeError> {
        let d = Zeroizing::new(hex::decode(&state.se_key).map_err(|_| SeError::Corrupt("key"))?);
        let d: Zeroizing<[u8; 32]> = Zeroizing::new(
            d.as_slice()
                .try_into()
                .map_err(|_| SeError::Corrupt("key"))?,
        );
        Jwk::from_private_bytes(&d).map_err(|_| SeError::Corrupt("key"))
    }

    pub(crate) fn read_state(&self) -> Result<State, SeError> {
        let bytes = seal::read_optional(&self.se_dir.join(STATE_FILE))?.ok_or(SeError::Wiped)?;
        let sealed: Sealed =
            serde_json::from_slice(&bytes).map_err(|_| SeError::Corrupt("sealed.json"))?;
        let plain = sealed
            .open(&self.data_key, AAD_STATE)
            .ok_or(SeError::Corrupt(
                "sealed.json does not open with the data key",
            ))?;
        serde_json::from_slice(&plain).map_err(|_| SeError::Corrupt("the sealed state"))
    }

    /// Reads, changes and writes back the sealed state under the secure element's file lock,
    /// durably before returning.
    pub(crate) fn update<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, SeError>,
    ) -> Result<T, SeError> {
        let _guard = FileLock::take(&self.se_dir)?;
        let mut state = self.read_state()?;
        let out = change(&mut state)?;
        write_state(&self.se_dir, &self.data_key, &state)?;
        Ok(out)
    }
}

fn signing_key(state: &State) -> Result<p256::ecdsa::SigningKey, SeError> {
    let d = Zeroizing::new(hex::decode(&state.se_key).map_err(|_| SeError::Corrupt("key"))?);
    p256::ecdsa::SigningKey::from_slice(&d).map_err(|_| SeError::Corrupt("key"))
}

fn write_state(se_dir: &Path, data_key: &Key, state: &State) -> Result<(), SeError> {
    let plain = Zeroizing::new(serde_json::to_vec(state).map_err(|_| SeError::Corrupt("state"))?);
    let sealed = Sealed::seal(data_key, AAD_STATE, &plain)?;
    let json = serde_json::to_vec(&sealed).map_err(|_| SeError::Corrupt("state"))?;
    seal::write_atomic(&se_dir.join(STATE_FILE), &json)
}

/// The passcode key: Argon2id of the passcode, bound to the device secret (so the passcode
/// alone, or the files alone, open nothing).
fn passcode_key(
    device_secret: &Key,
    passcode: &str,
    salt: &[u8],
    cost: Argon2Cost,
) -> Result<Key, SeError> {
    let stretched = seal::stretch(passcode, salt, cost)?;
    Ok(seal::kdf(
        device_secret.as_ref(),
        "tapwallet-se:v1:passcode",
        stretched.as_ref(),
    ))
}

/// A passcode has at least 6 characters.
fn check_passcode_rules(passcode: &str) -> Result<(), SeError> {
    if passcode.chars().count() < 6 {
        return Err(SeError::WeakPasscode);
    }
    Ok(())
}

fn canonical(dir: &Path) -> Result<String, SeError> {
    std::fs::canonicalize(dir)
        .map(|p| p.display().to_string())
        .map_err(|e| SeError::Io(format!("{}: {e}", dir.display())))
}

fn restrict(dir: &Path) -> Result<(), SeError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| SeError::Io(format!("{}: {e}", dir.display())))
}

/// An exclusive lock on the secure element's files, across processes (the wallet CLI and the
/// NFC bridge may run at once), released on drop.
struct FileLock(File);

impl FileLock {
    fn take(se_dir: &Path) -> Result<Self, SeError> {
        let path = se_dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| SeError::Io(format!("{}: {e}", path.display())))?;
        file.lock()
            .map_err(|e| SeError::Io(format!("locking {}: {e}", path.display())))?;
        Ok(Self(file))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}
