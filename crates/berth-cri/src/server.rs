//! The CRI socket: a unix socket (0660, in a 0700 dir when berth makes it) serving both
//! gRPC services, started on the daemon's engine.

use crate::config::CriConfig;
use crate::grpc::Grpc;
use crate::proto::image_service_server::ImageServiceServer;
use crate::proto::runtime_service_server::RuntimeServiceServer;
use crate::service::Cri;
use berth_daemon::engine::Engine;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::sync::Arc;

/// The CRI server as a service of the daemon: binds its socket when the engine is ready
/// (an error stops the daemon's start), then serves until the daemon ends.
pub fn service(cfg: CriConfig) -> berth_daemon::server::Service {
    Box::new(move |engine: Arc<Engine>| {
        let err = |e: String| berth_daemon::DaemonError::System(format!("CRI: {e}"));
        let cri = Cri::open(engine, cfg.clone()).map_err(|e| err(e.to_string()))?;
        let path = cfg.socket.clone();
        if let Some(dir) = path.parent().filter(|d| !d.exists()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
        }
        // A socket left by a daemon that died is replaced; any other file is not.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
                let _ = std::fs::remove_file(&path);
            }
            Ok(_) => {
                return Err(err(format!(
                    "{} exists and is not a socket",
                    path.display()
                )))
            }
            Err(_) => {}
        }
        let listener = tokio::net::UnixListener::bind(&path)
            .map_err(|e| err(format!("listening on {}: {e}", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| err(format!("{}: {e}", path.display())))?;
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
        eprintln!(
            "berthd: CRI listening on {} (streaming on {addr})",
            path.display()
        );
        let grpc = Grpc(cri);
        Ok(Box::pin(async move {
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            let served = tonic::transport::Server::builder()
                .add_service(RuntimeServiceServer::new(grpc.clone()))
                .add_service(ImageServiceServer::new(grpc))
                .serve_with_incoming(incoming)
                .await;
            if let Err(e) = served {
                eprintln!("berthd: CRI server ended: {e}");
            }
        })
            as std::pin::Pin<
                Box<dyn std::future::Future<Output = ()> + Send>,
            >)
    })
}
