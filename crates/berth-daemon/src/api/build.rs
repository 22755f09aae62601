//! `POST /build`: the context as the body, the options as the query; Docker's JSON
//! messages streamed back (`{"stream": "Step 1/3 : ..."}`, `{"aux": {"ID": ...}}`,
//! `{"errorDetail": ...}`).

use super::body::{self, body_reader, channel_body, Query, Resp};
use crate::engine::build::{BuildMessage, BuildOptions};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_image::reference::Reference;
use bytes::Bytes;
use http::Request;
use hyper::body::Incoming;
use std::collections::BTreeMap;
use std::sync::Arc;

fn line(v: &serde_json::Value) -> Bytes {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

fn json_param<T: serde::de::DeserializeOwned + Default>(q: &Query, name: &str) -> Result<T> {
    match q.get(name).filter(|v| !v.is_empty() && *v != "null") {
        None => Ok(T::default()),
        Some(v) => serde_json::from_str(v)
            .map_err(|e| DaemonError::InvalidParameter(format!("invalid {name}: {e}"))),
    }
}

/// X-Registry-Config: `{"registry": {"username", "password"} or {"auth"}}` in base64,
/// keyed here by registry host (`https://index.docker.io/v1/` is `docker.io`).
fn registry_config(header: Option<&str>) -> BTreeMap<String, berth_registry::auth::Credentials> {
    use base64::Engine as _;
    let mut out = BTreeMap::new();
    let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return out;
    };
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::STANDARD,
    ];
    let Some(bytes) = engines.iter().find_map(|e| e.decode(h).ok()) else {
        return out;
    };
    let Ok(map) = serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(&bytes) else {
        return out;
    };
    for (server, v) in map {
        let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let (mut username, mut password) = (field("username"), field("password"));
        if username.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(field("auth"))
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            if let Some((u, p)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                (username, password) = (u.to_string(), p.to_string());
            }
        }
        if username.is_empty() {
            continue;
        }
        let host = server
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        let host = match host.as_str() {
            "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
            _ => host,
        };
        out.insert(
            host,
            berth_registry::auth::Credentials { username, password },
        );
    }
    out
}

/// The query, checked: every option is honoured or refused by name.
fn options(q: &Query) -> Result<(BuildOptions, bool)> {
    let refuse = |what: &str| Err(DaemonError::InvalidParameter(what.to_string()));
    if q.get("version").is_some_and(|v| v == "2") {
        return refuse("version=2: BuildKit is not supported by berth; use the classic builder (DOCKER_BUILDKIT=0)");
    }
    if q.get("outputs")
        .is_some_and(|o| !o.is_empty() && o != "null" && o != "[]")
    {
        return refuse("outputs: build outputs are a BuildKit feature berth does not have");
    }
    if q.flag("squash", false) {
        return refuse("squash: squashing images is not supported by berth");
    }
    if !matches!(q.get("isolation").unwrap_or(""), "" | "default") {
        return refuse("isolation: only the default isolation exists on Linux");
    }
    if !matches!(
        q.get("platform").unwrap_or(""),
        "" | "linux" | "linux/amd64"
    ) {
        return refuse("platform: berth builds for linux/amd64 only");
    }
    let cache_from: Vec<String> = json_param(q, "cachefrom")?;
    let mut tags = vec![];
    for t in q.all("t").into_iter().filter(|t| !t.is_empty()) {
        tags.push(
            Reference::parse_tagged(&t)
                .map_err(|e| DaemonError::InvalidParameter(format!("invalid tag {t:?}: {e}")))?,
        );
    }
    let build_args: BTreeMap<String, Option<String>> = json_param(q, "buildargs")?;
    let labels: BTreeMap<String, String> = json_param(q, "labels")?;
    let extra_hosts: Vec<String> = q
        .all("extrahosts")
        .iter()
        .flat_map(|h| h.split(','))
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    let pull = q.flag("pull", false);
    let int = |k: &str| -> Result<i64> { Ok(q.int(k)?.unwrap_or(0)) };
    Ok((
        BuildOptions {
            tags,
            dockerfile: q.get("dockerfile").unwrap_or("Dockerfile").to_string(),
            build_args,
            no_cache: q.flag("nocache", false),
            target: q
                .get("target")
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            labels,
            network_mode: match q.get("networkmode").unwrap_or("") {
                "" => "default".into(),
                m => m.to_string(),
            },
            extra_hosts,
            shm_size: int("shmsize")?,
            memory: int("memory")?,
            memory_swap: int("memswap")?,
            cpu_shares: int("cpushares")?,
            cpu_period: int("cpuperiod")?,
            cpu_quota: int("cpuquota")?,
            cpuset_cpus: q.get("cpusetcpus").unwrap_or("").to_string(),
            cpuset_mems: q.get("cpusetmems").unwrap_or("").to_string(),
            pull,
            // rm=false keeps the build containers, unless forcerm; by default they go,
            // a failed step's too (dockerd keeps that one unless forcerm).
            keep_containers: !q.flag("rm", true) && !q.flag("forcerm", false),
            registry_auth: BTreeMap::new(),
            cache_from,
            remote: q.get("remote").is_some_and(|r| !r.is_empty()),
        },
        q.flag("q", false),
    ))
}

pub async fn build(engine: &Arc<Engine>, q: &Query, req: Request<Incoming>) -> Result<Resp> {
    let (mut opts, quiet) = options(q)?;
    opts.registry_auth = registry_config(
        req.headers()
            .get("X-Registry-Config")
            .and_then(|v| v.to_str().ok()),
    );
    // The context: the body, or what the `remote` URL gives.
    let context = match q.get("remote").filter(|r| !r.is_empty()) {
        Some(url) => body_reader(engine.fetch_context(url).await?.into_body()),
        None => body_reader(req.into_body()),
    };
    let (out, body) = channel_body(16);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<BuildMessage>(64);
    let engine = engine.clone();
    let build = tokio::spawn(async move { engine.build(opts, Box::new(context), tx).await });
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let v = match m {
                BuildMessage::Stream(_) if quiet => continue,
                BuildMessage::Stream(s) => serde_json::json!({ "stream": s }),
                BuildMessage::Aux(id) => serde_json::json!({ "aux": { "ID": id } }),
            };
            if out.send(line(&v)).await.is_err() {
                break;
            }
        }
        let result = build.await.unwrap_or_else(|e| Err(DaemonError::system(e)));
        let last = match result {
            Ok(id) if quiet => serde_json::json!({ "stream": format!("{id}\n") }),
            Ok(_) => return,
            Err(e) => {
                let code = match &e {
                    DaemonError::BuildFailed { code, .. } => *code,
                    _ => 1,
                };
                serde_json::json!({
                    "errorDetail": { "code": code, "message": e.to_string() },
                    "error": e.to_string(),
                })
            }
        };
        let _ = out.send(line(&last)).await;
    });
    Ok(body::with_status(200, Some("application/json"), body))
}

/// `POST /build/prune`: the cache entries of images nothing uses (every entry with `all`;
/// berth keeps no storage budget), with the images only the cache kept.
pub async fn prune(engine: &Arc<Engine>, q: &Query) -> Result<Resp> {
    for limit in [
        "keep-storage",
        "reserved-space",
        "max-used-space",
        "min-free-space",
    ] {
        if q.int(limit)?.unwrap_or(0) != 0 {
            return Err(DaemonError::InvalidParameter(format!(
                "{limit}: berth's build cache has no storage budget; prune removes all of it"
            )));
        }
    }
    let filters = q.filters()?;
    if let Some(k) = filters.keys().next() {
        return Err(DaemonError::InvalidParameter(format!(
            "invalid filter '{k}': berth's build cache prune takes no filters"
        )));
    }
    let (deleted, reclaimed) = engine.build_prune(q.flag("all", false)).await?;
    Ok(body::json(
        200,
        &serde_json::json!({ "CachesDeleted": deleted, "SpaceReclaimed": reclaimed }),
    ))
}
