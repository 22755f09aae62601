use super::body::{channel_body, empty, read_json, with_status, Resp};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use std::sync::Arc;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct AuthRequest {
    username: String,
    password: String,
    serveraddress: String,
}

/// `POST /auth`: checks credentials against the registry (`docker login`).
pub async fn auth(engine: &Arc<Engine>, req: http::Request<hyper::body::Incoming>) -> Result<Resp> {
    let a: AuthRequest = read_json(req.into_body()).await?;
    if a.username.is_empty() {
        return Err(DaemonError::InvalidParameter(
            "a username is required".into(),
        ));
    }
    let server = a
        .serveraddress
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let server = match server {
        "" | "index.docker.io/v1" | "registry-1.docker.io" => "docker.io",
        s => s,
    };
    let creds = berth_registry::auth::Credentials {
        username: a.username,
        password: a.password,
    };
    engine.login(server, creds).await?;
    Ok(super::body::json(
        200,
        &serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}

pub fn ping(head: bool) -> Resp {
    let mut r = with_status(
        200,
        Some("text/plain; charset=utf-8"),
        if head {
            empty()
        } else {
            super::body::full("OK")
        },
    );
    let h = r.headers_mut();
    h.insert(
        "Cache-Control",
        http::HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", http::HeaderValue::from_static("no-cache"));
    h.insert(
        "Docker-Experimental",
        http::HeaderValue::from_static("false"),
    );
    h.insert("Builder-Version", http::HeaderValue::from_static("1"));
    r
}

/// `/events`: the stream stays open (berth does not publish events yet).
pub fn events() -> Resp {
    let (tx, body) = channel_body(1);
    tokio::spawn(async move { tx.closed().await });
    with_status(200, Some("application/json"), body)
}
