//! The CRI service's state: the engine it shares with the Engine API, the pods, and
//! where things go.

use crate::config::CriConfig;
use crate::sandbox::store::SandboxStore;
use crate::sandbox::{namespaces, SandboxState};
use berth_daemon::engine::Engine;
use std::path::PathBuf;
use std::sync::Arc;

pub struct Cri {
    pub engine: Arc<Engine>,
    pub sandboxes: SandboxStore,
    pub cfg: CriConfig,
    /// Where pods hold their namespaces (under the exec root: gone with a reboot, as the
    /// namespaces are).
    pub pods_run_dir: PathBuf,
    /// Where pods keep their resolv.conf.
    pub pods_data_dir: PathBuf,
    /// What each streaming URL handed out may do.
    pub tokens: crate::streaming::tokens::Tokens,
    /// Where the streaming server listens (set when it is bound).
    pub streaming_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// Each container's last CPU sample, to report CPU use as a rate.
    pub cpu_marks:
        std::sync::Mutex<std::collections::HashMap<String, crate::runtime::stats::CpuMark>>,
    /// NRI's plugins, when the daemon serves NRI.
    pub nri: Option<Arc<crate::nri::Nri>>,
}

impl Cri {
    pub fn open(engine: Arc<Engine>, cfg: CriConfig) -> crate::error::Result<Arc<Self>> {
        let data = engine.config().data_root.join("cri");
        let run = engine.config().exec_root.join("cri").join("pods");
        let sandboxes = SandboxStore::open(data.join("sandboxes"))?;
        // A pod whose namespaces are gone (the host rebooted) is not ready any more.
        for entry in sandboxes.all() {
            // Nobody else holds a sandbox yet: the server is not serving.
            let Ok(mut s) = entry.try_lock() else {
                continue;
            };
            if s.record.state == SandboxState::Ready && !namespaces::all_held(&s.record.held) {
                eprintln!(
                    "berthd: cri: pod {} lost its namespaces; it is not ready",
                    s.record.id
                );
                s.record.state = s.record.state.stop();
                sandboxes.save(&s)?;
            }
        }
        Ok(Arc::new(Self {
            sandboxes,
            pods_data_dir: data.join("sandboxes"),
            pods_run_dir: run,
            engine,
            nri: cfg.nri_socket.is_some().then(crate::nri::Nri::new),
            cfg,
            cpu_marks: Default::default(),
            tokens: Default::default(),
            streaming_addr: Default::default(),
        }))
    }
}

impl Cri {
    /// The URL that serves `req` once.
    pub fn streaming_url(
        &self,
        req: crate::streaming::tokens::Request,
    ) -> crate::error::Result<String> {
        let addr = self.streaming_addr.get().ok_or_else(|| {
            crate::error::CriError::FailedPrecondition("the streaming server is not up".into())
        })?;
        let kind = req.path();
        let token = self.tokens.insert(req).ok_or_else(|| {
            crate::error::CriError::FailedPrecondition(
                "too many streaming requests are outstanding".into(),
            )
        })?;
        Ok(format!("http://{addr}/{kind}/{token}"))
    }
}

/// Nanoseconds since the epoch, now.
pub fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}
