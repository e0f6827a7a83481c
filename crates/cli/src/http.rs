//! A small HTTPS JSON client for the device commands: one HTTP/1.1 request per connection,
//! TLS with rustls trusting exactly the certificates given (the development certificate of
//! `tapwallet up`, or `--ca-cert`), bearer tokens, `Idempotency-Key`, and RFC 9457 problem
//! details turned into readable errors.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;

/// How long one request may take, connection and TLS included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the wallet backend is and how to reach it.
#[derive(Clone)]
pub(crate) struct Client {
    host: String,
    port: u16,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

/// An answer: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Answer {
    /// The body if the status is 2xx, else an error built from the problem details.
    pub(crate) fn ok(self) -> anyhow::Result<Value> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        Err(anyhow!(problem_text(self.status, &self.body)))
    }
}

/// A TLS client configuration (ring provider) trusting exactly the PEM certificates at `ca`.
pub(crate) fn trusting(ca: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        roots
            .add(cert.with_context(|| format!("{} is not PEM", ca.display()))?)
            .context("certificate not usable as a trust anchor")?;
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    ))
}

/// "404 Not Found: no such device" plus field errors, from a problem+json body.
pub(crate) fn problem_text(status: u16, body: &Value) -> String {
    let title = body.get("title").and_then(Value::as_str).unwrap_or("error");
    let mut text = format!("{status} {title}");
    if let Some(detail) = body.get("detail").and_then(Value::as_str) {
        text.push_str(": ");
        text.push_str(detail);
    }
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        for e in errors {
            let field = e.get("field").and_then(Value::as_str).unwrap_or("?");
            let message = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("invalid");
            text.push_str(&format!("\n  {field}: {message}"));
        }
    }
    text
}

impl Client {
    /// A client for `url` (`https://HOST:PORT` or `http://HOST:PORT`), trusting the PEM
    /// certificates in `ca_pem` for HTTPS.
    pub(crate) fn new(url: &str, ca_pem: Option<&Path>) -> anyhow::Result<Self> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            bail!("the backend URL must start with https:// or http:// (got {url:?})");
        };
        let authority = rest.trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse::<u16>()
                    .with_context(|| format!("bad port in backend URL {url:?}"))?,
            ),
            None => (authority.to_owned(), if https { 443 } else { 80 }),
        };
        let tls = if https {
            let ca = ca_pem.context(
                "an https backend needs a certificate to trust: --ca-cert FILE (tapwallet up \
                 writes its development certificate to DATA_DIR/tls/tapwallet-dev-cert.pem)",
            )?;
            let config = trusting(ca)?;
            let name = ServerName::try_from(host.clone())
                .with_context(|| format!("{host:?} is not a valid TLS server name"))?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        } else {
            None
        };
        Ok(Self { host, port, tls })
    }

    /// Sends one request; `body` is sent as JSON.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.send_inner(method, path, bearer, idempotency_key, body),
        )
        .await
        .map_err(|_| anyhow!("the backend did not answer {method} {path} within 30 s"))?
    }

    async fn send_inner(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| {
                format!(
                    "cannot reach the wallet backend at {}:{} (is `tapwallet up` running?)",
                    self.host, self.port
                )
            })?;
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("{}:{}", self.host, self.port))
            .header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let payload = match body {
            Some(v) => {
                request = request.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(v)?)
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(payload))?;
        let response = match &self.tls {
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .context("TLS handshake with the wallet backend failed (wrong --ca-cert?)")?;
                exchange(TokioIo::new(stream), request).await?
            }
            None => exchange(TokioIo::new(tcp), request).await?,
        };
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Answer { status, body })
    }
}

/// A kept-alive HTTP/1.1 connection to the backend (for load generators: one TLS handshake,
/// many requests). Reconnects once when the server closed it.
pub(crate) struct Conn {
    client: Client,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Client {
    /// A connection that is opened on first use and kept.
    pub(crate) fn keep_alive(&self) -> Conn {
        Conn {
            client: self.clone(),
            sender: None,
        }
    }
}

impl Conn {
    async fn open(&self) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let c = &self.client;
        let tcp = TcpStream::connect((c.host.as_str(), c.port)).await?;
        tcp.set_nodelay(true)?;
        let sender = match &c.tls {
            Some((connector, name)) => {
                let stream = connector.connect(name.clone(), tcp).await?;
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(connection);
                sender
            }
            None => {
                let (sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
                tokio::spawn(connection);
                sender
            }
        };
        Ok(sender)
    }

    /// Sends one request on the kept connection; `body` as JSON.
    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        for attempt in 0..2 {
            let mut sender = match self.sender.take() {
                Some(s) if !s.is_closed() => s,
                _ => self.open().await?,
            };
            let mut request = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", format!("{}:{}", self.client.host, self.client.port))
                .header("accept", "application/json");
            if let Some(token) = bearer {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let payload = match body {
                Some(v) => {
                    request = request.header("content-type", "application/json");
                    Bytes::from(serde_json::to_vec(v)?)
                }
                None => Bytes::new(),
            };
            sender.ready().await.ok();
            match sender.send_request(request.body(Full::new(payload))?).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let bytes = response.into_body().collect().await?.to_bytes();
                    let body = if bytes.is_empty() {
                        Value::Null
                    } else {
                        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
                    };
                    self.sender = Some(sender);
                    return Ok(Answer { status, body });
                }
                Err(e) if attempt == 0 && e.is_canceled() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        bail!("the backend closed the connection twice")
    }
}

async fn exchange<S>(
    io: TokioIo<S>,
    request: hyper::Request<Full<Bytes>>,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    // The connection task ends once the response is read and the sender dropped.
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .context("the wallet backend closed the connection")
}
