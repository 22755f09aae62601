//! The CRI socket: a unix socket (0660 from its first moment, `listen::bind_socket`)
//! serving both gRPC services, started on the daemon's engine.

use crate::config::CriConfig;
use crate::deadline::Deadlines;
use crate::grpc::Grpc;
use crate::proto::image_service_server::ImageServiceServer;
use crate::proto::runtime_service_server::RuntimeServiceServer;
use crate::service::Cri;
use berth_daemon::engine::Engine;
use std::sync::Arc;

/// The CRI server as a service of the daemon: binds its socket when the engine is ready
/// (an error stops the daemon's start), then serves until the daemon ends.
pub fn service(cfg: CriConfig) -> berth_daemon::server::Service {
    Box::new(move |engine: Arc<Engine>| {
        let err = |e: String| berth_daemon::DaemonError::System(format!("CRI: {e}"));
        let cri = Cri::open(engine, cfg.clone()).map_err(|e| err(e.to_string()))?;
        let path = cfg.socket.clone();
        let listener = berth_daemon::listen::bind_socket(&path, 0o660, None)
            .map_err(|e| err(format!("listening on {}: {e}", path.display())))?;
        // The streaming server: loopback unless configured otherwise.
        let stream_listener = std::net::TcpListener::bind(&cfg.streaming_address)
            .and_then(|l| {
                l.set_nonblocking(true)?;
                Ok(l)
            })
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|e| {
                err(format!(
                    "streaming server on {}: {e}",
                    cfg.streaming_address
                ))
            })?;
        let addr = stream_listener
            .local_addr()
            .map_err(|e| err(format!("streaming server: {e}")))?;
        let _ = cri.streaming_addr.set(addr);
        tokio::spawn(crate::streaming::server::run(cri.clone(), stream_listener));
        if let (Some(nri), Some(socket)) = (&cri.nri, &cfg.nri_socket) {
            let weak = Arc::downgrade(&cri);
            nri.listen(socket, move || {
                let cri = weak.upgrade();
                async move {
                    match cri {
                        Some(cri) => cri.nri_snapshot().await,
                        None => (vec![], vec![]),
                    }
                }
            })
            .map_err(|e| err(format!("NRI socket {}: {e}", socket.display())))?;
            cri.watch_exits_for_nri();
            eprintln!("berthd: NRI plugins connect on {}", socket.display());
        }
        eprintln!(
            "berthd: CRI listening on {} (streaming on {addr})",
            path.display()
        );
        let grpc = Grpc(cri);
        let routes = tonic::service::Routes::new(RuntimeServiceServer::new(grpc.clone()))
            .add_service(ImageServiceServer::new(grpc));
        Ok(Box::pin(serve(listener, Deadlines(routes)))
            as std::pin::Pin<
                Box<dyn std::future::Future<Output = ()> + Send>,
            >)
    })
}

/// HTTP/2 on each connection, every call through the deadline layer.
async fn serve(listener: tokio::net::UnixListener, routes: Deadlines<tonic::service::Routes>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                eprintln!("berthd: CRI accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(routes.clone());
        tokio::spawn(async move {
            // A connection's error is its client going away or speaking something else:
            // nothing for the daemon to act on.
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
