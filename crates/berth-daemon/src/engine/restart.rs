//! Containers started again by their restart policy: after an exit (with Docker's
//! backoff), and when the daemon starts.

use super::container::Container;
use super::restart_policy::{start_with_daemon, Exit, Policy};
use super::status::{Event, Status};
use super::Engine;
use std::sync::Arc;
use std::time::Duration;

fn exit_of(c: &Container) -> (Policy, Exit) {
    let r = c.record();
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    let ran_for = match (parse(&r.state.started_at), parse(&r.state.finished_at)) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    };
    // Checked at create and update: a stored policy parses.
    let policy = Policy::parse(&r.host_config.restart_policy).unwrap_or(Policy::No);
    (
        policy,
        Exit {
            code: r.state.exit_code,
            manually_stopped: r.manually_stopped,
            ran_for,
            restarts_so_far: r.restart_count,
        },
    )
}

impl Engine {
    /// After an exit is recorded: if the policy wants it, the container is marked
    /// restarting and started again after the backoff's delay.
    pub(crate) fn restart_after_exit(self: &Arc<Self>, c: &Arc<Container>) {
        let (policy, exit) = exit_of(c);
        let Some(delay) = c.backoff().next(policy, exit) else {
            return;
        };
        self.schedule_restart(c, delay);
    }

    /// On daemon start, for a container that is not running: started if its policy says
    /// so (`always`, `unless-stopped` not stopped by a user, `on-failure` after a failure).
    pub(crate) fn restart_with_daemon(self: &Arc<Self>, c: &Arc<Container>) {
        let (policy, exit) = exit_of(c);
        // A restart that was waiting when the daemon stopped is due now.
        let was_restarting = {
            let mut r = c.record();
            let was = Status::of(&r.state) == Status::Restarting;
            if was {
                Status::apply(&mut r.state, Event::Exited);
            }
            was
        };
        if was_restarting || start_with_daemon(policy, exit) {
            self.schedule_restart(c, Duration::ZERO);
        }
    }

    fn schedule_restart(self: &Arc<Self>, c: &Arc<Container>, delay: Duration) {
        let generation = {
            let mut r = c.record();
            if Status::apply(&mut r.state, Event::RestartScheduled).is_none() {
                return;
            }
            c.backoff().generation
        };
        let _ = c.save_state(&self.cfg.container_dir(&c.id));
        let engine = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let op = c.op_lock.lock().await;
            // A user's stop, kill or rm in the meantime cancelled it.
            if c.backoff().generation != generation
                || Status::of(&c.record().state) != Status::Restarting
                || engine.get(&c.id).is_err()
            {
                return;
            }
            c.record().restart_count += 1;
            if let Err(e) = engine.start_held(&c, op).await {
                eprintln!("berthd: container {}: restart by policy failed: {e}", c.id);
                let mut r = c.record();
                Status::apply(&mut r.state, Event::Exited);
                drop(r);
                let _ = c.save_state(&engine.cfg.container_dir(&c.id));
            }
        });
    }

    /// A user's stop, kill or removal: the policy restarts it no more (until a user
    /// starts it), and a restart that is waiting does not happen. True if it was
    /// waiting to restart (and is now simply exited).
    pub(crate) fn cancel_restart(&self, c: &Container) -> bool {
        c.backoff().cancel();
        let was_restarting = {
            let mut r = c.record();
            r.manually_stopped = true;
            Status::of(&r.state) == Status::Restarting
                && Status::apply(&mut r.state, Event::Exited).is_some()
        };
        let _ = c.save_state(&self.cfg.container_dir(&c.id));
        was_restarting
    }
}
