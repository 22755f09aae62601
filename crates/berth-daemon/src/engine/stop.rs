//! `docker kill`, `stop` and `restart`.

use super::container::Container;
use super::Engine;
use crate::error::{DaemonError, Result};
use std::sync::Arc;
use std::time::Duration;

/// `SIGTERM`, `TERM`, `15` → 15.
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || DaemonError::InvalidParameter(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map(|x| x as i32)
            .map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|x| x as i32)
        .map_err(|_| bad())
}

pub(crate) fn not_running(id: &str) -> DaemonError {
    DaemonError::Conflict(format!("Container {id} is not running"))
}

impl Engine {
    pub async fn kill(self: &Arc<Self>, name: &str, signal: Option<&str>) -> Result<()> {
        let c = self.get(name)?;
        if !c.is_running() {
            return Err(not_running(&c.id));
        }
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let mut rx = c.lifecycle.subscribe();
        let task = self.task(&c.id);
        if c.record().state.paused && sig == libc::SIGKILL {
            let _ = task.resume().await;
        }
        task.kill(sig, false).await?;
        if sig == libc::SIGKILL {
            let _ =
                tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|l| !l.running)).await;
        }
        Ok(())
    }

    pub async fn stop(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op_lock.lock().await;
        if !c.is_running() {
            return Err(DaemonError::NotModified("container already stopped".into()));
        }
        self.stop_locked(&c, signal, timeout).await
    }

    async fn stop_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let rec = c.snapshot();
        let sig_name = signal
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or(rec.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&sig_name)?;
        let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let task = self.task(&c.id);
        let mut rx = c.lifecycle.subscribe();
        if rec.state.paused {
            let _ = task.resume().await;
        }
        let _ = task.kill(sig, false).await;
        let graceful = if timeout < 0 {
            rx.wait_for(|l| !l.running).await.is_ok()
        } else {
            tokio::time::timeout(
                Duration::from_secs(timeout as u64),
                rx.wait_for(|l| !l.running),
            )
            .await
            .is_ok()
        };
        if !graceful {
            self.kill_all_and_wait(c).await?;
        }
        Ok(())
    }

    /// SIGKILL to every process of the container (thawed first), then waits for the exit.
    pub(crate) async fn kill_all_and_wait(&self, c: &Container) -> Result<()> {
        let mut rx = c.lifecycle.subscribe();
        let task = self.task(&c.id);
        let _ = task.resume().await;
        let _ = task.kill(libc::SIGKILL, true).await;
        tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|l| !l.running))
            .await
            .map_err(|_| {
                DaemonError::System(format!("container {} did not stop after SIGKILL", c.id))
            })?
            .map_err(DaemonError::system)?;
        Ok(())
    }

    pub async fn restart(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(name)?;
        {
            let _op = c.op_lock.lock().await;
            if c.is_running() {
                self.stop_locked(&c, signal, timeout).await?;
            }
        }
        // The exit must be recorded before the next start.
        let mut rx = c.lifecycle.subscribe();
        let _ = rx.wait_for(|l| !l.running).await;
        c.record().restart_count += 1;
        self.start(&c.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("1").unwrap(), 1);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
