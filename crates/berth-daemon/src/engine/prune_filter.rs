//! The `filters` of the prune endpoints, as dockerd reads them: `until` (made before a
//! time, which may be a duration ago: `24h`), `label` and `label!` (with or without a
//! value), and per endpoint `dangling` (images) or `all` (volumes). A key the endpoint
//! does not take is a 400, never ignored.

use crate::error::{DaemonError, Result};
use std::collections::{BTreeMap, HashMap};

/// Which prune endpoint: the keys each one takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Containers,
    Images,
    Networks,
    Volumes,
}

impl Target {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Target::Containers | Target::Networks => &["until", "label", "label!"],
            Target::Images => &["until", "label", "label!", "dangling"],
            Target::Volumes => &["label", "label!", "all"],
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct PruneFilter {
    /// Nanoseconds since the epoch: only what was made before.
    until: Option<i64>,
    labels: Vec<String>,
    not_labels: Vec<String>,
    /// Images: `dangling=false` prunes every unused image, not only untagged ones.
    pub dangling_only: bool,
    /// Volumes: `all=true` prunes named volumes too.
    pub all: bool,
}

fn boolean(key: &str, values: &[String]) -> Result<Option<bool>> {
    match values.last().map(String::as_str) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(v) => Err(DaemonError::InvalidParameter(format!(
            "invalid filter '{key}={v}'"
        ))),
    }
}

impl PruneFilter {
    pub fn parse(target: Target, filters: &HashMap<String, Vec<String>>) -> Result<Self> {
        if let Some(k) = filters
            .keys()
            .find(|k| !target.keys().contains(&k.as_str()))
        {
            return Err(DaemonError::InvalidParameter(format!(
                "invalid filter '{k}'"
            )));
        }
        let get = |k: &str| filters.get(k).cloned().unwrap_or_default();
        let until = match get("until").last() {
            None => None,
            Some(u) => Some(until_nanos(u, super::events::now_nanos())?),
        };
        Ok(PruneFilter {
            until,
            labels: get("label"),
            not_labels: get("label!"),
            dangling_only: boolean("dangling", &get("dangling"))?.unwrap_or(true),
            all: boolean("all", &get("all"))?.unwrap_or(false),
        })
    }

    /// Whether an object made at `created` (RFC 3339; unknown passes `until`) with
    /// `labels` is to be pruned.
    pub fn matches(&self, created: Option<&str>, labels: &BTreeMap<String, String>) -> bool {
        if let (Some(until), Some(created)) = (self.until, created) {
            let made = chrono::DateTime::parse_from_rfc3339(created)
                .ok()
                .and_then(|t| t.timestamp_nanos_opt());
            if made.is_some_and(|m| m >= until) {
                return false;
            }
        }
        let has = |w: &String| match w.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(w),
        };
        self.labels.iter().all(has) && !self.not_labels.iter().any(has)
    }
}

/// `until`'s value: a Go duration before `now` (`24h`, `1h30m`, `10m`, `45s`), else a
/// timestamp (seconds with a fraction, or RFC 3339), in nanoseconds.
fn until_nanos(s: &str, now: i64) -> Result<i64> {
    if let Some(d) = go_duration_nanos(s) {
        return Ok(now - d);
    }
    super::events::parse_timestamp("until", s).map_err(DaemonError::InvalidParameter)
}

fn go_duration_nanos(s: &str) -> Option<i64> {
    if s.is_empty() || !s.ends_with(['h', 'm', 's']) {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            _ => return None,
        };
        total += value * unit;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn keys_per_endpoint() {
        assert!(PruneFilter::parse(Target::Containers, &filters(&[("dangling", "true")])).is_err());
        assert!(PruneFilter::parse(Target::Images, &filters(&[("dangling", "false")])).is_ok());
        assert!(PruneFilter::parse(Target::Volumes, &filters(&[("until", "1h")])).is_err());
        assert!(PruneFilter::parse(Target::Images, &filters(&[("dangling", "maybe")])).is_err());
    }

    #[test]
    fn until_and_labels() {
        let f = PruneFilter::parse(
            Target::Containers,
            &filters(&[
                ("until", "2026-01-01T00:00:00Z"),
                ("label", "a"),
                ("label!", "keep=yes"),
            ]),
        )
        .unwrap();
        let labels = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert!(f.matches(Some("2025-06-01T00:00:00Z"), &labels));
        assert!(!f.matches(Some("2026-06-01T00:00:00Z"), &labels));
        assert!(!f.matches(Some("2025-06-01T00:00:00Z"), &BTreeMap::new()));
        let mut kept = labels.clone();
        kept.insert("keep".into(), "yes".into());
        assert!(!f.matches(Some("2025-06-01T00:00:00Z"), &kept));
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration_nanos("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos("10s"), Some(10_000_000_000));
        assert_eq!(go_duration_nanos("1700000000"), None);
        assert_eq!(until_nanos("10s", 20_000_000_000).unwrap(), 10_000_000_000);
        assert_eq!(
            until_nanos("1700000000", 0).unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(until_nanos("soon", 0).is_err());
    }
}
