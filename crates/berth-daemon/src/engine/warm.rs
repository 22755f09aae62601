//! Shims started ahead of time: a container start hands its job to one that is already
//! running instead of paying for a process exec and start-up (~2 ms) on its path.

use super::Engine;
use crate::error::{DaemonError, Result};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

pub struct WarmShim {
    pub child: Child,
    pub stdin: ChildStdin,
    pub stdout: BufReader<ChildStdout>,
}

#[derive(Default)]
pub struct WarmPool {
    ready: std::sync::Mutex<Vec<WarmShim>>,
    /// Ready plus being started.
    count: AtomicUsize,
}

impl Engine {
    async fn spawn_warm(&self) -> Result<WarmShim> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.cfg.exec_root.join("warm-shims.log"))?;
        let mut child = tokio::process::Command::new(&self.cfg.berth_binary)
            .args(["shim", "--warm"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| DaemonError::System(format!("starting a shim: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(DaemonError::System("shim pipes".into()));
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), stdout.read_line(&mut line)).await;
        if !matches!(read, Ok(Ok(n)) if n > 0) || !line.contains("\"warm\"") {
            let _ = child.kill().await;
            return Err(DaemonError::System(format!(
                "a shim did not start: {}",
                line.trim()
            )));
        }
        Ok(WarmShim {
            child,
            stdin,
            stdout,
        })
    }

    /// Tops the pool up to its size, in the background.
    pub fn refill_warm(self: &Arc<Self>) {
        while self.warm.count.load(Ordering::SeqCst) < self.cfg.warm_shims {
            self.warm.count.fetch_add(1, Ordering::SeqCst);
            let engine = self.clone();
            tokio::spawn(async move {
                match engine.spawn_warm().await {
                    Ok(w) => engine
                        .warm
                        .ready
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(w),
                    Err(e) => {
                        eprintln!("berthd: {e}");
                        engine.warm.count.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            });
        }
    }

    pub fn take_warm(&self) -> Option<WarmShim> {
        let w = self
            .warm
            .ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        if w.is_some() {
            self.warm.count.fetch_sub(1, Ordering::SeqCst);
        }
        w
    }

    /// Tells every idle shim it is not needed (EOF on its stdin) and waits for it to go.
    pub async fn shutdown_warm(&self) {
        let idle: Vec<WarmShim> =
            std::mem::take(&mut *self.warm.ready.lock().unwrap_or_else(|p| p.into_inner()));
        for mut w in idle {
            drop(w.stdin);
            let _ = tokio::time::timeout(Duration::from_secs(5), w.child.wait()).await;
        }
    }
}
