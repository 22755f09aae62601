//! Registry authentication: the `WWW-Authenticate` challenge, bearer tokens, basic auth.

use base64::Engine as _;
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    /// The `X-Registry-Auth` header docker clients send: base64url JSON with
    /// `username` and `password` (an empty or `{}` header means anonymous).
    pub fn from_registry_auth(header: &str) -> Option<Credentials> {
        let h = header.trim();
        if h.is_empty() {
            return None;
        }
        let bytes = base64::engine::general_purpose::URL_SAFE
            .decode(h)
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h.trim_end_matches('='))
            })
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(h))
            .ok()?;
        let c: Credentials = serde_json::from_slice(&bytes).ok()?;
        (!c.username.is_empty()).then_some(c)
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let mut realm = None;
            let mut service = None;
            let mut scope = None;
            // key="value" pairs; values may contain commas (scopes), so split on `",`.
            let mut s = rest.trim();
            while !s.is_empty() {
                let (k, after) = s.split_once('=')?;
                let after = after.trim_start();
                let (v, next) = if let Some(q) = after.strip_prefix('"') {
                    let end = q.find('"')?;
                    (&q[..end], q[end + 1..].trim_start_matches(',').trim_start())
                } else {
                    match after.split_once(',') {
                        Some((v, n)) => (v, n.trim_start()),
                        None => (after, ""),
                    }
                };
                match k.trim() {
                    "realm" => realm = Some(v.to_string()),
                    "service" => service = Some(v.to_string()),
                    "scope" => scope = Some(v.to_string()),
                    _ => {}
                }
                s = next;
            }
            Some(Challenge::Bearer {
                realm: realm?,
                service,
                scope,
            })
        }
        _ => None,
    }
}

#[derive(Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub access_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:library/busybox:pull,push""#).unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:library/busybox:pull,push".into())
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(
            parse_challenge("Bearer service=x"),
            None,
            "a bearer challenge needs a realm"
        );
    }

    #[test]
    fn registry_auth_header() {
        let h = base64::engine::general_purpose::URL_SAFE
            .encode(r#"{"username":"u","password":"p","serveraddress":"x"}"#);
        assert_eq!(
            Credentials::from_registry_auth(&h),
            Some(Credentials {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(Credentials::from_registry_auth("e30="), None);
        assert_eq!(Credentials::from_registry_auth(""), None);
        assert_eq!(Credentials::from_registry_auth("!!!"), None);
        assert_eq!(
            Credentials {
                username: "a".into(),
                password: "b".into()
            }
            .basic_header(),
            "Basic YTpi"
        );
    }
}
