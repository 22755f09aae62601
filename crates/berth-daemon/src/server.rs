//! Listening on the daemon's sockets and serving HTTP/1.1 with upgrades.

use crate::api;
use crate::config::DaemonConfig;
use crate::engine::Engine;
use crate::error::{DaemonError, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
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
        listeners.push(bind_api_socket(p)?);
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

/// The API socket, 0660 and owned by root and the `docker` group where that group exists
/// (dockerd's rule), whatever the umask. It is bound inside a fresh 0700 dir, given its
/// mode and owner there, and only then renamed into place: at no moment can anyone else
/// connect to it.
fn bind_api_socket(path: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let fail =
        |e: std::io::Error| DaemonError::System(format!("listening on {}: {e}", path.display()));
    let parent = path.parent().unwrap_or(Path::new("/"));
    let staging = parent.join(format!(".berth-sock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(fail)?;
    let result = (|| {
        let tmp = staging.join("sock");
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))?;
        let group = nix::unistd::Group::from_name("docker")
            .ok()
            .flatten()
            .map(|g| g.gid);
        nix::unistd::chown(&tmp, Some(nix::unistd::Uid::from_raw(0)), group)?;
        std::fs::rename(&tmp, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    result.map_err(fail)
}

/// Connections open per client (peer uid): a client that opens connections without end
/// is refused past this, instead of exhausting the daemon's descriptors.
#[derive(Default)]
struct ConnectionCounts {
    by_uid: std::sync::Mutex<std::collections::HashMap<u32, usize>>,
}

/// One open connection of a client; its count goes down when this is dropped.
struct ConnectionSlot {
    counts: Arc<ConnectionCounts>,
    uid: u32,
}

impl ConnectionCounts {
    fn take(self: &Arc<Self>, uid: u32, max: usize) -> Option<ConnectionSlot> {
        let mut m = self.by_uid.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(uid).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            counts: self.clone(),
            uid,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut m = self.counts.by_uid.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.uid);
            }
        }
    }
}

async fn accept_loop(listener: UnixListener, engine: Arc<Engine>) {
    let counts = Arc::new(ConnectionCounts::default());
    let header_timeout = engine.cfg.api_header_timeout;
    let max_per_client = engine.cfg.api_max_connections_per_client;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("berthd: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
        let Some(slot) = counts.take(uid, max_per_client) else {
            eprintln!("berthd: refusing a connection: uid {uid} has {max_per_client} open");
            drop(stream);
            continue;
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let svc = service_fn(move |req| {
                let engine = engine.clone();
                async move { Ok::<_, std::convert::Infallible>(api::handle(engine, req).await) }
            });
            // A request's headers must arrive in time: a half-sent request is closed,
            // not kept open for ever.
            let _ = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}
