//! HTTP to a registry: scheme choice, the auth retry, redirects, bounded bodies.

use crate::auth::{parse_challenge, Challenge, Credentials, TokenResponse};
use crate::error::{RegistryError, Result};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use std::sync::Mutex;

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

#[derive(Clone)]
pub struct Client {
    http: HyperClient<HttpConnector, Body>,
    /// Registries reached over plain HTTP besides loopback ones (`--insecure-registry`).
    insecure: Vec<String>,
}

/// One repository on one registry, with the auth it has earned so far.
pub struct Session {
    client: Client,
    pub registry: String,
    base: String,
    pub repository: String,
    creds: Option<Credentials>,
    /// Asks token services for push access too.
    pub push: bool,
    authorization: Mutex<Option<String>>,
}

fn is_loopback(host: &str) -> bool {
    let h = host
        .rsplit_once(':')
        .map(|(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
        .unwrap_or(host);
    let h = h.trim_start_matches('[').trim_end_matches(']');
    h == "localhost" || h.starts_with("127.") || h == "::1"
}

fn challenge_of(resp: &Response<Incoming>) -> Option<Challenge> {
    resp.headers()
        .get("WWW-Authenticate")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_challenge)
}

impl Client {
    pub fn new(insecure: Vec<String>) -> Self {
        Self {
            http: HyperClient::builder(TokioExecutor::new()).build_http(),
            insecure,
        }
    }

    /// A session for `repository` on `registry` (`docker.io`, `localhost:5000`).
    pub fn session(
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
        let plain = is_loopback(host) || self.insecure.iter().any(|i| i == host || i == registry);
        if !plain {
            return Err(RegistryError::Connect(format!(
                "berth reaches {host} only over HTTPS, which it does not speak yet; a registry on loopback or named with --insecure-registry is used over plain HTTP"
            )));
        }
        Ok(Session {
            client: self.clone(),
            registry: registry.to_string(),
            base: format!("http://{host}"),
            repository: repository.to_string(),
            creds,
            push: false,
            authorization: Mutex::new(None),
        })
    }

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
            .method(method)
            .uri(url)
            .header("User-Agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
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
        self.http
            .request(req)
            .await
            .map_err(|e| RegistryError::Connect(format!("{url}: {e}")))
    }

    /// Checks credentials against a registry (`docker login`): its `/v2/` must accept them,
    /// directly (basic) or through its token service (bearer).
    pub async fn login(&self, registry: &str, creds: Credentials) -> Result<()> {
        let s = self.session(registry, "", Some(creds))?;
        let url = format!("{}/v2/", s.base);
        let resp = self.send(&url, None, None).await?;
        if resp.status().is_success() {
            return Ok(()); // an open registry accepts anyone
        }
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Err(RegistryError::Protocol {
                registry: registry.to_string(),
                message: format!("{url}: {}", resp.status()),
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
        let resp = self.send(&url, None, Some(&header)).await?;
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
        let url = self.url(path);
        let mut resp = self
            .client
            .send(&url, accept, self.current_auth().as_deref())
            .await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let challenge = challenge_of(&resp)
                .ok_or_else(|| RegistryError::Unauthorized(self.repository.clone()))?;
            let header = self.authorize(&challenge).await?;
            *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Some(header.clone());
            resp = self.client.send(&url, accept, Some(&header)).await?;
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
            resp = self.client.send(&next, accept, None).await?;
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
                })
            }
        }
    }

    /// Earns authorization up front (a streamed body cannot be sent twice).
    pub async fn authenticate(&self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let resp = self.client.send(&url, None, None).await?;
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
        self.client
            .send_full(
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
                if !url.starts_with("http://") {
                    return Err(RegistryError::Connect(format!(
                        "token service {realm} needs HTTPS, which berth does not speak yet"
                    )));
                }
                let basic = self.creds.as_ref().map(|c| c.basic_header());
                let resp = self.client.send(&url, None, basic.as_deref()).await?;
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
    fn loopback_is_plain_http_others_refused() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
        let c = Client::new(vec!["registry.example:5000".into()]);
        assert!(c.session("registry.example:5000", "a/b", None).is_ok());
        assert!(c.session("docker.io", "library/busybox", None).is_err());
        assert_eq!(percent("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
    }
}
