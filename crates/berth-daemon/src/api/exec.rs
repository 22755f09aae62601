use super::body::{self, read_json, Resp};
use super::hijack;
use crate::engine::Engine;
use crate::error::Result;
use berth_api::exec::{ExecCreateRequest, ExecStartRequest, IdResponse};
use http::Request;
use hyper::body::Incoming;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

pub async fn create(engine: &Arc<Engine>, container: &str, req: Request<Incoming>) -> Result<Resp> {
    let body: ExecCreateRequest = read_json(req.into_body()).await?;
    let id = engine.exec_create(container, body)?;
    Ok(body::json(201, &IdResponse { id }))
}

pub async fn start(engine: &Arc<Engine>, id: &str, req: Request<Incoming>) -> Result<Resp> {
    let (parts, b) = req.into_parts();
    let start: ExecStartRequest = read_json(b).await?;
    let console = start
        .console_size
        .as_ref()
        .filter(|s| s.len() == 2 && s[0] > 0)
        .map(|s| (s[0] as u16, s[1] as u16));
    // As dockerd: the process has a terminal if its create asked for one; the stream is
    // raw or multiplexed as the start request's Tty says.
    let inspect = engine.exec_inspect(id)?;
    let tty = start.tty;
    let keys = Some(inspect.detach_keys.as_str())
        .filter(|k| !k.is_empty())
        .unwrap_or(super::detach::DEFAULT);
    let escape = inspect
        .open_stdin
        .then(|| super::detach::parse(keys).map(super::detach::Escape::new))
        .transpose()?;
    let mut req = Request::from_parts(parts, ());
    let wants = req.headers().get(http::header::UPGRADE).is_some();
    if start.detach || !wants {
        // The engine records the exec's exit from its task, whoever reads the output.
        let session = engine.exec_start(id, console).await?;
        if start.detach {
            return Ok(body::with_status(200, None, body::empty()));
        }
        return Ok(hijack::stream_body(tty, move |w| {
            Box::pin(async move {
                let mut w = w;
                hijack::proxy(session, tokio::io::empty(), &mut w, tty, None).await;
            })
        }));
    }
    // Upgraded: the process starts once the 101 is out, as dockerd's does. A client that
    // reads the 101 through a buffered reader (docker-py) and then takes the bare socket
    // would otherwise lose output that came in the same read as the headers.
    engine.exec_startable(id)?;
    let engine = engine.clone();
    let id = id.to_string();
    let first = hijack::FirstOutput::AfterHeadersRead;
    Ok(hijack::upgrade(
        &mut req,
        tty,
        first,
        move |conn| async move {
            let mut w = conn.output;
            match engine.exec_start(&id, console).await {
                // The output ends after the exit is recorded, so the client's inspect sees it.
                Ok(session) => hijack::proxy(session, conn.input, &mut w, tty, escape).await,
                Err(e) => {
                    let line = hijack::error_line(&e.to_string());
                    let stdout = berth_api::stream::StreamKind::Stdout;
                    let _ = hijack::write_output(&mut w, tty, stdout, &line).await;
                }
            }
            let _ = w.shutdown().await;
        },
    ))
}
