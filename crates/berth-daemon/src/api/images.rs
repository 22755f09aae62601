use super::body::{self, body_reader, channel_body, with_status, Query, Resp};
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use berth_api::image::{ImagePruneResponse, ProgressMessage};
use berth_api::version::ApiVersion;
use bytes::Bytes;
use http::{Method, Request};
use hyper::body::Incoming;
use std::sync::Arc;

/// Routes under `/images/`; `rest` is what follows it. None when nothing matches.
pub async fn route(
    engine: &Arc<Engine>,
    version: ApiVersion,
    method: &Method,
    rest: &str,
    q: &Query,
    req: Request<Incoming>,
) -> Option<Result<Resp>> {
    let m = method.as_str();
    Some(match (m, rest) {
        ("GET", "json") => list(engine, q, version).await,
        ("POST", "create") => create(engine, q, req).await,
        ("POST", "load") => load(engine, q, req).await,
        ("POST", "prune") => prune(engine, q).await,
        ("GET", "get") => save(engine, q.all("names"), q).await,
        ("GET", r) if r.ends_with("/json") => inspect(engine, &r[..r.len() - 5], q, version).await,
        ("GET", r) if r.ends_with("/attestations") && version.at_least(1, 55) => {
            attestations(engine, &r[..r.len() - 13], q).await
        }
        ("GET", r) if r.ends_with("/history") => history(engine, &r[..r.len() - 8], q).await,
        ("GET", r) if r.ends_with("/get") => {
            save(engine, vec![r[..r.len() - 4].to_string()], q).await
        }
        ("POST", r) if r.ends_with("/tag") => {
            let name = &r[..r.len() - 4];
            match q.get("repo") {
                None | Some("") => Err(DaemonError::InvalidParameter(
                    "repository name must have at least one component".into(),
                )),
                Some(repo) => engine
                    .image_tag(name, repo, q.get("tag"))
                    .await
                    .map(|_| with_status(201, None, body::empty())),
            }
        }
        ("POST", r) if r.ends_with("/push") => push(engine, &r[..r.len() - 5], q, &req).await,
        ("DELETE", name) if !name.is_empty() => delete(engine, name, q).await,
        _ => return None,
    })
}

pub(super) fn registry_auth(req: &Request<Incoming>) -> Option<berth_registry::auth::Credentials> {
    req.headers()
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .and_then(berth_registry::auth::Credentials::from_registry_auth)
}

/// Streams a registry operation's progress as Docker's JSON messages; its error last.
/// An operation that fails before it reports any progress answers with the error's HTTP
/// status instead, as dockerd does (a pull of an image that does not exist is a 404).
async fn progress_stream<F>(
    run: impl FnOnce(tokio::sync::mpsc::Sender<berth_registry::pull::Progress>) -> F + Send + 'static,
) -> Result<Resp>
where
    F: std::future::Future<Output = Result<String>> + Send + 'static,
{
    let (ptx, mut prx) = tokio::sync::mpsc::channel(64);
    let mut task = tokio::spawn(run(ptx));
    let first = tokio::select! {
        biased;
        p = prx.recv() => p,
        done = &mut task => {
            // Whatever it reported before it ended comes first.
            match prx.try_recv() {
                Ok(p) => Some(p),
                Err(_) => {
                    done.map_err(DaemonError::system)??;
                    return Ok(with_status(200, Some("application/json"), body::empty()));
                }
            }
        }
    };
    let Some(first) = first else {
        task.await.map_err(DaemonError::system)??;
        return Ok(with_status(200, Some("application/json"), body::empty()));
    };
    let (tx, body) = channel_body(16);
    tokio::spawn(async move {
        if tx.send(progress_line(&pull_message(first))).await.is_err() {
            return;
        }
        while let Some(p) = prx.recv().await {
            if tx.send(progress_line(&pull_message(p))).await.is_err() {
                return;
            }
        }
        let result = task.await.unwrap_or_else(|e| Err(DaemonError::system(e)));
        if let Err(e) = result {
            let _ = tx
                .send(progress_line(&ProgressMessage::error(e.to_string())))
                .await;
        }
    });
    Ok(with_status(200, Some("application/json"), body))
}

/// `POST /images/{name}/push?tag=`.
async fn push(
    engine: &Arc<Engine>,
    name: &str,
    q: &Query,
    req: &Request<Incoming>,
) -> Result<Resp> {
    berth_image::reference::Reference::parse(name).map_err(DaemonError::from)?;
    check_platform(engine, name, q, "platform", false).await?;
    let creds = registry_auth(req);
    let (engine, name, tag) = (
        engine.clone(),
        name.to_string(),
        q.get("tag").map(str::to_string),
    );
    progress_stream(move |p| async move { engine.push(&name, tag.as_deref(), creds, p).await })
        .await
}

async fn list(engine: &Arc<Engine>, q: &Query, version: ApiVersion) -> Result<Resp> {
    let mut filters = q.filters()?;
    if let Some(f) = q.get("filter").filter(|f| !f.is_empty()) {
        filters
            .entry("reference".into())
            .or_default()
            .push(f.to_string());
    }
    let images = engine.image_list(filters, q.flag("all", false)).await?;
    Ok(super::shaped(&images, |b| {
        super::compat::image_list(version, b)
    }))
}

/// Fails unless image `name` is of a platform `key` names (when it names any; only
/// then is the image read); `many` where the endpoint takes several.
async fn check_platform(
    engine: &Arc<Engine>,
    name: &str,
    q: &Query,
    key: &str,
    many: bool,
) -> Result<()> {
    let wanted = super::platform::requested(q, key, many)?;
    if !wanted.is_empty() {
        let i = engine.image_inspect(name).await?;
        super::platform::check(name, &i.os, &i.architecture, &wanted)?;
    }
    Ok(())
}

/// `GET /images/{name}/json`, shaped for the client's API version.
async fn inspect(engine: &Arc<Engine>, name: &str, q: &Query, version: ApiVersion) -> Result<Resp> {
    let wanted = super::platform::requested(q, "platform", false)?;
    let i = engine.image_inspect(name).await?;
    super::platform::check(name, &i.os, &i.architecture, &wanted)?;
    Ok(super::shaped(&i, |b| {
        super::compat::image_inspect(version, b)
    }))
}

async fn history(engine: &Arc<Engine>, name: &str, q: &Query) -> Result<Resp> {
    check_platform(engine, name, q, "platform", false).await?;
    let h = engine.image_history(name).await?;
    Ok(body::json(200, &h))
}

/// `DELETE /images/{name}`; `platforms` (1.50) must include the image's.
async fn delete(engine: &Arc<Engine>, name: &str, q: &Query) -> Result<Resp> {
    check_platform(engine, name, q, "platforms", true).await?;
    let items = engine.image_delete(name, q.flag("force", false)).await?;
    Ok(body::json(200, &items))
}

/// `GET /images/{name}/attestations` (1.55): the in-toto statements attached to the
/// image. berth's store keeps single-platform images without attestation manifests, so
/// an image it has has none; `platform` may name one platform, the image's.
async fn attestations(engine: &Arc<Engine>, name: &str, q: &Query) -> Result<Resp> {
    let wanted = super::platform::requested(q, "platform", false)?;
    let i = engine.image_inspect(name).await?;
    super::platform::check(name, &i.os, &i.architecture, &wanted)?;
    Ok(body::json(200, &serde_json::json!([])))
}

async fn prune(engine: &Arc<Engine>, q: &Query) -> Result<Resp> {
    use crate::engine::prune_filter::{PruneFilter, Target};
    let filter = PruneFilter::parse(Target::Images, &q.filters()?)?;
    let (deleted, reclaimed) = engine.image_prune(&filter).await?;
    Ok(body::json(
        200,
        &ImagePruneResponse {
            images_deleted: deleted,
            space_reclaimed: reclaimed,
        },
    ))
}

/// A pull's progress in Docker's JSON message form.
fn pull_message(p: berth_registry::pull::Progress) -> ProgressMessage {
    use berth_registry::pull::Progress as P;
    match p {
        P::Status { id, status } => ProgressMessage {
            id,
            ..ProgressMessage::status(status)
        },
        P::Layer {
            id,
            status,
            current,
            total,
        } => ProgressMessage {
            id: Some(id),
            progress_detail: Some(match (current, total) {
                (Some(c), Some(t)) => serde_json::json!({"current": c, "total": t}),
                _ => serde_json::json!({}),
            }),
            ..ProgressMessage::status(status)
        },
    }
}

fn progress_line(m: &ProgressMessage) -> Bytes {
    let mut v = serde_json::to_vec(m).unwrap_or_default();
    v.extend_from_slice(b"\r\n");
    Bytes::from(v)
}

/// `POST /images/create`: `fromSrc` imports a tarball; `fromImage` pulls.
async fn create(engine: &Arc<Engine>, q: &Query, req: Request<Incoming>) -> Result<Resp> {
    if let Some(src) = q.get("fromSrc") {
        if src != "-" {
            return Err(DaemonError::InvalidParameter(format!(
                "berth imports only from the request body (fromSrc=-), not from {src}"
            )));
        }
        let reader = body_reader(req.into_body());
        let (tx, body) = channel_body(4);
        let engine = engine.clone();
        let repo = q.get("repo").map(str::to_string);
        let tag = q.get("tag").map(str::to_string);
        let message = q
            .get("message")
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        let changes = q.all("changes");
        tokio::spawn(async move {
            let msg = match engine
                .image_import(reader, repo.as_deref(), tag.as_deref(), message, changes)
                .await
            {
                Ok(id) => ProgressMessage::status(id.to_string()),
                Err(e) => ProgressMessage::error(e.to_string()),
            };
            let _ = tx.send(progress_line(&msg)).await;
        });
        return Ok(with_status(200, Some("application/json"), body));
    }
    if let Some(image) = q.get("fromImage") {
        // A bad reference is a plain 400 before the stream starts.
        berth_image::reference::Reference::parse(image).map_err(DaemonError::from)?;
        let creds = registry_auth(&req);
        let (engine, image) = (engine.clone(), image.to_string());
        let (tag, platform) = (
            q.get("tag").map(str::to_string),
            q.get("platform").map(str::to_string),
        );
        return progress_stream(move |p| async move {
            engine
                .pull(&image, tag.as_deref(), platform.as_deref(), creds, p)
                .await
        })
        .await;
    }
    Err(DaemonError::InvalidParameter(
        "either fromSrc or fromImage must be given".into(),
    ))
}

async fn load(engine: &Arc<Engine>, q: &Query, req: Request<Incoming>) -> Result<Resp> {
    if !super::platform::requested(q, "platform", true)?.is_empty() {
        return Err(DaemonError::InvalidParameter(
            "platform: berth loads an archive whole; it cannot pick platforms out of it".into(),
        ));
    }
    let reader = body_reader(req.into_body());
    let (tx, body) = channel_body(4);
    let engine = engine.clone();
    tokio::spawn(async move {
        let lines: Vec<ProgressMessage> = match engine.image_load(reader).await {
            Ok(l) => l
                .tags
                .iter()
                .map(|t| ProgressMessage::stream(format!("Loaded image: {t}\n")))
                .chain(
                    l.untagged_ids
                        .iter()
                        .map(|i| ProgressMessage::stream(format!("Loaded image ID: {i}\n"))),
                )
                .collect(),
            Err(e) => vec![ProgressMessage::error(e.to_string())],
        };
        for l in lines {
            let _ = tx.send(progress_line(&l)).await;
        }
    });
    Ok(with_status(200, Some("application/json"), body))
}

async fn save(engine: &Arc<Engine>, names: Vec<String>, q: &Query) -> Result<Resp> {
    if names.is_empty() {
        return Err(DaemonError::InvalidParameter(
            "no images named to save".into(),
        ));
    }
    // 1.48 takes one platform, 1.52 several: each image must be one of them.
    for name in &names {
        check_platform(engine, name, q, "platform", true).await?;
    }
    // Resolve first, so an unknown name is a proper 404 rather than a broken stream.
    let images = engine.images_to_save(&names).await?;
    let (tx, body) = channel_body(8);
    let engine = engine.clone();
    tokio::spawn(async move {
        let w = std::io::BufWriter::with_capacity(256 * 1024, super::body::BlockingWriter(tx));
        let _ = engine.image_save(images, w).await;
    });
    Ok(with_status(200, Some("application/x-tar"), body))
}
