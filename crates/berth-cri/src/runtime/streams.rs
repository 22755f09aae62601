//! Exec, Attach and PortForward: each checked, then answered with a streaming URL.

use crate::error::{CriError, Result};
use crate::proto;
use crate::sandbox::SandboxState;
use crate::service::Cri;
use crate::streaming::tokens::Request;

impl Cri {
    pub fn exec_url(&self, r: proto::ExecRequest) -> Result<String> {
        let c = self.cri_container(&r.container_id)?;
        if r.cmd.is_empty() {
            return Err(CriError::InvalidArgument("exec needs a command".into()));
        }
        if !(r.stdin || r.stdout || r.stderr) {
            return Err(CriError::InvalidArgument(
                "one of stdin, stdout and stderr must be set".into(),
            ));
        }
        if r.tty && r.stderr {
            return Err(CriError::InvalidArgument(
                "tty and stderr cannot both be set".into(),
            ));
        }
        if !c.is_running() {
            return Err(CriError::FailedPrecondition(format!(
                "container {} is not running",
                c.id
            )));
        }
        self.streaming_url(Request::Exec {
            container: c.id.clone(),
            cmd: r.cmd,
            tty: r.tty,
            stdin: r.stdin,
            stdout: r.stdout,
            stderr: r.stderr,
        })
    }

    pub fn attach_url(&self, r: proto::AttachRequest) -> Result<String> {
        let c = self.cri_container(&r.container_id)?;
        if !(r.stdin || r.stdout || r.stderr) {
            return Err(CriError::InvalidArgument(
                "one of stdin, stdout and stderr must be set".into(),
            ));
        }
        if r.tty && r.stderr {
            return Err(CriError::InvalidArgument(
                "tty and stderr cannot both be set".into(),
            ));
        }
        let rec = c.snapshot();
        if r.tty != rec.config.tty {
            return Err(CriError::InvalidArgument(format!(
                "tty is {} but the container was created with tty {}",
                r.tty, rec.config.tty
            )));
        }
        if r.stdin && !rec.config.open_stdin {
            return Err(CriError::InvalidArgument(
                "stdin is asked for but the container was created without stdin".into(),
            ));
        }
        self.streaming_url(Request::Attach {
            container: c.id.clone(),
            tty: r.tty,
            stdin: r.stdin,
            stdout: r.stdout,
            stderr: r.stderr,
        })
    }

    pub async fn port_forward_url(&self, r: proto::PortForwardRequest) -> Result<String> {
        let s = self.sandboxes.get(&r.pod_sandbox_id)?;
        let s = s.lock().await;
        if s.record.state != SandboxState::Ready {
            return Err(CriError::FailedPrecondition(format!(
                "pod sandbox {} is not ready",
                s.record.id
            )));
        }
        if let Some(p) = r.port.iter().find(|p| !(1..=65535).contains(*p)) {
            return Err(CriError::InvalidArgument(format!("invalid port {p}")));
        }
        self.streaming_url(Request::PortForward {
            sandbox: s.record.id.clone(),
        })
    }
}
