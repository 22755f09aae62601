//! Listening on the daemon's sockets and serving HTTP/1.1 with upgrades.

use crate::api;
use crate::config::DaemonConfig;
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::UnixListener;

fn unix_path(host: &str) -> Result<PathBuf> {
    match host.strip_prefix("unix://") {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err(DaemonError::InvalidParameter(format!(
            "unsupported host {host}: berth listens on unix:///path sockets"
        ))),
    }
}

/// Runs the daemon until SIGTERM or SIGINT. Containers keep running after it stops.
pub async fn run(cfg: DaemonConfig) -> Result<()> {
    let _lock = crate::lock::lock_root(&cfg.data_root)?;
    let paths: Vec<PathBuf> = cfg
        .hosts
        .iter()
        .map(|h| unix_path(h))
        .collect::<Result<_>>()?;
    let engine = Engine::open(cfg.clone())?;
    engine.restore().await?;
    engine.refill_warm();
    let e = engine.clone();
    tokio::task::spawn_blocking(move || e.seccomp_filters.warm_default());
    let mut listeners = vec![];
    for p in &paths {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(p);
        let l = UnixListener::bind(p)
            .map_err(|e| DaemonError::System(format!("listening on {}: {e}", p.display())))?;
        listeners.push(l);
    }
    if let Some(pf) = &cfg.pidfile {
        if let Some(dir) = pf.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(pf, std::process::id().to_string())?;
    }
    for l in listeners {
        let engine = engine.clone();
        tokio::spawn(accept_loop(l, engine));
    }
    eprintln!("berthd: API listening on {}", cfg.hosts.join(", "));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("berthd: shutting down; containers keep running");
    engine.shutdown_warm().await;
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    if let Some(pf) = &cfg.pidfile {
        let _ = std::fs::remove_file(pf);
    }
    Ok(())
}

async fn accept_loop(listener: UnixListener, engine: Arc<Engine>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("berthd: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let engine = engine.clone();
                async move { Ok::<_, std::convert::Infallible>(api::handle(engine, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}
