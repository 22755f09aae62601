//! Docker Engine API types shared by the daemon and the CLI.
//!
//! Field names follow the Engine API (v1.55) exactly, so the structs serialize to what the
//! docker CLI and docker-py expect. Nothing here knows about HTTP servers or the runtime.

pub mod container;
pub mod error;
pub mod exec;
pub mod image;
pub mod network;
pub mod stream;
pub mod strslice;
pub mod system;
pub mod version;

/// The newest Engine API version berth speaks.
pub const API_VERSION: &str = "1.55";
/// The oldest Engine API version berth accepts in a path prefix.
pub const MIN_API_VERSION: &str = "1.24";

/// Docker's `HumanDuration`: "Less than a second", "About a minute", "3 hours", "2 weeks".
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    let hours = (s + 1800) / 3600;
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_durations() {
        assert_eq!(super::human_duration(0), "Less than a second");
        assert_eq!(super::human_duration(5), "5 seconds");
        assert_eq!(super::human_duration(61), "About a minute");
        assert_eq!(super::human_duration(7200), "2 hours");
        assert_eq!(super::human_duration(3 * 86400), "3 days");
    }
}
