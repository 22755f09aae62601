//! HTTP → engine calls. Each handler parses its request, calls the engine, and turns the
//! result into Docker's response; errors become `{"message": ...}` with Docker's status.

mod archive;
pub mod body;
mod build;
mod compat;
mod containers;
mod detach;
mod exec;
mod hijack;
mod images;
mod networks;
mod platform;
mod system;
mod volumes;
pub mod websocket;

use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_api::version::ApiVersion;
use body::{error_response, Query, Resp};
use http::Request;
use hyper::body::Incoming;
use std::sync::Arc;

/// Splits a `/v1.xx` prefix off a path: the version it asks for (berth's own when there is
/// none) and the rest. Versions berth does not speak are refused as dockerd refuses them.
pub fn strip_version(path: &str) -> Result<(ApiVersion, &str)> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((ApiVersion::CURRENT, path));
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Ok(v) = ver.parse::<ApiVersion>() else {
        return Ok((ApiVersion::CURRENT, path)); // not a version prefix
    };
    if v > ApiVersion::CURRENT {
        return Err(DaemonError::InvalidParameter(format!(
            "client version {ver} is too new. Maximum supported API version is {}",
            ApiVersion::CURRENT
        )));
    }
    if v < ApiVersion::MIN {
        return Err(DaemonError::InvalidParameter(format!(
            "client version {ver} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            ApiVersion::MIN
        )));
    }
    Ok((v, tail))
}

/// `value` as JSON, shaped for the API version the client asked for.
fn shaped<T: serde::Serialize>(value: &T, shape: impl FnOnce(&mut serde_json::Value)) -> Resp {
    let mut v = serde_json::to_value(value).unwrap_or_default();
    shape(&mut v);
    body::json(200, &v)
}

pub async fn handle(engine: Arc<Engine>, req: Request<Incoming>) -> Resp {
    let mut resp = match route(engine, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    let h = resp.headers_mut();
    h.insert(
        "Api-Version",
        http::HeaderValue::from_static(berth_api::API_VERSION),
    );
    h.insert("Server", http::HeaderValue::from_static("berth"));
    h.insert("Ostype", http::HeaderValue::from_static("linux"));
    resp
}

/// A URL path with its `%XX` escapes decoded, as dockerd reads paths
/// (`/images/busybox%3Alatest/json`).
fn percent_decode(path: &str) -> Result<String> {
    let bad = || DaemonError::InvalidParameter(format!("invalid escape in URL path {path:?}"));
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let s = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// What a dockerd that is not in a swarm answers on the swarm endpoints.
const NOT_IN_SWARM: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

async fn route(engine: Arc<Engine>, req: Request<Incoming>) -> Result<Resp> {
    let full_path = percent_decode(req.uri().path())?;
    let (version, path) = strip_version(&full_path)?;
    let path = path.to_string();
    let q = Query::parse(req.uri().query());
    let method = req.method().clone();
    // Image names contain slashes, so image routes match on prefix and suffix.
    if let Some(rest) = path.strip_prefix("/images/") {
        if let Some(r) = images::route(&engine, version, &method, rest, &q, req).await {
            return r;
        }
        return Err(DaemonError::NotFound("page not found".into()));
    }
    if let Some(name) = path
        .strip_prefix("/distribution/")
        .and_then(|r| r.strip_suffix("/json"))
    {
        if method != http::Method::GET {
            return Err(DaemonError::NotFound("page not found".into()));
        }
        let creds = images::registry_auth(&req);
        let d = engine.distribution_inspect(name, creds).await?;
        return Ok(body::json(200, &d));
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method.as_str();
    match (m, segs.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => Ok(system::ping(m == "HEAD")),
        // Swarm mode: berth is a node that is not in a swarm, and cannot join one.
        ("POST", ["swarm", "init" | "join"]) => Err(DaemonError::NotImplemented(
            "berth does not run swarm mode".into(),
        )),
        (
            _,
            ["swarm", ..]
            | ["services", ..]
            | ["nodes", ..]
            | ["tasks", ..]
            | ["secrets", ..]
            | ["configs", ..],
        ) => Err(DaemonError::Unavailable(NOT_IN_SWARM.into())),
        // Plugins: none are installed, and none can be.
        ("GET", ["plugins"]) => Ok(body::json(200, &serde_json::json!([]))),
        (_, ["plugins", name, ..]) if !matches!(*name, "pull" | "privileges" | "create") => Err(
            DaemonError::NotFound(format!("plugin \"{name}\" not found")),
        ),
        (_, ["plugins", ..]) => Err(DaemonError::NotImplemented(
            "berth does not install plugins".into(),
        )),
        // dockerd's Go expvar and pprof: berth's own process figures, and no Go profiles.
        ("GET", ["debug", "vars"]) => Ok(body::json(200, &system::debug_vars())),
        (_, ["debug", "pprof", ..]) => Err(DaemonError::NotImplemented(
            "berth is not a Go program and has no pprof profiles; profile berthd with perf".into(),
        )),
        ("GET", ["version"]) => Ok(body::json(200, &engine.version())),
        ("GET", ["info"]) => Ok(shaped(&engine.info(), |b| compat::info(version, b))),
        ("GET", ["events"]) => system::events(&engine, &q, version, &req),
        ("POST", ["auth"]) => system::auth(&engine, req).await,
        ("GET", ["system", "df"]) => {
            let df = engine.system_df(&q.all("type")).await?;
            let verbose = q.flag("verbose", false);
            Ok(shaped(&df, |b| compat::system_df(version, verbose, b)))
        }
        ("GET", ["volumes"]) => volumes::list(&engine, &q),
        ("POST", ["volumes", "create"]) => volumes::create(&engine, req).await,
        ("POST", ["volumes", "prune"]) => volumes::prune(&engine, &q),
        ("GET", ["volumes", name]) => Ok(body::json(200, &engine.volume_inspect(name)?)),
        ("DELETE", ["volumes", name]) => {
            engine.volume_remove(name, q.flag("force", false))?;
            Ok(body::no_content())
        }
        ("GET", ["networks"]) => networks::list(&engine, &q),
        ("POST", ["networks", "create"]) => networks::create(&engine, req).await,
        ("POST", ["networks", "prune"]) => networks::prune(&engine, &q).await,
        ("GET", ["networks", id]) => Ok(shaped(&engine.network_inspect(id)?, |b| {
            compat::network_inspect(version, b)
        })),
        ("POST", ["networks", id, "connect"]) => networks::connect(&engine, id, req).await,
        ("POST", ["networks", id, "disconnect"]) => networks::disconnect(&engine, id, req).await,
        ("DELETE", ["networks", id]) => {
            engine.network_remove(id).await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", "create"]) => containers::create(&engine, &q, version, req).await,
        ("POST", ["commit"]) => containers::commit(&engine, &q, req).await,
        ("POST", ["build"]) => build::build(&engine, &q, req).await,
        ("POST", ["build", "prune"]) => build::prune(&engine, &q).await,
        ("GET", ["containers", "json"]) => containers::list(&engine, &q, version).await,
        ("POST", ["containers", "prune"]) => containers::prune(&engine, &q).await,
        ("GET", ["containers", id, "json"]) => Ok(shaped(&engine.inspect(id)?, |b| {
            compat::container_inspect(version, b)
        })),
        ("POST", ["containers", id, "start"]) => {
            engine.start(id).await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", id, "stop"]) => {
            engine
                .stop(id, q.get("signal"), q.int("t")?.or(q.int("timeout")?))
                .await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", id, "restart"]) => {
            engine
                .restart(id, q.get("signal"), q.int("t")?.or(q.int("timeout")?))
                .await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", id, "kill"]) => {
            engine.kill(id, q.get("signal")).await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", id, "wait"]) => containers::wait(&engine, id, &q),
        ("DELETE", ["containers", id]) => {
            engine
                .remove(id, q.flag("force", false), q.flag("v", false))
                .await?;
            Ok(body::no_content())
        }
        ("HEAD", ["containers", id, "archive"]) => archive::head(&engine, id, &q).await,
        ("GET", ["containers", id, "archive"]) => archive::get(&engine, id, &q).await,
        ("GET", ["containers", id, "export"]) => archive::export(&engine, id).await,
        ("GET", ["containers", id, "changes"]) => Ok(body::json(200, &engine.changes(id).await?)),
        ("PUT", ["containers", id, "archive"]) => archive::put(&engine, id, &q, req).await,
        ("GET", ["containers", id, "logs"]) => containers::logs(&engine, id, &q),
        ("POST", ["containers", id, "attach"]) => containers::attach(&engine, id, &q, req).await,
        ("GET", ["containers", id, "attach", "ws"]) => {
            websocket::attach(&engine, id, &q, version, req).await
        }
        ("POST", ["containers", id, "resize"]) => {
            let (h, w) = size(&q)?;
            engine.resize(id, h, w).await?;
            Ok(body::with_status(200, None, body::empty()))
        }
        ("POST", ["containers", id, "update"]) => {
            let body: serde_json::Map<String, serde_json::Value> =
                body::read_json(req.into_body()).await?;
            let warnings = engine.update(id, body).await?;
            Ok(body::json(
                200,
                &serde_json::json!({ "Warnings": warnings }),
            ))
        }
        ("GET", ["containers", id, "stats"]) => containers::stats(&engine, id, &q, version),
        ("GET", ["containers", id, "top"]) => Ok(body::json(
            200,
            &engine.top(id, q.get("ps_args").unwrap_or("")).await?,
        )),
        ("POST", ["containers", id, "rename"]) => {
            engine.rename(id, q.get("name").unwrap_or("")).await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", id, "pause"]) => {
            engine.set_paused(id, true).await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", id, "unpause"]) => {
            engine.set_paused(id, false).await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", id, "exec"]) => exec::create(&engine, id, req).await,
        ("POST", ["exec", id, "start"]) => exec::start(&engine, id, req).await,
        ("POST", ["exec", id, "resize"]) => {
            let (h, w) = size(&q)?;
            engine.exec_resize(id, h, w).await?;
            Ok(body::with_status(200, None, body::empty()))
        }
        ("GET", ["exec", id, "json"]) => Ok(body::json(200, &engine.exec_inspect(id)?)),
        _ => Err(DaemonError::NotFound("page not found".into())),
    }
}

fn size(q: &Query) -> Result<(u16, u16)> {
    let h = q.int("h")?.unwrap_or(0);
    let w = q.int("w")?.unwrap_or(0);
    let conv = |v: i64| {
        u16::try_from(v)
            .map_err(|_| DaemonError::InvalidParameter(format!("invalid terminal size: {v}")))
    };
    Ok((conv(h)?, conv(w)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefix() {
        let v = |s: &str| s.parse::<ApiVersion>().unwrap();
        assert_eq!(
            strip_version("/v1.45/containers/json").unwrap(),
            (v("1.45"), "/containers/json")
        );
        assert_eq!(
            strip_version("/v1.24/_ping").unwrap(),
            (v("1.24"), "/_ping")
        );
        assert_eq!(strip_version("/v1.55/info").unwrap().0, v("1.55"));
        assert_eq!(
            strip_version("/containers/json").unwrap(),
            (ApiVersion::CURRENT, "/containers/json")
        );
        assert!(strip_version("/v1.56/info").is_err());
        assert!(strip_version("/v1.12/info").is_err());
        assert_eq!(
            strip_version("/volumes").unwrap(),
            (ApiVersion::CURRENT, "/volumes")
        );
    }
}
