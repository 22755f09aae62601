//! `docker kill`, `stop` and `restart`.

use super::container::{Container, Lifecycle};
use super::Engine;
use crate::error::{DaemonError, Result};
use berth_runtime::task::Task;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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

/// What stopping needs of a task: the seam where the unit tests put a fake task.
pub(crate) trait Signals {
    fn kill(&self, signal: i32, all: bool) -> impl Future<Output = Result<()>> + Send;
    fn resume(&self) -> impl Future<Output = Result<()>> + Send;
}

impl Signals for Task {
    async fn kill(&self, signal: i32, all: bool) -> Result<()> {
        Ok(Task::kill(self, signal, all).await?)
    }
    async fn resume(&self) -> Result<()> {
        Ok(Task::resume(self).await?)
    }
}

/// The signal `docker stop` sends: the request's, else the container's StopSignal, else
/// SIGTERM.
pub(crate) fn stop_signal(requested: Option<&str>, configured: Option<&str>) -> Result<i32> {
    let name = requested
        .filter(|s| !s.is_empty())
        .or(configured.filter(|s| !s.is_empty()))
        .unwrap_or("SIGTERM");
    parse_signal(name)
}

/// Waits for the recorded exit; false after `timeout` (None: no limit).
async fn exited(lifecycle: &watch::Sender<Lifecycle>, timeout: Option<Duration>) -> bool {
    let mut rx = lifecycle.subscribe();
    let wait = rx.wait_for(|l| !l.running);
    match timeout {
        None => wait.await.is_ok(),
        Some(t) => matches!(tokio::time::timeout(t, wait).await, Ok(Ok(_))),
    }
}

/// `docker kill`: the signal to init (a paused container is thawed first for SIGKILL,
/// which a frozen process cannot act on); for SIGKILL, waits a while for the exit.
pub(crate) async fn kill_task(
    task: &impl Signals,
    lifecycle: &watch::Sender<Lifecycle>,
    paused: bool,
    signal: i32,
) -> Result<()> {
    if paused && signal == libc::SIGKILL {
        let _ = task.resume().await;
    }
    task.kill(signal, false).await?;
    if signal == libc::SIGKILL {
        exited(lifecycle, Some(KILL_WAIT)).await;
    }
    Ok(())
}

/// `docker stop`: the stop signal to init (after a thaw); if the task has not exited
/// within `timeout` seconds (negative: wait for ever), SIGKILL to every process.
pub(crate) async fn stop_task(
    task: &impl Signals,
    lifecycle: &watch::Sender<Lifecycle>,
    paused: bool,
    signal: i32,
    timeout: i64,
) -> Result<()> {
    if paused {
        let _ = task.resume().await;
    }
    // A task that is already gone has nothing to signal; the exit decides.
    let _ = task.kill(signal, false).await;
    let limit = u64::try_from(timeout).ok().map(Duration::from_secs);
    if !exited(lifecycle, limit).await {
        kill_all(task, lifecycle).await?;
    }
    Ok(())
}

/// SIGKILL to every process of the task (thawed first), then waits for the exit.
pub(crate) async fn kill_all(
    task: &impl Signals,
    lifecycle: &watch::Sender<Lifecycle>,
) -> Result<()> {
    let _ = task.resume().await;
    let _ = task.kill(libc::SIGKILL, true).await;
    if !exited(lifecycle, Some(KILL_ALL_WAIT)).await {
        return Err(DaemonError::System("did not stop after SIGKILL".into()));
    }
    Ok(())
}

/// How long `docker kill` waits for a SIGKILLed container's exit to be recorded.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How long a stop or a forced removal waits after SIGKILL to every process.
const KILL_ALL_WAIT: Duration = Duration::from_secs(30);

impl Engine {
    pub async fn kill(self: &Arc<Self>, name: &str, signal: Option<&str>) -> Result<()> {
        let c = self.get(name)?;
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        // As dockerd: the stop signal (or any, when none is configured) ends the
        // restarts; a kill of a container waiting to restart only does that.
        let configured = c
            .record()
            .config
            .stop_signal
            .clone()
            .filter(|s| !s.is_empty());
        let ends_restarts = sig == libc::SIGKILL
            || configured
                .as_deref()
                .is_none_or(|s| parse_signal(s).ok() == Some(sig));
        if ends_restarts && self.cancel_restart(&c) {
            return Ok(());
        }
        if !c.is_running() {
            // dockerd's wording: the name as the user gave it, then the ID.
            return Err(DaemonError::Conflict(format!(
                "cannot kill container: {name}: container {} is not running",
                c.id
            )));
        }
        c.record().manually_stopped = true;
        let paused = c.record().state.paused;
        self.container_event(&c, "kill", &[("signal", sig.to_string())]);
        kill_task(&self.task(&c.id), &c.lifecycle, paused, sig).await
    }

    pub async fn stop(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(name)?;
        // Before the lock: a restart waiting for it must not start the container again.
        if super::status::Status::of(&c.record().state) == super::status::Status::Restarting {
            self.cancel_restart(&c);
            self.container_event(&c, "stop", &[]);
            return Ok(());
        }
        let _op = c.op_lock.lock().await;
        if !c.is_running() {
            return Err(DaemonError::NotModified("container already stopped".into()));
        }
        self.cancel_restart(&c);
        self.stop_locked(&c, signal, timeout).await?;
        self.container_event(&c, "stop", &[]);
        Ok(())
    }

    async fn stop_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let rec = c.snapshot();
        let sig = stop_signal(signal, rec.config.stop_signal.as_deref())?;
        let timeout = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        self.container_event(c, "kill", &[("signal", sig.to_string())]);
        stop_task(
            &self.task(&c.id),
            &c.lifecycle,
            rec.state.paused,
            sig,
            timeout,
        )
        .await
        .map_err(|e| DaemonError::System(format!("container {}: {e}", c.id)))
    }

    /// SIGKILL to every process of the container (thawed first), then waits for the exit.
    pub(crate) async fn kill_all_and_wait(&self, c: &Container) -> Result<()> {
        kill_all(&self.task(&c.id), &c.lifecycle)
            .await
            .map_err(|e| DaemonError::System(format!("container {}: {e}", c.id)))
    }

    pub async fn restart(
        self: &Arc<Self>,
        name: &str,
        signal: Option<&str>,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.get(name)?;
        self.cancel_restart(&c);
        {
            let _op = c.op_lock.lock().await;
            if c.is_running() {
                self.stop_locked(&c, signal, timeout).await?;
            }
        }
        // The exit must be recorded before the next start.
        let mut rx = c.lifecycle.subscribe();
        let _ = rx.wait_for(|l| !l.running).await;
        match self.start(&c.id).await {
            Ok(()) | Err(DaemonError::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        self.container_event(&c, "restart", &[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A task that records the signals it gets and exits on the ones it is told to.
    struct FakeTask {
        calls: Mutex<Vec<String>>,
        dies_on: Vec<i32>,
        lifecycle: watch::Sender<Lifecycle>,
    }

    impl FakeTask {
        fn new(dies_on: &[i32]) -> Self {
            Self {
                calls: Mutex::new(vec![]),
                dies_on: dies_on.to_vec(),
                lifecycle: watch::Sender::new(Lifecycle {
                    running: true,
                    ..Default::default()
                }),
            }
        }
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Signals for FakeTask {
        async fn kill(&self, signal: i32, all: bool) -> Result<()> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("kill {signal}{}", if all { " all" } else { "" }));
            if self.dies_on.contains(&signal) {
                // The monitor records the exit a moment later.
                let lifecycle = self.lifecycle.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    lifecycle.send_modify(|l| l.running = false);
                });
            }
            Ok(())
        }
        async fn resume(&self) -> Result<()> {
            self.calls.lock().unwrap().push("resume".into());
            Ok(())
        }
    }

    #[tokio::test]
    async fn stop_sends_the_stop_signal_and_nothing_more_when_it_is_obeyed() {
        let t = FakeTask::new(&[libc::SIGTERM]);
        stop_task(&t, &t.lifecycle, false, libc::SIGTERM, 10)
            .await
            .unwrap();
        assert_eq!(t.calls(), ["kill 15"]);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_escalates_to_sigkill_for_every_process_after_the_timeout() {
        let t = FakeTask::new(&[libc::SIGKILL]);
        stop_task(&t, &t.lifecycle, false, libc::SIGTERM, 3)
            .await
            .unwrap();
        assert_eq!(t.calls(), ["kill 15", "resume", "kill 9 all"]);
    }

    #[tokio::test]
    async fn a_paused_container_is_thawed_before_it_is_signalled() {
        let t = FakeTask::new(&[libc::SIGQUIT]);
        stop_task(&t, &t.lifecycle, true, libc::SIGQUIT, 10)
            .await
            .unwrap();
        assert_eq!(t.calls(), ["resume", "kill 3"]);
        // kill thaws only for SIGKILL: other signals wait for the unpause, as in Docker.
        let t = FakeTask::new(&[]);
        kill_task(&t, &t.lifecycle, true, libc::SIGHUP)
            .await
            .unwrap();
        assert_eq!(t.calls(), ["kill 1"]);
        let t = FakeTask::new(&[libc::SIGKILL]);
        kill_task(&t, &t.lifecycle, true, libc::SIGKILL)
            .await
            .unwrap();
        assert_eq!(t.calls(), ["resume", "kill 9"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_survives_sigkill_is_an_error() {
        let t = FakeTask::new(&[]);
        assert!(stop_task(&t, &t.lifecycle, false, libc::SIGTERM, 1)
            .await
            .is_err());
        assert_eq!(t.calls(), ["kill 15", "resume", "kill 9 all"]);
    }

    #[test]
    fn the_stop_signal_comes_from_the_request_then_the_config() {
        assert_eq!(stop_signal(None, None).unwrap(), libc::SIGTERM);
        assert_eq!(stop_signal(None, Some("SIGUSR1")).unwrap(), libc::SIGUSR1);
        assert_eq!(stop_signal(Some("9"), Some("SIGUSR1")).unwrap(), 9);
        assert_eq!(stop_signal(Some(""), Some("")).unwrap(), libc::SIGTERM);
        assert!(stop_signal(Some("SIGNOPE"), None).is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("1").unwrap(), 1);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
