//! `berth registry serve`: the OCI distribution API over HTTP/1.1, on the same content
//! store code as the daemon. Blobs verified on upload, manifests checked for the blobs
//! they reference, the spec's error codes.

pub mod htpasswd;
pub mod storage;

use berth_image::Digest;
use berth_registry::manifest::{self, Fetched};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::io::{Read, Seek};
use std::sync::Arc;
use storage::{valid_name, valid_tag, Storage};

type Body = BoxBody<Bytes, std::io::Error>;
type Resp = Response<Body>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn respond(status: StatusCode, headers: &[(&str, String)], body: Body) -> Resp {
    let mut b = Response::builder()
        .status(status)
        .header("Docker-Distribution-API-Version", "registry/2.0");
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    b.body(body)
        .unwrap_or_else(|_| Response::new(full(Bytes::new())))
}

/// The spec's error body: `{"errors":[{"code","message","detail"}]}`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Resp {
    let body =
        serde_json::json!({"errors": [{"code": code, "message": message.into(), "detail": null}]});
    respond(
        status,
        &[("Content-Type", "application/json".into())],
        full(body.to_string()),
    )
}

/// Where and how `berth registry serve` listens.
pub struct ServeOptions<'a> {
    pub addr: &'a str,
    pub root: &'a std::path::Path,
    /// Every request needs basic auth from this htpasswd file.
    pub htpasswd: Option<&'a std::path::Path>,
    /// HTTPS with these certificates.
    pub tls: Option<berth_registry::tls::ServerFiles<'a>>,
}

/// Runs the registry until the process ends.
pub async fn serve(opts: ServeOptions<'_>) -> std::io::Result<()> {
    let storage = Arc::new(Storage::open(opts.root)?);
    let auth = Arc::new(opts.htpasswd.map(htpasswd::Htpasswd::load).transpose()?);
    let tls = opts
        .tls
        .map(berth_registry::tls::server_config)
        .transpose()?
        .map(|c| tokio_rustls::TlsAcceptor::from(Arc::new(c)));
    let listener = tokio::net::TcpListener::bind(opts.addr).await?;
    eprintln!(
        "berth registry: serving {} on {}://{}",
        opts.root.display(),
        if tls.is_some() { "https" } else { "http" },
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let (storage, auth, tls) = (storage.clone(), auth.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                // A failed handshake ends only that connection.
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(stream, storage, auth).await;
                    }
                }
                None => serve_connection(stream, storage, auth).await,
            }
        });
    }
}

async fn serve_connection<IO>(io: IO, storage: Arc<Storage>, auth: Arc<Option<htpasswd::Htpasswd>>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let storage = storage.clone();
        let auth = auth.clone();
        async move {
            if let Some(a) = auth.as_ref() {
                let header = req
                    .headers()
                    .get("Authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let a_ok = tokio::task::block_in_place(|| a.allows(header.as_deref()));
                if !a_ok {
                    let mut r = error(
                        StatusCode::UNAUTHORIZED,
                        "UNAUTHORIZED",
                        "authentication required",
                    );
                    r.headers_mut().insert(
                        "WWW-Authenticate",
                        http::HeaderValue::from_static("Basic realm=\"berth registry\""),
                    );
                    return Ok::<_, std::convert::Infallible>(r);
                }
            }
            Ok::<_, std::convert::Infallible>(handle(&storage, req).await)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// What a path under `/v2/` names.
#[derive(Debug, PartialEq)]
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Uploads(&'a str),
    Upload(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let p = path.strip_prefix("/v2")?;
    if p.is_empty() || p == "/" {
        return Some(Route::Base);
    }
    let p = p.strip_prefix('/')?;
    if p == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = p.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some((name, d)) = p.rsplit_once("/referrers/") {
        return Some(Route::Referrers(name, d));
    }
    if let Some((name, r)) = p.rsplit_once("/manifests/") {
        return Some(Route::Manifest(name, r));
    }
    if let Some(name) = p
        .strip_suffix("/blobs/uploads/")
        .or_else(|| p.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::Uploads(name));
    }
    if let Some((name, id)) = p.rsplit_once("/blobs/uploads/") {
        return Some(Route::Upload(name, id));
    }
    if let Some((name, d)) = p.rsplit_once("/blobs/") {
        return Some(Route::Blob(name, d));
    }
    None
}

fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                .map(|(k, v)| (k.to_string(), percent_decode(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

/// `?n=&last=` over a sorted list; returns the page and whether more follow.
fn paginate(all: Vec<String>, q: &[(String, String)]) -> (Vec<String>, bool) {
    let start = param(q, "last")
        .map(|l| all.iter().position(|x| x.as_str() > l).unwrap_or(all.len()))
        .unwrap_or(0);
    let rest = all[start..].to_vec();
    match param(q, "n").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) if rest.len() > n => (rest[..n].to_vec(), true),
        _ => (rest, false),
    }
}

async fn handle(s: &Arc<Storage>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let Some(r) = route(&path) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "not found");
    };
    let name = match &r {
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Uploads(n)
        | Route::Upload(n, _)
        | Route::Blob(n, _)
        | Route::Referrers(n, _) => Some(*n),
        _ => None,
    };
    if let Some(n) = name {
        if !valid_name(n) {
            return error(
                StatusCode::BAD_REQUEST,
                "NAME_INVALID",
                format!("invalid repository name {n:?}"),
            );
        }
    }
    let method = req.method().clone();
    match (method.clone(), r) {
        (Method::GET | Method::HEAD, Route::Base) => respond(
            StatusCode::OK,
            &[("Content-Type", "application/json".into())],
            full("{}"),
        ),
        (Method::GET, Route::Catalog) => {
            let q = query(&req);
            let (repos, more) = paginate(s.catalog(), &q);
            let mut headers = vec![("Content-Type", "application/json".to_string())];
            if more {
                let last = repos.last().cloned().unwrap_or_default();
                headers.push((
                    "Link",
                    format!("</v2/_catalog?n={}&last={last}>; rel=\"next\"", repos.len()),
                ));
            }
            respond(
                StatusCode::OK,
                &headers,
                full(serde_json::json!({"repositories": repos}).to_string()),
            )
        }
        (Method::GET, Route::Tags(n)) => {
            if !s.repo_exists(n) {
                return error(
                    StatusCode::NOT_FOUND,
                    "NAME_UNKNOWN",
                    format!("repository {n} is not known"),
                );
            }
            let q = query(&req);
            let (tags, more) = paginate(s.tags(n), &q);
            let mut headers = vec![("Content-Type", "application/json".to_string())];
            if more {
                let last = tags.last().cloned().unwrap_or_default();
                headers.push((
                    "Link",
                    format!(
                        "</v2/{n}/tags/list?n={}&last={last}>; rel=\"next\"",
                        tags.len()
                    ),
                ));
            }
            respond(
                StatusCode::OK,
                &headers,
                full(serde_json::json!({"name": n, "tags": tags}).to_string()),
            )
        }
        (Method::GET | Method::HEAD, Route::Manifest(n, reference)) => {
            match s.get_manifest(n, reference) {
                Some((d, media, body)) => {
                    let headers = [
                        ("Content-Type", media),
                        ("Docker-Content-Digest", d.to_string()),
                        ("Content-Length", body.len().to_string()),
                    ];
                    let body = if method == Method::HEAD {
                        full(Bytes::new())
                    } else {
                        full(body)
                    };
                    respond(StatusCode::OK, &headers, body)
                }
                None => error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    format!("manifest {reference} of {n} is not known"),
                ),
            }
        }
        (Method::PUT, Route::Manifest(n, reference)) => put_manifest(s, n, reference, req).await,
        (Method::GET, Route::Referrers(n, d)) => referrers(s, n, d, &query(&req)),
        (Method::DELETE, Route::Manifest(n, reference)) => match reference.parse::<Digest>() {
            Ok(d) => match s.delete_manifest(n, &d) {
                Ok(true) => respond(StatusCode::ACCEPTED, &[], full(Bytes::new())),
                Ok(false) => error(
                    StatusCode::NOT_FOUND,
                    "MANIFEST_UNKNOWN",
                    "manifest is not known",
                ),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string()),
            },
            Err(_) => error(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "manifests are deleted by digest",
            ),
        },
        (Method::GET | Method::HEAD, Route::Blob(n, d)) => {
            get_blob(s, n, d, &req, method == Method::HEAD)
        }
        (Method::DELETE, Route::Blob(n, d)) => match d.parse::<Digest>() {
            Ok(d) => match s.unlink_blob(n, &d) {
                Ok(true) => respond(StatusCode::ACCEPTED, &[], full(Bytes::new())),
                _ => error(StatusCode::NOT_FOUND, "BLOB_UNKNOWN", "blob is not known"),
            },
            Err(_) => error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "invalid digest"),
        },
        (Method::POST, Route::Uploads(n)) => start_upload(s, n, req).await,
        (Method::PATCH, Route::Upload(n, id)) => patch_upload(s, n, id, req).await,
        (Method::PUT, Route::Upload(n, id)) => finish_upload(s, n, id, req).await,
        (Method::GET, Route::Upload(n, id)) => match s.upload_size(id) {
            Some(size) => respond(
                StatusCode::NO_CONTENT,
                &upload_headers(n, id, size),
                full(Bytes::new()),
            ),
            None => error(
                StatusCode::NOT_FOUND,
                "BLOB_UPLOAD_UNKNOWN",
                "upload is not known",
            ),
        },
        (Method::DELETE, Route::Upload(_, id)) => {
            if s.cancel_upload(id) {
                respond(StatusCode::NO_CONTENT, &[], full(Bytes::new()))
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    "BLOB_UPLOAD_UNKNOWN",
                    "upload is not known",
                )
            }
        }
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "the operation is unsupported",
        ),
    }
}

fn upload_headers(n: &str, id: &str, size: u64) -> Vec<(&'static str, String)> {
    vec![
        ("Location", format!("/v2/{n}/blobs/uploads/{id}")),
        ("Docker-Upload-UUID", id.to_string()),
        ("Range", format!("0-{}", size.saturating_sub(1))),
        ("Content-Length", "0".into()),
    ]
}

/// Appends a request body to an upload, chunk by chunk.
async fn append_body(s: &Storage, id: &str, body: Incoming) -> Result<u64, Resp> {
    let mut body = body;
    let mut size = s.upload_size(id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "upload is not known",
        )
    })?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "BLOB_UPLOAD_INVALID",
                e.to_string(),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            size = s
                .append_upload(id, &data)
                .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string()))?;
        }
    }
    Ok(size)
}

async fn start_upload(s: &Arc<Storage>, n: &str, req: Request<Incoming>) -> Resp {
    let q = query(&req);
    if let (Some(mount), Some(from)) = (param(&q, "mount"), param(&q, "from")) {
        if let Ok(d) = mount.parse::<Digest>() {
            if s.blob_in(from, &d) {
                if let Err(e) = s.link_blob(n, &d) {
                    return error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string());
                }
                return respond(
                    StatusCode::CREATED,
                    &[
                        ("Location", format!("/v2/{n}/blobs/{d}")),
                        ("Docker-Content-Digest", d.to_string()),
                    ],
                    full(Bytes::new()),
                );
            }
        }
        // Not mountable: fall back to a normal upload, as the spec says.
    }
    let id = match s.new_upload() {
        Ok(id) => id,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string()),
    };
    if let Some(d) = param(&q, "digest").map(str::to_string) {
        // Monolithic: the whole blob is this request's body.
        return finish_with(s, n, &id, &d, req.into_body()).await;
    }
    respond(
        StatusCode::ACCEPTED,
        &upload_headers(n, &id, 0),
        full(Bytes::new()),
    )
}

async fn patch_upload(s: &Arc<Storage>, n: &str, id: &str, req: Request<Incoming>) -> Resp {
    let Some(current) = s.upload_size(id) else {
        return error(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "upload is not known",
        );
    };
    // A chunk must start where the upload ends.
    if let Some(range) = req
        .headers()
        .get("Content-Range")
        .and_then(|v| v.to_str().ok())
    {
        let start = range
            .trim_start_matches("bytes ")
            .split('-')
            .next()
            .and_then(|x| x.parse::<u64>().ok());
        if start != Some(current) {
            return respond(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &upload_headers(n, id, current),
                full(Bytes::new()),
            );
        }
    }
    match append_body(s, id, req.into_body()).await {
        Ok(size) => respond(
            StatusCode::ACCEPTED,
            &upload_headers(n, id, size),
            full(Bytes::new()),
        ),
        Err(r) => r,
    }
}

async fn finish_upload(s: &Arc<Storage>, n: &str, id: &str, req: Request<Incoming>) -> Resp {
    let q = query(&req);
    let Some(d) = param(&q, "digest").map(str::to_string) else {
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "a digest is required to finish an upload",
        );
    };
    finish_with(s, n, id, &d, req.into_body()).await
}

async fn finish_with(s: &Arc<Storage>, n: &str, id: &str, digest: &str, body: Incoming) -> Resp {
    let Ok(d) = digest.parse::<Digest>() else {
        s.cancel_upload(id);
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("invalid digest {digest:?}"),
        );
    };
    if let Err(r) = append_body(s, id, body).await {
        return r;
    }
    let (storage, upload, expected) = (s.clone(), id.to_string(), d.clone());
    let done = tokio::task::spawn_blocking(move || storage.finish_upload(&upload, &expected)).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", e),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string()),
    }
    if let Err(e) = s.link_blob(n, &d) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string());
    }
    respond(
        StatusCode::CREATED,
        &[
            ("Location", format!("/v2/{n}/blobs/{d}")),
            ("Docker-Content-Digest", d.to_string()),
            ("Content-Length", "0".into()),
        ],
        full(Bytes::new()),
    )
}

fn get_blob(s: &Arc<Storage>, n: &str, d: &str, req: &Request<Incoming>, head: bool) -> Resp {
    let Ok(d) = d.parse::<Digest>() else {
        return error(StatusCode::BAD_REQUEST, "DIGEST_INVALID", "invalid digest");
    };
    if !s.has_blob(n, &d) {
        return error(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            format!("blob {d} is not known to {n}"),
        );
    }
    let size = s.content.size(&d).unwrap_or(0);
    let (start, end) = match req
        .headers()
        .get("Range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
    {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let a: u64 = a.parse().unwrap_or(0);
            let b: u64 = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                b.parse().unwrap_or(size.saturating_sub(1))
            };
            if a >= size || b < a {
                return respond(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    &[("Content-Range", format!("bytes */{size}"))],
                    full(Bytes::new()),
                );
            }
            (a, b.min(size.saturating_sub(1)))
        }
        None => (0, size.saturating_sub(1)),
    };
    let partial = req.headers().contains_key("Range");
    let len = if size == 0 { 0 } else { end - start + 1 };
    let mut headers = vec![
        ("Content-Type", "application/octet-stream".to_string()),
        ("Docker-Content-Digest", d.to_string()),
        ("Content-Length", len.to_string()),
        ("Accept-Ranges", "bytes".to_string()),
    ];
    if partial {
        headers.push(("Content-Range", format!("bytes {start}-{end}/{size}")));
    }
    let status = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    if head || len == 0 {
        return respond(status, &headers, full(Bytes::new()));
    }
    let file = match s.content.open_blob(&d) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string()),
    };
    respond(status, &headers, stream_file(file, start, len))
}

/// A file range as a streamed body, read on a blocking thread.
fn stream_file(mut file: std::fs::File, start: u64, len: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = file.seek(std::io::SeekFrom::Start(start)) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        let mut left = len;
        while left > 0 {
            let mut buf = vec![0u8; (256 * 1024).min(left as usize)];
            match file.read(&mut buf) {
                Ok(0) => return,
                Ok(k) => {
                    buf.truncate(k);
                    left -= k as u64;
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    struct Chan(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);
    impl http_body::Body for Chan {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<std::io::Result<http_body::Frame<Bytes>>>> {
            self.0
                .poll_recv(cx)
                .map(|o| o.map(|r| r.map(http_body::Frame::data)))
        }
    }
    Chan(rx).boxed()
}

async fn put_manifest(s: &Arc<Storage>, n: &str, reference: &str, req: Request<Incoming>) -> Resp {
    let ct = req
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match http_body_util::Limited::new(req.into_body(), manifest::MAX_MANIFEST)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "SIZE_INVALID",
                "the manifest is too large",
            )
        }
    };
    let tag = match reference.parse::<Digest>() {
        Ok(d) => {
            if d != Digest::of(&body) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "DIGEST_INVALID",
                    "the manifest does not match its digest",
                );
            }
            None
        }
        Err(_) if valid_tag(reference) => Some(reference),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "TAG_INVALID",
                format!("invalid tag {reference:?}"),
            )
        }
    };
    // Every blob (or manifest) it references must already be in this repository.
    match manifest::parse_any(&ct, &body) {
        Ok(Fetched::Manifest(m)) => {
            for d in std::iter::once(&m.config).chain(&m.layers) {
                if !s.has_blob(n, &d.digest) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "MANIFEST_BLOB_UNKNOWN",
                        format!("blob {} is not in {n}", d.digest),
                    );
                }
            }
        }
        Ok(Fetched::Index(i)) => {
            for d in &i.manifests {
                if s.get_manifest(n, d.digest.as_str()).is_none() {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "MANIFEST_UNKNOWN",
                        format!("manifest {} is not in {n}", d.digest),
                    );
                }
            }
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", e.to_string()),
    }
    // It parsed, so this is one of the four manifest and index kinds.
    let media = manifest::media_type(&ct, &body);
    let subject = storage::subject_of(&body);
    match s.put_manifest(n, &media, &body, tag, subject.as_ref()) {
        Ok(d) => {
            let mut headers = vec![
                ("Location", format!("/v2/{n}/manifests/{d}")),
                ("Docker-Content-Digest", d.to_string()),
                ("Content-Length", "0".into()),
            ];
            // Tells the client this registry indexes referrers itself.
            if let Some(subject) = subject {
                headers.push(("OCI-Subject", subject.to_string()));
            }
            respond(StatusCode::CREATED, &headers, full(Bytes::new()))
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", e.to_string()),
    }
}

/// `GET /v2/<name>/referrers/<digest>`: an index of the manifests whose subject is
/// `digest`, optionally only those of one `artifactType`.
fn referrers(s: &Storage, n: &str, digest: &str, q: &[(String, String)]) -> Resp {
    let Ok(subject) = digest.parse::<Digest>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("invalid digest {digest:?}"),
        );
    };
    let filter = param(q, "artifactType").filter(|f| !f.is_empty());
    let mut manifests = vec![];
    for d in s.referrers(n, &subject) {
        let Some((d, media, body)) = s.get_manifest(n, d.as_str()) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
            continue;
        };
        // Without an artifactType, an artifact is known by its config's media type.
        let artifact_type = v
            .get("artifactType")
            .or_else(|| v.get("config").and_then(|c| c.get("mediaType")))
            .and_then(|t| t.as_str());
        if filter.is_some_and(|f| Some(f) != artifact_type) {
            continue;
        }
        let mut desc = serde_json::json!({
            "mediaType": media,
            "digest": d.as_str(),
            "size": body.len(),
        });
        if let Some(t) = artifact_type {
            desc["artifactType"] = t.into();
        }
        if let Some(a) = v.get("annotations") {
            desc["annotations"] = a.clone();
        }
        manifests.push(desc);
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_INDEX,
        "manifests": manifests,
    });
    let mut headers = vec![("Content-Type", manifest::OCI_INDEX.to_string())];
    if filter.is_some() {
        headers.push(("OCI-Filters-Applied", "artifactType".into()));
    }
    respond(StatusCode::OK, &headers, full(index.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/v2/"), Some(Route::Base));
        assert_eq!(route("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(route("/v2/a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(
            route("/v2/a/b/manifests/v1"),
            Some(Route::Manifest("a/b", "v1"))
        );
        assert_eq!(route("/v2/a/blobs/uploads/"), Some(Route::Uploads("a")));
        assert_eq!(
            route("/v2/a/blobs/uploads/abc"),
            Some(Route::Upload("a", "abc"))
        );
        assert_eq!(
            route("/v2/a/b/blobs/sha256:00"),
            Some(Route::Blob("a/b", "sha256:00"))
        );
        assert_eq!(route("/v1/x"), None);
    }

    #[test]
    fn pages() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let q = vec![("n".to_string(), "2".to_string())];
        assert_eq!(
            paginate(all.clone(), &q),
            (vec!["a".into(), "b".into()], true)
        );
        let q = vec![
            ("n".to_string(), "2".to_string()),
            ("last".to_string(), "b".to_string()),
        ];
        assert_eq!(paginate(all, &q), (vec!["c".into(), "d".into()], false));
        assert_eq!(percent_decode("sha256%3Aab"), "sha256:ab");
    }
}
