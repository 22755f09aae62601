//! HTTP → engine calls. Each handler parses its request, calls the engine, and turns the
//! result into Docker's response; errors become `{"message": ...}` with Docker's status.

mod archive;
pub mod body;
mod build;
mod containers;
mod detach;
mod exec;
mod hijack;
mod images;
mod networks;
mod system;
mod volumes;

use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use body::{error_response, Query, Resp};
use http::Request;
use hyper::body::Incoming;
use std::sync::Arc;

/// Removes a `/v1.xx` prefix, refusing versions berth does not speak.
pub fn strip_version(path: &str) -> Result<&str> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let Some(v) = parse(ver) else {
        return Ok(path); // not a version prefix
    };
    let max = parse(berth_api::API_VERSION).unwrap_or((1, 45));
    let min = parse(berth_api::MIN_API_VERSION).unwrap_or((1, 24));
    if v > max {
        return Err(DaemonError::InvalidParameter(format!(
            "client version {ver} is too new. Maximum supported API version is {}",
            berth_api::API_VERSION
        )));
    }
    if v < min {
        return Err(DaemonError::InvalidParameter(format!(
            "client version {ver} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
            berth_api::MIN_API_VERSION
        )));
    }
    Ok(tail)
}

/// The API version a request asked for in its path (`/v1.41/...`), else berth's own.
fn requested_version(path: &str) -> (u32, u32) {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    path.strip_prefix("/v")
        .and_then(|r| parse(r.split('/').next().unwrap_or("")))
        .or_else(|| parse(berth_api::API_VERSION))
        .unwrap_or((1, 45))
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
    let path = strip_version(&full_path)?.to_string();
    let q = Query::parse(req.uri().query());
    let method = req.method().clone();
    // Image names contain slashes, so image routes match on prefix and suffix.
    if let Some(rest) = path.strip_prefix("/images/") {
        if let Some(r) = images::route(&engine, &method, rest, &q, req).await {
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
        ("GET", ["version"]) => Ok(body::json(200, &engine.version())),
        ("GET", ["info"]) => Ok(body::json(200, &engine.info())),
        ("GET", ["events"]) => system::events(&engine, &q, requested_version(&full_path) < (1, 52)),
        ("POST", ["auth"]) => system::auth(&engine, req).await,
        ("GET", ["system", "df"]) => Ok(body::json(200, &engine.system_df(&q.all("type")).await?)),
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
        ("GET", ["networks", id]) => Ok(body::json(200, &engine.network_inspect(id)?)),
        ("POST", ["networks", id, "connect"]) => networks::connect(&engine, id, req).await,
        ("POST", ["networks", id, "disconnect"]) => networks::disconnect(&engine, id, req).await,
        ("DELETE", ["networks", id]) => {
            engine.network_remove(id).await?;
            Ok(body::no_content())
        }
        ("POST", ["containers", "create"]) => containers::create(&engine, &q, req).await,
        ("POST", ["commit"]) => containers::commit(&engine, &q, req).await,
        ("POST", ["build"]) => build::build(&engine, &q, req).await,
        ("POST", ["build", "prune"]) => build::prune(&engine, &q).await,
        ("GET", ["containers", "json"]) => containers::list(&engine, &q).await,
        ("POST", ["containers", "prune"]) => containers::prune(&engine, &q).await,
        ("GET", ["containers", id, "json"]) => Ok(body::json(200, &engine.inspect(id)?)),
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
        ("GET", ["containers", id, "stats"]) => containers::stats(&engine, id, &q),
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
        assert_eq!(
            strip_version("/v1.45/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.24/_ping").unwrap(), "/_ping");
        assert_eq!(
            strip_version("/containers/json").unwrap(),
            "/containers/json"
        );
        assert!(strip_version("/v1.99/info").is_err());
        assert!(strip_version("/v1.12/info").is_err());
        assert_eq!(strip_version("/volumes").unwrap(), "/volumes");
    }
}
