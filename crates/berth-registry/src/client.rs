//! HTTP to a registry: scheme choice, the auth retry, redirects, bounded bodies.

use crate::auth::{parse_challenge, Challenge, Credentials, TokenResponse};
use crate::error::{RegistryError, Result};
use crate::tls;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));
/// How long an insecure registry gets to answer over HTTPS before plain HTTP is tried.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Docker Hub's API host for `docker.io` references.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A request body: empty, bytes, or a stream (a blob being pushed).
pub type Body = BoxBody<Bytes, std::io::Error>;

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn bytes(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

type Http = HyperClient<HttpsConnector<HttpConnector>, Body>;

/// How registries are reached.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Registries reached without checking their certificate, or over plain HTTP when
    /// they do not speak TLS (`--insecure-registry`): `host`, `host:port` or a CIDR.
    pub insecure: Vec<String>,
    /// Per-registry CAs and client certificates, Docker's `certs.d` layout.
    pub certs_dir: PathBuf,
    /// Loopback registries are insecure, as in Docker (127.0.0.0/8 always is). Only
    /// tests of certificate checks turn this off.
    pub loopback_insecure: bool,
    /// Mirrors by registry (`docker.io`, `localhost:5000`): base URLs tried in order
    /// before the registry itself when pulling. Unlike dockerd's, any registry can have
    /// them (moby#18818).
    pub mirrors: HashMap<String, Vec<String>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            insecure: vec![],
            certs_dir: PathBuf::from(tls::DEFAULT_CERTS_DIR),
            loopback_insecure: true,
            mirrors: HashMap::new(),
        }
    }
}

#[derive(Clone)]
pub struct Client {
    settings: Arc<Settings>,
    /// One HTTP client per registry and TLS mode, so connections are reused across pulls.
    transports: Arc<Mutex<HashMap<(String, bool), Http>>>,
}

/// One repository on one registry, with the auth it has earned so far.
pub struct Session {
    http: Http,
    pub registry: String,
    base: String,
    pub repository: String,
    creds: Option<Credentials>,
    /// Asks token services for push access too.
    pub push: bool,
    authorization: Mutex<Option<String>>,
}

/// `host` without its port, and without the brackets of an IPv6 address.
fn host_only(host: &str) -> &str {
    let h = match host.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host,
    };
    h.trim_start_matches('[').trim_end_matches(']')
}

fn is_loopback(host: &str) -> bool {
    let h = host_only(host);
    h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `host` matches an `--insecure-registry` entry: the name itself, with or
/// without port, or a CIDR holding its address.
fn matches_insecure(entry: &str, host: &str, registry: &str) -> bool {
    if entry == host || entry == registry || entry == host_only(host) {
        return true;
    }
    let Some((net, bits)) = entry.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits), Ok(ip)) = (
        net.parse::<IpAddr>(),
        bits.parse::<u32>(),
        host_only(host).parse::<IpAddr>(),
    ) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

fn challenge_of(resp: &Response<Incoming>) -> Option<Challenge> {
    resp.headers()
        .get("WWW-Authenticate")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_challenge)
}

/// An error with its causes: hyper's own message says little ("client error (Connect)").
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}

/// A registry mirror's base URL: `http://host:port` or `https://host`, no path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub tls: bool,
    pub host: String,
}

impl Mirror {
    pub fn parse(url: &str) -> Result<Mirror> {
        let bad = |why: &str| RegistryError::Connect(format!("invalid mirror {url:?}: {why}"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("it must start with http:// or https://"));
        };
        let host = rest.trim_end_matches('/');
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        if host.contains(['/', '?', '#', '@']) {
            return Err(bad("it may hold only a scheme, a host and a port"));
        }
        Ok(Mirror {
            tls,
            host: host.to_string(),
        })
    }

    fn base(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.host
        )
    }
}

impl Client {
    pub fn new(insecure: Vec<String>) -> Self {
        Self::with_settings(Settings {
            insecure,
            ..Settings::default()
        })
    }

    pub fn with_settings(settings: Settings) -> Self {
        Self {
            settings: Arc::new(settings),
            transports: Arc::default(),
        }
    }

    /// Whether `registry` is reached without a certificate check (loopback, or
    /// `--insecure-registry`).
    pub fn is_insecure_registry(&self, registry: &str) -> bool {
        self.is_insecure(registry, registry)
    }

    fn is_insecure(&self, host: &str, registry: &str) -> bool {
        (self.settings.loopback_insecure && is_loopback(host))
            || self
                .settings
                .insecure
                .iter()
                .any(|i| matches_insecure(i, host, registry))
    }

    /// The HTTP client for `host`: certificates checked (`verify`) or not.
    fn transport(&self, host: &str, verify: bool) -> Result<Http> {
        let mut cache = self.transports.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(http) = cache.get(&(host.to_string(), verify)) {
            return Ok(http.clone());
        }
        let config = tls::client_config(&self.settings.certs_dir, host, verify)
            .map_err(|e| RegistryError::Connect(format!("TLS settings for {host}: {e}")))?;
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        let http = HyperClient::builder(TokioExecutor::new()).build(connector);
        cache.insert((host.to_string(), verify), http.clone());
        Ok(http)
    }

    /// GET of any `http://` or `https://` URL (a build context given by URL), its
    /// certificate checked, redirects followed; an error status is an error.
    pub async fn fetch_url(&self, url: &str) -> Result<Response<Incoming>> {
        let mut url = url.to_string();
        for _ in 0..6 {
            let uri: http::Uri = url
                .parse()
                .map_err(|e| RegistryError::Connect(format!("invalid URL {url}: {e}")))?;
            let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
            if !matches!(uri.scheme_str(), Some("http" | "https")) || host.is_empty() {
                return Err(RegistryError::Connect(format!(
                    "{url}: only http:// and https:// URLs are fetched"
                )));
            }
            let req = Request::get(uri.clone())
                .header("User-Agent", concat!("berth/", env!("CARGO_PKG_VERSION")))
                .body(empty())
                .map_err(|e| RegistryError::Connect(e.to_string()))?;
            let resp = self
                .transport(&host, true)?
                .request(req)
                .await
                .map_err(|e| RegistryError::Connect(format!("fetching {url}: {}", describe(&e))))?;
            if resp.status().is_redirection() {
                if let Some(loc) = resp.headers().get("Location").and_then(|v| v.to_str().ok()) {
                    url = if loc.starts_with('/') {
                        format!("{}://{host}{loc}", uri.scheme_str().unwrap_or("https"))
                    } else {
                        loc.to_string()
                    };
                    continue;
                }
            }
            if !resp.status().is_success() {
                return Err(RegistryError::Connect(format!(
                    "fetching {url}: {}",
                    resp.status()
                )));
            }
            return Ok(resp);
        }
        Err(RegistryError::Connect(format!("{url}: too many redirects")))
    }

    /// A session for `repository` on `registry` (`docker.io`, `localhost:5000`). HTTPS,
    /// its certificate checked; an insecure registry is tried over HTTPS without the check
    /// and then over plain HTTP, as Docker does.
    pub async fn session(
        &self,
        registry: &str,
        repository: &str,
        creds: Option<Credentials>,
    ) -> Result<Session> {
        let host = if registry == "docker.io" {
            DOCKER_HUB_API
        } else {
            registry
        };
        let insecure = self.is_insecure(host, registry);
        let http = self.transport(host, !insecure)?;
        let mut base = format!("https://{host}");
        if insecure {
            let probe = Request::get(format!("{base}/v2/"))
                .header("User-Agent", USER_AGENT)
                .body(empty())
                .map_err(|e| RegistryError::Connect(e.to_string()))?;
            let speaks_tls = tokio::time::timeout(PROBE_TIMEOUT, http.request(probe))
                .await
                .is_ok_and(|r| r.is_ok());
            if !speaks_tls {
                base = format!("http://{host}");
            }
        }
        Ok(Session {
            http,
            registry: registry.to_string(),
            base,
            repository: repository.to_string(),
            creds,
            push: false,
            authorization: Mutex::new(None),
        })
    }

    /// Sessions for `repository` on each mirror of `registry`, in the configured order.
    /// A mirror is asked anonymously: credentials are for the registry itself.
    pub fn mirror_sessions(&self, registry: &str, repository: &str) -> Vec<Session> {
        let Some(urls) = self.settings.mirrors.get(registry) else {
            return vec![];
        };
        urls.iter()
            .filter_map(|url| {
                let mirror = Mirror::parse(url).ok()?;
                let verify = mirror.tls && !self.is_insecure(&mirror.host, &mirror.host);
                let http = self.transport(&mirror.host, verify).ok()?;
                Some(Session {
                    http,
                    registry: mirror.host.clone(),
                    base: mirror.base(),
                    repository: repository.to_string(),
                    creds: None,
                    push: false,
                    authorization: Mutex::new(None),
                })
            })
            .collect()
    }

    /// Checks credentials against a registry (`docker login`): its `/v2/` must accept them,
    /// directly (basic) or through its token service (bearer).
    pub async fn login(&self, registry: &str, creds: Credentials) -> Result<()> {
        let s = self.session(registry, "", Some(creds)).await?;
        let url = format!("{}/v2/", s.base);
        let resp = s.send(&url, None, None).await?;
        if resp.status().is_success() {
            return Ok(()); // an open registry accepts anyone
        }
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Err(RegistryError::Protocol {
                registry: registry.to_string(),
                message: format!("{url}: {}", resp.status()),
                status: Some(resp.status().as_u16()),
            });
        }
        let challenge =
            challenge_of(&resp).ok_or_else(|| RegistryError::Unauthorized(registry.to_string()))?;
        let challenge = match challenge {
            Challenge::Bearer { realm, service, .. } => Challenge::Bearer {
                realm,
                service,
                scope: Some(String::new()),
            },
            c => c,
        };
        let header = s.authorize(&challenge).await?;
        let resp = s.send(&url, None, Some(&header)).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(RegistryError::LoginFailed(format!(
                "login attempt to {url} failed with status: {}",
                resp.status()
            )))
        }
    }
}

/// Reads a whole body, refusing more than `limit` bytes.
pub async fn read_limited(resp: Response<Incoming>, limit: usize) -> Result<Bytes> {
    let limited = http_body_util::Limited::new(resp.into_body(), limit);
    limited
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| RegistryError::InvalidManifest(format!("response body: {e}")))
}

impl Session {
    async fn send(
        &self,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Response<Incoming>> {
        self.send_full(Method::GET, url, &[], accept, authorization, empty())
            .await
    }

    async fn send_full(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        accept: Option<&str>,
        authorization: Option<&str>,
        body: Body,
    ) -> Result<Response<Incoming>> {
        let mut b = Request::builder()
            .method(method.clone())
            .uri(url)
            .header("User-Agent", USER_AGENT);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        if let Some(a) = accept {
            b = b.header("Accept", a);
        }
        if let Some(a) = authorization {
            b = b.header("Authorization", a);
        }
        let req = b
            .body(body)
            .map_err(|e| RegistryError::Connect(e.to_string()))?;
        self.http.request(req).await.map_err(|e| {
            let verb = method.as_str().to_ascii_lowercase();
            let verb = format!("{}{}", verb[..1].to_ascii_uppercase(), &verb[1..]);
            RegistryError::Connect(format!("{verb} \"{url}\": {}", describe(&e)))
        })
    }

    /// `https://host` or `http://host`, as chosen when the session began.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{}", self.base, self.repository, path)
    }

    fn current_auth(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// GET `path` under this repository, answering one auth challenge and following
    /// redirects (without credentials, which belong to the registry only).
    pub async fn get(&self, path: &str, accept: Option<&str>) -> Result<Response<Incoming>> {
        self.get_from(path, accept, 0).await
    }

    /// Like `get`, asking for the bytes from offset `from` on (a Range request). The
    /// registry may ignore it and answer 200 with the whole body.
    pub async fn get_from(
        &self,
        path: &str,
        accept: Option<&str>,
        from: u64,
    ) -> Result<Response<Incoming>> {
        let range = [("Range", format!("bytes={from}-"))];
        let headers: &[(&str, String)] = if from > 0 { &range } else { &[] };
        let get = |url: String, auth: Option<String>| async move {
            self.send_full(Method::GET, &url, headers, accept, auth.as_deref(), empty())
                .await
        };
        let url = self.url(path);
        let mut resp = get(url.clone(), self.current_auth()).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let challenge = challenge_of(&resp)
                .ok_or_else(|| RegistryError::Unauthorized(self.repository.clone()))?;
            let header = self.authorize(&challenge).await?;
            *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Some(header.clone());
            resp = get(url, Some(header)).await?;
        }
        for _ in 0..5 {
            if !resp.status().is_redirection() {
                break;
            }
            let Some(loc) = resp
                .headers()
                .get("Location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
            else {
                break;
            };
            let next = if loc.starts_with('/') {
                format!("{}{loc}", self.base)
            } else {
                loc
            };
            resp = get(next, None).await?;
        }
        self.check(resp, path).await
    }

    /// Errors for what a registry answers when it refuses.
    pub async fn check(&self, resp: Response<Incoming>, what: &str) -> Result<Response<Incoming>> {
        match resp.status() {
            s if s.is_success() => Ok(resp),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(RegistryError::Unauthorized(self.repository.clone()))
            }
            StatusCode::NOT_FOUND => Err(RegistryError::ManifestUnknown(format!(
                "{}/{}",
                self.repository, what
            ))),
            s => {
                let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
                Err(RegistryError::Protocol {
                    registry: self.registry.clone(),
                    message: format!("{s}: {}", String::from_utf8_lossy(&body).trim()),
                    status: Some(s.as_u16()),
                })
            }
        }
    }

    /// Earns authorization up front (a streamed body cannot be sent twice).
    pub async fn authenticate(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.send(&url, None, None).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(());
        }
        let challenge = challenge_of(&resp)
            .ok_or_else(|| RegistryError::Unauthorized(self.repository.clone()))?;
        let challenge = match challenge {
            Challenge::Bearer { realm, service, .. } => Challenge::Bearer {
                realm,
                service,
                scope: None,
            },
            c => c,
        };
        let header = self.authorize(&challenge).await?;
        *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Some(header);
        Ok(())
    }

    /// Any method on a path under this repository, a path from the registry's root, or an
    /// upload URL, with the authorization earned so far. Any status is returned.
    pub async fn request(
        &self,
        method: Method,
        path_or_url: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Response<Incoming>> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else if path_or_url.starts_with('/') {
            format!("{}{path_or_url}", self.base)
        } else {
            self.url(path_or_url)
        };
        self.send_full(
            method,
            &url,
            headers,
            None,
            self.current_auth().as_deref(),
            body,
        )
        .await
    }

    async fn authorize(&self, challenge: &Challenge) -> Result<String> {
        match challenge {
            Challenge::Basic => self
                .creds
                .as_ref()
                .map(|c| c.basic_header())
                .ok_or_else(|| RegistryError::Unauthorized(self.repository.clone())),
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let access = if self.push { "pull,push" } else { "pull" };
                let scope = scope
                    .clone()
                    .unwrap_or_else(|| format!("repository:{}:{access}", self.repository));
                let q = url_query(&[
                    ("service", service.clone().unwrap_or_default()),
                    ("scope", scope),
                ]);
                let sep = if realm.contains('?') { '&' } else { '?' };
                let url = format!("{realm}{sep}{q}");
                let basic = self.creds.as_ref().map(|c| c.basic_header());
                let resp = self.send(&url, None, basic.as_deref()).await?;
                if !resp.status().is_success() {
                    return Err(RegistryError::Unauthorized(self.repository.clone()));
                }
                let body = read_limited(resp, 1 << 20).await?;
                let t: TokenResponse = serde_json::from_slice(&body)
                    .map_err(|e| RegistryError::InvalidManifest(format!("token response: {e}")))?;
                let token = t
                    .token
                    .or(t.access_token)
                    .ok_or_else(|| RegistryError::Unauthorized(self.repository.clone()))?;
                Ok(format!("Bearer {token}"))
            }
        }
    }
}

fn url_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.3.0.1"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
        let c = Client::new(vec![
            "registry.example:5000".into(),
            "10.1.0.0/16".into(),
            "plain.example".into(),
        ]);
        assert!(c.is_insecure("registry.example:5000", "registry.example:5000"));
        assert!(c.is_insecure("10.1.200.3:5000", "10.1.200.3:5000"));
        assert!(!c.is_insecure("10.2.0.1:5000", "10.2.0.1:5000"));
        assert!(c.is_insecure("plain.example:443", "plain.example:443"));
        assert!(!c.is_insecure(DOCKER_HUB_API, "docker.io"));
        assert!(c.is_insecure("127.0.0.1:5000", "127.0.0.1:5000"));
        assert_eq!(percent("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
