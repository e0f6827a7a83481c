//! Outbound token-updated notifications: the [`Notifier`] port and its HTTP implementation.
//!
//! The service signs each notification when the status changes and queues it in the store's
//! `tsp_notifications` outbox in the same transaction, so a change is never without its
//! notification. `Tsp::deliver_notifications` then posts due ones through a [`Notifier`] and
//! marks them delivered on a 2xx answer; a failure is retried with exponential backoff (30 s
//! doubling, at most an hour apart), for as long as it takes.

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::BoxFuture;

/// Why a notification was not delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyError {
    /// The callback URL is not `http://` or `https://HOST[:PORT][/PATH]`.
    BadUrl,
    /// `https` without a TLS configuration.
    TlsNotConfigured,
    /// Connecting, TLS, writing or reading failed, or timed out.
    Transport(String),
    /// The token requestor answered with this non-2xx status.
    Refused(u16),
    /// The token requestor has no callback URL.
    NoCallback,
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl => f.write_str("callback URL must be http(s)://host[:port][/path]"),
            Self::TlsNotConfigured => f.write_str("https callback but no TLS client configuration"),
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Refused(code) => write!(f, "token requestor answered HTTP {code}"),
            Self::NoCallback => f.write_str("the token requestor has no callback URL"),
        }
    }
}

impl std::error::Error for NotifyError {}

/// Posts a signed notification to a token requestor.
pub trait Notifier: Send + Sync {
    /// Posts `jws` (a compact JWS, content type `application/jose`) to `url`; `Ok` once the
    /// requestor answered 2xx.
    fn notify<'a>(&'a self, url: &'a str, jws: &'a str) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// HTTP/1.1 `POST` over TCP, with TLS (rustls) for `https://` URLs when given a client
/// configuration. One connection per notification (`Connection: close`).
#[derive(Clone)]
pub struct HttpNotifier {
    tls: Option<Arc<ClientConfig>>,
    timeout: Duration,
}

impl fmt::Debug for HttpNotifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpNotifier")
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpNotifier {
    /// Plain HTTP only (`https://` callbacks fail with [`NotifyError::TlsNotConfigured`]).
    pub fn plain(timeout: Duration) -> Self {
        Self { tls: None, timeout }
    }

    /// HTTP and HTTPS, the latter with this rustls client configuration (its root store decides
    /// which requestor certificates are trusted).
    pub fn with_tls(tls: Arc<ClientConfig>, timeout: Duration) -> Self {
        Self {
            tls: Some(tls),
            timeout,
        }
    }

    async fn post(&self, url: &str, jws: &str) -> Result<(), NotifyError> {
        let target = Target::parse(url)?;
        let tls = match (target.tls, &self.tls) {
            (true, Some(config)) => Some(Arc::clone(config)),
            (true, None) => return Err(NotifyError::TlsNotConfigured),
            (false, _) => None,
        };
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/jose\r\n\
             Content-Length: {}\r\nConnection: close\r\nUser-Agent: tapwallet-tsp\r\n\r\n{jws}",
            target.path,
            target.host_header(),
            jws.len()
        );
        let transport = |e: std::io::Error| NotifyError::Transport(e.kind().to_string());
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(transport)?;
        let status = if let Some(config) = tls {
            let name =
                ServerName::try_from(target.host.clone()).map_err(|_| NotifyError::BadUrl)?;
            let stream = TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(transport)?;
            exchange(stream, request.as_bytes()).await?
        } else {
            exchange(tcp, request.as_bytes()).await?
        };
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(NotifyError::Refused(status))
        }
    }
}

impl Notifier for HttpNotifier {
    fn notify<'a>(&'a self, url: &'a str, jws: &'a str) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.post(url, jws)).await {
                Ok(result) => result,
                Err(_) => Err(NotifyError::Transport("timed out".to_owned())),
            }
        })
    }
}

/// Writes the request and reads the status code of the answer.
async fn exchange<S>(mut stream: S, request: &[u8]) -> Result<u16, NotifyError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let transport = |e: std::io::Error| NotifyError::Transport(e.kind().to_string());
    stream.write_all(request).await.map_err(transport)?;
    stream.flush().await.map_err(transport)?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    // The status line is all we need: read until its end (or 8 KiB, or EOF).
    while !head.contains(&b'\n') && head.len() < 8192 {
        let n = stream.read(&mut buf).await.map_err(transport)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = core::str::from_utf8(line).map_err(|_| bad_answer())?;
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => {
            code.parse().map_err(|_| bad_answer())
        }
        _ => Err(bad_answer()),
    }
}

fn bad_answer() -> NotifyError {
    NotifyError::Transport("the answer is not HTTP/1.x".to_owned())
}

/// A parsed callback URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, NotifyError> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(NotifyError::BadUrl);
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(char::is_whitespace) {
            return Err(NotifyError::BadUrl);
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(NotifyError::BadUrl)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| NotifyError::BadUrl)?,
                None if after.is_empty() => default_port,
                None => return Err(NotifyError::BadUrl),
            };
            (host.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (
                    host.to_owned(),
                    port.parse().map_err(|_| NotifyError::BadUrl)?,
                ),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(NotifyError::BadUrl);
        }
        Ok(Self {
            tls,
            host,
            port,
            path: path.to_owned(),
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("https://wallet.example/cb/notify/token-updated").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "wallet.example".into(),
                port: 443,
                path: "/cb/notify/token-updated".into()
            }
        );
        assert_eq!(t.host_header(), "wallet.example");
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.port, t.path.as_str()), (8080, "/"));
        assert_eq!(t.host_header(), "127.0.0.1:8080");
        let t = Target::parse("http://[::1]:9/x").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
        assert_eq!(t.host_header(), "[::1]:9");
        for bad in [
            "ftp://x",
            "http://",
            "http://a:b/",
            "http://u@h/",
            "http://h/a b",
            "http://[::1",
        ] {
            assert_eq!(Target::parse(bad), Err(NotifyError::BadUrl), "{bad}");
        }
    }
}
