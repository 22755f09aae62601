//! Times as Docker writes them in container records.

/// Docker's "never" (Go's zero time).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
