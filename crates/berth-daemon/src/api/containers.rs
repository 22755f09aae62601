use super::body::{self, channel_body, read_json, with_status, Query, Resp};
use super::hijack;
use crate::engine::query::LogOptions;
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_api::container::{ContainerPruneResponse, CreateRequest, WaitError, WaitResponse};
use berth_api::stream::encode_frame;
use bytes::Bytes;
use http::Request;
use hyper::body::Incoming;
use std::sync::Arc;

pub async fn create(
    engine: &Arc<Engine>,
    q: &Query,
    version: berth_api::version::ApiVersion,
    req: Request<Incoming>,
) -> Result<Resp> {
    let body: CreateRequest = read_json(req.into_body()).await?;
    // 1.52 dropped the container-wide MAC address: it is set per endpoint.
    if version.at_least(1, 52)
        && body
            .config
            .mac_address
            .as_ref()
            .is_some_and(|m| !m.is_empty())
    {
        return Err(DaemonError::InvalidParameter(
            "Config.MacAddress is not supported from API 1.52: set MacAddress in NetworkingConfig.EndpointsConfig".into(),
        ));
    }
    let empty_bindings: Vec<String> = body
        .host_config
        .port_bindings
        .iter()
        .flatten()
        .filter(|(_, b)| b.as_array().is_none_or(|a| a.is_empty()))
        .map(|(port, _)| port.clone())
        .collect();
    let options = crate::engine::create::CreateOptions {
        // Before 1.44 a read-only bind was read-only at its top mount only.
        read_only_top_only: !version.at_least(1, 44),
        ..Default::default()
    };
    let mut r = engine
        .create_container_with(q.get("name"), body, options)
        .await?;
    if version.at_least(1, 52) {
        for port in empty_bindings {
            r.warnings.push(format!(
                "Empty PortBindings list for port {port}: it is published on an ephemeral host port, a behaviour that is deprecated; give a PortBinding"
            ));
        }
    }
    Ok(body::json(201, &r))
}

pub async fn list(
    engine: &Arc<Engine>,
    q: &Query,
    version: berth_api::version::ApiVersion,
) -> Result<Resp> {
    let mut list = engine.list(q.flag("all", false), &q.filters()?, q.int("limit")?)?;
    if q.flag("size", false) {
        for c in &mut list {
            let (rw, root) = engine.container_sizes(&c.id, &c.image_id).await;
            c.size_rw = Some(rw);
            c.size_root_fs = Some(root);
        }
    }
    Ok(super::shaped(&list, |b| {
        super::compat::container_list(version, b)
    }))
}

pub async fn prune(engine: &Arc<Engine>, q: &Query) -> Result<Resp> {
    use crate::engine::prune_filter::{PruneFilter, Target};
    let filter = PruneFilter::parse(Target::Containers, &q.filters()?)?;
    let (removed, reclaimed) = engine.prune(&filter).await?;
    Ok(body::json(
        200,
        &ContainerPruneResponse {
            containers_deleted: removed,
            space_reclaimed: reclaimed,
        },
    ))
}

/// Headers go out at once (the docker CLI waits for them before it starts the
/// container); the body follows when the condition is met.
pub fn wait(engine: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp> {
    let fut = engine.wait(id, q.get("condition").unwrap_or(""))?;
    let (tx, body) = channel_body(1);
    tokio::spawn(async move {
        let resp = match fut.await {
            Ok(code) => WaitResponse {
                status_code: code,
                error: None,
            },
            Err(e) => WaitResponse {
                status_code: -1,
                error: Some(WaitError {
                    message: e.to_string(),
                }),
            },
        };
        if let Ok(mut v) = serde_json::to_vec(&resp) {
            v.push(b'\n');
            let _ = tx.send(Bytes::from(v)).await;
        }
    });
    Ok(with_status(200, Some("application/json"), body))
}

fn since(q: &Query, key: &str) -> Result<Option<f64>> {
    match q.get(key).filter(|s| !s.is_empty() && *s != "0") {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .map(Some)
            .or_else(|_| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .map(|t| Some(t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9))
            })
            .map_err(|_| DaemonError::InvalidParameter(format!("invalid value for {key}: {s}"))),
    }
}

pub fn logs(engine: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp> {
    let opts =
        LogOptions {
            stdout: q.flag("stdout", false),
            stderr: q.flag("stderr", false),
            follow: q.flag("follow", false),
            timestamps: q.flag("timestamps", false),
            tail: match q.get("tail") {
                None | Some("") | Some("all") => None,
                Some(n) => Some(n.parse().map_err(|_| {
                    DaemonError::InvalidParameter(format!("invalid tail value: {n}"))
                })?),
            },
            since: since(q, "since")?,
            until: since(q, "until")?,
        };
    if !opts.stdout && !opts.stderr {
        return Err(DaemonError::InvalidParameter(
            "Bad parameters: you must choose at least one stream".into(),
        ));
    }
    let (tty, mut rx) = engine.logs(id, opts)?;
    let (tx, body) = channel_body(16);
    tokio::spawn(async move {
        while let Some((kind, data)) = rx.recv().await {
            let chunk = if tty { data } else { encode_frame(kind, &data) };
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    Ok(with_status(200, Some(hijack::content_type(tty)), body))
}

/// An attach as a request asks for it: the log's replay first (`logs`), then the live
/// streams (`stream`), with the detach keys watched on stdin. Hijacked HTTP and the
/// WebSocket endpoint carry it alike.
pub(super) struct AttachPlan {
    tty: bool,
    stdin: bool,
    escape: Vec<u8>,
    replay: Option<tokio::sync::mpsc::Receiver<crate::engine::query::LogChunk>>,
    connect: Option<PendingSession>,
}

/// The engine's attach to the task, once the container runs (or at once).
type PendingSession = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<crate::engine::session::Session>>> + Send>,
>;

impl AttachPlan {
    pub(super) fn new(engine: &Arc<Engine>, id: &str, q: &Query) -> Result<Self> {
        let c = engine.get(id)?;
        let tty = c.record().config.tty;
        let (stdin, stdout, stderr) = (
            q.flag("stdin", false),
            q.flag("stdout", false),
            q.flag("stderr", false),
        );
        let (logs, stream) = (q.flag("logs", false), q.flag("stream", false));
        if !stream && !logs {
            return Err(DaemonError::InvalidParameter(
                "Bad parameters: you must choose at least one stream".into(),
            ));
        }
        let keys = q
            .get("detachKeys")
            .filter(|k| !k.is_empty())
            .unwrap_or(super::detach::DEFAULT);
        let escape = super::detach::parse(keys)?;
        // `logs`: what the log holds first (the `none` driver holds nothing); `stream`:
        // then the live output, else the attach ends there.
        let replay = if logs {
            engine
                .logs(
                    id,
                    LogOptions {
                        stdout,
                        stderr,
                        follow: false,
                        timestamps: false,
                        tail: None,
                        since: None,
                        until: None,
                    },
                )
                .ok()
                .map(|(_, rx)| rx)
        } else {
            None
        };
        let connect = stream.then(|| {
            Box::pin(engine.attach(
                &c,
                berth_runtime::task::AttachStreams {
                    stdin,
                    stdout,
                    stderr,
                },
            )) as _
        });
        Ok(AttachPlan {
            tty,
            stdin,
            escape,
            replay,
            connect,
        })
    }

    /// Replays, then proxies `input` and the live output to `out`: raw bytes for a TTY's
    /// output or when `raw` (a WebSocket's messages), else Docker's multiplexed frames.
    pub(super) async fn run<R, W>(self, input: R, out: &mut W, raw: bool)
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin,
    {
        use tokio::io::AsyncWriteExt;
        let raw = raw || self.tty;
        if let Some(mut rx) = self.replay {
            while let Some((kind, data)) = rx.recv().await {
                let chunk = if raw { data } else { encode_frame(kind, &data) };
                if out.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = out.flush().await;
        }
        if let Some(connect) = self.connect {
            if let Ok(Some(session)) = connect.await {
                let escape = self.stdin.then(|| super::detach::Escape::new(self.escape));
                hijack::proxy(session, input, out, raw, escape).await;
            }
        }
    }
}

pub async fn attach(
    engine: &Arc<Engine>,
    id: &str,
    q: &Query,
    mut req: Request<Incoming>,
) -> Result<Resp> {
    let plan = AttachPlan::new(engine, id, q)?;
    let tty = plan.tty;
    if !hijack::wants_upgrade(&req) {
        // Output only: no stdin to read, so no detach keys to watch.
        let plan = AttachPlan {
            stdin: false,
            ..plan
        };
        return Ok(hijack::stream_body(tty, move |w| {
            Box::pin(async move {
                let mut w = w;
                plan.run(tokio::io::empty(), &mut w, false).await;
            })
        }));
    }
    Ok(hijack::upgrade(
        &mut req,
        tty,
        hijack::FirstOutput::AtOnce,
        move |conn| async move {
            use tokio::io::AsyncWriteExt;
            let mut w = conn.output;
            plan.run(conn.input, &mut w, false).await;
            let _ = w.shutdown().await;
        },
    ))
}

/// `POST /commit`: the container's changes as a new image (201, its ID).
pub async fn commit(engine: &Arc<Engine>, q: &Query, req: Request<Incoming>) -> Result<Resp> {
    let container = q
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| DaemonError::InvalidParameter("container is required".into()))?
        .to_string();
    // A `null` or empty body is no Config.
    let config: Option<berth_api::container::Config> = body::read_json(req.into_body()).await?;
    let id = engine
        .commit(crate::engine::commit::CommitRequest {
            container,
            repo: q.get("repo").map(str::to_string),
            tag: q.get("tag").map(str::to_string),
            comment: q.get("comment").map(str::to_string),
            author: q.get("author").map(str::to_string),
            pause: q.flag("pause", true),
            changes: q.all("changes"),
            config,
        })
        .await?;
    Ok(body::json(201, &berth_api::exec::IdResponse { id }))
}

/// `GET /containers/{id}/stats`: one sample a second (`stream`, the default); with
/// `stream=0` one sample after a second's (so that CPU use can be worked out), with
/// `one-shot=1` too, one sample at once.
pub fn stats(
    engine: &Arc<Engine>,
    id: &str,
    q: &Query,
    version: berth_api::version::ApiVersion,
) -> Result<Resp> {
    use crate::engine::stats::to_json;
    let c = engine.get(id)?;
    let stream = q.flag("stream", true);
    let one_shot = q.flag("one-shot", false);
    if stream && one_shot {
        return Err(DaemonError::InvalidParameter(
            "cannot have stream=true and one-shot=true".into(),
        ));
    }
    let line = move |mut v: serde_json::Value| {
        super::compat::stats(version, &mut v);
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        bytes::Bytes::from(b)
    };
    if !stream {
        let first = engine.stats_sample(&c);
        if one_shot {
            return Ok(super::body::with_status(
                200,
                Some("application/json"),
                super::body::full(line(to_json(&c.name(), &c.id, &first, None))),
            ));
        }
        let (tx, body) = super::body::channel_body(1);
        let engine = engine.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let second = engine.stats_sample(&c);
            let _ = tx
                .send(line(to_json(&c.name(), &c.id, &second, Some(&first))))
                .await;
        });
        return Ok(super::body::with_status(
            200,
            Some("application/json"),
            body,
        ));
    }
    let (tx, body) = super::body::channel_body(2);
    let engine = engine.clone();
    tokio::spawn(async move {
        let mut pre: Option<crate::engine::stats::Sample> = None;
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = tx.closed() => return,
            }
            if engine.get(&c.id).is_err() {
                return; // removed
            }
            let sample = engine.stats_sample(&c);
            if tx
                .send(line(to_json(&c.name(), &c.id, &sample, pre.as_ref())))
                .await
                .is_err()
            {
                return;
            }
            pre = Some(sample);
        }
    });
    Ok(super::body::with_status(
        200,
        Some("application/json"),
        body,
    ))
}
