use super::body::{channel_body, empty, read_json, with_status, Query, Resp};
use super::compat::EventFraming;
use crate::engine::events::{now_nanos, parse_timestamp, Filter, Message};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_api::version::ApiVersion;
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

/// `GET /events`: the journal's events from `since`, then live ones as they happen,
/// until `until` (or the client leaves); one JSON object per line.
/// `GET /events`. Before 1.52 each message also carries the deprecated `status`, `id`
/// and `from`; from 1.52 the client's `Accept` chooses the framing.
pub fn events(
    engine: &Arc<Engine>,
    q: &Query,
    version: ApiVersion,
    req: &http::Request<hyper::body::Incoming>,
) -> Result<Resp> {
    let legacy_fields = !version.at_least(1, 52);
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let framing = EventFraming::negotiate(version, accept);
    let time = |key: &str| -> Result<Option<i64>> {
        match q.get(key).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => parse_timestamp(key, s)
                .map(Some)
                .map_err(DaemonError::InvalidParameter),
        }
    };
    let since = time("since")?;
    let until = time("until")?;
    let filter = Filter::new(q.filters()?).map_err(DaemonError::InvalidParameter)?;
    // As dockerd: an `until` without `since` replays the journal from its start.
    let mut sub = engine.subscribe_events(since.or(until.map(|_| 0)));
    let (tx, body) = channel_body(64);
    let line = move |m: &Message| {
        let v = serde_json::to_vec(&m.to_json(legacy_fields)).unwrap_or_default();
        bytes::Bytes::from(framing.frame(v))
    };
    let wanted = move |m: &Message| {
        since.is_none_or(|s| m.time_nano >= s)
            && until.is_none_or(|u| m.time_nano <= u)
            && filter.matches(m)
    };
    tokio::spawn(async move {
        for m in sub.past.iter().filter(|m| wanted(m)) {
            if tx.send(line(m)).await.is_err() {
                return;
            }
        }
        let now = now_nanos();
        let deadline = match until {
            Some(u) if u <= now => return,
            Some(u) => Some(
                tokio::time::Instant::now() + std::time::Duration::from_nanos((u - now) as u64),
            ),
            None => None,
        };
        let ended = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(ended);
        loop {
            let m = tokio::select! {
                m = sub.live.recv() => m,
                _ = &mut ended => return,
                _ = tx.closed() => return,
            };
            match m {
                Ok(m) if m.seq > sub.after_seq && wanted(&m) => {
                    if tx.send(line(&m)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                // A client too slow for the bus misses events, as with dockerd's.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Ok(with_status(200, Some(framing.content_type()), body))
}

/// `GET /debug/vars`: what dockerd's expvar gives that is not Go's own (`cmdline`), and
/// the daemon process's figures from /proc.
pub fn debug_vars() -> serde_json::Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    serde_json::json!({
        "cmdline": std::env::args().collect::<Vec<_>>(),
        "process": {
            "rss_bytes": field("VmRSS:") * 1024,
            "threads": field("Threads:"),
            "open_fds": std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0),
        },
    })
}
