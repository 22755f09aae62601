//! Restart policies (`--restart no|on-failure[:N]|always|unless-stopped`) and Docker's
//! backoff between restarts: 100 ms, doubled after each quick exit up to a minute, back
//! to 100 ms once a run lasted 10 s.

use crate::error::{DaemonError, Result};
use berth_api::container::RestartPolicy as ApiPolicy;
use std::time::Duration;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the backoff.
const STABLE_RUN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    /// Restart after a non-zero exit, at most `max_retries` times (0: no limit).
    OnFailure {
        max_retries: i64,
    },
    Always,
    UnlessStopped,
}

impl Policy {
    /// The policy of a create or update request, checked as dockerd checks it.
    pub fn parse(p: &ApiPolicy) -> Result<Self> {
        let bad = |m: String| Err(DaemonError::InvalidParameter(m));
        let policy = match p.name.as_str() {
            "" | "no" => Self::No,
            "always" => Self::Always,
            "unless-stopped" => Self::UnlessStopped,
            "on-failure" => Self::OnFailure {
                max_retries: p.maximum_retry_count,
            },
            other => return bad(format!("invalid restart policy '{other}'")),
        };
        if p.maximum_retry_count < 0 {
            return bad("invalid restart policy: maximum retry count cannot be negative".into());
        }
        if p.maximum_retry_count > 0 && !matches!(policy, Self::OnFailure { .. }) {
            return bad(format!(
                "invalid restart policy: maximum retry count can only be used with 'on-failure', not '{}'",
                p.name
            ));
        }
        Ok(policy)
    }

    pub fn is_none(self) -> bool {
        self == Self::No
    }
}

/// What a container's exit needs to know to decide on a restart.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub code: i64,
    /// `docker stop` or `kill` ended it (kept across daemon restarts).
    pub manually_stopped: bool,
    /// How long it ran.
    pub ran_for: Duration,
    /// Restarts by policy since the last start by a user.
    pub restarts_so_far: i64,
}

/// The live half of a container's restart policy: the backoff, and whether a user's
/// stop cancelled the restarts (not persisted: a daemon restart starts afresh, as
/// Docker's does).
#[derive(Debug, Default)]
pub struct Backoff {
    delay: Option<Duration>,
    cancelled: bool,
    /// Bumped by every cancel, so that a restart already waiting sees it was cancelled.
    pub generation: u64,
}

impl Backoff {
    /// A user stopped, killed or removed the container: no restart until it is started.
    pub fn cancel(&mut self) {
        self.cancelled = true;
        self.generation += 1;
    }

    /// A user started it: the policy applies again, from the first delay.
    pub fn reset(&mut self) {
        self.cancelled = false;
        self.delay = None;
        self.generation += 1;
    }

    /// After an exit: how long to wait before restarting it, or None for no restart.
    pub fn next(&mut self, policy: Policy, exit: Exit) -> Option<Duration> {
        if policy.is_none() || self.cancelled {
            return None;
        }
        let restart = match policy {
            Policy::No => false,
            Policy::Always => true,
            Policy::UnlessStopped => !exit.manually_stopped,
            Policy::OnFailure { max_retries } => {
                exit.code != 0 && (max_retries == 0 || exit.restarts_so_far < max_retries)
            }
        };
        if !restart {
            return None;
        }
        let delay = match self.delay {
            _ if exit.ran_for >= STABLE_RUN => FIRST_DELAY,
            None => FIRST_DELAY,
            Some(d) => (d * 2).min(MAX_DELAY),
        };
        self.delay = Some(delay);
        Some(delay)
    }
}

/// Whether a container that is not running when the daemon starts is started by its
/// policy (Docker's rule: `always` whatever stopped it, `unless-stopped` unless a user
/// did, `on-failure` after a failure).
pub fn start_with_daemon(policy: Policy, exit: Exit) -> bool {
    Backoff::default().next(policy, exit).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> Result<Policy> {
        Policy::parse(&ApiPolicy {
            name: name.into(),
            maximum_retry_count: max,
        })
    }

    fn exit(code: i64, secs: u64, restarts: i64) -> Exit {
        Exit {
            code,
            manually_stopped: false,
            ran_for: Duration::from_secs(secs),
            restarts_so_far: restarts,
        }
    }

    #[test]
    fn parsing_as_dockerd() {
        assert_eq!(policy("", 0).unwrap(), Policy::No);
        assert_eq!(
            policy("on-failure", 3).unwrap(),
            Policy::OnFailure { max_retries: 3 }
        );
        assert!(policy("always", 2).is_err());
        assert!(policy("on-failure", -1).is_err());
        assert!(policy("sometimes", 0).is_err());
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_resets_after_a_stable_run() {
        let mut b = Backoff::default();
        let mut delays = vec![];
        for _ in 0..12 {
            delays.push(b.next(Policy::Always, exit(1, 0, 0)).unwrap());
        }
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[1], Duration::from_millis(200));
        assert_eq!(delays[9], Duration::from_millis(51_200));
        assert_eq!(delays[10], MAX_DELAY);
        assert_eq!(delays[11], MAX_DELAY);
        assert_eq!(
            b.next(Policy::Always, exit(0, 10, 0)),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn which_exits_restart() {
        let on_failure = Policy::OnFailure { max_retries: 2 };
        assert!(Backoff::default().next(on_failure, exit(0, 0, 0)).is_none());
        assert!(Backoff::default().next(on_failure, exit(1, 0, 1)).is_some());
        assert!(Backoff::default().next(on_failure, exit(1, 0, 2)).is_none());
        let unlimited = Policy::OnFailure { max_retries: 0 };
        assert!(Backoff::default().next(unlimited, exit(1, 0, 99)).is_some());
        let stopped = Exit {
            manually_stopped: true,
            ..exit(0, 0, 0)
        };
        assert!(Backoff::default()
            .next(Policy::UnlessStopped, stopped)
            .is_none());
        assert!(start_with_daemon(Policy::Always, stopped));
        assert!(!start_with_daemon(Policy::UnlessStopped, stopped));
        assert!(!start_with_daemon(Policy::No, exit(1, 0, 0)));
        let mut b = Backoff::default();
        b.cancel();
        assert!(b.next(Policy::Always, exit(1, 0, 0)).is_none());
        b.reset();
        assert!(b.next(Policy::Always, exit(1, 0, 0)).is_some());
    }
}
