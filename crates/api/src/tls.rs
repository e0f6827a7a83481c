//! TLS for the wallet backend: a development certificate, or an operator's PEM pair.
//!
//! Both return a rustls [`ServerConfig`] on the ring provider that offers HTTP/2 and HTTP/1.1
//! by ALPN (`h2` first), for [`serve`](crate::serve).

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// File name of the development certificate (PEM) inside the directory given to
/// [`dev_certificate`].
pub const DEV_CERT_FILE: &str = "tapwallet-dev-cert.pem";
/// File name of its private key (PEM, PKCS#8, mode 0600 on Unix).
pub const DEV_KEY_FILE: &str = "tapwallet-dev-key.pem";

/// Names the development certificate is valid for.
pub const DEV_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// What went wrong setting up TLS.
#[derive(Debug)]
pub enum TlsError {
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The certificate PEM holds no certificate, or a malformed one.
    BadCertificate,
    /// The key PEM holds no private key, or a malformed one.
    BadKey,
    /// Making the development certificate failed.
    Generate(rcgen::Error),
    /// rustls refused the certificate and key (e.g. they do not match).
    Rustls(rustls::Error),
}

impl core::fmt::Display for TlsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::BadCertificate => f.write_str("no valid certificate in the PEM"),
            Self::BadKey => f.write_str("no valid private key in the PEM"),
            Self::Generate(e) => write!(f, "cannot make a development certificate: {e}"),
            Self::Rustls(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Generate(e) => Some(e),
            Self::Rustls(e) => Some(e),
            Self::BadCertificate | Self::BadKey => None,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A server configuration from a PEM certificate chain (leaf first) and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1).
pub fn load(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| TlsError::BadCertificate)?;
    if chain.is_empty() {
        return Err(TlsError::BadCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| TlsError::BadKey)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Rustls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The development certificate in `dir`: made on first use (self-signed, ECDSA P-256, valid for
/// `localhost` and `127.0.0.1`) and reused afterwards. Clients trust it by pinning
/// `dir/`[`DEV_CERT_FILE`]. Never use it in production.
pub fn dev_certificate(dir: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_path = dir.join(DEV_CERT_FILE);
    let key_path = dir.join(DEV_KEY_FILE);
    if !(cert_path.exists() && key_path.exists()) {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let names: Vec<String> = DEV_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let made = rcgen::generate_simple_self_signed(names).map_err(TlsError::Generate)?;
        // The key first, private from birth; the certificate last, so a crash in between
        // leaves no certificate without its key.
        write_private(&key_path, made.signing_key.serialize_pem().as_bytes())?;
        fs::write(&cert_path, made.cert.pem()).map_err(io(&cert_path))?;
        tracing::info!(cert = %cert_path.display(), "development TLS certificate created");
    }
    let cert = fs::read(&cert_path).map_err(io(&cert_path))?;
    let key = fs::read(&key_path).map_err(io(&key_path))?;
    load(&cert, &key)
}

/// Writes a file readable by its owner only (on Unix), replacing any old one.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(contents).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}
