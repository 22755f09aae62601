//! Creating tasks: the bundle's config.json and compiled seccomp filter, then a shim —
//! one started ahead of time if the pool has one, else a new one — that gets its
//! `TaskConfig` as one JSON line on stdin and answers with one line.

use super::{Task, TaskConfig};
use crate::error::{Result, RuntimeError};
use crate::seccomp::{FilterCache, BPF_FILE};
use crate::shim::protocol::Reply;
use oci_spec::runtime::Spec;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// How long a shim may take to create its container and answer.
const CREATE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct RuntimeOptions {
    /// The berth executable shims are started from (`<binary> shim`).
    pub binary: PathBuf,
    /// Shims kept started ahead of time (0: start each one on demand).
    pub warm_shims: usize,
    /// Where idle shims write their messages (each moves to its task's state dir once it
    /// has one).
    pub warm_log: PathBuf,
}

/// A shim that has said it is ready and waits for its job.
struct WarmShim {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

pub struct Runtime {
    opts: RuntimeOptions,
    warm: Mutex<Vec<WarmShim>>,
    /// Warm shims ready plus being started.
    warm_count: AtomicUsize,
    filters: FilterCache,
}

/// Reads the shim's one-line answer.
async fn read_reply(stdout: &mut BufReader<ChildStdout>) -> Result<Reply> {
    let mut line = Vec::new();
    let read = tokio::time::timeout(
        CREATE_TIMEOUT,
        stdout.take(1 << 20).read_until(b'\n', &mut line),
    )
    .await;
    if !matches!(read, Ok(Ok(n)) if n > 0) {
        return Err(RuntimeError::Shim("the shim did not report back".into()));
    }
    serde_json::from_slice(&line)
        .map_err(|e| RuntimeError::Shim(format!("bad answer from the shim: {e}")))
}

impl Runtime {
    pub fn new(opts: RuntimeOptions) -> Arc<Self> {
        Arc::new(Self {
            opts,
            warm: Mutex::new(Vec::new()),
            warm_count: AtomicUsize::new(0),
            filters: FilterCache::default(),
        })
    }

    /// Compiles a seccomp filter ahead of the first container that needs it.
    pub fn precompile_seccomp(&self, section: &oci_spec::runtime::LinuxSeccomp) -> Result<()> {
        self.filters.get(section).map(|_| ())
    }

    /// Writes `spec` into the bundle and creates the container: its init waits, held
    /// before the user's program, until `Task::start`. Returns the task and init's pid.
    pub async fn create(self: &Arc<Self>, spec: &Spec, cfg: &TaskConfig) -> Result<(Task, i32)> {
        let io = |what: &str, e: std::io::Error| RuntimeError::sys(what.to_string(), e);
        spec.save(cfg.bundle.join("config.json"))
            .map_err(|e| RuntimeError::InvalidSpec(e.to_string()))?;
        let bpf_path = cfg.bundle.join(BPF_FILE);
        match crate::seccomp::section_of(spec) {
            Some(section) => {
                let this = self.clone();
                let section = section.clone();
                let bpf = tokio::task::spawn_blocking(move || this.filters.get(&section))
                    .await
                    .map_err(|e| RuntimeError::Shim(e.to_string()))??;
                std::fs::write(&bpf_path, &*bpf)
                    .map_err(|e| io("writing the seccomp filter", e))?;
            }
            None => {
                let _ = std::fs::remove_file(&bpf_path);
            }
        }
        let _ = std::fs::remove_dir_all(&cfg.state_dir);
        std::fs::create_dir_all(&cfg.state_dir).map_err(|e| io("creating the state dir", e))?;
        let mut line = serde_json::to_vec(cfg).map_err(|e| RuntimeError::Shim(e.to_string()))?;
        line.push(b'\n');

        let (mut child, mut stdout) = match self.take_warm() {
            Some(w) => {
                self.refill_warm();
                let WarmShim {
                    child,
                    mut stdin,
                    stdout,
                } = w;
                stdin
                    .write_all(&line)
                    .await
                    .map_err(|e| io("handing the container to a shim", e))?;
                (child, stdout)
            }
            None => {
                let shim_log = std::fs::File::create(cfg.state_dir.join("shim.log"))
                    .map_err(|e| io("creating the shim's log", e))?;
                // No pre_exec: std can then use posix_spawn, much cheaper than forking a
                // large multi-threaded daemon. The shim starts its own session itself.
                let mut child = tokio::process::Command::new(&self.opts.binary)
                    .arg("shim")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(shim_log)
                    .spawn()
                    .map_err(|e| io("starting the shim", e))?;
                let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take())
                else {
                    return Err(RuntimeError::Shim("the shim's pipes".into()));
                };
                stdin
                    .write_all(&line)
                    .await
                    .map_err(|e| io("handing the container to the shim", e))?;
                (child, BufReader::new(stdout))
            }
        };
        let reply = read_reply(&mut stdout).await;
        // Reap the shim whenever it ends.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let reply = super::client::into_result(reply?)?;
        let pid = reply
            .pid
            .ok_or_else(|| RuntimeError::Shim("the shim gave no pid".into()))?;
        Ok((Task::open(&cfg.socket, &cfg.state_dir), pid))
    }

    async fn spawn_warm(&self) -> Result<WarmShim> {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&self.opts.warm_log)
            .map_err(|e| RuntimeError::sys("opening the warm shims' log", e))?;
        let mut child = tokio::process::Command::new(&self.opts.binary)
            .args(["shim", "--warm"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| RuntimeError::sys("starting a shim", e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(RuntimeError::Shim("the shim's pipes".into()));
        };
        let mut stdout = BufReader::new(stdout);
        match read_reply(&mut stdout).await {
            Ok(Reply {
                ok: true,
                warm: true,
                ..
            }) => Ok(WarmShim {
                child,
                stdin,
                stdout,
            }),
            other => {
                let _ = child.kill().await;
                Err(RuntimeError::Shim(format!(
                    "a shim did not start: {:?}",
                    other.map(|r| r.error)
                )))
            }
        }
    }

    /// Tops the pool of warm shims up to its size, in the background.
    pub fn refill_warm(self: &Arc<Self>) {
        while self.warm_count.load(Ordering::SeqCst) < self.opts.warm_shims {
            self.warm_count.fetch_add(1, Ordering::SeqCst);
            let this = self.clone();
            tokio::spawn(async move {
                match this.spawn_warm().await {
                    Ok(w) => this.warm.lock().unwrap_or_else(|p| p.into_inner()).push(w),
                    Err(e) => {
                        eprintln!("berthd: {e}");
                        this.warm_count.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            });
        }
    }

    fn take_warm(&self) -> Option<WarmShim> {
        let w = self.warm.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if w.is_some() {
            self.warm_count.fetch_sub(1, Ordering::SeqCst);
        }
        w
    }

    /// Tells every idle shim it is not needed (EOF on its stdin) and waits for it to go.
    pub async fn shutdown_warm(&self) {
        let idle: Vec<WarmShim> =
            std::mem::take(&mut *self.warm.lock().unwrap_or_else(|p| p.into_inner()));
        for mut w in idle {
            drop(w.stdin);
            let _ = tokio::time::timeout(Duration::from_secs(5), w.child.wait()).await;
        }
    }
}
