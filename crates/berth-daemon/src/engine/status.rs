//! A container's status as a state with rules: which verbs it allows, and the transitions
//! between states. Every change of `State.Status` (with `Running` and `Paused`, which must
//! agree with it) goes through `Status::apply`; the strings are Docker's, as inspect and
//! the persisted record show them.

use berth_api::container::ContainerState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Removing,
    Exited,
    /// Exited, and waiting to be started again by its restart policy. Docker reports it
    /// as running (`State.Running`), but nothing of it runs.
    Restarting,
}

/// What happened to the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Its program started (or a running one was found after a daemon restart).
    Started,
    /// Its program ended, or its start failed.
    Exited,
    Paused,
    Resumed,
    RemovalBegun,
    /// A removal a crashed daemon did not finish: the container is still there, stopped.
    RemovalAbandoned,
    /// Its restart policy will start it again after a delay.
    RestartScheduled,
}

impl Status {
    /// The status a record holds (unknown strings, from a future berth, read as exited).
    pub fn of(state: &ContainerState) -> Self {
        match state.status.as_str() {
            "created" => Self::Created,
            "running" if state.paused => Self::Paused,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "removing" => Self::Removing,
            "restarting" => Self::Restarting,
            _ => Self::Exited,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Restarting => "restarting",
        }
    }

    pub fn is_running(self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }

    pub fn can_start(self) -> bool {
        matches!(self, Self::Created | Self::Exited)
    }

    pub fn can_kill(self) -> bool {
        self.is_running()
    }

    /// The state after `event`, or None if it cannot happen in this one.
    pub fn next(self, event: Event) -> Option<Self> {
        use Event as E;
        use Status as S;
        match (self, event) {
            (S::Created | S::Exited | S::Restarting, E::Started) => Some(S::Running),
            // Adopted after a daemon restart: it was running all along.
            (S::Running, E::Started) => Some(S::Running),
            (S::Created | S::Running | S::Paused | S::Exited | S::Restarting, E::Exited) => {
                Some(S::Exited)
            }
            (S::Exited, E::RestartScheduled) => Some(S::Restarting),
            (S::Removing, E::Exited) => Some(S::Removing),
            (S::Running, E::Paused) => Some(S::Paused),
            (S::Paused, E::Resumed) => Some(S::Running),
            (_, E::RemovalBegun) => Some(S::Removing),
            (S::Removing, E::RemovalAbandoned) => Some(S::Exited),
            _ => None,
        }
    }

    /// Applies `event` to a record's state (status, running and paused together);
    /// returns the new status, or None (and changes nothing) if the event is not legal.
    pub fn apply(state: &mut ContainerState, event: Event) -> Option<Self> {
        let next = Self::of(state).next(event)?;
        state.status = next.as_str().to_string();
        state.running = next.is_running();
        state.paused = next == Self::Paused;
        state.restarting = next == Self::Restarting;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: &str) -> ContainerState {
        ContainerState {
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn legal_transitions_only() {
        let mut s = state("created");
        assert_eq!(Status::apply(&mut s, Event::Paused), None);
        assert_eq!(s.status, "created");
        assert_eq!(Status::apply(&mut s, Event::Started), Some(Status::Running));
        assert!(s.running && !s.paused);
        assert_eq!(Status::apply(&mut s, Event::Paused), Some(Status::Paused));
        assert!(s.running && s.paused && s.status == "paused");
        assert_eq!(Status::apply(&mut s, Event::Paused), None);
        assert_eq!(Status::apply(&mut s, Event::Resumed), Some(Status::Running));
        assert_eq!(Status::apply(&mut s, Event::Exited), Some(Status::Exited));
        assert!(!s.running && !s.paused);
        assert_eq!(Status::apply(&mut s, Event::Resumed), None);
        assert!(Status::of(&s).can_start() && !Status::of(&s).can_kill());
        assert_eq!(
            Status::apply(&mut s, Event::RemovalBegun),
            Some(Status::Removing)
        );
        // An exit seen while removing does not bring it back.
        assert_eq!(Status::apply(&mut s, Event::Exited), Some(Status::Removing));
        assert_eq!(
            Status::apply(&mut s, Event::RemovalAbandoned),
            Some(Status::Exited)
        );
        // An exit its policy restarts: restarting, then running or (cancelled) exited.
        let mut s = state("exited");
        assert_eq!(
            Status::apply(&mut s, Event::RestartScheduled),
            Some(Status::Restarting)
        );
        assert!(s.restarting && !s.running);
        assert!(!Status::of(&s).can_start());
        assert_eq!(Status::apply(&mut s, Event::Started), Some(Status::Running));
        assert!(!s.restarting);
        assert_eq!(Status::apply(&mut s, Event::RestartScheduled), None);
        // A record from before: "running" with the paused flag is paused.
        let mut old = state("running");
        old.paused = true;
        assert_eq!(Status::of(&old), Status::Paused);
    }
}
