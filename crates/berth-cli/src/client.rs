//! Engine API client over a unix socket.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use tokio::net::UnixStream;

pub type ReqBody = BoxBody<Bytes, std::io::Error>;

#[derive(Debug)]
pub enum CliError {
    /// The daemon answered with an error.
    Daemon { status: u16, message: String },
    /// The daemon could not be reached.
    Connect(String),
    /// Anything else: bad flags, local I/O.
    Other(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Daemon { message, .. } => write!(f, "Error response from daemon: {message}"),
            CliError::Connect(m) | CliError::Other(m) => f.write_str(m),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Other(e.to_string())
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::Other(format!("invalid response from daemon: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, CliError>;

pub fn full(data: impl Into<Bytes>) -> ReqBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A request body read from `reader` on a thread of its own, in 256 KiB chunks.
pub fn reader_body(mut reader: Box<dyn std::io::Read + Send>) -> ReqBody {
    writer_body(move |out| std::io::copy(&mut reader, out).map(|_| ()))
}

/// A request body that `produce` writes, on a thread of its own (a tar being built).
pub fn writer_body(
    produce: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'static,
) -> ReqBody {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    std::thread::spawn(move || {
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter(tx.clone()));
        let result = produce(&mut out).and_then(|()| std::io::Write::flush(&mut out));
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(e));
        }
    });
    BodyExt::boxed(http_body_util::StreamBody::new(ChannelStream(rx)))
}

struct ChannelWriter(tokio::sync::mpsc::Sender<std::io::Result<Bytes>>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the daemon went away")
            })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct ChannelStream(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl futures_core::Stream for ChannelStream {
    type Item = std::io::Result<hyper::body::Frame<Bytes>>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|r| r.map(hyper::body::Frame::data)))
    }
}

/// A response body as a blocking `Read`, for a thread that unpacks it.
pub fn response_reader(resp: Response<Incoming>) -> impl std::io::Read + Send {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Bytes>(8);
    tokio::spawn(async move {
        let mut body = resp.into_body();
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(d) = frame.into_data() {
                if tx.send(d).is_err() {
                    break;
                }
            }
        }
    });
    ResponseReader {
        rx,
        current: Bytes::new(),
    }
}

struct ResponseReader {
    rx: std::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl std::io::Read for ResponseReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.current = b,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

#[derive(Clone)]
pub struct Client {
    pub host: String,
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Unix(PathBuf),
    /// `tcp://host:port`, with TLS when asked for.
    Tcp {
        addr: String,
        tls: Option<(
            std::sync::Arc<rustls::ClientConfig>,
            rustls_pki_types::ServerName<'static>,
        )>,
    },
}

/// The TLS files in use: the flags, else $DOCKER_CERT_PATH (or ~/.docker) as the docker
/// CLI finds them; None when TLS is not asked for (neither --tls, --tlsverify nor
/// DOCKER_TLS_VERIFY).
fn tls_config(t: &crate::cli::ClientTls) -> Result<Option<rustls::ClientConfig>> {
    let env_verify = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
    let verify = t.tlsverify || env_verify;
    if !verify && !t.tls {
        return Ok(None);
    }
    let dir = std::env::var_os("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_default();
    let pick = |flag: &Option<PathBuf>, name: &str| -> Option<PathBuf> {
        flag.clone()
            .or_else(|| Some(dir.join(name)).filter(|p| p.exists()))
    };
    let ca = pick(&t.tlscacert, "ca.pem");
    let cert = pick(&t.tlscert, "cert.pem");
    let key = pick(&t.tlskey, "key.pem");
    let pair = match (&cert, &key) {
        (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
        _ => None,
    };
    berth_registry::tls::client_config_from_files(ca.as_deref(), pair, verify)
        .map(Some)
        .map_err(|e| CliError::Other(format!("could not read the TLS files: {e}")))
}

/// HTTP/1.1 (with upgrades) on a connected stream.
async fn handshake<I>(io: I) -> Result<hyper::client::conn::http1::SendRequest<ReqBody>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| CliError::Connect(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// Query string builder.
pub fn query(pairs: &[(&str, String)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl Client {
    pub fn new(host: &str, tls: &crate::cli::ClientTls) -> Result<Self> {
        let transport = if let Some(socket) = host.strip_prefix("unix://") {
            Transport::Unix(PathBuf::from(socket))
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/').to_string();
            let tls = match tls_config(tls)? {
                Some(config) => {
                    let name = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(&addr);
                    let name = name.trim_start_matches('[').trim_end_matches(']');
                    let server = rustls_pki_types::ServerName::try_from(name.to_string())
                        .map_err(|e| CliError::Other(format!("invalid host {host}: {e}")))?;
                    Some((std::sync::Arc::new(config), server))
                }
                None => None,
            };
            Transport::Tcp { addr, tls }
        } else {
            return Err(CliError::Other(format!(
                "unsupported host {host}: use unix:///path or tcp://host:port"
            )));
        };
        Ok(Self {
            host: host.to_string(),
            transport,
        })
    }

    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<ReqBody>> {
        let unreachable = |e: std::io::Error| {
            CliError::Connect(format!(
                "Cannot connect to the berth daemon at {}. Is the berth daemon running? ({e})",
                self.host
            ))
        };
        match &self.transport {
            Transport::Unix(socket) => {
                let stream = UnixStream::connect(socket).await.map_err(unreachable)?;
                handshake(stream).await
            }
            Transport::Tcp { addr, tls } => {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(unreachable)?;
                match tls {
                    None => handshake(stream).await,
                    Some((config, name)) => {
                        let tls = tokio_rustls::TlsConnector::from(config.clone())
                            .connect(name.clone(), stream)
                            .await
                            .map_err(|e| {
                                CliError::Connect(format!(
                                    "TLS handshake with {} failed: {e}",
                                    self.host
                                ))
                            })?;
                        handshake(tls).await
                    }
                }
            }
        }
    }

    /// POST to pull `image`, with the stored credentials of its registry.
    pub async fn pull_request(&self, path: &str, image: &str) -> Result<Response<Incoming>> {
        let auth =
            crate::credentials::registry_auth_header(&crate::credentials::registry_of(image));
        let headers: Vec<(&str, String)> =
            auth.map(|a| ("X-Registry-Auth", a)).into_iter().collect();
        self.send_with(
            Method::POST,
            path,
            full(Bytes::new()),
            None,
            false,
            &headers,
        )
        .await
    }

    /// POST a build: the context as the body, the stored credentials of every registry
    /// as X-Registry-Config (for the base images the daemon pulls).
    pub async fn build_request(&self, path: &str, body: ReqBody) -> Result<Response<Incoming>> {
        let headers: Vec<(&str, String)> = crate::credentials::registry_config_header()
            .map(|h| ("X-Registry-Config", h))
            .into_iter()
            .collect();
        self.send_with(
            Method::POST,
            path,
            body,
            Some("application/x-tar"),
            false,
            &headers,
        )
        .await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
        upgrade: bool,
    ) -> Result<Response<Incoming>> {
        self.send_with(method, path, body, content_type, upgrade, &[])
            .await
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
        upgrade: bool,
        headers: &[(&str, String)],
    ) -> Result<Response<Incoming>> {
        let mut sender = self.connect().await?;
        let mut b = Request::builder()
            .method(method)
            .uri(format!("/v{}{path}", berth_api::API_VERSION))
            .header("Host", "berth");
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        if upgrade {
            b = b.header("Connection", "Upgrade").header("Upgrade", "tcp");
        }
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        let req = b.body(body).map_err(|e| CliError::Other(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| CliError::Connect(e.to_string()))?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let message = serde_json::from_slice::<berth_api::error::ErrorResponse>(&bytes)
                .map(|e| e.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_string());
            return Err(CliError::Daemon { status, message });
        }
        Ok(resp)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Response<Incoming>> {
        match body {
            Some(v) => {
                self.send(
                    method,
                    path,
                    full(serde_json::to_vec(&v)?),
                    Some("application/json"),
                    false,
                )
                .await
            }
            None => {
                self.send(method, path, full(Bytes::new()), None, false)
                    .await
            }
        }
    }

    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let resp = self.request(method, path, body).await?;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| CliError::Other(e.to_string()))?
            .to_bytes();
        Ok(serde_json::from_slice(&bytes)?)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<StatusCode> {
        let resp = self.request(method, path, body).await?;
        let status = resp.status();
        let _ = resp.into_body().collect().await;
        Ok(status)
    }

    /// A hijacked connection (attach, exec start).
    pub async fn hijack(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<TokioIo<hyper::upgrade::Upgraded>> {
        let b = match body {
            Some(v) => full(serde_json::to_vec(&v)?),
            None => full(Bytes::new()),
        };
        let resp = self
            .send(Method::POST, path, b, Some("application/json"), true)
            .await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(CliError::Other(format!(
                "the daemon did not upgrade the connection ({})",
                resp.status()
            )));
        }
        let up = hyper::upgrade::on(resp)
            .await
            .map_err(|e| CliError::Other(e.to_string()))?;
        Ok(TokioIo::new(up))
    }
}

/// Reads a JSON progress stream; prints `stream`/`status` lines and fails on `error`.
/// On a terminal, each layer gets a progress bar; otherwise plain lines, as docker prints.
pub async fn print_progress(
    resp: Response<Incoming>,
    quiet: bool,
) -> Result<Vec<berth_api::image::ProgressMessage>> {
    let bars = (!quiet && crate::stream::is_terminal(1)).then(crate::progress::Bars::new);
    let mut body = resp.into_body();
    let mut pending = Vec::new();
    let mut out = vec![];
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Other(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let m: berth_api::image::ProgressMessage = serde_json::from_slice(&line)?;
            if let Some(e) = &m.error {
                if let Some(b) = &bars {
                    b.finish();
                }
                return Err(CliError::Other(e.clone()));
            }
            if !quiet {
                match &bars {
                    Some(b) => b.show(&m),
                    None => print_plain(&m),
                }
            }
            out.push(m);
        }
    }
    if let Some(b) = &bars {
        b.finish();
    }
    Ok(out)
}

/// One message as a plain line; the byte counts of "Downloading" are left out.
fn print_plain(m: &berth_api::image::ProgressMessage) {
    if let Some(s) = &m.stream {
        print!("{s}");
    }
    if let Some(s) = m
        .status
        .as_deref()
        .filter(|s| !matches!(*s, "Downloading" | "Extracting" | "Pushing"))
    {
        match &m.id {
            Some(id) => println!("{id}: {s}"),
            None => println!("{s}"),
        }
    }
}
