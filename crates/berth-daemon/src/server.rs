//! Serving the Engine API: HTTP/1.1 with upgrades on every listener (see `listen`), with
//! a deadline for request headers and a bound on each client's open connections.

use crate::api;
use crate::config::DaemonConfig;
use crate::engine::Engine;
use crate::error::Result;
use crate::listen::{self, Host, Listener};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// Another API served on the same engine (CRI): called once the engine is ready, it
/// binds its listener (an error stops the daemon's start) and returns what serves it.
pub type Service = Box<
    dyn FnOnce(
            Arc<Engine>,
        ) -> Result<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>
        + Send,
>;

/// Runs the daemon until SIGTERM or SIGINT. Containers keep running after it stops.
pub async fn run(cfg: DaemonConfig) -> Result<()> {
    run_with(cfg, vec![]).await
}

/// Runs the daemon with other services on its engine.
pub async fn run_with(cfg: DaemonConfig, services: Vec<Service>) -> Result<()> {
    let _lock = crate::lock::lock_root(&cfg.data_root)?;
    let hosts: Vec<Host> = cfg
        .hosts
        .iter()
        .map(|h| listen::parse_host(h))
        .collect::<Result<_>>()?;
    // Refused before anything else happens: a misconfigured daemon changes nothing.
    listen::check_tls(&hosts, &cfg.tls)?;
    let engine = Engine::open(cfg.clone())?;
    engine.prepare_networks().await?;
    engine.restore().await?;
    engine.prepare_runtime();
    let listeners = listen::bind_all(&hosts, &cfg.tls, &cfg.activation_fds)?;
    let mut serving = vec![];
    for service in services {
        serving.push(service(engine.clone())?);
    }
    for s in serving {
        tokio::spawn(s);
    }
    if let Some(pf) = &cfg.pidfile {
        if let Some(dir) = pf.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(pf, std::process::id().to_string())?;
    }
    let counts = Arc::new(ConnectionCounts::default());
    for l in listeners {
        tokio::spawn(accept_loop(l, engine.clone(), counts.clone()));
    }
    eprintln!("berthd: API listening on {}", cfg.hosts.join(", "));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("berthd: shutting down; containers keep running");
    engine.shutdown_runtime().await;
    for h in &hosts {
        if let Host::Unix(p) = h {
            let _ = std::fs::remove_file(p);
        }
    }
    if let Some(pf) = &cfg.pidfile {
        let _ = std::fs::remove_file(pf);
    }
    Ok(())
}

/// Connections open per client (a unix peer's uid, a TCP peer's address): a client that
/// opens connections without end is refused past the limit, instead of exhausting the
/// daemon's descriptors.
#[derive(Default)]
struct ConnectionCounts {
    by_client: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// One open connection of a client; its count goes down when this is dropped.
struct ConnectionSlot {
    counts: Arc<ConnectionCounts>,
    client: String,
}

impl ConnectionCounts {
    fn take(self: &Arc<Self>, client: &str, max: usize) -> Option<ConnectionSlot> {
        let mut m = self.by_client.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(client.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            counts: self.clone(),
            client: client.to_string(),
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut m = self
            .counts
            .by_client
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.client);
            }
        }
    }
}

enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept_loop(listener: Listener, engine: Arc<Engine>, counts: Arc<ConnectionCounts>) {
    let max = engine.config().api_max_connections_per_client;
    loop {
        // Each client is counted by who it is: its uid on a unix socket, its address on TCP.
        let accepted = match &listener {
            Listener::Unix(l) => l.accept().await.map(|(s, _)| {
                let uid = s.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
                (Stream::Unix(s), format!("uid {uid}"))
            }),
            Listener::Tcp(l, _) => l
                .accept()
                .await
                .map(|(s, addr)| (Stream::Tcp(s), format!("address {}", addr.ip()))),
        };
        let (stream, client) = match accepted {
            Ok(x) => x,
            Err(e) => {
                eprintln!("berthd: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(slot) = counts.take(&client, max) else {
            eprintln!("berthd: refusing a connection: {client} has {max} open");
            continue;
        };
        let tls = match &listener {
            Listener::Tcp(_, tls) => tls.clone(),
            Listener::Unix(_) => None,
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let timeout = engine.config().api_header_timeout;
            match (stream, tls) {
                (Stream::Unix(s), _) => serve(s, engine).await,
                (Stream::Tcp(s), None) => serve(s, engine).await,
                (Stream::Tcp(s), Some(acceptor)) => {
                    // The handshake is bounded like the headers; with --tlsverify a client
                    // without a certificate of the CA ends here.
                    match tokio::time::timeout(timeout, acceptor.accept(s)).await {
                        Ok(Ok(tls)) => serve(tls, engine).await,
                        Ok(Err(e)) => eprintln!("berthd: TLS handshake with {client}: {e}"),
                        Err(_) => {}
                    }
                }
            }
        });
    }
}

/// Serves HTTP/1.1 (with upgrades for attach and exec) on one connection.
async fn serve<I>(io: I, engine: Arc<Engine>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let timeout = engine.config().api_header_timeout;
    let svc = service_fn(move |req| {
        let engine = engine.clone();
        async move { Ok::<_, std::convert::Infallible>(api::handle(engine, req).await) }
    });
    // A request's headers must arrive in time: a half-sent request is closed, not kept
    // open for ever.
    let _ = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades()
        .await;
}
