//! Health checks, run by the daemon: each running container with a check has one task
//! that sleeps between probes. A probe is an exec through the container's shim (no
//! process of its own between probes); its result goes into `State.Health`, a change of
//! status is a `health_status` event, and a container that turns unhealthy gets what
//! its `io.berth.health-on-failure` label asks for.

pub mod config;

use super::container::Container;
use super::exec::ExecRecord;
use super::Engine;
use berth_api::container::{Health, HealthcheckResult};
use berth_api::exec::ExecCreateRequest;
use berth_runtime::task::Output;
use config::{Check, OnFailure};
use std::sync::Arc;
use std::time::Instant;

/// How many probes `State.Health.Log` keeps (dockerd's number).
const LOG_ENTRIES: usize = 5;
/// How much of a probe's output is kept (dockerd's number).
const MAX_OUTPUT: usize = 4096;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// A probe's result entered into the health state, as dockerd enters it: a success
/// makes it healthy; a failure adds to the failing streak, except while it is starting
/// within its start period, and `retries` failures in a row make it unhealthy.
/// Returns the new status when it changed.
pub fn record(
    health: &mut Health,
    result: HealthcheckResult,
    retries: i64,
    in_start_period: bool,
) -> Option<&'static str> {
    let before = health.status.clone();
    if result.exit_code == 0 {
        health.failing_streak = 0;
        health.status = HEALTHY.into();
    } else if !(health.status == STARTING && in_start_period) {
        health.failing_streak += 1;
        if health.failing_streak >= retries {
            health.status = UNHEALTHY.into();
        }
    }
    health.log.push(result);
    if health.log.len() > LOG_ENTRIES {
        let extra = health.log.len() - LOG_ENTRIES;
        health.log.drain(..extra);
    }
    if health.status == before {
        return None;
    }
    match health.status.as_str() {
        HEALTHY => Some(HEALTHY),
        UNHEALTHY => Some(UNHEALTHY),
        _ => None,
    }
}

fn truncated(mut out: Vec<u8>) -> String {
    out.truncate(MAX_OUTPUT);
    String::from_utf8_lossy(&out).into_owned()
}

/// Ends an exec helper's process (the helper's child: the probe in the container).
pub(crate) fn kill_probe(helper: i32) {
    let children = std::fs::read_to_string(format!("/proc/{helper}/task/{helper}/children"))
        .unwrap_or_default();
    for pid in children
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
}

impl Engine {
    /// Starts the health check of a container that has just started (`new_run`) or was
    /// found running after a daemon restart; does nothing for one without a check.
    pub(crate) fn start_health_check(self: &Arc<Self>, c: &Arc<Container>, new_run: bool) {
        let (check, exits) = {
            let mut r = c.record();
            let check = config::check(r.config.healthcheck.as_ref(), r.config.shell.as_deref());
            if check.is_none() {
                r.state.health = None;
                return;
            }
            // A new run starts out `starting`; one found running keeps its state.
            if r.state.health.is_none() || new_run {
                r.state.health = Some(Health {
                    status: STARTING.into(),
                    failing_streak: 0,
                    log: vec![],
                });
            }
            (check, c.lifecycle.borrow().exits)
        };
        let Some(check) = check else { return };
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move { engine.health_loop(c, check, exits).await });
    }

    async fn health_loop(self: Arc<Self>, c: Arc<Container>, check: Check, exits: u64) {
        let started = Instant::now();
        let mut lifecycle = c.lifecycle.subscribe();
        loop {
            let starting = c
                .record()
                .state
                .health
                .as_ref()
                .is_some_and(|h| h.status == STARTING);
            let in_start_period = started.elapsed() < check.start_period;
            let wait = if starting && in_start_period {
                check.start_interval.min(check.interval)
            } else {
                check.interval
            };
            // The run this loop watches is over: its exit, a removal.
            let over = lifecycle.wait_for(|l| l.exits != exits || l.removed || !l.running);
            tokio::select! {
                _ = over => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if !c.is_running() || c.record().state.paused {
                continue;
            }
            let result = self.probe(&c, &check).await;
            if c.lifecycle.borrow().exits != exits {
                return;
            }
            let in_start_period = started.elapsed() < check.start_period;
            let changed = {
                let mut r = c.record();
                let Some(health) = r.state.health.as_mut() else {
                    return;
                };
                record(health, result, check.retries, in_start_period)
            };
            let _ = c.save_state(&self.cfg.container_dir(&c.id));
            if let Some(status) = changed {
                self.container_event(&c, &format!("health_status: {status}"), &[]);
                if status == UNHEALTHY {
                    self.on_unhealthy(&c).await;
                }
            }
        }
    }

    /// One probe: the check's command run in the container as an exec, its output
    /// kept, ended when it outlives the timeout.
    async fn probe(self: &Arc<Self>, c: &Container, check: &Check) -> HealthcheckResult {
        let start = super::time::now();
        let exec = ExecRecord {
            id: super::names::new_id(),
            container_id: c.id.clone(),
            config: ExecCreateRequest {
                attach_stdout: true,
                attach_stderr: true,
                cmd: Some(check.command.clone()),
                ..Default::default()
            },
            running: true,
            started: true,
            exit_code: None,
            pid: 0,
        };
        let deadline = tokio::time::Instant::now() + check.timeout;
        let timed_out = || HealthcheckResult {
            start: start.clone(),
            end: super::time::now(),
            exit_code: -1,
            output: format!("Health check exceeded timeout ({:?})", check.timeout),
        };
        let io = match tokio::time::timeout_at(deadline, self.exec_start_inner(&exec, false, None))
            .await
        {
            Err(_) => return timed_out(),
            Ok(Err(e)) => {
                return HealthcheckResult {
                    start,
                    end: super::time::now(),
                    exit_code: -1,
                    output: e.to_string(),
                }
            }
            Ok(Ok(io)) => io,
        };
        let helper = io.pid;
        let mut output = io.output;
        let mut out = vec![];
        let read = async {
            while let Some(event) = output.next().await {
                match event {
                    Output::Stdout(b) | Output::Stderr(b) if out.len() < MAX_OUTPUT => {
                        out.extend_from_slice(&b);
                    }
                    Output::Exit(code) => return Some(code),
                    _ => {}
                }
            }
            None
        };
        let code = match tokio::time::timeout_at(deadline, read).await {
            Ok(code) => code,
            Err(_) => {
                if let Some(pid) = helper {
                    kill_probe(pid);
                }
                return timed_out();
            }
        };
        HealthcheckResult {
            start,
            end: super::time::now(),
            exit_code: code.map_or(-1, i64::from),
            output: truncated(out),
        }
    }

    /// `io.berth.health-on-failure`: what a container that turned unhealthy gets.
    async fn on_unhealthy(self: &Arc<Self>, c: &Arc<Container>) {
        let wanted = c
            .record()
            .config
            .labels
            .as_ref()
            .and_then(|l| l.get(config::ON_FAILURE_LABEL).cloned())
            .unwrap_or_default();
        let action = OnFailure::parse(&wanted).unwrap_or_default();
        let result = match action {
            OnFailure::None => return,
            // The task is killed, not the container stopped: its restart policy applies.
            OnFailure::Kill => self
                .task(&c.id)
                .kill(libc::SIGKILL, true)
                .await
                .map_err(Into::into),
            OnFailure::Restart => {
                let engine = self.clone();
                let id = c.id.clone();
                // Not awaited here: the restart ends this loop's run.
                tokio::spawn(async move {
                    if let Err(e) = engine.restart(&id, None, None).await {
                        eprintln!("berthd: container {id}: restart when unhealthy: {e}");
                    }
                });
                Ok(())
            }
            OnFailure::Stop => {
                let engine = self.clone();
                let id = c.id.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.stop(&id, None, None).await {
                        eprintln!("berthd: container {id}: stop when unhealthy: {e}");
                    }
                });
                Ok(())
            }
        };
        if let Err::<(), crate::error::DaemonError>(e) = result {
            eprintln!("berthd: container {}: kill when unhealthy: {e}", c.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> HealthcheckResult {
        HealthcheckResult {
            exit_code: code,
            ..Default::default()
        }
    }

    fn starting() -> Health {
        Health {
            status: STARTING.into(),
            ..Default::default()
        }
    }

    #[test]
    fn failures_in_a_row_make_it_unhealthy() {
        let mut h = starting();
        assert_eq!(record(&mut h, result(1), 3, false), None);
        assert_eq!(record(&mut h, result(1), 3, false), None);
        assert_eq!(record(&mut h, result(1), 3, false), Some(UNHEALTHY));
        assert_eq!(h.failing_streak, 3);
        assert_eq!(record(&mut h, result(1), 3, false), None);
        assert_eq!(record(&mut h, result(0), 3, false), Some(HEALTHY));
        assert_eq!(h.failing_streak, 0);
    }

    #[test]
    fn the_start_period_forgives_failures_until_the_first_success() {
        let mut h = starting();
        for _ in 0..5 {
            assert_eq!(record(&mut h, result(1), 1, true), None);
        }
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.status, STARTING);
        assert_eq!(record(&mut h, result(0), 1, true), Some(HEALTHY));
        // Healthy once: a failure counts even within the start period.
        assert_eq!(record(&mut h, result(1), 1, true), Some(UNHEALTHY));
    }

    #[test]
    fn the_log_keeps_the_last_five() {
        let mut h = starting();
        for code in 0..8 {
            record(&mut h, result(code), 100, false);
        }
        let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [3, 4, 5, 6, 7]);
    }
}
